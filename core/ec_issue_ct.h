/* The CT part of issuance (RFC 6962 3; CPS 4.3.1; BR 4.3.1.2, 7.1.2): precertificate = the
 * certificate's TBS plus the critical poison, linted and signed by the issuing CA itself
 * (no precertificate-signing CA since 2026-03-15), submitted to the logs; the verified SCTs
 * that meet the policy go into the final TBS, which differs from the precertificate's only in
 * that last extension. */
#ifndef EC_ISSUE_CT_H
#define EC_ISSUE_CT_H

#include "ec_ct_submit.h"
#include "ec_profile.h"

typedef struct {
    const uint8_t *precert; size_t precert_len;   /* signed: the serial is used from here on */
    apr_array_header_t *results;                  /* ec_ct_result_t, every log tried */
    ec_ct_sct_t *scts; int n_scts;                /* verified, in the certificate */
    const uint8_t *tbs; size_t tbs_len;           /* the final TBS, SCT list included */
    const char *why;                              /* a refusal: which rule, or why too few SCTs */
} ec_issue_ct_t;

/* tbs: the certificate's TBS without CT, built and linted from in (what the logs sign over).
 * APR_SUCCESS: out->tbs is ready to lint and sign. APR_EINVAL: the precertificate broke a
 * lint rule (nothing signed). APR_EAGAIN: the precertificate is signed but the logs gave too
 * few SCTs (the serial must be accounted for, and revoked). Other: the token failed. */
apr_status_t ec_issue_ct(ec_p11 *p11, const ec_profile_conf_t *c, ec_profile_in_t *in, const uint8_t *tbs,
                         size_t tbs_len, apr_pool_t *p, ec_issue_ct_t *out);

/* The TBS a log signed its SCT over for a final certificate: the certificate's TBS without
 * its SCT list (RFC 6962 3.2). NULL if cert has not exactly one. */
const uint8_t *ec_issue_ct_logged_tbs(apr_pool_t *p, const uint8_t *cert, size_t cert_len, size_t *len);
/* The SCT list extension's value of a certificate, or NULL. */
const uint8_t *ec_issue_ct_scts_of(apr_pool_t *p, const uint8_t *cert, size_t cert_len, size_t *len);

/* RFC 6962 3.2, checked on the signed certificates with OpenSSL's parser: the certificate
 * without its SCT list is the precertificate without its poison. NULL, or what differs. */
const char *ec_issue_ct_same_tbs(apr_pool_t *p, const uint8_t *precert, size_t precert_len,
                                 const uint8_t *cert, size_t cert_len);

#endif
