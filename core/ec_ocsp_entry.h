/* One answer as the responder keeps it, and the rules that decide whether it may be
 * served: the single place that knows what "fresh" means for the OCSP responder.
 *
 * An entry is a pre-signed response plus what was true when it was signed (status,
 * thisUpdate, nextUpdate, and the certificate's status_changed, "sc"), or a tombstone: a
 * marker that the certificate changed (at sc) and that no answer signed before that may
 * be served. Entries are kept in the node's replica (ec_ocsp_replica.h) in the encoding
 * below, whose check binds the key, the fields and the DER together, so a damaged or
 * misplaced record is refused instead of served. */
#ifndef EC_OCSP_ENTRY_H
#define EC_OCSP_ENTRY_H

#include <apr_pools.h>
#include <stdint.h>
#include "ec_ocsp_store.h"

#define EC_OCSP_TOMBSTONE 0xff
#define EC_OCSP_ENTRY_MAX 8192       /* encoded entry: header + DER */
#define EC_OCSP_KEY_MAX 80

typedef struct {
    int status;                 /* EC_OCSP_GOOD / REVOKED / UNKNOWN, or EC_OCSP_TOMBSTONE */
    int reason;                 /* -1: no reasonCode */
    apr_int64_t revoked_at, this_update, next_update;   /* seconds */
    apr_int64_t sc;             /* status_changed the answer was signed for (us) */
    char etag[20];              /* "…" of the DER's SHA-256, cut: the same bytes, the same tag */
    const uint8_t *der;
    apr_size_t der_len;
} ec_ocsp_entry_t;

typedef enum {
    EC_OCSP_SERVE,              /* fresh: send it */
    EC_OCSP_FALLBACK,           /* valid but due for refresh or not known current: send it
                                 * only when the store cannot give a better one */
    EC_OCSP_MISS                /* absent, tombstone, expired or not yet valid */
} ec_ocsp_verdict_t;

/* refresh: OCSPRefresh (seconds after thisUpdate); current: the entry's source is known to
 * hold every status change so far (the replica has caught up since start). */
ec_ocsp_verdict_t ec_ocsp_entry_verdict(const ec_ocsp_entry_t *e, apr_int64_t now, int refresh, int current);
/* The same rule for what the store returned: its response counts only when signed for
 * the certificate's current status_changed. */
ec_ocsp_verdict_t ec_ocsp_rec_verdict(const ec_ocsp_rec_t *rec, apr_int64_t now, int refresh);

/* 1 when next may replace cur (cur NULL: nothing there): never an answer for an older
 * status_changed, never a tombstone over an answer for the status it marks, a refresh of
 * the same status only when it is newer. */
int ec_ocsp_entry_replaces(const ec_ocsp_entry_t *next, const ec_ocsp_entry_t *cur);

/* An entry from a store record (der points into rec). */
void ec_ocsp_entry_from_rec(ec_ocsp_entry_t *e, const ec_ocsp_rec_t *rec);
void ec_ocsp_entry_tombstone(ec_ocsp_entry_t *e, apr_int64_t sc, apr_int64_t keep_until);

/* Replica keys: "<issuer tag>/<1|2 for SHA-1|SHA-256>/<serial hex>", the tag being the
 * first 8 octets of the issuer's key hash in hex (ec_ocsp_issuer_tag), which every
 * request names: the key is known without asking the database. */
void ec_ocsp_entry_key(char *key, const char *tag, int alg, const char *serial_hex);
void ec_ocsp_issuer_tag(char tag[17], const ec_ocsp_issuer_hash_t *hash);

/* Encodes e for key into buf (EC_OCSP_ENTRY_MAX octets); 0 when it does not fit. */
apr_size_t ec_ocsp_entry_encode(uint8_t *buf, const char *key, const ec_ocsp_entry_t *e);
/* Decodes a stored record of key; der points into data. 0: malformed or its check fails. */
int ec_ocsp_entry_decode(const uint8_t *data, apr_size_t len, const char *key, ec_ocsp_entry_t *e);
/* Only the header's shape (no check): the quick walk over a whole replica at start. */
int ec_ocsp_entry_plausible(const uint8_t *data, apr_size_t len);
/* nextUpdate from the header alone (the purge of expired records); -1 if implausible. */
apr_int64_t ec_ocsp_entry_expiry(const uint8_t *data, apr_size_t len);

#endif
