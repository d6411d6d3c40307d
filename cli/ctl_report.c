/* ecertctl report list|show|close: certificate problem reports and key-compromise reports
 * (CPS 4.9.2, 4.9.12) with their age against BR 4.9.5's 24 hours for the preliminary report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>
#include <apr_strings.h>
#include "ctl.h"
#include "ec_audit.h"
#include "ec_report.h"
#include "ec_util.h"

static const ec_stmt_t *const sets[] = { ec_report_stmts, ec_audit_stmts, NULL };

static void __attribute__((noreturn)) report_usage(void)
{
    fputs("usage: ecertctl report list [--all]\n"
          "           open reports, oldest first, with their age against BR 4.9.5's 24 hours\n"
          "       ecertctl report show REPORT\n"
          "       ecertctl report close REPORT --note TEXT\n", stderr);
    exit(ctl_finish(2));
}

static const char *age(apr_pool_t *p, long s)
{
    return s < 3600 ? apr_psprintf(p, "%ldm", s / 60) : apr_psprintf(p, "%ldh%02ldm", s / 3600, s % 3600 / 60);
}

/* Open and past the preliminary report's deadline: the operator sees it first. */
static const char *clock_of(apr_pool_t *p, const ec_report_row_t *r)
{
    if (r->closed_at)
        return "closed";
    return r->age_s >= EC_REPORT_BR_HOURS * 3600 ? "OVERDUE (BR 4.9.5: 24 h)"
                                                 : apr_psprintf(p, "%s left", age(p, EC_REPORT_BR_HOURS * 3600 - r->age_s));
}

static apr_status_t print_row(void *baton, const ec_report_row_t *r)
{
    ctl_t *ctl = baton;
    printf("%-12s  %-14s  %-14s  %s  age %-8s  %-24s  %s\n", r->report_no, r->kind, r->category,
           ec_sqltime(ctl->pool, r->created_at), age(ctl->pool, r->age_s), clock_of(ctl->pool, r),
           *r->serial_hex ? r->serial_hex : *r->server_name ? r->server_name : r->spki_sha256_hex);
    return APR_SUCCESS;
}

static int show(ctl_t *ctl, ec_store_t *s, const char *no)
{
    ec_report_row_t r;
    apr_status_t rv = ec_report_get(s, ctl->pool, no, &r);

    if (rv == APR_ENOENT)
        ctl_fail("report: no report %s", no);
    if (rv != APR_SUCCESS)
        ctl_fail("report: the reports could not be read");
    printf("Report:       %s (%s, %s)\n", r.report_no, r.kind, r.category);
    printf("Filed:        %s UTC from %s, age %s: %s\n", ec_sqltime(ctl->pool, r.created_at), r.client_addr,
           age(ctl->pool, r.age_s), clock_of(ctl->pool, &r));
    printf("Contact:      %s\n", *r.contact ? r.contact : "(none)");
    if (*r.serial_hex)
        printf("Certificate:  serial %s\n", r.serial_hex);
    if (*r.server_name)
        printf("Certificate:  server name %s\n", r.server_name);
    if (*r.spki_sha256_hex)
        printf("Key:          SHA-256 of the public key %s (blocked); %d certificate(s) revoked\n",
               r.spki_sha256_hex, r.revoked);
    if (r.closed_at)
        printf("Closed:       %s UTC by %s: %s\n", ec_sqltime(ctl->pool, r.closed_at), r.closed_by, r.close_note);
    if (*r.body)
        printf("\n%s\n", r.body);
    return 0;
}

int cmd_report(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "all", no_argument, NULL, 'a' }, { "note", required_argument, NULL, 'n' },
        { NULL, 0, NULL, 0 }
    };
    const char *verb, *note = NULL;
    int ch, all = 0;
    ec_store_t *s;
    apr_status_t rv;

    if (argc < 2)
        report_usage();
    verb = argv[1];
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'a')
            all = 1;
        else if (ch == 'n')
            note = optarg;
        else
            report_usage();
    }
    if (!strcmp(verb, "list") && optind == argc && !note) {
        ctl_store(ctl, sets, &s);
        if (ec_report_list(s, ctl->pool, !all, print_row, ctl) != APR_SUCCESS)
            ctl_fail("report: the reports could not be read");
        return 0;
    }
    if (!strcmp(verb, "show") && optind == argc - 1 && !note && !all) {
        ctl_store(ctl, sets, &s);
        return show(ctl, s, argv[optind]);
    }
    if (!strcmp(verb, "close") && optind == argc - 1 && !all) {
        if (!note || !*note || strlen(note) > 2000)
            ctl_fail("report close: --note TEXT says what was done (1 to 2000 characters)");
        ctl_store(ctl, sets, &s);
        rv = ec_report_close(s, ctl->pool, argv[optind], note, ctl->actor);
        if (rv == APR_ENOENT)
            ctl_fail("report close: no report %s", argv[optind]);
        if (rv == APR_EEXIST)
            ctl_fail("report close: report %s is already closed", argv[optind]);
        if (rv != APR_SUCCESS)
            ctl_fail("report close: the report could not be closed; nothing was changed");
        printf("report %s closed\n", argv[optind]);
        return 0;
    }
    report_usage();
}
