#include <string.h>
#include <curl/curl.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include "ec_mail_send.h"
#include "ec_log.h"

#define CLAIM "120"              /* seconds a claimed message is left to its worker */

const ec_stmt_t ec_mail_send_stmts[] = {
    { "mail_due", "SELECT id FROM mail_queue WHERE sent_at IS NULL AND next_attempt <= NOW(6) "
      "AND (claimed_until IS NULL OR claimed_until < NOW(6)) ORDER BY next_attempt LIMIT %s" },
    { "mail_claim", "UPDATE mail_queue SET claimed_by = %s, claimed_until = NOW(6) + INTERVAL " CLAIM
      " SECOND WHERE id = %s AND sent_at IS NULL AND (claimed_until IS NULL OR claimed_until < NOW(6))" },
    { "mail_get", "SELECT mail_from, rcpt_to, message FROM mail_queue WHERE id = %s AND claimed_by = %s" },
    /* A validation code is a secret of the mailbox: once delivered, the CA keeps no copy. */
    { "mail_sent", "UPDATE mail_queue SET sent_at = NOW(6), attempts = attempts + 1, last_error = NULL, "
      "message = IF(kind = 'dcv-code', '', message), "
      "claimed_by = NULL, claimed_until = NULL WHERE id = %s AND claimed_by = %s" },
    { "mail_failed", "UPDATE mail_queue SET attempts = attempts + 1, last_error = %s, "
      "next_attempt = NOW(6) + INTERVAL LEAST(3600, 30 * POW(2, LEAST(attempts, 7))) SECOND, "
      "claimed_by = NULL, claimed_until = NULL WHERE id = %s AND claimed_by = %s" },
    { NULL, NULL }
};

apr_status_t ec_mail_send_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? APR_SUCCESS : APR_EGENERAL;
}

typedef struct {
    const char *data;
    size_t len, off;
} reader_t;

static size_t read_cb(char *buf, size_t size, size_t nitems, void *baton)
{
    reader_t *r = baton;
    size_t n = size * nitems, left = r->len - r->off;

    if (n > left)
        n = left;
    memcpy(buf, r->data + r->off, n);
    r->off += n;
    return n;
}

/* One message through the relay: NULL, or what went wrong. */
static const char *smtp_send(apr_pool_t *p, const ec_mail_conf_t *c, const char *from, const char *to,
                             const char *message)
{
    CURL *h = curl_easy_init();
    struct curl_slist *rcpt = NULL;
    reader_t r = { message, strlen(message), 0 };
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode rc;
    const char *err = NULL;

    if (!h)
        return "cannot start libcurl";
    rcpt = curl_slist_append(rcpt, apr_pstrcat(p, "<", to, ">", NULL));
    curl_easy_setopt(h, CURLOPT_URL, c->relay);
    if (c->relay_ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->relay_ca);
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, apr_pstrcat(p, "<", from, ">", NULL));
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, &r);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);   /* STARTTLS when offered */
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if ((rc = curl_easy_perform(h)) != CURLE_OK)
        err = apr_pstrdup(p, *errbuf ? errbuf : curl_easy_strerror(rc));
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(h);
    return err;
}

apr_status_t ec_mail_send_due(ec_store_t *s, apr_pool_t *p, const ec_mail_conf_t *c,
                              const char *owner, int max, ec_mail_round_t *round)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_array_header_t *ids = apr_array_make(p, max, sizeof(const char *));
    apr_status_t rv;

    memset(round, 0, sizeof(*round));
    if (!c->relay)
        return APR_SUCCESS;
    if ((rv = ec_store_select(s, p, "mail_due", &res, EC_ARGS(apr_itoa(p, max)))) != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS)
        APR_ARRAY_PUSH(ids, const char *) = apr_pstrdup(p, ec_store_col(s, row, 0));
    for (int i = 0; i < ids->nelts; i++) {
        const char *id = APR_ARRAY_IDX(ids, i, const char *), *m[3], *err;
        int n = 0;
        if (ec_store_exec(s, p, "mail_claim", &n, EC_ARGS(owner, id)) != APR_SUCCESS)
            return APR_EGENERAL;
        if (n != 1 || ec_store_get1(s, p, "mail_get", 3, m, EC_ARGS(id, owner)) != APR_SUCCESS)
            continue;            /* another worker has it */
        if (!(err = smtp_send(p, c, m[0], m[1], m[2]))) {
            if (ec_store_exec(s, p, "mail_sent", NULL, EC_ARGS(id, owner)) != APR_SUCCESS)
                return APR_EGENERAL;
            round->sent++;
            continue;
        }
        round->failed++;
        round->last_error = err;
        ec_store_exec(s, p, "mail_failed", NULL, EC_ARGS(apr_pstrndup(p, err, 400), id, owner));
        /* The relay is away or refuses: the others wait for their own retry. */
        break;
    }
    return APR_SUCCESS;
}
