#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "ec_revoke.h"
#include "ec_audit.h"
#include "ec_util.h"

const ec_stmt_t ec_revoke_stmts[] = {
    { "revoke_get", "SELECT status, COALESCE(revocation_reason, -1), "
      "COALESCE(TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', revoked_at), 0) FROM certificate "
      "WHERE issuer_id = %s AND serial_hex = %s FOR UPDATE" },
    /* A change to keyCompromise keeps the first revocation date unless the compromise is known
     * to be earlier (BR 7.2.2 note: the date then moves back). */
    { "revoke_set", "UPDATE certificate SET revoked_at = IF(status = 'revoked', LEAST(revoked_at, %s), %s), "
      "status = 'revoked', revocation_reason = NULLIF(%s, '-1'), status_changed = NOW(6) "
      "WHERE issuer_id = %s AND serial_hex = %s" },
    { "revoke_ocsp_queue", "INSERT INTO ocsp_pending (issuer_id, serial_hex) VALUES (%s, %s) "
      "ON DUPLICATE KEY UPDATE queued_at = NOW(6)" },
    /* The next CRL lists it (CRL issue): within ECertCRLRevocationDelay, on any node. A
     * certificate queued again (a reason changed to keyCompromise) is no longer claimed. */
    { "revoke_crl_queue", "INSERT INTO crl_pending (issuer_id, serial_hex) VALUES (%s, %s) "
      "ON DUPLICATE KEY UPDATE queued_at = NOW(6), claimed = NULL" },
    /* BR 6.1.1.3: a key revoked for keyCompromise is never certified again, whatever path
     * revoked it. */
    { "revoke_block_key", "INSERT INTO blocked_key (spki_sha256, reason) SELECT spki_sha256, "
      "CONCAT('keyCompromise revocation of issuer ', issuer_id, ' serial ', serial_hex) FROM certificate "
      "WHERE issuer_id = %s AND serial_hex = %s ON DUPLICATE KEY UPDATE reason = blocked_key.reason" },
    { "revoke_ca_block_key", "INSERT INTO blocked_key (spki_sha256, reason) SELECT spki_sha256, "
      "CONCAT('keyCompromise revocation of CA ', name) FROM ca WHERE id = %s "
      "ON DUPLICATE KEY UPDATE reason = blocked_key.reason" },
    { "revoke_ca_get", "SELECT id, parent_id, serial_hex, status, COALESCE(revocation_reason, -1), "
      "COALESCE(TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', revoked_at), 0) "
      "FROM ca WHERE role = %s ORDER BY id DESC LIMIT 1 FOR UPDATE" },
    { "revoke_ca_set", "UPDATE ca SET revoked_at = IF(status = 'revoked', LEAST(revoked_at, %s), %s), "
      "status = 'revoked', revocation_reason = NULLIF(%s, '-1'), status_changed = NOW(6) WHERE id = %s" },
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

/* CPS App. C note 2: an ARL entry carries one of 0-5, so privilegeWithdrawn (which the BR
 * would allow) is not used for a Sub CA. */
int ec_reason_allowed_ca(int reason)
{
    return reason == EC_REASON_UNSPECIFIED || (reason >= 1 && reason <= 5);
}

/* A revoked certificate changes only to keyCompromise (CPS 7.2 a, BR 7.2.2), or keeps it with
 * an earlier compromise date. */
static int already_final(const char *status, const char *reason, const char *revoked_at, int wanted,
                         time_t when)
{
    return !strcmp(status, "revoked") &&
           (wanted != 1 || (atoi(reason) == 1 && when >= (time_t)apr_atoi64(revoked_at)));
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
    const char *cur[3];
    apr_status_t rv;
    int own = s->txn == NULL;

    if (!ec_reason_allowed(reason))
        return APR_EINVAL;
    if (own && (rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    rv = ec_store_get1(s, p, "revoke_get", 3, cur, EC_ARGS(issuer_id, serial_hex));
    if (rv == APR_SUCCESS && already_final(cur[0], cur[1], cur[2], reason, when))
        rv = APR_EEXIST;
    if (rv == APR_SUCCESS) {
        ec_store_exec(s, p, "revoke_set", NULL,
                      EC_ARGS(ec_sqltime(p, when), ec_sqltime(p, when), apr_itoa(p, reason), issuer_id,
                              serial_hex));
        ec_store_exec(s, p, "revoke_ocsp_queue", NULL, EC_ARGS(issuer_id, serial_hex));
        ec_store_exec(s, p, "revoke_crl_queue", NULL, EC_ARGS(issuer_id, serial_hex));
        if (reason == 1)
            ec_store_exec(s, p, "revoke_block_key", NULL, EC_ARGS(issuer_id, serial_hex));
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
    const char *cur[6];
    apr_status_t rv;
    int own = s->txn == NULL;

    if (!ec_reason_allowed_ca(reason) || (strcmp(role, "ssl") && strcmp(role, "ev")))
        return APR_EINVAL;
    if (own && (rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    rv = ec_store_get1(s, p, "revoke_ca_get", 6, cur, EC_ARGS(role));
    if (rv == APR_SUCCESS && already_final(cur[3], cur[4], cur[5], reason, when))
        rv = APR_EEXIST;
    if (rv == APR_SUCCESS) {
        ec_store_exec(s, p, "revoke_ca_set", NULL,
                      EC_ARGS(ec_sqltime(p, when), ec_sqltime(p, when), apr_itoa(p, reason), cur[0]));
        ec_store_exec(s, p, "revoke_ocsp_queue", NULL, EC_ARGS(cur[1], cur[2]));
        ec_store_exec(s, p, "revoke_crl_queue", NULL, EC_ARGS(cur[1], cur[2]));
        if (reason == 1)
            ec_store_exec(s, p, "revoke_ca_block_key", NULL, EC_ARGS(cur[0]));
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
