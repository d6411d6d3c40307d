/* mod_ecert: the subscriber pages and the CA's publishing, as httpd glue over the core. */
#ifndef MOD_ECERT_H
#define MOD_ECERT_H

#include <httpd.h>
#include <http_config.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include "ec_p11.h"
#include "ec_profile.h"
#include "ec_session.h"
#include "ec_store.h"
#include "ec_tmpl.h"
#include "ec_login.h"
#include "ec_crl_conf.h"
#include "ec_mail.h"
#include "ec_notice.h"
#include "ec_dcv_conf.h"
#include "ec_dcv_job.h"
#include "ec_audit_anchor.h"

/* A number no directive set; post_config replaces it by its default (mod_ecert.c defaults()). */
#define ECERT_UNSET -1
/* The defaults, in one place. */
#define ECERT_DEF_SESSIONS        4      /* PKCS#11 sessions per child (ECertSessions) */
#define ECERT_DEF_SESSION_IDLE    900    /* seconds (ECertSessionIdle) */
#define ECERT_DEF_LOGIN_FAILURES  5      /* before the envelope locks (ECertLoginMaxFailures) */
#define ECERT_DEF_LOGIN_RATE      30     /* login attempts per client address ... */
#define ECERT_DEF_LOGIN_WINDOW    600    /* ... and window in seconds (ECertLoginRateLimit) */
/* Public report forms: submissions per client address and window (ECertReportRateLimit). */
#define ECERT_DEF_REPORT_RATE     10
#define ECERT_DEF_REPORT_WINDOW   3600
#define ECERT_DEF_AUDIT_EVENTS    EC_AUDIT_CHECKPOINT_EVENTS   /* ECertAuditCheckpoint: events ... */
#define ECERT_DEF_AUDIT_SECONDS   EC_AUDIT_CHECKPOINT_SECONDS  /* ... or seconds between checkpoints */

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
    apr_array_header_t *issuers;   /* ecert_issuer_t */
    const char *templates;
    ec_tmpl_lib *pages;         /* templates and catalogues, read at post_config; read-only */
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
    ec_mail_conf_t *mail;          /* relay and addresses, shared with ecertctl */
    const char *kc_proof;          /* CN of a key-compromise proof CSR (NULL: CPS 4.9.12's) */
    int report_rate_max, report_rate_window;
    int audit_cp_events, audit_cp_seconds;   /* ECertAuditCheckpoint */
    ec_dcv_conf_t *dcv;            /* resolver, CAA and DCV settings, shared with ecertctl */
    ec_dcv_env_t *dcv_env;         /* per child: the resolver the pages' issuances use */
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
    char *form_body;               /* what they were decoded from (ecert_wipe_form) */
    apr_size_t form_len;
} ecert_req_t;

extern module AP_MODULE_DECLARE_DATA ecert_module;

/* ecert_web.c: request plumbing */
int ecert_store(ecert_req_t *q);
/* The request's pooled database connection, or NULL (logged by mod_dbd). */
ap_dbd_t *ecert_dbd(request_rec *r);
int ecert_render(ecert_req_t *q, const char *page, int status);
int ecert_redirect(ecert_req_t *q, const char *path);
/* Post/redirect/get for a form that failed: flash ("error" and "notice": catalogue keys; any
 * other name: a value the page shows) goes with the session to page, which shows it on every
 * GET (reload, Back, the other language) until the subscriber goes to another page. */
int ecert_flash_redirect(ecert_req_t *q, const char *page, const apr_table_t *flash);
/* A GET of another page than the flash's: the flash is dropped. */
void ecert_flash_forget_elsewhere(ecert_req_t *q);
int ecert_read_form(ecert_req_t *q);
/* Zeroes the form's buffer and forgets its fields (after a secret was used). */
void ecert_wipe_form(ecert_req_t *q);
const char *ecert_field(ecert_req_t *q, const char *name);
/* A query parameter, decoded; NULL when absent or malformed. */
const char *ecert_arg(request_rec *r, const char *name);
/* The form's token is the logged-in session's. */
int ecert_csrf_ok(ecert_req_t *q);
int ecert_is_https(request_rec *r);
void ecert_set_session_cookie(ecert_req_t *q, const char *value, int max_age);
int ecert_send(ecert_req_t *q, const char *type, const char *filename, const void *data, size_t len);
const char *ecert_pick_lang(request_rec *r);
/* The browser's language from now on (a cookie), "en" or "zh". */
void ecert_keep_lang(request_rec *r, const char *lang);
const char *ecert_session_cookie(request_rec *r);
const char *ecert_actor(ecert_req_t *q, const char *envelope_ref);
int ecert_unavailable(ecert_req_t *q, const char *why);

/* ecert_anon.c: the anonymous forms' CSRF token, which stores nothing per visitor */
/* Sets the nonce cookie and the token the rendered form carries ({{form_csrf}}; {{csrf}} stays
 * the session's, for the logout form of a logged-in visitor). */
int ecert_anon_form(ecert_req_t *q);
/* The form's token was made for this browser's nonce cookie, and not too long ago. */
int ecert_anon_csrf_ok(ecert_req_t *q);

/* ecert_worker.c: background work on one child per node, with a database connection */
typedef struct ecert_worker ecert_worker_t;
typedef void ecert_round_fn(ec_store_t *st, apr_pool_t *p, void *baton);
int ecert_worker_register(apr_pool_t *pconf, server_rec *s, const char *name, apr_interval_time_t interval,
                          ecert_round_fn *fn, void *baton, ecert_worker_t **out);
void ecert_worker_child_init(ecert_worker_t *w, apr_pool_t *pchild);
/* A claim owner unique among every node and child sharing the store ("host httpd pid random");
 * *host (may be NULL) the host name. */
const char *ecert_worker_owner(apr_pool_t *p, const char **host);

/* ecert_crl.c: the CRL repository and the node's CRL worker */
int ecert_crl_handler(request_rec *r);
int ecert_crl_post_config(apr_pool_t *pconf, server_rec *s);
void ecert_crl_child_init(apr_pool_t *pchild, server_rec *s);

/* ecert_mail.c: the node's mail worker */
int ecert_mail_post_config(apr_pool_t *pconf, server_rec *s);
void ecert_mail_child_init(apr_pool_t *pchild, server_rec *s);

/* ecert_audit.c: the checkpoints that anchor the audit log in the token */
int ecert_audit_post_config(apr_pool_t *pconf, server_rec *s);
void ecert_audit_child_init(apr_pool_t *pchild, server_rec *s);

/* ecert_templates.c: the pages' templates and catalogues, read once at start */
int ecert_templates_post_config(apr_pool_t *pconf, server_rec *s);

/* ecert_signing.c: the node's watchdog of unfinished signing records */
int ecert_signing_post_config(apr_pool_t *pconf, server_rec *s);
void ecert_signing_child_init(apr_pool_t *pchild, server_rec *s);

/* ecert_dcv.c: the DCV pages (/dcv...) and the node's DCV worker */
int ecert_dcv_pages(ecert_req_t *q, ec_app_t *a);
/* Whether a confirmed non-government application has every name validated (and CAA not
 * known to forbid): its step is then the CSR. */
int ecert_dcv_done(ecert_req_t *q, ec_app_t *a);
int ecert_dcv_post_config(apr_pool_t *pconf, server_rec *s);
void ecert_dcv_child_init(apr_pool_t *pchild, server_rec *s);

/* ecert_pages.c: the pages, and what the other page files share */
int ecert_pages(ecert_req_t *q);
int ecert_message(ecert_req_t *q, const char *key, int status, int is_error);
/* A page with the PIN envelope form ("login", "revoke_login"), with an anonymous form token. */
int ecert_login_page(ecert_req_t *q, const char *page, const char *error_key, int status);
/* The PIN envelope fields of the form against the store (lockout, rate limit). */
int ecert_check_login(ecert_req_t *q, ec_login_outcome_t *out);
/* POST of an envelope login form on page ("login", "revoke_login"): on success a session of
 * purpose and a redirect to next (NULL: where the application stands); otherwise a redirect
 * to the page, which says why (ecert_login_flash.c). */
int ecert_do_login(ecert_req_t *q, const char *page, const char *purpose, const char *next);
/* A redirect to the login page ("login", "revoke_login") that then shows message key. */
int ecert_to_login(ecert_req_t *q, const char *page, const char *key);
/* Replaces the session by one of purpose ("flow" | "revoke") for the application. */
int ecert_start_session(ecert_req_t *q, ec_app_t *a, const char *purpose);
ec_notice_ctx_t ecert_notices(ecert_req_t *q);
/* The application's values every flow page shows (names, organisation, type). */
void ecert_app_vars(ecert_req_t *q, ec_app_t *a);
/* {{#extra}} and {{extra_count}}: the names after the first (the server name). */
void ecert_extra_names(ecert_req_t *q, ec_tmpl_vars *v, const apr_array_header_t *names);
/* Where the application stands: "/confirm", "/dcv", "/csr", "/certificate", ... */
const char *ecert_step_of(ecert_req_t *q, ec_app_t *a);
int ecert_forbidden_form(ecert_req_t *q);
const char *ecert_hk_date(apr_pool_t *p, time_t t);

/* ecert_start.c: the start page of the services and the repository */
int ecert_start_page(ecert_req_t *q);
/* ecert_login_flash.c: a login page's message across the redirect that answers its POST */
typedef struct {
    const char *key;                       /* a message of ecert_login_flash.c's list */
    int is_error;                          /* (ecert_login_flash_get) an alert, else a status */
    int remaining, bad;                    /* attempts left; EC_LOGIN_BAD_* */
    const char *server_name, *reference;   /* as typed, to refill the form */
} ecert_login_flash_t;
/* For the page at path below base ("/login"); a key not in the list sets nothing. */
void ecert_login_flash_set(ecert_req_t *q, const char *path, const ecert_login_flash_t *f);
/* 1 with the request's flash, 0 without one (or with one that is not well-formed). */
int ecert_login_flash_get(ecert_req_t *q, ecert_login_flash_t *f);
void ecert_login_flash_clear(ecert_req_t *q, const char *path);

/* ecert_revoke.c: the subscriber's revocation pages (/revoke...) */
int ecert_revoke_pages(ecert_req_t *q);
/* The catalogue's "reason.<key>" of an RFC 5280 CRLReason. */
const char *ecert_reason_key(int reason);

/* ecert_report.c: key-compromise and certificate problem reports (/keycompromise, /report) */
int ecert_report_pages(ecert_req_t *q);

#endif
