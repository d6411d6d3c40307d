/* mod_ocsp: an RFC 6960 / RFC 9919 OCSP responder inside httpd workers.
 *
 * Hot path: parse the request, find the issuer by its hashes, read the pre-signed answer
 * from the node's replica (core/ec_ocsp_replica.h: LMDB, shared by every child and
 * thread, read without a lock) and send it. No signature and no database round trip.
 * Whether an answer may be served is decided in one place, ec_ocsp_entry_verdict.
 *
 * Freshness (CPS 4.9.5, revocation visible at once): every child runs a watchdog callback
 * every OCSP_POLL_MS; the children of a node take turns at the sync round
 * (core/ec_ocsp_sync.h), which turns status changes into tombstones and copies in the
 * answers stored since its last look, by any node. A tombstone sends the next request for
 * that certificate to the database, and a replica record is never replaced by one signed
 * for an older status_changed, so an answer signed for the old status cannot come back.
 * Then every child re-signs from the queue (ocsp_pending) and refreshes the answers due
 * (BR 4.9.10), in parallel with the other children and nodes. A node thus answers from the
 * new status within about one poll interval of the commit, on every node sharing the
 * database; and from its replica alone, for every certificate, while the database is away. */
#ifndef MOD_OCSP_H
#define MOD_OCSP_H

#include <httpd.h>
#include <http_config.h>
#include "ec_p11.h"
#include "ec_ocsp_store.h"
#include "ec_ocsp_replica.h"

#define OCSP_UNSET -1
#define OCSP_HANDLER "ocsp-responder"

#define OCSP_POLL_MS     200

#define OCSP_DEF_VALIDITY  (4 * 86400)
#define OCSP_DEF_REFRESH   86400
#define OCSP_DEF_MAXREQ    4096
#define OCSP_DEF_MAXIDS    8
#define OCSP_DEF_RATE      50
#define OCSP_DEF_SESSIONS  4
#define OCSP_DEF_REPLICA_GB 32         /* address space only: the file grows as it fills */

typedef struct {
    const char *issuer_file;
    const char *responder_file;
    const char *key_uri;
    ec_ocsp_issuer_t core;      /* hashes and signer; signer key and ca.id per child */
    char tag[17];               /* replica key prefix: the issuer key hash, shortened */
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
    const char *replica_dir;    /* OCSPReplica: node-local directory */
    int replica_gb;             /* its largest size */
    apr_size_t replica_size;
    int fresh_rate;             /* fresh signatures per second per child */
} ocsp_srv_conf;

/* What the background work and the replica use: the main server's settings and
 * every distinct issuer of every virtual host. */
typedef struct {
    server_rec *s;
    ocsp_srv_conf *conf;        /* main server, merged with the defaults */
    apr_array_header_t *issuers;   /* ocsp_issuer_conf * */
    ec_p11 *p11;                /* per child */
    ec_ocsp_replica *replica;   /* per child; NULL: the database only */
    int child_ready;
} ocsp_global_t;

extern module AP_MODULE_DECLARE_DATA ocsp_module;
extern ocsp_global_t ocsp_g;

/* mod_ocsp.c */
ocsp_srv_conf *ocsp_conf(server_rec *s);
/* Resolves is->core.id once per child (thread-safe); 0 when ready. */
int ocsp_issuer_ready(ocsp_issuer_conf *is, ec_store_t *store, apr_pool_t *p);

/* mod_ocsp_replica.c */
int ocsp_replica_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);
void ocsp_replica_child_init(apr_pool_t *p, server_rec *s);

/* mod_ocsp_handler.c */
int ocsp_handler(request_rec *r);
int ocsp_pre_translate(request_rec *r);
int ocsp_translate(request_rec *r);
int ocsp_map_to_storage(request_rec *r);
void ocsp_handler_child_init(apr_pool_t *p);

/* mod_ocsp_watch.c */
int ocsp_watch_post_config(apr_pool_t *pconf, server_rec *s);
void ocsp_watch_child_init(apr_pool_t *pchild, server_rec *s);
/* 1 while this child's replica job finds the database unreachable. */
int ocsp_watch_db_down(void);

#endif
