/* Applications: envelope secrets (ec_pin), server names (ec_dns), field checks (ec_app). */
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "ec_pin.h"
#include "ec_dns.h"
#include "ec_app.h"

int main(void)
{
    apr_pool_t *p;
    char pin[17], ref[10];
    const char *h, *err, *n;
    ec_app_t *a;

    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(32);

    ok(ec_pin_digits(pin, 16) == APR_SUCCESS && strlen(pin) == 16 && strspn(pin, "0123456789") == 16,
       "16 random digits");
    ok(ec_pin_digits(ref, 9) == APR_SUCCESS && strlen(ref) == 9, "9-digit reference");
    h = ec_pin_hash(p, pin);
    ok(h && !strncmp(h, "$scrypt$ln=15,r=8,p=1$", 22) && !strstr(h, pin), "scrypt hash without the PIN");
    ok(ec_pin_verify(p, pin, h), "right PIN verifies");
    pin[15] = pin[15] == '0' ? '1' : '0';
    ok(!ec_pin_verify(p, pin, h), "wrong PIN refused");
    ok(!ec_pin_verify(p, pin, "$scrypt$ln=15,r=8,p=1$zz$zz"), "garbage hash refused");
    ok(ec_pin_normalize(p, "1234 5678 9012 3456") && !strcmp(ec_pin_normalize(p, "1234 5678 9012 3456"),
       "1234567890123456"), "spaces in the PIN are ignored");
    ok(!ec_pin_normalize(p, "12345678901234567"), "17 digits refused");
    ok(!ec_pin_normalize(p, "1234-5678-9012-3456"), "non-digits refused");

    n = ec_dns_normalize(p, "WWW.Example.COM", 0, &err);
    ok(n && !strcmp(n, "www.example.com"), "lower-cased");
    n = ec_dns_normalize(p, "香港郵政.hk", 0, &err);
    ok(n && !strncmp(n, "xn--", 4), "U-label becomes an A-label (%s)", n ? n : err);
    ok(n && !strcmp(ec_dns_display(p, n), "香港郵政.hk"), "and back for display");
    ok(!ec_dns_normalize(p, "*.example.com", 0, &err), "wildcard refused where not allowed");
    n = ec_dns_normalize(p, "*.example.com", 1, &err);
    ok(n && !strcmp(n, "*.example.com"), "wildcard kept where allowed");
    ok(!ec_dns_normalize(p, "a.*.example.com", 1, &err), "inner wildcard refused");
    ok(!ec_dns_normalize(p, "localhost", 0, &err), "single label refused");
    ok(!ec_dns_normalize(p, "bad_name.example.com", 0, &err), "underscore refused");

    a = ec_app_new(p);
    a->server_name = "www.example.com";
    a->cert_type = "multi-domain";
    a->org_en = "Example";
    a->email = "a@example.com";
    for (int i = 0; i < 50; i++)
        APR_ARRAY_PUSH(a->extra, const char *) = apr_psprintf(p, "n%d.example.com", i);
    ok(ec_app_validate(p, a) != NULL, "50 extra names refused: %s", ec_app_validate(p, a));
    apr_array_pop(a->extra);
    ok(ec_app_validate(p, a) == NULL, "49 extra names accepted");
    APR_ARRAY_IDX(a->extra, 3, const char *) = "*.example.com";
    ok(ec_app_validate(p, a) != NULL, "wildcard in a multi-domain list refused");
    a->cert_type = "premium";
    ok(ec_app_validate(p, a) != NULL, "unknown type refused");
    a = ec_app_new(p);
    a->server_name = "*.example.com";
    a->cert_type = "wildcard";
    a->org_zh = "範例";
    a->email = "a@example.com";
    ok(ec_app_validate(p, a) == NULL, "wildcard application accepted");

    a->org_en = "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKL";   /* 64 */
    ok(ec_app_validate(p, a) == NULL, "a 64-character organisation name accepted");
    a->org_en = "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLM";  /* 65 */
    ok(ec_app_validate(p, a) && strstr(ec_app_validate(p, a), "65 characters"), "65 characters refused: %s",
       ec_app_validate(p, a));
    a->org_en = "Example";
    a->org_zh = "香港郵政香港郵政香港郵政香港郵政香港郵政香港郵政香港郵政香港郵政";      /* 32 characters, 96 octets */
    ok(ec_app_validate(p, a) == NULL, "characters are counted, not octets");
    a->org_zh = "Example \xe2\x80\xae" "evil";
    ok(ec_app_validate(p, a) && strstr(ec_app_validate(p, a), "U+202E"), "bidi override refused: %s",
       ec_app_validate(p, a));
    a->org_zh = "\xef\xbb\xbf" "Example";
    ok(ec_app_validate(p, a) && strstr(ec_app_validate(p, a), "U+FEFF"), "U+FEFF refused");
    a->org_zh = "Example <b>Ltd</b>";
    ok(ec_app_validate(p, a) != NULL, "markup refused");
    a->org_zh = "Example \xf0\x9f\x98\x80 Ltd";
    ok(ec_app_validate(p, a) && strstr(ec_app_validate(p, a), "U+1F600"), "emoji refused");
    a->org_zh = "Example \xc0\xaf";
    ok(ec_app_validate(p, a) && strstr(ec_app_validate(p, a), "UTF-8"), "overlong UTF-8 refused");
    a->org_zh = " Example";
    ok(ec_app_validate(p, a) != NULL, "leading space refused");
    a->org_zh = "Example";
    a->branch_en = "IT\x01";
    ok(ec_app_validate(p, a) != NULL, "control character in the branch refused");
    a->branch_en = NULL;

    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
