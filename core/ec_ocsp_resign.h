/* Pre-signing at the token's rate (R-13, BR 4.9.10): the re-sign queue (ocsp_pending, fed
 * by every issuance and revocation) and the refresh of answers due. Each batch is one
 * transaction: the queue rows taken FOR UPDATE SKIP LOCKED (so every child and node takes
 * its own rows), the certificates' status read in one statement, both CertID
 * hashes signed, every answer stored by one multi-row upsert and the queue rows deleted by
 * one statement; the database costs a few statements per batch, not several per answer. */
#ifndef EC_OCSP_RESIGN_H
#define EC_OCSP_RESIGN_H

#include "ec_ocsp_store.h"

#define EC_OCSP_RESIGN_BATCH 32      /* certificates per transaction (64 signatures) */

extern const ec_stmt_t ec_ocsp_resign_stmts[];

/* Re-signs a batch of queued certificates of each issuer and takes them off the queue;
 * rows another child or node holds are skipped. *done: certificates handled. */
apr_status_t ec_ocsp_pending(ec_store_t *s, apr_pool_t *p, ec_ocsp_issuer_t *const *issuers, int n,
                             time_t now, int validity, int *done);

/* Re-signs a batch of stored answers of each issuer with thisUpdate before `before`; those
 * of expired or vanished certificates are dropped instead (status is owed until expiry). */
apr_status_t ec_ocsp_refresh(ec_store_t *s, apr_pool_t *p, ec_ocsp_issuer_t *const *issuers, int n,
                             time_t before, time_t now, int validity, int *done);

#endif
