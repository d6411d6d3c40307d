#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include "ec_ocsp_store.h"
#include "ec_util.h"
#include "ec_log.h"

/* Times: DATETIME columns written by the core hold UTC (ec_sqltime); they are read as
 * seconds since the epoch with TIMESTAMPDIFF, which, unlike UNIX_TIMESTAMP, does not
 * depend on the session time zone. status_changed is only ever compared with itself. */
#define EPOCH_S(c)  "TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', " c ")"
#define EPOCH_US(c) "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', " c ")"
#define FROM_US     "TIMESTAMPADD(MICROSECOND, %s, '1970-01-01 00:00:00')"
/* apr_dbd_mysql sizes each result buffer by the column's declared length: HEX() of a BLOB
 * is declared 512 KiB, allocated per lookup. A response is a few KiB; 8 KiB is the limit. */
#define HEX_DER(c)  "CAST(HEX(" c ") AS CHAR(16384) CHARACTER SET ascii)"

const ec_stmt_t ec_ocsp_stmts[] = {
    { "ocsp_issuer", "SELECT id, role FROM ca WHERE key_sha1 = UNHEX(%s) "
      "AND role IN ('root', 'ssl', 'ev') ORDER BY id DESC LIMIT 1" },
    { "ocsp_ca_cert", "SELECT HEX(cert_der) FROM ca WHERE id = %s" },
    { "ocsp_responder", "SELECT HEX(cert_der), key_uri FROM ca WHERE role = 'ocsp' AND parent_id = %s "
      "ORDER BY id DESC LIMIT 1" },
    { "ocsp_cert_status", "SELECT c.status, COALESCE(" EPOCH_S("c.revoked_at") ", 0), "
      "COALESCE(c.revocation_reason, -1), " EPOCH_US("c.status_changed") ", " EPOCH_S("c.not_after") ", "
      EPOCH_S("r.this_update") ", " EPOCH_S("r.next_update") ", " EPOCH_US("r.status_changed") ", "
      HEX_DER("r.response_der") " FROM certificate c LEFT JOIN ocsp_response r ON r.issuer_id = c.issuer_id "
      "AND r.serial_hex = c.serial_hex AND r.hash_alg = %s WHERE c.issuer_id = %s AND c.serial_hex = %s" },
    /* Sub CAs under the root: CPS App. D note 2, a CA's revocation always has a reasonCode. */
    { "ocsp_ca_status", "SELECT c.status, COALESCE(" EPOCH_S("c.revoked_at") ", 0), "
      "COALESCE(c.revocation_reason, 0), " EPOCH_US("c.status_changed") ", " EPOCH_S("c.not_after") ", "
      EPOCH_S("r.this_update") ", " EPOCH_S("r.next_update") ", " EPOCH_US("r.status_changed") ", "
      HEX_DER("r.response_der") " FROM ca c LEFT JOIN ocsp_response r ON r.issuer_id = c.parent_id "
      "AND r.serial_hex = c.serial_hex AND r.hash_alg = %s WHERE c.parent_id = %s AND c.serial_hex = %s "
      "AND c.role IN ('ssl', 'ev')" },
    { "ocsp_upsert", "INSERT INTO ocsp_response (issuer_id, serial_hex, hash_alg, this_update, next_update, "
      "status_changed, response_der) VALUES (%s, %s, %s, %s, %s, " FROM_US ", UNHEX(%s)) "
      "ON DUPLICATE KEY UPDATE "
      "this_update = IF(VALUES(status_changed) >= status_changed, VALUES(this_update), this_update), "
      "next_update = IF(VALUES(status_changed) >= status_changed, VALUES(next_update), next_update), "
      "response_der = IF(VALUES(status_changed) >= status_changed, VALUES(response_der), response_der), "
      "status_changed = GREATEST(status_changed, VALUES(status_changed))" },
    { "ocsp_response_drop", "DELETE FROM ocsp_response WHERE issuer_id = %s AND serial_hex = %s "
      "AND hash_alg = %s" },
    { "ocsp_db_now", "SELECT " EPOCH_US("NOW(6)") },
    { "ocsp_pending_done", "DELETE FROM ocsp_pending WHERE issuer_id = %s AND serial_hex = %s "
      "AND queued_at = " FROM_US },
    { "ocsp_pending_get", "SELECT " EPOCH_US("queued_at") " FROM ocsp_pending WHERE issuer_id = %s "
      "AND serial_hex = %s" },
    { NULL, NULL }
};

static const char *alg_name(int alg)
{
    return alg == EC_OCSP_HASH_SHA256 ? "sha256" : "sha1";
}

char *ec_ocsp_serial_hex(apr_pool_t *p, const uint8_t *mag, size_t len)
{
    return ec_hex(p, mag, len);
}

apr_status_t ec_ocsp_issuer_resolve(ec_store_t *s, apr_pool_t *p, ec_ocsp_issuer_t *is)
{
    const char *cols[2];
    apr_status_t rv = ec_store_get1(s, p, "ocsp_issuer", 2, cols,
                                    EC_ARGS(ec_hex(p, is->hash.key_sha1, 20)));
    if (rv != APR_SUCCESS)
        return rv;
    apr_cpystrn(is->id, cols[0], sizeof(is->id));
    is->is_root = !strcmp(cols[1], "root");
    return APR_SUCCESS;
}

apr_status_t ec_ocsp_issuer_load(ec_store_t *s, apr_pool_t *p, ec_p11 *p11, const char *issuer_id,
                                 ec_ocsp_issuer_t *is)
{
    const char *ca[1], *resp[2];
    const uint8_t *der, *rder;
    size_t len, rlen;
    apr_status_t rv;

    memset(is, 0, sizeof(*is));
    if ((rv = ec_store_get1(s, p, "ocsp_ca_cert", 1, ca, EC_ARGS(issuer_id))) != APR_SUCCESS ||
        (rv = ec_store_get1(s, p, "ocsp_responder", 2, resp, EC_ARGS(issuer_id))) != APR_SUCCESS)
        return rv;
    if (!(der = ec_unhex(p, ca[0], &len)) || !(rder = ec_unhex(p, resp[0], &rlen)) || !resp[1])
        return APR_EINVAL;
    if ((rv = ec_ocsp_issuer_hash(p, der, len, &is->hash)) != APR_SUCCESS ||
        (rv = ec_ocsp_signer_cert(p, &is->signer, rder, rlen)) != APR_SUCCESS ||
        (rv = ec_p11_key_get(p11, p, resp[1], &is->signer.key)) != APR_SUCCESS)
        return rv;
    is->signer.p11 = p11;
    return ec_ocsp_issuer_resolve(s, p, is);
}

apr_status_t ec_ocsp_lookup(ec_store_t *s, apr_pool_t *p, const ec_ocsp_issuer_t *is,
                            const char *serial_hex, int alg, ec_ocsp_rec_t *rec)
{
    const char *c[9];
    apr_status_t rv;

    memset(rec, 0, sizeof(*rec));
    rec->status = EC_OCSP_UNKNOWN;
    rec->reason = -1;
    rv = ec_store_get1(s, p, is->is_root ? "ocsp_ca_status" : "ocsp_cert_status", 9, c,
                       EC_ARGS(alg_name(alg), is->id, serial_hex));
    if (rv == APR_ENOENT)
        return APR_SUCCESS;
    if (rv != APR_SUCCESS)
        return rv;
    ec_ocsp_rec_state(rec, c);
    if (c[5] && c[6] && c[7] && c[8]) {
        size_t n;
        rec->der = ec_unhex(p, c[8], &n);
        rec->der_len = n;
        rec->has_resp = rec->der != NULL;
        rec->this_update = (time_t)strtoll(c[5], NULL, 10);
        rec->next_update = (time_t)strtoll(c[6], NULL, 10);
        rec->resp_sc = strtoll(c[7], NULL, 10);
    }
    return APR_SUCCESS;
}

void ec_ocsp_rec_state(ec_ocsp_rec_t *rec, const char *const *c)
{
    rec->found = 1;
    rec->status = !strcmp(c[0], "revoked") ? EC_OCSP_REVOKED : EC_OCSP_GOOD;
    rec->revoked_at = (time_t)strtoll(c[1], NULL, 10);
    rec->reason = rec->status == EC_OCSP_REVOKED ? atoi(c[2]) : -1;
    rec->sc = strtoll(c[3], NULL, 10);
    rec->not_after = (time_t)strtoll(c[4], NULL, 10);
}

apr_status_t ec_ocsp_sign_rec(apr_pool_t *p, const ec_ocsp_issuer_t *is, const char *serial_hex, int alg,
                              time_t now, int validity, ec_ocsp_rec_t *rec)
{
    ec_ocsp_single_t one;
    const uint8_t *serial, *der;
    size_t serial_len, len;
    apr_status_t rv;

    serial = ec_unhex(p, strlen(serial_hex) % 2 ? apr_pstrcat(p, "0", serial_hex, NULL) : serial_hex,
                      &serial_len);
    if (!serial || !serial_len)
        return APR_EINVAL;
    memset(&one, 0, sizeof(one));
    one.certid = ec_ocsp_certid(p, alg, &is->hash, serial, serial_len, &one.certid_len);
    if (!one.certid)
        return APR_ENOMEM;
    one.status = rec->found ? rec->status : EC_OCSP_UNKNOWN;
    one.revoked_at = rec->revoked_at;
    one.reason = rec->reason;
    one.this_update = now;
    one.next_update = now + validity;
    if ((rv = ec_ocsp_sign(p, &is->signer, &one, 1, NULL, 0, now, &der, &len)) != APR_SUCCESS)
        return rv;
    rec->der = der;
    rec->der_len = len;
    rec->this_update = one.this_update;
    rec->next_update = one.next_update;
    rec->resp_sc = rec->sc;
    rec->has_resp = 1;
    return APR_SUCCESS;
}

apr_status_t ec_ocsp_presign(ec_store_t *s, apr_pool_t *p, const ec_ocsp_issuer_t *is,
                             const char *serial_hex, int alg, time_t now, int validity,
                             ec_ocsp_rec_t *rec)
{
    apr_status_t rv = ec_ocsp_sign_rec(p, is, serial_hex, alg, now, validity, rec);

    if (rv != APR_SUCCESS || !rec->found)
        return rv;      /* never-issued serials are not worth a row */
    return ec_store_exec(s, p, "ocsp_upsert", NULL,
                         EC_ARGS(is->id, serial_hex, alg_name(alg), ec_sqltime(p, rec->this_update),
                                 ec_sqltime(p, rec->next_update), apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)rec->sc),
                                 ec_hex(p, rec->der, rec->der_len)));
}

apr_status_t ec_ocsp_db_now(ec_store_t *s, apr_pool_t *p, long long *now_us)
{
    const char *c[1];
    apr_status_t rv = ec_store_get1(s, p, "ocsp_db_now", 1, c, EC_NOARGS);
    if (rv == APR_SUCCESS)
        *now_us = strtoll(c[0], NULL, 10);
    return rv;
}

static apr_status_t resign(ec_store_t *s, apr_pool_t *p, const ec_ocsp_issuer_t *is, const char *serial,
                           int alg, time_t now, int validity)
{
    ec_ocsp_rec_t rec;
    apr_status_t rv;

    if ((rv = ec_ocsp_lookup(s, p, is, serial, alg, &rec)) != APR_SUCCESS)
        return rv;
    if (!rec.found)
        return APR_ENOENT;
    return ec_ocsp_presign(s, p, is, serial, alg, now, validity, &rec);
}

apr_status_t ec_ocsp_resign_now(ec_store_t *s, apr_pool_t *p, const ec_ocsp_issuer_t *is,
                                const char *serial_hex, time_t now, int validity)
{
    const char *queued[1] = { NULL };
    apr_status_t rv = ec_store_get1(s, p, "ocsp_pending_get", 1, queued, EC_ARGS(is->id, serial_hex));

    if (rv != APR_SUCCESS && rv != APR_ENOENT)
        return rv;
    if ((rv = resign(s, p, is, serial_hex, EC_OCSP_HASH_SHA1, now, validity)) != APR_SUCCESS ||
        (rv = resign(s, p, is, serial_hex, EC_OCSP_HASH_SHA256, now, validity)) != APR_SUCCESS)
        return rv;
    if (queued[0])
        rv = ec_store_exec(s, p, "ocsp_pending_done", NULL, EC_ARGS(is->id, serial_hex, queued[0]));
    return rv;
}
