/* PIN login (R-1, User Guide C.2): server name + 9-digit envelope reference + 16-digit
 * PIN, read as core/ec_login_input.h says. A field that is not a value is refused before
 * anything is tried or counted. Otherwise one answer for every mismatch, with the attempts
 * left: failures count per (server name, reference) pair, an envelope's in its row and any
 * other pair's in login_pair, so that an unknown pair also counts down and locks and the
 * answers do not tell whether an envelope exists. A locked envelope says so (the back office
 * unlocks it); failures per client address are rate-limited. */
#ifndef EC_LOGIN_H
#define EC_LOGIN_H

#include "ec_app.h"
#include "ec_login_input.h"

extern const ec_stmt_t ec_login_stmts[];

typedef struct {
    int max_failures;            /* per pair, then locked (default 5) */
    int rate_max;                /* failures per client address ... */
    int rate_window;             /* ... within this many seconds */
    const char *dummy_hash;      /* a PIN hash to verify against when there is no envelope */
} ec_login_policy_t;

typedef enum {
    EC_LOGIN_OK = 0,
    EC_LOGIN_FAILED,             /* a mismatch; remaining says how many more lock the pair */
    EC_LOGIN_LOCKED,             /* the pair is locked (now or before), whatever the PIN */
    EC_LOGIN_RATE_LIMITED,
    EC_LOGIN_MALFORMED           /* bad says which fields; nothing tried or counted */
} ec_login_result_t;

typedef struct {
    ec_login_result_t result;
    int remaining;               /* EC_LOGIN_FAILED: failures left before the lock (> 0) */
    int bad;                     /* EC_LOGIN_MALFORMED: EC_LOGIN_BAD_* */
    ec_app_t *app;               /* EC_LOGIN_OK: the application */
} ec_login_outcome_t;

/* Every attempt that is tried is recorded and audited. */
apr_status_t ec_login(ec_store_t *s, apr_pool_t *p, const ec_login_policy_t *pol,
                      const char *server_name, const char *reference, const char *pin,
                      const char *client_addr, ec_login_outcome_t *out);

#endif
