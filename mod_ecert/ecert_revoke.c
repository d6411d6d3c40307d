/* mod_ecert: the subscriber's revocation pages (R-9; CPS 3.4, 4.9.3). A login with the PIN
 * envelope (the same checks, lockout and rate limit as the flow's) opens a session that serves
 * only these pages:
 *   GET  /revoke            the login form            POST /revoke          log in
 *   GET  /revoke/select     the certificates and the reasons (a GET form to the next step)
 *   GET  /revoke/confirm    what is about to happen, permanently; POST revokes and redirects
 *   GET  /revoke/done       the outcome
 * The work is ec_subrevoke's. */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "mod_ecert.h"
#include "ec_dns.h"
#include "ec_flow.h"
#include "ec_login.h"
#include "ec_revoke.h"
#include "ec_subrevoke.h"

APLOG_USE_MODULE(ecert);

const char *ecert_reason_key(int reason)
{
    switch (reason) {
    case 1: return "key_compromise";
    case 3: return "affiliation_changed";
    case 4: return "superseded";
    case 5: return "cessation";
    case 9: return "privilege_withdrawn";
    default: return "unspecified";
    }
}

/* "issuer:serial" of the select form. */
static int cert_arg(request_rec *r, const char **issuer_id, const char **serial_hex)
{
    const char *v = ecert_arg(r, "cert"), *colon;

    if (!v || !(colon = strchr(v, ':')) || colon == v || !(*serial_hex = ec_flow_serial_norm(r->pool, colon + 1)))
        return 0;
    *issuer_id = apr_pstrndup(r->pool, v, (apr_size_t)(colon - v));
    for (const char *d = *issuer_id; *d; d++)
        if (!apr_isdigit(*d))
            return 0;
    return 1;
}

static int reason_arg(request_rec *r, int *reason)
{
    const char *v = ecert_arg(r, "reason");
    *reason = v ? ec_reason_parse(v) : EC_REASON_UNSPECIFIED;
    return ec_subrevoke_reason_ok(*reason);
}

static void reason_vars(ecert_req_t *q, ec_tmpl_vars *v, int reason)
{
    ec_tmpl_set(v, "reason_code", ec_reason_name(reason));
    ec_tmpl_set_raw(v, "reason_label",
                    ec_tmpl_msg(q->tmpl, apr_pstrcat(q->r->pool, "reason.", ecert_reason_key(reason), NULL), v));
    ec_tmpl_set_raw(v, "reason_help",
                    ec_tmpl_msg(q->tmpl, apr_pstrcat(q->r->pool, "reason.", ecert_reason_key(reason), "_help", NULL), v));
}

static void cert_row(ecert_req_t *q, ec_tmpl_vars *v, const ec_subcert_t *c)
{
    apr_pool_t *p = q->r->pool;
    int revoked = !strcmp(c->status, "revoked");

    ec_tmpl_set(v, "cert_value", apr_pstrcat(p, c->issuer_id, ":", c->serial_hex, NULL));
    ec_tmpl_set(v, "cert_server_name", ec_dns_display(p, c->server_name));
    ec_tmpl_set(v, "serial", ec_flow_serial_spaced(p, c->serial_hex));
    ec_tmpl_set(v, "issuer_cn", c->issuer_cn);
    ec_tmpl_set(v, "not_after", ecert_hk_date(p, c->not_after));
    ec_tmpl_flag(v, "revoked", revoked);
    ec_tmpl_flag(v, "expired", c->expired);
    /* A revoked certificate can still be reported as compromised (BR 7.2.2). */
    ec_tmpl_flag(v, "selectable", !c->expired && (!revoked || c->reason != 1));
    ec_tmpl_flag(v, "kc_only", revoked && c->reason != 1);
    if (revoked) {
        ec_tmpl_set(v, "revoked_at", ecert_hk_date(p, c->revoked_at));
        reason_vars(q, v, c->reason);
    }
    ec_tmpl_set_raw(v, "status_label", ec_tmpl_msg(q->tmpl, c->expired ? "revoke.status_expired"
                                                   : revoked ? "revoke.status_revoked" : "revoke.status_valid", v));
}

static int select_page(ecert_req_t *q, ec_app_t *a)
{
    apr_array_header_t *certs;
    int any = 0;

    if (ec_subrevoke_list(q->store, q->r->pool, a->id, &certs) != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    for (int i = 0; i < certs->nelts; i++) {
        ec_tmpl_vars *v = ec_tmpl_add(q->vars, "certs");
        ec_subcert_t *c = &APR_ARRAY_IDX(certs, i, ec_subcert_t);
        cert_row(q, v, c);
        /* The first one that can be revoked is preselected. */
        if (!c->expired && strcmp(c->status, "revoked") && !any++)
            ec_tmpl_flag(v, "checked", 1);
    }
    for (int i = 0; i < ec_subrevoke_nreasons; i++) {
        ec_tmpl_vars *v = ec_tmpl_add(q->vars, "reasons");
        reason_vars(q, v, ec_subrevoke_reasons[i]);
        ec_tmpl_flag(v, "default", ec_subrevoke_reasons[i] == EC_REASON_UNSPECIFIED);
    }
    ec_tmpl_flag(q->vars, "any_selectable", certs->nelts > 0);
    ec_tmpl_set(q->vars, "server_name", ec_dns_display(q->r->pool, a->server_name));
    return ecert_render(q, "revoke_select", HTTP_OK);
}

static int find_cert(ecert_req_t *q, ec_app_t *a, const char *issuer_id, const char *serial_hex, ec_subcert_t *out)
{
    apr_array_header_t *certs;

    if (ec_subrevoke_list(q->store, q->r->pool, a->id, &certs) != APR_SUCCESS)
        return HTTP_SERVICE_UNAVAILABLE;
    for (int i = 0; i < certs->nelts; i++) {
        ec_subcert_t *c = &APR_ARRAY_IDX(certs, i, ec_subcert_t);
        if (!strcmp(c->issuer_id, issuer_id) && !strcmp(c->serial_hex, serial_hex)) {
            *out = *c;
            return OK;
        }
    }
    return HTTP_NOT_FOUND;
}

static int confirm_page(ecert_req_t *q, ec_app_t *a)
{
    const char *issuer_id, *serial_hex;
    ec_subcert_t c;
    int reason, rc;

    if (!cert_arg(q->r, &issuer_id, &serial_hex) || (rc = find_cert(q, a, issuer_id, serial_hex, &c)) == HTTP_NOT_FOUND)
        return ecert_message(q, "revoke.no_such_certificate", HTTP_BAD_REQUEST, 1);
    if (rc != OK)
        return ecert_unavailable(q, "error.unavailable");
    if (!reason_arg(q->r, &reason))
        return ecert_message(q, "revoke.bad_reason", HTTP_BAD_REQUEST, 1);
    if (c.expired || (!strcmp(c.status, "revoked") && (reason != 1 || c.reason == 1)))
        return ecert_message(q, "revoke.already", HTTP_CONFLICT, 1);
    cert_row(q, q->vars, &c);
    reason_vars(q, q->vars, reason);
    ec_tmpl_set(q->vars, "reason_value", ec_reason_name(reason));
    ec_tmpl_flag(q->vars, "key_compromise", reason == 1);
    return ecert_render(q, "revoke_confirm", HTTP_OK);
}

/* A revocation that did not happen: the list again, with why (post/redirect/get). */
static int not_revoked(ecert_req_t *q, const char *key)
{
    apr_table_t *flash = apr_table_make(q->r->pool, 1);
    apr_table_set(flash, "error", key);
    return ecert_flash_redirect(q, "/revoke/select", flash);
}

static int do_revoke(ecert_req_t *q, ec_app_t *a)
{
    const char *v, *colon, *issuer_id, *serial_hex;
    ec_notice_ctx_t n = ecert_notices(q);
    ec_subcert_t done;
    int reason, rc;
    apr_status_t rv;

    if ((rc = ecert_read_form(q)) != OK)
        return rc;
    if (!ecert_csrf_ok(q))
        return not_revoked(q, "error.form_stale_revoke");
    v = ecert_field(q, "cert");
    reason = ecert_field(q, "reason") ? ec_reason_parse(ecert_field(q, "reason")) : EC_REASON_UNSPECIFIED;
    if (!v || !(colon = strchr(v, ':')) || !(serial_hex = ec_flow_serial_norm(q->r->pool, colon + 1)))
        return not_revoked(q, "revoke.no_such_certificate");
    issuer_id = apr_pstrndup(q->r->pool, v, (apr_size_t)(colon - v));
    rv = ec_subrevoke(q->store, q->r->pool, &n, a, issuer_id, serial_hex, reason,
                      ecert_actor(q, a->envelope_ref), &done);
    if (rv == APR_ENOENT)
        return not_revoked(q, "revoke.no_such_certificate");
    if (rv == APR_EINVAL)
        return not_revoked(q, "revoke.bad_reason");
    if (rv == APR_EEXIST)
        return not_revoked(q, "revoke.already");
    if (rv != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, q->r, "ECE0130: the subscriber of application %s revoked issuer %s "
                  "serial %s (%s)", a->id, issuer_id, serial_hex, ec_reason_name(reason));
    return ecert_redirect(q, apr_psprintf(q->r->pool, "/revoke/done?cert=%s:%s", issuer_id, serial_hex));
}

static int done_page(ecert_req_t *q, ec_app_t *a)
{
    const char *issuer_id, *serial_hex;
    ec_subcert_t c;
    int rc;

    if (!cert_arg(q->r, &issuer_id, &serial_hex) || (rc = find_cert(q, a, issuer_id, serial_hex, &c)) == HTTP_NOT_FOUND)
        return ecert_redirect(q, "/revoke/select");
    if (rc != OK)
        return ecert_unavailable(q, "error.unavailable");
    cert_row(q, q->vars, &c);
    return ecert_render(q, "revoke_done", HTTP_OK);
}

int ecert_revoke_pages(ecert_req_t *q)
{
    request_rec *r = q->r;
    int get = r->method_number == M_GET, post = r->method_number == M_POST;
    ec_app_t *a;

    if (!strcmp(q->path, "/revoke")) {
        if (post)
            return ecert_do_login(q, "revoke_login", "revoke", "/revoke/select");
        if (q->session && q->session->app_id && !strcmp(q->session->purpose, "revoke"))
            return ecert_redirect(q, "/revoke/select");
        return ecert_login_page(q, "revoke_login", NULL, HTTP_OK);
    }
    if (!q->session || !q->session->app_id || strcmp(q->session->purpose, "revoke"))
        return ecert_to_login(q, "revoke_login", "login.session_needed");
    if (ec_flow_app_by_id(q->store, r->pool, q->session->app_id, &a) != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    ec_tmpl_flag(q->vars, "logged_in", 1);
    if (!strcmp(q->path, "/revoke/select") && get)
        return select_page(q, a);
    if (!strcmp(q->path, "/revoke/confirm") && get)
        return confirm_page(q, a);
    if (!strcmp(q->path, "/revoke/confirm") && post)
        return do_revoke(q, a);
    if (!strcmp(q->path, "/revoke/done") && get)
        return done_page(q, a);
    return ecert_redirect(q, "/revoke/select");
}
