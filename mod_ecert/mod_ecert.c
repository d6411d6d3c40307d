/* mod_ecert: directives, hooks and the request handler. */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <ap_provider.h>
#include <apr_strings.h>
#include <apr_optional.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include "mod_ecert.h"
#include "ec_glue_log.h"
#include "ec_conf.h"
#include "ec_log.h"
#include "ec_util.h"
#include "ec_x509.h"
#include "ec_app.h"
#include "ec_audit.h"
#include "ec_flow.h"
#include "ec_issue.h"
#include "ec_login.h"
#include "ec_pin.h"
#include "ec_glue_token.h"
#include "ec_token_pin.h"
#include "ec_revoke.h"
#include "ec_crl_job.h"
#include "ec_crl_store.h"
#include "ec_mail_send.h"
#include "ec_keycomp.h"
#include "ec_report.h"
#include "ec_subrevoke.h"
#include "ec_dcv.h"
#include "ec_dcv_email.h"
#include "ec_dcv_job.h"
#include "ec_mpic.h"
#include "ec_csrf.h"
#include "ec_signing.h"

/* Every statement the subscriber pages use, prepared by mod_dbd on each connection. */
static const ec_stmt_t *const stmt_sets[] = {
    ec_app_stmts, ec_audit_stmts, ec_issue_stmts, ec_session_stmts, ec_login_stmts,
    ec_flow_stmts, ec_revoke_stmts, ec_crl_job_stmts, ec_crl_store_stmts, ec_mail_stmts,
    ec_mail_send_stmts, ec_keycomp_stmts, ec_report_stmts, ec_subrevoke_stmts, ec_dcv_stmts,
    ec_dcv_job_stmts, ec_dcv_email_stmts, ec_mpic_stmts, ec_csrf_stmts, ec_signing_stmts,
    ec_audit_anchor_stmts, NULL
};

static void *create_srv(apr_pool_t *p, server_rec *s)
{
    ecert_srv_conf *c = apr_pcalloc(p, sizeof(*c));
    c->sessions = ECERT_UNSET;
    c->issuers = apr_array_make(p, 2, sizeof(ecert_issuer_t));
    c->profile = apr_pcalloc(p, sizeof(*c->profile));
    c->session_idle = ECERT_UNSET;
    c->login_max_failures = ECERT_UNSET;
    c->login_rate_max = ECERT_UNSET;
    c->login_rate_window = ECERT_UNSET;
    c->crl = apr_pcalloc(p, sizeof(*c->crl));
    ec_crl_conf_init(c->crl);
    c->mail = apr_pcalloc(p, sizeof(*c->mail));
    c->report_rate_max = ECERT_UNSET;
    c->report_rate_window = ECERT_UNSET;
    c->audit_cp_events = ECERT_UNSET;
    c->audit_cp_seconds = ECERT_UNSET;
    c->dcv = apr_pcalloc(p, sizeof(*c->dcv));
    ec_dcv_conf_init(c->dcv);
    return c;
}

static void *merge_srv(apr_pool_t *p, void *basev, void *addv)
{
    ecert_srv_conf *base = basev, *add = addv, *c = apr_pcalloc(p, sizeof(*c));
#define PICK(f) c->f = add->f ? add->f : base->f
#define PICKN(f) c->f = add->f != ECERT_UNSET ? add->f : base->f
    PICK(p11_module);
    PICK(pin_spec);
    PICKN(sessions);
    PICK(publish_dir);
    c->issuers = add->issuers->nelts ? add->issuers : base->issuers;
    PICK(templates);
    PICK(cross_file);
    PICKN(session_idle);
    PICKN(login_max_failures);
    PICKN(login_rate_max);
    PICKN(login_rate_window);
    PICK(crl_dir);
    PICK(kc_proof);
    PICKN(report_rate_max);
    PICKN(report_rate_window);
    PICKN(audit_cp_events);
    PICKN(audit_cp_seconds);
#undef PICK
#undef PICKN
    c->profile = ec_profile_merge(p, base->profile, add->profile);
    c->crl = ec_crl_conf_merge(p, base->crl, add->crl);
    c->mail = ec_mail_merge(p, base->mail, add->mail);
    c->dcv = ec_dcv_conf_merge(p, base->dcv, add->dcv);
    return c;
}

/* After the merge: what no directive set takes its default, so the pages read plain values. */
static void defaults(ecert_srv_conf *c)
{
    if (c->sessions == ECERT_UNSET) c->sessions = ECERT_DEF_SESSIONS;
    if (c->session_idle == ECERT_UNSET) c->session_idle = ECERT_DEF_SESSION_IDLE;
    if (c->login_max_failures == ECERT_UNSET) c->login_max_failures = ECERT_DEF_LOGIN_FAILURES;
    if (c->login_rate_max == ECERT_UNSET) c->login_rate_max = ECERT_DEF_LOGIN_RATE;
    if (c->login_rate_window == ECERT_UNSET) c->login_rate_window = ECERT_DEF_LOGIN_WINDOW;
    if (c->report_rate_max == ECERT_UNSET) c->report_rate_max = ECERT_DEF_REPORT_RATE;
    if (c->report_rate_window == ECERT_UNSET) c->report_rate_window = ECERT_DEF_REPORT_WINDOW;
    if (c->audit_cp_events == ECERT_UNSET) c->audit_cp_events = ECERT_DEF_AUDIT_EVENTS;
    if (c->audit_cp_seconds == ECERT_UNSET) c->audit_cp_seconds = ECERT_DEF_AUDIT_SECONDS;
}

static ecert_srv_conf *srv_conf(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &ecert_module);
}

/* Directives naming a file or directory, relative to ServerRoot; cmd->info holds the
 * offset of the field in the server config. */
static const char *set_path(cmd_parms *cmd, void *d, const char *arg)
{
    *(const char **)((char *)srv_conf(cmd) + (apr_size_t)cmd->info) = ap_server_root_relative(cmd->pool, arg);
    return NULL;
}

static const char *set_pin(cmd_parms *cmd, void *d, const char *arg)
{
    const char *bad = ec_token_pin_spec_error(arg);
    srv_conf(cmd)->pin_spec = arg;
    return bad ? apr_pstrcat(cmd->pool, cmd->directive->directive, ": ", bad, NULL) : NULL;
}

static const char *set_int(cmd_parms *cmd, int *field, const char *arg, int min, int max)
{
    return ec_conf_int(cmd->pool, cmd->directive->directive, arg, min, max, field);
}

static const char *set_sessions(cmd_parms *cmd, void *d, const char *arg)
{
    return set_int(cmd, &srv_conf(cmd)->sessions, arg, 1, 256);
}

static const char *set_idle(cmd_parms *cmd, void *d, const char *arg)
{
    return set_int(cmd, &srv_conf(cmd)->session_idle, arg, 60, 86400);
}

static const char *set_max_failures(cmd_parms *cmd, void *d, const char *arg)
{
    return set_int(cmd, &srv_conf(cmd)->login_max_failures, arg, 1, 100);
}

static const char *set_rate(cmd_parms *cmd, void *d, const char *n, const char *secs)
{
    const char *err = set_int(cmd, &srv_conf(cmd)->login_rate_max, n, 1, 100000);
    return err ? err : set_int(cmd, &srv_conf(cmd)->login_rate_window, secs, 1, 86400);
}

static const char *set_token_module(cmd_parms *cmd, void *d, const char *arg)
{
    const char *err = ec_glue_token_directive(cmd);
    return err ? err : set_path(cmd, d, arg);
}

static const char *set_token_pin(cmd_parms *cmd, void *d, const char *arg)
{
    const char *err = ec_glue_token_directive(cmd);
    return err ? err : set_pin(cmd, d, arg);
}

static const char *set_token_sessions(cmd_parms *cmd, void *d, const char *arg)
{
    const char *err = ec_glue_token_directive(cmd);
    return err ? err : set_sessions(cmd, d, arg);
}

/* Issuance settings: parsed by the core so that ecertctl reads the same lines. */
static const char *set_profile(cmd_parms *cmd, void *d, int argc, char *const argv[])
{
    const char *err = ec_profile_directive(srv_conf(cmd)->profile, cmd->pool,
                                           cmd->directive->directive, argc, argv);
    if (err == EC_PROFILE_NOT_MINE)
        return apr_psprintf(cmd->pool, "%s is not an issuance directive", cmd->directive->directive);
    if (!err && !strcasecmp(cmd->directive->directive, "ECertWeakKeyList")) {
        const char **f = &APR_ARRAY_IDX(srv_conf(cmd)->profile->weak_files,
                                        srv_conf(cmd)->profile->weak_files->nelts - 1, const char *);
        *f = ap_server_root_relative(cmd->pool, *f);
    }
    return err;
}

static const char *set_crl(cmd_parms *cmd, void *d, int argc, char *const argv[])
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    if (err)
        return err;
    err = ec_crl_conf_directive(srv_conf(cmd)->crl, cmd->pool, cmd->directive->directive, argc, argv);
    return err == EC_CRL_NOT_MINE ? apr_psprintf(cmd->pool, "%s is not a CRL directive", cmd->directive->directive)
                                  : err;
}

static const char *set_mail(cmd_parms *cmd, void *d, int argc, char *const argv[])
{
    const char *err = ec_mail_directive(srv_conf(cmd)->mail, cmd->pool, cmd->directive->directive, argc, argv);
    return err == EC_MAIL_NOT_MINE ? apr_psprintf(cmd->pool, "%s is not a mail directive", cmd->directive->directive)
                                   : err;
}

static const char *set_dcv(cmd_parms *cmd, void *d, int argc, char *const argv[])
{
    const char *err = ec_dcv_conf_directive(srv_conf(cmd)->dcv, cmd->pool, cmd->directive->directive, argc, argv);
    return err == EC_DCV_NOT_MINE ? apr_psprintf(cmd->pool, "%s is not a DCV directive", cmd->directive->directive)
                                  : err;
}

static const char *set_proof(cmd_parms *cmd, void *d, const char *arg)
{
    if (!*arg || strlen(arg) > 64)
        return "ECertKeyCompromiseProof takes the CN a proof CSR carries (1 to 64 characters)";
    srv_conf(cmd)->kc_proof = arg;
    return NULL;
}

static const char *set_report_rate(cmd_parms *cmd, void *d, const char *n, const char *secs)
{
    const char *err = set_int(cmd, &srv_conf(cmd)->report_rate_max, n, 1, 100000);
    return err ? err : set_int(cmd, &srv_conf(cmd)->report_rate_window, secs, 1, 86400);
}

static const char *set_audit_checkpoint(cmd_parms *cmd, void *d, const char *n, const char *secs)
{
    const char *err = set_int(cmd, &srv_conf(cmd)->audit_cp_events, n, 1, 1000000);
    return err ? err : set_int(cmd, &srv_conf(cmd)->audit_cp_seconds, secs, 1, 86400);
}

static const char *add_issuer(cmd_parms *cmd, void *d, const char *role, const char *file,
                              const char *uri)
{
    ecert_issuer_t *i;
    if (strcmp(role, "ssl") && strcmp(role, "ev"))
        return apr_psprintf(cmd->pool, "ECertIssuer: role '%s' is neither ssl nor ev", role);
    if (strncmp(uri, "pkcs11:", 7))
        return "ECertIssuer: the key is named by a pkcs11: URI (RFC 7512)";
    i = apr_array_push(srv_conf(cmd)->issuers);
    memset(i, 0, sizeof(*i));
    i->role = role;
    i->cert_file = ap_server_root_relative(cmd->pool, file);
    i->key_uri = uri;
    return NULL;
}

#define PROFILE_DIRECTIVE(name, help) \
    AP_INIT_TAKE_ARGV(name, set_profile, NULL, RSRC_CONF, help)

static const command_rec ecert_cmds[] = {
    AP_INIT_TAKE1("ECertPKCS11Module", set_token_module, (void *)APR_OFFSETOF(ecert_srv_conf, p11_module), RSRC_CONF,
                  "path of the PKCS#11 module of the HSM (loaded through p11-kit)"),
    AP_INIT_TAKE1("ECertTokenPIN", set_token_pin, NULL, RSRC_CONF,
                  "keyring:NAME: the kernel keyring entry ecertctl activate puts the token PIN in"),
    AP_INIT_TAKE1("ECertSessions", set_token_sessions, NULL, RSRC_CONF,
                  "PKCS#11 sessions per httpd child (default 4)"),
    AP_INIT_TAKE1("ECertPublishDir", set_path, (void *)APR_OFFSETOF(ecert_srv_conf, publish_dir), RSRC_CONF,
                  "directory of the published CA certificates (root/) and CRLs (crl/)"),
    AP_INIT_TAKE3("ECertIssuer", add_issuer, NULL, RSRC_CONF,
                  "issuing CA: ssl|ev, its certificate file, its key's pkcs11: URI"),
    PROFILE_DIRECTIVE("ECertValidityDays",
                      "validity of issued certificates in days (default 199, at most the BR maximum)"),
    PROFILE_DIRECTIVE("ECertAIABase", "base URL of the CA certificates (AIA caIssuers)"),
    PROFILE_DIRECTIVE("ECertCRLBase", "base URL of the CRLs (CRL distribution point)"),
    PROFILE_DIRECTIVE("ECertOCSPURL", "URL of the OCSP responder (AIA)"),
    PROFILE_DIRECTIVE("ECertCPSURL", "URL of the CPS (certificate policy qualifier)"),
    PROFILE_DIRECTIVE("ECertEKU", "extended key usages: serverAuth (default), clientAuth, OIDs"),
    PROFILE_DIRECTIVE("ECertKeySizes", "allowed RSA key sizes of subscriber keys (default 2048)"),
    PROFILE_DIRECTIVE("ECertWeakKeyList", "a Debian weak-key list (openssl-blacklist format); repeatable"),
    PROFILE_DIRECTIVE("ECertCRLShards", "partitioned CRLs: Off (default) or their number, 2 to 256"),
    PROFILE_DIRECTIVE("ECertCTLog", "NAME OPERATOR URL KEY START END: a CT log certificates are submitted to "
                      "(KEY base64 SPKI; it takes notAfter in [START, END), YYYY-MM-DD)"),
    PROFILE_DIRECTIVE("ECertCTTimeout", "seconds one round of CT submissions may take (default 10)"),
    AP_INIT_TAKE_ARGV("ECertCRLSchedule", set_crl, NULL, RSRC_CONF,
                      "UTC times of day CRLs are issued at (default 01:15 06:15 11:00), or every DURATION"),
    AP_INIT_TAKE_ARGV("ECertCRLValidity", set_crl, NULL, RSRC_CONF,
                      "nextUpdate - thisUpdate of the Sub CA CRLs (default 7d, at most 10d)"),
    AP_INIT_TAKE_ARGV("ECertARLValidity", set_crl, NULL, RSRC_CONF,
                      "nextUpdate - thisUpdate of the root's ARL (default 365d, at most 365d)"),
    AP_INIT_TAKE_ARGV("ECertCRLRevocationDelay", set_crl, NULL, RSRC_CONF,
                      "time from a revocation to the CRL that lists it (default 60s, at most 1h)"),
    AP_INIT_TAKE_ARGV("ECertCRLMaxAge", set_crl, NULL, RSRC_CONF,
                      "Cache-Control max-age of served CRLs, never past nextUpdate (default 300s)"),
    AP_INIT_TAKE_ARGV("ECertRootKey", set_crl, NULL, RSRC_CONF,
                      "pkcs11: URI of the root's key: this node then keeps the ARL current"),
    AP_INIT_TAKE_ARGV("ECertMailRelay", set_mail, NULL, RSRC_CONF,
                      "SMTP relay of the CA's notices: smtp://host[:port] (STARTTLS when offered) or smtps://"),
    AP_INIT_TAKE_ARGV("ECertMailRelayCA", set_mail, NULL, RSRC_CONF,
                      "CA certificates (PEM file) the relay's TLS certificate is checked with (default: the system's)"),
    AP_INIT_TAKE_ARGV("ECertMailFrom", set_mail, NULL, RSRC_CONF, "sender address of the CA's notices"),
    AP_INIT_TAKE_ARGV("ECertMailOperations", set_mail, NULL, RSRC_CONF,
                      "the CA's operations address: certificate problem reports go there"),
    AP_INIT_TAKE_ARGV("ECertPublicURL", set_mail, NULL, RSRC_CONF,
                      "public URL of the subscriber pages, for links in notices"),
    AP_INIT_TAKE_ARGV("ECertDNSTrustAnchor", set_dcv, NULL, RSRC_CONF,
                      "DNSSEC trust anchor file (DS or DNSKEY records; default Debian's dns-root-data)"),
    AP_INIT_TAKE_ARGV("ECertDNSRootHints", set_dcv, NULL, RSRC_CONF,
                      "root hints file (default Debian's dns-root-data)"),
    AP_INIT_TAKE_ARGV("ECertDNSRootServers", set_dcv, NULL, RSRC_CONF,
                      "addresses (addr or addr@port) of a private root to iterate from instead of the hints"),
    AP_INIT_TAKE_ARGV("ECertDNSTimeout", set_dcv, NULL, RSRC_CONF, "seconds one DNS lookup may take (default 10)"),
    AP_INIT_TAKE_ARGV("ECertCAAIssuerDomain", set_dcv, NULL, RSRC_CONF,
                      "issuer domain names CAA records name this CA by (default ecert.gov.hk hongkongpost.gov.hk)"),
    AP_INIT_TAKE_ARGV("ECertDCVEmail", set_dcv, NULL, RSRC_CONF,
                      "on|off: offer Constructed E-mail validation (never after 2028-03-15)"),
    AP_INIT_TAKE_ARGV("ECertDCVPrivateAddresses", set_dcv, NULL, RSRC_CONF,
                      "allow|refuse: Website Change may fetch from private and loopback addresses (a lab; default refuse)"),
    AP_INIT_TAKE_ARGV("ECertDCVMailsPerHour", set_dcv, NULL, RSRC_CONF,
                      "validation mails one application may send per hour (default 5)"),
    AP_INIT_TAKE_ARGV("ECertPerspective", set_dcv, NULL, RSRC_CONF,
                      "NAME URL RIR LAT,LON KEYFILE: a remote perspective that corroborates domain validation "
                      "and CAA (BR 3.2.2.9)"),
    AP_INIT_TAKE_ARGV("ECertPerspectivePrimary", set_dcv, NULL, RSRC_CONF,
                      "NAME LAT,LON RIR: this CA's name towards its perspectives, and where it is"),
    AP_INIT_TAKE_ARGV("ECertPerspectiveCA", set_dcv, NULL, RSRC_CONF,
                      "CA certificates (PEM file) the perspectives' TLS certificates are checked with"),
    AP_INIT_TAKE_ARGV("ECertPerspectiveTimeout", set_dcv, NULL, RSRC_CONF,
                      "seconds every perspective's answer may take (default 20)"),
    AP_INIT_TAKE_ARGV("ECertPerspectiveMinimum", set_dcv, NULL, RSRC_CONF,
                      "a test build's number of remote perspectives required (a production build refuses it)"),
    AP_INIT_TAKE1("ECertKeyCompromiseProof", set_proof, NULL, RSRC_CONF,
                  "CN of a key-compromise proof CSR (default CPS 4.9.12's; the English one is accepted too)"),
    AP_INIT_TAKE2("ECertAuditCheckpoint", set_audit_checkpoint, NULL, RSRC_CONF,
                  "a checkpoint of the audit log signed in the token every N events or S seconds "
                  "(default 100 300)"),
    AP_INIT_TAKE2("ECertReportRateLimit", set_report_rate, NULL, RSRC_CONF,
                  "key-compromise and problem reports per client address, and the window in seconds "
                  "(default 10 3600)"),
    AP_INIT_TAKE1("ECertCRLDir", set_path, (void *)APR_OFFSETOF(ecert_srv_conf, crl_dir), RSRC_CONF,
                  "where this node keeps the CRLs it serves (default ECertPublishDir/crl)"),
    AP_INIT_TAKE1("ECertTemplates", set_path, (void *)APR_OFFSETOF(ecert_srv_conf, templates), RSRC_CONF,
                  "directory of the page templates and assets (templates/, assets/)"),
    AP_INIT_TAKE1("ECertCrossCertificate", set_path, (void *)APR_OFFSETOF(ecert_srv_conf, cross_file), RSRC_CONF,
                  "cross certificate of the root, added to the chain subscribers download"),
    AP_INIT_TAKE1("ECertSessionIdle", set_idle, NULL, RSRC_CONF,
                  "seconds after which an idle subscriber session ends (default 900)"),
    AP_INIT_TAKE1("ECertLoginMaxFailures", set_max_failures, NULL, RSRC_CONF,
                  "wrong logins after which a PIN envelope locks (default 5)"),
    AP_INIT_TAKE2("ECertLoginRateLimit", set_rate, NULL, RSRC_CONF,
                  "failed logins allowed per client address, and the window in seconds (default 30 600)"),
    { NULL }
};

/* Before mod_dbd's own post_config, which builds the connection pools' statement lists. */
static int ecert_prepare_sql(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_dbd_prepare) *prepare = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_prepare);

    if (!prepare) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "ECE0010: mod_ecert needs mod_dbd (LoadModule dbd_module)");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (server_rec *v = s; v; v = v->next)
        for (const ec_stmt_t *const *set = stmt_sets; *set; set++)
            for (const ec_stmt_t *st = *set; st->label; st++)
                prepare(v, st->sql, st->label);
    return OK;
}

static int ecert_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    ecert_srv_conf *mc = ap_get_module_config(s->module_config, &ecert_module);

    ec_glue_log_init(s, APLOG_MODULE_INDEX);
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    if (ec_glue_token_pin(pconf, s, mc->pin_spec, &mc->pin, "issuance and CRL signing wait") != OK)
        return HTTP_INTERNAL_SERVER_ERROR;
    for (server_rec *v = s; v; v = v->next) {
        ecert_srv_conf *c = ap_get_module_config(v->module_config, &ecert_module);
        const char *err;
        defaults(c);
        ec_crl_conf_finish(c->crl);
        ec_mail_finish(c->mail);
        ec_dcv_conf_finish(c->dcv, pconf);
        if (!c->crl_dir && c->publish_dir)
            c->crl_dir = apr_pstrcat(pconf, c->publish_dir, "/crl", NULL);
        if (ec_profile_finish(c->profile, pconf, &err) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v, "ECE0006: %s", err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (c->cross_file &&
            ec_read_cert(pconf, c->cross_file, &c->cross_der, &c->cross_len) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v,
                         "ECE0007: ECertCrossCertificate: cannot read a certificate from %s", c->cross_file);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (!c->issuers->nelts)
            continue;
        if (!c->p11_module || !c->pin_spec) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v,
                         "ECE0001: ECertIssuer needs ECertPKCS11Module and ECertTokenPIN");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        /* The token directives are the main server's: every vhost signs with its PIN. */
        c->pin = mc->pin;
        for (int i = 0; i < c->issuers->nelts; i++) {
            ecert_issuer_t *is = &APR_ARRAY_IDX(c->issuers, i, ecert_issuer_t);
            if (ec_read_cert(pconf, is->cert_file, &is->cert_der, &is->cert_len) != APR_SUCCESS ||
                ec_issuer_init(pconf, is->role, is->cert_der, is->cert_len, &is->info) != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v,
                             "ECE0003: ECertIssuer %s: cannot read a certificate from %s",
                             is->role, is->cert_file);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }
    if (ecert_crl_post_config(pconf, s) != OK || ecert_dcv_post_config(pconf, s) != OK ||
        ecert_signing_post_config(pconf, s) != OK || ecert_audit_post_config(pconf, s) != OK ||
        ecert_templates_post_config(pconf, s) != OK)
        return HTTP_INTERNAL_SERVER_ERROR;
    return ecert_mail_post_config(pconf, s);
}

/* One token handle per child for every vhost whose issuers are on that token: vhosts that
 * inherit ECertIssuer, or name other keys of the same token, share it (and its sessions). */
/* The token= attribute of a key URI ("" without one). */
static const char *token_of(apr_pool_t *p, const char *uri)
{
    const char *t = ec_p11_uri_token(p, uri);
    return t ? t : "";
}

static ec_p11 *child_token(apr_pool_t *pchild, server_rec *s, server_rec *upto, ecert_srv_conf *c)
{
    const char *token = token_of(pchild, APR_ARRAY_IDX(c->issuers, 0, ecert_issuer_t).key_uri);
    ec_p11 *p11;

    for (server_rec *v = s; v != upto; v = v->next) {
        ecert_srv_conf *o = ap_get_module_config(v->module_config, &ecert_module);
        if (o->p11 && o->issuers->nelts &&
            !strcmp(token, token_of(pchild, APR_ARRAY_IDX(o->issuers, 0, ecert_issuer_t).key_uri)))
            return o->p11;
    }
    p11 = ec_glue_token_open(pchild, s, c->p11_module, APR_ARRAY_IDX(c->issuers, 0, ecert_issuer_t).key_uri,
                             c->pin, c->sessions, "issuance waits");
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, upto, "ECE0014: token handle opened (%s)", token);
    return p11;
}

static void ecert_child_init(apr_pool_t *pchild, server_rec *s)
{
    /* What a login without an envelope verifies against, so that it takes as long. */
    const char *dummy = ec_pin_hash(pchild, "0000000000000000");

    for (server_rec *v = s; v; v = v->next) {
        ecert_srv_conf *c = ap_get_module_config(v->module_config, &ecert_module);
        int keys_known = 0;
        c->dummy_hash = dummy;
        if (!c->issuers->nelts || c->p11)
            continue;
        /* A vhost that inherits ECertIssuer holds the very same issuer entries. */
        for (server_rec *o = s; o != v && !keys_known; o = o->next) {
            ecert_srv_conf *oc = ap_get_module_config(o->module_config, &ecert_module);
            keys_known = oc->issuers == c->issuers && oc->p11;
        }
        c->p11 = child_token(pchild, s, v, c);
        for (int i = 0; i < c->issuers->nelts && !keys_known; i++) {
            ecert_issuer_t *is = &APR_ARRAY_IDX(c->issuers, i, ecert_issuer_t);
            if (ec_p11_key_get(c->p11, pchild, is->key_uri, &is->key) != APR_SUCCESS)
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, v, "ECE0005: bad key URI for issuer %s", is->role);
            is->info.key = is->key;
        }
    }
    ecert_crl_child_init(pchild, s);
    ecert_mail_child_init(pchild, s);
    ecert_dcv_child_init(pchild, s);
    ecert_signing_child_init(pchild, s);
    ecert_audit_child_init(pchild, s);
}

static int pages_handler(request_rec *r)
{
    ecert_req_t q;
    const char *err;

    if (!r->handler || strcmp(r->handler, "ecert"))
        return DECLINED;
    memset(&q, 0, sizeof(q));
    q.r = r;
    q.conf = ap_get_module_config(r->server->module_config, &ecert_module);
    q.path = r->path_info && *r->path_info ? r->path_info : "/";
    q.base = apr_pstrndup(r->pool, r->uri, strlen(r->uri) >= strlen(q.path) && strcmp(q.path, "/")
                          ? strlen(r->uri) - strlen(q.path) : strlen(r->uri));
    while (*q.base && q.base[strlen(q.base) - 1] == '/')
        q.base = apr_pstrndup(r->pool, q.base, strlen(q.base) - 1);
    if (!q.conf->pages) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "ECE0011: ECertTemplates is not set");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    q.lang = ecert_pick_lang(r);
    if (ec_tmpl_lib_open(&q.tmpl, r->pool, q.conf->pages, q.lang, &err) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "ECE0012: %s", err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    q.vars = ec_tmpl_vars_make(r->pool, NULL);
    return ecert_pages(&q);
}

static int ecert_handler(request_rec *r)
{
    return ec_glue_log_handler(r, pages_handler);
}

static int crl_handler(request_rec *r)
{
    return ec_glue_log_handler(r, ecert_crl_handler);
}

static void ecert_hooks(apr_pool_t *p)
{
    static const char *const before_dbd[] = { "mod_dbd.c", NULL };
    ap_hook_post_config(ecert_prepare_sql, NULL, before_dbd, APR_HOOK_MIDDLE);
    ap_hook_post_config(ecert_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(ecert_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(ecert_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(crl_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(ecert) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, create_srv, merge_srv, ecert_cmds, ecert_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_NONE
#endif
};
