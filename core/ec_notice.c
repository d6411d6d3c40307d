#include <string.h>
#include <apr_strings.h>
#include "ec_notice.h"
#include "ec_log.h"

apr_status_t ec_notice(const ec_notice_ctx_t *n, ec_store_t *s, apr_pool_t *p, const char *name,
                       const char *to, ec_tmpl_vars *v)
{
    ec_tmpl_t *t;
    const char *err, *subject, *body;
    char *text, *nl;
    size_t len;
    apr_status_t rv;

    if ((rv = ec_tmpl_open_text(&t, p, n->templates, &err)) != APR_SUCCESS ||
        (ec_tmpl_set(v, "public_url", n->mail->public_url),
         ec_tmpl_set(v, "operations", n->mail->operations),
         rv = ec_tmpl_render(t, name, v, &text, &len, &err)) != APR_SUCCESS) {
        ec_log(EC_LOG_ERR, "ECM0001", "notice %s: %s", name, err);
        return APR_ENOENT;
    }
    if (strncmp(text, "Subject: ", 9) || !(nl = strchr(text, '\n'))) {
        ec_log(EC_LOG_ERR, "ECM0002", "mail template %s does not start with a Subject: line", name);
        return APR_EINVAL;
    }
    *nl = 0;
    if (nl > text && nl[-1] == '\r')
        nl[-1] = 0;
    subject = text + 9;
    for (body = nl + 1; *body == '\n' || *body == '\r'; body++)
        ;
    if ((rv = ec_mail_queue(s, p, n->mail, name, to, subject, body)) == APR_EINVAL)
        ec_log(EC_LOG_WARN, "ECM0003", "notice %s not queued: the address or the subject cannot be sent", name);
    return rv;
}
