#include <string.h>
#include <apr_strings.h>
#include <apr_time.h>
#include "ec_store.h"
#include "ec_log.h"

static apr_status_t store_close(void *data)
{
    ec_store_t *s = data;
    if (s->handle)
        apr_dbd_close(s->driver, s->handle);
    s->handle = NULL;
    return APR_SUCCESS;
}

apr_status_t ec_store_open(ec_store_t **out, apr_pool_t *pool, const char *driver,
                           const char *params, const ec_stmt_t *const *sets)
{
    ec_store_t *s = apr_pcalloc(pool, sizeof(*s));
    const char *err = NULL;
    apr_status_t rv;

    apr_dbd_init(pool);
    if ((rv = apr_dbd_get_driver(pool, driver, &s->driver)) != APR_SUCCESS) {
        ec_log_rv(EC_LOG_ERR, rv, "ECS0001", "no apr_dbd driver '%s' (install libaprutil1-dbd-%s)",
               driver, driver);
        return rv;
    }
    if ((rv = apr_dbd_open_ex(s->driver, pool, params, &s->handle, &err)) != APR_SUCCESS) {
        ec_log_rv(EC_LOG_ERR, rv, "ECS0002", "cannot connect to the database: %s", err ? err : "unknown");
        return rv;
    }
    s->pool = pool;
    s->owned = 1;
    apr_pool_cleanup_register(pool, s, store_close, apr_pool_cleanup_null);
    apr_dbd_set_dbname(s->driver, pool, s->handle, NULL);
    s->prepared = apr_hash_make(pool);
    for (; sets && *sets; sets++) {
        for (const ec_stmt_t *st = *sets; st->label; st++) {
            apr_dbd_prepared_t *stmt = NULL;
            int r = apr_dbd_prepare(s->driver, pool, s->handle, st->sql, st->label, &stmt);
            if (r) {
                ec_log(EC_LOG_ERR, "ECS0003", "cannot prepare %s: %s", st->label,
                       apr_dbd_error(s->driver, s->handle, r));
                return APR_EGENERAL;
            }
            apr_hash_set(s->prepared, st->label, APR_HASH_KEY_STRING, stmt);
        }
    }
    *out = s;
    return APR_SUCCESS;
}

ec_store_t *ec_store_wrap(apr_pool_t *pool, const apr_dbd_driver_t *driver, apr_dbd_t *handle,
                          apr_hash_t *prepared)
{
    ec_store_t *s = apr_pcalloc(pool, sizeof(*s));
    s->pool = pool;
    s->driver = driver;
    s->handle = handle;
    s->prepared = prepared;
    return s;
}

const char *ec_store_error(ec_store_t *s, int rv)
{
    const char *e = apr_dbd_error(s->driver, s->handle, rv);
    return e ? e : "unknown database error";
}

static apr_dbd_prepared_t *stmt_get(ec_store_t *s, const char *label)
{
    apr_dbd_prepared_t *stmt = apr_hash_get(s->prepared, label, APR_HASH_KEY_STRING);
    if (!stmt)
        ec_log(EC_LOG_ERR, "ECS0004", "statement %s is not prepared", label);
    return stmt;
}

/* MySQL/MariaDB: ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK (also how Galera reports a write set
 * that lost certification). */
#define LOST_TO_CONCURRENT(rv) ((rv) == 1205 || (rv) == 1213)

/* A statement failed: the open transaction will roll back. One that lost to a concurrent
 * transaction is not a fault: APR_EAGAIN and a warning, the caller tries its work again. */
static apr_status_t failed(ec_store_t *s, const char *tag, const char *label, int rv)
{
    s->failed = 1;
    if (LOST_TO_CONCURRENT(rv)) {
        ec_log_rv(EC_LOG_WARN, APR_EAGAIN, "ECS0009", "%s lost to a concurrent transaction (%s): rolled back",
               label, ec_store_error(s, rv));
        return APR_EAGAIN;
    }
    ec_log_rv(EC_LOG_ERR, APR_EGENERAL, tag, "%s: %s", label, ec_store_error(s, rv));
    return APR_EGENERAL;
}

apr_status_t ec_store_exec(ec_store_t *s, apr_pool_t *p, const char *label, int *nrows,
                           int nargs, const char **args)
{
    apr_dbd_prepared_t *stmt = stmt_get(s, label);
    int n = 0, rv;

    if (!stmt)
        return APR_EGENERAL;
    rv = apr_dbd_pquery(s->driver, p, s->handle, &n, stmt, nargs, args);
    if (rv)
        return failed(s, "ECS0005", label, rv);
    if (nrows)
        *nrows = n;
    return APR_SUCCESS;
}

apr_status_t ec_store_select(ec_store_t *s, apr_pool_t *p, const char *label,
                             apr_dbd_results_t **res, int nargs, const char **args)
{
    apr_dbd_prepared_t *stmt = stmt_get(s, label);
    int rv;

    if (!stmt)
        return APR_EGENERAL;
    *res = NULL;
    rv = apr_dbd_pselect(s->driver, p, s->handle, res, stmt, 0, nargs, args);
    if (rv)
        return failed(s, "ECS0006", label, rv);
    return APR_SUCCESS;
}

apr_status_t ec_store_next(ec_store_t *s, apr_pool_t *p, apr_dbd_results_t *res, apr_dbd_row_t **row)
{
    *row = NULL;
    return apr_dbd_get_row(s->driver, p, res, row, -1) == 0 ? APR_SUCCESS : APR_EOF;
}

#define ACQUIRE_SLOW apr_time_from_msec(50)

void *ec_store_acquire_retry(void *(*acquire)(void *arg), void *arg, int tries)
{
    void *c = NULL;

    for (int i = 0; !c && i < tries; i++) {
        apr_time_t t0 = apr_time_now();
        if (!(c = acquire(arg)) && apr_time_now() - t0 > ACQUIRE_SLOW)
            break;
    }
    return c;
}

const char *ec_store_col(ec_store_t *s, apr_dbd_row_t *row, int col)
{
    return apr_dbd_get_entry(s->driver, row, col);
}

apr_status_t ec_store_get1(ec_store_t *s, apr_pool_t *p, const char *label, int ncols,
                           const char **cols, int nargs, const char **args)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_status_t rv;

    if ((rv = ec_store_select(s, p, label, &res, nargs, args)) != APR_SUCCESS)
        return rv;
    if (ec_store_next(s, p, res, &row) != APR_SUCCESS)
        return APR_ENOENT;
    for (int i = 0; i < ncols; i++) {
        const char *v = ec_store_col(s, row, i);
        cols[i] = v ? apr_pstrdup(p, v) : NULL;
    }
    /* Read to the end so the connection is ready for the next statement. */
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS)
        ;
    return APR_SUCCESS;
}

apr_status_t ec_store_begin(ec_store_t *s, apr_pool_t *p)
{
    int rv;

    s->failed = 0;
    rv = apr_dbd_transaction_start(s->driver, p, s->handle, &s->txn);
    if (rv) {
        ec_log(EC_LOG_ERR, "ECS0007", "cannot start a transaction: %s", ec_store_error(s, rv));
        s->txn = NULL;
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

apr_status_t ec_store_end(ec_store_t *s, int rollback)
{
    apr_status_t result = APR_SUCCESS;
    int rv;

    if (!s->txn)
        return APR_EGENERAL;
    if (rollback || s->failed) {
        apr_dbd_transaction_mode_set(s->driver, s->txn, APR_DBD_TRANSACTION_ROLLBACK);
        result = APR_EGENERAL;
    }
    rv = apr_dbd_transaction_end(s->driver, s->pool, s->txn);
    if (rv) {
        ec_log(EC_LOG_ERR, "ECS0008", "cannot end the transaction: %s", ec_store_error(s, rv));
        result = APR_EGENERAL;
    }
    s->txn = NULL;
    s->failed = 0;
    return result;
}
