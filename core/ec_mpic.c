#include <string.h>
#include <apr_strings.h>
#include "ec_mpic.h"
#include "ec_audit.h"
#include "ec_log.h"
#include "ec_util.h"

const ec_stmt_t ec_mpic_stmts[] = {
    { "mpic_check_insert", "INSERT INTO mpic_check (application_id, purpose, name, method, at, required, remote, "
      "corroborating, allowed, outcome, detail) VALUES (%s, %s, %s, NULLIF(%s, ''), %s, %s, %s, %s, %s, %s, %s)" },
    { "mpic_last_id", "SELECT LAST_INSERT_ID()" },
    { "mpic_answer_insert", "INSERT INTO mpic_answer (check_id, perspective, rir, outcome, result, reason, detail, "
      "evidence, ms) VALUES (%s, %s, %s, %s, NULLIF(%s, ''), NULLIF(%s, ''), NULLIF(%s, ''), NULLIF(%s, ''), %s)" },
    { NULL, NULL }
};

int ec_mpic_corroborates(const ec_mpic_ask_t *a, const char **why_not)
{
    const char *want = strcmp(a->req.check, "caa") ? "pass" : "permit";
    if (!a->answered) {
        *why_not = a->failure;
        return 0;
    }
    /* BR 3.2.2.4.7, .18: the same Random Value (the perspective looks for the primary's only);
     * BR 3.2.2.8: CAA read as permission, whether or not the record sets are byte for byte
     * the same. */
    if (strcmp(a->ans.result, want)) {
        *why_not = "differs";
        return 0;
    }
    *why_not = NULL;
    return 1;
}

void ec_mpic_quorum(apr_pool_t *p, ec_mpic_result_t *r)
{
    apr_array_header_t *no = apr_array_make(p, 4, sizeof(const char *));
    const char *region = NULL;
    int two_regions = 0;

    r->corroborating = 0;
    for (int i = 0; i < r->remote; i++) {
        const ec_perspective_t *pv = r->asks[i].pv;
        const char *why;
        if (!ec_mpic_corroborates(&r->asks[i], &why)) {
            APR_ARRAY_PUSH(no, const char *) = apr_psprintf(p, "%s (%s)", pv->name, why);
            continue;
        }
        r->corroborating++;
        two_regions |= region && strcmp(region, pv->rir);
        region = region ? region : pv->rir;
    }
    r->allowed = ec_mpic_allowed_failures(r->remote);
    r->passed = r->remote >= r->required && r->remote - r->corroborating <= r->allowed;
    r->detail = apr_psprintf(p, "%d of %d remote perspectives corroborate (at most %d may not)%s%s", r->corroborating,
                             r->remote, r->allowed, no->nelts ? "; not: " : "",
                             no->nelts ? apr_array_pstrcat(p, no, ',') : "");
    /* The corroborating ones, not only the configured ones, span two RIRs' regions: a quorum
     * met inside one region is what a regional hijack would produce. */
    if (r->passed && r->required >= 2 && !two_regions) {
        r->passed = 0;
        r->detail = apr_pstrcat(p, r->detail, "; every corroborating perspective is in one RIR's region", NULL);
    }
}

/* Sets up res for name; 0 when the configured set cannot be relied on (res decided then). */
static int begin(const ec_mpic_conf_t *c, apr_pool_t *p, time_t now, const char *purpose, const char *check,
                 const char *name, const char *method, int optional, ec_mpic_result_t *r)
{
    const char *problem = ec_mpic_conf_problem(c, p, now);
    memset(r, 0, sizeof(*r));
    r->purpose = purpose;
    r->check = check;
    r->name = name;
    r->method = method;
    r->at = now;
    r->required = ec_mpic_required(c, now);
    if (problem) {
        r->passed = r->skipped = optional;
        r->detail = apr_pstrcat(p, optional ? "not corroborated (a Government application): " :
                                "cannot be corroborated: ", problem, NULL);
        return 0;
    }
    if (!c->perspectives->nelts) {
        r->passed = r->skipped = 1;
        r->detail = "no remote perspective is configured and none is required (a test build)";
        return 0;
    }
    r->remote = c->perspectives->nelts;
    r->asks = apr_pcalloc(p, (apr_size_t)r->remote * sizeof(ec_mpic_ask_t));
    return 1;
}

void ec_mpic_dcv(const ec_mpic_conf_t *c, apr_pool_t *p, time_t now, const char *check, const char *name,
                 const char *code, ec_mpic_result_t *res)
{
    if (!begin(c, p, now, "dcv", check, name, !strcmp(check, "web") ? "website" : "dns", 0, res))
        return;
    for (int i = 0; i < res->remote; i++) {
        ec_mpic_ask_t *a = &res->asks[i];
        a->pv = &APR_ARRAY_IDX(c->perspectives, i, ec_perspective_t);
        a->req.check = check;
        a->req.name = name;
        a->req.code = code;
    }
    ec_mpic_ask(c, p, res->asks, res->remote);
    ec_mpic_quorum(p, res);
}

void ec_mpic_caa(const ec_mpic_conf_t *c, const ec_caa_conf_t *caa, apr_pool_t *p, time_t now, int n,
                 const char *const *names, const char *const *methods, int optional, ec_mpic_result_t *res)
{
    ec_mpic_ask_t *all;
    int asked = 0;

    for (int k = 0; k < n; k++)
        if (begin(c, p, now, "caa", "caa", names[k], methods[k], optional, &res[k]))
            asked++;
    if (!asked)
        return;
    /* Every name of every perspective in one round: the wait is the slowest answer's, once. */
    all = apr_pcalloc(p, (apr_size_t)(n * c->perspectives->nelts) * sizeof(*all));
    for (int k = 0; k < n; k++)
        for (int i = 0; i < c->perspectives->nelts; i++) {
            ec_mpic_ask_t *a = &all[k * c->perspectives->nelts + i];
            a->pv = &APR_ARRAY_IDX(c->perspectives, i, ec_perspective_t);
            a->req.check = "caa";
            a->req.name = names[k];
            a->req.method = methods[k];
            a->req.issuers = caa->issuers;
        }
    ec_mpic_ask(c, p, all, n * c->perspectives->nelts);
    for (int k = 0; k < n; k++) {
        memcpy(res[k].asks, &all[k * c->perspectives->nelts], (apr_size_t)res[k].remote * sizeof(*all));
        ec_mpic_quorum(p, &res[k]);
    }
}

apr_status_t ec_mpic_record(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, ec_mpic_result_t *r, const char *actor)
{
    const char *outcome = r->skipped ? "skipped" : r->passed ? "corroborated" : "not-corroborated";
    int own_txn = s->txn == NULL;
    apr_status_t rv;

    if (own_txn && (rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    ec_store_exec(s, p, "mpic_check_insert", NULL,
                  EC_ARGS(a->id, r->purpose, r->name, r->method ? r->method : "", ec_sqltime(p, r->at),
                          apr_itoa(p, r->required), apr_itoa(p, r->remote), apr_itoa(p, r->corroborating),
                          apr_itoa(p, r->allowed), outcome, ec_clip(p, r->detail, 1000)));
    if (!s->failed && ec_store_get1(s, p, "mpic_last_id", 1, &r->id, EC_NOARGS) != APR_SUCCESS)
        s->failed = 1;
    for (int i = 0; !s->failed && i < r->remote; i++) {
        const ec_mpic_ask_t *k = &r->asks[i];
        const char *why;
        int yes = ec_mpic_corroborates(k, &why);
        ec_store_exec(s, p, "mpic_answer_insert", NULL,
                      EC_ARGS(r->id, k->pv->name, k->pv->rir, yes ? "corroborates" : why,
                              k->answered ? k->ans.result : "", k->answered ? ec_clip(p, k->ans.reason, 32) : "",
                              ec_clip(p, k->answered ? k->ans.detail : k->why, 1000),
                              k->answered ? ec_clip(p, k->ans.evidence, 60000) : "", apr_ltoa(p, (long)(k->ms + 0.5))));
    }
    if (!s->failed)
        ec_audit(s, p, actor, r->skipped ? "mpic.skipped" : r->passed ? "mpic.corroborated" : "mpic.not_corroborated",
                 apr_psprintf(p, "application %s envelope %s %s %s %s: %s", a->id, a->envelope_ref, r->purpose,
                              r->method ? r->method : r->check, r->name, r->detail));
    /* An operator looks here first when several perspectives see something else: a hijack,
     * or a perspective of ours that is down. */
    if (!r->passed || r->corroborating < r->remote)
        ec_log(EC_LOG_WARN, "ECU0001", "%s %s %s of application %s: %s", r->purpose, r->method ? r->method : r->check,
               r->name, a->id, r->detail);
    return own_txn ? ec_store_end(s, 0) : (s->failed ? APR_EGENERAL : APR_SUCCESS);
}
