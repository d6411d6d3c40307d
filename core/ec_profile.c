#include <stdlib.h>
#include <string.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <apr_strings.h>
#include "ec_profile.h"
#include "ec_ca.h"
#include "ec_x509.h"
#include "ec_der.h"
#include "ec_util.h"

const char EC_PROFILE_NOT_MINE[] = "not a profile directive";

apr_status_t ec_issuer_init(apr_pool_t *p, const char *role, const uint8_t *der, size_t len,
                            ec_issuer_t *out)
{
    ec_cert_info_t info;
    const unsigned char *q = der;
    X509 *x;
    const ASN1_OCTET_STRING *ski;

    memset(out, 0, sizeof(*out));
    if (ec_cert_info(p, der, len, &info) != APR_SUCCESS)
        return APR_EINVAL;
    out->role = role;
    out->cn = info.cn;
    out->cert_der = der;
    out->cert_len = len;
    out->subject = info.subject;
    out->subject_len = info.subject_len;
    out->spki = info.spki;
    out->spki_len = info.spki_len;
    memcpy(out->spki_sha256, info.spki_sha256, 32);
    memcpy(out->ski, info.ski, 20);
    /* The AKI repeats the issuer's own SKI extension when it has a 20-octet one. */
    if ((x = d2i_X509(NULL, &q, (long)len)) != NULL) {
        if ((ski = X509_get0_subject_key_id(x)) != NULL && ski->length == 20)
            memcpy(out->ski, ski->data, 20);
        X509_free(x);
    }
    for (int i = 0; i < 3; i++)
        if (!strcmp(ec_ca_files[i].role, role)) {
            out->file = ec_ca_files[i].file;
            out->crl_file = ec_ca_files[i].crl_file;
        }
    return out->file ? APR_SUCCESS : APR_EINVAL;
}

static const char *eku_oid(const char *name)
{
    if (!strcasecmp(name, "serverAuth"))
        return EC_OID_EKU_SERVER;
    if (!strcasecmp(name, "clientAuth"))
        return EC_OID_EKU_CLIENT;
    for (const char *s = name; *s; s++)
        if (!(*s == '.' || (*s >= '0' && *s <= '9')))
            return NULL;
    return strchr(name, '.') ? name : NULL;
}

static const char *url_arg(apr_pool_t *p, const char *name, int argc, char *const *argv,
                           const char **field)
{
    if (argc != 1)
        return apr_psprintf(p, "%s takes one URL", name);
    if (strncmp(argv[0], "http://", 7) && strncmp(argv[0], "https://", 8))
        return apr_psprintf(p, "%s: '%s' is not an http:// or https:// URL", name, argv[0]);
    *field = apr_pstrdup(p, argv[0]);
    return NULL;
}

const char *ec_profile_directive(ec_profile_conf_t *c, apr_pool_t *p, const char *name,
                                 int argc, char *const *argv)
{
    if (!strncasecmp(name, "ECertCT", 7)) {
        const char *err = ec_ct_conf_directive(&c->ct, p, name, argc, argv);
        return err == EC_CT_NOT_MINE ? EC_PROFILE_NOT_MINE : err;
    }
    if (!strcasecmp(name, "ECertAIABase"))
        return url_arg(p, name, argc, argv, &c->aia_base);
    if (!strcasecmp(name, "ECertCRLBase"))
        return url_arg(p, name, argc, argv, &c->crl_base);
    if (!strcasecmp(name, "ECertOCSPURL"))
        return url_arg(p, name, argc, argv, &c->ocsp_url);
    if (!strcasecmp(name, "ECertCPSURL"))
        return url_arg(p, name, argc, argv, &c->cps_url);
    if (!strcasecmp(name, "ECertValidityDays")) {
        char *end;
        long v = argc == 1 ? strtol(argv[0], &end, 10) : 0;
        /* BR 6.3.2: never above 200 days; the issuance date may lower it further. */
        if (argc != 1 || !*argv[0] || *end || v < 1 || v > 200)
            return apr_psprintf(p, "ECertValidityDays takes a whole number from 1 to 200, not '%s'",
                                argc ? argv[0] : "");
        c->validity_days = (int)v;
        return NULL;
    }
    if (!strcasecmp(name, "ECertEKU")) {
        if (argc < 1)
            return "ECertEKU takes serverAuth, clientAuth or dotted OIDs";
        c->eku = apr_array_make(p, argc, sizeof(const char *));
        for (int i = 0; i < argc; i++) {
            const char *oid = eku_oid(argv[i]);
            if (!oid)
                return apr_psprintf(p, "ECertEKU: '%s' is neither serverAuth, clientAuth nor an OID",
                                    argv[i]);
            APR_ARRAY_PUSH(c->eku, const char *) = apr_pstrdup(p, oid);
        }
        return NULL;
    }
    if (!strcasecmp(name, "ECertKeySizes")) {
        if (argc < 1)
            return "ECertKeySizes takes RSA modulus sizes (2048 3072 4096)";
        c->key_sizes = apr_array_make(p, argc, sizeof(int));
        for (int i = 0; i < argc; i++) {
            char *end;
            long v = strtol(argv[i], &end, 10);
            if (*end || v < 2048 || v > 8192 || v % 8)
                return apr_psprintf(p, "ECertKeySizes: '%s' is not an RSA size from 2048 to 8192 "
                                    "(BR 6.1.5)", argv[i]);
            APR_ARRAY_PUSH(c->key_sizes, int) = (int)v;
        }
        return NULL;
    }
    if (!strcasecmp(name, "ECertCRLShards")) {
        char *end;
        long v = argc == 1 ? strtol(argv[0], &end, 10) : 0;
        if (argc == 1 && !strcasecmp(argv[0], "off")) {
            c->crl_shards = -1;
            return NULL;
        }
        if (argc != 1 || !*argv[0] || *end || v < 2 || v > 256)
            return apr_psprintf(p, "ECertCRLShards takes Off or a number of partitions from 2 to 256, "
                                "not '%s'", argc ? argv[0] : "");
        c->crl_shards = (int)v;
        return NULL;
    }
    if (!strcasecmp(name, "ECertWeakKeyList")) {
        if (argc != 1)
            return "ECertWeakKeyList takes one file";
        if (!c->weak_files)
            c->weak_files = apr_array_make(p, 2, sizeof(const char *));
        APR_ARRAY_PUSH(c->weak_files, const char *) = apr_pstrdup(p, argv[0]);
        return NULL;
    }
    return EC_PROFILE_NOT_MINE;
}

ec_profile_conf_t *ec_profile_merge(apr_pool_t *p, const ec_profile_conf_t *base,
                                    const ec_profile_conf_t *add)
{
    ec_profile_conf_t *c = apr_pcalloc(p, sizeof(*c));
#define PICK(f) c->f = add->f ? add->f : base->f
    PICK(aia_base); PICK(crl_base); PICK(ocsp_url); PICK(cps_url);
    PICK(validity_days); PICK(eku); PICK(key_sizes); PICK(weak_files); PICK(crl_shards);
#undef PICK
    ec_ct_conf_merge(&c->ct, &base->ct, &add->ct);
    return c;
}

apr_status_t ec_profile_finish(ec_profile_conf_t *c, apr_pool_t *p, const char **err)
{
    ec_ceremony_t d;

    ec_ceremony_defaults(&d);
    if (!c->aia_base) c->aia_base = d.aia_base;
    if (!c->crl_base) c->crl_base = d.crl_base;
    if (!c->ocsp_url) c->ocsp_url = d.ocsp_url;
    if (!c->cps_url) c->cps_url = d.cps_url;
    if (!c->validity_days) c->validity_days = EC_PROFILE_DEFAULT_DAYS;
    ec_ct_conf_finish(&c->ct);
    if (c->crl_shards < 0) c->crl_shards = 0;
    if (!c->eku) {
        c->eku = apr_array_make(p, 1, sizeof(const char *));
        APR_ARRAY_PUSH(c->eku, const char *) = EC_OID_EKU_SERVER;
    }
    if (!c->key_sizes) {
        c->key_sizes = apr_array_make(p, 1, sizeof(int));
        APR_ARRAY_PUSH(c->key_sizes, int) = 2048;       /* CPS 6.1.5 */
    }
    c->weak = NULL;
    for (int i = 0; c->weak_files && i < c->weak_files->nelts; i++) {
        apr_status_t rv = ec_weaklist_load(&c->weak, p, APR_ARRAY_IDX(c->weak_files, i, const char *),
                                           err);
        if (rv != APR_SUCCESS)
            return rv;
    }
    return APR_SUCCESS;
}

static time_t utc(int y, int m, int d)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    return timegm(&tm);
}

int ec_profile_max_days(time_t t)
{
    if (t >= utc(2029, 3, 15))
        return 47;
    if (t >= utc(2027, 3, 15))
        return 100;
    if (t >= utc(2026, 3, 15))
        return 200;
    return 398;
}

int ec_profile_days(const ec_profile_conf_t *c, time_t t)
{
    int max = ec_profile_max_days(t), want = c->validity_days ? c->validity_days : EC_PROFILE_DEFAULT_DAYS;
    return want < max ? want : max;
}

const char *ec_profile_issuer_role(const char *cert_type)
{
    return !strcmp(cert_type, "ev") ? "ev" : "ssl";
}

apr_array_header_t *ec_profile_names(apr_pool_t *p, const ec_app_t *a)
{
    apr_array_header_t *n = apr_array_make(p, 2 + a->extra->nelts, sizeof(const char *));

    APR_ARRAY_PUSH(n, const char *) = a->server_name;
    if (!strcmp(a->cert_type, "wildcard") && !strncmp(a->server_name, "*.", 2))
        APR_ARRAY_PUSH(n, const char *) = a->server_name + 2;      /* App. B note 5 */
    else if (!strcmp(a->cert_type, "multi-domain") || !strcmp(a->cert_type, "ev"))
        for (int i = 0; i < a->extra->nelts; i++)
            APR_ARRAY_PUSH(n, const char *) = APR_ARRAY_IDX(a->extra, i, const char *);
    return n;
}

const char *ec_profile_org(const ec_app_t *a)
{
    int has_en = a->org_en && *a->org_en, has_zh = a->org_zh && *a->org_zh;
    /* CPS 3.1.1.3: Chinese when the subscriber opts for it or has no English name. */
    if (has_zh && (a->confirm_chinese || !has_en))
        return a->org_zh;
    return has_en ? a->org_en : "";
}

static const uint8_t *subject(apr_pool_t *p, const ec_app_t *a, size_t *len)
{
    int ev = !strcmp(a->cert_type, "ev");
    ec_rdn_t rdns[] = {
        { EC_OID_JURISDICTION_C, EC_DER_PRINTABLE, ev ? a->ev_jurisdiction : NULL },
        { EC_OID_BUSINESS_CATEGORY, EC_DER_UTF8, ev ? a->ev_category : NULL },
        { EC_OID_SERIALNUMBER, EC_DER_PRINTABLE, ev ? a->ev_reg_no : NULL },
        { EC_OID_C, EC_DER_PRINTABLE, "HK" },
        { EC_OID_ST, EC_DER_UTF8, "Hong Kong" },
        { EC_OID_L, EC_DER_UTF8, "Hong Kong" },
        { EC_OID_STREET, EC_DER_UTF8, ev ? a->ev_street : NULL },
        { EC_OID_O, EC_DER_UTF8, ec_profile_org(a) },
        { EC_OID_CN, EC_DER_UTF8, a->server_name },
    };
    return ec_x509_name(p, rdns, (int)(sizeof(rdns) / sizeof(rdns[0])), len);
}

int ec_profile_crl_shard(const ec_profile_conf_t *c, const uint8_t serial[20])
{
    return c->crl_shards > 1 ? (int)(((unsigned)serial[18] << 8 | serial[19]) % (unsigned)c->crl_shards)
                             : -1;
}

const char *ec_profile_crl_file(apr_pool_t *p, const char *crl_file, int shard)
{
    size_t n = strlen(crl_file);

    if (shard < 0)
        return crl_file;
    if (n > 4 && !strcmp(crl_file + n - 4, ".crl"))
        n -= 4;
    return apr_psprintf(p, "%.*s-%d.crl", (int)n, crl_file, shard);
}

const char *ec_profile_crl_url(apr_pool_t *p, const ec_profile_conf_t *c, const char *crl_file,
                               int shard)
{
    return apr_pstrcat(p, c->crl_base, ec_profile_crl_file(p, crl_file, shard), NULL);
}

apr_status_t ec_profile_tbs(apr_pool_t *p, const ec_profile_conf_t *c, const ec_profile_in_t *in,
                            const uint8_t **tbs, size_t *len, time_t *not_after)
{
    const ec_app_t *a = in->app;
    const ec_issuer_t *is = in->issuer;
    apr_array_header_t *names = ec_profile_names(p, a);
    int ev = !strcmp(a->cert_type, "ev");
    static const char *const ov[] = { EC_OID_CPS, EC_OID_BR_OV };
    static const char *const evp[] = { EC_OID_CPS, EC_OID_BR_EV, EC_OID_GS_EV };
    uint8_t keyid[20];
    ec_der_w ext;
    ec_tbs_t t;

    if (ec_spki_keyid(in->spki, in->spki_len, keyid) < 0)
        return APR_EINVAL;
    ec_der_w_init(&ext);
    ec_ext_aia(&ext, apr_pstrcat(p, c->aia_base, is->file, ".crt", NULL), c->ocsp_url);
    ec_ext_aki(&ext, is->ski);
    ec_ext_ski(&ext, keyid);
    ec_ext_key_usage(&ext, EC_KU_DIGITAL_SIGNATURE | EC_KU_KEY_ENCIPHERMENT);
    ec_ext_policies(&ext, ev ? evp : ov, ev ? 3 : 2, c->cps_url);
    ec_ext_san_dns(&ext, (const char *const *)names->elts, names->nelts);
    ec_ext_basic_constraints(&ext, 0, -1);
    ec_ext_eku(&ext, (const char *const *)c->eku->elts, c->eku->nelts);
    ec_ext_cdp(&ext, in->crl_url ? in->crl_url : ec_profile_crl_url(p, c, is->crl_file, -1));
    /* Last, so that the precertificate and the certificate differ only there (RFC 6962 3.2). */
    if (in->ct_ext)
        ec_der_raw(&ext, in->ct_ext, in->ct_ext_len);

    memset(&t, 0, sizeof(t));
    if (!(t.exts = ec_der_w_take(&ext, p, &t.exts_len)) ||
        !(t.subject = subject(p, a, &t.subject_len)))
        return APR_ENOMEM;
    t.serial = in->serial;
    t.serial_len = 20;
    t.issuer = is->subject;
    t.issuer_len = is->subject_len;
    t.not_before = in->not_before;
    /* BR validity counts both ends: N days end one second before N * 86400. */
    t.not_after = in->not_before + (time_t)ec_profile_days(c, in->not_before) * 86400 - 1;
    t.spki = in->spki;
    t.spki_len = in->spki_len;
    *not_after = t.not_after;
    *tbs = ec_x509_tbs(p, &t, len);
    return *tbs ? APR_SUCCESS : APR_ENOMEM;
}
