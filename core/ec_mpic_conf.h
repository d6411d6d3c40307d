/* The settings of multi-perspective issuance corroboration (BR 3.2.2.9), shared by mod_ecert
 * and ecertctl: the remote perspectives this CA asks (name, URL, RIR, where it is, the key it
 * shares with each), the primary perspective's own place, the CA file the perspectives' TLS
 * certificates chain to, and how long an answer may take. Also the BR's phase-in of the
 * number of remote perspectives, and whether a configured set meets the BR's distance and RIR
 * rules. */
#ifndef EC_MPIC_CONF_H
#define EC_MPIC_CONF_H

#include <stdint.h>
#include <time.h>
#include <apr_pools.h>
#include <apr_tables.h>

#define EC_MPIC_KEY_LEN     32
#define EC_MPIC_MIN_KM      500.0     /* BR 3.2.2.9: distinct perspectives lie this far apart */

typedef struct {
    const char *name;
    const char *url;                 /* https://host[:port]/path of its check endpoint */
    const char *rir;                 /* AFRINIC, APNIC, ARIN, LACNIC, RIPE */
    double lat, lon;
    uint8_t key[EC_MPIC_KEY_LEN];    /* HMAC-SHA256 key shared with that perspective */
} ec_perspective_t;

typedef struct {
    apr_array_header_t *perspectives;   /* ec_perspective_t; set by ec_mpic_conf_finish */
    const char *client;              /* this CA's name in its requests (ECertPerspectivePrimary) */
    const char *rir;
    double lat, lon;
    int have_primary;
    const char *ca_file;             /* ECertPerspectiveCA */
    int timeout_ms;                  /* -1 unset */
    int minimum;                     /* -1 unset: the BR's number; set only in a test build */
} ec_mpic_conf_t;

extern const char EC_MPIC_NOT_MINE[];

void ec_mpic_conf_init(ec_mpic_conf_t *c);
/* ECertPerspective, ECertPerspectivePrimary, ECertPerspectiveCA, ECertPerspectiveTimeout,
 * ECertPerspectiveMinimum: NULL when taken, a sentence, or EC_MPIC_NOT_MINE. */
const char *ec_mpic_conf_directive(ec_mpic_conf_t *c, apr_pool_t *p, const char *name, int argc,
                                   char *const *argv);
ec_mpic_conf_t *ec_mpic_conf_merge(apr_pool_t *p, const ec_mpic_conf_t *base, const ec_mpic_conf_t *add);
void ec_mpic_conf_finish(ec_mpic_conf_t *c, apr_pool_t *p);

/* A key shared with a perspective (or, on the perspective, with a CA): a file of 64 hex
 * digits (32 octets) that only its owner may read. NULL, or why not. */
const char *ec_mpic_key_load(apr_pool_t *p, const char *path, uint8_t key[EC_MPIC_KEY_LEN]);

/* The number of remote perspectives the BR require at now (SC-067's phase-in), or the test
 * build's ECertPerspectiveMinimum. */
int ec_mpic_required(const ec_mpic_conf_t *c, time_t now);
/* The non-corroborations a quorum of n remote perspectives allows (BR 3.2.2.9 table). */
int ec_mpic_allowed_failures(int n);

/* Whether the configured set may be relied on at now: enough perspectives, each at least
 * 500 km from the primary and from each other, over at least two RIRs, and the settings
 * complete. NULL when it may; else a sentence for the log and the operator. */
const char *ec_mpic_conf_problem(const ec_mpic_conf_t *c, apr_pool_t *p, time_t now);

/* Straight-line (great-circle) distance in km. */
double ec_mpic_km(double lat1, double lon1, double lat2, double lon2);

#endif
