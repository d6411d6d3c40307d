#include <stdlib.h>
#include <string.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include "ec_crl_job.h"
#include "ec_audit.h"
#include "ec_ca.h"
#include "ec_log.h"
#include "ec_revoke.h"
#include "ec_util.h"
#include "ec_x509.h"

#define EPOCH_S(c) "TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', " c ")"
#define BATCH "20000"
#define LEASE "20"               /* seconds; renewed every RENEW_EVERY while the job works */
#define RENEW_EVERY 5
/* A revocation whose transaction committed after a scheduled CRL's snapshot although its
 * status_changed is earlier is still caught if the gap is under this. */
#define COMMIT_MARGIN "60"
#define ENTRY_COLS "CONCAT_WS('|', c.serial_hex, " EPOCH_S("c.revoked_at") ", COALESCE(c.revocation_reason, -1), " \
    "COALESCE(c.crl_shard, -1), c.not_after)"

const ec_stmt_t ec_crl_job_stmts[] = {
    { "crl_signer_ca", "SELECT id, name, HEX(cert_der), key_uri FROM ca WHERE role = %s "
      "ORDER BY id DESC LIMIT 1" },
    { "crl_state_init", "INSERT IGNORE INTO crl_state (issuer_id) VALUES (%s)" },
    { "crl_state_get", "SELECT last_number, COALESCE(" EPOCH_S("last_this_update") ", 0), "
      "COALESCE(" EPOCH_S("last_slot") ", 0), COALESCE(last_scheduled, '1970-01-01 00:00:00'), "
      "COALESCE(last_scheduled_db, '1970-01-01 00:00:00'), lease_until > NOW(6) "
      "FROM crl_state WHERE issuer_id = %s" },
    { "crl_pending_due", "SELECT COUNT(*) FROM crl_pending WHERE issuer_id = %s "
      "AND queued_at <= NOW(6) - INTERVAL %s SECOND" },
    { "crl_lease_take", "UPDATE crl_state SET lease_owner = %s, lease_until = NOW(6) + INTERVAL "
      LEASE " SECOND WHERE issuer_id = %s AND (lease_until IS NULL OR lease_until < NOW(6) "
      "OR lease_owner = %s)" },
    { "crl_lease_renew", "UPDATE crl_state SET lease_until = NOW(6) + INTERVAL " LEASE " SECOND "
      "WHERE issuer_id = %s AND lease_owner = %s" },
    { "crl_lease_drop", "UPDATE crl_state SET lease_owner = NULL, lease_until = NULL "
      "WHERE issuer_id = %s AND lease_owner = %s" },
    { "crl_claim", "UPDATE crl_pending SET claimed = %s WHERE issuer_id = %s" },
    /* One column per row ("serial|revoked|reason|shard|notAfter"): the client library costs per
     * column fetched, and a million rows are read. The covering index keeps the reads sequential. */
    { "crl_entries", "SELECT " ENTRY_COLS " FROM certificate c FORCE INDEX (certificate_crl) "
      "WHERE c.issuer_id = %s AND c.status = 'revoked' "
      "AND (c.not_after > %s OR (c.not_after = %s AND c.serial_hex > %s)) ORDER BY c.not_after, c.serial_hex "
      "LIMIT " BATCH },
    /* Expired before the last scheduled CRL, yet to be listed once: revoked since that CRL began,
     * or claimed by this run (a revocation is never deleted from crl_pending unlisted). */
    { "crl_entries_late", "SELECT " ENTRY_COLS " FROM certificate c WHERE c.issuer_id = %s "
      "AND c.status = 'revoked' AND c.not_after < %s AND (c.status_changed >= %s - INTERVAL " COMMIT_MARGIN
      " SECOND OR EXISTS (SELECT 1 FROM crl_pending q WHERE q.issuer_id = c.issuer_id "
      "AND q.serial_hex = c.serial_hex AND q.claimed = %s))" },
    { "crl_ca_entries", "SELECT CONCAT_WS('|', serial_hex, " EPOCH_S("revoked_at") ", "
      "COALESCE(revocation_reason, 0), -1, not_after) FROM ca c WHERE c.parent_id = %s AND c.role IN ('ssl', 'ev') "
      "AND c.status = 'revoked' AND (c.not_after >= %s OR c.status_changed >= %s - INTERVAL " COMMIT_MARGIN
      " SECOND OR EXISTS (SELECT 1 FROM crl_pending q WHERE q.issuer_id = c.parent_id "
      "AND q.serial_hex = c.serial_hex AND q.claimed = %s))" },
    { "crl_db_now", "SELECT NOW(6)" },
    { "crl_shards_live", "SELECT DISTINCT crl_shard FROM certificate WHERE issuer_id = %s "
      "AND crl_shard IS NOT NULL AND not_after >= %s" },
    { "crl_state_lock", "SELECT last_number, lease_owner FROM crl_state WHERE issuer_id = %s FOR UPDATE" },
    { "crl_state_done", "UPDATE crl_state SET last_number = %s, last_this_update = %s, "
      "last_slot = COALESCE(NULLIF(%s, ''), last_slot), "
      "last_scheduled = COALESCE(NULLIF(%s, ''), last_scheduled), "
      "last_scheduled_db = COALESCE(NULLIF(%s, ''), last_scheduled_db), "
      "lease_owner = NULL, lease_until = NULL WHERE issuer_id = %s" },
    /* (issuer_id, claimed) is crl_pending_claim's prefix: the rows of this run only are locked. */
    { "crl_pending_done", "DELETE FROM crl_pending WHERE issuer_id = %s AND claimed = %s" },
    { NULL, NULL }
};

/* ------------------------------------------------------------------ the signer */

apr_status_t ec_crl_signer_load(ec_store_t *s, apr_pool_t *p, ec_p11 *p11, const char *role,
                                const char *key_uri, ec_crl_signer_t *out, const char **err)
{
    const char *col[4];
    const uint8_t *der, *spki;
    size_t len, spki_len;
    ec_cert_info_t info;
    uint8_t spki_sha256[32];
    apr_status_t rv;

    memset(out, 0, sizeof(*out));
    *err = NULL;
    for (int i = 0; i < 3; i++)
        if (!strcmp(ec_ca_files[i].role, role))
            out->crl_file = ec_ca_files[i].crl_file;
    if (!out->crl_file) {
        *err = apr_psprintf(p, "no CA role '%s' signs CRLs", role);
        return APR_EINVAL;
    }
    if ((rv = ec_store_get1(s, p, "crl_signer_ca", 4, col, EC_ARGS(role))) != APR_SUCCESS) {
        *err = rv == APR_ENOENT ? apr_psprintf(p, "no %s CA in the database (run ecertctl init)", role)
                                : "cannot read table ca";
        return rv;
    }
    out->role = role;
    out->ca_id = col[0];
    out->cn = col[1];
    if (!(der = ec_unhex(p, col[2], &len)) || ec_cert_info(p, der, len, &info) != APR_SUCCESS ||
        ec_x509_subject_der(der, len, &out->subject, &out->subject_len) < 0) {
        *err = apr_psprintf(p, "the %s CA's certificate in table ca does not parse", role);
        return APR_EINVAL;
    }
    out->spki = info.spki;
    out->spki_len = info.spki_len;
    {
        /* The AKI repeats the CA's own SKI extension (BR 7.1.2.11.1), which must be there. */
        const unsigned char *q = der;
        X509 *x = d2i_X509(NULL, &q, (long)len);
        const ASN1_OCTET_STRING *ski = x ? X509_get0_subject_key_id(x) : NULL;
        int ok = ski && ski->length == 20;
        if (ok)
            memcpy(out->ski, ski->data, 20);
        X509_free(x);
        if (!ok) {
            *err = apr_psprintf(p, "the %s CA's certificate has no 20-octet subjectKeyIdentifier", role);
            return APR_EINVAL;
        }
    }
    key_uri = key_uri ? key_uri : col[3];
    if (!key_uri || ec_p11_key_get(p11, p, key_uri, &out->key) != APR_SUCCESS) {
        *err = apr_psprintf(p, "no key URI for the %s CA", role);
        return APR_EINVAL;
    }
    /* The key must be the certificate's: a CRL signed by another key verifies for nobody. */
    if ((rv = ec_p11_key_spki(p11, out->key, p, &spki, &spki_len)) != APR_SUCCESS) {
        *err = apr_psprintf(p, "the %s CA's key %s is not in the token", role, key_uri);
        return rv;
    }
    ec_sha256(spki, spki_len, spki_sha256);
    if (memcmp(spki_sha256, info.spki_sha256, 32)) {
        *err = apr_psprintf(p, "the key %s is not the key of the %s CA's certificate", key_uri, role);
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ when */

typedef struct {
    ec_crl_number_t last_number;
    time_t last_this_update, last_slot;
    const char *last_scheduled, *last_scheduled_db;   /* DATETIME text */
    int leased;
} state_t;

static apr_status_t state_get(ec_store_t *s, apr_pool_t *p, const char *ca_id, state_t *st)
{
    const char *c[6];
    apr_status_t rv;

    if ((rv = ec_store_exec(s, p, "crl_state_init", NULL, EC_ARGS(ca_id))) != APR_SUCCESS ||
        (rv = ec_store_get1(s, p, "crl_state_get", 6, c, EC_ARGS(ca_id))) != APR_SUCCESS)
        return rv;
    st->last_number = strtoull(c[0], NULL, 10);
    st->last_this_update = (time_t)apr_atoi64(c[1]);
    st->last_slot = (time_t)apr_atoi64(c[2]);
    st->last_scheduled = c[3];
    st->last_scheduled_db = c[4];
    st->leased = c[5] && atoi(c[5]);
    return APR_SUCCESS;
}

typedef struct {
    const char *cause;
    int scheduled;
    time_t slot;                 /* the schedule slot answered, or 0 */
} due_t;

static apr_status_t due_check(const ec_crl_ctx_t *ctx, ec_store_t *s, apr_pool_t *p,
                              const ec_crl_signer_t *sg, const state_t *st, time_t now, int force,
                              due_t *d)
{
    int arl = !strcmp(sg->role, "root");
    time_t slot = arl ? 0 : ec_crl_sched_slot(&ctx->conf->sched, now);
    const char *count;
    apr_status_t rv;

    memset(d, 0, sizeof(*d));
    if (!st->last_number) {
        d->cause = "first";
        d->scheduled = 1;
        d->slot = slot;
        return APR_SUCCESS;
    }
    if (!arl && slot > st->last_slot) {
        d->cause = "schedule";
        d->scheduled = 1;
        d->slot = slot;
        return APR_SUCCESS;
    }
    if (now >= st->last_this_update + ec_crl_renew_after(ctx->conf, arl)) {
        d->cause = "renewal";
        d->scheduled = 1;
        return APR_SUCCESS;
    }
    rv = ec_store_get1(s, p, "crl_pending_due", 1, &count,
                       EC_ARGS(sg->ca_id, apr_itoa(p, ctx->conf->delay)));
    if (rv != APR_SUCCESS)
        return rv;
    if (strcmp(count, "0"))
        d->cause = "revocation";
    else if (force)
        d->cause = "request";
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ what */

typedef struct {
    int shard;                   /* -1: the full CRL or the ARL */
    const char *file, *url;
    ec_crl_w *w;
    uint8_t *der;
    size_t len;
    ec_crl_rec_t rec;
} scope_t;

typedef struct {
    const ec_crl_ctx_t *ctx;
    const ec_crl_signer_t *sg;
    apr_pool_t *p;
    time_t this_update, next_update;
    ec_crl_number_t next_number;
    const char *claim;           /* this run's token in crl_pending */
    const char *started_db;      /* the database's NOW(6) before the run claimed anything */
    apr_array_header_t *scopes;  /* scope_t *: the full CRL (or the ARL) first */
    apr_hash_t *by_shard;        /* int -> scope_t * */
} build_t;

#define SCOPE(b, i) APR_ARRAY_IDX((b)->scopes, i, scope_t *)

static scope_t *scope_add(build_t *b, int shard)
{
    ec_crl_params_t pr;
    scope_t *sc = apr_pcalloc(b->p, sizeof(*sc));
    int arl = !strcmp(b->sg->role, "root");

    memset(&pr, 0, sizeof(pr));
    pr.issuer = b->sg->subject;
    pr.issuer_len = b->sg->subject_len;
    memcpy(pr.aki, b->sg->ski, 20);
    pr.this_update = b->this_update;
    pr.next_update = b->next_update;
    pr.number = b->next_number + (ec_crl_number_t)b->scopes->nelts;
    pr.ca_entries = arl;
    sc->shard = shard;
    sc->file = ec_profile_crl_file(b->p, b->sg->crl_file, shard);
    if (shard >= 0) {
        /* BR 7.2.2.1: the partition's URL exactly as its certificates' CDP carries it. */
        sc->url = ec_profile_crl_url(b->p, b->ctx->profile, b->sg->crl_file, shard);
        pr.idp_urls = &sc->url;
        pr.n_idp = 1;
    }
    /* The ARL's IDP is App. C VII's: onlyContainsCACerts and no distributionPoint. Its scope is
     * everything the root issues that is ever checked (its OCSP responder's certificate has
     * id-pkix-ocsp-nocheck), so BR 7.2.2.1's rule for partitioned CRLs does not apply; and a
     * distributionPoint would put the root's own certificate, which has no CDP, out of the ARL's
     * scope for clients that check the whole chain (RFC 5280 6.3.3, OpenSSL -crl_check_all). */
    sc->rec.number = pr.number;
    if (!(sc->w = ec_crl_begin(&pr)))
        return NULL;
    APR_ARRAY_PUSH(b->scopes, scope_t *) = sc;
    if (shard >= 0) {
        int *key = apr_palloc(b->p, sizeof(int));
        *key = shard;
        apr_hash_set(b->by_shard, key, sizeof(int), sc);
    }
    return sc;
}

static scope_t *scope_of(build_t *b, int shard)
{
    scope_t *sc = apr_hash_get(b->by_shard, &shard, sizeof(int));
    return sc ? sc : scope_add(b, shard);
}

static void scopes_free(build_t *b)
{
    for (int i = 0; i < b->scopes->nelts; i++) {
        scope_t *sc = SCOPE(b, i);
        ec_crl_abort(sc->w);
        free(sc->der);
        sc->w = NULL;
        sc->der = NULL;
    }
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* One row of crl_entries / crl_entries_late / crl_ca_entries into the full CRL and its
 * partition; *not_after points into the row. */
static apr_status_t add_row(build_t *b, const char *line, const char **not_after)
{
    uint8_t serial[32];
    size_t n = line ? strcspn(line, "|") : 0;
    long long revoked;
    int reason, shard, used = 0;
    scope_t *sc;
    apr_status_t rv;

    if (!n || n % 2 || n / 2 > sizeof(serial) ||
        sscanf(line + n, "|%lld|%d|%d|%n", &revoked, &reason, &shard, &used) != 3 || !used)
        return APR_EINVAL;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(line[2 * i]), lo = hexval(line[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return APR_EINVAL;
        serial[i] = (uint8_t)(hi << 4 | lo);
    }
    *not_after = line + n + used;
    reason = reason < 0 ? EC_REASON_UNSPECIFIED : reason;
    if ((rv = ec_crl_add(SCOPE(b, 0)->w, serial, n / 2, (time_t)revoked, reason)) != APR_SUCCESS)
        return rv;
    if (shard >= 0) {
        if (!(sc = scope_of(b, shard)))
            return APR_ENOMEM;
        return ec_crl_add(sc->w, serial, n / 2, (time_t)revoked, reason);
    }
    return APR_SUCCESS;
}

/* Every row of one statement; *rows says how many; the last row's cursor columns are copied
 * into the build's pool when wanted. */
static apr_status_t read_all(build_t *b, ec_store_t *s, apr_pool_t *p, const char *label, int nargs,
                             const char **args, int *rows, const char **last_not_after,
                             const char **last_serial)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_status_t rv, add = APR_SUCCESS;
    char serial[80] = "", not_after[32] = "";

    *rows = 0;
    if ((rv = ec_store_select(s, p, label, &res, nargs, args)) != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS) {
        const char *line = ec_store_col(s, row, 0), *na;
        (*rows)++;
        if (add != APR_SUCCESS)
            continue;
        /* Copied now: the client library reuses one buffer for every row. */
        if ((add = add_row(b, line, &na)) == APR_SUCCESS && last_serial) {
            apr_cpystrn(serial, line, sizeof(serial));
            apr_cpystrn(not_after, na, sizeof(not_after));
        }
    }
    /* The cursor outlives the batch's pool; the row buffers do not. */
    if (*serial && last_serial) {
        *last_serial = apr_pstrndup(b->p, serial, strcspn(serial, "|"));
        *last_not_after = apr_pstrdup(b->p, not_after);
    }
    if (add != APR_SUCCESS)
        ec_log(EC_LOG_ERR, "ECR0001", "CRL of %s: a revoked certificate's row cannot be listed",
               b->sg->cn);
    return add;
}

static apr_status_t renew_lease(const ec_crl_ctx_t *ctx, ec_store_t *s, apr_pool_t *p,
                                const ec_crl_signer_t *sg, time_t *renewed)
{
    int n = 0;
    time_t now = time(NULL);

    if (now - *renewed < RENEW_EVERY)
        return APR_SUCCESS;
    *renewed = now;
    if (ec_store_exec(s, p, "crl_lease_renew", &n, EC_ARGS(sg->ca_id, ctx->owner)) != APR_SUCCESS)
        return APR_EGENERAL;
    return n == 1 ? APR_SUCCESS : APR_EBUSY;
}

/* Subscriber certificates in keyset batches of BATCH rows (each its own short read, so nothing
 * the size of the CRL is ever buffered by the client library), then the few that expired
 * before the last scheduled CRL but were revoked after it. */
static apr_status_t collect_certs(build_t *b, ec_store_t *s, const state_t *st, time_t *renewed)
{
    const char *after = st->last_scheduled, *serial = "";
    apr_pool_t *bp;
    apr_status_t rv = APR_SUCCESS;
    int rows = 0;

    if (apr_pool_create(&bp, b->p) != APR_SUCCESS)
        return APR_ENOMEM;
    do {
        rv = read_all(b, s, bp, "crl_entries", EC_ARGS(b->sg->ca_id, after, after, serial), &rows,
                      &after, &serial);
        apr_pool_clear(bp);
        if (rv == APR_SUCCESS)
            rv = renew_lease(b->ctx, s, bp, b->sg, renewed);
    } while (rv == APR_SUCCESS && rows == atoi(BATCH));
    apr_pool_destroy(bp);
    if (rv == APR_SUCCESS)
        rv = read_all(b, s, b->p, "crl_entries_late",
                      EC_ARGS(b->sg->ca_id, st->last_scheduled, st->last_scheduled_db, b->claim), &rows, NULL, NULL);
    return rv;
}

static apr_status_t collect(build_t *b, ec_store_t *s, const state_t *st, time_t *renewed)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_status_t rv;
    int rows;

    if (!scope_add(b, -1))
        return APR_ENOMEM;
    if (!strcmp(b->sg->role, "root"))
        return read_all(b, s, b->p, "crl_ca_entries",
                        EC_ARGS(b->sg->ca_id, st->last_scheduled, st->last_scheduled_db, b->claim), &rows, NULL, NULL);
    /* Every configured partition exists, even empty; and every one a live certificate names. */
    for (int k = 0; k < b->ctx->profile->crl_shards; k++)
        if (!scope_of(b, k))
            return APR_ENOMEM;
    if ((rv = ec_store_select(s, b->p, "crl_shards_live", &res,
                              EC_ARGS(b->sg->ca_id, st->last_scheduled))) != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, b->p, res, &row) == APR_SUCCESS)
        if (rv == APR_SUCCESS && !scope_of(b, atoi(ec_store_col(s, row, 0))))
            rv = APR_ENOMEM;
    return rv == APR_SUCCESS ? collect_certs(b, s, st, renewed) : rv;
}

/* CertificateList = SEQUENCE { tbs, algorithm, BIT STRING }: the signature over tbs. */
static int signature_verifies(const uint8_t *der, size_t len, const ec_crl_signer_t *sg)
{
    ec_der_r in = { der, len }, list, tbs, sig;
    const unsigned char *k = sg->spki;
    EVP_PKEY *pk;
    EVP_MD_CTX *md;
    int ok = 0;

    if (ec_der_get(&in, EC_DER_SEQUENCE, &list, NULL, NULL) < 0 || in.n ||
        ec_der_get(&list, EC_DER_SEQUENCE, NULL, &tbs, NULL) < 0 ||
        ec_der_get(&list, EC_DER_SEQUENCE, NULL, NULL, NULL) < 0 ||
        ec_der_get(&list, EC_DER_BITSTRING, &sig, NULL, NULL) < 0 || list.n || sig.n < 2 || sig.p[0])
        return 0;
    if (!(pk = d2i_PUBKEY(NULL, &k, (long)sg->spki_len)))
        return 0;
    if ((md = EVP_MD_CTX_new()) && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) == 1)
        ok = EVP_DigestVerify(md, sig.p + 1, sig.n - 1, tbs.p, tbs.n) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    return ok;
}

static apr_status_t sign_all(build_t *b)
{
    for (int i = 0; i < b->scopes->nelts; i++) {
        scope_t *sc = SCOPE(b, i);
        apr_status_t rv;
        sc->rec.entries = ec_crl_entries(sc->w);
        rv = ec_crl_finish(sc->w, b->ctx->p11, b->sg->key, &sc->der, &sc->len);
        sc->w = NULL;
        if (rv != APR_SUCCESS) {
            ec_log(EC_LOG_ERR, "ECR0002", "the token did not sign the CRL %s of %s: nothing is published",
                   sc->file, b->sg->cn);
            return rv;
        }
        /* Independent check of the token's work before anything is stored: OpenSSL verifies
         * the signature over the TBSCertList with the CA certificate's key. (Parsing a CRL of a
         * million entries back into OpenSSL objects would cost more memory than building it.) */
        if (!signature_verifies(sc->der, sc->len, b->sg)) {
            ec_log(EC_LOG_ERR, "ECR0003", "the CRL %s of %s does not verify with the CA's key", sc->file,
                   b->sg->cn);
            return APR_EGENERAL;
        }
    }
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ commit */

static apr_status_t commit(build_t *b, ec_store_t *s, const state_t *st, const due_t *d,
                           const char *claim, ec_crl_result_t *res)
{
    const ec_crl_signer_t *sg = b->sg;
    apr_pool_t *p = b->p;
    const char *col[2];
    apr_status_t rv;

    if ((rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    rv = ec_store_get1(s, p, "crl_state_lock", 2, col, EC_ARGS(sg->ca_id));
    if (rv == APR_SUCCESS && (strtoull(col[0], NULL, 10) != st->last_number || !col[1] ||
                              strcmp(col[1], b->ctx->owner)))
        rv = APR_EBUSY;          /* the lease went to another producer meanwhile */
    for (int i = 0; i < b->scopes->nelts && rv == APR_SUCCESS; i++) {
        scope_t *sc = SCOPE(b, i);
        ec_crl_rec_t *r = &sc->rec;
        r->issuer_id = sg->ca_id;
        r->file = sc->file;
        r->shard = sc->shard;
        r->this_update = b->this_update;
        r->next_update = b->next_update;
        r->size = sc->len;
        r->chunks = (int)((sc->len + EC_CRL_CHUNK - 1) / EC_CRL_CHUNK);
        ec_sha256(sc->der, sc->len, r->sha256);
        r->scheduled = d->scheduled;
        r->cause = d->cause;
        rv = ec_crl_store_put(s, p, r, sc->der);
    }
    if (rv == APR_SUCCESS)
        rv = ec_store_exec(s, p, "crl_state_done", NULL,
                           EC_ARGS(ec_crl_number_text(p, b->next_number + (ec_crl_number_t)b->scopes->nelts - 1),
                                   ec_sqltime(p, b->this_update), d->slot ? ec_sqltime(p, d->slot) : "",
                                   d->scheduled ? ec_sqltime(p, b->this_update) : "",
                                   d->scheduled ? b->started_db : "", sg->ca_id));
    /* Lock order as a revocation's: crl_pending, then audit_head, both last and briefly. */
    if (rv == APR_SUCCESS)
        rv = ec_store_exec(s, p, "crl_pending_done", NULL, EC_ARGS(sg->ca_id, claim));
    for (int i = 0; i < b->scopes->nelts && rv == APR_SUCCESS; i++) {
        ec_crl_rec_t *r = &SCOPE(b, i)->rec;
        rv = ec_audit(s, p, b->ctx->actor, "crl.issue",
                      apr_psprintf(p, "%s CA %s (%s) %s number %" APR_UINT64_T_FMT " entries %ld thisUpdate %s "
                                   "nextUpdate %s cause %s sha256 %s", sg->role, sg->ca_id, sg->cn,
                                   r->file, r->number, r->entries, ec_sqltime(p, r->this_update),
                                   ec_sqltime(p, r->next_update), r->cause, ec_hex(p, r->sha256, 32)));
    }
    {
        apr_status_t end = ec_store_end(s, rv != APR_SUCCESS);
        if (rv == APR_SUCCESS)
            rv = end;
    }
    if (rv != APR_SUCCESS)
        return rv;
    res->issued = b->scopes->nelts;
    res->cause = d->cause;
    for (int i = 0; i < b->scopes->nelts; i++)
        APR_ARRAY_PUSH(res->crls, ec_crl_rec_t) = SCOPE(b, i)->rec;
    return APR_SUCCESS;
}

apr_status_t ec_crl_run(const ec_crl_ctx_t *ctx, ec_store_t *s, apr_pool_t *p,
                        const ec_crl_signer_t *sg, time_t now, int force, ec_crl_result_t *res)
{
    state_t st;
    due_t d;
    build_t b;
    char token[33];
    uint8_t rnd[16];
    time_t renewed;
    apr_time_t t[4];
    int n = 0;
    apr_status_t rv;

    memset(res, 0, sizeof(*res));
    res->crls = apr_array_make(p, 2, sizeof(ec_crl_rec_t));
    if ((rv = state_get(s, p, sg->ca_id, &st)) != APR_SUCCESS)
        return rv;
    if (st.leased && !force)
        return APR_EBUSY;
    if ((rv = due_check(ctx, s, p, sg, &st, now, force, &d)) != APR_SUCCESS || !d.cause)
        return rv;
    if (ec_store_exec(s, p, "crl_lease_take", &n, EC_ARGS(ctx->owner, sg->ca_id, ctx->owner)) != APR_SUCCESS)
        return APR_EGENERAL;
    if (n != 1)
        return APR_EBUSY;
    renewed = time(NULL);
    /* Read again under the lease: another producer may have just finished. */
    if ((rv = state_get(s, p, sg->ca_id, &st)) != APR_SUCCESS ||
        (rv = due_check(ctx, s, p, sg, &st, now, force, &d)) != APR_SUCCESS || !d.cause)
        goto release;
    if ((rv = ec_random(rnd, sizeof(rnd))) != APR_SUCCESS)
        goto release;
    apr_cpystrn(token, ec_hex(p, rnd, sizeof(rnd)), sizeof(token));
    memset(&b, 0, sizeof(b));
    /* A scheduled CRL's reach back for late revocations starts here, not at its commit. */
    if ((rv = ec_store_get1(s, p, "crl_db_now", 1, &b.started_db, EC_NOARGS)) != APR_SUCCESS ||
        (rv = ec_store_exec(s, p, "crl_claim", NULL, EC_ARGS(token, sg->ca_id))) != APR_SUCCESS)
        goto release;
    b.claim = token;

    b.ctx = ctx;
    b.sg = sg;
    b.p = p;
    /* Strictly later than the last one, whatever this node's clock says: no two CRLs of one URL
     * share a thisUpdate (HTTP Last-Modified), and time never goes back for a relying party. */
    b.this_update = now > st.last_this_update ? now : st.last_this_update + 1;
    b.next_update = b.this_update + (!strcmp(sg->role, "root") ? ctx->conf->arl_validity : ctx->conf->validity);
    b.next_number = st.last_number + 1;
    b.scopes = apr_array_make(p, 1 + ctx->profile->crl_shards, sizeof(scope_t *));
    b.by_shard = apr_hash_make(p);
    t[0] = apr_time_now();
    if ((rv = collect(&b, s, &st, &renewed)) == APR_SUCCESS) {
        t[1] = apr_time_now();
        if ((rv = sign_all(&b)) == APR_SUCCESS) {
            t[2] = apr_time_now();
            renewed = 0;
            if ((rv = renew_lease(ctx, s, p, sg, &renewed)) == APR_SUCCESS)
                rv = commit(&b, s, &st, &d, token, res);
            t[3] = apr_time_now();
            ec_log(EC_LOG_DEBUG, "ECR0005", "%s: CRLs read in %.3f s, signed in %.3f s, stored in %.3f s",
                   sg->cn, (double)(t[1] - t[0]) / 1e6, (double)(t[2] - t[1]) / 1e6,
                   (double)(t[3] - t[2]) / 1e6);
        }
    }
    scopes_free(&b);
    if (rv == APR_SUCCESS) {
        for (int i = 0; i < res->crls->nelts; i++) {
            ec_crl_rec_t *r = &APR_ARRAY_IDX(res->crls, i, ec_crl_rec_t);
            ec_log(EC_LOG_INFO, "ECR0004", "%s: CRL %s number %" APR_UINT64_T_FMT " with %ld entries, nextUpdate %s (%s)",
                   sg->cn, r->file, r->number, r->entries, ec_sqltime(p, r->next_update), r->cause);
        }
        return APR_SUCCESS;
    }
release:
    ec_store_exec(s, p, "crl_lease_drop", NULL, EC_ARGS(sg->ca_id, ctx->owner));
    return rv;
}
