/* ec_ct: SCTs from log answers checked over the precert entry, the SCT list extension, the
 * log directive and the SCT policy (2 SCTs up to 180 days, 3 beyond, 2 operators). */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/ec.h>
#include <openssl/x509.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <apr_base64.h>
#include "tap.h"
#include "ec_ct.h"
#include "ec_ct_conf.h"
#include "ec_der.h"

static const char *err;

/* The condition first: err is what it set. */
#define OKE(cond, what) do { int c_ = (cond); ok(c_, "%s: %s", what, err); } while (0)

static char *b64(apr_pool_t *p, const uint8_t *d, size_t n)
{
    char *o = apr_palloc(p, (apr_size_t)apr_base64_encode_len((int)n));
    apr_base64_encode_binary(o, d, (int)n);
    return o;
}

static EVP_PKEY *p256(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static char *spki_b64(apr_pool_t *p, EVP_PKEY *k)
{
    unsigned char *d = NULL;
    int n = i2d_PUBKEY(k, &d);
    char *s = b64(p, d, (size_t)n);
    OPENSSL_free(d);
    return s;
}

/* The log's side, written out independently of ec_ct.c: RFC 6962 3.2 digitally-signed. */
static char *sct_json(apr_pool_t *p, EVP_PKEY *k, const uint8_t id[32], uint64_t ts, const uint8_t khash[32],
                      const uint8_t *tbs, size_t tbs_len)
{
    uint8_t m[4096], sig[128], ds[140];
    size_t n = 0, siglen = sizeof(sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    m[n++] = 0; m[n++] = 0;
    for (int i = 7; i >= 0; i--) m[n++] = (uint8_t)(ts >> (8 * i));
    m[n++] = 0; m[n++] = 1;
    memcpy(m + n, khash, 32); n += 32;
    m[n++] = 0; m[n++] = (uint8_t)(tbs_len >> 8); m[n++] = (uint8_t)tbs_len;
    memcpy(m + n, tbs, tbs_len); n += tbs_len;
    m[n++] = 0; m[n++] = 0;
    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k);
    EVP_DigestSign(md, sig, &siglen, m, n);
    EVP_MD_CTX_free(md);
    ds[0] = 4; ds[1] = 3; ds[2] = (uint8_t)(siglen >> 8); ds[3] = (uint8_t)siglen;
    memcpy(ds + 4, sig, siglen);
    return apr_psprintf(p, "{\"sct_version\":0,\"id\":\"%s\",\"timestamp\":%" APR_UINT64_T_FMT ",\"extensions\":\"\","
                        "\"signature\":\"%s\"}", b64(p, id, 32), (apr_uint64_t)ts, b64(p, ds, siglen + 4));
}

int main(void)
{
    apr_pool_t *p;
    EVP_PKEY *k1, *k2;
    ec_ct_log_t a, b, c;
    ec_ct_sct_t s, s2, list[3], back;
    uint8_t khash[32], tbs[300];
    const char *json;
    apr_array_header_t *parsed, *logs;
    const uint8_t *ext;
    size_t ext_len;
    ec_ct_conf_t conf;
    char *args[6];
    time_t nb = 1800000000;

    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(22);
    k1 = p256();
    k2 = p256();
    memset(khash, 7, sizeof(khash));
    for (size_t i = 0; i < sizeof(tbs); i++)
        tbs[i] = (uint8_t)i;

    ok(ec_ct_log_init(p, &a, "A", "Op One", "http://127.0.0.1:1/", spki_b64(p, k1), 0, 4000000000, &err) == APR_SUCCESS,
       "a P-256 log");
    ok(ec_ct_log_init(p, &b, "B", "Op Two", "http://127.0.0.1:2", spki_b64(p, k2), 0, 4000000000, &err) == APR_SUCCESS &&
       !strcmp(b.url, "http://127.0.0.1:2/"), "a second log; its URL gets its slash");
    OKE(ec_ct_log_init(p, &c, "C", "Op", "ftp://x/", spki_b64(p, k1), 0, 1, &err) == APR_EINVAL, "ftp");
    OKE(ec_ct_log_init(p, &c, "C", "Op", "http://x/", "bm90IGEga2V5", 0, 1, &err) == APR_EINVAL, "not a key");
    OKE(ec_ct_log_init(p, &c, "C", "Op", "http://x/", "%%%", 0, 1, &err) == APR_EINVAL, "not base64");

    json = sct_json(p, k1, a.log_id, 1800000000123ULL, khash, tbs, sizeof(tbs));
    ok(ec_ct_sct_from_json(p, &a, json, strlen(json), &s, &err) == APR_SUCCESS && s.timestamp == 1800000000123ULL,
       "the log's answer parses");
    ok(ec_ct_sct_verify(&s, khash, tbs, sizeof(tbs)), "and its signature verifies over the precert entry");
    tbs[100] ^= 1;
    ok(!ec_ct_sct_verify(&s, khash, tbs, sizeof(tbs)), "not over another TBS");
    tbs[100] ^= 1;
    khash[0] ^= 1;
    ok(!ec_ct_sct_verify(&s, khash, tbs, sizeof(tbs)), "nor for another issuer key");
    khash[0] ^= 1;
    ok(ec_ct_sct_from_json(p, &b, json, strlen(json), &s2, &err) == APR_EINVAL && strstr(err, "another log"),
       "an SCT of log A given as B's: %s", err);
    OKE(ec_ct_sct_from_json(p, &a, "{\"sct_version\":1}", 17, &s2, &err) == APR_EINVAL, "version 2");
    OKE(ec_ct_sct_from_json(p, &a, "[1,2", 4, &s2, &err) == APR_EINVAL, "not JSON");
    {
        /* a signature from the other key, in A's name */
        const char *forged = sct_json(p, k2, a.log_id, 1800000000123ULL, khash, tbs, sizeof(tbs));
        ok(ec_ct_sct_from_json(p, &a, forged, strlen(forged), &s2, &err) == APR_SUCCESS &&
           !ec_ct_sct_verify(&s2, khash, tbs, sizeof(tbs)), "a signature by another key does not verify");
    }

    json = sct_json(p, k2, b.log_id, 1800000000999ULL, khash, tbs, sizeof(tbs));
    ec_ct_sct_from_json(p, &b, json, strlen(json), &list[1], &err);
    list[0] = s;
    ext = ec_ct_scts_ext(p, list, 2, &ext_len);
    {
        /* Extension { OID, OCTET STRING { OCTET STRING { list } } }: the value starts 0x04 */
        const unsigned char *q = ext;
        X509_EXTENSION *x = d2i_X509_EXTENSION(NULL, &q, (long)ext_len);
        const ASN1_OCTET_STRING *v = x ? X509_EXTENSION_get_data(x) : NULL;
        ok(x && q == ext + ext_len && !X509_EXTENSION_get_critical(x) && v->data[0] == 0x04,
           "the SCT list extension is DER OpenSSL reads");
        ok(v && ec_ct_scts_parse(p, v->data, (size_t)v->length, &parsed, &err) == APR_SUCCESS && parsed->nelts == 2,
           "its list holds the two SCTs");
        logs = apr_array_make(p, 2, sizeof(ec_ct_log_t *));
        APR_ARRAY_PUSH(logs, ec_ct_log_t *) = &a;
        APR_ARRAY_PUSH(logs, ec_ct_log_t *) = &b;
        ok(parsed && ec_ct_sct_from_tls(p, logs, APR_ARRAY_IDX(parsed, 1, ec_der_r).p, APR_ARRAY_IDX(parsed, 1, ec_der_r).n,
                                        &back, &err) == APR_SUCCESS && back.log == &b &&
           ec_ct_sct_verify(&back, khash, tbs, sizeof(tbs)), "an SCT read back from the list verifies");
        X509_EXTENSION_free(x);
    }
    {
        static const uint8_t bad[] = { 0x04, 0x04, 0x00, 0x05, 0x00, 0x01 };
        OKE(ec_ct_scts_parse(p, bad, sizeof(bad), &parsed, &err) == APR_EINVAL, "a list whose length is wrong");
    }

    list[2] = s;               /* a third SCT of operator One */
    ok(ec_ct_policy(p, list, 2, nb, nb + 199 * 86400 - 1) != NULL, "199 days with 2 SCTs: %s",
       ec_ct_policy(p, list, 2, nb, nb + 199 * 86400 - 1));
    ok(!ec_ct_policy(p, list, 3, nb, nb + 199 * 86400 - 1), "199 days, 3 SCTs, 2 operators: enough");
    ok(!ec_ct_policy(p, list, 2, nb, nb + 180 * 86400 - 1), "180 days, 2 SCTs: enough");
    list[1] = s;
    ok(ec_ct_policy(p, list, 3, nb, nb + 199 * 86400 - 1) && strstr(ec_ct_policy(p, list, 3, nb, nb + 199 * 86400 - 1),
       "operator"), "3 SCTs of one operator are not enough");

    memset(&conf, 0, sizeof(conf));
    args[0] = "L1"; args[1] = "Op"; args[2] = "http://127.0.0.1:9/"; args[3] = spki_b64(p, k1);
    args[4] = "2026-01-01"; args[5] = "2026-13-01";
    ok(strstr(ec_ct_conf_directive(&conf, p, "ECertCTLog", 6, args), "YYYY-MM-DD") && !conf.logs,
       "a month 13 is refused and adds no log");
    apr_pool_destroy(p);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    apr_terminate();
    return done_testing();
}
