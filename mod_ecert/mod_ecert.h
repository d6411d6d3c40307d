/* mod_ecert: the subscriber pages and the CA's publishing, as httpd glue over the core. */
#ifndef MOD_ECERT_H
#define MOD_ECERT_H

#include <httpd.h>
#include <http_config.h>
#include "ec_p11.h"
#include "ec_profile.h"
#include "ec_session.h"
#include "ec_store.h"
#include "ec_tmpl.h"
#include "ec_login.h"
#include "ec_crl_conf.h"

#define ECERT_UNSET -1

typedef struct {
    const char *role;           /* ssl | ev */
    const char *cert_file;
    const char *key_uri;
    const uint8_t *cert_der;
    size_t cert_len;
    ec_p11_key *key;            /* per child, after child_init */
    ec_issuer_t info;           /* parsed at post_config; info.key set per child */
} ecert_issuer_t;

typedef struct {
    const char *p11_module;
    const char *pin_spec;
    char *pin;                  /* read in the parent at post_config; never logged */
    int sessions;
    const char *publish_dir;
    const char *root_file;
    apr_array_header_t *issuers;   /* ecert_issuer_t */
    const char *templates;
    ec_p11 *p11;                /* per child */
    ec_profile_conf_t *profile;    /* issuance settings shared with ecertctl */
    const char *cross_file;        /* optional cross certificate for the chain */
    const uint8_t *cross_der;
    size_t cross_len;
    int session_idle;              /* seconds */
    int login_max_failures;
    int login_rate_max, login_rate_window;
    const char *dummy_hash;        /* per child: PIN hash checked when there is no envelope */
    ec_crl_conf_t *crl;            /* CRL schedule and validity, shared with ecertctl */
    const char *crl_dir;           /* where this node mirrors the CRLs it serves */
} ecert_srv_conf;

/* One request to the subscriber pages. */
typedef struct {
    request_rec *r;
    ecert_srv_conf *conf;
    const char *base;              /* the URL the ecert handler is mounted at ("/ecert") */
    const char *path;              /* below base ("/login") */
    const char *lang;              /* en | zh */
    ec_tmpl_t *tmpl;
    ec_tmpl_vars *vars;
    ec_store_t *store;             /* NULL until ecert_store() */
    ec_session_t *session;         /* NULL without a valid session */
    apr_table_t *form;             /* POST fields */
} ecert_req_t;

extern module AP_MODULE_DECLARE_DATA ecert_module;

/* ecert_web.c: request plumbing */
int ecert_store(ecert_req_t *q);
int ecert_render(ecert_req_t *q, const char *page, int status);
int ecert_redirect(ecert_req_t *q, const char *path);
int ecert_read_form(ecert_req_t *q);
const char *ecert_field(ecert_req_t *q, const char *name);
int ecert_csrf_ok(ecert_req_t *q);
void ecert_set_session_cookie(ecert_req_t *q, const char *value, int max_age);
int ecert_send(ecert_req_t *q, const char *type, const char *filename, const void *data, size_t len);
const char *ecert_pick_lang(request_rec *r);
const char *ecert_session_cookie(request_rec *r);
const char *ecert_actor(ecert_req_t *q, const char *envelope_ref);
int ecert_unavailable(ecert_req_t *q, const char *why);

/* ecert_crl.c: the CRL repository and the node's CRL worker */
int ecert_crl_handler(request_rec *r);
int ecert_crl_post_config(apr_pool_t *pconf, server_rec *s);
void ecert_crl_child_init(apr_pool_t *pchild, server_rec *s);

/* ecert_pages.c: the pages */
int ecert_pages(ecert_req_t *q);

#endif
