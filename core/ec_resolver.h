/* The CA's own DNSSEC-validating resolver (BR 3.2.2.4, 3.2.2.8.1): libunbound iterating from
 * the root with the IANA trust anchor, its cache private to this process, never an upstream's
 * AD bit. Every answer says whether it is secure, insecure (an unsigned zone: usable), bogus
 * (refused) or failed (SERVFAIL, timeout: refused). Thread-safe: one per process. */
#ifndef EC_RESOLVER_H
#define EC_RESOLVER_H

#include <apr_pools.h>
#include <apr_tables.h>

#define EC_DNS_A     1
#define EC_DNS_CNAME 5
#define EC_DNS_TXT   16
#define EC_DNS_AAAA  28
#define EC_DNS_CAA   257

typedef struct {
    const char *trust_anchor;        /* DS or DNSKEY lines; default Debian's dns-root-data */
    const char *root_hints;          /* a hints file; default Debian's dns-root-data */
    apr_array_header_t *root_servers;/* const char *: "addr[@port]" of a private root instead */
    int timeout_s;                   /* one lookup, libunbound's retries included */
} ec_resolver_conf_t;

/* ECertDNSTrustAnchor, ECertDNSRootHints, ECertDNSRootServers, ECertDNSTimeout: NULL when taken, a sentence,
 * or EC_RESOLVER_NOT_MINE. */
extern const char EC_RESOLVER_NOT_MINE[];
const char *ec_resolver_directive(ec_resolver_conf_t *c, apr_pool_t *p, const char *name, int argc,
                                  char *const *argv);
ec_resolver_conf_t *ec_resolver_merge(apr_pool_t *p, const ec_resolver_conf_t *base,
                                      const ec_resolver_conf_t *add);
void ec_resolver_finish(ec_resolver_conf_t *c);

typedef struct ec_resolver ec_resolver_t;

/* A resolver whose lifetime is pool's. *err says why not (a file that does not load). */
apr_status_t ec_resolver_create(ec_resolver_t **out, apr_pool_t *pool, const ec_resolver_conf_t *c,
                                const char **err);

typedef enum { EC_DNS_SECURE, EC_DNS_INSECURE, EC_DNS_BOGUS, EC_DNS_FAILED } ec_dns_sec_t;

typedef struct {
    const uint8_t *data;
    size_t len;
} ec_dns_rr_t;

typedef struct {
    int rcode;                       /* 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ... */
    ec_dns_sec_t security;
    const char *why;                 /* why bogus, or why it failed */
    const char *canonname;           /* the name the data is at, after CNAMEs */
    int ttl;
    apr_array_header_t *rrs;         /* ec_dns_rr_t: RDATA of the answer */
} ec_dns_answer_t;

/* One lookup. APR_SUCCESS whenever the resolver ran; a->security and a->rcode tell what came
 * back. A name of more than 253 octets or an empty label is APR_EINVAL. */
apr_status_t ec_resolve(ec_resolver_t *r, apr_pool_t *p, const char *name, int type, ec_dns_answer_t *a);

/* "secure", "insecure", "bogus", "failed" */
const char *ec_dns_sec_name(ec_dns_sec_t s);
/* A line for the evidence: name, type, rcode, security and the records (TXT and CAA as text). */
const char *ec_dns_answer_text(apr_pool_t *p, const char *name, int type, const ec_dns_answer_t *a);
/* The character-strings of a TXT RDATA, concatenated (RFC 7208 3.3); NULL if malformed. */
const char *ec_dns_txt(apr_pool_t *p, const uint8_t *rdata, size_t len);

#endif
