/* ecertctl crl issue|list|show: CRLs and the ARL on demand (CPS 4.9.7 "supplementary CRLs"),
 * and the archive every node serves from (CPS 4.9.5: kept at least 7 years). Issuing goes
 * through the same job, lease and numbering as the httpd nodes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <getopt.h>
#include <apr_strings.h>
#include "ctl.h"
#include "ec_audit.h"
#include "ec_crl_job.h"
#include "ec_crl_store.h"
#include "ec_util.h"

static const char *const all_roles[] = { "ssl", "ev", "root", NULL };

static const ec_stmt_t ctl_crl_stmts[] = {
    { "ctl_crl_ca", "SELECT id FROM ca WHERE role = %s ORDER BY id DESC LIMIT 1" },
    { "ctl_crl_roles", "SELECT id, role FROM ca WHERE role IN ('root', 'ssl', 'ev')" },
    { NULL, NULL }
};

static const ec_stmt_t *const sets[] = { ec_crl_job_stmts, ec_crl_store_stmts, ec_audit_stmts,
                                         ctl_crl_stmts, NULL };

static void __attribute__((noreturn)) crl_usage(void)
{
    fputs("usage: ecertctl crl issue [--ca ssl|ev|root]\n"
          "           issue the CRLs (and partitions) of each CA, or of one, now\n"
          "       ecertctl crl list [--ca ssl|ev|root] [--limit N]\n"
          "       ecertctl crl show NUMBER [--ca ssl|ev|root] [--out FILE]\n"
          "           one CRL of the archive; --out writes its DER\n", stderr);
    exit(ctl_finish(2));
}

static const char *role_arg(const char *v)
{
    for (int i = 0; all_roles[i]; i++)
        if (!strcmp(v, all_roles[i]))
            return all_roles[i];
    ctl_fail("--ca takes ssl, ev or root, not '%s'", v);
}

int ctl_crl_issue(ctl_t *ctl, ec_store_t *s, ec_p11 *p11, const char *const *roles)
{
    ec_crl_ctx_t ctx;
    char host[256] = "ecertctl";
    int failed = 0;

    memset(&ctx, 0, sizeof(ctx));
    ctx.conf = ctl_crl_conf(ctl);
    ctx.profile = ctl_profile(ctl);
    ctx.p11 = p11;
    ctx.actor = ctl->actor;
    gethostname(host, sizeof(host) - 1);
    {
        uint8_t rnd[6] = { 0 };
        ec_random(rnd, sizeof(rnd));
        ctx.owner = apr_psprintf(ctl->pool, "%s ecertctl %ld %s", host, (long)getpid(),
                                 ec_hex(ctl->pool, rnd, sizeof(rnd)));
    }
    for (; *roles; roles++) {
        const char *role = *roles, *err;
        const char *uri = !strcmp(role, "root") ? ctx.conf->root_key : ctl_issuer_uri(ctl, role);
        ec_crl_signer_t sg;
        ec_crl_result_t res;
        apr_status_t rv;

        if (ec_crl_signer_load(s, ctl->pool, p11, role, uri, &sg, &err) != APR_SUCCESS) {
            fprintf(stderr, "ecertctl: crl: %s\n", err);
            failed = 1;
            continue;
        }
        rv = ec_crl_run(&ctx, s, ctl->pool, &sg, time(NULL), 1, &res);
        if (rv == APR_EBUSY) {
            fprintf(stderr, "ecertctl: crl: another node is issuing the CRLs of %s right now; "
                    "its CRL will be published in a moment\n", sg.cn);
            failed = 1;
            continue;
        }
        if (rv != APR_SUCCESS) {
            fprintf(stderr, "ecertctl: crl: the CRLs of %s could not be issued and nothing was "
                    "published (see the messages above)\n", sg.cn);
            failed = 1;
            continue;
        }
        for (int i = 0; i < res.crls->nelts; i++) {
            ec_crl_rec_t *r = &APR_ARRAY_IDX(res.crls, i, ec_crl_rec_t);
            printf("CRL issued: %-4s %-28s number %" APR_UINT64_T_FMT ", %ld entries, thisUpdate %s, nextUpdate %s\n",
                   role, r->file, r->number, r->entries, ec_sqltime(ctl->pool, r->this_update),
                   ec_sqltime(ctl->pool, r->next_update));
        }
    }
    return failed;
}

typedef struct {
    ctl_t *ctl;
    apr_hash_t *roles;           /* ca.id -> role */
} list_t;

static apr_status_t print_rec(void *baton, const ec_crl_rec_t *r)
{
    list_t *l = baton;
    const char *role = apr_hash_get(l->roles, r->issuer_id, APR_HASH_KEY_STRING);

    printf("%-4s %8" APR_UINT64_T_FMT "  %-28s %s  %s  %8ld %10zu  %s%s\n", role ? role : r->issuer_id, r->number,
           r->file, ec_sqltime(l->ctl->pool, r->this_update), ec_sqltime(l->ctl->pool, r->next_update),
           r->entries, r->size, r->cause, r->scheduled ? " (scheduled)" : "");
    return APR_SUCCESS;
}

static apr_hash_t *role_map(ctl_t *ctl, ec_store_t *s)
{
    apr_hash_t *h = apr_hash_make(ctl->pool);
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;

    if (ec_store_select(s, ctl->pool, "ctl_crl_roles", &res, EC_NOARGS) != APR_SUCCESS)
        ctl_fail("crl: cannot read table ca");
    while (ec_store_next(s, ctl->pool, res, &row) == APR_SUCCESS)
        apr_hash_set(h, apr_pstrdup(ctl->pool, ec_store_col(s, row, 0)), APR_HASH_KEY_STRING,
                     apr_pstrdup(ctl->pool, ec_store_col(s, row, 1)));
    return h;
}

static const char *ca_id(ctl_t *ctl, ec_store_t *s, const char *role)
{
    const char *id;
    if (ec_store_get1(s, ctl->pool, "ctl_crl_ca", 1, &id, EC_ARGS(role)) != APR_SUCCESS)
        ctl_fail("crl: no %s CA in the database", role);
    return id;
}

static apr_status_t write_out(void *baton, const uint8_t *data, size_t len)
{
    return fwrite(data, 1, len, baton) == len ? APR_SUCCESS : APR_EGENERAL;
}

static int crl_show(ctl_t *ctl, ec_store_t *s, const char *number, const char *role, const char *out)
{
    ec_crl_rec_t rec;
    list_t l = { ctl, role_map(ctl, s) };
    char *end;
    unsigned long long n = strtoull(number, &end, 10);
    const char *const *roles = role ? (const char *const[]){ role, NULL } : all_roles;
    int found = 0;

    if (!*number || *end || *number == '-')
        ctl_fail("crl show: '%s' is not a CRL number", number);
    for (; *roles; roles++) {
        ec_crl_rec_t r;
        if (ec_crl_store_get(s, ctl->pool, ca_id(ctl, s, *roles), n, &r) == APR_SUCCESS) {
            rec = r;
            found++;
        }
    }
    if (!found)
        ctl_fail("crl show: no CRL number %s%s%s", number, role ? " of the " : "", role ? role : "");
    if (found > 1)
        ctl_fail("crl show: CRL number %s exists for %d CAs: say which with --ca", number, found);
    print_rec(&l, &rec);
    printf("sha256 %s, %d chunk(s)\n", ec_hex(ctl->pool, rec.sha256, 32), rec.chunks);
    if (out) {
        FILE *f = fopen(out, "wb");
        if (!f)
            ctl_fail("crl show: cannot write %s", out);
        if (ec_crl_store_read(s, ctl->pool, &rec, write_out, f) != APR_SUCCESS) {
            fclose(f);
            unlink(out);
            ctl_fail("crl show: the stored CRL could not be read back whole; %s not written", out);
        }
        if (fclose(f) != 0)
            ctl_fail("crl show: cannot write %s", out);
        printf("written to %s\n", out);
    }
    return 0;
}

int cmd_crl(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "ca", required_argument, NULL, 'c' }, { "limit", required_argument, NULL, 'l' },
        { "out", required_argument, NULL, 'o' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *role = NULL, *out = NULL, *verb;
    int ch, limit = 50;
    ec_store_t *s;

    if (argc < 2)
        crl_usage();
    verb = argv[1];
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'c')
            role = role_arg(optarg);
        else if (ch == 'l')
            limit = atoi(optarg) > 0 ? atoi(optarg) : 50;
        else if (ch == 'o')
            out = optarg;
        else
            crl_usage();
    }
    if (!strcmp(verb, "issue") && optind == argc && !out) {
        ec_p11 *p11;
        ctl_store(ctl, sets, &s);
        ctl_token(ctl, ctl_ca_token(ctl), &p11);
        return ctl_crl_issue(ctl, s, p11, role ? (const char *const[]){ role, NULL } : all_roles);
    }
    if (!strcmp(verb, "list") && optind == argc && !out) {
        list_t l;
        ctl_store(ctl, sets, &s);
        l.ctl = ctl;
        l.roles = role_map(ctl, s);
        printf("%-4s %8s  %-28s %-19s  %-19s  %8s %10s  %s\n", "CA", "number", "file", "thisUpdate",
               "nextUpdate", "entries", "octets", "cause");
        if (ec_crl_store_list(s, ctl->pool, role ? ca_id(ctl, s, role) : NULL, limit, print_rec, &l)
            != APR_SUCCESS)
            ctl_fail("crl list: the archive could not be read");
        return 0;
    }
    if (!strcmp(verb, "show") && optind == argc - 1) {
        ctl_store(ctl, sets, &s);
        return crl_show(ctl, s, argv[optind], role, out);
    }
    crl_usage();
}
