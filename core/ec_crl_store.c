#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <apr_strings.h>
#include "ec_crl_store.h"
#include "ec_util.h"
#include "ec_log.h"

#define EPOCH_S(c) "TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', " c ")"
#define REC_COLS "c.issuer_id, c.crl_number, c.file, COALESCE(c.shard, -1), " EPOCH_S("c.this_update") \
    ", " EPOCH_S("c.next_update") ", c.entries, c.size, c.chunks, HEX(c.sha256), c.scheduled, c.cause"
#define NCOLS 12
/* apr_dbd_mysql sizes a result buffer by the column's declared length: cap it at one chunk. */
#define HEX_CHUNK "CAST(HEX(data) AS CHAR(524288) CHARACTER SET ascii)"

const ec_stmt_t ec_crl_store_stmts[] = {
    { "crl_insert", "INSERT INTO crl (issuer_id, crl_number, file, shard, this_update, next_update, "
      "entries, size, chunks, sha256, scheduled, cause) "
      "VALUES (%s, %s, %s, NULLIF(%s, '-1'), %s, %s, %s, %s, %s, UNHEX(%s), %s, %s)" },
    { "crl_chunk_insert", "INSERT INTO crl_chunk (issuer_id, crl_number, seq, data) "
      "VALUES (%s, %s, %s, UNHEX(%s))" },
    { "crl_chunk_get", "SELECT " HEX_CHUNK " FROM crl_chunk WHERE issuer_id = %s AND crl_number = %s "
      "AND seq = %s" },
    { "crl_newest", "SELECT " REC_COLS " FROM crl c JOIN (SELECT issuer_id, file, MAX(crl_number) AS n "
      "FROM crl GROUP BY issuer_id, file) m ON c.issuer_id = m.issuer_id AND c.file = m.file "
      "AND c.crl_number = m.n ORDER BY c.issuer_id, c.file" },
    { "crl_find", "SELECT " REC_COLS " FROM crl c WHERE c.file = %s ORDER BY c.crl_number DESC LIMIT 1" },
    { "crl_list", "SELECT " REC_COLS " FROM crl c WHERE %s = '' OR c.issuer_id = %s "
      "ORDER BY c.this_update DESC, c.crl_number DESC LIMIT %s" },
    { "crl_get", "SELECT " REC_COLS " FROM crl c WHERE c.issuer_id = %s AND c.crl_number = %s" },
    { NULL, NULL }
};

apr_status_t ec_crl_store_put(ec_store_t *s, apr_pool_t *p, const ec_crl_rec_t *rec,
                              const uint8_t *der)
{
    const char *number = ec_crl_number_text(p, rec->number);
    apr_pool_t *cp;
    apr_status_t rv;

    rv = ec_store_exec(s, p, "crl_insert", NULL,
                       EC_ARGS(rec->issuer_id, number, rec->file, apr_itoa(p, rec->shard),
                               ec_sqltime(p, rec->this_update), ec_sqltime(p, rec->next_update),
                               apr_ltoa(p, rec->entries), apr_psprintf(p, "%" APR_SIZE_T_FMT, rec->size),
                               apr_itoa(p, rec->chunks), ec_hex(p, rec->sha256, 32),
                               rec->scheduled ? "1" : "0", rec->cause));
    if (rv != APR_SUCCESS || apr_pool_create(&cp, p) != APR_SUCCESS)
        return APR_EGENERAL;
    for (int i = 0; i < rec->chunks && rv == APR_SUCCESS; i++) {
        size_t off = (size_t)i * EC_CRL_CHUNK, n = rec->size - off < EC_CRL_CHUNK ? rec->size - off : EC_CRL_CHUNK;
        rv = ec_store_exec(s, cp, "crl_chunk_insert", NULL,
                           EC_ARGS(rec->issuer_id, number, apr_itoa(cp, i), ec_hex(cp, der + off, n)));
        apr_pool_clear(cp);
    }
    apr_pool_destroy(cp);
    return rv;
}

static void rec_from_row(ec_store_t *s, apr_pool_t *p, apr_dbd_row_t *row, ec_crl_rec_t *rec)
{
    const char *c[NCOLS];
    uint8_t *h;
    size_t n;

    for (int i = 0; i < NCOLS; i++) {
        const char *v = ec_store_col(s, row, i);
        c[i] = v ? apr_pstrdup(p, v) : "";
    }
    memset(rec, 0, sizeof(*rec));
    rec->issuer_id = c[0];
    rec->number = strtoull(c[1], NULL, 10);
    rec->file = c[2];
    rec->shard = atoi(c[3]);
    rec->this_update = (time_t)apr_atoi64(c[4]);
    rec->next_update = (time_t)apr_atoi64(c[5]);
    rec->entries = atol(c[6]);
    rec->size = (size_t)apr_atoi64(c[7]);
    rec->chunks = atoi(c[8]);
    if ((h = ec_unhex(p, c[9], &n)) && n == 32)
        memcpy(rec->sha256, h, 32);
    rec->scheduled = atoi(c[10]);
    rec->cause = c[11];
}

/* Reads every row to the end (the connection is then free), calling fn for each until one
 * fails. */
static apr_status_t each_row(ec_store_t *s, apr_pool_t *p, const char *label, int nargs,
                             const char **args, ec_crl_rec_fn *fn, void *baton)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_status_t rv, cb = APR_SUCCESS;
    int rows = 0;

    if ((rv = ec_store_select(s, p, label, &res, nargs, args)) != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS) {
        ec_crl_rec_t rec;
        rows++;
        if (cb != APR_SUCCESS)
            continue;
        rec_from_row(s, p, row, &rec);
        cb = fn(baton, &rec);
    }
    if (cb != APR_SUCCESS)
        return cb;
    return rows ? APR_SUCCESS : APR_ENOENT;
}

apr_status_t ec_crl_store_newest(ec_store_t *s, apr_pool_t *p, ec_crl_rec_fn *fn, void *baton)
{
    apr_status_t rv = each_row(s, p, "crl_newest", EC_NOARGS, fn, baton);
    return rv == APR_ENOENT ? APR_SUCCESS : rv;
}

static apr_status_t copy_rec(void *baton, const ec_crl_rec_t *rec)
{
    *(ec_crl_rec_t *)baton = *rec;
    return APR_SUCCESS;
}

apr_status_t ec_crl_store_find(ec_store_t *s, apr_pool_t *p, const char *file, ec_crl_rec_t *rec)
{
    return each_row(s, p, "crl_find", EC_ARGS(file), copy_rec, rec);
}

apr_status_t ec_crl_store_list(ec_store_t *s, apr_pool_t *p, const char *issuer_id, int limit,
                               ec_crl_rec_fn *fn, void *baton)
{
    const char *id = issuer_id ? issuer_id : "";
    apr_status_t rv = each_row(s, p, "crl_list", EC_ARGS(id, id, apr_itoa(p, limit)), fn, baton);
    return rv == APR_ENOENT ? APR_SUCCESS : rv;
}

apr_status_t ec_crl_store_get(ec_store_t *s, apr_pool_t *p, const char *issuer_id,
                              ec_crl_number_t number, ec_crl_rec_t *rec)
{
    return each_row(s, p, "crl_get", EC_ARGS(issuer_id, ec_crl_number_text(p, number)), copy_rec, rec);
}

apr_status_t ec_crl_store_read(ec_store_t *s, apr_pool_t *p, const ec_crl_rec_t *rec,
                               ec_crl_bytes_fn *fn, void *baton)
{
    const char *number = ec_crl_number_text(p, rec->number);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t digest[32];
    unsigned dlen = 0;
    size_t total = 0;
    apr_pool_t *cp;
    apr_status_t rv = APR_SUCCESS;

    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 || apr_pool_create(&cp, p) != APR_SUCCESS) {
        EVP_MD_CTX_free(md);
        return APR_ENOMEM;
    }
    for (int i = 0; i < rec->chunks && rv == APR_SUCCESS; i++) {
        const char *hex;
        uint8_t *data;
        size_t n;
        rv = ec_store_get1(s, cp, "crl_chunk_get", 1, &hex,
                           EC_ARGS(rec->issuer_id, number, apr_itoa(cp, i)));
        if (rv == APR_SUCCESS && (!hex || !(data = ec_unhex(cp, hex, &n)) || !n))
            rv = APR_EGENERAL;
        if (rv == APR_SUCCESS) {
            EVP_DigestUpdate(md, data, n);
            total += n;
            rv = fn(baton, data, n);
        }
        apr_pool_clear(cp);
    }
    apr_pool_destroy(cp);
    if (rv == APR_SUCCESS) {
        EVP_DigestFinal_ex(md, digest, &dlen);
        if (total != rec->size || dlen != 32 || memcmp(digest, rec->sha256, 32)) {
            ec_log(EC_LOG_ERR, "ECR0010", "CRL %s of issuer %s: the stored bytes are not the ones "
                   "recorded (%zu of %zu octets, or another SHA-256)", number, rec->issuer_id, total,
                   rec->size);
            rv = APR_EGENERAL;
        }
    }
    EVP_MD_CTX_free(md);
    return rv;
}
