/* When and how CRLs are issued: the directives httpd and ecertctl share, their BR bounds and
 * defaults (in one place), and the schedule (CPS App. C: 01:15, 06:15 and 11:00 UTC). */
#ifndef EC_CRL_CONF_H
#define EC_CRL_CONF_H

#include <time.h>
#include <apr_pools.h>

#define EC_CRL_UNSET (-1)
#define EC_CRL_MAX_SLOTS 48

/* BR 4.9.7 / 7.2: nextUpdate at most 10 days after thisUpdate for subscriber CRLs, at most 12
 * months (365 days never exceed them) for CRLs of CA certificates; a new subscriber CRL at
 * least every 7 days when certificates point to OCSP, and within 24 h of a revocation. */
#define EC_CRL_BR_VALIDITY     (10 * 86400)
#define EC_ARL_BR_VALIDITY     (365 * 86400)
#define EC_CRL_BR_INTERVAL     (7 * 86400)
#define EC_CRL_BR_REVOCATION   86400

typedef struct {
    int every;                       /* > 0: a slot every this many seconds (since 00:00 UTC) */
    int n;                           /* else n times of day, seconds after 00:00 UTC, sorted */
    int at[EC_CRL_MAX_SLOTS];
} ec_crl_sched_t;

typedef struct {
    int validity;                    /* nextUpdate - thisUpdate of Sub CA CRLs, seconds */
    int arl_validity;                /* the same for the root's ARL */
    int delay;                       /* seconds from a revocation to the CRL that lists it */
    int max_age;                     /* HTTP Cache-Control ceiling, seconds */
    ec_crl_sched_t sched;
    int sched_set;
    const char *root_key;            /* pkcs11: URI of the root's key: this node keeps the ARL */
} ec_crl_conf_t;

/* ECertCRLSchedule, ECertCRLValidity, ECertARLValidity, ECertCRLRevocationDelay,
 * ECertCRLMaxAge, ECertRootKey. NULL when taken, a sentence saying what is wrong, or
 * EC_CRL_NOT_MINE. */
extern const char EC_CRL_NOT_MINE[];
void ec_crl_conf_init(ec_crl_conf_t *c);
const char *ec_crl_conf_directive(ec_crl_conf_t *c, apr_pool_t *p, const char *name, int argc,
                                  char *const *argv);
ec_crl_conf_t *ec_crl_conf_merge(apr_pool_t *p, const ec_crl_conf_t *base, const ec_crl_conf_t *add);
/* Fills what is unset with the defaults: 7 days, 365 days, 60 s, 300 s, 01:15 06:15 11:00. */
void ec_crl_conf_finish(ec_crl_conf_t *c);

/* The latest slot of the schedule at or before now. */
time_t ec_crl_sched_slot(const ec_crl_sched_t *s, time_t now);
/* How long after thisUpdate a CRL is re-issued even with no slot or revocation due: for Sub CA
 * CRLs the BR's 7 days or 3/4 of their validity if shorter, for the ARL 3/4 of its validity
 * (App. C: yearly, before nextUpdate). */
int ec_crl_renew_after(const ec_crl_conf_t *c, int arl);

#endif
