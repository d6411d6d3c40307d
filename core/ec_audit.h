/* Append-only, hash-chained audit log. Each event commits with the change it
 * records: inside the caller's open transaction, or in one of its own. */
#ifndef EC_AUDIT_H
#define EC_AUDIT_H

#include "ec_store.h"

extern const ec_stmt_t ec_audit_stmts[];

apr_status_t ec_audit(ec_store_t *s, apr_pool_t *p, const char *actor, const char *event,
                      const char *detail);
typedef struct {
    long long count;                 /* events read */
    long long bad_seq;               /* the first event whose stored chain is broken (0: none) */
    long long checkpoints;           /* checkpoints the recomputed chain matches */
    long long anchored;              /* the newest of them: events after it are not yet anchored */
    long long bad_checkpoint;        /* the first checkpoint the events no longer match (0: none) */
    long long good_before;           /* and the last one before it that they did */
    long long forged_checkpoint;     /* the first checkpoint the audit key did not sign (0: none) */
} ec_audit_report_t;

/* Recomputes the chain and, given the audit key's SubjectPublicKeyInfo (ec_audit_anchor.h),
 * checks it against every checkpoint; APR_EGENERAL when anything is wrong (r says what). */
apr_status_t ec_audit_verify(ec_store_t *s, apr_pool_t *p, const uint8_t *spki, size_t spki_len,
                             ec_audit_report_t *r);

#endif
