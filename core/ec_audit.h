/* Append-only, hash-chained audit log. Each event commits with the change it
 * records: inside the caller's open transaction, or in one of its own. */
#ifndef EC_AUDIT_H
#define EC_AUDIT_H

#include "ec_store.h"

extern const ec_stmt_t ec_audit_stmts[];

apr_status_t ec_audit(ec_store_t *s, apr_pool_t *p, const char *actor, const char *event,
                      const char *detail);
/* Recomputes the chain; on a break *bad_seq is the first bad sequence number. */
apr_status_t ec_audit_verify(ec_store_t *s, apr_pool_t *p, long long *count, long long *bad_seq);

#endif
