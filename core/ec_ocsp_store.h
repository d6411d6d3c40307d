/* The OCSP responder's data: certificate status as the store has it, pre-signed
 * responses (table ocsp_response) and the re-sign of one certificate; the queue and the
 * scheduled refresh are ec_ocsp_resign.h, the replica's feed ec_ocsp_sync.h.
 *
 * Pre-signed responses carry the certificate's status_changed at signing time: one
 * signed before the last status change is never valid (ec_ocsp_rec_t.resp_sc != sc). */
#ifndef EC_OCSP_STORE_H
#define EC_OCSP_STORE_H

#include "ec_store.h"
#include "ec_ocsp_resp.h"

typedef struct {
    char id[24];                /* ca.id; "" until ec_ocsp_issuer_resolve */
    int is_root;                /* its certificates are the Sub CAs in table ca */
    ec_ocsp_issuer_hash_t hash;
    ec_ocsp_signer_t signer;
} ec_ocsp_issuer_t;

/* What the store knows about one serial, and its pre-signed response for one CertID hash. */
typedef struct {
    int found;                  /* issued by this issuer */
    int status;                 /* EC_OCSP_GOOD / REVOKED; EC_OCSP_UNKNOWN when !found */
    time_t revoked_at;
    int reason;                 /* -1: no reasonCode */
    long long sc;               /* status_changed, microseconds */
    time_t not_after;
    int has_resp;
    time_t this_update, next_update;
    long long resp_sc;
    const uint8_t *der; size_t der_len;
} ec_ocsp_rec_t;

extern const ec_stmt_t ec_ocsp_stmts[];

/* ca.id and role of the issuer whose key hash is is->hash.key_sha1. APR_ENOENT: none. */
apr_status_t ec_ocsp_issuer_resolve(ec_store_t *s, apr_pool_t *p, ec_ocsp_issuer_t *is);

/* Issuer and its delegated responder from table ca (ecertctl: no httpd config at hand);
 * the responder key is looked up in p11. */
apr_status_t ec_ocsp_issuer_load(ec_store_t *s, apr_pool_t *p, ec_p11 *p11, const char *issuer_id,
                                 ec_ocsp_issuer_t *is);

apr_status_t ec_ocsp_lookup(ec_store_t *s, apr_pool_t *p, const ec_ocsp_issuer_t *is,
                            const char *serial_hex, int alg, ec_ocsp_rec_t *rec);

/* The state columns status, revoked_at (s), reason, status_changed (us), not_after (s)
 * into rec (found = 1). */
void ec_ocsp_rec_state(ec_ocsp_rec_t *rec, const char *const *c);

/* Signs the single response for rec's status (unknown when !rec->found), valid from now
 * for validity seconds, into rec (der, this_update, next_update, resp_sc = sc). One C_Sign. */
apr_status_t ec_ocsp_sign_rec(apr_pool_t *p, const ec_ocsp_issuer_t *is, const char *serial_hex, int alg,
                              time_t now, int validity, ec_ocsp_rec_t *rec);

/* Signs the single response for rec's status (unknown when !rec->found), valid from now
 * for validity seconds, into rec (der, this_update, next_update, resp_sc = sc). Responses
 * for issued serials are stored (a newer stored one is never overwritten). */
apr_status_t ec_ocsp_presign(ec_store_t *s, apr_pool_t *p, const ec_ocsp_issuer_t *is,
                             const char *serial_hex, int alg, time_t now, int validity,
                             ec_ocsp_rec_t *rec);

/* The database clock, in microseconds (status_changed is written with NOW(6)). */
apr_status_t ec_ocsp_db_now(ec_store_t *s, apr_pool_t *p, long long *now_us);

/* Re-signs both CertID hashes of one certificate now (e.g. right after ec_revoke) and takes
 * it off the queue if nothing queued it again meanwhile. */
apr_status_t ec_ocsp_resign_now(ec_store_t *s, apr_pool_t *p, const ec_ocsp_issuer_t *is,
                                const char *serial_hex, time_t now, int validity);

/* Lower-case hex of a serial magnitude (the certificate.serial_hex form). */
char *ec_ocsp_serial_hex(apr_pool_t *p, const uint8_t *mag, size_t len);

#endif
