#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "ec_crl_conf.h"
#include "ec_conf.h"

const char EC_CRL_NOT_MINE[] = "not a CRL directive";

#define DEF_VALIDITY     (7 * 86400)
#define DEF_ARL_VALIDITY (365 * 86400)
#define DEF_DELAY        60
#define DEF_MAX_AGE      300
/* CPS App. C: 09:15, 14:15 and 19:00 Hong Kong time. */
static const int def_slots[] = { 1 * 3600 + 15 * 60, 6 * 3600 + 15 * 60, 11 * 3600 };

void ec_crl_conf_init(ec_crl_conf_t *c)
{
    memset(c, 0, sizeof(*c));
    c->validity = c->arl_validity = c->delay = c->max_age = EC_CRL_UNSET;
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* HH:MM or HH:MM:SS, UTC. */
static int time_of_day(const char *s)
{
    int h, m, sec = 0, n = 0, k = 0;

    if (sscanf(s, "%2d:%2d%n", &h, &m, &n) != 2)
        return -1;
    if (s[n] == ':') {
        if (sscanf(s + n, ":%2d%n", &sec, &k) != 1)
            return -1;
        n += k;
    }
    if (s[n] || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 59)
        return -1;
    return h * 3600 + m * 60 + sec;
}

static const char *schedule(ec_crl_conf_t *c, apr_pool_t *p, const char *name, int argc,
                            char *const *argv)
{
    ec_crl_sched_t s;

    memset(&s, 0, sizeof(s));
    if (argc == 2 && !strcasecmp(argv[0], "every")) {
        const char *err = ec_conf_duration(p, name, argv[1], 10, 86400, &s.every);
        if (err)
            return apr_psprintf(p, "%s every: %s", name, err);
    }
    else {
        if (argc < 1 || argc > EC_CRL_MAX_SLOTS)
            return apr_psprintf(p, "%s takes 1 to %d UTC times of day (HH:MM), or every DURATION",
                                name, EC_CRL_MAX_SLOTS);
        for (int i = 0; i < argc; i++) {
            int t = time_of_day(argv[i]);
            if (t < 0)
                return apr_psprintf(p, "%s: '%s' is not a UTC time of day HH:MM[:SS]", name, argv[i]);
            for (int j = 0; j < s.n; j++)
                if (s.at[j] == t)
                    return apr_psprintf(p, "%s: %s is listed twice", name, argv[i]);
            s.at[s.n++] = t;
        }
        qsort(s.at, (size_t)s.n, sizeof(int), cmp_int);
    }
    c->sched = s;
    c->sched_set = 1;
    return NULL;
}

static const char *one(apr_pool_t *p, const char *name, int argc)
{
    return argc == 1 ? NULL : apr_psprintf(p, "%s takes one value", name);
}

const char *ec_crl_conf_directive(ec_crl_conf_t *c, apr_pool_t *p, const char *name, int argc,
                                  char *const *argv)
{
    const char *err;

    if (!strcasecmp(name, "ECertCRLSchedule"))
        return schedule(c, p, name, argc, argv);
    if (!strcasecmp(name, "ECertCRLValidity"))
        return (err = one(p, name, argc)) ? err
             : ec_conf_duration(p, name, argv[0], 3600, EC_CRL_BR_VALIDITY, &c->validity);
    if (!strcasecmp(name, "ECertARLValidity"))
        return (err = one(p, name, argc)) ? err
             : ec_conf_duration(p, name, argv[0], 86400, EC_ARL_BR_VALIDITY, &c->arl_validity);
    /* The BR allow 24 hours; the CPS promises the web site's revocations within 24 hours. */
    if (!strcasecmp(name, "ECertCRLRevocationDelay"))
        return (err = one(p, name, argc)) ? err
             : ec_conf_duration(p, name, argv[0], 0, 3600, &c->delay);
    if (!strcasecmp(name, "ECertCRLMaxAge"))
        return (err = one(p, name, argc)) ? err
             : ec_conf_duration(p, name, argv[0], 0, 86400, &c->max_age);
    if (!strcasecmp(name, "ECertRootKey")) {
        if ((err = one(p, name, argc)))
            return err;
        if (strncmp(argv[0], "pkcs11:", 7))
            return "ECertRootKey: the key is named by a pkcs11: URI (RFC 7512)";
        c->root_key = apr_pstrdup(p, argv[0]);
        return NULL;
    }
    return EC_CRL_NOT_MINE;
}

ec_crl_conf_t *ec_crl_conf_merge(apr_pool_t *p, const ec_crl_conf_t *base, const ec_crl_conf_t *add)
{
    ec_crl_conf_t *c = apr_pcalloc(p, sizeof(*c));
#define PICKN(f) c->f = add->f != EC_CRL_UNSET ? add->f : base->f
    PICKN(validity);
    PICKN(arl_validity);
    PICKN(delay);
    PICKN(max_age);
#undef PICKN
    c->sched_set = add->sched_set || base->sched_set;
    c->sched = add->sched_set ? add->sched : base->sched;
    c->root_key = add->root_key ? add->root_key : base->root_key;
    return c;
}

void ec_crl_conf_finish(ec_crl_conf_t *c)
{
    if (c->validity == EC_CRL_UNSET)
        c->validity = DEF_VALIDITY;
    if (c->arl_validity == EC_CRL_UNSET)
        c->arl_validity = DEF_ARL_VALIDITY;
    if (c->delay == EC_CRL_UNSET)
        c->delay = DEF_DELAY;
    if (c->max_age == EC_CRL_UNSET)
        c->max_age = DEF_MAX_AGE;
    if (!c->sched_set) {
        memset(&c->sched, 0, sizeof(c->sched));
        c->sched.n = (int)(sizeof(def_slots) / sizeof(def_slots[0]));
        memcpy(c->sched.at, def_slots, sizeof(def_slots));
        c->sched_set = 1;
    }
}

time_t ec_crl_sched_slot(const ec_crl_sched_t *s, time_t now)
{
    time_t day = now - now % 86400;
    int sec = (int)(now % 86400);

    if (s->every > 0)
        return day + sec - sec % s->every;
    for (int i = s->n - 1; i >= 0; i--)
        if (s->at[i] <= sec)
            return day + s->at[i];
    /* Before today's first slot: yesterday's last one. */
    return s->n ? day - 86400 + s->at[s->n - 1] : 0;
}

int ec_crl_renew_after(const ec_crl_conf_t *c, int arl)
{
    int v = arl ? c->arl_validity : c->validity, r = v - v / 4;
    return !arl && r > EC_CRL_BR_INTERVAL ? EC_CRL_BR_INTERVAL : r;
}
