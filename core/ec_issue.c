#include <string.h>
#include <apr_strings.h>
#include "ec_issue.h"
#include "ec_issue_ct.h"
#include "ec_audit.h"
#include "ec_lint.h"
#include "ec_log.h"
#include "ec_signing.h"
#include "ec_util.h"
#include "ec_x509.h"

const ec_stmt_t ec_issue_stmts[] = {
    { "issue_lock_app", "SELECT status FROM application WHERE id = %s FOR UPDATE" },
    { "issue_ca_id", "SELECT id FROM ca WHERE role = %s AND spki_sha256 = UNHEX(%s) AND status = 'active'" },
    { "issue_blocked", "SELECT COUNT(*) FROM blocked_key WHERE spki_sha256 = UNHEX(%s)" },
    { "issue_same_key", "SELECT COUNT(*) FROM certificate c JOIN application a "
      "ON c.application_id = a.renewal_of WHERE a.id = %s AND c.spki_sha256 = UNHEX(%s)" },
    { "issue_cert_insert", "INSERT INTO certificate (serial_hex, issuer_id, application_id, "
      "server_name, spki_sha256, cert_der, not_before, not_after, crl_shard) "
      "VALUES (%s, %s, %s, %s, UNHEX(%s), UNHEX(%s), %s, %s, NULLIF(%s, '-1'))" },
    { "issue_name_insert", "INSERT INTO certificate_name (issuer_id, serial_hex, name) "
      "VALUES (%s, %s, %s)" },
    { "issue_app_issued", "UPDATE application SET status = 'issued' WHERE id = %s" },
    { "issue_evidence_insert", "INSERT INTO issuance_evidence (issuer_id, serial_hex, name, kind, ref_id) "
      "VALUES (%s, %s, %s, %s, %s)" },
    { "issue_ocsp_queue", "INSERT INTO ocsp_pending (issuer_id, serial_hex) VALUES (%s, %s) "
      "ON DUPLICATE KEY UPDATE queued_at = NOW(6)" },
    { "issue_ct_insert", "INSERT INTO certificate_ct (issuer_id, serial_hex, application_id, precert_der, final) "
      "VALUES (%s, %s, NULLIF(%s, ''), UNHEX(%s), %s)" },
    { "issue_sct_insert", "INSERT INTO certificate_sct (issuer_id, serial_hex, log_id, log_name, sct_time, sct) "
      "VALUES (%s, %s, UNHEX(%s), %s, FROM_UNIXTIME(%s / 1000), UNHEX(%s))" },
    { NULL, NULL }
};

static void refuse(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, const char *actor,
                   const char *event, const char *why)
{
    ec_audit(s, p, actor, event, apr_psprintf(p, "application %s envelope %s server %s: %s",
                                               a->id, a->envelope_ref, a->server_name, why));
}

/* Outside any transaction: the audit event of a refusal stays. */
static apr_status_t precheck_refused(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, const char *actor,
                                     const char *check, const char *why, const char *detail, ec_issue_result_t *res)
{
    res->status = EC_ISSUE_PRECHECK;
    res->message = why;
    res->detail = detail;
    refuse(s, p, a, actor, "issue.precheck", apr_pstrcat(p, check, ": ", why, detail ? ": " : "",
                                                          detail ? detail : "", NULL));
    return APR_SUCCESS;
}

static const char *evidence_text(apr_pool_t *p, const apr_array_header_t *ev)
{
    const char *out = "";
    for (int i = 0; i < ev->nelts; i++) {
        const ec_issue_evidence_t *e = &APR_ARRAY_IDX(ev, i, ec_issue_evidence_t);
        out = apr_psprintf(p, "%s%s%s:%s#%s", out, i ? "," : "", e->kind, e->name, e->ref_id);
    }
    return *out ? out : "none";
}

/* The precertificate and its SCTs, kept with the certificate (or alone, final unset). */
static void store_ct(ec_store_t *s, apr_pool_t *p, const char *issuer_id, const char *serial_hex,
                     const char *app_id, const ec_issue_ct_t *ct, int final)
{
    ec_store_exec(s, p, "issue_ct_insert", NULL, EC_ARGS(issuer_id, serial_hex, app_id ? app_id : "",
                                                         ec_hex(p, ct->precert, ct->precert_len),
                                                         final ? "1" : "0"));
    for (int i = 0; final && i < ct->n_scts && !s->failed; i++)
        ec_store_exec(s, p, "issue_sct_insert", NULL,
                      EC_ARGS(issuer_id, serial_hex, ec_hex(p, ct->scts[i].log->log_id, 32), ct->scts[i].log->name,
                              apr_psprintf(p, "%" APR_UINT64_T_FMT, (apr_uint64_t)ct->scts[i].timestamp),
                              ec_hex(p, ct->scts[i].tls, ct->scts[i].tls_len)));
}

/* With CT, under the committed signing record: the precertificate signed and logged, the
 * final TBS recorded in its place before its own C_Sign. APR_SUCCESS with *tbs the final one;
 * otherwise res says what happened and the record is resolved. */
static apr_status_t ct_step(const ec_issue_ctx_t *ctx, ec_store_t *s, apr_pool_t *p, const ec_app_t *a,
                            const char *actor, ec_profile_in_t *in, const char *serial_hex, ec_issue_ct_t *ct,
                            const uint8_t **tbs, size_t *tbs_len, ec_issue_result_t *res)
{
    const char *lint;
    apr_status_t rv = ec_issue_ct(ctx->p11, ctx->profile, in, *tbs, *tbs_len, p, ct);

    if (rv == APR_EAGAIN && ct->precert) {
        /* Root programs presume a logged precertificate's certificate exists: the serial is
         * revoked at once (no reasonCode: none of BR 7.2.2's fits a certificate never made). */
        ec_log(EC_LOG_ERR, "ECI0006", "no certificate for application %s: %s; its precertificate %s is revoked",
               a->id, ct->why, serial_hex);
        if (ec_signing_revoke(s, p, res->issuer_id, serial_hex, time(NULL), actor) != APR_SUCCESS)
            ec_log(EC_LOG_ERR, "ECI0007", "the lone precertificate %s of application %s could not be revoked: "
                   "ecertctl audit unfinished lists it", serial_hex, a->id);
        else
            store_ct(s, p, res->issuer_id, serial_hex, a->id, ct, 0);
        res->status = EC_ISSUE_CT;
        res->message = ct->why;
        return APR_EAGAIN;
    }
    if (rv == APR_SUCCESS && (lint = ec_lint_tbs(p, ctx->profile, in, ct->tbs, ct->tbs_len)) != NULL) {
        ec_log(EC_LOG_ERR, "ECI0003", "certificate for application %s refused before signing: %s", a->id, lint);
        rv = APR_EGENERAL;
    }
    if (rv == APR_SUCCESS && ec_signing_retbs(s, p, res->issuer_id, serial_hex, ct->tbs, ct->tbs_len) != APR_SUCCESS)
        rv = APR_EGENERAL;
    if (rv != APR_SUCCESS) {
        if (ct->precert) {
            /* Signed, perhaps logged, never to be a certificate. */
            if (ec_signing_revoke(s, p, res->issuer_id, serial_hex, time(NULL), actor) != APR_SUCCESS)
                ec_log(EC_LOG_ERR, "ECI0007", "the precertificate %s of application %s could not be revoked: "
                       "ecertctl audit unfinished lists it", serial_hex, a->id);
        }
        else if (ec_signing_failed(s, p, res->issuer_id, serial_hex) != APR_SUCCESS)
            ec_log(EC_LOG_ERR, "ECI0011", "signing record of serial %s could not be closed as failed: "
                   "ecertctl audit unfinished lists it", serial_hex);
        if (rv == APR_EINVAL) {
            res->status = EC_ISSUE_LINT;
            res->message = ct->why;
            ec_log(EC_LOG_ERR, "ECI0003", "certificate for application %s refused before signing: %s", a->id, ct->why);
            refuse(s, p, a, actor, "issue.lint", ct->why);
        }
        else
            ec_log(EC_LOG_ERR, "ECI0004", "the HSM did not produce a valid precertificate for application %s "
                   "(serial %s)", a->id, serial_hex);
        return rv;
    }
    *tbs = ct->tbs;
    *tbs_len = ct->tbs_len;
    return APR_SUCCESS;
}

/* The application's row, locked; EC_ISSUE_STATE unless it waits for a certificate. */
static apr_status_t lock_app(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, ec_issue_result_t *res)
{
    const char *status;

    if (ec_store_get1(s, p, "issue_lock_app", 1, &status, EC_ARGS(a->id)) != APR_SUCCESS)
        return APR_EGENERAL;
    if (strcmp(status, "approved") && strcmp(status, "confirmed")) {
        res->status = EC_ISSUE_STATE;
        res->message = apr_pstrcat(p, "the application is ", status, NULL);
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

apr_status_t ec_issue(const ec_issue_ctx_t *ctx, ec_store_t *s, apr_pool_t *p, const ec_app_t *a,
                      const char *pem, size_t pem_len, const char *actor, ec_issue_result_t *res)
{
    const ec_profile_conf_t *c = ctx->profile;
    const ec_issuer_t *is = !strcmp(ec_profile_issuer_role(a->cert_type), "ev") ? ctx->ev : ctx->ssl;
    ec_csr_policy_t pol = { (const int *)c->key_sizes->elts, c->key_sizes->nelts, c->weak, 0 };
    ec_profile_in_t in;
    ec_csr_t csr;
    const char *cn_alabel, *count, *lint, *spki_hex;
    const uint8_t *tbs;
    size_t tbs_len;
    apr_array_header_t *names, *evidence;
    void **states;
    int n_checks;
    const char *serial_hex;
    ec_signing_t rec;
    ec_issue_ct_t ct;
    apr_status_t rv;
    int shard;

    memset(res, 0, sizeof(*res));
    if (!is || !is->key) {
        res->status = EC_ISSUE_INTERNAL;
        res->message = "the issuing CA is not available";
        ec_log(EC_LOG_ERR, "ECI0001", "no usable %s issuer (certificate or HSM key) for application %s",
               ec_profile_issuer_role(a->cert_type), a->id);
        return APR_SUCCESS;
    }

    /* 1. The request itself: no database needed. */
    res->csr_err = ec_csr_parse(p, pem, pem_len, &csr);
    res->bits = csr.bits;
    res->cn = csr.cn;
    if (res->csr_err == EC_CSR_OK)
        res->csr_err = ec_csr_check_key(&csr, &pol);
    if (res->csr_err == EC_CSR_OK)
        res->csr_err = ec_csr_check_name(p, &csr, a->server_name, &cn_alabel);
    /* 2. Keys the CA refuses: compromised, or the previous one on renewal. */
    spki_hex = csr.spki ? ec_hex(p, csr.spki_sha256, 32) : NULL;
    if (res->csr_err == EC_CSR_OK) {
        if (ec_store_get1(s, p, "issue_blocked", 1, &count, EC_ARGS(spki_hex)) != APR_SUCCESS)
            goto internal;
        if (strcmp(count, "0"))
            res->csr_err = EC_CSR_BLOCKED;
    }
    if (res->csr_err == EC_CSR_OK) {
        if (ec_store_get1(s, p, "issue_same_key", 1, &count, EC_ARGS(a->id, spki_hex)) != APR_SUCCESS)
            goto internal;
        if (strcmp(count, "0"))
            res->csr_err = EC_CSR_SAME_KEY;
    }
    if (res->csr_err != EC_CSR_OK) {
        res->status = EC_ISSUE_CSR;
        refuse(s, p, a, actor, "csr.reject", apr_psprintf(p, "%s%s%s", ec_csr_err_key(res->csr_err),
                                                          spki_hex ? " key " : "", spki_hex ? spki_hex : ""));
        return APR_SUCCESS;
    }

    /* 3. The checks' slow part (DNS), outside any transaction. */
    for (n_checks = 0; ctx->checks && ctx->checks[n_checks].name; n_checks++)
        ;
    states = apr_pcalloc(p, (n_checks + 1) * sizeof(void *));
    for (int i = 0; i < n_checks; i++) {
        const ec_issue_check_t *chk = &ctx->checks[i];
        const char *detail = NULL, *why = chk->prepare ? chk->prepare(s, p, a, chk->baton, &states[i], NULL, &detail)
                                                       : NULL;
        if (why)
            return precheck_refused(s, p, a, actor, chk->name, why, detail, res);
    }

    /* 4. The checks under the application's row lock. The lock ends before C_Sign: a double
     * submission may sign twice, and the second, finding the application issued, revokes its
     * own certificate at once (never delivered). */
    if ((rv = ec_store_begin(s, p)) != APR_SUCCESS)
        goto internal;
    if (lock_app(s, p, a, res) != APR_SUCCESS) {
        ec_store_end(s, 1);
        if (res->status == EC_ISSUE_STATE)
            return APR_SUCCESS;
        goto internal;
    }
    evidence = apr_array_make(p, 8, sizeof(ec_issue_evidence_t));
    for (int i = 0; i < n_checks; i++) {
        const ec_issue_check_t *chk = &ctx->checks[i];
        const char *detail = NULL, *why = chk->fn(s, p, a, chk->baton, &states[i], evidence, &detail);
        if (why) {
            ec_store_end(s, 1);
            return precheck_refused(s, p, a, actor, chk->name, why, detail, res);
        }
    }
    if (ec_store_get1(s, p, "issue_ca_id", 1, &res->issuer_id,
                      EC_ARGS(is->role, ec_hex(p, is->spki_sha256, 32))) != APR_SUCCESS) {
        ec_log(EC_LOG_ERR, "ECI0002", "the %s issuer's certificate is revoked or not in table ca: nothing is issued",
               is->role);
        ec_store_end(s, 1);
        goto internal;
    }

    /* 5. Build, lint. */
    memset(&in, 0, sizeof(in));
    in.app = a;
    in.issuer = is;
    in.spki = csr.spki;
    in.spki_len = csr.spki_len;
    in.not_before = time(NULL);
    if (ec_x509_serial(in.serial) != APR_SUCCESS) {
        ec_store_end(s, 1);
        goto internal;
    }
    /* Partitioned CRLs: the shard is part of the certificate (its CDP) and of its row. */
    if ((shard = ec_profile_crl_shard(c, in.serial)) >= 0)
        in.crl_url = ec_profile_crl_url(p, c, is->crl_file, shard);
    if (ec_profile_tbs(p, c, &in, &tbs, &tbs_len, &res->not_after) != APR_SUCCESS) {
        ec_store_end(s, 1);
        goto internal;
    }
    res->not_before = in.not_before;
    if ((lint = ec_lint_tbs(p, c, &in, tbs, tbs_len)) != NULL) {
        ec_store_end(s, 1);
        res->status = EC_ISSUE_LINT;
        res->message = lint;
        ec_log(EC_LOG_ERR, "ECI0003", "certificate for application %s refused before signing: %s",
               a->id, lint);
        refuse(s, p, a, actor, "issue.lint", lint);
        return APR_SUCCESS;
    }

    /* 6. The signing record commits before the HSM signs (CPS 5.4): a crash from here on
     * leaves it 'signing', never a signature nothing records. */
    serial_hex = ec_hex(p, in.serial, 20);
    rec.issuer_id = res->issuer_id;
    rec.serial_hex = serial_hex;
    rec.application_id = a->id;
    rec.server_name = a->server_name;
    rec.spki_hex = spki_hex;
    rec.tbs = tbs;
    rec.tbs_len = tbs_len;
    rec.not_before = res->not_before;
    rec.not_after = res->not_after;
    rec.crl_shard = shard;
    ec_signing_record(s, p, &rec);
    if (ec_store_end(s, 0) != APR_SUCCESS)
        goto internal;
    memset(&ct, 0, sizeof(ct));
    if (c->ct.logs && (rv = ct_step(ctx, s, p, a, actor, &in, serial_hex, &ct, &tbs, &tbs_len, res)) != APR_SUCCESS) {
        if (res->status == EC_ISSUE_CT || res->status == EC_ISSUE_LINT)
            return APR_SUCCESS;
        goto internal;
    }
    lint = NULL;
    if (ec_x509_sign(ctx->p11, is->key, p, tbs, tbs_len, &res->der, &res->der_len) != APR_SUCCESS ||
        !ec_x509_signed_by(res->der, res->der_len, is->spki, is->spki_len) ||
        (c->ct.logs && (lint = ec_issue_ct_same_tbs(p, ct.precert, ct.precert_len, res->der, res->der_len)))) {
        if (lint)
            ec_log(EC_LOG_ERR, "ECI0008", "certificate for application %s not issued: %s", a->id, lint);
        else
            ec_log(EC_LOG_ERR, "ECI0004", "the HSM did not produce a valid signature for application %s "
                   "(serial %s)", a->id, serial_hex);
        if (ct.precert ? ec_signing_revoke(s, p, res->issuer_id, serial_hex, time(NULL), actor) != APR_SUCCESS
                       : ec_signing_failed(s, p, res->issuer_id, serial_hex) != APR_SUCCESS)
            ec_log(EC_LOG_ERR, "ECI0011", "signing record of serial %s could not be closed: "
                   "ecertctl audit unfinished lists it", serial_hex);
        goto internal;
    }
    ec_signing_test_signed(p, serial_hex, res->der, res->der_len);

    /* 7. Store, the application locked again: certificate, its names, the application, OCSP
     * work, the record finished, audit. */
    if (ec_store_begin(s, p) != APR_SUCCESS)
        goto unstored;
    if (lock_app(s, p, a, res) != APR_SUCCESS) {
        ec_store_end(s, 1);
        goto unstored;
    }
    names = ec_profile_names(p, a);
    ec_store_exec(s, p, "issue_cert_insert", NULL,
                  EC_ARGS(serial_hex, res->issuer_id, a->id, a->server_name, spki_hex,
                          ec_hex(p, res->der, res->der_len), ec_sqltime(p, res->not_before),
                          ec_sqltime(p, res->not_after), apr_itoa(p, shard)));
    if (c->ct.logs && !s->failed)
        store_ct(s, p, res->issuer_id, serial_hex, a->id, &ct, 1);
    for (int i = 0; i < names->nelts && !s->failed; i++)
        ec_store_exec(s, p, "issue_name_insert", NULL,
                      EC_ARGS(res->issuer_id, serial_hex, APR_ARRAY_IDX(names, i, const char *)));
    for (int i = 0; i < evidence->nelts && !s->failed; i++) {
        const ec_issue_evidence_t *e = &APR_ARRAY_IDX(evidence, i, ec_issue_evidence_t);
        ec_store_exec(s, p, "issue_evidence_insert", NULL,
                      EC_ARGS(res->issuer_id, serial_hex, e->name, e->kind, e->ref_id));
    }
    if (!s->failed)
        ec_store_exec(s, p, "issue_app_issued", NULL, EC_ARGS(a->id));
    if (!s->failed)
        ec_store_exec(s, p, "issue_ocsp_queue", NULL, EC_ARGS(res->issuer_id, serial_hex));
    if (!s->failed && ec_signing_finish(s, p, res->issuer_id, serial_hex) != APR_SUCCESS) {
        ec_store_end(s, 1);
        goto unstored;
    }
    if (!s->failed)
        ec_audit(s, p, actor, "certificate.issue",
                 apr_psprintf(p, "application %s envelope %s issuer %s serial %s server %s type %s "
                              "names %d key %s valid %s to %s evidence %s scts %d", a->id, a->envelope_ref,
                              is->cn, serial_hex, a->server_name, a->cert_type, names->nelts, spki_hex,
                              ec_sqltime(p, res->not_before), ec_sqltime(p, res->not_after),
                              evidence_text(p, evidence), ct.n_scts));
    if (ec_store_end(s, 0) != APR_SUCCESS)
        goto unstored;
    res->serial_hex = serial_hex;
    res->status = EC_ISSUE_OK;
    return APR_SUCCESS;

unstored:
    /* Never delivered, so revoked at once while the database still answers; when it does not,
     * the record stays 'signing' for the operator. A commit that did happen although it was
     * reported failed left the record finished, and this changes nothing. */
    rv = ec_signing_revoke(s, p, res->issuer_id, serial_hex, time(NULL), actor);
    if (rv == APR_SUCCESS)
        ec_log(EC_LOG_WARN, "ECI0012", "certificate serial %s of issuer %s for application %s was signed and "
               "not stored: revoked at once, never delivered", serial_hex, res->issuer_id, a->id);
    else if (rv == APR_ENOENT)
        ec_log(EC_LOG_WARN, "ECI0013", "certificate serial %s of issuer %s for application %s: its signing record "
               "was resolved meanwhile (stored after all, or revoked by the operator)", serial_hex,
               res->issuer_id, a->id);
    else
        ec_log(EC_LOG_ERR, "ECI0010", "certificate serial %s of issuer %s for application %s was signed and not "
               "stored: its signing record stays unfinished (ecertctl audit unfinished)", serial_hex,
               res->issuer_id, a->id);
    /* Another submission issued the application meanwhile: its certificate is the one. */
    if (res->status == EC_ISSUE_STATE) {
        res->der = NULL;
        return APR_SUCCESS;
    }
internal:
    res->status = EC_ISSUE_INTERNAL;
    res->der = NULL;
    res->serial_hex = NULL;
    if (!res->message)
        res->message = "the certificate could not be issued (database or HSM)";
    return APR_SUCCESS;
}
