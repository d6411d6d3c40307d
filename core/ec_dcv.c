#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "ec_dcv.h"
#include "ec_audit.h"
#include "ec_caa.h"
#include "ec_profile.h"
#include "ec_util.h"

#define EPOCH_S(c) "TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', " c ")"

const ec_stmt_t ec_dcv_stmts[] = {
    { "dcv_code_live", "SELECT id, code, " EPOCH_S("created_at") ", " EPOCH_S("expires_at") " FROM dcv_code "
      "WHERE application_id = %s AND method = %s AND expires_at > %s AND NOT spent "
      "ORDER BY created_at DESC, id DESC LIMIT 10" },
    { "dcv_code_insert", "INSERT INTO dcv_code (application_id, method, code, code_sha256, domain, email_to, "
      "created_at, expires_at) VALUES (%s, %s, NULLIF(%s, ''), UNHEX(%s), NULLIF(%s, ''), NULLIF(%s, ''), %s, %s)" },
    { "dcv_code_last", "SELECT id FROM dcv_code WHERE code_sha256 = UNHEX(%s)" },
    { "dcv_email_current", "SELECT email_to, " EPOCH_S("expires_at") ", tries FROM dcv_code WHERE application_id = %s "
      "AND method = 'email' AND expires_at > %s AND NOT spent ORDER BY id DESC LIMIT 1" },
    /* A Website or DNS Change validation counts only with its corroboration (BR 3.2.2.9):
     * none made before the CA corroborated is reused. */
    { "dcv_validations", "SELECT v.id, v.domain, v.method, v.covers_below, " EPOCH_S("v.validated_at") ", "
      "v.application_id FROM dcv_validation v JOIN dcv_attempt t ON t.id = v.attempt_id "
      "WHERE v.org_key = UNHEX(%s) AND v.initiated_at >= %s AND (v.method = 'email' OR t.mpic_check_id IS NOT NULL) "
      "ORDER BY v.validated_at DESC LIMIT 1000" },
    { "dcv_attempts", "SELECT name, method, passed, reason, detail, " EPOCH_S("at") " FROM dcv_attempt "
      "WHERE application_id = %s ORDER BY id DESC LIMIT 500" },
    { "dcv_caa_last", "SELECT name, verdict, reason, COALESCE(detail, ''), " EPOCH_S("at") " FROM caa_check "
      "WHERE application_id = %s ORDER BY id DESC LIMIT 500" },
    { "dcv_job_get", "SELECT kind, state FROM dcv_job WHERE application_id = %s AND state <> 'done'" },
    { "dcv_attempt_insert", "INSERT INTO dcv_attempt (application_id, code_id, name, method, code_sha256, at, "
      "passed, reason, detail, url, email_to, dns, method_ref, mpic_check_id) VALUES (%s, NULLIF(%s, ''), %s, %s, "
      "UNHEX(NULLIF(%s, '')), %s, %s, %s, %s, NULLIF(%s, ''), NULLIF(%s, ''), NULLIF(%s, ''), %s, NULLIF(%s, ''))" },
    { "dcv_last_id", "SELECT LAST_INSERT_ID()" },
    { "dcv_validation_insert", "INSERT INTO dcv_validation (org_key, application_id, domain, method, covers_below, "
      "method_ref, initiated_at, validated_at, attempt_id) VALUES (UNHEX(%s), %s, %s, %s, %s, %s, %s, %s, %s)" },
    { "dcv_caa_insert", "INSERT INTO caa_check (application_id, name, at, verdict, reason, detail, relevant_at, dns, "
      "mpic_check_id) VALUES (%s, %s, %s, %s, %s, NULLIF(%s, ''), NULLIF(%s, ''), %s, NULLIF(%s, ''))" },
    { NULL, NULL }
};

const char *ec_dcv_method_name(ec_dcv_method_t m)
{
    return m == EC_DCV_WEBSITE ? "website" : m == EC_DCV_DNS ? "dns" : "email";
}

ec_dcv_method_t ec_dcv_method_parse(const char *s)
{
    if (!s)
        return 0;
    return !strcmp(s, "website") ? EC_DCV_WEBSITE : !strcmp(s, "dns") ? EC_DCV_DNS
         : !strcmp(s, "email") ? EC_DCV_EMAIL : 0;
}

const char *ec_dcv_method_ref(ec_dcv_method_t m)
{
    return m == EC_DCV_WEBSITE ? "BR " EC_DCV_BR_VERSION " 3.2.2.4.18"
         : m == EC_DCV_DNS ? "BR " EC_DCV_BR_VERSION " 3.2.2.4.7" : "BR " EC_DCV_BR_VERSION " 3.2.2.4.4";
}

const char *ec_dcv_method_caa_label(ec_dcv_method_t m)
{
    return m == EC_DCV_WEBSITE ? EC_CAA_METHOD_WEBSITE : m == EC_DCV_DNS ? EC_CAA_METHOD_DNS : EC_CAA_METHOD_EMAIL;
}

/* Midnight UTC of a date: the BR's dates are days, and UTC is the CA's clock. */
static time_t day(int y, int m, int d)
{
    struct tm tm = { 0 };
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    return timegm(&tm);
}

int ec_dcv_reuse_days(time_t t)
{
    return t < day(2026, 3, 15) ? 398 : t < day(2027, 3, 15) ? 200 : t < day(2029, 3, 15) ? 100 : 10;
}

int ec_dcv_email_usable(time_t t)
{
    return t < day(2028, 3, 15);
}

int ec_dcv_methods(const ec_dcv_conf_t *c, const ec_app_t *a, time_t t)
{
    int m = EC_DCV_DNS, wildcard = !strncmp(a->server_name, "*.", 2);
    if (!wildcard)
        m |= EC_DCV_WEBSITE;
    if (c->email && ec_dcv_email_usable(t) && strcmp(a->cert_type, "multi-domain") && !a->extra->nelts)
        m |= EC_DCV_EMAIL;
    return m;
}

static const char *lower(apr_pool_t *p, const char *s)
{
    char *o = apr_pstrdup(p, s ? s : "");
    for (char *q = o; *q; q++)
        *q = (char)apr_tolower(*q);
    return o;
}

const uint8_t *ec_dcv_org_key(apr_pool_t *p, const ec_app_t *a)
{
    uint8_t *k = apr_palloc(p, 32);
    const char *id = a->br_no && *a->br_no ? apr_pstrcat(p, "br:", lower(p, a->br_no), NULL)
                   : a->ci_cr_no && *a->ci_cr_no ? apr_pstrcat(p, "ci:", lower(p, a->ci_cr_no), NULL)
                   : apr_pstrcat(p, "org:", lower(p, a->org_en), "\n", a->org_zh ? a->org_zh : "", NULL);
    ec_sha256(id, strlen(id), k);
    return k;
}

apr_status_t ec_dcv_new_code(apr_pool_t *p, char **code)
{
    static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
    uint8_t r[20];
    char *o = apr_palloc(p, 33);

    if (ec_random(r, sizeof(r)) != APR_SUCCESS)
        return APR_EGENERAL;
    for (int i = 0; i < 32; i++) {
        int bit = i * 5, byte = bit / 8, shift = bit % 8;
        unsigned v = (unsigned)r[byte] << 8 | (byte + 1 < 20 ? r[byte + 1] : 0);
        o[i] = b32[(v >> (11 - shift)) & 31];
    }
    o[32] = 0;
    ec_wipe(r, sizeof(r));
    *code = o;
    return APR_SUCCESS;
}

static apr_status_t live_codes(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, const char *mname, time_t now,
                               apr_array_header_t *out)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row;
    apr_status_t rv;

    if ((rv = ec_store_select(s, p, "dcv_code_live", &res, EC_ARGS(a->id, mname, ec_sqltime(p, now)))) != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS) {
        ec_dcv_code_t *c = apr_array_push(out);
        c->id = apr_pstrdup(p, ec_store_col(s, row, 0));
        c->code = apr_pstrdup(p, ec_store_col(s, row, 1));
        c->created = (time_t)apr_atoi64(ec_store_col(s, row, 2));
        c->expires = (time_t)apr_atoi64(ec_store_col(s, row, 3));
    }
    return APR_SUCCESS;
}

apr_status_t ec_dcv_codes(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, ec_dcv_method_t m, time_t now,
                          apr_array_header_t **codes)
{
    const char *mname = ec_dcv_method_name(m);
    uint8_t h[32];
    char *fresh;
    apr_status_t rv;

    *codes = apr_array_make(p, 2, sizeof(ec_dcv_code_t));
    if ((rv = live_codes(s, p, a, mname, now, *codes)) != APR_SUCCESS || (*codes)->nelts)
        return rv;
    if ((rv = ec_dcv_new_code(p, &fresh)) != APR_SUCCESS)
        return rv;
    ec_sha256(fresh, strlen(fresh), h);
    if ((rv = ec_store_exec(s, p, "dcv_code_insert", NULL,
                            EC_ARGS(a->id, mname, fresh, ec_hex(p, h, 32), "", "", ec_sqltime(p, now),
                                    ec_sqltime(p, now + EC_DCV_CODE_DAYS * 86400)))) != APR_SUCCESS)
        return rv;
    if ((rv = live_codes(s, p, a, mname, now, *codes)) != APR_SUCCESS)
        return rv;
    return (*codes)->nelts ? APR_SUCCESS : APR_EGENERAL;
}

apr_status_t ec_dcv_code(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, ec_dcv_method_t m, time_t now,
                         const char **code, const char **code_id, time_t *expires)
{
    apr_array_header_t *codes;
    apr_status_t rv = ec_dcv_codes(s, p, a, m, now, &codes);
    if (rv == APR_SUCCESS) {
        const ec_dcv_code_t *c = &APR_ARRAY_IDX(codes, 0, ec_dcv_code_t);
        *code = c->code;
        *code_id = c->id;
        *expires = c->expires;
    }
    return rv;
}

static int covers(const char *domain, int below, const char *method, const ec_dcv_name_t *n, time_t now)
{
    size_t dl = strlen(domain), nl = strlen(n->name);
    if (n->wildcard && !strcmp(method, "website"))
        return 0;                       /* BR 3.2.2.4.18: never for a wildcard */
    if (!strcmp(method, "email") && !ec_dcv_email_usable(now))
        return 0;
    if (!strcmp(domain, n->name))
        return 1;
    return below && nl > dl + 1 && n->name[nl - dl - 1] == '.' && !strcmp(n->name + nl - dl, domain);
}

static ec_dcv_name_t *find(apr_array_header_t *names, const char *name)
{
    for (int i = 0; i < names->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(names, i, ec_dcv_name_t).name, name))
            return &APR_ARRAY_IDX(names, i, ec_dcv_name_t);
    return NULL;
}

static int verdict_rank(const char *v)
{
    return !v ? 0 : !strcmp(v, "permit") ? 1 : 2;
}

apr_status_t ec_dcv_status(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, time_t now, ec_dcv_status_t *st)
{
    apr_array_header_t *cert = ec_profile_names(p, a);
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row;
    const char *cols[3];
    time_t cutoff = now - (time_t)ec_dcv_reuse_days(now) * 86400;
    apr_status_t rv;

    memset(st, 0, sizeof(*st));
    st->names = apr_array_make(p, cert->nelts, sizeof(ec_dcv_name_t));
    for (int i = 0; i < cert->nelts; i++) {
        const char *cn = APR_ARRAY_IDX(cert, i, const char *);
        int wild = !strncmp(cn, "*.", 2);
        ec_dcv_name_t *n = find(st->names, wild ? cn + 2 : cn);
        if (!n) {
            n = apr_array_push(st->names);
            memset(n, 0, sizeof(*n));
            n->cert_name = cn;
            n->name = wild ? cn + 2 : cn;
        }
        if (wild) {
            n->wildcard = 1;
            n->cert_name = cn;
        }
    }
    /* Validations of the organisation within the window, newest first. */
    if ((rv = ec_store_select(s, p, "dcv_validations", &res,
                              EC_ARGS(ec_hex(p, ec_dcv_org_key(p, a), 32), ec_sqltime(p, cutoff)))) != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS) {
        const char *domain = ec_store_col(s, row, 1), *method = ec_store_col(s, row, 2);
        int below = !strcmp(ec_store_col(s, row, 3), "1");
        for (int i = 0; i < st->names->nelts; i++) {
            ec_dcv_name_t *n = &APR_ARRAY_IDX(st->names, i, ec_dcv_name_t);
            if (n->valid_id || !covers(domain, below, method, n, now))
                continue;
            n->valid_id = apr_pstrdup(p, ec_store_col(s, row, 0));
            n->valid_domain = apr_pstrdup(p, domain);
            n->valid_method = apr_pstrdup(p, method);
            n->valid_at = (time_t)apr_atoi64(ec_store_col(s, row, 4));
            n->reused = strcmp(ec_store_col(s, row, 5), a->id) != 0;
        }
    }
    if ((rv = ec_store_select(s, p, "dcv_attempts", &res, EC_ARGS(a->id))) != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS) {
        ec_dcv_name_t *n = find(st->names, ec_store_col(s, row, 0));
        if (!n || n->last_reason)
            continue;
        n->last_method = apr_pstrdup(p, ec_store_col(s, row, 1));
        n->last_passed = !strcmp(ec_store_col(s, row, 2), "1");
        n->last_reason = apr_pstrdup(p, ec_store_col(s, row, 3));
        n->last_detail = apr_pstrdup(p, ec_store_col(s, row, 4));
        n->last_at = (time_t)apr_atoi64(ec_store_col(s, row, 5));
    }
    /* The latest CAA result of each certificate name; a row shows its worst. */
    {
        apr_hash_t *seen = apr_hash_make(p);
        if ((rv = ec_store_select(s, p, "dcv_caa_last", &res, EC_ARGS(a->id))) != APR_SUCCESS)
            return rv;
        while (ec_store_next(s, p, res, &row) == APR_SUCCESS) {
            const char *cn = apr_pstrdup(p, ec_store_col(s, row, 0)), *v = ec_store_col(s, row, 1);
            ec_dcv_name_t *n = find(st->names, !strncmp(cn, "*.", 2) ? cn + 2 : cn);
            if (!n || apr_hash_get(seen, cn, APR_HASH_KEY_STRING))
                continue;
            apr_hash_set(seen, cn, APR_HASH_KEY_STRING, cn);
            if (verdict_rank(v) <= verdict_rank(n->caa_verdict))
                continue;
            n->caa_verdict = apr_pstrdup(p, v);
            n->caa_reason = apr_pstrdup(p, ec_store_col(s, row, 2));
            n->caa_detail = apr_pstrdup(p, ec_store_col(s, row, 3));
            n->caa_at = (time_t)apr_atoi64(ec_store_col(s, row, 4));
        }
    }
    st->all_valid = 1;
    for (int i = 0; i < st->names->nelts; i++) {
        const ec_dcv_name_t *n = &APR_ARRAY_IDX(st->names, i, ec_dcv_name_t);
        st->all_valid &= n->valid_id != NULL;
        st->caa_blocked |= n->caa_verdict && strcmp(n->caa_verdict, "permit");
    }
    rv = ec_store_get1(s, p, "dcv_job_get", 2, cols, EC_ARGS(a->id));
    if (rv == APR_SUCCESS) {
        st->job_kind = cols[0];
        st->job_state = cols[1];
    }
    else if (rv != APR_ENOENT)
        return rv;
    rv = ec_store_get1(s, p, "dcv_email_current", 3, cols, EC_ARGS(a->id, ec_sqltime(p, now)));
    if (rv == APR_SUCCESS) {
        st->email_to = cols[0];
        st->email_expires = (time_t)apr_atoi64(cols[1]);
        st->email_tries_left = EC_DCV_EMAIL_TRIES - atoi(cols[2]);
    }
    else if (rv != APR_ENOENT)
        return rv;
    return APR_SUCCESS;
}

apr_status_t ec_dcv_record(ec_store_t *s, apr_pool_t *p, const ec_dcv_attempt_t *t, const char *actor)
{
    const char *at = ec_sqltime(p, t->at), *id, *mname = ec_dcv_method_name(t->method);
    char detail[1000];
    apr_status_t rv;
    int own_txn = s->txn == NULL;

    apr_cpystrn(detail, ec_clip(p, t->detail, sizeof(detail) - 1), sizeof(detail));
    if (own_txn && (rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    ec_store_exec(s, p, "dcv_attempt_insert", NULL,
                  EC_ARGS(t->app->id, t->code_id ? t->code_id : "", t->name, mname, t->code_hash ? t->code_hash : "", at,
                          t->passed ? "1" : "0", t->reason, detail, ec_clip(p, t->urls, 60000),
                          t->email_to ? t->email_to : "", ec_clip(p, t->dns, 1 << 20), ec_dcv_method_ref(t->method),
                          t->mpic_id ? t->mpic_id : ""));
    if (!s->failed && ec_store_get1(s, p, "dcv_last_id", 1, &id, EC_NOARGS) != APR_SUCCESS)
        s->failed = 1;
    if (!s->failed && t->passed)
        ec_store_exec(s, p, "dcv_validation_insert", NULL,
                      EC_ARGS(ec_hex(p, ec_dcv_org_key(p, t->app), 32), t->app->id, t->domain, mname,
                              t->covers_below ? "1" : "0", ec_dcv_method_ref(t->method),
                              ec_sqltime(p, t->initiated ? t->initiated : t->at), at, id));
    if (!s->failed)
        ec_audit(s, p, actor, t->passed ? "dcv.pass" : "dcv.fail",
                 apr_psprintf(p, "application %s envelope %s name %s method %s%s%s%s%s: %s: %s", t->app->id,
                              t->app->envelope_ref, t->name, mname, t->passed ? " domain " : "",
                              t->passed ? t->domain : "", t->email_to ? " to " : "", t->email_to ? t->email_to : "",
                              t->reason, detail));
    return own_txn ? ec_store_end(s, 0) : (s->failed ? APR_EGENERAL : APR_SUCCESS);
}

apr_status_t ec_dcv_record_caa(ec_store_t *s, apr_pool_t *p, const ec_app_t *a, const char *cert_name,
                               time_t at, const char *verdict, const char *reason, const char *detail,
                               const char *relevant_at, const char *dns, const char *mpic_id, const char **id)
{
    char d[1000];
    apr_status_t rv;

    apr_cpystrn(d, ec_clip(p, detail, sizeof(d) - 1), sizeof(d));
    rv = ec_store_exec(s, p, "dcv_caa_insert", NULL,
                       EC_ARGS(a->id, cert_name, ec_sqltime(p, at), verdict, reason, d,
                               relevant_at ? relevant_at : "", ec_clip(p, dns, 1 << 20), mpic_id ? mpic_id : ""));
    if (rv == APR_SUCCESS && id)
        rv = ec_store_get1(s, p, "dcv_last_id", 1, id, EC_NOARGS);
    return rv;
}
