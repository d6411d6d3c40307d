/* ecertctl perspectives: the remote perspectives (BR 3.2.2.9) as httpd.conf lists them.
 *   perspectives check     asks each one for its health, all at once, over the same
 *                          authenticated channel the corroborations use; exit 0 when the
 *                          configured set can be relied on and every one answered
 * One line per perspective: name, RIR, distance from the primary, answer, time. */
#include <stdio.h>
#include <string.h>
#include <apr_strings.h>
#include "ctl.h"
#include "ec_clock.h"
#include "ec_mpic_client.h"

static int check(ctl_t *ctl, const ec_mpic_conf_t *c)
{
    int n = c->perspectives->nelts, ok = 0;
    ec_mpic_ask_t *asks = apr_pcalloc(ctl->pool, (apr_size_t)(n ? n : 1) * sizeof(*asks));
    const char *problem = ec_mpic_conf_problem(c, ctl->pool, ec_clock_now());

    for (int i = 0; i < n; i++) {
        asks[i].pv = &APR_ARRAY_IDX(c->perspectives, i, ec_perspective_t);
        asks[i].req.check = "health";
    }
    ec_mpic_ask(c, ctl->pool, asks, n);
    for (int i = 0; i < n; i++) {
        const ec_mpic_ask_t *a = &asks[i];
        int good = a->answered && !strcmp(a->ans.result, "ok");
        printf("%-14s %-7s %6.0f km  %-6s %7.1f ms  %s\n", a->pv->name, a->pv->rir,
               ec_mpic_km(c->lat, c->lon, a->pv->lat, a->pv->lon), good ? "ok" : a->answered ? a->ans.result : a->failure,
               a->ms, a->answered ? (a->ans.detail ? a->ans.detail : "") : a->why);
        ok += good;
    }
    printf("%d of %d answered; %d required now (BR 3.2.2.9), at most %d may fail to corroborate\n", ok, n,
           ec_mpic_required(c, ec_clock_now()), ec_mpic_allowed_failures(n));
    if (problem)
        printf("cannot be relied on: %s\n", problem);
    return problem || ok < n ? 1 : 0;
}

int cmd_perspectives(ctl_t *ctl, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "check")) {
        fputs("usage: ecertctl perspectives check\n", stderr);
        return 2;
    }
    return check(ctl, &ctl_dcv_conf(ctl)->mpic);
}
