/* The audit log anchored in the token (CPS 5.4.4): a checkpoint signs, with the audit key the
 * key ceremony made (RSA, sensitive, never extractable), the text
 *     ecert-audit-checkpoint-v1 SEQ HASH SIGNED_AT
 * (SEQ the last event covered, HASH its chain hash in lower-case hex, SIGNED_AT seconds since
 * the epoch). Whoever can rewrite the database but not use the token cannot make a chain that
 * passes ecertctl audit verify: the checkpoints are checked with the public key published at the
 * ceremony, outside the database. Nodes write them concurrently without harm: the first
 * checkpoint of a sequence wins, the others are dropped at insert. */
#ifndef EC_AUDIT_ANCHOR_H
#define EC_AUDIT_ANCHOR_H

#include "ec_store.h"
#include "ec_p11.h"

#define EC_AUDIT_KEY_LABEL "e-Cert Audit Checkpoint Key"
#define EC_AUDIT_KEY_FILE "audit-checkpoint-key.pem"   /* in ECertPublishDir */
#define EC_AUDIT_CHECKPOINT_EVENTS 100
#define EC_AUDIT_CHECKPOINT_SECONDS 300

extern const ec_stmt_t ec_audit_anchor_stmts[];

/* Key ceremony: a fresh audit key in the token (an earlier one destroyed), its public key
 * written as PEM to pub_path. */
apr_status_t ec_audit_key_make(ec_p11 *p11, apr_pool_t *p, const char *token_label, const char *pub_path);

/* A checkpoint of the newest event when at least min_events came since the last one, or
 * max_age seconds went by with any; *written 1 when this call wrote it. */
apr_status_t ec_audit_checkpoint(ec_store_t *s, apr_pool_t *p, ec_p11 *p11, ec_p11_key *key, long long min_events,
                                 long long max_age, int *written);

/* The text a checkpoint signs. */
char *ec_audit_checkpoint_text(apr_pool_t *p, const char *seq, const char *hash_hex, const char *signed_at);

#endif
