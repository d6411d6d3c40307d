#include <string.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/objects.h>
#include <apr_strings.h>
#include "ec_issue_ct.h"
#include "ec_lint.h"
#include "ec_log.h"
#include "ec_x509.h"

/* At most this many SCTs go into a certificate: enough for any policy, and every one a
 * relying party checks costs it a signature verification. */
#define MAX_EMBEDDED 5

apr_status_t ec_issue_ct(ec_p11 *p11, const ec_profile_conf_t *c, ec_profile_in_t *in, const uint8_t *tbs,
                         size_t tbs_len, apr_pool_t *p, ec_issue_ct_t *out)
{
    const ec_issuer_t *is = in->issuer;
    const uint8_t *pre_tbs;
    size_t pre_len;
    ec_ct_entry_t e;
    time_t not_after;
    const char *lint;
    apr_status_t rv;

    memset(out, 0, sizeof(*out));
    memset(&e, 0, sizeof(e));
    e.tbs = tbs;
    e.tbs_len = tbs_len;
    in->ct_stage = EC_CT_PRECERT;
    if (!(in->ct_ext = ec_ct_poison_ext(p, &in->ct_ext_len)))
        return APR_ENOMEM;
    if ((rv = ec_profile_tbs(p, c, in, &pre_tbs, &pre_len, &not_after)) != APR_SUCCESS)
        return rv;
    if ((lint = ec_lint_tbs(p, c, in, pre_tbs, pre_len)) != NULL) {
        out->why = apr_pstrcat(p, "precertificate: ", lint, NULL);
        return APR_EINVAL;
    }
    /* Any token failure is APR_EGENERAL here: APR_EAGAIN means a signed precertificate. */
    if (ec_x509_sign(p11, is->key, p, pre_tbs, pre_len, &out->precert, &out->precert_len) != APR_SUCCESS)
        return APR_EGENERAL;
    if (!ec_x509_signed_by(out->precert, out->precert_len, is->spki, is->spki_len))
        return APR_EGENERAL;

    e.precert = out->precert;
    e.precert_len = out->precert_len;
    e.issuer = is->cert_der;
    e.issuer_len = is->cert_len;
    memcpy(e.issuer_key_hash, is->spki_sha256, 32);
    e.not_after = not_after;
    out->results = ec_ct_submit(p, &c->ct, &e);
    out->scts = apr_pcalloc(p, sizeof(ec_ct_sct_t) * MAX_EMBEDDED);
    for (int i = 0; i < out->results->nelts; i++) {
        const ec_ct_result_t *r = &APR_ARRAY_IDX(out->results, i, ec_ct_result_t);
        if (r->ok && out->n_scts < MAX_EMBEDDED)
            out->scts[out->n_scts++] = r->sct;
        else if (!r->ok)
            ec_log(EC_LOG_WARN, "ECT0001", "CT log %s (%s): %s after %.0f ms", r->log->name, r->log->url,
                   r->why, r->ms);
    }
    if ((out->why = ec_ct_policy(p, out->scts, out->n_scts, in->not_before, not_after)) != NULL) {
        out->why = apr_psprintf(p, "%s (%d of %d logs answered with a valid SCT)", out->why, out->n_scts,
                                out->results->nelts);
        return APR_EAGAIN;
    }
    in->ct_stage = EC_CT_FINAL;
    if (!(in->ct_ext = ec_ct_scts_ext(p, out->scts, out->n_scts, &in->ct_ext_len)))
        return APR_ENOMEM;
    return ec_profile_tbs(p, c, in, &out->tbs, &out->tbs_len, &not_after);
}

/* The TBS of der re-encoded without its extension nid; NULL if der is not that. */
static const uint8_t *tbs_without(apr_pool_t *p, const uint8_t *der, size_t len, const char *oid, size_t *out_len)
{
    const unsigned char *q = der;
    X509 *x = d2i_X509(NULL, &q, (long)len);
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
    unsigned char *buf = NULL;
    uint8_t *copy = NULL;
    int at, n;

    if (x && o && q == der + len && (at = X509_get_ext_by_OBJ(x, o, -1)) >= 0 &&
        X509_get_ext_by_OBJ(x, o, at) < 0) {
        X509_EXTENSION_free(X509_delete_ext(x, at));
        if ((n = i2d_re_X509_tbs(x, &buf)) > 0) {
            copy = apr_pmemdup(p, buf, (apr_size_t)n);
            *out_len = (size_t)n;
        }
        OPENSSL_free(buf);
    }
    ASN1_OBJECT_free(o);
    X509_free(x);
    return copy;
}

const uint8_t *ec_issue_ct_logged_tbs(apr_pool_t *p, const uint8_t *cert, size_t cert_len, size_t *len)
{
    return tbs_without(p, cert, cert_len, EC_OID_CT_SCTS, len);
}

const uint8_t *ec_issue_ct_scts_of(apr_pool_t *p, const uint8_t *cert, size_t cert_len, size_t *len)
{
    const unsigned char *q = cert;
    X509 *x = d2i_X509(NULL, &q, (long)cert_len);
    ASN1_OBJECT *o = OBJ_txt2obj(EC_OID_CT_SCTS, 1);
    const uint8_t *out = NULL;
    int at;

    if (x && o && (at = X509_get_ext_by_OBJ(x, o, -1)) >= 0) {
        const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(X509_get_ext(x, at));
        out = apr_pmemdup(p, v->data, (apr_size_t)v->length);
        *len = (size_t)v->length;
    }
    ASN1_OBJECT_free(o);
    X509_free(x);
    return out;
}

const char *ec_issue_ct_same_tbs(apr_pool_t *p, const uint8_t *precert, size_t precert_len,
                                 const uint8_t *cert, size_t cert_len)
{
    size_t a_len = 0, b_len = 0;
    const uint8_t *a = tbs_without(p, precert, precert_len, EC_OID_CT_POISON, &a_len);
    const uint8_t *b = tbs_without(p, cert, cert_len, EC_OID_CT_SCTS, &b_len);

    if (!a)
        return "the precertificate has not exactly one poison extension";
    if (!b)
        return "the certificate has not exactly one SCT list extension";
    if (a_len != b_len || memcmp(a, b, a_len))
        return "the certificate differs from its precertificate beyond the poison and the SCT list";
    return NULL;
}
