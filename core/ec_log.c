#include <stdarg.h>
#include <stdio.h>
#include "ec_log.h"

static ec_log_fn *log_fn;
static void *log_baton;

void ec_log_set(ec_log_fn *fn, void *baton)
{
    log_fn = fn;
    log_baton = baton;
}

void ec_log(ec_log_level_t level, const char *tag, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    if (!log_fn)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    log_fn(log_baton, level, tag, buf);
}
