/* BR 4.3.1.2: the to-be-signed certificate is parsed back independently (OpenSSL)
 * and checked against the App. B profile of its type and the Baseline Requirements
 * before the HSM signs anything. */
#ifndef EC_LINT_H
#define EC_LINT_H

#include "ec_profile.h"

/* NULL when every rule passes; otherwise the first rule that fails, as a sentence. */
const char *ec_lint_tbs(apr_pool_t *p, const ec_profile_conf_t *c, const ec_profile_in_t *in,
                        const uint8_t *tbs, size_t len);

#endif
