#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "ec_dcv_txt.h"
#include "ec_dcv.h"

static const char *trimmed(apr_pool_t *p, const char *s)
{
    const char *e;
    while (apr_isspace(*s))
        s++;
    e = s + strlen(s);
    while (e > s && apr_isspace(e[-1]))
        e--;
    return apr_pstrmemdup(p, s, (apr_size_t)(e - s));
}

/* One TXT set: 1 holds a code (*matched its index), 0 has records but no code, -1 has none;
 * -2 bogus, -3 failed. */
static int txt_at(ec_resolver_t *r, apr_pool_t *p, const char *at, const apr_array_header_t *codes,
                  ec_dcv_txt_result_t *res, const char **why)
{
    ec_dns_answer_t a;
    if (ec_resolve(r, p, at, EC_DNS_TXT, &a) != APR_SUCCESS) {
        *why = apr_psprintf(p, "%s cannot be looked up", at);
        return -3;
    }
    res->dns = apr_pstrcat(p, res->dns, *res->dns ? "\n" : "", ec_dns_answer_text(p, at, EC_DNS_TXT, &a), NULL);
    if (a.security == EC_DNS_BOGUS) {
        *why = apr_psprintf(p, "the TXT lookup of %s failed DNSSEC validation (%s)", at, a.why);
        return -2;
    }
    if (a.security == EC_DNS_FAILED) {
        *why = apr_psprintf(p, "the TXT lookup of %s failed (%s)", at, a.why);
        return -3;
    }
    for (int i = 0; i < a.rrs->nelts; i++) {
        const ec_dns_rr_t *rr = &APR_ARRAY_IDX(a.rrs, i, ec_dns_rr_t);
        const char *t = ec_dns_txt(p, rr->data, rr->len);
        for (int j = 0; t && j < codes->nelts; j++)
            if (!strcmp(trimmed(p, t), APR_ARRAY_IDX(codes, j, const char *))) {
                res->matched = j;
                return 1;
            }
    }
    return a.rrs->nelts ? 0 : -1;
}

void ec_dcv_txt_check(ec_resolver_t *r, apr_pool_t *p, const char *name, const apr_array_header_t *codes,
                      ec_dcv_txt_result_t *res)
{
    const char *under = apr_pstrcat(p, EC_DCV_DNS_LABEL ".", name, NULL), *why = NULL, *why2 = NULL;
    int at_name, at_under;

    memset(res, 0, sizeof(*res));
    res->dns = "";
    at_name = txt_at(r, p, name, codes, res, &why);
    if (at_name == 1) {
        res->passed = 1;
        res->reason = "passed";
        res->detail = apr_psprintf(p, "the TXT record of %s holds the validation code", name);
        return;
    }
    at_under = strlen(under) <= 253 ? txt_at(r, p, under, codes, res, &why2) : -1;
    if (at_under == 1) {
        res->passed = 1;
        res->reason = "passed";
        res->detail = apr_psprintf(p, "the TXT record of %s holds the validation code", under);
        return;
    }
    if (at_name == -2 || at_under == -2) {
        res->reason = "bogus";
        res->detail = at_name == -2 ? why : why2;
    }
    else if (at_name == -3 || at_under == -3) {
        res->reason = "dns";
        res->detail = at_name == -3 ? why : why2;
    }
    else if (at_name == 0 || at_under == 0) {
        res->reason = "code-absent";
        res->detail = apr_psprintf(p, "the TXT records of %s and %s do not hold the validation code", name, under);
    }
    else {
        res->reason = "not-found";
        res->detail = apr_psprintf(p, "there is no TXT record at %s or %s", name, under);
    }
}

