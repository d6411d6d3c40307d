#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <apr_strings.h>
#include <libgfshare.h>
#include "ec_shares.h"
#include "ec_util.h"

static void fill_random(unsigned char *buf, unsigned int len)
{
    /* libgfshare draws the polynomial's coefficients here: they must be unpredictable,
     * or one share would tell the secret. Better no shares than weak ones. */
    if (ec_random(buf, len) != APR_SUCCESS)
        abort();
}

/* libgfshare's default is NULL, and it scrubs freed contexts with this too (decoding ones
 * included). */
static void use_csprng(void)
{
    gfshare_fill_rand = fill_random;
}

static void share_check(const ec_share_t *s, uint8_t out[4])
{
    uint8_t buf[1 + sizeof(s->ceremony) + sizeof(s->data)], md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;

    buf[0] = (uint8_t)s->number;
    memcpy(buf + 1, s->ceremony, sizeof(s->ceremony));
    memcpy(buf + 1 + sizeof(s->ceremony), s->data, sizeof(s->data));
    EVP_Digest(buf, sizeof(buf), md, &mdlen, EVP_sha256(), NULL);
    memcpy(out, md, 4);
}

static void hex_upper(char *out, const uint8_t *data, size_t len)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * len] = 0;
}

char *ec_share_format(apr_pool_t *p, const ec_share_t *s)
{
    char cer[9], data[2 * EC_SHARES_SECRET + 1], chk[9];
    uint8_t check[4];
    char *out, *o;

    share_check(s, check);
    hex_upper(cer, s->ceremony, 4);
    hex_upper(data, s->data, EC_SHARES_SECRET);
    hex_upper(chk, check, 4);
    out = o = apr_palloc(p, 64 + 3 * EC_SHARES_SECRET);
    o += sprintf(o, "ECS1-%d-%s-", s->number, cer);
    for (int i = 0; i < 2 * EC_SHARES_SECRET; i += 4)
        o += sprintf(o, "%.4s%s", data + i, i + 4 < 2 * EC_SHARES_SECRET ? " " : "");
    sprintf(o, "-%s", chk);
    return out;
}

apr_status_t ec_shares_make(apr_pool_t *p, char **pin, char *shares[EC_SHARES_N])
{
    uint8_t secret[EC_SHARES_SECRET], ceremony[4];
    unsigned char numbers[EC_SHARES_N];
    gfshare_ctx *ctx;

    if (ec_random(secret, sizeof(secret)) != APR_SUCCESS || ec_random(ceremony, sizeof(ceremony)) != APR_SUCCESS)
        return APR_EGENERAL;
    for (int i = 0; i < EC_SHARES_N; i++)
        numbers[i] = (unsigned char)(i + 1);
    use_csprng();
    if (!(ctx = gfshare_ctx_init_enc(numbers, EC_SHARES_N, 2, EC_SHARES_SECRET)))
        return APR_ENOMEM;
    gfshare_ctx_enc_setsecret(ctx, secret);
    for (int i = 0; i < EC_SHARES_N; i++) {
        ec_share_t s;
        s.number = i + 1;
        memcpy(s.ceremony, ceremony, sizeof(ceremony));
        gfshare_ctx_enc_getshare(ctx, (unsigned char)i, s.data);
        shares[i] = ec_share_format(p, &s);
        OPENSSL_cleanse(s.data, sizeof(s.data));
    }
    gfshare_ctx_free(ctx);
    *pin = ec_hex(p, secret, sizeof(secret));
    OPENSSL_cleanse(secret, sizeof(secret));
    return APR_SUCCESS;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int unhex(const char *s, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

apr_status_t ec_share_parse(const char *text, ec_share_t *out, const char **err)
{
    /* ECS1 N CEREMONY(8) DATA(40) CHECK(8), separators dropped */
    enum { LEN = 4 + 1 + 8 + 2 * EC_SHARES_SECRET + 8 };
    char c[LEN + 1];
    size_t n = 0;
    uint8_t check[4], want[4];

    for (const char *t = text; *t; t++) {
        if (isspace((unsigned char)*t) || *t == '-')
            continue;
        if (n == LEN) {
            *err = "the share is longer than a share";
            return APR_EINVAL;
        }
        c[n++] = (char)toupper((unsigned char)*t);
    }
    c[n] = 0;
    if (n != LEN || strncmp(c, "ECS1", 4)) {
        *err = n < LEN ? "the share is incomplete" : "this is not a share of the token PIN";
        return APR_EINVAL;
    }
    out->number = hexval(c[4]);
    if (out->number < 1 || out->number > EC_SHARES_N) {
        *err = "the share's number is not 1, 2 or 3";
        return APR_EINVAL;
    }
    if (unhex(c + 5, out->ceremony, 4) < 0 || unhex(c + 13, out->data, EC_SHARES_SECRET) < 0 ||
        unhex(c + 13 + 2 * EC_SHARES_SECRET, check, 4) < 0) {
        *err = "the share holds a character that is not a hex digit";
        return APR_EINVAL;
    }
    share_check(out, want);
    if (CRYPTO_memcmp(check, want, 4)) {
        OPENSSL_cleanse(out->data, sizeof(out->data));
        *err = "the share's check digits do not match: it was mistyped";
        return APR_EINVAL;
    }
    *err = NULL;
    return APR_SUCCESS;
}

apr_status_t ec_shares_join(apr_pool_t *p, const ec_share_t *a, const ec_share_t *b,
                            char **pin, const char **err)
{
    unsigned char numbers[2] = { (unsigned char)a->number, (unsigned char)b->number };
    uint8_t secret[EC_SHARES_SECRET], da[EC_SHARES_SECRET], db[EC_SHARES_SECRET];
    gfshare_ctx *ctx;

    if (memcmp(a->ceremony, b->ceremony, sizeof(a->ceremony))) {
        *err = "the two shares come from different key ceremonies";
        return APR_EINVAL;
    }
    if (a->number == b->number) {
        *err = "the same share was given twice: two custodians' shares are needed";
        return APR_EINVAL;
    }
    use_csprng();
    if (!(ctx = gfshare_ctx_init_dec(numbers, 2, EC_SHARES_SECRET)))
        return APR_ENOMEM;
    memcpy(da, a->data, sizeof(da));
    memcpy(db, b->data, sizeof(db));
    gfshare_ctx_dec_giveshare(ctx, 0, da);
    gfshare_ctx_dec_giveshare(ctx, 1, db);
    gfshare_ctx_dec_extract(ctx, secret);
    gfshare_ctx_free(ctx);
    *pin = ec_hex(p, secret, sizeof(secret));
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(da, sizeof(da));
    OPENSSL_cleanse(db, sizeof(db));
    *err = NULL;
    return APR_SUCCESS;
}
