/* The message of a login page after the redirect that answers its POST (post/redirect/get):
 * a short-lived cookie for that page's path with a message of a fixed list, two
 * small numbers and the non-secret fields typed (never the PIN), so that reloading, going
 * back or switching the language shows the same message and form again, and nothing is kept
 * on the server per visitor. What it holds is shown escaped, as any typed value is. */
#include <string.h>
#include <httpd.h>
#include <util_cookies.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "mod_ecert.h"

#define FLASH_COOKIE "ecert_flash"
#define FLASH_MAX_AGE 120                 /* seconds: a reload or Back soon after */
#define FIELD_MAX 253                     /* a longer typed value is not refilled */

/* The messages a flash may carry, by their index (is_error: an alert, else a status). */
static const struct { const char *key; int is_error; } messages[] = {
    { "login.failed", 1 }, { "login.locked", 1 }, { "error.rate_limited", 1 }, { "login.malformed", 1 },
    { "login.session_needed", 0 }, { "login.logged_out", 0 },
};
#define NMESSAGES ((int)(sizeof(messages) / sizeof(messages[0])))

static const char *hex(apr_pool_t *p, const char *s)
{
    size_t n = s && strlen(s) <= FIELD_MAX ? strlen(s) : 0;
    char *out = apr_palloc(p, 2 * n + 1);
    for (size_t i = 0; i < n; i++)
        apr_snprintf(out + 2 * i, 3, "%02x", (unsigned char)s[i]);
    out[2 * n] = 0;
    return out;
}

static int nibble(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A typed field back from hex; NULL unless it is what hex() makes of printable text. */
static const char *unhex(apr_pool_t *p, const char *h, size_t n)
{
    char *out;

    if (n % 2 || n > 2 * FIELD_MAX)
        return NULL;
    out = apr_palloc(p, n / 2 + 1);
    for (size_t i = 0; i < n; i += 2) {
        int hi = nibble(h[i]), lo = nibble(h[i + 1]);
        if (hi < 0 || lo < 0 || (hi << 4 | lo) < 0x20 || (hi << 4 | lo) == 0x7f)
            return NULL;
        out[i / 2] = (char)(hi << 4 | lo);
    }
    out[n / 2] = 0;
    return out;
}

static void set_cookie(ecert_req_t *q, const char *path, const char *value, int max_age)
{
    apr_table_add(q->r->err_headers_out, "Set-Cookie",
                  apr_psprintf(q->r->pool, "%s=%s; Path=%s%s; Max-Age=%d; HttpOnly; SameSite=Strict%s",
                               FLASH_COOKIE, value, q->base, path, max_age,
                               ecert_is_https(q->r) ? "; Secure" : ""));
}

void ecert_login_flash_set(ecert_req_t *q, const char *path, const ecert_login_flash_t *f)
{
    int i;
    for (i = 0; i < NMESSAGES && strcmp(messages[i].key, f->key); i++)
        ;
    if (i == NMESSAGES)
        return;
    set_cookie(q, path, apr_psprintf(q->r->pool, "%d:%d:%d:%s:%s", i, f->remaining, f->bad,
                                     hex(q->r->pool, f->server_name), hex(q->r->pool, f->reference)), FLASH_MAX_AGE);
}

void ecert_login_flash_clear(ecert_req_t *q, const char *path)
{
    if (ecert_login_flash_get(q, &(ecert_login_flash_t){ 0 }))
        set_cookie(q, path, "", 0);
}

/* "i:remaining:bad:name:reference", every part checked; anything else is no flash. */
int ecert_login_flash_get(ecert_req_t *q, ecert_login_flash_t *f)
{
    const char *v = NULL, *part[5];
    size_t len[5];
    int n = 0, num[3];

    if (ap_cookie_read(q->r, FLASH_COOKIE, &v, 0) != APR_SUCCESS || !v || strlen(v) > 16 + 4 * FIELD_MAX)
        return 0;
    for (const char *s = v; n < 5; n++) {
        const char *colon = strchr(s, ':');
        part[n] = s;
        len[n] = colon ? (size_t)(colon - s) : strlen(s);
        if (!colon) {
            n++;
            break;
        }
        s = colon + 1;
    }
    if (n != 5 || strchr(part[4], ':'))
        return 0;
    for (int i = 0; i < 3; i++) {
        if (len[i] < 1 || len[i] > 2 || strspn(part[i], "0123456789") < len[i])
            return 0;
        num[i] = atoi(part[i]);
    }
    if (num[0] >= NMESSAGES || num[2] > (EC_LOGIN_BAD_NAME | EC_LOGIN_BAD_REF | EC_LOGIN_BAD_PIN))
        return 0;
    f->key = messages[num[0]].key;
    f->is_error = messages[num[0]].is_error;
    f->remaining = num[1];
    f->bad = num[2];
    f->server_name = unhex(q->r->pool, part[3], len[3]);
    f->reference = unhex(q->r->pool, part[4], len[4]);
    return f->server_name && f->reference;
}
