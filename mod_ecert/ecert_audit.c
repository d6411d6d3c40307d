/* mod_ecert: checkpoints of the audit log, signed in the token (CPS 5.4.4; ec_audit_anchor.h).
 * Every node's worker looks every few seconds and signs one when ECertAuditCheckpoint's
 * number of events or seconds has come; two nodes at once write one checkpoint, the other's
 * insert is dropped. While the CA keys are not activated nothing is signed, and the events of
 * that time are anchored by the first checkpoint after activation. */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_strings.h>
#include "mod_ecert.h"
#include "ec_log.h"
#include "ec_audit_anchor.h"

APLOG_USE_MODULE(ecert);

#define POLL apr_time_from_sec(2)

static struct {
    ecert_srv_conf *conf;
    ec_p11_key *key;
    ecert_worker_t *worker;
} audit_w;

static void round_work(ec_store_t *st, apr_pool_t *p, void *baton)
{
    int written;

    if (!audit_w.key || !ec_p11_available(audit_w.conf->p11))
        return;
    if (ec_audit_checkpoint(st, p, audit_w.conf->p11, audit_w.key, audit_w.conf->audit_cp_events,
                            audit_w.conf->audit_cp_seconds, &written) != APR_SUCCESS)
        ec_log(EC_LOG_WARN, "ECE0150", "no audit checkpoint this round (token or database): tried again");
}

int ecert_audit_post_config(apr_pool_t *pconf, server_rec *s)
{
    ecert_srv_conf *c = ap_get_module_config(s->module_config, &ecert_module);

    audit_w.worker = NULL;
    audit_w.conf = c;
    if (!c->issuers->nelts)
        return OK;
    return ecert_worker_register(pconf, s, "ecert-audit", POLL, round_work, NULL, &audit_w.worker);
}

void ecert_audit_child_init(apr_pool_t *pchild, server_rec *s)
{
    ecert_srv_conf *c = audit_w.conf;
    const char *token;

    audit_w.key = NULL;
    if (!audit_w.worker || !c->p11)
        return;
    /* The audit key lives on the token of the issuing keys. */
    token = ec_p11_uri_token(pchild, APR_ARRAY_IDX(c->issuers, 0, ecert_issuer_t).key_uri);
    if (ec_p11_key_get(c->p11, pchild, ec_p11_uri(pchild, token ? token : "ecert", EC_AUDIT_KEY_LABEL), &audit_w.key) != APR_SUCCESS)
        audit_w.key = NULL;
    ecert_worker_child_init(audit_w.worker, pchild);
}
