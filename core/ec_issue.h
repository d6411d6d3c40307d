/* Issuance (CPS 4.3.1, R-5, R-6): the one pipeline the subscriber pages and
 * `ecertctl issue` share. CSR checks -> key blocklists -> pre-issuance checks (the
 * stage where DCV and CAA plug in) -> App. B profile -> lint -> the signing record
 * committed (ec_signing.h) -> with CT logs, the precertificate signed and logged, its SCTs in
 * the TBS (ec_issue_ct.h) -> C_Sign in the HSM -> certificate, names, application status,
 * OCSP pre-signing request, the evidence the checks relied on, the record finished and
 * audit event in one transaction. */
#ifndef EC_ISSUE_H
#define EC_ISSUE_H

#include "ec_app.h"
#include "ec_csr.h"
#include "ec_profile.h"
#include "ec_store.h"

extern const ec_stmt_t ec_issue_stmts[];

/* What an issuance relied on, kept with the certificate (issuance_evidence). */
typedef struct {
    const char *name;                /* the certificate name */
    const char *kind;                /* "dcv" | "caa" */
    const char *ref_id;              /* the dcv_validation or caa_check row */
} ec_issue_evidence_t;

/* A pre-issuance check. Its prepare step (may be NULL) runs before the issuance transaction,
 * for slow work such as DNS lookups that must not hold the application's row lock, and may
 * leave what it found in *state; its fn step runs inside the transaction with the row locked.
 * Each returns NULL to pass, or a message-catalogue key ("dcv.required") that tells the
 * subscriber why the certificate cannot be issued yet, with *detail a sentence naming the name
 * and the reason. fn may append to evidence (ec_issue_evidence_t); prepare gets NULL there. */
typedef const char *ec_issue_check_fn(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, void *baton,
                                      void **state, apr_array_header_t *evidence, const char **detail);
typedef struct {
    const char *name;
    ec_issue_check_fn *prepare;
    ec_issue_check_fn *fn;
    void *baton;
} ec_issue_check_t;

typedef struct {
    ec_p11 *p11;
    const ec_profile_conf_t *profile;
    const ec_issuer_t *ssl, *ev;
    const ec_issue_check_t *checks;
} ec_issue_ctx_t;

typedef enum {
    EC_ISSUE_OK = 0,
    EC_ISSUE_STATE,          /* the application is not waiting for a certificate */
    EC_ISSUE_CSR,            /* csr_err says what is wrong with the request */
    EC_ISSUE_PRECHECK,       /* message: the catalogue key of the check that failed */
    EC_ISSUE_LINT,           /* message: the rule the certificate broke (not signed) */
    EC_ISSUE_CT,             /* too few SCTs: no certificate; its precertificate is revoked */
    EC_ISSUE_INTERNAL        /* HSM or database: nothing was issued */
} ec_issue_status_t;

typedef struct {
    ec_issue_status_t status;
    ec_csr_err_t csr_err;
    int bits;
    const char *cn;                  /* CN of the request as written */
    const char *message;
    const char *detail;              /* EC_ISSUE_PRECHECK: a sentence (which name, why) */
    const char *issuer_id, *serial_hex;
    const uint8_t *der; size_t der_len;
    time_t not_before, not_after;
} ec_issue_result_t;

/* Issues a certificate for application a from the PEM request. The return value is
 * APR_SUCCESS when res->status says what happened (including refusals). */
apr_status_t ec_issue(const ec_issue_ctx_t *ctx, ec_store_t *s, apr_pool_t *p, const ec_app_t *a,
                      const char *pem, size_t pem_len, const char *actor, ec_issue_result_t *res);

#endif
