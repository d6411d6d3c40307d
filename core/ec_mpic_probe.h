/* What a remote perspective does with a request (BR 3.2.2.9): the same check the CA's primary
 * perspective does, through this perspective's own validating resolver and its own network —
 * Website Change (ec_dcv_web), DNS Change (ec_dcv_txt), CAA (ec_caa) — and the answer of what
 * it saw. It knows no CA key and no store: it only looks. */
#ifndef EC_MPIC_PROBE_H
#define EC_MPIC_PROBE_H

#include "ec_dcv_conf.h"
#include "ec_mpic_wire.h"
#include "ec_resolver.h"

/* ans is filled in (perspective, nonce, check, name, result, reason, detail, evidence); its
 * time is left to the caller. */
void ec_mpic_probe(ec_resolver_t *r, apr_pool_t *p, const ec_dcv_conf_t *c, const char *self,
                   const ec_mpic_msg_t *req, ec_mpic_msg_t *ans);

#endif
