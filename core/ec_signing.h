/* Signing records (CPS 5.4, sql/011): the to-be-signed certificate is committed before C_Sign,
 * so every signature of an issuing CA is a certificate row, or a certificate never delivered and
 * revoked (at once by the issuance when only its storing failed), or a record still 'signing'
 * that the operator resolves (ecertctl audit unfinished) after a crash. */
#ifndef EC_SIGNING_H
#define EC_SIGNING_H

#include <time.h>
#include <apr_tables.h>
#include "ec_store.h"

extern const ec_stmt_t ec_signing_stmts[];

typedef struct {
    const char *issuer_id, *serial_hex, *application_id, *server_name, *spki_hex;
    const uint8_t *tbs; size_t tbs_len;
    time_t not_before, not_after;
    int crl_shard;                   /* -1: none */
} ec_signing_t;

typedef struct {
    const char *issuer_id, *issuer_cn, *serial_hex, *application_id, *server_name, *created_at;
    long long age_s;
} ec_signing_open_t;

/* Inside the caller's transaction, which must commit before C_Sign. A serial already recorded
 * fails the insert: no serial the HSM may have signed is drawn twice. */
apr_status_t ec_signing_record(ec_store_t *s, apr_pool_t *p, const ec_signing_t *r);
/* A second signature under the same serial (CT: the certificate after its precertificate):
 * its TBS replaces the record's, committed before that C_Sign too. */
apr_status_t ec_signing_retbs(ec_store_t *s, apr_pool_t *p, const char *issuer_id, const char *serial_hex,
                              const uint8_t *tbs, size_t tbs_len);
/* Inside the certificate's transaction; APR_ENOENT when the record is no longer 'signing'
 * (the operator resolved it meanwhile): the certificate must then not be stored. */
apr_status_t ec_signing_finish(ec_store_t *s, apr_pool_t *p, const char *issuer_id, const char *serial_hex);
/* Own transaction: C_Sign gave no valid signature, so the record accounts for nothing. */
apr_status_t ec_signing_failed(ec_store_t *s, apr_pool_t *p, const char *issuer_id, const char *serial_hex);

/* Records still 'signing' at least older_s seconds old (ec_signing_open_t), oldest first;
 * serial_hex limits the list to that serial when not NULL. */
apr_status_t ec_signing_unfinished(ec_store_t *s, apr_pool_t *p, long long older_s, const char *serial_hex,
                                   apr_array_header_t **out);
/* Own transaction: the record becomes 'revoked' and its serial a revoked certificate row (TBS in
 * place of the certificate, no application), queued for OCSP and the next CRL; audited.
 * APR_ENOENT when it is not 'signing' any more. */
apr_status_t ec_signing_revoke(ec_store_t *s, apr_pool_t *p, const char *issuer_id, const char *serial_hex,
                               time_t when, const char *actor);

/* Own transaction: the certificate the operator recovered becomes the record's certificate row,
 * issued to its application as the issuance would have stored it (names, OCSP work, audit), when
 * its TBSCertificate is the record's and the issuer's signature verifies, and the application
 * still waits for a certificate. APR_ENOENT: no record 'signing'; APR_EINVAL: *why says. */
apr_status_t ec_signing_recover(ec_store_t *s, apr_pool_t *p, const char *issuer_id, const char *serial_hex,
                                const uint8_t *der, size_t der_len, const char *actor, const char **why);

/* The watchdog: one warning (ECI0020) per record 'signing' for at least older_s seconds and
 * created after mark ("" at first), which then moves to the newest one warned; the count. */
#define EC_SIGNING_MARK_LEN 32
int ec_signing_warn(ec_store_t *s, apr_pool_t *p, long long older_s, char mark[EC_SIGNING_MARK_LEN]);
/* How old an unfinished record is when the watchdog names it: EC_SIGNING_WARN_S, or in a test
 * build the seconds in $ECERT_TEST_SIGNING/watch. */
#define EC_SIGNING_WARN_S 600
long long ec_signing_warn_age(void);

#ifdef EC_TEST_CLOCK
/* Test build: the certificate as the HSM signed it goes to $ECERT_TEST_SIGNING/SERIAL.der, then
 * the issuance waits the seconds in $ECERT_TEST_SIGNING/pause before its commit. */
void ec_signing_test_signed(apr_pool_t *p, const char *serial_hex, const uint8_t *der, size_t len);
#else
#define ec_signing_test_signed(p, serial_hex, der, len) ((void)0)
#endif

#endif
