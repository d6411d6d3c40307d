/* Signing records: committed before C_Sign, finished with the certificate, revoked when the
 * certificate was signed and not stored (by the issuance itself, or by the operator after a
 * crash between the two). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_time.h>
#include "ec_signing.h"
#include "ec_audit.h"
#include "ec_log.h"
#include "ec_revoke.h"
#include "ec_util.h"

const ec_stmt_t ec_signing_stmts[] = {
    /* The primary key alone guards the serial: a random 159-bit serial colliding with a
     * certificate older than the records fails at the certificate's insert, and its record
     * then stays listed, which errs on the side of accounting for it. */
    { "signing_insert", "INSERT INTO signing_record (issuer_id, serial_hex, application_id, server_name, "
      "spki_sha256, tbs_sha256, tbs_der, not_before, not_after, crl_shard) VALUES (%s, %s, %s, %s, "
      "UNHEX(%s), UNHEX(%s), UNHEX(%s), %s, %s, NULLIF(%s, '-1'))" },
    { "signing_finish", "UPDATE signing_record SET state = 'finished', resolved_at = NOW(6) "
      "WHERE issuer_id = %s AND serial_hex = %s AND state = 'signing'" },
    { "signing_failed", "UPDATE signing_record SET state = 'failed', resolved_at = NOW(6) "
      "WHERE issuer_id = %s AND serial_hex = %s AND state = 'signing'" },
    { "signing_open", "SELECT r.issuer_id, ca.name, r.serial_hex, COALESCE(r.application_id, ''), r.server_name, "
      "r.created_at, TIMESTAMPDIFF(SECOND, r.created_at, NOW(6)) FROM signing_record r "
      "FORCE INDEX (signing_record_open) JOIN ca ON ca.id = r.issuer_id WHERE r.state = 'signing' "
      "AND r.created_at <= NOW(6) - INTERVAL %s SECOND AND (%s = '' OR r.serial_hex = %s) "
      "ORDER BY r.created_at LIMIT 10000" },
    { "signing_watch", "SELECT r.issuer_id, ca.name, r.serial_hex, COALESCE(r.application_id, '-'), r.server_name, "
      "r.created_at FROM signing_record r FORCE INDEX (signing_record_open) JOIN ca ON ca.id = r.issuer_id "
      "WHERE r.state = 'signing' AND r.created_at <= NOW(6) - INTERVAL %s SECOND AND r.created_at > %s "
      "ORDER BY r.created_at LIMIT 1000" },
    { "signing_lock", "SELECT state FROM signing_record WHERE issuer_id = %s AND serial_hex = %s FOR UPDATE" },
    /* The certificate row the CRL and OCSP read their status from. Its application stays
     * unnamed: the subscriber's pages never show a certificate the subscriber never had. */
    { "signing_cert_row", "INSERT INTO certificate (serial_hex, issuer_id, application_id, server_name, "
      "spki_sha256, cert_der, not_before, not_after, crl_shard) SELECT serial_hex, issuer_id, NULL, server_name, "
      "spki_sha256, tbs_der, not_before, not_after, crl_shard FROM signing_record "
      "WHERE issuer_id = %s AND serial_hex = %s" },
    { "signing_revoked", "UPDATE signing_record SET state = 'revoked', resolved_at = NOW(6) "
      "WHERE issuer_id = %s AND serial_hex = %s AND state = 'signing'" },
    { NULL, NULL }
};

apr_status_t ec_signing_record(ec_store_t *s, apr_pool_t *p, const ec_signing_t *r)
{
    uint8_t h[32];

    ec_sha256(r->tbs, r->tbs_len, h);
    return ec_store_exec(s, p, "signing_insert", NULL,
                         EC_ARGS(r->issuer_id, r->serial_hex, r->application_id, r->server_name, r->spki_hex,
                                 ec_hex(p, h, 32), ec_hex(p, r->tbs, r->tbs_len), ec_sqltime(p, r->not_before),
                                 ec_sqltime(p, r->not_after), apr_itoa(p, r->crl_shard)));
}

apr_status_t ec_signing_finish(ec_store_t *s, apr_pool_t *p, const char *issuer_id, const char *serial_hex)
{
    int n = 0;
    apr_status_t rv = ec_store_exec(s, p, "signing_finish", &n, EC_ARGS(issuer_id, serial_hex));

    return rv != APR_SUCCESS ? rv : n == 1 ? APR_SUCCESS : APR_ENOENT;
}

apr_status_t ec_signing_failed(ec_store_t *s, apr_pool_t *p, const char *issuer_id, const char *serial_hex)
{
    return ec_store_exec(s, p, "signing_failed", NULL, EC_ARGS(issuer_id, serial_hex));
}

apr_status_t ec_signing_unfinished(ec_store_t *s, apr_pool_t *p, long long older_s, const char *serial_hex,
                                   apr_array_header_t **out)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    const char *serial = serial_hex ? serial_hex : "";
    apr_status_t rv = ec_store_select(s, p, "signing_open", &res,
                                      EC_ARGS(apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)older_s), serial, serial));

    *out = apr_array_make(p, 8, sizeof(ec_signing_open_t));
    if (rv != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS) {
        ec_signing_open_t *o = apr_array_push(*out);
        o->issuer_id = apr_pstrdup(p, ec_store_col(s, row, 0));
        o->issuer_cn = apr_pstrdup(p, ec_store_col(s, row, 1));
        o->serial_hex = apr_pstrdup(p, ec_store_col(s, row, 2));
        o->application_id = apr_pstrdup(p, ec_store_col(s, row, 3));
        o->server_name = apr_pstrdup(p, ec_store_col(s, row, 4));
        o->created_at = apr_pstrdup(p, ec_store_col(s, row, 5));
        o->age_s = apr_atoi64(ec_store_col(s, row, 6));
    }
    return APR_SUCCESS;
}

apr_status_t ec_signing_revoke(ec_store_t *s, apr_pool_t *p, const char *issuer_id, const char *serial_hex,
                               time_t when, const char *actor)
{
    const char *state;
    apr_status_t rv, end;

    if ((rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    rv = ec_store_get1(s, p, "signing_lock", 1, &state, EC_ARGS(issuer_id, serial_hex));
    if (rv == APR_SUCCESS && strcmp(state, "signing"))
        rv = APR_ENOENT;
    if (rv == APR_SUCCESS) {
        ec_store_exec(s, p, "signing_revoked", NULL, EC_ARGS(issuer_id, serial_hex));
        ec_store_exec(s, p, "signing_cert_row", NULL, EC_ARGS(issuer_id, serial_hex));
        /* No reasonCode (BR 7.2.2, RFC 5280 5.3.1): none of the reasons applies. The subscriber
         * asked for nothing, its key is not compromised, nothing in the certificate is wrong or
         * superseded by a certificate it asked to replace this one with; the CA withdraws a
         * certificate it signed and never delivered, and the BR have the reasonCode omitted when
         * no listed reason fits. */
        if (!s->failed)
            rv = ec_revoke(s, p, issuer_id, serial_hex, EC_REASON_UNSPECIFIED, when, actor,
                           "signed but never delivered (unfinished signing record)");
        if (rv == APR_SUCCESS)
            ec_audit(s, p, actor, "signing.revoke",
                     apr_psprintf(p, "issuer %s serial %s: the signing record was unfinished; the certificate "
                                  "was never delivered and is revoked", issuer_id, serial_hex));
        if (rv == APR_SUCCESS && s->failed)
            rv = APR_EGENERAL;
    }
    end = ec_store_end(s, rv != APR_SUCCESS);
    return rv == APR_SUCCESS ? end : rv;
}

int ec_signing_warn(ec_store_t *s, apr_pool_t *p, long long older_s, char mark[EC_SIGNING_MARK_LEN])
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    int n = 0;

    if (ec_store_select(s, p, "signing_watch", &res,
                        EC_ARGS(apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)older_s),
                                *mark ? mark : "1970-01-01 00:00:00")) != APR_SUCCESS)
        return 0;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS) {
        const char *at = ec_store_col(s, row, 5);
        ec_log(EC_LOG_WARN, "ECI0020", "signed and not stored: serial %s of issuer %s (%s), application %s, "
               "server %s, signing since %s UTC; resolve with ecertctl audit unfinished", ec_store_col(s, row, 2),
               ec_store_col(s, row, 0), ec_store_col(s, row, 1), ec_store_col(s, row, 3), ec_store_col(s, row, 4), at);
        apr_cpystrn(mark, at, EC_SIGNING_MARK_LEN);
        n++;
    }
    return n;
}

long long ec_signing_warn_age(void)
{
#ifdef EC_TEST_CLOCK
    const char *dir = getenv("ECERT_TEST_SIGNING");
    char path[4096];
    long long v = -1;
    FILE *f;

    if (dir && snprintf(path, sizeof(path), "%s/watch", dir) < (int)sizeof(path) && (f = fopen(path, "r"))) {
        if (fscanf(f, "%lld", &v) != 1)
            v = -1;
        fclose(f);
    }
    if (v >= 0)
        return v;
#endif
    return EC_SIGNING_WARN_S;
}

#ifdef EC_TEST_CLOCK
void ec_signing_test_signed(apr_pool_t *p, const char *serial_hex, const uint8_t *der, size_t len)
{
    const char *dir = getenv("ECERT_TEST_SIGNING");
    const char *tmp, *path;
    FILE *f;
    long pause = 0;

    if (!dir)
        return;
    tmp = apr_pstrcat(p, dir, "/.", serial_hex, ".tmp", NULL);
    path = apr_pstrcat(p, dir, "/", serial_hex, ".der", NULL);
    /* Renamed into place: a test never reads half a certificate. */
    if ((f = fopen(tmp, "wb")) != NULL) {
        int ok = fwrite(der, 1, len, f) == len;
        if (fclose(f) == 0 && ok)
            rename(tmp, path);
    }
    if ((f = fopen(apr_pstrcat(p, dir, "/pause", NULL), "r")) != NULL) {
        if (fscanf(f, "%ld", &pause) != 1)
            pause = 0;
        fclose(f);
    }
    if (pause > 0)
        apr_sleep(apr_time_from_sec(pause));
}
#endif
