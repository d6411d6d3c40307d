/* libFuzzer target: the CSR path a subscriber's paste takes (PEM armour, base64, PKCS#10,
 * signature, key checks, common name). Any input must give a result code, never a crash,
 * a leak or undefined behaviour. */
#include <stdint.h>
#include <stddef.h>
#include <apr_general.h>
#include <apr_pools.h>
#include "ec_csr.h"

static apr_pool_t *root;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int sizes[] = { 2048, 3072 };
    ec_csr_policy_t pol = { sizes, 2, NULL, 5 };
    apr_pool_t *p;
    ec_csr_t c;
    const char *cn;
    const uint8_t *der;
    size_t der_len;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    apr_pool_create(&p, root);
    /* The text as pasted (not NUL-terminated), then the checks that follow a parse. */
    (void)ec_csr_pem_decode(p, (const char *)data, size, &der, &der_len);
    if (ec_csr_parse(p, (const char *)data, size, &c) == EC_CSR_OK) {
        (void)ec_csr_check_key(&c, &pol);
        (void)ec_csr_check_name(p, &c, "www.example.com", &cn);
        (void)ec_csr_check_name(p, &c, "*.example.com", &cn);
    }
    apr_pool_destroy(p);
    return 0;
}
