/* ecertctl audit unfinished: signatures of the issuing CAs whose certificate was never stored
 * (CPS 5.4; the signing record stayed 'signing'), listed, and resolved by revoking them so that
 * the next CRL and the OCSP responders name every serial the CA key signed, or by storing the
 * signed certificate when the operator recovered it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <getopt.h>
#include <apr_strings.h>
#include "ctl.h"
#include "ec_audit.h"
#include "ec_revoke.h"
#include "ec_signing.h"
#include "ec_util.h"

static void unfinished_usage(void)
{
    fputs("usage: ecertctl audit unfinished [--older-than MINUTES]\n"
          "       ecertctl audit unfinished --revoke SERIAL\n"
          "       ecertctl audit unfinished --revoke-all-older-than MINUTES\n"
          "       ecertctl audit unfinished --record SERIAL --cert FILE\n"
          "  signing records still 'signing': certificates the CA key may have signed that were\n"
          "  never stored (a crash between C_Sign and the commit); --revoke records the serial as\n"
          "  a certificate never handed out and revokes it (no reasonCode), for the next CRL and OCSP;\n"
          "  --record stores the signed certificate recovered into FILE (PEM or DER) for its application\n", stderr);
    exit(ctl_finish(2));
}

static long long minutes_arg(const char *opt, const char *v)
{
    char *end;
    long long m = strtoll(v, &end, 10);

    if (!*v || *end || m < 0 || m > 525600)
        ctl_fail("%s takes minutes, 0 to 525600, not '%s'", opt, v);
    return m;
}

static void list(apr_array_header_t *open)
{
    if (!open->nelts) {
        printf("no unfinished signing records\n");
        return;
    }
    printf("%-42s %-8s %-11s %-10s %s\n", "SERIAL", "ISSUER", "APPLICATION", "AGE", "SERVER / ISSUING CA");
    for (int i = 0; i < open->nelts; i++) {
        const ec_signing_open_t *o = &APR_ARRAY_IDX(open, i, ec_signing_open_t);
        printf("%-42s %-8s %-11s %-10s %s / %s\n", o->serial_hex, o->issuer_id,
               *o->application_id ? o->application_id : "-",
               apr_psprintf(open->pool, "%" APR_INT64_T_FMT "m%02ds", (apr_int64_t)(o->age_s / 60),
                            (int)(o->age_s % 60)), o->server_name,
               o->issuer_cn);
    }
    printf("%d unfinished signing record(s): each a certificate the CA key may have signed and "
           "nobody received; resolve with --revoke SERIAL\n", open->nelts);
}

static int record(ctl_t *ctl, ec_store_t *s, apr_array_header_t *open, const char *cert_file)
{
    const ec_signing_open_t *o = &APR_ARRAY_IDX(open, 0, ec_signing_open_t);
    const uint8_t *der;
    const char *why;
    size_t len;
    apr_status_t rv;

    if (ec_read_cert(ctl->pool, cert_file, &der, &len) != APR_SUCCESS)
        ctl_fail("cannot read a certificate from %s", cert_file);
    rv = ec_signing_recover(s, ctl->pool, o->issuer_id, o->serial_hex, der, len, ctl->actor, &why);
    if (rv == APR_EINVAL)
        ctl_fail("serial %s not recorded: %s", o->serial_hex, why);
    if (rv == APR_ENOENT)
        ctl_fail("serial %s was finished or resolved meanwhile", o->serial_hex);
    if (rv != APR_SUCCESS)
        ctl_fail("the certificate could not be stored and nothing changed");
    printf("recorded: issuer %s serial %s, issued to application %s; the subscriber can accept it\n",
           o->issuer_id, o->serial_hex, o->application_id);
    return 0;
}

static int revoke_all(ctl_t *ctl, ec_store_t *s, apr_array_header_t *open)
{
    int failed = 0;

    for (int i = 0; i < open->nelts; i++) {
        const ec_signing_open_t *o = &APR_ARRAY_IDX(open, i, ec_signing_open_t);
        time_t now = time(NULL);
        apr_status_t rv = ec_signing_revoke(s, ctl->pool, o->issuer_id, o->serial_hex, now, ctl->actor);
        if (rv == APR_SUCCESS)
            printf("revoked: issuer %s serial %s (application %s, never delivered) at %s\n", o->issuer_id,
                   o->serial_hex, *o->application_id ? o->application_id : "-", ec_sqltime(ctl->pool, now));
        else if (rv == APR_ENOENT)
            printf("skipped: issuer %s serial %s was finished or resolved meanwhile\n", o->issuer_id,
                   o->serial_hex);
        else {
            fprintf(stderr, "ecertctl: issuer %s serial %s: the revocation failed and changed nothing\n",
                    o->issuer_id, o->serial_hex);
            failed = 1;
        }
    }
    if (open->nelts && !failed)
        printf("the responders re-sign their OCSP answers from the queue; the next CRL lists them within "
               "%d s (ECertCRLRevocationDelay)\n", ctl_crl_conf(ctl)->delay);
    return failed;
}

int ctl_unfinished(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "revoke", required_argument, NULL, 'r' }, { "revoke-all-older-than", required_argument, NULL, 'a' },
        { "older-than", required_argument, NULL, 'o' }, { "record", required_argument, NULL, 'c' },
        { "cert", required_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    static const ec_stmt_t *const sets[] = { ec_signing_stmts, ec_revoke_stmts, ec_audit_stmts, NULL };
    const char *serial = NULL, *cert_file = NULL;
    long long older = 0;
    int ch, revoke = 0, keep = 0;
    apr_array_header_t *open;
    ec_store_t *s;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'r' && !revoke) {
            if (!(serial = ctl_serial_norm(ctl->pool, optarg)))
                ctl_fail("'%s' is not a serial number in hex", optarg);
            revoke = 1;
        } else if (ch == 'a' && !revoke) {
            older = minutes_arg("--revoke-all-older-than", optarg) * 60;
            revoke = 1;
        } else if (ch == 'c' && !revoke) {
            if (!(serial = ctl_serial_norm(ctl->pool, optarg)))
                ctl_fail("'%s' is not a serial number in hex", optarg);
            revoke = keep = 1;
        } else if (ch == 'f')
            cert_file = optarg;
        else if (ch == 'o' && !revoke)
            older = minutes_arg("--older-than", optarg) * 60;
        else
            unfinished_usage();
    }
    if (optind != argc || !keep != !cert_file)
        unfinished_usage();
    ctl_store(ctl, sets, &s);
    if (ec_signing_unfinished(s, ctl->pool, older, serial, &open) != APR_SUCCESS)
        ctl_fail("cannot read the signing records");
    if (!revoke) {
        list(open);
        return 0;
    }
    if (serial && !open->nelts)
        ctl_fail("no unfinished signing record with serial number %s", serial);
    if (keep && open->nelts > 1)
        ctl_fail("serial number %s has unfinished records of %d issuers", serial, open->nelts);
    return keep ? record(ctl, s, open, cert_file) : revoke_all(ctl, s, open);
}
