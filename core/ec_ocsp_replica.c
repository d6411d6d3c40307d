#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lmdb.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_time.h>
#include "ec_ocsp_replica.h"
#include "ec_util.h"

/* Bumped whenever the record encoding or the marks change meaning: an older file is
 * rebuilt rather than misread. */
#define FORMAT 2
#define PURGE_AT "purge_at"
#define NEW "it is new"

struct ec_ocsp_replica {
    MDB_env *env;
    MDB_dbi data, meta;
    pthread_key_t reader;       /* each thread's read transaction, reset between uses */
    apr_int64_t boot;
    int current;                /* cached once true */
    char err[200];
};

struct ec_ocsp_replica_txn {
    ec_ocsp_replica *r;
    MDB_txn *txn;
    uint8_t buf[EC_OCSP_ENTRY_MAX];
};

static apr_status_t fail(ec_ocsp_replica *r, const char *what, int rc)
{
    if (r)
        apr_snprintf(r->err, sizeof(r->err), "%s: %s", what, mdb_strerror(rc));
    return rc == MDB_MAP_FULL ? APR_ENOSPC : rc == MDB_NOTFOUND ? APR_ENOENT : APR_EGENERAL;
}

const char *ec_ocsp_replica_error(ec_ocsp_replica *r)
{
    return r->err[0] ? r->err : "no error";
}

static int env_open(const char *dir, apr_size_t map_size, unsigned int max_readers, MDB_env **env)
{
    int rc;

    if ((rc = mdb_env_create(env)) != 0)
        return rc;
    /* NOTLS: a reader slot belongs to the transaction, which each thread keeps and reuses.
     * NOMETASYNC: the replica is rebuilt from the database when it is lost, so a commit
     * needs only the data flush, and the file stays consistent through a crash. */
    if ((rc = mdb_env_set_mapsize(*env, map_size)) != 0 || (rc = mdb_env_set_maxdbs(*env, 2)) != 0 ||
        (rc = mdb_env_set_maxreaders(*env, max_readers)) != 0 ||
        (rc = mdb_env_open(*env, dir, MDB_NOTLS | MDB_NOMETASYNC, 0600)) != 0) {
        mdb_env_close(*env);
        *env = NULL;
    }
    return rc;
}

static int dbis_open(MDB_txn *txn, MDB_dbi *data, MDB_dbi *meta, unsigned int flags)
{
    int rc = mdb_dbi_open(txn, "answers", flags, data);
    return rc ? rc : mdb_dbi_open(txn, "marks", flags, meta);
}

static int mark_get(MDB_txn *txn, MDB_dbi meta, const char *name, apr_int64_t *v)
{
    MDB_val k = { strlen(name), (void *)name }, d;
    int rc = mdb_get(txn, meta, &k, &d);

    *v = 0;
    if (rc == 0 && d.mv_size == sizeof(*v))
        memcpy(v, d.mv_data, sizeof(*v));
    return rc;
}

static int mark_put(MDB_txn *txn, MDB_dbi meta, const char *name, apr_int64_t v)
{
    MDB_val k = { strlen(name), (void *)name }, d = { sizeof(v), &v };
    return mdb_put(txn, meta, &k, &d, 0);
}

/* Every record has a plausible header and the format is ours: NULL, else why not. */
static const char *walk(apr_pool_t *p, MDB_env *env, apr_size_t *entries)
{
    MDB_txn *txn;
    MDB_dbi data, meta;
    MDB_cursor *cur;
    MDB_val k, d;
    apr_int64_t format;
    apr_size_t bad = 0;
    int rc;

    *entries = 0;
    if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) == MDB_READERS_FULL) {
        mdb_reader_check(env, NULL);
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    }
    if (rc == MDB_READERS_FULL)
        return NULL;            /* busy, not damaged: children of the last generation read it */
    if (rc != 0)
        return apr_psprintf(p, "cannot read it (%s)", mdb_strerror(rc));
    if ((rc = dbis_open(txn, &data, &meta, 0)) != 0) {
        mdb_txn_abort(txn);
        return rc == MDB_NOTFOUND ? NEW : apr_psprintf(p, "cannot read it (%s)", mdb_strerror(rc));
    }
    if (mark_get(txn, meta, "format", &format) != 0 || format != FORMAT) {
        mdb_txn_abort(txn);
        return apr_psprintf(p, "its format is %" APR_INT64_T_FMT ", not %d", format, FORMAT);
    }
    if ((rc = mdb_cursor_open(txn, data, &cur)) != 0) {
        mdb_txn_abort(txn);
        return apr_psprintf(p, "cannot read it (%s)", mdb_strerror(rc));
    }
    while ((rc = mdb_cursor_get(cur, &k, &d, *entries ? MDB_NEXT : MDB_FIRST)) == 0) {
        (*entries)++;
        if (k.mv_size >= EC_OCSP_KEY_MAX || !ec_ocsp_entry_plausible(d.mv_data, d.mv_size))
            bad++;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc != MDB_NOTFOUND)
        return apr_psprintf(p, "reading it failed after %" APR_SIZE_T_FMT " records (%s)", *entries,
                            mdb_strerror(rc));
    if (bad)
        return apr_psprintf(p, "%" APR_SIZE_T_FMT " of its %" APR_SIZE_T_FMT " records are damaged", bad, *entries);
    return NULL;
}

/* The damaged file is kept beside (one generation) for whoever wants to look at it. */
static void set_aside(apr_pool_t *p, const char *dir)
{
    const char *data = apr_pstrcat(p, dir, "/data.mdb", NULL);

    if (apr_file_rename(data, apr_pstrcat(p, data, ".damaged", NULL), p) != APR_SUCCESS)
        apr_file_remove(data, p);
    apr_file_remove(apr_pstrcat(p, dir, "/lock.mdb", NULL), p);
}

static apr_off_t file_size(apr_pool_t *p, const char *dir)
{
    struct stat sb;
    return stat(apr_pstrcat(p, dir, "/data.mdb", NULL), &sb) == 0 ? (apr_off_t)sb.st_size : 0;
}

apr_status_t ec_ocsp_replica_prepare(apr_pool_t *p, const char *dir, apr_size_t map_size,
                                     unsigned int max_readers, ec_ocsp_replica_info_t *info)
{
    MDB_env *env = NULL;
    MDB_txn *txn;
    MDB_dbi data, meta;
    apr_int64_t boot;
    apr_status_t rv;
    int rc;

    memset(info, 0, sizeof(*info));
    if ((rv = apr_dir_make_recursive(dir, APR_FPROT_OS_DEFAULT & 0700, p)) != APR_SUCCESS)
        return rv;
    if ((rc = env_open(dir, map_size, max_readers, &env)) != 0)
        info->why = apr_psprintf(p, "it cannot be opened (%s)", mdb_strerror(rc));
    else
        info->why = walk(p, env, &info->entries);
    if (info->why) {
        info->rebuilt = 1;
        info->entries = 0;
    }
    if (info->why && strcmp(info->why, NEW)) {
        if (env)
            mdb_env_close(env);
        set_aside(p, dir);
        if ((rc = env_open(dir, map_size, max_readers, &env)) != 0)
            return APR_EGENERAL;
    }
    if ((rv = ec_random((uint8_t *)&boot, sizeof(boot))) != APR_SUCCESS) {
        mdb_env_close(env);
        return rv;
    }
    boot |= 1;                  /* never 0, the "caught up" of no boot */
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) == 0) {
        if (!(rc = dbis_open(txn, &data, &meta, MDB_CREATE)) && !(rc = mark_put(txn, meta, "format", FORMAT)) &&
            !(rc = mark_put(txn, meta, "boot", boot)))
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    info->bytes = file_size(p, dir);
    return rc ? APR_EGENERAL : APR_SUCCESS;
}

static apr_status_t replica_close(void *data)
{
    ec_ocsp_replica *r = data;

    mdb_env_close(r->env);
    return APR_SUCCESS;
}

apr_status_t ec_ocsp_replica_open(apr_pool_t *p, const char *dir, apr_size_t map_size,
                                  unsigned int max_readers, ec_ocsp_replica **out)
{
    ec_ocsp_replica *r = apr_pcalloc(p, sizeof(*r));
    MDB_txn *txn;
    int rc;

    if ((rc = env_open(dir, map_size, max_readers, &r->env)) != 0)
        return APR_EGENERAL;
    /* The table handles outlive this transaction only when it commits. */
    if ((rc = mdb_txn_begin(r->env, NULL, MDB_RDONLY, &txn)) == 0) {
        if (!(rc = dbis_open(txn, &r->data, &r->meta, 0)) && !(rc = mark_get(txn, r->meta, "boot", &r->boot)))
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    if (rc || pthread_key_create(&r->reader, NULL)) {
        mdb_env_close(r->env);
        return APR_EGENERAL;
    }
    apr_pool_cleanup_register(p, r, replica_close, apr_pool_cleanup_null);
    *out = r;
    return APR_SUCCESS;
}

static MDB_txn *reader(ec_ocsp_replica *r)
{
    MDB_txn *txn = pthread_getspecific(r->reader);

    if (txn && mdb_txn_renew(txn) == 0)
        return txn;
    if (txn)
        mdb_txn_abort(txn);
    if (mdb_txn_begin(r->env, NULL, MDB_RDONLY, &txn) != 0)
        txn = NULL;
    pthread_setspecific(r->reader, txn);
    return txn;
}

/* Caught up in this boot, and a round succeeded within the lease: read in txn. */
static int current_in(ec_ocsp_replica *r, MDB_txn *txn)
{
    apr_int64_t caught_up = 0, synced_at = 0, now = apr_time_now();

    if (!__atomic_load_n(&r->current, __ATOMIC_ACQUIRE)) {
        mark_get(txn, r->meta, "caught_up", &caught_up);
        if (caught_up != r->boot)
            return 0;
        __atomic_store_n(&r->current, 1, __ATOMIC_RELEASE);
    }
    mark_get(txn, r->meta, "synced_at", &synced_at);
    return synced_at <= now + EC_OCSP_REPLICA_LEASE_US && now - synced_at < EC_OCSP_REPLICA_LEASE_US;
}

int ec_ocsp_replica_get(ec_ocsp_replica *r, const char *key, apr_pool_t *p, ec_ocsp_entry_t *e, int *current)
{
    MDB_txn *txn = reader(r);
    MDB_val k = { strnlen(key, EC_OCSP_KEY_MAX), (void *)key }, d;
    int rc, found = 0;

    *current = 0;
    if (!txn)
        return 0;
    rc = mdb_get(txn, r->data, &k, &d);
    if (rc == 0) {
        /* The map is only valid inside the transaction: copy out, then check. */
        uint8_t *copy = d.mv_size <= EC_OCSP_ENTRY_MAX ? apr_pmemdup(p, d.mv_data, d.mv_size) : NULL;
        found = copy && ec_ocsp_entry_decode(copy, d.mv_size, key, e) ? 1 : -1;
        if (found == 1)
            *current = current_in(r, txn);
    }
    else if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND)
        found = -1;
    mdb_txn_reset(txn);
    return found;
}

int ec_ocsp_replica_current(ec_ocsp_replica *r)
{
    MDB_txn *txn = reader(r);
    int current;

    if (!txn)
        return 0;
    current = current_in(r, txn);
    mdb_txn_reset(txn);
    return current;
}

apr_status_t ec_ocsp_replica_begin(ec_ocsp_replica *r, apr_pool_t *p, ec_ocsp_replica_txn **txn)
{
    ec_ocsp_replica_txn *t = apr_palloc(p, sizeof(*t));
    int rc;

    t->r = r;
    mdb_reader_check(r->env, NULL);     /* slots of readers that died with their process */
    if ((rc = mdb_txn_begin(r->env, NULL, 0, &t->txn)) != 0)
        return fail(r, "beginning a write", rc);
    *txn = t;
    return APR_SUCCESS;
}

int ec_ocsp_replica_peek(ec_ocsp_replica_txn *t, const char *key, ec_ocsp_entry_t *e)
{
    MDB_val k = { strnlen(key, EC_OCSP_KEY_MAX), (void *)key }, d;

    if (mdb_get(t->txn, t->r->data, &k, &d) != 0 || d.mv_size > EC_OCSP_ENTRY_MAX)
        return 0;
    memcpy(t->buf, d.mv_data, d.mv_size);
    return ec_ocsp_entry_decode(t->buf, d.mv_size, key, e);
}

apr_status_t ec_ocsp_replica_put(ec_ocsp_replica_txn *t, const char *key, const ec_ocsp_entry_t *e)
{
    ec_ocsp_entry_t cur;
    MDB_val k = { strnlen(key, EC_OCSP_KEY_MAX), (void *)key }, d;
    int rc;

    /* A damaged record counts as none: the new one replaces it. */
    if (ec_ocsp_replica_peek(t, key, &cur) && !ec_ocsp_entry_replaces(e, &cur))
        return APR_EEXIST;
    if (!(d.mv_size = ec_ocsp_entry_encode(t->buf, key, e)))
        return APR_EINVAL;
    d.mv_data = t->buf;
    if ((rc = mdb_put(t->txn, t->r->data, &k, &d, 0)) != 0)
        return fail(t->r, "storing an answer", rc);
    return APR_SUCCESS;
}

apr_int64_t ec_ocsp_replica_mark(ec_ocsp_replica_txn *t, const char *name)
{
    apr_int64_t v;
    mark_get(t->txn, t->r->meta, name, &v);
    return v;
}

apr_status_t ec_ocsp_replica_set_mark(ec_ocsp_replica_txn *t, const char *name, apr_int64_t v)
{
    int rc = mark_put(t->txn, t->r->meta, name, v);
    return rc ? fail(t->r, "storing a mark", rc) : APR_SUCCESS;
}

void ec_ocsp_replica_text(ec_ocsp_replica_txn *t, const char *name, char *buf, apr_size_t size)
{
    MDB_val k = { strlen(name), (void *)name }, d;

    buf[0] = 0;
    if (mdb_get(t->txn, t->r->meta, &k, &d) == 0 && d.mv_size < size) {
        memcpy(buf, d.mv_data, d.mv_size);
        buf[d.mv_size] = 0;
    }
}

apr_status_t ec_ocsp_replica_set_text(ec_ocsp_replica_txn *t, const char *name, const char *v)
{
    MDB_val k = { strlen(name), (void *)name }, d = { strlen(v), (void *)v };
    int rc = mdb_put(t->txn, t->r->meta, &k, &d, 0);
    return rc ? fail(t->r, "storing a mark", rc) : APR_SUCCESS;
}

apr_status_t ec_ocsp_replica_purge(ec_ocsp_replica_txn *t, apr_int64_t before, int max, int *removed)
{
    MDB_val at = { sizeof(PURGE_AT) - 1, PURGE_AT }, k = { 0, NULL }, d;
    MDB_cursor *cur;
    char resume[EC_OCSP_KEY_MAX];
    int rc, seen = 0;

    *removed = 0;
    if (mdb_get(t->txn, t->r->meta, &at, &d) == 0 && d.mv_size && d.mv_size < sizeof(resume)) {
        memcpy(resume, d.mv_data, d.mv_size);
        k.mv_size = d.mv_size;
        k.mv_data = resume;
    }
    if ((rc = mdb_cursor_open(t->txn, t->r->data, &cur)) != 0)
        return fail(t->r, "walking the answers", rc);
    rc = mdb_cursor_get(cur, &k, &d, k.mv_size ? MDB_SET_RANGE : MDB_FIRST);
    while (rc == 0 && seen++ < max) {
        /* A damaged record goes too: the sync brings the answer back if it is live. */
        if (ec_ocsp_entry_expiry(d.mv_data, d.mv_size) < before && mdb_cursor_del(cur, 0) == 0)
            (*removed)++;
        rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
    }
    if (rc == 0)
        rc = mdb_put(t->txn, t->r->meta, &at, &k, 0);
    else {
        /* The end: the next walk starts from the first record again. */
        mdb_del(t->txn, t->r->meta, &at, NULL);
        rc = 0;
    }
    mdb_cursor_close(cur);
    return rc ? fail(t->r, "storing where the purge stopped", rc) : APR_SUCCESS;
}

apr_status_t ec_ocsp_replica_commit(ec_ocsp_replica_txn *t)
{
    int rc = mdb_txn_commit(t->txn);
    return rc ? fail(t->r, "committing", rc) : APR_SUCCESS;
}

void ec_ocsp_replica_abort(ec_ocsp_replica_txn *t)
{
    mdb_txn_abort(t->txn);
}

apr_status_t ec_ocsp_replica_stat(ec_ocsp_replica *r, ec_ocsp_replica_info_t *info)
{
    MDB_txn *txn = reader(r);
    MDB_stat ms;
    const char *path = NULL;
    struct stat sb;
    int rc;

    memset(info, 0, sizeof(*info));
    if (!txn)
        return APR_EGENERAL;
    rc = mdb_stat(txn, r->data, &ms);
    mdb_txn_reset(txn);
    if (rc)
        return fail(r, "reading its size", rc);
    info->entries = ms.ms_entries;
    if (mdb_env_get_path(r->env, &path) == 0 && path) {
        char file[4096];
        apr_snprintf(file, sizeof(file), "%s/data.mdb", path);
        if (stat(file, &sb) == 0)
            info->bytes = (apr_off_t)sb.st_size;
    }
    return APR_SUCCESS;
}
