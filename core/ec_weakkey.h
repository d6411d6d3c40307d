/* Public-key quality checks on RSA keys (BR 6.1.1.3, 6.1.6): exponent and modulus
 * parameters, ROCA (CVE-2017-15361), moduli that Fermat's method factors, and the
 * Debian weak-key lists (openssl-blacklist / openssl-vulnkey format). */
#ifndef EC_WEAKKEY_H
#define EC_WEAKKEY_H

#include <openssl/bn.h>
#include <apr_pools.h>
#include <apr_errno.h>

#define EC_FERMAT_ROUNDS 100
#define EC_SMALL_FACTOR_BOUND 752

typedef struct ec_weaklist ec_weaklist_t;

/* BR 6.1.6: odd, 2^16+1 <= e <= 2^256-1. */
int ec_weak_exponent_ok(const BIGNUM *e);
/* Even, or divisible by a prime below 752: 1. */
int ec_weak_small_factor(const BIGNUM *n);
/* The ROCA fingerprint: n mod p lies in the subgroup 65537 generates, for every
 * prime p from 3 to 167 (what roca-detect tests). */
int ec_weak_roca(const BIGNUM *n);
/* 1 when Fermat's method finds n = a^2 - b^2 within rounds steps from ceil(sqrt(n)). */
int ec_weak_fermat(const BIGNUM *n, int rounds);

/* Adds one list file: lines of the last 20 hex digits of SHA-1("Modulus=<HEX>\n");
 * '#' lines are comments. *err says which line is bad. */
apr_status_t ec_weaklist_load(ec_weaklist_t **list, apr_pool_t *p, const char *path,
                              const char **err);
int ec_weaklist_count(const ec_weaklist_t *list);
/* 1 when n is listed (list may be NULL: nothing listed). */
int ec_weaklist_has(const ec_weaklist_t *list, const BIGNUM *n);
/* The 20 hex digits a list carries for n (for tests and the CLI). */
char *ec_weaklist_fingerprint(apr_pool_t *p, const BIGNUM *n);

#endif
