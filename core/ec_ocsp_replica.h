/* The node's replica of every live OCSP answer: an LMDB environment in a directory of
 * the node's own disk, read by every child and thread without any lock (LMDB readers
 * see a consistent snapshot and take none), written by one sync round at a time (the
 * node's children take turns through a claim kept in the replica itself).
 *
 * It holds one record per (issuer, CertID hash, serial) in the entry encoding of
 * ec_ocsp_entry.h, and a few marks of the sync (ec_ocsp_sync.h) in a table of its own.
 * Its pages live in the page cache, shared by all processes: a million certificates do
 * not grow any child's heap.
 *
 * Lifetime: the parent prepares it before the children start (a file that cannot be
 * opened or fails the walk is set aside and rebuilt from the database), each child then
 * opens it for itself (an LMDB environment must not cross a fork). */
#ifndef EC_OCSP_REPLICA_H
#define EC_OCSP_REPLICA_H

#include <apr_pools.h>
#include "ec_ocsp_entry.h"

typedef struct ec_ocsp_replica ec_ocsp_replica;
typedef struct ec_ocsp_replica_txn ec_ocsp_replica_txn;

typedef struct {
    apr_size_t entries;         /* records, tombstones included */
    apr_off_t bytes;            /* the data file on disk */
    int rebuilt;                /* the file was new, unreadable or failed the walk */
    const char *why;            /* why it was rebuilt */
} ec_ocsp_replica_info_t;

/* Parent, before the children: opens dir (creating it), walks every record, starts over
 * with an empty replica when it cannot be read, and starts a new boot (the replica counts
 * as current again only once a sync round has caught up, see ec_ocsp_replica_current). */
apr_status_t ec_ocsp_replica_prepare(apr_pool_t *p, const char *dir, apr_size_t map_size,
                                     unsigned int max_readers, ec_ocsp_replica_info_t *info);

/* Each process that reads or writes it (the children, ecertctl, the tests' tools). */
apr_status_t ec_ocsp_replica_open(apr_pool_t *p, const char *dir, apr_size_t map_size,
                                  unsigned int max_readers, ec_ocsp_replica **out);

/* The record of key, decoded and checked (copied into p): 1 found, 0 absent, -1 present
 * but damaged (never served); *current as ec_ocsp_replica_current, from the same snapshot.
 * Lock-free; any thread. */
int ec_ocsp_replica_get(ec_ocsp_replica *r, const char *key, apr_pool_t *p, ec_ocsp_entry_t *e, int *current);

/* How long a replica counts as current after its last good sync round: a sync that stops
 * (whatever the cause) sends requests back to the database within this. */
#define EC_OCSP_REPLICA_LEASE_US (30LL * 1000000)

/* 1 when a sync round of this boot has caught up with every status change since the
 * parent prepared the replica, and the last round succeeded within the lease: only then is
 * a record of it as good as the database's. */
int ec_ocsp_replica_current(ec_ocsp_replica *r);

/* Write transactions: one at a time per node (LMDB's writer lock). */
apr_status_t ec_ocsp_replica_begin(ec_ocsp_replica *r, apr_pool_t *p, ec_ocsp_replica_txn **txn);
/* Stores e under key when ec_ocsp_entry_replaces allows it: APR_SUCCESS written,
 * APR_EEXIST kept what was there. */
apr_status_t ec_ocsp_replica_put(ec_ocsp_replica_txn *t, const char *key, const ec_ocsp_entry_t *e);
/* The entry under key as this transaction sees it (0 absent or damaged). */
int ec_ocsp_replica_peek(ec_ocsp_replica_txn *t, const char *key, ec_ocsp_entry_t *e);
apr_int64_t ec_ocsp_replica_mark(ec_ocsp_replica_txn *t, const char *name);
apr_status_t ec_ocsp_replica_set_mark(ec_ocsp_replica_txn *t, const char *name, apr_int64_t v);
/* Text marks (a key to resume after): "" when absent or longer than size - 1. */
void ec_ocsp_replica_text(ec_ocsp_replica_txn *t, const char *name, char *buf, apr_size_t size);
apr_status_t ec_ocsp_replica_set_text(ec_ocsp_replica_txn *t, const char *name, const char *v);
/* Deletes up to max records whose nextUpdate is before `before`, walking on from where
 * the last call stopped; *removed gets the count. */
apr_status_t ec_ocsp_replica_purge(ec_ocsp_replica_txn *t, apr_int64_t before, int max, int *removed);
apr_status_t ec_ocsp_replica_commit(ec_ocsp_replica_txn *t);
void ec_ocsp_replica_abort(ec_ocsp_replica_txn *t);

apr_status_t ec_ocsp_replica_stat(ec_ocsp_replica *r, ec_ocsp_replica_info_t *info);
/* Why the last call failed, for a log line. */
const char *ec_ocsp_replica_error(ec_ocsp_replica *r);

#endif
