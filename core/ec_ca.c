#include <string.h>
#include <time.h>
#include <openssl/x509.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include "ec_ca.h"
#include "ec_x509.h"
#include "ec_audit.h"
#include "ec_util.h"
#include "ec_log.h"

const ec_stmt_t ec_ca_stmts[] = {
    { "ca_count", "SELECT COUNT(*) FROM ca" },
    { "ca_cert_count", "SELECT COUNT(*) FROM certificate" },
    /* Only a hierarchy that issued nothing is replaced: its CRLs list nothing and go with it. */
    { "ca_delete_crl_pending", "DELETE FROM crl_pending" },
    { "ca_delete_crl_chunks", "DELETE FROM crl_chunk" },
    { "ca_delete_crls", "DELETE FROM crl" },
    { "ca_delete_crl_state", "DELETE FROM crl_state" },
    { "ca_delete_all", "DELETE FROM ca" },
    { "ca_insert", "INSERT INTO ca (role, name, parent_id, serial_hex, spki_sha256, key_sha1, "
      "name_sha1, key_uri, cert_der, not_before, not_after) SELECT %s, %s, parent.id, %s, "
      "UNHEX(%s), UNHEX(%s), UNHEX(%s), %s, UNHEX(%s), %s, %s "
      "FROM (SELECT 1 AS one) AS single LEFT JOIN ca AS parent ON parent.name = %s "
      "AND parent.role <> 'ocsp'" },
    { NULL, NULL }
};

const ec_ca_files_t ec_ca_files[] = {
    { "root", "root_ca_3", "RootCA3ARL.crl" },
    { "ssl", "ecert_ssl_ca_3-17", "eCertSCA3-17CRL1.crl" },
    { "ev", "ecert_ev_ssl_ca_3-17", "eCertESCA3-17CRL1.crl" },
};

void ec_ceremony_defaults(ec_ceremony_t *c)
{
    memset(c, 0, sizeof(*c));
    c->token_label = "ecert";
    c->root_cn = "Hongkong Post Root CA 3";
    c->ssl_cn = "Hongkong Post e-Cert SSL CA 3 - 17";
    c->ev_cn = "Hongkong Post e-Cert EV SSL CA 3 - 17";
    c->aia_base = "http://www1.ecert.gov.hk/root/";
    c->crl_base = "http://crl1.eCert.gov.hk/crl/";
    c->ocsp_url = "http://ocsp1.eCert.gov.hk";
    c->cps_url = "http://www.eCert.gov.hk/product/cps/ecert";
    c->root_days = 25 * 365 + 6;     /* App. H: 2017-06-03 .. 2042-06-03 */
    c->subca_days = 15 * 365 + 4;    /* App. H: 2017-06-03 .. 2032-06-03 */
    c->ocsp_days = 365;
}

/* One certificate of the hierarchy in the making. */
typedef struct {
    const char *role;           /* root, ssl, ev, ocsp */
    const char *cn;
    const char *file;
    const char *issuer_cn;      /* NULL: self-signed */
    ec_p11_key *key;
    const uint8_t *spki; size_t spki_len;
    uint8_t keyid[20];
    const uint8_t *name; size_t name_len;
    time_t not_before, not_after;
    const uint8_t *der; size_t der_len;
    char *serial_hex;
} member_t;

static const uint8_t *hk_name(apr_pool_t *p, const char *cn, size_t *len)
{
    ec_rdn_t rdns[] = {
        { EC_OID_C, EC_DER_PRINTABLE, "HK" },
        { EC_OID_ST, EC_DER_UTF8, "Hong Kong" },
        { EC_OID_L, EC_DER_UTF8, "Hong Kong" },
        { EC_OID_O, EC_DER_UTF8, "Hongkong Post" },
        { EC_OID_CN, EC_DER_UTF8, cn },
    };
    return ec_x509_name(p, rdns, 5, len);
}

static apr_status_t make_cert(ec_p11 *p11, apr_pool_t *p, const ec_ceremony_t *c, member_t *m,
                              const member_t *issuer)
{
    uint8_t serial[20];
    ec_der_w ext;
    ec_tbs_t tbs;
    const uint8_t *tbs_der;
    size_t tbs_len;
    apr_status_t rv;

    if ((rv = ec_x509_serial(serial)) != APR_SUCCESS)
        return rv;
    ec_der_w_init(&ext);
    if (!strcmp(m->role, "root")) {
        ec_ext_basic_constraints(&ext, 1, -1);
        ec_ext_key_usage(&ext, EC_KU_KEY_CERT_SIGN | EC_KU_CRL_SIGN);
        ec_ext_ski(&ext, m->keyid);
    }
    else if (!strcmp(m->role, "ocsp")) {
        static const char *const eku[] = { EC_OID_EKU_OCSP };
        static const char *const pol[] = { EC_OID_OCSP_POLICY };
        ec_ext_basic_constraints(&ext, 0, -1);
        ec_ext_key_usage(&ext, EC_KU_DIGITAL_SIGNATURE);
        ec_ext_eku(&ext, eku, 1);
        ec_ext_ocsp_nocheck(&ext);
        ec_ext_policies(&ext, pol, 1, c->cps_url);
        ec_ext_aki(&ext, issuer->keyid);
        ec_ext_ski(&ext, m->keyid);
    }
    else {
        static const char *const eku[] = { EC_OID_EKU_SERVER };
        static const char *const ov[] = { EC_OID_CPS, EC_OID_BR_OV };
        static const char *const ev[] = { EC_OID_CPS, EC_OID_BR_EV };
        ec_ext_basic_constraints(&ext, 1, 0);
        ec_ext_key_usage(&ext, EC_KU_DIGITAL_SIGNATURE | EC_KU_KEY_CERT_SIGN | EC_KU_CRL_SIGN);
        ec_ext_eku(&ext, eku, 1);
        ec_ext_policies(&ext, strcmp(m->role, "ev") ? ov : ev, 2, c->cps_url);
        ec_ext_aia(&ext, apr_pstrcat(p, c->aia_base, issuer->file, ".crt", NULL), c->ocsp_url);
        ec_ext_cdp(&ext, apr_pstrcat(p, c->crl_base, ec_ca_files[0].crl_file, NULL));
        ec_ext_aki(&ext, issuer->keyid);
        ec_ext_ski(&ext, m->keyid);
    }
    memset(&tbs, 0, sizeof(tbs));
    tbs.exts = ec_der_w_take(&ext, p, &tbs.exts_len);
    tbs.serial = serial;
    tbs.serial_len = sizeof(serial);
    tbs.issuer = issuer->name;
    tbs.issuer_len = issuer->name_len;
    tbs.subject = m->name;
    tbs.subject_len = m->name_len;
    tbs.not_before = m->not_before;
    tbs.not_after = m->not_after;
    tbs.spki = m->spki;
    tbs.spki_len = m->spki_len;
    if (!tbs.exts || !(tbs_der = ec_x509_tbs(p, &tbs, &tbs_len)))
        return APR_ENOMEM;
    if ((rv = ec_x509_sign(p11, issuer->key, p, tbs_der, tbs_len, &m->der, &m->der_len)) != APR_SUCCESS)
        return rv;
    m->serial_hex = ec_hex(p, serial, sizeof(serial));
    return APR_SUCCESS;
}

/* Independent check of what was just signed: OpenSSL parses it and verifies the
 * signature with the issuer's public key. */
static int verify_signed(const member_t *m, const member_t *issuer)
{
    const unsigned char *q = m->der, *k = issuer->spki;
    X509 *x = d2i_X509(NULL, &q, (long)m->der_len);
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &k, (long)issuer->spki_len);
    int ok = x && pk && X509_verify(x, pk) == 1;
    X509_free(x);
    EVP_PKEY_free(pk);
    return ok;
}

static apr_status_t write_file(apr_pool_t *p, const char *path, const void *data, size_t len)
{
    apr_file_t *f;
    apr_status_t rv;
    apr_size_t n = len;
    const char *tmp = apr_pstrcat(p, path, ".tmp", NULL);

    rv = apr_file_open(&f, tmp, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_TRUNCATE | APR_FOPEN_BINARY,
                       APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD | APR_FPROT_WREAD, p);
    if (rv != APR_SUCCESS)
        return rv;
    rv = apr_file_write_full(f, data, n, &n);
    apr_file_close(f);
    if (rv == APR_SUCCESS)
        rv = apr_file_rename(tmp, path, p);
    return rv;
}

apr_status_t ec_ceremony_run(ec_p11 *p11, ec_store_t *s, apr_pool_t *p, const ec_ceremony_t *c,
                             const char *actor, const char **report)
{
    member_t m[6];
    const char *count;
    char *text = "";
    time_t now = time(NULL);
    apr_status_t rv;
    int existing = 0, n;
    const char *dir = apr_pstrcat(p, c->publish_dir, "/root", NULL);

    memset(m, 0, sizeof(m));
    m[0] = (member_t){ .role = "root", .cn = c->root_cn, .file = ec_ca_files[0].file };
    m[1] = (member_t){ .role = "ssl", .cn = c->ssl_cn, .file = ec_ca_files[1].file, .issuer_cn = c->root_cn };
    m[2] = (member_t){ .role = "ev", .cn = c->ev_cn, .file = ec_ca_files[2].file, .issuer_cn = c->root_cn };
    for (int i = 0; i < 3; i++)
        m[3 + i] = (member_t){ .role = "ocsp", .cn = apr_pstrcat(p, m[i].cn, " OCSP Responder", NULL),
                               .file = apr_pstrcat(p, m[i].file, "_ocsp", NULL), .issuer_cn = m[i].cn };

    /* An existing hierarchy is kept unless the operator says otherwise. */
    for (int i = 0; i < 6; i++) {
        if ((rv = ec_p11_label_objects(p11, m[i].cn, 0, &n)) != APR_SUCCESS)
            return rv;
        existing += n;
    }
    if ((rv = ec_store_get1(s, p, "ca_count", 1, &count, EC_NOARGS)) != APR_SUCCESS)
        return rv;
    if ((existing || strcmp(count, "0")) && !c->force) {
        *report = apr_psprintf(p, "a CA hierarchy already exists (%d token objects, %s database rows); "
                               "run again with --force to replace it", existing, count);
        return APR_EEXIST;
    }
    if (c->force) {
        const char *issued;
        if ((rv = ec_store_get1(s, p, "ca_cert_count", 1, &issued, EC_NOARGS)) != APR_SUCCESS)
            return rv;
        if (strcmp(issued, "0")) {
            *report = apr_psprintf(p, "refusing to replace a hierarchy that has issued %s certificates",
                                   issued);
            return APR_EEXIST;
        }
        for (int i = 0; i < 6; i++)
            if ((rv = ec_p11_label_objects(p11, m[i].cn, 1, &n)) != APR_SUCCESS)
                return rv;
        if ((rv = ec_store_exec(s, p, "ca_delete_crl_pending", NULL, EC_NOARGS)) != APR_SUCCESS ||
            (rv = ec_store_exec(s, p, "ca_delete_crl_chunks", NULL, EC_NOARGS)) != APR_SUCCESS ||
            (rv = ec_store_exec(s, p, "ca_delete_crls", NULL, EC_NOARGS)) != APR_SUCCESS ||
            (rv = ec_store_exec(s, p, "ca_delete_crl_state", NULL, EC_NOARGS)) != APR_SUCCESS ||
            (rv = ec_store_exec(s, p, "ca_delete_all", NULL, EC_NOARGS)) != APR_SUCCESS)
            return rv;
    }

    for (int i = 0; i < 6; i++) {
        const char *uri = ec_p11_uri(p, c->token_label, m[i].cn);
        if ((rv = ec_p11_generate_rsa(p11, m[i].cn, 2048)) != APR_SUCCESS ||
            (rv = ec_p11_key_get(p11, p, uri, &m[i].key)) != APR_SUCCESS ||
            (rv = ec_p11_key_spki(p11, m[i].key, p, &m[i].spki, &m[i].spki_len)) != APR_SUCCESS)
            return rv;
        ec_spki_keyid(m[i].spki, m[i].spki_len, m[i].keyid);
        if (!(m[i].name = hk_name(p, m[i].cn, &m[i].name_len)))
            return APR_ENOMEM;
    }
    /* Validity: each certificate starts now and never outlives its issuer. */
    m[0].not_before = now;
    m[0].not_after = now + (time_t)c->root_days * 86400;
    for (int i = 1; i < 6; i++) {
        const member_t *iss = i < 3 ? &m[0] : &m[i - 3];
        time_t end = now + (time_t)(i < 3 ? c->subca_days : c->ocsp_days) * 86400;
        m[i].not_before = now;
        m[i].not_after = end < iss->not_after ? end : iss->not_after;
    }
    for (int i = 0; i < 6; i++) {
        const member_t *iss = i == 0 ? &m[0] : i < 3 ? &m[0] : &m[i - 3];
        if ((rv = make_cert(p11, p, c, &m[i], iss)) != APR_SUCCESS)
            return rv;
        if (!verify_signed(&m[i], iss)) {
            ec_log(EC_LOG_ERR, "ECK0001", "the certificate of %s does not verify", m[i].cn);
            return APR_EGENERAL;
        }
    }

    if ((rv = apr_dir_make_recursive(dir, APR_FPROT_OS_DEFAULT, p)) != APR_SUCCESS)
        return rv;
    for (int i = 0; i < 6; i++) {
        const char *pem = ec_pem(p, "CERTIFICATE", m[i].der, m[i].der_len);
        if ((rv = write_file(p, apr_pstrcat(p, dir, "/", m[i].file, ".pem.crt", NULL), pem, strlen(pem))) ||
            (rv = write_file(p, apr_pstrcat(p, dir, "/", m[i].file, ".crt", NULL), m[i].der, m[i].der_len)))
            return rv;
    }

    if ((rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    for (int i = 0; i < 6 && !s->failed; i++) {
        uint8_t spki_sha256[32], name_sha1[20];
        ec_sha256(m[i].spki, m[i].spki_len, spki_sha256);
        ec_sha1(m[i].name, m[i].name_len, name_sha1);
        ec_store_exec(s, p, "ca_insert", NULL,
                      EC_ARGS(m[i].role, m[i].cn, m[i].serial_hex,
                              ec_hex(p, spki_sha256, 32), ec_hex(p, m[i].keyid, 20),
                              ec_hex(p, name_sha1, 20), ec_p11_uri(p, c->token_label, m[i].cn),
                              ec_hex(p, m[i].der, m[i].der_len),
                              ec_sqltime(p, m[i].not_before), ec_sqltime(p, m[i].not_after),
                              m[i].issuer_cn ? m[i].issuer_cn : ""));
        text = apr_psprintf(p, "%s%-45s serial %s\n  key %s\n", text, m[i].cn, m[i].serial_hex,
                            ec_p11_uri(p, c->token_label, m[i].cn));
    }
    if (!s->failed)
        ec_audit(s, p, actor, "ca.ceremony",
                 apr_psprintf(p, "hierarchy created under %s%s: %s, %s, %s and their OCSP responders",
                              c->root_cn, c->force ? " (replacing the previous one)" : "",
                              c->root_cn, c->ssl_cn, c->ev_cn));
    if ((rv = ec_store_end(s, 0)) != APR_SUCCESS)
        return rv;
    *report = apr_pstrcat(p, text, "certificates published in ", dir, "\n", NULL);
    return APR_SUCCESS;
}
