#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <apr_strings.h>
#include "ec_der.h"

void ec_der_w_init(ec_der_w *w)
{
    memset(w, 0, sizeof(*w));
}

void ec_der_w_free(ec_der_w *w)
{
    free(w->buf);
    memset(w, 0, sizeof(*w));
}

static int reserve(ec_der_w *w, size_t more)
{
    size_t cap;
    uint8_t *nb;

    if (w->failed)
        return -1;
    if (w->len + more <= w->cap)
        return 0;
    cap = w->cap ? w->cap * 2 : 512;
    while (cap < w->len + more)
        cap *= 2;
    nb = realloc(w->buf, cap);
    if (!nb) {
        w->failed = 1;
        return -1;
    }
    w->buf = nb;
    w->cap = cap;
    return 0;
}

const uint8_t *ec_der_w_take(ec_der_w *w, apr_pool_t *pool, size_t *len)
{
    uint8_t *out = NULL;

    if (!w->failed && w->depth == 0) {
        out = apr_pmemdup(pool, w->buf ? w->buf : (uint8_t *)"", w->len);
        *len = w->len;
    }
    ec_der_w_free(w);
    return out;
}

void ec_der_raw(ec_der_w *w, const void *data, size_t len)
{
    if (reserve(w, len) < 0)
        return;
    if (len)
        memcpy(w->buf + w->len, data, len);
    w->len += len;
}

void ec_der_begin(ec_der_w *w, uint8_t tag)
{
    if (w->depth >= EC_DER_MAX_DEPTH) {
        w->failed = 1;
        return;
    }
    /* Tag now; the length octets are inserted by ec_der_end once the size is known. */
    ec_der_raw(w, &tag, 1);
    w->open[w->depth++] = w->len;
}

static size_t len_octets(size_t n)
{
    size_t k = 1;
    if (n < 0x80)
        return 1;
    while (n) {
        k++;
        n >>= 8;
    }
    return k;
}

static void put_len(uint8_t *p, size_t n, size_t k)
{
    size_t i;
    if (k == 1) {
        p[0] = (uint8_t)n;
        return;
    }
    p[0] = (uint8_t)(0x80 | (k - 1));
    for (i = k - 1; i >= 1; i--) {
        p[i] = (uint8_t)(n & 0xff);
        n >>= 8;
    }
}

void ec_der_end(ec_der_w *w)
{
    size_t start, n, k;

    if (w->failed)
        return;
    if (w->depth == 0) {
        w->failed = 1;
        return;
    }
    start = w->open[--w->depth];
    n = w->len - start;
    k = len_octets(n);
    if (reserve(w, k) < 0)
        return;
    memmove(w->buf + start + k, w->buf + start, n);
    put_len(w->buf + start, n, k);
    w->len += k;
}

void ec_der_tlv(ec_der_w *w, uint8_t tag, const void *data, size_t len)
{
    uint8_t hdr[10];
    size_t k = len_octets(len);

    hdr[0] = tag;
    put_len(hdr + 1, len, k);
    ec_der_raw(w, hdr, 1 + k);
    ec_der_raw(w, data, len);
}

void ec_der_uint(ec_der_w *w, const uint8_t *mag, size_t len)
{
    static const uint8_t zero = 0;

    while (len > 1 && mag[0] == 0) {
        mag++;
        len--;
    }
    if (len == 0) {
        ec_der_tlv(w, EC_DER_INTEGER, &zero, 1);
        return;
    }
    ec_der_begin(w, EC_DER_INTEGER);
    if (mag[0] & 0x80)
        ec_der_raw(w, &zero, 1);
    ec_der_raw(w, mag, len);
    ec_der_end(w);
}

void ec_der_int(ec_der_w *w, unsigned long value)
{
    uint8_t b[sizeof(value)];

    for (size_t i = 0; i < sizeof(b); i++)
        b[sizeof(b) - 1 - i] = (uint8_t)(value >> (8 * i));
    ec_der_uint(w, b, sizeof(b));
}

void ec_der_bool(ec_der_w *w, int value)
{
    uint8_t v = value ? 0xff : 0x00;
    ec_der_tlv(w, EC_DER_BOOLEAN, &v, 1);
}

void ec_der_null(ec_der_w *w)
{
    ec_der_tlv(w, EC_DER_NULL, NULL, 0);
}

static size_t put_base128(uint8_t *out, unsigned long long v)
{
    uint8_t tmp[10];
    size_t n = 0, i;

    do {
        tmp[n++] = (uint8_t)(v & 0x7f);
        v >>= 7;
    } while (v);
    for (i = 0; i < n; i++)
        out[i] = (uint8_t)(tmp[n - 1 - i] | (i + 1 < n ? 0x80 : 0));
    return n;
}

void ec_der_oid(ec_der_w *w, const char *dotted)
{
    uint8_t out[128];
    size_t n = 0;
    unsigned long long arcs[40];
    int count = 0;
    const char *p = dotted;
    char *end;

    while (*p && count < 40) {
        if (*p < '0' || *p > '9')
            goto bad;
        arcs[count++] = strtoull(p, &end, 10);
        p = end;
        if (*p == '.')
            p++;
        else if (*p)
            goto bad;
    }
    if (count < 2 || *p || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39))
        goto bad;
    n += put_base128(out, arcs[0] * 40 + arcs[1]);
    for (int i = 2; i < count; i++) {
        if (n + 10 > sizeof(out))
            goto bad;
        n += put_base128(out + n, arcs[i]);
    }
    ec_der_tlv(w, EC_DER_OID, out, n);
    return;
bad:
    w->failed = 1;
}

void ec_der_string(ec_der_w *w, uint8_t tag, const char *s)
{
    ec_der_tlv(w, tag, s, strlen(s));
}

void ec_der_bitstring(ec_der_w *w, const uint8_t *data, size_t len)
{
    static const uint8_t unused = 0;
    ec_der_begin(w, EC_DER_BITSTRING);
    ec_der_raw(w, &unused, 1);
    ec_der_raw(w, data, len);
    ec_der_end(w);
}

static void put_time(ec_der_w *w, time_t t, int gen)
{
    struct tm tm;
    char buf[80];

    gmtime_r(&t, &tm);
    if (gen)
        snprintf(buf, sizeof(buf), "%04d%02d%02d%02d%02d%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    else
        snprintf(buf, sizeof(buf), "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    ec_der_string(w, gen ? EC_DER_GENTIME : EC_DER_UTCTIME, buf);
}

void ec_der_time(ec_der_w *w, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    put_time(w, t, tm.tm_year + 1900 >= 2050);
}

void ec_der_gentime(ec_der_w *w, time_t t)
{
    put_time(w, t, 1);
}

/* ---- reader ---- */

int ec_der_peek(const ec_der_r *in)
{
    return in->n ? in->p[0] : -1;
}

#define STRICT_DEPTH 32

static int strict_all(ec_der_r in, int depth)
{
    while (in.n) {
        ec_der_r val;
        int tag;
        if (ec_der_get(&in, -1, &val, NULL, &tag) < 0)       /* moves in past the TLV */
            return -1;
        if (tag & 0x20) {
            if (!(tag & 0xc0) && tag != 0x30 && tag != 0x31)
                return -1;       /* a constructed string: BER only */
            if (depth >= STRICT_DEPTH || strict_all(val, depth + 1) < 0)
                return -1;
        }
    }
    return 0;
}

int ec_der_strict(const uint8_t *buf, size_t n)
{
    ec_der_r in = { buf, n }, copy = in, val;

    if (ec_der_get(&copy, -1, &val, NULL, NULL) < 0 || copy.n)
        return -1;
    return strict_all(in, 0);
}

int ec_der_get(ec_der_r *in, int tag, ec_der_r *val, ec_der_r *whole, int *got_tag)
{
    const uint8_t *p = in->p;
    size_t n = in->n, len, hdr;

    if (n < 2)
        return -1;
    if ((p[0] & 0x1f) == 0x1f)      /* multi-byte tags: never used here */
        return -1;
    if (tag >= 0 && p[0] != tag)
        return -1;
    if (p[1] < 0x80) {
        len = p[1];
        hdr = 2;
    }
    else {
        size_t k = p[1] & 0x7f, i;
        if (k == 0 || k > sizeof(size_t) || n < 2 + k || p[2] == 0)
            return -1;           /* indefinite, oversized or non-minimal */
        len = 0;
        for (i = 0; i < k; i++)
            len = (len << 8) | p[2 + i];
        if (len < 0x80)
            return -1;           /* long form for a short length: not DER */
        hdr = 2 + k;
    }
    if (len > n - hdr)
        return -1;
    if (got_tag)
        *got_tag = p[0];
    if (val) {
        val->p = p + hdr;
        val->n = len;
    }
    if (whole) {
        whole->p = p;
        whole->n = hdr + len;
    }
    in->p = p + hdr + len;
    in->n = n - hdr - len;
    return 0;
}

int ec_der_oid_text(const ec_der_r *oid, char *buf, size_t size)
{
    size_t i, off = 0;
    unsigned long long v = 0;
    int first = 1, started = 0;

    if (oid->n == 0 || size == 0)
        return -1;
    for (i = 0; i < oid->n; i++) {
        uint8_t b = oid->p[i];
        if (!started && b == 0x80)
            return -1;           /* non-minimal arc */
        started = 1;
        if (v > (~0ULL >> 8))
            return -1;
        v = (v << 7) | (b & 0x7f);
        if (b & 0x80)
            continue;
        int k;
        if (first) {
            unsigned long long a = v < 80 ? v / 40 : 2;
            k = snprintf(buf + off, size - off, "%llu.%llu", a, v - a * 40);
            first = 0;
        }
        else
            k = snprintf(buf + off, size - off, ".%llu", v);
        if (k < 0 || (size_t)k >= size - off)
            return -1;
        off += (size_t)k;
        v = 0;
        started = 0;
    }
    return started ? -1 : 0;     /* last octet must end an arc */
}

int ec_der_uint_get(const ec_der_r *val, ec_der_r *mag)
{
    if (val->n == 0 || (val->p[0] & 0x80))
        return -1;               /* empty or negative */
    if (val->n > 1 && val->p[0] == 0 && !(val->p[1] & 0x80))
        return -1;               /* redundant leading zero */
    mag->p = val->p;
    mag->n = val->n;
    if (mag->n > 1 && mag->p[0] == 0) {
        mag->p++;
        mag->n--;
    }
    return 0;
}

static int digits(const uint8_t *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

int ec_der_time_get(const ec_der_r *val, int tag, time_t *t)
{
    struct tm tm;
    const uint8_t *p = val->p;
    int year;

    memset(&tm, 0, sizeof(tm));
    if (tag == EC_DER_UTCTIME && val->n == 13 && p[12] == 'Z') {
        year = digits(p, 2);
        if (year < 0)
            return -1;
        year += year < 50 ? 2000 : 1900;
        p += 2;
    }
    else if (tag == EC_DER_GENTIME && val->n == 15 && p[14] == 'Z') {
        year = digits(p, 4);
        if (year < 0)
            return -1;
        p += 4;
    }
    else
        return -1;
    tm.tm_year = year - 1900;
    tm.tm_mon = digits(p, 2) - 1;
    tm.tm_mday = digits(p + 2, 2);
    tm.tm_hour = digits(p + 4, 2);
    tm.tm_min = digits(p + 6, 2);
    tm.tm_sec = digits(p + 8, 2);
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 ||
        tm.tm_sec < 0 || tm.tm_sec > 59)
        return -1;
    *t = timegm(&tm);
    return 0;
}
