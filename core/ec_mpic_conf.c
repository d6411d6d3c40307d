#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "ec_mpic_conf.h"
#include "ec_util.h"

const char EC_MPIC_NOT_MINE[] = "not a perspective directive";

#define DEF_TIMEOUT_MS 20000

static const char *const RIRS[] = { "AFRINIC", "APNIC", "ARIN", "LACNIC", "RIPE", NULL };

/* SC-067's phase-in (BR 2.0.7 to 2.1.x; 2.2.6 keeps only its end state and the quorum table):
 * 2 remote perspectives from 2025-09-15, 3 from 2026-03-15, 4 from 2026-06-15, 5 from
 * 2026-12-15. Seconds since the epoch, UTC. */
static const struct { time_t from; int n; } PHASES[] = {
    { 1797292800, 5 },      /* 2026-12-15 */
    { 1781481600, 4 },      /* 2026-06-15 */
    { 1773532800, 3 },      /* 2026-03-15 */
    { 0, 2 },
};

void ec_mpic_conf_init(ec_mpic_conf_t *c)
{
    memset(c, 0, sizeof(*c));
    c->timeout_ms = -1;
    c->minimum = -1;
}

static const char *latlon(apr_pool_t *p, const char *s, double *lat, double *lon)
{
    char *end;
    *lat = strtod(s, &end);
    if (end == s || *end != ',')
        return apr_psprintf(p, "'%s' is not a latitude,longitude pair (e.g. 22.32,114.17)", s);
    s = end + 1;
    *lon = strtod(s, &end);
    if (end == s || *end || *lat < -90 || *lat > 90 || *lon < -180 || *lon > 180)
        return apr_psprintf(p, "'%s' is not a latitude,longitude pair (e.g. 22.32,114.17)", s);
    return NULL;
}

static const char *rir(apr_pool_t *p, const char *s, const char **out)
{
    for (int i = 0; RIRS[i]; i++)
        if (!strcasecmp(s, RIRS[i])) {
            *out = RIRS[i];
            return NULL;
        }
    return apr_psprintf(p, "'%s' is not a Regional Internet Registry (AFRINIC, APNIC, ARIN, LACNIC, RIPE)", s);
}

const char *ec_mpic_key_load(apr_pool_t *p, const char *path, uint8_t key[EC_MPIC_KEY_LEN])
{
    char buf[130];
    apr_file_t *f;
    apr_size_t n = sizeof(buf) - 1;
    size_t len = 0;
    uint8_t *k;
    char *e;

    apr_finfo_t fi;
    if (apr_stat(&fi, path, APR_FINFO_PROT, p) == APR_SUCCESS &&
        (fi.protection & (APR_FPROT_GREAD | APR_FPROT_GWRITE | APR_FPROT_WREAD | APR_FPROT_WWRITE)))
        return apr_psprintf(p, "the perspective key file %s may be read or written by others than its owner "
                            "(chmod 600)", path);
    if (apr_file_open(&f, path, APR_FOPEN_READ, 0, p) != APR_SUCCESS)
        return apr_psprintf(p, "cannot read the perspective key file %s", path);
    if (apr_file_read(f, buf, &n) != APR_SUCCESS)
        n = 0;
    apr_file_close(f);
    buf[n] = '\0';
    for (e = buf + strlen(buf); e > buf && apr_isspace(e[-1]); e--)
        e[-1] = '\0';
    k = ec_unhex(p, buf, &len);
    if (!k || len != EC_MPIC_KEY_LEN)
        return apr_psprintf(p, "the perspective key file %s does not hold 64 hex digits", path);
    memcpy(key, k, EC_MPIC_KEY_LEN);
    memset(buf, 0, sizeof(buf));
    memset(k, 0, len);
    return NULL;
}

static int good_name(const char *s)
{
    if (!*s || strlen(s) > 32)
        return 0;
    for (; *s; s++)
        if (!apr_isalnum(*s) && *s != '-' && *s != '_')
            return 0;
    return 1;
}

static const char *add_perspective(ec_mpic_conf_t *c, apr_pool_t *p, int argc, char *const *argv)
{
    ec_perspective_t v;
    const char *err;

    if (argc != 5)
        return "ECertPerspective takes NAME URL RIR LATITUDE,LONGITUDE KEYFILE";
    if (!c->perspectives)
        c->perspectives = apr_array_make(p, 8, sizeof(ec_perspective_t));
    memset(&v, 0, sizeof(v));
    if (!good_name(argv[0]))
        return apr_psprintf(p, "ECertPerspective: '%s' is not a name (letters, digits, - and _, up to 32)", argv[0]);
    for (int i = 0; i < c->perspectives->nelts; i++) {
        const ec_perspective_t *o = &APR_ARRAY_IDX(c->perspectives, i, ec_perspective_t);
        if (!strcmp(o->name, argv[0]))
            return apr_psprintf(p, "ECertPerspective %s is configured twice", argv[0]);
        if (!strcasecmp(o->url, argv[1]))
            return apr_psprintf(p, "ECertPerspective %s has the URL of %s: one perspective counts once", argv[0],
                                o->name);
    }
    if (strncasecmp(argv[1], "https://", 8) || strlen(argv[1]) < 9 || strpbrk(argv[1], " \t\r\n"))
        return apr_psprintf(p, "ECertPerspective %s: '%s' is not an https:// URL (BR 3.2.2.9: an "
                            "authenticated and encrypted channel)", argv[0], argv[1]);
    v.name = apr_pstrdup(p, argv[0]);
    v.url = apr_pstrdup(p, argv[1]);
    if ((err = rir(p, argv[2], &v.rir)) || (err = latlon(p, argv[3], &v.lat, &v.lon)) ||
        (err = ec_mpic_key_load(p, argv[4], v.key)))
        return apr_psprintf(p, "ECertPerspective %s: %s", argv[0], err);
    *(ec_perspective_t *)apr_array_push(c->perspectives) = v;
    return NULL;
}

const char *ec_mpic_conf_directive(ec_mpic_conf_t *c, apr_pool_t *p, const char *name, int argc,
                                   char *const *argv)
{
    const char *err;
    char *end;
    long v;

    if (!strcasecmp(name, "ECertPerspective"))
        return add_perspective(c, p, argc, argv);
    if (!strcasecmp(name, "ECertPerspectivePrimary")) {
        if (argc != 3 || !good_name(argv[0]))
            return "ECertPerspectivePrimary takes NAME LATITUDE,LONGITUDE RIR: this CA's name in its "
                   "requests and where its own (primary) perspective is";
        if ((err = latlon(p, argv[1], &c->lat, &c->lon)) || (err = rir(p, argv[2], &c->rir)))
            return apr_psprintf(p, "ECertPerspectivePrimary: %s", err);
        c->client = apr_pstrdup(p, argv[0]);
        c->have_primary = 1;
        return NULL;
    }
    if (!strcasecmp(name, "ECertPerspectiveCA")) {
        if (argc != 1)
            return "ECertPerspectiveCA takes the file of the CA certificates the perspectives' TLS "
                   "certificates chain to";
        c->ca_file = apr_pstrdup(p, argv[0]);
        return NULL;
    }
    if (!strcasecmp(name, "ECertPerspectiveTimeout")) {
        v = argc == 1 ? strtol(argv[0], &end, 10) : 0;
        if (argc != 1 || *end || v < 1 || v > 120)
            return "ECertPerspectiveTimeout takes the seconds every perspective's answer may take, 1 to 120";
        c->timeout_ms = (int)v * 1000;
        return NULL;
    }
    if (!strcasecmp(name, "ECertPerspectiveMinimum")) {
#ifdef EC_TEST_CLOCK
        v = argc == 1 ? strtol(argv[0], &end, 10) : -1;
        if (argc != 1 || *end || v < 0 || v > 16)
            return "ECertPerspectiveMinimum takes 0 to 16";
        c->minimum = (int)v;
        return NULL;
#else
        return "ECertPerspectiveMinimum exists only in a test build: a CA relies on the number of "
               "remote perspectives the Baseline Requirements set (3.2.2.9)";
#endif
    }
    return EC_MPIC_NOT_MINE;
}

ec_mpic_conf_t *ec_mpic_conf_merge(apr_pool_t *p, const ec_mpic_conf_t *base, const ec_mpic_conf_t *add)
{
    ec_mpic_conf_t *c = apr_pcalloc(p, sizeof(*c));
    *c = add->have_primary ? *add : *base;
    c->perspectives = add->perspectives ? add->perspectives : base->perspectives;
    c->ca_file = add->ca_file ? add->ca_file : base->ca_file;
    c->timeout_ms = add->timeout_ms >= 0 ? add->timeout_ms : base->timeout_ms;
    c->minimum = add->minimum >= 0 ? add->minimum : base->minimum;
    return c;
}

void ec_mpic_conf_finish(ec_mpic_conf_t *c, apr_pool_t *p)
{
    if (!c->perspectives)
        c->perspectives = apr_array_make(p, 1, sizeof(ec_perspective_t));
    if (c->timeout_ms < 0)
        c->timeout_ms = DEF_TIMEOUT_MS;
}

int ec_mpic_required(const ec_mpic_conf_t *c, time_t now)
{
    if (c->minimum >= 0)
        return c->minimum;
    for (int i = 0;; i++)
        if (now >= PHASES[i].from)
            return PHASES[i].n;
}

int ec_mpic_allowed_failures(int n)
{
    return n >= 6 ? 2 : n >= 2 ? 1 : 0;
}

double ec_mpic_km(double lat1, double lon1, double lat2, double lon2)
{
    const double rad = M_PI / 180.0, r = 6371.0;
    double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
    double h = sin(dlat / 2) * sin(dlat / 2) + cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
    return 2 * r * asin(sqrt(h < 1 ? h : 1));
}

const char *ec_mpic_conf_problem(const ec_mpic_conf_t *c, apr_pool_t *p, time_t now)
{
    const apr_array_header_t *v = c->perspectives;
    int need = ec_mpic_required(c, now), rirs = 0;

    if (v->nelts < need)
        return apr_psprintf(p, "%d remote perspective%s configured (ECertPerspective), the Baseline Requirements "
                            "(3.2.2.9) require %d at least", v->nelts, v->nelts == 1 ? " is" : "s are", need);
    if (!v->nelts)
        return NULL;
    if (!c->have_primary)
        return "ECertPerspectivePrimary is not set: where the primary perspective is decides which perspectives "
               "are remote";
    if (!c->ca_file)
        return "ECertPerspectiveCA is not set: the perspectives' TLS certificates cannot be verified";
    for (int i = 0; i < v->nelts; i++) {
        const ec_perspective_t *a = &APR_ARRAY_IDX(v, i, ec_perspective_t);
        double km = ec_mpic_km(c->lat, c->lon, a->lat, a->lon);
        int first = 1;
        if (km < EC_MPIC_MIN_KM)
            return apr_psprintf(p, "perspective %s is %.0f km from the primary perspective: a remote one lies "
                                "%.0f km away at least (BR 3.2.2.9)", a->name, km, EC_MPIC_MIN_KM);
        for (int j = 0; j < i; j++) {
            const ec_perspective_t *b = &APR_ARRAY_IDX(v, j, ec_perspective_t);
            if ((km = ec_mpic_km(a->lat, a->lon, b->lat, b->lon)) < EC_MPIC_MIN_KM)
                return apr_psprintf(p, "perspectives %s and %s are %.0f km apart: distinct perspectives lie "
                                    "%.0f km apart at least (BR 3.2.2.9)", b->name, a->name, km, EC_MPIC_MIN_KM);
            if (b->rir == a->rir)
                first = 0;
        }
        rirs += first;
    }
    if (need >= 2 && rirs < 2)
        return "the remote perspectives are all in one Regional Internet Registry's region: they must span two "
               "at least";
    return NULL;
}
