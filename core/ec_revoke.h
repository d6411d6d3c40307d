/* Revocation (R-9, R-10, CPS 4.9, 7.2): one transaction changes the certificate's status,
 * queues its OCSP responses for re-signing and its issuer's next CRL (crl_pending), and writes
 * the audit event. */
#ifndef EC_REVOKE_H
#define EC_REVOKE_H

#include <time.h>
#include "ec_store.h"

#define EC_REASON_UNSPECIFIED (-1)   /* no reasonCode (BR 7.2.2) */

extern const ec_stmt_t ec_revoke_stmts[];

/* RFC 5280 reason by name ("keyCompromise", "unspecified", ...) or number; -2 if unknown. */
int ec_reason_parse(const char *name);
const char *ec_reason_name(int reason);
/* Reasons a subscriber certificate may carry (CPS 7.2): unspecified, 1, 3, 4, 5, 9. */
int ec_reason_allowed(int reason);

/* Revokes issuer_id/serial_hex at when (for keyCompromise, when the key is known to have been
 * compromised: BR 7.2.2 lets the date go back). A revoked certificate changes only to
 * keyCompromise (CPS 7.2 a), keeping its first date unless when is earlier. APR_ENOENT: no such
 * certificate; APR_EEXIST: already revoked and nothing to change. */
apr_status_t ec_revoke(ec_store_t *s, apr_pool_t *p, const char *issuer_id, const char *serial_hex,
                       int reason, time_t when, const char *actor, const char *note);

/* Reasons a Sub CA certificate may carry: unspecified and 1-5 (CPS App. C note 2, within
 * BR 7.2.2). Its OCSP answers and ARL entry always carry a reasonCode (App. D note 2). */
int ec_reason_allowed_ca(int reason);

/* Revokes the newest Sub CA certificate of role "ssl" or "ev" (table ca) and queues the
 * root responder's answer for it; *serial_hex and *root_id name that answer. Same
 * APR_ENOENT / APR_EEXIST rules as ec_revoke(). */
apr_status_t ec_revoke_ca(ec_store_t *s, apr_pool_t *p, const char *role, int reason, time_t when,
                          const char *actor, const char *note, const char **root_id,
                          const char **serial_hex);

#endif
