/* Signing records: committed before C_Sign, finished with the certificate, revoked when the
 * certificate was signed and not stored (by the issuance itself, or by the operator after a
 * crash between the two). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <apr_strings.h>
#include <apr_time.h>
#include "ec_signing.h"
#include "ec_audit.h"
#include "ec_der.h"
#include "ec_x509.h"
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
    { "signing_retbs", "UPDATE signing_record SET tbs_sha256 = UNHEX(%s), tbs_der = UNHEX(%s) "
      "WHERE issuer_id = %s AND serial_hex = %s AND state = 'signing'" },
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
    { "signing_recover_get", "SELECT HEX(r.tbs_der), COALESCE(r.application_id, ''), HEX(ca.cert_der), "
      "HEX(r.spki_sha256), r.server_name, r.not_before, r.not_after, COALESCE(r.crl_shard, -1) "
      "FROM signing_record r JOIN ca ON ca.id = r.issuer_id WHERE r.issuer_id = %s AND r.serial_hex = %s "
      "AND r.state = 'signing' FOR UPDATE" },
    { "signing_recover_app", "SELECT status FROM application WHERE id = %s FOR UPDATE" },
    { "signing_recover_cert", "INSERT INTO certificate (serial_hex, issuer_id, application_id, server_name, "
      "spki_sha256, cert_der, not_before, not_after, crl_shard) VALUES (%s, %s, %s, %s, UNHEX(%s), UNHEX(%s), "
      "%s, %s, NULLIF(%s, '-1'))" },
    { "signing_recover_name", "INSERT INTO certificate_name (issuer_id, serial_hex, name) VALUES (%s, %s, %s)" },
    { "signing_recover_issued", "UPDATE application SET status = 'issued' WHERE id = %s" },
    { "signing_recover_ocsp", "INSERT INTO ocsp_pending (issuer_id, serial_hex) VALUES (%s, %s) "
      "ON DUPLICATE KEY UPDATE queued_at = NOW(6)" },
    { "signing_recover_done", "UPDATE signing_record SET state = 'finished', resolved_at = NOW(6) "
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

apr_status_t ec_signing_retbs(ec_store_t *s, apr_pool_t *p, const char *issuer_id, const char *serial_hex,
                              const uint8_t *tbs, size_t tbs_len)
{
    uint8_t h[32];
    int n = 0;
    apr_status_t rv;

    ec_sha256(tbs, tbs_len, h);
    rv = ec_store_exec(s, p, "signing_retbs", &n, EC_ARGS(ec_hex(p, h, 32), ec_hex(p, tbs, tbs_len), issuer_id,
                                                         serial_hex));
    return rv != APR_SUCCESS ? rv : n == 1 ? APR_SUCCESS : APR_ENOENT;
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

/* The certificate is the record's: its TBSCertificate is the one sent to C_Sign, byte for
 * byte, and its signature verifies under the issuer's key. */
static int is_the_signed(const uint8_t *der, size_t len, const uint8_t *tbs, size_t tbs_len,
                         const uint8_t *ca_der, size_t ca_len)
{
    ec_der_r in = { der, len }, cert, got;
    const unsigned char *q = der, *k = ca_der;
    X509 *x, *ca;
    int ok;

    if (ec_der_get(&in, EC_DER_SEQUENCE, &cert, NULL, NULL) < 0 || in.n ||
        ec_der_get(&cert, EC_DER_SEQUENCE, NULL, &got, NULL) < 0 || got.n != tbs_len ||
        memcmp(got.p, tbs, tbs_len))
        return 0;
    x = d2i_X509(NULL, &q, (long)len);
    ca = d2i_X509(NULL, &k, (long)ca_len);
    ok = x && ca && X509_verify(x, X509_get0_pubkey(ca)) == 1;
    X509_free(x);
    X509_free(ca);
    return ok;
}

apr_status_t ec_signing_recover(ec_store_t *s, apr_pool_t *p, const char *issuer_id, const char *serial_hex,
                                const uint8_t *der, size_t der_len, const char *actor, const char **why)
{
    const char *r[8], *status = NULL;
    const uint8_t *tbs, *ca;
    size_t tbs_len, ca_len;
    apr_array_header_t *names;
    apr_status_t rv, end;

    *why = NULL;
    if ((rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    rv = ec_store_get1(s, p, "signing_recover_get", 8, r, EC_ARGS(issuer_id, serial_hex));
    if (rv == APR_SUCCESS && (!(tbs = ec_unhex(p, r[0], &tbs_len)) || !(ca = ec_unhex(p, r[2], &ca_len)) ||
                              !is_the_signed(der, der_len, tbs, tbs_len, ca, ca_len))) {
        *why = "it is not the certificate of the record (another TBSCertificate, or not the issuer's signature)";
        rv = APR_EINVAL;
    }
    if (rv == APR_SUCCESS && (!*r[1] || ec_store_get1(s, p, "signing_recover_app", 1, &status,
                                                         EC_ARGS(r[1])) != APR_SUCCESS ||
                              (strcmp(status, "approved") && strcmp(status, "confirmed")))) {
        *why = apr_pstrcat(p, "its application is ", status ? status : "gone",
                           ": the certificate can no longer be handed out; revoke it instead", NULL);
        rv = APR_EINVAL;
    }
    if (rv == APR_SUCCESS) {
        names = ec_x509_dns_names(p, der, der_len);
        ec_store_exec(s, p, "signing_recover_cert", NULL,
                      EC_ARGS(serial_hex, issuer_id, r[1], r[4], r[3], ec_hex(p, der, der_len), r[5], r[6], r[7]));
        for (int i = 0; i < names->nelts && !s->failed; i++)
            ec_store_exec(s, p, "signing_recover_name", NULL,
                          EC_ARGS(issuer_id, serial_hex, APR_ARRAY_IDX(names, i, const char *)));
        ec_store_exec(s, p, "signing_recover_issued", NULL, EC_ARGS(r[1]));
        ec_store_exec(s, p, "signing_recover_ocsp", NULL, EC_ARGS(issuer_id, serial_hex));
        ec_store_exec(s, p, "signing_recover_done", NULL, EC_ARGS(issuer_id, serial_hex));
        ec_audit(s, p, actor, "signing.record",
                 apr_psprintf(p, "issuer %s serial %s: the signed certificate of an unfinished signing record was "
                              "recovered and stored for application %s (%d names)", issuer_id, serial_hex, r[1],
                              names->nelts));
        if (s->failed)
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
