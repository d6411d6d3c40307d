#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "ec_dcv_email.h"
#include "ec_audit.h"
#include "ec_clock.h"
#include "ec_dns.h"
#include "ec_log.h"
#include "ec_names.h"
#include "ec_util.h"

#define EPOCH_S(c) "TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', " c ")"

const ec_stmt_t ec_dcv_email_stmts[] = {
    /* A real write (an unchanged row writes nothing): on Galera two nodes' sends for one
     * application conflict at commit, so the hourly count holds across nodes. */
    { "dcv_mail_lock_app", "UPDATE application SET dcv_mails = dcv_mails + 1 WHERE id = %s" },
    { "dcv_mail_count", "SELECT COUNT(*) FROM dcv_code WHERE application_id = %s AND method = 'email' "
      "AND created_at > %s" },
    { "dcv_mail_spend_all", "UPDATE dcv_code SET spent = TRUE WHERE application_id = %s AND method = 'email' "
      "AND NOT spent" },
    { "dcv_mail_live", "SELECT id, HEX(code_sha256), domain, email_to, tries, " EPOCH_S("created_at")
      " FROM dcv_code WHERE application_id = %s AND method = 'email' AND NOT spent AND expires_at > %s "
      "ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE" },
    /* spent first: it reads the count before this try whether assignments are sequential
     * (MariaDB's default) or simultaneous (SIMULTANEOUS_ASSIGNMENT). */
    { "dcv_mail_try", "UPDATE dcv_code SET spent = (tries + 1 >= %s), tries = tries + 1 WHERE id = %s" },
    { "dcv_mail_spend", "UPDATE dcv_code SET spent = TRUE WHERE id = %s" },
    { NULL, NULL }
};

const char *const ec_dcv_email_locals[] = { "admin", "administrator", "webmaster", "hostmaster", "postmaster", NULL };

const char *ec_dcv_mail_status_name(ec_dcv_mail_status_t st)
{
    static const char *const names[] = { "ok", "not-offered", "address", "rate", "no-code", "wrong", "spent",
                                         "internal" };
    return st <= EC_DCV_MAIL_INTERNAL ? names[st] : "internal";
}

apr_array_header_t *ec_dcv_email_domains(apr_pool_t *p, const ec_app_t *a)
{
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(const char *));
    const char *d = strncmp(a->server_name, "*.", 2) ? a->server_name : a->server_name + 2;

    while (d && strchr(d, '.') && !ec_names_is_suffix(d)) {
        APR_ARRAY_PUSH(out, const char *) = d;
        d = strchr(d, '.') + 1;
    }
    return out;
}

static int allowed(apr_pool_t *p, const ec_app_t *a, const char *local, const char *domain)
{
    apr_array_header_t *ds = ec_dcv_email_domains(p, a);
    int ok = 0;
    for (int i = 0; local && ec_dcv_email_locals[i]; i++)
        ok |= !strcmp(local, ec_dcv_email_locals[i]);
    if (!ok || !domain)
        return 0;
    for (int i = 0; i < ds->nelts; i++)
        if (!strcmp(domain, APR_ARRAY_IDX(ds, i, const char *)))
            return 1;
    return 0;
}

ec_dcv_mail_status_t ec_dcv_email_send(ec_store_t *s, apr_pool_t *p, const ec_dcv_conf_t *c,
                                       const ec_notice_ctx_t *n, const ec_app_t *a, const char *local,
                                       const char *domain, const char *actor)
{
    time_t now = ec_clock_now(), expires = now + EC_DCV_CODE_DAYS * 86400;
    const char *to, *count;
    char *code;
    uint8_t h[32];
    ec_tmpl_vars *v;
    ec_dcv_mail_status_t st = EC_DCV_MAIL_INTERNAL;

    if (!(ec_dcv_methods(c, a, now) & EC_DCV_EMAIL))
        return EC_DCV_MAIL_NOT_OFFERED;
    if (!allowed(p, a, local, domain))
        return EC_DCV_MAIL_ADDRESS;
    to = apr_pstrcat(p, local, "@", domain, NULL);
    if (ec_dcv_new_code(p, &code) != APR_SUCCESS || ec_store_begin(s, p) != APR_SUCCESS)
        return EC_DCV_MAIL_INTERNAL;
    ec_store_exec(s, p, "dcv_mail_lock_app", NULL, EC_ARGS(a->id));
    if (s->failed || ec_store_get1(s, p, "dcv_mail_count", 1, &count,
                                   EC_ARGS(a->id, ec_sqltime(p, now - 3600))) != APR_SUCCESS)
        goto out;
    if (atoi(count) >= c->mails_per_hour) {
        st = EC_DCV_MAIL_RATE;
        goto out;
    }
    ec_sha256(code, strlen(code), h);
    ec_store_exec(s, p, "dcv_mail_spend_all", NULL, EC_ARGS(a->id));
    if (!s->failed)
        ec_store_exec(s, p, "dcv_code_insert", NULL,
                      EC_ARGS(a->id, "email", "", ec_hex(p, h, 32), domain, to, ec_sqltime(p, now),
                              ec_sqltime(p, expires)));
    v = ec_tmpl_vars_make(p, NULL);
    ec_tmpl_set(v, "code", code);
    ec_tmpl_set(v, "domain", ec_dns_display(p, domain));
    ec_tmpl_set(v, "server_name", ec_dns_display(p, a->server_name));
    ec_tmpl_set(v, "expires", ec_sqltime(p, expires));
    if (!s->failed && ec_notice(n, s, p, "dcv-code", to, v) != APR_SUCCESS)
        s->failed = 1;
    if (!s->failed)
        ec_audit(s, p, actor, "dcv.mail", apr_psprintf(p, "application %s envelope %s validation code sent to %s",
                                                      a->id, a->envelope_ref, to));
    if (!s->failed)
        st = EC_DCV_MAIL_OK;
out:
    ec_wipe(code, strlen(code));
    if (ec_store_end(s, st != EC_DCV_MAIL_OK) != APR_SUCCESS && st == EC_DCV_MAIL_OK)
        st = EC_DCV_MAIL_INTERNAL;
    return st;
}

/* What the subscriber typed, as the code was made: spaces around it dropped, lower case. */
static char *normal_code(apr_pool_t *p, const char *typed)
{
    char *c = apr_pstrdup(p, typed ? typed : ""), *o = c;
    for (const char *q = c; *q; q++)
        if (!apr_isspace(*q))
            *o++ = (char)apr_tolower(*q);
    *o = 0;
    return c;
}

ec_dcv_mail_status_t ec_dcv_email_verify(ec_store_t *s, apr_pool_t *p, const ec_dcv_conf_t *c,
                                         const ec_app_t *a, const char *typed, const char *actor,
                                         int *tries_left)
{
    time_t now = ec_clock_now();
    const char *cols[6];
    char *code = normal_code(p, typed);
    uint8_t h[32];
    size_t stored_len;
    const uint8_t *stored;
    ec_dcv_attempt_t t;
    ec_dcv_mail_status_t st = EC_DCV_MAIL_INTERNAL;
    apr_status_t rv;
    int tries, match;

    *tries_left = 0;
    if (!(ec_dcv_methods(c, a, now) & EC_DCV_EMAIL))
        return EC_DCV_MAIL_NOT_OFFERED;
    ec_sha256(code, strlen(code), h);
    ec_wipe(code, strlen(code));
    if (ec_store_begin(s, p) != APR_SUCCESS)
        return EC_DCV_MAIL_INTERNAL;
    rv = ec_store_get1(s, p, "dcv_mail_live", 6, cols, EC_ARGS(a->id, ec_sqltime(p, now)));
    if (rv != APR_SUCCESS) {
        ec_store_end(s, 1);
        return rv == APR_ENOENT ? EC_DCV_MAIL_NO_CODE : EC_DCV_MAIL_INTERNAL;
    }
    stored = ec_unhex(p, cols[1], &stored_len);
    match = stored && stored_len == 32 && ec_memeq(stored, h, 32);
    tries = atoi(cols[4]);
    memset(&t, 0, sizeof(t));
    t.app = a;
    t.method = EC_DCV_EMAIL;
    t.code_id = cols[0];
    t.code_hash = ec_hex(p, h, 32);
    t.name = strncmp(a->server_name, "*.", 2) ? a->server_name : a->server_name + 2;
    t.domain = cols[2];
    t.email_to = cols[3];
    t.initiated = (time_t)apr_atoi64(cols[5]);
    t.at = now;
    t.covers_below = 1;
    if (match) {
        ec_store_exec(s, p, "dcv_mail_spend", NULL, EC_ARGS(cols[0]));
        t.passed = 1;
        t.reason = "passed";
        t.detail = apr_psprintf(p, "the code mailed to %s was typed back", cols[3]);
        st = EC_DCV_MAIL_OK;
    }
    else {
        ec_store_exec(s, p, "dcv_mail_try", NULL, EC_ARGS(apr_itoa(p, EC_DCV_EMAIL_TRIES), cols[0]));
        *tries_left = EC_DCV_EMAIL_TRIES - tries - 1;
        t.reason = *tries_left > 0 ? "code-wrong" : "code-spent";
        t.detail = apr_psprintf(p, "a wrong code was typed for the mail to %s (%d tries left)", cols[3],
                                *tries_left > 0 ? *tries_left : 0);
        st = *tries_left > 0 ? EC_DCV_MAIL_WRONG : EC_DCV_MAIL_SPENT;
    }
    /* The hash of what was typed is the evidence; the code itself is nowhere. */
    if (!s->failed && ec_dcv_record(s, p, &t, actor) != APR_SUCCESS)
        s->failed = 1;
    if (ec_store_end(s, 0) != APR_SUCCESS)
        return EC_DCV_MAIL_INTERNAL;
    return st;
}
