/* ecertctl dcv: what the CA sees of a domain, with the resolver and settings httpd uses.
 *   dcv caa NAME... [--method website|dns|email]   CAA decision for each name (RFC 8659)
 *   dcv txt NAME CODE [NAME CODE]...               the DNS Change check of each name
 *   dcv corroborate NAME CODE [NAME CODE]...       the same, then asked of the remote perspectives
 *   dcv status REFERENCE                           each name of an application and its validation
 *   dcv check REFERENCE website|dns|caa            run the check now (as the worker does)
 * caa and txt print the time each check took, for bench/dcv.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_time.h>
#include "ctl.h"
#include "ec_app.h"
#include "ec_audit.h"
#include "ec_caa.h"
#include "ec_clock.h"
#include "ec_dcv.h"
#include "ec_dcv_job.h"
#include "ec_mpic.h"
#include "ec_util.h"

static const ec_stmt_t *const sets[] = { ec_app_stmts, ec_audit_stmts, ec_dcv_stmts, ec_dcv_job_stmts, ec_mpic_stmts, NULL };

static void __attribute__((noreturn)) dcv_usage(void)
{
    fputs("usage: ecertctl dcv caa NAME... [--method website|dns|email]\n"
          "       ecertctl dcv txt NAME CODE [NAME CODE]...\n"
          "       ecertctl dcv corroborate NAME CODE [NAME CODE]...\n"
          "       ecertctl dcv status REFERENCE\n"
          "       ecertctl dcv check REFERENCE website|dns|caa\n", stderr);
    exit(ctl_finish(2));
}

static double ms_since(apr_time_t t0)
{
    return (double)(apr_time_now() - t0) / 1000.0;
}

static int caa(ctl_t *ctl, ec_dcv_env_t *env, int argc, char **argv)
{
    const char *method = NULL;
    int refused = 0, n = 0;

    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--method") && i + 1 < argc) {
            ec_dcv_method_t m = ec_dcv_method_parse(argv[++i]);
            if (!m)
                dcv_usage();
            method = ec_dcv_method_caa_label(m);
        }
    for (int i = 0; i < argc; i++) {
        apr_pool_t *p;
        ec_caa_result_t r;
        apr_time_t t0;
        if (!strcmp(argv[i], "--method")) {
            i++;
            continue;
        }
        apr_pool_create(&p, ctl->pool);
        t0 = apr_time_now();
        ec_caa_check(env->resolver, p, &env->conf->caa, argv[i], method, &r);
        printf("%s\t%s\t%.3f ms\t%s\n", argv[i],
               r.verdict == EC_CAA_PERMIT ? "permit" : r.verdict == EC_CAA_FORBID ? "forbid" : "failed", ms_since(t0),
               r.verdict == EC_CAA_FAILED ? r.why
               : apr_psprintf(p, "%s%s%s%s", r.relevant_at ? "relevant at " : "no CAA records",
                              r.relevant_at ? r.relevant_at : "", r.why ? ": " : "", r.why ? r.why : ""));
        if (getenv("ECERTCTL_DEBUG"))
            printf("%s\n", r.evidence);
        refused |= r.verdict != EC_CAA_PERMIT;
        n++;
        apr_pool_destroy(p);
    }
    if (!n)
        dcv_usage();
    return refused;
}

static int txt(ctl_t *ctl, ec_dcv_env_t *env, int argc, char **argv)
{
    int failed = 0;
    for (int i = 0; i + 1 < argc; i += 2) {
        ec_dcv_txt_result_t r;
        apr_array_header_t *codes;
        apr_pool_t *p;
        apr_time_t t0;
        apr_pool_create(&p, ctl->pool);
        codes = apr_array_make(p, 1, sizeof(const char *));
        APR_ARRAY_PUSH(codes, const char *) = argv[i + 1];
        t0 = apr_time_now();
        ec_dcv_txt_check(env->resolver, p, argv[i], codes, &r);
        printf("%s\t%s\t%.3f ms\t%s\n", argv[i], r.reason, ms_since(t0), r.detail);
        if (getenv("ECERTCTL_DEBUG"))
            printf("%s\n", r.dns);
        failed |= !r.passed;
        apr_pool_destroy(p);
    }
    return failed;
}

/* One line per name: the primary's reason and time, the quorum's outcome and time, and the
 * slowest perspective's own time in that round (bench/mpic.sh reads them). */
static int corroborate(ctl_t *ctl, ec_dcv_env_t *env, int argc, char **argv)
{
    int failed = 0;
    for (int i = 0; i + 1 < argc; i += 2) {
        ec_dcv_txt_result_t r;
        ec_mpic_result_t m;
        apr_array_header_t *codes;
        apr_pool_t *p;
        apr_time_t t0;
        double primary, slowest = 0;
        apr_pool_create(&p, ctl->pool);
        codes = apr_array_make(p, 1, sizeof(const char *));
        APR_ARRAY_PUSH(codes, const char *) = argv[i + 1];
        t0 = apr_time_now();
        ec_dcv_txt_check(env->resolver, p, argv[i], codes, &r);
        primary = ms_since(t0);
        memset(&m, 0, sizeof(m));
        if (r.passed)
            ec_mpic_dcv(&env->conf->mpic, p, ec_clock_now(), "txt", argv[i], argv[i + 1], &m);
        for (int k = 0; k < m.remote; k++)
            if (m.asks[k].ms > slowest)
                slowest = m.asks[k].ms;
        printf("%s\t%s\t%.3f ms\t%s %d/%d\t%.3f ms\t%.3f ms\t%s\n", argv[i], r.reason, primary,
               !r.passed ? "-" : m.passed ? "corroborated" : "not-corroborated", m.corroborating, m.remote,
               ms_since(t0), slowest, m.detail ? m.detail : r.detail);
        failed |= !r.passed || !m.passed;
        apr_pool_destroy(p);
    }
    return failed;
}

static ec_app_t *load(ctl_t *ctl, ec_store_t *s, const char *ref)
{
    ec_app_t *a;
    apr_status_t rv = ec_app_load(s, ctl->pool, ref, &a);
    if (rv == APR_ENOENT)
        ctl_fail("dcv: no application with reference number %s", ref);
    if (rv != APR_SUCCESS)
        ctl_fail("dcv: the database could not be read");
    return a;
}

static int status(ctl_t *ctl, ec_store_t *s, ec_dcv_env_t *env, const char *ref)
{
    ec_app_t *a = load(ctl, s, ref);
    ec_dcv_status_t st;

    if (ec_dcv_status(s, ctl->pool, a, ec_clock_now(), &st) != APR_SUCCESS)
        ctl_fail("dcv: the database could not be read");
    printf("Application %s (%s, %s)%s\n", a->envelope_ref, a->server_name, a->cert_type,
           a->government ? ": a Government B/D application, validated by other means" : "");
    for (int i = 0; i < st.names->nelts; i++) {
        const ec_dcv_name_t *n = &APR_ARRAY_IDX(st.names, i, ec_dcv_name_t);
        printf("  %-40s ", n->name);
        if (n->valid_id)
            printf("validated by %s at %s on %s%s", n->valid_method, n->valid_domain,
                   ec_sqltime(ctl->pool, n->valid_at), n->reused ? " (reused)" : "");
        else if (n->last_reason)
            printf("not validated: %s (%s)", n->last_reason, n->last_detail);
        else
            printf("not validated");
        if (n->caa_verdict)
            printf("; CAA %s%s%s", n->caa_verdict, n->caa_detail && *n->caa_detail ? ": " : "",
                   n->caa_detail ? n->caa_detail : "");
        putchar('\n');
    }
    if (st.job_state)
        printf("A %s check is %s.\n", st.job_kind, st.job_state);
    return st.all_valid ? 0 : 1;
}

int cmd_dcv(ctl_t *ctl, int argc, char **argv)
{
    ec_dcv_env_t env;
    ec_store_t *s;

    if (argc < 3)
        dcv_usage();
    env.conf = ctl_dcv_conf(ctl);
    if (!strcmp(argv[1], "status")) {
        ctl_store(ctl, sets, &s);
        return status(ctl, s, &env, argv[2]);
    }
    env.resolver = ctl_resolver(ctl, env.conf);
    if (!strcmp(argv[1], "caa"))
        return caa(ctl, &env, argc - 2, argv + 2);
    if (!strcmp(argv[1], "txt") && argc >= 4 && argc % 2 == 0)
        return txt(ctl, &env, argc - 2, argv + 2);
    if (!strcmp(argv[1], "corroborate") && argc >= 4 && argc % 2 == 0)
        return corroborate(ctl, &env, argc - 2, argv + 2);
    if (!strcmp(argv[1], "check") && argc == 4) {
        ec_app_t *a;
        ctl_store(ctl, sets, &s);
        a = load(ctl, s, argv[2]);
        if (!strcmp(a->status, "approved") || strcmp(a->status, "confirmed"))
            ctl_fail("dcv: application %s is %s; only a confirmed application is validated", argv[2], a->status);
        if (ec_dcv_run(s, ctl->pool, &env, a, argv[3], ctl->actor, NULL, NULL) != APR_SUCCESS)
            ctl_fail("dcv: the %s check does not apply to application %s, or the database failed", argv[3], argv[2]);
        return status(ctl, s, &env, argv[2]);
    }
    dcv_usage();
}
