#include <string.h>
#include <apr_strings.h>
#include "ec_ocsp_entry.h"
#include "ec_util.h"

/* Clocks of responder nodes and signers may differ a little; an answer from further in
 * the future than this was not signed by us for now. */
#define FUTURE_SKEW 300

#define ENTRY_MAGIC 0x3152434fu       /* "OCR1" */

/* Fixed-width, little-endian on every node that shares a file: the replica is node-local
 * and never moves between machines. A record is this header, the key, then the DER; the
 * check covers everything after itself, so it is computed over the record where it lies. */
typedef struct {
    uint8_t check[8];           /* SHA-256 of the rest of the record, cut */
    uint32_t magic;
    int32_t status, reason;
    uint32_t key_len, der_len, pad;
    int64_t revoked_at, this_update, next_update, sc;
    uint8_t der_hash[8];        /* SHA-256 of the DER, cut: the ETag, the same on every path */
} entry_hdr;

static void der_hash(const uint8_t *der, apr_size_t len, uint8_t out[8])
{
    uint8_t h[32];

    ec_sha256(der, len, h);
    memcpy(out, h, 8);
}

static void etag_from(char *etag, const uint8_t hash[8])
{
    static const char hex[] = "0123456789abcdef";

    etag[0] = '"';
    for (int i = 0; i < 8; i++) {
        etag[1 + 2 * i] = hex[hash[i] >> 4];
        etag[2 + 2 * i] = hex[hash[i] & 15];
    }
    etag[17] = '"';
    etag[18] = 0;
}

static void etag_of(char *etag, const uint8_t *der, apr_size_t len)
{
    uint8_t h[8];

    der_hash(der, len, h);
    etag_from(etag, h);
}

ec_ocsp_verdict_t ec_ocsp_entry_verdict(const ec_ocsp_entry_t *e, apr_int64_t now, int refresh, int current)
{
    if (!e || e->status == EC_OCSP_TOMBSTONE || !e->der_len || now >= e->next_update ||
        e->this_update > now + FUTURE_SKEW)
        return EC_OCSP_MISS;
    if (!current || now >= e->this_update + refresh)
        return EC_OCSP_FALLBACK;
    return EC_OCSP_SERVE;
}

ec_ocsp_verdict_t ec_ocsp_rec_verdict(const ec_ocsp_rec_t *rec, apr_int64_t now, int refresh)
{
    if (!rec->found || !rec->has_resp || rec->resp_sc != rec->sc || now >= rec->next_update ||
        rec->this_update > now + FUTURE_SKEW)
        return EC_OCSP_MISS;
    return now >= rec->this_update + refresh ? EC_OCSP_FALLBACK : EC_OCSP_SERVE;
}

int ec_ocsp_entry_replaces(const ec_ocsp_entry_t *next, const ec_ocsp_entry_t *cur)
{
    if (!cur)
        return 1;
    if (next->sc != cur->sc)
        return next->sc > cur->sc;
    if (next->status == EC_OCSP_TOMBSTONE)
        return 0;
    if (cur->status == EC_OCSP_TOMBSTONE)
        return 1;
    return next->this_update > cur->this_update;
}

void ec_ocsp_entry_from_rec(ec_ocsp_entry_t *e, const ec_ocsp_rec_t *rec)
{
    memset(e, 0, sizeof(*e));
    e->status = rec->found ? rec->status : EC_OCSP_UNKNOWN;
    e->reason = rec->reason;
    e->revoked_at = rec->revoked_at;
    e->this_update = rec->this_update;
    e->next_update = rec->next_update;
    e->sc = rec->found ? rec->resp_sc : 0;
    e->der = rec->der;
    e->der_len = rec->der_len;
    if (e->der_len)
        etag_of(e->etag, e->der, e->der_len);
}

void ec_ocsp_entry_tombstone(ec_ocsp_entry_t *e, apr_int64_t sc, apr_int64_t keep_until)
{
    memset(e, 0, sizeof(*e));
    e->status = EC_OCSP_TOMBSTONE;
    e->reason = -1;
    e->sc = sc;
    e->next_update = keep_until;
}

void ec_ocsp_entry_key(char *key, const char *tag, int alg, const char *serial_hex)
{
    apr_snprintf(key, EC_OCSP_KEY_MAX, "%.16s/%d/%.44s", tag, alg == EC_OCSP_HASH_SHA256 ? 2 : 1, serial_hex);
}

void ec_ocsp_issuer_tag(char tag[17], const ec_ocsp_issuer_hash_t *hash)
{
    static const char hex[] = "0123456789abcdef";

    for (int k = 0; k < 8; k++) {
        tag[2 * k] = hex[hash->key_sha1[k] >> 4];
        tag[2 * k + 1] = hex[hash->key_sha1[k] & 15];
    }
    tag[16] = 0;
}

static void check_of(const uint8_t *rec, apr_size_t len, uint8_t out[8])
{
    uint8_t h[32];

    ec_sha256(rec + sizeof(((entry_hdr *)0)->check), len - sizeof(((entry_hdr *)0)->check), h);
    memcpy(out, h, 8);
}

apr_size_t ec_ocsp_entry_encode(uint8_t *buf, const char *key, const ec_ocsp_entry_t *e)
{
    entry_hdr h;
    apr_size_t klen = strnlen(key, EC_OCSP_KEY_MAX), len = sizeof(h) + klen + e->der_len;

    if (len > EC_OCSP_ENTRY_MAX || klen >= EC_OCSP_KEY_MAX)
        return 0;
    memset(&h, 0, sizeof(h));
    h.magic = ENTRY_MAGIC;
    h.status = e->status;
    h.reason = e->reason;
    h.key_len = (uint32_t)klen;
    h.der_len = (uint32_t)e->der_len;
    h.revoked_at = e->revoked_at;
    h.this_update = e->this_update;
    h.next_update = e->next_update;
    h.sc = e->sc;
    if (e->der_len)
        der_hash(e->der, e->der_len, h.der_hash);
    memcpy(buf + sizeof(h), key, klen);
    if (e->der_len)
        memcpy(buf + sizeof(h) + klen, e->der, e->der_len);
    memcpy(buf, &h, sizeof(h));
    check_of(buf, len, h.check);
    memcpy(buf, h.check, sizeof(h.check));
    return len;
}

int ec_ocsp_entry_plausible(const uint8_t *data, apr_size_t len)
{
    entry_hdr h;

    if (len < sizeof(h) || len > EC_OCSP_ENTRY_MAX)
        return 0;
    memcpy(&h, data, sizeof(h));
    if (h.magic != ENTRY_MAGIC || h.key_len >= EC_OCSP_KEY_MAX || (apr_size_t)h.key_len + h.der_len != len - sizeof(h))
        return 0;
    if (h.status == EC_OCSP_TOMBSTONE)
        return h.der_len == 0;
    return (h.status == EC_OCSP_GOOD || h.status == EC_OCSP_REVOKED || h.status == EC_OCSP_UNKNOWN) &&
           h.der_len > 0;
}

apr_int64_t ec_ocsp_entry_expiry(const uint8_t *data, apr_size_t len)
{
    entry_hdr h;

    if (!ec_ocsp_entry_plausible(data, len))
        return -1;
    memcpy(&h, data, sizeof(h));
    return h.next_update;
}

int ec_ocsp_entry_decode(const uint8_t *data, apr_size_t len, const char *key, ec_ocsp_entry_t *e)
{
    entry_hdr h;
    uint8_t check[8];
    apr_size_t klen = strnlen(key, EC_OCSP_KEY_MAX);

    if (!ec_ocsp_entry_plausible(data, len))
        return 0;
    memcpy(&h, data, sizeof(h));
    if (h.key_len != klen || memcmp(data + sizeof(h), key, klen))
        return 0;
    check_of(data, len, check);
    if (memcmp(check, h.check, sizeof(check)))
        return 0;
    e->status = h.status;
    e->reason = h.reason;
    e->revoked_at = h.revoked_at;
    e->this_update = h.this_update;
    e->next_update = h.next_update;
    e->sc = h.sc;
    etag_from(e->etag, h.der_hash);
    e->der = data + sizeof(h) + klen;
    e->der_len = h.der_len;
    return 1;
}
