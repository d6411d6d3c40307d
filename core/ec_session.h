/* Subscriber web sessions, kept in the database so any httpd node serves the
 * next step. The cookie carries 32 random octets; the table holds only their SHA-256.
 * Every session has its CSRF token; a login replaces the session with a new one. The pages
 * make sessions only at login: the anonymous forms keep nothing here (ec_csrf.h). */
#ifndef EC_SESSION_H
#define EC_SESSION_H

#include <apr_tables.h>
#include "ec_store.h"

extern const ec_stmt_t ec_session_stmts[];

/* However active, a session ends this long after it began (an absolute timeout, as well as
 * the idle one): a stolen cookie does not live for ever. A working day. */
#define EC_SESSION_MAX_AGE (8 * 3600)

typedef struct {
    const char *cookie;          /* 64 hex digits: the value the browser holds */
    const char *app_id;          /* NULL before login */
    const char *csrf;
    const char *lang;
    const char *purpose;         /* flow (the issuance steps) | revoke (the revocation pages) */
    const char *flash_page;      /* the page a failed form redirected to, or NULL ... */
    apr_table_t *flash;          /* ... and what it shows there (ec_flash.h) */
} ec_session_t;

/* purpose: "flow" or "revoke"; a session serves only the pages of its purpose. */
apr_status_t ec_session_create(ec_store_t *s, apr_pool_t *p, const char *app_id, const char *purpose,
                               const char *client_addr, const char *lang, ec_session_t **out);
/* The session of a cookie, unless it is malformed, unknown, idle longer than idle_seconds
 * or older than EC_SESSION_MAX_AGE (then it is deleted): APR_ENOENT. Marks it as seen now. */
apr_status_t ec_session_load(ec_store_t *s, apr_pool_t *p, const char *cookie, int idle_seconds,
                             ec_session_t **out);
apr_status_t ec_session_destroy(ec_store_t *s, apr_pool_t *p, const char *cookie);
apr_status_t ec_session_set_lang(ec_store_t *s, apr_pool_t *p, ec_session_t *ss, const char *lang);
/* Keeps flash for page (a path below the pages' base); page or flash NULL forgets it. A flash
 * too big to keep (ec_flash_encode) is forgotten too. */
apr_status_t ec_session_set_flash(ec_store_t *s, apr_pool_t *p, ec_session_t *ss, const char *page,
                                  const apr_table_t *flash);
/* Removes sessions idle longer than idle_seconds (bounded batch). */
apr_status_t ec_session_expire(ec_store_t *s, apr_pool_t *p, int idle_seconds);
/* Constant-time comparison of a submitted form token with the session's. */
int ec_session_csrf_ok(const ec_session_t *ss, const char *token);

#endif
