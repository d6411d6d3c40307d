/* The subscriber certificate of each type exactly as CPS App. B ("Root CA 3" tables)
 * and SPEC R-6 describe it: subject, SANs, extensions, validity. Protocol-neutral:
 * the httpd glue and ecertctl share the configuration parser below. */
#ifndef EC_PROFILE_H
#define EC_PROFILE_H

#include <time.h>
#include <apr_tables.h>
#include "ec_app.h"
#include "ec_p11.h"
#include "ec_weakkey.h"
#include "ec_ct_conf.h"

#define EC_PROFILE_DEFAULT_DAYS 199
#define EC_PROFILE_MAX_NAMES 50

/* An issuing Sub CA (ECertIssuer ssl|ev). */
typedef struct {
    const char *role;                        /* ssl | ev */
    const char *cn;
    const uint8_t *cert_der; size_t cert_len;
    const uint8_t *subject; size_t subject_len;
    const uint8_t *spki; size_t spki_len;
    uint8_t ski[20];                         /* its subjectKeyIdentifier: our AKI */
    uint8_t spki_sha256[32];
    const char *file, *crl_file;             /* repository names (ec_ca_files) */
    ec_p11_key *key;                         /* set once the token is open */
} ec_issuer_t;

apr_status_t ec_issuer_init(apr_pool_t *p, const char *role, const uint8_t *der, size_t len,
                            ec_issuer_t *out);

/* Issuance settings; NULL / 0 fields are unset until ec_profile_finish. */
typedef struct {
    const char *aia_base, *crl_base, *ocsp_url, *cps_url;
    int validity_days;
    apr_array_header_t *eku;                 /* const char *: dotted OIDs */
    apr_array_header_t *key_sizes;           /* int */
    apr_array_header_t *weak_files;          /* const char *: Debian weak-key lists */
    ec_weaklist_t *weak;                     /* loaded by ec_profile_finish */
    int crl_shards;                          /* partitioned CRLs: 2..256; 0 unset, -1 off */
    ec_ct_conf_t ct;                         /* the CT logs (ECertCTLog, ECertCTTimeout) */
} ec_profile_conf_t;

/* The directives this core understands (name, argument count rules in the text):
 * ECertAIABase, ECertCRLBase, ECertOCSPURL, ECertCPSURL, ECertValidityDays, ECertEKU,
 * ECertKeySizes, ECertWeakKeyList, ECertCRLShards, and ec_ct_conf.h's. Returns NULL when taken, an error sentence, or
 * EC_PROFILE_NOT_MINE. */
extern const char EC_PROFILE_NOT_MINE[];
const char *ec_profile_directive(ec_profile_conf_t *c, apr_pool_t *p, const char *name,
                                 int argc, char *const *argv);
ec_profile_conf_t *ec_profile_merge(apr_pool_t *p, const ec_profile_conf_t *base,
                                    const ec_profile_conf_t *add);
/* Defaults from the key ceremony's URLs (ec_ceremony_defaults), 199 days, serverAuth,
 * RSA 2048; loads the weak-key lists. */
apr_status_t ec_profile_finish(ec_profile_conf_t *c, apr_pool_t *p, const char **err);

/* BR 6.3.2: the longest validity (days) allowed for a certificate issued at t. */
int ec_profile_max_days(time_t t);
/* The validity a certificate issued at t gets: configured, capped by the BR. */
int ec_profile_days(const ec_profile_conf_t *c, time_t t);

/* Partitioned CRLs (ECertCRLShards): the shard a new certificate with this serial names, or -1
 * when they are off. From the serial's last two octets, which are CSPRNG output. */
int ec_profile_crl_shard(const ec_profile_conf_t *c, const uint8_t serial[20]);
/* Published file name of an issuer's CRL: its App. C name, or <name>-<shard>.crl. */
const char *ec_profile_crl_file(apr_pool_t *p, const char *crl_file, int shard);
/* The CRL distribution point URL of that file (ECertCRLBase + file). */
const char *ec_profile_crl_url(apr_pool_t *p, const ec_profile_conf_t *c, const char *crl_file,
                               int shard);

/* Which Sub CA issues a type: "ev" for EV, "ssl" otherwise. */
const char *ec_profile_issuer_role(const char *cert_type);
/* dNSNames (A-labels) a certificate of the application carries, CN first. */
apr_array_header_t *ec_profile_names(apr_pool_t *p, const ec_app_t *a);
/* The O= value: Chinese when chosen (or the only one), English otherwise. */
const char *ec_profile_org(const ec_app_t *a);

typedef struct {
    const ec_app_t *app;
    const ec_issuer_t *issuer;
    const uint8_t *spki; size_t spki_len;
    uint8_t serial[20];
    time_t not_before;
    const char *crl_url;                     /* a shard's CDP; NULL: the issuer's App. C CRL */
    int ct_stage;                            /* EC_CT_NONE, EC_CT_PRECERT or EC_CT_FINAL */
    const uint8_t *ct_ext; size_t ct_ext_len;  /* the poison or the SCT list, last extension */
} ec_profile_in_t;

/* The TBSCertificate; *not_after is what it says. */
apr_status_t ec_profile_tbs(apr_pool_t *p, const ec_profile_conf_t *c, const ec_profile_in_t *in,
                            const uint8_t **tbs, size_t *len, time_t *not_after);

#endif
