/* CSRF tokens of the anonymous forms (login, revocation login, reports), which keep nothing
 * in the database per visitor: the browser holds a random nonce in a cookie and the form
 * carries the time it was made and an HMAC of nonce and time under a key every node shares
 * (table form_secret). A POST is accepted when the form's MAC matches the cookie's nonce and
 * the form is at most EC_CSRF_MAX_AGE old. */
#ifndef EC_CSRF_H
#define EC_CSRF_H

#include <stdint.h>
#include <time.h>
#include "ec_store.h"

extern const ec_stmt_t ec_csrf_stmts[];

#define EC_CSRF_KEY_LEN 32
/* Long enough to read the form and find the envelope; a stolen form is worthless after. */
#define EC_CSRF_MAX_AGE 3600
/* A form made on another node whose clock is ahead is still accepted. */
#define EC_CSRF_SKEW 60

/* The shared key, created by the first node that asks. */
apr_status_t ec_csrf_key(ec_store_t *s, apr_pool_t *p, uint8_t key[EC_CSRF_KEY_LEN]);
/* Whether a cookie value is a nonce of ours (64 hex digits). */
int ec_csrf_nonce_ok(const char *nonce);
/* A new nonce, 64 hex digits. */
apr_status_t ec_csrf_nonce(apr_pool_t *p, const char **nonce);
/* The form token for nonce made at now: 8 hex digits of time and 64 of MAC. */
const char *ec_csrf_token(apr_pool_t *p, const uint8_t key[EC_CSRF_KEY_LEN], const char *nonce, time_t now);
/* APR_SUCCESS; APR_EINVAL: missing, malformed, or not made for this nonce with this key;
 * APR_TIMEUP: genuine but older than max_age (or from the future). */
apr_status_t ec_csrf_check(const uint8_t key[EC_CSRF_KEY_LEN], const char *nonce, const char *token,
                           time_t now, int max_age);

#endif
