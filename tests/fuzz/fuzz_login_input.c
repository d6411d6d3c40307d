/* libFuzzer target: the login form's field readers (core/ec_login_input.h) on arbitrary bytes.
 * Nothing may crash or read out of bounds; what they accept is a value of the field: 16 or 9
 * ASCII digits, or a server name that reads back as itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include "ec_login_input.h"

static apr_pool_t *root;

static int all_digits(const char *s, size_t n)
{
    return strlen(s) == n && strspn(s, "0123456789") == n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *in, *pin, *ref, *name;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    apr_pool_create(&p, root);
    in = apr_pstrmemdup(p, (const char *)data, size);
    if ((pin = ec_login_pin(p, in)) && !all_digits(pin, 16))
        abort();
    if ((ref = ec_login_reference(p, in)) && !all_digits(ref, 9))
        abort();
    if ((name = ec_login_server_name(p, in))) {
        const char *again = ec_login_server_name(p, name);
        if (!again || strcmp(again, name))
            abort();
    }
    apr_pool_destroy(p);
    return 0;
}
