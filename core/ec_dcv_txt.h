/* DNS Change (BR 3.2.2.4.7): the TXT records of a name, then of _dnsauth.<name>, looked up
 * through a validating resolver, hold one of the application's codes. Used by the CA's own
 * check and by every remote perspective's. */
#ifndef EC_DCV_TXT_H
#define EC_DCV_TXT_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "ec_resolver.h"

/* DNS Change for one name: the TXT records at name, then at _dnsauth.<name>. */
typedef struct {
    int passed;
    int matched;                     /* passed: the index of the code found */
    const char *reason, *detail, *dns;
} ec_dcv_txt_result_t;
/* codes: const char *, the application's live codes (any one of them passes). */
void ec_dcv_txt_check(ec_resolver_t *r, apr_pool_t *p, const char *name, const apr_array_header_t *codes,
                      ec_dcv_txt_result_t *res);

#endif
