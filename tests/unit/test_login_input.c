/* The PIN envelope form's fields: the harmless ways of typing a value are read as that
 * value; anything that is not one is refused, whatever it is made of. */
#include <string.h>
#include <apr_general.h>
#include "tap.h"
#include "ec_login_input.h"

static int is(const char *got, const char *want)
{
    return want ? got && !strcmp(got, want) : !got;
}

int main(void)
{
    apr_pool_t *p;
    static const struct { const char *in, *want; } pins[] = {
        { "1234567890123456", "1234567890123456" },
        { "1234 5678 9012 3456", "1234567890123456" },
        { "1234-5678-9012-3456", "1234567890123456" },
        { " 1234\xC2\xA0" "5678\t9012 3456 ", "1234567890123456" },          /* no-break space, tab */
        { "\xEF\xBC\x91\xEF\xBC\x92\xEF\xBC\x93\xEF\xBC\x94\xE3\x80\x80" "5678\xEF\xBC\x8D" "9012"
          "\xE2\x80\x93" "3456", "1234567890123456" },        /* full-width digits, U+3000, U+FF0D, en dash */
        { "\xEF\xBC\x90\xEF\xBC\x99" "00000000000000", "0900000000000000" },   /* U+FF10, U+FF19 */
        { "123456789012345", NULL },                                          /* 15 digits */
        { "12345678901234567", NULL },                                        /* 17 digits */
        { "1234 5678 9012 345x", NULL },
        { "1234.5678.9012.3456", NULL },
        { "\xEF\xBC\x9A" "234567890123456", NULL },                           /* U+FF1A is no digit */
        { "\xEF\xBC", NULL },                                                 /* cut UTF-8 */
        { "", NULL },
        { "   ", NULL },
    };
    static const struct { const char *in, *want; } refs[] = {
        { "123456789", "123456789" },
        { "123 456 789", "123456789" },
        { "123-456-789", "123456789" },
        { "\xEF\xBC\x91\xEF\xBC\x92\xEF\xBC\x93" "456789", "123456789" },
        { "12345678", NULL },                                                 /* 8 digits */
        { "1234567890", NULL },
        { "12345678a", NULL },
        { "", NULL },
    };
    static const struct { const char *in, *want; } names[] = {
        { "www.example.com", "www.example.com" },
        { "  www.example.com  ", "www.example.com" },
        { "\xE3\x80\x80www.example.com\xC2\xA0", "www.example.com" },
        { "WWW.Example.COM", "www.example.com" },
        { "www.example.com.", "www.example.com" },
        { "https://www.example.com/", "www.example.com" },
        { "HTTPS://www.example.com", "www.example.com" },
        { "http://www.example.com:443/path?x=1#y", "www.example.com" },
        { "https://www.example.com.:8443", "www.example.com" },
        { "*.example.com", "*.example.com" },
        { "\xE9\xA6\x99\xE6\xB8\xAF.example.com", "xn--j6w193g.example.com" },  /* 香港 */
        { "www.exa mple.com", NULL },
        { "www.example.com:x", NULL },
        { "www.example.com:", NULL },
        { "www..example.com", NULL },
        { "-bad.example.com", NULL },
        { "www.example.com/\xE3\x80\x80x", NULL },        /* a space inside is not trailing */
        { "user@www.example.com", NULL },
        { "https://", NULL },
        { ".", NULL },
        { "", NULL },
        { "   ", NULL },
    };
    char big[1100];

    apr_initialize();
    apr_pool_create(&p, NULL);
    plan((int)(sizeof(pins) / sizeof(pins[0]) + sizeof(refs) / sizeof(refs[0]) +
               sizeof(names) / sizeof(names[0])) + 2);
    for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++)
        ok(is(ec_login_pin(p, pins[i].in), pins[i].want), "PIN %zu: %s", i, pins[i].want ? "read" : "refused");
    for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
        ok(is(ec_login_reference(p, refs[i].in), refs[i].want), "reference %zu: %s", i,
           refs[i].want ? refs[i].want : "refused");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        ok(is(ec_login_server_name(p, names[i].in), names[i].want), "server name %zu: %s", i,
           names[i].want ? names[i].want : "refused");
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    memcpy(big, "1234567890123456", 16);
    ok(!ec_login_pin(p, big), "a PIN field longer than any typing of a PIN is refused");
    ok(!ec_login_pin(p, NULL) && !ec_login_reference(p, NULL) && !ec_login_server_name(p, NULL),
       "a missing field is refused");
    return done_testing();
}
