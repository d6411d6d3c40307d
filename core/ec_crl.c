#include <stdlib.h>
#include <string.h>
#include "ec_crl.h"
#include "ec_der.h"
#include "ec_x509.h"

#define OID_REASON "2.5.29.21"
#define OID_AKI    "2.5.29.35"
#define OID_NUMBER "2.5.29.20"
#define OID_IDP    "2.5.29.28"

struct ec_crl_w {
    ec_der_w w;
    ec_crl_params_t params;
    long entries;
    int list_open;           /* revokedCertificates begun (absent when empty: RFC 5280 5.1.2.6) */
};

const char *ec_crl_number_text(apr_pool_t *p, ec_crl_number_t n)
{
    return apr_psprintf(p, "%" APR_UINT64_T_FMT, n);
}

int ec_crl_entry_reason(int reason, int ca_entries)
{
    if (ca_entries)
        return reason >= 0 && reason <= 5 ? reason : 0;     /* App. C note 2 */
    return reason == 1 || reason == 3 || reason == 4 || reason == 5 || reason == 9 ? reason : -1;
}

ec_crl_w *ec_crl_begin(const ec_crl_params_t *params)
{
    ec_crl_w *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->params = *params;
    ec_der_w_init(&c->w);
    ec_der_begin(&c->w, EC_DER_SEQUENCE);        /* CertificateList */
    ec_der_begin(&c->w, EC_DER_SEQUENCE);        /* TBSCertList */
    ec_der_int(&c->w, 1);                        /* v2 (BR 7.2.1) */
    ec_x509_sigalg(&c->w);
    ec_der_raw(&c->w, params->issuer, params->issuer_len);
    ec_der_time(&c->w, params->this_update);
    ec_der_time(&c->w, params->next_update);
    if (c->w.failed) {
        ec_crl_abort(c);
        return NULL;
    }
    return c;
}

apr_status_t ec_crl_add(ec_crl_w *c, const uint8_t *serial, size_t serial_len, time_t revoked,
                        int reason)
{
    int code = ec_crl_entry_reason(reason, c->params.ca_entries);

    if (!serial_len)
        return APR_EINVAL;
    if (!c->list_open) {
        ec_der_begin(&c->w, EC_DER_SEQUENCE);
        c->list_open = 1;
    }
    ec_der_begin(&c->w, EC_DER_SEQUENCE);
    ec_der_uint(&c->w, serial, serial_len);
    ec_der_time(&c->w, revoked);
    if (code >= 0) {
        uint8_t e = (uint8_t)code;
        ec_der_begin(&c->w, EC_DER_SEQUENCE);    /* crlEntryExtensions */
        ec_der_begin(&c->w, EC_DER_SEQUENCE);
        ec_der_oid(&c->w, OID_REASON);
        ec_der_begin(&c->w, EC_DER_OCTETSTRING);
        ec_der_tlv(&c->w, EC_DER_ENUMERATED, &e, 1);
        ec_der_end(&c->w);
        ec_der_end(&c->w);
        ec_der_end(&c->w);
    }
    ec_der_end(&c->w);
    c->entries++;
    return c->w.failed ? APR_ENOMEM : APR_SUCCESS;
}

long ec_crl_entries(const ec_crl_w *c)
{
    return c->entries;
}

static void crl_number(ec_der_w *w, ec_crl_number_t n)
{
    uint8_t mag[8];

    for (int i = 7; i >= 0; i--) {
        mag[i] = (uint8_t)(n & 0xff);
        n >>= 8;
    }
    ec_der_uint(w, mag, sizeof(mag));
}

/* issuingDistributionPoint (RFC 5280 5.2.5, BR 7.2.2.1): critical; the URIs as fullName;
 * onlyContainsCACerts [2] for the ARL; indirectCRL and the rest not asserted. */
static void idp(ec_der_w *w, const ec_crl_params_t *pr)
{
    ec_der_begin(w, EC_DER_SEQUENCE);
    ec_der_oid(w, OID_IDP);
    ec_der_bool(w, 1);
    ec_der_begin(w, EC_DER_OCTETSTRING);
    ec_der_begin(w, EC_DER_SEQUENCE);
    if (pr->n_idp) {
        ec_der_begin(w, EC_DER_CTX(0));          /* distributionPoint */
        ec_der_begin(w, EC_DER_CTX(0));          /* fullName */
        for (int i = 0; i < pr->n_idp; i++)
            ec_der_string(w, EC_DER_CTXP(6), pr->idp_urls[i]);
        ec_der_end(w);
        ec_der_end(w);
    }
    if (pr->ca_entries) {
        static const uint8_t yes = 0xff;
        ec_der_tlv(w, EC_DER_CTXP(2), &yes, 1);
    }
    ec_der_end(w);
    ec_der_end(w);
    ec_der_end(w);
}

static void extensions(ec_der_w *w, const ec_crl_params_t *pr)
{
    ec_der_begin(w, EC_DER_CTX(0));
    ec_der_begin(w, EC_DER_SEQUENCE);
    /* BR 7.1.2.11.1: keyIdentifier only (App. C's issuer and serial are not used). */
    ec_der_begin(w, EC_DER_SEQUENCE);
    ec_der_oid(w, OID_AKI);
    ec_der_begin(w, EC_DER_OCTETSTRING);
    ec_der_begin(w, EC_DER_SEQUENCE);
    ec_der_tlv(w, EC_DER_CTXP(0), pr->aki, 20);
    ec_der_end(w);
    ec_der_end(w);
    ec_der_end(w);
    ec_der_begin(w, EC_DER_SEQUENCE);
    ec_der_oid(w, OID_NUMBER);
    ec_der_begin(w, EC_DER_OCTETSTRING);
    crl_number(w, pr->number);
    ec_der_end(w);
    ec_der_end(w);
    if (pr->n_idp || pr->ca_entries)
        idp(w, pr);
    ec_der_end(w);
    ec_der_end(w);
}

apr_status_t ec_crl_finish(ec_crl_w *c, ec_p11 *p11, ec_p11_key *key, uint8_t **der, size_t *len)
{
    uint8_t sig[EC_P11_SIGMAX];
    size_t siglen, tbs_start;
    apr_status_t rv;

    *der = NULL;
    *len = 0;
    if (c->list_open)
        ec_der_end(&c->w);
    extensions(&c->w, &c->params);
    ec_der_end(&c->w);                           /* TBSCertList */
    if (c->w.failed || c->w.depth != 1) {
        ec_crl_abort(c);
        return APR_ENOMEM;
    }
    /* The outer SEQUENCE is still open: its tag is the first octet, the TBS follows. */
    tbs_start = c->w.open[0];
    rv = ec_p11_sign(p11, key, c->w.buf + tbs_start, c->w.len - tbs_start, sig, &siglen);
    if (rv != APR_SUCCESS) {
        ec_crl_abort(c);
        return rv;
    }
    ec_x509_sigalg(&c->w);
    ec_der_bitstring(&c->w, sig, siglen);
    ec_der_end(&c->w);
    if (c->w.failed || c->w.depth) {
        ec_crl_abort(c);
        return APR_ENOMEM;
    }
    *der = c->w.buf;
    *len = c->w.len;
    free(c);
    return APR_SUCCESS;
}

void ec_crl_abort(ec_crl_w *c)
{
    if (!c)
        return;
    ec_der_w_free(&c->w);
    free(c);
}

/* A constructed header whose contents may run past the buffer. */
static int skip_header(ec_der_r *in)
{
    size_t k, n = 0;

    if (in->n < 2 || in->p[0] != EC_DER_SEQUENCE)
        return -1;
    if (in->p[1] < 0x80)
        k = 0;
    else if ((k = in->p[1] & 0x7f) == 0 || k > 4 || in->n < 2 + k)
        return -1;
    for (size_t i = 0; i < k; i++)
        n = (n << 8) | in->p[2 + i];
    if (k && n < 0x80)
        return -1;
    in->p += 2 + k;
    in->n -= 2 + k;
    return 0;
}

apr_status_t ec_crl_peek(const uint8_t *head, size_t n, time_t *this_update, time_t *next_update)
{
    ec_der_r in = { head, n }, val;
    int tag;

    if (skip_header(&in) < 0 || skip_header(&in) < 0 ||
        ec_der_get(&in, EC_DER_INTEGER, &val, NULL, NULL) < 0 || val.n != 1 || val.p[0] != 1 ||
        ec_der_get(&in, EC_DER_SEQUENCE, NULL, NULL, NULL) < 0 ||
        ec_der_get(&in, EC_DER_SEQUENCE, NULL, NULL, NULL) < 0 ||
        ec_der_get(&in, -1, &val, NULL, &tag) < 0 || ec_der_time_get(&val, tag, this_update) < 0 ||
        ec_der_get(&in, -1, &val, NULL, &tag) < 0 || ec_der_time_get(&val, tag, next_update) < 0)
        return APR_EINVAL;
    return APR_SUCCESS;
}
