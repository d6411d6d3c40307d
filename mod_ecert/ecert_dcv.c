/* mod_ecert: the domain validation pages (User Guide C.4) of a confirmed non-government
 * application, and the node's DCV worker (ecert_worker.c) that runs the checks they queue:
 *   GET  /dcv[?method=m]      each name and where it stands, the methods that apply, the
 *                             instructions of the chosen one; refreshes itself while a check runs
 *   GET  /dcv/fileauth.txt    Website Change: the file with the validation code
 *   POST /dcv/check           Website Change / DNS Change: check every name not yet validated
 *   POST /dcv/caa             look the CAA records up again
 *   POST /dcv/email/send      Constructed E-mail: mail a fresh code to the address chosen
 *   POST /dcv/email/verify    Constructed E-mail: the code typed back
 * The work is the core's (ec_dcv, ec_dcv_job, ec_dcv_email). */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_core.h>
#include <http_protocol.h>
#include <apr_strings.h>
#include "mod_ecert.h"
#include "ec_clock.h"
#include "ec_dcv.h"
#include "ec_dcv_email.h"
#include "ec_dcv_job.h"
#include "ec_dcv_web.h"
#include "ec_dns.h"
#include "ec_mpic_conf.h"

APLOG_USE_MODULE(ecert);

#define POLL apr_time_from_sec(1)
#define PER_ROUND 10
#define REFRESH_S "2"

static struct {
    server_rec *s;
    ecert_srv_conf *conf;
    const char *owner;
    ec_dcv_env_t env;
    ecert_worker_t *worker;
} dcv_w;

/* ------------------------------------------------------------ worker */

static void round_work(ec_store_t *st, apr_pool_t *p, void *baton)
{
    for (int i = 0; i < PER_ROUND; i++) {
        int ran = 0;
        if (ec_dcv_work(st, p, &dcv_w.env, dcv_w.owner, &ran) != APR_SUCCESS || !ran)
            return;
    }
}

/* BR 3.2.2.9: said once at start, where an operator looks; the pages and ecertctl say it
 * again when a validation is refused for it. */
static void log_perspectives(apr_pool_t *pconf, server_rec *s)
{
    for (server_rec *v = s; v; v = v->next) {
        ecert_srv_conf *c = ap_get_module_config(v->module_config, &ecert_module);
        const char *problem;
        if (!c->issuers->nelts || (v != s && c->dcv == dcv_w.conf->dcv))
            continue;
        problem = ec_mpic_conf_problem(&c->dcv->mpic, pconf, ec_clock_now());
        if (problem)
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, v, "ECE0141: multi-perspective corroboration: %s: domain "
                         "validation of non-government applications refuses to run, and their certificates "
                         "are not issued", problem);
        else
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, v, "ECE0142: multi-perspective corroboration: %d remote "
                         "perspectives, %d required now, at most %d may not corroborate",
                         c->dcv->mpic.perspectives->nelts, ec_mpic_required(&c->dcv->mpic, ec_clock_now()),
                         ec_mpic_allowed_failures(c->dcv->mpic.perspectives->nelts));
    }
}

int ecert_dcv_post_config(apr_pool_t *pconf, server_rec *s)
{
    dcv_w.s = s;
    dcv_w.conf = ap_get_module_config(s->module_config, &ecert_module);
    dcv_w.worker = NULL;
    if (!dcv_w.conf->issuers->nelts)
        return OK;
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG)
        log_perspectives(pconf, s);
    return ecert_worker_register(pconf, s, "ecert-dcv", POLL, round_work, NULL, &dcv_w.worker);
}

static ec_resolver_t *resolver(apr_pool_t *pchild, server_rec *v, const ec_dcv_conf_t *c)
{
    ec_resolver_t *r = NULL;
    const char *err;
    if (ec_resolver_create(&r, pchild, &c->dns, &err) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, v, "ECE0140: DNS: %s: every DCV and CAA check fails until "
                     "this is fixed", err);
        return NULL;
    }
    return r;
}

void ecert_dcv_child_init(apr_pool_t *pchild, server_rec *s)
{
    for (server_rec *v = s; v; v = v->next) {
        ecert_srv_conf *c = ap_get_module_config(v->module_config, &ecert_module);
        if (c->dcv_env || !c->issuers->nelts)
            continue;
        c->dcv_env = apr_pcalloc(pchild, sizeof(*c->dcv_env));
        c->dcv_env->conf = c->dcv;
        c->dcv_env->resolver = resolver(pchild, v, c->dcv);
    }
    if (!dcv_w.worker)
        return;
    dcv_w.owner = ecert_worker_owner(pchild, NULL);
    /* The worker's own resolver: a check never waits behind a page's CAA lookups. */
    dcv_w.env.conf = dcv_w.conf->dcv;
    dcv_w.env.resolver = resolver(pchild, s, dcv_w.conf->dcv);
    ecert_worker_child_init(dcv_w.worker, pchild);
}

/* ------------------------------------------------------------ pages */

int ecert_dcv_done(ecert_req_t *q, ec_app_t *a)
{
    ec_dcv_status_t st;
    return ec_dcv_status(q->store, q->r->pool, a, ec_clock_now(), &st) == APR_SUCCESS && st.all_valid &&
           !st.caa_blocked;
}

static const char *msg(ecert_req_t *q, ec_tmpl_vars *v, const char *key)
{
    return ec_tmpl_msg(q->tmpl, key, v);
}

static void name_vars(ecert_req_t *q, ec_tmpl_vars *v, const ec_dcv_name_t *n, int checking)
{
    apr_pool_t *p = q->r->pool;
    const char *state = n->valid_id ? "valid" : checking ? "checking" : n->last_reason ? "failed" : "pending";

    ec_tmpl_set(v, "name", ec_dns_display(p, n->name));
    ec_tmpl_set(v, "alabel", n->name);
    if (n->wildcard)
        ec_tmpl_set(v, "wildcard_of", ec_dns_display(p, n->cert_name));
    ec_tmpl_set(v, "state", state);
    ec_tmpl_set_raw(v, "state_text", msg(q, v, apr_pstrcat(p, "dcv.state.", state, NULL)));
    if (n->valid_id) {
        ec_tmpl_set_raw(v, "valid_method", msg(q, v, apr_pstrcat(p, "dcv.method.", n->valid_method, NULL)));
        ec_tmpl_set(v, "valid_date", ecert_hk_date(p, n->valid_at));
        ec_tmpl_set(v, "valid_domain", ec_dns_display(p, n->valid_domain));
        ec_tmpl_flag(v, "reused", n->reused);
    }
    else if (n->last_reason && !n->last_passed && !checking) {
        ec_tmpl_set(v, "reason", n->last_reason);
        ec_tmpl_set_raw(v, "reason_text", msg(q, v, apr_pstrcat(p, "dcv.reason.", n->last_reason, NULL)));
        ec_tmpl_set(v, "reason_detail", n->last_detail);
        ec_tmpl_set(v, "reason_date", ecert_hk_date(p, n->last_at));
    }
    if (n->caa_verdict) {
        ec_tmpl_set(v, "caa", n->caa_verdict);
        ec_tmpl_set_raw(v, "caa_text", msg(q, v, apr_pstrcat(p, "caa.", n->caa_reason, NULL)));
        if (strcmp(n->caa_verdict, "permit"))
            ec_tmpl_set(v, "caa_detail", n->caa_detail);
    }
}

static const char *const notes[] = { "sent", "rate", "address", "not-offered", "no-code", "wrong", "spent",
                                     "verified", "internal", "queued", NULL };

static int dcv_page(ecert_req_t *q, ec_app_t *a)
{
    apr_pool_t *p = q->r->pool;
    time_t now = ec_clock_now();
    const char *want = ecert_arg(q->r, "method"), *note = ecert_arg(q->r, "note");
    ec_dcv_method_t chosen = ec_dcv_method_parse(want);
    int methods = ec_dcv_methods(q->conf->dcv, a, now), checking;
    ec_dcv_status_t st;

    if (ec_dcv_status(q->store, p, a, now, &st) != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    ecert_app_vars(q, a);
    checking = st.job_state != NULL;
    if (checking) {
        ec_tmpl_set(q->vars, "refresh", REFRESH_S);
        ec_tmpl_flag(q->vars, "checking", 1);
        if (!chosen)
            chosen = ec_dcv_method_parse(st.job_kind);
    }
    for (int i = 0; i < st.names->nelts; i++)
        name_vars(q, ec_tmpl_add(q->vars, "names"), &APR_ARRAY_IDX(st.names, i, ec_dcv_name_t), checking);
    ec_tmpl_flag(q->vars, "all_valid", st.all_valid);
    ec_tmpl_flag(q->vars, "caa_blocked", st.caa_blocked);
    ec_tmpl_flag(q->vars, "can_continue", st.all_valid && !st.caa_blocked);
    if (chosen && !(methods & chosen))
        chosen = 0;
    for (int m = EC_DCV_WEBSITE; m <= EC_DCV_EMAIL; m <<= 1)
        if (methods & m) {
            ec_tmpl_vars *mv = ec_tmpl_add(q->vars, "methods");
            ec_tmpl_set(mv, "method", ec_dcv_method_name(m));
            ec_tmpl_set_raw(mv, "method_text", msg(q, mv, apr_pstrcat(p, "dcv.method.", ec_dcv_method_name(m), NULL)));
            ec_tmpl_flag(mv, "selected", (int)chosen == m);
        }
    ec_tmpl_flag(q->vars, "website_na", !(methods & EC_DCV_WEBSITE));
    ec_tmpl_flag(q->vars, "email_na", !(methods & EC_DCV_EMAIL));
    for (int i = 0; note && notes[i]; i++)
        if (!strcmp(note, notes[i])) {
            ec_tmpl_set(q->vars, "note", note);
            ec_tmpl_set_raw(q->vars, "note_text", msg(q, q->vars, apr_pstrcat(p, "dcv.note.", note, NULL)));
            ec_tmpl_flag(q->vars, "note_is_error", strcmp(note, "sent") && strcmp(note, "verified") &&
                                                   strcmp(note, "queued"));
        }
    if (chosen == EC_DCV_WEBSITE || chosen == EC_DCV_DNS) {
        const char *code, *code_id;
        time_t expires;
        if (ec_dcv_code(q->store, p, a, chosen, now, &code, &code_id, &expires) != APR_SUCCESS)
            return ecert_unavailable(q, "error.unavailable");
        ec_tmpl_set(q->vars, "code", code);
        ec_tmpl_set(q->vars, "code_expires", ecert_hk_date(p, expires));
        ec_tmpl_set(q->vars, "web_path", EC_DCV_WEB_PATH);
        ec_tmpl_set(q->vars, "dns_label", EC_DCV_DNS_LABEL);
        ec_tmpl_flag(q->vars, chosen == EC_DCV_WEBSITE ? "show_website" : "show_dns", 1);
        ec_tmpl_set(q->vars, "check_method", ec_dcv_method_name(chosen));
        for (int i = 0; i < st.names->nelts; i++)
            if (!APR_ARRAY_IDX(st.names, i, ec_dcv_name_t).valid_id)
                ec_tmpl_set(ec_tmpl_add(q->vars, "todo"), "todo_name",
                            APR_ARRAY_IDX(st.names, i, ec_dcv_name_t).name);
    }
    else if (chosen == EC_DCV_EMAIL) {
        apr_array_header_t *domains = ec_dcv_email_domains(p, a);
        ec_tmpl_flag(q->vars, "show_email", 1);
        for (int d = 0; d < domains->nelts; d++)
            for (int l = 0; ec_dcv_email_locals[l]; l++) {
                const char *dom = APR_ARRAY_IDX(domains, d, const char *);
                ec_tmpl_vars *av = ec_tmpl_add(q->vars, "addresses");
                ec_tmpl_set(av, "value", apr_pstrcat(p, ec_dcv_email_locals[l], "@", dom, NULL));
                ec_tmpl_set(av, "label", apr_pstrcat(p, ec_dcv_email_locals[l], "@", ec_dns_display(p, dom), NULL));
                ec_tmpl_flag(av, "chosen", st.email_to && !strcmp(st.email_to, apr_pstrcat(p, ec_dcv_email_locals[l],
                                                                                             "@", dom, NULL)));
            }
        if (st.email_to) {
            ec_tmpl_set(q->vars, "email_to", st.email_to);
            ec_tmpl_setf(q->vars, "tries_left", "%d", st.email_tries_left);
            ec_tmpl_set(q->vars, "email_expires", ecert_hk_date(p, st.email_expires));
        }
        ec_tmpl_setf(q->vars, "mails_per_hour", "%d", q->conf->dcv->mails_per_hour);
    }
    return ecert_render(q, "dcv", HTTP_OK);
}

static int back(ecert_req_t *q, const char *method, const char *note)
{
    return ecert_redirect(q, apr_psprintf(q->r->pool, "/dcv?method=%s%s%s", method, note ? "&note=" : "",
                                          note ? note : ""));
}

static int fileauth(ecert_req_t *q, ec_app_t *a)
{
    const char *code, *code_id, *body;
    time_t expires;

    if (!(ec_dcv_methods(q->conf->dcv, a, ec_clock_now()) & EC_DCV_WEBSITE))
        return ecert_redirect(q, "/dcv");
    if (ec_dcv_code(q->store, q->r->pool, a, EC_DCV_WEBSITE, ec_clock_now(), &code, &code_id, &expires) != APR_SUCCESS)
        return ecert_unavailable(q, "error.unavailable");
    body = apr_pstrcat(q->r->pool, code, "\n", NULL);
    return ecert_send(q, "text/plain; charset=us-ascii", "fileauth.txt", body, strlen(body));
}

static int post(ecert_req_t *q, ec_app_t *a)
{
    const char *actor = ecert_actor(q, a->envelope_ref), *method = ecert_field(q, "method");
    ec_dcv_method_t m = ec_dcv_method_parse(method);
    int methods = ec_dcv_methods(q->conf->dcv, a, ec_clock_now()), left;
    ec_dcv_status_t st;

    if (!strcmp(q->path, "/dcv/check")) {
        if (m != EC_DCV_WEBSITE && m != EC_DCV_DNS)
            return ecert_redirect(q, "/dcv");
        if (!(methods & m))
            return back(q, ec_dcv_method_name(m), "not-offered");
        if (ec_dcv_status(q->store, q->r->pool, a, ec_clock_now(), &st) != APR_SUCCESS)
            return ecert_unavailable(q, "error.unavailable");
        /* A check already under way is not queued twice: the page shows that one. */
        if (!st.job_state && ec_dcv_queue(q->store, q->r->pool, a, ec_dcv_method_name(m), actor) != APR_SUCCESS)
            return ecert_unavailable(q, "error.unavailable");
        return back(q, ec_dcv_method_name(m), NULL);
    }
    if (!strcmp(q->path, "/dcv/caa")) {
        if (ec_dcv_queue(q->store, q->r->pool, a, "caa", actor) != APR_SUCCESS)
            return ecert_unavailable(q, "error.unavailable");
        return ecert_redirect(q, "/dcv");
    }
    if (!strcmp(q->path, "/dcv/email/send")) {
        const char *addr = ecert_field(q, "address"), *at = addr ? strchr(addr, '@') : NULL;
        ec_notice_ctx_t n = ecert_notices(q);
        ec_dcv_mail_status_t rs;
        if (!at)
            return back(q, "email", "address");
        rs = ec_dcv_email_send(q->store, q->r->pool, q->conf->dcv, &n, a,
                               apr_pstrndup(q->r->pool, addr, (apr_size_t)(at - addr)), at + 1, actor);
        return back(q, "email", rs == EC_DCV_MAIL_OK ? "sent" : ec_dcv_mail_status_name(rs));
    }
    if (!strcmp(q->path, "/dcv/email/verify")) {
        ec_dcv_mail_status_t rs = ec_dcv_email_verify(q->store, q->r->pool, q->conf->dcv, a,
                                                       ecert_field(q, "code"), actor, &left);
        ecert_wipe_form(q);
        if (rs == EC_DCV_MAIL_OK) {
            ec_dcv_queue(q->store, q->r->pool, a, "caa", actor);
            return back(q, "email", "verified");
        }
        return back(q, "email", ec_dcv_mail_status_name(rs));
    }
    return ecert_redirect(q, "/dcv");
}

int ecert_dcv_pages(ecert_req_t *q, ec_app_t *a)
{
    request_rec *r = q->r;
    int rc;

    if (r->method_number == M_POST) {
        if ((rc = ecert_read_form(q)) != OK)
            return rc;
        if (!ecert_csrf_ok(q))
            return ecert_forbidden_form(q);
        return post(q, a);
    }
    if (!strcmp(q->path, "/dcv/fileauth.txt"))
        return fileauth(q, a);
    if (strcmp(q->path, "/dcv"))
        return ecert_redirect(q, "/dcv");
    return dcv_page(q, a);
}
