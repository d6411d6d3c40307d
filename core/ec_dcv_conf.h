/* The settings of domain validation and CAA, shared by mod_ecert and ecertctl: the resolver
 * (ECertDNS*), the issuer domains CAA names us by (ECertCAAIssuerDomain), whether Constructed
 * E-mail is offered (ECertDCVEmail) and whether a lab's private addresses may be fetched
 * (ECertDCVPrivateAddresses). */
#ifndef EC_DCV_CONF_H
#define EC_DCV_CONF_H

#include "ec_caa.h"
#include "ec_mpic_conf.h"
#include "ec_resolver.h"

typedef struct {
    ec_resolver_conf_t dns;
    ec_caa_conf_t caa;
    int email;                   /* -1 unset; default on (until the BR sunset) */
    int private_addresses;       /* -1 unset; default refuse: the CA never fetches its own network */
    int mails_per_hour;          /* validation mails per application; -1 unset */
    ec_mpic_conf_t mpic;         /* the remote perspectives (BR 3.2.2.9) */
} ec_dcv_conf_t;

extern const char EC_DCV_NOT_MINE[];
void ec_dcv_conf_init(ec_dcv_conf_t *c);
/* NULL when taken, a sentence, or EC_DCV_NOT_MINE. */
const char *ec_dcv_conf_directive(ec_dcv_conf_t *c, apr_pool_t *p, const char *name, int argc,
                                  char *const *argv);
ec_dcv_conf_t *ec_dcv_conf_merge(apr_pool_t *p, const ec_dcv_conf_t *base, const ec_dcv_conf_t *add);
void ec_dcv_conf_finish(ec_dcv_conf_t *c, apr_pool_t *p);

#endif
