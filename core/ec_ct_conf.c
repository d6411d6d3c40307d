#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <apr_strings.h>
#include "ec_ct_conf.h"

const char EC_CT_NOT_MINE[] = "not a CT directive";

/* YYYY-MM-DD (UTC) -> its midnight. */
static int day_arg(const char *s, time_t *t)
{
    struct tm tm;
    int n = 0;

    memset(&tm, 0, sizeof(tm));
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3 ||
        n != 10 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_year < 2000 || tm.tm_year > 2200)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *t = timegm(&tm);
    return 0;
}

const char *ec_ct_conf_directive(ec_ct_conf_t *c, apr_pool_t *p, const char *name, int argc,
                                 char *const *argv)
{
    if (!strcasecmp(name, "ECertCTLog")) {
        ec_ct_log_t *log = apr_pcalloc(p, sizeof(*log));
        time_t start, end;
        const char *err;
        if (argc != 6)
            return "ECertCTLog takes NAME OPERATOR URL KEY START END (KEY: base64 SubjectPublicKeyInfo; "
                   "START, END: YYYY-MM-DD)";
        if (day_arg(argv[4], &start) < 0 || day_arg(argv[5], &end) < 0)
            return apr_psprintf(p, "ECertCTLog %s: START and END are dates YYYY-MM-DD, not '%s' '%s'",
                                argv[0], argv[4], argv[5]);
        if (ec_ct_log_init(p, log, apr_pstrdup(p, argv[0]), apr_pstrdup(p, argv[1]), apr_pstrdup(p, argv[2]),
                           argv[3], start, end, &err) != APR_SUCCESS)
            return apr_psprintf(p, "ECertCTLog %s: %s", argv[0], err);
        if (!c->logs)
            c->logs = apr_array_make(p, 4, sizeof(ec_ct_log_t *));
        for (int i = 0; i < c->logs->nelts; i++)
            if (!memcmp(APR_ARRAY_IDX(c->logs, i, ec_ct_log_t *)->log_id, log->log_id, 32))
                return apr_psprintf(p, "ECertCTLog %s: the same key as log %s", argv[0],
                                    APR_ARRAY_IDX(c->logs, i, ec_ct_log_t *)->name);
        APR_ARRAY_PUSH(c->logs, ec_ct_log_t *) = log;
        return NULL;
    }
    if (!strcasecmp(name, "ECertCTTimeout")) {
        char *end;
        long v = argc == 1 ? strtol(argv[0], &end, 10) : 0;
        if (argc != 1 || !*argv[0] || *end || v < 1 || v > 60)
            return apr_psprintf(p, "ECertCTTimeout takes seconds from 1 to 60, not '%s'", argc ? argv[0] : "");
        c->timeout = (int)v;
        return NULL;
    }
    return EC_CT_NOT_MINE;
}

void ec_ct_conf_merge(ec_ct_conf_t *c, const ec_ct_conf_t *base, const ec_ct_conf_t *add)
{
    c->logs = add->logs ? add->logs : base->logs;
    c->timeout = add->timeout ? add->timeout : base->timeout;
}

void ec_ct_conf_finish(ec_ct_conf_t *c)
{
    if (!c->timeout)
        c->timeout = EC_CT_DEFAULT_TIMEOUT;
}
