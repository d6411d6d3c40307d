/* Applications approved in the back office (SPEC §2) and their PIN envelopes. */
#ifndef EC_APP_H
#define EC_APP_H

#include <apr_tables.h>
#include "ec_store.h"
#include "ec_notice.h"

#define EC_APP_MAX_EXTRA 49

typedef struct {
    const char *id;
    const char *subscriber_ref;      /* 10 digits */
    const char *envelope_ref;        /* 9 digits */
    const char *server_name;         /* A-label; "*." form for wildcard */
    const char *cert_type;           /* standard | wildcard | multi-domain | ev */
    apr_array_header_t *extra;       /* const char *: A-labels, in order */
    const char *org_en, *org_zh, *branch_en, *branch_zh;
    const char *br_no, *ci_cr_no, *other_doc;
    int period_years;
    int government;
    const char *email;
    const char *ev_street, *ev_reg_no, *ev_category, *ev_jurisdiction;
    const char *renewal_of;          /* envelope reference of the application renewed */
    const char *renewal_id;          /* its id, set by ec_app_check_renewal() */
    const char *status;
    int confirm_chinese;
    int failed_logins;
    int locked;
} ec_app_t;

extern const ec_stmt_t ec_app_stmts[];

ec_app_t *ec_app_new(apr_pool_t *p);
/* Checks every field and normalises names to A-labels; returns the first problem as a
 * sentence, or NULL when the application is complete and consistent. */
const char *ec_app_validate(apr_pool_t *p, ec_app_t *a);
/* A renewal (CPS 4.6) continues an application whose certificate is accepted, unrevoked
 * and unexpired, for the same server name; the new certificate will need a new key.
 * Returns the problem as a sentence, or NULL (and a->renewal_id set). */
const char *ec_app_check_renewal(ec_store_t *s, apr_pool_t *p, ec_app_t *a);
/* Stores a validated application with its envelope, its names and an audit event, in
 * one transaction, with the "Submission of CSR" invitation (User Guide A; never the PIN) when
 * invitation is not NULL. The envelope is fresh (9-digit reference, 16-digit PIN) unless the
 * caller set a->envelope_ref and *pin from pre-printed envelope stock; the PIN is
 * returned once in *pin and stored only hashed. */
apr_status_t ec_app_create(ec_store_t *s, apr_pool_t *p, ec_app_t *a, const char *actor,
                           const ec_notice_ctx_t *invitation, char **pin);
/* Back office: a new PIN for an existing envelope (lost envelope), which also clears
 * the failed-login count and the lock; or only the unlock. */
apr_status_t ec_app_new_pin(ec_store_t *s, apr_pool_t *p, const char *envelope_ref,
                            const char *actor, char **pin);
apr_status_t ec_app_unlock(ec_store_t *s, apr_pool_t *p, const char *envelope_ref,
                           const char *actor);
/* By envelope reference number; APR_ENOENT when there is none. */
apr_status_t ec_app_load(ec_store_t *s, apr_pool_t *p, const char *envelope_ref, ec_app_t **out);
/* The stored PIN hash of an application. */
apr_status_t ec_app_pin_hash(ec_store_t *s, apr_pool_t *p, const char *id, const char **hash);

#endif
