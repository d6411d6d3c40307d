#include <string.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <apr_strings.h>
#include "ec_keycomp.h"
#include "ec_audit.h"
#include "ec_csr.h"
#include "ec_flow.h"
#include "ec_report.h"
#include "ec_revoke.h"
#include "ec_util.h"

#define EPOCH_S(c) "TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', " c ")"

const ec_stmt_t ec_keycomp_stmts[] = {
    { "kc_block", "INSERT INTO blocked_key (spki_sha256, reason) VALUES (UNHEX(%s), %s) "
      "ON DUPLICATE KEY UPDATE reason = reason" },
    { "kc_certs", "SELECT c.issuer_id, c.serial_hex, " EPOCH_S("c.not_before") ", c.server_name, "
      "COALESCE(a.email, ''), COALESCE(a.subscriber_ref, ''), i.name, c.status, "
      "COALESCE(c.revocation_reason, -1) FROM certificate c JOIN ca i ON i.id = c.issuer_id "
      "LEFT JOIN application a ON a.id = c.application_id "
      "WHERE c.spki_sha256 = UNHEX(%s) AND c.not_after > UTC_TIMESTAMP() ORDER BY c.created_at FOR UPDATE" },
    { "kc_serials", "SELECT serial_hex FROM certificate WHERE spki_sha256 = UNHEX(%s) AND status = 'revoked' "
      "AND revocation_reason = 1 ORDER BY created_at LIMIT 500" },
    { NULL, NULL }
};

static const char *const err_keys[EC_KC_ERR_MAX] = {
    [EC_KC_OK] = "keycomp.ok", [EC_KC_EMPTY] = "keycomp.empty",
    [EC_KC_NOT_EVIDENCE] = "keycomp.not_evidence", [EC_KC_ENCRYPTED] = "keycomp.encrypted",
    [EC_KC_BAD_KEY] = "keycomp.bad_key", [EC_KC_KEY_TYPE] = "keycomp.key_type",
    [EC_KC_BAD_CSR] = "keycomp.bad_csr", [EC_KC_WRONG_CN] = "keycomp.wrong_cn",
};

const char *ec_keycomp_err_key(ec_kc_err_t e)
{
    return e >= 0 && e < EC_KC_ERR_MAX ? err_keys[e] : "keycomp.not_evidence";
}

/* The armour is split in two literals: no source file holds a private key's header. */
#define PEM_KEY_ARMOUR "PRIVATE KEY" "-----"

int ec_keycomp_has_private_key(const char *text)
{
    return text && strstr(text, PEM_KEY_ARMOUR) != NULL;
}

/* No passphrase is ever asked for or tried. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

static ec_kc_err_t private_key(const char *text, size_t len, uint8_t spki_sha256[32])
{
    BIO *bio;
    EVP_PKEY *pk;
    unsigned char *der = NULL;
    int n, type;
    ec_kc_err_t e = EC_KC_OK;

    if (strstr(text, "ENCRYPTED " PEM_KEY_ARMOUR) || strstr(text, "Proc-Type: 4,ENCRYPTED"))
        return EC_KC_ENCRYPTED;
    if (!(bio = BIO_new_mem_buf(text, (int)len)))
        return EC_KC_BAD_KEY;
    pk = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    BIO_free(bio);
    if (!pk)
        return EC_KC_BAD_KEY;
    type = EVP_PKEY_get_base_id(pk);
    if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC)
        e = EC_KC_KEY_TYPE;
    else if ((n = i2d_PUBKEY(pk, &der)) <= 0)
        e = EC_KC_BAD_KEY;
    else
        ec_sha256(der, (size_t)n, spki_sha256);
    OPENSSL_free(der);
    EVP_PKEY_free(pk);             /* frees (and OpenSSL clears) the private parts */
    return e;
}

ec_kc_err_t ec_keycomp_evidence(apr_pool_t *p, const char *text, size_t len, const char *proof,
                                uint8_t spki_sha256[32], const char **kind)
{
    ec_csr_t csr;
    ec_csr_err_t ce;
    size_t i = 0;

    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    if (i == len)
        return EC_KC_EMPTY;
    if (ec_keycomp_has_private_key(text)) {
        *kind = "private-key";
        return private_key(text, len, spki_sha256);
    }
    *kind = "csr";
    if ((ce = ec_csr_parse(p, text, len, &csr)) == EC_CSR_NOT_PEM)
        return EC_KC_NOT_EVIDENCE;
    if (ce != EC_CSR_OK)
        return EC_KC_BAD_CSR;
    if (!csr.cn || (strcmp(csr.cn, proof ? proof : EC_KEYCOMP_PROOF_ZH) && strcmp(csr.cn, EC_KEYCOMP_PROOF_EN)))
        return EC_KC_WRONG_CN;
    memcpy(spki_sha256, csr.spki_sha256, 32);
    return EC_KC_OK;
}

typedef struct {
    const char *issuer_id, *serial_hex, *server_name, *email, *subscriber_ref, *issuer_cn, *status;
    time_t not_before;
    int reason;
} kc_cert_t;

static apr_status_t certs_of(ec_store_t *s, apr_pool_t *p, const char *spki_hex, apr_array_header_t *out)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_status_t rv;

    if ((rv = ec_store_select(s, p, "kc_certs", &res, EC_ARGS(spki_hex))) != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS) {
        kc_cert_t *c = apr_array_push(out);
        c->issuer_id = apr_pstrdup(p, ec_store_col(s, row, 0));
        c->serial_hex = apr_pstrdup(p, ec_store_col(s, row, 1));
        c->not_before = (time_t)apr_atoi64(ec_store_col(s, row, 2));
        c->server_name = apr_pstrdup(p, ec_store_col(s, row, 3));
        c->email = apr_pstrdup(p, ec_store_col(s, row, 4));
        c->subscriber_ref = apr_pstrdup(p, ec_store_col(s, row, 5));
        c->issuer_cn = apr_pstrdup(p, ec_store_col(s, row, 6));
        c->status = apr_pstrdup(p, ec_store_col(s, row, 7));
        c->reason = atoi(ec_store_col(s, row, 8));
    }
    return APR_SUCCESS;
}

/* The subscriber hears of it: one notice per certificate, to its application's address. */
static apr_status_t tell(const ec_notice_ctx_t *n, ec_store_t *s, apr_pool_t *p, const kc_cert_t *c,
                         time_t when, const char *report_no)
{
    ec_tmpl_vars *v = ec_tmpl_vars_make(p, NULL);

    if (!n || !*c->email)
        return APR_SUCCESS;
    ec_tmpl_set(v, "server_name", c->server_name);
    ec_tmpl_set(v, "serial", ec_flow_serial_spaced(p, c->serial_hex));
    ec_tmpl_set(v, "issuer_cn", c->issuer_cn);
    ec_tmpl_set(v, "subscriber_ref", c->subscriber_ref);
    ec_tmpl_set(v, "revoked_at", ec_sqltime(p, when));
    ec_tmpl_set(v, "report_no", report_no);
    /* A notice that cannot be composed (an address no relay takes) does not stop the revocation;
     * a store failure does, with everything else. */
    if (ec_notice(n, s, p, "keycomp-revoked", c->email, v) != APR_SUCCESS && s->failed)
        return APR_EGENERAL;
    return APR_SUCCESS;
}

apr_status_t ec_keycomp_act(ec_store_t *s, apr_pool_t *p, const ec_notice_ctx_t *n,
                            const uint8_t spki_sha256[32], const ec_kc_report_t *r, ec_kc_result_t *res)
{
    const char *spki_hex = ec_hex(p, spki_sha256, 32);
    apr_array_header_t *certs = apr_array_make(p, 4, sizeof(kc_cert_t));
    ec_report_t rep;
    time_t now = time(NULL);
    apr_status_t rv;

    memset(res, 0, sizeof(*res));
    res->revoked = apr_array_make(p, 4, sizeof(const char *));
    if ((rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    memset(&rep, 0, sizeof(rep));
    rep.kind = "key-compromise";
    rep.category = "key-compromise";
    rep.contact = r->contact;
    rep.spki_sha256 = spki_sha256;
    rep.client_addr = r->client_addr;
    rep.lang = r->lang;
    if ((rv = ec_report_insert(s, p, &rep, r->actor, &res->report_no)) == APR_SUCCESS)
        rv = ec_store_exec(s, p, "kc_block", NULL,
                           EC_ARGS(spki_hex, apr_psprintf(p, "key compromise report %s (%s)", res->report_no, r->kind)));
    if (rv == APR_SUCCESS)
        rv = certs_of(s, p, spki_hex, certs);
    for (int i = 0; i < certs->nelts && rv == APR_SUCCESS; i++) {
        kc_cert_t *c = &APR_ARRAY_IDX(certs, i, kc_cert_t);
        /* BR 7.2.2: back to the compromise, but a certificate cannot be revoked before it was. */
        time_t when = r->compromised_at ? (r->compromised_at > c->not_before ? r->compromised_at : c->not_before)
                                        : now;
        rv = ec_revoke(s, p, c->issuer_id, c->serial_hex, 1, when, r->actor,
                       apr_psprintf(p, "key compromise report %s", res->report_no));
        if (rv == APR_EEXIST) {
            res->already++;
            rv = APR_SUCCESS;
            continue;
        }
        if (rv == APR_SUCCESS) {
            APR_ARRAY_PUSH(res->revoked, const char *) = c->serial_hex;
            rv = tell(n, s, p, c, when, res->report_no);
        }
    }
    if (rv == APR_SUCCESS)
        rv = ec_report_set_revoked(s, p, res->report_no, res->revoked->nelts);
    if (rv == APR_SUCCESS)
        rv = ec_audit(s, p, r->actor, "keycompromise.report",
                      apr_psprintf(p, "report %s evidence %s key %s: %d certificate(s) revoked, %d already, key blocked",
                                   res->report_no, r->kind, spki_hex, res->revoked->nelts, res->already));
    {
        apr_status_t end = ec_store_end(s, rv != APR_SUCCESS);
        return rv == APR_SUCCESS ? end : rv;
    }
}

apr_status_t ec_keycomp_serials(ec_store_t *s, apr_pool_t *p, const char *spki_sha256_hex,
                                apr_array_header_t **serials)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_status_t rv;

    *serials = apr_array_make(p, 4, sizeof(const char *));
    if ((rv = ec_store_select(s, p, "kc_serials", &res, EC_ARGS(spki_sha256_hex))) != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS)
        APR_ARRAY_PUSH(*serials, const char *) = apr_pstrdup(p, ec_store_col(s, row, 0));
    return APR_SUCCESS;
}
