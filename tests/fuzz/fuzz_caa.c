/* libFuzzer target: the DNS record parsers DCV and CAA rely on, on arbitrary RDATA. The input
 * is a record set: [len16][rdata]... Each RDATA goes through the CAA parser (RFC 8659 4.1), the
 * set through the CAA decision (issue-value and parameter parsing, RFC 8657 labels) for a name
 * and a wildcard with each method label, and each RDATA through the TXT character-string
 * parser. Nothing may crash, read out of bounds or leak; a verdict is one of the three. */
#include <stdint.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include "ec_caa.h"
#include "ec_resolver.h"

static apr_pool_t *root;
static ec_caa_conf_t conf;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = { NULL, EC_CAA_METHOD_WEBSITE, EC_CAA_METHOD_DNS, EC_CAA_METHOD_EMAIL };
    apr_pool_t *p;
    apr_array_header_t *set;
    size_t i = 0;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
        ec_caa_finish(&conf, root);
    }
    apr_pool_create(&p, root);
    set = apr_array_make(p, 4, sizeof(ec_caa_rr_t));
    while (i + 2 <= size) {
        size_t n = (size_t)data[i] << 8 | data[i + 1];
        ec_caa_rr_t rr;
        const char *t;
        i += 2;
        if (n > size - i)
            n = size - i;
        if (ec_caa_parse(p, data + i, n, &rr) == APR_SUCCESS) {
            if (strlen(rr.tag) < 1 || strlen(rr.tag) > 255)
                __builtin_trap();
            APR_ARRAY_PUSH(set, ec_caa_rr_t) = rr;
        }
        t = ec_dns_txt(p, data + i, n);
        if (t && strlen(t) > n)
            __builtin_trap();
        i += n;
    }
    for (int w = 0; w < 2; w++)
        for (int m = 0; m < 4; m++) {
            const char *reason, *why;
            ec_caa_verdict_t v = ec_caa_decide(p, &conf, set, w, methods[m], &reason, &why);
            if (v != EC_CAA_PERMIT && v != EC_CAA_FORBID)
                __builtin_trap();
            if (v == EC_CAA_FORBID && (!why || !reason))
                __builtin_trap();
        }
    apr_pool_destroy(p);
    return 0;
}
