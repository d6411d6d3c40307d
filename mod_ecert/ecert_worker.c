/* mod_ecert: background work on one child per node at a time (a mod_watchdog singleton), with a
 * database connection of its own for each round. The CRL worker and the mail worker are two of
 * them, each on its own thread, so a long CRL never holds up a notice.
 *
 * While the database is away a round is not started; the next try waits 1 s, doubling to 30 s.
 * The connections and token sessions a round uses belong to the child's pool: when that goes,
 * the round under way finishes first and no other starts. */
#include <unistd.h>
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_strings.h>
#include <apr_optional.h>
#include <apr_thread_mutex.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include <mod_watchdog.h>
#include "mod_ecert.h"
#include "ec_util.h"

APLOG_USE_MODULE(ecert);

#define BACKOFF_MAX apr_time_from_sec(30)

struct ecert_worker {
    const char *name;
    apr_interval_time_t interval;
    ecert_round_fn *fn;
    void *baton;
    server_rec *s;
    /* per child */
    apr_thread_mutex_t *round_lock;
    int stopping;
    apr_time_t retry_at, backoff;
    int db_down;
};

static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close;

static void round_once(ecert_worker_t *w, apr_pool_t *pool)
{
    apr_time_t now = apr_time_now();
    ap_dbd_t *dbd;
    apr_pool_t *p;

    if (now < w->retry_at)
        return;
    if (!(dbd = dbd_open(pool, w->s))) {
        w->backoff = w->backoff ? (w->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : w->backoff * 2) : w->interval;
        w->retry_at = now + w->backoff;
        if (!w->db_down)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, w->s, "ECE0104: the database is unreachable: the %s "
                         "waits for it", w->name);
        w->db_down = 1;
        return;
    }
    if (w->db_down)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, w->s, "ECE0105: the database is back: the %s resumes",
                     w->name);
    w->db_down = 0;
    w->backoff = w->retry_at = 0;
    if (apr_pool_create(&p, pool) == APR_SUCCESS) {
        w->fn(ec_store_wrap(p, dbd->driver, dbd->handle, dbd->prepared), p, w->baton);
        apr_pool_destroy(p);
    }
    dbd_close(w->s, dbd);
}

/* Always APR_SUCCESS: mod_watchdog stops calling a callback that fails once. */
static apr_status_t watch(int state, void *data, apr_pool_t *pool)
{
    ecert_worker_t *w = data;

    if (state != AP_WATCHDOG_STATE_RUNNING || !w->round_lock || __atomic_load_n(&w->stopping, __ATOMIC_SEQ_CST))
        return APR_SUCCESS;
    apr_thread_mutex_lock(w->round_lock);
    if (!__atomic_load_n(&w->stopping, __ATOMIC_SEQ_CST))
        round_once(w, pool);
    apr_thread_mutex_unlock(w->round_lock);
    return APR_SUCCESS;
}

static apr_status_t stop_rounds(void *data)
{
    ecert_worker_t *w = data;

    __atomic_store_n(&w->stopping, 1, __ATOMIC_SEQ_CST);
    apr_thread_mutex_lock(w->round_lock);
    apr_thread_mutex_unlock(w->round_lock);
    return APR_SUCCESS;
}

int ecert_worker_register(apr_pool_t *pconf, server_rec *s, const char *name, apr_interval_time_t interval,
                          ecert_round_fn *fn, void *baton, ecert_worker_t **out)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *reg =
        APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    ecert_worker_t *w = apr_pcalloc(pconf, sizeof(*w));
    ap_watchdog_t *wd;
    apr_status_t rv;

    dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    if (!get || !reg || !dbd_open || !dbd_close) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "ECE0108: the %s needs mod_watchdog and mod_dbd", name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    w->name = name;
    w->interval = interval;
    w->fn = fn;
    w->baton = baton;
    w->s = s;
    if ((rv = get(&wd, name, 0, 1, pconf)) != APR_SUCCESS || (rv = reg(wd, interval, w, watch)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "ECE0109: cannot start the %s", name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    *out = w;
    return OK;
}

void ecert_worker_child_init(ecert_worker_t *w, apr_pool_t *pchild)
{
    if (w && apr_thread_mutex_create(&w->round_lock, APR_THREAD_MUTEX_DEFAULT, w->s->process->pool) == APR_SUCCESS)
        apr_pool_pre_cleanup_register(pchild, w, stop_rounds);
}

const char *ecert_worker_owner(apr_pool_t *p, const char **host)
{
    char name[256] = "node";
    uint8_t rnd[6] = { 0 };

    gethostname(name, sizeof(name) - 1);
    if (ec_random(rnd, sizeof(rnd)) != APR_SUCCESS)
        memset(rnd, 0, sizeof(rnd));
    if (host)
        *host = apr_pstrdup(p, name);
    return apr_psprintf(p, "%s httpd %ld %s", name, (long)getpid(), ec_hex(p, rnd, sizeof(rnd)));
}
