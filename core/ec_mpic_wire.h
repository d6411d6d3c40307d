/* The messages between the CA (primary perspective) and a remote perspective (BR 3.2.2.9):
 * a request to check one name (Website Change file, DNS Change TXT, CAA) or to report health,
 * and the perspective's answer with what it saw. Both are lines of key=value (values
 * percent-encoded) under a first line naming the direction, closed by an HMAC-SHA256 of
 * everything before it with the key the two share:
 *
 *   ecert-mpic/1 request            ecert-mpic/1 answer
 *   client=hk-primary               perspective=tokyo
 *   perspective=tokyo               nonce=<the request's>
 *   nonce=<32 hex digits>           time=<unix seconds>
 *   time=<unix seconds>             check=web
 *   check=web|txt|caa|health        name=www.example.com
 *   name=www.example.com            result=pass|fail|permit|forbid|failed|ok
 *   code=<random value>   (web,txt) reason=<catalogue suffix>
 *   method=<RFC 8657 label> (caa)   detail=<sentence>
 *   issuer=<domain>  (caa, 1..16)   evidence=<what was fetched or looked up>
 *   mac=<64 hex digits>             mac=<64 hex digits>
 *
 * The first line keeps a request from passing for an answer; the nonce binds an answer to its
 * request (a replayed answer names another nonce); the time and the perspective's memory of
 * nonces refuse a replayed request. */
#ifndef EC_MPIC_WIRE_H
#define EC_MPIC_WIRE_H

#include <stdint.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include "ec_mpic_conf.h"

#define EC_MPIC_MAX_MSG      65536
#define EC_MPIC_MAX_ISSUERS  16
#define EC_MPIC_NONCE_HEX    32
#define EC_MPIC_MAX_SKEW_S   60        /* a request older or newer than this is refused */
#define EC_MPIC_CONTENT_TYPE "application/x-ecert-mpic"

typedef enum { EC_MPIC_REQUEST, EC_MPIC_ANSWER } ec_mpic_dir_t;

typedef struct {
    ec_mpic_dir_t dir;
    const char *client;              /* request */
    const char *perspective;
    const char *nonce;
    apr_int64_t time;
    const char *check;               /* web, txt, caa, health */
    const char *name;
    const char *code;                /* web, txt */
    const char *method;              /* caa; may be NULL */
    apr_array_header_t *issuers;     /* caa: const char * */
    const char *result;              /* answer */
    const char *reason, *detail, *evidence;
} ec_mpic_msg_t;

/* The message with its MAC; *len its length. */
char *ec_mpic_encode(apr_pool_t *p, const ec_mpic_msg_t *m, const uint8_t key[EC_MPIC_KEY_LEN], apr_size_t *len);

/* The key of the party a message says it is from (the client of a request, the perspective
 * of an answer), or NULL when there is none such. */
typedef const uint8_t *ec_mpic_key_fn(void *baton, const char *from);

/* APR_SUCCESS and *m; APR_EINVAL when buf is not a well-formed message of that direction;
 * APR_EACCES when its sender is unknown or its MAC is wrong. *why says which, in a sentence
 * that quotes nothing of buf beyond a known field name. */
apr_status_t ec_mpic_decode(apr_pool_t *p, const char *buf, apr_size_t len, ec_mpic_dir_t dir,
                            ec_mpic_key_fn *key, void *baton, ec_mpic_msg_t *m, const char **why);

/* A fresh nonce (32 hex digits). */
const char *ec_mpic_nonce(apr_pool_t *p);

#endif
