/* Certificate Transparency (RFC 6962; CPS 4.3.1): the logs a certificate is submitted to, the
 * Signed Certificate Timestamps they return, checked against each log's key over the
 * precertificate entry, and the SCT list the final certificate carries. Policy (Chrome's and
 * Apple's CT policies, which browsers enforce): a certificate valid for at most 180 days needs
 * 2 SCTs, a longer one 3, from at least 2 distinct log operators. */
#ifndef EC_CT_H
#define EC_CT_H

#include <stdint.h>
#include <time.h>
#include <apr_pools.h>
#include <apr_tables.h>

#define EC_OID_CT_POISON "1.3.6.1.4.1.11129.2.4.3"
#define EC_OID_CT_SCTS   "1.3.6.1.4.1.11129.2.4.2"

/* Which certificate of a CT issuance a TBS is for. */
enum { EC_CT_NONE = 0, EC_CT_PRECERT, EC_CT_FINAL };

typedef struct {
    const char *name, *operator_name;
    const char *url;                 /* base: <url>ct/v1/add-pre-chain */
    const uint8_t *spki; size_t spki_len;
    uint8_t log_id[32];              /* SHA-256 of the SPKI */
    time_t start, end;               /* takes certificates whose notAfter is in [start, end) */
} ec_ct_log_t;

typedef struct {
    const ec_ct_log_t *log;
    uint64_t timestamp;              /* ms since the epoch */
    const uint8_t *ext; size_t ext_len;
    const uint8_t *sig; size_t sig_len;   /* DigitallySigned: hash, signature, length, bytes */
    const uint8_t *tls; size_t tls_len;   /* the whole SCT as the list carries it */
} ec_ct_sct_t;

/* name, operator, url, base64 SubjectPublicKeyInfo (ECDSA P-256 or RSA), window. */
apr_status_t ec_ct_log_init(apr_pool_t *p, ec_ct_log_t *log, const char *name, const char *operator_name,
                            const char *url, const char *spki_b64, time_t start, time_t end,
                            const char **err);

/* An add-pre-chain answer (JSON) of log -> SCT; refused when malformed or of another log. */
apr_status_t ec_ct_sct_from_json(apr_pool_t *p, const ec_ct_log_t *log, const char *json, size_t len,
                                 ec_ct_sct_t *out, const char **err);
/* A serialized SCT; its log is looked up by ID among logs (NULL when none has it). */
apr_status_t ec_ct_sct_from_tls(apr_pool_t *p, const apr_array_header_t *logs, const uint8_t *tls,
                                size_t len, ec_ct_sct_t *out, const char **err);

/* 1 when the SCT's signature is its log's over the precert entry: SHA-256 of the issuer's
 * SPKI and the TBSCertificate without the poison extension. */
int ec_ct_sct_verify(const ec_ct_sct_t *sct, const uint8_t issuer_key_hash[32], const uint8_t *tbs,
                     size_t tbs_len);

/* The Extension TLVs the precertificate and the final certificate end with. */
const uint8_t *ec_ct_poison_ext(apr_pool_t *p, size_t *len);
const uint8_t *ec_ct_scts_ext(apr_pool_t *p, const ec_ct_sct_t *scts, int n, size_t *len);
/* The SCTs (serialized) of a certificate's SCT list extension value (extnValue contents). */
apr_status_t ec_ct_scts_parse(apr_pool_t *p, const uint8_t *extn, size_t len, apr_array_header_t **tls_scts,
                              const char **err);

/* SCTs a certificate valid from not_before to not_after needs. */
int ec_ct_required(time_t not_before, time_t not_after);
/* NULL when the verified SCTs meet the policy, else why not. */
const char *ec_ct_policy(apr_pool_t *p, const ec_ct_sct_t *scts, int n, time_t not_before, time_t not_after);

#endif
