/* Database access through apr_dbd prepared statements only. httpd modules wrap the
 * connection mod_dbd hands them (statements registered with ap_dbd_prepare at config
 * time); ecertctl opens its own connection and prepares the sets it uses. */
#ifndef EC_STORE_H
#define EC_STORE_H

#include <apr_pools.h>
#include <apr_hash.h>
#include <apr_dbd.h>

typedef struct {
    const char *label;          /* unique across all sets: "<concern>_<verb>" */
    const char *sql;            /* apr_dbd syntax: %s placeholders */
} ec_stmt_t;

typedef struct ec_store {
    apr_pool_t *pool;
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_hash_t *prepared;       /* label -> apr_dbd_prepared_t * */
    apr_dbd_transaction_t *txn;
    int failed;                 /* a statement failed inside the open transaction */
    int owned;                  /* opened by ec_store_open: closed with its pool */
} ec_store_t;

/* Argument lists: ec_store_exec(s, p, "label", &n, EC_ARGS(a, b)). */
#define EC_ARGS(...) (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)), \
                     (const char *[]){__VA_ARGS__}
#define EC_NOARGS 0, NULL

apr_status_t ec_store_open(ec_store_t **out, apr_pool_t *pool, const char *driver,
                           const char *params, const ec_stmt_t *const *sets);
ec_store_t *ec_store_wrap(apr_pool_t *pool, const apr_dbd_driver_t *driver, apr_dbd_t *handle,
                          apr_hash_t *prepared);

/* INSERT/UPDATE/DELETE. nrows may be NULL. */
apr_status_t ec_store_exec(ec_store_t *s, apr_pool_t *p, const char *label, int *nrows,
                           int nargs, const char **args);
/* SELECT; rows are then read with ec_store_next, always to the end (unbuffered). */
apr_status_t ec_store_select(ec_store_t *s, apr_pool_t *p, const char *label,
                             apr_dbd_results_t **res, int nargs, const char **args);
/* Next row: APR_SUCCESS with *row set, or APR_EOF. */
apr_status_t ec_store_next(ec_store_t *s, apr_pool_t *p, apr_dbd_results_t *res, apr_dbd_row_t **row);
/* Column text of a row (NULL for SQL NULL). */
const char *ec_store_col(ec_store_t *s, apr_dbd_row_t *row, int col);
/* First row's first ncols columns into cols (pool copies); APR_ENOENT without a row. */
apr_status_t ec_store_get1(ec_store_t *s, apr_pool_t *p, const char *label, int ncols,
                           const char **cols, int nargs, const char **args);

/* All statements between begin and end commit together or not at all. */
apr_status_t ec_store_begin(ec_store_t *s, apr_pool_t *p);
/* Commits unless a statement failed or rollback is set; returns why it did not. */
apr_status_t ec_store_end(ec_store_t *s, int rollback);

/* A connection from a pool that a database restart may have left full of dead ones: each
 * dead one fails its check at once and is dropped, so acquire(arg) is tried again, up to
 * EC_STORE_ACQUIRE_TRIES times, until it returns one; a try that fails slowly was a real
 * attempt to connect, and ends the tries. NULL when none came. */
#define EC_STORE_ACQUIRE_TRIES 32
void *ec_store_acquire_retry(void *(*acquire)(void *arg), void *arg, int tries);

const char *ec_store_error(ec_store_t *s, int rv);

#endif
