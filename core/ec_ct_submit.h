/* Submitting a precertificate to the CT logs (RFC 6962 4.1 add-pre-chain): every configured
 * log whose temporal window holds the certificate's notAfter, all at once over libcurl multi,
 * within ECertCTTimeout; each answer's SCT checked against that log's key before it counts. */
#ifndef EC_CT_SUBMIT_H
#define EC_CT_SUBMIT_H

#include "ec_ct_conf.h"

typedef struct {
    const ec_ct_log_t *log;
    int ok;                          /* a verified SCT is in sct */
    ec_ct_sct_t sct;
    const char *why;                 /* not ok: a sentence */
    double ms;
} ec_ct_result_t;

typedef struct {
    const uint8_t *precert; size_t precert_len;
    const uint8_t *issuer; size_t issuer_len;     /* the issuing CA's certificate */
    uint8_t issuer_key_hash[32];                  /* SHA-256 of its SubjectPublicKeyInfo */
    const uint8_t *tbs; size_t tbs_len;           /* the precertificate's TBS without the poison */
    time_t not_after;
} ec_ct_entry_t;

/* Results of the logs tried (ec_ct_result_t), in configuration order; none when no log's
 * window holds not_after. */
apr_array_header_t *ec_ct_submit(apr_pool_t *p, const ec_ct_conf_t *c, const ec_ct_entry_t *e);

#endif
