#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "ec_login.h"
#include "ec_audit.h"
#include "ec_pin.h"

const ec_stmt_t ec_login_stmts[] = {
    { "login_recent_failures", "SELECT COUNT(*) FROM login_attempt WHERE client_addr = %s "
      "AND success = FALSE AND at > NOW(3) - INTERVAL %s SECOND" },
    /* A change, not a mere lock: on Galera only a written row makes concurrent attempts from
     * other nodes conflict at commit. */
    { "login_gate", "INSERT INTO login_gate (client_addr, turns) VALUES (%s, 1) "
      "ON DUPLICATE KEY UPDATE turns = turns + 1, seen_at = NOW(3)" },
    /* Quiet rows found without locks, then deleted one by one by their key (a range delete
     * would lock gaps that the attempts' own gate rows move into). */
    { "login_gate_quiet", "SELECT client_addr FROM login_gate WHERE seen_at < NOW(3) - INTERVAL %s SECOND "
      "LIMIT 20" },
    { "login_gate_purge", "DELETE FROM login_gate WHERE client_addr = %s AND seen_at < NOW(3) - INTERVAL %s SECOND" },
    { "login_gate_limited", "UPDATE login_gate SET limited_at = NOW(3) WHERE client_addr = %s "
      "AND (limited_at IS NULL OR limited_at < NOW(3) - INTERVAL %s SECOND)" },
    { "login_lock_app", "SELECT locked, failed_logins FROM application WHERE id = %s FOR UPDATE" },
    { "login_record", "INSERT INTO login_attempt (client_addr, success) VALUES (%s, %s)" },
    /* locked is computed from the old count: MySQL assigns left to right. */
    { "login_fail_app", "UPDATE application SET locked = (locked OR failed_logins + 1 >= %s), "
      "failed_logins = failed_logins + 1 WHERE id = %s" },
    { "login_ok_app", "UPDATE application SET failed_logins = 0 WHERE id = %s" },
    /* A pair that is not an envelope: a write first, as for the gate row. */
    { "login_pair_turn", "INSERT INTO login_pair (server_name, reference, turns) VALUES (%s, %s, 1) "
      "ON DUPLICATE KEY UPDATE turns = turns + 1, seen_at = NOW(3)" },
    { "login_pair_failures", "SELECT failures FROM login_pair WHERE server_name = %s AND reference = %s" },
    { "login_pair_fail", "UPDATE login_pair SET failures = failures + 1 WHERE server_name = %s AND reference = %s" },
    { NULL, NULL }
};

static apr_status_t recent_failures(ec_store_t *s, apr_pool_t *p, const ec_login_policy_t *pol,
                                    const char *client_addr, int *n)
{
    const char *count;
    apr_status_t rv = ec_store_get1(s, p, "login_recent_failures", 1, &count,
                                    EC_ARGS(client_addr, apr_itoa(p, pol->rate_window)));
    *n = rv == APR_SUCCESS ? (int)apr_atoi64(count) : 0;
    return rv;
}

/* Rate-limited: audited once per window and address, not once per attempt (a flood would
 * otherwise queue every request behind the audit log's head). */
static apr_status_t rate_limited(ec_store_t *s, apr_pool_t *p, const ec_login_policy_t *pol,
                                 const char *client_addr, int failures, ec_login_outcome_t *out)
{
    int first = 0;
    apr_status_t rv = ec_store_exec(s, p, "login_gate_limited", &first,
                                    EC_ARGS(client_addr, apr_itoa(p, pol->rate_window)));

    out->result = EC_LOGIN_RATE_LIMITED;
    if (rv == APR_SUCCESS && first)
        rv = ec_audit(s, p, apr_pstrcat(p, "client:", client_addr, NULL), "login.rate_limited",
                      apr_psprintf(p, "%d failed logins within %d s: further attempts refused for the window",
                                   failures, pol->rate_window));
    return rv;
}

/* The pair's count, read under its lock: the envelope's row, or the pair's own. */
static apr_status_t pair_count(ec_store_t *s, apr_pool_t *p, const char *name, const char *ref,
                               const ec_app_t *a, int max, int *failed, int *locked)
{
    const char *cols[2];
    apr_status_t rv;

    if (a) {
        if ((rv = ec_store_get1(s, p, "login_lock_app", 2, cols, EC_ARGS(a->id))) != APR_SUCCESS)
            return rv;
        *locked = atoi(cols[0]);
        *failed = atoi(cols[1]);
        return APR_SUCCESS;
    }
    if ((rv = ec_store_exec(s, p, "login_pair_turn", NULL, EC_ARGS(name, ref))) != APR_SUCCESS ||
        (rv = ec_store_get1(s, p, "login_pair_failures", 1, cols, EC_ARGS(name, ref))) != APR_SUCCESS)
        return rv;
    *failed = atoi(cols[0]);
    *locked = *failed >= max;
    return APR_SUCCESS;
}

/* The decision, one attempt per address at a time (the gate row), with the pair's row
 * locked: concurrent wrong PINs count one by one, so the lock and the address limit hold
 * at exactly their numbers, and a right PIN after them finds the envelope locked. a: the
 * envelope when the pair is one; known: the reference is an envelope's (for the audit). */
static apr_status_t decide(ec_store_t *s, apr_pool_t *p, const ec_login_policy_t *pol, const char *client_addr,
                           const char *name, const char *ref, const ec_app_t *a, int known, int pin_ok,
                           ec_login_outcome_t *out)
{
    const char *why, *detail, *now_locked = "";
    int failures, locked, failed;
    apr_status_t rv;

    if ((rv = ec_store_exec(s, p, "login_gate", NULL, EC_ARGS(client_addr))) != APR_SUCCESS ||
        (rv = recent_failures(s, p, pol, client_addr, &failures)) != APR_SUCCESS)
        return rv;
    if (failures >= pol->rate_max)
        return rate_limited(s, p, pol, client_addr, failures, out);
    if ((rv = pair_count(s, p, name, ref, a, pol->max_failures, &failed, &locked)) != APR_SUCCESS)
        return rv;
    if (locked)
        why = a ? "envelope locked" : "pair locked";
    else if (!a)
        why = known ? "server name does not match" : "no such envelope";
    else
        why = pin_ok ? NULL : "wrong PIN";
    if ((rv = ec_store_exec(s, p, "login_record", NULL, EC_ARGS(client_addr, why ? "0" : "1"))) != APR_SUCCESS)
        return rv;
    out->result = !why ? EC_LOGIN_OK : locked ? EC_LOGIN_LOCKED : EC_LOGIN_FAILED;
    if (why && !locked) {
        rv = a ? ec_store_exec(s, p, "login_fail_app", NULL, EC_ARGS(apr_itoa(p, pol->max_failures), a->id))
               : ec_store_exec(s, p, "login_pair_fail", NULL, EC_ARGS(name, ref));
        out->remaining = pol->max_failures - failed - 1;
        if (out->remaining <= 0) {
            out->result = EC_LOGIN_LOCKED;
            now_locked = a ? " (envelope now locked)" : " (pair now locked)";
        }
    }
    else if (!why)
        rv = ec_store_exec(s, p, "login_ok_app", NULL, EC_ARGS(a->id));
    if (rv != APR_SUCCESS)
        return rv;
    detail = apr_psprintf(p, "envelope %s%s%s", ref, why ? ": " : "", why ? why : "");
    if (!a)
        detail = apr_psprintf(p, "%s (server name %s)", detail, name);
    return ec_audit(s, p, apr_pstrcat(p, "client:", client_addr, NULL), why ? "login.failure" : "login.success",
                    apr_pstrcat(p, detail, now_locked, NULL));
}

/* Outside any attempt's transaction: a gate row quiet for longer than the window holds
 * nothing (its count is of attempts older than the window), so the table stays small. */
static void purge_quiet_gates(ec_store_t *s, apr_pool_t *p, const ec_login_policy_t *pol)
{
    const char *window = apr_itoa(p, pol->rate_window);
    apr_array_header_t *quiet = apr_array_make(p, 4, sizeof(const char *));
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;

    if (ec_store_select(s, p, "login_gate_quiet", &res, EC_ARGS(window)) != APR_SUCCESS)
        return;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS) {
        const char *addr = ec_store_col(s, row, 0);
        if (addr)
            APR_ARRAY_PUSH(quiet, const char *) = apr_pstrdup(p, addr);
    }
    for (int i = 0; i < quiet->nelts; i++)
        ec_store_exec(s, p, "login_gate_purge", NULL, EC_ARGS(APR_ARRAY_IDX(quiet, i, const char *), window));
}

apr_status_t ec_login(ec_store_t *s, apr_pool_t *p, const ec_login_policy_t *pol,
                      const char *server_name, const char *reference, const char *pin,
                      const char *client_addr, ec_login_outcome_t *out)
{
    const char *name = ec_login_server_name(p, server_name), *ref = ec_login_reference(p, reference);
    const char *pin_norm = ec_login_pin(p, pin), *hash = pol->dummy_hash;
    ec_app_t *a = NULL;
    int pin_ok, failures;
    apr_status_t rv, end;

    memset(out, 0, sizeof(*out));
    out->bad = (name ? 0 : EC_LOGIN_BAD_NAME) | (ref ? 0 : EC_LOGIN_BAD_REF) | (pin_norm ? 0 : EC_LOGIN_BAD_PIN);
    /* Not an attempt at any envelope: no hash, no count, no database (nothing to flood). */
    if (out->bad) {
        out->result = EC_LOGIN_MALFORMED;
        return APR_SUCCESS;
    }
    out->result = EC_LOGIN_FAILED;
    /* A first look without locks: an address already over its limit costs no PIN hash. */
    if ((rv = recent_failures(s, p, pol, client_addr, &failures)) != APR_SUCCESS)
        return rv;
    if (failures >= pol->rate_max) {
        if ((rv = ec_store_begin(s, p)) != APR_SUCCESS)
            return rv;
        rv = rate_limited(s, p, pol, client_addr, failures, out);
        end = ec_store_end(s, rv != APR_SUCCESS);
        return rv != APR_SUCCESS ? rv : end;
    }
    rv = ec_app_load(s, p, ref, &a);
    if (rv != APR_SUCCESS && rv != APR_ENOENT)
        return rv;
    if (a && ec_app_pin_hash(s, p, a->id, &hash) != APR_SUCCESS)
        return APR_EGENERAL;
    /* The PIN is checked even when nothing else matches: the time taken tells nothing. It
     * is checked before any lock is taken, so no lock waits for a hash. */
    pin_ok = ec_pin_verify(p, pin_norm, hash);

    if ((rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    rv = decide(s, p, pol, client_addr, name, ref, a && !strcmp(name, a->server_name) ? a : NULL, a != NULL,
                pin_ok, out);
    end = ec_store_end(s, rv != APR_SUCCESS);
    if (rv != APR_SUCCESS || end != APR_SUCCESS) {
        out->result = EC_LOGIN_FAILED;
        return rv != APR_SUCCESS ? rv : end;
    }
    if (out->result == EC_LOGIN_OK)
        out->app = a;
    purge_quiet_gates(s, p, pol);
    return APR_SUCCESS;
}
