/* ec_profile + ec_lint: the App. B certificate of each type is built, parsed back and
 * accepted by the linter; a to-be-signed certificate that breaks a profile or BR rule
 * is refused. No HSM is needed: nothing is signed here. */
#include <string.h>
#include <time.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "tap.h"
#include "ec_profile.h"
#include "ec_lint.h"
#include "ec_x509.h"
#include "ec_der.h"
#include "ec_flow.h"

/* A Sub CA certificate made with OpenSSL (self-signed is enough for the profile). */
static const uint8_t *subca(apr_pool_t *p, const char *cn, size_t *len)
{
    EVP_PKEY *k = EVP_RSA_gen(2048);
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    unsigned char *der = NULL;
    const uint8_t *out;
    int l;

    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_NAME_add_entry_by_txt(n, "C", MBSTRING_UTF8, (const unsigned char *)"HK", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"Hongkong Post", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
    X509_set_pubkey(x, k);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x, k, EVP_sha256());
    l = i2d_X509(x, &der);
    out = apr_pmemdup(p, der, (apr_size_t)l);
    *len = (size_t)l;
    OPENSSL_free(der);
    X509_NAME_free(n);
    X509_free(x);
    EVP_PKEY_free(k);
    return out;
}

static const uint8_t *spki_of(apr_pool_t *p, EVP_PKEY *k, size_t *len)
{
    unsigned char *der = NULL;
    int l = i2d_PUBKEY(k, &der);
    const uint8_t *out = apr_pmemdup(p, der, (apr_size_t)l);
    OPENSSL_free(der);
    *len = (size_t)l;
    return out;
}

static ec_app_t *app(apr_pool_t *p, const char *type, const char *name)
{
    ec_app_t *a = ec_app_new(p);
    a->id = "1";
    a->server_name = name;
    a->cert_type = type;
    a->org_en = "Example Company Limited";
    a->org_zh = "範例有限公司";
    if (!strcmp(type, "multi-domain") || !strcmp(type, "ev")) {
        APR_ARRAY_PUSH(a->extra, const char *) = "a.example.com";
        APR_ARRAY_PUSH(a->extra, const char *) = "b.example.com";
    }
    if (!strcmp(type, "ev")) {
        a->ev_street = "2 Connaught Place";
        a->ev_reg_no = "12345678";
        a->ev_category = "Private Organization";
        a->ev_jurisdiction = "HK";
    }
    return a;
}

/* Builds the TBS and returns what the linter says (NULL: passes). */
static const char *build_lint(apr_pool_t *p, ec_profile_conf_t *c, ec_profile_in_t *in, const uint8_t **tbs,
                              size_t *len)
{
    time_t na;
    if (ec_profile_tbs(p, c, in, tbs, len, &na) != APR_SUCCESS)
        return "build failed";
    return ec_lint_tbs(p, c, in, *tbs, *len);
}

/* A TBS written by hand around the profile's parts, to break one rule at a time. */
static const uint8_t *custom_tbs(apr_pool_t *p, const ec_profile_in_t *in, const uint8_t *subject,
                                 size_t subject_len, const uint8_t *exts, size_t exts_len, time_t nb,
                                 time_t na, size_t *len)
{
    ec_tbs_t t;
    memset(&t, 0, sizeof(t));
    t.serial = in->serial;
    t.serial_len = 20;
    t.issuer = in->issuer->subject;
    t.issuer_len = in->issuer->subject_len;
    t.subject = subject;
    t.subject_len = subject_len;
    t.not_before = nb;
    t.not_after = na;
    t.spki = in->spki;
    t.spki_len = in->spki_len;
    t.exts = exts;
    t.exts_len = exts_len;
    return ec_x509_tbs(p, &t, len);
}

/* The extensions part of a good TBS (inside [3] SEQUENCE). */
static int exts_of(const uint8_t *tbs, size_t len, ec_der_r *exts)
{
    ec_der_r in = { tbs, len }, seq, x, inner;
    if (ec_der_get(&in, EC_DER_SEQUENCE, &seq, NULL, NULL) < 0)
        return -1;
    while (seq.n && ec_der_peek(&seq) != EC_DER_CTX(3))
        if (ec_der_get(&seq, -1, NULL, NULL, NULL) < 0)
            return -1;
    if (ec_der_get(&seq, EC_DER_CTX(3), &x, NULL, NULL) < 0 || ec_der_get(&x, EC_DER_SEQUENCE, &inner, NULL, NULL) < 0)
        return -1;
    *exts = inner;
    return 0;
}

int main(int argc, const char *const *argv)
{
    apr_pool_t *p;
    ec_profile_conf_t conf;
    ec_issuer_t ssl, ev;
    ec_profile_in_t in;
    const uint8_t *der, *tbs;
    size_t len, tbs_len;
    const char *err;
    EVP_PKEY *k;
    time_t now = time(NULL);

    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&p, NULL);
    plan(24);

    memset(&conf, 0, sizeof(conf));
    ok(ec_profile_finish(&conf, p, &err) == APR_SUCCESS && conf.validity_days == 199 && conf.eku->nelts == 1 &&
       !strcmp(conf.cps_url, "http://www.eCert.gov.hk/product/cps/ecert"), "defaults: 199 days, serverAuth, CPS URL");
    {
        char *args[] = { "clientAuth", "serverAuth" };
        ec_profile_conf_t c2;
        memset(&c2, 0, sizeof(c2));
        ok(ec_profile_directive(&c2, p, "ECertEKU", 2, args) == NULL && c2.eku->nelts == 2, "ECertEKU parsed");
        char *bad[] = { "201" };
        ok(ec_profile_directive(&c2, p, "ECertValidityDays", 1, bad) != NULL, "ECertValidityDays 201 refused");
        char *url[] = { "ftp://x" };
        ok(ec_profile_directive(&c2, p, "ECertCPSURL", 1, url) != NULL, "a non-http URL refused");
        ok(ec_profile_directive(&c2, p, "ServerName", 1, url) == EC_PROFILE_NOT_MINE, "other directives are not ours");
    }
    /* BR 6.3.2 schedule */
    ok(ec_profile_max_days(1773532800 - 1) == 398 && ec_profile_max_days(1773532800) == 200 &&
       ec_profile_max_days(1805068800) == 100 && ec_profile_max_days(1868227200) == 47,
       "BR maximum validity: 398, 200 from 2026-03-15, 100 from 2027-03-15, 47 from 2029-03-15");
    conf.validity_days = 199;
    ok(ec_profile_days(&conf, 1868227200) == 47, "configured 199 days are capped at 47 in 2029");

    der = subca(p, "Hongkong Post e-Cert SSL CA 3 - 17", &len);
    ok(ec_issuer_init(p, "ssl", der, len, &ssl) == APR_SUCCESS && !strcmp(ssl.crl_file, "eCertSCA3-17CRL1.crl"),
       "issuer from its certificate");
    der = subca(p, "Hongkong Post e-Cert EV SSL CA 3 - 17", &len);
    ec_issuer_init(p, "ev", der, len, &ev);

    k = EVP_RSA_gen(2048);
    memset(&in, 0, sizeof(in));
    in.spki = spki_of(p, k, &in.spki_len);
    ec_x509_serial(in.serial);
    in.not_before = now;
    in.issuer = &ssl;

    static const char *const types[] = { "standard", "wildcard", "multi-domain", "ev" };
    static const char *const names[] = { "www.example.com", "*.example.com", "m.example.com", "ev.example.com" };
    for (int i = 0; i < 4; i++) {
        in.app = app(p, types[i], names[i]);
        in.issuer = !strcmp(types[i], "ev") ? &ev : &ssl;
        err = build_lint(p, &conf, &in, &tbs, &tbs_len);
        ok(err == NULL, "%s certificate passes the lint (%s)", types[i], err ? err : "ok");
    }
    {
        ec_app_t *a = app(p, "standard", "www.example.com");
        a->confirm_chinese = 1;
        ok(!strcmp(ec_profile_org(a), "範例有限公司"), "Confirm Opt with Chinese: O is the Chinese name");
        a->confirm_chinese = 0;
        a->org_en = NULL;
        ok(!strcmp(ec_profile_org(a), "範例有限公司"), "Chinese-only organisation: O is the Chinese name");
    }

    /* rules the linter enforces on hand-made certificates */
    in.app = app(p, "standard", "www.example.com");
    in.issuer = &ssl;
    build_lint(p, &conf, &in, &tbs, &tbs_len);
    {
        ec_der_r exts;
        size_t sl;
        ec_rdn_t good[] = { { EC_OID_C, EC_DER_PRINTABLE, "HK" }, { EC_OID_ST, EC_DER_UTF8, "Hong Kong" },
                            { EC_OID_L, EC_DER_UTF8, "Hong Kong" },
                            { EC_OID_O, EC_DER_UTF8, "Example Company Limited" },
                            { EC_OID_CN, EC_DER_UTF8, "www.example.com" } };
        ec_rdn_t ou[] = { { EC_OID_C, EC_DER_PRINTABLE, "HK" }, { EC_OID_ST, EC_DER_UTF8, "Hong Kong" },
                          { EC_OID_L, EC_DER_UTF8, "Hong Kong" },
                          { EC_OID_O, EC_DER_UTF8, "Example Company Limited" },
                          { "2.5.4.11", EC_DER_UTF8, "IT" }, { EC_OID_CN, EC_DER_UTF8, "www.example.com" } };
        ec_rdn_t cn[] = { { EC_OID_C, EC_DER_PRINTABLE, "HK" }, { EC_OID_ST, EC_DER_UTF8, "Hong Kong" },
                          { EC_OID_L, EC_DER_UTF8, "Hong Kong" },
                          { EC_OID_O, EC_DER_UTF8, "Example Company Limited" },
                          { EC_OID_CN, EC_DER_UTF8, "other.example.com" } };
        const uint8_t *sg = ec_x509_name(p, good, 5, &sl), *t;
        size_t sgl = sl, tl;
        exts_of(tbs, tbs_len, &exts);
        t = custom_tbs(p, &in, sg, sgl, exts.p, exts.n, now, now + 199 * 86400 - 1, &tl);
        ok(ec_lint_tbs(p, &conf, &in, t, tl) == NULL, "the hand-made copy of a good certificate passes");
        t = custom_tbs(p, &in, sg, sgl, exts.p, exts.n, now, now + 201 * 86400, &tl);
        err = ec_lint_tbs(p, &conf, &in, t, tl);
        ok(err && strstr(err, "validity"), "201 days refused (%s)", err ? err : "passed");
        t = custom_tbs(p, &in, sg, sgl, exts.p, exts.n, now - 7 * 86400, now + 100 * 86400, &tl);
        err = ec_lint_tbs(p, &conf, &in, t, tl);
        ok(err && strstr(err, "notBefore"), "backdated notBefore refused (%s)", err ? err : "passed");
        const uint8_t *so = ec_x509_name(p, ou, 6, &sl);
        t = custom_tbs(p, &in, so, sl, exts.p, exts.n, now, now + 100 * 86400, &tl);
        err = ec_lint_tbs(p, &conf, &in, t, tl);
        ok(err && strstr(err, "OU"), "an OU refused (%s)", err ? err : "passed");
        const uint8_t *sc = ec_x509_name(p, cn, 5, &sl);
        t = custom_tbs(p, &in, sc, sl, exts.p, exts.n, now, now + 100 * 86400, &tl);
        err = ec_lint_tbs(p, &conf, &in, t, tl);
        ok(err && strstr(err, "CN"), "a CN that is not the server name refused (%s)", err ? err : "passed");
        t = custom_tbs(p, &in, sg, sgl, exts.p, exts.n - 20, now, now + 100 * 86400, &tl);
        err = ec_lint_tbs(p, &conf, &in, t, tl);
        ok(err != NULL, "a truncated extension list refused (%s)", err ? err : "passed");
        /* one extension dropped: the last one (CDP) */
        {
            ec_der_r all = exts, one, last = { NULL, 0 };
            size_t keep = 0;
            while (all.n && ec_der_get(&all, EC_DER_SEQUENCE, NULL, &one, NULL) == 0)
                last = one;
            keep = (size_t)(last.p - exts.p);
            t = custom_tbs(p, &in, sg, sgl, exts.p, keep, now, now + 100 * 86400, &tl);
            err = ec_lint_tbs(p, &conf, &in, t, tl);
            ok(err && strstr(err, "2.5.29.31"), "missing CRL distribution point refused (%s)", err ? err : "passed");
        }
        /* a different issuer's SKI in the AKI */
        {
            ec_profile_in_t other = in;
            other.issuer = &ev;
            err = ec_lint_tbs(p, &conf, &other, t, tl);
            ok(err != NULL, "a certificate checked against the wrong issuer is refused (%s)", err ? err : "passed");
        }
    }
    ok(!strcmp(ec_flow_serial_norm(p, "0E:B9 28"), "0eb928") && !strcmp(ec_flow_serial_norm(p, "00 7f 01"), "7f01") &&
       !ec_flow_serial_norm(p, "xyz") && !ec_flow_serial_norm(p, "00"),
       "a serial as a person types it becomes the stored octet-wise hex");
    ok(!strcmp(ec_flow_serial_spaced(p, "eb928"), "0e b9 28"), "serials print as spaced octets");
    EVP_PKEY_free(k);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
