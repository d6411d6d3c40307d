/* mod_ecert: the subscriber pages and the CA's publishing, as httpd glue over the core. */
#ifndef MOD_ECERT_H
#define MOD_ECERT_H

#include <httpd.h>
#include <http_config.h>
#include "ec_p11.h"

#define ECERT_UNSET -1

typedef struct {
    const char *role;           /* ssl | ev */
    const char *cert_file;
    const char *key_uri;
    const uint8_t *cert_der;
    size_t cert_len;
    ec_p11_key *key;            /* per child, after child_init */
} ecert_issuer_t;

typedef struct {
    const char *p11_module;
    const char *pin_spec;
    char *pin;                  /* read in the parent at post_config; never logged */
    int sessions;
    const char *publish_dir;
    const char *root_file;
    apr_array_header_t *issuers;   /* ecert_issuer_t */
    int validity_days;
    const char *templates;
    ec_p11 *p11;                /* per child */
} ecert_srv_conf;

extern module AP_MODULE_DECLARE_DATA ecert_module;

#endif
