#include <string.h>
#include <apr_strings.h>
#include "ec_dcv_gate.h"
#include "ec_caa.h"
#include "ec_clock.h"
#include "ec_mpic.h"
#include "ec_names.h"
#include "ec_profile.h"

static const char *names_gate(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, void *baton, void **state,
                              apr_array_header_t *evidence, const char **detail)
{
    apr_array_header_t *names = ec_profile_names(p, a);
    for (int i = 0; i < names->nelts; i++)
        if ((*detail = ec_names_check(p, APR_ARRAY_IDX(names, i, const char *))) != NULL)
            return "names.refused";
    return NULL;
}

static ec_issue_evidence_t *add(apr_array_header_t *ev, const char *name, const char *kind, const char *id)
{
    ec_issue_evidence_t *e = apr_array_push(ev);
    e->name = name;
    e->kind = kind;
    e->ref_id = id;
    return e;
}

/* User Guide C.4: the Government's bureaux and departments are validated by other means. */
static const char *dcv_gate(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, void *baton, void **state,
                            apr_array_header_t *evidence, const char **detail)
{
    ec_dcv_status_t st;

    if (a->government)
        return NULL;
    if (ec_dcv_status(s, p, a, ec_clock_now(), &st) != APR_SUCCESS) {
        *detail = "the validations could not be read";
        return "dcv.unavailable";
    }
    for (int i = 0; i < st.names->nelts; i++) {
        const ec_dcv_name_t *n = &APR_ARRAY_IDX(st.names, i, ec_dcv_name_t);
        if (!n->valid_id) {
            *detail = apr_psprintf(p, "control of %s has not been validated within the last %d days", n->name,
                                   ec_dcv_reuse_days(ec_clock_now()));
            return "dcv.required_short";
        }
        add(evidence, n->name, "dcv", n->valid_id);
    }
    return NULL;
}

typedef struct {
    const char *cert_name;
    const char *method;
    ec_caa_result_t r;
    time_t at;
    const char *mpic_id;
} caa_found_t;

/* BR 3.2.2.8, 3.2.2.9: the primary's permission corroborated by the remote perspectives,
 * every name in one round, each outcome recorded (before the issuance transaction: a refusal
 * is evidence too). Nothing is reused from an earlier issuance: BR 3.2.2.9 would allow 398
 * days for the same applicant, but a fresh quorum costs one round and proves more. */
static const char *caa_corroborate(ec_store_t *s, apr_pool_t *p, const ec_dcv_env_t *env, const ec_app_t *a,
                                   apr_array_header_t *found, const char **detail)
{
    int n = found->nelts;
    const char **names = apr_pcalloc(p, (apr_size_t)n * sizeof(*names) + 1);
    const char **methods = apr_pcalloc(p, (apr_size_t)n * sizeof(*methods) + 1);
    ec_mpic_result_t *res = apr_pcalloc(p, (apr_size_t)n * sizeof(*res) + 1);
    const char *refusal = NULL;

    for (int i = 0; i < n; i++) {
        names[i] = APR_ARRAY_IDX(found, i, caa_found_t).cert_name;
        methods[i] = APR_ARRAY_IDX(found, i, caa_found_t).method;
    }
    ec_mpic_caa(&env->conf->mpic, &env->conf->caa, p, ec_clock_now(), n, names, methods, a->government, res);
    for (int i = 0; i < n; i++) {
        if (ec_mpic_record(s, p, a, &res[i], "issuance") != APR_SUCCESS) {
            *detail = "the corroboration could not be stored";
            return "caa.failed_short";
        }
        APR_ARRAY_IDX(found, i, caa_found_t).mpic_id = res[i].id;
        if (!res[i].passed && !refusal) {
            refusal = res[i].remote ? "caa.mpic_short" : "caa.mpic_unavailable_short";
            *detail = res[i].remote
                ? apr_psprintf(p, "%s: CAA permission was corroborated from %d of %d other places on the Internet; "
                               "at least %d must (BR 3.2.2.9)", names[i], res[i].corroborating, res[i].remote,
                               res[i].remote - res[i].allowed)
                : apr_psprintf(p, "%s: %s", names[i], res[i].detail);
        }
    }
    return refusal;
}

/* Before the transaction: the lookups, for every certificate name, with the method its
 * validation used (RFC 8657 validationmethods; a government application's names have none). */
static const char *caa_lookup(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, void *baton, void **state,
                              apr_array_header_t *evidence, const char **detail)
{
    const ec_dcv_env_t *env = baton;
    apr_array_header_t *names = ec_profile_names(p, a), *found;
    ec_dcv_status_t st;
    const char *refusal;
    int have_status;

    if (!env || !env->resolver) {
        *detail = "the CA's DNS resolver is not available";
        return "caa.failed_short";
    }
    have_status = !a->government && ec_dcv_status(s, p, a, ec_clock_now(), &st) == APR_SUCCESS;
    if (!a->government && (!have_status || !st.all_valid))
        return NULL;                /* the DCV check refuses first; no lookups for nothing */
    found = apr_array_make(p, names->nelts, sizeof(caa_found_t));
    for (int i = 0; i < names->nelts; i++) {
        const char *cn = APR_ARRAY_IDX(names, i, const char *), *base = strncmp(cn, "*.", 2) ? cn : cn + 2;
        const char *method = NULL;
        caa_found_t *f = apr_array_push(found);
        for (int j = 0; have_status && j < st.names->nelts; j++) {
            const ec_dcv_name_t *n = &APR_ARRAY_IDX(st.names, j, ec_dcv_name_t);
            if (!strcmp(n->name, base) && n->valid_method)
                method = ec_dcv_method_caa_label(ec_dcv_method_parse(n->valid_method));
        }
        f->cert_name = cn;
        f->method = method;
        ec_caa_check(env->resolver, p, &env->conf->caa, cn, method, &f->r);
        f->at = ec_clock_now();
        if (f->r.verdict != EC_CAA_PERMIT) {
            *detail = apr_psprintf(p, "%s: %s", cn, f->r.why);
            return f->r.verdict == EC_CAA_FORBID ? "caa.forbid_short" : "caa.failed_short";
        }
    }
    if ((refusal = caa_corroborate(s, p, env, a, found, detail)) != NULL)
        return refusal;
    *state = found;
    return NULL;
}

/* In the transaction: what was found becomes the issuance's CAA evidence. */
static const char *caa_record(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, void *baton, void **state,
                              apr_array_header_t *evidence, const char **detail)
{
    const apr_array_header_t *found = *state;
    for (int i = 0; found && i < found->nelts; i++) {
        const caa_found_t *f = &APR_ARRAY_IDX(found, i, caa_found_t);
        const char *id;
        if (ec_dcv_record_caa(s, p, a, f->cert_name, f->at, "permit", f->r.reason, NULL, f->r.relevant_at,
                              f->r.evidence, f->mpic_id, &id) != APR_SUCCESS) {
            *detail = "the CAA result could not be stored";
            return "caa.failed_short";
        }
        add(evidence, f->cert_name, "caa", id);
    }
    return found ? NULL : "caa.failed_short";
}

const ec_issue_check_t *ec_dcv_issue_checks(apr_pool_t *p, const ec_dcv_env_t *env)
{
    ec_issue_check_t *c = apr_pcalloc(p, 4 * sizeof(*c));
    c[0] = (ec_issue_check_t){ "names", NULL, names_gate, NULL };
    c[1] = (ec_issue_check_t){ "dcv", NULL, dcv_gate, NULL };
    c[2] = (ec_issue_check_t){ "caa", caa_lookup, caa_record, (void *)env };
    return c;
}
