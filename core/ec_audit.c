#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <apr_strings.h>
#include "ec_audit.h"
#include "ec_util.h"
#include "ec_log.h"

const ec_stmt_t ec_audit_stmts[] = {
    { "audit_head_lock", "SELECT seq, HEX(hash) FROM audit_head WHERE id = 1 FOR UPDATE" },
    { "audit_insert", "INSERT INTO audit_event (seq, at, actor, event, detail, prev_hash, hash) "
                      "VALUES (%s, %s, %s, %s, %s, UNHEX(%s), UNHEX(%s))" },
    { "audit_head_set", "UPDATE audit_head SET seq = %s, hash = UNHEX(%s) WHERE id = 1" },
    { "audit_all", "SELECT seq, at, actor, event, detail, HEX(prev_hash), HEX(hash) "
                   "FROM audit_event ORDER BY seq" },
    { "audit_head_get", "SELECT seq, HEX(hash) FROM audit_head WHERE id = 1" },
    { NULL, NULL }
};

static void chain_hash(const uint8_t prev[32], const char *seq, const char *at, const char *actor,
                       const char *event, const char *detail, uint8_t out[32], apr_pool_t *p)
{
    char *text = apr_pstrcat(p, seq, "\n", at, "\n", actor, "\n", event, "\n", detail, NULL);
    size_t n = strlen(text);
    uint8_t *buf = apr_palloc(p, 32 + n);
    memcpy(buf, prev, 32);
    memcpy(buf + 32, text, n);
    ec_sha256(buf, 32 + n, out);
}

apr_status_t ec_audit(ec_store_t *s, apr_pool_t *p, const char *actor, const char *event,
                      const char *detail)
{
    int own = s->txn == NULL;
    const char *head[2];
    uint8_t *prev, hash[32];
    size_t plen;
    struct timeval tv;
    struct tm tm;
    char at[100], *seq;
    apr_status_t rv;

    if (own && (rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    rv = ec_store_get1(s, p, "audit_head_lock", 2, head, EC_NOARGS);
    if (rv != APR_SUCCESS || !(prev = ec_unhex(p, head[1], &plen)) || plen != 32) {
        s->failed = 1;
        rv = APR_EGENERAL;
        goto done;
    }
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(at, sizeof(at), "%04d-%02d-%02d %02d:%02d:%02d.%06ld", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec);
    seq = apr_psprintf(p, "%" APR_INT64_T_FMT, apr_atoi64(head[0]) + 1);
    chain_hash(prev, seq, at, actor, event, detail, hash, p);
    rv = ec_store_exec(s, p, "audit_insert", NULL,
                       EC_ARGS(seq, at, actor, event, detail, ec_hex(p, prev, 32), ec_hex(p, hash, 32)));
    if (rv == APR_SUCCESS)
        rv = ec_store_exec(s, p, "audit_head_set", NULL, EC_ARGS(seq, ec_hex(p, hash, 32)));
done:
    if (own) {
        apr_status_t end = ec_store_end(s, rv != APR_SUCCESS);
        if (rv == APR_SUCCESS)
            rv = end;
    }
    if (rv != APR_SUCCESS)
        ec_log_rv(EC_LOG_ERR, rv, "ECA0001", "audit event %s could not be written", event);
    return rv;
}

apr_status_t ec_audit_verify(ec_store_t *s, apr_pool_t *p, long long *count, long long *bad_seq)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    uint8_t prev[32] = { 0 }, hash[32];
    long long expect = 1;
    apr_status_t rv;
    const char *head[2];

    *count = 0;
    *bad_seq = 0;
    if ((rv = ec_store_select(s, p, "audit_all", &res, EC_NOARGS)) != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS) {
        const char *seq = ec_store_col(s, row, 0);
        size_t n1, n2;
        uint8_t *stored_prev = ec_unhex(p, ec_store_col(s, row, 5), &n1);
        uint8_t *stored = ec_unhex(p, ec_store_col(s, row, 6), &n2);

        chain_hash(prev, seq, ec_store_col(s, row, 1), ec_store_col(s, row, 2),
                   ec_store_col(s, row, 3), ec_store_col(s, row, 4), hash, p);
        if (!*bad_seq && (apr_atoi64(seq) != expect || !stored_prev || n1 != 32 ||
                          memcmp(stored_prev, prev, 32) || !stored || n2 != 32 ||
                          memcmp(stored, hash, 32)))
            *bad_seq = apr_atoi64(seq) ? apr_atoi64(seq) : expect;
        memcpy(prev, hash, 32);
        expect++;
        (*count)++;
    }
    /* The head must name the last event: a deleted tail shows here. */
    if (!*bad_seq && ec_store_get1(s, p, "audit_head_get", 2, head, EC_NOARGS) == APR_SUCCESS) {
        size_t n;
        uint8_t *h = ec_unhex(p, head[1], &n);
        if (apr_atoi64(head[0]) != *count || !h || n != 32 || (*count && memcmp(h, prev, 32)))
            *bad_seq = *count + 1;
    }
    return *bad_seq ? APR_EGENERAL : APR_SUCCESS;
}
