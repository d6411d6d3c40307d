/* Publishing: every node mirrors the newest CRL of each published name from the store into a
 * directory of its own and serves the files from there at static-file speed. Nothing is only on
 * one node: the store is the source, a node that starts empty fills its directory from it.
 *
 * A file is replaced by rename, so a reader sees the old or the new CRL, never a mix; its mtime
 * is the CRL's thisUpdate (HTTP Last-Modified). For an issuer with partitioned CRLs, <name>.json
 * is the CCADB "JSON Array of Partitioned CRLs": the URLs of its newest set of partitions and of
 * its full CRL. */
#ifndef EC_CRL_PUBLISH_H
#define EC_CRL_PUBLISH_H

#include <apr_hash.h>
#include "ec_crl_store.h"

typedef struct {
    const char *dir;             /* where the files go */
    const char *crl_base;        /* ECertCRLBase: the URLs in the JSON lists */
    apr_pool_t *pool;            /* lives as long as the mirror */
    apr_hash_t *have;            /* file -> CRL number already written here */
    apr_hash_t *lists;           /* JSON file -> its text as written here */
} ec_crl_mirror_t;

void ec_crl_mirror_init(ec_crl_mirror_t *m, apr_pool_t *pool, const char *dir, const char *crl_base);
/* Writes what is newer in the store than in the directory; *written counts the files. */
apr_status_t ec_crl_mirror_sync(ec_crl_mirror_t *m, ec_store_t *s, apr_pool_t *p, int *written);
/* Fetches one published name from the store into the directory (a request for a file this node
 * has not mirrored yet); APR_ENOENT when the store has no CRL by that name. */
apr_status_t ec_crl_mirror_fetch(ec_store_t *s, apr_pool_t *p, const char *dir, const char *file);

/* A published name: letters, digits, '.', '-', '_', ending in .crl or .json; no path. */
int ec_crl_file_name_ok(const char *name);

#endif
