#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "ec_dcv_job.h"
#include "ec_audit.h"
#include "ec_caa.h"
#include "ec_clock.h"
#include "ec_dcv_web.h"
#include "ec_log.h"
#include "ec_mpic.h"
#include "ec_profile.h"
#include "ec_util.h"

/* Longer than one name can take (a Website Change fetch: 15 s plus its address lookups; a CAA
 * climb: a lookup per label), renewed before each: a live check is never run twice. */
#define STALE_S "600"

const ec_stmt_t ec_dcv_job_stmts[] = {
    /* Assignments run left to right: kind and queued_at see the old state. */
    { "dcv_job_queue", "INSERT INTO dcv_job (application_id, kind, state, queued_at) VALUES (%s, %s, 'queued', NOW(6)) "
      "ON DUPLICATE KEY UPDATE kind = IF(state = 'done', VALUES(kind), kind), "
      "queued_at = IF(state = 'done', NOW(6), queued_at), state = IF(state = 'done', 'queued', state)" },
    { "dcv_job_claim", "UPDATE dcv_job SET state = 'running', owner = %s, claimed_at = NOW(6) "
      "WHERE state = 'queued' OR (state = 'running' AND claimed_at < NOW(6) - INTERVAL " STALE_S " SECOND) "
      "ORDER BY queued_at LIMIT 1" },
    { "dcv_job_mine", "SELECT j.application_id, j.kind, a.envelope_ref FROM dcv_job j JOIN application a "
      "ON a.id = j.application_id WHERE j.owner = %s AND j.state = 'running' LIMIT 1" },
    { "dcv_job_renew", "UPDATE dcv_job SET claimed_at = NOW(6) WHERE application_id = %s AND owner = %s "
      "AND state = 'running'" },
    { "dcv_job_done", "UPDATE dcv_job SET state = 'done', finished_at = NOW(6) WHERE application_id = %s "
      "AND owner = %s AND state = 'running'" },
    { NULL, NULL }
};

apr_status_t ec_dcv_queue(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, const char *kind, const char *actor)
{
    apr_status_t rv = ec_store_exec(s, p, "dcv_job_queue", NULL, EC_ARGS(a->id, kind));
    if (rv == APR_SUCCESS)
        ec_audit(s, p, actor, "dcv.check",
                 apr_psprintf(p, "application %s envelope %s %s check queued", a->id, a->envelope_ref, kind));
    return rv;
}

/* Returns the index of the code that passed, or -1. */
static int check_name(const ec_dcv_env_t *env, apr_pool_t *p, ec_dcv_method_t m, const char *name,
                      const apr_array_header_t *codes, ec_dcv_attempt_t *t)
{
    if (m == EC_DCV_WEBSITE) {
        ec_dcv_web_result_t w;
        ec_dcv_web_fetch(env->resolver, p, env->conf, name, codes, &w);
        t->passed = w.passed;
        t->reason = w.reason;
        t->detail = w.detail;
        t->urls = w.urls;
        t->dns = w.dns;
        t->covers_below = 0;       /* BR 3.2.2.4.18: that name only */
        return w.passed ? w.matched : -1;
    }
    else {
        ec_dcv_txt_result_t d;
        ec_dcv_txt_check(env->resolver, p, name, codes, &d);
        t->passed = d.passed;
        t->reason = d.reason;
        t->detail = d.detail;
        t->dns = d.dns;
        t->covers_below = 1;
        return d.passed ? d.matched : -1;
    }
}

/* What the primary perspective saw (code) asked of the remote ones; without the quorum the
 * attempt fails. The subscriber's sentence names no perspective; the record does. */
static apr_status_t corroborate(ec_store_t *s, apr_pool_t *p, const ec_dcv_env_t *env, const ec_app_t *a,
                                ec_dcv_method_t m, const char *name, const char *code, const char *actor,
                                ec_dcv_attempt_t *t)
{
    ec_mpic_result_t r;
    apr_status_t rv;

    ec_mpic_dcv(&env->conf->mpic, p, ec_clock_now(), m == EC_DCV_WEBSITE ? "web" : "txt", name, code, &r);
    if ((rv = ec_mpic_record(s, p, a, &r, actor)) != APR_SUCCESS)
        return rv;
    t->mpic_id = r.id;
    if (!r.passed) {
        t->passed = 0;
        t->reason = "mpic";
        t->detail = apr_psprintf(p, "the validation code was seen from %d of %d other places on the Internet; "
                                 "at least %d must see it (BR 3.2.2.9)", r.corroborating, r.remote,
                                 r.remote - r.allowed);
    }
    return APR_SUCCESS;
}

/* CAA for every certificate name whose base is validated, with the method it was validated by. */
static apr_status_t check_caa(ec_store_t *s, apr_pool_t *p, const ec_dcv_env_t *env, const ec_app_t *a,
                              ec_dcv_renew_fn *renew, void *baton)
{
    apr_array_header_t *cert = ec_profile_names(p, a);
    ec_dcv_status_t st;
    apr_status_t rv;

    if ((rv = ec_dcv_status(s, p, a, ec_clock_now(), &st)) != APR_SUCCESS)
        return rv;
    for (int i = 0; i < cert->nelts; i++) {
        const char *cn = APR_ARRAY_IDX(cert, i, const char *), *base = strncmp(cn, "*.", 2) ? cn : cn + 2;
        const ec_dcv_name_t *n = NULL;
        ec_caa_result_t c;
        for (int j = 0; j < st.names->nelts; j++)
            if (!strcmp(APR_ARRAY_IDX(st.names, j, ec_dcv_name_t).name, base))
                n = &APR_ARRAY_IDX(st.names, j, ec_dcv_name_t);
        if (!n || !n->valid_id)
            continue;
        if (renew && !renew(baton))
            return APR_EAGAIN;
        ec_caa_check(env->resolver, p, &env->conf->caa, cn,
                     ec_dcv_method_caa_label(ec_dcv_method_parse(n->valid_method)), &c);
        if ((rv = ec_dcv_record_caa(s, p, a, cn, ec_clock_now(),
                                    c.verdict == EC_CAA_PERMIT ? "permit" : c.verdict == EC_CAA_FORBID ? "forbid" : "failed",
                                    c.reason, c.why, c.relevant_at, c.evidence, NULL, NULL)) != APR_SUCCESS)
            return rv;
    }
    return APR_SUCCESS;
}

apr_status_t ec_dcv_run(ec_store_t *s, apr_pool_t *p, const ec_dcv_env_t *env, const ec_app_t *a,
                        const char *kind, const char *actor, ec_dcv_renew_fn *renew, void *baton)
{
    ec_dcv_method_t m = ec_dcv_method_parse(kind);
    ec_dcv_status_t st;
    apr_array_header_t *codes, *values;
    const char *unreliable;
    time_t now = ec_clock_now();
    apr_status_t rv;

    if (m == EC_DCV_WEBSITE || m == EC_DCV_DNS) {
        if (!(ec_dcv_methods(env->conf, a, now) & m))
            return APR_EINVAL;
        if ((rv = ec_dcv_status(s, p, a, now, &st)) != APR_SUCCESS ||
            (rv = ec_dcv_codes(s, p, a, m, now, &codes)) != APR_SUCCESS)
            return rv;
        /* BR 3.2.2.9: a validation that cannot be corroborated is not attempted. */
        if ((unreliable = ec_mpic_conf_problem(&env->conf->mpic, p, now)) != NULL)
            unreliable = apr_pstrcat(p, "domain validation cannot be corroborated now: ", unreliable, NULL);
        values = apr_array_make(p, codes->nelts, sizeof(const char *));
        for (int i = 0; i < codes->nelts; i++)
            APR_ARRAY_PUSH(values, const char *) = APR_ARRAY_IDX(codes, i, ec_dcv_code_t).code;
        for (int i = 0; i < st.names->nelts; i++) {
            const ec_dcv_name_t *n = &APR_ARRAY_IDX(st.names, i, ec_dcv_name_t);
            const ec_dcv_code_t *used;
            ec_dcv_attempt_t t;
            uint8_t h[32];
            int k;
            if (n->valid_id)
                continue;
            if (renew && !renew(baton))
                return APR_EAGAIN;         /* another node took the check over */
            memset(&t, 0, sizeof(t));
            t.app = a;
            t.method = m;
            t.name = n->name;
            t.domain = n->name;
            if (unreliable) {
                t.reason = "mpic-unavailable";
                t.detail = unreliable;
                k = -1;
            }
            else if ((k = check_name(env, p, m, n->name, values, &t)) >= 0 &&
                     (rv = corroborate(s, p, env, a, m, n->name, APR_ARRAY_IDX(values, k, const char *), actor,
                                       &t)) != APR_SUCCESS)
                return rv;
            /* The evidence names the code found, or the newest one when none was. */
            used = &APR_ARRAY_IDX(codes, k >= 0 ? k : 0, ec_dcv_code_t);
            ec_sha256(used->code, strlen(used->code), h);
            t.code_id = used->id;
            t.code_hash = ec_hex(p, h, 32);
            t.initiated = used->created;
            t.at = ec_clock_now();
            if ((rv = ec_dcv_record(s, p, &t, actor)) != APR_SUCCESS)
                return rv;
        }
    }
    else if (strcmp(kind, "caa"))
        return APR_EINVAL;
    return check_caa(s, p, env, a, renew, baton);
}

typedef struct {
    ec_store_t *s;
    apr_pool_t *p;
    const char *app_id, *owner;
} renew_t;

static int renew_claim(void *baton)
{
    renew_t *r = baton;
    int n = 0;
    return ec_store_exec(r->s, r->p, "dcv_job_renew", &n, EC_ARGS(r->app_id, r->owner)) == APR_SUCCESS && n == 1;
}

apr_status_t ec_dcv_work(ec_store_t *s, apr_pool_t *p, const ec_dcv_env_t *env, const char *owner, int *ran)
{
    const char *cols[3];
    ec_app_t *a;
    renew_t r;
    int n = 0;
    apr_status_t rv;

    *ran = 0;
    if (!env->resolver)
        return APR_SUCCESS;        /* the checks wait for a node that can resolve */
    if ((rv = ec_store_exec(s, p, "dcv_job_claim", &n, EC_ARGS(owner))) != APR_SUCCESS || !n)
        return rv;
    if ((rv = ec_store_get1(s, p, "dcv_job_mine", 3, cols, EC_ARGS(owner))) != APR_SUCCESS)
        return rv == APR_ENOENT ? APR_SUCCESS : rv;
    *ran = 1;
    r.s = s;
    r.p = p;
    r.app_id = cols[0];
    r.owner = owner;
    if ((rv = ec_app_load(s, p, cols[2], &a)) == APR_SUCCESS)
        rv = ec_dcv_run(s, p, env, a, cols[1], "dcv-worker", renew_claim, &r);
    if (rv == APR_EAGAIN)
        ec_log(EC_LOG_WARN, "ECD0002", "the %s check of application %s was taken over by another node "
               "(this one was silent for " STALE_S " s)", cols[1], cols[0]);
    else if (rv != APR_SUCCESS)
        ec_log_rv(EC_LOG_ERR, rv, "ECD0001", "the %s check of application %s stopped: %s", cols[1], cols[0],
               rv == APR_EINVAL ? "that method does not apply to it" : "database");
    ec_store_exec(s, p, "dcv_job_done", NULL, EC_ARGS(cols[0], owner));
    return rv == APR_EINVAL || rv == APR_EAGAIN ? APR_SUCCESS : rv;
}
