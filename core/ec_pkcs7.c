#include <stdlib.h>
#include <string.h>
#include "ec_pkcs7.h"
#include "ec_der.h"

typedef struct {
    const uint8_t *der;
    size_t len;
} blob_t;

/* DER SET OF: elements in ascending order of their encodings. */
static int blob_cmp(const void *a, const void *b)
{
    const blob_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->der, y->der, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

const uint8_t *ec_pkcs7_certs(apr_pool_t *p, const uint8_t *const *certs, const size_t *lens,
                              int n, size_t *len)
{
    blob_t *sorted = calloc((size_t)(n ? n : 1), sizeof(blob_t));
    ec_der_w w;

    if (!sorted)
        return NULL;
    for (int i = 0; i < n; i++)
        sorted[i] = (blob_t){ certs[i], lens[i] };
    qsort(sorted, (size_t)n, sizeof(blob_t), blob_cmp);
    ec_der_w_init(&w);
    ec_der_begin(&w, EC_DER_SEQUENCE);                 /* ContentInfo */
    ec_der_oid(&w, "1.2.840.113549.1.7.2");           /* signedData */
    ec_der_begin(&w, EC_DER_CTX(0));
    ec_der_begin(&w, EC_DER_SEQUENCE);                 /* SignedData */
    ec_der_int(&w, 1);
    ec_der_begin(&w, EC_DER_SET);                      /* digestAlgorithms: none */
    ec_der_end(&w);
    ec_der_begin(&w, EC_DER_SEQUENCE);                 /* encapContentInfo */
    ec_der_oid(&w, "1.2.840.113549.1.7.1");
    ec_der_end(&w);
    ec_der_begin(&w, EC_DER_CTX(0));                   /* certificates [0] IMPLICIT */
    for (int i = 0; i < n; i++)
        ec_der_raw(&w, sorted[i].der, sorted[i].len);
    ec_der_end(&w);
    ec_der_begin(&w, EC_DER_SET);                      /* signerInfos: none */
    ec_der_end(&w);
    ec_der_end(&w);
    ec_der_end(&w);
    ec_der_end(&w);
    free(sorted);
    return ec_der_w_take(&w, p, len);
}
