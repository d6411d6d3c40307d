#include <pthread.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <curl/curl.h>
#include "ec_http_body.h"
#include "ec_mpic_client.h"

/* Connections stay open between corroborations: a perspective far away then costs no TCP and
 * TLS round trips. libcurl shares connections only within one thread, so each thread keeps a
 * multi handle of its own (its connection cache), freed when the thread ends; TLS sessions are
 * shared by the whole process (a resumed session spares both sides a signature). */
static CURLSH *share;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t multi_key;
static pthread_mutex_t share_lock_mx = PTHREAD_MUTEX_INITIALIZER;

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
    pthread_mutex_lock(&share_lock_mx);
}

static void share_unlock(CURL *h, curl_lock_data d, void *u)
{
    pthread_mutex_unlock(&share_lock_mx);
}

static void multi_free(void *m)
{
    curl_multi_cleanup(m);
}

static void init_once(void)
{
    pthread_key_create(&multi_key, multi_free);
    if (!(share = curl_share_init()))
        return;
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
}

static CURLM *thread_multi(void)
{
    CURLM *m;
    pthread_once(&once, init_once);
    if (!(m = pthread_getspecific(multi_key)) && (m = curl_multi_init()) != NULL)
        pthread_setspecific(multi_key, m);
    return m;
}

typedef struct {
    ec_mpic_ask_t *ask;
    apr_pool_t *p;
    CURL *h;
    struct curl_slist *headers;
    char *out;
    apr_size_t out_len;
    ec_http_body_t body;
    apr_time_t start;
    char err[CURL_ERROR_SIZE];
} call_t;

static const uint8_t *key_of(void *baton, const char *from)
{
    const ec_perspective_t *pv = baton;
    return !strcmp(from, pv->name) ? pv->key : NULL;
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static void fail(ec_mpic_ask_t *a, const char *failure, const char *why)
{
    a->answered = 0;
    a->failure = failure;
    a->why = why;
}

static void finish(call_t *c, CURLcode rc, const ec_mpic_conf_t *conf)
{
    ec_mpic_ask_t *a = c->ask;
    long status = 0;
    const char *why;

    a->ms = (double)(apr_time_now() - c->start) / 1000.0;
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return fail(a, "timeout", apr_psprintf(c->p, "no answer within %d s", conf->timeout_ms / 1000));
    if (rc == CURLE_WRITE_ERROR && c->body.too_long)
        return fail(a, "malformed", "the answer is longer than a perspective's answer can be");
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_SSL_CERTPROBLEM ||
        rc == CURLE_SSL_CACERT_BADFILE)
        return fail(a, "tls", apr_psprintf(c->p, "TLS: %s", *c->err ? c->err : curl_easy_strerror(rc)));
    if (rc != CURLE_OK)
        return fail(a, "unreachable", apr_psprintf(c->p, "%s", *c->err ? c->err : curl_easy_strerror(rc)));
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        return fail(a, "http", apr_psprintf(c->p, "HTTP status %ld", status));
    switch (ec_mpic_decode(c->p, ec_http_body_text(&c->body), c->body.len, EC_MPIC_ANSWER, key_of, (void *)a->pv, &a->ans, &why)) {
    case APR_SUCCESS:
        break;
    case APR_EACCES:
        return fail(a, "forged", apr_pstrcat(c->p, "the answer is not authentic: ", why, NULL));
    default:
        return fail(a, "malformed", apr_pstrcat(c->p, "the answer is malformed: ", why, NULL));
    }
    /* A replayed answer (of an earlier request) carries that request's nonce. */
    if (strcmp(a->ans.nonce, a->req.nonce) || !same(a->ans.check, a->req.check) || !same(a->ans.name, a->req.name) ||
        strcmp(a->ans.perspective, a->pv->name))
        return fail(a, "forged", "the answer is not for this request (nonce, check or name differ): a replay");
    a->answered = 1;
}

static call_t *start(const ec_mpic_conf_t *conf, apr_pool_t *p, ec_mpic_ask_t *a, CURLM *m)
{
    call_t *c = apr_pcalloc(p, sizeof(*c));
    c->ask = a;
    c->p = p;
    ec_http_body_init(&c->body, p, EC_MPIC_MAX_MSG);
    c->start = apr_time_now();
    a->req.dir = EC_MPIC_REQUEST;
    a->req.client = conf->client;
    a->req.perspective = a->pv->name;
    a->req.nonce = ec_mpic_nonce(p);
    a->req.time = apr_time_sec(apr_time_now());
    if (!a->req.nonce || !(c->h = curl_easy_init()))
        return NULL;
    c->out = ec_mpic_encode(p, &a->req, a->pv->key, &c->out_len);
    c->headers = curl_slist_append(NULL, "Content-Type: " EC_MPIC_CONTENT_TYPE);
    c->headers = curl_slist_append(c->headers, "Expect:");
    curl_easy_setopt(c->h, CURLOPT_URL, a->pv->url);
    curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c->h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c->h, CURLOPT_PROXY, "");
    curl_easy_setopt(c->h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (conf->ca_file)
        curl_easy_setopt(c->h, CURLOPT_CAINFO, conf->ca_file);
    curl_easy_setopt(c->h, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c->h, CURLOPT_USERAGENT, "e-Cert-MPIC/1");
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->out);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)c->out_len);
    curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, (long)conf->timeout_ms);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)conf->timeout_ms);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, ec_http_body_write);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &c->body);
    curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->err);
    curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
    if (share)
        curl_easy_setopt(c->h, CURLOPT_SHARE, share);
    curl_multi_add_handle(m, c->h);
    return c;
}

void ec_mpic_ask(const ec_mpic_conf_t *conf, apr_pool_t *p, ec_mpic_ask_t *asks, int n)
{
    CURLM *m = thread_multi();
    call_t **calls = apr_pcalloc(p, (apr_size_t)(n ? n : 1) * sizeof(*calls));
    apr_time_t deadline = apr_time_now() + apr_time_from_msec(conf->timeout_ms) + apr_time_from_msec(250);
    int running = 0, left;

    for (int i = 0; i < n; i++) {
        fail(&asks[i], "unreachable", "the request could not be made (libcurl)");
        calls[i] = m ? start(conf, p, &asks[i], m) : NULL;
    }
    /* Each transfer has its own timeout; the deadline only bounds the loop itself. */
    while (m) {
        CURLMsg *msg;
        apr_time_t now = apr_time_now();
        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            call_t *c = NULL;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            finish(c, msg->data.result, conf);
            curl_multi_remove_handle(m, c->h);
            curl_easy_cleanup(c->h);
            curl_slist_free_all(c->headers);
            c->h = NULL;
        }
        if (!running || now >= deadline)
            break;
        if (curl_multi_poll(m, NULL, 0, (int)apr_time_as_msec(deadline - now) + 1, NULL) != CURLM_OK)
            break;                   /* what has not finished counts as no answer */
    }
    for (int i = 0; i < n; i++) {
        call_t *c = calls[i];
        if (!c || !c->h)
            continue;
        finish(c, CURLE_OPERATION_TIMEDOUT, conf);
        curl_multi_remove_handle(m, c->h);
        curl_easy_cleanup(c->h);
        curl_slist_free_all(c->headers);
    }
}
