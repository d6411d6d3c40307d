#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include "ec_util.h"

char *ec_hex(apr_pool_t *p, const uint8_t *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char *out = apr_palloc(p, 2 * len + 1);
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * len] = 0;
    return out;
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

uint8_t *ec_unhex(apr_pool_t *p, const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    uint8_t *out;

    if (n % 2)
        return NULL;
    out = apr_palloc(p, n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return NULL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return out;
}

apr_status_t ec_random(uint8_t *out, size_t len)
{
    return RAND_bytes(out, (int)len) == 1 ? APR_SUCCESS : APR_EGENERAL;
}

void ec_sha1(const void *data, size_t len, uint8_t out[20])
{
    EVP_Digest(data, len, out, NULL, EVP_sha1(), NULL);
}

void ec_sha256(const void *data, size_t len, uint8_t out[32])
{
    EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL);
}

char *ec_pem(apr_pool_t *p, const char *label, const uint8_t *der, size_t len)
{
    size_t b64len = 4 * ((len + 2) / 3);
    unsigned char *b64 = apr_palloc(p, b64len + 1);
    char *out, *o;

    EVP_EncodeBlock(b64, der, (int)len);
    out = o = apr_palloc(p, b64len + b64len / 64 + 2 * strlen(label) + 64);
    o += sprintf(o, "-----BEGIN %s-----\n", label);
    for (size_t i = 0; i < b64len; i += 64) {
        size_t n = b64len - i < 64 ? b64len - i : 64;
        memcpy(o, b64 + i, n);
        o += n;
        *o++ = '\n';
    }
    sprintf(o, "-----END %s-----\n", label);
    return out;
}

apr_status_t ec_read_file(apr_pool_t *p, const char *path, size_t max, char **data, size_t *len)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;
    apr_size_t n;

    if ((rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p)) != APR_SUCCESS)
        return rv;
    if ((rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f)) != APR_SUCCESS)
        goto out;
    if ((apr_size_t)fi.size > max) {
        rv = APR_EINVAL;
        goto out;
    }
    n = (apr_size_t)fi.size;
    *data = apr_palloc(p, n + 1);
    rv = apr_file_read_full(f, *data, n, &n);
    if (rv == APR_EOF)
        rv = APR_SUCCESS;
    (*data)[n] = 0;
    *len = n;
out:
    apr_file_close(f);
    return rv;
}

apr_status_t ec_read_cert(apr_pool_t *p, const char *path, const uint8_t **der, size_t *len)
{
    char *data;
    size_t n;
    apr_status_t rv;
    X509 *x = NULL;
    BIO *bio;
    unsigned char *out = NULL;
    int k;

    if ((rv = ec_read_file(p, path, 1 << 20, &data, &n)) != APR_SUCCESS)
        return rv;
    bio = BIO_new_mem_buf(data, (int)n);
    if (bio)
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!x) {
        const unsigned char *q = (const unsigned char *)data;
        x = d2i_X509(NULL, &q, (long)n);
    }
    if (!x)
        return APR_EINVAL;
    k = i2d_X509(x, &out);
    X509_free(x);
    if (k <= 0)
        return APR_EINVAL;
    *der = apr_pmemdup(p, out, (apr_size_t)k);
    *len = (size_t)k;
    OPENSSL_free(out);
    return APR_SUCCESS;
}

int ec_memeq(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

char *ec_sqltime(apr_pool_t *p, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    return apr_psprintf(p, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

time_t ec_sqltime_parse(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!s || sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                     &tm.tm_min, &tm.tm_sec) != 6)
        return (time_t)-1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

void ec_wipe(void *data, size_t len)
{
    if (data && len)
        OPENSSL_cleanse(data, len);
}

const char *ec_clip(apr_pool_t *p, const char *s, size_t max)
{
    size_t n;
    if (!s || strlen(s) <= max)
        return s ? s : "";
    n = max - 16;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return apr_pstrcat(p, apr_pstrndup(p, s, n), " [... cut]", NULL);
}
