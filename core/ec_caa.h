/* CAA (RFC 8659, RFC 8657; BR 3.2.2.8): may this CA issue for a name? Every lookup goes through
 * the CA's validating resolver; a bogus or failed lookup refuses (stricter than BR 3.2.2.8's
 * optional "lookup failure as permission"), an insecure (unsigned) answer is used. */
#ifndef EC_CAA_H
#define EC_CAA_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "ec_resolver.h"

/* The RFC 8657 validationmethods labels of this CA's methods (CA-specific "ca-" labels). */
#define EC_CAA_METHOD_WEBSITE "ca-ecert-website"
#define EC_CAA_METHOD_DNS     "ca-ecert-dns"
#define EC_CAA_METHOD_EMAIL   "ca-ecert-email"

typedef struct {
    apr_array_header_t *issuers;     /* const char *: our issuer domain names, lower case */
} ec_caa_conf_t;

/* ECertCAAIssuerDomain name...: NULL, a sentence, or EC_CAA_NOT_MINE. */
extern const char EC_CAA_NOT_MINE[];
const char *ec_caa_directive(ec_caa_conf_t *c, apr_pool_t *p, const char *name, int argc, char *const *argv);
ec_caa_conf_t *ec_caa_merge(apr_pool_t *p, const ec_caa_conf_t *base, const ec_caa_conf_t *add);
void ec_caa_finish(ec_caa_conf_t *c, apr_pool_t *p);   /* default ecert.gov.hk, hongkongpost.gov.hk */

/* One CAA record (RFC 8659 4.1). */
typedef struct {
    int flags;
    const char *tag;                 /* lower case */
    const char *value;               /* as published, up to a NUL */
    int value_has_nul;               /* an issue value with one authorises no one */
} ec_caa_rr_t;

/* APR_EINVAL when the RDATA is not a CAA record (short, empty tag, a tag of other than letters
 * and digits). */
apr_status_t ec_caa_parse(apr_pool_t *p, const uint8_t *rdata, size_t len, ec_caa_rr_t *out);

typedef enum { EC_CAA_PERMIT, EC_CAA_FORBID, EC_CAA_FAILED } ec_caa_verdict_t;

/* The decision on one relevant record set (RFC 8659 4.2-4.3, RFC 8657 4-5): *reason is the
 * catalogue suffix below, *why a sentence when it is not EC_CAA_PERMIT. method NULL matches
 * no validationmethods list. */
ec_caa_verdict_t ec_caa_decide(apr_pool_t *p, const ec_caa_conf_t *c, const apr_array_header_t *rrs,
                               int wildcard, const char *method, const char **reason, const char **why);

typedef struct {
    ec_caa_verdict_t verdict;
    const char *reason;              /* catalogue suffix: permit, forbid, critical, method, account, bogus, lookup */
    const char *why;                 /* a sentence */
    const char *relevant_at;         /* where the relevant record set is; NULL: none anywhere */
    const char *evidence;            /* every lookup with its DNSSEC state, one per line */
} ec_caa_result_t;

/* Climbs from name ("*." form for a wildcard, A-label) towards the TLD (RFC 8659 3) and
 * decides. APR_SUCCESS whenever res says what happened. */
apr_status_t ec_caa_check(ec_resolver_t *r, apr_pool_t *p, const ec_caa_conf_t *c, const char *name,
                          const char *method, ec_caa_result_t *res);

#endif
