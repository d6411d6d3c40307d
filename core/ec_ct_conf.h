/* The CT logs issuance submits to (httpd.conf, read by ecertctl too):
 *   ECertCTLog NAME OPERATOR URL KEY START END
 * KEY the log's SubjectPublicKeyInfo in base64 (as log lists publish it), START and END
 * (YYYY-MM-DD, UTC) the temporal shard: the log takes certificates whose notAfter is in
 * [START, END).  ECertCTTimeout SECONDS bounds one submission round (default 10).
 * Without any ECertCTLog line certificates are issued without SCTs. */
#ifndef EC_CT_CONF_H
#define EC_CT_CONF_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "ec_ct.h"

#define EC_CT_DEFAULT_TIMEOUT 10

typedef struct {
    apr_array_header_t *logs;        /* ec_ct_log_t *; NULL: none configured */
    int timeout;                     /* seconds; 0 unset */
} ec_ct_conf_t;

/* NULL when taken, an error sentence, or EC_CT_NOT_MINE. */
extern const char EC_CT_NOT_MINE[];
const char *ec_ct_conf_directive(ec_ct_conf_t *c, apr_pool_t *p, const char *name, int argc,
                                 char *const *argv);
void ec_ct_conf_merge(ec_ct_conf_t *c, const ec_ct_conf_t *base, const ec_ct_conf_t *add);
void ec_ct_conf_finish(ec_ct_conf_t *c);

#endif
