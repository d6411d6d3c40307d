/* The CA's e-mail (R-19; CPS 4.9.3 revocation notices, 4.9.5; BR 4.9.5 problem reports):
 * messages are composed here as complete RFC 5322 text (Date, Message-ID, RFC 2047 subject,
 * MIME text/plain UTF-8 in base64) and queued in the store inside the transaction of the event
 * that causes them, so a relay outage loses nothing and never holds up a page. ec_mail_send
 * delivers the queue. */
#ifndef EC_MAIL_H
#define EC_MAIL_H

#include <time.h>
#include "ec_store.h"

extern const ec_stmt_t ec_mail_stmts[];

typedef struct {
    const char *relay;           /* smtp://host[:port] or smtps://...; NULL: queued, not sent */
    const char *relay_ca;        /* CA certificates the relay's TLS certificate is checked with */
    const char *from;            /* envelope and header sender */
    const char *from_name;       /* display name (ASCII) */
    const char *operations;      /* the CA's operations address (problem report notices) */
    const char *public_url;      /* the subscriber pages, as links in messages */
} ec_mail_conf_t;

/* ECertMailRelay, ECertMailRelayCA, ECertMailFrom, ECertMailOperations, ECertPublicURL: NULL
 * when taken, a
 * sentence, or EC_MAIL_NOT_MINE. */
extern const char EC_MAIL_NOT_MINE[];
const char *ec_mail_directive(ec_mail_conf_t *c, apr_pool_t *p, const char *name, int argc,
                              char *const *argv);
ec_mail_conf_t *ec_mail_merge(apr_pool_t *p, const ec_mail_conf_t *base, const ec_mail_conf_t *add);
void ec_mail_finish(ec_mail_conf_t *c);

/* An address the CA will send to: local@domain, printable ASCII, at most 254 octets, no
 * quoting or comments. */
int ec_mail_address_ok(const char *addr);

/* The RFC 5322 message; *message_id without the angle brackets. NULL when to or subject hold
 * what a header must not (CR, LF, a bad address). */
char *ec_mail_compose(apr_pool_t *p, const ec_mail_conf_t *c, const char *to, const char *subject,
                      const char *body, time_t date, const char **message_id);

/* Composes and queues one message, inside the caller's transaction when one is open. */
apr_status_t ec_mail_queue(ec_store_t *s, apr_pool_t *p, const ec_mail_conf_t *c, const char *kind,
                           const char *to, const char *subject, const char *body);

#endif
