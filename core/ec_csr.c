#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/core_names.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "ec_csr.h"
#include "ec_der.h"
#include "ec_dns.h"
#include "ec_util.h"

static const struct { const char *key, *text; } messages[EC_CSR_ERR_MAX] = {
    [EC_CSR_OK] = { "csr.ok", "the request is acceptable" },
    [EC_CSR_NOT_PEM] = { "csr.not_pem", "this is not a PEM certificate request: paste everything "
                         "from -----BEGIN NEW CERTIFICATE REQUEST----- to -----END NEW CERTIFICATE REQUEST-----" },
    [EC_CSR_NOT_CSR] = { "csr.not_csr", "the text between the BEGIN and END lines is not a PKCS#10 "
                         "certificate signing request" },
    [EC_CSR_NOT_DER] = { "csr.not_der", "the request is not in DER, the strict encoding a request must "
                         "use (it has indefinite lengths or other BER forms)" },
    [EC_CSR_SIG_ALG] = { "csr.sig_alg", "the request is signed with SHA-1 or another hash no longer "
                         "accepted: sign it with SHA-256, SHA-384 or SHA-512" },
    [EC_CSR_BAD_SIGNATURE] = { "csr.bad_signature", "the request's signature does not verify with its "
                               "public key (no proof of possession of the private key)" },
    [EC_CSR_KEY_TYPE] = { "csr.key_type", "the request's key is not an RSA key" },
    [EC_CSR_KEY_SIZE] = { "csr.key_size", "the RSA key size is not allowed" },
    [EC_CSR_EXPONENT] = { "csr.exponent", "the RSA public exponent must be odd and between "
                          "2^16+1 and 2^256-1 (CA/B Forum BR 6.1.6)" },
    [EC_CSR_SMALL_FACTOR] = { "csr.small_factor", "the RSA modulus has a small factor (CA/B Forum BR 6.1.6)" },
    [EC_CSR_ROCA] = { "csr.roca", "the key was made by a key generator with the ROCA weakness "
                      "(CVE-2017-15361)" },
    [EC_CSR_FERMAT] = { "csr.fermat", "the key's primes are so close that the modulus can be factored "
                        "(Fermat's method)" },
    [EC_CSR_DEBIAN] = { "csr.debian", "the key is a known weak Debian OpenSSL key (CVE-2008-0166)" },
    [EC_CSR_BLOCKED] = { "csr.blocked", "the key is blocked because it is known to be compromised" },
    [EC_CSR_SAME_KEY] = { "csr.same_key", "a renewal needs a new key: this is the key of the previous "
                          "certificate" },
    [EC_CSR_NO_CN] = { "csr.no_cn", "the request has no Common Name (CN)" },
    [EC_CSR_CN_MISMATCH] = { "csr.cn_mismatch", "the request's Common Name is not the server name of "
                             "the application" },
};

const char *ec_csr_err_key(ec_csr_err_t e)
{
    return e >= 0 && e < EC_CSR_ERR_MAX ? messages[e].key : "csr.not_csr";
}

const char *ec_csr_err_text(ec_csr_err_t e)
{
    return e >= 0 && e < EC_CSR_ERR_MAX ? messages[e].text : messages[EC_CSR_NOT_CSR].text;
}

/* Finds "-----BEGIN <label>-----" at or after from; returns the start or NULL. */
static const char *find_armour(const char *text, const char *end, const char *what,
                               const char *label, const char **after)
{
    char *needle = NULL;
    size_t nlen;
    const char *hit = NULL;

    nlen = (size_t)snprintf(NULL, 0, "-----%s %s-----", what, label);
    needle = malloc(nlen + 1);
    if (!needle)
        return NULL;
    snprintf(needle, nlen + 1, "-----%s %s-----", what, label);
    for (const char *q = text; q + nlen <= end; q++)
        if (*q == '-' && !memcmp(q, needle, nlen)) {
            hit = q;
            *after = q + nlen;
            break;
        }
    free(needle);
    return hit;
}

ec_csr_err_t ec_csr_pem_decode(apr_pool_t *p, const char *text, size_t len,
                               const uint8_t **der, size_t *der_len)
{
    static const char *const labels[] = { "NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST" };
    const char *end = text + len, *body = NULL, *body_end = NULL, *after;
    char *b64;
    size_t n = 0;
    uint8_t *out;
    int k, pad = 0;

    if (!text || len > EC_CSR_MAX_PEM)
        return EC_CSR_NOT_PEM;
    for (int i = 0; i < 2 && !body; i++) {
        const char *b = find_armour(text, end, "BEGIN", labels[i], &after);
        if (!b)
            continue;
        body = after;
        body_end = find_armour(body, end, "END", labels[i], &after);
        if (!body_end)
            return EC_CSR_NOT_PEM;
    }
    if (!body)
        return EC_CSR_NOT_PEM;
    b64 = apr_palloc(p, (apr_size_t)(body_end - body) + 1);
    for (const char *q = body; q < body_end; q++) {
        unsigned char c = (unsigned char)*q;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (!(apr_isalnum(c) || c == '+' || c == '/' || c == '='))
            return EC_CSR_NOT_PEM;
        if (c == '=')
            pad++;
        else if (pad)
            return EC_CSR_NOT_PEM;           /* data after padding */
        b64[n++] = (char)c;
    }
    if (n == 0 || n % 4 || pad > 2)
        return EC_CSR_NOT_PEM;
    out = apr_palloc(p, n / 4 * 3 + 1);
    k = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
    if (k < 0)
        return EC_CSR_NOT_PEM;
    *der = out;
    *der_len = (size_t)k - (size_t)pad;
    return EC_CSR_OK;
}

/* A SHA-2 hash: a SHA-1 (or MD5) signature proves possession with a hash that collisions
 * have broken. The key type is judged on its own (EC_CSR_KEY_TYPE). */
static int sig_alg_ok(int nid)
{
    int md, pkey;

    if (!OBJ_find_sigid_algs(nid, &md, &pkey))
        return 0;
    return md == NID_sha256 || md == NID_sha384 || md == NID_sha512;
}

ec_csr_err_t ec_csr_parse(apr_pool_t *p, const char *text, size_t len, ec_csr_t *out)
{
    const uint8_t *der;
    size_t der_len;
    const unsigned char *q;
    X509_REQ *req = NULL;
    EVP_PKEY *pk = NULL;
    unsigned char *buf = NULL;
    ec_csr_err_t e;
    int n, idx;

    memset(out, 0, sizeof(*out));
    if ((e = ec_csr_pem_decode(p, text, len, &der, &der_len)) != EC_CSR_OK)
        return e;
    q = der;
    req = d2i_X509_REQ(NULL, &q, (long)der_len);
    if (!req || q != der + der_len) {
        e = EC_CSR_NOT_CSR;
        goto out;
    }
    /* OpenSSL reads BER too, and keeps the bytes it read for what it will later verify. */
    if (ec_der_strict(der, der_len) < 0) {
        e = EC_CSR_NOT_DER;
        goto out;
    }
    out->der = der;
    out->der_len = der_len;
    pk = X509_REQ_get_pubkey(req);
    if (!pk) {
        e = EC_CSR_NOT_CSR;
        goto out;
    }
    n = i2d_PUBKEY(pk, &buf);
    if (n <= 0) {
        e = EC_CSR_NOT_CSR;
        goto out;
    }
    out->spki = apr_pmemdup(p, buf, (apr_size_t)n);
    out->spki_len = (size_t)n;
    ec_sha256(out->spki, out->spki_len, out->spki_sha256);
    if (!sig_alg_ok(X509_REQ_get_signature_nid(req))) {
        e = EC_CSR_SIG_ALG;
        goto out;
    }
    if (X509_REQ_verify(req, pk) != 1) {
        e = EC_CSR_BAD_SIGNATURE;
        goto out;
    }
    if (EVP_PKEY_base_id(pk) == EVP_PKEY_RSA)
        out->bits = EVP_PKEY_get_bits(pk);
    /* Exactly one CN; more than one leaves cn NULL and fails the name check. */
    idx = X509_NAME_get_index_by_NID(X509_REQ_get_subject_name(req), NID_commonName, -1);
    if (idx >= 0 &&
        X509_NAME_get_index_by_NID(X509_REQ_get_subject_name(req), NID_commonName, idx) < 0) {
        X509_NAME_ENTRY *ent = X509_NAME_get_entry(X509_REQ_get_subject_name(req), idx);
        unsigned char *utf8 = NULL;
        int ulen = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(ent));
        if (ulen > 0 && !memchr(utf8, 0, (size_t)ulen))
            out->cn = apr_pstrndup(p, (const char *)utf8, (apr_size_t)ulen);
        OPENSSL_free(utf8);
    }
    e = EC_CSR_OK;
out:
    OPENSSL_free(buf);
    EVP_PKEY_free(pk);
    X509_REQ_free(req);
    return e;
}

ec_csr_err_t ec_csr_check_key(const ec_csr_t *c, const ec_csr_policy_t *pol)
{
    const unsigned char *q = c->spki;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &q, (long)c->spki_len);
    BIGNUM *n = NULL, *e = NULL;
    ec_csr_err_t r = EC_CSR_OK;
    int size_ok = 0;

    if (!pk)
        return EC_CSR_NOT_CSR;
    if (EVP_PKEY_base_id(pk) != EVP_PKEY_RSA) {
        r = EC_CSR_KEY_TYPE;
        goto out;
    }
    if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) ||
        !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e)) {
        r = EC_CSR_NOT_CSR;
        goto out;
    }
    for (int i = 0; i < pol->n_key_sizes; i++)
        size_ok |= BN_num_bits(n) == pol->key_sizes[i];
    if (!size_ok)
        r = EC_CSR_KEY_SIZE;
    else if (!ec_weak_exponent_ok(e))
        r = EC_CSR_EXPONENT;
    else if (ec_weak_small_factor(n))
        r = EC_CSR_SMALL_FACTOR;
    else if (ec_weak_roca(n))
        r = EC_CSR_ROCA;
    else if (ec_weak_fermat(n, pol->fermat_rounds > 0 ? pol->fermat_rounds : EC_FERMAT_ROUNDS))
        r = EC_CSR_FERMAT;
    else if (ec_weaklist_has(pol->weak, n))
        r = EC_CSR_DEBIAN;
out:
    BN_free(n);
    BN_free(e);
    EVP_PKEY_free(pk);
    return r;
}

ec_csr_err_t ec_csr_check_name(apr_pool_t *p, const ec_csr_t *c, const char *server_name,
                               const char **cn_alabel)
{
    const char *err, *norm;

    *cn_alabel = NULL;
    if (!c->cn || !*c->cn)
        return EC_CSR_NO_CN;
    norm = ec_dns_normalize(p, c->cn, !strncmp(server_name, "*.", 2), &err);
    if (!norm)
        return EC_CSR_CN_MISMATCH;
    *cn_alabel = norm;
    return strcmp(norm, server_name) ? EC_CSR_CN_MISMATCH : EC_CSR_OK;
}
