/* The CRL archive in the store (CPS 4.9.5: every CRL kept at least 7 years): one row per CRL
 * and its DER in chunks, read back whole or streamed, never through one large value. */
#ifndef EC_CRL_STORE_H
#define EC_CRL_STORE_H

#include <time.h>
#include "ec_crl.h"
#include "ec_store.h"

#define EC_CRL_CHUNK (256 * 1024)

extern const ec_stmt_t ec_crl_store_stmts[];

typedef struct {
    const char *issuer_id;
    ec_crl_number_t number;
    const char *file;            /* published name, e.g. eCertSCA3-17CRL1.crl */
    int shard;                   /* -1: the full CRL (or the ARL) */
    time_t this_update, next_update;
    long entries;
    size_t size;
    int chunks;
    uint8_t sha256[32];
    int scheduled;               /* a regularly scheduled one (BR 7.2) */
    const char *cause;           /* first, schedule, renewal, revocation, request */
} ec_crl_rec_t;

/* The row and its chunks, inside the caller's open transaction. */
apr_status_t ec_crl_store_put(ec_store_t *s, apr_pool_t *p, const ec_crl_rec_t *rec,
                              const uint8_t *der);

typedef apr_status_t ec_crl_rec_fn(void *baton, const ec_crl_rec_t *rec);
/* The newest CRL of every published file of every issuer. */
apr_status_t ec_crl_store_newest(ec_store_t *s, apr_pool_t *p, ec_crl_rec_fn *fn, void *baton);
/* The newest CRL published as file; APR_ENOENT if there is none. */
apr_status_t ec_crl_store_find(ec_store_t *s, apr_pool_t *p, const char *file, ec_crl_rec_t *rec);
/* Every CRL of an issuer (NULL: of all), newest first, at most limit. */
apr_status_t ec_crl_store_list(ec_store_t *s, apr_pool_t *p, const char *issuer_id, int limit,
                               ec_crl_rec_fn *fn, void *baton);
/* One CRL by issuer and number; APR_ENOENT if there is none. */
apr_status_t ec_crl_store_get(ec_store_t *s, apr_pool_t *p, const char *issuer_id,
                              ec_crl_number_t number, ec_crl_rec_t *rec);

typedef apr_status_t ec_crl_bytes_fn(void *baton, const uint8_t *data, size_t len);
/* Streams the DER to fn one chunk at a time; APR_EGENERAL when what the store holds is not the
 * size or the SHA-256 its row records (fn has then seen bytes that must not be used). */
apr_status_t ec_crl_store_read(ec_store_t *s, apr_pool_t *p, const ec_crl_rec_t *rec,
                               ec_crl_bytes_fn *fn, void *baton);

#endif
