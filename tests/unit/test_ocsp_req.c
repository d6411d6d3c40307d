/* ec_ocsp_req: the OCSP request parser and the GET decoding (RFC 6960 4.1, A.1; RFC 9654). */
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "ec_ocsp_req.h"
#include "ec_util.h"

/* openssl ocsp -issuer ... -serial 0x1a2b3c4d5e6f -no_nonce -reqout */
static const uint8_t OPENSSL_REQ[] = {
    0x30, 0x47, 0x30, 0x45, 0x30, 0x43, 0x30, 0x41, 0x30, 0x3f, 0x30, 0x09,
    0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14, 0x39,
    0xd4, 0x2e, 0x2f, 0x01, 0x08, 0x6e, 0xfe, 0x59, 0xaa, 0x53, 0x1d, 0xb4,
    0x14, 0x60, 0x93, 0x63, 0x90, 0xc1, 0x47, 0x04, 0x14, 0x50, 0x71, 0x60,
    0x6b, 0x45, 0x8e, 0x60, 0x53, 0xef, 0x00, 0x31, 0xb2, 0xb9, 0x83, 0x3c,
    0x0c, 0x98, 0x89, 0xb0, 0xf7, 0x02, 0x06, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e,
    0x6f
};

typedef struct {
    int nids;
    int sha256;
    int version;                /* -1: absent, else the INTEGER written */
    long nonce_len;             /* -1: no nonce */
    int nonce_raw;              /* nonce octets without the inner OCTET STRING */
    int two_nonces;
    int negative_serial;
    int signature;              /* optionalSignature present */
} req_spec;

static void certid(ec_der_w *w, const req_spec *s, int i)
{
    uint8_t h[32], serial[3] = { 0x01, 0x02, (uint8_t)i };
    size_t hl = s->sha256 ? 32 : 20;

    memset(h, 0xab, sizeof(h));
    ec_der_begin(w, EC_DER_SEQUENCE);              /* Request */
    ec_der_begin(w, EC_DER_SEQUENCE);              /* CertID */
    ec_der_begin(w, EC_DER_SEQUENCE);
    ec_der_oid(w, s->sha256 ? "2.16.840.1.101.3.4.2.1" : "1.3.14.3.2.26");
    ec_der_null(w);
    ec_der_end(w);
    ec_der_tlv(w, EC_DER_OCTETSTRING, h, hl);
    ec_der_tlv(w, EC_DER_OCTETSTRING, h, hl);
    if (s->negative_serial)
        ec_der_tlv(w, EC_DER_INTEGER, (const uint8_t[]){ 0x81 }, 1);
    else
        ec_der_uint(w, serial, sizeof(serial));
    ec_der_end(w);
    ec_der_end(w);
}

static void nonce_ext(ec_der_w *w, const req_spec *s)
{
    uint8_t n[200];

    memset(n, 0x5a, sizeof(n));
    ec_der_begin(w, EC_DER_SEQUENCE);
    ec_der_oid(w, "1.3.6.1.5.5.7.48.1.2");
    ec_der_begin(w, EC_DER_OCTETSTRING);
    if (s->nonce_raw)
        ec_der_raw(w, n, (size_t)s->nonce_len);
    else
        ec_der_tlv(w, EC_DER_OCTETSTRING, n, (size_t)s->nonce_len);
    ec_der_end(w);
    ec_der_end(w);
}

static const uint8_t *build(apr_pool_t *p, const req_spec *s, size_t *len)
{
    ec_der_w w;

    ec_der_w_init(&w);
    ec_der_begin(&w, EC_DER_SEQUENCE);
    ec_der_begin(&w, EC_DER_SEQUENCE);
    if (s->version >= 0) {
        ec_der_begin(&w, EC_DER_CTX(0));
        ec_der_int(&w, (unsigned long)s->version);
        ec_der_end(&w);
    }
    ec_der_begin(&w, EC_DER_SEQUENCE);
    for (int i = 0; i < s->nids; i++)
        certid(&w, s, i);
    ec_der_end(&w);
    if (s->nonce_len >= 0) {
        ec_der_begin(&w, EC_DER_CTX(2));
        ec_der_begin(&w, EC_DER_SEQUENCE);
        nonce_ext(&w, s);
        if (s->two_nonces)
            nonce_ext(&w, s);
        ec_der_end(&w);
        ec_der_end(&w);
    }
    ec_der_end(&w);
    if (s->signature) {
        ec_der_begin(&w, EC_DER_CTX(0));
        ec_der_begin(&w, EC_DER_SEQUENCE);
        ec_der_null(&w);
        ec_der_end(&w);
        ec_der_end(&w);
    }
    ec_der_end(&w);
    return ec_der_w_take(&w, p, len);
}

static int parse(apr_pool_t *p, const req_spec *s, int max, ec_ocsp_req_t *out)
{
    size_t len;
    const uint8_t *der = build(p, s, &len);
    return der ? ec_ocsp_req_parse(p, der, len, max, out) : 99;
}

static const char *b64(apr_pool_t *p, const uint8_t *d, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = apr_palloc(p, (n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        *o++ = a[v >> 18 & 63];
        *o++ = a[v >> 12 & 63];
        *o++ = i + 1 < n ? a[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? a[v & 63] : '=';
    }
    *o = 0;
    return out;
}

static char *replace_all(apr_pool_t *p, const char *s, char from, const char *to)
{
    char *out = "";
    for (; *s; s++)
        out = *s == from ? apr_pstrcat(p, out, to, NULL) : apr_pstrcat(p, out, apr_pstrndup(p, s, 1), NULL);
    return out;
}

static int get_ok(apr_pool_t *p, const char *path, size_t want_len)
{
    const uint8_t *der;
    size_t len;
    ec_ocsp_req_t req;
    return ec_ocsp_get_request(p, path, 4096, 8, &der, &len, &req) == EC_OCSP_REQ_OK && len == want_len &&
           req.n == 1;
}

int main(void)
{
    apr_pool_t *p;
    ec_ocsp_req_t req;
    req_spec s;
    int bad_prefix = 0;
    size_t n;
    uint8_t *d;
    const char *std, *path;

    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(43);

    ok(ec_ocsp_req_parse(p, OPENSSL_REQ, sizeof(OPENSSL_REQ), 8, &req) == EC_OCSP_REQ_OK,
       "an openssl request parses");
    ok(req.n == 1 && req.ids[0].alg == EC_OCSP_HASH_SHA1 && !req.has_nonce, "one SHA-1 CertID, no nonce");
    ok(req.ids[0].serial.n == 6 && !memcmp(req.ids[0].serial.p, "\x1a\x2b\x3c\x4d\x5e\x6f", 6),
       "serial magnitude");
    ok(req.ids[0].name_hash.n == 20 && req.ids[0].name_hash.p[0] == 0x39 && req.ids[0].key_hash.p[0] == 0x50,
       "issuer name and key hashes");
    ok(req.ids[0].whole.p == OPENSSL_REQ + 8 && req.ids[0].whole.n == 65, "CertID TLV kept for echoing");

    for (size_t cut = 0; cut < sizeof(OPENSSL_REQ); cut++)
        if (ec_ocsp_req_parse(p, OPENSSL_REQ, cut, 8, &req) != EC_OCSP_REQ_MALFORMED)
            bad_prefix++;
    ok(bad_prefix == 0, "every truncation is malformed");
    {
        uint8_t more[sizeof(OPENSSL_REQ) + 1];
        memcpy(more, OPENSSL_REQ, sizeof(OPENSSL_REQ));
        more[sizeof(OPENSSL_REQ)] = 0;
        ok(ec_ocsp_req_parse(p, more, sizeof(more), 8, &req) == EC_OCSP_REQ_MALFORMED, "trailing octet refused");
        memcpy(more, OPENSSL_REQ, sizeof(OPENSSL_REQ));
        more[1] = 0x81;             /* long form for a short length: BER, not DER */
        ok(ec_ocsp_req_parse(p, more, sizeof(OPENSSL_REQ), 8, &req) == EC_OCSP_REQ_MALFORMED,
           "non-minimal length refused");
    }

    memset(&s, 0, sizeof(s));
    s.nids = 1; s.version = -1; s.nonce_len = -1; s.sha256 = 1;
    ok(parse(p, &s, 8, &req) == EC_OCSP_REQ_OK && req.ids[0].alg == EC_OCSP_HASH_SHA256 &&
       req.ids[0].name_hash.n == 32, "SHA-256 CertID (RFC 9919)");
    s.sha256 = 0; s.nids = 8;
    ok(parse(p, &s, 8, &req) == EC_OCSP_REQ_OK && req.n == 8, "8 CertIDs with a limit of 8");
    ok(req.ids[7].serial.n == 3 && req.ids[7].serial.p[2] == 7, "the 8th CertID's serial");
    s.nids = 9;
    ok(parse(p, &s, 8, &req) == EC_OCSP_REQ_TOO_MANY, "9 CertIDs with a limit of 8: too many");
    s.nids = 0;
    ok(parse(p, &s, 8, &req) == EC_OCSP_REQ_MALFORMED, "an empty requestList is malformed");
    s.nids = 1; s.version = 0;
    ok(parse(p, &s, 8, &req) == EC_OCSP_REQ_OK, "explicit version v1 accepted");
    s.version = 1;
    ok(parse(p, &s, 8, &req) == EC_OCSP_REQ_MALFORMED, "version v2 refused");
    s.version = -1; s.signature = 1;
    ok(parse(p, &s, 8, &req) == EC_OCSP_REQ_OK, "optionalSignature accepted (not required)");
    s.signature = 0; s.negative_serial = 1;
    ok(parse(p, &s, 8, &req) == EC_OCSP_REQ_MALFORMED, "negative serial refused");
    s.negative_serial = 0;

    s.nonce_len = 16;
    ok(parse(p, &s, 8, &req) == EC_OCSP_REQ_OK && req.has_nonce && req.nonce_ok, "16-octet nonce");
    ok(req.nonce_value.n == 18 && req.nonce_value.p[0] == 0x04 && req.nonce_value.p[1] == 16,
       "nonce extnValue kept whole for echoing");
    s.nonce_len = 1;
    ok(parse(p, &s, 8, &req) == EC_OCSP_REQ_OK && req.nonce_ok, "1-octet nonce is valid");
    s.nonce_len = 128;
    ok(parse(p, &s, 8, &req) == EC_OCSP_REQ_OK && req.nonce_ok, "128-octet nonce is valid (RFC 9654)");
    s.nonce_len = 129;
    ok(parse(p, &s, 8, &req) == EC_OCSP_REQ_OK && req.has_nonce && !req.nonce_ok, "129-octet nonce is not");
    s.nonce_len = 0;
    ok(parse(p, &s, 8, &req) == EC_OCSP_REQ_OK && req.has_nonce && !req.nonce_ok, "empty nonce is not");
    s.nonce_len = 16; s.nonce_raw = 1;
    ok(parse(p, &s, 8, &req) == EC_OCSP_REQ_OK && req.has_nonce && !req.nonce_ok,
       "nonce without its inner OCTET STRING is not valid");
    s.nonce_raw = 0; s.two_nonces = 1;
    ok(parse(p, &s, 8, &req) == EC_OCSP_REQ_MALFORMED, "two nonces are malformed");

    std = b64(p, OPENSSL_REQ, sizeof(OPENSSL_REQ));
    d = ec_ocsp_b64_decode(p, std, strlen(std), 4096, &n);
    ok(d && n == sizeof(OPENSSL_REQ) && !memcmp(d, OPENSSL_REQ, n), "standard base64");
    d = ec_ocsp_b64_decode(p, "TWFu", 4, 4096, &n);
    ok(d && n == 3 && !memcmp(d, "Man", 3), "TWFu is Man");
    d = ec_ocsp_b64_decode(p, "TWE", 3, 4096, &n);
    ok(d && n == 2 && !memcmp(d, "Ma", 2), "missing padding");
    d = ec_ocsp_b64_decode(p, "TWE%3D", 6, 4096, &n);
    ok(d && n == 2, "percent-encoded padding");
    ok(!ec_ocsp_b64_decode(p, "TWFuT", 5, 4096, &n), "a lone last character is not base64");
    ok(!ec_ocsp_b64_decode(p, "TW=Fu", 5, 4096, &n), "data after padding refused");
    ok(!ec_ocsp_b64_decode(p, "TW%zzFu", 7, 4096, &n), "bad percent escape refused");
    ok(!ec_ocsp_b64_decode(p, "TW*u", 4, 4096, &n), "characters outside both alphabets refused");
    ok(!ec_ocsp_b64_decode(p, "TWFuTWFu", 8, 5, &n), "longer than the limit refused");

    path = ec_ocsp_request_path(p, "GET /ocsp/TWFu?x=1 HTTP/1.1");
    ok(path && !strcmp(path, "/ocsp/TWFu"), "path without the query");
    path = ec_ocsp_request_path(p, "GET http://ocsp.example:80/ocsp//a%2Fb HTTP/1.1");
    ok(path && !strcmp(path, "/ocsp//a%2Fb"), "absolute form: authority dropped, the rest raw");
    ok(ec_ocsp_request_path(p, "OPTIONS * HTTP/1.1") == NULL, "no path in an asterisk form");

    ok(get_ok(p, apr_pstrcat(p, "/ocsp/", std, NULL), sizeof(OPENSSL_REQ)), "GET: plain base64 with '/' and '+'");
    ok(get_ok(p, apr_pstrcat(p, "/ocsp/", replace_all(p, replace_all(p, replace_all(p, std, '/', "%2F"), '+', "%2B"),
                                                     '=', "%3D"), NULL), sizeof(OPENSSL_REQ)),
       "GET: %%2F, %%2B, %%3D");
    ok(get_ok(p, apr_pstrcat(p, "/ocsp//", std, NULL), sizeof(OPENSSL_REQ)), "GET: merged '//' before the request");
    {
        char *url = apr_pstrdup(p, std);
        for (char *c = url; *c; c++)
            *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
        *strchr(url, '=') = 0;
        ok(get_ok(p, apr_pstrcat(p, "/ocsp/", url, NULL), sizeof(OPENSSL_REQ)), "GET: base64url, no padding");
    }
    ok(get_ok(p, apr_pstrcat(p, "/MyOCSP/Mx/", std, NULL), sizeof(OPENSSL_REQ)),
       "GET: prefix segments starting with M are skipped");
    {
        const uint8_t *der;
        ec_ocsp_req_t r2;
        ok(ec_ocsp_get_request(p, "/ocsp/", 4096, 8, &der, &n, &r2) == EC_OCSP_REQ_MALFORMED,
           "GET without a request is malformed");
    }
    return done_testing();
}
