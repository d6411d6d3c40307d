/* X.509 building blocks: names, extensions, the TBSCertificate, the signature wrap
 * (the same SEQUENCE { tbs, algorithm, signature } for certificates and CRLs), and
 * reading the facts the CA needs out of an existing certificate. */
#ifndef EC_X509_H
#define EC_X509_H

#include <apr_tables.h>
#include <time.h>
#include "ec_der.h"
#include "ec_p11.h"

#define EC_OID_CN        "2.5.4.3"
#define EC_OID_C         "2.5.4.6"
#define EC_OID_L         "2.5.4.7"
#define EC_OID_ST        "2.5.4.8"
#define EC_OID_STREET    "2.5.4.9"
#define EC_OID_O         "2.5.4.10"
#define EC_OID_SERIALNUMBER "2.5.4.5"
#define EC_OID_BUSINESS_CATEGORY "2.5.4.15"
#define EC_OID_JURISDICTION_C "1.3.6.1.4.1.311.60.2.1.3"
#define EC_OID_EKU_SERVER "1.3.6.1.5.5.7.3.1"
#define EC_OID_EKU_CLIENT "1.3.6.1.5.5.7.3.2"
#define EC_OID_EKU_OCSP   "1.3.6.1.5.5.7.3.9"

/* keyUsage bits as the first two octets of the BIT STRING. */
enum {
    EC_KU_DIGITAL_SIGNATURE = 0x8000, EC_KU_KEY_ENCIPHERMENT = 0x2000,
    EC_KU_KEY_CERT_SIGN = 0x0400, EC_KU_CRL_SIGN = 0x0200
};

typedef struct {
    const char *oid;
    uint8_t tag;                /* EC_DER_UTF8 or EC_DER_PRINTABLE */
    const char *value;
} ec_rdn_t;

/* Name with one AVA per RDN, in the given order; attributes with a NULL or empty
 * value are skipped. */
const uint8_t *ec_x509_name(apr_pool_t *p, const ec_rdn_t *rdns, int n, size_t *len);

void ec_ext_basic_constraints(ec_der_w *w, int ca, int pathlen);
void ec_ext_key_usage(ec_der_w *w, unsigned bits);
void ec_ext_eku(ec_der_w *w, const char *const *oids, int n);
void ec_ext_ski(ec_der_w *w, const uint8_t keyid[20]);
void ec_ext_aki(ec_der_w *w, const uint8_t keyid[20]);
/* Every policy carries the CPS qualifier when cps_url is set. */
void ec_ext_policies(ec_der_w *w, const char *const *oids, int n, const char *cps_url);
void ec_ext_aia(ec_der_w *w, const char *ca_issuers, const char *ocsp);
void ec_ext_cdp(ec_der_w *w, const char *url);
void ec_ext_san_dns(ec_der_w *w, const char *const *names, int n);
void ec_ext_ocsp_nocheck(ec_der_w *w);

typedef struct {
    const uint8_t *serial; size_t serial_len;
    const uint8_t *issuer; size_t issuer_len;
    const uint8_t *subject; size_t subject_len;
    time_t not_before, not_after;
    const uint8_t *spki; size_t spki_len;
    const uint8_t *exts; size_t exts_len;      /* Extension TLVs, concatenated */
} ec_tbs_t;

const uint8_t *ec_x509_tbs(apr_pool_t *p, const ec_tbs_t *t, size_t *len);
/* AlgorithmIdentifier sha256WithRSAEncryption (with NULL parameters). */
void ec_x509_sigalg(ec_der_w *w);
/* SEQUENCE { tbs, sha256WithRSAEncryption, BIT STRING signature }, signed in the token. */
apr_status_t ec_x509_sign(ec_p11 *p11, ec_p11_key *key, apr_pool_t *p, const uint8_t *tbs,
                          size_t tbs_len, const uint8_t **der, size_t *len);
/* 1 when der is exactly one certificate whose signature the key spki made. */
int ec_x509_signed_by(const uint8_t *der, size_t len, const uint8_t *spki, size_t spki_len);
/* 20 CSPRNG octets, positive with a non-zero first octet (CPS 7.1). */
apr_status_t ec_x509_serial(uint8_t out[20]);
/* SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 4.2.1.2 method 1). */
int ec_spki_keyid(const uint8_t *spki, size_t len, uint8_t out[20]);

/* What the CA reads back from a certificate. */
typedef struct {
    const uint8_t *der; size_t der_len;
    const uint8_t *subject; size_t subject_len;  /* DER Name */
    const uint8_t *spki; size_t spki_len;
    uint8_t name_sha1[20], name_sha256[32];      /* OCSP issuerNameHash */
    uint8_t key_sha1[20], key_sha256[32];        /* OCSP issuerKeyHash / byKey */
    uint8_t spki_sha256[32];
    uint8_t ski[20];                             /* keyid computed from the key */
    const char *serial_hex;
    const char *cn, *issuer_cn;
    time_t not_before, not_after;
} ec_cert_info_t;

apr_status_t ec_cert_info(apr_pool_t *p, const uint8_t *der, size_t len, ec_cert_info_t *out);

/* The subject Name exactly as the certificate encodes it, pointing into der (BR 7.2: a CRL's
 * issuer is byte-for-byte its CA's subject). -1 if der is not a certificate. */
int ec_x509_subject_der(const uint8_t *der, size_t len, const uint8_t **subject, size_t *subject_len);
/* The DNS names of the certificate's SAN, in its order (empty when der is not a certificate
 * or has none): the names it holds, for the repository and the subscriber's pages. */
apr_array_header_t *ec_x509_dns_names(apr_pool_t *p, const uint8_t *der, size_t len);

#endif
