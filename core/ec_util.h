/* Small shared helpers: hex, CSPRNG bytes, digests, PEM armour. */
#ifndef EC_UTIL_H
#define EC_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <apr_pools.h>
#include <apr_errno.h>

/* Lower-case hex of data. */
char *ec_hex(apr_pool_t *p, const uint8_t *data, size_t len);
/* Hex (either case, even length) -> bytes; NULL on bad input. */
uint8_t *ec_unhex(apr_pool_t *p, const char *hex, size_t *len);
/* CSPRNG bytes (OpenSSL RAND_bytes); APR_EGENERAL if the generator fails. */
apr_status_t ec_random(uint8_t *out, size_t len);
void ec_sha1(const void *data, size_t len, uint8_t out[20]);
void ec_sha256(const void *data, size_t len, uint8_t out[32]);
/* PEM armour with 64-column base64 lines. */
char *ec_pem(apr_pool_t *p, const char *label, const uint8_t *der, size_t len);
/* Reads a whole small file; NULL (and errno-style status) on failure. */
apr_status_t ec_read_file(apr_pool_t *p, const char *path, size_t max,
                          char **data, size_t *len);
/* Certificate DER from a PEM or DER file. */
apr_status_t ec_read_cert(apr_pool_t *p, const char *path, const uint8_t **der, size_t *len);
/* "YYYY-MM-DD HH:MM:SS" (UTC) for DATETIME columns, and back. */
char *ec_sqltime(apr_pool_t *p, time_t t);
time_t ec_sqltime_parse(const char *s);
/* Constant-time comparison. */
int ec_memeq(const void *a, const void *b, size_t len);
/* Overwrites a secret where the compiler cannot optimise it away. */
void ec_wipe(void *data, size_t len);

/* s ("" for NULL) cut to at most max bytes (max > 16), never inside a UTF-8 sequence, the
 * cut marked: for text columns and messages of a bounded size. */
const char *ec_clip(apr_pool_t *p, const char *s, size_t max);

#endif
