/* Certificate problem reports (R-11; CPS 4.9.2; BR 4.9.5) and the record of key-compromise
 * reports: stored with a public report number, audited, acknowledged to the reporter and
 * announced to the CA's operations address by e-mail; the back office lists them with their age
 * against BR 4.9.5's 24 hours for the preliminary report, and closes them with a note. */
#ifndef EC_REPORT_H
#define EC_REPORT_H

#include <time.h>
#include "ec_notice.h"
#include "ec_store.h"

#define EC_REPORT_TEXT_MAX 4000
#define EC_REPORT_BR_HOURS 24

extern const ec_stmt_t ec_report_stmts[];

typedef struct {
    const char *kind;            /* problem | key-compromise */
    const char *category;        /* key-compromise | misissuance | fraud | other */
    const char *contact;         /* e-mail, may be NULL for a key-compromise report */
    const char *serial_hex;      /* the certificate, when the reporter named one */
    const char *server_name;
    const uint8_t *spki_sha256;  /* key-compromise: the key */
    const char *body;
    const char *client_addr;
    const char *lang;
} ec_report_t;

/* A report row with a fresh number (CPR-nnnnnnnn / KCR-nnnnnnnn) and its audit event, inside
 * the caller's transaction. */
apr_status_t ec_report_insert(ec_store_t *s, apr_pool_t *p, const ec_report_t *r, const char *actor,
                              const char **report_no);
apr_status_t ec_report_set_revoked(ec_store_t *s, apr_pool_t *p, const char *report_no, int n);

/* The problem report form, checked: NULL, or the message-catalogue key of what is wrong. The
 * certificate is named by serial (hex, any spacing) or server name; one is enough. */
const char *ec_report_check(apr_pool_t *p, ec_report_t *r, const char *cert);

/* A checked problem report: stored, audited, acknowledged to the reporter and announced to the
 * operations address, in one transaction. */
apr_status_t ec_report_submit(ec_store_t *s, apr_pool_t *p, const ec_notice_ctx_t *n, const ec_report_t *r,
                              const char *actor, const char **report_no);

/* Public forms' rate limit: records this submission; *allowed when the address had fewer than
 * max within window seconds. */
apr_status_t ec_form_rate(ec_store_t *s, apr_pool_t *p, const char *form, const char *client_addr,
                          int max, int window, int *allowed);

typedef struct {
    const char *report_no, *kind, *category, *contact, *serial_hex, *server_name, *body, *client_addr;
    const char *closed_by, *close_note, *spki_sha256_hex;
    time_t created_at, closed_at;
    int revoked;
    long age_s;                  /* since it was filed (or until it was closed) */
} ec_report_row_t;

typedef apr_status_t ec_report_fn(void *baton, const ec_report_row_t *r);
/* Reports, oldest open first; all of them, or only the open ones. */
apr_status_t ec_report_list(ec_store_t *s, apr_pool_t *p, int open_only, ec_report_fn *fn, void *baton);
apr_status_t ec_report_get(ec_store_t *s, apr_pool_t *p, const char *report_no, ec_report_row_t *row);
/* Closes an open report with the CA's note; APR_ENOENT unknown, APR_EEXIST already closed. */
apr_status_t ec_report_close(ec_store_t *s, apr_pool_t *p, const char *report_no, const char *note,
                             const char *actor);

#endif
