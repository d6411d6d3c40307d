/* ec_shares: any two of the three shares give the PIN back, one alone fits every PIN, and
 * typed shares are checked before they are used. */
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "ec_shares.h"
#include "ec_util.h"

static const char *err;

/* The condition first: err is what it set. */
#define REFUSED(cond, what, word) \
    do { int c_ = (cond) == APR_EINVAL && err && strstr(err, word); ok(c_, "%s: %s", what, err); } while (0)

/* GF(2^8) with the reduction polynomial x^8+x^4+x^3+x^2+1 (0x11d), as libgfshare's field. */
static uint8_t gf_mul2(uint8_t b)
{
    return (uint8_t)((b << 1) ^ (b & 0x80 ? 0x1d : 0));
}

int main(void)
{
    apr_pool_t *p;
    char *pin, *shares[EC_SHARES_N], *got, *pin2, *other[EC_SHARES_N];
    ec_share_t s[EC_SHARES_N], o[EC_SHARES_N], forged;
    int pairs_ok = 1, parsed = 1, hidden = 1;

    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(14);

    ok(ec_shares_make(p, &pin, shares) == APR_SUCCESS && strlen(pin) == 2 * EC_SHARES_SECRET,
       "a 40-hex-digit PIN and its three shares");
    for (int i = 0; i < EC_SHARES_N; i++)
        parsed &= ec_share_parse(shares[i], &s[i], &err) == APR_SUCCESS && s[i].number == i + 1;
    ok(parsed, "each share parses back with its number");
    for (int i = 0; i < EC_SHARES_N; i++)
        for (int j = 0; j < EC_SHARES_N; j++)
            if (i != j)
                pairs_ok &= ec_shares_join(p, &s[i], &s[j], &got, &err) == APR_SUCCESS && !strcmp(got, pin);
    ok(pairs_ok, "every pair of shares, in either order, gives the PIN");
    for (int i = 0; i < EC_SHARES_N; i++)
        hidden &= !strcasestr(shares[i], apr_pstrndup(p, pin, 8));
    ok(hidden, "no share shows the PIN");

    REFUSED(ec_shares_join(p, &s[1], &s[1], &got, &err), "the same share twice", "twice");
    ok(ec_shares_make(p, &pin2, other) == APR_SUCCESS && ec_share_parse(other[1], &o[1], &err) == APR_SUCCESS,
       "a second ceremony");
    REFUSED(ec_shares_join(p, &s[0], &o[1], &got, &err), "shares of two ceremonies", "different key ceremonies");

    /* Information-theoretic: for share 1 and ANY PIN there is a share 2 giving that PIN,
     * so share 1 alone rules nothing out. f(x) = secret + a*x: a = y1 - s', y2 = s' + 2a. */
    {
        uint8_t target[EC_SHARES_SECRET];
        char *want;
        memset(target, 0x5a, sizeof(target));
        target[0] = 0;
        forged = s[0];
        forged.number = 2;
        for (int k = 0; k < EC_SHARES_SECRET; k++)
            forged.data[k] = target[k] ^ gf_mul2(s[0].data[k] ^ target[k]);
        want = ec_hex(p, target, sizeof(target));
        ok(ec_shares_join(p, &s[0], &forged, &got, &err) == APR_SUCCESS && !strcmp(got, want),
           "share 1 is consistent with a PIN chosen at will (%s)", want);
    }
    {
        char *typo = apr_pstrdup(p, shares[2]);
        char *c = typo + strlen(typo) - 12;            /* a data digit */
        *c = *c == 'A' ? 'B' : 'A';
        REFUSED(ec_share_parse(typo, &o[0], &err), "one mistyped digit", "mistyped");
    }
    {
        char *loose = apr_pstrdup(p, shares[0]);
        for (char *c = loose; *c; c++)
            if (*c >= 'A' && *c <= 'F')
                *c = (char)(*c - 'A' + 'a');
        ok(ec_share_parse(apr_pstrcat(p, "  ", loose, "\n", NULL), &o[0], &err) == APR_SUCCESS &&
           !memcmp(o[0].data, s[0].data, sizeof(o[0].data)), "lower case and surrounding space are accepted");
    }
    REFUSED(ec_share_parse("ECS1-4-00000000-00", &o[0], &err), "a short share", "incomplete");
    REFUSED(ec_share_parse(apr_pstrcat(p, shares[0], "00", NULL), &o[0], &err), "a long share", "longer");
    {
        char *bad = apr_pstrdup(p, shares[0]);
        bad[5] = '7';
        REFUSED(ec_share_parse(bad, &o[0], &err), "share number 7", "number");
        bad = apr_pstrdup(p, shares[0]);
        bad[8] = 'G';
        REFUSED(ec_share_parse(bad, &o[0], &err), "a non-hex digit", "hex");
    }
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
