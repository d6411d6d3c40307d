/* Revocation by the subscriber (R-9; CPS 3.4, 4.9.3; BR 4.9.1.1, 7.2.2): after a login with the
 * PIN envelope, the certificates of the application and of the applications it renews or that
 * renew it, a reason among those BR 7.2.2 lets a subscriber pick (unspecified by default:
 * no reasonCode; privilegeWithdrawn is the CA's), and, in one transaction, the revocation
 * (OCSP re-signed from the queue, the CRL due, the key blocked for keyCompromise), its audit
 * event and the revocation notice to the authorised representative (CPS 4.9.3). */
#ifndef EC_SUBREVOKE_H
#define EC_SUBREVOKE_H

#include <time.h>
#include <apr_tables.h>
#include "ec_app.h"
#include "ec_notice.h"

extern const ec_stmt_t ec_subrevoke_stmts[];

/* The reasons offered, in this order, with their names (BR 7.2.2). */
extern const int ec_subrevoke_reasons[];
extern const int ec_subrevoke_nreasons;
int ec_subrevoke_reason_ok(int reason);

typedef struct {
    const char *issuer_id, *issuer_cn, *serial_hex, *status, *server_name;
    time_t not_before, not_after, revoked_at;
    int reason;                  /* when revoked; EC_REASON_UNSPECIFIED for none */
    int expired;
} ec_subcert_t;

/* The certificates a login with application app_id may revoke, newest first. */
apr_status_t ec_subrevoke_list(ec_store_t *s, apr_pool_t *p, const char *app_id, apr_array_header_t **out);

/* Revokes one of them. APR_ENOENT: not one of this login's certificates; APR_EEXIST: already
 * revoked (or expired) and nothing to change; APR_EINVAL: a reason a subscriber may not pick. */
apr_status_t ec_subrevoke(ec_store_t *s, apr_pool_t *p, const ec_notice_ctx_t *n, const ec_app_t *a,
                          const char *issuer_id, const char *serial_hex, int reason, const char *actor,
                          ec_subcert_t *done);

/* Queues the revocation notice (CPS 4.9.3 "撤銷通知書", the template "revoked") of a revoked
 * certificate to its application's authorised representative, inside the caller's transaction
 * when one is open. Nothing to do for a certificate of no application. */
apr_status_t ec_revoke_notify(ec_store_t *s, apr_pool_t *p, const ec_notice_ctx_t *n, const char *issuer_id,
                              const char *serial_hex);

#endif
