/* Which names a publicly-trusted certificate may hold (BR 3.2.2.6, 4.2.2, 7.1.2.7.12), from
 * the Public Suffix List Debian ships (libpsl, package publicsuffix): the top-level domain must
 * be delegated by ICANN, a name may not itself be a registry suffix, and a wildcard may not sit
 * directly on a public suffix. Internal and reserved names are refused. */
#ifndef EC_NAMES_H
#define EC_NAMES_H

#include <apr_pools.h>

/* NULL when the A-label name ("*." form for a wildcard) is allowed, or a sentence why not.
 * The list is loaded once per process; a missing list refuses every name. */
const char *ec_names_check(apr_pool_t *p, const char *alabel);
/* The registrable domain of an A-label (example.com.hk for www.example.com.hk), or NULL
 * when it has none (a public suffix, or a name under no known suffix). */
const char *ec_names_registrable(apr_pool_t *p, const char *alabel);
/* Whether the A-label is a public suffix (ICANN or private section). */
int ec_names_is_suffix(const char *alabel);

#endif
