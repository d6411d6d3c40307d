/* mod_ecert: the start page of the services (the site's root redirects here): what a
 * subscriber, a relying party or a reporter of a problem can do, and the repository
 * (CPS 2.1, 2.2): the CA certificates, the CRLs and the ARL, the OCSP responder and the CPS. */
#include <httpd.h>
#include <http_protocol.h>
#include <apr_strings.h>
#include <apr_uri.h>
#include "mod_ecert.h"
#include "ec_ca.h"

/* The repository's files are linked on this site at the paths the certificates' own URLs
 * (AIA caIssuers, CDP) give: every node serves them there (Alias /root/, /crl/). */
static const char *site_path(apr_pool_t *p, const char *url, const char *file)
{
    apr_uri_t u;
    const char *path = url && apr_uri_parse(p, url, &u) == APR_SUCCESS && u.path ? u.path : "/";
    return apr_pstrcat(p, path, file, NULL);
}

static const char *ca_cn(ecert_req_t *q, const char *role)
{
    for (int i = 0; i < q->conf->issuers->nelts; i++) {
        const ecert_issuer_t *is = &APR_ARRAY_IDX(q->conf->issuers, i, ecert_issuer_t);
        if (!strcmp(is->role, role))
            return is->info.cn;
    }
    return NULL;
}

int ecert_start_page(ecert_req_t *q)
{
    apr_pool_t *p = q->r->pool;
    const ec_profile_conf_t *prof = q->conf->profile;

    if (q->r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    for (int i = 0; i < 3; i++) {
        const ec_ca_files_t *f = &ec_ca_files[i];
        ec_tmpl_vars *ca = ec_tmpl_add(q->vars, "cas");
        ec_tmpl_set_raw(ca, "role", ec_tmpl_msg(q->tmpl, apr_pstrcat(p, "start.ca_", f->role, NULL), ca));
        ec_tmpl_set(ca, "cn", ca_cn(q, f->role));
        ec_tmpl_set(ca, "id", f->role);
        ec_tmpl_set(ca, "pem", site_path(p, prof->aia_base, apr_pstrcat(p, f->file, ".pem.crt", NULL)));
        ec_tmpl_set(ca, "der", site_path(p, prof->aia_base, apr_pstrcat(p, f->file, ".crt", NULL)));
        ec_tmpl_set(ca, "crl", site_path(p, prof->crl_base, f->crl_file));
        ec_tmpl_set(ca, "crl_name", f->crl_file);
    }
    ec_tmpl_set(q->vars, "ocsp_url", prof->ocsp_url);
    ec_tmpl_set(q->vars, "cps_url", prof->cps_url);
    return ecert_render(q, "start", HTTP_OK);
}
