/* mod_ocsp: directives, configuration checks and hooks (see mod_ocsp.h for the design;
 * the handler is in mod_ocsp_handler.c, the replica's lifetime in mod_ocsp_replica.c, the
 * background work in mod_ocsp_watch.c). */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_strings.h>
#include <apr_optional.h>
#include <apr_thread_mutex.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include "mod_ocsp.h"
#include "ec_glue_log.h"
#include "ec_conf.h"
#include "ec_glue_token.h"
#include "ec_token_pin.h"
#include "ec_log.h"
#include "ec_util.h"
#include "ec_x509.h"
#include "ec_ocsp_sync.h"
#include "ec_ocsp_resign.h"

ocsp_global_t ocsp_g;
static apr_thread_mutex_t *resolve_mutex;

ocsp_srv_conf *ocsp_conf(server_rec *s)
{
    return ap_get_module_config(s->module_config, &ocsp_module);
}

static void *create_srv(apr_pool_t *p, server_rec *s)
{
    ocsp_srv_conf *c = apr_pcalloc(p, sizeof(*c));
    c->sessions = c->validity = c->refresh = c->nonce = OCSP_UNSET;
    c->max_request = c->max_certids = c->fresh_rate = c->replica_gb = OCSP_UNSET;
    c->issuers = apr_array_make(p, 3, sizeof(ocsp_issuer_conf));
    return c;
}


static void *merge_srv(apr_pool_t *p, void *basev, void *addv)
{
    ocsp_srv_conf *base = basev, *add = addv, *c = apr_pcalloc(p, sizeof(*c));
    c->p11_module = add->p11_module ? add->p11_module : base->p11_module;
    c->pin_spec = add->pin_spec ? add->pin_spec : base->pin_spec;
    c->replica_dir = add->replica_dir ? add->replica_dir : base->replica_dir;
    c->replica_gb = add->replica_gb != OCSP_UNSET ? add->replica_gb : base->replica_gb;
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
    return ec_conf_int(cmd->pool, cmd->directive->directive, arg, min, max, field);
}

static const char *parse_duration(cmd_parms *cmd, int *field, const char *arg, long min, long max)
{
    return ec_conf_duration(cmd->pool, cmd->directive->directive, arg, min, max, field);
}

static const char *set_module(cmd_parms *cmd, void *d, const char *arg)
{
    srv_conf(cmd)->p11_module = ap_server_root_relative(cmd->pool, arg);
    return NULL;
}

static const char *set_pin(cmd_parms *cmd, void *d, const char *arg)
{
    const char *bad = ec_token_pin_spec_error(arg);
    srv_conf(cmd)->pin_spec = arg;
    return bad ? apr_pstrcat(cmd->pool, cmd->directive->directive, ": ", bad, NULL) : NULL;
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

static const char *set_replica(cmd_parms *cmd, void *d, const char *dir, const char *gb)
{
    ocsp_srv_conf *c = srv_conf(cmd);

    if (cmd->server->is_virtual)
        return "OCSPReplica belongs in the main server (one replica per node)";
    c->replica_dir = ap_server_root_relative(cmd->pool, dir);
    return gb ? parse_int(cmd, &c->replica_gb, gb, 1, 4096) : NULL;
}

static const char *add_issuer(cmd_parms *cmd, void *d, const char *issuer, const char *responder,
                              const char *uri)
{
    APR_OPTIONAL_FN_TYPE(ap_dbd_prepare) *prepare = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_prepare);
    ocsp_srv_conf *c = srv_conf(cmd);
    ocsp_issuer_conf *i;

    if (strncmp(uri, "pkcs11:", 7))
        return "OCSPIssuer: the responder key is named by a pkcs11: URI (RFC 7512)";
    if (!prepare)
        return "OCSPIssuer needs mod_dbd (LoadModule dbd_module before mod_ocsp)";
    /* Statements are prepared on every connection mod_dbd opens for this server. */
    if (!c->issuers->nelts)
        for (const ec_stmt_t *const *set = (const ec_stmt_t *const[]){ ec_ocsp_stmts, ec_ocsp_sync_stmts, ec_ocsp_resign_stmts, NULL };
             *set; set++)
            for (const ec_stmt_t *st = *set; st->label; st++)
                prepare(cmd->server, st->sql, st->label);
    i = apr_array_push(c->issuers);
    memset(i, 0, sizeof(*i));
    i->issuer_file = ap_server_root_relative(cmd->pool, issuer);
    i->responder_file = ap_server_root_relative(cmd->pool, responder);
    i->key_uri = uri;
    return NULL;
}

static const char *set_token_module(cmd_parms *cmd, void *d, const char *arg)
{
    const char *err = ec_glue_token_directive(cmd);
    return err ? err : set_module(cmd, d, arg);
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

static const command_rec ocsp_cmds[] = {
    AP_INIT_TAKE1("OCSPPKCS11Module", set_token_module, NULL, RSRC_CONF,
                  "path of the PKCS#11 module of the HSM (loaded through p11-kit)"),
    AP_INIT_TAKE1("OCSPTokenPIN", set_token_pin, NULL, RSRC_CONF,
                  "keyring:NAME: the kernel keyring entry ecertctl activate puts the token PIN in"),
    AP_INIT_TAKE1("OCSPSessions", set_token_sessions, NULL, RSRC_CONF, "PKCS#11 sessions per child (default 4)"),
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
    AP_INIT_TAKE12("OCSPReplica", set_replica, NULL, RSRC_CONF,
                   "node-local directory of the answers' replica, and its largest size in GiB (default "
                   "ocsp-replica in the runtime directory, 32)"),
    { NULL }
};

int ocsp_issuer_ready(ocsp_issuer_conf *is, ec_store_t *store, apr_pool_t *p)
{
    apr_status_t rv = APR_SUCCESS;

    if (__atomic_load_n(&is->ready, __ATOMIC_ACQUIRE))
        return 0;
    apr_thread_mutex_lock(resolve_mutex);
    if (!is->ready) {
        rv = ec_ocsp_issuer_resolve(store, p, &is->core);
        if (rv == APR_SUCCESS)
            __atomic_store_n(&is->ready, 1, __ATOMIC_RELEASE);
        else if (rv == APR_ENOENT)
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, ocsp_g.s,
                         "ECO0020: issuer %s (%s) is not in table ca: was the key ceremony run on this database?",
                         is->name, is->issuer_file);
    }
    apr_thread_mutex_unlock(resolve_mutex);
    return rv == APR_SUCCESS ? 0 : -1;
}

static void defaults(ocsp_srv_conf *c)
{
    if (c->sessions == OCSP_UNSET) c->sessions = OCSP_DEF_SESSIONS;
    if (c->validity == OCSP_UNSET) c->validity = OCSP_DEF_VALIDITY;
    if (c->refresh == OCSP_UNSET) c->refresh = OCSP_DEF_REFRESH;
    if (c->nonce == OCSP_UNSET) c->nonce = 0;
    if (c->max_request == OCSP_UNSET) c->max_request = OCSP_DEF_MAXREQ;
    if (c->max_certids == OCSP_UNSET) c->max_certids = OCSP_DEF_MAXIDS;
    if (c->fresh_rate == OCSP_UNSET) c->fresh_rate = OCSP_DEF_RATE;
    if (c->replica_gb == OCSP_UNSET) c->replica_gb = OCSP_DEF_REPLICA_GB;
    c->replica_size = (apr_size_t)c->replica_gb << 30;
}

/* Reads the issuer and responder certificates of one OCSPIssuer line. */
static int load_issuer(apr_pool_t *p, server_rec *v, ocsp_issuer_conf *is)
{
    const uint8_t *der, *rder;
    size_t len, rlen;
    ec_cert_info_t ci;

    if (ec_read_cert(p, is->issuer_file, &der, &len) != APR_SUCCESS ||
        ec_ocsp_issuer_hash(p, der, len, &is->core.hash) != APR_SUCCESS ||
        ec_cert_info(p, der, len, &ci) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v, "ECO0001: OCSPIssuer: no certificate in %s", is->issuer_file);
        return -1;
    }
    is->name = ci.cn ? ci.cn : is->issuer_file;
    if (ec_read_cert(p, is->responder_file, &rder, &rlen) != APR_SUCCESS ||
        ec_ocsp_signer_cert(p, &is->core.signer, rder, rlen) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v, "ECO0002: OCSPIssuer: no responder certificate in %s",
                     is->responder_file);
        return -1;
    }
    ec_ocsp_issuer_tag(is->tag, &is->core.hash);
    return 0;
}

/* Every distinct issuer struct of every server; one responder per issuer, because the
 * cache and table ocsp_response are keyed by issuer. */
static int collect_issuer(server_rec *v, ocsp_issuer_conf *is)
{
    for (int i = 0; i < ocsp_g.issuers->nelts; i++) {
        ocsp_issuer_conf *o = APR_ARRAY_IDX(ocsp_g.issuers, i, ocsp_issuer_conf *);
        if (o == is)
            return 0;
        if (!memcmp(o->core.hash.key_sha1, is->core.hash.key_sha1, 20) &&
            (o->core.signer.cert_len != is->core.signer.cert_len ||
             memcmp(o->core.signer.cert, is->core.signer.cert, o->core.signer.cert_len) ||
             strcmp(o->key_uri, is->key_uri))) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v,
                         "ECO0003: issuer %s has two different responders (%s, %s): one per issuer",
                         is->name, o->responder_file, is->responder_file);
            return -1;
        }
    }
    APR_ARRAY_PUSH(ocsp_g.issuers, ocsp_issuer_conf *) = is;
    return 0;
}

/* Runs for "apachectl -t" too: a schedule the BR forbids never starts. */
static int ocsp_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    for (server_rec *v = s; v; v = v->next) {
        ocsp_srv_conf c = *ocsp_conf(v);
        defaults(&c);
        /* BR 4.9.10: for a validity of 16 h or more, a new response at least 8 h before
         * nextUpdate (and at most 4 days after thisUpdate: the directive's range);
         * below 16 h, by half the validity. */
        if (c.validity >= 16 * 3600 ? c.refresh > c.validity - 8 * 3600 : c.refresh > c.validity / 2) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v,
                         "ECO0004: OCSPRefresh %ds is too late for OCSPValidity %ds: responses must be "
                         "refreshed at least 8 hours before nextUpdate (BR 4.9.10)", c.refresh, c.validity);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

static int ocsp_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    ocsp_srv_conf *mc = ocsp_conf(s);

    memset(&ocsp_g, 0, sizeof(ocsp_g));
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    ocsp_g.s = s;
    ocsp_g.issuers = apr_array_make(pconf, 4, sizeof(ocsp_issuer_conf *));
    ec_glue_log_init(s, APLOG_MODULE_INDEX);

    for (server_rec *v = s; v; v = v->next) {
        ocsp_srv_conf *c = ocsp_conf(v);
        defaults(c);
        if (!c->issuers->nelts)
            continue;
        if (!c->p11_module || !c->pin_spec) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v, "ECO0005: OCSPIssuer needs OCSPPKCS11Module and OCSPTokenPIN");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (v != s && (strcmp(c->p11_module, mc->p11_module ? mc->p11_module : "") ||
                       strcmp(c->pin_spec, mc->pin_spec ? mc->pin_spec : ""))) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v,
                         "ECO0006: OCSPPKCS11Module and OCSPTokenPIN belong in the main server (one token per child)");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        for (int i = 0; i < c->issuers->nelts; i++) {
            ocsp_issuer_conf *is = &APR_ARRAY_IDX(c->issuers, i, ocsp_issuer_conf);
            if (!is->core.signer.cert && load_issuer(pconf, v, is) < 0)
                return HTTP_INTERNAL_SERVER_ERROR;
            if (collect_issuer(v, is) < 0)
                return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    if (!ocsp_g.issuers->nelts)
        return OK;
    ocsp_g.conf = mc;
    if (!mc->pin_spec) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "ECO0008: OCSPPKCS11Module and OCSPTokenPIN belong in the main server");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (ec_glue_token_pin(pconf, s, mc->pin_spec, &mc->pin, "pre-signed answers are served, nothing new is signed")
        != OK)
        return HTTP_INTERNAL_SERVER_ERROR;
    if (ocsp_replica_post_config(pconf, ptemp, s) != OK)
        return HTTP_INTERNAL_SERVER_ERROR;
    return ocsp_watch_post_config(pconf, s);
}

static void ocsp_child_init(apr_pool_t *p, server_rec *s)
{
    ocsp_srv_conf *c = ocsp_g.conf;
    ocsp_issuer_conf *first;

    if (!ocsp_g.issuers || !ocsp_g.issuers->nelts)
        return;
    apr_thread_mutex_create(&resolve_mutex, APR_THREAD_MUTEX_DEFAULT, p);
    ocsp_replica_child_init(p, s);
    ocsp_handler_child_init(p);
    ocsp_watch_child_init(p, s);
    first = APR_ARRAY_IDX(ocsp_g.issuers, 0, ocsp_issuer_conf *);
    ocsp_g.p11 = ec_glue_token_open(p, s, c->p11_module, first->key_uri, c->pin, c->sessions,
                                    "pre-signed answers are served");
    for (int i = 0; i < ocsp_g.issuers->nelts; i++) {
        ocsp_issuer_conf *is = APR_ARRAY_IDX(ocsp_g.issuers, i, ocsp_issuer_conf *);
        is->core.signer.p11 = ocsp_g.p11;
        if (ec_p11_key_get(ocsp_g.p11, p, is->key_uri, &is->core.signer.key) != APR_SUCCESS)
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "ECO0031: bad responder key URI for %s", is->name);
    }
    __atomic_store_n(&ocsp_g.child_ready, 1, __ATOMIC_RELEASE);
}

static int handler(request_rec *r)
{
    return ec_glue_log_handler(r, ocsp_handler);
}

static void ocsp_hooks(apr_pool_t *p)
{
    static const char *const after_dbd[] = { "mod_dbd.c", NULL };
    static const char *const before_wd[] = { "mod_watchdog.c", NULL };

    ap_hook_check_config(ocsp_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(ocsp_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* The watchdog thread starts in mod_watchdog's child_init: the token comes first. */
    ap_hook_child_init(ocsp_child_init, after_dbd, before_wd, APR_HOOK_MIDDLE);
    ap_hook_pre_translate_name(ocsp_pre_translate, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_translate_name(ocsp_translate, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_map_to_storage(ocsp_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(ocsp) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, create_srv, merge_srv, ocsp_cmds, ocsp_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_NONE
#endif
};
