/* mod_perspective: a remote network perspective of the e-Cert CA (BR 3.2.2.9), run on a host
 * of its own, far from the CA. On the CA's request it checks what the CA's primary perspective
 * checked — a Website Change file, a DNS Change TXT record, a CAA record set — through its own
 * DNSSEC-validating resolver (its own cache) and its own network, and answers what it saw
 * (core/ec_mpic_probe.c). It holds no CA key and has no database: this module is built from
 * the core's lookup code alone.
 *
 *   <Location /mpic>
 *     SetHandler ecert-perspective
 *   </Location>
 *   POST /mpic     a request (core/ec_mpic_wire.h) from a client named by
 *                  ECertPerspectiveClient, MAC'd with its key: the answer, MAC'd likewise
 *   GET  /mpic     health: "ecert-perspective NAME ok", for monitors and load balancers
 *
 * TLS (BR 3.2.2.9: an authenticated and encrypted channel) is mod_ssl's. A request is refused
 * when its MAC is wrong, when it is for another perspective, when its time is more than 60 s
 * off, or when its nonce was seen before (a replay): nonces are kept for twice that in a
 * shared mod_socache (shmcb by default), so every child of this server refuses the same. */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <ap_provider.h>
#include <ap_socache.h>
#include <util_mutex.h>
#include <apr_strings.h>
#include <curl/curl.h>
#include "ec_dcv_conf.h"
#include "ec_glue_log.h"
#include "ec_mpic_probe.h"
#include "ec_mpic_wire.h"
#include "ec_resolver.h"

module AP_MODULE_DECLARE_DATA perspective_module;

#define MUTEX_TYPE "ecert-perspective-nonces"
#define HANDLER    "ecert-perspective"

typedef struct {
    const char *name;
    uint8_t key[EC_MPIC_KEY_LEN];
} client_t;

typedef struct {
    const char *name;                /* ECertPerspectiveName */
    apr_array_header_t *clients;     /* client_t: ECertPerspectiveClient */
    ec_dcv_conf_t *dcv;              /* the resolver's settings, ECertDCVPrivateAddresses */
    ec_resolver_t *resolver;         /* per child */
} persp_conf;

static struct {
    const char *spec;                /* ECertPerspectiveReplayCache */
    const ap_socache_provider_t *provider;
    ap_socache_instance_t *instance;
    apr_global_mutex_t *mutex;
    int attached;                    /* this child may use the mutex */
} nonces;

static void *create_srv(apr_pool_t *p, server_rec *s)
{
    persp_conf *c = apr_pcalloc(p, sizeof(*c));
    c->clients = apr_array_make(p, 2, sizeof(client_t));
    c->dcv = apr_pcalloc(p, sizeof(*c->dcv));
    ec_dcv_conf_init(c->dcv);
    return c;
}

static void *merge_srv(apr_pool_t *p, void *basev, void *addv)
{
    persp_conf *base = basev, *add = addv, *c = apr_pcalloc(p, sizeof(*c));
    c->name = add->name ? add->name : base->name;
    c->clients = add->clients->nelts ? add->clients : base->clients;
    c->dcv = ec_dcv_conf_merge(p, base->dcv, add->dcv);
    return c;
}

static persp_conf *conf_of(server_rec *s)
{
    return ap_get_module_config(s->module_config, &perspective_module);
}

static const char *set_name(cmd_parms *cmd, void *d, const char *arg)
{
    conf_of(cmd->server)->name = arg;
    return NULL;
}

static const char *add_client(cmd_parms *cmd, void *d, const char *name, const char *file)
{
    client_t *k = apr_array_push(conf_of(cmd->server)->clients);
    const char *err = ec_mpic_key_load(cmd->pool, file, k->key);
    k->name = name;
    return err ? apr_pstrcat(cmd->pool, "ECertPerspectiveClient ", name, ": ", err, NULL) : NULL;
}

static const char *set_dcv(cmd_parms *cmd, void *d, int argc, char *const argv[])
{
    const char *err = ec_dcv_conf_directive(conf_of(cmd->server)->dcv, cmd->pool, cmd->directive->directive,
                                            argc, argv);
    return err == EC_DCV_NOT_MINE ? "unknown directive" : err;
}

static const char *set_cache(cmd_parms *cmd, void *d, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    if (err)
        return err;
    nonces.spec = arg;
    return NULL;
}

static const command_rec cmds[] = {
    AP_INIT_TAKE1("ECertPerspectiveName", set_name, NULL, RSRC_CONF,
                  "this perspective's name, as the CA's ECertPerspective line names it"),
    AP_INIT_TAKE2("ECertPerspectiveClient", add_client, NULL, RSRC_CONF,
                  "NAME KEYFILE: a CA (its ECertPerspectivePrimary name) that may ask, and the key shared with it"),
    AP_INIT_TAKE1("ECertPerspectiveReplayCache", set_cache, NULL, RSRC_CONF,
                  "where the nonces seen are kept, mod_socache syntax (default shmcb)"),
    AP_INIT_TAKE_ARGV("ECertDNSTrustAnchor", set_dcv, NULL, RSRC_CONF,
                      "DNSSEC trust anchor file (DS or DNSKEY records; default Debian's dns-root-data)"),
    AP_INIT_TAKE_ARGV("ECertDNSRootHints", set_dcv, NULL, RSRC_CONF, "root hints file (default Debian's dns-root-data)"),
    AP_INIT_TAKE_ARGV("ECertDNSRootServers", set_dcv, NULL, RSRC_CONF,
                      "addresses (addr or addr@port) of a private root to iterate from instead of the hints"),
    AP_INIT_TAKE_ARGV("ECertDNSTimeout", set_dcv, NULL, RSRC_CONF, "seconds one DNS lookup may take (default 10)"),
    AP_INIT_TAKE_ARGV("ECertDCVPrivateAddresses", set_dcv, NULL, RSRC_CONF,
                      "allow|refuse: fetch from private and loopback addresses (a lab; default refuse)"),
    { NULL }
};

/* ------------------------------------------------------------ life cycle */

static int pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    memset(&nonces, 0, sizeof(nonces));
    ap_mutex_register(pconf, MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
    return OK;
}

static apr_status_t nonces_destroy(void *s)
{
    if (nonces.instance)
        nonces.provider->destroy(nonces.instance, s);
    nonces.instance = NULL;
    return APR_SUCCESS;
}

static int nonces_create(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    struct ap_socache_hints hints = { 64, 16, apr_time_from_sec(2 * EC_MPIC_MAX_SKEW_S) };
    const char *spec = nonces.spec ? nonces.spec : "shmcb", *name = spec, *arg = NULL, *sep = strchr(spec, ':'), *err;
    apr_status_t rv;

    if (sep) {
        name = apr_pstrmemdup(ptemp, spec, (apr_size_t)(sep - spec));
        arg = sep + 1;
    }
    if (!(nonces.provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name, AP_SOCACHE_PROVIDER_VERSION))) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "ECV0002: no socache provider '%s' for the nonces seen "
                     "(LoadModule socache_%s_module?)", name, name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if ((err = nonces.provider->create(&nonces.instance, arg, ptemp, pconf)) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "ECV0003: ECertPerspectiveReplayCache '%s': %s", spec, err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if ((rv = ap_global_mutex_create(&nonces.mutex, NULL, MUTEX_TYPE, NULL, s, pconf, 0)) != APR_SUCCESS ||
        (rv = nonces.provider->init(nonces.instance, "mod_perspective", &hints, s, pconf)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "ECV0004: cannot set up the nonce cache '%s'", spec);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_pool_cleanup_register(pconf, s, nonces_destroy, apr_pool_cleanup_null);
    return OK;
}

static int post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    ec_glue_log_init(s, APLOG_MODULE_INDEX);
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    /* A perspective never runs beside the CA: it would share the CA's host and network. */
    if (ap_find_linked_module("mod_ecert.c")) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "ECV0001: mod_perspective and mod_ecert are loaded in one "
                     "server: a remote perspective runs on a host of its own (BR 3.2.2.9)");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "ECV0005: libcurl did not initialise");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (server_rec *v = s; v; v = v->next)
        ec_dcv_conf_finish(conf_of(v)->dcv, pconf);
    return nonces_create(pconf, ptemp, s);
}

static void child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;
    nonces.attached = nonces.mutex &&
        (rv = apr_global_mutex_child_init(&nonces.mutex, apr_global_mutex_lockfile(nonces.mutex), pchild)) == APR_SUCCESS;
    if (!nonces.attached)
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "ECV0006: cannot attach the nonce cache mutex: this child "
                     "refuses every check");
    for (server_rec *v = s; v; v = v->next) {
        persp_conf *c = conf_of(v);
        const char *err;
        if (!c->name || c->resolver)
            continue;
        if (ec_resolver_create(&c->resolver, pchild, &c->dcv->dns, &err) != APR_SUCCESS) {
            c->resolver = NULL;
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, v, "ECV0007: DNS: %s: every check answers 'failed'", err);
        }
    }
}

/* ------------------------------------------------------------ requests */

static const uint8_t *key_of(void *baton, const char *from)
{
    const persp_conf *c = baton;
    for (int i = 0; i < c->clients->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(c->clients, i, client_t).name, from))
            return APR_ARRAY_IDX(c->clients, i, client_t).key;
    return NULL;
}

/* 1 when the nonce is new (and now remembered), 0 when seen before, -1 when the cache fails. */
static int nonce_fresh(request_rec *r, const ec_mpic_msg_t *m)
{
    unsigned char id[64 + EC_MPIC_NONCE_HEX], val[1] = { 1 }, got[1];
    unsigned int idlen = (unsigned int)apr_snprintf((char *)id, sizeof(id), "%s:%s", m->client, m->nonce);
    unsigned int glen = sizeof(got);
    apr_status_t rv;
    int fresh = -1;

    if (!nonces.attached || apr_global_mutex_lock(nonces.mutex) != APR_SUCCESS)
        return -1;
    rv = nonces.provider->retrieve(nonces.instance, r->server, id, idlen, got, &glen, r->pool);
    if (rv == APR_SUCCESS)
        fresh = 0;
    else if (nonces.provider->store(nonces.instance, r->server, id, idlen,
                                    apr_time_now() + apr_time_from_sec(2 * EC_MPIC_MAX_SKEW_S + 1), val,
                                    sizeof(val), r->pool) == APR_SUCCESS)
        fresh = 1;
    apr_global_mutex_unlock(nonces.mutex);
    return fresh;
}

static int refuse(request_rec *r, int status, const char *tag, const char *why)
{
    /* The client may be anyone: the reason, never the request's own bytes, is logged. */
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "%s: request refused: %s", tag, why);
    ap_set_content_type(r, "text/plain; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    r->status = status;
    ap_rprintf(r, "%s\n", why);
    return OK;
}

static int read_body(request_rec *r, char **buf, apr_size_t *len)
{
    apr_size_t cap = EC_MPIC_MAX_MSG + 1, n = 0;
    long got;
    int rc;

    if ((rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK)
        return rc;
    *buf = apr_palloc(r->pool, cap + 1);
    if (ap_should_client_block(r))
        while ((got = ap_get_client_block(r, *buf + n, cap - n)) > 0) {
            n += (apr_size_t)got;
            if (n >= cap)
                return HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
    (*buf)[n] = '\0';
    *len = n;
    return OK;
}

static int handle_check(request_rec *r, persp_conf *c)
{
    ec_mpic_msg_t req, ans;
    const char *why, *ctype = apr_table_get(r->headers_in, "Content-Type");
    apr_int64_t now = apr_time_sec(apr_time_now());
    const uint8_t *key;
    apr_size_t len = 0, olen;
    char *buf, *out;
    int rc;

    if (!ctype || strncasecmp(ctype, EC_MPIC_CONTENT_TYPE, strlen(EC_MPIC_CONTENT_TYPE)))
        return refuse(r, HTTP_UNSUPPORTED_MEDIA_TYPE, "ECV0010", "the request is not " EC_MPIC_CONTENT_TYPE);
    if ((rc = read_body(r, &buf, &len)) != OK)
        return rc == HTTP_REQUEST_ENTITY_TOO_LARGE
            ? refuse(r, rc, "ECV0011", "the request is longer than a check can be") : rc;
    switch (ec_mpic_decode(r->pool, buf, len, EC_MPIC_REQUEST, key_of, c, &req, &why)) {
    case APR_SUCCESS:
        break;
    case APR_EACCES:
        return refuse(r, HTTP_FORBIDDEN, "ECV0012", why);
    default:
        return refuse(r, HTTP_BAD_REQUEST, "ECV0013", why);
    }
    if (strcmp(req.perspective, c->name))
        return refuse(r, HTTP_FORBIDDEN, "ECV0014", "the request is for another perspective");
    if (req.time < now - EC_MPIC_MAX_SKEW_S || req.time > now + EC_MPIC_MAX_SKEW_S)
        return refuse(r, HTTP_FORBIDDEN, "ECV0015", "the request's time is more than 60 s from this perspective's");
    switch (nonce_fresh(r, &req)) {
    case 1:
        break;
    case 0:
        return refuse(r, HTTP_FORBIDDEN, "ECV0016", "the request was seen before (a replay)");
    default:
        return refuse(r, HTTP_SERVICE_UNAVAILABLE, "ECV0017", "the nonce cache failed");
    }
    ec_mpic_probe(c->resolver, r->pool, c->dcv, c->name, &req, &ans);
    ans.time = apr_time_sec(apr_time_now());
    key = key_of(c, req.client);
    out = ec_mpic_encode(r->pool, &ans, key, &olen);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "ECV0020: %s %s %s for %s: %s (%s)", req.check,
                  req.name ? req.name : "-", req.method ? req.method : "", req.client, ans.result,
                  ans.reason ? ans.reason : "");
    ap_set_content_type(r, EC_MPIC_CONTENT_TYPE);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, (apr_off_t)olen);
    ap_rwrite(out, (int)olen, r);
    return OK;
}

static int mpic_handler(request_rec *r)
{
    persp_conf *c;

    if (!r->handler || strcmp(r->handler, HANDLER))
        return DECLINED;
    c = conf_of(r->server);
    if (!c->name)
        return refuse(r, HTTP_SERVICE_UNAVAILABLE, "ECV0018", "ECertPerspectiveName is not set");
    if (r->method_number == M_GET) {
        ap_set_content_type(r, "text/plain; charset=utf-8");
        apr_table_setn(r->headers_out, "Cache-Control", "no-store");
        if (r->header_only)
            return OK;
        ap_rprintf(r, "ecert-perspective %s %s\n", c->name, c->resolver ? "ok" : "dns-failed");
        return OK;
    }
    if (r->method_number != M_POST) {
        r->allowed = (AP_METHOD_BIT << M_GET) | (AP_METHOD_BIT << M_POST);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    return handle_check(r, c);
}

static int handler(request_rec *r)
{
    return ec_glue_log_handler(r, mpic_handler);
}

static void register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(perspective) = {
    STANDARD20_MODULE_STUFF,
    NULL,
    NULL,
    create_srv,
    merge_srv,
    cmds,
    register_hooks,
    AP_MODULE_FLAG_NONE
};
