/* The subscriber pages' templates and catalogues, read and checked once in the parent at
 * post_config (again at each graceful restart): every child and thread then shares the
 * read-only library, and a broken template stops the start instead of failing requests. */
#include <httpd.h>
#include <http_log.h>
#include <apr_strings.h>
#include "mod_ecert.h"

APLOG_USE_MODULE(ecert);

static const char *const langs[] = { "en", "zh", NULL };

int ecert_templates_post_config(apr_pool_t *pconf, server_rec *s)
{
    for (server_rec *v = s; v; v = v->next) {
        ecert_srv_conf *c = ap_get_module_config(v->module_config, &ecert_module);
        const char *err;
        c->pages = NULL;
        if (!c->templates)
            continue;
        /* vhosts that name the same directory share one copy */
        for (server_rec *o = s; o != v && !c->pages; o = o->next) {
            ecert_srv_conf *oc = ap_get_module_config(o->module_config, &ecert_module);
            if (oc->pages && !strcmp(oc->templates, c->templates))
                c->pages = oc->pages;
        }
        if (c->pages)
            continue;
        if (ec_tmpl_lib_load(&c->pages, pconf, c->templates, langs, &err) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v, "ECE0240: ECertTemplates: %s", err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, v, "ECE0241: page templates and catalogues read from %s",
                     c->templates);
    }
    return OK;
}
