#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "ec_conf.h"

const char *ec_conf_int(apr_pool_t *p, const char *directive, const char *arg, long min, long max,
                        int *out)
{
    char *end;
    long v = strtol(arg, &end, 10);

    if (!*arg || *end || v < min || v > max)
        return apr_psprintf(p, "%s takes a whole number from %ld to %ld, not '%s'", directive, min,
                            max, arg);
    *out = (int)v;
    return NULL;
}

const char *ec_conf_duration(apr_pool_t *p, const char *directive, const char *arg, long min,
                             long max, int *out)
{
    static const struct { char unit; long seconds; } units[] = {
        { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }
    };
    char *end;
    long v = strtol(arg, &end, 10), mult = 1;

    for (size_t i = 0; *end && i < sizeof(units) / sizeof(units[0]); i++)
        if (*end == units[i].unit) {
            mult = units[i].seconds;
            end++;
            break;
        }
    if (!*arg || *end || v < 0 || v > max / mult || v * mult < min)
        return apr_psprintf(p, "%s takes a duration from %lds to %lds (e.g. 4d, 8h), not '%s'",
                            directive, min, max, arg);
    *out = (int)(v * mult);
    return NULL;
}
