#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "ec_login_input.h"
#include "ec_dns.h"

/* Longer than any value of the fields with every separator a person might type. */
#define INPUT_MAX 1024

/* The length of a space at s (ASCII, no-break, figure, narrow no-break or ideographic),
 * else 0. */
static size_t space(const unsigned char *s)
{
    if (*s == ' ' || *s == '\t')
        return 1;
    if (s[0] == 0xC2 && s[1] == 0xA0)                                          /* U+00A0 */
        return 2;
    if ((s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) ||                       /* U+3000 */
        (s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0x87 || s[2] == 0xAF)))       /* U+2007, U+202F */
        return 3;
    return 0;
}

/* A space, or a hyphen or dash (ASCII, U+2010..U+2015, U+2212, full-width U+FF0D). */
static size_t separator(const unsigned char *s)
{
    if (*s == '-')
        return 1;
    if ((s[0] == 0xE2 && s[1] == 0x80 && s[2] >= 0x90 && s[2] <= 0x95) ||
        (s[0] == 0xE2 && s[1] == 0x88 && s[2] == 0x92) || (s[0] == 0xEF && s[1] == 0xBC && s[2] == 0x8D))
        return 3;
    return space(s);
}

/* The digit at s, ASCII or full-width (U+FF10..U+FF19), its length in *len; -1 if none. */
static int digit(const unsigned char *s, size_t *len)
{
    if (apr_isdigit(*s)) {
        *len = 1;
        return *s - '0';
    }
    if (s[0] == 0xEF && s[1] == 0xBC && s[2] >= 0x90 && s[2] <= 0x99) {
        *len = 3;
        return s[2] - 0x90;
    }
    return -1;
}

static const char *digits(apr_pool_t *p, const char *in, int want)
{
    char out[32];
    int n = 0;

    if (!in || strlen(in) > INPUT_MAX)
        return NULL;
    for (const unsigned char *s = (const unsigned char *)in; *s;) {
        size_t len = separator(s);
        int d;
        if (len) {
            s += len;
            continue;
        }
        if ((d = digit(s, &len)) < 0 || n == want)
            return NULL;
        out[n++] = (char)('0' + d);
        s += len;
    }
    out[n] = 0;
    return n == want ? apr_pstrdup(p, out) : NULL;
}

const char *ec_login_pin(apr_pool_t *p, const char *in)
{
    return digits(p, in, 16);
}

const char *ec_login_reference(apr_pool_t *p, const char *in)
{
    return digits(p, in, 9);
}

const char *ec_login_server_name(apr_pool_t *p, const char *in)
{
    const char *err;
    char *name, *end;
    size_t len;

    if (!in || strlen(in) > INPUT_MAX)
        return NULL;
    while ((len = space((const unsigned char *)in)))
        in += len;
    name = apr_pstrdup(p, in);
    /* Spaces after it: from the first one on, nothing else may follow. */
    for (end = name; *end && !space((unsigned char *)end); end++)
        ;
    for (const char *t = end; *t; t += len)
        if (!(len = space((const unsigned char *)t)))
            return NULL;
    *end = 0;
    /* A URL: its host, without scheme, port, path, query or fragment. */
    if (!strncasecmp(name, "https://", 8))
        name += 8;
    else if (!strncasecmp(name, "http://", 7))
        name += 7;
    name[strcspn(name, "/?#")] = 0;
    if ((end = strrchr(name, ':')) != NULL) {
        if (!end[1] || strspn(end + 1, "0123456789") != strlen(end + 1))
            return NULL;
        *end = 0;
    }
    len = strlen(name);
    if (len > 1 && name[len - 1] == '.')
        name[len - 1] = 0;
    return *name ? ec_dns_normalize(p, name, 1, &err) : NULL;
}
