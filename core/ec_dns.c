#include <string.h>
#include <idn2.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "ec_dns.h"

static const char *check_ldh(const char *name)
{
    size_t total = strlen(name), lablen = 0;
    const char *label = name, *p;
    int labels = 0, alpha_tld = 0;

    if (total == 0 || total > 253)
        return "the server name must be 1 to 253 characters long";
    for (p = name;; p++) {
        if (*p == '.' || *p == 0) {
            lablen = (size_t)(p - label);
            if (lablen == 0 || lablen > 63)
                return "each label of the server name must be 1 to 63 characters long";
            if (label[0] == '-' || label[lablen - 1] == '-')
                return "a label of the server name starts or ends with a hyphen";
            labels++;
            alpha_tld = 0;
            for (const char *q = label; q < p; q++)
                if (apr_isalpha(*q))
                    alpha_tld = 1;
            if (*p == 0)
                break;
            label = p + 1;
            continue;
        }
        if (!(apr_isalnum(*p) || *p == '-'))
            return "the server name may hold only letters, digits, hyphens and dots";
    }
    if (labels < 2)
        return "the server name must be a fully qualified domain name";
    if (!alpha_tld)
        return "the server name must end in a top-level domain, not a number";
    return NULL;
}

const char *ec_dns_normalize(apr_pool_t *p, const char *name, int allow_wildcard,
                             const char **err)
{
    const char *base = name;
    char *ascii = NULL, *out;
    int wildcard = 0, rc;

    *err = NULL;
    if (!name || !*name) {
        *err = "the server name is empty";
        return NULL;
    }
    if (strncmp(name, "*.", 2) == 0) {
        if (!allow_wildcard) {
            *err = "a wildcard is not allowed here";
            return NULL;
        }
        wildcard = 1;
        base = name + 2;
    }
    if (strchr(base, '*')) {
        *err = "a wildcard is allowed only as the whole left-most label";
        return NULL;
    }
    rc = idn2_lookup_u8((const uint8_t *)base, (uint8_t **)&ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK) {
        *err = apr_pstrcat(p, "the server name is not a valid IDNA2008 domain name (",
                           idn2_strerror(rc), ")", NULL);
        return NULL;
    }
    out = apr_pstrdup(p, ascii);
    idn2_free(ascii);
    for (char *c = out; *c; c++)
        *c = (char)apr_tolower(*c);
    if ((*err = check_ldh(out)) != NULL)
        return NULL;
    return wildcard ? apr_pstrcat(p, "*.", out, NULL) : out;
}

const char *ec_dns_display(apr_pool_t *p, const char *alabel)
{
    char *u = NULL;
    const char *out;

    if (!alabel || !strstr(alabel, "xn--"))
        return alabel;
    if (idn2_to_unicode_8z8z(alabel, &u, 0) != IDN2_OK || !u)
        return alabel;
    out = apr_pstrdup(p, u);
    idn2_free(u);
    return out;
}
