/* Domain validation without a network: the BR dates (reuse windows, the e-mail sunset), which
 * methods apply, codes, organisation keys, the constructed addresses' domains, the addresses
 * Website Change refuses, the Public Suffix List rules, and the CAA record parser and decision
 * (RFC 8659, RFC 8657) on hand-built record sets. */
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "ec_app.h"
#include "ec_caa.h"
#include "ec_dcv.h"
#include "ec_dcv_email.h"
#include "ec_dcv_web.h"
#include "ec_names.h"
#include "ec_resolver.h"

static time_t utc(int y, int m, int d, int hh, int mm, int ss)
{
    struct tm tm = { 0 };
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    return timegm(&tm);
}

static ec_app_t *app(apr_pool_t *p, const char *name, const char *type, int extras)
{
    ec_app_t *a = ec_app_new(p);
    a->server_name = name;
    a->cert_type = type;
    for (int i = 0; i < extras; i++)
        APR_ARRAY_PUSH(a->extra, const char *) = apr_psprintf(p, "alt%d.example.com", i);
    a->br_no = "12345678";
    return a;
}

/* A CAA RDATA from flags, tag and value. */
static ec_caa_rr_t rr(apr_pool_t *p, int flags, const char *tag, const char *value)
{
    size_t tl = strlen(tag), vl = strlen(value);
    uint8_t *d = apr_palloc(p, 2 + tl + vl);
    ec_caa_rr_t out;
    d[0] = (uint8_t)flags;
    d[1] = (uint8_t)tl;
    memcpy(d + 2, tag, tl);
    memcpy(d + 2 + tl, value, vl);
    memset(&out, 0, sizeof(out));
    if (ec_caa_parse(p, d, 2 + tl + vl, &out) != APR_SUCCESS)
        out.tag = NULL;
    return out;
}

static ec_caa_verdict_t decide(apr_pool_t *p, const ec_caa_conf_t *c, int wildcard, const char *method,
                               const char **reason, int n, ...)
{
    apr_array_header_t *set = apr_array_make(p, n, sizeof(ec_caa_rr_t));
    const char *why;
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        int flags = va_arg(ap, int);
        const char *tag = va_arg(ap, const char *), *value = va_arg(ap, const char *);
        APR_ARRAY_PUSH(set, ec_caa_rr_t) = rr(p, flags, tag, value);
    }
    va_end(ap);
    return ec_caa_decide(p, c, set, wildcard, method, reason, &why);
}

int main(void)
{
    apr_pool_t *p;
    ec_dcv_conf_t conf;
    ec_caa_conf_t caa = { 0 };
    const char *reason, *err;
    char *code, *code2;
    apr_array_header_t *doms;
    static const uint8_t pub4[4] = { 8, 8, 8, 8 }, lo4[4] = { 127, 0, 0, 1 }, ten4[4] = { 10, 1, 2, 3 },
                         cgn4[4] = { 100, 64, 0, 1 }, doc4[4] = { 192, 0, 2, 1 }, ll6[16] = { 0xfe, 0x80 },
                         ula6[16] = { 0xfd, 0x12 }, pub6[16] = { 0x24, 0x04, 0x68, 0x00 },
                         lo6[16] = { [15] = 1 }, map6[16] = { [10] = 0xff, [11] = 0xff, [12] = 127, [15] = 1 };
    uint8_t bad[3] = { 0, 0, 'x' };
    ec_caa_rr_t r1;

    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(65);

    /* BR 4.2.1: the window on the issuance date */
    ok(ec_dcv_reuse_days(utc(2026, 3, 14, 23, 59, 59)) == 398, "398 days before 2026-03-15");
    ok(ec_dcv_reuse_days(utc(2026, 3, 15, 0, 0, 0)) == 200, "200 days from 2026-03-15");
    ok(ec_dcv_reuse_days(utc(2027, 3, 14, 23, 59, 59)) == 200, "200 days until 2027-03-14");
    ok(ec_dcv_reuse_days(utc(2027, 3, 15, 0, 0, 0)) == 100, "100 days from 2027-03-15");
    ok(ec_dcv_reuse_days(utc(2029, 3, 14, 12, 0, 0)) == 100, "100 days until 2029-03-14");
    ok(ec_dcv_reuse_days(utc(2029, 3, 15, 0, 0, 0)) == 10, "10 days from 2029-03-15");
    /* BR 3.2.2.4.4 sunset */
    ok(ec_dcv_email_usable(utc(2028, 3, 14, 23, 59, 59)), "Constructed E-mail until 2028-03-14");
    ok(!ec_dcv_email_usable(utc(2028, 3, 15, 0, 0, 0)), "never from 2028-03-15");

    /* methods that apply */
    ec_dcv_conf_init(&conf);
    ec_dcv_conf_finish(&conf, p);
    ok(ec_dcv_methods(&conf, app(p, "www.example.com", "standard", 0), utc(2026, 12, 1, 0, 0, 0)) ==
       (EC_DCV_WEBSITE | EC_DCV_DNS | EC_DCV_EMAIL), "standard: all three");
    ok(ec_dcv_methods(&conf, app(p, "*.example.com", "wildcard", 0), utc(2026, 12, 1, 0, 0, 0)) ==
       (EC_DCV_DNS | EC_DCV_EMAIL), "wildcard: no Website Change");
    ok(ec_dcv_methods(&conf, app(p, "www.example.com", "multi-domain", 2), utc(2026, 12, 1, 0, 0, 0)) ==
       (EC_DCV_WEBSITE | EC_DCV_DNS), "multi-domain: no Constructed E-mail");
    ok(ec_dcv_methods(&conf, app(p, "www.example.com", "ev", 1), utc(2026, 12, 1, 0, 0, 0)) ==
       (EC_DCV_WEBSITE | EC_DCV_DNS), "EV with two names: no Constructed E-mail");
    ok(ec_dcv_methods(&conf, app(p, "www.example.com", "standard", 0), utc(2028, 3, 15, 0, 0, 0)) ==
       (EC_DCV_WEBSITE | EC_DCV_DNS), "after the sunset: no Constructed E-mail");
    conf.email = 0;
    ok(!(ec_dcv_methods(&conf, app(p, "www.example.com", "standard", 0), utc(2026, 12, 1, 0, 0, 0)) & EC_DCV_EMAIL),
       "ECertDCVEmail off");
    ok(ec_dcv_conf_directive(&conf, p, "ECertDCVEmail", 1, (char *[]){ "maybe" }) != NULL &&
       ec_dcv_conf_directive(&conf, p, "ECertDCVMailsPerHour", 1, (char *[]){ "0" }) != NULL &&
       ec_dcv_conf_directive(&conf, p, "ECertDNSTimeout", 1, (char *[]){ "61" }) != NULL &&
       ec_dcv_conf_directive(&conf, p, "ECertDNSRootServers", 1, (char *[]){ "not-an-ip" }) != NULL &&
       ec_dcv_conf_directive(&conf, p, "ECertCAAIssuerDomain", 1, (char *[]){ "bad..name" }) != NULL,
       "bad directive values are refused");
    ok(ec_dcv_conf_directive(&conf, p, "ECertSomethingElse", 0, NULL) == EC_DCV_NOT_MINE, "other directives pass");

    /* codes */
    ok(ec_dcv_new_code(p, &code) == APR_SUCCESS && strlen(code) == 32 && strspn(code, "abcdefghijklmnopqrstuvwxyz234567") == 32,
       "a code is 32 base32 characters (160 bits)");
    ok(ec_dcv_new_code(p, &code2) == APR_SUCCESS && strcmp(code, code2), "and a fresh one each time");
    {
        ec_app_t *a = app(p, "a.example.com", "standard", 0), *b = app(p, "b.example.com", "standard", 0);
        ec_app_t *c = app(p, "a.example.com", "standard", 0);
        b->br_no = "12345678";
        c->br_no = NULL;
        c->ci_cr_no = "1234567";
        ok(!memcmp(ec_dcv_org_key(p, a), ec_dcv_org_key(p, b), 32), "same BR number: same organisation");
        ok(memcmp(ec_dcv_org_key(p, a), ec_dcv_org_key(p, c), 32), "a CI/CR number is another organisation");
    }

    /* constructed addresses' domains: the name and its parents, never a public suffix */
    doms = ec_dcv_email_domains(p, app(p, "www.shop.example.com.hk", "standard", 0));
    ok(doms->nelts == 3 && !strcmp(APR_ARRAY_IDX(doms, 0, const char *), "www.shop.example.com.hk") &&
       !strcmp(APR_ARRAY_IDX(doms, 2, const char *), "example.com.hk"), "down to the registrable domain (%d)",
       doms->nelts);
    doms = ec_dcv_email_domains(p, app(p, "*.example.co.uk", "wildcard", 0));
    ok(doms->nelts == 1 && !strcmp(APR_ARRAY_IDX(doms, 0, const char *), "example.co.uk"), "a wildcard's base");
    ok(!strcmp(ec_dcv_email_locals[0], "admin") && !strcmp(ec_dcv_email_locals[4], "postmaster") &&
       !ec_dcv_email_locals[5], "the five BR 3.2.2.4.4 local parts");

    /* addresses Website Change never fetches */
    ok(!ec_dcv_address_private(pub4, 4) && !ec_dcv_address_private(pub6, 16), "public addresses are fetched");
    ok(ec_dcv_address_private(lo4, 4) && ec_dcv_address_private(ten4, 4) && ec_dcv_address_private(cgn4, 4) &&
       ec_dcv_address_private(doc4, 4), "loopback, private, shared and documentation IPv4 are not");
    ok(ec_dcv_address_private(lo6, 16) && ec_dcv_address_private(ll6, 16) && ec_dcv_address_private(ula6, 16) &&
       ec_dcv_address_private(map6, 16), "::1, link-local, ULA and v4-mapped loopback are not");
    {
        static const uint8_t nat64[16] = { 0, 0x64, 0xff, 0x9b, [12] = 169, 254, 169, 254 },
                             sixto4_lo[16] = { 0x20, 0x02, 127, 0, 0, 1 }, sixto4_pub[16] = { 0x20, 0x02, 8, 8, 8, 8 },
                             teredo[16] = { 0x20, 0x01, 0, 0, 1 }, site[16] = { 0xfe, 0xc0 },
                             compat[16] = { [12] = 10, 0, 0, 1 }, relay4[4] = { 192, 88, 99, 1 };
        ok(ec_dcv_address_private(nat64, 16) && ec_dcv_address_private(sixto4_lo, 16) &&
           ec_dcv_address_private(teredo, 16) && ec_dcv_address_private(site, 16) &&
           ec_dcv_address_private(compat, 16) && ec_dcv_address_private(relay4, 4),
           "NAT64, 6to4 of loopback, Teredo, site-local, IPv4-compatible and 6to4 relay addresses are not");
        ok(!ec_dcv_address_private(sixto4_pub, 16), "6to4 of a public address is");
    }

    /* Public Suffix List (BR 3.2.2.6, 4.2.2) */
    ok(!ec_names_check(p, "www.example.com") && !ec_names_check(p, "*.shop.com.hk") &&
       !ec_names_check(p, "xn--fiqs8s.xn--j6w193g"), "registered names pass");
    err = ec_names_check(p, "*.com.hk");
    ok(err && strstr(err, "public suffix com.hk"), "*.com.hk: %s", err);
    ok((err = ec_names_check(p, "*.co.uk")) && strstr(err, "BR 3.2.2.6"), "*.co.uk refused");
    ok((err = ec_names_check(p, "*.blogspot.com")) != NULL, "a wildcard on a private-section suffix too");
    ok(!ec_names_check(p, "blogspot.com"), "but that suffix itself is someone's name");
    ok((err = ec_names_check(p, "example.internal")) && strstr(err, "internal or reserved"), "example.internal");
    ok(ec_names_check(p, "localhost.localdomain") && ec_names_check(p, "a.local") && ec_names_check(p, "a.test") &&
       ec_names_check(p, "printer.lan"), "other internal names");
    ok(ec_names_check(p, "x.onion") && ec_names_check(p, "1.0.0.127.in-addr.arpa"), ".onion and .arpa");
    ok((err = ec_names_check(p, "com.hk")) && strstr(err, "is a public suffix"), "a public suffix as a name");
    ok(ec_names_registrable(p, "a.b.example.co.uk") && !strcmp(ec_names_registrable(p, "a.b.example.co.uk"),
       "example.co.uk"), "registrable domain");

    /* CAA records */
    ec_caa_finish(&caa, p);
    ok(ec_caa_parse(p, bad, 3, &r1) == APR_EINVAL, "an empty tag is not a record");
    ok(ec_caa_parse(p, (const uint8_t *)"\0", 1, &r1) == APR_EINVAL, "one octet is not a record");
    r1 = rr(p, 0, "Issue", "ecert.gov.hk");
    ok(r1.tag && !strcmp(r1.tag, "issue") && !strcmp(r1.value, "ecert.gov.hk"), "tags are case-insensitive");
    ok(rr(p, 0, "is-sue", "x").tag == NULL, "a tag is letters and digits");
    ok(rr(p, 0, "averyveryverylongtag", "x").tag != NULL, "a tag longer than 15 octets is read (RFC 8659 4.1)");
    {
        apr_array_header_t *set = apr_array_make(p, 1, sizeof(ec_caa_rr_t));
        static const uint8_t nul[] = { 0, 5, 'i', 's', 's', 'u', 'e', 'e', 'c', 'e', 'r', 't', '.', 'g', 'o', 'v', '.',
                                       'h', 'k', 0, 'x' };
        const char *why;
        ok(ec_caa_parse(p, nul, sizeof(nul), &r1) == APR_SUCCESS && r1.value_has_nul, "a NUL in the value is kept note of");
        APR_ARRAY_PUSH(set, ec_caa_rr_t) = r1;
        ok(ec_caa_decide(p, &caa, set, 0, NULL, &reason, &why) == EC_CAA_FORBID, "and such an issue value authorises no one");
    }
    ok(decide(p, &caa, 0, NULL, &reason, 1, 0, "issue", "ecert.gov.hk") == EC_CAA_PERMIT, "issue names us");
    ok(decide(p, &caa, 0, NULL, &reason, 1, 0, "issue", " HongKongPost.GOV.hk ") == EC_CAA_PERMIT,
       "case and spaces");
    ok(decide(p, &caa, 0, NULL, &reason, 2, 0, "issue", "other.example", 0, "issue", "ecert.gov.hk") == EC_CAA_PERMIT,
       "one of several");
    ok(decide(p, &caa, 0, NULL, &reason, 1, 0, "issue", "other.example") == EC_CAA_FORBID && !strcmp(reason, "forbid"),
       "another CA only");
    ok(decide(p, &caa, 0, NULL, &reason, 1, 0, "issue", ";") == EC_CAA_FORBID, "the empty issuer: no one");
    ok(decide(p, &caa, 0, NULL, &reason, 1, 0, "iodef", "mailto:a@example.com") == EC_CAA_PERMIT,
       "no issue property: anyone");
    ok(decide(p, &caa, 1, NULL, &reason, 2, 0, "issue", "ecert.gov.hk", 0, "issuewild", "other.example") ==
       EC_CAA_FORBID, "issuewild governs a wildcard");
    ok(decide(p, &caa, 0, NULL, &reason, 2, 0, "issue", "ecert.gov.hk", 0, "issuewild", "other.example") ==
       EC_CAA_PERMIT, "and not the name itself");
    ok(decide(p, &caa, 1, NULL, &reason, 1, 0, "issue", "ecert.gov.hk") == EC_CAA_PERMIT,
       "without issuewild, issue governs a wildcard");
    ok(decide(p, &caa, 0, NULL, &reason, 2, 0, "issue", "ecert.gov.hk", 128, "tbs", "x") == EC_CAA_FORBID &&
       !strcmp(reason, "critical"), "an unknown critical property blocks");
    ok(decide(p, &caa, 0, NULL, &reason, 2, 0, "issue", "ecert.gov.hk", 0, "tbs", "x") == EC_CAA_PERMIT,
       "an unknown non-critical one does not");
    ok(decide(p, &caa, 0, NULL, &reason, 2, 0, "issue", "ecert.gov.hk", 128, "iodef", "mailto:x@y") == EC_CAA_PERMIT,
       "a known critical one does not");
    ok(decide(p, &caa, 0, EC_CAA_METHOD_DNS, &reason, 1, 0, "issue",
              "ecert.gov.hk; validationmethods=ca-ecert-dns,dns-01") == EC_CAA_PERMIT, "validationmethods lists ours");
    ok(decide(p, &caa, 0, EC_CAA_METHOD_WEBSITE, &reason, 1, 0, "issue",
              "ecert.gov.hk; validationmethods=ca-ecert-dns") == EC_CAA_FORBID && !strcmp(reason, "method"),
       "validationmethods without ours");
    ok(decide(p, &caa, 0, EC_CAA_METHOD_DNS, &reason, 1, 0, "issue",
              "ecert.gov.hk; accounturi=https://acme.example/1") == EC_CAA_FORBID && !strcmp(reason, "account"),
       "accounturi never authorises us");
    ok(decide(p, &caa, 0, NULL, &reason, 1, 0, "issue", "ecert.gov.hk; a=1 ;b-c=x") == EC_CAA_PERMIT,
       "other parameters are ignored");
    ok(decide(p, &caa, 0, NULL, &reason, 1, 0, "issue", "ecert.gov.hk; =1") == EC_CAA_FORBID &&
       decide(p, &caa, 0, NULL, &reason, 1, 0, "issue", "ecert.gov.hk junk") == EC_CAA_FORBID &&
       decide(p, &caa, 0, NULL, &reason, 1, 0, "issue", "-ecert.gov.hk") == EC_CAA_FORBID,
       "a malformed value authorises no one");
    {
        ec_caa_conf_t mine = { 0 };
        ok(ec_caa_directive(&mine, p, "ECertCAAIssuerDomain", 1, (char *[]){ "CA.Example.ORG" }) == NULL &&
           decide(p, &mine, 0, NULL, &reason, 1, 0, "issue", "ca.example.org") == EC_CAA_PERMIT &&
           decide(p, &mine, 0, NULL, &reason, 1, 0, "issue", "ecert.gov.hk") == EC_CAA_FORBID,
           "ECertCAAIssuerDomain replaces the defaults");
    }
    /* TXT character-strings */
    ok(!strcmp(ec_dns_txt(p, (const uint8_t *)"\003abc\002de", 7), "abcde"), "TXT strings are concatenated");
    ok(!ec_dns_txt(p, (const uint8_t *)"\005abc", 4), "a string longer than the RDATA is malformed");
    return done_testing();
}
