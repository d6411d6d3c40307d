/* Multi-perspective issuance corroboration (BR 3.2.2.9): the primary perspective's
 * determination (a Website Change or DNS Change code seen, CAA permitting issuance) is asked
 * of every configured remote perspective at once; each answer corroborates or not; the
 * quorum table decides; every answer is kept with the check as evidence and the outcome is
 * audited. A retry asks again from scratch (BR 3.2.2.9: no reliance on earlier attempts). */
#ifndef EC_MPIC_H
#define EC_MPIC_H

#include "ec_app.h"
#include "ec_caa.h"
#include "ec_mpic_client.h"
#include "ec_store.h"

extern const ec_stmt_t ec_mpic_stmts[];

typedef struct {
    const char *purpose;             /* "dcv" or "caa" */
    const char *check;               /* web, txt, caa */
    const char *name;
    const char *method;              /* the DCV method name, or the CAA method label; may be NULL */
    int required;                    /* remote perspectives the BR require now */
    int remote;                      /* asked */
    int corroborating;
    int allowed;                     /* non-corroborations the quorum allows */
    int passed;
    int skipped;                     /* not corroborated, and not required of this application */
    const char *detail;              /* a sentence for the record and the log (names perspectives) */
    ec_mpic_ask_t *asks;
    time_t at;
    const char *id;                  /* mpic_check.id once recorded */
} ec_mpic_result_t;

/* Whether remote perspective answer a corroborates (and, when not, in one word why not). */
int ec_mpic_corroborates(const ec_mpic_ask_t *a, const char **why_not);

/* The quorum of r's answers (r->remote asks, r->required set): r->corroborating, allowed,
 * passed and detail. Passing needs the table's quorum and corroborators in two RIRs' regions. */
void ec_mpic_quorum(apr_pool_t *p, ec_mpic_result_t *r);

/* Website Change ("web") or DNS Change ("txt") of name, the primary having seen code. */
void ec_mpic_dcv(const ec_mpic_conf_t *c, apr_pool_t *p, time_t now, const char *check, const char *name,
                 const char *code, ec_mpic_result_t *res);

/* CAA for n certificate names at once (methods[i]: the RFC 8657 label or NULL). optional: a
 * Government application (User Guide C.4, no BR 3.2.2.4 method), for which a set that cannot
 * be relied on is skipped rather than refused. */
void ec_mpic_caa(const ec_mpic_conf_t *c, const ec_caa_conf_t *caa, apr_pool_t *p, time_t now, int n,
                 const char *const *names, const char *const *methods, int optional, ec_mpic_result_t *res);

/* The check and every answer, in one transaction (or the caller's) with its audit event;
 * res->id set. */
apr_status_t ec_mpic_record(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, ec_mpic_result_t *res,
                            const char *actor);

#endif
