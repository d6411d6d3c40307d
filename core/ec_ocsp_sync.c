#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_time.h>
#include "ec_ocsp_sync.h"
#include "ec_util.h"
#include "ec_log.h"

#define EPOCH_S(c)  "TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', " c ")"
#define EPOCH_US(c) "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', " c ")"
#define FROM_US     "TIMESTAMPADD(MICROSECOND, %s, '1970-01-01 00:00:00')"
#define HEX_DER(c)  "CAST(HEX(" c ") AS CHAR(16384) CHARACTER SET ascii)"
#define STR(x) #x
#define XSTR(x) STR(x)

/* A stored answer with what its certificate (or Sub CA) says now: the status it was
 * signed for is the current one only when the status_changed values agree. */
#define TAG(c) "LOWER(LEFT(HEX(" c "), 16))"
/* Every statement names its join order and indexes (sql/008): read from the large table along
 * the feed's index, never from ca outwards. */
#define FEED_COLS(hint) "SELECT STRAIGHT_JOIN " TAG("i.key_sha1") ", r.serial_hex, r.hash_alg, " \
    EPOCH_S("r.this_update") ", " EPOCH_S("r.next_update") ", " EPOCH_US("r.status_changed") ", " EPOCH_US("r.updated_at") ", " \
    HEX_DER("r.response_der") ", COALESCE(c.status, k.status), " \
    "COALESCE(" EPOCH_S("COALESCE(c.revoked_at, k.revoked_at)") ", 0), " \
    "IF(c.serial_hex IS NOT NULL, COALESCE(c.revocation_reason, -1), COALESCE(k.revocation_reason, 0)), " \
    EPOCH_US("COALESCE(c.status_changed, k.status_changed)") ", r.issuer_id FROM ocsp_response r " hint \
    " JOIN ca i ON i.id = r.issuer_id " \
    "LEFT JOIN certificate c ON c.issuer_id = r.issuer_id AND c.serial_hex = r.serial_hex " \
    "LEFT JOIN ca k FORCE INDEX (ca_parent_serial) ON k.parent_id = r.issuer_id AND k.serial_hex = r.serial_hex " \
    "AND k.role IN ('ssl', 'ev') "
#define FEED_NCOLS 12

#define CHANGES_BATCH 5000
#define LATE_BATCH 20000

const ec_stmt_t ec_ocsp_sync_stmts[] = {
    /* In (updated_at, primary key) order, the order of index ocsp_updated: one upsert stores
     * up to 64 answers, and a migration thousands, under one updated_at; the key lets a
     * batch end inside them without losing any. */
    { "ocsp_sync_feed", FEED_COLS("FORCE INDEX (ocsp_updated)") "WHERE r.updated_at >= " FROM_US
      " AND (r.updated_at > " FROM_US " OR (r.issuer_id, r.serial_hex, r.hash_alg) > (%s, %s, %s)) "
      "ORDER BY r.updated_at, r.issuer_id, r.serial_hex, r.hash_alg LIMIT " XSTR(EC_OCSP_SYNC_FEED_BATCH) },
    { "ocsp_sync_one", FEED_COLS("") "WHERE r.issuer_id = %s AND r.serial_hex = %s AND r.hash_alg = %s" },
    /* The feed's rows again, keys only, once each, when they are old enough that every
     * transaction that wrote them has committed. */
    { "ocsp_sync_late", "SELECT STRAIGHT_JOIN r.issuer_id, r.serial_hex, r.hash_alg, "
      EPOCH_US("r.status_changed") ", " EPOCH_S("r.this_update") ", " TAG("i.key_sha1") ", "
      EPOCH_US("r.updated_at") " FROM ocsp_response r FORCE INDEX (ocsp_updated) JOIN ca i ON i.id = r.issuer_id "
      "WHERE r.updated_at >= " FROM_US " AND (r.updated_at > " FROM_US
      " OR (r.issuer_id, r.serial_hex, r.hash_alg) > (%s, %s, %s)) AND r.updated_at <= " FROM_US
      " ORDER BY r.updated_at, r.issuer_id, r.serial_hex, r.hash_alg LIMIT " XSTR(LATE_BATCH) },
    /* Keyed by the issuer's key hash, which every request carries: a node can answer from
     * its replica without asking the database which ca.id that is. */
    { "ocsp_sync_changes_cert", "SELECT STRAIGHT_JOIN " TAG("i.key_sha1") ", c.serial_hex, "
      EPOCH_US("c.status_changed") " FROM certificate c FORCE INDEX (certificate_changed_key) "
      "JOIN ca i ON i.id = c.issuer_id WHERE c.status_changed >= " FROM_US
      " AND (c.status_changed > " FROM_US " OR c.serial_hex > %s)"
      " ORDER BY c.status_changed, c.serial_hex LIMIT " XSTR(CHANGES_BATCH) },
    { "ocsp_sync_changes_ca", "SELECT " TAG("i.key_sha1") ", k.serial_hex, " EPOCH_US("k.status_changed")
      " FROM ca k JOIN ca i ON i.id = k.parent_id WHERE k.role IN ('ssl', 'ev') AND k.status_changed > " FROM_US
      " ORDER BY k.status_changed LIMIT " XSTR(CHANGES_BATCH) },
    { NULL, NULL }
};

#define CLAIM_US (30LL * 1000000)     /* a child that died in a round holds the turn no longer */
#define TOMBSTONE_KEEP (86400)
#define PURGE_AFTER (3600)
#define PURGE_SLICE 20000
#define PURGE_EVERY (60LL * 1000000)

typedef struct {
    char key[EC_OCSP_KEY_MAX];
    ec_ocsp_entry_t e;
} sync_rec;

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *recs;   /* sync_rec, applied in order */
    apr_int64_t now_s;
} batch_t;

static int alg_of(const char *name)
{
    return name && !strcmp(name, "sha256") ? EC_OCSP_HASH_SHA256 : EC_OCSP_HASH_SHA1;
}

static void add_tombstone(batch_t *b, const char *tag, int alg, const char *serial, apr_int64_t sc)
{
    sync_rec *s = apr_array_push(b->recs);

    ec_ocsp_entry_key(s->key, tag, alg, serial);
    ec_ocsp_entry_tombstone(&s->e, sc, b->now_s + TOMBSTONE_KEEP);
}

typedef struct {
    apr_int64_t seen, floor, rseen, lseen, boot;
    char floor_serial[48];      /* with floor: where a full batch of changes stopped */
    char rseen_key[96];         /* with rseen: the last answer read, "issuer_id serial alg" */
    char lseen_key[96];         /* with lseen: the last answer looked at again */
} marks_t;

/* Certificates whose status changed after (from, after_serial) in that order, and Sub CAs
 * changed after from: two tombstones each. A mass revocation gives thousands of rows one
 * status_changed: the serial orders them, so a batch boundary inside them loses none. */
static apr_status_t read_changes(ec_store_t *st, batch_t *b, apr_int64_t from, const char *after_serial,
                                 apr_int64_t ca_since, apr_int64_t *newest, apr_int64_t *last_sc,
                                 char *last_serial, int *full)
{
    const char *at = apr_psprintf(b->p, "%" APR_INT64_T_FMT, from);

    *full = 0;
    for (int i = 0; i < 2; i++) {
        apr_dbd_results_t *res;
        apr_dbd_row_t *row;
        int count = 0;
        apr_status_t rv = i == 0 ? ec_store_select(st, b->p, "ocsp_sync_changes_cert", &res,
                                                   EC_ARGS(at, at, after_serial))
                                 : ec_store_select(st, b->p, "ocsp_sync_changes_ca", &res,
                                                   EC_ARGS(apr_psprintf(b->p, "%" APR_INT64_T_FMT, ca_since)));
        if (rv != APR_SUCCESS)
            return rv;
        while (ec_store_next(st, b->p, res, &row) == APR_SUCCESS) {
            const char *tag = ec_store_col(st, row, 0), *serial = ec_store_col(st, row, 1);
            const char *sc = ec_store_col(st, row, 2);
            apr_int64_t v;
            count++;
            if (!tag || !serial || !sc)
                continue;
            v = strtoll(sc, NULL, 10);
            if (v > *newest)
                *newest = v;
            if (i == 0) {
                *last_sc = v;
                apr_cpystrn(last_serial, serial, sizeof(((marks_t *)0)->floor_serial));
            }
            add_tombstone(b, tag, EC_OCSP_HASH_SHA1, serial, v);
            add_tombstone(b, tag, EC_OCSP_HASH_SHA256, serial, v);
        }
        if (count >= CHANGES_BATCH)
            *full = 1;
    }
    return st->failed ? APR_EGENERAL : APR_SUCCESS;
}

/* One row of FEED_COLS into the batch; returns its updated_at (0 when unusable). */
static apr_int64_t feed_row(batch_t *b, ec_store_t *st, apr_dbd_row_t *row)
{
    const char *c[12];
    apr_int64_t resp_sc, cert_sc;
    sync_rec *s;
    size_t n;

    for (int i = 0; i < 12; i++)
        c[i] = ec_store_col(st, row, i);
    if (!c[0] || !c[1] || !c[2] || !c[6])
        return 0;
    if (!c[8] || !c[11])
        return strtoll(c[6], NULL, 10);          /* the certificate is gone: nothing to serve */
    resp_sc = strtoll(c[5], NULL, 10);
    cert_sc = strtoll(c[11], NULL, 10);
    if (resp_sc != cert_sc) {
        add_tombstone(b, c[0], alg_of(c[2]), c[1], cert_sc > resp_sc ? cert_sc : resp_sc);
        return strtoll(c[6], NULL, 10);
    }
    s = apr_array_push(b->recs);
    ec_ocsp_entry_key(s->key, c[0], alg_of(c[2]), c[1]);
    memset(&s->e, 0, sizeof(s->e));
    s->e.status = !strcmp(c[8], "revoked") ? EC_OCSP_REVOKED : EC_OCSP_GOOD;
    s->e.revoked_at = s->e.status == EC_OCSP_REVOKED ? strtoll(c[9], NULL, 10) : 0;
    s->e.reason = s->e.status == EC_OCSP_REVOKED ? atoi(c[10]) : -1;
    s->e.this_update = strtoll(c[3], NULL, 10);
    s->e.next_update = strtoll(c[4], NULL, 10);
    s->e.sc = resp_sc;
    if (!c[7] || !(s->e.der = ec_unhex(b->p, c[7], &n)) || !n) {
        b->recs->nelts--;
        return strtoll(c[6], NULL, 10);
    }
    s->e.der_len = n;
    return strtoll(c[6], NULL, 10);
}

/* A keyset position in the feed's order: (updated_at, "issuer_id serial alg") as the
 * statements' arguments; before every row of that updated_at when the key is empty. */
static void position_args(apr_pool_t *p, apr_int64_t at, const char *text, const char **args)
{
    char *resume = apr_pstrdup(p, text), *state;

    args[0] = args[1] = apr_psprintf(p, "%" APR_INT64_T_FMT, at);
    args[2] = "0";
    args[3] = args[4] = "";
    for (int i = 0; i < 3; i++) {
        char *tok = apr_strtok(i ? NULL : resume, " ", &state);
        if (!tok)
            break;
        args[2 + i] = tok;
    }
}

/* Answers stored after (m->rseen, m->rseen_key), oldest first; moves both on. */
static apr_status_t read_feed(ec_store_t *st, batch_t *b, marks_t *m, int *count)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    const char *args[5];
    apr_status_t rv;

    position_args(b->p, m->rseen, m->rseen_key, args);
    *count = 0;
    if ((rv = ec_store_select(st, b->p, "ocsp_sync_feed", &res, 5, args)) != APR_SUCCESS)
        return rv;
    while (ec_store_next(st, b->p, res, &row) == APR_SUCCESS) {
        apr_int64_t updated = feed_row(b, st, row);
        const char *id = ec_store_col(st, row, FEED_NCOLS), *serial = ec_store_col(st, row, 1);
        const char *alg = ec_store_col(st, row, 2);
        (*count)++;
        if (updated && id && serial && alg) {
            m->rseen = updated;
            apr_snprintf(m->rseen_key, sizeof(m->rseen_key), "%s %s %s", id, serial, alg);
        }
    }
    return st->failed ? APR_EGENERAL : APR_SUCCESS;
}

typedef struct {
    const char *issuer_id, *serial_hex, *alg;
} late_row;

/* Answers stored after (m->lseen, m->lseen_key) up to upto that the replica lacks: their
 * transactions committed after the round whose feed read past them. Each answer is looked
 * at once, by its key alone, when it is older than the margin; the few missing are fetched
 * one by one. Moves the position on. */
static apr_status_t read_late(ec_ocsp_replica *r, ec_store_t *st, batch_t *b, marks_t *m, apr_int64_t upto,
                              int *fetched)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_array_header_t *late = apr_array_make(b->p, 8, sizeof(late_row));
    const char *args[6];
    int current;
    apr_status_t rv;

    *fetched = 0;
    if (upto <= m->lseen)
        return APR_SUCCESS;
    position_args(b->p, m->lseen, m->lseen_key, args);
    args[5] = apr_psprintf(b->p, "%" APR_INT64_T_FMT, upto);
    if ((rv = ec_store_select(st, b->p, "ocsp_sync_late", &res, 6, args)) != APR_SUCCESS)
        return rv;
    while (ec_store_next(st, b->p, res, &row) == APR_SUCCESS) {
        const char *id = ec_store_col(st, row, 0), *serial = ec_store_col(st, row, 1);
        const char *alg = ec_store_col(st, row, 2), *sc = ec_store_col(st, row, 3), *tu = ec_store_col(st, row, 4);
        const char *tag = ec_store_col(st, row, 5), *updated = ec_store_col(st, row, 6);
        char key[EC_OCSP_KEY_MAX];
        ec_ocsp_entry_t have, stored;
        if (!id || !serial || !alg || !sc || !tu || !tag || !updated)
            continue;
        m->lseen = strtoll(updated, NULL, 10);
        apr_snprintf(m->lseen_key, sizeof(m->lseen_key), "%s %s %s", id, serial, alg);
        ec_ocsp_entry_key(key, tag, alg_of(alg), serial);
        memset(&stored, 0, sizeof(stored));
        stored.sc = strtoll(sc, NULL, 10);
        stored.this_update = strtoll(tu, NULL, 10);
        if (ec_ocsp_replica_get(r, key, b->p, &have, &current) == 1 && !ec_ocsp_entry_replaces(&stored, &have))
            continue;
        late_row *l = apr_array_push(late);
        l->issuer_id = apr_pstrdup(b->p, id);
        l->serial_hex = apr_pstrdup(b->p, serial);
        l->alg = apr_pstrdup(b->p, alg);
    }
    if (st->failed)
        return APR_EGENERAL;
    for (int i = 0; i < late->nelts; i++) {
        late_row *l = &APR_ARRAY_IDX(late, i, late_row);
        if ((rv = ec_store_select(st, b->p, "ocsp_sync_one", &res, EC_ARGS(l->issuer_id, l->serial_hex, l->alg))) !=
            APR_SUCCESS)
            return rv;
        while (ec_store_next(st, b->p, res, &row) == APR_SUCCESS) {
            feed_row(b, st, row);
            (*fetched)++;
        }
    }
    return st->failed ? APR_EGENERAL : APR_SUCCESS;
}

/* Takes the node's turn: APR_EBUSY when another child has it or a round just ended. A
 * mark from the future (the clock was stepped back) does not hold the turn. */
static apr_status_t claim(ec_ocsp_replica *r, apr_pool_t *p, apr_int64_t now)
{
    ec_ocsp_replica_txn *t;
    apr_int64_t until, last;
    apr_status_t rv;

    if ((rv = ec_ocsp_replica_begin(r, p, &t)) != APR_SUCCESS)
        return rv;
    until = ec_ocsp_replica_mark(t, "claim_until");
    last = ec_ocsp_replica_mark(t, "last_round");
    if ((until > now && until <= now + CLAIM_US) || (last <= now && now - last < EC_OCSP_SYNC_INTERVAL_US)) {
        ec_ocsp_replica_abort(t);
        return APR_EBUSY;
    }
    if ((rv = ec_ocsp_replica_set_mark(t, "claim_until", now + CLAIM_US)) != APR_SUCCESS) {
        ec_ocsp_replica_abort(t);
        return rv;
    }
    return ec_ocsp_replica_commit(t);
}

/* The turn handed back (with the round's last batch, or alone after a failure). */
static apr_status_t mark_released(ec_ocsp_replica_txn *t, int ok)
{
    apr_time_t now = apr_time_now();
    apr_status_t rv = ec_ocsp_replica_set_mark(t, "claim_until", 0);

    if (rv == APR_SUCCESS)
        rv = ec_ocsp_replica_set_mark(t, "last_round", now);
    if (rv == APR_SUCCESS && ok)
        rv = ec_ocsp_replica_set_mark(t, "synced_at", now);
    return rv;
}

static apr_status_t release_after_failure(ec_ocsp_replica *r, apr_pool_t *p)
{
    ec_ocsp_replica_txn *t;
    apr_status_t rv;

    if ((rv = ec_ocsp_replica_begin(r, p, &t)) != APR_SUCCESS)
        return rv;
    if ((rv = mark_released(t, 0)) != APR_SUCCESS) {
        ec_ocsp_replica_abort(t);
        return rv;
    }
    return ec_ocsp_replica_commit(t);
}

static apr_status_t read_marks(ec_ocsp_replica *r, apr_pool_t *p, marks_t *m)
{
    ec_ocsp_replica_txn *t;
    apr_status_t rv = ec_ocsp_replica_begin(r, p, &t);

    if (rv != APR_SUCCESS)
        return rv;
    m->seen = ec_ocsp_replica_mark(t, "seen");
    m->floor = ec_ocsp_replica_mark(t, "floor");
    ec_ocsp_replica_text(t, "floor_serial", m->floor_serial, sizeof(m->floor_serial));
    m->rseen = ec_ocsp_replica_mark(t, "rseen");
    ec_ocsp_replica_text(t, "rseen_key", m->rseen_key, sizeof(m->rseen_key));
    m->lseen = ec_ocsp_replica_mark(t, "lseen");
    ec_ocsp_replica_text(t, "lseen_key", m->lseen_key, sizeof(m->lseen_key));
    m->boot = ec_ocsp_replica_mark(t, "boot");
    ec_ocsp_replica_abort(t);
    return APR_SUCCESS;
}

static apr_status_t put_marks(ec_ocsp_replica_txn *t, const marks_t *m)
{
    apr_status_t rv;

    if ((rv = ec_ocsp_replica_set_mark(t, "seen", m->seen)) != APR_SUCCESS ||
        (rv = ec_ocsp_replica_set_mark(t, "floor", m->floor)) != APR_SUCCESS ||
        (rv = ec_ocsp_replica_set_text(t, "floor_serial", m->floor_serial)) != APR_SUCCESS ||
        (rv = ec_ocsp_replica_set_mark(t, "rseen", m->rseen)) != APR_SUCCESS ||
        (rv = ec_ocsp_replica_set_text(t, "rseen_key", m->rseen_key)) != APR_SUCCESS ||
        (rv = ec_ocsp_replica_set_mark(t, "lseen", m->lseen)) != APR_SUCCESS)
        return rv;
    return ec_ocsp_replica_set_text(t, "lseen_key", m->lseen_key);
}

/* A slice of the expired records, at most once a minute; its own transaction, so a full
 * map never stops the answers from coming in. */
static void purge(ec_ocsp_replica *r, apr_pool_t *p, ec_ocsp_sync_stats_t *stats)
{
    ec_ocsp_replica_txn *t;
    apr_time_t now = apr_time_now();
    int removed = 0;

    if (ec_ocsp_replica_begin(r, p, &t) != APR_SUCCESS)
        return;
    if (now - ec_ocsp_replica_mark(t, "purged_at") < PURGE_EVERY ||
        ec_ocsp_replica_purge(t, apr_time_sec(now) - PURGE_AFTER, PURGE_SLICE, &removed) != APR_SUCCESS ||
        ec_ocsp_replica_set_mark(t, "purged_at", now) != APR_SUCCESS) {
        ec_ocsp_replica_abort(t);
        return;
    }
    if (ec_ocsp_replica_commit(t) == APR_SUCCESS)
        stats->purged += removed;
}

/* Everything a batch read, and the marks that say how far it got, in one transaction; the
 * last batch of a round hands the turn back in it too. A record too large for the replica
 * is stored as a tombstone: whatever it held before is never served. */
static apr_status_t apply(ec_ocsp_replica *r, batch_t *b, const marks_t *m, int caught_up, int last)
{
    ec_ocsp_replica_txn *t;
    apr_status_t rv;

    if ((rv = ec_ocsp_replica_begin(r, b->p, &t)) != APR_SUCCESS)
        return rv;
    for (int i = 0; i < b->recs->nelts && rv == APR_SUCCESS; i++) {
        sync_rec *s = &APR_ARRAY_IDX(b->recs, i, sync_rec);
        rv = ec_ocsp_replica_put(t, s->key, &s->e);
        if (rv == APR_EINVAL) {
            ec_ocsp_entry_t tomb;
            ec_log(EC_LOG_WARN, "ECU0010", "the OCSP answer %s (%" APR_SIZE_T_FMT " octets) does not fit a "
                   "replica record: answered from the database", s->key, s->e.der_len);
            ec_ocsp_entry_tombstone(&tomb, s->e.sc, b->now_s + TOMBSTONE_KEEP);
            rv = ec_ocsp_replica_put(t, s->key, &tomb);
        }
        if (rv == APR_EEXIST)
            rv = APR_SUCCESS;
    }
    if (rv == APR_SUCCESS)
        rv = put_marks(t, m);
    if (rv == APR_SUCCESS && caught_up)
        rv = ec_ocsp_replica_set_mark(t, "caught_up", m->boot);
    if (rv == APR_SUCCESS && last)
        rv = mark_released(t, 1);
    if (rv != APR_SUCCESS) {
        ec_ocsp_replica_abort(t);
        return rv;
    }
    return ec_ocsp_replica_commit(t);
}

static apr_status_t one_batch(ec_ocsp_replica *r, ec_store_t *st, apr_pool_t *p, marks_t *m,
                              apr_time_t deadline, ec_ocsp_sync_stats_t *stats)
{
    batch_t b = { p, apr_array_make(p, 64, sizeof(sync_rec)), apr_time_sec(apr_time_now()) };
    apr_int64_t since, newest, last_sc = 0, rseen_before = m->rseen;
    char last_serial[sizeof(m->floor_serial)];
    int changes_full = 0, answers = 0, fetched = 0, changes, last;
    long long db_now;
    apr_status_t rv;

    if ((rv = ec_ocsp_db_now(st, p, &db_now)) != APR_SUCCESS)
        return rv;
    /* A new replica has no older answer to hide: status changes count from now; and the
     * feed, which starts from the beginning, reads every answer older than the margin. */
    if (!m->seen)
        m->seen = db_now;
    if (!m->lseen)
        m->lseen = db_now - EC_OCSP_SYNC_RMARGIN_US;
    /* The margin behind the newest change seen, for transactions that committed late; but
     * after a full batch, on from where it stopped, or a burst larger than a batch would
     * stall the scan. */
    since = m->seen - EC_OCSP_SYNC_MARGIN_US;
    newest = m->seen;
    last_serial[0] = 0;
    if (m->floor >= since)
        rv = read_changes(st, &b, m->floor, m->floor_serial, since, &newest, &last_sc, last_serial, &changes_full);
    else
        rv = read_changes(st, &b, since, "", since, &newest, &last_sc, last_serial, &changes_full);
    if (rv != APR_SUCCESS)
        return rv;
    changes = b.recs->nelts / 2;
    if (changes_full) {
        m->floor = last_sc;
        apr_cpystrn(m->floor_serial, last_serial, sizeof(m->floor_serial));
    }
    if ((rv = read_feed(st, &b, m, &answers)) != APR_SUCCESS)
        return rv;
    /* Late answers: only behind what earlier rounds have put in the replica (the feed's
     * rows of this round are not there yet). */
    if ((rv = read_late(r, st, &b, m, db_now - EC_OCSP_SYNC_RMARGIN_US < rseen_before - 1 ?
                        db_now - EC_OCSP_SYNC_RMARGIN_US : rseen_before - 1, &fetched)) != APR_SUCCESS)
        return rv;
    /* While a full batch of certificates is being worked through, the newest change is its
     * last: a Sub CA's later change must not make the next batch skip ahead. */
    m->seen = changes_full ? last_sc : newest;
    stats->behind = changes_full || answers >= EC_OCSP_SYNC_FEED_BATCH;
    stats->changes += changes;
    stats->answers += answers + fetched;
    stats->fetched += fetched;
    last = !stats->behind || apr_time_now() >= deadline;
    if ((rv = apply(r, &b, m, !stats->behind, last)) == APR_SUCCESS && !stats->behind)
        stats->caught_up = 1;
    if (rv == APR_SUCCESS && last)
        stats->released = 1;
    return rv;
}

apr_status_t ec_ocsp_sync_round(ec_ocsp_replica *r, ec_store_t *st, apr_pool_t *p, apr_int64_t budget_us,
                                ec_ocsp_sync_stats_t *stats)
{
    apr_time_t start = apr_time_now();
    marks_t m;
    apr_status_t rv = APR_SUCCESS;

    memset(stats, 0, sizeof(*stats));
    if ((rv = claim(r, p, start)) != APR_SUCCESS)
        return rv;
    if ((rv = read_marks(r, p, &m)) == APR_SUCCESS) {
        do {
            apr_pool_t *bp;
            apr_pool_create(&bp, p);
            rv = one_batch(r, st, bp, &m, start + budget_us, stats);
            apr_pool_destroy(bp);
        } while (rv == APR_SUCCESS && !stats->released);
    }
    if (!stats->released) {
        apr_status_t end = release_after_failure(r, p);
        if (rv == APR_SUCCESS)
            rv = end;
    }
    purge(r, p, stats);
    return rv;
}
