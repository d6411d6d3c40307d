#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "ec_subrevoke.h"
#include "ec_flow.h"
#include "ec_revoke.h"
#include "ec_util.h"

#define EPOCH_S(c) "TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', " c ")"
#define COLS "c.issuer_id, ca.name, c.serial_hex, c.status, c.server_name, " EPOCH_S("c.not_before") ", " \
    EPOCH_S("c.not_after") ", COALESCE(" EPOCH_S("c.revoked_at") ", 0), COALESCE(c.revocation_reason, -1), " \
    "c.not_after <= UTC_TIMESTAMP()"
/* The application, those it renews and those that renew it (CPS 4.6), at most 20 deep. */
#define CHAIN "WITH RECURSIVE up (id, n) AS (SELECT id, 0 FROM application WHERE id = %s " \
    "UNION ALL SELECT a.renewal_of, n + 1 FROM application a JOIN up ON a.id = up.id " \
    "WHERE a.renewal_of IS NOT NULL AND n < 20), " \
    "down (id, n) AS (SELECT id, 0 FROM application WHERE id = %s " \
    "UNION ALL SELECT a.id, n + 1 FROM application a JOIN down ON a.renewal_of = down.id WHERE n < 20) "

const ec_stmt_t ec_subrevoke_stmts[] = {
    { "subrevoke_list", CHAIN "SELECT " COLS " FROM certificate c JOIN ca ON ca.id = c.issuer_id "
      "WHERE c.application_id IN (SELECT id FROM up UNION SELECT id FROM down) "
      "ORDER BY c.not_before DESC, c.serial_hex LIMIT 100" },
    { "subrevoke_one", CHAIN "SELECT " COLS " FROM certificate c JOIN ca ON ca.id = c.issuer_id "
      "WHERE c.application_id IN (SELECT id FROM up UNION SELECT id FROM down) "
      "AND c.issuer_id = %s AND c.serial_hex = %s" },
    { "subrevoke_notice_of", "SELECT c.server_name, ca.name, " EPOCH_S("c.revoked_at") ", "
      "COALESCE(c.revocation_reason, -1), COALESCE(a.email, ''), COALESCE(a.subscriber_ref, '') "
      "FROM certificate c JOIN ca ON ca.id = c.issuer_id LEFT JOIN application a ON a.id = c.application_id "
      "WHERE c.issuer_id = %s AND c.serial_hex = %s AND c.status = 'revoked'" },
    { NULL, NULL }
};

const int ec_subrevoke_reasons[] = { EC_REASON_UNSPECIFIED, 1, 3, 4, 5 };
const int ec_subrevoke_nreasons = 5;

int ec_subrevoke_reason_ok(int reason)
{
    for (int i = 0; i < ec_subrevoke_nreasons; i++)
        if (ec_subrevoke_reasons[i] == reason)
            return 1;
    return 0;
}

static void cert_of(ec_store_t *s, apr_pool_t *p, apr_dbd_row_t *row, ec_subcert_t *c)
{
    const char *v[10];

    for (int i = 0; i < 10; i++) {
        const char *x = ec_store_col(s, row, i);
        v[i] = apr_pstrdup(p, x ? x : "");
    }
    c->issuer_id = v[0];
    c->issuer_cn = v[1];
    c->serial_hex = v[2];
    c->status = v[3];
    c->server_name = v[4];
    c->not_before = (time_t)apr_atoi64(v[5]);
    c->not_after = (time_t)apr_atoi64(v[6]);
    c->revoked_at = (time_t)apr_atoi64(v[7]);
    c->reason = atoi(v[8]) < 0 ? EC_REASON_UNSPECIFIED : atoi(v[8]);
    c->expired = atoi(v[9]);
}

apr_status_t ec_subrevoke_list(ec_store_t *s, apr_pool_t *p, const char *app_id, apr_array_header_t **out)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_status_t rv;

    *out = apr_array_make(p, 4, sizeof(ec_subcert_t));
    if ((rv = ec_store_select(s, p, "subrevoke_list", &res, EC_ARGS(app_id, app_id))) != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS)
        cert_of(s, p, row, apr_array_push(*out));
    return APR_SUCCESS;
}

static apr_status_t find(ec_store_t *s, apr_pool_t *p, const char *app_id, const char *issuer_id,
                         const char *serial_hex, ec_subcert_t *c)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_status_t rv;
    int n = 0;

    if ((rv = ec_store_select(s, p, "subrevoke_one", &res, EC_ARGS(app_id, app_id, issuer_id, serial_hex)))
        != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS)
        if (!n++)
            cert_of(s, p, row, c);
    return n ? APR_SUCCESS : APR_ENOENT;
}

apr_status_t ec_subrevoke(ec_store_t *s, apr_pool_t *p, const ec_notice_ctx_t *n, const ec_app_t *a,
                          const char *issuer_id, const char *serial_hex, int reason, const char *actor,
                          ec_subcert_t *done)
{
    time_t now = time(NULL);
    apr_status_t rv;

    if (!ec_subrevoke_reason_ok(reason))
        return APR_EINVAL;
    if ((rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    rv = find(s, p, a->id, issuer_id, serial_hex, done);
    if (rv == APR_SUCCESS && done->expired)
        rv = APR_EEXIST;
    if (rv == APR_SUCCESS)
        rv = ec_revoke(s, p, issuer_id, serial_hex, reason, now, actor, "by the subscriber (revocation page)");
    if (rv == APR_SUCCESS)
        rv = ec_revoke_notify(s, p, n, issuer_id, serial_hex);
    {
        apr_status_t end = ec_store_end(s, rv != APR_SUCCESS);
        if (rv == APR_SUCCESS && (rv = end) == APR_SUCCESS) {
            done->revoked_at = done->status[0] == 'r' ? done->revoked_at : now;
            done->reason = reason;
            done->status = "revoked";
        }
    }
    return rv;
}

apr_status_t ec_revoke_notify(ec_store_t *s, apr_pool_t *p, const ec_notice_ctx_t *n, const char *issuer_id,
                              const char *serial_hex)
{
    ec_tmpl_vars *v = ec_tmpl_vars_make(p, NULL);
    const char *c[6];
    apr_status_t rv;

    if (!n || (rv = ec_store_get1(s, p, "subrevoke_notice_of", 6, c, EC_ARGS(issuer_id, serial_hex))) == APR_ENOENT)
        return APR_SUCCESS;
    if (rv != APR_SUCCESS)
        return rv;
    if (!*c[4])
        return APR_SUCCESS;            /* not a subscriber's certificate: nobody to tell */
    ec_tmpl_set(v, "server_name", c[0]);
    ec_tmpl_set(v, "serial", ec_flow_serial_spaced(p, serial_hex));
    ec_tmpl_set(v, "issuer_cn", c[1]);
    ec_tmpl_set(v, "revoked_at", ec_sqltime(p, (time_t)apr_atoi64(c[2])));
    ec_tmpl_set(v, "reason", ec_reason_name(atoi(c[3]) < 0 ? EC_REASON_UNSPECIFIED : atoi(c[3])));
    ec_tmpl_set(v, "subscriber_ref", c[5]);
    /* An address no relay takes, or a missing template, costs the notice, not the revocation. */
    if (ec_notice(n, s, p, "revoked", c[4], v) != APR_SUCCESS && s->failed)
        return APR_EGENERAL;
    return APR_SUCCESS;
}
