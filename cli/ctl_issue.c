/* ecertctl issue: back-office issuance for an approved application, through the same
 * pipeline (checks, profile, lint, HSM, one transaction) as the subscriber pages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>
#include <apr_strings.h>
#include "ctl.h"
#include "ec_app.h"
#include "ec_audit.h"
#include "ec_flow.h"
#include "ec_issue.h"
#include "ec_revoke.h"
#include "ec_signing.h"
#include "ec_mpic.h"
#include "ec_dcv.h"
#include "ec_dcv_gate.h"
#include "ec_util.h"

static const ec_stmt_t *const sets[] = { ec_app_stmts, ec_audit_stmts, ec_issue_stmts, ec_dcv_stmts, ec_mpic_stmts,
                                         ec_signing_stmts, ec_revoke_stmts, NULL };

int cmd_issue(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "reference", required_argument, NULL, 'r' }, { "csr", required_argument, NULL, 'c' },
        { "out", required_argument, NULL, 'o' }, { NULL, 0, NULL, 0 }
    };
    const char *ref = NULL, *csr_file = NULL, *out_file = NULL, *label = NULL;
    ec_profile_conf_t *prof;
    ec_issuer_t issuers[2];
    ec_issue_ctx_t ctx;
    ec_issue_result_t res;
    ec_dcv_env_t env;
    ec_store_t *s;
    ec_app_t *a;
    char *pem;
    size_t pem_len;
    apr_status_t rv;
    int ch, n = 0;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'r': ref = optarg; break;
        case 'c': csr_file = optarg; break;
        case 'o': out_file = optarg; break;
        default:
            ctl_fail("usage: ecertctl issue --reference REF --csr FILE [--out FILE]");
        }
    }
    if (!ref || !csr_file || optind != argc)
        ctl_fail("usage: ecertctl issue --reference REF --csr FILE [--out FILE]");

    /* The issuance directives of the same configuration file httpd reads. */
    prof = ctl_profile(ctl);
    if (ec_read_file(ctl->pool, csr_file, EC_CSR_MAX_PEM, &pem, &pem_len) != APR_SUCCESS)
        ctl_fail("issue: cannot read %s (at most %d bytes)", csr_file, EC_CSR_MAX_PEM);

    memset(&ctx, 0, sizeof(ctx));
    memset(issuers, 0, sizeof(issuers));
    /* ECertIssuer ROLE CERTFILE KEYURI, as httpd splits it (quoted paths may hold spaces). */
    for (int i = 0; i < ctl->conf.lines->nelts && n < 2; i++) {
        ctl_line_t *l = &APR_ARRAY_IDX(ctl->conf.lines, i, ctl_line_t);
        const char *role, *file, *uri;
        const uint8_t *der;
        size_t len;
        if (strcasecmp(l->name, "ECertIssuer") || l->argc != 3)
            continue;
        role = l->argv[0];
        file = l->argv[1];
        uri = l->argv[2];
        if (ec_read_cert(ctl->pool, file, &der, &len) != APR_SUCCESS ||
            ec_issuer_init(ctl->pool, role, der, len, &issuers[n]) != APR_SUCCESS)
            ctl_fail("ECertIssuer %s: cannot read its certificate %s", role, file);
        if (!ctx.p11) {
            label = ec_p11_uri_token(ctl->pool, uri);
            if (!label)
                ctl_fail("ECertIssuer %s: the key URI names no token", role);
            ctl_token(ctl, label, &ctx.p11);
        }
        if (ec_p11_key_get(ctx.p11, ctl->pool, uri, &issuers[n].key) != APR_SUCCESS)
            ctl_fail("ECertIssuer %s: no key %s in the token", role, uri);
        if (!strcmp(role, "ssl"))
            ctx.ssl = &issuers[n];
        else
            ctx.ev = &issuers[n];
        n++;
    }
    if (!n)
        ctl_fail("%s has no ECertIssuer lines", ctl->conf.path);
    ctx.profile = prof;
    env.conf = ctl_dcv_conf(ctl);
    env.resolver = ctl_resolver(ctl, env.conf);
    ctx.checks = ec_dcv_issue_checks(ctl->pool, &env);

    ctl_store(ctl, sets, &s);
    rv = ec_app_load(s, ctl->pool, ref, &a);
    if (rv == APR_ENOENT)
        ctl_fail("issue: no application with reference number %s", ref);
    if (rv != APR_SUCCESS)
        ctl_fail("issue: the database could not be read");
    ec_issue(&ctx, s, ctl->pool, a, pem, pem_len, ctl->actor, &res);
    switch (res.status) {
    case EC_ISSUE_OK:
        break;
    case EC_ISSUE_CSR:
        ctl_fail("issue: refused: %s (%s); nothing was issued", ec_csr_err_text(res.csr_err),
                 ec_csr_err_key(res.csr_err));
    case EC_ISSUE_PRECHECK:
        ctl_fail("issue: refused: %s; nothing was issued", res.detail ? res.detail : ctl_sentence(ctl, res.message));
    case EC_ISSUE_STATE:
        ctl_fail("issue: %s: only an approved or confirmed application can be issued", res.message);
    case EC_ISSUE_LINT:
        ctl_fail("issue: the certificate failed the pre-issuance lint: %s; nothing was signed", res.message);
    case EC_ISSUE_CT:
        ctl_fail("issue: not issued: the CT logs gave %s; the precertificate was revoked", res.message);
    default:
        ctl_fail("issue: %s", res.message);
    }
    pem = ec_pem(ctl->pool, "CERTIFICATE", res.der, res.der_len);
    if (out_file) {
        FILE *f = fopen(out_file, "w");
        if (!f || fputs(pem, f) < 0 || fclose(f) != 0)
            ctl_fail("issue: certificate issued (serial %s) but %s could not be written", res.serial_hex,
                     out_file);
    }
    printf("Issued by:      %s\nSerial Number:  %s\nValid:          %s to %s (UTC)\n",
           (res.issuer_id && !strcmp(ec_profile_issuer_role(a->cert_type), "ev") ? ctx.ev : ctx.ssl)->cn,
           ec_flow_serial_spaced(ctl->pool, res.serial_hex), ec_sqltime(ctl->pool, res.not_before),
           ec_sqltime(ctl->pool, res.not_after));
    if (!out_file)
        fputs(pem, stdout);
    return 0;
}
