#include <stddef.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "ec_mpic_wire.h"
#include "ec_util.h"

#define MAC_HEX 64

static const char *const FIRST[] = { "ecert-mpic/1 request", "ecert-mpic/1 answer" };
static const char *const CHECKS[] = { "web", "txt", "caa", "health", NULL };
static const char *const RESULTS[] = { "pass", "fail", "permit", "forbid", "failed", "ok", NULL };

static void put(apr_array_header_t *b, const char *k, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!v || !*v)
        return;              /* an empty value is no value */
    for (; *k; k++)
        APR_ARRAY_PUSH(b, char) = *k;
    APR_ARRAY_PUSH(b, char) = '=';
    for (const unsigned char *s = (const unsigned char *)v; *s; s++) {
        if (*s > 0x20 && *s < 0x7f && *s != '%')
            APR_ARRAY_PUSH(b, char) = (char)*s;
        else {
            APR_ARRAY_PUSH(b, char) = '%';
            APR_ARRAY_PUSH(b, char) = hex[*s >> 4];
            APR_ARRAY_PUSH(b, char) = hex[*s & 15];
        }
    }
    APR_ARRAY_PUSH(b, char) = '\n';
}

static void mac(const uint8_t key[EC_MPIC_KEY_LEN], const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, EC_MPIC_KEY_LEN, data, len, out, &n);
}

char *ec_mpic_encode(apr_pool_t *p, const ec_mpic_msg_t *m, const uint8_t key[EC_MPIC_KEY_LEN], apr_size_t *len)
{
    apr_array_header_t *b = apr_array_make(p, 512, 1);
    uint8_t h[32];

    for (const char *s = FIRST[m->dir]; *s; s++)
        APR_ARRAY_PUSH(b, char) = *s;
    APR_ARRAY_PUSH(b, char) = '\n';
    if (m->dir == EC_MPIC_REQUEST)
        put(b, "client", m->client);
    put(b, "perspective", m->perspective);
    put(b, "nonce", m->nonce);
    put(b, "time", apr_psprintf(p, "%" APR_INT64_T_FMT, m->time));
    put(b, "check", m->check);
    put(b, "name", m->name);
    if (m->dir == EC_MPIC_REQUEST) {
        put(b, "code", m->code);
        put(b, "method", m->method);
        for (int i = 0; m->issuers && i < m->issuers->nelts; i++)
            put(b, "issuer", APR_ARRAY_IDX(m->issuers, i, const char *));
    }
    else {
        put(b, "result", m->result);
        put(b, "reason", m->reason);
        put(b, "detail", m->detail);
        put(b, "evidence", m->evidence);
    }
    mac(key, b->elts, (size_t)b->nelts, h);
    put(b, "mac", ec_hex(p, h, 32));
    *len = (apr_size_t)b->nelts;
    APR_ARRAY_PUSH(b, char) = '\0';
    return b->elts;
}

static int xdigit(char c)
{
    return apr_isdigit(c) ? c - '0' : apr_isxdigit(c) ? apr_toupper(c) - 'A' + 10 : -1;
}

/* The value of one line, decoded; NULL when an escape is malformed or decodes to NUL. */
static const char *unescape(apr_pool_t *p, const char *s, size_t len)
{
    char *out = apr_palloc(p, len + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return NULL;
            hi = xdigit(s[i + 1]);
            lo = xdigit(s[i + 2]);
            if (hi < 0 || lo < 0 || !(hi | lo))
                return NULL;
            *o++ = (char)(hi << 4 | lo);
            i += 2;
        }
        else if (c > 0x20 && c < 0x7f)
            *o++ = (char)c;
        else
            return NULL;
    }
    *o = '\0';
    return out;
}

static int one_of(const char *v, const char *const *set)
{
    for (int i = 0; set[i]; i++)
        if (!strcmp(v, set[i]))
            return 1;
    return 0;
}

static int hex_of(const char *v, size_t n)
{
    if (strlen(v) != n)
        return 0;
    for (; *v; v++)
        if (!apr_isxdigit(*v) || apr_isupper(*v))
            return 0;
    return 1;
}

/* Letters, digits, hyphens, underscores and dots, with "*." in front for a wildcard. */
static int dns_name(const char *v)
{
    if (!strncmp(v, "*.", 2))
        v += 2;
    if (!*v)
        return 0;
    for (; *v; v++)
        if (!apr_isalnum(*v) && *v != '-' && *v != '_' && *v != '.')
            return 0;
    return 1;
}

typedef struct {
    const char *key;
    size_t max;                      /* decoded length */
    size_t off;                      /* offset of the const char * in ec_mpic_msg_t; 0: special */
    int dirs;                        /* 1 request, 2 answer */
} field_t;

#define F(k, max, member, dirs) { k, max, offsetof(ec_mpic_msg_t, member), dirs }
static const field_t FIELDS[] = {
    F("client", 32, client, 1),
    F("perspective", 32, perspective, 3),
    F("nonce", EC_MPIC_NONCE_HEX, nonce, 3),
    F("check", 8, check, 3),
    F("name", 255, name, 3),
    F("code", 128, code, 1),
    F("method", 64, method, 1),
    F("result", 8, result, 2),
    F("reason", 32, reason, 2),
    F("detail", 2000, detail, 2),
    F("evidence", 32768, evidence, 2),
    { "time", 20, 0, 3 },
    { "issuer", 253, 0, 1 },
    { NULL, 0, 0, 0 },
};

apr_status_t ec_mpic_decode(apr_pool_t *p, const char *buf, apr_size_t len, ec_mpic_dir_t dir,
                            ec_mpic_key_fn *key, void *baton, ec_mpic_msg_t *m, const char **why)
{
    const char *end = buf + len, *line, *macv = NULL, *from, *timev = NULL;
    const uint8_t *k;
    size_t flen = strlen(FIRST[dir]);
    apr_uint32_t seen = 0;
    uint8_t want[32], *got;
    size_t glen = 0;
    char *tend;

    memset(m, 0, sizeof(*m));
    m->dir = dir;
    m->issuers = apr_array_make(p, 2, sizeof(const char *));
    if (len > EC_MPIC_MAX_MSG) {
        *why = "the message is too long";
        return APR_EINVAL;
    }
    if (len < flen + 1 || memcmp(buf, FIRST[dir], flen) || buf[flen] != '\n') {
        *why = apr_psprintf(p, "the message does not begin with '%s'", FIRST[dir]);
        return APR_EINVAL;
    }
    for (line = buf + flen + 1; line < end; ) {
        const char *nl = memchr(line, '\n', (size_t)(end - line)), *eq;
        const field_t *f;
        const char *v;
        if (macv) {
            *why = "there is something after the mac line";
            return APR_EINVAL;
        }
        if (!nl) {
            *why = "the last line is not ended";
            return APR_EINVAL;
        }
        eq = memchr(line, '=', (size_t)(nl - line));
        if (!eq) {
            *why = "a line is not key=value";
            return APR_EINVAL;
        }
        if ((size_t)(eq - line) == 3 && !memcmp(line, "mac", 3)) {
            macv = apr_pstrmemdup(p, eq + 1, (apr_size_t)(nl - eq - 1));
            line = nl + 1;
            if (!hex_of(macv, MAC_HEX)) {
                *why = "the mac is not 64 lower-case hex digits";
                return APR_EINVAL;
            }
            len = (apr_size_t)(eq - 3 - buf);     /* the MAC covers what is before this line */
            continue;
        }
        for (f = FIELDS; f->key; f++)
            if (strlen(f->key) == (size_t)(eq - line) && !memcmp(line, f->key, (size_t)(eq - line)))
                break;
        if (!f->key || !(f->dirs & (dir == EC_MPIC_REQUEST ? 1 : 2))) {
            *why = "a line has a key this direction does not use";
            return APR_EINVAL;
        }
        if (!(v = unescape(p, eq + 1, (size_t)(nl - eq - 1))) || !*v || strlen(v) > f->max) {
            *why = apr_psprintf(p, "the %s is malformed, empty or too long", f->key);
            return APR_EINVAL;
        }
        if (!strcmp(f->key, "issuer")) {
            if (m->issuers->nelts >= EC_MPIC_MAX_ISSUERS) {
                *why = "there are too many issuers";
                return APR_EINVAL;
            }
            APR_ARRAY_PUSH(m->issuers, const char *) = v;
        }
        else {
            apr_uint32_t bit = 1u << (f - FIELDS);
            if (seen & bit) {
                *why = apr_psprintf(p, "the %s is given twice", f->key);
                return APR_EINVAL;
            }
            seen |= bit;
            if (f->off)
                *(const char **)((char *)m + f->off) = v;
            else
                timev = v;
        }
        line = nl + 1;
    }
    if (!macv) {
        *why = "the message has no mac";
        return APR_EINVAL;
    }
    if (!m->perspective || !m->nonce || !timev || !m->check || (dir == EC_MPIC_REQUEST ? !m->client : !m->result)) {
        *why = "a required field is missing";
        return APR_EINVAL;
    }
    m->time = apr_strtoi64(timev, &tend, 10);
    if (*tend || !apr_isdigit(*timev) || m->time <= 0) {
        *why = "the time is not a number of seconds";
        return APR_EINVAL;
    }
    if (!hex_of(m->nonce, EC_MPIC_NONCE_HEX) || !one_of(m->check, CHECKS) ||
        (m->result && !one_of(m->result, RESULTS))) {
        *why = "the nonce, check or result is not one this protocol has";
        return APR_EINVAL;
    }
    if (dir == EC_MPIC_REQUEST && strcmp(m->check, "health") &&
        (!m->name || (strcmp(m->check, "caa") ? !m->code : !m->issuers->nelts))) {
        *why = "the check lacks its name, code or issuers";
        return APR_EINVAL;
    }
    if (m->name && !dns_name(m->name)) {
        *why = "the name is not a DNS name";
        return APR_EINVAL;
    }
    from = dir == EC_MPIC_REQUEST ? m->client : m->perspective;
    if (!(k = key(baton, from))) {
        *why = dir == EC_MPIC_REQUEST ? "the client is not one this perspective serves"
                                      : "the answer is from a perspective not asked";
        return APR_EACCES;
    }
    mac(k, buf, len, want);
    got = ec_unhex(p, macv, &glen);
    if (!got || glen != 32 || CRYPTO_memcmp(want, got, 32)) {
        *why = "the mac is wrong";
        return APR_EACCES;
    }
    return APR_SUCCESS;
}

const char *ec_mpic_nonce(apr_pool_t *p)
{
    uint8_t n[EC_MPIC_NONCE_HEX / 2];
    if (ec_random(n, sizeof(n)) != APR_SUCCESS)
        return NULL;
    return ec_hex(p, n, sizeof(n));
}
