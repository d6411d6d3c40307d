/* Asking remote perspectives (BR 3.2.2.9): one request per (perspective, check), all at once
 * over HTTPS (libcurl multi), each answer read within the configured time, its TLS certificate
 * verified against ECertPerspectiveCA, its MAC against the key shared with that perspective,
 * and its nonce, check and name against the request's. Whatever fails any of that is no
 * answer, and says why. */
#ifndef EC_MPIC_CLIENT_H
#define EC_MPIC_CLIENT_H

#include "ec_mpic_conf.h"
#include "ec_mpic_wire.h"

typedef struct {
    const ec_perspective_t *pv;
    ec_mpic_msg_t req;               /* check, name, code, method, issuers: the caller's */
    int answered;                    /* a verified answer is in ans */
    ec_mpic_msg_t ans;
    const char *failure;             /* not answered: timeout, unreachable, tls, http, forged, malformed */
    const char *why;                 /* not answered: a sentence */
    double ms;                       /* how long it took */
} ec_mpic_ask_t;

/* Sends every ask and waits at most the configured time for all of them. */
void ec_mpic_ask(const ec_mpic_conf_t *c, apr_pool_t *p, ec_mpic_ask_t *asks, int n);

#endif
