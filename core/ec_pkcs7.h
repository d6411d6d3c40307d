/* A certs-only PKCS#7 / CMS SignedData (RFC 5652, "degenerate" form) carrying a
 * certificate and its chain, for servers that import a .p7b (User Guide C.7). */
#ifndef EC_PKCS7_H
#define EC_PKCS7_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>

const uint8_t *ec_pkcs7_certs(apr_pool_t *p, const uint8_t *const *certs, const size_t *lens,
                              int n, size_t *len);

#endif
