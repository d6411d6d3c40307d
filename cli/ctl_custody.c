/* ecertctl activate / deactivate: 2-of-3 control of the CA keys (CPS 5.2.2, 6.2.2).
 * The token PIN exists only as three custodians' shares; two of them, typed at a prompt
 * (never on the command line), rebuild it for as long as it takes to check it against the
 * token and hand it to httpd through the kernel keyring (ec_token_pin.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <termios.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <apr_strings.h>
#include "ctl.h"
#include "ec_audit.h"
#include "ec_shares.h"
#include "ec_token_pin.h"
#include "ec_util.h"

/* One line, echo off when it comes from a terminal. The buffer is wiped by the caller. */
static int read_secret_line(const char *prompt, char *buf, size_t len)
{
    FILE *in = stdin;
    struct termios old, quiet;
    int tty = isatty(fileno(stdin)), ok;

    if (tty) {
        fprintf(stderr, "%s: ", prompt);
        tcgetattr(fileno(in), &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fileno(in), TCSAFLUSH, &quiet);
    }
    ok = fgets(buf, (int)len, in) != NULL;
    if (tty) {
        tcsetattr(fileno(in), TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (ok)
        buf[strcspn(buf, "\r\n")] = 0;
    return ok;
}

static void audit_custody(ctl_t *ctl, const char *event, const char *detail)
{
    static const ec_stmt_t *const sets[] = { ec_audit_stmts, NULL };
    ec_store_t *s;
    ctl_store(ctl, sets, &s);
    if (ec_audit(s, ctl->pool, ctl->actor, event, detail) != APR_SUCCESS)
        ctl_fail("could not record %s in the audit log", event);
}

/* A refused attempt is audited before ecertctl says why; what was typed is never kept. */
static void refuse(ctl_t *ctl, const char *what, const char *why)
{
    audit_custody(ctl, "ca.activation_refused", apr_pstrcat(ctl->pool, what, ": ", why, NULL));
    ctl_fail("%s: %s", what, why);
}

const char *ctl_pin_from_shares(ctl_t *ctl, const char *what)
{
    ec_share_t sh[2];
    char line[512], *pin;
    const char *err;

    for (int i = 0; i < 2; i++) {
        char prompt[64];
        snprintf(prompt, sizeof(prompt), "custodian share %d of 2", i + 1);
        if (!read_secret_line(prompt, line, sizeof(line)))
            refuse(ctl, what, i ? "only one share was given: two custodians' shares are needed"
                                : "no share was given");
        if (ec_share_parse(line, &sh[i], &err) != APR_SUCCESS) {
            OPENSSL_cleanse(line, sizeof(line));
            refuse(ctl, what, apr_psprintf(ctl->pool, "share %d: %s", i + 1, err));
        }
        OPENSSL_cleanse(line, sizeof(line));
    }
    if (ec_shares_join(ctl->pool, &sh[0], &sh[1], &pin, &err) != APR_SUCCESS) {
        OPENSSL_cleanse(sh, sizeof(sh));
        refuse(ctl, what, err);
    }
    OPENSSL_cleanse(sh, sizeof(sh));
    return pin;
}

const char *ctl_read_initial_pin(ctl_t *ctl)
{
    char line[512];
    const char *pin;

    if (!read_secret_line("the token's initial (transport) user PIN", line, sizeof(line)) || !*line)
        ctl_fail("init: no initial token PIN was given");
    pin = apr_pstrdup(ctl->pool, line);
    OPENSSL_cleanse(line, sizeof(line));
    return pin;
}

/* --httpd-pid FILE: the running httpd reads the keyring at its next (re)start. */
static void tell_httpd(ctl_t *ctl, const char *pidfile, int sig, const char *how)
{
    char *text = NULL;
    apr_size_t len = 0;
    long pid;

    if (!pidfile) {
        printf("httpd reads the change at its next restart (apache2ctl %s)\n", how);
        return;
    }
    if (ec_read_file(ctl->pool, pidfile, 64, &text, &len) != APR_SUCCESS ||
        (pid = strtol(text, NULL, 10)) <= 1 || kill((pid_t)pid, sig) != 0)
        ctl_fail("cannot signal the httpd of %s: restart it yourself (apache2ctl %s)", pidfile, how);
    printf("httpd (pid %ld) told to %s\n", pid, how);
}

static const char *pidfile_opt(int argc, char **argv, const char *cmd)
{
    static const struct option opts[] = { { "httpd-pid", required_argument, NULL, 'p' }, { NULL, 0, NULL, 0 } };
    const char *pidfile = NULL;
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch != 'p') {
            fprintf(stderr, "usage: ecertctl %s [--httpd-pid FILE]\n", cmd);
            exit(ctl_finish(2));
        }
        pidfile = optarg;
    }
    if (optind != argc)
        ctl_fail("%s: unexpected argument '%s' (shares are typed at the prompt, never given here)",
                 cmd, argv[optind]);
    return pidfile;
}

int cmd_activate(ctl_t *ctl, int argc, char **argv)
{
    const char *pidfile = pidfile_opt(argc, argv, "activate"), *pin, *err;
    ec_p11 *p11;

    if (!ctl->conf.token_pin || ec_token_pin_spec_error(ctl->conf.token_pin))
        ctl_fail("%s needs an ECertTokenPIN keyring:NAME line", ctl->conf.path);
    pin = ctl_pin_from_shares(ctl, "activation");
    /* Checked against the token before httpd gets it: a wrong pair never reaches the
     * children, whose failed logins the token would count. */
    if (ctl_token_open(ctl, ctl_ca_token(ctl), pin, &p11) != APR_SUCCESS)
        refuse(ctl, "activation", "the token refuses the PIN these shares give (shares of another ceremony?)");
    if (ec_token_pin_put(ctl->pool, ctl->conf.token_pin, pin, &err) != APR_SUCCESS)
        ctl_fail("activation: %s", err);
    audit_custody(ctl, "ca.activated", "CA keys activated with two custodians' shares");
    printf("CA keys activated\n");
    tell_httpd(ctl, pidfile, SIGUSR1, "graceful");
    return 0;
}

int cmd_deactivate(ctl_t *ctl, int argc, char **argv)
{
    const char *pidfile = pidfile_opt(argc, argv, "deactivate"), *err;
    apr_status_t rv;

    if (!ctl->conf.token_pin || ec_token_pin_spec_error(ctl->conf.token_pin))
        ctl_fail("%s needs an ECertTokenPIN keyring:NAME line", ctl->conf.path);
    rv = ec_token_pin_drop(ctl->pool, ctl->conf.token_pin, &err);
    if (rv != APR_SUCCESS && rv != APR_ENOENT)
        ctl_fail("deactivation: %s", err);
    audit_custody(ctl, "ca.deactivated", rv == APR_ENOENT ? "CA keys deactivated (they were not activated)"
                                                          : "CA keys deactivated");
    printf("CA keys deactivated\n");
    /* A full restart, not a graceful one: children busy with long requests would go on
     * signing; now every child logs out of the token as it goes. */
    tell_httpd(ctl, pidfile, SIGHUP, "restart");
    return 0;
}
