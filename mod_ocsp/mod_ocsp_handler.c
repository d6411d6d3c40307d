/* mod_ocsp: the request handler (SetHandler ocsp-responder).
 *
 * One CertID without a nonce (nearly every request): the pre-signed answer from the
 * node's replica; otherwise the store's pre-signed answer, or one signed now for an issued
 * certificate. Never-issued serials, nonces (OCSPNonce on) and several CertIDs need a
 * signature of their own: those draw on a per-child token bucket (OCSPFreshSignRate), so
 * a flood of random serials or nonces cannot take the HSM from real certificates. */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <ap_expr.h>
#include <apr_strings.h>
#include <apr_optional.h>
#include <apr_thread_mutex.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include "mod_ocsp.h"

APLOG_USE_MODULE(ocsp);

static APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *dbd_acquire;
static apr_thread_mutex_t *bucket_mutex;
static double bucket_tokens;
static apr_time_t bucket_time;

typedef struct {
    request_rec *r;
    ocsp_srv_conf *conf;
    apr_time_t now;             /* seconds */
    int tried;
    ec_store_t *store;
} req_ctx;

void ocsp_handler_child_init(apr_pool_t *p)
{
    dbd_acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    apr_thread_mutex_create(&bucket_mutex, APR_THREAD_MUTEX_DEFAULT, p);
    bucket_tokens = ocsp_g.conf->fresh_rate;
    bucket_time = apr_time_now();
}

/* A burst of at most one second's worth, refilled continuously. */
static int bucket_take(void)
{
    int rate = ocsp_g.conf->fresh_rate, ok = 0;
    apr_time_t now = apr_time_now();

    if (rate <= 0)
        return 0;
    apr_thread_mutex_lock(bucket_mutex);
    bucket_tokens += (double)(now - bucket_time) * rate / (double)APR_USEC_PER_SEC;
    bucket_time = now;
    if (bucket_tokens > rate)
        bucket_tokens = rate;
    if (bucket_tokens >= 1) {
        bucket_tokens -= 1;
        ok = 1;
    }
    apr_thread_mutex_unlock(bucket_mutex);
    return ok;
}

/* httpd refuses %2F (AllowEncodedSlashes Off) before any handler runs, and a base64
 * request may contain it: for our locations the URI is left undecoded (DONE); the
 * handler reads the raw request line anyway. */
int ocsp_pre_translate(request_rec *r)
{
    core_dir_config *d = ap_get_core_module_config(r->per_dir_config);
    const char *err = NULL, *h;

    if (!d->expr_handler || !ocsp_g.issuers)
        return DECLINED;
    h = ap_expr_str_exec(r, d->expr_handler, &err);
    if (!h || strcmp(h, OCSP_HANDLER))
        return DECLINED;
    ap_set_module_config(r->request_config, &ocsp_module, (void *)OCSP_HANDLER);
    return DONE;
}

/* No file stands behind an OCSP URL (a long one would not even map to a valid file name):
 * no translation to the file system, no directory walk (as mod_proxy does). Access control
 * comes from the <Location>. */
int ocsp_translate(request_rec *r)
{
    if (!ap_get_module_config(r->request_config, &ocsp_module))
        return DECLINED;
    r->filename = apr_pstrdup(r->pool, OCSP_HANDLER ":");
    return OK;
}

int ocsp_map_to_storage(request_rec *r)
{
    if (!ap_get_module_config(r->request_config, &ocsp_module))
        return DECLINED;
    r->filename = apr_pstrdup(r->pool, OCSP_HANDLER ":");
    return OK;
}

static void *acquire_once(void *r)
{
    return dbd_acquire(r);
}

static ec_store_t *store(req_ctx *x)
{
    if (!x->tried && dbd_acquire) {
        /* While the watchdog knows the database is away, one try is enough. */
        ap_dbd_t *d = ec_store_acquire_retry(acquire_once, x->r,
                                             ocsp_watch_db_down() ? 1 : EC_STORE_ACQUIRE_TRIES);
        x->tried = 1;
        if (d)
            x->store = ec_store_wrap(x->r->pool, d->driver, d->handle, d->prepared);
    }
    return x->store;
}

static int send_der(request_rec *r, const uint8_t *der, apr_size_t len, const ec_ocsp_entry_t *e)
{
    apr_bucket_brigade *bb;
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;

    ap_set_content_type(r, "application/ocsp-response");
    if (e) {
        /* RFC 5019 6.2 caching headers. */
        apr_int64_t age = e->next_update - apr_time_sec(r->request_time);
        char *expires = apr_palloc(r->pool, APR_RFC822_DATE_LEN);
        int rc;
        apr_rfc822_date(expires, apr_time_from_sec(e->next_update));
        apr_table_setn(r->headers_out, "Expires", expires);
        apr_table_setn(r->headers_out, "Cache-Control",
                       apr_psprintf(r->pool, "max-age=%" APR_INT64_T_FMT ", public, no-transform, must-revalidate",
                                    age > 0 ? age : 0));
        apr_table_setn(r->headers_out, "ETag", apr_pstrdup(r->pool, e->etag));
        ap_update_mtime(r, apr_time_from_sec(e->this_update));
        ap_set_last_modified(r);
        if (r->method_number == M_GET && (rc = ap_meets_conditions(r)) != OK)
            return rc;
    }
    else
        apr_table_setn(r->headers_out, "Cache-Control", "max-age=0, no-cache");
    ap_set_content_length(r, (apr_off_t)len);
    if (r->header_only)
        return OK;
    bb = apr_brigade_create(r->pool, ba);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_pool_create((const char *)der, len, r->pool, ba));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(ba));
    return ap_pass_brigade_fchk(r, bb, "ECO0040: sending the OCSP response");
}

static int send_error(request_rec *r, int status)
{
    size_t len;
    const uint8_t *der = ec_ocsp_error(status, &len);
    return send_der(r, apr_pmemdup(r->pool, der, len), len, NULL);
}

static ocsp_issuer_conf *find_issuer(ocsp_srv_conf *c, const ec_ocsp_certid_t *id)
{
    for (int i = 0; i < c->issuers->nelts; i++) {
        ocsp_issuer_conf *is = &APR_ARRAY_IDX(c->issuers, i, ocsp_issuer_conf);
        if (ec_ocsp_issuer_match(&is->core.hash, id))
            return is;
    }
    return NULL;
}

/* The replica's record for one CertID and its verdict; *kept (in the request pool) unless
 * a miss. */
static ec_ocsp_verdict_t from_replica(req_ctx *x, ocsp_issuer_conf *is, const ec_ocsp_certid_t *id,
                                      const char *serial, ec_ocsp_entry_t *kept)
{
    ec_ocsp_replica *rep = ocsp_g.replica;
    char key[EC_OCSP_KEY_MAX];
    int current;

    if (!rep || id->serial.n > EC_OCSP_SERIAL_MAX)
        return EC_OCSP_MISS;
    ec_ocsp_entry_key(key, is->tag, id->alg, serial);
    switch (ec_ocsp_replica_get(rep, key, x->r->pool, kept, &current)) {
    case 1:
        return ec_ocsp_entry_verdict(kept, x->now, x->conf->refresh, current);
    case -1:
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, x->r,
                      "ECO0041: the replica's record %s fails its check: answered from the database", key);
        return EC_OCSP_MISS;
    default:
        return EC_OCSP_MISS;
    }
}

/* Whether the replica's record is the answer without asking the database: fresh, or still
 * valid while the database is known to be away (then it is the best there is). */
static int replica_suffices(ec_ocsp_verdict_t have)
{
    return have == EC_OCSP_SERVE || (have == EC_OCSP_FALLBACK && ocsp_watch_db_down());
}

/* The pre-signed answer for one CertID of issuer is: EC_OCSP_SUCCESSFUL with *e (der in the
 * request pool), or the error status to send. */
static int answer_one(req_ctx *x, ocsp_issuer_conf *is, const ec_ocsp_certid_t *id, ec_ocsp_entry_t *e)
{
    request_rec *r = x->r;
    const char *serial = ec_ocsp_serial_hex(r->pool, id->serial.p, id->serial.n);
    ec_ocsp_entry_t kept;
    ec_ocsp_verdict_t have = from_replica(x, is, id, serial, &kept), stored = EC_OCSP_MISS;
    ec_ocsp_rec_t rec;
    ec_store_t *st = NULL;
    int looked_up = 0;

    if (replica_suffices(have)) {
        *e = kept;
        return EC_OCSP_SUCCESSFUL;
    }
    memset(&rec, 0, sizeof(rec));
    rec.status = EC_OCSP_UNKNOWN;
    rec.reason = -1;
    /* Longer than any serial we issue: never issued, no need to ask. */
    if (id->serial.n <= EC_OCSP_SERIAL_MAX &&
        (!(st = store(x)) || ocsp_issuer_ready(is, st, r->pool) < 0 ||
         ec_ocsp_lookup(st, r->pool, &is->core, serial, id->alg, &rec) != APR_SUCCESS))
        goto unavailable;
    looked_up = 1;
    if ((stored = ec_ocsp_rec_verdict(&rec, x->now, x->conf->refresh)) != EC_OCSP_SERVE) {
        /* Issued certificates are signed on demand (the answer is stored, and the replica
         * takes it from there); a serial never issued costs a token and is not kept, so a
         * flood of made-up serials costs the fresh-signing budget and nothing else. */
        if (!rec.found && !bucket_take())
            goto unavailable;
        if (!is->core.signer.key ||
            ec_ocsp_presign(st, r->pool, &is->core, serial, id->alg, (time_t)x->now, x->conf->validity,
                            &rec) != APR_SUCCESS)
            goto unavailable;
    }
    ec_ocsp_entry_from_rec(e, &rec);
    return EC_OCSP_SUCCESSFUL;

unavailable:
    /* Store or HSM unreachable: an answer that is still within its validity will do, but
     * never one the database has just shown to be for an older status. */
    if (stored == EC_OCSP_FALLBACK) {
        ec_ocsp_entry_from_rec(e, &rec);
        return EC_OCSP_SUCCESSFUL;
    }
    if (have == EC_OCSP_FALLBACK && (!looked_up || (rec.found && kept.sc >= rec.sc))) {
        *e = kept;
        return EC_OCSP_SUCCESSFUL;
    }
    return EC_OCSP_TRY_LATER;
}

/* Current status of one CertID for a freshly signed answer (no signature of its own). */
static int status_of(req_ctx *x, ocsp_issuer_conf *is, const ec_ocsp_certid_t *id, ec_ocsp_single_t *sr)
{
    request_rec *r = x->r;
    const char *serial;
    ec_ocsp_entry_t kept;
    ec_ocsp_verdict_t have;
    ec_ocsp_rec_t rec;
    ec_store_t *st;

    if (id->serial.n > EC_OCSP_SERIAL_MAX)
        return EC_OCSP_SUCCESSFUL;      /* unknown */
    serial = ec_ocsp_serial_hex(r->pool, id->serial.p, id->serial.n);
    have = from_replica(x, is, id, serial, &kept);
    if (!replica_suffices(have)) {
        if ((st = store(x)) && ocsp_issuer_ready(is, st, r->pool) == 0 &&
            ec_ocsp_lookup(st, r->pool, &is->core, serial, id->alg, &rec) == APR_SUCCESS) {
            sr->status = rec.found ? rec.status : EC_OCSP_UNKNOWN;
            sr->revoked_at = rec.revoked_at;
            sr->reason = rec.reason;
            return EC_OCSP_SUCCESSFUL;
        }
        if (have == EC_OCSP_MISS)
            return EC_OCSP_TRY_LATER;
    }
    sr->status = kept.status;
    sr->revoked_at = (time_t)kept.revoked_at;
    sr->reason = kept.reason;
    return EC_OCSP_SUCCESSFUL;
}

static int send_entry(request_rec *r, const ec_ocsp_entry_t *e)
{
    return send_der(r, e->der, e->der_len, e);
}

/* Several CertIDs or an echoed nonce: one signature over all of them. CertIDs of issuers
 * other than the responder's are answered unknown (RFC 6960 2.2). */
static int answer_fresh(req_ctx *x, const ec_ocsp_req_t *req, ocsp_issuer_conf *signer,
                        ocsp_issuer_conf **owner, int echo_nonce)
{
    request_rec *r = x->r;
    ec_ocsp_single_t *sr = apr_pcalloc(r->pool, sizeof(*sr) * (size_t)req->n);
    const uint8_t *der;
    size_t len;

    if (!signer->core.signer.key || !bucket_take()) {
        /* Out of budget for a nonce: the pre-signed answer without it (RFC 9654 lets the
         * responder leave the nonce out; the client decides). */
        if (req->n == 1) {
            ec_ocsp_entry_t e;
            int st = answer_one(x, signer, &req->ids[0], &e);
            return st == EC_OCSP_SUCCESSFUL ? send_entry(r, &e) : send_error(r, st);
        }
        return send_error(r, EC_OCSP_TRY_LATER);
    }
    for (int i = 0; i < req->n; i++) {
        sr[i].certid = req->ids[i].whole.p;
        sr[i].certid_len = req->ids[i].whole.n;
        sr[i].status = EC_OCSP_UNKNOWN;
        sr[i].reason = -1;
        sr[i].this_update = (time_t)x->now;
        sr[i].next_update = (time_t)x->now + x->conf->validity;
        if (owner[i] && status_of(x, owner[i], &req->ids[i], &sr[i]) != EC_OCSP_SUCCESSFUL)
            return send_error(r, EC_OCSP_TRY_LATER);
    }
    if (ec_ocsp_sign(r->pool, &signer->core.signer, sr, req->n, echo_nonce ? req->nonce_value.p : NULL,
                     req->nonce_value.n, (time_t)x->now, &der, &len) != APR_SUCCESS)
        return send_error(r, EC_OCSP_TRY_LATER);
    return send_der(r, der, len, NULL);
}

static int read_post(request_rec *r, ocsp_srv_conf *c, const uint8_t **der, size_t *len)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    static const char want[] = "application/ocsp-request";
    uint8_t *buf;
    apr_size_t n = 0, max = (apr_size_t)c->max_request;
    long got;
    int rc;

    if (!ct || strncasecmp(ct, want, sizeof(want) - 1) ||
        (ct[sizeof(want) - 1] && ct[sizeof(want) - 1] != ';' && ct[sizeof(want) - 1] != ' '))
        return HTTP_UNSUPPORTED_MEDIA_TYPE;
    if ((rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK)
        return rc;
    if (r->remaining > (apr_off_t)max)
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    buf = apr_palloc(r->pool, max + 1);
    if (ap_should_client_block(r)) {
        while ((got = ap_get_client_block(r, (char *)buf + n, max + 1 - n)) > 0) {
            n += (apr_size_t)got;
            if (n > max)
                return HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
        if (got < 0)
            return HTTP_BAD_REQUEST;    /* the body ended early or broke off */
    }
    *der = buf;
    *len = n;
    return OK;
}

int ocsp_handler(request_rec *r)
{
    ocsp_srv_conf *c;
    req_ctx x;
    ec_ocsp_req_t req;
    ocsp_issuer_conf *signer = NULL, **owner;
    const uint8_t *der;
    size_t len;
    int rc;

    if (!r->handler || strcmp(r->handler, OCSP_HANDLER))
        return DECLINED;
    c = ocsp_conf(r->server);
    ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, M_POST, M_OPTIONS, -1);
    if (r->method_number == M_OPTIONS)
        return DECLINED;
    if (r->method_number == M_GET) {
        const char *path;
        if ((rc = ap_discard_request_body(r)) != OK)
            return rc;
        path = ec_ocsp_request_path(r->pool, r->the_request);
        rc = path ? ec_ocsp_get_request(r->pool, path, (size_t)c->max_request, c->max_certids, &der, &len, &req)
                  : EC_OCSP_REQ_MALFORMED;
    }
    else if (r->method_number == M_POST) {
        if ((rc = read_post(r, c, &der, &len)) != OK)
            return rc;
        rc = ec_ocsp_req_parse(r->pool, der, len, c->max_certids, &req);
    }
    else
        return HTTP_METHOD_NOT_ALLOWED;

    /* RFC 9654: a nonce we would echo must be 1..128 octets. */
    if (rc != EC_OCSP_REQ_OK || (c->nonce && req.has_nonce && !req.nonce_ok))
        return send_error(r, EC_OCSP_MALFORMED);

    owner = apr_pcalloc(r->pool, sizeof(*owner) * (size_t)req.n);
    for (int i = 0; i < req.n; i++)
        if ((owner[i] = find_issuer(c, &req.ids[i])) && !signer)
            signer = owner[i];
    if (!signer)
        return send_error(r, EC_OCSP_UNAUTHORIZED);   /* not ours: no signature spent */
    for (int i = 0; i < req.n; i++)
        if (owner[i] != signer)
            owner[i] = NULL;
    if (!__atomic_load_n(&ocsp_g.child_ready, __ATOMIC_ACQUIRE))
        return send_error(r, EC_OCSP_TRY_LATER);

    memset(&x, 0, sizeof(x));
    x.r = r;
    x.conf = c;
    x.now = apr_time_sec(r->request_time);
    if (req.n == 1 && !(c->nonce && req.has_nonce)) {
        ec_ocsp_entry_t e;
        int st = answer_one(&x, signer, &req.ids[0], &e);
        return st == EC_OCSP_SUCCESSFUL ? send_entry(r, &e) : send_error(r, st);
    }
    return answer_fresh(&x, &req, signer, owner, c->nonce && req.has_nonce);
}
