/* OCSP requests (RFC 6960 4.1, RFC 9654 nonce, RFC 9919 SHA-256 CertIDs): the DER
 * parser and the decoding of the GET form (RFC 6960 A.1) from the raw request line.
 * Nothing here trusts its input: every length is checked, nothing is copied. */
#ifndef EC_OCSP_REQ_H
#define EC_OCSP_REQ_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>
#include "ec_der.h"

enum { EC_OCSP_HASH_OTHER = 0, EC_OCSP_HASH_SHA1 = 1, EC_OCSP_HASH_SHA256 = 2 };

#define EC_OCSP_NONCE_MAX 128       /* RFC 9654: 1..128 octets */
#define EC_OCSP_SERIAL_MAX 20       /* RFC 5280 4.1.2.2: no serial of ours is longer */

typedef struct {
    int alg;                        /* EC_OCSP_HASH_* */
    ec_der_r whole;                 /* the CertID TLV as sent (echoed in fresh answers) */
    ec_der_r name_hash, key_hash;   /* issuerNameHash, issuerKeyHash contents */
    ec_der_r serial;                /* minimal positive magnitude */
} ec_ocsp_certid_t;

typedef struct {
    int n;                          /* CertIDs (1..max) */
    ec_ocsp_certid_t *ids;
    int has_nonce;
    int nonce_ok;                   /* extnValue is one OCTET STRING of 1..128 octets */
    ec_der_r nonce_value;           /* extnValue contents, echoed as sent */
} ec_ocsp_req_t;

enum { EC_OCSP_REQ_OK = 0, EC_OCSP_REQ_MALFORMED = -1, EC_OCSP_REQ_TOO_MANY = -2 };

/* Parses a whole OCSPRequest (trailing bytes are an error). max_ids bounds the CertIDs
 * answered; more gives EC_OCSP_REQ_TOO_MANY. out points into der. */
int ec_ocsp_req_parse(apr_pool_t *p, const uint8_t *der, size_t len, int max_ids, ec_ocsp_req_t *out);

/* Percent-decoding, then base64 with either alphabet (+/ or -_), '=' padding optional.
 * Returns the DER, or NULL when the text is not that or decodes to more than max. */
uint8_t *ec_ocsp_b64_decode(apr_pool_t *p, const char *text, size_t text_len, size_t max, size_t *len);

/* The request-target of a raw request line ("GET /ocsp/MEow... HTTP/1.1"), without
 * scheme and authority (absolute form) and without the query; NULL if there is none. */
const char *ec_ocsp_request_path(apr_pool_t *p, const char *request_line);

/* GET (RFC 6960 A.1): "{url}/{url-encoding of base-64 of DER}". The base64 may contain
 * '/' itself, so the mount prefix is not cut by segments: the payload is the suffix
 * after the leftmost '/' (runs of '/' count as one, covering merged "//") that decodes
 * to a complete OCSPRequest. Only the raw path is used: httpd's normalised URI has
 * merged "//" and may refuse %2F. Returns EC_OCSP_REQ_OK with *der set, or an error. */
int ec_ocsp_get_request(apr_pool_t *p, const char *raw_path, size_t max, int max_ids,
                        const uint8_t **der, size_t *len, ec_ocsp_req_t *out);

#endif
