#include <string.h>
#include <apr_strings.h>
#include "ec_flash.h"

static int plain(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

static size_t escaped_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += plain((unsigned char)*s) ? 1 : 3;
    return n;
}

static char *put(char *o, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (plain(c))
            *o++ = (char)c;
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    return o;
}

char *ec_flash_encode(apr_pool_t *p, const apr_table_t *t)
{
    const apr_array_header_t *a = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)a->elts;
    size_t len = 0;
    char *out, *o;

    for (int i = 0; i < a->nelts; i++)
        len += escaped_len(e[i].key) + escaped_len(e[i].val ? e[i].val : "") + 2;
    if (len > EC_FLASH_MAX)
        return NULL;
    o = out = apr_palloc(p, len + 1);
    for (int i = 0; i < a->nelts; i++) {
        if (i)
            *o++ = '&';
        o = put(o, e[i].key);
        *o++ = '=';
        o = put(o, e[i].val ? e[i].val : "");
    }
    *o = 0;
    return out;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* In place; 0 on an octet ec_flash_encode would not have written. */
static int unescape(char *s)
{
    char *o = s;
    for (char *i = s; *i; i++) {
        if (*i == '%') {
            int h = hexval(i[1]), l = h < 0 ? -1 : hexval(i[2]);
            if (l < 0 || (h == 0 && l == 0))
                return 0;
            *o++ = (char)(h << 4 | l);
            i += 2;
        }
        else if (plain((unsigned char)*i))
            *o++ = *i;
        else
            return 0;
    }
    *o = 0;
    return 1;
}

apr_table_t *ec_flash_decode(apr_pool_t *p, const char *s)
{
    apr_table_t *t = apr_table_make(p, 8);
    char *copy, *save, *pair;

    if (!s || strlen(s) > EC_FLASH_MAX)
        return NULL;
    copy = apr_pstrdup(p, s);
    for (pair = apr_strtok(copy, "&", &save); pair; pair = apr_strtok(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        if (!eq)
            return NULL;
        *eq++ = 0;
        if (!*pair || !unescape(pair) || !unescape(eq))
            return NULL;
        apr_table_set(t, pair, eq);
    }
    return t;
}
