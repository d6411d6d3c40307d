#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include "ec_ocsp_resign.h"
#include "ec_util.h"
#include "ec_log.h"

#define EPOCH_S(c)  "TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', " c ")"
#define EPOCH_US(c) "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', " c ")"
#define FROM_US     "TIMESTAMPADD(MICROSECOND, %s, '1970-01-01 00:00:00')"
#define STR(x) #x
#define XSTR(x) STR(x)

/* Fixed-arity statements for a whole batch (prepared once): a shorter batch repeats its last
 * row, which the state read and the upsert take as a no-op. */
#define R2(x) x ", " x
#define R4(x) R2(R2(x))
#define R8(x) R4(R2(x))
#define R32(x) R8(R4(x))
#define R64(x) R2(R32(x))
#define CERTS 32
#define ANSWERS 64              /* both CertID hashes of every certificate */

#if EC_OCSP_RESIGN_BATCH != CERTS
#error "the statements below repeat their rows 32 and 64 times"
#endif

/* What an answer needs, read with the row it is taken with. Sub CAs (the root's
 * certificates) are in table ca: CPS App. D note 2, a CA's revocation always has a reason. */
#define STATE_CERT "c.status, COALESCE(" EPOCH_S("c.revoked_at") ", 0), COALESCE(c.revocation_reason, -1), " \
    EPOCH_US("c.status_changed") ", " EPOCH_S("c.not_after")
#define STATE_CA "c.status, COALESCE(" EPOCH_S("c.revoked_at") ", 0), COALESCE(c.revocation_reason, 0), " \
    EPOCH_US("c.status_changed") ", " EPOCH_S("c.not_after")

#define ANSWER_ROW "(%s, %s, %s, %s, %s, " FROM_US ", UNHEX(%s))"

const ec_stmt_t ec_ocsp_resign_stmts[] = {
    /* The next transaction only: no gap locks, so issuance and revocation adding to the
     * queue never wait for (or deadlock with) a batch being signed. */
    { "ocsp_resign_isolation", "SET TRANSACTION ISOLATION LEVEL READ COMMITTED" },
    /* Only the work rows are locked (along index ocsp_pending_take, issuer_id, queued_at):
     * a revocation that re-queues one meanwhile waits for this commit, then queues it anew. */
    { "ocsp_resign_take", "SELECT serial_hex, NULL FROM ocsp_pending WHERE issuer_id = %s "
      "ORDER BY queued_at LIMIT " XSTR(CERTS) " FOR UPDATE SKIP LOCKED" },
    /* One row by its whole primary key, a lookup of that row alone: on a small queue the
     * optimizer reads a list of serials as every row of the issuer, and under READ
     * COMMITTED that waits for (and deadlocks with) the rows other batches hold. */
    { "ocsp_resign_done", "DELETE FROM ocsp_pending WHERE issuer_id = %s AND serial_hex = %s" },
    /* Along index ocsp_refresh_take (issuer_id, this_update). */
    { "ocsp_refresh_take", "SELECT serial_hex, hash_alg FROM ocsp_response WHERE issuer_id = %s AND "
      "this_update < %s ORDER BY this_update LIMIT " XSTR(ANSWERS) " FOR UPDATE SKIP LOCKED" },
    /* The certificates' state, read without locking them (issuance and revocation are not
     * held up by signing): a change committed after this read re-queues the certificate. */
    { "ocsp_resign_state_cert", "SELECT c.serial_hex, " STATE_CERT " FROM certificate c WHERE c.issuer_id = %s "
      "AND c.serial_hex IN (" R64("%s") ")" },
    { "ocsp_resign_state_ca", "SELECT c.serial_hex, " STATE_CA " FROM ca c WHERE c.parent_id = %s "
      "AND c.role IN ('ssl', 'ev') AND c.serial_hex IN (" R64("%s") ")" },
    /* An answer signed for an older status never replaces one for a newer (same rule as
     * ocsp_upsert and the replica's). */
    { "ocsp_resign_store", "INSERT INTO ocsp_response (issuer_id, serial_hex, hash_alg, this_update, next_update, "
      "status_changed, response_der) VALUES " R64(ANSWER_ROW) " ON DUPLICATE KEY UPDATE "
      "this_update = IF(VALUES(status_changed) >= status_changed, VALUES(this_update), this_update), "
      "next_update = IF(VALUES(status_changed) >= status_changed, VALUES(next_update), next_update), "
      "response_der = IF(VALUES(status_changed) >= status_changed, VALUES(response_der), response_der), "
      "status_changed = GREATEST(status_changed, VALUES(status_changed))" },
    { NULL, NULL }
};

typedef struct {
    const char *serial;
    ec_ocsp_rec_t rec;          /* found, status, revoked_at, reason, sc, not_after */
    int alg;                    /* refresh: the one answer due; 0: both */
} job_t;

static int alg_of(const char *name)
{
    return name && !strcmp(name, "sha256") ? EC_OCSP_HASH_SHA256 : EC_OCSP_HASH_SHA1;
}

static apr_status_t begin(ec_store_t *s, apr_pool_t *p)
{
    apr_status_t rv = ec_store_exec(s, p, "ocsp_resign_isolation", NULL, EC_NOARGS);
    return rv != APR_SUCCESS ? rv : ec_store_begin(s, p);
}

/* The rows to work on, locked: serial (and, for a refresh, which answer). */
static apr_status_t take(ec_store_t *s, apr_pool_t *p, const char *label, int nargs, const char **args,
                         apr_array_header_t **jobs)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_status_t rv = ec_store_select(s, p, label, &res, nargs, args);

    *jobs = apr_array_make(p, ANSWERS, sizeof(job_t));
    if (rv != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS) {
        const char *serial = ec_store_col(s, row, 0), *alg = ec_store_col(s, row, 1);
        job_t *j;
        if (!serial)
            continue;
        j = apr_array_push(*jobs);
        memset(j, 0, sizeof(*j));
        j->serial = apr_pstrdup(p, serial);
        j->rec.reason = -1;
        j->rec.status = EC_OCSP_UNKNOWN;
        j->alg = alg ? alg_of(alg) : 0;
    }
    return s->failed ? APR_EGENERAL : APR_SUCCESS;
}

/* Fills each job's certificate state in one statement; a job whose certificate is gone
 * keeps found = 0. */
static apr_status_t read_state(ec_store_t *s, apr_pool_t *p, const ec_ocsp_issuer_t *is, apr_array_header_t *jobs)
{
    const char *args[1 + ANSWERS];
    apr_hash_t *by_serial = apr_hash_make(p);
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_status_t rv;

    if (!jobs->nelts)
        return APR_SUCCESS;
    args[0] = is->id;
    for (int i = 0; i < ANSWERS; i++) {
        job_t *j = &APR_ARRAY_IDX(jobs, i < jobs->nelts ? i : jobs->nelts - 1, job_t);
        args[1 + i] = j->serial;
    }
    if ((rv = ec_store_select(s, p, is->is_root ? "ocsp_resign_state_ca" : "ocsp_resign_state_cert", &res,
                              1 + ANSWERS, args)) != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS) {
        const char *c[6];
        ec_ocsp_rec_t *rec;
        for (int i = 0; i < 6; i++)
            c[i] = ec_store_col(s, row, i);
        if (!c[0] || !c[1] || !c[4])
            continue;
        rec = apr_pcalloc(p, sizeof(*rec));
        ec_ocsp_rec_state(rec, c + 1);
        apr_hash_set(by_serial, apr_pstrdup(p, c[0]), APR_HASH_KEY_STRING, rec);
    }
    if (s->failed)
        return APR_EGENERAL;
    for (int i = 0; i < jobs->nelts; i++) {
        job_t *j = &APR_ARRAY_IDX(jobs, i, job_t);
        ec_ocsp_rec_t *rec = apr_hash_get(by_serial, j->serial, APR_HASH_KEY_STRING);
        if (rec)
            j->rec = *rec;
    }
    return APR_SUCCESS;
}

/* Signs one answer into the next seven upsert arguments. */
static apr_status_t sign_into(apr_pool_t *p, const ec_ocsp_issuer_t *is, const job_t *j, int alg, time_t now,
                              int validity, const char **args)
{
    ec_ocsp_rec_t rec = j->rec;
    apr_status_t rv = ec_ocsp_sign_rec(p, is, j->serial, alg, now, validity, &rec);

    if (rv != APR_SUCCESS)
        return rv;
    args[0] = is->id;
    args[1] = j->serial;
    args[2] = alg == EC_OCSP_HASH_SHA256 ? "sha256" : "sha1";
    args[3] = ec_sqltime(p, rec.this_update);
    args[4] = ec_sqltime(p, rec.next_update);
    args[5] = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)rec.sc);
    args[6] = ec_hex(p, rec.der, rec.der_len);
    return APR_SUCCESS;
}

/* One statement for up to ANSWERS answers (7 arguments each); padded with the last. */
static apr_status_t store_answers(ec_store_t *s, apr_pool_t *p, const char **args, int n)
{
    const char **all;

    if (!n)
        return APR_SUCCESS;
    all = apr_palloc(p, sizeof(*all) * 7 * ANSWERS);
    memcpy(all, args, sizeof(*all) * 7 * (size_t)n);
    for (int i = n; i < ANSWERS; i++)
        memcpy(all + 7 * i, args + 7 * (n - 1), sizeof(*all) * 7);
    return ec_store_exec(s, p, "ocsp_resign_store", NULL, 7 * ANSWERS, all);
}

static apr_status_t dequeue(ec_store_t *s, apr_pool_t *p, const ec_ocsp_issuer_t *is, const char **serials, int n)
{
    apr_status_t rv = APR_SUCCESS;

    for (int i = 0; i < n && rv == APR_SUCCESS; i++)
        rv = ec_store_exec(s, p, "ocsp_resign_done", NULL, EC_ARGS(is->id, serials[i]));
    return rv;
}

/* Signs every answer the jobs want into args; *signed_n answers, done[] the serials whose
 * answers were all signed (or that need none). A signing failure leaves that job alone. */
static int sign_jobs(apr_pool_t *p, const ec_ocsp_issuer_t *is, apr_array_header_t *jobs, time_t now, int validity,
                     const char **args, int *signed_n, const char **done, const char *log_tag)
{
    int ndone = 0;

    *signed_n = 0;
    for (int i = 0; i < jobs->nelts; i++) {
        job_t *j = &APR_ARRAY_IDX(jobs, i, job_t);
        int ok = 1;
        for (int alg = EC_OCSP_HASH_SHA1; alg <= EC_OCSP_HASH_SHA256 && j->rec.found; alg++) {
            if (j->alg && j->alg != alg)
                continue;
            if (sign_into(p, is, j, alg, now, validity, args + 7 * *signed_n) == APR_SUCCESS)
                (*signed_n)++;
            else
                ok = 0;
        }
        if (ok)
            done[ndone++] = j->serial;
        else if (!ec_p11_available(is->signer.p11)) {
            /* The token went away under this batch: the rest waits for it, said once. */
            ec_log(EC_LOG_WARN, "ECQ0003", "token unavailable: %d certificates of issuer %s stay queued",
                   jobs->nelts - i, is->id);
            break;
        }
        else
            ec_log(EC_LOG_ERR, log_tag, "cannot sign the OCSP answers of issuer %s serial %s", is->id, j->serial);
    }
    return ndone;
}

static apr_status_t pending_one(ec_store_t *s, apr_pool_t *p, const ec_ocsp_issuer_t *is, time_t now,
                                int validity, int *done)
{
    apr_array_header_t *jobs;
    const char **args = apr_palloc(p, sizeof(*args) * 7 * ANSWERS), *serials[CERTS];
    int n = 0, ndone = 0;
    apr_status_t rv, end;

    if ((rv = begin(s, p)) != APR_SUCCESS)
        return rv;
    if ((rv = take(s, p, "ocsp_resign_take", EC_ARGS(is->id), &jobs)) == APR_SUCCESS)
        rv = read_state(s, p, is, jobs);
    if (rv == APR_SUCCESS) {
        /* Vanished certificates leave the queue unsigned; failed signatures stay queued. */
        ndone = sign_jobs(p, is, jobs, now, validity, args, &n, serials, "ECQ0001");
        if ((rv = store_answers(s, p, args, n)) == APR_SUCCESS)
            rv = dequeue(s, p, is, serials, ndone);
    }
    end = ec_store_end(s, rv != APR_SUCCESS);
    if (rv == APR_SUCCESS && end == APR_SUCCESS)
        *done += ndone;
    return rv != APR_SUCCESS ? rv : end;
}

apr_status_t ec_ocsp_pending(ec_store_t *s, apr_pool_t *p, ec_ocsp_issuer_t *const *issuers, int n,
                             time_t now, int validity, int *done)
{
    apr_status_t rv = APR_SUCCESS;

    *done = 0;
    for (int i = 0; i < n && rv == APR_SUCCESS; i++)
        if (issuers[i]->id[0])
            rv = pending_one(s, p, issuers[i], now, validity, done);
    return rv;
}

static apr_status_t refresh_one(ec_store_t *s, apr_pool_t *p, const ec_ocsp_issuer_t *is, time_t before, time_t now,
                                int validity, int *done)
{
    apr_array_header_t *jobs, *live;
    const char **args = apr_palloc(p, sizeof(*args) * 7 * ANSWERS), *serials[ANSWERS];
    int n = 0;
    apr_status_t rv, end;

    if ((rv = begin(s, p)) != APR_SUCCESS)
        return rv;
    if ((rv = take(s, p, "ocsp_refresh_take", EC_ARGS(is->id, ec_sqltime(p, before)), &jobs)) == APR_SUCCESS)
        rv = read_state(s, p, is, jobs);
    live = apr_array_make(p, jobs->nelts, sizeof(job_t));
    for (int i = 0; rv == APR_SUCCESS && i < jobs->nelts; i++) {
        job_t *j = &APR_ARRAY_IDX(jobs, i, job_t);
        /* BR 4.9.10: status is owed until the certificate expires, not after. */
        if (!j->rec.found || j->rec.not_after < now)
            rv = ec_store_exec(s, p, "ocsp_response_drop", NULL,
                               EC_ARGS(is->id, j->serial, j->alg == EC_OCSP_HASH_SHA256 ? "sha256" : "sha1"));
        else
            *(job_t *)apr_array_push(live) = *j;
    }
    if (rv == APR_SUCCESS) {
        sign_jobs(p, is, live, now, validity, args, &n, serials, "ECQ0002");
        rv = store_answers(s, p, args, n);
    }
    end = ec_store_end(s, rv != APR_SUCCESS);
    if (rv == APR_SUCCESS && end == APR_SUCCESS)
        *done += jobs->nelts;
    return rv != APR_SUCCESS ? rv : end;
}

apr_status_t ec_ocsp_refresh(ec_store_t *s, apr_pool_t *p, ec_ocsp_issuer_t *const *issuers, int n,
                             time_t before, time_t now, int validity, int *done)
{
    apr_status_t rv = APR_SUCCESS;

    *done = 0;
    for (int i = 0; i < n && rv == APR_SUCCESS; i++)
        if (issuers[i]->id[0])
            rv = refresh_one(s, p, issuers[i], before, now, validity, done);
    return rv;
}
