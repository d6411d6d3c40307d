#include <stdarg.h>
#include <stdio.h>
#include "ec_log.h"

static ec_log_fn *log_fn;
static void *log_baton;
/* Per thread: an httpd thread serves one request at a time. */
static __thread void *log_req;

void ec_log_set(ec_log_fn *fn, void *baton)
{
    log_fn = fn;
    log_baton = baton;
}

void *ec_log_context(void *req)
{
    void *prev = log_req;
    log_req = req;
    return prev;
}

static void emit(ec_log_level_t level, apr_status_t rv, const char *tag, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void emit(ec_log_level_t level, apr_status_t rv, const char *tag, const char *fmt, va_list ap)
{
    char buf[1024];

    vsnprintf(buf, sizeof(buf), fmt, ap);
    log_fn(log_baton, level, rv, log_req, tag, buf);
}

void ec_log(ec_log_level_t level, const char *tag, const char *fmt, ...)
{
    va_list ap;

    if (!log_fn)
        return;
    va_start(ap, fmt);
    emit(level, APR_SUCCESS, tag, fmt, ap);
    va_end(ap);
}

void ec_log_rv(ec_log_level_t level, apr_status_t rv, const char *tag, const char *fmt, ...)
{
    va_list ap;

    if (!log_fn)
        return;
    va_start(ap, fmt);
    emit(level, rv, tag, fmt, ap);
    va_end(ap);
}
