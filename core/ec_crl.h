/* X.509 v2 CRLs (RFC 5280 section 5) as BR 7.2 and CPS App. C tables V, VI (Sub CA CRLs) and
 * VII (the root's ARL) describe them, built as a stream: a million entries are added one by one
 * into a single buffer, the TBSCertList is signed in the token where it lies, and the signed
 * CRL is handed over without another copy.
 *
 * Where App. C predates the BR profile the BR win: the authorityKeyIdentifier carries the key
 * identifier only (BR 7.1.2.11.1; App. C lists issuer and serial), and subscriber entries carry
 * no reasonCode for unspecified (BR 7.2.2, as App. C note 1 also says). */
#ifndef EC_CRL_H
#define EC_CRL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <apr_pools.h>
#include <apr_errno.h>
#include <apr_strings.h>
#include "ec_p11.h"

/* CRLNumber: BR 7.2.2 wants it below 2^159; a 63-bit counter always is. */
typedef apr_uint64_t ec_crl_number_t;

/* Decimal text (APR's formatter knows no %llu). */
const char *ec_crl_number_text(apr_pool_t *p, ec_crl_number_t n);

typedef struct {
    const uint8_t *issuer; size_t issuer_len;    /* the CA's subject, byte for byte */
    uint8_t aki[20];                             /* the CA's subjectKeyIdentifier */
    time_t this_update, next_update;
    ec_crl_number_t number;
    int ca_entries;          /* ARL: every entry has a reasonCode 0-5 (App. C note 2, BR 7.2.2)
                                and the IDP says onlyContainsCACerts (App. C VII) */
    const char *const *idp_urls;                 /* issuingDistributionPoint fullName URIs, */
    int n_idp;                                   /* byte-identical to the certificates' CDP */
} ec_crl_params_t;

typedef struct ec_crl_w ec_crl_w;

ec_crl_w *ec_crl_begin(const ec_crl_params_t *params);
/* One revokedCertificates entry: serial as the certificate's positive INTEGER magnitude,
 * reason an RFC 5280 CRLReason or EC_REASON_UNSPECIFIED (-1). */
apr_status_t ec_crl_add(ec_crl_w *c, const uint8_t *serial, size_t serial_len, time_t revoked,
                        int reason);
long ec_crl_entries(const ec_crl_w *c);
/* Closes the TBSCertList, signs it with sha256WithRSAEncryption through the token and returns
 * the DER in a malloc'ed buffer (release with free()). c is gone afterwards, whatever happens. */
apr_status_t ec_crl_finish(ec_crl_w *c, ec_p11 *p11, ec_p11_key *key, uint8_t **der, size_t *len);
void ec_crl_abort(ec_crl_w *c);

/* thisUpdate and nextUpdate from the first bytes of a CRL (the rest need not be there), for
 * serving a file without reading it whole. APR_EINVAL if those bytes are not a CRL. */
apr_status_t ec_crl_peek(const uint8_t *head, size_t n, time_t *this_update, time_t *next_update);

/* The reasonCode an entry carries, or -1 for none: subscriber CRLs only 1, 3, 4, 5, 9
 * (App. C note 1); the ARL always one of 0-5, anything else (unspecified) being 0 (note 2). */
int ec_crl_entry_reason(int reason, int ca_entries);

#endif
