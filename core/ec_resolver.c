#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>
#include <apr_time.h>
#include <apr_thread_mutex.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "ec_resolver.h"
#include "ec_log.h"

const char EC_RESOLVER_NOT_MINE[] = "not a DNS directive";

#define DEF_TRUST_ANCHOR "/usr/share/dns/root.key"
#define DEF_ROOT_HINTS   "/usr/share/dns/root.hints"
#define DEF_TIMEOUT_S    10
#define TIMED_OUT        (-1000)   /* beside libunbound's own error codes */

struct ec_resolver {
    struct ub_ctx *ctx;
    int timeout_s;
    apr_thread_mutex_t *lock;   /* the context's calls and the answers' hand-over */
};

static int addr_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 60)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(apr_isxdigit(s[i]) || s[i] == '.' || s[i] == ':' || s[i] == '@'))
            return 0;
    return 1;
}

const char *ec_resolver_directive(ec_resolver_conf_t *c, apr_pool_t *p, const char *name, int argc,
                                  char *const *argv)
{
    if (!strcasecmp(name, "ECertDNSTrustAnchor") || !strcasecmp(name, "ECertDNSRootHints")) {
        if (argc != 1 || !*argv[0])
            return apr_psprintf(p, "%s takes one file", name);
        if (!strcasecmp(name, "ECertDNSTrustAnchor"))
            c->trust_anchor = apr_pstrdup(p, argv[0]);
        else
            c->root_hints = apr_pstrdup(p, argv[0]);
        return NULL;
    }
    if (!strcasecmp(name, "ECertDNSTimeout")) {
        char *end;
        long v = argc == 1 ? strtol(argv[0], &end, 10) : 0;
        if (argc != 1 || *end || v < 1 || v > 60)
            return "ECertDNSTimeout takes the seconds one lookup may take, 1 to 60";
        c->timeout_s = (int)v;
        return NULL;
    }
    if (!strcasecmp(name, "ECertDNSRootServers")) {
        if (argc < 1)
            return "ECertDNSRootServers takes the addresses of the root servers (addr or addr@port)";
        c->root_servers = apr_array_make(p, argc, sizeof(const char *));
        for (int i = 0; i < argc; i++) {
            if (!addr_ok(argv[i]))
                return apr_psprintf(p, "ECertDNSRootServers: '%s' is not an IP address (addr or addr@port)",
                                    argv[i]);
            APR_ARRAY_PUSH(c->root_servers, const char *) = apr_pstrdup(p, argv[i]);
        }
        return NULL;
    }
    return EC_RESOLVER_NOT_MINE;
}

ec_resolver_conf_t *ec_resolver_merge(apr_pool_t *p, const ec_resolver_conf_t *base, const ec_resolver_conf_t *add)
{
    ec_resolver_conf_t *c = apr_pcalloc(p, sizeof(*c));
    c->trust_anchor = add->trust_anchor ? add->trust_anchor : base->trust_anchor;
    c->root_hints = add->root_hints ? add->root_hints : base->root_hints;
    c->root_servers = add->root_servers ? add->root_servers : base->root_servers;
    c->timeout_s = add->timeout_s ? add->timeout_s : base->timeout_s;
    return c;
}

void ec_resolver_finish(ec_resolver_conf_t *c)
{
    if (!c->trust_anchor)
        c->trust_anchor = DEF_TRUST_ANCHOR;
    if (!c->root_hints)
        c->root_hints = DEF_ROOT_HINTS;
    if (!c->timeout_s)
        c->timeout_s = DEF_TIMEOUT_S;
}

static apr_status_t ctx_cleanup(void *data)
{
    ec_resolver_t *r = data;
    if (r->ctx)
        ub_ctx_delete(r->ctx);
    r->ctx = NULL;
    return APR_SUCCESS;
}

static int loopback(const char *addr)
{
    return !strncmp(addr, "127.", 4) || !strncmp(addr, "::1", 3);
}

apr_status_t ec_resolver_create(ec_resolver_t **out, apr_pool_t *pool, const ec_resolver_conf_t *c,
                                const char **err)
{
    ec_resolver_t *r = apr_pcalloc(pool, sizeof(*r));
    int rc, local = 0;

    *err = NULL;
    if (!(r->ctx = ub_ctx_create())) {
        *err = "libunbound cannot create a context";
        return APR_ENOMEM;
    }
    apr_pool_cleanup_register(pool, r, ctx_cleanup, apr_pool_cleanup_null);
    /* Our own validation, no cache but ours: no resolv.conf, no forwarder, no hosts file. */
    if ((rc = ub_ctx_add_ta_file(r->ctx, c->trust_anchor)) != 0) {
        *err = apr_psprintf(pool, "the DNSSEC trust anchor %s does not load: %s", c->trust_anchor, ub_strerror(rc));
        return APR_EINVAL;
    }
    if (c->root_servers && c->root_servers->nelts) {
        for (int i = 0; i < c->root_servers->nelts; i++) {
            const char *a = APR_ARRAY_IDX(c->root_servers, i, const char *);
            local |= loopback(a);
            if ((rc = ub_ctx_set_stub(r->ctx, ".", a, 0)) != 0) {
                *err = apr_psprintf(pool, "root server %s: %s", a, ub_strerror(rc));
                return APR_EINVAL;
            }
        }
    }
    else if ((rc = ub_ctx_set_option(r->ctx, "root-hints:", c->root_hints)) != 0) {
        *err = apr_psprintf(pool, "the root hints %s do not load: %s", c->root_hints, ub_strerror(rc));
        return APR_EINVAL;
    }
    /* A private root on this host (a test or a lab): its servers answer on loopback. */
    if (local)
        ub_ctx_set_option(r->ctx, "do-not-query-localhost:", "no");
    ub_ctx_set_option(r->ctx, "harden-below-nxdomain:", "yes");
    ub_ctx_set_option(r->ctx, "qname-minimisation:", "yes");
    ub_ctx_set_option(r->ctx, "val-log-level:", "1");
    /* Our answers are re-checked, not remembered: a record the subscriber just published is
     * seen within seconds, a stale one is not trusted for long. */
    ub_ctx_set_option(r->ctx, "cache-max-ttl:", "30");
    ub_ctx_set_option(r->ctx, "cache-max-negative-ttl:", "1");
    /* No NXDOMAIN made up from a cached NSEC span (RFC 8198): that span may predate the TXT
     * record or address the subscriber has just added, and one perspective so fooled counts
     * against the quorum. Every name not yet seen is asked of its servers. */
    ub_ctx_set_option(r->ctx, "aggressive-nsec:", "no");
    /* Lookups run in a thread of libunbound's so that each one can be given a deadline. */
    ub_ctx_async(r->ctx, 1);
    r->timeout_s = c->timeout_s ? c->timeout_s : DEF_TIMEOUT_S;
    if (apr_thread_mutex_create(&r->lock, APR_THREAD_MUTEX_DEFAULT, pool) != APR_SUCCESS) {
        *err = "no mutex for the resolver";
        return APR_ENOMEM;
    }
    *out = r;
    return APR_SUCCESS;
}

static int name_ok(const char *name)
{
    size_t n = strlen(name), label = 0;

    if (!n || n > 254 || (n == 254 && name[n - 1] != '.'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (name[i] == '.') {
            if (!label && !(i == 0 && n == 1))
                return 0;
            label = 0;
        }
        else if (++label > 63 || (unsigned char)name[i] <= ' ')
            return 0;
    }
    return 1;
}

typedef struct {
    int done, err;
    struct ub_result *res;
} pending_t;

static void on_answer(void *arg, int err, struct ub_result *res)
{
    pending_t *w = arg;
    w->done = 1;
    w->err = err;
    w->res = res;
}

/* How long a waiting thread sleeps at most before it looks again whether another thread's
 * ub_process has already delivered its answer. */
#define WAKE_MS 5

/* One lookup with a deadline: libunbound's own retries could otherwise take minutes. Threads
 * share the context: each waits on its fd, whichever wakes first processes every answer that
 * has come (the callbacks run under r->lock), and each returns when its own is there. */
static int resolve_bounded(ec_resolver_t *r, const char *name, int type, struct ub_result **res)
{
    apr_time_t deadline = apr_time_now() + apr_time_from_sec(r->timeout_s);
    pending_t w = { 0, 0, NULL };
    int id, rc, done;

    apr_thread_mutex_lock(r->lock);
    rc = ub_resolve_async(r->ctx, name, type, 1 /* IN */, &w, on_answer, &id);
    apr_thread_mutex_unlock(r->lock);
    if (rc != 0)
        return rc;
    for (;;) {
        apr_interval_time_t left = deadline - apr_time_now();
        struct pollfd pfd = { ub_fd(r->ctx), POLLIN, 0 };
        int n;
        apr_thread_mutex_lock(r->lock);
        done = w.done;
        /* Never leave the query behind: its callback points into this frame. */
        if (!done && left <= 0)
            ub_cancel(r->ctx, id);
        apr_thread_mutex_unlock(r->lock);
        if (done)
            break;
        if (left <= 0)
            return TIMED_OUT;
        n = poll(&pfd, 1, left / 1000 < WAKE_MS ? (int)(left / 1000) + 1 : WAKE_MS);
        if (n < 0 && errno != EINTR)
            rc = UB_SOCKET;
        else if (n > 0) {
            apr_thread_mutex_lock(r->lock);
            rc = ub_process(r->ctx);
            apr_thread_mutex_unlock(r->lock);
        }
        if (rc != 0) {
            apr_thread_mutex_lock(r->lock);
            if (!w.done)
                ub_cancel(r->ctx, id);
            apr_thread_mutex_unlock(r->lock);
            if (w.res)
                ub_resolve_free(w.res);
            return rc;
        }
    }
    *res = w.res;
    return w.err;
}

apr_status_t ec_resolve(ec_resolver_t *r, apr_pool_t *p, const char *name, int type, ec_dns_answer_t *a)
{
    struct ub_result *res = NULL;
    int rc;

    memset(a, 0, sizeof(*a));
    a->rrs = apr_array_make(p, 2, sizeof(ec_dns_rr_t));
    if (!name_ok(name))
        return APR_EINVAL;
    rc = resolve_bounded(r, name, type, &res);
    if (rc != 0 || !res) {
        a->security = EC_DNS_FAILED;
        a->rcode = 2;
        a->why = rc == TIMED_OUT ? apr_psprintf(p, "no answer within %d s", r->timeout_s)
                                         : apr_pstrdup(p, ub_strerror(rc));
        if (res)
            ub_resolve_free(res);
        return APR_SUCCESS;
    }
    a->rcode = res->rcode;
    a->ttl = res->ttl;
    a->canonname = res->canonname ? apr_pstrdup(p, res->canonname) : NULL;
    if (res->bogus) {
        a->security = EC_DNS_BOGUS;
        a->why = apr_pstrdup(p, res->why_bogus ? res->why_bogus : "DNSSEC validation failed");
    }
    else if (res->rcode != 0 && res->rcode != 3) {
        a->security = EC_DNS_FAILED;
        a->why = apr_psprintf(p, "rcode %d", res->rcode);
    }
    else
        a->security = res->secure ? EC_DNS_SECURE : EC_DNS_INSECURE;
    if (a->security != EC_DNS_BOGUS && res->havedata)
        for (int i = 0; res->data[i]; i++) {
            ec_dns_rr_t *rr = apr_array_push(a->rrs);
            rr->data = apr_pmemdup(p, res->data[i], (apr_size_t)res->len[i]);
            rr->len = (size_t)res->len[i];
        }
    ub_resolve_free(res);
    return APR_SUCCESS;
}

const char *ec_dns_sec_name(ec_dns_sec_t s)
{
    return s == EC_DNS_SECURE ? "secure" : s == EC_DNS_INSECURE ? "insecure" : s == EC_DNS_BOGUS ? "bogus" : "failed";
}

const char *ec_dns_txt(apr_pool_t *p, const uint8_t *d, size_t len)
{
    char *out = apr_palloc(p, len + 1);
    size_t o = 0, i = 0;

    while (i < len) {
        size_t n = d[i++];
        if (n > len - i)
            return NULL;
        memcpy(out + o, d + i, n);
        o += n;
        i += n;
    }
    out[o] = 0;
    return memchr(out, 0, o) ? NULL : out;
}

static const char *printable(apr_pool_t *p, const uint8_t *d, size_t n)
{
    char *out = apr_palloc(p, 4 * n + 1), *o = out;
    for (size_t i = 0; i < n; i++)
        o += d[i] >= 0x20 && d[i] < 0x7f && d[i] != '"' && d[i] != '\\' ? (*o = (char)d[i], 1)
                                                                          : sprintf(o, "\\%03u", d[i]);
    *o = 0;
    return out;
}

/* One record in presentation form: addresses, CAA as flags tag "value", TXT as its text. */
static const char *rdata_text(apr_pool_t *p, int type, const ec_dns_rr_t *rr)
{
    char ip[INET6_ADDRSTRLEN];
    const char *txt;

    if ((type == EC_DNS_A && rr->len == 4 && inet_ntop(AF_INET, rr->data, ip, sizeof(ip))) ||
        (type == EC_DNS_AAAA && rr->len == 16 && inet_ntop(AF_INET6, rr->data, ip, sizeof(ip))))
        return apr_pstrdup(p, ip);
    if (type == EC_DNS_CAA && rr->len >= 2 && 2u + rr->data[1] <= rr->len)
        return apr_psprintf(p, "%u %s \"%s\"", rr->data[0], printable(p, rr->data + 2, rr->data[1]),
                            printable(p, rr->data + 2 + rr->data[1], rr->len - 2 - rr->data[1]));
    if (type == EC_DNS_TXT && (txt = ec_dns_txt(p, rr->data, rr->len)) != NULL)
        return apr_psprintf(p, "\"%s\"", printable(p, (const uint8_t *)txt, strlen(txt)));
    return printable(p, rr->data, rr->len);
}

const char *ec_dns_answer_text(apr_pool_t *p, const char *name, int type, const ec_dns_answer_t *a)
{
    const char *t = type == EC_DNS_TXT ? "TXT" : type == EC_DNS_CAA ? "CAA" : type == EC_DNS_A ? "A"
                  : type == EC_DNS_AAAA ? "AAAA" : "type";
    char *out = apr_psprintf(p, "%s %s rcode %d %s%s%s%s%s ttl %d", name, t, a->rcode, ec_dns_sec_name(a->security),
                             a->why ? " (" : "", a->why ? a->why : "", a->why ? ")" : "",
                             a->canonname && strcasecmp(a->canonname, name) ? apr_pstrcat(p, " via ", a->canonname, NULL) : "",
                             a->ttl);
    for (int i = 0; i < a->rrs->nelts; i++) {
        const ec_dns_rr_t *rr = &APR_ARRAY_IDX(a->rrs, i, ec_dns_rr_t);
        const char *v = rdata_text(p, type, rr);
        out = apr_pstrcat(p, out, i ? "; " : ": ", v, NULL);
    }
    return out;
}
