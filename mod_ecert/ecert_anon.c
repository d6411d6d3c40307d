/* The anonymous forms' CSRF token (login, revocation login, the public reports): a nonce
 * cookie and an HMAC-bound form field (core/ec_csrf.h), so that showing such a form stores
 * nothing in the database. The key is the one row of form_secret, read once per child. */
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <httpd.h>
#include <http_log.h>
#include <util_cookies.h>
#include <apr_strings.h>
#include "mod_ecert.h"
#include "ec_csrf.h"

APLOG_USE_MODULE(ecert);

#define FORM_COOKIE "ecert_form"

static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t form_key[EC_CSRF_KEY_LEN];
static int form_key_loaded;

static apr_status_t key_of(ecert_req_t *q, const uint8_t **key)
{
    apr_status_t rv = APR_SUCCESS;

    pthread_mutex_lock(&key_lock);
    if (!form_key_loaded) {
        if (ecert_store(q) != OK)
            rv = APR_EGENERAL;
        else if ((rv = ec_csrf_key(q->store, q->r->pool, form_key)) == APR_SUCCESS)
            form_key_loaded = 1;
        else
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, q->r, "ECE0160: the forms' CSRF key could not be "
                          "read or created (table form_secret)");
    }
    pthread_mutex_unlock(&key_lock);
    *key = form_key;
    return rv;
}

static const char *cookie_nonce(request_rec *r)
{
    const char *v = NULL;
    ap_cookie_read(r, FORM_COOKIE, &v, 0);
    return v;
}

int ecert_anon_form(ecert_req_t *q)
{
    request_rec *r = q->r;
    const uint8_t *key;
    const char *nonce = cookie_nonce(r);

    if (key_of(q, &key) != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    /* The nonce a browser already holds is kept: two forms open in two tabs both work. */
    if (!ec_csrf_nonce_ok(nonce) && ec_csrf_nonce(r->pool, &nonce) != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    apr_table_add(r->err_headers_out, "Set-Cookie",
                  apr_psprintf(r->pool, "%s=%s; Path=%s/; Max-Age=%d; HttpOnly; SameSite=Strict%s",
                               FORM_COOKIE, nonce, q->base, EC_CSRF_MAX_AGE,
                               ecert_is_https(r) ? "; Secure" : ""));
    ec_tmpl_set(q->vars, "form_csrf", ec_csrf_token(r->pool, key, nonce, time(NULL)));
    return OK;
}

int ecert_anon_csrf_ok(ecert_req_t *q)
{
    const uint8_t *key;
    apr_status_t rv;

    if (key_of(q, &key) != APR_SUCCESS)
        return 0;
    rv = ec_csrf_check(key, cookie_nonce(q->r), ecert_field(q, "csrf"), time(NULL), EC_CSRF_MAX_AGE);
    if (rv != APR_SUCCESS)
        ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, q->r, "ECE0161: an anonymous form of %s refused: %s",
                      q->path, rv == APR_TIMEUP ? "expired" : "no token of this browser's cookie");
    return rv == APR_SUCCESS;
}
