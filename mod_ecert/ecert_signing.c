/* mod_ecert: the node's signing watchdog (ecert_worker.c). A signing record still 'signing' after
 * EC_SIGNING_WARN_S is a certificate the CA key may have signed that nobody stored (a crash
 * between C_Sign and the commit); each is named once in the error log, so the operator learns of
 * it without running ecertctl audit unfinished. A restarted child names the open ones again. */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include "mod_ecert.h"
#include "ec_signing.h"

APLOG_USE_MODULE(ecert);

#define POLL apr_time_from_sec(10)

static struct {
    char mark[EC_SIGNING_MARK_LEN];
    ecert_worker_t *worker;
} signing_w;

static void round_work(ec_store_t *st, apr_pool_t *p, void *baton)
{
    ec_signing_warn(st, p, ec_signing_warn_age(), signing_w.mark);
}

int ecert_signing_post_config(apr_pool_t *pconf, server_rec *s)
{
    ecert_srv_conf *c = ap_get_module_config(s->module_config, &ecert_module);

    signing_w.worker = NULL;
    if (!c->issuers->nelts)
        return OK;
    return ecert_worker_register(pconf, s, "ecert-signing", POLL, round_work, NULL, &signing_w.worker);
}

void ecert_signing_child_init(apr_pool_t *pchild, server_rec *s)
{
    signing_w.mark[0] = 0;
    ecert_worker_child_init(signing_w.worker, pchild);
}
