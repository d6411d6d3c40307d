/* mod_ecert: the CRL repository (SetHandler ecert-crl) and the node's CRL worker.
 *
 * Worker (ecert_worker.c: one child per node at a time) that every second mirrors
 * the newest CRLs of the store into ECertCRLDir (ec_crl_mirror_sync) and runs the CRL job of
 * each CA whose key this node holds (ec_crl_run; the lease in the store lets one node of many
 * produce each CRL, the others mirror it within a second).
 *
 * Handler: /crl/<name> from ECertCRLDir like a static file (sendfile/mmap through the core
 * output filter), with Last-Modified = thisUpdate, an ETag every node computes alike,
 * Cache-Control bounded by nextUpdate and ECertCRLMaxAge, 304 and HEAD. A name this node has
 * not mirrored yet is fetched from the store first. */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <unixd.h>
#include <errno.h>
#include <apr_strings.h>
#include <apr_optional.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include "mod_ecert.h"
#include "ec_crl.h"
#include "ec_crl_job.h"
#include "ec_crl_publish.h"

APLOG_USE_MODULE(ecert);

#define POLL apr_time_from_sec(1)
#define HEAD_BYTES 4096

static const char *const roles[] = { "ssl", "ev", "root" };
#define NROLES 3


/* Per child; only the worker's thread touches it. */
static struct {
    server_rec *s;
    ecert_srv_conf *conf;            /* the main server's */
    apr_pool_t *pool;
    ec_crl_mirror_t mirror;
    ec_crl_signer_t signer[NROLES];
    int loaded[NROLES];
    apr_time_t load_retry[NROLES];
    ec_crl_ctx_t ctx;
    ecert_worker_t *worker;
} crl_w;

/* The key URI this node signs a role's CRLs with, or NULL when it does not. */
static const char *key_for(const ecert_srv_conf *c, const char *role)
{
    if (!strcmp(role, "root"))
        return c->crl->root_key;
    for (int i = 0; i < c->issuers->nelts; i++) {
        const ecert_issuer_t *is = &APR_ARRAY_IDX(c->issuers, i, ecert_issuer_t);
        if (!strcmp(is->role, role))
            return is->key_uri;
    }
    return NULL;
}

static int signer_ready(ec_store_t *st, int i)
{
    const char *uri = key_for(crl_w.conf, roles[i]), *err;
    apr_time_t now = apr_time_now();

    if (crl_w.loaded[i] || !uri || now < crl_w.load_retry[i] || !ec_p11_available(crl_w.conf->p11))
        return crl_w.loaded[i];
    if (ec_crl_signer_load(st, crl_w.pool, crl_w.conf->p11, roles[i], uri, &crl_w.signer[i], &err)
        == APR_SUCCESS) {
        crl_w.loaded[i] = 1;
        return 1;
    }
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, crl_w.s, "ECE0101: this node cannot sign the %s CA's CRLs: %s "
                 "(tried again in a minute)", roles[i], err);
    crl_w.load_retry[i] = now + apr_time_from_sec(60);
    return 0;
}

static void round_work(ec_store_t *st, apr_pool_t *p, void *baton)
{
    int written = 0;

    if (ec_crl_mirror_sync(&crl_w.mirror, st, p, &written) != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, crl_w.s, "ECE0102: the CRLs in %s could not all be "
                     "updated from the store; the previous ones are served", crl_w.mirror.dir);
    for (int i = 0; i < NROLES; i++) {
        ec_crl_result_t res;
        apr_status_t rv;
        if (!signer_ready(st, i))
            continue;
        rv = ec_crl_run(&crl_w.ctx, st, p, &crl_w.signer[i], time(NULL), 0, &res);
        if (rv == APR_SUCCESS && res.issued)
            ec_crl_mirror_sync(&crl_w.mirror, st, p, &written);
        else if (rv != APR_SUCCESS && rv != APR_EBUSY)
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, crl_w.s, "ECE0103: the CRLs of %s are due but could "
                         "not be issued; tried again in a second", crl_w.signer[i].cn);
    }
}

void ecert_crl_child_init(apr_pool_t *pchild, server_rec *s)
{
    ecert_srv_conf *c = ap_get_module_config(s->module_config, &ecert_module);
    const char *host;

    if (!c->crl_dir)
        return;
    memset(crl_w.loaded, 0, sizeof(crl_w.loaded));
    crl_w.s = s;
    crl_w.conf = c;
    crl_w.pool = pchild;
    ec_crl_mirror_init(&crl_w.mirror, pchild, c->crl_dir, c->profile->crl_base);
    crl_w.ctx.conf = c->crl;
    crl_w.ctx.profile = c->profile;
    crl_w.ctx.p11 = c->p11;
    crl_w.ctx.owner = ecert_worker_owner(pchild, &host);
    crl_w.ctx.actor = apr_psprintf(pchild, "system:crl@%s", host);
    ecert_worker_child_init(crl_w.worker, pchild);
}

/* The directory exists and belongs to the user the children run as: they write it. */
static int crl_dir_ready(apr_pool_t *p, server_rec *s, const char *dir)
{
    apr_status_t rv = apr_dir_make_recursive(dir, APR_FPROT_OS_DEFAULT, p);

    if (rv != APR_SUCCESS && !APR_STATUS_IS_EEXIST(rv)) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "ECE0106: ECertCRLDir %s cannot be created", dir);
        return 0;
    }
    if (!geteuid() && chown(dir, ap_unixd_config.user_id, ap_unixd_config.group_id) != 0) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, APR_FROM_OS_ERROR(errno), s,
                     "ECE0107: ECertCRLDir %s cannot be given to httpd's user", dir);
        return 0;
    }
    return 1;
}

int ecert_crl_post_config(apr_pool_t *pconf, server_rec *s)
{
    ecert_srv_conf *c = ap_get_module_config(s->module_config, &ecert_module);
    int rc;

    crl_w.worker = NULL;
    if (!c->crl_dir)
        return OK;
    if (!crl_dir_ready(pconf, s, c->crl_dir))
        return HTTP_INTERNAL_SERVER_ERROR;
    if ((rc = ecert_worker_register(pconf, s, "ecert-crl", POLL, round_work, NULL, &crl_w.worker)) != OK)
        return rc;
    if (!c->crl->root_key)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "ECE0110: no ECertRootKey: this node serves the ARL "
                     "but leaves issuing it to ecertctl (crl issue --ca root)");
    return OK;
}

/* ------------------------------------------------------------------ serving */

static const char *file_of(request_rec *r)
{
    const char *slash = strrchr(r->uri, '/');
    const char *name = slash ? slash + 1 : r->uri;
    return ec_crl_file_name_ok(name) ? name : NULL;
}

static int fetch_missing(request_rec *r, const char *dir, const char *name)
{
    ap_dbd_t *d = ecert_dbd(r);
    apr_status_t rv;

    if (!d)
        return HTTP_SERVICE_UNAVAILABLE;
    rv = ec_crl_mirror_fetch(ec_store_wrap(r->pool, d->driver, d->handle, d->prepared), r->pool, dir, name);
    if (rv == APR_ENOENT)
        return HTTP_NOT_FOUND;
    return rv == APR_SUCCESS ? OK : HTTP_SERVICE_UNAVAILABLE;
}

/* Freshness from the CRL itself: max-age never reaches past its nextUpdate. */
static void caching_headers(request_rec *r, const ecert_srv_conf *c, apr_file_t *f, const apr_finfo_t *fi,
                            int is_crl)
{
    apr_int64_t age = c->crl->max_age;
    uint8_t head[HEAD_BYTES];
    apr_size_t n = sizeof(head);
    apr_off_t off = 0;
    time_t this_update, next_update;
    char *expires;

    if (is_crl && (apr_file_read_full(f, head, n, &n), n) &&
        ec_crl_peek(head, n, &this_update, &next_update) == APR_SUCCESS) {
        apr_int64_t left = (apr_int64_t)next_update - apr_time_sec(r->request_time);
        if (left < age)
            age = left > 0 ? left : 0;
    }
    apr_file_seek(f, APR_SET, &off);
    apr_table_setn(r->headers_out, "Cache-Control", apr_psprintf(r->pool, "public, max-age=%" APR_INT64_T_FMT, age));
    expires = apr_palloc(r->pool, APR_RFC822_DATE_LEN);
    apr_rfc822_date(expires, r->request_time + apr_time_from_sec(age));
    apr_table_setn(r->headers_out, "Expires", expires);
    /* The same bytes have the same thisUpdate (mtime) and size on every node. */
    apr_table_setn(r->headers_out, "ETag", apr_psprintf(r->pool, "\"%" APR_INT64_T_FMT "-%" APR_OFF_T_FMT "\"",
                                                       (apr_int64_t)apr_time_sec(fi->mtime), fi->size));
    ap_update_mtime(r, fi->mtime);
    ap_set_last_modified(r);
}

int ecert_crl_handler(request_rec *r)
{
    ecert_srv_conf *c;
    const char *name, *path;
    apr_file_t *f;
    apr_finfo_t fi;
    apr_bucket_brigade *bb;
    int status, is_crl;

    if (!r->handler || strcmp(r->handler, "ecert-crl"))
        return DECLINED;
    c = ap_get_module_config(r->server->module_config, &ecert_module);
    r->allowed |= AP_METHOD_BIT << M_GET;
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    if (!c->crl_dir || !(name = file_of(r)))
        return HTTP_NOT_FOUND;
    path = apr_pstrcat(r->pool, c->crl_dir, "/", name, NULL);
    if (apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, r->pool) != APR_SUCCESS) {
        if ((status = fetch_missing(r, c->crl_dir, name)) != OK)
            return status;
        if (apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, r->pool) != APR_SUCCESS)
            return HTTP_NOT_FOUND;
    }
    if (apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_MTIME, f) != APR_SUCCESS)
        return HTTP_INTERNAL_SERVER_ERROR;
    is_crl = strlen(name) > 4 && !strcmp(name + strlen(name) - 4, ".crl");
    ap_set_content_type(r, is_crl ? "application/pkix-crl" : "application/json");
    caching_headers(r, c, f, &fi, is_crl);
    if ((status = ap_meets_conditions(r)) != OK)
        return status;
    ap_set_content_length(r, fi.size);
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_brigade_insert_file(bb, f, 0, fi.size, r->pool);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(r->connection->bucket_alloc));
    return ap_pass_brigade(r->output_filters, bb) == APR_SUCCESS ? OK : AP_FILTER_ERROR;
}
