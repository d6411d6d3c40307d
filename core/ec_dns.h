/* Server names: IDNA2008 conversion (libidn2) and the syntax a certificate's dNSName
 * must have. Certificates hold A-labels; pages show U-labels. */
#ifndef EC_DNS_H
#define EC_DNS_H

#include <apr_pools.h>

/* Lower-case A-label form of name, or NULL with *err set. A leading "*." is kept
 * when allow_wildcard is set and refused otherwise. */
const char *ec_dns_normalize(apr_pool_t *p, const char *name, int allow_wildcard,
                             const char **err);
/* U-label form for display (the input when it has no A-labels or fails to convert). */
const char *ec_dns_display(apr_pool_t *p, const char *alabel);

#endif
