/* Constructed E-mail (BR 3.2.2.4.4; CPS 4.2.1): a fresh code mailed through the CA's relay to
 * admin, administrator, webmaster, hostmaster or postmaster at the name or a parent of it
 * (never a public suffix), typed back by the subscriber. Only the code's SHA-256 is stored;
 * it is compared in constant time, spent after EC_DCV_EMAIL_TRIES wrong tries or a newer mail,
 * and an application sends at most ECertDCVMailsPerHour of them. */
#ifndef EC_DCV_EMAIL_H
#define EC_DCV_EMAIL_H

#include "ec_dcv.h"
#include "ec_notice.h"

extern const ec_stmt_t ec_dcv_email_stmts[];
extern const char *const ec_dcv_email_locals[];   /* NULL-terminated */

/* The domains an address may be at for the application: its one name (a wildcard's base) and
 * each parent that is not a public suffix, longest first. */
apr_array_header_t *ec_dcv_email_domains(apr_pool_t *p, const ec_app_t *a);

typedef enum {
    EC_DCV_MAIL_OK = 0,
    EC_DCV_MAIL_NOT_OFFERED,     /* the method does not apply to this application now */
    EC_DCV_MAIL_ADDRESS,         /* not one of the constructed addresses */
    EC_DCV_MAIL_RATE,            /* too many mails this hour */
    EC_DCV_MAIL_NO_CODE,         /* no live mailed code */
    EC_DCV_MAIL_WRONG,           /* not the code; *tries_left says how many remain */
    EC_DCV_MAIL_SPENT,           /* that was the last try: a new mail is needed */
    EC_DCV_MAIL_INTERNAL
} ec_dcv_mail_status_t;

/* Catalogue suffix of a status ("ok", "not-offered", ...). */
const char *ec_dcv_mail_status_name(ec_dcv_mail_status_t st);

ec_dcv_mail_status_t ec_dcv_email_send(ec_store_t *s, apr_pool_t *p, const ec_dcv_conf_t *c,
                                       const ec_notice_ctx_t *n, const ec_app_t *a, const char *local,
                                       const char *domain, const char *actor);
ec_dcv_mail_status_t ec_dcv_email_verify(ec_store_t *s, apr_pool_t *p, const ec_dcv_conf_t *c,
                                         const ec_app_t *a, const char *typed, const char *actor,
                                         int *tries_left);

#endif
