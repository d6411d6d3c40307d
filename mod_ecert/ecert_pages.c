/* mod_ecert: the subscriber's pages (User Guide C.2 - C.7) and the public repository
 * search (CPS 2.1, 4.4.2). Each handler is thin: the work is in the core. */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "mod_ecert.h"
#include "ec_app.h"
#include "ec_csr.h"
#include "ec_dcv_gate.h"
#include "ec_dns.h"
#include "ec_flow.h"
#include "ec_issue.h"
#include "ec_keycomp.h"
#include "ec_login.h"
#include "ec_pkcs7.h"
#include "ec_revoke.h"
#include "ec_util.h"
#include "ec_x509.h"

APLOG_USE_MODULE(ecert);

#define REASON_MAX 500

/* ------------------------------------------------------------ presentation helpers */

const char *ecert_hk_date(apr_pool_t *p, time_t t)
{
    struct tm tm;
    time_t hk = t + 8 * 3600;            /* Hong Kong time, UTC+8 all year */
    gmtime_r(&hk, &tm);
    return apr_psprintf(p, "%02d/%02d/%04d", tm.tm_mday, tm.tm_mon + 1, tm.tm_year + 1900);
}

static int validity_days(time_t nb, time_t na)
{
    return (int)((na - nb + 1 + 43200) / 86400);
}

static const char *type_key(const char *cert_type)
{
    if (!strcmp(cert_type, "wildcard"))
        return "type.wildcard";
    if (!strcmp(cert_type, "multi-domain"))
        return "type.multi";
    if (!strcmp(cert_type, "ev"))
        return "type.ev";
    return "type.standard";
}

void ecert_extra_names(ecert_req_t *q, ec_tmpl_vars *v, const apr_array_header_t *names)
{
    apr_pool_t *p = q->r->pool;
    for (int i = 1; i < names->nelts; i++) {
        ec_tmpl_vars *it = ec_tmpl_add(v, "extra");
        const char *n = APR_ARRAY_IDX(names, i, const char *);
        ec_tmpl_set(it, "name", ec_dns_display(p, n));
        ec_tmpl_set(it, "alabel", n);
    }
    ec_tmpl_setf(v, "extra_count", "%d", names->nelts > 1 ? names->nelts - 1 : 0);
}

void ecert_app_vars(ecert_req_t *q, ec_app_t *a)
{
    apr_pool_t *p = q->r->pool;
    ec_tmpl_vars *v = q->vars;
    int zh = a->confirm_chinese || !(a->org_en && *a->org_en);

    ec_tmpl_set(v, "server_name", ec_dns_display(p, a->server_name));
    ec_tmpl_set(v, "server_name_alabel", a->server_name);
    ec_tmpl_flag(v, "server_name_idn", strstr(a->server_name, "xn--") != NULL);
    /* Every name the certificate will hold beyond the server name: a wildcard's base domain
     * too (App. B note 5), exactly as the profile puts them in the SAN. */
    ecert_extra_names(q, v, ec_profile_names(p, a));
    ec_tmpl_set(v, "org_en", a->org_en);
    ec_tmpl_set(v, "org_zh", a->org_zh);
    ec_tmpl_set(v, "branch_en", a->branch_en);
    ec_tmpl_set(v, "branch_zh", a->branch_zh);
    ec_tmpl_set(v, "org", ec_profile_org(a));
    /* The branch in the language of the organisation name (App. B note 2). */
    ec_tmpl_set(v, "branch", zh ? (a->branch_zh ? a->branch_zh : a->branch_en)
                                : (a->branch_en ? a->branch_en : a->branch_zh));
    ec_tmpl_set(v, "br_no", a->br_no);
    ec_tmpl_set(v, "ci_cr_no", a->ci_cr_no);
    ec_tmpl_set(v, "other_doc", a->other_doc);
    ec_tmpl_set(v, "subscriber_ref", a->subscriber_ref);
    ec_tmpl_setf(v, "period", "%d", a->period_years);
    ec_tmpl_set_raw(v, "cert_type", ec_tmpl_msg(q->tmpl, type_key(a->cert_type), v));
    ec_tmpl_flag(v, "has_zh", a->org_zh && *a->org_zh && a->org_en && *a->org_en);
    ec_tmpl_flag(v, "government", a->government);
    ec_tmpl_flag(v, "ev", !strcmp(a->cert_type, "ev"));
    ec_tmpl_set(v, "ev_street", a->ev_street);
    ec_tmpl_set(v, "ev_reg_no", a->ev_reg_no);
    ec_tmpl_set(v, "ev_category", a->ev_category);
    ec_tmpl_set(v, "ev_jurisdiction", a->ev_jurisdiction);
}

static const char *file_stem(apr_pool_t *p, const char *server_name)
{
    return !strncmp(server_name, "*.", 2) ? apr_pstrcat(p, "wildcard.", server_name + 2, NULL)
                                          : server_name;
}

static void cert_vars(ecert_req_t *q, ec_tmpl_vars *v, const ec_flow_cert_t *c)
{
    apr_pool_t *p = q->r->pool;
    ec_tmpl_set(v, "issuer_cn", c->issuer_cn);
    ec_tmpl_set(v, "serial", ec_flow_serial_spaced(p, c->serial_hex));
    ec_tmpl_set(v, "serial_hex", c->serial_hex);
    ec_tmpl_set(v, "issuer_id", c->issuer_id);
    ec_tmpl_set(v, "cert_server_name", ec_dns_display(p, c->server_name));
    ec_tmpl_set(v, "not_before", ecert_hk_date(p, c->not_before));
    ec_tmpl_set(v, "not_after", ecert_hk_date(p, c->not_after));
    ec_tmpl_setf(v, "days", "%d", validity_days(c->not_before, c->not_after));
    ec_tmpl_set(v, "file_stem", file_stem(p, c->server_name));
    /* What the certificate itself holds, the server name first (the CN), then the others. */
    {
        apr_array_header_t *names = ec_x509_dns_names(p, c->der, c->der_len), *ordered;
        ordered = apr_array_make(p, names->nelts + 1, sizeof(const char *));
        APR_ARRAY_PUSH(ordered, const char *) = c->server_name;
        for (int i = 0; i < names->nelts; i++)
            if (strcmp(APR_ARRAY_IDX(names, i, const char *), c->server_name))
                APR_ARRAY_PUSH(ordered, const char *) = APR_ARRAY_IDX(names, i, const char *);
        ec_tmpl_set(v, "extra", NULL);            /* the application's list, if set before */
        ecert_extra_names(q, v, ordered);
    }
}

static const ecert_issuer_t *issuer_of(ecert_req_t *q, const char *cn)
{
    for (int i = 0; i < q->conf->issuers->nelts; i++) {
        const ecert_issuer_t *is = &APR_ARRAY_IDX(q->conf->issuers, i, ecert_issuer_t);
        if (is->info.cn && cn && !strcmp(is->info.cn, cn))
            return is;
    }
    return NULL;
}

const char *ecert_step_of(ecert_req_t *q, ec_app_t *a)
{
    if (!strcmp(a->status, "approved"))
        return "/confirm";
    if (!strcmp(a->status, "confirmed"))
        return a->government || ecert_dcv_done(q, a) ? "/csr" : "/dcv";
    if (!strcmp(a->status, "issued"))
        return "/certificate";
    if (!strcmp(a->status, "accepted"))
        return "/download";
    return "/closed";
}

int ecert_message(ecert_req_t *q, const char *key, int status, int is_error)
{
    ec_tmpl_set_raw(q->vars, "message", ec_tmpl_msg(q->tmpl, key, q->vars));
    ec_tmpl_flag(q->vars, "is_error", is_error);
    return ecert_render(q, "message", status);
}

int ecert_forbidden_form(ecert_req_t *q)
{
    ec_app_t *a;
    apr_table_t *flash;

    /* A form without this session's token: refused, nothing changed. With a session of the
     * flow, it was a page of an earlier login (another tab or window logged in since): the
     * subscriber is told so where the application stands now. */
    if (!q->session || !q->session->app_id || strcmp(q->session->purpose, "flow") ||
        ec_flow_app_by_id(q->store, q->r->pool, q->session->app_id, &a) != APR_SUCCESS)
        return ecert_message(q, "error.csrf", HTTP_FORBIDDEN, 1);
    flash = apr_table_make(q->r->pool, 1);
    apr_table_set(flash, "notice", "error.form_stale");
    return ecert_flash_redirect(q, ecert_step_of(q, a), flash);
}

/* ------------------------------------------------------------ assets */

static int asset(ecert_req_t *q)
{
    request_rec *r = q->r;
    const char *name = q->path + strlen("/assets/"), *ext, *type;
    char *data;
    size_t len;

    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    for (const char *c = name; *c; c++)
        if (!(apr_isalnum(*c) || *c == '-' || *c == '_' || *c == '.'))
            return HTTP_NOT_FOUND;
    if (!*name || name[0] == '.' || !(ext = strrchr(name, '.')))
        return HTTP_NOT_FOUND;
    type = !strcmp(ext, ".css") ? "text/css; charset=utf-8" : !strcmp(ext, ".png") ? "image/png"
         : !strcmp(ext, ".svg") ? "image/svg+xml" : !strcmp(ext, ".ico") ? "image/x-icon" : NULL;
    if (!type || ec_read_file(r->pool, apr_pstrcat(r->pool, q->conf->templates, "/assets/", name, NULL),
                              1 << 20, &data, &len) != APR_SUCCESS)
        return HTTP_NOT_FOUND;
    ap_set_content_type(r, type);
    apr_table_setn(r->headers_out, "Cache-Control", "public, max-age=3600");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only)
        ap_rwrite(data, (int)len, r);
    return OK;
}

/* ------------------------------------------------------------ login (C.2) */

int ecert_check_login(ecert_req_t *q, ec_login_outcome_t *out)
{
    ecert_srv_conf *c = q->conf;
    ec_login_policy_t pol;

    pol.max_failures = c->login_max_failures;
    pol.rate_max = c->login_rate_max;
    pol.rate_window = c->login_rate_window;
    pol.dummy_hash = c->dummy_hash;
    if (ec_login(q->store, q->r->pool, &pol, ecert_field(q, "server_name"), ecert_field(q, "reference"),
                 ecert_field(q, "pin"), q->r->useragent_ip, out) != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    return OK;
}

/* A new session id at every login, whatever cookie came with it (no fixation). */
int ecert_start_session(ecert_req_t *q, ec_app_t *a, const char *purpose)
{
    if (q->session)
        ec_session_destroy(q->store, q->r->pool, q->session->cookie);
    ec_session_expire(q->store, q->r->pool, q->conf->session_idle);
    if (ec_session_create(q->store, q->r->pool, a->id, purpose, q->r->useragent_ip, q->lang, &q->session)
        != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    ecert_set_session_cookie(q, q->session->cookie, -1);
    return OK;
}

ec_notice_ctx_t ecert_notices(ecert_req_t *q)
{
    ec_notice_ctx_t n = { q->conf->mail, q->conf->templates };
    return n;
}

/* Where a login page is, and where its POST's answer sends the browser back to. */
static const char *login_path(const char *page)
{
    return !strcmp(page, "revoke_login") ? "/revoke" : "/login";
}

/* What the redirect to this page carried: the message, the fields to mark and refill. */
static void flash_vars(ecert_req_t *q)
{
    ecert_login_flash_t f;

    if (!ecert_login_flash_get(q, &f))
        return;
    ec_tmpl_setf(q->vars, "remaining", "%d", f.remaining);
    ec_tmpl_flag(q->vars, "bad_server_name", f.bad & EC_LOGIN_BAD_NAME);
    ec_tmpl_flag(q->vars, "bad_reference", f.bad & EC_LOGIN_BAD_REF);
    ec_tmpl_flag(q->vars, "bad_pin", f.bad & EC_LOGIN_BAD_PIN);
    ec_tmpl_set(q->vars, "form_server_name", f.server_name);
    ec_tmpl_set(q->vars, "form_reference", f.reference);
    ec_tmpl_set_raw(q->vars, f.is_error ? "error" : "info", ec_tmpl_msg(q->tmpl, f.key, q->vars));
}

int ecert_login_page(ecert_req_t *q, const char *page, const char *error_key, int status)
{
    int rc;
    if ((rc = ecert_anon_form(q)) != OK)
        return rc;
    if (error_key)
        ec_tmpl_set_raw(q->vars, "error", ec_tmpl_msg(q->tmpl, error_key, q->vars));
    else
        flash_vars(q);
    return ecert_render(q, page, status);
}

int ecert_to_login(ecert_req_t *q, const char *page, const char *key)
{
    ecert_login_flash_set(q, login_path(page), &(ecert_login_flash_t){ .key = key });
    return ecert_redirect(q, login_path(page));
}

int ecert_do_login(ecert_req_t *q, const char *page, const char *purpose, const char *next)
{
    ec_login_outcome_t o;
    ecert_login_flash_t f = { 0 };
    int rc;

    if ((rc = ecert_read_form(q)) != OK)
        return rc;
    if (!ecert_anon_csrf_ok(q)) {
        ec_tmpl_set(q->vars, "form_server_name", ecert_field(q, "server_name"));
        ec_tmpl_set(q->vars, "form_reference", ecert_field(q, "reference"));
        return ecert_login_page(q, page, "error.csrf", HTTP_FORBIDDEN);
    }
    if ((rc = ecert_check_login(q, &o)) != OK)
        return rc;
    if (o.result == EC_LOGIN_OK) {
        ecert_wipe_form(q);
        ecert_login_flash_clear(q, login_path(page));
        if ((rc = ecert_start_session(q, o.app, purpose)) != OK)
            return rc;
        return ecert_redirect(q, next ? next : ecert_step_of(q, o.app));
    }
    /* Post/redirect/get: reloading or going back to the answer posts nothing again. */
    f.key = o.result == EC_LOGIN_LOCKED ? "login.locked" : o.result == EC_LOGIN_RATE_LIMITED
          ? "error.rate_limited" : o.result == EC_LOGIN_MALFORMED ? "login.malformed" : "login.failed";
    f.remaining = o.remaining;
    f.bad = o.bad;
    f.server_name = ecert_field(q, "server_name");
    f.reference = ecert_field(q, "reference");
    ecert_login_flash_set(q, login_path(page), &f);
    ecert_wipe_form(q);
    return ecert_redirect(q, login_path(page));
}

/* ------------------------------------------------------------ confirm (C.3) */

static int confirm(ecert_req_t *q, ec_app_t *a)
{
    const char *action;
    int rc;

    if (q->r->method_number == M_GET) {
        ecert_app_vars(q, a);
        ec_tmpl_flag(q->vars, "confirmed", !strcmp(a->status, "confirmed"));
        return ecert_render(q, "confirm", HTTP_OK);
    }
    if ((rc = ecert_read_form(q)) != OK)
        return rc;
    if (!ecert_csrf_ok(q))
        return ecert_forbidden_form(q);
    action = ecert_field(q, "action");
    if (!action || (strcmp(action, "confirm") && strcmp(action, "confirm_zh")))
        return HTTP_BAD_REQUEST;
    rc = ec_flow_confirm(q->store, q->r->pool, a, !strcmp(action, "confirm_zh"),
                         ecert_actor(q, a->envelope_ref));
    if (rc != APR_SUCCESS && rc != APR_EINVAL)
        return ecert_unavailable(q, "error.unavailable");
    return ecert_redirect(q, ecert_step_of(q, a));
}

/* ------------------------------------------------------------ CSR (C.5) and issuance */

static ec_issue_ctx_t issue_ctx(ecert_req_t *q)
{
    ec_issue_ctx_t ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.p11 = q->conf->p11;
    ctx.profile = q->conf->profile;
    ctx.checks = ec_dcv_issue_checks(q->r->pool, q->conf->dcv_env);
    for (int i = 0; i < q->conf->issuers->nelts; i++) {
        const ecert_issuer_t *is = &APR_ARRAY_IDX(q->conf->issuers, i, ecert_issuer_t);
        if (!strcmp(is->role, "ssl"))
            ctx.ssl = &is->info;
        else
            ctx.ev = &is->info;
    }
    return ctx;
}

/* A private key pasted where the CSR goes: it is never shown again, and from now on it is a
 * compromised key (BR 4.9.1.1, 6.1.1.3): blocked, and every certificate with it revoked. */
static int pasted_private_key(ecert_req_t *q, ec_app_t *a, const char *pem)
{
    ec_notice_ctx_t n = ecert_notices(q);
    ec_kc_report_t rep;
    ec_kc_result_t res;
    uint8_t spki[32];
    const char *kind;
    ec_kc_err_t e = ec_keycomp_evidence(q->r->pool, pem, strlen(pem), q->conf->kc_proof, spki, &kind);

    apr_table_t *flash = apr_table_make(q->r->pool, 4);

    ecert_wipe_form(q);
    apr_table_set(flash, "error_code", "csr.private_key");
    if (e != EC_KC_OK) {
        apr_table_set(flash, "error", "csr.private_key_unusable");
        return ecert_flash_redirect(q, "/csr", flash);
    }
    memset(&rep, 0, sizeof(rep));
    rep.kind = "pasted-in-csr-form";
    rep.contact = a->email;
    rep.client_addr = q->r->useragent_ip;
    rep.lang = q->lang;
    rep.actor = ecert_actor(q, a->envelope_ref);
    if (ec_keycomp_act(q->store, q->r->pool, &n, spki, &rep, &res) != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, q->r, "ECE0131: application %s: a private key was pasted into "
                  "the CSR form; its key is blocked (report %s, %d certificate(s) revoked)", a->id,
                  res.report_no, res.revoked->nelts);
    apr_table_set(flash, "report_no", res.report_no);
    apr_table_set(flash, "revoked_count", apr_itoa(q->r->pool, res.revoked->nelts));
    apr_table_set(flash, "error", "csr.private_key");
    return ecert_flash_redirect(q, "/csr", flash);
}

static int csr_page(ecert_req_t *q, ec_app_t *a)
{
    request_rec *r = q->r;
    ec_issue_ctx_t ctx = issue_ctx(q);
    ec_issue_result_t res;
    apr_table_t *flash;
    const char *pem, *sizes = "";
    int rc;

    ecert_app_vars(q, a);
    if (ctx.profile->ct.logs)
        ec_tmpl_set(q->vars, "ct", "1");
    for (int i = 0; i < ctx.profile->key_sizes->nelts; i++)
        sizes = apr_psprintf(r->pool, "%s%s%d", sizes, i ? ", " : "", APR_ARRAY_IDX(ctx.profile->key_sizes, i, int));
    ec_tmpl_set(q->vars, "allowed", sizes);
    /* The Guide's Back: the step before, domain validation or the confirmed details. */
    ec_tmpl_set(q->vars, "back_url", a->government ? "/confirm" : "/dcv");
    if (r->method_number == M_GET)
        return ecert_render(q, "csr", HTTP_OK);
    if ((rc = ecert_read_form(q)) != OK)
        return rc;
    if (!ecert_csrf_ok(q))
        return ecert_forbidden_form(q);
    pem = ecert_field(q, "csr");
    if (!pem)
        pem = "";
    if (ec_keycomp_has_private_key(pem))
        return pasted_private_key(q, a, pem);
    ec_issue(&ctx, q->store, r->pool, a, pem, strlen(pem), ecert_actor(q, a->envelope_ref), &res);
    /* Whatever went wrong, the page is shown again by a GET with the message and the pasted
     * text (post/redirect/get: Back and reload never resubmit). */
    flash = apr_table_make(r->pool, 8);
    apr_table_set(flash, "csr_text", pem);
    switch (res.status) {
    case EC_ISSUE_OK:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "ECE0030: issued serial %s by %s for application %s",
                      res.serial_hex, res.issuer_id, a->id);
        ec_session_set_flash(q->store, r->pool, q->session, NULL, NULL);
        return ecert_redirect(q, "/certificate");
    case EC_ISSUE_CSR:
        apr_table_set(flash, "bits", apr_itoa(r->pool, res.bits));
        apr_table_set(flash, "csr_cn", res.cn ? res.cn : "");
        apr_table_set(flash, "error_code", ec_csr_err_key(res.csr_err));
        apr_table_set(flash, "error", ec_csr_err_key(res.csr_err));
        break;
    case EC_ISSUE_PRECHECK:
        apr_table_set(flash, "error_code", res.message);
        if (res.detail)
            apr_table_set(flash, "error_detail", res.detail);
        apr_table_set(flash, "error", res.message);
        break;
    case EC_ISSUE_STATE:
        return ecert_redirect(q, ecert_step_of(q, a));
    case EC_ISSUE_LINT:
        apr_table_set(flash, "error", "error.lint");
        break;
    case EC_ISSUE_CT:
        apr_table_set(flash, "error", "error.ct_failed");
        break;
    default:
        apr_table_set(flash, "error", "error.issue_failed");
        break;
    }
    /* Not at the CSR step (domain validation not complete): the message goes with the
     * subscriber to the step the application is at. */
    if (strcmp(ecert_step_of(q, a), "/csr")) {
        apr_table_set(flash, "notice", apr_table_get(flash, "error"));
        apr_table_unset(flash, "error");
        return ecert_flash_redirect(q, ecert_step_of(q, a), flash);
    }
    return ecert_flash_redirect(q, "/csr", flash);
}

/* ------------------------------------------------------------ accept / reject (C.6) */

static int certificate_page(ecert_req_t *q, ec_app_t *a)
{
    ec_flow_cert_t c;
    if (ec_flow_certificate(q->store, q->r->pool, a->id, &c) != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    ecert_app_vars(q, a);
    cert_vars(q, q->vars, &c);
    return ecert_render(q, "certificate", HTTP_OK);
}

/* Accept or Reject of a certificate that is no longer waiting (a second tab, a page kept
 * open): nothing changes, and the page where the application now stands says what did
 * happen, instead of silently showing it. */
static int already_decided(ecert_req_t *q, ec_app_t *a, int accept)
{
    apr_table_t *flash = apr_table_make(q->r->pool, 1);
    const char *key = NULL;

    if (!strcmp(a->status, "accepted"))
        key = accept ? "info.already_accepted" : "info.reject_after_accept";
    else if (!strcmp(a->status, "rejected"))
        key = accept ? "info.accept_after_reject" : "info.already_rejected";
    if (!key)
        return ecert_redirect(q, ecert_step_of(q, a));
    apr_table_set(flash, "notice", key);
    return ecert_flash_redirect(q, ecert_step_of(q, a), flash);
}

static int accept_or_reject(ecert_req_t *q, ec_app_t *a, int accept)
{
    apr_table_t *flash = apr_table_make(q->r->pool, 2);
    apr_status_t rv;
    int rc, superseded = 0;

    if ((rc = ecert_read_form(q)) != OK)
        return rc;
    if (!ecert_csrf_ok(q))
        return ecert_forbidden_form(q);
    if (strcmp(a->status, "issued"))
        return already_decided(q, a, accept);
    if (accept)
        rv = ec_flow_accept(q->store, q->r->pool, a, ecert_actor(q, a->envelope_ref));
    else {
        const char *why = ecert_field(q, "reason"), *code = ecert_field(q, "code");
        char *trimmed = why ? apr_pstrdup(q->r->pool, why) : NULL;
        if (trimmed)
            apr_collapse_spaces(trimmed, trimmed);
        if (!trimmed || !*trimmed || strlen(why) > REASON_MAX) {
            apr_table_set(flash, "form_reason", why ? why : "");
            apr_table_set(flash, "form_code", code && !strcmp(code, "superseded") ? "superseded" : "");
            apr_table_set(flash, "error", "error.reject_reason");
            return ecert_flash_redirect(q, "/certificate", flash);
        }
        for (char *c = (char *)why; *c; c++)
            if ((unsigned char)*c < 0x20 && *c != '\n')
                *c = ' ';
        superseded = code && !strcmp(code, "superseded");
        rv = ec_flow_reject(q->store, q->r->pool, a, superseded ? 4 : EC_REASON_UNSPECIFIED, why,
                            ecert_actor(q, a->envelope_ref));
    }
    if (rv == APR_EINVAL) {                /* decided meanwhile, in another request */
        if (ec_flow_app_by_id(q->store, q->r->pool, a->id, &a) != APR_SUCCESS)
            return ecert_unavailable(q, "error.unavailable");
        return already_decided(q, a, accept);
    }
    if (rv != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    if (accept)
        return ecert_redirect(q, ecert_step_of(q, a));
    apr_table_set(flash, "notice", superseded ? "info.rejected_superseded" : "info.rejected_now");
    return ecert_flash_redirect(q, "/closed", flash);
}

/* ------------------------------------------------------------ download (C.7) */

/* The chain a server sends after the certificate: the Sub CA, then the cross certificate when
 * there is one. Never the root: clients have it, and sending it only costs bytes. */
static char *chain_pem(ecert_req_t *q, const ecert_issuer_t *is)
{
    apr_pool_t *p = q->r->pool;
    char *out = ec_pem(p, "CERTIFICATE", is->cert_der, is->cert_len);
    if (q->conf->cross_der)
        out = apr_pstrcat(p, out, ec_pem(p, "CERTIFICATE", q->conf->cross_der, q->conf->cross_len), NULL);
    return out;
}

static int send_pem(ecert_req_t *q, const char *filename, const char *pem)
{
    return ecert_send(q, "application/x-pem-file", filename, pem, strlen(pem));
}

/* The files of download.html; the certificate's own two are also the repository's. */
static int send_cert_file(ecert_req_t *q, const ec_flow_cert_t *c, const char *file)
{
    apr_pool_t *p = q->r->pool;
    const ecert_issuer_t *is = issuer_of(q, c->issuer_cn);
    const char *stem = file_stem(p, c->server_name);

    if (!c->der)
        return HTTP_NOT_FOUND;
    if (!strcmp(file, "cert.pem"))
        return send_pem(q, apr_pstrcat(p, stem, ".pem.crt", NULL), ec_pem(p, "CERTIFICATE", c->der, c->der_len));
    if (!strcmp(file, "cert.crt"))
        return ecert_send(q, "application/pkix-cert", apr_pstrcat(p, stem, ".crt", NULL), c->der,
                          c->der_len);
    if (!is)
        return HTTP_NOT_FOUND;
    if (!strcmp(file, "chain.pem"))
        return send_pem(q, apr_pstrcat(p, stem, "-chain.pem", NULL), chain_pem(q, is));
    if (!strcmp(file, "fullchain.pem"))
        return send_pem(q, apr_pstrcat(p, stem, "-fullchain.pem", NULL),
                        apr_pstrcat(p, ec_pem(p, "CERTIFICATE", c->der, c->der_len), chain_pem(q, is), NULL));
    if (!strcmp(file, "cert.p7b") || !strcmp(file, "cert.pem.p7b")) {
        const uint8_t *certs[3] = { c->der, is->cert_der, q->conf->cross_der };
        size_t lens[3] = { c->der_len, is->cert_len, q->conf->cross_len }, len;
        const uint8_t *p7 = ec_pkcs7_certs(p, certs, lens, q->conf->cross_der ? 3 : 2, &len);
        if (!p7) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, q->r, "ECE0220: the PKCS#7 bundle of serial %s could not "
                          "be built", c->serial_hex);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (!strcmp(file, "cert.pem.p7b"))     /* RFC 7468 section 8: "PKCS7" */
            return send_pem(q, apr_pstrcat(p, stem, ".pem.p7b", NULL), ec_pem(p, "PKCS7", p7, len));
        return ecert_send(q, "application/pkcs7-mime", apr_pstrcat(p, stem, ".p7b", NULL), p7, len);
    }
    return HTTP_NOT_FOUND;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void download_vars(ecert_req_t *q, const ec_flow_cert_t *c)
{
    const ecert_issuer_t *is = issuer_of(q, c->issuer_cn);
    ec_cert_info_t cross;

    cert_vars(q, q->vars, c);
    ec_tmpl_set(q->vars, "subca_file", is ? is->info.file : NULL);
    ec_tmpl_set(q->vars, "subca_cn", c->issuer_cn);
    if (q->conf->cross_der) {
        ec_tmpl_set(q->vars, "cross_file", base_name(q->conf->cross_file));
        if (ec_cert_info(q->r->pool, q->conf->cross_der, q->conf->cross_len, &cross) == APR_SUCCESS)
            ec_tmpl_set(q->vars, "cross_issuer_cn", cross.issuer_cn);
    }
}

static int download(ecert_req_t *q, ec_app_t *a)
{
    ec_flow_cert_t c;
    if (ec_flow_certificate(q->store, q->r->pool, a->id, &c) != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    if (!strncmp(q->path, "/download/", 10))
        return send_cert_file(q, &c, q->path + 10);
    ecert_app_vars(q, a);
    download_vars(q, &c);
    return ecert_render(q, "download", HTTP_OK);
}

/* ------------------------------------------------------------ public search (CPS 2.1, 4.4.2) */

/* Valid, revoked (when, why) or expired, as of now. */
static void status_vars(ecert_req_t *q, ec_tmpl_vars *v, const ec_flow_cert_t *c)
{
    apr_pool_t *p = q->r->pool;
    const char *state = !strcmp(c->status, "revoked") ? "revoked" : c->not_after < time(NULL) ? "expired" : "valid";

    ec_tmpl_set(v, "state", state);
    ec_tmpl_flag(v, "published", c->published);
    if (c->revoked_at)
        ec_tmpl_set(v, "revoked_at", ecert_hk_date(p, c->revoked_at));
    ec_tmpl_set_raw(v, "reason_label",
                    ec_tmpl_msg(q->tmpl, apr_pstrcat(p, "reason.", ecert_reason_key(c->reason), NULL), v));
    ec_tmpl_set_raw(v, "status_text", ec_tmpl_msg(q->tmpl, apr_pstrcat(p, "search.status_", state, NULL), v));
}

/* /search/<issuer id>/<serial>.pem | .crt: a published certificate. */
static int search_file(ecert_req_t *q)
{
    request_rec *r = q->r;
    char *rest = apr_pstrdup(r->pool, q->path + 8), *slash = strchr(rest, '/'), *dot;
    const char *serial;
    ec_flow_cert_t c;

    if (!slash || !(dot = strrchr(slash, '.')))
        return HTTP_NOT_FOUND;
    *slash = 0;
    *dot = 0;
    for (const char *d = rest; *d; d++)
        if (!apr_isdigit(*d))
            return HTTP_NOT_FOUND;
    if (!*rest || !(serial = ec_flow_serial_norm(r->pool, slash + 1)) ||
        ec_flow_public_cert(q->store, r->pool, rest, serial, &c) != APR_SUCCESS)
        return HTTP_NOT_FOUND;
    return send_cert_file(q, &c, !strcmp(dot + 1, "pem") ? "cert.pem" : !strcmp(dot + 1, "crt") ? "cert.crt"
                                                                                                : "none");
}

static int search(ecert_req_t *q)
{
    request_rec *r = q->r;
    apr_array_header_t *found;
    const char *query = NULL, *name = NULL, *serial = NULL, *err;

    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    if (!strncmp(q->path, "/search/", 8))
        return search_file(q);
    /* q=... of a GET form (application/x-www-form-urlencoded). */
    for (char *arg = r->args ? apr_pstrdup(r->pool, r->args) : NULL, *save = NULL,
              *tok = arg ? apr_strtok(arg, "&", &save) : NULL; tok; tok = apr_strtok(NULL, "&", &save))
        if (!strncmp(tok, "q=", 2)) {
            if (ap_unescape_urlencoded(tok + 2) == OK)
                query = tok + 2;
        }
    if (query) {
        char *t = apr_pstrdup(r->pool, query);
        apr_collapse_spaces(t, t);
        ec_tmpl_set(q->vars, "query", query);
        ec_tmpl_flag(q->vars, "searched", 1);
        /* A serial is long hex (as printed with spaces or colons, or "0x..."); anything else is
         * a server name, or a URL of one. */
        if (strlen(t) >= 16 && (serial = ec_flow_serial_norm(r->pool, t)) != NULL)
            name = NULL;
        else if (!(name = ec_dns_normalize(r->pool, ec_flow_query_host(r->pool, t), 1, &err))) {
            ec_tmpl_set_raw(q->vars, "error", ec_tmpl_msg(q->tmpl, "search.bad_query", q->vars));
            return ecert_render(q, "search", HTTP_BAD_REQUEST);
        }
        if (ec_flow_search(q->store, r->pool, name, serial, &found) != APR_SUCCESS)
            return ecert_unavailable(q, "error.unavailable");
        for (int i = 0; i < found->nelts; i++) {
            const ec_flow_cert_t *c = &APR_ARRAY_IDX(found, i, ec_flow_cert_t);
            ec_tmpl_vars *v = ec_tmpl_add(q->vars, "results");
            cert_vars(q, v, c);
            status_vars(q, v, c);
        }
        ec_tmpl_setf(q->vars, "result_count", "%d", found->nelts);
        ec_tmpl_flag(q->vars, "count_zero", found->nelts == 0);
        ec_tmpl_flag(q->vars, "count_one", found->nelts == 1);
        ec_tmpl_flag(q->vars, "count_many", found->nelts > 1);
    }
    return ecert_render(q, "search", HTTP_OK);
}

/* ------------------------------------------------------------ dispatch */

int ecert_pages(ecert_req_t *q)
{
    request_rec *r = q->r;
    const char *path = q->path;
    int get = r->method_number == M_GET, post = r->method_number == M_POST, rc;
    ec_app_t *a;

    if (!strncmp(path, "/assets/", 8))
        return asset(q);
    if (!get && !post)
        return HTTP_METHOD_NOT_ALLOWED;
    if ((rc = ecert_store(q)) != OK)
        return ecert_unavailable(q, "error.unavailable");
    if (!strcmp(path, "/search") || !strncmp(path, "/search/", 8))
        return search(q);
    if (ec_session_load(q->store, r->pool, ecert_session_cookie(r), q->conf->session_idle, &q->session) != APR_SUCCESS)
        q->session = NULL;
    if (q->session && r->args && strstr(r->args, "lang=") && strcmp(q->session->lang, q->lang))
        ec_session_set_lang(q->store, r->pool, q->session, q->lang);
    ecert_flash_forget_elsewhere(q);

    if (!strcmp(path, "/revoke") || !strncmp(path, "/revoke/", 8))
        return ecert_revoke_pages(q);
    if (!strcmp(path, "/keycompromise") || !strncmp(path, "/keycompromise/", 15) ||
        !strcmp(path, "/report") || !strncmp(path, "/report/", 8))
        return ecert_report_pages(q);
    if (!strcmp(path, "/") && get)
        return ecert_start_page(q);
    if (!strcmp(path, "/") || !strcmp(path, "/login")) {
        if (post)
            return ecert_do_login(q, "login", "flow", NULL);
        if (q->session && q->session->app_id && !strcmp(q->session->purpose, "flow") &&
            ec_flow_app_by_id(q->store, r->pool, q->session->app_id, &a) == APR_SUCCESS)
            return ecert_redirect(q, ecert_step_of(q, a));
        return ecert_login_page(q, "login", NULL, HTTP_OK);
    }
    if (!strcmp(path, "/logout")) {
        if (!post)
            return HTTP_METHOD_NOT_ALLOWED;
        if ((rc = ecert_read_form(q)) != OK)
            return rc;
        if (!ecert_csrf_ok(q))
            return ecert_forbidden_form(q);
        /* The session's language (the last one chosen in it) outlives it: the page after the
         * logout is not in the browser's default (Accept-Language, else English). */
        if (!strcmp(q->session->lang, "en") || !strcmp(q->session->lang, "zh"))
            ecert_keep_lang(r, q->session->lang);
        ec_session_destroy(q->store, r->pool, q->session->cookie);
        ecert_set_session_cookie(q, "", 0);
        return ecert_to_login(q, "login", "login.logged_out");
    }

    /* Everything below belongs to the application the session logged in to, for the flow;
     * without one, the login page says so, and the login goes on where the application stands. */
    if (!q->session || !q->session->app_id || strcmp(q->session->purpose, "flow"))
        return ecert_to_login(q, "login", "login.session_needed");
    if (ec_flow_app_by_id(q->store, r->pool, q->session->app_id, &a) != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");

    if (!strcmp(path, "/confirm") && !strcmp(ecert_step_of(q, a), "/confirm"))
        return confirm(q, a);
    if (!strcmp(path, "/confirm") && !strcmp(a->status, "confirmed"))
        return confirm(q, a);               /* the details again (the CSR page's Back) */
    if ((!strcmp(path, "/dcv") || !strncmp(path, "/dcv/", 5)) && !strcmp(a->status, "confirmed") &&
        !a->government)
        return ecert_dcv_pages(q, a);
    if (!strcmp(path, "/csr") && !strcmp(ecert_step_of(q, a), "/csr"))
        return csr_page(q, a);
    if (!strcmp(path, "/csr") && post && !strcmp(a->status, "confirmed"))
        return csr_page(q, a);                 /* the pipeline says why not (DCV) */
    if (!strcmp(path, "/certificate") && get && !strcmp(a->status, "issued"))
        return certificate_page(q, a);
    if (!strcmp(path, "/accept") && post)
        return accept_or_reject(q, a, 1);
    if (!strcmp(path, "/reject") && post)
        return accept_or_reject(q, a, 0);
    if ((!strcmp(path, "/download") || !strncmp(path, "/download/", 10)) && get &&
        !strcmp(a->status, "accepted"))
        return download(q, a);
    if (!strcmp(path, "/closed") && get && !strcmp(ecert_step_of(q, a), "/closed")) {
        ecert_app_vars(q, a);
        if (!strcmp(a->status, "rejected"))
            ec_tmpl_flag(q->vars, "rejected", 1);
        return ecert_message(q, !strcmp(a->status, "rejected") ? "info.rejected" : "info.closed", HTTP_OK, 0);
    }
    if (post) {
        if ((rc = ecert_read_form(q)) != OK)
            return rc;
        if (!ecert_csrf_ok(q))
            return ecert_forbidden_form(q);
    }
    /* Any other step: back to where this application stands. */
    return ecert_redirect(q, ecert_step_of(q, a));
}
