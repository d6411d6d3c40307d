/* mod_ocsp: an RFC 6960 / RFC 9919 OCSP responder inside httpd workers. */
#ifndef MOD_OCSP_H
#define MOD_OCSP_H

#include <httpd.h>
#include <http_config.h>
#include "ec_p11.h"

#define OCSP_UNSET -1

typedef struct {
    const char *issuer_file;
    const char *responder_file;
    const char *key_uri;
    ec_p11_key *key;            /* per child */
} ocsp_issuer_conf;

typedef struct {
    const char *p11_module;
    const char *pin_spec;
    char *pin;
    int sessions;
    apr_array_header_t *issuers;   /* ocsp_issuer_conf */
    int validity;               /* seconds */
    int refresh;                /* seconds after thisUpdate */
    int nonce;
    int max_request;            /* octets */
    int max_certids;
    const char *cache_spec;     /* socache provider:args */
    int fresh_rate;             /* fresh signatures per second per child */
    ec_p11 *p11;                /* per child */
} ocsp_srv_conf;

extern module AP_MODULE_DECLARE_DATA ocsp_module;

#endif
