/* PKCS#11 token access through p11-kit: a per-process pool of logged-in sessions
 * (apr_reslist) and key handles named by RFC 7512 URIs. Every CA, CRL and OCSP
 * signature is C_Sign inside the token; private keys are created sensitive and
 * non-extractable and never leave it.
 *
 * Open the pool after fork (httpd child_init), never in a parent that forks. */
#ifndef EC_P11_H
#define EC_P11_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>
#include <apr_errno.h>
#include <apr_time.h>

typedef struct ec_p11 ec_p11;
typedef struct ec_p11_key ec_p11_key;

#define EC_P11_SIGMAX 512

/* module: path of the PKCS#11 module; token_uri: a pkcs11: URI whose token
 * attributes select the token (object attributes are ignored); pin: user PIN, or NULL
 * while the CA keys are not activated (the handle then signs nothing and never retries).
 * When the module loads but the token cannot be reached or logged in to, the error is
 * returned and *out is still set: that handle reconnects on use (ec_p11_available). */
apr_status_t ec_p11_open(ec_p11 **out, apr_pool_t *pool, const char *module,
                         const char *token_uri, const char *pin, int max_sessions);

/* Joins the process's registry of handles (in process_pool, shared by every module of the
 * process): when one handle drops a connection its token failed on, the others on the same
 * PKCS#11 library let go too, so that the library is really finalised and reads the token
 * again on the next reconnection. */
void ec_p11_join(ec_p11 *p11, apr_pool_t *process_pool);

/* Seconds between reconnection attempts of a handle whose token was unreachable. */
#define EC_P11_RECONNECT apr_time_from_sec(2)

/* True when the token is logged in; otherwise one caller at a time tries to reconnect,
 * at most every EC_P11_RECONNECT, and the others get false at once. Operations on a
 * handle that is not available fail with APR_EAGAIN. NULL is never available. */
int ec_p11_available(ec_p11 *p11);

/* Finds the private key named by uri (type=private implied). */
apr_status_t ec_p11_key_get(ec_p11 *p11, apr_pool_t *pool, const char *uri, ec_p11_key **key);

/* sha256WithRSAEncryption (CKM_SHA256_RSA_PKCS) over data. sig must hold EC_P11_SIGMAX. */
apr_status_t ec_p11_sign(ec_p11 *p11, ec_p11_key *key, const uint8_t *data, size_t len,
                         uint8_t *sig, size_t *siglen);

/* SubjectPublicKeyInfo DER of the key (from CKA_MODULUS / CKA_PUBLIC_EXPONENT). */
apr_status_t ec_p11_key_spki(ec_p11 *p11, ec_p11_key *key, apr_pool_t *pool,
                             const uint8_t **spki, size_t *len);

/* CKA_EXTRACTABLE and CKA_SENSITIVE of the private key. */
apr_status_t ec_p11_key_protection(ec_p11 *p11, ec_p11_key *key, int *extractable, int *sensitive);

/* Key ceremony: RSA key pair on the token, labelled, sensitive, non-extractable. */
apr_status_t ec_p11_generate_rsa(ec_p11 *p11, const char *label, unsigned bits);
/* Number of objects carrying label; with destroy set they are removed. */
apr_status_t ec_p11_label_objects(ec_p11 *p11, const char *label, int destroy, int *count);

/* Builds the RFC 7512 URI of a private key by token label and object label. */
char *ec_p11_uri(apr_pool_t *pool, const char *token_label, const char *object_label);
char *ec_p11_token_uri(apr_pool_t *pool, const char *token_label);
/* "pkcs11:token=ecert;object=..." -> "ecert" (as the URI writes it); NULL when it names no token. */
const char *ec_p11_uri_token(apr_pool_t *pool, const char *uri);

/* Human text of the last PKCS#11 failure in this thread (for error messages). */
const char *ec_p11_strerror(unsigned long rv);

/* Replaces the user PIN of the logged-in token (key ceremony: the transport PIN, or the
 * previous ceremony's, gives way to the new random one). */
apr_status_t ec_p11_set_pin(ec_p11 *p11, const char *old_pin, const char *new_pin);

#endif

