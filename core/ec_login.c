#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "ec_login.h"
#include "ec_audit.h"
#include "ec_dns.h"
#include "ec_pin.h"

const ec_stmt_t ec_login_stmts[] = {
    { "login_recent_failures", "SELECT COUNT(*) FROM login_attempt WHERE client_addr = %s "
      "AND success = FALSE AND at > NOW(3) - INTERVAL %s SECOND" },
    { "login_record", "INSERT INTO login_attempt (client_addr, success) VALUES (%s, %s)" },
    /* locked is computed from the old count: MySQL assigns left to right. */
    { "login_fail_app", "UPDATE application SET locked = (locked OR failed_logins + 1 >= %s), "
      "failed_logins = failed_logins + 1 WHERE id = %s" },
    { "login_ok_app", "UPDATE application SET failed_logins = 0 WHERE id = %s" },
    { NULL, NULL }
};

/* "123 456 789" -> "123456789"; NULL unless nine digits. */
static const char *reference_norm(apr_pool_t *p, const char *in)
{
    char out[10];
    int n = 0;
    for (; in && *in; in++) {
        if (*in == ' ')
            continue;
        if (!apr_isdigit(*in) || n == 9)
            return NULL;
        out[n++] = *in;
    }
    out[n] = 0;
    return n == 9 ? apr_pstrdup(p, out) : NULL;
}

apr_status_t ec_login(ec_store_t *s, apr_pool_t *p, const ec_login_policy_t *pol,
                      const char *server_name, const char *reference, const char *pin,
                      const char *client_addr, ec_app_t **app, ec_login_result_t *result)
{
    const char *count, *ref = reference_norm(p, reference), *name, *err, *why = NULL;
    const char *pin_norm = ec_pin_normalize(p, pin), *hash = pol->dummy_hash;
    ec_app_t *a = NULL;
    int pin_ok;
    apr_status_t rv;

    *app = NULL;
    *result = EC_LOGIN_FAILED;
    if ((rv = ec_store_get1(s, p, "login_recent_failures", 1, &count,
                            EC_ARGS(client_addr, apr_itoa(p, pol->rate_window)))) != APR_SUCCESS)
        return rv;
    if (apr_atoi64(count) >= pol->rate_max) {
        *result = EC_LOGIN_RATE_LIMITED;
        ec_audit(s, p, apr_pstrcat(p, "client:", client_addr, NULL), "login.rate_limited",
                 apr_psprintf(p, "%s failed logins within %d s", count, pol->rate_window));
        return APR_SUCCESS;
    }
    if (ref) {
        rv = ec_app_load(s, p, ref, &a);
        if (rv != APR_SUCCESS && rv != APR_ENOENT)
            return rv;
        if (a && ec_app_pin_hash(s, p, a->id, &hash) != APR_SUCCESS)
            return APR_EGENERAL;
    }
    /* The PIN is checked even when nothing else matches: the time taken tells nothing. */
    pin_ok = ec_pin_verify(p, pin_norm ? pin_norm : "0000000000000000", hash) && pin_norm;
    name = server_name ? ec_dns_normalize(p, server_name, 1, &err) : NULL;
    if (!ref)
        why = "malformed reference number";
    else if (!a)
        why = "no such envelope";
    else if (a->locked)
        why = "envelope locked";
    else if (!name || strcmp(name, a->server_name))
        why = "server name does not match";
    else if (!pin_ok)
        why = "wrong PIN";

    if ((rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    ec_store_exec(s, p, "login_record", NULL, EC_ARGS(client_addr, why ? "0" : "1"));
    if (a && why && !a->locked)
        ec_store_exec(s, p, "login_fail_app", NULL, EC_ARGS(apr_itoa(p, pol->max_failures), a->id));
    else if (a && !why)
        ec_store_exec(s, p, "login_ok_app", NULL, EC_ARGS(a->id));
    ec_audit(s, p, apr_pstrcat(p, "client:", client_addr, NULL), why ? "login.failure" : "login.success",
             apr_psprintf(p, "envelope %s%s%s%s", ref ? ref : "(malformed)", why ? ": " : "",
                          why ? why : "", a && why && !a->locked && a->failed_logins + 1 >= pol->max_failures
                          ? " (envelope now locked)" : ""));
    if ((rv = ec_store_end(s, 0)) != APR_SUCCESS)
        return rv;
    if (!why) {
        *app = a;
        *result = EC_LOGIN_OK;
    }
    return APR_SUCCESS;
}
