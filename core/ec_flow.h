/* The subscriber's steps around issuance (User Guide C.3, C.6, C.7; CPS 4.4):
 * confirm the application, accept or reject the certificate, and the public
 * repository search (CPS 2.1, 4.4.2). Each step is one transaction with its audit. */
#ifndef EC_FLOW_H
#define EC_FLOW_H

#include <time.h>
#include "ec_app.h"

extern const ec_stmt_t ec_flow_stmts[];

typedef struct {
    const char *issuer_id, *issuer_cn, *serial_hex, *status, *server_name;
    const uint8_t *der; size_t der_len;     /* NULL and "" name: a serial, not a certificate */
    time_t not_before, not_after, revoked_at;  /* revoked_at 0: not revoked */
    int reason;                             /* RFC 5280 CRLReason; EC_REASON_UNSPECIFIED */
    int published;                          /* accepted, so in the repository (CPS 4.4.2) */
} ec_flow_cert_t;

apr_status_t ec_flow_app_by_id(ec_store_t *s, apr_pool_t *p, const char *id, ec_app_t **a);
/* approved|confirmed -> confirmed; chinese: O= carries the Chinese name (CPS 3.1.1.3). */
apr_status_t ec_flow_confirm(ec_store_t *s, apr_pool_t *p, ec_app_t *a, int chinese,
                             const char *actor);
/* The application's latest certificate; APR_ENOENT when it has none. */
apr_status_t ec_flow_certificate(ec_store_t *s, apr_pool_t *p, const char *app_id, ec_flow_cert_t *c);
/* issued -> accepted: published in the repository (CPS 4.4.2). APR_EINVAL if not issued. */
apr_status_t ec_flow_accept(ec_store_t *s, apr_pool_t *p, ec_app_t *a, const char *actor);
/* issued -> rejected: the certificate is revoked (reason unspecified or superseded). */
apr_status_t ec_flow_reject(ec_store_t *s, apr_pool_t *p, ec_app_t *a, int reason,
                            const char *why, const char *actor);
/* The repository: published certificates (revoked ones too) by server name (A-label,
 * matched against every SAN) or serial (hex); by serial also the revoked serials never
 * published, without their content (published 0, der NULL). At most 50, newest first. */
apr_status_t ec_flow_search(ec_store_t *s, apr_pool_t *p, const char *name, const char *serial_hex,
                            apr_array_header_t **found);   /* ec_flow_cert_t */
/* One published certificate of the repository; APR_ENOENT otherwise. */
apr_status_t ec_flow_public_cert(ec_store_t *s, apr_pool_t *p, const char *issuer_id,
                                 const char *serial_hex, ec_flow_cert_t *c);

/* Serial as the User Guide prints it: "45 16 9d 08 ..." */
char *ec_flow_serial_spaced(apr_pool_t *p, const char *serial_hex);
/* A serial typed by a person (spaces, colons, any case, leading zeros, "0x", openssl's
 * "serial=") -> serial_hex. */
const char *ec_flow_serial_norm(apr_pool_t *p, const char *in);
/* The server name in what a person pasted into the search: the host of a URL
 * ("https://name:443/path"), without one trailing dot; not yet checked as a name. */
const char *ec_flow_query_host(apr_pool_t *p, const char *in);

#endif
