/* mod_ocsp: an RFC 6960 / RFC 9919 OCSP responder inside httpd workers.
 *
 * Hot path: parse the request, find the issuer by its hashes, read the pre-signed
 * response from the shared cache (mod_socache, shared by every child) and send it. No
 * signature and, normally, no database round trip.
 *
 * Freshness (CPS 4.9.5, revocation visible at once): every child runs a watchdog
 * callback every OCSP_POLL_MS. It asks the database for certificate (and Sub CA) rows
 * whose status_changed is newer than what it has seen, and replaces each affected cache
 * entry with a tombstone that carries the new status_changed. A tombstone sends the next
 * request for that certificate to the database, and a cache entry is never written over
 * one with a newer status_changed, so an answer signed for the old status cannot come
 * back. The scan reaches OCSP_MARGIN_US behind the newest change seen, for changes whose
 * transaction committed later than its NOW(6). Then the callback re-signs the queue
 * (ocsp_pending) and the responses due for refresh. A node thus answers from the new
 * status within about one poll interval of the commit, on every node sharing the
 * database. */
#ifndef MOD_OCSP_H
#define MOD_OCSP_H

#include <httpd.h>
#include <http_config.h>
#include "ec_p11.h"
#include "ec_ocsp_store.h"

#define OCSP_UNSET -1
#define OCSP_HANDLER "ocsp-responder"

#define OCSP_POLL_MS     200
#define OCSP_MARGIN_US   (10LL * 1000000)

#define OCSP_DEF_VALIDITY  (4 * 86400)
#define OCSP_DEF_REFRESH   86400
#define OCSP_DEF_MAXREQ    4096
#define OCSP_DEF_MAXIDS    8
#define OCSP_DEF_RATE      50
#define OCSP_DEF_SESSIONS  4

typedef struct {
    const char *issuer_file;
    const char *responder_file;
    const char *key_uri;
    ec_ocsp_issuer_t core;      /* hashes and signer; signer key and ca.id per child */
    char tag[17];               /* cache key prefix: the issuer key hash, shortened */
    const char *name;           /* issuer CN, for log lines */
    int ready;                  /* core.id resolved (per child, atomic) */
} ocsp_issuer_conf;

typedef struct {
    const char *p11_module;
    const char *pin_spec;
    char *pin;
    int sessions;
    apr_array_header_t *issuers;   /* ocsp_issuer_conf */
    int validity;               /* seconds */
    int refresh;                /* seconds after thisUpdate */
    int nonce;
    int max_request;            /* octets */
    int max_certids;
    const char *cache_spec;     /* socache provider:args */
    int fresh_rate;             /* fresh signatures per second per child */
} ocsp_srv_conf;

/* What the background work and the shared cache use: the main server's settings and
 * every distinct issuer of every virtual host. */
typedef struct {
    server_rec *s;
    ocsp_srv_conf *conf;        /* main server, merged with the defaults */
    apr_array_header_t *issuers;   /* ocsp_issuer_conf * */
    ec_p11 *p11;                /* per child */
    int child_ready;
} ocsp_global_t;

extern module AP_MODULE_DECLARE_DATA ocsp_module;
extern ocsp_global_t ocsp_g;

/* mod_ocsp.c */
ocsp_srv_conf *ocsp_conf(server_rec *s);
/* Resolves is->core.id once per child (thread-safe); 0 when ready. */
int ocsp_issuer_ready(ocsp_issuer_conf *is, ec_store_t *store, apr_pool_t *p);

/* mod_ocsp_cache.c: the shared response cache. */
#define OCSP_TOMBSTONE 0xff

typedef struct {
    int status;                 /* EC_OCSP_GOOD / REVOKED / UNKNOWN, or OCSP_TOMBSTONE */
    int reason;
    apr_int64_t revoked_at, this_update, next_update;   /* seconds */
    apr_int64_t sc;             /* status_changed the answer was signed for (us; 0: never issued) */
    char etag[24];
    const uint8_t *der;
    apr_size_t der_len;
} ocsp_entry;

#define OCSP_KEY_MAX 80
#define OCSP_ENTRY_MAX 8192

void ocsp_cache_register(apr_pool_t *pconf);
int ocsp_cache_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s, const char *spec);
void ocsp_cache_child_init(apr_pool_t *p, server_rec *s);
void ocsp_cache_key(char *key, const ocsp_issuer_conf *is, int alg, const char *serial_hex);
/* The cache epoch: read it before anything an answer is filled from, and pass it on. */
apr_uint64_t ocsp_cache_epoch(void);
/* After tombstones went into L2: every child's L1 entries of older epochs stop counting. */
void ocsp_cache_new_epoch(void);
/* 1 and *e (der pointing into buf, OCSP_ENTRY_MAX octets) if present: this child's L1
 * when it holds a fresh answer of epoch ep (now < thisUpdate + refresh), else L2. */
int ocsp_cache_get(const char *key, apr_uint64_t ep, ocsp_entry *e, uint8_t *buf, apr_pool_t *p,
                   apr_int64_t now, int refresh);
/* Stores e unless the entry there was signed for a newer status_changed. */
void ocsp_cache_put(const char *key, apr_uint64_t ep, const ocsp_entry *e, apr_pool_t *p);
/* L2 tombstone for status_changed sc unless the entry there is already that new. */
void ocsp_cache_invalidate(const char *key, apr_int64_t sc, apr_pool_t *p);
/* The newest status_changed any child of this server has processed (0: none). */
apr_int64_t ocsp_cache_mark_get(apr_pool_t *p);
void ocsp_cache_mark_put(apr_int64_t mark, apr_pool_t *p);
/* An entry from a store record (ETag from the DER). */
void ocsp_entry_from_rec(ocsp_entry *e, const ec_ocsp_rec_t *rec);

/* mod_ocsp_handler.c */
int ocsp_handler(request_rec *r);
int ocsp_pre_translate(request_rec *r);
int ocsp_translate(request_rec *r);
int ocsp_map_to_storage(request_rec *r);
void ocsp_handler_child_init(apr_pool_t *p);

/* mod_ocsp_watch.c */
int ocsp_watch_post_config(apr_pool_t *pconf, server_rec *s);
void ocsp_watch_child_init(apr_pool_t *pchild, server_rec *s);

#endif
