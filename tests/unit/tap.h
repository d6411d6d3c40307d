/* Minimal TAP producer for the core's C unit tests (run by prove). */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_n, tap_failed;

static void plan(int n)
{
    printf("1..%d\n", n);
}

__attribute__((format(printf, 2, 3)))
static int ok(int cond, const char *fmt, ...)
{
    va_list ap;
    printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    if (!cond)
        tap_failed++;
    return cond;
}

static int done_testing(void)
{
    fflush(stdout);
    return tap_failed ? 1 : 0;
}

#endif
