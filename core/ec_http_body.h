/* An HTTP answer read into a pool, bounded: the libcurl write callback every client of the
 * core uses, so that an answer longer than its protocol allows stops the transfer. */
#ifndef EC_HTTP_BODY_H
#define EC_HTTP_BODY_H

#include <stddef.h>
#include <apr_pools.h>

typedef struct {
    apr_pool_t *p;
    size_t max;                      /* longest answer taken */
    char *data;                      /* NUL-terminated; NULL until the first byte */
    size_t len;
    int too_long;                    /* the transfer was stopped: more than max */
} ec_http_body_t;

void ec_http_body_init(ec_http_body_t *b, apr_pool_t *p, size_t max);
/* CURLOPT_WRITEFUNCTION, with the ec_http_body_t as CURLOPT_WRITEDATA. */
size_t ec_http_body_write(char *d, size_t size, size_t n, void *body);
/* The answer so far ("" when empty). */
const char *ec_http_body_text(const ec_http_body_t *b);

#endif
