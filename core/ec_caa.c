#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "ec_caa.h"

const char EC_CAA_NOT_MINE[] = "not a CAA directive";

static int ldh_name(const char *s, size_t n)
{
    size_t label = 0;
    if (!n || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (!label || s[i - 1] == '-')
                return 0;
            label = 0;
        }
        else if (apr_isalnum(s[i]) || (s[i] == '-' && label)) {
            if (++label > 63)
                return 0;
        }
        else
            return 0;
    }
    return label && s[n - 1] != '-';
}

const char *ec_caa_directive(ec_caa_conf_t *c, apr_pool_t *p, const char *name, int argc, char *const *argv)
{
    if (strcasecmp(name, "ECertCAAIssuerDomain"))
        return EC_CAA_NOT_MINE;
    if (argc < 1)
        return "ECertCAAIssuerDomain takes the issuer domain names CAA records name this CA by";
    c->issuers = apr_array_make(p, argc, sizeof(const char *));
    for (int i = 0; i < argc; i++) {
        char *d = apr_pstrdup(p, argv[i]);
        if (!ldh_name(d, strlen(d)))
            return apr_psprintf(p, "ECertCAAIssuerDomain: '%s' is not a domain name", argv[i]);
        for (char *q = d; *q; q++)
            *q = (char)apr_tolower(*q);
        APR_ARRAY_PUSH(c->issuers, const char *) = d;
    }
    return NULL;
}

ec_caa_conf_t *ec_caa_merge(apr_pool_t *p, const ec_caa_conf_t *base, const ec_caa_conf_t *add)
{
    ec_caa_conf_t *c = apr_pcalloc(p, sizeof(*c));
    c->issuers = add->issuers ? add->issuers : base->issuers;
    return c;
}

void ec_caa_finish(ec_caa_conf_t *c, apr_pool_t *p)
{
    if (!c->issuers) {
        c->issuers = apr_array_make(p, 2, sizeof(const char *));
        APR_ARRAY_PUSH(c->issuers, const char *) = "ecert.gov.hk";
        APR_ARRAY_PUSH(c->issuers, const char *) = "hongkongpost.gov.hk";
    }
}

apr_status_t ec_caa_parse(apr_pool_t *p, const uint8_t *d, size_t len, ec_caa_rr_t *out)
{
    size_t tl;
    char *tag;

    /* RFC 8659 4.1: at least 1, "SHOULD be no more than 15" octets: longer ones are read too. */
    if (len < 2 || (tl = d[1]) < 1 || 2 + tl > len)
        return APR_EINVAL;
    tag = apr_palloc(p, tl + 1);
    for (size_t i = 0; i < tl; i++) {
        if (!apr_isalnum(d[2 + i]))
            return APR_EINVAL;            /* RFC 8659 4.1: the tag is letters and digits */
        tag[i] = (char)apr_tolower(d[2 + i]);
    }
    tag[tl] = 0;
    out->value_has_nul = memchr(d + 2 + tl, 0, len - 2 - tl) != NULL;
    out->flags = d[0];
    out->tag = tag;
    out->value = apr_pstrmemdup(p, (const char *)d + 2 + tl, len - 2 - tl);
    return APR_SUCCESS;
}

static const char *skip_wsp(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* issue-value (RFC 8659 4.2): [issuer-domain-name] [";" parameters]. Returns 0 when malformed;
 * *issuer is "" for the empty issuer, params the (tag, value) pairs in order. */
static int parse_issue(apr_pool_t *p, const char *v, const char **issuer, apr_array_header_t *params)
{
    const char *s = skip_wsp(v), *e = s;
    char *dn;

    while (*e && *e != ';' && *e != ' ' && *e != '\t')
        e++;
    if (e > s && !ldh_name(s, (size_t)(e - s)))
        return 0;
    dn = apr_pstrmemdup(p, s, (apr_size_t)(e - s));
    for (char *q = dn; *q; q++)
        *q = (char)apr_tolower(*q);
    *issuer = dn;
    s = skip_wsp(e);
    if (!*s)
        return 1;
    if (*s != ';')
        return 0;
    s = skip_wsp(s + 1);
    while (*s) {
        const char *t = s, *val;
        while (apr_isalnum(*s) || (*s == '-' && s > t))
            s++;
        if (s == t || s[-1] == '-')
            return 0;
        const char *tag_end = s;
        s = skip_wsp(s);
        if (*s != '=')
            return 0;
        s = skip_wsp(s + 1);
        val = s;
        while (*s >= 0x21 && *s <= 0x7e && *s != ';')
            s++;
        APR_ARRAY_PUSH(params, const char *) = apr_pstrmemdup(p, t, (apr_size_t)(tag_end - t));
        APR_ARRAY_PUSH(params, const char *) = apr_pstrmemdup(p, val, (apr_size_t)(s - val));
        s = skip_wsp(s);
        if (*s == ';')
            s = skip_wsp(s + 1);
        else if (*s)
            return 0;
    }
    return 1;
}

static int known_tag(const char *t)
{
    return !strcmp(t, "issue") || !strcmp(t, "issuewild") || !strcmp(t, "iodef") ||
           !strcmp(t, "contactemail") || !strcmp(t, "contactphone");
}

static int in_list(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *s = list; *s;) {
        const char *e = strchr(s, ',');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l == n && !strncasecmp(s, item, n))
            return 1;
        if (!e)
            break;
        s = e + 1;
    }
    return 0;
}

/* Does one issue/issuewild property authorise us? *why says why not when it names us. */
static int authorises(apr_pool_t *p, const ec_caa_conf_t *c, const ec_caa_rr_t *rr, const char *method,
                      const char **reason, const char **why)
{
    apr_array_header_t *params = apr_array_make(p, 4, sizeof(const char *));
    const char *issuer;
    int ours = 0;

    if (rr->value_has_nul || !parse_issue(p, rr->value, &issuer, params))
        return 0;                   /* malformed: authorises no one (RFC 8659 4.2) */
    for (int i = 0; i < c->issuers->nelts; i++)
        ours |= !strcmp(issuer, APR_ARRAY_IDX(c->issuers, i, const char *));
    if (!ours)
        return 0;
    for (int i = 0; i + 1 < params->nelts; i += 2) {
        const char *k = APR_ARRAY_IDX(params, i, const char *), *v = APR_ARRAY_IDX(params, i + 1, const char *);
        if (!strcasecmp(k, "accounturi")) {
            *why = "the CAA record names this CA but only for an ACME account (accounturi), which this CA has not";
            *reason = "account";
            return 0;
        }
        if (!strcasecmp(k, "validationmethods") && (!method || !in_list(v, method))) {
            *why = apr_psprintf(p, "the CAA record names this CA but only for the validation methods %s%s%s", v,
                                method ? ", not " : "", method ? method : "");
            *reason = "method";
            return 0;
        }
    }
    return 1;
}

ec_caa_verdict_t ec_caa_decide(apr_pool_t *p, const ec_caa_conf_t *c, const apr_array_header_t *rrs,
                               int wildcard, const char *method, const char **reason, const char **why)
{
    const char *tag = "issue", *named_why = NULL, *named_reason = NULL;
    int have_issue = 0, have_wild = 0;

    *why = NULL;
    *reason = "permit";
    for (int i = 0; i < rrs->nelts; i++) {
        const ec_caa_rr_t *rr = &APR_ARRAY_IDX(rrs, i, ec_caa_rr_t);
        if ((rr->flags & 0x80) && !known_tag(rr->tag)) {
            *why = apr_psprintf(p, "the CAA record set has the unknown critical property '%s'", rr->tag);
            *reason = "critical";
            return EC_CAA_FORBID;
        }
        have_issue |= !strcmp(rr->tag, "issue");
        have_wild |= !strcmp(rr->tag, "issuewild");
    }
    /* A wildcard obeys issuewild when there is one, else issue (RFC 8659 4.3). */
    if (wildcard && have_wild)
        tag = "issuewild";
    else if (!have_issue)
        return EC_CAA_PERMIT;       /* no restriction for this kind of name (RFC 8659 4.2) */
    for (int i = 0; i < rrs->nelts; i++) {
        const ec_caa_rr_t *rr = &APR_ARRAY_IDX(rrs, i, ec_caa_rr_t);
        const char *w = NULL, *rs = NULL;
        if (!strcmp(rr->tag, tag)) {
            if (authorises(p, c, rr, method, &rs, &w))
                return EC_CAA_PERMIT;
            if (w) {
                named_why = w;
                named_reason = rs;
            }
        }
    }
    *reason = named_reason ? named_reason : "forbid";
    *why = named_why ? named_why
                     : apr_psprintf(p, "the CAA %s records do not name this CA (%s)", tag,
                                    APR_ARRAY_IDX(c->issuers, 0, const char *));
    return EC_CAA_FORBID;
}

static void fail(ec_caa_result_t *res, ec_caa_verdict_t v, const char *reason, const char *why)
{
    res->verdict = v;
    res->reason = reason;
    res->why = why;
}

apr_status_t ec_caa_check(ec_resolver_t *r, apr_pool_t *p, const ec_caa_conf_t *c, const char *name,
                          const char *method, ec_caa_result_t *res)
{
    int wildcard = !strncmp(name, "*.", 2);
    const char *at = wildcard ? name + 2 : name;

    memset(res, 0, sizeof(*res));
    res->evidence = "";
    /* RFC 8659 3: the first non-empty CAA set from the name up to the TLD; CNAMEs are followed
     * by the resolver for each name, and the climb goes on from the name, not the target. */
    for (;;) {
        ec_dns_answer_t a;
        apr_array_header_t *rrs;
        const char *dot, *why, *reason;

        if (ec_resolve(r, p, at, EC_DNS_CAA, &a) != APR_SUCCESS) {
            fail(res, EC_CAA_FAILED, "lookup", apr_psprintf(p, "'%s' cannot be looked up", at));
            return APR_SUCCESS;
        }
        res->evidence = apr_pstrcat(p, res->evidence, *res->evidence ? "\n" : "",
                                    ec_dns_answer_text(p, at, EC_DNS_CAA, &a), NULL);
        if (a.security == EC_DNS_BOGUS) {
            fail(res, EC_CAA_FAILED, "bogus", apr_psprintf(p, "the CAA lookup of %s failed DNSSEC validation (%s)",
                                                           at, a.why));
            return APR_SUCCESS;
        }
        if (a.security == EC_DNS_FAILED) {
            fail(res, EC_CAA_FAILED, "lookup", apr_psprintf(p, "the CAA lookup of %s failed (%s)", at, a.why));
            return APR_SUCCESS;
        }
        rrs = apr_array_make(p, a.rrs->nelts, sizeof(ec_caa_rr_t));
        for (int i = 0; i < a.rrs->nelts; i++) {
            const ec_dns_rr_t *d = &APR_ARRAY_IDX(a.rrs, i, ec_dns_rr_t);
            ec_caa_rr_t rr;
            if (ec_caa_parse(p, d->data, d->len, &rr) != APR_SUCCESS) {
                fail(res, EC_CAA_FORBID, "forbid",
                     apr_psprintf(p, "the CAA record set of %s holds a malformed record", at));
                res->relevant_at = at;
                return APR_SUCCESS;
            }
            APR_ARRAY_PUSH(rrs, ec_caa_rr_t) = rr;
        }
        if (rrs->nelts) {
            ec_caa_verdict_t v = ec_caa_decide(p, c, rrs, wildcard, method, &reason, &why);
            res->relevant_at = at;
            fail(res, v, reason, why);
            return APR_SUCCESS;
        }
        if (!(dot = strchr(at, '.')))
            break;                  /* the TLD had none: no CAA anywhere */
        at = dot + 1;
    }
    fail(res, EC_CAA_PERMIT, "permit", NULL);
    return APR_SUCCESS;
}
