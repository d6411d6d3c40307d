/* Logging for the core library: the core never writes to stderr or an httpd log
 * itself; the host (httpd glue, ecertctl, a unit test) installs a callback. */
#ifndef EC_LOG_H
#define EC_LOG_H

#include <apr_errno.h>

typedef enum {
    EC_LOG_ERR = 3,
    EC_LOG_WARN = 4,
    EC_LOG_NOTICE = 5,
    EC_LOG_INFO = 6,
    EC_LOG_DEBUG = 7
} ec_log_level_t;

/* rv: the status the line is about (APR_SUCCESS: none); req: the calling thread's context
 * (ec_log_context), NULL outside one; tag: the unique id of the line ("ECC0001"); msg: the
 * formatted text. */
typedef void ec_log_fn(void *baton, ec_log_level_t level, apr_status_t rv, void *req, const char *tag,
                       const char *msg);

void ec_log_set(ec_log_fn *fn, void *baton);
/* Sets what the calling thread works for (for httpd, its request_rec: the line then names
 * the client), opaque to the core; returns the one it replaces, to be set back after. */
void *ec_log_context(void *req);
void ec_log(ec_log_level_t level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ec_log_rv(ec_log_level_t level, apr_status_t rv, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
