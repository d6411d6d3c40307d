/* mod_ocsp: background work in every child (mod_watchdog, not a singleton: a child that
 * exits must not leave a node without a poller). Each round, every OCSP_POLL_MS:
 *   1. status changes since the last round -> tombstones in the shared cache (see mod_ocsp.h);
 *   2. the re-sign queue (ocsp_pending), shared with the other children and nodes through
 *      SELECT ... FOR UPDATE SKIP LOCKED;
 *   3. pre-signed responses due for refresh (BR 4.9.10).
 * Signing is bounded in time per round so the next poll is never late by much. */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_optional.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include <mod_watchdog.h>
#include "mod_ocsp.h"

APLOG_USE_MODULE(ocsp);

#define WATCHDOG_NAME "ocsp-responder"
#define ROUND_BUDGET apr_time_from_msec(150)
#define BACKOFF_MAX apr_time_from_sec(2)
#define SWEEP apr_time_from_sec(5)

static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close;

/* Per child (only the watchdog thread touches these). */
static long long seen;              /* newest status_changed processed */
static long long floor_at;          /* scan start after a full batch (progress guarantee) */
static apr_time_t retry_at, backoff, next_sweep;
static int db_down;

/* Changes already handled, so the re-scan of the margin does not redo them all every
 * round (thousands after a bulk load). A change is still re-checked for RECHECK after it
 * was first seen: an answer filled from a read made just before the change may land in
 * the cache after that first pass, and the re-check buries it. Two generations, each
 * covering one margin. */
#define RECHECK apr_time_from_sec(2)

static apr_pool_t *done_pool[2];
static apr_hash_t *done_set[2];
static apr_time_t done_rotated;

static int change_done(const char *issuer_id, const char *serial_hex, long long sc)
{
    char key[OCSP_KEY_MAX + 48];
    apr_size_t n;
    apr_time_t now = apr_time_now(), *first;

    n = (apr_size_t)apr_snprintf(key, sizeof(key), "%s/%s/%" APR_INT64_T_FMT, issuer_id, serial_hex,
                                 (apr_int64_t)sc);
    if ((first = apr_hash_get(done_set[0], key, (apr_ssize_t)n)) ||
        (first = apr_hash_get(done_set[1], key, (apr_ssize_t)n)))
        return now - *first > RECHECK;
    first = apr_palloc(done_pool[0], sizeof(*first));
    *first = now;
    apr_hash_set(done_set[0], apr_pstrmemdup(done_pool[0], key, n), (apr_ssize_t)n, first);
    return 0;
}

static void rotate_done(void)
{
    apr_time_t now = apr_time_now();

    if (done_pool[0] && now - done_rotated < apr_time_from_sec(OCSP_MARGIN_US / 1000000))
        return;
    if (done_pool[1])
        apr_pool_destroy(done_pool[1]);
    done_pool[1] = done_pool[0];
    done_set[1] = done_set[0];
    apr_pool_create(&done_pool[0], NULL);
    done_set[0] = apr_hash_make(done_pool[0]);
    if (!done_pool[1]) {
        apr_pool_create(&done_pool[1], NULL);
        done_set[1] = apr_hash_make(done_pool[1]);
    }
    done_rotated = now;
}

typedef struct {
    apr_pool_t *p;
    apr_uint64_t ep;            /* cache epoch before the reads the new answers come from */
    int changed;                /* changes handled this round */
} round_t;

static void on_change(void *baton, const char *issuer_id, const char *serial_hex, long long sc)
{
    round_t *rd = baton;

    if (change_done(issuer_id, serial_hex, sc))
        return;
    rd->changed++;
    for (int i = 0; i < ocsp_g.issuers->nelts; i++) {
        ocsp_issuer_conf *is = APR_ARRAY_IDX(ocsp_g.issuers, i, ocsp_issuer_conf *);
        char key[OCSP_KEY_MAX];
        if (!is->ready || strcmp(is->core.id, issuer_id))
            continue;
        ocsp_cache_key(key, is, EC_OCSP_HASH_SHA1, serial_hex);
        ocsp_cache_invalidate(key, sc, rd->p);
        ocsp_cache_key(key, is, EC_OCSP_HASH_SHA256, serial_hex);
        ocsp_cache_invalidate(key, sc, rd->p);
        return;
    }
}

/* A response this child just signed goes straight into the node's cache. */
static void on_signed(void *baton, const ec_ocsp_issuer_t *core, const char *serial_hex, int alg,
                      const ec_ocsp_rec_t *rec)
{
    round_t *rd = baton;
    ocsp_issuer_conf *is = (ocsp_issuer_conf *)((char *)core - offsetof(ocsp_issuer_conf, core));
    char key[OCSP_KEY_MAX];
    ocsp_entry e;

    ocsp_cache_key(key, is, alg, serial_hex);
    ocsp_entry_from_rec(&e, rec);
    ocsp_cache_put(key, rd->ep, &e, rd->p);
}

static void round_work(ec_store_t *st, apr_pool_t *p)
{
    ocsp_srv_conf *c = ocsp_g.conf;
    ec_ocsp_issuer_t **issuers = apr_palloc(p, sizeof(*issuers) * (size_t)ocsp_g.issuers->nelts);
    apr_time_t start = apr_time_now(), now_s = apr_time_sec(start);
    long long newest, since;
    int n = 0, done, count;
    round_t rd = { p, 0, 0 };

    for (int i = 0; i < ocsp_g.issuers->nelts; i++) {
        ocsp_issuer_conf *is = APR_ARRAY_IDX(ocsp_g.issuers, i, ocsp_issuer_conf *);
        if (ocsp_issuer_ready(is, st, p) == 0)
            issuers[n++] = &is->core;
    }
    if (!seen) {
        /* A new child continues from where the node's other children are; on a fresh
         * cache there is nothing older to hide. */
        if (!(seen = ocsp_cache_mark_get(p)) && ec_ocsp_db_now(st, p, &newest) == APR_SUCCESS)
            seen = newest;
        if (!seen)
            return;
    }

    since = seen - OCSP_MARGIN_US;
    if (since < floor_at)
        since = floor_at;
    newest = seen;
    rotate_done();
    if (ec_ocsp_changes(st, p, since, on_change, &rd, &newest, &count) != APR_SUCCESS)
        return;
    if (rd.changed)
        ocsp_cache_new_epoch();
    rd.ep = ocsp_cache_epoch();
    /* A batch that filled the LIMIT: later rounds start after it even inside the margin,
     * or a burst larger than one batch would stall the scan. */
    if (count >= EC_OCSP_CHANGES_BATCH && newest > floor_at)
        floor_at = newest;
    if (newest > seen) {
        seen = newest;
        ocsp_cache_mark_put(seen, p);
    }

    /* Queue rows come with a status change (issuance, revocation), so the queue is read
     * when the scan saw changes; refresh is due hours ahead. Both also every SWEEP, for
     * work a failure left behind. */
    if (!ec_p11_available(ocsp_g.p11) || !n || (!count && start < next_sweep))
        return;
    if (start >= next_sweep)
        next_sweep = start + SWEEP;
    do {
        if (ec_ocsp_pending(st, p, issuers, n, (time_t)now_s, c->validity, on_signed, &rd, &done) != APR_SUCCESS)
            return;
    } while (done && apr_time_now() - start < ROUND_BUDGET);
    /* Re-sign at 90% of OCSPRefresh, so answers are replaced before the hot path would
     * count them stale. */
    while (apr_time_now() - start < ROUND_BUDGET) {
        if (ec_ocsp_refresh(st, p, issuers, n, (time_t)(now_s - c->refresh + c->refresh / 10), (time_t)now_s,
                            c->validity, on_signed, &rd, &done) != APR_SUCCESS || !done)
            break;
    }
}

/* mod_watchdog's thread outlives the child's pool, but the database connections and
 * token sessions a round holds belong to that pool: when it goes, the round under way
 * finishes first and no other starts. */
static apr_thread_mutex_t *round_lock;
static int stopping;

static apr_status_t stop_rounds(void *data)
{
    __atomic_store_n(&stopping, 1, __ATOMIC_SEQ_CST);
    apr_thread_mutex_lock(round_lock);
    apr_thread_mutex_unlock(round_lock);
    return APR_SUCCESS;
}

void ocsp_watch_child_init(apr_pool_t *pchild, server_rec *s)
{
    if (apr_thread_mutex_create(&round_lock, APR_THREAD_MUTEX_DEFAULT, s->process->pool) == APR_SUCCESS)
        apr_pool_pre_cleanup_register(pchild, NULL, stop_rounds);
}

static apr_status_t watch_round(server_rec *s, apr_pool_t *pool)
{
    ap_dbd_t *dbd;
    apr_time_t now;

    now = apr_time_now();
    if (now < retry_at)
        return APR_SUCCESS;
    if (!(dbd = dbd_open(pool, s))) {
        /* No revocation can be recorded while the database is away: poll it less often
         * (mod_dbd logs every failed connection). */
        backoff = backoff ? (backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2)
                          : apr_time_from_msec(OCSP_POLL_MS);
        retry_at = now + backoff;
        if (!db_down)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         "ECO0050: the database is unreachable: answering from the cache, tryLater otherwise");
        db_down = 1;
        return APR_SUCCESS;
    }
    if (db_down)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "ECO0051: the database is back");
    db_down = 0;
    backoff = 0;
    retry_at = 0;
    round_work(ec_store_wrap(pool, dbd->driver, dbd->handle, dbd->prepared), pool);
    dbd_close(s, dbd);
    return APR_SUCCESS;
}

static apr_status_t ocsp_watch(int state, void *data, apr_pool_t *pool)
{
    apr_status_t rv = APR_SUCCESS;

    if (state != AP_WATCHDOG_STATE_RUNNING || !round_lock ||
        !__atomic_load_n(&ocsp_g.child_ready, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&stopping, __ATOMIC_SEQ_CST))
        return APR_SUCCESS;
    apr_thread_mutex_lock(round_lock);
    if (!__atomic_load_n(&stopping, __ATOMIC_SEQ_CST))
        rv = watch_round(data, pool);
    apr_thread_mutex_unlock(round_lock);
    return rv;
}

int ocsp_watch_post_config(apr_pool_t *pconf, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *reg =
        APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    ap_watchdog_t *wd;
    apr_status_t rv;

    dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    if (!get || !reg || !dbd_open || !dbd_close) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "ECO0052: mod_ocsp needs mod_watchdog and mod_dbd (LoadModule watchdog_module, dbd_module)");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if ((rv = get(&wd, WATCHDOG_NAME, 0, 0, pconf)) != APR_SUCCESS ||
        (rv = reg(wd, apr_time_from_msec(OCSP_POLL_MS), s, ocsp_watch)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "ECO0053: cannot start the OCSP watchdog");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}
