/* ec_csr and ec_weakkey: PEM armour, PKCS#10 parsing, proof of possession, key policy
 * (BR 6.1.6, ROCA, Fermat, Debian lists) and the common name. Keys are made here with
 * OpenSSL, weak ones from chosen primes. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/pem.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include "tap.h"
#include "ec_csr.h"
#include "ec_util.h"
#include "ec_weakkey.h"

static EVP_PKEY *rsa_gen(int bits)
{
    return EVP_RSA_gen((unsigned)bits);
}

/* A PEM CSR with the given CN (NULL: none), header label and key. */
static char *csr_pem(apr_pool_t *p, EVP_PKEY *k, const char *cn, const char *label, int corrupt)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *n = X509_NAME_new();
    unsigned char *der = NULL;
    int len;
    char *pem;

    X509_NAME_add_entry_by_txt(n, "C", MBSTRING_UTF8, (const unsigned char *)"HK", -1, -1, 0);
    if (cn)
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_REQ_set_subject_name(req, n);
    X509_REQ_set_pubkey(req, k);
    X509_REQ_sign(req, k, EVP_sha256());
    len = i2d_X509_REQ(req, &der);
    if (corrupt)
        der[len - 3] ^= 0x40;
    pem = ec_pem(p, label, der, (size_t)len);
    OPENSSL_free(der);
    X509_NAME_free(n);
    X509_REQ_free(req);
    return pem;
}

static BIGNUM *bn(const char *dec)
{
    BIGNUM *b = NULL;
    BN_dec2bn(&b, dec);
    return b;
}

static BIGNUM *prime(int bits)
{
    BIGNUM *b = BN_new();
    BN_generate_prime_ex(b, bits, 0, NULL, NULL, NULL);
    return b;
}

int main(int argc, const char *const *argv)
{
    apr_pool_t *p;
    EVP_PKEY *k2048, *k1024;
    ec_csr_t c;
    const char *cn;
    int sizes[] = { 2048 };
    ec_csr_policy_t pol = { sizes, 1, NULL, 0 };
    BN_CTX *ctx = BN_CTX_new();

    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&p, NULL);
    plan(31);
    k2048 = rsa_gen(2048);
    k1024 = rsa_gen(1024);

    /* armour */
    {
        const char *pem = csr_pem(p, k2048, "www.example.com", "NEW CERTIFICATE REQUEST", 0);
        char *crlf = apr_pstrcat(p, "text before\r\n", pem, "text after", NULL);
        ok(ec_csr_parse(p, pem, strlen(pem), &c) == EC_CSR_OK && c.bits == 2048 && !strcmp(c.cn, "www.example.com"),
           "NEW CERTIFICATE REQUEST (IIS) parses, 2048 bits, CN read");
        ok(ec_csr_parse(p, crlf, strlen(crlf), &c) == EC_CSR_OK, "text around the armour is ignored");
        pem = csr_pem(p, k2048, "www.example.com", "CERTIFICATE REQUEST", 0);
        ok(ec_csr_parse(p, pem, strlen(pem), &c) == EC_CSR_OK, "CERTIFICATE REQUEST (openssl) parses");
        ok(ec_csr_parse(p, "hello", 5, &c) == EC_CSR_NOT_PEM, "plain text: not PEM");
        ok(ec_csr_parse(p, "", 0, &c) == EC_CSR_NOT_PEM, "empty: not PEM");
        pem = "-----BEGIN NEW CERTIFICATE REQUEST-----\nAAAA\n";
        ok(ec_csr_parse(p, pem, strlen(pem), &c) == EC_CSR_NOT_PEM, "no END line: not PEM");
        pem = "-----BEGIN NEW CERTIFICATE REQUEST-----\nAA*A\n-----END NEW CERTIFICATE REQUEST-----\n";
        ok(ec_csr_parse(p, pem, strlen(pem), &c) == EC_CSR_NOT_PEM, "bad base64: not PEM");
        pem = "-----BEGIN NEW CERTIFICATE REQUEST-----\nAA==AAAA\n-----END NEW CERTIFICATE REQUEST-----\n";
        ok(ec_csr_parse(p, pem, strlen(pem), &c) == EC_CSR_NOT_PEM, "data after padding: not PEM");
        pem = "-----BEGIN CERTIFICATE REQUEST-----\nMAMCAQA=\n-----END CERTIFICATE REQUEST-----\n";
        ok(ec_csr_parse(p, pem, strlen(pem), &c) == EC_CSR_NOT_CSR, "DER that is no PKCS#10: not a CSR");
        pem = csr_pem(p, k2048, "www.example.com", "NEW CERTIFICATE REQUEST", 1);
        ok(ec_csr_parse(p, pem, strlen(pem), &c) == EC_CSR_BAD_SIGNATURE, "flipped signature bit: no proof of possession");
    }
    /* key policy */
    {
        const char *pem = csr_pem(p, k1024, "www.example.com", "CERTIFICATE REQUEST", 0);
        ok(ec_csr_parse(p, pem, strlen(pem), &c) == EC_CSR_OK && ec_csr_check_key(&c, &pol) == EC_CSR_KEY_SIZE,
           "RSA 1024: key size refused");
        pem = csr_pem(p, k2048, "www.example.com", "CERTIFICATE REQUEST", 0);
        ok(ec_csr_parse(p, pem, strlen(pem), &c) == EC_CSR_OK && ec_csr_check_key(&c, &pol) == EC_CSR_OK,
           "RSA 2048: accepted");
        EVP_PKEY *eck = EVP_EC_gen("P-256");
        pem = csr_pem(p, eck, "www.example.com", "CERTIFICATE REQUEST", 0);
        ok(ec_csr_parse(p, pem, strlen(pem), &c) == EC_CSR_OK && ec_csr_check_key(&c, &pol) == EC_CSR_KEY_TYPE,
           "EC P-256: not RSA");
        EVP_PKEY_free(eck);
    }
    /* names */
    {
        const char *pem = csr_pem(p, k2048, "WWW.Example.COM", "CERTIFICATE REQUEST", 0);
        ec_csr_parse(p, pem, strlen(pem), &c);
        ok(ec_csr_check_name(p, &c, "www.example.com", &cn) == EC_CSR_OK, "CN compared case-insensitively");
        pem = csr_pem(p, k2048, "其他.example.com", "CERTIFICATE REQUEST", 0);
        ec_csr_parse(p, pem, strlen(pem), &c);
        ok(ec_csr_check_name(p, &c, "www.example.com", &cn) == EC_CSR_CN_MISMATCH, "another name: mismatch");
        pem = csr_pem(p, k2048, "中文.example.com", "CERTIFICATE REQUEST", 0);
        ec_csr_parse(p, pem, strlen(pem), &c);
        ok(ec_csr_check_name(p, &c, "xn--fiq228c.example.com", &cn) == EC_CSR_OK &&
           !strcmp(cn, "xn--fiq228c.example.com"), "U-label CN matches the A-label application (IDNA2008)");
        pem = csr_pem(p, k2048, "*.example.com", "CERTIFICATE REQUEST", 0);
        ec_csr_parse(p, pem, strlen(pem), &c);
        ok(ec_csr_check_name(p, &c, "*.example.com", &cn) == EC_CSR_OK, "wildcard CN for a wildcard application");
        ok(ec_csr_check_name(p, &c, "www.example.com", &cn) == EC_CSR_CN_MISMATCH, "wildcard CN elsewhere: mismatch");
        pem = csr_pem(p, k2048, NULL, "CERTIFICATE REQUEST", 0);
        ec_csr_parse(p, pem, strlen(pem), &c);
        ok(ec_csr_check_name(p, &c, "www.example.com", &cn) == EC_CSR_NO_CN, "no CN");
    }
    /* BR 6.1.6 */
    {
        BIGNUM *e3 = bn("3"), *e65537 = bn("65537"), *e65536 = bn("65536"), *big = BN_new();
        BN_set_bit(big, 256);
        BN_add_word(big, 1);
        ok(!ec_weak_exponent_ok(e3) && ec_weak_exponent_ok(e65537) && !ec_weak_exponent_ok(e65536) &&
           !ec_weak_exponent_ok(big), "exponent: 3, even and > 2^256-1 refused, 65537 accepted");
        BIGNUM *q = prime(1024), *n = BN_new();
        BN_mul_word(BN_copy(n, q), 743);
        ok(ec_weak_small_factor(n), "factor 743 found");
        BN_mul_word(BN_copy(n, q), 757);
        ok(!ec_weak_small_factor(n), "757 is not below 752");
        BN_free(e3); BN_free(e65537); BN_free(e65536); BN_free(big); BN_free(q); BN_free(n);
    }
    /* Fermat: primes 2^400 apart are factored at once; random primes are not */
    {
        BIGNUM *pp = prime(1024), *qq = BN_new(), *n = BN_new(), *d = BN_new();
        BN_rand(d, 400, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
        BN_add(qq, pp, d);
        BN_generate_prime_ex(d, 1024, 0, NULL, NULL, NULL);   /* reuse as a scratch prime */
        while (!BN_check_prime(qq, ctx, NULL))
            BN_add_word(qq, 1);
        BN_mul(n, pp, qq, ctx);
        ok(ec_weak_fermat(n, EC_FERMAT_ROUNDS), "close primes: Fermat finds them");
        BN_mul(n, pp, d, ctx);
        ok(!ec_weak_fermat(n, EC_FERMAT_ROUNDS), "independent primes: Fermat does not");
        BN_free(pp); BN_free(qq); BN_free(n); BN_free(d);
    }
    /* ROCA: p = k*M + 65537^a mod M */
    {
        BIGNUM *m = BN_new(), *g = BN_new(), *pr[2], *k = BN_new(), *n = BN_new();
        BN_one(m);
        for (int x = 2; x <= 167; x++) {
            int isp = 1;
            for (int d = 2; d * d <= x; d++)
                isp &= x % d != 0;
            if (isp)
                BN_mul_word(m, (BN_ULONG)x);
        }
        for (int i = 0; i < 2; i++) {
            BIGNUM *a = BN_new(), *e = bn("65537");
            pr[i] = BN_new();
            do {
                BN_rand(a, 20, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
                BN_mod_exp(g, e, a, m, ctx);
                BN_rand(k, 1024 - BN_num_bits(m), BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY);
                BN_mul(pr[i], k, m, ctx);
                BN_add(pr[i], pr[i], g);
            } while (!BN_check_prime(pr[i], ctx, NULL));
            BN_free(a);
            BN_free(e);
        }
        BN_mul(n, pr[0], pr[1], ctx);
        ok(ec_weak_roca(n), "ROCA-structured modulus detected");
        BIGNUM *r1 = prime(1024), *r2 = prime(1024);
        BN_mul(n, r1, r2, ctx);
        ok(!ec_weak_roca(n), "random modulus is not flagged as ROCA");
        BN_free(r1); BN_free(r2); BN_free(m); BN_free(g); BN_free(k); BN_free(n); BN_free(pr[0]); BN_free(pr[1]);
    }
    /* Debian list: the openssl-vulnkey fingerprint of a known modulus */
    {
        BIGNUM *n = NULL, *other = prime(512);
        ec_weaklist_t *list = NULL;
        const char *err = NULL, *fp;
        char path[] = "/tmp/ec-weaklist-XXXXXX";
        int fd = mkstemp(path);
        uint8_t d[20];
        BN_hex2bn(&n, "00ABCDEF");
        ec_sha1("Modulus=ABCDEF\n", 15, d);
        fp = ec_weaklist_fingerprint(p, n);
        ok(!strcmp(fp, ec_hex(p, d + 10, 10)), "fingerprint = last 20 hex digits of SHA-1(\"Modulus=HEX\\n\")");
        dprintf(fd, "# comment\n%s\n\n%s\n", ec_weaklist_fingerprint(p, other), fp);
        close(fd);
        ok(ec_weaklist_load(&list, p, path, &err) == APR_SUCCESS && ec_weaklist_count(list) == 2,
           "list file loads (%s)", err ? err : "ok");
        ok(ec_weaklist_has(list, n) && ec_weaklist_has(list, other), "listed moduli are found");
        BN_set_word(n, 0xabcdf1);
        ok(!ec_weaklist_has(list, n), "an unlisted modulus is not");
        fd = open(path, O_WRONLY | O_APPEND);
        dprintf(fd, "not-hex-at-all\n");
        close(fd);
        list = NULL;
        ok(ec_weaklist_load(&list, p, path, &err) != APR_SUCCESS && strstr(err, "line 5"),
           "a bad line is reported with its number");
        unlink(path);
        BN_free(n);
        BN_free(other);
    }
    EVP_PKEY_free(k2048);
    EVP_PKEY_free(k1024);
    BN_CTX_free(ctx);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
