#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <apr_base64.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "ec_ct.h"
#include "ec_der.h"
#include "ec_util.h"

/* Strict base64: what decodes must encode back to the same text. */
static uint8_t *b64_decode(apr_pool_t *p, const char *text, size_t *len)
{
    int n;
    char *back;
    uint8_t *out;

    if (!text || !*text || strlen(text) > 65536)
        return NULL;
    out = apr_palloc(p, (apr_size_t)apr_base64_decode_len(text));
    n = apr_base64_decode_binary(out, text);
    if (n <= 0)
        return NULL;
    back = apr_palloc(p, (apr_size_t)apr_base64_encode_len(n));
    apr_base64_encode_binary(back, out, n);
    if (strcmp(back, text))
        return NULL;
    *len = (size_t)n;
    return out;
}

apr_status_t ec_ct_log_init(apr_pool_t *p, ec_ct_log_t *log, const char *name, const char *operator_name,
                            const char *url, const char *spki_b64, time_t start, time_t end,
                            const char **err)
{
    const unsigned char *q;
    EVP_PKEY *k;
    int type;

    memset(log, 0, sizeof(*log));
    log->name = name;
    log->operator_name = operator_name;
    log->url = url[strlen(url) - 1] == '/' ? url : apr_pstrcat(p, url, "/", NULL);
    log->start = start;
    log->end = end;
    if (strncmp(url, "https://", 8) && strncmp(url, "http://", 7)) {
        *err = "the log URL is not http(s)://";
        return APR_EINVAL;
    }
    if (end <= start) {
        *err = "the log's window ends before it starts";
        return APR_EINVAL;
    }
    if (!(log->spki = b64_decode(p, spki_b64, &log->spki_len))) {
        *err = "the log key is not base64";
        return APR_EINVAL;
    }
    q = log->spki;
    if (!(k = d2i_PUBKEY(NULL, &q, (long)log->spki_len)) || q != log->spki + log->spki_len) {
        EVP_PKEY_free(k);
        *err = "the log key is not a SubjectPublicKeyInfo";
        return APR_EINVAL;
    }
    type = EVP_PKEY_get_base_id(k);
    /* RFC 6962 2.1.4: NIST P-256 ECDSA or RSA (2048 bits or more). */
    if (!((type == EVP_PKEY_EC && EVP_PKEY_get_bits(k) == 256) ||
          (type == EVP_PKEY_RSA && EVP_PKEY_get_bits(k) >= 2048))) {
        EVP_PKEY_free(k);
        *err = "the log key is neither ECDSA P-256 nor RSA of 2048 bits or more";
        return APR_EINVAL;
    }
    EVP_PKEY_free(k);
    ec_sha256(log->spki, log->spki_len, log->log_id);
    *err = NULL;
    return APR_SUCCESS;
}

/* version(1) log_id(32) timestamp(8) extensions<2> signature: hash(1) sig(1) <2> */
static uint8_t *sct_serialize(apr_pool_t *p, const ec_ct_sct_t *s, size_t *len)
{
    size_t n = 1 + 32 + 8 + 2 + s->ext_len + s->sig_len;
    uint8_t *o = apr_palloc(p, n), *w = o;

    *w++ = 0;
    memcpy(w, s->log->log_id, 32);
    w += 32;
    for (int i = 7; i >= 0; i--)
        *w++ = (uint8_t)(s->timestamp >> (8 * i));
    *w++ = (uint8_t)(s->ext_len >> 8);
    *w++ = (uint8_t)s->ext_len;
    memcpy(w, s->ext, s->ext_len);
    w += s->ext_len;
    memcpy(w, s->sig, s->sig_len);
    *len = n;
    return o;
}

/* DigitallySigned with SHA-256 (4) and ECDSA (3) or RSA (1): exactly 4 + its length. */
static int sig_ok_form(const uint8_t *sig, size_t len)
{
    return len > 4 && sig[0] == 4 && (sig[1] == 3 || sig[1] == 1) &&
           ((size_t)sig[2] << 8 | sig[3]) == len - 4;
}

apr_status_t ec_ct_sct_from_json(apr_pool_t *p, const ec_ct_log_t *log, const char *json, size_t len,
                                 ec_ct_sct_t *out, const char **err)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr), *v;
    const uint8_t *id;
    size_t id_len = 0;
    apr_status_t rv = APR_EINVAL;

    memset(out, 0, sizeof(*out));
    out->log = log;
    *err = "the answer is not JSON";
    if (!root || !json_is_object(root))
        goto done;
    *err = "the answer is not an SCT of version 1";
    if (!(v = json_object_get(root, "sct_version")) || !json_is_integer(v) || json_integer_value(v) != 0)
        goto done;
    *err = "the SCT names another log";
    if (!(id = b64_decode(p, json_string_value(json_object_get(root, "id")), &id_len)) || id_len != 32 ||
        memcmp(id, log->log_id, 32))
        goto done;
    *err = "the SCT has no valid timestamp";
    if (!(v = json_object_get(root, "timestamp")) || !json_is_integer(v) || json_integer_value(v) <= 0)
        goto done;
    out->timestamp = (uint64_t)json_integer_value(v);
    *err = "the SCT's extensions are malformed";
    if (!(v = json_object_get(root, "extensions")) || !json_is_string(v))
        goto done;
    if (*json_string_value(v) && !(out->ext = b64_decode(p, json_string_value(v), &out->ext_len)))
        goto done;
    if (out->ext_len > 65535)
        goto done;
    *err = "the SCT's signature is malformed";
    if (!(out->sig = b64_decode(p, json_string_value(json_object_get(root, "signature")), &out->sig_len)) ||
        !sig_ok_form(out->sig, out->sig_len))
        goto done;
    out->tls = sct_serialize(p, out, &out->tls_len);
    *err = NULL;
    rv = APR_SUCCESS;
done:
    json_decref(root);
    return rv;
}

apr_status_t ec_ct_sct_from_tls(apr_pool_t *p, const apr_array_header_t *logs, const uint8_t *tls,
                                size_t len, ec_ct_sct_t *out, const char **err)
{
    size_t ext_len;

    memset(out, 0, sizeof(*out));
    if (len < 1 + 32 + 8 + 2 || tls[0] != 0) {
        *err = "not an SCT of version 1";
        return APR_EINVAL;
    }
    ext_len = (size_t)tls[41] << 8 | tls[42];
    if (43 + ext_len > len || !sig_ok_form(tls + 43 + ext_len, len - 43 - ext_len)) {
        *err = "a malformed SCT";
        return APR_EINVAL;
    }
    for (int i = 0; logs && i < logs->nelts; i++)
        if (!memcmp(APR_ARRAY_IDX(logs, i, const ec_ct_log_t *)->log_id, tls + 1, 32))
            out->log = APR_ARRAY_IDX(logs, i, const ec_ct_log_t *);
    for (int i = 0; i < 8; i++)
        out->timestamp = out->timestamp << 8 | tls[33 + i];
    out->ext = tls + 43;
    out->ext_len = ext_len;
    out->sig = tls + 43 + ext_len;
    out->sig_len = len - 43 - ext_len;
    out->tls = tls;
    out->tls_len = len;
    *err = out->log ? NULL : "the SCT is from a log this CA does not know";
    return out->log ? APR_SUCCESS : APR_ENOENT;
}

int ec_ct_sct_verify(const ec_ct_sct_t *sct, const uint8_t issuer_key_hash[32], const uint8_t *tbs,
                     size_t tbs_len)
{
    /* RFC 6962 3.2: version, signature_type certificate_timestamp, timestamp, entry_type
     * precert_entry, issuer_key_hash, TBSCertificate<1..2^24-1>, extensions<0..2^16-1>. */
    size_t n = 1 + 1 + 8 + 2 + 32 + 3 + tbs_len + 2 + sct->ext_len;
    uint8_t *m, *w;
    const unsigned char *q = sct->log->spki;
    EVP_PKEY *k;
    EVP_MD_CTX *md;
    int ok = 0;

    if (tbs_len >= 1u << 24 || !(m = w = malloc(n)))
        return 0;
    *w++ = 0;
    *w++ = 0;
    for (int i = 7; i >= 0; i--)
        *w++ = (uint8_t)(sct->timestamp >> (8 * i));
    *w++ = 0;
    *w++ = 1;
    memcpy(w, issuer_key_hash, 32);
    w += 32;
    *w++ = (uint8_t)(tbs_len >> 16);
    *w++ = (uint8_t)(tbs_len >> 8);
    *w++ = (uint8_t)tbs_len;
    memcpy(w, tbs, tbs_len);
    w += tbs_len;
    *w++ = (uint8_t)(sct->ext_len >> 8);
    *w++ = (uint8_t)sct->ext_len;
    memcpy(w, sct->ext, sct->ext_len);
    if ((k = d2i_PUBKEY(NULL, &q, (long)sct->log->spki_len)) && (md = EVP_MD_CTX_new())) {
        int want = EVP_PKEY_get_base_id(k) == EVP_PKEY_EC ? 3 : 1;
        ok = sct->sig[1] == want && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
             EVP_DigestVerify(md, sct->sig + 4, sct->sig_len - 4, m, n) == 1;
        EVP_MD_CTX_free(md);
    }
    EVP_PKEY_free(k);
    free(m);
    return ok;
}

const uint8_t *ec_ct_poison_ext(apr_pool_t *p, size_t *len)
{
    static const uint8_t null_der[] = { 0x05, 0x00 };
    ec_der_w w;

    ec_der_w_init(&w);
    ec_der_begin(&w, EC_DER_SEQUENCE);
    ec_der_oid(&w, EC_OID_CT_POISON);
    ec_der_bool(&w, 1);
    ec_der_tlv(&w, EC_DER_OCTETSTRING, null_der, sizeof(null_der));
    ec_der_end(&w);
    return ec_der_w_take(&w, p, len);
}

const uint8_t *ec_ct_scts_ext(apr_pool_t *p, const ec_ct_sct_t *scts, int n, size_t *len)
{
    size_t total = 0;
    uint8_t *list, *o;
    ec_der_w w;

    for (int i = 0; i < n; i++)
        total += 2 + scts[i].tls_len;
    if (total > 65535)
        return NULL;
    o = list = apr_palloc(p, 2 + total);
    *o++ = (uint8_t)(total >> 8);
    *o++ = (uint8_t)total;
    for (int i = 0; i < n; i++) {
        *o++ = (uint8_t)(scts[i].tls_len >> 8);
        *o++ = (uint8_t)scts[i].tls_len;
        memcpy(o, scts[i].tls, scts[i].tls_len);
        o += scts[i].tls_len;
    }
    /* RFC 6962 3.3: the extension's value is an OCTET STRING holding the TLS list. */
    ec_der_w_init(&w);
    ec_der_begin(&w, EC_DER_SEQUENCE);
    ec_der_oid(&w, EC_OID_CT_SCTS);
    ec_der_begin(&w, EC_DER_OCTETSTRING);
    ec_der_tlv(&w, EC_DER_OCTETSTRING, list, 2 + total);
    ec_der_end(&w);
    ec_der_end(&w);
    return ec_der_w_take(&w, p, len);
}

apr_status_t ec_ct_scts_parse(apr_pool_t *p, const uint8_t *extn, size_t len, apr_array_header_t **tls_scts,
                              const char **err)
{
    ec_der_r in = { extn, len }, os;
    size_t total;
    const uint8_t *q;

    *tls_scts = apr_array_make(p, 4, sizeof(ec_der_r));
    if (ec_der_get(&in, EC_DER_OCTETSTRING, &os, NULL, NULL) < 0 || in.n || os.n < 2) {
        *err = "the SCT list is not an OCTET STRING";
        return APR_EINVAL;
    }
    total = (size_t)os.p[0] << 8 | os.p[1];
    if (total != os.n - 2) {
        *err = "the SCT list's length is wrong";
        return APR_EINVAL;
    }
    for (q = os.p + 2; q < os.p + os.n;) {
        size_t n;
        if (q + 2 > os.p + os.n || (n = (size_t)q[0] << 8 | q[1]) == 0 || q + 2 + n > os.p + os.n) {
            *err = "an SCT in the list overruns it";
            return APR_EINVAL;
        }
        APR_ARRAY_PUSH(*tls_scts, ec_der_r) = (ec_der_r){ q + 2, n };
        q += 2 + n;
    }
    *err = NULL;
    return APR_SUCCESS;
}

int ec_ct_required(time_t not_before, time_t not_after)
{
    /* Lifetime in days as both policies count it: up to 180 days, two SCTs. */
    return (double)(not_after - not_before + 1) / 86400.0 <= 180.0 ? 2 : 3;
}

const char *ec_ct_policy(apr_pool_t *p, const ec_ct_sct_t *scts, int n, time_t not_before, time_t not_after)
{
    int need = ec_ct_required(not_before, not_after), operators = 0;

    for (int i = 0; i < n; i++) {
        int first = 1;
        for (int j = 0; j < i && first; j++)
            first = strcmp(scts[i].log->operator_name, scts[j].log->operator_name) != 0;
        operators += first;
    }
    if (n < need)
        return apr_psprintf(p, "%d SCTs of the %d a certificate of this lifetime needs%s", n, need,
                            n > 1 && operators < 2 ? ", all from one log operator" : "");
    if (operators < 2)
        return "every SCT is from the same log operator: two operators are needed";
    return NULL;
}
