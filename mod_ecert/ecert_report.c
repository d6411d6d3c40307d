/* mod_ecert: the public report pages, for anyone, no login:
 *   /keycompromise   evidence of a compromised key (R-10; CPS 4.9.12; BR 4.9.12): a proof CSR or
 *                    the private key; every certificate with the key is revoked and the key blocked
 *   /report          a certificate problem report (R-11; CPS 4.9.2; BR 4.9.5)
 * Each POST is rate-limited per client address and answered by a redirect to its outcome page
 * (/keycompromise/done, /report/done). What a reporter pasted is never shown again; a private
 * key's form is wiped once its public key is known. */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "mod_ecert.h"
#include "ec_dns.h"
#include "ec_flow.h"
#include "ec_keycomp.h"
#include "ec_report.h"

APLOG_USE_MODULE(ecert);

static const char *query_arg(request_rec *r, const char *name)
{
    size_t n = strlen(name);
    char *args, *save, *tok;

    if (!r->args)
        return NULL;
    args = apr_pstrdup(r->pool, r->args);
    for (tok = apr_strtok(args, "&", &save); tok; tok = apr_strtok(NULL, "&", &save))
        if (!strncmp(tok, name, n) && tok[n] == '=')
            return ap_unescape_url(tok + n + 1) == OK ? tok + n + 1 : NULL;
    return NULL;
}

/* KCR-12345678 / CPR-12345678 */
static int report_no_ok(const char *v, const char *prefix)
{
    if (!v || strlen(v) != 12 || strncmp(v, prefix, 4))
        return 0;
    for (int i = 4; i < 12; i++)
        if (!apr_isdigit(v[i]))
            return 0;
    return 1;
}

static int form_page(ecert_req_t *q, const char *page, const char *error_key, int status)
{
    int rc;
    if ((rc = ecert_anon_form(q)) != OK)
        return rc;
    ec_tmpl_set(q->vars, "proof", q->conf->kc_proof ? q->conf->kc_proof : EC_KEYCOMP_PROOF_ZH);
    ec_tmpl_set(q->vars, "proof_en", EC_KEYCOMP_PROOF_EN);
    ec_tmpl_setf(q->vars, "text_max", "%d", EC_REPORT_TEXT_MAX);
    if (error_key) {
        ec_tmpl_set(q->vars, "error_code", error_key);
        ec_tmpl_set_raw(q->vars, "error", ec_tmpl_msg(q->tmpl, error_key, q->vars));
    }
    return ecert_render(q, page, status);
}

static int rate_ok(ecert_req_t *q, const char *form, int *allowed)
{
    ecert_srv_conf *c = q->conf;
    if (ec_form_rate(q->store, q->r->pool, form, q->r->useragent_ip, c->report_rate_max,
                     c->report_rate_window, allowed) != APR_SUCCESS)
        return 0;
    return 1;
}

/* YYYY-MM-DD, UTC midnight; not in the future. */
static int compromise_date(const char *v, time_t *out)
{
    struct tm tm;
    char *end;

    *out = 0;
    if (!v || !*v)
        return 1;
    memset(&tm, 0, sizeof(tm));
    if (!(end = strptime(v, "%Y-%m-%d", &tm)) || *end || (*out = timegm(&tm)) == (time_t)-1 ||
        *out < 946684800 || *out > time(NULL))
        return 0;
    return 1;
}

static int keycomp_post(ecert_req_t *q)
{
    ec_notice_ctx_t n = ecert_notices(q);
    ec_kc_report_t rep;
    ec_kc_result_t res;
    uint8_t spki[32];
    const char *evidence, *contact, *kind = NULL;
    ec_kc_err_t e;
    time_t when;
    int rc, allowed;

    if ((rc = ecert_read_form(q)) != OK)
        return rc;
    if (!ecert_anon_csrf_ok(q)) {
        ecert_wipe_form(q);
        return form_page(q, "keycomp", "error.csrf", HTTP_FORBIDDEN);
    }
    if (!rate_ok(q, "keycomp", &allowed)) {
        ecert_wipe_form(q);
        return ecert_unavailable(q, "error.unavailable");
    }
    if (!allowed) {
        ecert_wipe_form(q);
        return form_page(q, "keycomp", "report.rate_limited", HTTP_TOO_MANY_REQUESTS);
    }
    evidence = ecert_field(q, "evidence");
    contact = ecert_field(q, "contact");
    contact = contact && *contact ? apr_pstrdup(q->r->pool, contact) : NULL;
    if (contact)
        apr_collapse_spaces((char *)contact, contact);
    if (!compromise_date(ecert_field(q, "compromised_at"), &when)) {
        ecert_wipe_form(q);
        return form_page(q, "keycomp", "keycomp.bad_date", HTTP_BAD_REQUEST);
    }
    if (contact && !ec_mail_address_ok(contact)) {
        ecert_wipe_form(q);
        return form_page(q, "keycomp", "report.bad_contact", HTTP_BAD_REQUEST);
    }
    e = ec_keycomp_evidence(q->r->pool, evidence ? evidence : "", evidence ? strlen(evidence) : 0,
                            q->conf->kc_proof, spki, &kind);
    ecert_wipe_form(q);           /* from here on only the public key's digest remains */
    if (e != EC_KC_OK)
        return form_page(q, "keycomp", ec_keycomp_err_key(e), HTTP_BAD_REQUEST);
    memset(&rep, 0, sizeof(rep));
    rep.kind = kind;
    rep.compromised_at = when;
    rep.contact = contact;
    rep.client_addr = q->r->useragent_ip;
    rep.lang = q->lang;
    rep.actor = apr_pstrcat(q->r->pool, "reporter:", q->r->useragent_ip, NULL);
    if (ec_keycomp_act(q->store, q->r->pool, &n, spki, &rep, &res) != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, q->r, "ECE0132: key-compromise report %s (%s): %d certificate(s) "
                  "revoked, the key is blocked", res.report_no, kind, res.revoked->nelts);
    return ecert_redirect(q, apr_pstrcat(q->r->pool, "/keycompromise/done?report=", res.report_no, NULL));
}

static int keycomp_done(ecert_req_t *q)
{
    const char *no = query_arg(q->r, "report");
    ec_report_row_t row;
    apr_array_header_t *serials;
    apr_status_t rv;

    if (!report_no_ok(no, "KCR-") || (rv = ec_report_get(q->store, q->r->pool, no, &row)) == APR_ENOENT)
        return ecert_message(q, "report.unknown", HTTP_NOT_FOUND, 1);
    if (rv != APR_SUCCESS || ec_keycomp_serials(q->store, q->r->pool, row.spki_sha256_hex, &serials)
        != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    ec_tmpl_set(q->vars, "report_no", row.report_no);
    ec_tmpl_setf(q->vars, "revoked_count", "%d", serials->nelts);
    for (int i = 0; i < serials->nelts; i++)
        ec_tmpl_set(ec_tmpl_add(q->vars, "serials"), "serial",
                    ec_flow_serial_spaced(q->r->pool, APR_ARRAY_IDX(serials, i, const char *)));
    return ecert_render(q, "keycomp_done", HTTP_OK);
}

static int report_post(ecert_req_t *q)
{
    ec_notice_ctx_t n = ecert_notices(q);
    ec_report_t rep;
    const char *err, *no, *contact;
    int rc, allowed;

    if ((rc = ecert_read_form(q)) != OK)
        return rc;
    if (!ecert_anon_csrf_ok(q))
        return form_page(q, "report", "error.csrf", HTTP_FORBIDDEN);
    /* What the reporter typed comes back in the form, escaped, when something is wrong. */
    ec_tmpl_set(q->vars, "form_contact", ecert_field(q, "contact"));
    ec_tmpl_set(q->vars, "form_certificate", ecert_field(q, "certificate"));
    ec_tmpl_set(q->vars, "form_text", ecert_field(q, "text"));
    ec_tmpl_set(q->vars, "form_category", ecert_field(q, "category"));
    if (ecert_field(q, "category") && strlen(ecert_field(q, "category")) < 20)
        ec_tmpl_flag(q->vars, apr_pstrcat(q->r->pool, "sel_", ecert_field(q, "category"), NULL), 1);
    if (!rate_ok(q, "report", &allowed))
        return ecert_unavailable(q, "error.unavailable");
    if (!allowed)
        return form_page(q, "report", "report.rate_limited", HTTP_TOO_MANY_REQUESTS);
    memset(&rep, 0, sizeof(rep));
    contact = ecert_field(q, "contact");
    if (contact) {
        char *c = apr_pstrdup(q->r->pool, contact);
        apr_collapse_spaces(c, c);
        contact = c;
    }
    rep.kind = "problem";
    rep.contact = contact;
    rep.category = ecert_field(q, "category");
    rep.body = ecert_field(q, "text");
    rep.client_addr = q->r->useragent_ip;
    rep.lang = q->lang;
    if ((err = ec_report_check(q->r->pool, &rep, ecert_field(q, "certificate"))) != NULL)
        return form_page(q, "report", err, HTTP_BAD_REQUEST);
    if (ec_report_submit(q->store, q->r->pool, &n, &rep, apr_pstrcat(q->r->pool, "reporter:", q->r->useragent_ip,
                                                                      NULL), &no) != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, q->r, "ECE0133: certificate problem report %s (%s)", no, rep.category);
    return ecert_redirect(q, apr_pstrcat(q->r->pool, "/report/done?report=", no, NULL));
}

static int report_done(ecert_req_t *q)
{
    const char *no = query_arg(q->r, "report");
    ec_report_row_t row;
    apr_status_t rv;

    if (!report_no_ok(no, "CPR-") || (rv = ec_report_get(q->store, q->r->pool, no, &row)) == APR_ENOENT)
        return ecert_message(q, "report.unknown", HTTP_NOT_FOUND, 1);
    if (rv != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    ec_tmpl_set(q->vars, "report_no", row.report_no);
    ec_tmpl_setf(q->vars, "hours", "%d", EC_REPORT_BR_HOURS);
    return ecert_render(q, "report_done", HTTP_OK);
}

int ecert_report_pages(ecert_req_t *q)
{
    int get = q->r->method_number == M_GET, post = q->r->method_number == M_POST;

    if (!strcmp(q->path, "/keycompromise"))
        return post ? keycomp_post(q) : form_page(q, "keycomp", NULL, HTTP_OK);
    if (!strcmp(q->path, "/keycompromise/done") && get)
        return keycomp_done(q);
    if (!strcmp(q->path, "/report"))
        return post ? report_post(q) : form_page(q, "report", NULL, HTTP_OK);
    if (!strcmp(q->path, "/report/done") && get)
        return report_done(q);
    return HTTP_NOT_FOUND;
}
