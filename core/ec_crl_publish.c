#include <string.h>
#include <unistd.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_file_info.h>
#include "ec_crl_publish.h"
#include "ec_log.h"
#include "ec_util.h"

int ec_crl_file_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n < 5 || n > 100 || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            return 0;
    }
    return !strcmp(name + n - 4, ".crl") || (n > 5 && !strcmp(name + n - 5, ".json"));
}

/* Half-written files a process left when it died (".<name>.<pid>.<random>"), an hour on. */
static void remove_leftovers(apr_pool_t *p, const char *dir)
{
    apr_dir_t *d;
    apr_finfo_t fi;
    apr_time_t old = apr_time_now() - apr_time_from_sec(3600);

    if (apr_dir_open(&d, dir, p) != APR_SUCCESS)
        return;
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_MTIME | APR_FINFO_TYPE, d) == APR_SUCCESS)
        if (fi.filetype == APR_REG && fi.name[0] == '.' && fi.mtime < old)
            apr_file_remove(apr_pstrcat(p, dir, "/", fi.name, NULL), p);
    apr_dir_close(d);
}

void ec_crl_mirror_init(ec_crl_mirror_t *m, apr_pool_t *pool, const char *dir, const char *crl_base)
{
    m->dir = apr_pstrdup(pool, dir);
    m->crl_base = apr_pstrdup(pool, crl_base);
    m->pool = pool;
    m->have = apr_hash_make(pool);
    m->lists = apr_hash_make(pool);
    remove_leftovers(pool, dir);
}

static apr_status_t to_file(void *baton, const uint8_t *data, size_t len)
{
    apr_size_t n = len;
    return apr_file_write_full(baton, data, n, &n);
}

typedef apr_status_t writer_fn(void *baton, apr_file_t *f);

typedef struct {
    ec_store_t *s;
    apr_pool_t *p;
    const ec_crl_rec_t *rec;
} crl_src_t;

static apr_status_t write_crl(void *baton, apr_file_t *f)
{
    crl_src_t *c = baton;
    return ec_crl_store_read(c->s, c->p, c->rec, to_file, f);
}

static apr_status_t write_text(void *baton, apr_file_t *f)
{
    return to_file(f, baton, strlen(baton));
}

/* Written next to its final name and renamed over it. */
static apr_status_t replace_file(apr_pool_t *p, const char *dir, const char *name, time_t mtime,
                                 writer_fn *write, void *baton)
{
    uint8_t rnd[6];
    const char *path = apr_pstrcat(p, dir, "/", name, NULL), *tmp;
    apr_file_t *f;
    apr_status_t rv, cl;

    if (ec_random(rnd, sizeof(rnd)) != APR_SUCCESS)
        return APR_EGENERAL;
    tmp = apr_psprintf(p, "%s/.%s.%ld.%s", dir, name, (long)getpid(), ec_hex(p, rnd, sizeof(rnd)));
    rv = apr_file_open(&f, tmp, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_EXCL | APR_FOPEN_BINARY |
                       APR_FOPEN_BUFFERED, APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD |
                       APR_FPROT_WREAD, p);
    if (rv != APR_SUCCESS) {
        ec_log_rv(EC_LOG_ERR, rv, "ECR0020", "cannot write CRLs into %s (it must exist and be writable by "
               "httpd's user)", dir);
        return rv;
    }
    rv = write(baton, f);
    if (rv == APR_SUCCESS)
        rv = apr_file_sync(f);      /* whole on disk before the name points at it */
    cl = apr_file_close(f);
    if (rv == APR_SUCCESS)
        rv = cl;
    if (rv == APR_SUCCESS)
        rv = apr_file_mtime_set(tmp, apr_time_from_sec(mtime), p);
    if (rv == APR_SUCCESS)
        rv = apr_file_rename(tmp, path, p);
    if (rv != APR_SUCCESS)
        apr_file_remove(tmp, p);
    return rv;
}

/* thisUpdate of the CRL a file holds (its mtime), or 0 without one. */
static time_t file_this_update(apr_pool_t *p, const char *dir, const char *name)
{
    apr_finfo_t fi;
    return apr_stat(&fi, apr_pstrcat(p, dir, "/", name, NULL), APR_FINFO_MTIME, p) == APR_SUCCESS
           ? (time_t)apr_time_sec(fi.mtime) : 0;
}

/* Never over a newer one: a request that fetched a CRL while the mirror wrote its successor
 * must not put it back. */
static apr_status_t put_crl(ec_store_t *s, apr_pool_t *p, const char *dir, const ec_crl_rec_t *rec)
{
    crl_src_t src = { s, p, rec };
    if (file_this_update(p, dir, rec->file) > rec->this_update)
        return APR_SUCCESS;
    return replace_file(p, dir, rec->file, rec->this_update, write_crl, &src);
}

static int present(apr_pool_t *p, const char *dir, const char *name)
{
    apr_finfo_t fi;
    return apr_stat(&fi, apr_pstrcat(p, dir, "/", name, NULL), APR_FINFO_TYPE, p) == APR_SUCCESS;
}

/* What sync learns per issuer for the partition list. */
typedef struct {
    const char *full;            /* file of the full CRL */
    time_t newest;               /* thisUpdate of the newest partitions */
    apr_array_header_t *parts;   /* their files */
} issuer_t;

typedef struct {
    ec_crl_mirror_t *m;
    ec_store_t *s;
    apr_pool_t *p;
    apr_hash_t *issuers;
    int written;
    apr_status_t rv;
} sync_t;

static apr_status_t sync_one(void *baton, const ec_crl_rec_t *rec)
{
    sync_t *y = baton;
    ec_crl_number_t *have = apr_hash_get(y->m->have, rec->file, APR_HASH_KEY_STRING);
    issuer_t *is = apr_hash_get(y->issuers, rec->issuer_id, APR_HASH_KEY_STRING);
    apr_status_t rv;

    if (!is) {
        is = apr_pcalloc(y->p, sizeof(*is));
        is->parts = apr_array_make(y->p, 4, sizeof(const char *));
        apr_hash_set(y->issuers, rec->issuer_id, APR_HASH_KEY_STRING, is);
    }
    if (rec->shard < 0)
        is->full = rec->file;
    else if (rec->this_update >= is->newest) {
        if (rec->this_update > is->newest)
            apr_array_clear(is->parts);
        is->newest = rec->this_update;
        APR_ARRAY_PUSH(is->parts, const char *) = rec->file;
    }
    if (!ec_crl_file_name_ok(rec->file))
        return APR_SUCCESS;
    /* What is on disk decides, not what this process remembers writing. */
    if (have && *have == rec->number && file_this_update(y->p, y->m->dir, rec->file) == rec->this_update)
        return APR_SUCCESS;
    rv = put_crl(y->s, y->p, y->m->dir, rec);
    if (rv != APR_SUCCESS) {
        y->rv = rv;             /* the others still go out */
        return APR_SUCCESS;
    }
    if (!have) {
        have = apr_palloc(y->m->pool, sizeof(*have));
        apr_hash_set(y->m->have, apr_pstrdup(y->m->pool, rec->file), APR_HASH_KEY_STRING, have);
    }
    *have = rec->number;
    y->written++;
    return APR_SUCCESS;
}

static const char *json_list(apr_pool_t *p, const ec_crl_mirror_t *m, const issuer_t *is)
{
    char *out = apr_pstrcat(p, "[\"", m->crl_base, is->full, "\"", NULL);

    for (int i = 0; i < is->parts->nelts; i++)
        out = apr_pstrcat(p, out, ",\n \"", m->crl_base, APR_ARRAY_IDX(is->parts, i, const char *), "\"",
                          NULL);
    return apr_pstrcat(p, out, "]\n", NULL);
}

static apr_status_t sync_lists(sync_t *y)
{
    for (apr_hash_index_t *hi = apr_hash_first(y->p, y->issuers); hi; hi = apr_hash_next(hi)) {
        issuer_t *is = apr_hash_this_val(hi);
        const char *name, *text, *old;
        size_t n;
        if (!is->full || !is->parts->nelts)
            continue;
        n = strlen(is->full);
        name = apr_psprintf(y->p, "%.*s.json", (int)(n > 4 ? n - 4 : n), is->full);
        text = json_list(y->p, y->m, is);
        old = apr_hash_get(y->m->lists, name, APR_HASH_KEY_STRING);
        if (old && !strcmp(old, text) && present(y->p, y->m->dir, name))
            continue;
        if (replace_file(y->p, y->m->dir, name, is->newest, write_text, (void *)text) != APR_SUCCESS)
            return APR_EGENERAL;
        apr_hash_set(y->m->lists, apr_pstrdup(y->m->pool, name), APR_HASH_KEY_STRING,
                     apr_pstrdup(y->m->pool, text));
        y->written++;
    }
    return APR_SUCCESS;
}

apr_status_t ec_crl_mirror_sync(ec_crl_mirror_t *m, ec_store_t *s, apr_pool_t *p, int *written)
{
    sync_t y = { m, s, p, apr_hash_make(p), 0, APR_SUCCESS };
    apr_status_t rv = ec_crl_store_newest(s, p, sync_one, &y);

    if (rv == APR_SUCCESS)
        rv = y.rv;
    if (rv == APR_SUCCESS)
        rv = sync_lists(&y);
    *written = y.written;
    return rv;
}

apr_status_t ec_crl_mirror_fetch(ec_store_t *s, apr_pool_t *p, const char *dir, const char *file)
{
    ec_crl_rec_t rec;
    apr_status_t rv;

    if (!ec_crl_file_name_ok(file))
        return APR_ENOENT;
    if ((rv = ec_crl_store_find(s, p, file, &rec)) != APR_SUCCESS)
        return rv;
    return put_crl(s, p, dir, &rec);
}
