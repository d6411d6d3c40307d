/* Delivering the mail queue through the SMTP relay (libcurl; STARTTLS whenever the relay
 * offers it). A message is claimed by a single-row UPDATE that commits at once, so of several
 * workers (nodes) exactly one sends it; a failed attempt is retried with a growing delay
 * (30 s doubling, at most an hour) and never dropped. Call ec_mail_send_init once per process
 * before any thread sends. */
#ifndef EC_MAIL_SEND_H
#define EC_MAIL_SEND_H

#include "ec_mail.h"

extern const ec_stmt_t ec_mail_send_stmts[];

apr_status_t ec_mail_send_init(void);

typedef struct {
    int sent, failed;
    const char *last_error;      /* of the last failure */
} ec_mail_round_t;

/* Sends at most max due messages; stops at the first failure of the relay (the rest wait for
 * their retry). owner names this worker in the claims. */
apr_status_t ec_mail_send_due(ec_store_t *s, apr_pool_t *p, const ec_mail_conf_t *c,
                              const char *owner, int max, ec_mail_round_t *round);

#endif
