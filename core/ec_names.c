#include <pthread.h>
#include <string.h>
#include <libpsl.h>
#include <apr_strings.h>
#include "ec_names.h"
#include "ec_log.h"

static pthread_once_t psl_once = PTHREAD_ONCE_INIT;
static const psl_ctx_t *psl;

static void psl_load(void)
{
    /* psl_latest() prefers the newer of Debian's list and the one built in. */
    if (!(psl = psl_latest(NULL)))
        ec_log(EC_LOG_ERR, "ECN0001", "the Public Suffix List does not load: every server name is refused");
}

static const psl_ctx_t *list(void)
{
    pthread_once(&psl_once, psl_load);
    return psl;
}

static const char *tld_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

const char *ec_names_check(apr_pool_t *p, const char *alabel)
{
    const psl_ctx_t *l = list();
    int wildcard = !strncmp(alabel, "*.", 2);
    const char *base = wildcard ? alabel + 2 : alabel, *tld = tld_of(base);

    if (!l)
        return "the Public Suffix List is not available, so no server name can be checked";
    /* Special-use names that ICANN lists but no public CA certifies (RFC 6761, RFC 7686). */
    if (!strcmp(tld, "arpa") || !strcmp(tld, "onion"))
        return apr_psprintf(p, "'%s' is a special-use name (.%s) that a public certificate cannot hold",
                            alabel, tld);
    if (!psl_is_public_suffix2(l, tld, PSL_TYPE_ICANN | PSL_TYPE_NO_STAR_RULE))
        return apr_psprintf(p, "'%s' is an internal or reserved name: .%s is not a top-level domain "
                            "delegated by ICANN (BR 4.2.2)", alabel, tld);
    if (psl_is_public_suffix2(l, base, PSL_TYPE_ICANN))
        return wildcard ? apr_psprintf(p, "'%s' is a wildcard directly on the public suffix %s (BR 3.2.2.6)",
                                       alabel, base)
                        : apr_psprintf(p, "'%s' is a public suffix, not a domain anyone registers", alabel);
    if (wildcard && psl_is_public_suffix2(l, base, PSL_TYPE_PRIVATE))
        return apr_psprintf(p, "'%s' is a wildcard directly on the public suffix %s (BR 3.2.2.6)", alabel, base);
    return NULL;
}

const char *ec_names_registrable(apr_pool_t *p, const char *alabel)
{
    const psl_ctx_t *l = list();
    const char *r;

    if (!l || !(r = psl_registrable_domain(l, alabel)))
        return NULL;
    return apr_pstrdup(p, r);
}

int ec_names_is_suffix(const char *alabel)
{
    const psl_ctx_t *l = list();
    return !l || psl_is_public_suffix2(l, alabel, PSL_TYPE_ANY);
}
