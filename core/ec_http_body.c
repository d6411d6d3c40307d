#include <string.h>
#include "ec_http_body.h"

void ec_http_body_init(ec_http_body_t *b, apr_pool_t *p, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->p = p;
    b->max = max;
}

size_t ec_http_body_write(char *d, size_t size, size_t n, void *body)
{
    ec_http_body_t *b = body;
    size_t add = size * n;

    if (b->len + add > b->max) {
        b->too_long = 1;
        return 0;
    }
    if (!b->data)
        b->data = apr_palloc(b->p, b->max + 1);
    memcpy(b->data + b->len, d, add);
    b->len += add;
    b->data[b->len] = 0;
    return add;
}

const char *ec_http_body_text(const ec_http_body_t *b)
{
    return b->data ? b->data : "";
}
