/* ecertctl revoke SERIAL --reason R: administrative revocation (CPS 4.9.1, 4.9.3), then the
 * certificate's OCSP responses re-signed through the token at once. The responders would
 * pick the change up from the queue within a second anyway; this makes the database hold
 * the new answers before the command returns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <getopt.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "ctl.h"
#include "ec_revoke.h"
#include "ec_audit.h"
#include "ec_ocsp_store.h"
#include "ec_crl_job.h"
#include "ec_mail.h"
#include "ec_subrevoke.h"
#include "ec_util.h"

static const ec_stmt_t revoke_stmts[] = {
    { "ctl_revoke_issuers", "SELECT issuer_id FROM certificate WHERE serial_hex = %s" },
    { "ctl_revoke_ca_role", "SELECT id FROM ca WHERE role = %s ORDER BY id DESC LIMIT 1" },
    { NULL, NULL }
};

static void revoke_usage(void)
{
    fputs("usage: ecertctl revoke SERIAL --reason REASON [--issuer ssl|ev|ID] [--note TEXT]\n"
          "                      [--compromised-at DATE]\n"
          "       ecertctl revoke --ca ssl|ev --reason REASON [--note TEXT] [--compromised-at DATE]\n"
          "  SERIAL  the certificate serial number in hex (0x prefix and colons allowed)\n"
          "  REASON  unspecified, keyCompromise, affiliationChanged, superseded,\n"
          "          cessationOfOperation or privilegeWithdrawn (CPS 7.2, BR 7.2.2);\n"
          "          a Sub CA (--ca) for cACompromise too, but not privilegeWithdrawn\n"
          "  DATE    keyCompromise only: when the key is known to have been compromised (UTC\n"
          "          YYYY-MM-DD [HH:MM:SS]); the revocation date on CRLs and OCSP goes back to it\n", stderr);
    exit(ctl_finish(2));
}

char *ctl_serial_norm(apr_pool_t *p, const char *in)
{
    char *out = apr_palloc(p, strlen(in) + 2), *o = out;
    size_t n;

    if (!strncasecmp(in, "0x", 2))
        in += 2;
    for (; *in; in++) {
        if (*in == ':' || *in == ' ')
            continue;
        if (!apr_isxdigit(*in))
            return NULL;
        *o++ = (char)apr_tolower(*in);
    }
    *o = 0;
    n = strlen(out);
    if (!n || n > 42)
        return NULL;
    if (n % 2) {
        memmove(out + 1, out, n + 1);
        out[0] = '0';
    }
    while (out[0] == '0' && out[1] == '0' && out[2])
        out += 2;
    return out;
}

/* --compromised-at: BR 7.2.2 lets a keyCompromise revocation date go back to when the key is
 * known to have been compromised; never into the future. */
static time_t compromise_date(const char *reason_arg, const char *at, time_t now)
{
    struct tm tm;
    char *end;
    time_t t;

    if (!at)
        return now;
    if (ec_reason_parse(reason_arg) != 1)
        ctl_fail("--compromised-at goes with --reason keyCompromise only");
    memset(&tm, 0, sizeof(tm));
    end = strptime(at, "%Y-%m-%d", &tm);
    if (end && (*end == ' ' || *end == 'T'))
        end = strptime(end + 1, "%H:%M:%S", &tm);
    if (end && *end == 'Z')
        end++;
    if (!end || *end || (t = timegm(&tm)) == (time_t)-1 || t < 946684800)
        ctl_fail("--compromised-at takes a UTC date YYYY-MM-DD [HH:MM:SS], not '%s'", at);
    if (t > now)
        ctl_fail("--compromised-at %s is in the future", at);
    return t;
}

/* OCSPValidity from the same configuration file the responders read. */
static int conf_validity(ctl_t *ctl)
{
    for (int i = 0; i < ctl->conf.lines->nelts; i++) {
        ctl_line_t *l = &APR_ARRAY_IDX(ctl->conf.lines, i, ctl_line_t);
        char *end;
        long v;
        if (strcasecmp(l->name, "OCSPValidity"))
            continue;
        v = strtol(l->argv[0], &end, 10);
        v *= *end == 'd' ? 86400 : *end == 'h' ? 3600 : *end == 'm' ? 60 : 1;
        if (v >= 8 * 3600 && v <= 10 * 86400)
            return (int)v;
    }
    return 4 * 86400;
}

static const char *find_issuer(ctl_t *ctl, ec_store_t *s, const char *serial, const char *issuer)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    const char *found = NULL, *col[1];
    int n = 0;

    if (issuer && (!strcmp(issuer, "ssl") || !strcmp(issuer, "ev"))) {
        if (ec_store_get1(s, ctl->pool, "ctl_revoke_ca_role", 1, col, EC_ARGS(issuer)) != APR_SUCCESS)
            ctl_fail("no %s issuing CA in the database", issuer);
        return col[0];
    }
    if (issuer)
        return issuer;
    if (ec_store_select(s, ctl->pool, "ctl_revoke_issuers", &res, EC_ARGS(serial)) != APR_SUCCESS)
        ctl_fail("cannot read the certificates");
    while (ec_store_next(s, ctl->pool, res, &row) == APR_SUCCESS) {
        found = apr_pstrdup(ctl->pool, ec_store_col(s, row, 0));
        n++;
    }
    if (!n)
        ctl_fail("no certificate with serial number %s", serial);
    if (n > 1)
        ctl_fail("serial number %s was issued by %d CAs: say which with --issuer", serial, n);
    return found;
}

/* The revocation stands whatever happens here: the responders re-sign from the queue. */
static ec_p11 *resign(ctl_t *ctl, ec_store_t *s, const char *issuer_id, const char *serial, time_t now)
{
    ec_p11 *p11;
    ec_ocsp_issuer_t is;
    const char *label = ec_p11_uri_token(ctl->pool, ctl_issuer_uri(ctl, "ssl"));

    ctl_token(ctl, label ? label : "ecert", &p11);
    if (ec_ocsp_issuer_load(s, ctl->pool, p11, issuer_id, &is) != APR_SUCCESS ||
        ec_ocsp_resign_now(s, ctl->pool, &is, serial, now, conf_validity(ctl)) != APR_SUCCESS) {
        fprintf(stderr, "ecertctl: warning: OCSP responses not re-signed here; the responders will do it "
                "from the queue\n");
        return p11;
    }
    printf("OCSP responses re-signed (SHA-1 and SHA-256 CertIDs)\n");
    return p11;
}

/* A Sub CA: its status is in table ca and the root's responder answers for it. */
static int revoke_ca(ctl_t *ctl, const char *role, const char *reason_arg, const char *note, time_t now,
                     time_t when)
{
    static const ec_stmt_t *const sets[] = { ec_revoke_stmts, ec_audit_stmts, ec_ocsp_stmts,
                                             ec_crl_job_stmts, ec_crl_store_stmts, NULL };
    static const char *const root[] = { "root", NULL };
    ec_p11 *p11;
    const char *root_id, *serial;
    int reason = ec_reason_parse(reason_arg);
    ec_store_t *s;
    apr_status_t rv;

    if (strcmp(role, "ssl") && strcmp(role, "ev"))
        ctl_fail("--ca takes ssl or ev, not '%s'", role);
    if (reason == -2 || !ec_reason_allowed_ca(reason))
        ctl_fail("reason '%s' is not one a Sub CA certificate may carry (CPS App. C note 2, BR 7.2.2): "
                 "use unspecified, keyCompromise, cACompromise, affiliationChanged, superseded or "
                 "cessationOfOperation", reason_arg);
    ctl_store(ctl, sets, &s);
    rv = ec_revoke_ca(s, ctl->pool, role, reason, when, ctl->actor, note, &root_id, &serial);
    if (rv == APR_ENOENT)
        ctl_fail("no %s Sub CA in the database", role);
    if (rv == APR_EEXIST)
        ctl_fail("the %s Sub CA is already revoked (only a change to keyCompromise is allowed)", role);
    if (rv != APR_SUCCESS)
        ctl_fail("the revocation failed and changed nothing (see the message above)");
    printf("revoked: %s Sub CA serial %s reason %s at %s; it issues nothing more\n", role, serial,
           ec_reason_name(reason), ec_sqltime(ctl->pool, when));
    p11 = resign(ctl, s, root_id, serial, now);
    /* CPS 4.9.7: the ARL is published at once when a CA certificate is revoked. */
    if (ctl_crl_issue(ctl, s, p11, root))
        fprintf(stderr, "ecertctl: warning: the ARL was not re-issued here; run ecertctl crl issue --ca root\n");
    return 0;
}

int cmd_revoke(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "reason", required_argument, NULL, 'r' }, { "issuer", required_argument, NULL, 'i' },
        { "note", required_argument, NULL, 'n' }, { "ca", required_argument, NULL, 'c' },
        { "compromised-at", required_argument, NULL, 'a' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    static const ec_stmt_t *const sets[] = { ec_revoke_stmts, ec_audit_stmts, ec_ocsp_stmts, revoke_stmts,
                                             ec_subrevoke_stmts, ec_mail_stmts, NULL };
    ec_notice_ctx_t notices;
    const char *reason_arg = NULL, *issuer_arg = NULL, *note = NULL, *ca_role = NULL, *serial, *issuer_id;
    const char *at_arg = NULL;
    ec_store_t *s;
    int ch, reason;
    time_t now = time(NULL), when;
    apr_status_t rv;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'r')
            reason_arg = optarg;
        else if (ch == 'i')
            issuer_arg = optarg;
        else if (ch == 'n')
            note = optarg;
        else if (ch == 'c')
            ca_role = optarg;
        else if (ch == 'a')
            at_arg = optarg;
        else
            revoke_usage();
    }
    if (!reason_arg)
        revoke_usage();
    when = compromise_date(reason_arg, at_arg, now);
    if (ca_role) {
        if (optind != argc || issuer_arg)
            revoke_usage();
        return revoke_ca(ctl, ca_role, reason_arg, note, now, when);
    }
    if (optind != argc - 1)
        revoke_usage();
    if (!(serial = ctl_serial_norm(ctl->pool, argv[optind])))
        ctl_fail("'%s' is not a serial number in hex", argv[optind]);
    reason = ec_reason_parse(reason_arg);
    if (reason == -2 || !ec_reason_allowed(reason))
        ctl_fail("reason '%s' is not one a subscriber certificate may carry (CPS 7.2): use unspecified, "
                 "keyCompromise, affiliationChanged, superseded, cessationOfOperation or privilegeWithdrawn",
                 reason_arg);

    ctl_store(ctl, sets, &s);
    issuer_id = find_issuer(ctl, s, serial, issuer_arg);
    /* The revocation and its notice to the subscriber (CPS 4.9.3) commit together. */
    notices = ctl_notices(ctl);
    if ((rv = ec_store_begin(s, ctl->pool)) == APR_SUCCESS) {
        rv = ec_revoke(s, ctl->pool, issuer_id, serial, reason, when, ctl->actor, note);
        if (rv == APR_SUCCESS)
            rv = ec_revoke_notify(s, ctl->pool, &notices, issuer_id, serial);
        apr_status_t end = ec_store_end(s, rv != APR_SUCCESS);
        if (rv == APR_SUCCESS)
            rv = end;
    }
    if (rv == APR_ENOENT)
        ctl_fail("no certificate with serial number %s from issuer %s", serial, issuer_id);
    if (rv == APR_EEXIST)
        ctl_fail("certificate %s is already revoked (only a change to keyCompromise is allowed)", serial);
    if (rv != APR_SUCCESS)
        ctl_fail("the revocation failed and changed nothing (see the message above)");
    printf("revoked: issuer %s serial %s reason %s at %s\n", issuer_id, serial, ec_reason_name(reason),
           ec_sqltime(ctl->pool, when));

    /* The revocation stands whatever happens next: the responders re-sign from the queue. */
    resign(ctl, s, issuer_id, serial, now);
    printf("the next CRL lists it within %d s (ECertCRLRevocationDelay)\n", ctl_crl_conf(ctl)->delay);
    return 0;
}
