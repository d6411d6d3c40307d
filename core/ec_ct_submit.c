#include <string.h>
#include <apr_base64.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <curl/curl.h>
#include "ec_http_body.h"
#include "ec_ct_submit.h"
#include "ec_util.h"

#define MAX_ANSWER 65536

typedef struct {
    ec_ct_result_t *res;
    apr_pool_t *p;
    CURL *h;
    struct curl_slist *headers;
    ec_http_body_t body;
    apr_time_t start;
    char err[CURL_ERROR_SIZE];
} call_t;

static char *b64(apr_pool_t *p, const uint8_t *d, size_t len)
{
    char *out = apr_palloc(p, (apr_size_t)apr_base64_encode_len((int)len));
    apr_base64_encode_binary(out, d, (int)len);
    return out;
}

static void finish(call_t *c, CURLcode rc, const ec_ct_entry_t *e)
{
    ec_ct_result_t *r = c->res;
    long status = 0;
    const char *why;

    r->ms = (double)(apr_time_now() - c->start) / 1000.0;
    r->ok = 0;
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        r->why = "no answer in time";
        return;
    }
    if (rc != CURLE_OK) {
        r->why = c->body.too_long ? "the answer is too long" : apr_pstrdup(c->p, *c->err ? c->err : curl_easy_strerror(rc));
        return;
    }
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        /* A log says why it refused (RFC 6962 4: a JSON error_message): worth a log line. */
        char *text = apr_pstrmemdup(c->p, ec_http_body_text(&c->body), c->body.len);
        for (char *t = text; *t; t++)
            if ((unsigned char)*t < 0x20 || *t == 0x7f)
                *t = ' ';
        r->why = apr_psprintf(c->p, "HTTP status %ld %s", status, ec_clip(c->p, text, 200));
        return;
    }
    if (ec_ct_sct_from_json(c->p, r->log, ec_http_body_text(&c->body), c->body.len, &r->sct, &why) != APR_SUCCESS) {
        r->why = why;
        return;
    }
    /* Relying parties refuse an SCT from their future: a log whose clock runs ahead would hand
     * out a certificate that fails until that time comes. A minute of skew is tolerated. */
    if (r->sct.timestamp > (uint64_t)apr_time_as_msec(apr_time_now()) + 60000) {
        r->why = "the SCT's timestamp is more than a minute in the future";
        return;
    }
    if (!ec_ct_sct_verify(&r->sct, e->issuer_key_hash, e->tbs, e->tbs_len)) {
        r->why = "the SCT's signature does not verify with the log's key";
        return;
    }
    r->ok = 1;
    r->why = NULL;
}

static call_t *start(apr_pool_t *p, const ec_ct_conf_t *conf, ec_ct_result_t *r, const char *body, CURLM *m)
{
    call_t *c = apr_pcalloc(p, sizeof(*c));

    c->res = r;
    c->p = p;
    ec_http_body_init(&c->body, p, MAX_ANSWER);
    c->start = apr_time_now();
    if (!(c->h = curl_easy_init()))
        return NULL;
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    c->headers = curl_slist_append(c->headers, "Expect:");
    curl_easy_setopt(c->h, CURLOPT_URL, apr_pstrcat(p, r->log->url, "ct/v1/add-pre-chain", NULL));
    curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c->h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c->h, CURLOPT_USERAGENT, "e-Cert-CT/1");
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)conf->timeout * 1000L);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, ec_http_body_write);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &c->body);
    curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->err);
    curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
    curl_multi_add_handle(m, c->h);
    return c;
}

static void done(CURLM *m, call_t *c)
{
    curl_multi_remove_handle(m, c->h);
    curl_easy_cleanup(c->h);
    curl_slist_free_all(c->headers);
    c->h = NULL;
}

apr_array_header_t *ec_ct_submit(apr_pool_t *p, const ec_ct_conf_t *conf, const ec_ct_entry_t *e)
{
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(ec_ct_result_t));
    apr_array_header_t *calls = apr_array_make(p, 4, sizeof(call_t *));
    const char *body = apr_psprintf(p, "{\"chain\":[\"%s\",\"%s\"]}", b64(p, e->precert, e->precert_len),
                                    b64(p, e->issuer, e->issuer_len));
    apr_time_t deadline = apr_time_now() + apr_time_from_sec(conf->timeout) + apr_time_from_msec(250);
    CURLM *m;
    int running = 0, left;

    for (int i = 0; conf->logs && i < conf->logs->nelts; i++) {
        const ec_ct_log_t *log = APR_ARRAY_IDX(conf->logs, i, const ec_ct_log_t *);
        ec_ct_result_t *r;
        if (e->not_after < log->start || e->not_after >= log->end)
            continue;               /* outside the log's shard: it would refuse */
        r = apr_array_push(out);
        memset(r, 0, sizeof(*r));
        r->log = log;
        r->why = "the submission could not be made (libcurl)";
    }
    if (!out->nelts || !(m = curl_multi_init()))
        return out;
    for (int i = 0; i < out->nelts; i++) {
        call_t *c = start(p, conf, &APR_ARRAY_IDX(out, i, ec_ct_result_t), body, m);
        if (c)
            APR_ARRAY_PUSH(calls, call_t *) = c;
    }
    /* Each transfer has its own timeout; the deadline only bounds the loop. */
    for (;;) {
        CURLMsg *msg;
        apr_time_t now = apr_time_now();
        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            call_t *c = NULL;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            finish(c, msg->data.result, e);
            done(m, c);
        }
        if (!running || now >= deadline ||
            curl_multi_poll(m, NULL, 0, (int)apr_time_as_msec(deadline - now) + 1, NULL) != CURLM_OK)
            break;
    }
    for (int i = 0; i < calls->nelts; i++) {
        call_t *c = APR_ARRAY_IDX(calls, i, call_t *);
        if (c->h) {
            finish(c, CURLE_OPERATION_TIMEDOUT, e);
            done(m, c);
        }
    }
    curl_multi_cleanup(m);
    return out;
}
