/* The CA hierarchy of CPS App. H and its key ceremony: Root CA 3 (self-signed), the
 * two issuing Sub CAs, and a delegated OCSP responder per CA (CPS 7.3, App. D). */
#ifndef EC_CA_H
#define EC_CA_H

#include "ec_p11.h"
#include "ec_store.h"

#define EC_OID_CPS        "1.3.6.1.4.1.16030.1.7.16"
#define EC_OID_OCSP_POLICY "1.3.6.1.4.1.16030.1.6"
#define EC_OID_BR_OV      "2.23.140.1.2.2"
#define EC_OID_BR_EV      "2.23.140.1.1"
#define EC_OID_GS_EV      "1.3.6.1.4.1.4146.1.1"

typedef struct {
    const char *token_label;
    const char *root_cn, *ssl_cn, *ev_cn;
    const char *aia_base;       /* caIssuers: <aia_base><file>.crt */
    const char *crl_base;       /* CDP: <crl_base><crl file> */
    const char *ocsp_url;
    const char *cps_url;
    int root_days, subca_days, ocsp_days;
    const char *publish_dir;    /* CA certificates go to <publish_dir>/root/ */
    int force;
} ec_ceremony_t;

/* The file names the repository publishes, per role (User Guide C.7, CPS App. C). */
typedef struct {
    const char *role;           /* root | ssl | ev */
    const char *file;           /* e.g. ecert_ssl_ca_3-17 (.pem.crt / .crt) */
    const char *crl_file;       /* e.g. eCertSCA3-17CRL1.crl */
} ec_ca_files_t;

extern const ec_stmt_t ec_ca_stmts[];
extern const ec_ca_files_t ec_ca_files[];   /* root, ssl, ev */

void ec_ceremony_defaults(ec_ceremony_t *c);
/* Creates the keys in the token and the certificates, publishes them and records the
 * hierarchy with an audit event. Refuses an existing hierarchy unless c->force. */
apr_status_t ec_ceremony_run(ec_p11 *p11, ec_store_t *s, apr_pool_t *p, const ec_ceremony_t *c,
                             const char *actor, const char **report);

#endif
