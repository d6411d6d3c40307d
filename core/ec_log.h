/* Logging for the core library: the core never writes to stderr or an httpd log
 * itself; the host (httpd glue, ecertctl, a unit test) installs a callback. */
#ifndef EC_LOG_H
#define EC_LOG_H

typedef enum {
    EC_LOG_ERR = 3,
    EC_LOG_WARN = 4,
    EC_LOG_NOTICE = 5,
    EC_LOG_INFO = 6,
    EC_LOG_DEBUG = 7
} ec_log_level_t;

/* tag: the unique id of the log line ("ECC0001"), msg: the formatted text. */
typedef void ec_log_fn(void *baton, ec_log_level_t level, const char *tag, const char *msg);

void ec_log_set(ec_log_fn *fn, void *baton);
void ec_log(ec_log_level_t level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
