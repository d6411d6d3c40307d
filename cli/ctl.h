/* ecertctl: the back-office CLI on the same core as the httpd modules. */
#ifndef CTL_H
#define CTL_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "ec_store.h"
#include "ec_p11.h"
#include "ec_crl_conf.h"
#include "ec_profile.h"
#include "ec_notice.h"
#include "ec_dcv_conf.h"
#include "ec_conf_file.h"

typedef struct {
    const char *path;
    const char *db_driver, *db_params;
    const char *p11_module, *token_pin;
    const char *publish_dir;
    apr_array_header_t *lines;     /* every directive line: ctl_line_t */
} ctl_conf_t;

/* One directive line, split as httpd splits it. */
typedef ec_conf_line_t ctl_line_t;

typedef struct {
    apr_pool_t *pool;
    ctl_conf_t conf;
    const char *actor;
} ctl_t;

/* Reads the directives ecertctl understands from an httpd-style file. */
apr_status_t ctl_conf_read(apr_pool_t *p, const char *path, ctl_conf_t *conf, const char **err);
/* The issuance and CRL directives of the file, checked as httpd checks them. */
ec_profile_conf_t *ctl_profile(ctl_t *ctl);
ec_crl_conf_t *ctl_crl_conf(ctl_t *ctl);
/* The DNS, CAA and DCV directives of the file, and a resolver from them. */
ec_dcv_conf_t *ctl_dcv_conf(ctl_t *ctl);
ec_resolver_t *ctl_resolver(ctl_t *ctl, const ec_dcv_conf_t *c);
/* The English sentence of a message-catalogue key of the pages (the key itself without one). */
const char *ctl_sentence(ctl_t *ctl, const char *key);
/* The mail directives and ECertTemplates of the file, for the notices ecertctl queues. */
ec_notice_ctx_t ctl_notices(ctl_t *ctl);
/* The key URI of an ECertIssuer line of role, or NULL. */
const char *ctl_issuer_uri(ctl_t *ctl, const char *role);
apr_status_t ctl_store(ctl_t *ctl, const ec_stmt_t *const *sets, ec_store_t **s);
/* The token of the activated CA keys (PIN from the keyring), or exit with why not. */
apr_status_t ctl_token(ctl_t *ctl, const char *token_label, ec_p11 **p11);
/* The token with a PIN in hand (ceremony, activation): the status, not an exit. */
apr_status_t ctl_token_open(ctl_t *ctl, const char *token_label, const char *pin, ec_p11 **p11);
/* Label of the token of the CA keys (ECertIssuer ssl's, else "ecert"). */
const char *ctl_ca_token(ctl_t *ctl);
/* Two custodians' shares typed at the prompt -> the token PIN; a refusal is audited (what
 * names the attempt) and exits. */
const char *ctl_pin_from_shares(ctl_t *ctl, const char *what);
/* The PIN a token was initialised with, typed at the prompt (first ceremony). */
const char *ctl_read_initial_pin(ctl_t *ctl);
/* A serial as typed (0x, colons, spaces, odd length) in certificate.serial_hex form: lower
 * case, no separators, no leading zero octets; NULL if it is not hex. */
char *ctl_serial_norm(apr_pool_t *p, const char *in);
/* Closes the token and the database, then returns code for exit(). */
int ctl_finish(int code);
void ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

int cmd_init(ctl_t *ctl, int argc, char **argv);
int cmd_application(ctl_t *ctl, int argc, char **argv);
int cmd_audit(ctl_t *ctl, int argc, char **argv);
/* ecertctl audit unfinished ... (argv[0] is "unfinished"). */
int ctl_unfinished(ctl_t *ctl, int argc, char **argv);
int cmd_revoke(ctl_t *ctl, int argc, char **argv);
int cmd_issue(ctl_t *ctl, int argc, char **argv);
int cmd_crl(ctl_t *ctl, int argc, char **argv);
int cmd_report(ctl_t *ctl, int argc, char **argv);
int cmd_dcv(ctl_t *ctl, int argc, char **argv);
int cmd_perspectives(ctl_t *ctl, int argc, char **argv);
int cmd_activate(ctl_t *ctl, int argc, char **argv);
int cmd_ct(ctl_t *ctl, int argc, char **argv);
int cmd_deactivate(ctl_t *ctl, int argc, char **argv);
/* Issues the CRLs of the roles now (NULL-terminated list; ecertctl crl issue, init, revoke --ca)
 * and prints what was issued; returns 0, or 1 after printing why one failed. */
int ctl_crl_issue(ctl_t *ctl, ec_store_t *s, ec_p11 *p11, const char *const *roles);

#endif
