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
#include "ec_util.h"

APLOG_USE_MODULE(ecert);

#define SESSION_COOKIE "ecert_sid"
#define LANG_COOKIE "ecert_lang"
#define FORM_MAX (72 * 1024)

static APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *acquire;

static void *acquire_once(void *r)
{
    return acquire(r);
}

ap_dbd_t *ecert_dbd(request_rec *r)
{
    if (!acquire)
        acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    return acquire ? ec_store_acquire_retry(acquire_once, r, EC_STORE_ACQUIRE_TRIES) : NULL;
}

int ecert_store(ecert_req_t *q)
{
    ap_dbd_t *dbd;

    if (q->store)
        return OK;
    if (!(dbd = ecert_dbd(q->r))) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, q->r, "ECE0020: no database connection from mod_dbd");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    q->store = ec_store_wrap(q->r->pool, dbd->driver, dbd->handle, dbd->prepared);
    return OK;
}

int ecert_is_https(request_rec *r)
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

int ecert_flash_redirect(ecert_req_t *q, const char *page, const apr_table_t *flash)
{
    if (q->session && ec_session_set_flash(q->store, q->r->pool, q->session, page, flash) != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    return ecert_redirect(q, page);
}

/* A flash's message keys are catalogue keys; one the catalogue has not is not shown (the
 * catalogue would hand the key back as the text). */
static void flash_message(ecert_req_t *q, const char *var, const char *key)
{
    if (key && ec_tmpl_has_msg(q->tmpl, key))
        ec_tmpl_set_raw(q->vars, var, ec_tmpl_msg(q->tmpl, key, q->vars));
}

/* The values, then the messages, so that a message's {{placeholders}} see them. */
static void show_flash(ecert_req_t *q)
{
    const apr_array_header_t *a = apr_table_elts(q->session->flash);
    const apr_table_entry_t *e = (const apr_table_entry_t *)a->elts;

    for (int i = 0; i < a->nelts; i++)
        if (strcmp(e[i].key, "error") && strcmp(e[i].key, "notice"))
            ec_tmpl_set(q->vars, e[i].key, e[i].val);
    flash_message(q, "error", apr_table_get(q->session->flash, "error"));
    flash_message(q, "notice", apr_table_get(q->session->flash, "notice"));
}

void ecert_flash_forget_elsewhere(ecert_req_t *q)
{
    const char *fp = q->session ? q->session->flash_page : NULL;
    size_t n = fp ? strlen(fp) : 0;
    if (fp && q->r->method_number == M_GET && (strncmp(q->path, fp, n) || (q->path[n] && q->path[n] != '/')))
        ec_session_set_flash(q->store, q->r->pool, q->session, NULL, NULL);
}

int ecert_render(ecert_req_t *q, const char *page, int status)
{
    request_rec *r = q->r;
    const char *err, *other = strcmp(q->lang, "zh") ? "zh" : "en";
    char *html;
    size_t len;

    /* A page with a title of its own: "title.<page>" in the catalogue. */
    {
        const char *key = apr_pstrcat(r->pool, "title.", page, NULL);
        if (ec_tmpl_has_msg(q->tmpl, key))
            ec_tmpl_set_raw(q->vars, "page_title", ec_tmpl_msg(q->tmpl, key, q->vars));
    }
    ec_tmpl_set(q->vars, "base", q->base);
    ec_tmpl_set(q->vars, "lang", q->lang);
    ec_tmpl_set(q->vars, "html_lang", strcmp(q->lang, "zh") ? "en" : "zh-Hant-HK");
    ec_tmpl_flag(q->vars, "lang_zh", !strcmp(q->lang, "zh"));
    ec_tmpl_set(q->vars, "other_lang", other);
    ec_tmpl_set(q->vars, "switch_url", apr_pstrcat(r->pool, q->base, q->path, "?lang=", other, NULL));
    if (q->session && q->session->flash_page && !strcmp(q->session->flash_page, q->path) &&
        r->method_number == M_GET)
        show_flash(q);
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

static int hexdigit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* application/x-www-form-urlencoded, decoded in place: '+' is a space, %XX an octet. NULL
 * for %00: no field of ours holds a NUL, and a C string would silently end there (an address
 * "admin@example.com%00.evil" would be read as admin@example.com). */
static char *form_decode(char *s)
{
    char *o = s;
    for (char *i = s; *i; i++) {
        if (*i == '+')
            *o++ = ' ';
        else if (*i == '%' && hexdigit(i[1]) >= 0 && hexdigit(i[2]) >= 0) {
            if (!(*o++ = (char)(hexdigit(i[1]) << 4 | hexdigit(i[2]))))
                return NULL;
            i += 2;
        }
        else
            *o++ = *i;
    }
    *o = 0;
    return s;
}

/* The body is read into one buffer of ours, and each bucket it came in is zeroed before it is
 * freed: a form may carry a private key (the key-compromise report, a key pasted for a CSR),
 * and ecert_wipe_form() then leaves no copy in this process's memory. */
int ecert_read_form(ecert_req_t *q)
{
    request_rec *r = q->r;
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    apr_bucket_brigade *bb;
    char *body, *save, *pair;
    apr_size_t len = 0;
    int seen_eos = 0, n = 0;

    q->form = apr_table_make(r->pool, 8);
    /* Not a form: no fields (the CSRF check then refuses it), as ap_parse_form_data does. */
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33))
        return ap_discard_request_body(r) == OK ? OK : HTTP_BAD_REQUEST;
    body = apr_palloc(r->pool, FORM_MAX + 1);
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (!seen_eos) {
        if (ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES, APR_BLOCK_READ, 8192) != APR_SUCCESS) {
            ec_wipe(body, len);
            return HTTP_BAD_REQUEST;
        }
        while (!APR_BRIGADE_EMPTY(bb)) {
            apr_bucket *b = APR_BRIGADE_FIRST(bb);
            const char *data;
            apr_size_t dlen;
            if (APR_BUCKET_IS_EOS(b))
                seen_eos = 1;
            else if (!APR_BUCKET_IS_METADATA(b) && apr_bucket_read(b, &data, &dlen, APR_BLOCK_READ) == APR_SUCCESS) {
                if (len + dlen > FORM_MAX) {
                    ec_wipe((char *)data, dlen);
                    apr_brigade_cleanup(bb);
                    ec_wipe(body, len);
                    return HTTP_REQUEST_ENTITY_TOO_LARGE;
                }
                memcpy(body + len, data, dlen);
                len += dlen;
                ec_wipe((char *)data, dlen);
            }
            apr_bucket_delete(b);
        }
    }
    body[len] = 0;
    q->form_body = body;
    q->form_len = len;
    for (pair = apr_strtok(body, "&", &save); pair; pair = apr_strtok(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        if (++n > 32)
            return HTTP_BAD_REQUEST;
        const char *name, *value = "";
        if (eq)
            *eq++ = 0;
        if (!(name = form_decode(pair)) || (eq && !(value = form_decode(eq)))) {
            ecert_wipe_form(q);
            return HTTP_BAD_REQUEST;
        }
        apr_table_setn(q->form, name, value);
    }
    return OK;
}

void ecert_wipe_form(ecert_req_t *q)
{
    ec_wipe(q->form_body, q->form_len);
    q->form = apr_table_make(q->r->pool, 1);
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
                               SESSION_COOKIE, value, q->base, ecert_is_https(r) ? "; Secure" : "",
                               max_age == 0 ? "; Max-Age=0" : ""));
}

const char *ecert_session_cookie(request_rec *r)
{
    const char *v = NULL;
    ap_cookie_read(r, SESSION_COOKIE, &v, 0);
    return v;
}

void ecert_keep_lang(request_rec *r, const char *lang)
{
    apr_table_add(r->err_headers_out, "Set-Cookie",
                  apr_psprintf(r->pool, "%s=%s; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax%s",
                               LANG_COOKIE, lang, ecert_is_https(r) ? "; Secure" : ""));
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
                    ecert_keep_lang(r, lang);
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

/* A query parameter of a GET form, decoded. */
const char *ecert_arg(request_rec *r, const char *name)
{
    size_t n = strlen(name);
    char *args, *save, *tok;

    if (!r->args)
        return NULL;
    args = apr_pstrdup(r->pool, r->args);
    for (tok = apr_strtok(args, "&", &save); tok; tok = apr_strtok(NULL, "&", &save))
        if (!strncmp(tok, name, n) && tok[n] == '=') {
            char *v = tok + n + 1;
            for (char *c = v; *c; c++)
                if (*c == '+')
                    *c = ' ';
            return ap_unescape_url(v) == OK ? v : NULL;
        }
    return NULL;
}
