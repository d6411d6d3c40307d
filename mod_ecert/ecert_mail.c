/* mod_ecert: the node's mail worker (ecert_worker.c), delivering the queue that the pages and
 * ecertctl fill (ec_mail) through ECertMailRelay every second. A relay outage is logged once and
 * its end once; the messages wait in the store meanwhile. */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <apr_strings.h>
#include "mod_ecert.h"
#include "ec_mail_send.h"

APLOG_USE_MODULE(ecert);

#define POLL apr_time_from_sec(1)
#define PER_ROUND 20

static struct {
    server_rec *s;
    ecert_srv_conf *conf;
    const char *owner;
    int relay_down;
    ecert_worker_t *worker;
} mail_w;

static void round_work(ec_store_t *st, apr_pool_t *p, void *baton)
{
    ec_mail_round_t r;

    if (ec_mail_send_due(st, p, mail_w.conf->mail, mail_w.owner, PER_ROUND, &r) != APR_SUCCESS)
        return;
    if (r.sent)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, mail_w.s, "ECE0121: %d message(s) sent through %s", r.sent,
                     mail_w.conf->mail->relay);
    if (r.failed && !mail_w.relay_down)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, mail_w.s, "ECE0122: the mail relay %s failed (%s): "
                     "messages stay queued and are retried", mail_w.conf->mail->relay, r.last_error);
    else if (r.sent && mail_w.relay_down)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, mail_w.s, "ECE0123: the mail relay %s works again",
                     mail_w.conf->mail->relay);
    if (r.failed || r.sent)
        mail_w.relay_down = r.failed > 0;
}

int ecert_mail_post_config(apr_pool_t *pconf, server_rec *s)
{
    ecert_srv_conf *c = ap_get_module_config(s->module_config, &ecert_module);

    mail_w.s = s;
    mail_w.conf = c;
    mail_w.worker = NULL;
    if (!c->mail->relay) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "ECE0120: no ECertMailRelay: notices are queued in the "
                     "database and sent by a node that has one");
        return OK;
    }
    if (ec_mail_send_init() != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "ECE0124: libcurl cannot be initialised");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return ecert_worker_register(pconf, s, "ecert-mail", POLL, round_work, NULL, &mail_w.worker);
}

void ecert_mail_child_init(apr_pool_t *pchild, server_rec *s)
{
    mail_w.owner = ecert_worker_owner(pchild, NULL);
    ecert_worker_child_init(mail_w.worker, pchild);
}
