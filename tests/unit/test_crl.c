/* ec_crl + ec_crl_conf: a CRL built entry by entry and signed in a real SoftHSMv2 token is read
 * back by OpenSSL field by field (v2, issuer, times, entries with the App. C reason mapping,
 * AKI, CRLNumber, the ARL's IDP); the header peek; the schedule and the directives' BR bounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "ec_crl.h"
#include "ec_crl_conf.h"
#include "ec_log.h"
#include "ec_p11.h"
#include "ec_revoke.h"
#include "ec_x509.h"

#define MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define PIN "24681357"

static void to_diag(void *baton, ec_log_level_t level, apr_status_t rv, void *req, const char *tag,
                    const char *msg)
{
    fprintf(stderr, "# %s: %s\n", tag, msg);
}

static int make_token(apr_pool_t *p, const char *dir)
{
    char *conf = apr_psprintf(p, "%s/softhsm2.conf", dir);
    FILE *f = fopen(conf, "w");

    if (!f)
        return -1;
    fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", dir);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    return system("softhsm2-util --init-token --free --label unitcrl --pin " PIN
                  " --so-pin 13572468 >/dev/null");
}

static int entry_reason(X509_REVOKED *r)
{
    int crit = -1;
    ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, NULL);
    int v = e ? (int)ASN1_ENUMERATED_get(e) : -1;
    ASN1_ENUMERATED_free(e);
    return crit == 1 ? -100 : v;             /* a critical reasonCode would be wrong */
}

static X509_CRL *build(ec_p11 *p11, ec_p11_key *key, const ec_crl_params_t *pr, const int *reasons, int n,
                       uint8_t **der, size_t *len)
{
    ec_crl_w *c = ec_crl_begin(pr);
    const unsigned char *q;

    for (int i = 0; i < n; i++) {
        uint8_t serial[20];
        memset(serial, 0x11 * (i + 1), sizeof(serial));
        serial[0] = (uint8_t)(0x10 + i);
        if (ec_crl_add(c, serial, sizeof(serial), pr->this_update - 3600 * (i + 1), reasons[i]) != APR_SUCCESS)
            return NULL;
    }
    if (ec_crl_finish(c, p11, key, der, len) != APR_SUCCESS)
        return NULL;
    q = *der;
    return d2i_X509_CRL(NULL, &q, (long)*len);
}

static void conf_checks(apr_pool_t *p)
{
    ec_crl_conf_t c;
    char *a1[] = { "11:00", "01:15", "06:15:30" }, *bad[] = { "25:00" }, *dup[] = { "01:15", "01:15" };
    char *every[] = { "every", "10m" }, *tiny[] = { "every", "5s" }, *v11[] = { "11d" }, *v10[] = { "10d" };
    time_t day = 1796083200;                 /* 2026-12-01 00:00:00 UTC */

    ec_crl_conf_init(&c);
    ec_crl_conf_finish(&c);
    ok(c.validity == 7 * 86400 && c.arl_validity == 365 * 86400 && c.delay == 60 && c.max_age == 300,
       "defaults: 7d, 365d, 60s, 300s");
    ok(c.sched.n == 3 && ec_crl_sched_slot(&c.sched, day + 3600) == day - 86400 + 11 * 3600,
       "App. C schedule: at 01:00 UTC the last slot was yesterday 11:00");
    ok(ec_crl_sched_slot(&c.sched, day + 6 * 3600 + 15 * 60) == day + 6 * 3600 + 15 * 60,
       "a slot is its own latest slot (06:15)");
    ok(ec_crl_renew_after(&c, 0) == 7 * 86400 - 7 * 86400 / 4 && ec_crl_renew_after(&c, 1) == 365 * 86400 - 365 * 86400 / 4,
       "renewal at 3/4 of the validity (never past the BR's 7 days)");
    ec_crl_conf_init(&c);
    ok(!ec_crl_conf_directive(&c, p, "ECertCRLSchedule", 3, a1) && c.sched.n == 3 &&
       c.sched.at[0] == 4500 && c.sched.at[1] == 6 * 3600 + 15 * 60 + 30,
       "ECertCRLSchedule takes HH:MM[:SS] in any order and sorts them");
    ok(ec_crl_conf_directive(&c, p, "ECertCRLSchedule", 1, bad) != NULL, "25:00 is refused");
    ok(strstr(ec_crl_conf_directive(&c, p, "ECertCRLSchedule", 2, dup), "twice") != NULL,
       "a time listed twice is refused");
    ok(!ec_crl_conf_directive(&c, p, "ECertCRLSchedule", 2, every) && c.sched.every == 600 &&
       ec_crl_sched_slot(&c.sched, day + 1234) == day + 1200, "every 10m: slots on the ten minutes");
    ok(ec_crl_conf_directive(&c, p, "ECertCRLSchedule", 2, tiny) != NULL, "every 5s is refused (10 s at least)");
    ok(ec_crl_conf_directive(&c, p, "ECertCRLValidity", 1, v11) != NULL &&
       !ec_crl_conf_directive(&c, p, "ECertCRLValidity", 1, v10) && c.validity == 864000,
       "ECertCRLValidity: 10 days at most (BR 7.2)");
    ok(ec_crl_conf_directive(&c, p, "ECertNothing", 1, v10) == EC_CRL_NOT_MINE, "other directives are not mine");
}

int main(void)
{
    apr_pool_t *p;
    char dir[] = "/tmp/ec-unit-crl-XXXXXX";
    ec_p11 *p11;
    ec_p11_key *key;
    const uint8_t *spki, *subject;
    size_t spki_len, subject_len, len;
    uint8_t *der = NULL;
    ec_crl_params_t pr;
    X509_CRL *crl;
    EVP_PKEY *pk;
    time_t this_update = 1796090000, t1, t2;
    static const int reasons[] = { EC_REASON_UNSPECIFIED, 1, 3, 4, 5, 9, 2, 0 };
    ec_rdn_t rdns[] = { { EC_OID_C, EC_DER_PRINTABLE, "HK" }, { EC_OID_O, EC_DER_UTF8, "Hongkong Post" },
                        { EC_OID_CN, EC_DER_UTF8, "Unit CRL CA" } };

    apr_initialize();
    apr_pool_create(&p, NULL);
    ec_log_set(to_diag, NULL);
    plan(32);
    conf_checks(p);

    if (!mkdtemp(dir) || make_token(p, dir) != 0 ||
        ec_p11_open(&p11, p, MODULE, "pkcs11:token=unitcrl", PIN, 2) != APR_SUCCESS ||
        ec_p11_generate_rsa(p11, "crlkey", 2048) != APR_SUCCESS ||
        ec_p11_key_get(p11, p, "pkcs11:token=unitcrl;object=crlkey;type=private", &key) != APR_SUCCESS ||
        ec_p11_key_spki(p11, key, p, &spki, &spki_len) != APR_SUCCESS) {
        ok(0, "a SoftHSM token with a key");
        return 1;
    }
    subject = ec_x509_name(p, rdns, 3, &subject_len);
    memset(&pr, 0, sizeof(pr));
    pr.issuer = subject;
    pr.issuer_len = subject_len;
    memset(pr.aki, 0xab, 20);
    pr.this_update = this_update;
    pr.next_update = this_update + 7 * 86400;
    pr.number = 4242;

    crl = build(p11, key, &pr, reasons, 8, &der, &len);
    ok(crl != NULL, "a subscriber CRL of 8 entries parses with OpenSSL");
    {
        const unsigned char *k = spki;
        pk = d2i_PUBKEY(NULL, &k, (long)spki_len);
    }
    ok(crl && X509_CRL_verify(crl, pk) == 1, "its signature verifies with the token key's public key");
    ok(crl && X509_CRL_get_version(crl) == 1, "X.509 v2");
    ok(crl && X509_CRL_get_signature_nid(crl) == NID_sha256WithRSAEncryption,
       "sha256WithRSAEncryption");
    {
        unsigned char *nb = NULL;
        int n = crl ? i2d_X509_NAME(X509_CRL_get_issuer(crl), &nb) : 0;
        ok(n == (int)subject_len && !memcmp(nb, subject, subject_len), "issuer is the given Name, byte for byte");
        OPENSSL_free(nb);
    }
    ok(crl && ASN1_TIME_cmp_time_t(X509_CRL_get0_lastUpdate(crl), this_update) == 0 &&
       ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(crl), this_update + 7 * 86400) == 0,
       "thisUpdate and nextUpdate");
    {
        STACK_OF(X509_REVOKED) *rev = crl ? X509_CRL_get_REVOKED(crl) : NULL;
        static const int want[] = { -1, 1, 3, 4, 5, 9, -1, -1 };
        int good = rev && sk_X509_REVOKED_num(rev) == 8;
        for (int i = 0; good && i < 8; i++)
            good = entry_reason(sk_X509_REVOKED_value(rev, i)) == want[i] &&
                   ASN1_TIME_cmp_time_t(X509_REVOKED_get0_revocationDate(sk_X509_REVOKED_value(rev, i)),
                                        this_update - 3600 * (i + 1)) == 0;
        ok(good, "entries: reasonCode only for 1, 3, 4, 5, 9 (App. C note 1), none for unspecified, 0 or 2");
    }
    {
        AUTHORITY_KEYID *aki = crl ? X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL) : NULL;
        ASN1_INTEGER *num = crl ? X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL) : NULL;
        ok(aki && aki->keyid && aki->keyid->length == 20 && aki->keyid->data[0] == 0xab && !aki->issuer &&
           !aki->serial, "AKI is the key identifier only (BR 7.1.2.11.1)");
        ok(num && ASN1_INTEGER_get(num) == 4242, "CRLNumber");
        ok(crl && X509_CRL_get_ext_by_NID(crl, NID_issuing_distribution_point, -1) < 0,
           "a full subscriber CRL has no IDP");
        AUTHORITY_KEYID_free(aki);
        ASN1_INTEGER_free(num);
    }
    ok(ec_crl_peek(der, 300, &t1, &t2) == APR_SUCCESS && t1 == this_update && t2 == this_update + 7 * 86400,
       "peek reads both times from the first 300 octets");
    ok(ec_crl_peek(der, 40, &t1, &t2) != APR_SUCCESS, "peek refuses a head too short to hold them");
    {
        uint8_t junk[64];
        memset(junk, 0x30, sizeof(junk));
        ok(ec_crl_peek(junk, sizeof(junk), &t1, &t2) != APR_SUCCESS, "peek refuses what is not a CRL");
    }
    X509_CRL_free(crl);
    free(der);

    /* The ARL: reasonCode always (0 for unspecified), critical IDP onlyContainsCACerts. */
    pr.ca_entries = 1;
    pr.number = 1;
    {
        static const int ca_reasons[] = { EC_REASON_UNSPECIFIED, 2, 5 };
        ISSUING_DIST_POINT *idp;
        int crit = -1;
        STACK_OF(X509_REVOKED) *rev;
        crl = build(p11, key, &pr, ca_reasons, 3, &der, &len);
        rev = crl ? X509_CRL_get_REVOKED(crl) : NULL;
        ok(rev && entry_reason(sk_X509_REVOKED_value(rev, 0)) == 0 &&
           entry_reason(sk_X509_REVOKED_value(rev, 1)) == 2 && entry_reason(sk_X509_REVOKED_value(rev, 2)) == 5,
           "ARL entries carry 0-5, unspecified as 0 (App. C note 2)");
        idp = crl ? X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &crit, NULL) : NULL;
        ok(idp && crit == 1 && idp->onlyCA && !idp->onlyuser && !idp->indirectCRL && !idp->distpoint &&
           !idp->onlysomereasons, "ARL: critical IDP with onlyContainsCACerts only (App. C VII)");
        ISSUING_DIST_POINT_free(idp);
        X509_CRL_free(crl);
        free(der);
    }

    /* A partition: its URL in the IDP, and no revokedCertificates when empty (RFC 5280 5.1.2.6). */
    {
        static const char *url = "http://crl.example/x-3.crl";
        ISSUING_DIST_POINT *idp;
        int crit = -1;
        pr.ca_entries = 0;
        pr.idp_urls = &url;
        pr.n_idp = 1;
        crl = build(p11, key, &pr, NULL, 0, &der, &len);
        idp = crl ? X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &crit, NULL) : NULL;
        ok(idp && crit == 1 && idp->distpoint && idp->distpoint->type == 0 &&
           sk_GENERAL_NAME_num(idp->distpoint->name.fullname) == 1 && !idp->onlyCA,
           "partition: critical IDP with its fullName URI");
        ok(crl && X509_CRL_get_REVOKED(crl) == NULL, "an empty CRL has no revokedCertificates at all");
        ok(ec_crl_entry_reason(6, 0) == -1 && ec_crl_entry_reason(8, 1) == 0,
           "certificateHold / removeFromCRL never appear");
        ISSUING_DIST_POINT_free(idp);
        X509_CRL_free(crl);
        free(der);
    }

    /* A large one is signed in parts (C_SignUpdate) and still verifies. */
    {
        ec_crl_w *c;
        const unsigned char *q;
        pr.n_idp = 0;
        c = ec_crl_begin(&pr);
        for (int i = 0; i < 60000; i++) {
            uint8_t serial[20];
            memset(serial, 0x5a, sizeof(serial));
            memcpy(serial + 16, &i, sizeof(i));
            ec_crl_add(c, serial, sizeof(serial), this_update - i, i % 2 ? 1 : EC_REASON_UNSPECIFIED);
        }
        ok(ec_crl_entries(c) == 60000, "60,000 entries added");
        {
            apr_status_t rv = ec_crl_finish(c, p11, key, &der, &len);
            ok(rv == APR_SUCCESS && len > (1 << 20), "%zu octets, more than one signing part", len);
        }
        q = der;
        crl = d2i_X509_CRL(NULL, &q, (long)len);
        ok(crl && X509_CRL_verify(crl, pk) == 1 && sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) == 60000,
           "the multi-part signature verifies");
        X509_CRL_free(crl);
        free(der);
    }
    EVP_PKEY_free(pk);
    apr_pool_destroy(p);
    {
        char cmd[64];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "# could not remove %s\n", dir);
    }
    apr_terminate();
    return done_testing();
}
