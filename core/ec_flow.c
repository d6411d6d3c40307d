#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "ec_flow.h"
#include "ec_audit.h"
#include "ec_revoke.h"
#include "ec_util.h"

#define CERT_COLS "c.issuer_id, ca.name, c.serial_hex, c.status, c.server_name, HEX(c.cert_der), " \
    "c.not_before, c.not_after, COALESCE(c.revoked_at, ''), COALESCE(c.revocation_reason, -1), " \
    "c.published_at IS NOT NULL"
#define NCOLS 11
/* A revoked serial the repository never published: its status without its content. */
#define SERIAL_COLS "c.issuer_id, ca.name, c.serial_hex, c.status, '', NULL, c.not_before, c.not_after, " \
    "COALESCE(c.revoked_at, ''), COALESCE(c.revocation_reason, -1), 0"

const ec_stmt_t ec_flow_stmts[] = {
    { "flow_app_envelope", "SELECT envelope_ref FROM application WHERE id = %s" },
    { "flow_lock_app", "SELECT status FROM application WHERE id = %s FOR UPDATE" },
    { "flow_confirm", "UPDATE application SET status = 'confirmed', confirm_chinese = %s WHERE id = %s" },
    { "flow_cert", "SELECT " CERT_COLS " FROM certificate c JOIN ca ON ca.id = c.issuer_id "
      "WHERE c.application_id = %s ORDER BY c.created_at DESC, c.not_before DESC LIMIT 1" },
    { "flow_accept_cert", "UPDATE certificate SET status = 'accepted', published_at = NOW() "
      "WHERE issuer_id = %s AND serial_hex = %s AND status = 'issued'" },
    { "flow_app_status", "UPDATE application SET status = %s WHERE id = %s" },
    /* Published certificates, revoked ones included (CPS 2.1, 4.4.2). A pending certificate
     * is not yet published; a rejected one never was. */
    { "flow_search_name", "SELECT " CERT_COLS " FROM certificate_name n JOIN certificate c "
      "ON c.issuer_id = n.issuer_id AND c.serial_hex = n.serial_hex JOIN ca ON ca.id = c.issuer_id "
      "WHERE n.name = %s AND c.published_at IS NOT NULL ORDER BY c.not_before DESC LIMIT 50" },
    /* By serial, also the revoked serials never published: a rejected certificate, a signing
     * record revoked because its certificate was never delivered, a precertificate whose
     * certificate was never made (sql/011, sql/013; their cert_der is no certificate). The CPS
     * publishes only accepted certificates; the BR (4.10.2) want the status of every certificate
     * the CA signed available, and they prevail: whoever holds such a serial (from a CRL, a CT
     * log) learns it is revoked, but not its content, nor a name never published. */
    { "flow_search_serial", "SELECT " CERT_COLS " FROM certificate c JOIN ca ON ca.id = c.issuer_id "
      "WHERE c.serial_hex = %s AND c.published_at IS NOT NULL UNION ALL "
      "SELECT " SERIAL_COLS " FROM certificate c JOIN ca ON ca.id = c.issuer_id "
      "WHERE c.serial_hex = %s AND c.published_at IS NULL AND c.status = 'revoked' "
      "ORDER BY 7 DESC LIMIT 50" },
    { "flow_public_cert", "SELECT " CERT_COLS " FROM certificate c JOIN ca ON ca.id = c.issuer_id "
      "WHERE c.issuer_id = %s AND c.serial_hex = %s AND c.published_at IS NOT NULL" },
    { NULL, NULL }
};

static void cert_from(apr_pool_t *p, const char *const *c, ec_flow_cert_t *out)
{
    size_t n = 0;
    memset(out, 0, sizeof(*out));
    out->issuer_id = apr_pstrdup(p, c[0]);
    out->issuer_cn = apr_pstrdup(p, c[1]);
    out->serial_hex = apr_pstrdup(p, c[2]);
    out->status = apr_pstrdup(p, c[3]);
    out->server_name = apr_pstrdup(p, c[4]);
    out->der = c[5] ? ec_unhex(p, c[5], &n) : NULL;
    out->der_len = n;
    out->not_before = ec_sqltime_parse(c[6]);
    out->not_after = ec_sqltime_parse(c[7]);
    out->revoked_at = *c[8] ? ec_sqltime_parse(c[8]) : 0;
    out->reason = atoi(c[9]);
    out->published = !strcmp(c[10], "1");
}

apr_status_t ec_flow_app_by_id(ec_store_t *s, apr_pool_t *p, const char *id, ec_app_t **a)
{
    const char *env;
    apr_status_t rv = ec_store_get1(s, p, "flow_app_envelope", 1, &env, EC_ARGS(id));
    return rv == APR_SUCCESS ? ec_app_load(s, p, env, a) : rv;
}

/* Locks the application row and checks its status is one of want (space-separated). */
static apr_status_t lock_app(ec_store_t *s, apr_pool_t *p, ec_app_t *a, const char *want)
{
    const char *status;
    char *w = apr_pstrcat(p, " ", want, " ", NULL);
    apr_status_t rv = ec_store_get1(s, p, "flow_lock_app", 1, &status, EC_ARGS(a->id));
    if (rv != APR_SUCCESS)
        return rv;
    return strstr(w, apr_pstrcat(p, " ", status, " ", NULL)) ? APR_SUCCESS : APR_EINVAL;
}

apr_status_t ec_flow_confirm(ec_store_t *s, apr_pool_t *p, ec_app_t *a, int chinese,
                             const char *actor)
{
    apr_status_t rv;

    chinese = chinese && a->org_zh && *a->org_zh;
    if ((rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    if ((rv = lock_app(s, p, a, "approved confirmed")) == APR_SUCCESS) {
        ec_store_exec(s, p, "flow_confirm", NULL, EC_ARGS(chinese ? "1" : "0", a->id));
        ec_audit(s, p, actor, "application.confirm",
                 apr_psprintf(p, "application %s envelope %s organisation name in %s", a->id,
                              a->envelope_ref, chinese ? "Chinese" : "English"));
    }
    rv = ec_store_end(s, rv != APR_SUCCESS) == APR_SUCCESS ? APR_SUCCESS : (rv ? rv : APR_EGENERAL);
    if (rv == APR_SUCCESS) {
        a->status = "confirmed";
        a->confirm_chinese = chinese;
    }
    return rv;
}

apr_status_t ec_flow_certificate(ec_store_t *s, apr_pool_t *p, const char *app_id, ec_flow_cert_t *c)
{
    const char *cols[NCOLS];
    apr_status_t rv = ec_store_get1(s, p, "flow_cert", NCOLS, cols, EC_ARGS(app_id));
    if (rv == APR_SUCCESS)
        cert_from(p, cols, c);
    return rv;
}

apr_status_t ec_flow_accept(ec_store_t *s, apr_pool_t *p, ec_app_t *a, const char *actor)
{
    ec_flow_cert_t c;
    apr_status_t rv;

    if ((rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    if ((rv = lock_app(s, p, a, "issued")) == APR_SUCCESS &&
        (rv = ec_flow_certificate(s, p, a->id, &c)) == APR_SUCCESS) {
        ec_store_exec(s, p, "flow_accept_cert", NULL, EC_ARGS(c.issuer_id, c.serial_hex));
        ec_store_exec(s, p, "flow_app_status", NULL, EC_ARGS("accepted", a->id));
        ec_audit(s, p, actor, "certificate.accept",
                 apr_psprintf(p, "application %s issuer %s serial %s published in the repository",
                              a->id, c.issuer_id, c.serial_hex));
    }
    if (ec_store_end(s, rv != APR_SUCCESS) != APR_SUCCESS && rv == APR_SUCCESS)
        rv = APR_EGENERAL;
    if (rv == APR_SUCCESS)
        a->status = "accepted";
    return rv;
}

apr_status_t ec_flow_reject(ec_store_t *s, apr_pool_t *p, ec_app_t *a, int reason,
                            const char *why, const char *actor)
{
    ec_flow_cert_t c;
    apr_status_t rv;

    if (reason != EC_REASON_UNSPECIFIED && reason != 4)
        return APR_EINVAL;
    if ((rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    if ((rv = lock_app(s, p, a, "issued")) == APR_SUCCESS &&
        (rv = ec_flow_certificate(s, p, a->id, &c)) == APR_SUCCESS &&
        (rv = ec_revoke(s, p, c.issuer_id, c.serial_hex, reason, time(NULL), actor,
                        apr_pstrcat(p, "rejected by the subscriber: ", why, NULL))) == APR_SUCCESS) {
        ec_store_exec(s, p, "flow_app_status", NULL, EC_ARGS("rejected", a->id));
        ec_audit(s, p, actor, "certificate.reject",
                 apr_psprintf(p, "application %s issuer %s serial %s: %s", a->id, c.issuer_id,
                              c.serial_hex, why));
    }
    if (ec_store_end(s, rv != APR_SUCCESS) != APR_SUCCESS && rv == APR_SUCCESS)
        rv = APR_EGENERAL;
    if (rv == APR_SUCCESS)
        a->status = "rejected";
    return rv;
}

apr_status_t ec_flow_search(ec_store_t *s, apr_pool_t *p, const char *name, const char *serial_hex,
                            apr_array_header_t **found)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_status_t rv;

    *found = apr_array_make(p, 4, sizeof(ec_flow_cert_t));
    rv = name ? ec_store_select(s, p, "flow_search_name", &res, EC_ARGS(name))
              : ec_store_select(s, p, "flow_search_serial", &res, EC_ARGS(serial_hex, serial_hex));
    if (rv != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS) {
        const char *cols[NCOLS];
        for (int i = 0; i < NCOLS; i++)
            cols[i] = ec_store_col(s, row, i);
        cert_from(p, cols, apr_array_push(*found));
    }
    return APR_SUCCESS;
}

apr_status_t ec_flow_public_cert(ec_store_t *s, apr_pool_t *p, const char *issuer_id,
                                 const char *serial_hex, ec_flow_cert_t *c)
{
    const char *cols[NCOLS];
    apr_status_t rv = ec_store_get1(s, p, "flow_public_cert", NCOLS, cols, EC_ARGS(issuer_id, serial_hex));
    if (rv == APR_SUCCESS)
        cert_from(p, cols, c);
    return rv;
}

char *ec_flow_serial_spaced(apr_pool_t *p, const char *hex)
{
    size_t n = strlen(hex), k = 0;
    int odd = n % 2;
    char *out = apr_palloc(p, n * 3 / 2 + 3);

    for (size_t i = 0; i < n; i++) {
        if (i && (i + odd) % 2 == 0)
            out[k++] = ' ';
        if (i == 0 && odd)
            out[k++] = '0';
        out[k++] = (char)apr_tolower(hex[i]);
    }
    out[k] = 0;
    return out;
}

const char *ec_flow_serial_norm(apr_pool_t *p, const char *in)
{
    char *out = apr_palloc(p, strlen(in) + 2), *o = out + 1;

    while (*in == ' ' || *in == '\t')
        in++;
    if (!strncasecmp(in, "serial=", 7))      /* openssl x509 -serial */
        in += 7;
    if (in[0] == '0' && (in[1] == 'x' || in[1] == 'X'))
        in += 2;
    for (; *in; in++) {
        if (*in == ' ' || *in == '\t' || *in == ':' || *in == '-')
            continue;
        if (!apr_isxdigit(*in))
            return NULL;
        if (o == out + 1 && *in == '0')
            continue;                        /* leading zeros go ... */
        *o++ = (char)apr_tolower(*in);
    }
    *o = 0;
    if (o == out + 1 || o - (out + 1) > 40)
        return NULL;
    if ((o - (out + 1)) % 2) {               /* ... but whole octets stay: "0e b9" is "0eb9" */
        out[0] = '0';
        return out;
    }
    return out + 1;
}

const char *ec_flow_query_host(apr_pool_t *p, const char *in)
{
    const char *s = in, *scheme = strstr(in, "://"), *at, *colon;
    size_t n;

    while (apr_isspace(*s))
        s++;
    if (scheme) {
        const char *c = s;
        while (c < scheme && (apr_isalnum(*c) || *c == '+' || *c == '-' || *c == '.'))
            c++;
        if (c == scheme && c > s)
            s = scheme + 3;
    }
    n = strcspn(s, "/?#");
    if ((at = memchr(s, '@', n)) != NULL) {  /* user:password@ */
        n -= (size_t)(at + 1 - s);
        s = at + 1;
    }
    if ((colon = memchr(s, ':', n)) != NULL && colon + 1 < s + n &&
        strspn(colon + 1, "0123456789") == (size_t)(s + n - colon - 1))
        n = (size_t)(colon - s);            /* :port */
    while (n && apr_isspace(s[n - 1]))
        n--;
    if (n > 1 && s[n - 1] == '.')             /* the root's dot of a fully qualified name */
        n--;
    return apr_pstrmemdup(p, s, n);
}
