/* mod_ecert request plumbing: database handle, forms, cookies, language, rendering. */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_cookies.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_optional.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include "mod_ecert.h"

#define SESSION_COOKIE "ecert_sid"
#define LANG_COOKIE "ecert_lang"
#define FORM_MAX (72 * 1024)

int ecert_store(ecert_req_t *q)
{
    static APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *acquire;
    ap_dbd_t *dbd;

    if (q->store)
        return OK;
    if (!acquire)
        acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    if (!acquire || !(dbd = acquire(q->r))) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, q->r, "ECE0020: no database connection from mod_dbd");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    q->store = ec_store_wrap(q->r->pool, dbd->driver, dbd->handle, dbd->prepared);
    return OK;
}

static int is_https(request_rec *r)
{
    const char *scheme = ap_http_scheme(r);
    return scheme && !strcmp(scheme, "https");
}

static void security_headers(request_rec *r)
{
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->headers_out, "X-Frame-Options", "DENY");
    apr_table_setn(r->headers_out, "Referrer-Policy", "same-origin");
    apr_table_setn(r->headers_out, "Content-Security-Policy",
                   "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
}

int ecert_render(ecert_req_t *q, const char *page, int status)
{
    request_rec *r = q->r;
    const char *err, *other = strcmp(q->lang, "zh") ? "zh" : "en";
    char *html;
    size_t len;

    ec_tmpl_set(q->vars, "base", q->base);
    ec_tmpl_set(q->vars, "lang", q->lang);
    ec_tmpl_set(q->vars, "html_lang", strcmp(q->lang, "zh") ? "en" : "zh-Hant-HK");
    ec_tmpl_flag(q->vars, "lang_zh", !strcmp(q->lang, "zh"));
    ec_tmpl_set(q->vars, "other_lang", other);
    ec_tmpl_set(q->vars, "switch_url", apr_pstrcat(r->pool, q->base, q->path, "?lang=", other, NULL));
    if (q->session) {
        ec_tmpl_set(q->vars, "csrf", q->session->csrf);
        ec_tmpl_flag(q->vars, "logged_in", q->session->app_id != NULL);
    }
    if (ec_tmpl_render(q->tmpl, page, q->vars, &html, &len, &err) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "ECE0021: %s", err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    r->status = status;
    security_headers(r);
    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only)
        ap_rwrite(html, (int)len, r);
    return OK;
}

int ecert_redirect(ecert_req_t *q, const char *path)
{
    request_rec *r = q->r;
    security_headers(r);
    apr_table_setn(r->headers_out, "Location", apr_pstrcat(r->pool, q->base, path, NULL));
    return HTTP_SEE_OTHER;
}

int ecert_send(ecert_req_t *q, const char *type, const char *filename, const void *data, size_t len)
{
    request_rec *r = q->r;
    security_headers(r);
    ap_set_content_type(r, type);
    if (filename)
        apr_table_setn(r->headers_out, "Content-Disposition",
                       apr_psprintf(r->pool, "attachment; filename=\"%s\"", filename));
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only)
        ap_rwrite(data, (int)len, r);
    return OK;
}

int ecert_unavailable(ecert_req_t *q, const char *why)
{
    ec_tmpl_set_raw(q->vars, "message", ec_tmpl_msg(q->tmpl, why, q->vars));
    ec_tmpl_flag(q->vars, "is_error", 1);
    return ecert_render(q, "message", HTTP_SERVICE_UNAVAILABLE);
}

int ecert_read_form(ecert_req_t *q)
{
    apr_array_header_t *pairs = NULL;
    int rc;

    q->form = apr_table_make(q->r->pool, 8);
    rc = ap_parse_form_data(q->r, NULL, &pairs, 32, FORM_MAX);
    if (rc != OK)
        return rc;
    while (pairs && !apr_is_empty_array(pairs)) {
        ap_form_pair_t *pair = apr_array_pop(pairs);
        apr_off_t len;
        apr_size_t size;
        char *buf;
        if (apr_brigade_length(pair->value, 1, &len) != APR_SUCCESS || len < 0 || len > FORM_MAX)
            return HTTP_REQUEST_ENTITY_TOO_LARGE;
        size = (apr_size_t)len;
        buf = apr_palloc(q->r->pool, size + 1);
        apr_brigade_flatten(pair->value, buf, &size);
        buf[size] = 0;
        apr_table_setn(q->form, pair->name, buf);
    }
    return OK;
}

const char *ecert_field(ecert_req_t *q, const char *name)
{
    return q->form ? apr_table_get(q->form, name) : NULL;
}

int ecert_csrf_ok(ecert_req_t *q)
{
    return q->session && ec_session_csrf_ok(q->session, ecert_field(q, "csrf"));
}

void ecert_set_session_cookie(ecert_req_t *q, const char *value, int max_age)
{
    request_rec *r = q->r;
    apr_table_add(r->err_headers_out, "Set-Cookie",
                  apr_psprintf(r->pool, "%s=%s; Path=%s/; HttpOnly; SameSite=Strict%s%s",
                               SESSION_COOKIE, value, q->base, is_https(r) ? "; Secure" : "",
                               max_age == 0 ? "; Max-Age=0" : ""));
}

const char *ecert_session_cookie(request_rec *r)
{
    const char *v = NULL;
    ap_cookie_read(r, SESSION_COOKIE, &v, 0);
    return v;
}

/* The lang query parameter (the visible switch, remembered in a cookie), else the
 * cookie, else Accept-Language, else English. */
const char *ecert_pick_lang(request_rec *r)
{
    const char *v = NULL, *al;
    double best_en = -1, best_zh = -1;

    if (r->args) {
        const char *a = r->args;
        for (const char *k = strstr(a, "lang="); k; k = strstr(k + 1, "lang="))
            if (k == a || k[-1] == '&') {
                const char *lang = !strncmp(k + 5, "zh", 2) ? "zh" : !strncmp(k + 5, "en", 2) ? "en" : NULL;
                if (lang) {
                    apr_table_add(r->err_headers_out, "Set-Cookie",
                                  apr_psprintf(r->pool, "%s=%s; Path=/; Max-Age=31536000; HttpOnly; "
                                               "SameSite=Lax%s", LANG_COOKIE, lang,
                                               is_https(r) ? "; Secure" : ""));
                    return lang;
                }
            }
    }
    if (ap_cookie_read(r, LANG_COOKIE, &v, 0) == APR_SUCCESS && v && (!strcmp(v, "en") || !strcmp(v, "zh")))
        return v;
    al = apr_table_get(r->headers_in, "Accept-Language");
    if (al) {
        char *list = apr_pstrdup(r->pool, al), *save, *item;
        /* "zh-HK,zh;q=0.9,en;q=0.8": the best q among the two languages we have. */
        for (item = apr_strtok(list, ",", &save); item; item = apr_strtok(NULL, ",", &save)) {
            char *semi = strchr(item, ';'), *qs;
            double qv = 1.0;
            if (semi) {
                *semi = 0;
                if ((qs = strstr(semi + 1, "q=")) != NULL)
                    qv = atof(qs + 2);
            }
            apr_collapse_spaces(item, item);
            if (!strncasecmp(item, "zh", 2) && qv > best_zh)
                best_zh = qv;
            else if ((!strncasecmp(item, "en", 2) || !strcmp(item, "*")) && qv > best_en)
                best_en = qv;
        }
    }
    return best_zh > 0 && best_zh > best_en ? "zh" : "en";
}

const char *ecert_actor(ecert_req_t *q, const char *envelope_ref)
{
    return apr_psprintf(q->r->pool, "subscriber:%s@%s", envelope_ref ? envelope_ref : "-",
                        q->r->useragent_ip);
}
