/* mod_ocsp: background work in every child (mod_watchdog, not a singleton: a child that
 * exits must not leave a node without a poller). Each round, every OCSP_POLL_MS:
 *   1. the replica's sync round (core/ec_ocsp_sync.h), if it is this child's turn;
 *   2. the re-sign queue (ocsp_pending), shared with the other children and nodes through
 *      SELECT ... FOR UPDATE SKIP LOCKED;
 *   3. pre-signed responses due for refresh (BR 4.9.10).
 * Work is bounded in time per round so the next poll is never late by much. */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_optional.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include <mod_watchdog.h>
#include "mod_ocsp.h"
#include "ec_ocsp_sync.h"

APLOG_USE_MODULE(ocsp);

#define WATCHDOG_NAME "ocsp-responder"
#define ROUND_BUDGET apr_time_from_msec(150)
#define SYNC_BUDGET apr_time_from_msec(500)
#define BACKOFF_MAX apr_time_from_sec(2)
#define SWEEP apr_time_from_sec(5)

static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close;

/* Per child (only the watchdog thread touches these). */
static apr_time_t retry_at, backoff, next_sweep;
static int db_down;

/* Once a round has the replica current again, or fails after it did not. */
static int sync_failing;

static void sync_replica(ec_store_t *st, apr_pool_t *p)
{
    ec_ocsp_sync_stats_t ss;
    int was_current = ec_ocsp_replica_current(ocsp_g.replica);
    apr_status_t rv = ec_ocsp_sync_round(ocsp_g.replica, st, p, SYNC_BUDGET, &ss);

    if (rv == APR_EBUSY)
        return;         /* another child's turn */
    if (rv != APR_SUCCESS) {
        if (!sync_failing)
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, ocsp_g.s,
                         "ECO0054: the OCSP replica cannot be brought up to date (%s%s): requests it cannot "
                         "answer go to the database", st->failed ? "database: " : "",
                         st->failed ? ec_store_error(st, rv) : ec_ocsp_replica_error(ocsp_g.replica));
        sync_failing = 1;
        return;
    }
    sync_failing = 0;
    if (ss.caught_up && !was_current) {
        ec_ocsp_replica_info_t info;
        ec_ocsp_replica_stat(ocsp_g.replica, &info);
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, ocsp_g.s,
                     "ECO0055: the OCSP replica has caught up with the database: %" APR_SIZE_T_FMT
                     " records, %" APR_OFF_T_FMT " octets; it answers on its own from now on",
                     info.entries, info.bytes);
    }
}

static void round_work(ec_store_t *st, apr_pool_t *p)
{
    ocsp_srv_conf *c = ocsp_g.conf;
    ec_ocsp_issuer_t **issuers = apr_palloc(p, sizeof(*issuers) * (size_t)ocsp_g.issuers->nelts);
    apr_time_t start = apr_time_now(), now_s = apr_time_sec(start);
    int n = 0, done;

    for (int i = 0; i < ocsp_g.issuers->nelts; i++) {
        ocsp_issuer_conf *is = APR_ARRAY_IDX(ocsp_g.issuers, i, ocsp_issuer_conf *);
        if (ocsp_issuer_ready(is, st, p) == 0)
            issuers[n++] = &is->core;
    }
    if (ocsp_g.replica)
        sync_replica(st, p);
    if (!ec_p11_available(ocsp_g.p11) || !n)
        return;
    /* Every child signs, as do the other nodes: the queue hands each its own rows. */
    start = apr_time_now();
    do {
        if (ec_ocsp_pending(st, p, issuers, n, (time_t)now_s, c->validity, &done) != APR_SUCCESS)
            return;
    } while (done && apr_time_now() - start < ROUND_BUDGET);
    /* Re-sign at 90% of OCSPRefresh, so answers are replaced before the hot path would
     * count them stale. */
    if (apr_time_now() < next_sweep)
        return;
    while (apr_time_now() - start < ROUND_BUDGET) {
        if (ec_ocsp_refresh(st, p, issuers, n, (time_t)(now_s - c->refresh + c->refresh / 10), (time_t)now_s,
                            c->validity, &done) != APR_SUCCESS || !done)
            break;
    }
    if (apr_time_now() - start < ROUND_BUDGET)
        next_sweep = apr_time_now() + SWEEP;    /* nothing left to refresh: look again later */
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
