/* libFuzzer: the perspective protocol's parser (core/ec_mpic_wire.c), both directions, with a
 * key for the sender so the fuzzer reaches the MAC check too. */
#include <string.h>
#include <apr_general.h>
#include "ec_mpic_wire.h"

static const uint8_t KEY[EC_MPIC_KEY_LEN] = { 1 };

static const uint8_t *key_fn(void *baton, const char *from)
{
    return from && *from ? KEY : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static apr_pool_t *root;
    apr_pool_t *p;
    ec_mpic_msg_t m;
    const char *why;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    apr_pool_create(&p, root);
    for (int dir = 0; dir < 2; dir++)
        if (ec_mpic_decode(p, (const char *)data, size, (ec_mpic_dir_t)dir, key_fn, NULL, &m, &why) == APR_SUCCESS) {
            apr_size_t len;
            char *again = ec_mpic_encode(p, &m, KEY, &len);
            ec_mpic_msg_t m2;
            /* What decodes re-encodes to a message that decodes the same. */
            if (ec_mpic_decode(p, again, len, (ec_mpic_dir_t)dir, key_fn, NULL, &m2, &why) != APR_SUCCESS ||
                strcmp(m.nonce, m2.nonce) || m.time != m2.time)
                __builtin_trap();
        }
    apr_pool_destroy(p);
    return 0;
}
