/* ec_keycomp_evidence: the two kinds of evidence CPS 4.9.12 names, each kind of PEM private key,
 * and every way evidence is refused; the public key's digest is the same whatever the form. */
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "ec_keycomp.h"
#include "ec_util.h"

static char *pem_of(apr_pool_t *p, EVP_PKEY *k, int traditional, const EVP_CIPHER *enc)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    long n;

    if (traditional)
        PEM_write_bio_PrivateKey_traditional(b, k, enc, (unsigned char *)"pw", enc ? 2 : 0, NULL, NULL);
    else
        PEM_write_bio_PKCS8PrivateKey(b, k, enc, enc ? "pw" : NULL, enc ? 2 : 0, NULL, NULL);
    n = BIO_get_mem_data(b, &data);
    out = apr_pstrmemdup(p, data, (apr_size_t)n);
    BIO_free(b);
    return out;
}

static char *csr_of(apr_pool_t *p, EVP_PKEY *k, const char *cn)
{
    X509_REQ *r = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    long n;

    X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_REQ_set_subject_name(r, name);
    X509_REQ_set_pubkey(r, k);
    X509_REQ_sign(r, k, EVP_sha256());
    PEM_write_bio_X509_REQ(b, r);
    n = BIO_get_mem_data(b, &data);
    out = apr_pstrmemdup(p, data, (apr_size_t)n);
    BIO_free(b);
    X509_NAME_free(name);
    X509_REQ_free(r);
    return out;
}

static void digest_of(EVP_PKEY *k, uint8_t out[32])
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    ec_sha256(der, (size_t)n, out);
    OPENSSL_free(der);
}

static ec_kc_err_t check(apr_pool_t *p, const char *text, uint8_t d[32], const char **kind)
{
    return ec_keycomp_evidence(p, text, strlen(text), NULL, d, kind);
}

int main(void)
{
    apr_pool_t *p;
    EVP_PKEY *rsa, *eck, *ed;
    uint8_t want[32], want_ec[32], got[32];
    const char *kind;

    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(14);
    rsa = EVP_RSA_gen(2048);
    eck = EVP_EC_gen("P-256");
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    digest_of(rsa, want);
    digest_of(eck, want_ec);

    ok(check(p, csr_of(p, rsa, EC_KEYCOMP_PROOF_ZH), got, &kind) == EC_KC_OK && !memcmp(got, want, 32) &&
       !strcmp(kind, "csr"), "a proof CSR with the CPS wording: the key's SPKI digest");
    ok(check(p, csr_of(p, rsa, EC_KEYCOMP_PROOF_EN), got, &kind) == EC_KC_OK && !memcmp(got, want, 32),
       "the English proof string too");
    ok(ec_keycomp_evidence(p, csr_of(p, rsa, "Our own proof"), strlen(csr_of(p, rsa, "Our own proof")),
                           "Our own proof", got, &kind) == EC_KC_OK, "a configured proof string");
    ok(check(p, csr_of(p, rsa, "www.example.com"), got, &kind) == EC_KC_WRONG_CN,
       "an ordinary CSR proves nothing");
    ok(check(p, pem_of(p, rsa, 0, NULL), got, &kind) == EC_KC_OK && !memcmp(got, want, 32) &&
       !strcmp(kind, "private-key"), "PKCS#8 RSA: the same digest");
    ok(check(p, pem_of(p, rsa, 1, NULL), got, &kind) == EC_KC_OK && !memcmp(got, want, 32), "PKCS#1 RSA");
    ok(check(p, pem_of(p, eck, 1, NULL), got, &kind) == EC_KC_OK && !memcmp(got, want_ec, 32), "SEC1 EC");
    ok(check(p, pem_of(p, eck, 0, NULL), got, &kind) == EC_KC_OK && !memcmp(got, want_ec, 32), "PKCS#8 EC");
    ok(check(p, pem_of(p, rsa, 0, EVP_aes_128_cbc()), got, &kind) == EC_KC_ENCRYPTED &&
       check(p, pem_of(p, rsa, 1, EVP_aes_128_cbc()), got, &kind) == EC_KC_ENCRYPTED,
       "encrypted PKCS#8 and PEM-encrypted PKCS#1 are refused, no passphrase tried");
    ok(check(p, pem_of(p, ed, 0, NULL), got, &kind) == EC_KC_KEY_TYPE, "Ed25519: not a key type the CA certifies");
    ok(check(p, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", got, &kind) == EC_KC_BAD_KEY,
       "a broken key");
    ok(check(p, "hello", got, &kind) == EC_KC_NOT_EVIDENCE && check(p, " \r\n\t", got, &kind) == EC_KC_EMPTY,
       "text and nothing");
    {
        char *csr = csr_of(p, rsa, EC_KEYCOMP_PROOF_ZH), *sig = strstr(csr, "-----END") - 10;
        *sig = *sig == 'A' ? 'B' : 'A';        /* in the signature */
        ok(check(p, csr, got, &kind) == EC_KC_BAD_CSR, "a proof CSR whose signature fails");
    }
    {
        char buf[] = "secret";
        ec_wipe(buf, sizeof(buf));
        ok(!memcmp(buf, "\0\0\0\0\0\0\0", sizeof(buf)), "ec_wipe zeroes");
    }
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(eck);
    EVP_PKEY_free(ed);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
