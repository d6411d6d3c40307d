/* Keeps a node's replica (ec_ocsp_replica.h) in step with the database, the one source
 * every node shares. A round, run by one child of the node at a time:
 *   1. status changes (certificate and Sub CA status_changed newer than the last round,
 *      re-read over a margin for transactions that committed late) become tombstones:
 *      from then on no answer signed for the old status is served from the replica;
 *   2. pre-signed answers stored since the last round (ocsp_response.updated_at, signed by
 *      any child of any node) are copied in, each with the status it was signed for; one
 *      signed for a status that has changed since becomes a tombstone instead;
 *   3. answers of the last seconds that the replica does not hold (their transactions
 *      committed after the round that should have seen them) are fetched one by one;
 *   4. records expired for an hour are purged, a slice a minute.
 * A fresh or rebuilt replica is filled by the same rounds, a batch at a time, from the
 * start of the table; until a round has caught up, the replica is not "current" and the
 * responder asks the database first (ec_ocsp_entry_verdict). */
#ifndef EC_OCSP_SYNC_H
#define EC_OCSP_SYNC_H

#include "ec_ocsp_replica.h"
#include "ec_store.h"

/* How far back each round re-reads status changes; and how old a stored answer must be
 * before it is looked at again, once, for a transaction that committed late. */
#define EC_OCSP_SYNC_MARGIN_US   (10LL * 1000000)
#define EC_OCSP_SYNC_RMARGIN_US  (5LL * 1000000)
/* Children take turns: a round runs at most this often per node. */
#define EC_OCSP_SYNC_INTERVAL_US (100LL * 1000)
#define EC_OCSP_SYNC_FEED_BATCH 2000

typedef struct {
    int changes;                /* status changes turned into tombstones */
    int answers;                /* answers copied in */
    int fetched;                /* of which found late by the margin check */
    int purged;
    int behind;                 /* more is waiting: a feed returned a full batch */
    int caught_up;              /* this round caught up (the replica is current) */
    int released;               /* the turn was handed back with the last batch */
} ec_ocsp_sync_stats_t;

extern const ec_stmt_t ec_ocsp_sync_stmts[];

/* One round at the database clock now_us, with more batches while behind and within
 * budget (microseconds). APR_EBUSY: another child's round is under way or just ran. */
apr_status_t ec_ocsp_sync_round(ec_ocsp_replica *r, ec_store_t *st, apr_pool_t *p, apr_int64_t budget_us,
                                ec_ocsp_sync_stats_t *stats);

#endif
