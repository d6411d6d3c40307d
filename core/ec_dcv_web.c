#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <apr_strings.h>
#include <apr_time.h>
#include "ec_dcv_web.h"

typedef struct {
    char *buf;
    size_t len;
    int too_large;
} body_t;

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    body_t *b = arg;
    size_t len = size * n;
    if (b->len + len > EC_DCV_WEB_MAX_BODY) {
        b->too_large = 1;
        return 0;                                   /* aborts the transfer */
    }
    memcpy(b->buf + b->len, data, len);
    b->len += len;
    return len;
}

int ec_dcv_address_private(const uint8_t *a, size_t len)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (len == 4)
        return a[0] == 0 || a[0] == 10 || a[0] == 127 || (a[0] == 100 && (a[1] & 0xc0) == 64) ||
               (a[0] == 169 && a[1] == 254) || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
               (a[0] == 192 && a[1] == 168) || (a[0] == 192 && a[1] == 0 && (a[2] == 0 || a[2] == 2)) ||
               (a[0] == 192 && a[1] == 88 && a[2] == 99) || (a[0] == 198 && (a[1] & 0xfe) == 18) ||
               (a[0] == 198 && a[1] == 51 && a[2] == 100) || (a[0] == 203 && a[1] == 0 && a[2] == 113) ||
               a[0] >= 224;
    if (len != 16)
        return 1;
    if (!memcmp(a, mapped, 12))
        return ec_dcv_address_private(a + 12, 4);
    if ((a[0] & 0xe0) != 0x20)
        return 1;                   /* not global unicast: NAT64, ULA, link-local, ::/96, ... */
    if (a[0] == 0x20 && a[1] == 0x02)
        return ec_dcv_address_private(a + 2, 4);          /* 6to4 carries an IPv4 address */
    /* 2001::/23 (IANA special purpose, Teredo among them) and 2001:db8::/32 (documentation) */
    return (a[0] == 0x20 && a[1] == 0x01 && a[2] < 0x02) ||
           (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8);
}

static void result(ec_dcv_web_result_t *res, int passed, const char *reason, const char *detail)
{
    res->passed = passed;
    res->reason = reason;
    res->detail = detail;
}

/* The address to connect to for host, from the validating resolver. NULL with res set. */
static const char *address_of(ec_resolver_t *r, apr_pool_t *p, const ec_dcv_conf_t *c, const char *host,
                              ec_dcv_web_result_t *res, int *v6)
{
    static const int types[] = { EC_DNS_A, EC_DNS_AAAA };
    for (int t = 0; t < 2; t++) {
        ec_dns_answer_t a;
        char ip[INET6_ADDRSTRLEN];
        if (ec_resolve(r, p, host, types[t], &a) != APR_SUCCESS) {
            result(res, 0, "dns", apr_psprintf(p, "%s is not a name that can be looked up", host));
            return NULL;
        }
        res->dns = apr_pstrcat(p, res->dns, *res->dns ? "\n" : "", ec_dns_answer_text(p, host, types[t], &a), NULL);
        if (a.security == EC_DNS_BOGUS) {
            result(res, 0, "bogus", apr_psprintf(p, "the address of %s failed DNSSEC validation (%s)", host, a.why));
            return NULL;
        }
        if (a.security == EC_DNS_FAILED) {
            result(res, 0, "dns", apr_psprintf(p, "the address of %s could not be looked up (%s)", host, a.why));
            return NULL;
        }
        for (int i = 0; i < a.rrs->nelts; i++) {
            const ec_dns_rr_t *rr = &APR_ARRAY_IDX(a.rrs, i, ec_dns_rr_t);
            if (rr->len != (types[t] == EC_DNS_A ? 4u : 16u))
                continue;
            inet_ntop(types[t] == EC_DNS_A ? AF_INET : AF_INET6, rr->data, ip, sizeof(ip));
            if (!c->private_addresses && ec_dcv_address_private(rr->data, rr->len)) {
                result(res, 0, "address", apr_psprintf(p, "%s resolves to %s, an address that is not on the "
                                                          "public Internet", host, ip));
                return NULL;
            }
            *v6 = types[t] == EC_DNS_AAAA;
            return apr_pstrdup(p, ip);
        }
    }
    result(res, 0, "dns", apr_psprintf(p, "%s has no address (A or AAAA record)", host));
    return NULL;
}

/* Splits an absolute URL the CA may fetch. NULL when it may; else why not. */
static int carries_code(const char *url, const apr_array_header_t *codes)
{
    for (int i = 0; codes && i < codes->nelts; i++)
        if (strstr(url, APR_ARRAY_IDX(codes, i, const char *)))
            return 1;
    return 0;
}

static const char *url_parts(apr_pool_t *p, const char *url, char **host, long *port,
                             const apr_array_header_t *codes)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *h = NULL, *portstr = NULL;
    const char *why = NULL;

    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK)
        why = apr_psprintf(p, "the redirect to '%s' is not a URL", url);
    else if (strcmp(scheme, "http") && strcmp(scheme, "https"))
        why = apr_psprintf(p, "the redirect to a %s: URL is refused (only http and https)", scheme);
    else if (curl_url_get(u, CURLUPART_PORT, &portstr, CURLU_DEFAULT_PORT) != CURLUE_OK ||
             (strcmp(portstr, "80") && strcmp(portstr, "443")))
        why = apr_psprintf(p, "the redirect to port %s is refused (only 80 and 443)", portstr ? portstr : "?");
    else if (h[0] == '[' || strspn(h, "0123456789.") == strlen(h))
        why = apr_psprintf(p, "the redirect to the address %s is refused (a name is needed)", h);
    else if (carries_code(url, codes))
        why = "the redirect carries the validation code in its URL, which is refused";
    if (!why) {
        *host = apr_pstrdup(p, h);
        *port = strtol(portstr, NULL, 10);
    }
    curl_free(scheme);
    curl_free(h);
    curl_free(portstr);
    curl_url_cleanup(u);
    return why;
}

void ec_dcv_web_fetch(ec_resolver_t *r, apr_pool_t *p, const ec_dcv_conf_t *c, const char *name,
                      const apr_array_header_t *codes, ec_dcv_web_result_t *res)
{
    const char *url = apr_pstrcat(p, "http://", name, EC_DCV_WEB_PATH, NULL);
    apr_time_t deadline = apr_time_now() + apr_time_from_sec(EC_DCV_WEB_TIMEOUT_S);
    body_t body;

    memset(res, 0, sizeof(*res));
    res->urls = res->dns = "";
    body.buf = apr_palloc(p, EC_DCV_WEB_MAX_BODY + 1);
    for (int hop = 0;; hop++) {
        char *host, *location = NULL, errbuf[CURL_ERROR_SIZE] = "";
        const char *addr, *why, *resolve_line;
        struct curl_slist *resolve;
        long port, status = 0;
        int v6 = 0;
        apr_interval_time_t left = deadline - apr_time_now();
        CURL *h;
        CURLcode cc;

        if (left <= 0) {
            result(res, 0, "timeout", apr_psprintf(p, "no answer within %d s", EC_DCV_WEB_TIMEOUT_S));
            return;
        }
        if ((why = url_parts(p, url, &host, &port, hop ? codes : NULL)) != NULL) {
            result(res, 0, "redirect", why);
            return;
        }
        if (!(addr = address_of(r, p, c, host, res, &v6)))
            return;
        if ((left = deadline - apr_time_now()) <= 0) {
            result(res, 0, "timeout", apr_psprintf(p, "no answer within %d s", EC_DCV_WEB_TIMEOUT_S));
            return;
        }
        resolve_line = apr_psprintf(p, "%s:%ld:%s%s%s", host, port, v6 ? "[" : "", addr, v6 ? "]" : "");
        resolve = curl_slist_append(NULL, resolve_line);
        body.len = 0;
        body.too_large = 0;
        h = curl_easy_init();
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_RESOLVE, resolve);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_PROXY, "");
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "e-Cert-DCV/1 (+domain validation)");
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(left / 1000 < 5000 ? left / 1000 : 5000));
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(left / 1000) + 1);
        /* Control is shown by what the name serves, not by its TLS certificate (a site asking
         * for its first certificate may have none that verifies). */
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (cc == CURLE_OK && status >= 300 && status < 400) {
            char *loc = NULL;
            curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc);
            location = loc ? apr_pstrdup(p, loc) : NULL;
        }
        curl_easy_cleanup(h);
        curl_slist_free_all(resolve);
        res->urls = apr_psprintf(p, "%s%sGET %s -> %ld (%s)", res->urls, *res->urls ? "\n" : "", url, status, addr);
        if (body.too_large) {
            result(res, 0, "too-large", apr_psprintf(p, "%s sent more than %d bytes", url, EC_DCV_WEB_MAX_BODY));
            return;
        }
        if (cc == CURLE_OPERATION_TIMEDOUT) {
            result(res, 0, "timeout", apr_psprintf(p, "%s did not answer within the time allowed", url));
            return;
        }
        if (cc != CURLE_OK) {
            result(res, 0, "connect", apr_psprintf(p, "%s could not be fetched (%s)", url,
                                                  *errbuf ? errbuf : curl_easy_strerror(cc)));
            return;
        }
        if (status == 301 || status == 302 || status == 307 || status == 308) {
            if (!location) {
                result(res, 0, "redirect", apr_psprintf(p, "%s redirects (%ld) without a usable Location", url, status));
                return;
            }
            if (hop + 1 > EC_DCV_WEB_MAX_HOPS) {
                result(res, 0, "redirect", apr_psprintf(p, "more than %d redirects", EC_DCV_WEB_MAX_HOPS));
                return;
            }
            url = location;
            continue;
        }
        if (status >= 300 && status < 400) {
            result(res, 0, "redirect", apr_psprintf(p, "%s answered %ld: only 301, 302, 307 and 308 redirects "
                                                       "are followed", url, status));
            return;
        }
        if (status == 404 || status == 410) {
            result(res, 0, "not-found", apr_psprintf(p, "%s was not found (%ld)", url, status));
            return;
        }
        if (status != 200) {
            result(res, 0, "http", apr_psprintf(p, "%s answered HTTP status %ld", url, status));
            return;
        }
        body.buf[body.len] = 0;
        for (int i = 0; i < codes->nelts; i++) {
            const char *code = APR_ARRAY_IDX(codes, i, const char *);
            if (body.len >= strlen(code) && memmem(body.buf, body.len, code, strlen(code))) {
                result(res, 1, "passed", apr_psprintf(p, "%s holds the validation code", url));
                res->matched = i;
                return;
            }
        }
        result(res, 0, "code-absent", apr_psprintf(p, "%s does not hold the validation code", url));
        return;
    }
}
