/* Minimal strict DER: a writer for the structures the CA signs (certificates, CRLs,
 * OCSP responses) and a reader for what it parses itself (OCSP requests). Only the
 * single-byte tags X.509 and OCSP use; lengths are definite and minimal. */
#ifndef EC_DER_H
#define EC_DER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <apr_pools.h>

enum {
    EC_DER_BOOLEAN = 0x01, EC_DER_INTEGER = 0x02, EC_DER_BITSTRING = 0x03,
    EC_DER_OCTETSTRING = 0x04, EC_DER_NULL = 0x05, EC_DER_OID = 0x06,
    EC_DER_ENUMERATED = 0x0a, EC_DER_UTF8 = 0x0c, EC_DER_PRINTABLE = 0x13,
    EC_DER_IA5 = 0x16, EC_DER_UTCTIME = 0x17, EC_DER_GENTIME = 0x18,
    EC_DER_SEQUENCE = 0x30, EC_DER_SET = 0x31
};
#define EC_DER_CTX(n)  (0xa0 | (n))   /* [n] constructed, context-specific */
#define EC_DER_CTXP(n) (0x80 | (n))   /* [n] primitive, context-specific */

#define EC_DER_MAX_DEPTH 24

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    size_t open[EC_DER_MAX_DEPTH];
    int depth;
    int failed;                 /* sticky: allocation failure or bad nesting */
} ec_der_w;

void ec_der_w_init(ec_der_w *w);
void ec_der_w_free(ec_der_w *w);
/* Copies the finished encoding into pool and frees the writer; NULL on any error. */
const uint8_t *ec_der_w_take(ec_der_w *w, apr_pool_t *pool, size_t *len);

void ec_der_begin(ec_der_w *w, uint8_t tag);
void ec_der_end(ec_der_w *w);
void ec_der_raw(ec_der_w *w, const void *data, size_t len);
void ec_der_tlv(ec_der_w *w, uint8_t tag, const void *data, size_t len);
/* INTEGER from an unsigned big-endian magnitude (leading zeros stripped, 0x00 added
 * when the top bit is set so the value stays positive). */
void ec_der_uint(ec_der_w *w, const uint8_t *mag, size_t len);
void ec_der_int(ec_der_w *w, unsigned long value);
void ec_der_bool(ec_der_w *w, int value);
void ec_der_null(ec_der_w *w);
/* OID from dotted text; marks the writer failed on a malformed OID. */
void ec_der_oid(ec_der_w *w, const char *dotted);
void ec_der_string(ec_der_w *w, uint8_t tag, const char *s);
void ec_der_bitstring(ec_der_w *w, const uint8_t *data, size_t len);
/* RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
void ec_der_time(ec_der_w *w, time_t t);
void ec_der_gentime(ec_der_w *w, time_t t);

/* Reader over a borrowed buffer. */
typedef struct {
    const uint8_t *p;
    size_t n;
} ec_der_r;

/* Reads one TLV whose tag is `tag` (or any tag when tag < 0) from the front of in.
 * val: the contents; whole (may be NULL): the TLV bytes; *got_tag (may be NULL) the tag.
 * Returns 0, or -1 on malformed DER or tag mismatch (in is then unchanged). */
int ec_der_get(ec_der_r *in, int tag, ec_der_r *val, ec_der_r *whole, int *got_tag);
int ec_der_peek(const ec_der_r *in);   /* next tag, or -1 at end */
/* 0 when buf is exactly one TLV in strict DER all the way down: definite minimal lengths,
 * no constructed form of a universal type other than SEQUENCE and SET; -1 otherwise. */
int ec_der_strict(const uint8_t *buf, size_t n);
/* Decodes an OID's contents to dotted text into buf; -1 if malformed or too long. */
int ec_der_oid_text(const ec_der_r *oid, char *buf, size_t size);
/* Non-negative INTEGER contents -> minimal magnitude (strict DER: no redundant 0x00). */
int ec_der_uint_get(const ec_der_r *val, ec_der_r *mag);
int ec_der_time_get(const ec_der_r *val, int tag, time_t *t);

#endif
