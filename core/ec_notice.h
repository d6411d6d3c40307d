/* The CA's notices from the mail templates <ECertTemplates>/templates/mail/<name>.txt,
 * bilingual texts an administrator edits without recompiling. A template's first line is
 * "Subject: ..."; the rest is the body. Queued like every message (ec_mail), so inside the
 * caller's transaction: a notice exists exactly when the event that causes it committed. */
#ifndef EC_NOTICE_H
#define EC_NOTICE_H

#include "ec_mail.h"
#include "ec_tmpl.h"

typedef struct {
    const ec_mail_conf_t *mail;
    const char *templates;       /* the ECertTemplates directory */
} ec_notice_ctx_t;

/* Renders template name with v (plus public_url and the CA's addresses) and queues it to to.
 * APR_EINVAL for an address or subject a message must not have; APR_ENOENT without the
 * template. */
apr_status_t ec_notice(const ec_notice_ctx_t *n, ec_store_t *s, apr_pool_t *p, const char *name,
                       const char *to, ec_tmpl_vars *v);

#endif
