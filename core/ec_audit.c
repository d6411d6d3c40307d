#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "ec_audit.h"
#include "ec_audit_anchor.h"
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
    { "audit_cp_all", "SELECT seq, LOWER(HEX(hash)), signed_at, HEX(signature) FROM audit_checkpoint ORDER BY seq" },
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

typedef struct {
    long long seq;
    const char *hash, *signed_at;
    uint8_t *sig;
    size_t sig_len;
} checkpoint_t;

static apr_status_t load_checkpoints(ec_store_t *s, apr_pool_t *p, apr_array_header_t **out)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_status_t rv;

    *out = apr_array_make(p, 16, sizeof(checkpoint_t));
    if ((rv = ec_store_select(s, p, "audit_cp_all", &res, EC_NOARGS)) != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS) {
        checkpoint_t *c = apr_array_push(*out);
        c->seq = apr_atoi64(ec_store_col(s, row, 0));
        c->hash = apr_pstrdup(p, ec_store_col(s, row, 1));
        c->signed_at = apr_pstrdup(p, ec_store_col(s, row, 2));
        c->sig = ec_unhex(p, ec_store_col(s, row, 3), &c->sig_len);
    }
    return APR_SUCCESS;
}

static int checkpoint_signed(apr_pool_t *p, const checkpoint_t *c, EVP_PKEY *key)
{
    const char *text = ec_audit_checkpoint_text(p, apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)c->seq), c->hash, c->signed_at);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && c->sig && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(md, c->sig, c->sig_len, (const uint8_t *)text, strlen(text)) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

apr_status_t ec_audit_verify(ec_store_t *s, apr_pool_t *p, const uint8_t *spki, size_t spki_len,
                             ec_audit_report_t *r)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    uint8_t prev[32] = { 0 }, hash[32];
    long long expect = 1;
    apr_status_t rv;
    const char *head[2];
    apr_array_header_t *cps = NULL;
    EVP_PKEY *key = NULL;
    int next = 0;

    memset(r, 0, sizeof(*r));
    if (spki) {
        const unsigned char *q = spki;
        if (!(key = d2i_PUBKEY(NULL, &q, (long)spki_len)))
            return APR_EINVAL;
        if ((rv = load_checkpoints(s, p, &cps)) != APR_SUCCESS) {
            EVP_PKEY_free(key);
            return rv;
        }
        for (int i = 0; i < cps->nelts; i++) {
            const checkpoint_t *c = &APR_ARRAY_IDX(cps, i, checkpoint_t);
            if (!checkpoint_signed(p, c, key) && !r->forged_checkpoint)
                r->forged_checkpoint = c->seq;
        }
        EVP_PKEY_free(key);
    }
    if ((rv = ec_store_select(s, p, "audit_all", &res, EC_NOARGS)) != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS) {
        const char *seq = ec_store_col(s, row, 0);
        size_t n1, n2;
        uint8_t *stored_prev = ec_unhex(p, ec_store_col(s, row, 5), &n1);
        uint8_t *stored = ec_unhex(p, ec_store_col(s, row, 6), &n2);

        chain_hash(prev, seq, ec_store_col(s, row, 1), ec_store_col(s, row, 2),
                   ec_store_col(s, row, 3), ec_store_col(s, row, 4), hash, p);
        if (!r->bad_seq && (apr_atoi64(seq) != expect || !stored_prev || n1 != 32 ||
                            memcmp(stored_prev, prev, 32) || !stored || n2 != 32 ||
                            memcmp(stored, hash, 32)))
            r->bad_seq = apr_atoi64(seq) ? apr_atoi64(seq) : expect;
        /* The chain recomputed from the events as they are now, against what the token signed. */
        while (cps && next < cps->nelts && APR_ARRAY_IDX(cps, next, checkpoint_t).seq <= apr_atoi64(seq)) {
            const checkpoint_t *c = &APR_ARRAY_IDX(cps, next, checkpoint_t);
            if (c->seq == apr_atoi64(seq) && !strcmp(c->hash, ec_hex(p, hash, 32))) {
                r->anchored = c->seq;
                r->checkpoints++;
            }
            else if (!r->bad_checkpoint) {
                r->bad_checkpoint = c->seq;
                r->good_before = r->anchored;
            }
            next++;
        }
        memcpy(prev, hash, 32);
        expect++;
        r->count++;
    }
    /* A checkpoint beyond the last event: the tail was deleted. */
    if (cps && next < cps->nelts && !r->bad_checkpoint) {
        r->bad_checkpoint = APR_ARRAY_IDX(cps, next, checkpoint_t).seq;
        r->good_before = r->anchored;
    }
    /* The head must name the last event: a deleted tail shows here. */
    if (!r->bad_seq && ec_store_get1(s, p, "audit_head_get", 2, head, EC_NOARGS) == APR_SUCCESS) {
        size_t n;
        uint8_t *h = ec_unhex(p, head[1], &n);
        if (apr_atoi64(head[0]) != r->count || !h || n != 32 || (r->count && memcmp(h, prev, 32)))
            r->bad_seq = r->count + 1;
    }
    return r->bad_seq || r->bad_checkpoint || r->forged_checkpoint ? APR_EGENERAL : APR_SUCCESS;
}
