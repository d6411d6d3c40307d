/* Bridge from the core's ec_log to httpd's error log. */
#include <httpd.h>
#include <http_log.h>
#include "ec_glue_log.h"
#include "ec_log.h"

static server_rec *log_server;
static int log_module;

/* The core's levels are syslog's, as APLOG_* are. */
static void to_httpd(void *baton, ec_log_level_t level, apr_status_t rv, void *req, const char *tag,
                     const char *msg)
{
    if (req)
        ap_log_rerror_(__FILE__, __LINE__, log_module, (int)level, rv, req, "%s: %s", tag, msg);
    else
        ap_log_error_(__FILE__, __LINE__, log_module, (int)level, rv, log_server, "%s: %s", tag, msg);
}

void ec_glue_log_init(server_rec *s, int module_index)
{
    log_server = s;
    log_module = module_index;
    ec_log_set(to_httpd, NULL);
}

int ec_glue_log_handler(request_rec *r, int (*handler)(request_rec *r))
{
    void *prev = ec_log_context(r);
    int rc = handler(r);

    ec_log_context(prev);
    return rc;
}
