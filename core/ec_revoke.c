#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "ec_revoke.h"
#include "ec_audit.h"
#include "ec_util.h"

const ec_stmt_t ec_revoke_stmts[] = {
    { "revoke_get", "SELECT status, COALESCE(revocation_reason, -1) FROM certificate "
      "WHERE issuer_id = %s AND serial_hex = %s FOR UPDATE" },
    { "revoke_set", "UPDATE certificate SET status = 'revoked', revoked_at = %s, "
      "revocation_reason = NULLIF(%s, '-1'), status_changed = NOW(6) "
      "WHERE issuer_id = %s AND serial_hex = %s" },
    { "revoke_ocsp_queue", "INSERT INTO ocsp_pending (issuer_id, serial_hex) VALUES (%s, %s) "
      "ON DUPLICATE KEY UPDATE queued_at = NOW(6)" },
    { NULL, NULL }
};

static const struct { int code; const char *name; } reasons[] = {
    { EC_REASON_UNSPECIFIED, "unspecified" }, { 1, "keyCompromise" }, { 2, "cACompromise" },
    { 3, "affiliationChanged" }, { 4, "superseded" }, { 5, "cessationOfOperation" },
    { 6, "certificateHold" }, { 8, "removeFromCRL" }, { 9, "privilegeWithdrawn" },
    { 10, "aACompromise" },
};

int ec_reason_parse(const char *name)
{
    char *end;
    long v;

    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (!strcasecmp(name, reasons[i].name))
            return reasons[i].code;
    v = strtol(name, &end, 10);
    if (*name && !*end)
        for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
            if (reasons[i].code == v && v >= 0)
                return (int)v;
    return -2;
}

const char *ec_reason_name(int reason)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].code == reason)
            return reasons[i].name;
    return "unknown";
}

int ec_reason_allowed(int reason)
{
    return reason == EC_REASON_UNSPECIFIED || reason == 1 || reason == 3 || reason == 4 ||
           reason == 5 || reason == 9;
}

apr_status_t ec_revoke(ec_store_t *s, apr_pool_t *p, const char *issuer_id, const char *serial_hex,
                       int reason, time_t when, const char *actor, const char *note)
{
    const char *cur[2];
    apr_status_t rv;
    int own = s->txn == NULL;

    if (!ec_reason_allowed(reason))
        return APR_EINVAL;
    if (own && (rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    rv = ec_store_get1(s, p, "revoke_get", 2, cur, EC_ARGS(issuer_id, serial_hex));
    if (rv == APR_SUCCESS && !strcmp(cur[0], "revoked") && (reason != 1 || atoi(cur[1]) == 1))
        rv = APR_EEXIST;
    if (rv == APR_SUCCESS) {
        ec_store_exec(s, p, "revoke_set", NULL,
                      EC_ARGS(ec_sqltime(p, when), apr_itoa(p, reason), issuer_id, serial_hex));
        ec_store_exec(s, p, "revoke_ocsp_queue", NULL, EC_ARGS(issuer_id, serial_hex));
        ec_audit(s, p, actor, "certificate.revoke",
                 apr_psprintf(p, "issuer %s serial %s reason %s at %s%s%s", issuer_id, serial_hex,
                              ec_reason_name(reason), ec_sqltime(p, when), note ? ": " : "",
                              note ? note : ""));
        if (s->failed)
            rv = APR_EGENERAL;
    }
    if (own) {
        apr_status_t end = ec_store_end(s, rv != APR_SUCCESS);
        if (rv == APR_SUCCESS)
            rv = end;
    }
    return rv;
}
