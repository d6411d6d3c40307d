#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "ec_weakkey.h"
#include "ec_util.h"

struct ec_weaklist {
    apr_pool_t *pool;
    uint8_t *fp;                /* sorted 10-octet fingerprints */
    int n, cap;
};

int ec_weak_exponent_ok(const BIGNUM *e)
{
    /* 17 bits and odd: at least 2^16 + 1. */
    return BN_is_odd(e) && BN_num_bits(e) >= 17 && BN_num_bits(e) <= 256;
}

int ec_weak_small_factor(const BIGNUM *n)
{
    char composite[EC_SMALL_FACTOR_BOUND] = { 0 };

    if (!BN_is_odd(n))
        return 1;
    for (int p = 3; p < EC_SMALL_FACTOR_BOUND; p += 2) {
        if (composite[p])
            continue;
        for (int k = p * p; k < EC_SMALL_FACTOR_BOUND; k += 2 * p)
            composite[k] = 1;
        if (BN_mod_word(n, (BN_ULONG)p) == 0 && !BN_is_word(n, (BN_ULONG)p))
            return 1;
    }
    return 0;
}

int ec_weak_roca(const BIGNUM *n)
{
    static const int primes[] = { 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59,
                                  61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127,
                                  131, 137, 139, 149, 151, 157, 163, 167 };

    for (size_t i = 0; i < sizeof(primes) / sizeof(primes[0]); i++) {
        int p = primes[i], g = 65537 % p, x = 1, found = 0;
        BN_ULONG r = BN_mod_word(n, (BN_ULONG)p);
        if (r == (BN_ULONG)-1)
            return 0;
        /* Walk the cyclic subgroup <65537 mod p>: at most p-1 steps. */
        do {
            if ((BN_ULONG)x == r)
                found = 1;
            x = (x * g) % p;
        } while (x != 1 && !found);
        if (!found)
            return 0;
    }
    return 1;
}

/* floor(sqrt(a)) by Newton's iteration. */
static int bn_isqrt(BIGNUM *r, const BIGNUM *a, BN_CTX *ctx)
{
    BIGNUM *x = BN_CTX_get(ctx), *y = BN_CTX_get(ctx);
    if (!y)
        return 0;
    if (BN_is_zero(a)) {
        BN_zero(r);
        return 1;
    }
    /* Start above the root: 2^ceil(bits/2). */
    if (!BN_set_word(x, 0) || !BN_set_bit(x, (BN_num_bits(a) + 1) / 2))
        return 0;
    for (;;) {
        if (!BN_div(y, NULL, a, x, ctx) || !BN_add(y, y, x) || !BN_rshift1(y, y))
            return 0;
        if (BN_cmp(y, x) >= 0)
            break;
        if (!BN_copy(x, y))
            return 0;
    }
    return BN_copy(r, x) != NULL;
}

/* Squares are rare modulo 64, 63, 65 and 11: most candidates fail here, without a root. */
static int maybe_square(const BIGNUM *x)
{
    static const int mods[] = { 64, 63, 65, 11 };
    BN_ULONG r = BN_mod_word(x, 64UL * 63 * 65 * 11);

    for (int i = 0; i < 4; i++) {
        int m = mods[i], hit = 0;
        for (int k = 0; k < m && !hit; k++)
            hit = (BN_ULONG)(k * k % m) == r % (BN_ULONG)m;
        if (!hit)
            return 0;
    }
    return 1;
}

int ec_weak_fermat(const BIGNUM *n, int rounds)
{
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *a, *b2, *b, *t;
    int hit = 0;

    if (!ctx)
        return 0;
    BN_CTX_start(ctx);
    a = BN_CTX_get(ctx);
    b2 = BN_CTX_get(ctx);
    b = BN_CTX_get(ctx);
    t = BN_CTX_get(ctx);
    if (!t || !bn_isqrt(a, n, ctx) || !BN_sqr(t, a, ctx))
        goto out;
    if (BN_cmp(t, n) < 0 && !BN_add_word(a, 1))
        goto out;
    for (int i = 0; i < rounds && !hit; i++) {
        if (!BN_sqr(b2, a, ctx) || !BN_sub(b2, b2, n))
            goto out;
        if (!maybe_square(b2)) {
            if (!BN_add_word(a, 1))
                goto out;
            continue;
        }
        if (!bn_isqrt(b, b2, ctx) || !BN_sqr(t, b, ctx))
            goto out;
        /* a - b = 1 would be the trivial split n = 1 * n. */
        if (!BN_cmp(t, b2)) {
            BIGNUM *d = BN_CTX_get(ctx);
            hit = d && BN_sub(d, a, b) && !BN_is_one(d);
        }
        if (!BN_add_word(a, 1))
            goto out;
    }
out:
    BN_CTX_end(ctx);
    BN_CTX_free(ctx);
    return hit;
}

static void fingerprint(const BIGNUM *n, uint8_t out[10])
{
    char *hex = BN_bn2hex(n), *h = hex;
    uint8_t d[20];
    char *line;
    size_t len;

    if (!hex) {
        memset(out, 0, 10);
        return;
    }
    while (h[0] == '0' && h[1])
        h++;                                /* as `openssl rsa -modulus` prints it */
    len = strlen(h) + 9;
    line = malloc(len + 1);
    if (line) {
        memcpy(line, "Modulus=", 8);
        memcpy(line + 8, h, len - 9);
        line[len - 1] = '\n';
        ec_sha1(line, len, d);
        memcpy(out, d + 10, 10);
        free(line);
    }
    else
        memset(out, 0, 10);
    OPENSSL_free(hex);
}

char *ec_weaklist_fingerprint(apr_pool_t *p, const BIGNUM *n)
{
    uint8_t fp[10];
    fingerprint(n, fp);
    return ec_hex(p, fp, 10);
}

static int cmp10(const void *a, const void *b)
{
    return memcmp(a, b, 10);
}

apr_status_t ec_weaklist_load(ec_weaklist_t **list, apr_pool_t *p, const char *path,
                              const char **err)
{
    ec_weaklist_t *l = *list;
    char *data, *line, *save;
    size_t len;
    int lineno = 0;
    apr_status_t rv;

    if ((rv = ec_read_file(p, path, 64 << 20, &data, &len)) != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot read the weak-key list %s", path);
        return rv;
    }
    if (!l) {
        l = apr_pcalloc(p, sizeof(*l));
        l->pool = p;
    }
    for (line = data; line && *line; line = save) {
        char *end, *s;
        size_t n;
        save = strchr(line, '\n');
        if (save)
            *save++ = 0;
        lineno++;
        for (s = line; apr_isspace(*s); s++)
            ;
        for (end = s + strlen(s); end > s && apr_isspace(end[-1]); end--)
            ;
        *end = 0;
        if (!*s || *s == '#')
            continue;
        n = strlen(s);
        uint8_t *fp = n == 20 ? ec_unhex(p, s, &n) : NULL;
        if (!fp || n != 10) {
            *err = apr_psprintf(p, "%s line %d: not 20 hex digits", path, lineno);
            return APR_EINVAL;
        }
        if (l->n == l->cap) {
            int cap = l->cap ? 2 * l->cap : 1024;
            uint8_t *nb = apr_palloc(p, (apr_size_t)cap * 10);
            if (l->n)
                memcpy(nb, l->fp, (size_t)l->n * 10);
            l->fp = nb;
            l->cap = cap;
        }
        memcpy(l->fp + (size_t)l->n * 10, fp, 10);
        l->n++;
    }
    if (l->n)
        qsort(l->fp, (size_t)l->n, 10, cmp10);
    *list = l;
    return APR_SUCCESS;
}

int ec_weaklist_count(const ec_weaklist_t *list)
{
    return list ? list->n : 0;
}

int ec_weaklist_has(const ec_weaklist_t *list, const BIGNUM *n)
{
    uint8_t fp[10];

    if (!list || !list->n)
        return 0;
    fingerprint(n, fp);
    return bsearch(fp, list->fp, (size_t)list->n, 10, cmp10) != NULL;
}
