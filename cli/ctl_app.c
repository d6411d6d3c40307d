/* ecertctl application add|show: register approved applications, print PIN envelopes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>
#include <apr_strings.h>
#include "ctl.h"
#include "ec_app.h"
#include "ec_audit.h"
#include "ec_dns.h"
#include "ec_pin.h"
#include "ec_mail.h"

static const ec_stmt_t *const sets[] = { ec_app_stmts, ec_audit_stmts, ec_mail_stmts, NULL };

static void app_usage(void)
{
    fputs("usage: ecertctl application add --server-name NAME --type standard|wildcard|multi-domain|ev\n"
          "           --email ADDR [--org-en NAME] [--org-zh NAME] [--branch-en NAME] [--branch-zh NAME]\n"
          "           [--br-no N] [--ci-no N] [--other-doc TEXT] [--period YEARS] [--government]\n"
          "           [--extra-name NAME]... (multi-domain, ev: up to 49)\n"
          "           [--ev-street TEXT --ev-reg-no N --ev-category CATEGORY [--ev-jurisdiction CC]]\n"
          "           [--reference NNNNNNNNN --pin \"NNNN NNNN NNNN NNNN\"] (pre-printed envelope)\n"
          "           [--renewal-of REFERENCE] (CPS 4.6: same server name, a new key)\n"
          "           [--send-invitation] (User Guide A: the e-mail that asks for the CSR; never the PIN)\n"
          "       ecertctl application show REFERENCE\n"
          "       ecertctl application new-pin REFERENCE   (lost envelope: new PIN, unlocked)\n"
          "       ecertctl application unlock REFERENCE    (after too many failed logins)\n", stderr);
    exit(ctl_finish(2));
}

static void print_envelope(ctl_t *ctl, const ec_app_t *a, char *pin)
{
    printf("+---------------------------------------------------------------+\n"
           "|  Hongkong Post e-Cert (Server) PIN Envelope                    |\n"
           "+---------------------------------------------------------------+\n"
           "  Server Name:                  %s\n"
           "  Subscriber Reference Number:  %s\n"
           "  Reference Number:             %s\n"
           "  e-Cert PIN:                   %s\n"
           "  (the PIN is shown only now; it is stored as a salted hash)\n",
           ec_dns_display(ctl->pool, a->server_name), a->subscriber_ref, a->envelope_ref,
           ec_pin_format(ctl->pool, pin));
    memset(pin, 0, strlen(pin));
}

static int add(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "server-name", required_argument, NULL, 'n' }, { "type", required_argument, NULL, 't' },
        { "extra-name", required_argument, NULL, 'x' }, { "org-en", required_argument, NULL, 'o' },
        { "org-zh", required_argument, NULL, 'O' }, { "branch-en", required_argument, NULL, 'b' },
        { "branch-zh", required_argument, NULL, 'B' }, { "br-no", required_argument, NULL, 'r' },
        { "ci-no", required_argument, NULL, 'c' }, { "other-doc", required_argument, NULL, 'd' },
        { "period", required_argument, NULL, 'p' }, { "government", no_argument, NULL, 'g' },
        { "email", required_argument, NULL, 'e' }, { "ev-street", required_argument, NULL, 's' },
        { "ev-reg-no", required_argument, NULL, 'R' }, { "ev-category", required_argument, NULL, 'C' },
        { "ev-jurisdiction", required_argument, NULL, 'j' }, { "reference", required_argument, NULL, 'F' },
        { "pin", required_argument, NULL, 'P' }, { "renewal-of", required_argument, NULL, 'W' },
        { "send-invitation", no_argument, NULL, 'I' },
        { NULL, 0, NULL, 0 }
    };
    ec_app_t *a = ec_app_new(ctl->pool);
    ec_store_t *s;
    const char *problem;
    apr_status_t rv;
    char *pin = NULL, *end;
    const char *given_pin = NULL;
    ec_notice_ctx_t notices;
    int ch, send_invitation = 0;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'n': a->server_name = optarg; break;
        case 't': a->cert_type = optarg; break;
        case 'x': APR_ARRAY_PUSH(a->extra, const char *) = optarg; break;
        case 'o': a->org_en = optarg; break;
        case 'O': a->org_zh = optarg; break;
        case 'b': a->branch_en = optarg; break;
        case 'B': a->branch_zh = optarg; break;
        case 'r': a->br_no = optarg; break;
        case 'c': a->ci_cr_no = optarg; break;
        case 'd': a->other_doc = optarg; break;
        case 'p':
            a->period_years = (int)strtol(optarg, &end, 10);
            if (*end || !*optarg)
                ctl_fail("--period takes a number of years");
            break;
        case 'g': a->government = 1; break;
        case 'e': a->email = optarg; break;
        case 's': a->ev_street = optarg; break;
        case 'R': a->ev_reg_no = optarg; break;
        case 'C': a->ev_category = optarg; break;
        case 'j': a->ev_jurisdiction = optarg; break;
        case 'F': a->envelope_ref = optarg; break;
        case 'P': given_pin = optarg; break;
        case 'W': a->renewal_of = optarg; break;
        case 'I': send_invitation = 1; break;
        default: app_usage();
        }
    }
    if (optind != argc)
        ctl_fail("application add: unexpected argument '%s'", argv[optind]);
    if (!a->server_name)
        ctl_fail("application add: --server-name is required");
    if ((problem = ec_app_validate(ctl->pool, a)) != NULL)
        ctl_fail("application add: %s; nothing was registered", problem);
    if (!a->envelope_ref != !given_pin)
        ctl_fail("application add: a pre-printed envelope needs both --reference and --pin");
    if (a->envelope_ref && (strlen(a->envelope_ref) != 9 || strspn(a->envelope_ref, "0123456789") != 9 ||
                            a->envelope_ref[0] == '0'))
        ctl_fail("application add: the reference number has 9 digits (not starting with 0); "
                 "nothing was registered");
    if (given_pin && !(pin = ec_pin_normalize(ctl->pool, given_pin)))
        ctl_fail("application add: the e-Cert PIN has exactly 16 digits (spaces allowed); "
                 "nothing was registered");
    ctl_store(ctl, sets, &s);
    if (a->renewal_of && (problem = ec_app_check_renewal(s, ctl->pool, a)) != NULL)
        ctl_fail("application add: %s; nothing was registered", problem);
    if (send_invitation)
        notices = ctl_notices(ctl);
    rv = ec_app_create(s, ctl->pool, a, ctl->actor, send_invitation ? &notices : NULL, &pin);
    if (rv == APR_EEXIST)
        ctl_fail("application add: reference number %s is already used; nothing was registered",
                 a->envelope_ref);
    if (rv != APR_SUCCESS)
        ctl_fail("application add: the application could not be stored; nothing was registered");

    print_envelope(ctl, a, pin);
    if (send_invitation)
        printf("the \"Submission of Certificate Signing Request (CSR)\" e-mail is queued for %s\n", a->email);
    return 0;
}

static const char *v(const char *s)
{
    return s ? s : "";
}

static int show(ctl_t *ctl, int argc, char **argv)
{
    ec_store_t *s;
    ec_app_t *a;
    apr_status_t rv;

    if (argc != 2)
        app_usage();
    ctl_store(ctl, sets, &s);
    rv = ec_app_load(s, ctl->pool, argv[1], &a);
    if (rv == APR_ENOENT)
        ctl_fail("application show: no application with reference number %s", argv[1]);
    if (rv != APR_SUCCESS)
        ctl_fail("application show: the database could not be read");
    printf("Reference Number:             %s\n"
           "Subscriber Reference Number:  %s\n"
           "Server Name:                  %s\n"
           "Type:                         %s\n"
           "Additional Server Names (%d):", a->envelope_ref, a->subscriber_ref,
           ec_dns_display(ctl->pool, a->server_name), a->cert_type, a->extra->nelts);
    for (int i = 0; i < a->extra->nelts; i++)
        printf(" %s", APR_ARRAY_IDX(a->extra, i, const char *));
    printf("\nOrganisation (English):       %s\n"
           "Organisation (Chinese):       %s\n"
           "Branch (English / Chinese):   %s / %s\n"
           "BR No. / CI-CR No. / Other:   %s / %s / %s\n"
           "Subscription Period:          %d-year\n"
           "Government (B/D):             %s\n"
           "E-mail:                       %s\n"
           "Renewal of:                   %s\n"
           "Status:                       %s%s\n",
           v(a->org_en), v(a->org_zh), v(a->branch_en), v(a->branch_zh), v(a->br_no),
           v(a->ci_cr_no), v(a->other_doc), a->period_years, a->government ? "yes" : "no",
           a->email, a->renewal_of ? a->renewal_of : "-", a->status, a->locked ? " (envelope locked)" : "");
    if (!strcmp(a->cert_type, "ev"))
        printf("EV street / reg. no. / category / jurisdiction: %s / %s / %s / %s\n",
               v(a->ev_street), v(a->ev_reg_no), v(a->ev_category), v(a->ev_jurisdiction));
    ec_audit(s, ctl->pool, ctl->actor, "application.show", apr_pstrcat(ctl->pool, "envelope ", a->envelope_ref, NULL));
    return 0;
}

/* new-pin and unlock: the back office's answers to a lost or locked envelope. */
static int envelope(ctl_t *ctl, int argc, char **argv)
{
    ec_store_t *s;
    ec_app_t *a;
    char *pin = NULL;
    apr_status_t rv;

    if (argc != 2)
        app_usage();
    ctl_store(ctl, sets, &s);
    if (!strcmp(argv[0], "unlock"))
        rv = ec_app_unlock(s, ctl->pool, argv[1], ctl->actor);
    else
        rv = ec_app_new_pin(s, ctl->pool, argv[1], ctl->actor, &pin);
    if (rv == APR_ENOENT)
        ctl_fail("application %s: no application with reference number %s", argv[0], argv[1]);
    if (rv != APR_SUCCESS || ec_app_load(s, ctl->pool, argv[1], &a) != APR_SUCCESS)
        ctl_fail("application %s: the database could not be updated", argv[0]);
    if (!pin) {
        printf("envelope %s unlocked\n", argv[1]);
        return 0;
    }
    print_envelope(ctl, a, pin);
    return 0;
}

int cmd_application(ctl_t *ctl, int argc, char **argv)
{
    if (argc < 2)
        app_usage();
    if (!strcmp(argv[1], "add"))
        return add(ctl, argc - 1, argv + 1);
    if (!strcmp(argv[1], "show"))
        return show(ctl, argc - 1, argv + 1);
    if (!strcmp(argv[1], "new-pin") || !strcmp(argv[1], "unlock"))
        return envelope(ctl, argc - 1, argv + 1);
    app_usage();
    return 2;
}
