/* Domain control validation (R-3; User Guide C.4; BR 3.2.2.4, 4.2.1): which names an
 * application must validate, which methods it may use, its codes, where each name stands, and
 * the reuse of an organisation's earlier validations. The checks themselves are in
 * ec_dcv_job (Website Change, DNS Change: run by a worker) and ec_dcv_email (Constructed
 * E-mail: a code typed back). Every date here is ec_clock_now()'s. */
#ifndef EC_DCV_H
#define EC_DCV_H

#include <time.h>
#include "ec_app.h"
#include "ec_dcv_conf.h"
#include "ec_store.h"

extern const ec_stmt_t ec_dcv_stmts[];

typedef enum { EC_DCV_WEBSITE = 1, EC_DCV_DNS = 2, EC_DCV_EMAIL = 4 } ec_dcv_method_t;

#define EC_DCV_CODE_DAYS   30           /* User Guide C.4: a code is valid for 30 days */
#define EC_DCV_BR_VERSION  "2.2.6"      /* the Baseline Requirements the methods are run to */
#define EC_DCV_EMAIL_TRIES 5            /* wrong codes typed before a mailed code is spent */
#define EC_DCV_DNS_LABEL   "_dnsauth"   /* DNS Change: the TXT record may be at _dnsauth.<name> */

/* "website" | "dns" | "email", and back (0 when unknown). */
const char *ec_dcv_method_name(ec_dcv_method_t m);
ec_dcv_method_t ec_dcv_method_parse(const char *s);
/* The RFC 8657 label CAA validationmethods names the method by. */
const char *ec_dcv_method_caa_label(ec_dcv_method_t m);
/* The method as BR 3.2.2.4 wants it recorded: "BR 2.2.6 3.2.2.4.7". */
const char *ec_dcv_method_ref(ec_dcv_method_t m);

/* BR 4.2.1: how many days a completed validation may be relied on for an issuance at t
 * (398 before 2026-03-15, 200 before 2027-03-15, 100 before 2029-03-15, then 10). */
int ec_dcv_reuse_days(time_t issuance);
/* BR 3.2.2.4.4: Constructed E-mail may be used (and its results relied on) before 2028-03-15. */
int ec_dcv_email_usable(time_t t);
/* The methods (a mask of ec_dcv_method_t) application a may use at t: Website Change not for a
 * wildcard (BR 3.2.2.4.18), Constructed E-mail only for one name, when switched on, before
 * its sunset. */
int ec_dcv_methods(const ec_dcv_conf_t *c, const ec_app_t *a, time_t t);

/* The organisation a validation belongs to (BR 4.2.1 reuse "for the same Applicant"): from the
 * BR number, else the CI/CR number, else the organisation's names. 32 bytes. */
const uint8_t *ec_dcv_org_key(apr_pool_t *p, const ec_app_t *a);

typedef struct {
    const char *cert_name;       /* as in the certificate ("*." kept) */
    const char *name;            /* the name validated: a wildcard's base */
    int wildcard;
    /* the validation relied on, when there is one in the window */
    const char *valid_id, *valid_domain, *valid_method;
    time_t valid_at;
    int reused;                  /* done for an earlier application of the organisation */
    /* the latest attempt of this application */
    const char *last_method, *last_reason, *last_detail;
    int last_passed;
    time_t last_at;
    /* the latest CAA check */
    const char *caa_verdict, *caa_reason, *caa_detail;
    time_t caa_at;
} ec_dcv_name_t;

typedef struct {
    apr_array_header_t *names;   /* ec_dcv_name_t, in certificate order */
    int all_valid;
    int caa_blocked;             /* the latest CAA check of some name did not permit */
    const char *job_kind, *job_state;    /* NULL without a check queued or running */
    const char *email_to;        /* the address the live mailed code went to */
    time_t email_expires;
    int email_tries_left;
} ec_dcv_status_t;

apr_status_t ec_dcv_status(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, time_t now, ec_dcv_status_t *st);

/* The application's random value for Website Change or DNS Change, made on first use and
 * replaced after EC_DCV_CODE_DAYS: the newest live one. */
apr_status_t ec_dcv_code(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, ec_dcv_method_t m, time_t now,
                         const char **code, const char **code_id, time_t *expires);
/* Every live code of the method, newest first (two pages or two nodes may each have made one
 * at the same moment: whichever the subscriber published counts). ec_dcv_code_t items. */
typedef struct {
    const char *id, *code;
    time_t created, expires;
} ec_dcv_code_t;
apr_status_t ec_dcv_codes(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, ec_dcv_method_t m, time_t now,
                          apr_array_header_t **codes);
/* A fresh code from the CSPRNG: 160 bits as 32 lower-case base32 characters. */
apr_status_t ec_dcv_new_code(apr_pool_t *p, char **code);

/* Records one attempt (and, when it passed, the validation) in one transaction with its audit
 * event. domain is the Authorization Domain Name that passed; *attempt_id may be NULL. */
typedef struct {
    const ec_app_t *app;
    ec_dcv_method_t method;
    const char *code_id;         /* NULL for a code that matched nothing */
    const char *code_hash;       /* hex SHA-256 of the code checked (or typed): the evidence */
    const char *name;            /* the name checked */
    const char *domain;          /* passed: the domain validated (== name, or an e-mail's ADN) */
    int passed, covers_below;
    const char *reason, *detail, *urls, *email_to, *dns;
    time_t initiated;            /* the code's creation (BR 4.2.1 counts reuse from it) */
    time_t at;
    const char *mpic_id;         /* the corroboration relied on (ec_mpic), or NULL */
} ec_dcv_attempt_t;
apr_status_t ec_dcv_record(ec_store_t *s, apr_pool_t *p, const ec_dcv_attempt_t *at, const char *actor);

/* Records a CAA result for one certificate name (inside the caller's transaction when one is
 * open); *id the row. */
apr_status_t ec_dcv_record_caa(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, const char *cert_name,
                               time_t at, const char *verdict, const char *reason, const char *detail,
                               const char *relevant_at, const char *dns, const char *mpic_id, const char **id);

#endif
