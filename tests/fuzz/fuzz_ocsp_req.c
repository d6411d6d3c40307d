/* libFuzzer target for the OCSP request parser: the input is tried as a DER OCSPRequest
 * and as the request line of a GET (path extraction, percent/base64 decoding, parse). */
#include <stdint.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "ec_ocsp_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static apr_pool_t *root;
    apr_pool_t *p;
    ec_ocsp_req_t req;
    const uint8_t *der;
    size_t len;
    const char *line, *path;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    apr_pool_create(&p, root);

    if (ec_ocsp_req_parse(p, data, size, 8, &req) == EC_OCSP_REQ_OK) {
        /* Everything the parser hands out must lie inside the input. */
        for (int i = 0; i < req.n; i++) {
            const ec_ocsp_certid_t *id = &req.ids[i];
            if (id->whole.p < data || id->whole.p + id->whole.n > data + size ||
                id->serial.p < data || id->serial.p + id->serial.n > data + size)
                __builtin_trap();
        }
        if (req.has_nonce && (req.nonce_value.p < data || req.nonce_value.p + req.nonce_value.n > data + size))
            __builtin_trap();
    }

    line = apr_pstrmemdup(p, (const char *)data, size);   /* stops at the first NUL, like httpd */
    path = ec_ocsp_request_path(p, apr_pstrcat(p, "GET ", line, " HTTP/1.1", NULL));
    if (path && ec_ocsp_get_request(p, path, 4096, 8, &der, &len, &req) == EC_OCSP_REQ_OK && (!len || len > 4096))
        __builtin_trap();
    ec_ocsp_get_request(p, line, 4096, 8, &der, &len, &req);
    apr_pool_destroy(p);
    return 0;
}
