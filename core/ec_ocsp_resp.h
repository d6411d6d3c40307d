/* OCSP responses (RFC 6960 4.2, CPS App. D): BasicOCSPResponse, responderID byKey,
 * sha256WithRSAEncryption signed in the HSM by the delegated responder key, responder
 * certificate included. Unsigned error responses for everything that is not an answer. */
#ifndef EC_OCSP_RESP_H
#define EC_OCSP_RESP_H

#include <time.h>
#include "ec_ocsp_req.h"
#include "ec_p11.h"

/* OCSPResponseStatus */
enum {
    EC_OCSP_SUCCESSFUL = 0, EC_OCSP_MALFORMED = 1, EC_OCSP_INTERNAL_ERROR = 2,
    EC_OCSP_TRY_LATER = 3, EC_OCSP_UNAUTHORIZED = 6
};
/* CertStatus */
enum { EC_OCSP_GOOD = 0, EC_OCSP_REVOKED = 1, EC_OCSP_UNKNOWN = 2 };

/* The issuer a CertID names: hashes of its subject and of its subjectPublicKey BIT
 * STRING contents (RFC 6960 4.1.1; not the SKI extension). */
typedef struct {
    uint8_t name_sha1[20], key_sha1[20];
    uint8_t name_sha256[32], key_sha256[32];
} ec_ocsp_issuer_hash_t;

/* From the issuer's certificate; APR_EINVAL if it is not one. */
apr_status_t ec_ocsp_issuer_hash(apr_pool_t *p, const uint8_t *cert, size_t len, ec_ocsp_issuer_hash_t *h);
int ec_ocsp_issuer_match(const ec_ocsp_issuer_hash_t *h, const ec_ocsp_certid_t *id);

typedef struct {
    ec_p11 *p11;
    ec_p11_key *key;
    const uint8_t *cert; size_t cert_len;   /* responder certificate, sent in every answer */
    uint8_t key_sha1[20];                   /* ResponderID byKey */
} ec_ocsp_signer_t;

/* Fills the certificate and byKey hash; p11/key are set by the caller. */
apr_status_t ec_ocsp_signer_cert(apr_pool_t *p, ec_ocsp_signer_t *s, const uint8_t *cert, size_t len);

/* CertID { alg, nameHash, keyHash, serial } with NULL algorithm parameters. */
const uint8_t *ec_ocsp_certid(apr_pool_t *p, int alg, const ec_ocsp_issuer_hash_t *h,
                              const uint8_t *serial, size_t serial_len, size_t *len);

typedef struct {
    const uint8_t *certid; size_t certid_len;   /* CertID TLV */
    int status;                 /* EC_OCSP_GOOD / REVOKED / UNKNOWN */
    time_t revoked_at;
    int reason;                 /* CRLReason, or -1: none (BR 7.2.2: unspecified is omitted) */
    time_t this_update, next_update;
} ec_ocsp_single_t;

/* A successful response with n SingleResponses; nonce (extnValue contents of the
 * request's nonce extension, may be NULL) is echoed. One C_Sign. */
apr_status_t ec_ocsp_sign(apr_pool_t *p, const ec_ocsp_signer_t *s, const ec_ocsp_single_t *sr, int n,
                          const uint8_t *nonce, size_t nonce_len, time_t produced_at,
                          const uint8_t **der, size_t *len);

/* Unsigned OCSPResponse carrying only an error status (static storage, 5 octets). */
const uint8_t *ec_ocsp_error(int status, size_t *len);

#endif
