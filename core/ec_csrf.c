/* Stateless CSRF tokens of the anonymous forms: see ec_csrf.h. */
#include <stdio.h>
#include <string.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "ec_csrf.h"
#include "ec_util.h"

const ec_stmt_t ec_csrf_stmts[] = {
    { "csrf_key_insert", "INSERT IGNORE INTO form_secret (name, secret) VALUES ('csrf', UNHEX(%s))" },
    { "csrf_key_get", "SELECT HEX(secret) FROM form_secret WHERE name = 'csrf'" },
    { NULL, NULL }
};

apr_status_t ec_csrf_key(ec_store_t *s, apr_pool_t *p, uint8_t key[EC_CSRF_KEY_LEN])
{
    uint8_t fresh[EC_CSRF_KEY_LEN], *got;
    const char *c[1];
    size_t len;
    apr_status_t rv;

    if ((rv = ec_random(fresh, sizeof(fresh))) != APR_SUCCESS)
        return rv;
    rv = ec_store_exec(s, p, "csrf_key_insert", NULL, EC_ARGS(ec_hex(p, fresh, sizeof(fresh))));
    ec_wipe(fresh, sizeof(fresh));
    if (rv != APR_SUCCESS)
        return rv;
    if ((rv = ec_store_get1(s, p, "csrf_key_get", 1, c, 0, NULL)) != APR_SUCCESS)
        return rv;
    if (!c[0] || !(got = ec_unhex(p, c[0], &len)) || len != EC_CSRF_KEY_LEN)
        return APR_EGENERAL;
    memcpy(key, got, EC_CSRF_KEY_LEN);
    ec_wipe(got, len);
    return APR_SUCCESS;
}

static int hex_ok(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

int ec_csrf_nonce_ok(const char *nonce)
{
    return hex_ok(nonce, 64);
}

apr_status_t ec_csrf_nonce(apr_pool_t *p, const char **nonce)
{
    uint8_t n[32];
    apr_status_t rv = ec_random(n, sizeof(n));
    if (rv == APR_SUCCESS)
        *nonce = ec_hex(p, n, sizeof(n));
    return rv;
}

/* The MAC binds the purpose too, so that no other HMAC under a key of ours could pass. */
static void mac_hex(const uint8_t key[EC_CSRF_KEY_LEN], const char *nonce, const char *when, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    char msg[128];
    uint8_t m[32];
    unsigned int n = sizeof(m);
    int len = snprintf(msg, sizeof(msg), "ecert-form|%s|%s", nonce, when);

    HMAC(EVP_sha256(), key, EC_CSRF_KEY_LEN, (const unsigned char *)msg, (size_t)len, m, &n);
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[m[i] >> 4];
        out[2 * i + 1] = hex[m[i] & 15];
    }
    out[64] = 0;
}

const char *ec_csrf_token(apr_pool_t *p, const uint8_t key[EC_CSRF_KEY_LEN], const char *nonce, time_t now)
{
    char when[9], m[65];

    snprintf(when, sizeof(when), "%08x", (unsigned int)now);
    mac_hex(key, nonce, when, m);
    return apr_pstrcat(p, when, m, NULL);
}

apr_status_t ec_csrf_check(const uint8_t key[EC_CSRF_KEY_LEN], const char *nonce, const char *token,
                           time_t now, int max_age)
{
    char when[9], m[65];
    long long t;

    if (!ec_csrf_nonce_ok(nonce) || !hex_ok(token, 72))
        return APR_EINVAL;
    memcpy(when, token, 8);
    when[8] = 0;
    mac_hex(key, nonce, when, m);
    if (!ec_memeq(m, token + 8, 64))
        return APR_EINVAL;
    t = strtoll(when, NULL, 16);
    if (t > (long long)now + EC_CSRF_SKEW || (long long)now - t > max_age)
        return APR_TIMEUP;
    return APR_SUCCESS;
}
