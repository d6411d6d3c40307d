#include <string.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <apr_strings.h>
#include "ec_lint.h"
#include "ec_ca.h"
#include "ec_der.h"
#include "ec_dns.h"
#include "ec_weakkey.h"
#include "ec_x509.h"
#include "ec_ct.h"

#define FAIL(...) do { err = apr_psprintf(p, __VA_ARGS__); goto out; } while (0)

static const char *oid_text(apr_pool_t *p, const ASN1_OBJECT *o)
{
    char buf[128];
    OBJ_obj2txt(buf, sizeof(buf), o, 1);
    return apr_pstrdup(p, buf);
}

static const char *name_value(apr_pool_t *p, const X509_NAME *n, const char *oid, int *count,
                              int *tag)
{
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
    const char *v = NULL;
    int idx = -1;

    *count = 0;
    while ((idx = X509_NAME_get_index_by_OBJ(n, o, idx)) >= 0) {
        const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, idx));
        (*count)++;
        v = apr_pstrndup(p, (const char *)ASN1_STRING_get0_data(s), (apr_size_t)ASN1_STRING_length(s));
        *tag = ASN1_STRING_type(s);
    }
    ASN1_OBJECT_free(o);
    return v;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* Every AVA of the subject must be one the profile allows. */
static const char *const allowed_attrs[] = {
    EC_OID_C, EC_OID_ST, EC_OID_L, EC_OID_O, EC_OID_CN, EC_OID_STREET, EC_OID_SERIALNUMBER,
    EC_OID_BUSINESS_CATEGORY, EC_OID_JURISDICTION_C, NULL
};

/* RFC 6962 3.1, 3.3: the precertificate ends with the critical poison (value NULL), the
 * certificate with the SCT list; nothing else has either. 1 when ex is the one the stage
 * wants, -1 otherwise. */
static int ct_extension(apr_pool_t *p, const ec_profile_in_t *in, X509_EXTENSION *ex, const char *oid, int last)
{
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(ex);
    apr_array_header_t *scts;
    const char *err;

    if (!last)
        return -1;
    if (!strcmp(oid, EC_OID_CT_POISON))
        return in->ct_stage == EC_CT_PRECERT && X509_EXTENSION_get_critical(ex) == 1 && v->length == 2 &&
               v->data[0] == 0x05 && v->data[1] == 0 ? 1 : -1;
    if (!strcmp(oid, EC_OID_CT_SCTS))
        return in->ct_stage == EC_CT_FINAL && X509_EXTENSION_get_critical(ex) == 0 &&
               ec_ct_scts_parse(p, v->data, (size_t)v->length, &scts, &err) == APR_SUCCESS && scts->nelts
               ? 1 : -1;
    return -1;
}

const char *ec_lint_tbs(apr_pool_t *p, const ec_profile_conf_t *c, const ec_profile_in_t *in,
                        const uint8_t *tbs, size_t len)
{
    const ec_app_t *a = in->app;
    int ev = !strcmp(a->cert_type, "ev"), wildcard = !strcmp(a->cert_type, "wildcard");
    apr_array_header_t *want_names = ec_profile_names(p, a);
    const char *err = NULL, *v;
    const uint8_t *der;
    const unsigned char *q;
    size_t der_len;
    X509 *x = NULL;
    EVP_PKEY *pk = NULL;
    BIGNUM *n = NULL, *e = NULL;
    GENERAL_NAMES *san = NULL;
    BASIC_CONSTRAINTS *bc = NULL;
    EXTENDED_KEY_USAGE *eku = NULL;
    CERTIFICATEPOLICIES *pol = NULL;
    AUTHORITY_INFO_ACCESS *aia = NULL;
    CRL_DIST_POINTS *cdp = NULL;
    AUTHORITY_KEYID *aki = NULL;
    ASN1_OCTET_STRING *ski = NULL;
    ec_der_w w;
    static const uint8_t dummy_sig[1] = { 0 };
    int count, tag, crit;
    time_t nb, na;
    struct tm tm;

    /* Wrap the TBS in a Certificate with an empty signature so OpenSSL parses it. */
    ec_der_w_init(&w);
    ec_der_begin(&w, EC_DER_SEQUENCE);
    ec_der_raw(&w, tbs, len);
    ec_x509_sigalg(&w);
    ec_der_bitstring(&w, dummy_sig, 1);
    ec_der_end(&w);
    if (!(der = ec_der_w_take(&w, p, &der_len)))
        return "the certificate could not be encoded";
    q = der;
    if (!(x = d2i_X509(NULL, &q, (long)der_len)) || q != der + der_len)
        return "the to-be-signed certificate does not parse as X.509";

    if (X509_get_version(x) != X509_VERSION_3)
        FAIL("the certificate is not X.509 v3");
    {
        const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
        BIGNUM *b = ASN1_INTEGER_to_BN(sn, NULL);
        int bytes = b ? BN_num_bytes(b) : 0;
        int neg = b && BN_is_negative(b);
        BN_free(b);
        /* CPS 7.1 / BR 7.1: 20 octets of CSPRNG output, positive, at most 20 octets. */
        if (neg || bytes != 20 || ASN1_STRING_length(sn) != 20)
            FAIL("the serial number is not a positive 20-octet number");
        if (memcmp(ASN1_STRING_get0_data(sn), in->serial + 20 - ASN1_STRING_length(sn),
                   (size_t)ASN1_STRING_length(sn)))
            FAIL("the serial number is not the one drawn for this certificate");
    }
    if (X509_get_signature_nid(x) != NID_sha256WithRSAEncryption)
        FAIL("the signature algorithm is not sha256WithRSAEncryption");
    {
        unsigned char *ib = NULL;
        int il = i2d_X509_NAME(X509_get_issuer_name(x), &ib);
        int same = il == (int)in->issuer->subject_len && !memcmp(ib, in->issuer->subject, (size_t)il);
        OPENSSL_free(ib);
        if (!same)
            FAIL("the issuer name is not the subject of %s", in->issuer->cn);
    }
    if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) != 1 || (nb = timegm(&tm)) == (time_t)-1 ||
        ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1 || (na = timegm(&tm)) == (time_t)-1)
        FAIL("the validity dates do not parse");
    if (na <= nb)
        FAIL("notAfter is not after notBefore");
    if (nb > time(NULL) + 60 || nb < time(NULL) - 48 * 3600)
        FAIL("notBefore is not the time of issuance");
    if ((long long)(na - nb) + 1 > (long long)ec_profile_max_days(nb) * 86400)
        FAIL("the validity period exceeds the %d days the Baseline Requirements allow (BR 6.3.2)",
             ec_profile_max_days(nb));

    /* Subject: C, ST, L, O, CN; EV adds street, serialNumber, businessCategory, jurisdictionC. */
    {
        const X509_NAME *sn = X509_get_subject_name(x);
        for (int i = 0; i < X509_NAME_entry_count(sn); i++) {
            const char *o = oid_text(p, X509_NAME_ENTRY_get_object(X509_NAME_get_entry(sn, i)));
            int known = 0;
            for (int k = 0; allowed_attrs[k]; k++)
                known |= !strcmp(o, allowed_attrs[k]);
            if (!known)
                FAIL("the subject carries attribute %s, which the profile does not have%s", o,
                     !strcmp(o, "2.5.4.11") ? " (no OU: BR 7.1.2.7.2)" : "");
        }
        if (!(v = name_value(p, sn, EC_OID_C, &count, &tag)) || count != 1 || strcmp(v, "HK") ||
            tag != V_ASN1_PRINTABLESTRING)
            FAIL("the subject's C is not HK as a PrintableString");
        if (!(v = name_value(p, sn, EC_OID_ST, &count, &tag)) || count != 1 || strcmp(v, "Hong Kong"))
            FAIL("the subject's ST is not Hong Kong");
        if (!(v = name_value(p, sn, EC_OID_L, &count, &tag)) || count != 1 || strcmp(v, "Hong Kong"))
            FAIL("the subject's L is not Hong Kong");
        if (!(v = name_value(p, sn, EC_OID_O, &count, &tag)) || count != 1 || !*v ||
            strcmp(v, ec_profile_org(a)))
            FAIL("the subject's O is not the organisation name of the application");
        if (tag != V_ASN1_UTF8STRING || utf8_chars(v) > 64)
            FAIL("the subject's O is not a UTF8String of at most 64 characters");
        if (!(v = name_value(p, sn, EC_OID_CN, &count, &tag)) || count != 1)
            FAIL("the subject has no single CN");
        if (strcmp(v, a->server_name))
            FAIL("the subject's CN is not the application's server name");
        if (strlen(v) > 64)
            FAIL("the CN is longer than 64 characters (X.520 upper bound)");
        for (int k = 0; k < 4; k++) {
            static const char *const evattr[] = { EC_OID_STREET, EC_OID_SERIALNUMBER,
                                                  EC_OID_BUSINESS_CATEGORY, EC_OID_JURISDICTION_C };
            v = name_value(p, sn, evattr[k], &count, &tag);
            if (ev && (count != 1 || !v || !*v))
                FAIL("the EV subject lacks attribute %s", evattr[k]);
            if (!ev && count)
                FAIL("a non-EV subject carries the EV attribute %s", evattr[k]);
        }
    }

    /* Key: RSA of an allowed size with BR 6.1.6 parameters. */
    if (!(pk = X509_get_pubkey(x)) || EVP_PKEY_base_id(pk) != EVP_PKEY_RSA ||
        !EVP_PKEY_get_bn_param(pk, "n", &n) || !EVP_PKEY_get_bn_param(pk, "e", &e))
        FAIL("the subject key is not RSA");
    {
        int ok = 0;
        for (int i = 0; i < c->key_sizes->nelts; i++)
            ok |= BN_num_bits(n) == APR_ARRAY_IDX(c->key_sizes, i, int);
        if (!ok)
            FAIL("the RSA key size %d is not allowed", BN_num_bits(n));
        if (!ec_weak_exponent_ok(e) || ec_weak_small_factor(n))
            FAIL("the RSA key fails BR 6.1.6");
    }

    /* Extensions: exactly the profile's set, each once, KU and BC critical. */
    {
        static const char *const want[] = { "1.3.6.1.5.5.7.1.1", "2.5.29.35", "2.5.29.14", "2.5.29.15",
                                            "2.5.29.32", "2.5.29.17", "2.5.29.19", "2.5.29.37",
                                            "2.5.29.31" };
        int seen[9] = { 0 }, ct_seen = 0;
        for (int i = 0; i < X509_get_ext_count(x); i++) {
            X509_EXTENSION *ex = X509_get_ext(x, i);
            const char *o = oid_text(p, X509_EXTENSION_get_object(ex));
            int k;
            for (k = 0; k < 9 && strcmp(o, want[k]); k++)
                ;
            if (k == 9 && (ct_seen = ct_extension(p, in, ex, o, i == X509_get_ext_count(x) - 1)) < 0)
                FAIL("extension %s is not in the profile", o);
            if (k == 9)
                continue;
            if (seen[k]++)
                FAIL("extension %s appears twice", o);
            if (X509_EXTENSION_get_critical(ex) != (k == 3 || k == 6))
                FAIL("extension %s has the wrong criticality", o);
        }
        for (int k = 0; k < 9; k++)
            if (!seen[k])
                FAIL("extension %s is missing", want[k]);
        if (in->ct_stage != EC_CT_NONE && !ct_seen)
            FAIL("the %s has no %s extension", in->ct_stage == EC_CT_PRECERT ? "precertificate" : "certificate",
                 in->ct_stage == EC_CT_PRECERT ? "CT poison" : "SCT list");
    }
    if (!(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE) || !(X509_get_key_usage(x) & KU_KEY_ENCIPHERMENT) ||
        (X509_get_key_usage(x) & ~(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT) & 0xffff))
        FAIL("keyUsage is not digitalSignature + keyEncipherment");
    if (!(bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL)) || bc->ca)
        FAIL("basicConstraints is not CA:FALSE");
    if (!(eku = X509_get_ext_d2i(x, NID_ext_key_usage, &crit, NULL)) ||
        sk_ASN1_OBJECT_num(eku) != c->eku->nelts)
        FAIL("extendedKeyUsage is not the configured set");
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
        const char *o = oid_text(p, sk_ASN1_OBJECT_value(eku, i));
        if (strcmp(o, APR_ARRAY_IDX(c->eku, i, const char *)))
            FAIL("extendedKeyUsage is not the configured set");
        if (!strcmp(o, "2.5.29.37.0"))
            FAIL("anyExtendedKeyUsage is not allowed (BR 7.1.2.7.10)");
    }
    if (!(ski = X509_get_ext_d2i(x, NID_subject_key_identifier, &crit, NULL)) || ski->length != 20)
        FAIL("subjectKeyIdentifier is missing");
    {
        uint8_t kid[20];
        if (ec_spki_keyid(in->spki, in->spki_len, kid) < 0 || memcmp(kid, ski->data, 20))
            FAIL("subjectKeyIdentifier is not the hash of the subject key");
    }
    if (!(aki = X509_get_ext_d2i(x, NID_authority_key_identifier, &crit, NULL)) || !aki->keyid ||
        aki->keyid->length != 20 || memcmp(aki->keyid->data, in->issuer->ski, 20) || aki->issuer ||
        aki->serial)
        FAIL("authorityKeyIdentifier is not the issuer's subjectKeyIdentifier");
    {
        const char *ocsp = NULL, *cai = NULL;
        if (!(aia = X509_get_ext_d2i(x, NID_info_access, &crit, NULL)))
            FAIL("authorityInfoAccess does not parse");
        for (int i = 0; i < sk_ACCESS_DESCRIPTION_num(aia); i++) {
            ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
            int nid = OBJ_obj2nid(ad->method);
            if (ad->location->type != GEN_URI)
                FAIL("authorityInfoAccess holds a non-URI location");
            v = apr_pstrndup(p, (const char *)ASN1_STRING_get0_data(ad->location->d.uniformResourceIdentifier),
                             (apr_size_t)ASN1_STRING_length(ad->location->d.uniformResourceIdentifier));
            if (nid == NID_ad_OCSP)
                ocsp = v;
            else if (nid == NID_ad_ca_issuers)
                cai = v;
        }
        if (!ocsp || strcmp(ocsp, c->ocsp_url))
            FAIL("authorityInfoAccess has no OCSP URL %s", c->ocsp_url);
        if (!cai || strcmp(cai, apr_pstrcat(p, c->aia_base, in->issuer->file, ".crt", NULL)))
            FAIL("authorityInfoAccess has no caIssuers URL of %s", in->issuer->cn);
    }
    {
        DIST_POINT *dp;
        GENERAL_NAME *gn;
        const char *want = in->crl_url ? in->crl_url : ec_profile_crl_url(p, c, in->issuer->crl_file, -1);
        if (!(cdp = X509_get_ext_d2i(x, NID_crl_distribution_points, &crit, NULL)) ||
            sk_DIST_POINT_num(cdp) != 1 || !(dp = sk_DIST_POINT_value(cdp, 0))->distpoint ||
            dp->distpoint->type != 0 || sk_GENERAL_NAME_num(dp->distpoint->name.fullname) != 1 ||
            (gn = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0))->type != GEN_URI ||
            strcmp(apr_pstrndup(p, (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier),
                                (apr_size_t)ASN1_STRING_length(gn->d.uniformResourceIdentifier)), want))
            FAIL("cRLDistributionPoints is not %s", want);
    }
    {
        static const char *const ov[] = { EC_OID_CPS, EC_OID_BR_OV };
        static const char *const evp[] = { EC_OID_CPS, EC_OID_BR_EV, EC_OID_GS_EV };
        const char *const *wantp = ev ? evp : ov;
        int nwant = ev ? 3 : 2;
        if (!(pol = X509_get_ext_d2i(x, NID_certificate_policies, &crit, NULL)) ||
            sk_POLICYINFO_num(pol) != nwant)
            FAIL("certificatePolicies is not the profile's set");
        for (int i = 0; i < nwant; i++) {
            POLICYINFO *pi = sk_POLICYINFO_value(pol, i);
            POLICYQUALINFO *qi;
            if (strcmp(oid_text(p, pi->policyid), wantp[i]))
                FAIL("certificatePolicies lacks %s", wantp[i]);
            if (sk_POLICYQUALINFO_num(pi->qualifiers) != 1 ||
                OBJ_obj2nid((qi = sk_POLICYQUALINFO_value(pi->qualifiers, 0))->pqualid) != NID_id_qt_cps ||
                strcmp(apr_pstrndup(p, (const char *)ASN1_STRING_get0_data(qi->d.cpsuri),
                                    (apr_size_t)ASN1_STRING_length(qi->d.cpsuri)), c->cps_url))
                FAIL("policy %s has no CPS qualifier %s", wantp[i], c->cps_url);
        }
    }
    /* SAN: dNSNames in the profile's order, valid A-labels, CN among them (BR 7.1.4.3). */
    if (!(san = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL)) ||
        sk_GENERAL_NAME_num(san) != want_names->nelts || want_names->nelts > EC_PROFILE_MAX_NAMES)
        FAIL("subjectAltName does not hold the %d names of the application", want_names->nelts);
    for (int i = 0; i < sk_GENERAL_NAME_num(san); i++) {
        GENERAL_NAME *gn = sk_GENERAL_NAME_value(san, i);
        const char *name, *norm, *why;
        if (gn->type != GEN_DNS)
            FAIL("subjectAltName holds a name that is not a dNSName");
        name = apr_pstrndup(p, (const char *)ASN1_STRING_get0_data(gn->d.dNSName),
                            (apr_size_t)ASN1_STRING_length(gn->d.dNSName));
        if (strcmp(name, APR_ARRAY_IDX(want_names, i, const char *)))
            FAIL("subjectAltName name %d is not %s", i + 1, APR_ARRAY_IDX(want_names, i, const char *));
        norm = ec_dns_normalize(p, name, wildcard && i == 0, &why);
        if (!norm || strcmp(norm, name))
            FAIL("subjectAltName name %s is not a valid A-label name", name);
        for (int k = 0; k < i; k++)
            if (!strcmp(name, APR_ARRAY_IDX(want_names, k, const char *)))
                FAIL("subjectAltName lists %s twice", name);
    }
    if (strcmp(APR_ARRAY_IDX(want_names, 0, const char *), a->server_name))
        FAIL("the CN is not the first subjectAltName");
    /* Chrome's root programme: no clientAuth in new server certificates from 2027-03-15. */
    for (int i = 0; i < c->eku->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(c->eku, i, const char *), EC_OID_EKU_CLIENT) && nb >= 1805068800)
            FAIL("clientAuth is not allowed in server certificates issued from 2027-03-15");
out:
    GENERAL_NAMES_free(san);
    BASIC_CONSTRAINTS_free(bc);
    EXTENDED_KEY_USAGE_free(eku);
    CERTIFICATEPOLICIES_free(pol);
    AUTHORITY_INFO_ACCESS_free(aia);
    CRL_DIST_POINTS_free(cdp);
    AUTHORITY_KEYID_free(aki);
    ASN1_OCTET_STRING_free(ski);
    BN_free(n);
    BN_free(e);
    EVP_PKEY_free(pk);
    X509_free(x);
    return err;
}
