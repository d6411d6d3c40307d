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
    { "revoke_ca_get", "SELECT id, parent_id, serial_hex, status, COALESCE(revocation_reason, -1) "
      "FROM ca WHERE role = %s ORDER BY id DESC LIMIT 1 FOR UPDATE" },
    { "revoke_ca_set", "UPDATE ca SET status = 'revoked', revoked_at = %s, "
      "revocation_reason = NULLIF(%s, '-1'), status_changed = NOW(6) WHERE id = %s" },
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

int ec_reason_allowed_ca(int reason)
{
    return ec_reason_allowed(reason) || reason == 2;
}

/* A revoked certificate changes only to keyCompromise (CPS 7.2 a). */
static int already_final(const char *status, const char *reason, int wanted)
{
    return !strcmp(status, "revoked") && (wanted != 1 || atoi(reason) == 1);
}

static apr_status_t finish(ec_store_t *s, int own, apr_status_t rv)
{
    if (own) {
        apr_status_t end = ec_store_end(s, rv != APR_SUCCESS);
        if (rv == APR_SUCCESS)
            rv = end;
    }
    return rv;
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
    if (rv == APR_SUCCESS && already_final(cur[0], cur[1], reason))
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
    return finish(s, own, rv);
}

apr_status_t ec_revoke_ca(ec_store_t *s, apr_pool_t *p, const char *role, int reason, time_t when,
                          const char *actor, const char *note, const char **root_id,
                          const char **serial_hex)
{
    const char *cur[5];
    apr_status_t rv;
    int own = s->txn == NULL;

    if (!ec_reason_allowed_ca(reason) || (strcmp(role, "ssl") && strcmp(role, "ev")))
        return APR_EINVAL;
    if (own && (rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    rv = ec_store_get1(s, p, "revoke_ca_get", 5, cur, EC_ARGS(role));
    if (rv == APR_SUCCESS && already_final(cur[3], cur[4], reason))
        rv = APR_EEXIST;
    if (rv == APR_SUCCESS) {
        ec_store_exec(s, p, "revoke_ca_set", NULL, EC_ARGS(ec_sqltime(p, when), apr_itoa(p, reason), cur[0]));
        ec_store_exec(s, p, "revoke_ocsp_queue", NULL, EC_ARGS(cur[1], cur[2]));
        ec_audit(s, p, actor, "ca.revoke",
                 apr_psprintf(p, "%s CA %s serial %s reason %s at %s%s%s", role, cur[0], cur[2],
                              ec_reason_name(reason), ec_sqltime(p, when), note ? ": " : "",
                              note ? note : ""));
        if (s->failed)
            rv = APR_EGENERAL;
        *root_id = cur[1];
        *serial_hex = cur[2];
    }
    return finish(s, own, rv);
}
