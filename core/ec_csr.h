/* Certificate signing requests as subscribers paste them (User Guide C.5; R-5):
 * PEM armour, PKCS#10, proof of possession (CPS 3.2.1), key policy (CPS 6.1.5,
 * BR 6.1.1.3, 6.1.6) and the common name against the application. Each failure has
 * its own code so the page can say exactly what is wrong. */
#ifndef EC_CSR_H
#define EC_CSR_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>
#include "ec_weakkey.h"

#define EC_CSR_MAX_PEM (64 * 1024)

typedef enum {
    EC_CSR_OK = 0,
    EC_CSR_NOT_PEM,          /* no BEGIN/END (NEW) CERTIFICATE REQUEST armour or bad base64 */
    EC_CSR_NOT_CSR,          /* the armour holds no PKCS#10 */
    EC_CSR_NOT_DER,          /* a PKCS#10 in BER (indefinite lengths, constructed strings) */
    EC_CSR_SIG_ALG,          /* signed with SHA-1 or another hash no longer accepted */
    EC_CSR_BAD_SIGNATURE,    /* proof of possession fails */
    EC_CSR_KEY_TYPE,         /* not RSA */
    EC_CSR_KEY_SIZE,         /* RSA of a size outside the allowed set */
    EC_CSR_EXPONENT,         /* BR 6.1.6 exponent */
    EC_CSR_SMALL_FACTOR,     /* even modulus or a factor below 752 */
    EC_CSR_ROCA,
    EC_CSR_FERMAT,
    EC_CSR_DEBIAN,           /* in a Debian weak-key list */
    EC_CSR_BLOCKED,          /* blocked_key: proven compromised */
    EC_CSR_SAME_KEY,         /* renewal with the previous certificate's key (CPS 4.6.3) */
    EC_CSR_NO_CN,
    EC_CSR_CN_MISMATCH,
    EC_CSR_ERR_MAX
} ec_csr_err_t;

typedef struct {
    const uint8_t *der; size_t der_len;          /* the PKCS#10 */
    const uint8_t *spki; size_t spki_len;        /* its SubjectPublicKeyInfo */
    uint8_t spki_sha256[32];
    int bits;                                    /* RSA modulus size, 0 if not RSA */
    const char *cn;                              /* UTF-8 as written, NULL if none */
} ec_csr_t;

typedef struct {
    const int *key_sizes;        /* allowed RSA sizes (CPS 6.1.5: 2048) */
    int n_key_sizes;
    const ec_weaklist_t *weak;   /* may be NULL */
    int fermat_rounds;           /* 0: EC_FERMAT_ROUNDS */
} ec_csr_policy_t;

/* Strips the armour: header NEW CERTIFICATE REQUEST or CERTIFICATE REQUEST; any text
 * around it and CR/LF/space inside the base64 are tolerated. */
ec_csr_err_t ec_csr_pem_decode(apr_pool_t *p, const char *text, size_t len,
                               const uint8_t **der, size_t *der_len);
/* PEM -> parsed request whose signature verifies with its own key. */
ec_csr_err_t ec_csr_parse(apr_pool_t *p, const char *text, size_t len, ec_csr_t *out);
/* Key type, size, BR 6.1.6 parameters, ROCA, Fermat, weak-key lists. */
ec_csr_err_t ec_csr_check_key(const ec_csr_t *c, const ec_csr_policy_t *pol);
/* The CN must name the application's server (A-label form; U-labels are converted,
 * "*." for a wildcard application). *cn_alabel gets the normalised CN when it has one. */
ec_csr_err_t ec_csr_check_name(apr_pool_t *p, const ec_csr_t *c, const char *server_name,
                               const char **cn_alabel);

/* Message-catalogue key of a code ("csr.not_pem") and an English sentence. */
const char *ec_csr_err_key(ec_csr_err_t e);
const char *ec_csr_err_text(ec_csr_err_t e);

#endif
