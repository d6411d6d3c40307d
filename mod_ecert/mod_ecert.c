/* mod_ecert: directives, hooks and the request handler. */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <ap_provider.h>
#include <apr_strings.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include "mod_ecert.h"
#include "ec_log.h"
#include "ec_util.h"
#include "ec_x509.h"


static server_rec *log_server;

/* Core log lines go to the main server's error log with the core's own tag. */
static void log_to_httpd(void *baton, ec_log_level_t level, const char *tag, const char *msg)
{
    ap_log_error(APLOG_MARK, (int)level, 0, log_server, "%s: %s", tag, msg);
}

static void *create_srv(apr_pool_t *p, server_rec *s)
{
    ecert_srv_conf *c = apr_pcalloc(p, sizeof(*c));
    c->sessions = ECERT_UNSET;
    c->validity_days = ECERT_UNSET;
    c->issuers = apr_array_make(p, 2, sizeof(ecert_issuer_t));
    return c;
}

static void *merge_srv(apr_pool_t *p, void *basev, void *addv)
{
    ecert_srv_conf *base = basev, *add = addv, *c = apr_pcalloc(p, sizeof(*c));
    c->p11_module = add->p11_module ? add->p11_module : base->p11_module;
    c->pin_spec = add->pin_spec ? add->pin_spec : base->pin_spec;
    c->sessions = add->sessions != ECERT_UNSET ? add->sessions : base->sessions;
    c->publish_dir = add->publish_dir ? add->publish_dir : base->publish_dir;
    c->root_file = add->root_file ? add->root_file : base->root_file;
    c->issuers = add->issuers->nelts ? add->issuers : base->issuers;
    c->validity_days = add->validity_days != ECERT_UNSET ? add->validity_days : base->validity_days;
    c->templates = add->templates ? add->templates : base->templates;
    return c;
}

static ecert_srv_conf *srv_conf(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &ecert_module);
}

static const char *set_module(cmd_parms *cmd, void *d, const char *arg)
{
    srv_conf(cmd)->p11_module = ap_server_root_relative(cmd->pool, arg);
    return NULL;
}

static const char *set_pin(cmd_parms *cmd, void *d, const char *arg)
{
    if (strncmp(arg, "file:", 5) && strncmp(arg, "env:", 4))
        return "ECertTokenPIN takes file:/path or env:NAME (the PIN itself never goes in the config)";
    srv_conf(cmd)->pin_spec = arg;
    return NULL;
}

static const char *set_int(cmd_parms *cmd, int *field, const char *arg, int min, int max)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (!*arg || *end || v < min || v > max)
        return apr_psprintf(cmd->pool, "%s takes a whole number from %d to %d, not '%s'",
                            cmd->directive->directive, min, max, arg);
    *field = (int)v;
    return NULL;
}

static const char *set_sessions(cmd_parms *cmd, void *d, const char *arg)
{
    return set_int(cmd, &srv_conf(cmd)->sessions, arg, 1, 256);
}

static const char *set_validity(cmd_parms *cmd, void *d, const char *arg)
{
    /* BR 6.3.2: never above 200 days; the issuance date may lower it further. */
    return set_int(cmd, &srv_conf(cmd)->validity_days, arg, 1, 200);
}

static const char *set_publish(cmd_parms *cmd, void *d, const char *arg)
{
    srv_conf(cmd)->publish_dir = ap_server_root_relative(cmd->pool, arg);
    return NULL;
}

static const char *set_root(cmd_parms *cmd, void *d, const char *arg)
{
    srv_conf(cmd)->root_file = ap_server_root_relative(cmd->pool, arg);
    return NULL;
}

static const char *set_templates(cmd_parms *cmd, void *d, const char *arg)
{
    srv_conf(cmd)->templates = ap_server_root_relative(cmd->pool, arg);
    return NULL;
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

static const command_rec ecert_cmds[] = {
    AP_INIT_TAKE1("ECertPKCS11Module", set_module, NULL, RSRC_CONF,
                  "path of the PKCS#11 module of the HSM (loaded through p11-kit)"),
    AP_INIT_TAKE1("ECertTokenPIN", set_pin, NULL, RSRC_CONF,
                  "where the token PIN is: file:/path or env:NAME"),
    AP_INIT_TAKE1("ECertSessions", set_sessions, NULL, RSRC_CONF,
                  "PKCS#11 sessions per httpd child (default 4)"),
    AP_INIT_TAKE1("ECertPublishDir", set_publish, NULL, RSRC_CONF,
                  "directory of the published CA certificates (root/) and CRLs (crl/)"),
    AP_INIT_TAKE1("ECertRoot", set_root, NULL, RSRC_CONF, "the root CA certificate file"),
    AP_INIT_TAKE3("ECertIssuer", add_issuer, NULL, RSRC_CONF,
                  "issuing CA: ssl|ev, its certificate file, its key's pkcs11: URI"),
    AP_INIT_TAKE1("ECertValidityDays", set_validity, NULL, RSRC_CONF,
                  "validity of issued certificates in days (default 199, at most the BR maximum)"),
    AP_INIT_TAKE1("ECertTemplates", set_templates, NULL, RSRC_CONF,
                  "directory of the page templates and assets (default: the htdocs of the build)"),
    { NULL }
};

static int ecert_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    log_server = s;
    ec_log_set(log_to_httpd, NULL);
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    for (server_rec *v = s; v; v = v->next) {
        ecert_srv_conf *c = ap_get_module_config(v->module_config, &ecert_module);
        const char *err;
        if (!c->issuers->nelts)
            continue;
        if (!c->p11_module || !c->pin_spec) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v,
                         "ECE0001: ECertIssuer needs ECertPKCS11Module and ECertTokenPIN");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        /* Read the PIN while still privileged; the children only keep it in memory. */
        if (ec_p11_read_pin(pconf, c->pin_spec, &c->pin, &err) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v, "ECE0002: %s", err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        for (int i = 0; i < c->issuers->nelts; i++) {
            ecert_issuer_t *is = &APR_ARRAY_IDX(c->issuers, i, ecert_issuer_t);
            if (ec_read_cert(pconf, is->cert_file, &is->cert_der, &is->cert_len) != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v,
                             "ECE0003: ECertIssuer %s: cannot read a certificate from %s",
                             is->role, is->cert_file);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }
    return OK;
}

static void ecert_child_init(apr_pool_t *pchild, server_rec *s)
{
    for (server_rec *v = s; v; v = v->next) {
        ecert_srv_conf *c = ap_get_module_config(v->module_config, &ecert_module);
        ecert_issuer_t *first;
        if (!c->issuers->nelts || c->p11)
            continue;
        first = &APR_ARRAY_IDX(c->issuers, 0, ecert_issuer_t);
        /* Sessions are opened here, after fork, never in the parent. */
        if (ec_p11_open(&c->p11, pchild, c->p11_module, first->key_uri, c->pin,
                        c->sessions == ECERT_UNSET ? 4 : c->sessions) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, v, "ECE0004: the HSM is not available to this child");
            c->p11 = NULL;
            continue;
        }
        for (int i = 0; i < c->issuers->nelts; i++) {
            ecert_issuer_t *is = &APR_ARRAY_IDX(c->issuers, i, ecert_issuer_t);
            if (ec_p11_key_get(c->p11, pchild, is->key_uri, &is->key) != APR_SUCCESS)
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, v, "ECE0005: bad key URI for issuer %s", is->role);
        }
    }
}

static int ecert_handler(request_rec *r)
{
    ecert_srv_conf *c;
    const char *path;

    if (!r->handler || strcmp(r->handler, "ecert"))
        return DECLINED;
    c = ap_get_module_config(r->server->module_config, &ecert_module);
    (void)c;
    path = r->path_info && *r->path_info ? r->path_info : "/";
    if (strcmp(path, "/") && strcmp(path, "/login"))
        return HTTP_NOT_FOUND;
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    ap_set_content_type(r, "text/html; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->header_only)
        return OK;
    ap_rputs("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<title>Submission of Certificate Signing Request (CSR) - e-Cert (Server)</title></head>"
             "<body><h1>Submission of Certificate Signing Request (CSR) - e-Cert (Server)</h1>"
             "<form method=\"post\" action=\"login\"><fieldset><legend>Server Particulars</legend>"
             "<label>Server Name: <input name=\"server_name\" required></label></fieldset>"
             "<fieldset><legend>e-Cert PIN Envelope information</legend>"
             "<label>Reference Number: <input name=\"reference\" inputmode=\"numeric\" required>"
             "</label> (Shown on the cover of the PIN Envelope, 9-digit)<br>"
             "<label>e-Cert PIN: <input name=\"pin\" type=\"password\" required></label>"
             " (No need to input the space within the 16-digit PIN)</fieldset>"
             "<button type=\"submit\">Submit</button></form></body></html>\n", r);
    return OK;
}

static void ecert_hooks(apr_pool_t *p)
{
    ap_hook_post_config(ecert_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(ecert_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(ecert_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(ecert) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, create_srv, merge_srv, ecert_cmds, ecert_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_NONE
#endif
};
