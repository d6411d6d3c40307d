/* The checks a subscriber asks for (User Guide C.4 "Confirm"): queued in the store, run by the
 * DCV worker of whichever node claims them (a committed single-row UPDATE, renewed while the
 * check runs, so on Galera only one node runs it), results written per name as they come.
 * Website Change fetches, DNS Change looks up TXT records, both through the CA's validating
 * resolver; then CAA is looked up for every validated name, so the subscriber learns of a CAA
 * record that forbids us before the CSR, not after. */
#ifndef EC_DCV_JOB_H
#define EC_DCV_JOB_H

#include "ec_dcv.h"
#include "ec_dcv_txt.h"
#include "ec_resolver.h"

extern const ec_stmt_t ec_dcv_job_stmts[];

typedef struct {
    const ec_dcv_conf_t *conf;
    ec_resolver_t *resolver;
} ec_dcv_env_t;

/* Queues a check ("website", "dns" or "caa"); a check already queued or running stays as it is. */
apr_status_t ec_dcv_queue(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, const char *kind, const char *actor);

/* Claims one queued check (or one whose worker has been silent for 600 s) and runs it. *ran
 * says whether there was one. */
apr_status_t ec_dcv_work(ec_store_t *s, apr_pool_t *p, const ec_dcv_env_t *env, const char *owner, int *ran);

/* Runs a check of kind for an application now; renew (may be NULL) is called before each name
 * and returns 0 when the check is no longer this caller's (APR_EAGAIN then). */
typedef int ec_dcv_renew_fn(void *baton);
apr_status_t ec_dcv_run(ec_store_t *s, apr_pool_t *p, const ec_dcv_env_t *env, const ec_app_t *a,
                        const char *kind, const char *actor, ec_dcv_renew_fn *renew, void *baton);

#endif
