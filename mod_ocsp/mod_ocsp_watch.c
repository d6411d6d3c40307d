/* mod_ocsp: background work in every child (mod_watchdog, not singletons: a child that
 * exits must not leave a node without it), on two watchdog threads of their own so that
 * signing never delays the replica:
 *   ocsp-replica, every OCSP_POLL_MS: the replica's sync round (core/ec_ocsp_sync.h), when
 *     it is this child's turn;
 *   ocsp-signer, every OCSP_SIGN_POLL_MS and for as long as there is work: the re-sign queue
 *     (ocsp_pending) and the answers due for refresh (BR 4.9.10), shared with the other
 *     children and nodes through SELECT ... FOR UPDATE SKIP LOCKED (core/ec_ocsp_resign.h),
 *     so every child signs and a node signs at the token's rate. */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_optional.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include <mod_watchdog.h>
#include "mod_ocsp.h"
#include "ec_ocsp_sync.h"
#include "ec_ocsp_resign.h"

APLOG_USE_MODULE(ocsp);

#define OCSP_SIGN_POLL_MS 100
/* A round goes on while there is work (each pause between rounds is a pause of the token),
 * but ends as soon as the child stops. */
#define SIGN_BUDGET apr_time_from_sec(10)
#define SYNC_BUDGET apr_time_from_msec(500)
#define BACKOFF_MAX apr_time_from_sec(2)
#define SWEEP apr_time_from_sec(5)

static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close;

/* mod_watchdog's threads outlive the child's pool, but the database connections and token
 * sessions a round holds belong to that pool: when it goes, the rounds under way finish
 * (a signing round at its next batch) and no other starts. */
static int stopping;

static int signing_goes_on(apr_time_t start)
{
    return apr_time_now() - start < SIGN_BUDGET && !__atomic_load_n(&stopping, __ATOMIC_SEQ_CST);
}

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

static void sync_work(ec_store_t *st, apr_pool_t *p)
{
    if (ocsp_g.replica)
        sync_replica(st, p);
}

static apr_time_t next_sweep;   /* signer thread only */

/* One batch of the queue (or of the refresh sweep) in a pool of its own, signed at its own
 * time: a round of many batches holds one batch's memory. The certificates done, or -1. */
static int sign_batch(ec_store_t *st, apr_pool_t *p, ec_ocsp_issuer_t *const *issuers, int n, int refresh)
{
    ocsp_srv_conf *c = ocsp_g.conf;
    time_t now = (time_t)apr_time_sec(apr_time_now());
    apr_pool_t *bp;
    apr_status_t rv;
    int done = 0;

    apr_pool_create(&bp, p);
    /* Re-sign at 90% of OCSPRefresh, so answers are replaced before the hot path would
     * count them stale. */
    rv = refresh ? ec_ocsp_refresh(st, bp, issuers, n, now - c->refresh + c->refresh / 10, now, c->validity, &done)
                 : ec_ocsp_pending(st, bp, issuers, n, now, c->validity, &done);
    apr_pool_destroy(bp);
    return rv == APR_SUCCESS ? done : -1;
}

static void sign_work(ec_store_t *st, apr_pool_t *p)
{
    ec_ocsp_issuer_t **issuers = apr_palloc(p, sizeof(*issuers) * (size_t)ocsp_g.issuers->nelts);
    apr_time_t start = apr_time_now();
    int n = 0, done;

    for (int i = 0; i < ocsp_g.issuers->nelts; i++) {
        ocsp_issuer_conf *is = APR_ARRAY_IDX(ocsp_g.issuers, i, ocsp_issuer_conf *);
        if (ocsp_issuer_ready(is, st, p) == 0)
            issuers[n++] = &is->core;
    }
    if (!ec_p11_available(ocsp_g.p11) || !n)
        return;
    while ((done = sign_batch(st, p, issuers, n, 0)) > 0 && signing_goes_on(start))
        ;
    if (done < 0 || apr_time_now() < next_sweep)
        return;
    while (signing_goes_on(start)) {
        if ((done = sign_batch(st, p, issuers, n, 1)) < 0)
            return;
        if (!done) {
            next_sweep = apr_time_now() + SWEEP;    /* nothing due: look again later */
            return;
        }
    }
}

typedef struct {
    const char *name;           /* watchdog instance: a thread of its own */
    int interval_ms;
    void (*work)(ec_store_t *st, apr_pool_t *p);
    int says_db;                /* the one that logs the database's comings and goings */
    apr_thread_mutex_t *lock;   /* held for a whole round */
    apr_pool_t *pool;           /* each round's pool is a child of this one */
    apr_time_t retry_at, backoff;
    int db_down;
} job_t;

static job_t jobs[] = {
    { "ocsp-replica", OCSP_POLL_MS, sync_work, 1, NULL, NULL, 0, 0, 0 },
    { "ocsp-signer", OCSP_SIGN_POLL_MS, sign_work, 0, NULL, NULL, 0, 0, 0 },
};
#define NJOBS (int)(sizeof(jobs) / sizeof(jobs[0]))

int ocsp_watch_db_down(void)
{
    return __atomic_load_n(&jobs[0].db_down, __ATOMIC_RELAXED);
}

static apr_status_t stop_rounds(void *data)
{
    __atomic_store_n(&stopping, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < NJOBS; i++)
        if (jobs[i].lock) {
            apr_thread_mutex_lock(jobs[i].lock);
            apr_thread_mutex_unlock(jobs[i].lock);
        }
    return APR_SUCCESS;
}

/* What a job's allocator keeps for the next round once a round is over: without a bound,
 * a round's peak (a feed batch, a queue drained for seconds) would stay in every child. */
#define ROUND_MAX_FREE (512 * 1024)

void ocsp_watch_child_init(apr_pool_t *pchild, server_rec *s)
{
    for (int i = 0; i < NJOBS; i++) {
        apr_allocator_t *a;
        jobs[i].pool = NULL;
        if (apr_allocator_create(&a) == APR_SUCCESS) {
            apr_allocator_max_free_set(a, ROUND_MAX_FREE);
            if (apr_pool_create_ex(&jobs[i].pool, pchild, NULL, a) == APR_SUCCESS)
                apr_allocator_owner_set(a, jobs[i].pool);
            else
                apr_allocator_destroy(a);
        }
        if (!jobs[i].pool ||
            apr_thread_mutex_create(&jobs[i].lock, APR_THREAD_MUTEX_DEFAULT, s->process->pool) != APR_SUCCESS)
            jobs[i].lock = NULL;
    }
    apr_pool_pre_cleanup_register(pchild, NULL, stop_rounds);
}

/* One round in a pool of its own, on the job's bounded allocator. */
static void job_round(job_t *j, server_rec *s)
{
    ap_dbd_t *dbd;
    apr_time_t now = apr_time_now();
    apr_pool_t *pool, *work;

    if (now < j->retry_at)
        return;
    apr_pool_create(&pool, j->pool);
    if (!(dbd = dbd_open(pool, s))) {
        /* No revocation can be recorded while the database is away: ask it less often
         * (mod_dbd logs every failed connection). */
        j->backoff = j->backoff ? (j->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : j->backoff * 2)
                                : apr_time_from_msec(j->interval_ms);
        j->retry_at = now + j->backoff;
        if (!j->db_down && j->says_db)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         "ECO0050: the database is unreachable: answering from the replica, tryLater otherwise");
        __atomic_store_n(&j->db_down, 1, __ATOMIC_RELAXED);
        apr_pool_destroy(pool);
        return;
    }
    if (j->db_down && j->says_db)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "ECO0051: the database is back");
    __atomic_store_n(&j->db_down, 0, __ATOMIC_RELAXED);
    j->backoff = 0;
    j->retry_at = 0;
    /* The work's own pool goes first: the result sets it holds are freed on the connection
     * while it is still this round's, never after another thread has taken it. */
    apr_pool_create(&work, pool);
    j->work(ec_store_wrap(work, dbd->driver, dbd->handle, dbd->prepared), work);
    apr_pool_destroy(work);
    dbd_close(s, dbd);
    apr_pool_destroy(pool);
}

/* mod_watchdog's threads outlive the child's pool, but the database connections and
 * token sessions a round holds belong to that pool: when it goes, the rounds under way
 * finish first and no other starts. */
static apr_status_t job_callback(job_t *j, int state, server_rec *s, apr_pool_t *pool)
{
    if (state != AP_WATCHDOG_STATE_RUNNING || !j->lock || !__atomic_load_n(&ocsp_g.child_ready, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&stopping, __ATOMIC_SEQ_CST))
        return APR_SUCCESS;
    apr_thread_mutex_lock(j->lock);
    if (!__atomic_load_n(&stopping, __ATOMIC_SEQ_CST))
        job_round(j, s);
    apr_thread_mutex_unlock(j->lock);
    return APR_SUCCESS;
}

static apr_status_t replica_callback(int state, void *data, apr_pool_t *pool)
{
    return job_callback(&jobs[0], state, data, pool);
}

static apr_status_t signer_callback(int state, void *data, apr_pool_t *pool)
{
    return job_callback(&jobs[1], state, data, pool);
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
    for (int i = 0; i < NJOBS; i++) {
        if ((rv = get(&wd, jobs[i].name, 0, 0, pconf)) != APR_SUCCESS ||
            (rv = reg(wd, apr_time_from_msec(jobs[i].interval_ms), s,
                      i == 0 ? replica_callback : signer_callback)) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "ECO0053: cannot start the OCSP watchdog %s", jobs[i].name);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}
