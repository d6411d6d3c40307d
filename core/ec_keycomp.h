/* Key compromise (R-10; CPS 4.9.12, 7.2 a; BR 4.9.1.1, 4.9.12, 6.1.1.3, 7.2.2): evidence that
 * someone holds a private key, and what the CA does then. Evidence is one of the two forms
 * CPS 4.9.12 names: a CSR signed by the key whose CN is the proof string, or the private key
 * itself (PEM PKCS#1, PKCS#8 or SEC1; RSA or EC). A private key is parsed in memory, its public
 * key's SHA-256 kept, and nothing else: the caller wipes the text (ec_wipe). */
#ifndef EC_KEYCOMP_H
#define EC_KEYCOMP_H

#include <time.h>
#include <apr_tables.h>
#include "ec_notice.h"
#include "ec_store.h"

/* CPS 4.9.12's wording; the English one is accepted as well. */
#define EC_KEYCOMP_PROOF_ZH "香港郵政的密碼匙資料被外洩證據"
#define EC_KEYCOMP_PROOF_EN "Proof of Key Compromise for Hongkong Post"

extern const ec_stmt_t ec_keycomp_stmts[];

typedef enum {
    EC_KC_OK = 0,
    EC_KC_EMPTY,                 /* nothing pasted */
    EC_KC_NOT_EVIDENCE,          /* neither a CSR nor a private key in PEM */
    EC_KC_ENCRYPTED,             /* an encrypted private key: the CA cannot use it */
    EC_KC_BAD_KEY,               /* PRIVATE KEY armour that does not parse */
    EC_KC_KEY_TYPE,              /* neither RSA nor EC */
    EC_KC_BAD_CSR,               /* a CSR that does not parse or whose signature fails */
    EC_KC_WRONG_CN,              /* a CSR whose CN is not the proof string */
    EC_KC_ERR_MAX
} ec_kc_err_t;

/* Message-catalogue key ("keycomp.encrypted") of a verdict. */
const char *ec_keycomp_err_key(ec_kc_err_t e);

/* True when text holds the armour of a private key (any kind, encrypted or not). */
int ec_keycomp_has_private_key(const char *text);

/* The evidence's public key: *kind "csr" or "private-key". proof: the proof string of the
 * configuration (NULL: EC_KEYCOMP_PROOF_ZH); EC_KEYCOMP_PROOF_EN is always accepted too. */
ec_kc_err_t ec_keycomp_evidence(apr_pool_t *p, const char *text, size_t len, const char *proof,
                                uint8_t spki_sha256[32], const char **kind);

typedef struct {
    const char *report_no;
    apr_array_header_t *revoked;   /* const char *: serials revoked or changed to keyCompromise */
    int already;                   /* certificates already revoked for keyCompromise */
} ec_kc_result_t;

typedef struct {
    const char *kind;              /* csr | private-key | pasted-in-csr-form */
    time_t compromised_at;         /* when the reporter says it leaked; 0: not said */
    const char *contact;           /* reporter's e-mail, may be NULL */
    const char *client_addr;
    const char *lang;
    const char *actor;
} ec_kc_report_t;

/* In one transaction: the key joins blocked_key (so no future CSR with it passes), every
 * unexpired certificate with it is revoked for keyCompromise (an earlier reason changes; the
 * date goes back to the compromise, never before the certificate's notBefore), each
 * subscriber concerned is sent the notice, the report is recorded and audited. */
apr_status_t ec_keycomp_act(ec_store_t *s, apr_pool_t *p, const ec_notice_ctx_t *n,
                            const uint8_t spki_sha256[32], const ec_kc_report_t *r, ec_kc_result_t *res);

/* Serials of the certificates with that key revoked for keyCompromise (the report's page). */
apr_status_t ec_keycomp_serials(ec_store_t *s, apr_pool_t *p, const char *spki_sha256_hex,
                                apr_array_header_t **serials);

#endif
