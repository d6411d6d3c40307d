#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <unistd.h>
#include <pwd.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "ctl.h"
#include "ec_log.h"
#include "ec_token_pin.h"

/* Tokens must be closed before exit handlers run: the PKCS#11 module tears down its
 * own state in them. So the pool goes first, explicitly. */
static apr_pool_t *main_pool;

int ctl_finish(int code)
{
    if (main_pool)
        apr_pool_destroy(main_pool);
    main_pool = NULL;
    apr_terminate();
    return code;
}

static void usage(void)
{
    fputs("usage: ecertctl [-f ecert.conf] COMMAND ...\n"
          "  init [--force] [names, URLs and validity: see ecertctl init --help]\n"
          "      key ceremony: Root CA 3, the two Sub CAs and their OCSP responders in the token;\n"
          "      replaces the token PIN by a random one and prints its three custodians' shares\n"
          "  activate [--httpd-pid FILE] | deactivate [--httpd-pid FILE]\n"
          "      CA keys on (two custodians' shares, typed at the prompt) or off\n"
          "  application add --server-name NAME --type TYPE ... (see application add --help)\n"
          "  application show REFERENCE\n"
          "  report list [--all] | report show REPORT | report close REPORT --note TEXT\n"
          "      certificate problem and key-compromise reports, with BR 4.9.5's 24-hour clock\n"
          "  audit verify | audit checkpoint\n"
          "      the audit chain against the checkpoints the token signed | sign one now\n"
          "  ct check SERIAL\n"
          "      the certificate's embedded SCTs checked again against the ECertCTLog keys\n"
          "  audit unfinished [--revoke SERIAL | --revoke-all-older-than MINUTES]\n"
          "      signatures whose certificate was never stored (a crash before the commit); revoke them\n"
          "  crl issue [--ca ssl|ev|root] | crl list [--ca R] | crl show NUMBER [--ca R] [--out FILE]\n"
          "      CRLs and the ARL: issue now, list the archive, read one back\n"
          "  revoke SERIAL --reason REASON [--issuer ssl|ev|ID] [--note TEXT]\n"
          "      administrative revocation; re-signs the certificate's OCSP responses\n"
          "  dcv caa NAME... | dcv txt NAME CODE | dcv status REF | dcv check REF website|dns|caa\n"
          "      domain validation and CAA, as the CA's resolver sees them\n"
          "  perspectives check\n"
          "      the remote perspectives' health (BR 3.2.2.9 corroboration)\n"
          "  issue --reference REF --csr FILE [--out FILE]\n"
          "      back-office issuance for an approved application (same pipeline as the web)\n", stderr);
    exit(ctl_finish(2));
}

void ctl_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("ecertctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(ctl_finish(1));
}

static void log_stderr(void *baton, ec_log_level_t level, apr_status_t rv, void *req, const char *tag,
                       const char *msg)
{
    char why[120];

    if (level > EC_LOG_WARN && !getenv("ECERTCTL_DEBUG"))
        return;
    if (rv != APR_SUCCESS)
        fprintf(stderr, "ecertctl: [%s] %s (%s)\n", tag, msg, apr_strerror(rv, why, sizeof(why)));
    else
        fprintf(stderr, "ecertctl: [%s] %s\n", tag, msg);
}

apr_status_t ctl_store(ctl_t *ctl, const ec_stmt_t *const *sets, ec_store_t **s)
{
    if (!ctl->conf.db_params)
        ctl_fail("%s has no DBDParams line", ctl->conf.path);
    if (ec_store_open(s, ctl->pool, ctl->conf.db_driver, ctl->conf.db_params, sets) != APR_SUCCESS)
        ctl_fail("cannot use the database (see the message above)");
    return APR_SUCCESS;
}

const char *ctl_ca_token(ctl_t *ctl)
{
    const char *label = ec_p11_uri_token(ctl->pool, ctl_issuer_uri(ctl, "ssl"));
    return label ? label : "ecert";
}

apr_status_t ctl_token_open(ctl_t *ctl, const char *token_label, const char *pin, ec_p11 **p11)
{
    if (!ctl->conf.p11_module)
        ctl_fail("%s needs an ECertPKCS11Module line", ctl->conf.path);
    return ec_p11_open(p11, ctl->pool, ctl->conf.p11_module, ec_p11_token_uri(ctl->pool, token_label), pin, 2);
}

apr_status_t ctl_token(ctl_t *ctl, const char *token_label, ec_p11 **p11)
{
    char *pin;
    const char *err;

    if (!ctl->conf.p11_module || !ctl->conf.token_pin)
        ctl_fail("%s needs ECertPKCS11Module and ECertTokenPIN lines", ctl->conf.path);
    if (ec_token_pin_read(ctl->pool, ctl->conf.token_pin, &pin, &err) != APR_SUCCESS)
        ctl_fail("%s", err);
    if (ctl_token_open(ctl, token_label, pin, p11) != APR_SUCCESS)
        ctl_fail("cannot open the token '%s' (see the message above)", token_label);
    return APR_SUCCESS;
}

static const char *operator_name(apr_pool_t *p)
{
    const char *u = getenv("SUDO_USER");
    struct passwd *pw;
    if (!u && (pw = getpwuid(getuid())))
        u = pw->pw_name;
    return apr_psprintf(p, "operator:%s", u ? u : "unknown");
}

int main(int argc, char **argv)
{
    ctl_t ctl;
    const char *conf = getenv("ECERT_CONF"), *err;
    int i = 1;

    apr_app_initialize(&argc, (const char *const **)&argv, NULL);
    memset(&ctl, 0, sizeof(ctl));
    apr_pool_create(&ctl.pool, NULL);
    main_pool = ctl.pool;
    ec_log_set(log_stderr, NULL);

    if (i + 1 < argc && !strcmp(argv[i], "-f")) {
        conf = argv[i + 1];
        i += 2;
    }
    if (i >= argc || !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
        usage();
    if (!conf)
        conf = "/etc/apache2/conf-available/ecert.conf";
    if (ctl_conf_read(ctl.pool, conf, &ctl.conf, &err) != APR_SUCCESS)
        ctl_fail("%s", err);
    ctl.actor = operator_name(ctl.pool);

    if (!strcmp(argv[i], "init"))
        return ctl_finish(cmd_init(&ctl, argc - i, argv + i));
    if (!strcmp(argv[i], "application"))
        return ctl_finish(cmd_application(&ctl, argc - i, argv + i));
    if (!strcmp(argv[i], "issue"))
        return ctl_finish(cmd_issue(&ctl, argc - i, argv + i));
    if (!strcmp(argv[i], "revoke"))
        return ctl_finish(cmd_revoke(&ctl, argc - i, argv + i));
    if (!strcmp(argv[i], "report"))
        return ctl_finish(cmd_report(&ctl, argc - i, argv + i));
    if (!strcmp(argv[i], "crl"))
        return ctl_finish(cmd_crl(&ctl, argc - i, argv + i));
    if (!strcmp(argv[i], "dcv"))
        return ctl_finish(cmd_dcv(&ctl, argc - i, argv + i));
    if (!strcmp(argv[i], "perspectives"))
        return ctl_finish(cmd_perspectives(&ctl, argc - i, argv + i));
    if (!strcmp(argv[i], "activate"))
        return ctl_finish(cmd_activate(&ctl, argc - i, argv + i));
    if (!strcmp(argv[i], "deactivate"))
        return ctl_finish(cmd_deactivate(&ctl, argc - i, argv + i));
    if (!strcmp(argv[i], "ct"))
        return ctl_finish(cmd_ct(&ctl, argc - i, argv + i));
    if (!strcmp(argv[i], "audit"))
        return ctl_finish(cmd_audit(&ctl, argc - i, argv + i));
    fprintf(stderr, "ecertctl: unknown command '%s'\n", argv[i]);
    usage();
}
