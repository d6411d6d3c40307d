/* mod_ocsp: directives, hooks and the responder handler. */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_strings.h>
#include "mod_ocsp.h"
#include "ec_log.h"

static void *create_srv(apr_pool_t *p, server_rec *s)
{
    ocsp_srv_conf *c = apr_pcalloc(p, sizeof(*c));
    c->sessions = c->validity = c->refresh = c->nonce = OCSP_UNSET;
    c->max_request = c->max_certids = c->fresh_rate = OCSP_UNSET;
    c->issuers = apr_array_make(p, 3, sizeof(ocsp_issuer_conf));
    return c;
}


static void *merge_srv(apr_pool_t *p, void *basev, void *addv)
{
    ocsp_srv_conf *base = basev, *add = addv, *c = apr_pcalloc(p, sizeof(*c));
    c->p11_module = add->p11_module ? add->p11_module : base->p11_module;
    c->pin_spec = add->pin_spec ? add->pin_spec : base->pin_spec;
    c->cache_spec = add->cache_spec ? add->cache_spec : base->cache_spec;
    c->issuers = add->issuers->nelts ? add->issuers : base->issuers;
    c->sessions = add->sessions != OCSP_UNSET ? add->sessions : base->sessions;
    c->validity = add->validity != OCSP_UNSET ? add->validity : base->validity;
    c->refresh = add->refresh != OCSP_UNSET ? add->refresh : base->refresh;
    c->nonce = add->nonce != OCSP_UNSET ? add->nonce : base->nonce;
    c->max_request = add->max_request != OCSP_UNSET ? add->max_request : base->max_request;
    c->max_certids = add->max_certids != OCSP_UNSET ? add->max_certids : base->max_certids;
    c->fresh_rate = add->fresh_rate != OCSP_UNSET ? add->fresh_rate : base->fresh_rate;
    return c;
}

static ocsp_srv_conf *srv_conf(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &ocsp_module);
}

static const char *parse_int(cmd_parms *cmd, int *field, const char *arg, long min, long max)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (!*arg || *end || v < min || v > max)
        return apr_psprintf(cmd->pool, "%s takes a whole number from %ld to %ld, not '%s'",
                            cmd->directive->directive, min, max, arg);
    *field = (int)v;
    return NULL;
}

/* Durations: plain seconds or with a unit suffix s, m, h, d. */
static const char *parse_duration(cmd_parms *cmd, int *field, const char *arg, long min, long max)
{
    char *end;
    long v = strtol(arg, &end, 10), mult = 1;
    if (*end == 's') mult = 1, end++;
    else if (*end == 'm') mult = 60, end++;
    else if (*end == 'h') mult = 3600, end++;
    else if (*end == 'd') mult = 86400, end++;
    if (!*arg || *end || v < 0 || v * mult < min || v * mult > max)
        return apr_psprintf(cmd->pool, "%s takes a duration from %lds to %lds (e.g. 4d, 8h), not '%s'",
                            cmd->directive->directive, min, max, arg);
    *field = (int)(v * mult);
    return NULL;
}

static const char *set_module(cmd_parms *cmd, void *d, const char *arg)
{
    srv_conf(cmd)->p11_module = ap_server_root_relative(cmd->pool, arg);
    return NULL;
}

static const char *set_pin(cmd_parms *cmd, void *d, const char *arg)
{
    if (strncmp(arg, "file:", 5) && strncmp(arg, "env:", 4))
        return "OCSPTokenPIN takes file:/path or env:NAME (the PIN itself never goes in the config)";
    srv_conf(cmd)->pin_spec = arg;
    return NULL;
}

static const char *set_sessions(cmd_parms *cmd, void *d, const char *arg)
{
    return parse_int(cmd, &srv_conf(cmd)->sessions, arg, 1, 256);
}

/* BR 4.9.9: validity at least 8 hours and at most 10 days. */
static const char *set_validity(cmd_parms *cmd, void *d, const char *arg)
{
    return parse_duration(cmd, &srv_conf(cmd)->validity, arg, 8 * 3600, 10 * 86400);
}

/* BR 4.9.9: refreshed no later than 4 days after thisUpdate. */
static const char *set_refresh(cmd_parms *cmd, void *d, const char *arg)
{
    return parse_duration(cmd, &srv_conf(cmd)->refresh, arg, 60, 4 * 86400);
}

static const char *set_nonce(cmd_parms *cmd, void *d, int on)
{
    srv_conf(cmd)->nonce = on;
    return NULL;
}

static const char *set_max_request(cmd_parms *cmd, void *d, const char *arg)
{
    return parse_int(cmd, &srv_conf(cmd)->max_request, arg, 64, 65536);
}

static const char *set_max_certids(cmd_parms *cmd, void *d, const char *arg)
{
    return parse_int(cmd, &srv_conf(cmd)->max_certids, arg, 1, 100);
}

static const char *set_fresh_rate(cmd_parms *cmd, void *d, const char *arg)
{
    return parse_int(cmd, &srv_conf(cmd)->fresh_rate, arg, 0, 100000);
}

static const char *set_cache(cmd_parms *cmd, void *d, const char *arg)
{
    srv_conf(cmd)->cache_spec = arg;
    return NULL;
}

static const char *add_issuer(cmd_parms *cmd, void *d, const char *issuer, const char *responder,
                              const char *uri)
{
    ocsp_issuer_conf *i;
    if (strncmp(uri, "pkcs11:", 7))
        return "OCSPIssuer: the responder key is named by a pkcs11: URI (RFC 7512)";
    i = apr_array_push(srv_conf(cmd)->issuers);
    memset(i, 0, sizeof(*i));
    i->issuer_file = ap_server_root_relative(cmd->pool, issuer);
    i->responder_file = ap_server_root_relative(cmd->pool, responder);
    i->key_uri = uri;
    return NULL;
}

static const command_rec ocsp_cmds[] = {
    AP_INIT_TAKE1("OCSPPKCS11Module", set_module, NULL, RSRC_CONF,
                  "path of the PKCS#11 module of the HSM (loaded through p11-kit)"),
    AP_INIT_TAKE1("OCSPTokenPIN", set_pin, NULL, RSRC_CONF, "where the token PIN is: file:/path or env:NAME"),
    AP_INIT_TAKE1("OCSPSessions", set_sessions, NULL, RSRC_CONF, "PKCS#11 sessions per child (default 4)"),
    AP_INIT_TAKE3("OCSPIssuer", add_issuer, NULL, RSRC_CONF,
                  "issuer certificate file, responder certificate file, responder key pkcs11: URI"),
    AP_INIT_TAKE1("OCSPValidity", set_validity, NULL, RSRC_CONF,
                  "nextUpdate - thisUpdate (8h..10d, default 4d)"),
    AP_INIT_TAKE1("OCSPRefresh", set_refresh, NULL, RSRC_CONF,
                  "re-sign responses this long after thisUpdate (at most 4d, default 1d)"),
    AP_INIT_FLAG("OCSPNonce", set_nonce, NULL, RSRC_CONF,
                 "On: echo request nonces in freshly signed responses (default Off)"),
    AP_INIT_TAKE1("OCSPMaxRequestSize", set_max_request, NULL, RSRC_CONF,
                  "largest accepted request in octets (default 4096)"),
    AP_INIT_TAKE1("OCSPMaxCertIDs", set_max_certids, NULL, RSRC_CONF,
                  "most CertIDs answered in one request (default 8)"),
    AP_INIT_TAKE1("OCSPFreshSignRate", set_fresh_rate, NULL, RSRC_CONF,
                  "fresh signatures per second per child for nonces and unknown serials (default 50)"),
    AP_INIT_TAKE1("OCSPCache", set_cache, NULL, RSRC_CONF,
                  "shared response cache, mod_socache syntax (default shmcb)"),
    { NULL }
};

static int ocsp_handler(request_rec *r)
{
    if (!r->handler || strcmp(r->handler, "ocsp-responder"))
        return DECLINED;
    return HTTP_SERVICE_UNAVAILABLE;
}

static void ocsp_hooks(apr_pool_t *p)
{
    ap_hook_handler(ocsp_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(ocsp) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, create_srv, merge_srv, ocsp_cmds, ocsp_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_NONE
#endif
};
