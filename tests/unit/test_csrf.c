/* The anonymous forms' CSRF tokens: a token passes only with its own nonce and key, within
 * its lifetime; every malformed shape is refused. */
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "ec_csrf.h"

int main(void)
{
    apr_pool_t *p;
    uint8_t key[EC_CSRF_KEY_LEN], other[EC_CSRF_KEY_LEN];
    const char *nonce, *nonce2, *tok;
    time_t now = 1796000000;
    char *bad;

    apr_initialize();
    apr_pool_create(&p, NULL);
    memset(key, 7, sizeof(key));
    memset(other, 8, sizeof(other));
    plan(14);

    ok(ec_csrf_nonce(p, &nonce) == APR_SUCCESS && ec_csrf_nonce_ok(nonce), "a nonce is 64 hex digits");
    ok(ec_csrf_nonce(p, &nonce2) == APR_SUCCESS && strcmp(nonce, nonce2), "two nonces differ");
    tok = ec_csrf_token(p, key, nonce, now);
    ok(strlen(tok) == 72, "a token is 72 hex digits");
    ok(ec_csrf_check(key, nonce, tok, now, EC_CSRF_MAX_AGE) == APR_SUCCESS, "its own nonce passes");
    ok(ec_csrf_check(key, nonce, tok, now + EC_CSRF_MAX_AGE, EC_CSRF_MAX_AGE) == APR_SUCCESS,
       "passes at the end of its lifetime");
    ok(ec_csrf_check(key, nonce, tok, now + EC_CSRF_MAX_AGE + 1, EC_CSRF_MAX_AGE) == APR_TIMEUP,
       "expired after it");
    ok(ec_csrf_check(key, nonce, tok, now - EC_CSRF_SKEW - 1, EC_CSRF_MAX_AGE) == APR_TIMEUP,
       "a token from further in the future than the skew is refused");
    ok(ec_csrf_check(key, nonce2, tok, now, EC_CSRF_MAX_AGE) == APR_EINVAL, "another cookie's nonce fails");
    ok(ec_csrf_check(other, nonce, tok, now, EC_CSRF_MAX_AGE) == APR_EINVAL, "another key fails");
    ok(ec_csrf_check(key, nonce, NULL, now, EC_CSRF_MAX_AGE) == APR_EINVAL &&
       ec_csrf_check(key, NULL, tok, now, EC_CSRF_MAX_AGE) == APR_EINVAL, "missing token or cookie fails");
    bad = apr_pstrdup(p, tok);
    bad[0] = bad[0] == '0' ? '1' : '0';
    ok(ec_csrf_check(key, nonce, bad, now, EC_CSRF_MAX_AGE) == APR_EINVAL, "a moved time breaks the MAC");
    bad = apr_pstrdup(p, tok);
    bad[71] = bad[71] == '0' ? '1' : '0';
    ok(ec_csrf_check(key, nonce, bad, now, EC_CSRF_MAX_AGE) == APR_EINVAL, "a changed MAC fails");
    ok(ec_csrf_check(key, nonce, apr_pstrndup(p, tok, 71), now, EC_CSRF_MAX_AGE) == APR_EINVAL &&
       ec_csrf_check(key, nonce, apr_pstrcat(p, tok, "0", NULL), now, EC_CSRF_MAX_AGE) == APR_EINVAL,
       "a short or long token fails");
    bad = apr_pstrdup(p, tok);
    bad[10] = 'G';
    ok(ec_csrf_check(key, nonce, bad, now, EC_CSRF_MAX_AGE) == APR_EINVAL &&
       !ec_csrf_nonce_ok("ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"),
       "non-hex and upper-case shapes fail");
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
