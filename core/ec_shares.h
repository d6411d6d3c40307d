/* 2-of-3 custody of the token PIN (CPS 5.2.2, 6.2.2): the PIN is a random secret split by
 * Shamir's scheme over GF(256) (libgfshare) into three shares, any two of which give it
 * back and one of which says nothing about it. A share is written for a custodian as
 *     ECS1-N-CEREMONY-DATA-CHECK
 * N its number (1..3), CEREMONY 8 hex digits common to the three shares of one ceremony,
 * DATA the share bytes in hex (groups of four), CHECK 8 hex digits of SHA-256 over the
 * rest, so that a mistyped share is refused as such instead of giving a wrong PIN. */
#ifndef EC_SHARES_H
#define EC_SHARES_H

#include <stdint.h>
#include <apr_pools.h>
#include <apr_errno.h>

#define EC_SHARES_N 3
#define EC_SHARES_SECRET 20          /* bytes of the secret; the PIN is their hex */

typedef struct {
    int number;                      /* 1..EC_SHARES_N */
    uint8_t ceremony[4];
    uint8_t data[EC_SHARES_SECRET];
} ec_share_t;

/* A fresh random secret, the PIN made of it, and its three shares as custodians' text. */
apr_status_t ec_shares_make(apr_pool_t *p, char **pin, char *shares[EC_SHARES_N]);

/* One share as typed: case, spaces and line breaks do not matter. */
apr_status_t ec_share_parse(const char *text, ec_share_t *out, const char **err);

/* The PIN from two shares of the same ceremony with different numbers. */
apr_status_t ec_shares_join(apr_pool_t *p, const ec_share_t *a, const ec_share_t *b,
                            char **pin, const char **err);

/* The custodian's text of a share. */
char *ec_share_format(apr_pool_t *p, const ec_share_t *s);

#endif
