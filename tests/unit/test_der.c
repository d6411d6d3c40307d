/* ec_der: writer output is exact DER; the reader refuses what DER forbids. */
#include <string.h>
#include <apr_general.h>
#include "tap.h"
#include "ec_der.h"

static int enc_eq(void (*fill)(ec_der_w *), const char *hex, apr_pool_t *p)
{
    ec_der_w w;
    size_t n;
    const uint8_t *out;
    char buf[512] = "";

    ec_der_w_init(&w);
    fill(&w);
    out = ec_der_w_take(&w, p, &n);
    if (!out)
        return 0;
    for (size_t i = 0; i < n && 2 * i + 2 < sizeof(buf); i++)
        sprintf(buf + 2 * i, "%02x", out[i]);
    if (strcmp(buf, hex))
        fprintf(stderr, "# got %s\n# want %s\n", buf, hex);
    return !strcmp(buf, hex);
}

static void f_int0(ec_der_w *w) { ec_der_int(w, 0); }
static void f_int128(ec_der_w *w) { ec_der_int(w, 128); }
static void f_uint_high(ec_der_w *w) { static const uint8_t m[] = { 0x00, 0x00, 0xff }; ec_der_uint(w, m, 3); }
static void f_oid(ec_der_w *w) { ec_der_oid(w, "1.2.840.113549.1.1.11"); }
static void f_seq(ec_der_w *w) { ec_der_begin(w, EC_DER_SEQUENCE); ec_der_null(w); ec_der_bool(w, 1); ec_der_end(w); }
static void f_long(ec_der_w *w)
{
    static uint8_t big[200];
    ec_der_tlv(w, EC_DER_OCTETSTRING, big, sizeof(big));
}
static void f_time(ec_der_w *w) { ec_der_time(w, 1800000000); ec_der_time(w, 2600000000); }

int main(void)
{
    apr_pool_t *p;
    char text[128];
    ec_der_r in, v, mag;
    time_t t;

    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(22);

    ok(enc_eq(f_int0, "020100", p), "INTEGER 0");
    ok(enc_eq(f_int128, "02020080", p), "INTEGER 128 gets a leading zero");
    ok(enc_eq(f_uint_high, "020200ff", p), "unsigned magnitude strips zeros and stays positive");
    ok(enc_eq(f_oid, "06092a864886f70d01010b", p), "sha256WithRSAEncryption OID");
    ok(enc_eq(f_seq, "300505000101ff", p), "nested SEQUENCE");
    {
        char want[2 * 203 + 1] = "0481c8";
        for (int i = 0; i < 200; i++)
            strcat(want, "00");
        ok(enc_eq(f_long, want, p), "200-octet contents use the minimal long form 0x81 0xc8");
    }
    ok(enc_eq(f_time, "170d3237303131353038303030305a180f" "3230353230353232313431333230" "5a", p),
       "UTCTime before 2050, GeneralizedTime after");

    in = (ec_der_r){ (const uint8_t *)"\x30\x80\x00\x00", 4 };
    ok(ec_der_get(&in, EC_DER_SEQUENCE, &v, NULL, NULL) < 0, "indefinite length refused");
    in = (ec_der_r){ (const uint8_t *)"\x04\x81\x01\x00", 4 };
    ok(ec_der_get(&in, EC_DER_OCTETSTRING, &v, NULL, NULL) < 0, "non-minimal long length refused");
    in = (ec_der_r){ (const uint8_t *)"\x04\x05\x00", 3 };
    ok(ec_der_get(&in, EC_DER_OCTETSTRING, &v, NULL, NULL) < 0, "length beyond the buffer refused");
    in = (ec_der_r){ (const uint8_t *)"\x1f\x01\x00", 3 };
    ok(ec_der_get(&in, -1, &v, NULL, NULL) < 0, "multi-byte tag refused");
    ok(ec_der_strict((const uint8_t *)"\x30\x06\x31\x04\xa0\x02\x05\x00", 8) == 0,
       "strict: nested SEQUENCE, SET and context tag");
    ok(ec_der_strict((const uint8_t *)"\x30\x80\x05\x00\x00\x00", 6) < 0, "strict: indefinite outer length");
    ok(ec_der_strict((const uint8_t *)"\x30\x06\x30\x80\x05\x00\x00\x00", 8) < 0,
       "strict: indefinite length inside");
    ok(ec_der_strict((const uint8_t *)"\x30\x05\x24\x03\x04\x01\x41", 7) < 0,
       "strict: constructed OCTET STRING");
    ok(ec_der_strict((const uint8_t *)"\x30\x02\x05\x00\x00", 5) < 0, "strict: trailing octets");
    {
        uint8_t deep[2 * 40];
        for (int i = 0; i < 40; i++) {
            deep[2 * i] = 0x30;
            deep[2 * i + 1] = (uint8_t)(2 * (39 - i));
        }
        ok(ec_der_strict(deep, sizeof(deep)) < 0, "strict: nesting deeper than 32 refused");
    }
    in = (ec_der_r){ (const uint8_t *)"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b", 9 };
    ok(ec_der_oid_text(&in, text, sizeof(text)) == 0 && !strcmp(text, "1.2.840.113549.1.1.11"),
       "OID decodes to dotted text (%s)", text);
    v = (ec_der_r){ (const uint8_t *)"\x00\x7f", 2 };
    ok(ec_der_uint_get(&v, &mag) < 0, "INTEGER with a redundant leading zero refused");
    v = (ec_der_r){ (const uint8_t *)"\x80", 1 };
    ok(ec_der_uint_get(&v, &mag) < 0, "negative INTEGER refused");
    v = (ec_der_r){ (const uint8_t *)"20260315000000Z", 15 };
    ok(ec_der_time_get(&v, EC_DER_GENTIME, &t) == 0 && t == 1773532800, "GeneralizedTime parsed");
    v = (ec_der_r){ (const uint8_t *)"20261315000000Z", 15 };
    ok(ec_der_time_get(&v, EC_DER_GENTIME, &t) < 0, "month 13 refused");

    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
