/* ecertctl's reading of httpd's configuration: the directives it shares with the modules. */
#include <stdio.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "ctl.h"
#include "ec_util.h"
#include "ec_crl_conf.h"
#include "ec_profile.h"
#include "ec_mail.h"
#include "ec_dcv_conf.h"
#include "ec_resolver.h"

apr_status_t ctl_conf_read(apr_pool_t *p, const char *path, ctl_conf_t *conf, const char **err)
{
    apr_array_header_t *all;
    char *data;
    size_t len;
    apr_status_t rv;

    memset(conf, 0, sizeof(*conf));
    conf->path = path;
    conf->db_driver = "mysql";
    conf->lines = apr_array_make(p, 32, sizeof(ctl_line_t));
    if ((rv = ec_read_file(p, path, 1 << 20, &data, &len)) != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot read %s", path);
        return rv;
    }
    all = ec_conf_file_parse(p, data);
    for (int i = 0; i < all->nelts; i++) {
        ctl_line_t *l = &APR_ARRAY_IDX(all, i, ctl_line_t);
        if (l->argc < 1)
            continue;
        *(ctl_line_t *)apr_array_push(conf->lines) = *l;
        if (!strcasecmp(l->name, "DBDriver"))
            conf->db_driver = l->argv[0];
        else if (!strcasecmp(l->name, "DBDParams"))
            conf->db_params = l->argv[0];
        else if (!strcasecmp(l->name, "ECertPKCS11Module"))
            conf->p11_module = l->argv[0];
        else if (!strcasecmp(l->name, "ECertTokenPIN"))
            conf->token_pin = l->argv[0];
        else if (!strcasecmp(l->name, "ECertPublishDir"))
            conf->publish_dir = l->argv[0];
    }
    return APR_SUCCESS;
}

ec_profile_conf_t *ctl_profile(ctl_t *ctl)
{
    ec_profile_conf_t *prof = apr_pcalloc(ctl->pool, sizeof(*prof));
    const char *err;

    for (int i = 0; i < ctl->conf.lines->nelts; i++) {
        ctl_line_t *l = &APR_ARRAY_IDX(ctl->conf.lines, i, ctl_line_t);
        err = ec_profile_directive(prof, ctl->pool, l->name, l->argc, l->argv);
        if (err && err != EC_PROFILE_NOT_MINE)
            ctl_fail("%s: %s", ctl->conf.path, err);
    }
    if (ec_profile_finish(prof, ctl->pool, &err) != APR_SUCCESS)
        ctl_fail("%s", err);
    return prof;
}

ec_crl_conf_t *ctl_crl_conf(ctl_t *ctl)
{
    ec_crl_conf_t *c = apr_pcalloc(ctl->pool, sizeof(*c));
    const char *err;

    ec_crl_conf_init(c);
    for (int i = 0; i < ctl->conf.lines->nelts; i++) {
        ctl_line_t *l = &APR_ARRAY_IDX(ctl->conf.lines, i, ctl_line_t);
        err = ec_crl_conf_directive(c, ctl->pool, l->name, l->argc, l->argv);
        if (err && err != EC_CRL_NOT_MINE)
            ctl_fail("%s: %s", ctl->conf.path, err);
    }
    ec_crl_conf_finish(c);
    return c;
}

ec_dcv_conf_t *ctl_dcv_conf(ctl_t *ctl)
{
    ec_dcv_conf_t *c = apr_pcalloc(ctl->pool, sizeof(*c));
    const char *err;

    ec_dcv_conf_init(c);
    for (int i = 0; i < ctl->conf.lines->nelts; i++) {
        ctl_line_t *l = &APR_ARRAY_IDX(ctl->conf.lines, i, ctl_line_t);
        err = ec_dcv_conf_directive(c, ctl->pool, l->name, l->argc, l->argv);
        if (err && err != EC_DCV_NOT_MINE)
            ctl_fail("%s: %s", ctl->conf.path, err);
    }
    ec_dcv_conf_finish(c, ctl->pool);
    return c;
}

ec_resolver_t *ctl_resolver(ctl_t *ctl, const ec_dcv_conf_t *c)
{
    ec_resolver_t *r;
    const char *err;
    if (ec_resolver_create(&r, ctl->pool, &c->dns, &err) != APR_SUCCESS)
        ctl_fail("DNS: %s", err);
    return r;
}

/* The pages' English catalogue (ECertTemplates), so the CLI says what the pages say. */
const char *ctl_sentence(ctl_t *ctl, const char *key)
{
    ec_tmpl_t *t;
    const char *err;

    for (int i = 0; key && i < ctl->conf.lines->nelts; i++) {
        ctl_line_t *l = &APR_ARRAY_IDX(ctl->conf.lines, i, ctl_line_t);
        if (!strcasecmp(l->name, "ECertTemplates") && l->argc == 1 &&
            ec_tmpl_open(&t, ctl->pool, l->argv[0], "en", &err) == APR_SUCCESS && ec_tmpl_has_msg(t, key))
            return ec_tmpl_msg(t, key, ec_tmpl_vars_make(ctl->pool, NULL));
    }
    return key ? key : "refused";
}

const char *ctl_issuer_uri(ctl_t *ctl, const char *role)
{
    for (int i = 0; i < ctl->conf.lines->nelts; i++) {
        ctl_line_t *l = &APR_ARRAY_IDX(ctl->conf.lines, i, ctl_line_t);
        if (!strcasecmp(l->name, "ECertIssuer") && l->argc == 3 && !strcmp(l->argv[0], role))
            return l->argv[2];
    }
    return NULL;
}

ec_notice_ctx_t ctl_notices(ctl_t *ctl)
{
    ec_mail_conf_t *m = apr_pcalloc(ctl->pool, sizeof(*m));
    ec_notice_ctx_t n = { m, NULL };
    const char *err;

    for (int i = 0; i < ctl->conf.lines->nelts; i++) {
        ctl_line_t *l = &APR_ARRAY_IDX(ctl->conf.lines, i, ctl_line_t);
        err = ec_mail_directive(m, ctl->pool, l->name, l->argc, l->argv);
        if (err && err != EC_MAIL_NOT_MINE)
            ctl_fail("%s: %s", ctl->conf.path, err);
        if (!strcasecmp(l->name, "ECertTemplates") && l->argc == 1)
            n.templates = l->argv[0];
    }
    ec_mail_finish(m);
    if (!n.templates)
        ctl_fail("%s has no ECertTemplates line: the notices' templates are there", ctl->conf.path);
    return n;
}
