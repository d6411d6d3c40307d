#include <string.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/asn1.h>
#include <apr_strings.h>
#include "ec_x509.h"
#include "ec_util.h"

const uint8_t *ec_x509_name(apr_pool_t *p, const ec_rdn_t *rdns, int n, size_t *len)
{
    ec_der_w w;

    ec_der_w_init(&w);
    ec_der_begin(&w, EC_DER_SEQUENCE);
    for (int i = 0; i < n; i++) {
        if (!rdns[i].value || !*rdns[i].value)
            continue;
        ec_der_begin(&w, EC_DER_SET);
        ec_der_begin(&w, EC_DER_SEQUENCE);
        ec_der_oid(&w, rdns[i].oid);
        ec_der_string(&w, rdns[i].tag, rdns[i].value);
        ec_der_end(&w);
        ec_der_end(&w);
    }
    ec_der_end(&w);
    return ec_der_w_take(&w, p, len);
}

static void ext_begin(ec_der_w *w, const char *oid, int critical)
{
    ec_der_begin(w, EC_DER_SEQUENCE);
    ec_der_oid(w, oid);
    if (critical)
        ec_der_bool(w, 1);
    ec_der_begin(w, EC_DER_OCTETSTRING);
}

static void ext_end(ec_der_w *w)
{
    ec_der_end(w);
    ec_der_end(w);
}

void ec_ext_basic_constraints(ec_der_w *w, int ca, int pathlen)
{
    ext_begin(w, "2.5.29.19", 1);
    ec_der_begin(w, EC_DER_SEQUENCE);
    if (ca) {
        ec_der_bool(w, 1);
        if (pathlen >= 0)
            ec_der_int(w, (unsigned long)pathlen);
    }
    ec_der_end(w);
    ext_end(w);
}

void ec_ext_key_usage(ec_der_w *w, unsigned bits)
{
    uint8_t b[3];
    size_t n;
    int unused = 0;

    b[1] = (uint8_t)(bits >> 8);
    b[2] = (uint8_t)(bits & 0xff);
    n = b[2] ? 2 : 1;
    /* DER: trailing zero bits of the last octet are dropped and counted as unused. */
    uint8_t last = b[n];
    while (last && !(last & 1)) {
        last >>= 1;
        unused++;
    }
    b[0] = (uint8_t)unused;
    ext_begin(w, "2.5.29.15", 1);
    ec_der_tlv(w, EC_DER_BITSTRING, b, n + 1);
    ext_end(w);
}

void ec_ext_eku(ec_der_w *w, const char *const *oids, int n)
{
    ext_begin(w, "2.5.29.37", 0);
    ec_der_begin(w, EC_DER_SEQUENCE);
    for (int i = 0; i < n; i++)
        ec_der_oid(w, oids[i]);
    ec_der_end(w);
    ext_end(w);
}

void ec_ext_ski(ec_der_w *w, const uint8_t keyid[20])
{
    ext_begin(w, "2.5.29.14", 0);
    ec_der_tlv(w, EC_DER_OCTETSTRING, keyid, 20);
    ext_end(w);
}

void ec_ext_aki(ec_der_w *w, const uint8_t keyid[20])
{
    ext_begin(w, "2.5.29.35", 0);
    ec_der_begin(w, EC_DER_SEQUENCE);
    ec_der_tlv(w, EC_DER_CTXP(0), keyid, 20);
    ec_der_end(w);
    ext_end(w);
}

void ec_ext_policies(ec_der_w *w, const char *const *oids, int n, const char *cps_url)
{
    ext_begin(w, "2.5.29.32", 0);
    ec_der_begin(w, EC_DER_SEQUENCE);
    for (int i = 0; i < n; i++) {
        ec_der_begin(w, EC_DER_SEQUENCE);
        ec_der_oid(w, oids[i]);
        if (cps_url && *cps_url) {
            ec_der_begin(w, EC_DER_SEQUENCE);
            ec_der_begin(w, EC_DER_SEQUENCE);
            ec_der_oid(w, "1.3.6.1.5.5.7.2.1");     /* id-qt-cps */
            ec_der_string(w, EC_DER_IA5, cps_url);
            ec_der_end(w);
            ec_der_end(w);
        }
        ec_der_end(w);
    }
    ec_der_end(w);
    ext_end(w);
}

void ec_ext_aia(ec_der_w *w, const char *ca_issuers, const char *ocsp)
{
    ext_begin(w, "1.3.6.1.5.5.7.1.1", 0);
    ec_der_begin(w, EC_DER_SEQUENCE);
    if (ocsp && *ocsp) {
        ec_der_begin(w, EC_DER_SEQUENCE);
        ec_der_oid(w, "1.3.6.1.5.5.7.48.1");
        ec_der_string(w, EC_DER_CTXP(6), ocsp);
        ec_der_end(w);
    }
    if (ca_issuers && *ca_issuers) {
        ec_der_begin(w, EC_DER_SEQUENCE);
        ec_der_oid(w, "1.3.6.1.5.5.7.48.2");
        ec_der_string(w, EC_DER_CTXP(6), ca_issuers);
        ec_der_end(w);
    }
    ec_der_end(w);
    ext_end(w);
}

void ec_ext_cdp(ec_der_w *w, const char *url)
{
    ext_begin(w, "2.5.29.31", 0);
    ec_der_begin(w, EC_DER_SEQUENCE);            /* CRLDistributionPoints */
    ec_der_begin(w, EC_DER_SEQUENCE);            /* DistributionPoint */
    ec_der_begin(w, EC_DER_CTX(0));              /* distributionPoint */
    ec_der_begin(w, EC_DER_CTX(0));              /* fullName */
    ec_der_string(w, EC_DER_CTXP(6), url);
    ec_der_end(w);
    ec_der_end(w);
    ec_der_end(w);
    ec_der_end(w);
    ext_end(w);
}

void ec_ext_san_dns(ec_der_w *w, const char *const *names, int n)
{
    ext_begin(w, "2.5.29.17", 0);
    ec_der_begin(w, EC_DER_SEQUENCE);
    for (int i = 0; i < n; i++)
        ec_der_string(w, EC_DER_CTXP(2), names[i]);
    ec_der_end(w);
    ext_end(w);
}

void ec_ext_ocsp_nocheck(ec_der_w *w)
{
    ext_begin(w, "1.3.6.1.5.5.7.48.1.5", 0);
    ec_der_null(w);
    ext_end(w);
}

void ec_x509_sigalg(ec_der_w *w)
{
    ec_der_begin(w, EC_DER_SEQUENCE);
    ec_der_oid(w, "1.2.840.113549.1.1.11");
    ec_der_null(w);
    ec_der_end(w);
}

const uint8_t *ec_x509_tbs(apr_pool_t *p, const ec_tbs_t *t, size_t *len)
{
    ec_der_w w;

    ec_der_w_init(&w);
    ec_der_begin(&w, EC_DER_SEQUENCE);
    ec_der_begin(&w, EC_DER_CTX(0));
    ec_der_int(&w, 2);                           /* v3 */
    ec_der_end(&w);
    ec_der_uint(&w, t->serial, t->serial_len);
    ec_x509_sigalg(&w);
    ec_der_raw(&w, t->issuer, t->issuer_len);
    ec_der_begin(&w, EC_DER_SEQUENCE);
    ec_der_time(&w, t->not_before);
    ec_der_time(&w, t->not_after);
    ec_der_end(&w);
    ec_der_raw(&w, t->subject, t->subject_len);
    ec_der_raw(&w, t->spki, t->spki_len);
    if (t->exts_len) {
        ec_der_begin(&w, EC_DER_CTX(3));
        ec_der_begin(&w, EC_DER_SEQUENCE);
        ec_der_raw(&w, t->exts, t->exts_len);
        ec_der_end(&w);
        ec_der_end(&w);
    }
    ec_der_end(&w);
    return ec_der_w_take(&w, p, len);
}

apr_status_t ec_x509_sign(ec_p11 *p11, ec_p11_key *key, apr_pool_t *p, const uint8_t *tbs,
                          size_t tbs_len, const uint8_t **der, size_t *len)
{
    uint8_t sig[EC_P11_SIGMAX];
    size_t siglen;
    apr_status_t rv;
    ec_der_w w;

    if ((rv = ec_p11_sign(p11, key, tbs, tbs_len, sig, &siglen)) != APR_SUCCESS)
        return rv;
    ec_der_w_init(&w);
    ec_der_begin(&w, EC_DER_SEQUENCE);
    ec_der_raw(&w, tbs, tbs_len);
    ec_x509_sigalg(&w);
    ec_der_bitstring(&w, sig, siglen);
    ec_der_end(&w);
    *der = ec_der_w_take(&w, p, len);
    return *der ? APR_SUCCESS : APR_ENOMEM;
}

apr_status_t ec_x509_serial(uint8_t out[20])
{
    do {
        if (ec_random(out, 20) != APR_SUCCESS)
            return APR_EGENERAL;
        out[0] &= 0x7f;
    } while (out[0] == 0);
    return APR_SUCCESS;
}

int ec_spki_keyid(const uint8_t *spki, size_t len, uint8_t out[20])
{
    ec_der_r in = { spki, len }, seq, bits;

    if (ec_der_get(&in, EC_DER_SEQUENCE, &seq, NULL, NULL) < 0 ||
        ec_der_get(&seq, EC_DER_SEQUENCE, NULL, NULL, NULL) < 0 ||
        ec_der_get(&seq, EC_DER_BITSTRING, &bits, NULL, NULL) < 0 || bits.n < 1 || bits.p[0])
        return -1;
    ec_sha1(bits.p + 1, bits.n - 1, out);
    return 0;
}

static time_t asn1_to_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return timegm(&tm);
}

apr_status_t ec_cert_info(apr_pool_t *p, const uint8_t *der, size_t len, ec_cert_info_t *out)
{
    const unsigned char *q = der;
    X509 *x = d2i_X509(NULL, &q, (long)len);
    unsigned char *buf = NULL;
    const ASN1_BIT_STRING *key;
    const ASN1_INTEGER *serial;
    BIGNUM *bn;
    int n;
    char cn[256];

    if (!x || q != der + len) {
        X509_free(x);
        return APR_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    out->der = der;
    out->der_len = len;
    n = i2d_X509_NAME(X509_get_subject_name(x), &buf);
    out->subject = apr_pmemdup(p, buf, (apr_size_t)n);
    out->subject_len = (size_t)n;
    OPENSSL_free(buf);
    buf = NULL;
    n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &buf);
    out->spki = apr_pmemdup(p, buf, (apr_size_t)n);
    out->spki_len = (size_t)n;
    OPENSSL_free(buf);
    ec_sha1(out->subject, out->subject_len, out->name_sha1);
    ec_sha256(out->subject, out->subject_len, out->name_sha256);
    key = X509_get0_pubkey_bitstr(x);
    ec_sha1(key->data, (size_t)key->length, out->key_sha1);
    ec_sha256(key->data, (size_t)key->length, out->key_sha256);
    memcpy(out->ski, out->key_sha1, 20);
    ec_sha256(out->spki, out->spki_len, out->spki_sha256);
    serial = X509_get0_serialNumber(x);
    bn = ASN1_INTEGER_to_BN(serial, NULL);
    if (bn) {
        uint8_t b[64];
        int k = BN_bn2bin(bn, b);
        out->serial_hex = ec_hex(p, b, (size_t)k);
        BN_free(bn);
    }
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) > 0)
        out->cn = apr_pstrdup(p, cn);
    if (X509_NAME_get_text_by_NID(X509_get_issuer_name(x), NID_commonName, cn, sizeof(cn)) > 0)
        out->issuer_cn = apr_pstrdup(p, cn);
    out->not_before = asn1_to_time(X509_get0_notBefore(x));
    out->not_after = asn1_to_time(X509_get0_notAfter(x));
    X509_free(x);
    return APR_SUCCESS;
}

int ec_x509_subject_der(const uint8_t *der, size_t len, const uint8_t **subject, size_t *subject_len)
{
    ec_der_r in = { der, len }, cert, tbs, name;

    if (ec_der_get(&in, EC_DER_SEQUENCE, &cert, NULL, NULL) < 0 ||
        ec_der_get(&cert, EC_DER_SEQUENCE, &tbs, NULL, NULL) < 0)
        return -1;
    if (ec_der_peek(&tbs) == EC_DER_CTX(0) && ec_der_get(&tbs, EC_DER_CTX(0), NULL, NULL, NULL) < 0)
        return -1;
    if (ec_der_get(&tbs, EC_DER_INTEGER, NULL, NULL, NULL) < 0 ||
        ec_der_get(&tbs, EC_DER_SEQUENCE, NULL, NULL, NULL) < 0 ||      /* signature */
        ec_der_get(&tbs, EC_DER_SEQUENCE, NULL, NULL, NULL) < 0 ||      /* issuer */
        ec_der_get(&tbs, EC_DER_SEQUENCE, NULL, NULL, NULL) < 0 ||      /* validity */
        ec_der_get(&tbs, EC_DER_SEQUENCE, NULL, &name, NULL) < 0)
        return -1;
    *subject = name.p;
    *subject_len = name.n;
    return 0;
}

int ec_x509_signed_by(const uint8_t *der, size_t len, const uint8_t *spki, size_t spki_len)
{
    const unsigned char *q = der, *k = spki;
    X509 *x = d2i_X509(NULL, &q, (long)len);
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &k, (long)spki_len);
    int ok = x && pk && q == der + len && X509_verify(x, pk) == 1;
    X509_free(x);
    EVP_PKEY_free(pk);
    return ok;
}

apr_array_header_t *ec_x509_dns_names(apr_pool_t *p, const uint8_t *der, size_t len)
{
    const unsigned char *in = der;
    X509 *x = d2i_X509(NULL, &in, (long)len);
    GENERAL_NAMES *gens = x ? X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL) : NULL;
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(const char *));

    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS)
            APR_ARRAY_PUSH(out, const char *) = apr_pstrmemdup(p, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
                                                               (apr_size_t)ASN1_STRING_length(g->d.dNSName));
    }
    GENERAL_NAMES_free(gens);
    X509_free(x);
    return out;
}
