#include <string.h>
#include "ec_ocsp_resp.h"
#include "ec_x509.h"
#include "ec_util.h"

#define OID_BASIC "1.3.6.1.5.5.7.48.1.1"
#define OID_NONCE "1.3.6.1.5.5.7.48.1.2"

apr_status_t ec_ocsp_issuer_hash(apr_pool_t *p, const uint8_t *cert, size_t len, ec_ocsp_issuer_hash_t *h)
{
    ec_cert_info_t ci;
    apr_status_t rv = ec_cert_info(p, cert, len, &ci);

    if (rv != APR_SUCCESS)
        return rv;
    memcpy(h->name_sha1, ci.name_sha1, 20);
    memcpy(h->key_sha1, ci.key_sha1, 20);
    memcpy(h->name_sha256, ci.name_sha256, 32);
    memcpy(h->key_sha256, ci.key_sha256, 32);
    return APR_SUCCESS;
}

int ec_ocsp_issuer_match(const ec_ocsp_issuer_hash_t *h, const ec_ocsp_certid_t *id)
{
    if (id->alg == EC_OCSP_HASH_SHA1)
        return id->name_hash.n == 20 && id->key_hash.n == 20 &&
               !memcmp(id->name_hash.p, h->name_sha1, 20) && !memcmp(id->key_hash.p, h->key_sha1, 20);
    if (id->alg == EC_OCSP_HASH_SHA256)
        return id->name_hash.n == 32 && id->key_hash.n == 32 &&
               !memcmp(id->name_hash.p, h->name_sha256, 32) && !memcmp(id->key_hash.p, h->key_sha256, 32);
    return 0;
}

apr_status_t ec_ocsp_signer_cert(apr_pool_t *p, ec_ocsp_signer_t *s, const uint8_t *cert, size_t len)
{
    ec_cert_info_t ci;
    apr_status_t rv = ec_cert_info(p, cert, len, &ci);

    if (rv != APR_SUCCESS)
        return rv;
    s->cert = cert;
    s->cert_len = len;
    memcpy(s->key_sha1, ci.key_sha1, 20);
    return APR_SUCCESS;
}

static void put_certid(ec_der_w *w, int alg, const ec_ocsp_issuer_hash_t *h,
                       const uint8_t *serial, size_t serial_len)
{
    ec_der_begin(w, EC_DER_SEQUENCE);
    ec_der_begin(w, EC_DER_SEQUENCE);
    ec_der_oid(w, alg == EC_OCSP_HASH_SHA256 ? "2.16.840.1.101.3.4.2.1" : "1.3.14.3.2.26");
    ec_der_null(w);
    ec_der_end(w);
    if (alg == EC_OCSP_HASH_SHA256) {
        ec_der_tlv(w, EC_DER_OCTETSTRING, h->name_sha256, 32);
        ec_der_tlv(w, EC_DER_OCTETSTRING, h->key_sha256, 32);
    }
    else {
        ec_der_tlv(w, EC_DER_OCTETSTRING, h->name_sha1, 20);
        ec_der_tlv(w, EC_DER_OCTETSTRING, h->key_sha1, 20);
    }
    ec_der_uint(w, serial, serial_len);
    ec_der_end(w);
}

const uint8_t *ec_ocsp_certid(apr_pool_t *p, int alg, const ec_ocsp_issuer_hash_t *h,
                              const uint8_t *serial, size_t serial_len, size_t *len)
{
    ec_der_w w;

    ec_der_w_init(&w);
    put_certid(&w, alg, h, serial, serial_len);
    return ec_der_w_take(&w, p, len);
}

static void put_single(ec_der_w *w, const ec_ocsp_single_t *s)
{
    ec_der_begin(w, EC_DER_SEQUENCE);
    ec_der_raw(w, s->certid, s->certid_len);
    if (s->status == EC_OCSP_GOOD)
        ec_der_tlv(w, EC_DER_CTXP(0), NULL, 0);             /* good [0] IMPLICIT NULL */
    else if (s->status == EC_OCSP_REVOKED) {
        ec_der_begin(w, EC_DER_CTX(1));                      /* revoked [1] IMPLICIT RevokedInfo */
        ec_der_gentime(w, s->revoked_at);
        if (s->reason >= 0) {
            uint8_t r = (uint8_t)s->reason;
            ec_der_begin(w, EC_DER_CTX(0));
            ec_der_tlv(w, EC_DER_ENUMERATED, &r, 1);
            ec_der_end(w);
        }
        ec_der_end(w);
    }
    else
        ec_der_tlv(w, EC_DER_CTXP(2), NULL, 0);             /* unknown [2] IMPLICIT NULL */
    ec_der_gentime(w, s->this_update);
    ec_der_begin(w, EC_DER_CTX(0));
    ec_der_gentime(w, s->next_update);
    ec_der_end(w);
    ec_der_end(w);
}

apr_status_t ec_ocsp_sign(apr_pool_t *p, const ec_ocsp_signer_t *s, const ec_ocsp_single_t *sr, int n,
                          const uint8_t *nonce, size_t nonce_len, time_t produced_at,
                          const uint8_t **der, size_t *len)
{
    ec_der_w w;
    const uint8_t *tbs;
    size_t tbs_len;
    uint8_t sig[EC_P11_SIGMAX];
    size_t siglen;
    apr_status_t rv;

    /* ResponseData (version v1 is the DEFAULT, so absent). */
    ec_der_w_init(&w);
    ec_der_begin(&w, EC_DER_SEQUENCE);
    ec_der_begin(&w, EC_DER_CTX(2));                         /* byKey [2] EXPLICIT KeyHash */
    ec_der_tlv(&w, EC_DER_OCTETSTRING, s->key_sha1, 20);
    ec_der_end(&w);
    ec_der_gentime(&w, produced_at);
    ec_der_begin(&w, EC_DER_SEQUENCE);
    for (int i = 0; i < n; i++)
        put_single(&w, &sr[i]);
    ec_der_end(&w);
    if (nonce) {
        ec_der_begin(&w, EC_DER_CTX(1));
        ec_der_begin(&w, EC_DER_SEQUENCE);
        ec_der_begin(&w, EC_DER_SEQUENCE);
        ec_der_oid(&w, OID_NONCE);
        ec_der_tlv(&w, EC_DER_OCTETSTRING, nonce, nonce_len);
        ec_der_end(&w);
        ec_der_end(&w);
        ec_der_end(&w);
    }
    ec_der_end(&w);
    if (!(tbs = ec_der_w_take(&w, p, &tbs_len)))
        return APR_ENOMEM;

    if ((rv = ec_p11_sign(s->p11, s->key, tbs, tbs_len, sig, &siglen)) != APR_SUCCESS)
        return rv;

    ec_der_w_init(&w);
    ec_der_begin(&w, EC_DER_SEQUENCE);                       /* OCSPResponse */
    ec_der_tlv(&w, EC_DER_ENUMERATED, (const uint8_t[]){ EC_OCSP_SUCCESSFUL }, 1);
    ec_der_begin(&w, EC_DER_CTX(0));
    ec_der_begin(&w, EC_DER_SEQUENCE);                       /* ResponseBytes */
    ec_der_oid(&w, OID_BASIC);
    ec_der_begin(&w, EC_DER_OCTETSTRING);
    ec_der_begin(&w, EC_DER_SEQUENCE);                       /* BasicOCSPResponse */
    ec_der_raw(&w, tbs, tbs_len);
    ec_x509_sigalg(&w);
    ec_der_bitstring(&w, sig, siglen);
    ec_der_begin(&w, EC_DER_CTX(0));
    ec_der_begin(&w, EC_DER_SEQUENCE);
    ec_der_raw(&w, s->cert, s->cert_len);
    ec_der_end(&w);
    ec_der_end(&w);
    ec_der_end(&w);
    ec_der_end(&w);
    ec_der_end(&w);
    ec_der_end(&w);
    ec_der_end(&w);
    *der = ec_der_w_take(&w, p, len);
    return *der ? APR_SUCCESS : APR_ENOMEM;
}

const uint8_t *ec_ocsp_error(int status, size_t *len)
{
    static const uint8_t resp[][5] = {
        { 0x30, 0x03, 0x0a, 0x01, 0x00 }, { 0x30, 0x03, 0x0a, 0x01, 0x01 },
        { 0x30, 0x03, 0x0a, 0x01, 0x02 }, { 0x30, 0x03, 0x0a, 0x01, 0x03 },
        { 0x30, 0x03, 0x0a, 0x01, 0x04 }, { 0x30, 0x03, 0x0a, 0x01, 0x05 },
        { 0x30, 0x03, 0x0a, 0x01, 0x06 },
    };
    if (status < 1 || status > 6 || status == 4)
        status = EC_OCSP_INTERNAL_ERROR;
    *len = 5;
    return resp[status];
}
