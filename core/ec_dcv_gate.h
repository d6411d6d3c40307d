/* The pre-issuance checks (CPS 4.2.1, 4.3.1; BR 3.2.2.4, 3.2.2.8, 4.2.2), just before signing,
 * in the issuance transaction: every name is one a public certificate may hold; every name of a
 * non-government application is covered by a validation within BR 4.2.1's window; CAA permits
 * every name. The validations and CAA checks relied on become the issuance's evidence. */
#ifndef EC_DCV_GATE_H
#define EC_DCV_GATE_H

#include "ec_dcv_job.h"
#include "ec_issue.h"

/* names, dcv, caa; env must outlive the issuance. */
const ec_issue_check_t *ec_dcv_issue_checks(apr_pool_t *p, const ec_dcv_env_t *env);

#endif
