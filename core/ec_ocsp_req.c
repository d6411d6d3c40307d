#include <string.h>
#include <apr_strings.h>
#include "ec_ocsp_req.h"

/* Object identifiers as their DER contents. */
static const uint8_t OID_SHA1[] = { 0x2b, 0x0e, 0x03, 0x02, 0x1a };
static const uint8_t OID_SHA256[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 };
static const uint8_t OID_NONCE[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02 };

static int oid_is(const ec_der_r *oid, const uint8_t *want, size_t n)
{
    return oid->n == n && !memcmp(oid->p, want, n);
}

/* AlgorithmIdentifier: OID with absent or NULL parameters. */
static int parse_hash_alg(ec_der_r *in, int *alg)
{
    ec_der_r seq, oid, params;

    if (ec_der_get(in, EC_DER_SEQUENCE, &seq, NULL, NULL) < 0 ||
        ec_der_get(&seq, EC_DER_OID, &oid, NULL, NULL) < 0)
        return -1;
    if (seq.n) {
        if (ec_der_get(&seq, EC_DER_NULL, &params, NULL, NULL) < 0 || params.n || seq.n)
            return -1;
    }
    *alg = oid_is(&oid, OID_SHA1, sizeof(OID_SHA1)) ? EC_OCSP_HASH_SHA1
         : oid_is(&oid, OID_SHA256, sizeof(OID_SHA256)) ? EC_OCSP_HASH_SHA256
         : EC_OCSP_HASH_OTHER;
    return 0;
}

static int parse_certid(ec_der_r *in, ec_ocsp_certid_t *id)
{
    ec_der_r seq, serial;

    if (ec_der_get(in, EC_DER_SEQUENCE, &seq, &id->whole, NULL) < 0 ||
        parse_hash_alg(&seq, &id->alg) < 0 ||
        ec_der_get(&seq, EC_DER_OCTETSTRING, &id->name_hash, NULL, NULL) < 0 ||
        ec_der_get(&seq, EC_DER_OCTETSTRING, &id->key_hash, NULL, NULL) < 0 ||
        ec_der_get(&seq, EC_DER_INTEGER, &serial, NULL, NULL) < 0 || seq.n ||
        ec_der_uint_get(&serial, &id->serial) < 0)
        return -1;
    return 0;
}

/* Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension; only the nonce is looked at. */
static int parse_extensions(ec_der_r *in, ec_ocsp_req_t *out)
{
    ec_der_r list;

    if (ec_der_get(in, EC_DER_SEQUENCE, &list, NULL, NULL) < 0 || !list.n || in->n)
        return -1;
    while (list.n) {
        ec_der_r ext, oid, crit, value, inner, rest;
        if (ec_der_get(&list, EC_DER_SEQUENCE, &ext, NULL, NULL) < 0 ||
            ec_der_get(&ext, EC_DER_OID, &oid, NULL, NULL) < 0)
            return -1;
        if (ec_der_peek(&ext) == EC_DER_BOOLEAN &&
            (ec_der_get(&ext, EC_DER_BOOLEAN, &crit, NULL, NULL) < 0 || crit.n != 1))
            return -1;
        if (ec_der_get(&ext, EC_DER_OCTETSTRING, &value, NULL, NULL) < 0 || ext.n)
            return -1;
        if (!oid_is(&oid, OID_NONCE, sizeof(OID_NONCE)))
            continue;
        if (out->has_nonce)
            return -1;              /* two nonces: which one would we echo? */
        out->has_nonce = 1;
        out->nonce_value = value;
        rest = value;
        out->nonce_ok = ec_der_get(&rest, EC_DER_OCTETSTRING, &inner, NULL, NULL) == 0 &&
                        !rest.n && inner.n >= 1 && inner.n <= EC_OCSP_NONCE_MAX;
    }
    return 0;
}

int ec_ocsp_req_parse(apr_pool_t *p, const uint8_t *der, size_t len, int max_ids, ec_ocsp_req_t *out)
{
    ec_der_r in = { der, len }, req, tbs, list, x;
    int count = 0;

    memset(out, 0, sizeof(*out));
    if (ec_der_get(&in, EC_DER_SEQUENCE, &req, NULL, NULL) < 0 || in.n ||
        ec_der_get(&req, EC_DER_SEQUENCE, &tbs, NULL, NULL) < 0)
        return EC_OCSP_REQ_MALFORMED;
    /* optionalSignature: accepted, not required, not checked (RFC 6960 4.1.2). */
    if (req.n && (ec_der_get(&req, EC_DER_CTX(0), NULL, NULL, NULL) < 0 || req.n))
        return EC_OCSP_REQ_MALFORMED;

    /* version [0] EXPLICIT DEFAULT v1: some clients spell the default out. */
    if (ec_der_peek(&tbs) == EC_DER_CTX(0)) {
        ec_der_r v, vi;
        if (ec_der_get(&tbs, EC_DER_CTX(0), &v, NULL, NULL) < 0 ||
            ec_der_get(&v, EC_DER_INTEGER, &vi, NULL, NULL) < 0 || v.n ||
            vi.n != 1 || vi.p[0] != 0)
            return EC_OCSP_REQ_MALFORMED;
    }
    if (ec_der_peek(&tbs) == EC_DER_CTX(1) && ec_der_get(&tbs, EC_DER_CTX(1), NULL, NULL, NULL) < 0)
        return EC_OCSP_REQ_MALFORMED;
    if (ec_der_get(&tbs, EC_DER_SEQUENCE, &list, NULL, NULL) < 0 || !list.n)
        return EC_OCSP_REQ_MALFORMED;

    /* Count first so the array is sized exactly and a huge list costs nothing. */
    for (x = list; x.n; count++)
        if (ec_der_get(&x, EC_DER_SEQUENCE, NULL, NULL, NULL) < 0)
            return EC_OCSP_REQ_MALFORMED;
    if (count > max_ids)
        return EC_OCSP_REQ_TOO_MANY;
    out->ids = apr_pcalloc(p, sizeof(*out->ids) * (size_t)count);
    for (int i = 0; i < count; i++) {
        ec_der_r one;
        ec_der_get(&list, EC_DER_SEQUENCE, &one, NULL, NULL);
        if (parse_certid(&one, &out->ids[i]) < 0)
            return EC_OCSP_REQ_MALFORMED;
        /* singleRequestExtensions [0]: none is defined that we act on. */
        if (one.n && (ec_der_get(&one, EC_DER_CTX(0), NULL, NULL, NULL) < 0 || one.n))
            return EC_OCSP_REQ_MALFORMED;
    }
    out->n = count;

    if (ec_der_peek(&tbs) == EC_DER_CTX(2)) {
        ec_der_r exts;
        if (ec_der_get(&tbs, EC_DER_CTX(2), &exts, NULL, NULL) < 0 || parse_extensions(&exts, out) < 0)
            return EC_OCSP_REQ_MALFORMED;
    }
    return tbs.n ? EC_OCSP_REQ_MALFORMED : EC_OCSP_REQ_OK;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-' || c == ' ')   /* ' ': a '+' that was form-decoded */
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

uint8_t *ec_ocsp_b64_decode(apr_pool_t *p, const char *text, size_t text_len, size_t max, size_t *len)
{
    uint8_t *out;
    size_t n = 0, pad = 0;
    unsigned acc = 0;
    int bits = 0;

    /* Every output octet needs 4/3 characters, a %XX escape three times that. */
    if (text_len > (max + 2) / 3 * 4 * 3 + 8)
        return NULL;
    out = apr_palloc(p, max + 3);
    for (size_t i = 0; i < text_len; i++) {
        int c = (unsigned char)text[i], v;
        if (c == '%') {
            int hi = i + 2 < text_len ? hexval((unsigned char)text[i + 1]) : -1;
            int lo = hi >= 0 ? hexval((unsigned char)text[i + 2]) : -1;
            if (lo < 0)
                return NULL;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad || (v = b64val(c)) < 0)
            return NULL;            /* data after padding, or not base64 */
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n > max)
                return NULL;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    /* 2 or 3 characters in the last group leave 4 or 2 bits over; 1 character is not base64. */
    if (bits >= 6 || pad > 2 || n > max || n == 0)
        return NULL;
    *len = n;
    return out;
}

const char *ec_ocsp_request_path(apr_pool_t *p, const char *line)
{
    const char *t = line ? strchr(line, ' ') : NULL, *end, *q;

    if (!t)
        return NULL;
    while (*t == ' ')
        t++;
    end = strchr(t, ' ');
    if (!end)
        end = t + strlen(t);
    /* absolute-form: scheme "://" authority path */
    q = t;
    while (q < end && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                       (q > t && ((*q >= '0' && *q <= '9') || *q == '+' || *q == '-' || *q == '.'))))
        q++;
    if (q > t && end - q >= 3 && !memcmp(q, "://", 3)) {
        t = q + 3;
        while (t < end && *t != '/')
            t++;
    }
    for (q = t; q < end && *q != '?' && *q != '#'; q++)
        ;
    if (q == t || *t != '/')
        return NULL;
    return apr_pstrmemdup(p, t, (apr_size_t)(q - t));
}

int ec_ocsp_get_request(apr_pool_t *p, const char *raw_path, size_t max, int max_ids,
                        const uint8_t **der, size_t *len, ec_ocsp_req_t *out)
{
    int result = EC_OCSP_REQ_MALFORMED;

    for (const char *s = raw_path; s && *s; s++) {
        const char *start;
        uint8_t *d;
        size_t n;
        int rc;

        if (*s != '/')
            continue;
        while (s[1] == '/')
            s++;
        start = s + 1;
        /* DER of a SEQUENCE always starts 'M' in base64 (0x30 -> 001100..); %4D is 'M' too. */
        if (*start != 'M' && strncasecmp(start, "%4d", 3))
            continue;
        if (!(d = ec_ocsp_b64_decode(p, start, strlen(start), max, &n)))
            continue;
        rc = ec_ocsp_req_parse(p, d, n, max_ids, out);
        if (rc == EC_OCSP_REQ_OK) {
            *der = d;
            *len = n;
            return rc;
        }
        if (rc == EC_OCSP_REQ_TOO_MANY)
            result = rc;
    }
    return result;
}
