#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include <apr_strings.h>
#include "ec_pin.h"
#include "ec_util.h"

#define SCRYPT_LN 15
#define SCRYPT_R 8
#define SCRYPT_P 1

apr_status_t ec_pin_digits(char *out, int n)
{
    int i = 0;
    while (i < n) {
        uint8_t b[32];
        if (ec_random(b, sizeof(b)) != APR_SUCCESS)
            return APR_EGENERAL;
        for (size_t k = 0; k < sizeof(b) && i < n; k++)
            if (b[k] < 250)                 /* rejection sampling: no modulo bias */
                out[i++] = (char)('0' + b[k] % 10);
    }
    out[n] = 0;
    return APR_SUCCESS;
}

static int derive(const char *pin, const uint8_t *salt, size_t saltlen, int ln, int r, int par,
                  uint8_t out[32])
{
    return EVP_PBE_scrypt(pin, strlen(pin), salt, saltlen, 1ULL << ln, (uint64_t)r, (uint64_t)par,
                          256ULL * 1024 * 1024, out, 32) == 1 ? 0 : -1;
}

char *ec_pin_hash(apr_pool_t *p, const char *pin)
{
    uint8_t salt[16], h[32];

    if (ec_random(salt, sizeof(salt)) != APR_SUCCESS ||
        derive(pin, salt, sizeof(salt), SCRYPT_LN, SCRYPT_R, SCRYPT_P, h) < 0)
        return NULL;
    return apr_psprintf(p, "$scrypt$ln=%d,r=%d,p=%d$%s$%s", SCRYPT_LN, SCRYPT_R, SCRYPT_P,
                        ec_hex(p, salt, sizeof(salt)), ec_hex(p, h, sizeof(h)));
}

int ec_pin_verify(apr_pool_t *p, const char *pin, const char *stored)
{
    int ln, r, par, off = 0;
    char salthex[65], hashhex[65];
    uint8_t *salt, *want, got[32];
    size_t saltlen, wantlen;

    if (!pin || !stored ||
        sscanf(stored, "$scrypt$ln=%d,r=%d,p=%d$%64[0-9a-f]$%64[0-9a-f]%n", &ln, &r, &par,
               salthex, hashhex, &off) != 5 || stored[off] != 0 ||
        ln < 10 || ln > 22 || r < 1 || r > 32 || par < 1 || par > 8)
        return 0;
    salt = ec_unhex(p, salthex, &saltlen);
    want = ec_unhex(p, hashhex, &wantlen);
    if (!salt || !want || wantlen != 32 || derive(pin, salt, saltlen, ln, r, par, got) < 0)
        return 0;
    return ec_memeq(got, want, 32);
}

char *ec_pin_normalize(apr_pool_t *p, const char *input)
{
    char *out = apr_palloc(p, 17);
    int n = 0;

    for (; input && *input; input++) {
        if (*input == ' ')
            continue;
        if (*input < '0' || *input > '9' || n == 16)
            return NULL;
        out[n++] = *input;
    }
    out[n] = 0;
    return n == 16 ? out : NULL;
}

char *ec_pin_format(apr_pool_t *p, const char *pin)
{
    return apr_psprintf(p, "%.4s %.4s %.4s %.4s", pin, pin + 4, pin + 8, pin + 12);
}
