#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "ec_app.h"
#include "ec_audit.h"
#include "ec_dns.h"
#include "ec_names.h"
#include "ec_pin.h"
#include "ec_log.h"

#define APP_COLS "id, subscriber_ref, envelope_ref, server_name, cert_type, org_name_en, " \
    "org_name_zh, branch_name_en, branch_name_zh, br_no, ci_cr_no, other_reg_doc, period_years, " \
    "government, email, ev_street, ev_reg_no, ev_business_category, ev_jurisdiction_c, status, " \
    "confirm_chinese, failed_logins, locked, " \
    "(SELECT r.envelope_ref FROM application r WHERE r.id = application.renewal_of)"
#define APP_NCOLS 24

const ec_stmt_t ec_app_stmts[] = {
    { "app_insert", "INSERT INTO application (subscriber_ref, envelope_ref, pin_hash, server_name, "
      "cert_type, org_name_en, org_name_zh, branch_name_en, branch_name_zh, br_no, ci_cr_no, "
      "other_reg_doc, period_years, government, email, ev_street, ev_reg_no, "
      "ev_business_category, ev_jurisdiction_c, renewal_of) VALUES (%s, %s, %s, %s, %s, NULLIF(%s, ''), "
      "NULLIF(%s, ''), NULLIF(%s, ''), NULLIF(%s, ''), NULLIF(%s, ''), NULLIF(%s, ''), "
      "NULLIF(%s, ''), %s, %s, %s, NULLIF(%s, ''), NULLIF(%s, ''), NULLIF(%s, ''), NULLIF(%s, ''), "
      "NULLIF(%s, ''))" },
    { "app_name_insert", "INSERT INTO application_name (application_id, position, name) "
      "SELECT id, %s, %s FROM application WHERE envelope_ref = %s" },
    { "app_by_envelope", "SELECT " APP_COLS " FROM application WHERE envelope_ref = %s" },
    { "app_names", "SELECT name FROM application_name WHERE application_id = %s ORDER BY position" },
    { "app_pin_hash", "SELECT pin_hash FROM application WHERE id = %s" },
    { "app_set_pin", "UPDATE application SET pin_hash = %s, failed_logins = 0, locked = FALSE "
      "WHERE envelope_ref = %s" },
    { "app_unlock", "UPDATE application SET failed_logins = 0, locked = FALSE WHERE envelope_ref = %s" },
    { "app_renewal_source", "SELECT a.id, a.server_name, "
      "(SELECT COUNT(*) FROM certificate c WHERE c.application_id = a.id AND c.status = 'accepted' "
      "AND c.not_after > UTC_TIMESTAMP()) FROM application a WHERE a.envelope_ref = %s" },
    { "app_exists", "SELECT COUNT(*) FROM application WHERE envelope_ref = %s" },
    { "app_ref_taken", "SELECT COUNT(*) FROM application WHERE envelope_ref = %s OR subscriber_ref = %s" },
    { NULL, NULL }
};

ec_app_t *ec_app_new(apr_pool_t *p)
{
    ec_app_t *a = apr_pcalloc(p, sizeof(*a));
    a->extra = apr_array_make(p, 4, sizeof(const char *));
    a->period_years = 1;
    return a;
}

static int empty(const char *s)
{
    return !s || !*s;
}

static int alnum_max(const char *s, size_t max)
{
    if (empty(s))
        return 1;
    if (strlen(s) > max)
        return 0;
    for (; *s; s++)
        if (!apr_isalnum(*s))
            return 0;
    return 1;
}

/* One code point of valid, shortest-form UTF-8 at s (no surrogates, at most U+10FFFF);
 * its length, or 0. */
static int utf8_next(const unsigned char *s, unsigned *cp)
{
    int n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    static const unsigned least[] = { 0, 0, 0x80, 0x800, 0x10000 };
    unsigned c;

    if (!n)
        return 0;
    c = n == 1 ? s[0] : s[0] & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < least[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

/* What a subject must never carry: controls; the bidirectional, invisible and format
 * characters that make a name read other than it is (U+202E, U+FEFF, zero widths, variation
 * selectors, tags); markup brackets; private use; emoji and pictographs. */
static int misleading(unsigned c)
{
    static const unsigned ranges[][2] = {
        { 0x00, 0x1f }, { 0x7f, 0x9f }, { '<', '<' }, { '>', '>' }, { 0xad, 0xad }, { 0x34f, 0x34f },
        { 0x61c, 0x61c }, { 0x180e, 0x180e }, { 0x200b, 0x200f }, { 0x2028, 0x202e }, { 0x2060, 0x206f },
        { 0x2600, 0x27bf }, { 0x2b00, 0x2bff }, { 0xe000, 0xf8ff }, { 0xfe00, 0xfe0f }, { 0xfeff, 0xfeff },
        { 0xfff0, 0xffff }, { 0x1f000, 0x1faff }, { 0xe0000, 0xe01ef }, { 0xf0000, 0x10ffff },
    };
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
        if (c >= ranges[i][0] && c <= ranges[i][1])
            return 1;
    return 0;
}

/* Text that the certificate's subject will carry: valid UTF-8 of at most max characters
 * (RFC 5280's upper bounds; issuance's lint refuses longer, so the application could never be
 * issued), no space at either end, and nothing misleading. NULL when acceptable. */
static const char *subject_text(apr_pool_t *p, const char *field, const char *s, size_t max)
{
    size_t chars = 0;
    unsigned c;
    int n;

    if (empty(s))
        return NULL;
    if (*s == ' ' || s[strlen(s) - 1] == ' ')
        return apr_psprintf(p, "the %s begins or ends with a space", field);
    for (const unsigned char *q = (const unsigned char *)s; *q; q += n, chars++) {
        if (!(n = utf8_next(q, &c)))
            return apr_psprintf(p, "the %s is not valid UTF-8", field);
        if (misleading(c))
            return apr_psprintf(p, "the %s contains U+%04X, which a certificate's subject must not carry",
                                field, c);
    }
    if (chars > max)
        return apr_psprintf(p, "the %s has %" APR_SIZE_T_FMT " characters; at most %" APR_SIZE_T_FMT
                            " fit in a certificate", field, chars, max);
    return NULL;
}

/* serialNumber is a PrintableString (BR 7.1.4.2.2, X.520): letters, digits and ' ()+,-./:=? */
static int printable(const char *s)
{
    for (; s && *s; s++)
        if (!apr_isalnum(*s) && !strchr(" '()+,-./:=?", *s))
            return 0;
    return 1;
}

static const char *subject_fields(apr_pool_t *p, const ec_app_t *a)
{
    const char *err;

    if ((err = subject_text(p, "English organisation name", a->org_en, 64)) ||
        (err = subject_text(p, "Chinese organisation name", a->org_zh, 64)) ||
        (err = subject_text(p, "English branch name", a->branch_en, 64)) ||
        (err = subject_text(p, "Chinese branch name", a->branch_zh, 64)) ||
        (err = subject_text(p, "street address", a->ev_street, 128)) ||
        (err = subject_text(p, "registration number", a->ev_reg_no, 64)))
        return err;
    if (!printable(a->ev_reg_no))
        return "the registration number (the certificate's serialNumber) has only letters, digits, "
               "spaces and ' ( ) + , - . / : = ?";
    return NULL;
}

static const char *const ev_categories[] = {
    "Private Organization", "Government Entity", "Business Entity", "Non-Commercial Entity", NULL
};

const char *ec_app_validate(apr_pool_t *p, ec_app_t *a)
{
    const char *err, *t = a->cert_type;
    int wildcard, multi;

    if (empty(t) || (strcmp(t, "standard") && strcmp(t, "wildcard") && strcmp(t, "multi-domain") &&
                     strcmp(t, "ev")))
        return apr_psprintf(p, "unknown certificate type '%s' (standard, wildcard, multi-domain or ev)",
                            t ? t : "");
    wildcard = !strcmp(t, "wildcard");
    multi = !strcmp(t, "multi-domain") || !strcmp(t, "ev");
    a->server_name = ec_dns_normalize(p, a->server_name, wildcard, &err);
    if (!a->server_name)
        return apr_psprintf(p, "server name: %s", err);
    if (wildcard && strncmp(a->server_name, "*.", 2))
        return "a wildcard certificate's server name must start with '*.'";
    if ((err = ec_names_check(p, a->server_name)) != NULL)
        return apr_psprintf(p, "server name: %s", err);
    if (!multi && a->extra->nelts)
        return apr_psprintf(p, "a %s certificate has no additional server names", t);
    if (a->extra->nelts > EC_APP_MAX_EXTRA)
        return apr_psprintf(p, "at most %d additional server names are allowed (got %d)",
                            EC_APP_MAX_EXTRA, a->extra->nelts);
    for (int i = 0; i < a->extra->nelts; i++) {
        const char **name = &APR_ARRAY_IDX(a->extra, i, const char *);
        const char *n = ec_dns_normalize(p, *name, 0, &err);
        if (!n)
            return apr_psprintf(p, "additional server name '%s': %s", *name, err);
        if ((err = ec_names_check(p, n)) != NULL)
            return apr_psprintf(p, "additional server name: %s", err);
        if (!strcmp(n, a->server_name))
            return apr_psprintf(p, "additional server name '%s' repeats the server name", *name);
        for (int j = 0; j < i; j++)
            if (!strcmp(n, APR_ARRAY_IDX(a->extra, j, const char *)))
                return apr_psprintf(p, "additional server name '%s' is listed twice", *name);
        *name = n;
    }
    if (empty(a->org_en) && empty(a->org_zh))
        return "an organisation name in English or Chinese is required";
    if ((err = subject_fields(p, a)) != NULL)
        return err;
    if (!alnum_max(a->br_no, 16))
        return "the business registration number has at most 16 letters or digits";
    if (!alnum_max(a->ci_cr_no, 8))
        return "the CI/CR number has at most 8 letters or digits";
    if (!alnum_max(a->other_doc, 30))
        return "the other registration document has at most 30 letters or digits";
    if (a->period_years < 1 || a->period_years > 3)
        return "the subscription period is 1 to 3 years";
    if (empty(a->email) || !strchr(a->email, '@') || strchr(a->email, ' ') || strlen(a->email) > 254)
        return "the authorised representative's e-mail address is not valid";
    if (!strcmp(t, "ev")) {
        int ok = 0;
        if (empty(a->ev_street) || empty(a->ev_reg_no))
            return "an EV application needs the street address and registration number";
        for (int i = 0; ev_categories[i]; i++)
            ok |= a->ev_category && !strcmp(a->ev_category, ev_categories[i]);
        if (!ok)
            return "the EV business category is one of: Private Organization, Government Entity, "
                   "Business Entity, Non-Commercial Entity";
        if (empty(a->ev_jurisdiction))
            a->ev_jurisdiction = "HK";
        if (strlen(a->ev_jurisdiction) != 2 || !apr_isupper(a->ev_jurisdiction[0]) ||
            !apr_isupper(a->ev_jurisdiction[1]))
            return "the EV jurisdiction is a two-letter country code";
    }
    else if (!empty(a->ev_street) || !empty(a->ev_reg_no) || !empty(a->ev_category))
        return "EV fields belong only to an EV application";
    return NULL;
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

const char *ec_app_check_renewal(ec_store_t *s, apr_pool_t *p, ec_app_t *a)
{
    const char *c[3];
    apr_status_t rv;

    rv = ec_store_get1(s, p, "app_renewal_source", 3, c, EC_ARGS(a->renewal_of));
    if (rv == APR_ENOENT)
        return apr_psprintf(p, "there is no application with reference number %s to renew",
                            a->renewal_of);
    if (rv != APR_SUCCESS)
        return "the database could not be read";
    if (strcmp(c[1], a->server_name))
        return apr_psprintf(p, "application %s is for %s, not %s: a renewal keeps the server name",
                            a->renewal_of, c[1], a->server_name);
    /* CPS 4.6.1: expired and revoked certificates are not renewed. */
    if (!strcmp(c[2], "0"))
        return apr_psprintf(p, "application %s has no accepted certificate that is still valid "
                            "(expired and revoked certificates are not renewed)", a->renewal_of);
    a->renewal_id = c[0];
    return NULL;
}

/* User Guide A: the e-mail that invites the authorised representative to submit the CSR. */
static void invite(ec_store_t *s, apr_pool_t *p, const ec_notice_ctx_t *n, const ec_app_t *a, const char *sub)
{
    ec_tmpl_vars *v = ec_tmpl_vars_make(p, NULL);
    static const struct { const char *type, *text; } types[] = {
        { "standard", "e-Cert (Server) / 電子證書（伺服器）" },
        { "wildcard", "e-Cert (Server) with \"Wildcard\" Feature / 具備「通配符」功能的電子證書（伺服器）" },
        { "multi-domain", "e-Cert (Server) with \"Multi-domain\" Feature / 具備「多域名」功能的電子證書（伺服器）" },
        { "ev", "EV e-Cert (Server) / 延伸認證電子證書（伺服器）" },
    };

    ec_tmpl_set(v, "server_name", a->server_name);
    ec_tmpl_set(v, "subscriber_ref", sub);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(types[i].type, a->cert_type))
            ec_tmpl_set(v, "cert_type", types[i].text);
    ec_notice(n, s, p, "csr-invite", a->email, v);
}

static apr_status_t digits_no_leading_zero(char *out, int n)
{
    do {
        if (ec_pin_digits(out, n) != APR_SUCCESS)
            return APR_EGENERAL;
    } while (out[0] == '0');
    return APR_SUCCESS;
}

apr_status_t ec_app_create(ec_store_t *s, apr_pool_t *p, ec_app_t *a, const char *actor,
                           const ec_notice_ctx_t *invitation, char **pin_out)
{
    char env[10], sub[11], pin[17];
    const char *taken, *hash;
    apr_status_t rv;
    int tries, preprinted = a->envelope_ref != NULL;

    /* A fresh pair of reference numbers; the unique keys settle any race. The tries are for
     * numbers already taken only: a leading zero is drawn again, not counted (one draw in
     * five has one, so five tries could all fail). */
    for (tries = 0; tries < 5; tries++) {
        if (digits_no_leading_zero(env, 9) != APR_SUCCESS || digits_no_leading_zero(sub, 10) != APR_SUCCESS)
            return APR_EGENERAL;
        if (preprinted)
            apr_cpystrn(env, a->envelope_ref, sizeof(env));
        if (ec_store_get1(s, p, "app_ref_taken", 1, &taken, EC_ARGS(env, sub)) != APR_SUCCESS)
            return APR_EGENERAL;
        if (!strcmp(taken, "0"))
            break;
    }
    if (tries == 5)
        return preprinted ? APR_EEXIST : APR_EGENERAL;
    if (preprinted)
        apr_cpystrn(pin, *pin_out, sizeof(pin));
    else if (ec_pin_digits(pin, 16) != APR_SUCCESS)
        return APR_EGENERAL;
    if (!(hash = ec_pin_hash(p, pin)))
        return APR_EGENERAL;
    if ((rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    ec_store_exec(s, p, "app_insert", NULL,
                  EC_ARGS(sub, env, hash, a->server_name, a->cert_type, nz(a->org_en), nz(a->org_zh),
                          nz(a->branch_en), nz(a->branch_zh), nz(a->br_no), nz(a->ci_cr_no),
                          nz(a->other_doc), apr_itoa(p, a->period_years), a->government ? "1" : "0",
                          a->email, nz(a->ev_street), nz(a->ev_reg_no), nz(a->ev_category),
                          nz(a->ev_jurisdiction), nz(a->renewal_id)));
    for (int i = 0; i < a->extra->nelts && !s->failed; i++)
        ec_store_exec(s, p, "app_name_insert", NULL,
                      EC_ARGS(apr_itoa(p, i + 1), APR_ARRAY_IDX(a->extra, i, const char *), env));
    if (!s->failed)
        ec_audit(s, p, actor, "application.create",
                 apr_psprintf(p, "envelope %s subscriber %s server %s type %s names %d government %d%s%s",
                              env, sub, a->server_name, a->cert_type, a->extra->nelts, a->government,
                              a->renewal_id ? " renewal of " : "", a->renewal_id ? a->renewal_of : ""));
    if (!s->failed && invitation)
        invite(s, p, invitation, a, sub);
    if ((rv = ec_store_end(s, 0)) != APR_SUCCESS)
        return rv;
    a->envelope_ref = apr_pstrdup(p, env);
    a->subscriber_ref = apr_pstrdup(p, sub);
    *pin_out = apr_pstrdup(p, pin);
    memset(pin, 0, sizeof(pin));
    return APR_SUCCESS;
}

apr_status_t ec_app_load(ec_store_t *s, apr_pool_t *p, const char *envelope_ref, ec_app_t **out)
{
    const char *c[APP_NCOLS];
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    ec_app_t *a;
    apr_status_t rv;

    rv = ec_store_get1(s, p, "app_by_envelope", APP_NCOLS, c, EC_ARGS(envelope_ref));
    if (rv != APR_SUCCESS)
        return rv;
    a = ec_app_new(p);
    a->id = c[0]; a->subscriber_ref = c[1]; a->envelope_ref = c[2]; a->server_name = c[3];
    a->cert_type = c[4]; a->org_en = c[5]; a->org_zh = c[6]; a->branch_en = c[7];
    a->branch_zh = c[8]; a->br_no = c[9]; a->ci_cr_no = c[10]; a->other_doc = c[11];
    a->period_years = atoi(c[12]); a->government = atoi(c[13]); a->email = c[14];
    a->ev_street = c[15]; a->ev_reg_no = c[16]; a->ev_category = c[17]; a->ev_jurisdiction = c[18];
    a->status = c[19]; a->confirm_chinese = atoi(c[20]); a->failed_logins = atoi(c[21]);
    a->locked = atoi(c[22]); a->renewal_of = c[23];
    if ((rv = ec_store_select(s, p, "app_names", &res, EC_ARGS(a->id))) != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS)
        APR_ARRAY_PUSH(a->extra, const char *) = apr_pstrdup(p, ec_store_col(s, row, 0));
    *out = a;
    return APR_SUCCESS;
}

apr_status_t ec_app_pin_hash(ec_store_t *s, apr_pool_t *p, const char *id, const char **hash)
{
    return ec_store_get1(s, p, "app_pin_hash", 1, hash, EC_ARGS(id));
}

static apr_status_t set_envelope(ec_store_t *s, apr_pool_t *p, const char *envelope_ref,
                                 const char *actor, const char *hash, const char *event)
{
    const char *count;
    apr_status_t rv;

    /* Checked first: MySQL counts only changed rows, and an unlock may change nothing. */
    if ((rv = ec_store_get1(s, p, "app_exists", 1, &count, EC_ARGS(envelope_ref))) != APR_SUCCESS)
        return rv;
    if (!strcmp(count, "0"))
        return APR_ENOENT;
    if ((rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    if (hash)
        ec_store_exec(s, p, "app_set_pin", NULL, EC_ARGS(hash, envelope_ref));
    else
        ec_store_exec(s, p, "app_unlock", NULL, EC_ARGS(envelope_ref));
    ec_audit(s, p, actor, event, apr_pstrcat(p, "envelope ", envelope_ref, NULL));
    return ec_store_end(s, 0);
}

apr_status_t ec_app_new_pin(ec_store_t *s, apr_pool_t *p, const char *envelope_ref,
                            const char *actor, char **pin_out)
{
    char pin[17];
    const char *hash;
    apr_status_t rv;

    if (ec_pin_digits(pin, 16) != APR_SUCCESS || !(hash = ec_pin_hash(p, pin)))
        return APR_EGENERAL;
    rv = set_envelope(s, p, envelope_ref, actor, hash, "application.new-pin");
    if (rv == APR_SUCCESS)
        *pin_out = apr_pstrdup(p, pin);
    memset(pin, 0, sizeof(pin));
    return rv;
}

apr_status_t ec_app_unlock(ec_store_t *s, apr_pool_t *p, const char *envelope_ref, const char *actor)
{
    return set_envelope(s, p, envelope_ref, actor, NULL, "application.unlock");
}
