/* ec_flash: what a redirect carries survives the round trip exactly, and garbage is refused. */
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "ec_flash.h"

static int same(apr_table_t *a, apr_table_t *b)
{
    const apr_array_header_t *ea = apr_table_elts(a);
    if (ea->nelts != apr_table_elts(b)->nelts)
        return 0;
    for (int i = 0; i < ea->nelts; i++) {
        const apr_table_entry_t *e = &((const apr_table_entry_t *)ea->elts)[i];
        const char *v = apr_table_get(b, e->key);
        if (!v || strcmp(v, e->val))
            return 0;
    }
    return 1;
}

int main(void)
{
    apr_pool_t *p;
    apr_table_t *t, *back;
    char *enc, *big;

    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(13);

    t = apr_table_make(p, 4);
    apr_table_set(t, "error", "csr.not_pem");
    apr_table_set(t, "csr_text", "-----BEGIN NEW CERTIFICATE REQUEST-----\r\nab+/=\n&x=1%00 <b>\"'\n");
    apr_table_set(t, "reason", "名稱錯誤 & 100%");
    apr_table_set(t, "empty", "");
    enc = ec_flash_encode(p, t);
    ok(enc && !strpbrk(enc, " \r\n<>\"'+"), "encoded: only plain octets, %%XX, & and =");
    back = ec_flash_decode(p, enc);
    ok(back && same(t, back), "every value back exactly (CR LF, &, =, %%, UTF-8, empty)");
    ok(ec_flash_decode(p, "") && apr_table_elts(ec_flash_decode(p, ""))->nelts == 0, "empty: no values");

    ok(!ec_flash_decode(p, "error"), "a pair without '=' is refused");
    ok(!ec_flash_decode(p, "=x"), "an empty name is refused");
    ok(!ec_flash_decode(p, "a=%4"), "a short escape is refused");
    ok(!ec_flash_decode(p, "a=%zz"), "a bad escape is refused");
    ok(!ec_flash_decode(p, "a=%00"), "NUL is refused");
    ok(!ec_flash_decode(p, "a=b c"), "an octet the encoder escapes is refused raw");
    ok(!ec_flash_decode(p, "a=%3c"), "lower-case hex is not what the encoder writes");
    ok(!ec_flash_decode(p, NULL), "NULL: none");

    big = apr_palloc(p, EC_FLASH_MAX + 2);
    memset(big, 'x', EC_FLASH_MAX + 1);
    big[EC_FLASH_MAX + 1] = 0;
    apr_table_set(t, "csr_text", big);
    ok(ec_flash_encode(p, t) == NULL, "over EC_FLASH_MAX: not kept");
    ok(ec_flash_decode(p, big) == NULL, "over EC_FLASH_MAX: refused");

    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
