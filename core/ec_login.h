/* PIN login (R-1, User Guide C.2): server name + 9-digit envelope reference + 16-digit
 * PIN. One answer for every mismatch; the envelope locks after max_failures wrong
 * tries (the back office unlocks it); failures per client address are rate-limited. */
#ifndef EC_LOGIN_H
#define EC_LOGIN_H

#include "ec_app.h"

extern const ec_stmt_t ec_login_stmts[];

typedef struct {
    int max_failures;            /* per envelope, then locked (default 5) */
    int rate_max;                /* failures per client address ... */
    int rate_window;             /* ... within this many seconds */
    const char *dummy_hash;      /* a PIN hash to verify against when there is no envelope */
} ec_login_policy_t;

typedef enum { EC_LOGIN_OK = 0, EC_LOGIN_FAILED, EC_LOGIN_RATE_LIMITED } ec_login_result_t;

/* On EC_LOGIN_OK *app is the application. Every attempt is recorded and audited. */
apr_status_t ec_login(ec_store_t *s, apr_pool_t *p, const ec_login_policy_t *pol,
                      const char *server_name, const char *reference, const char *pin,
                      const char *client_addr, ec_app_t **app, ec_login_result_t *result);

#endif
