/* ecertctl init: the key ceremony. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>
#include "ctl.h"
#include "ec_ca.h"
#include "ec_audit.h"
#include "ec_audit_anchor.h"
#include <apr_strings.h>
#include "ec_crl_job.h"
#include "ec_shares.h"
#include "ec_util.h"
#include <openssl/crypto.h>

static int days_arg(const char *opt, const char *v)
{
    char *end;
    long d = strtol(v, &end, 10);
    if (*end || d < 1 || d > 40 * 366)
        ctl_fail("--%s takes a number of days (1..%d)", opt, 40 * 366);
    return (int)d;
}

/* The token PIN becomes a random one nobody sees: only its three shares are printed, once,
 * one per custodian (CPS 6.2.2). */
static void hand_out_shares(ctl_t *ctl, ec_store_t *s, ec_p11 *p11, const char *old_pin)
{
    char *pin, *shares[EC_SHARES_N];
    ec_share_t first;
    const char *err;

    if (ec_shares_make(ctl->pool, &pin, shares) != APR_SUCCESS || ec_share_parse(shares[0], &first, &err))
        ctl_fail("init: cannot make the custodians' shares");
    if (ec_p11_set_pin(p11, old_pin, pin) != APR_SUCCESS)
        ctl_fail("init: the token refused the new PIN (see the message above); the hierarchy is made "
                 "and the old PIN still works: run init --force to try again");
    OPENSSL_cleanse(pin, strlen(pin));
    ec_audit(s, ctl->pool, ctl->actor, "ca.custody",
             apr_psprintf(ctl->pool, "token PIN replaced by a random one split 2 of %d (ceremony %s)",
                          EC_SHARES_N, ec_hex(ctl->pool, first.ceremony, sizeof(first.ceremony))));
    printf("\nThe token PIN is now known to nobody. Give each custodian one share, and keep none:\n"
           "any two of them activate the CA keys (ecertctl activate), one alone reveals nothing.\n");
    for (int i = 0; i < EC_SHARES_N; i++)
        printf("  custodian %d: %s\n", i + 1, shares[i]);
    fflush(stdout);
}

int cmd_init(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "force", no_argument, NULL, 'f' }, { "token-label", required_argument, NULL, 't' },
        { "root-cn", required_argument, NULL, 'r' }, { "ssl-cn", required_argument, NULL, 's' },
        { "ev-cn", required_argument, NULL, 'e' }, { "aia-base", required_argument, NULL, 'a' },
        { "crl-base", required_argument, NULL, 'c' }, { "ocsp-url", required_argument, NULL, 'o' },
        { "cps-url", required_argument, NULL, 'p' }, { "root-days", required_argument, NULL, 'R' },
        { "subca-days", required_argument, NULL, 'S' }, { "ocsp-days", required_argument, NULL, 'O' },
        { "publish-dir", required_argument, NULL, 'd' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    static const ec_stmt_t *const sets[] = { ec_ca_stmts, ec_audit_stmts, ec_crl_job_stmts,
                                             ec_crl_store_stmts, NULL };
    static const char *const roles[] = { "ssl", "ev", "root", NULL };
    ec_ceremony_t c;
    ec_store_t *s;
    ec_p11 *p11;
    const char *report = NULL, *pin, *count;
    apr_status_t rv;
    int ch;

    ec_ceremony_defaults(&c);
    c.publish_dir = ctl->conf.publish_dir;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'f': c.force = 1; break;
        case 't': c.token_label = optarg; break;
        case 'r': c.root_cn = optarg; break;
        case 's': c.ssl_cn = optarg; break;
        case 'e': c.ev_cn = optarg; break;
        case 'a': c.aia_base = optarg; break;
        case 'c': c.crl_base = optarg; break;
        case 'o': c.ocsp_url = optarg; break;
        case 'p': c.cps_url = optarg; break;
        case 'R': c.root_days = days_arg("root-days", optarg); break;
        case 'S': c.subca_days = days_arg("subca-days", optarg); break;
        case 'O': c.ocsp_days = days_arg("ocsp-days", optarg); break;
        case 'd': c.publish_dir = optarg; break;
        default:
            fputs("usage: ecertctl init [--force] [--token-label L] [--root-cn CN] [--ssl-cn CN]\n"
                  "         [--ev-cn CN] [--aia-base URL] [--crl-base URL] [--ocsp-url URL]\n"
                  "         [--cps-url URL] [--root-days N] [--subca-days N] [--ocsp-days N]\n"
                  "         [--publish-dir DIR]\n", stderr);
            return 2;
        }
    }
    if (optind != argc)
        ctl_fail("init: unexpected argument '%s'", argv[optind]);
    if (!c.publish_dir)
        ctl_fail("init: no publish directory (ECertPublishDir or --publish-dir)");
    ctl_store(ctl, sets, &s);
    if (!c.force && (ec_store_get1(s, ctl->pool, "ca_count", 1, &count, EC_NOARGS) != APR_SUCCESS ||
                     strcmp(count, "0")))
        ctl_fail("init: a CA hierarchy already exists; run again with --force (two custodians' "
                 "shares) to replace it");
    /* Replacing a hierarchy destroys CA keys: two custodians, as for activation. */
    pin = c.force ? ctl_pin_from_shares(ctl, "init --force") : ctl_read_initial_pin(ctl);
    if (ctl_token_open(ctl, c.token_label, pin, &p11) != APR_SUCCESS)
        ctl_fail("init: the token '%s' refuses this PIN (see the message above)%s", c.token_label,
                 c.force ? "" : "; after a first ceremony, init --force takes two custodians' shares");
    rv = ec_ceremony_run(p11, s, ctl->pool, &c, ctl->actor, &report);
    if (rv != APR_SUCCESS)
        ctl_fail("init: %s", report ? report : "the key ceremony failed (see the messages above)");
    fputs(report, stdout);
    /* The key that anchors the audit log outside the database (CPS 5.4.4). */
    if (ec_audit_key_make(p11, ctl->pool, c.token_label,
                          apr_pstrcat(ctl->pool, c.publish_dir, "/", EC_AUDIT_KEY_FILE, NULL)) != APR_SUCCESS)
        ctl_fail("init: the audit checkpoint key could not be made (see the message above)");
    printf("audit checkpoint key: %s/%s\n", c.publish_dir, EC_AUDIT_KEY_FILE);
    hand_out_shares(ctl, s, p11, pin);
    /* The first CRLs and the ARL belong to the ceremony: published before anything is issued. */
    return ctl_crl_issue(ctl, s, p11, roles);
}
