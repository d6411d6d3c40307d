#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "ec_report.h"
#include "ec_audit.h"
#include "ec_dns.h"
#include "ec_flow.h"
#include "ec_util.h"

#define EPOCH_S(c) "TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', " c ")"
#define ROW_COLS "report_no, kind, category, contact, COALESCE(serial_hex, ''), COALESCE(server_name, ''), " \
    "body, client_addr, COALESCE(closed_by, ''), COALESCE(close_note, ''), COALESCE(HEX(spki_sha256), ''), " \
    EPOCH_S("created_at") ", COALESCE(" EPOCH_S("closed_at") ", 0), revoked, " \
    "TIMESTAMPDIFF(SECOND, created_at, COALESCE(closed_at, UTC_TIMESTAMP()))"

const ec_stmt_t ec_report_stmts[] = {
    { "report_insert", "INSERT INTO problem_report (report_no, kind, category, contact, serial_hex, "
      "server_name, spki_sha256, body, client_addr, lang, created_at) "
      "VALUES (%s, %s, %s, %s, NULLIF(%s, ''), NULLIF(%s, ''), UNHEX(NULLIF(%s, '')), %s, %s, %s, UTC_TIMESTAMP())" },
    { "report_revoked", "UPDATE problem_report SET revoked = %s WHERE report_no = %s" },
    { "report_list", "SELECT " ROW_COLS " FROM problem_report WHERE report_no IS NOT NULL "
      "AND (%s = '0' OR handled = FALSE) ORDER BY handled, created_at LIMIT 500" },
    { "report_get", "SELECT " ROW_COLS " FROM problem_report WHERE report_no = %s" },
    { "report_lock", "SELECT handled FROM problem_report WHERE report_no = %s FOR UPDATE" },
    { "report_close", "UPDATE problem_report SET handled = TRUE, closed_at = UTC_TIMESTAMP(), closed_by = %s, "
      "close_note = %s WHERE report_no = %s" },
    { "form_recent", "SELECT COUNT(*) FROM form_attempt WHERE form = %s AND client_addr = %s "
      "AND at > NOW(3) - INTERVAL %s SECOND" },
    { "form_record", "INSERT INTO form_attempt (form, client_addr) VALUES (%s, %s)" },
    { NULL, NULL }
};

static const char *new_number(apr_pool_t *p, const char *kind)
{
    uint8_t r[4];
    unsigned long v;

    if (ec_random(r, sizeof(r)) != APR_SUCCESS)
        return NULL;
    v = ((unsigned long)r[0] << 24 | (unsigned long)r[1] << 16 | (unsigned long)r[2] << 8 | r[3]) % 100000000UL;
    return apr_psprintf(p, "%s-%08lu", strcmp(kind, "key-compromise") ? "CPR" : "KCR", v);
}

apr_status_t ec_report_insert(ec_store_t *s, apr_pool_t *p, const ec_report_t *r, const char *actor,
                              const char **report_no)
{
    const char *no = new_number(p, r->kind), *spki = r->spki_sha256 ? ec_hex(p, r->spki_sha256, 32) : "";
    apr_status_t rv;

    if (!no)
        return APR_EGENERAL;
    rv = ec_store_exec(s, p, "report_insert", NULL,
                       EC_ARGS(no, r->kind, r->category, r->contact ? r->contact : "", r->serial_hex ? r->serial_hex : "",
                               r->server_name ? r->server_name : "", spki, r->body ? r->body : "",
                               r->client_addr, r->lang ? r->lang : "en"));
    if (rv == APR_SUCCESS)
        rv = ec_audit(s, p, actor, "report.filed",
                      apr_psprintf(p, "%s report %s category %s%s%s%s%s", r->kind, no, r->category,
                                   r->serial_hex ? " serial " : "", r->serial_hex ? r->serial_hex : "",
                                   r->server_name ? " server " : "", r->server_name ? r->server_name : ""));
    *report_no = no;
    return rv;
}

apr_status_t ec_report_set_revoked(ec_store_t *s, apr_pool_t *p, const char *report_no, int n)
{
    return ec_store_exec(s, p, "report_revoked", NULL, EC_ARGS(apr_itoa(p, n), report_no));
}

static int category_ok(const char *c)
{
    return c && (!strcmp(c, "key-compromise") || !strcmp(c, "misissuance") || !strcmp(c, "fraud") ||
                 !strcmp(c, "other"));
}

/* Text a person typed: valid UTF-8, no control characters but line breaks and tabs. */
static int text_ok(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;

    while (*u) {
        int n = *u < 0x80 ? 1 : (*u & 0xe0) == 0xc0 ? 2 : (*u & 0xf0) == 0xe0 ? 3 : (*u & 0xf8) == 0xf0 ? 4 : 0;
        if (!n || (n == 2 && *u < 0xc2))
            return 0;
        if (n == 1 && (*u < 0x20 && *u != '\n' && *u != '\r' && *u != '\t'))
            return 0;
        if (n == 1 && *u == 0x7f)
            return 0;
        for (int i = 1; i < n; i++)
            if ((u[i] & 0xc0) != 0x80)
                return 0;
        u += n;
    }
    return 1;
}

const char *ec_report_check(apr_pool_t *p, ec_report_t *r, const char *cert)
{
    char *c;
    const char *err;

    if (!r->contact || !ec_mail_address_ok(r->contact))
        return "report.bad_contact";
    if (!category_ok(r->category))
        return "report.bad_category";
    if (!cert || !*(c = apr_pstrdup(p, cert), apr_collapse_spaces(c, c), c))
        return "report.no_certificate";
    if (strlen(cert) > 300)
        return "report.bad_certificate";
    /* A serial is long hex; anything else must be a server name. */
    if (strlen(c) >= 16 && (r->serial_hex = ec_flow_serial_norm(p, cert)) != NULL)
        r->server_name = NULL;
    else if (!(r->server_name = ec_dns_normalize(p, apr_pstrdup(p, cert), 1, &err)))
        return "report.bad_certificate";
    if (!r->body || !*r->body)
        return "report.no_text";
    if (strlen(r->body) > EC_REPORT_TEXT_MAX)
        return "report.text_too_long";
    if (!text_ok(r->body))
        return "report.bad_text";
    return NULL;
}

static const char *category_text(const char *c)
{
    return !strcmp(c, "key-compromise") ? "Key compromise / 密碼匙資料外洩"
         : !strcmp(c, "misissuance") ? "Misissuance / 錯誤簽發"
         : !strcmp(c, "fraud") ? "Fraud / 欺詐" : "Other / 其他";
}

apr_status_t ec_report_submit(ec_store_t *s, apr_pool_t *p, const ec_notice_ctx_t *n, const ec_report_t *r,
                              const char *actor, const char **report_no)
{
    ec_tmpl_vars *v = ec_tmpl_vars_make(p, NULL);
    apr_status_t rv;

    if ((rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    rv = ec_report_insert(s, p, r, actor, report_no);
    ec_tmpl_set(v, "report_no", *report_no);
    ec_tmpl_set(v, "category", category_text(r->category));
    ec_tmpl_set(v, "certificate", r->serial_hex ? ec_flow_serial_spaced(p, r->serial_hex) : r->server_name);
    ec_tmpl_set(v, "contact", r->contact);
    ec_tmpl_set(v, "client_addr", r->client_addr);
    ec_tmpl_set(v, "text", r->body);
    ec_tmpl_setf(v, "hours", "%d", EC_REPORT_BR_HOURS);
    /* The acknowledgement carries nothing the reporter wrote: the form cannot be used to send
     * someone else text of one's choosing. The operators get all of it. */
    if (rv == APR_SUCCESS && n) {
        ec_notice(n, s, p, "report-ack", r->contact, v);
        ec_notice(n, s, p, "report-operations", n->mail->operations, v);
        if (s->failed)
            rv = APR_EGENERAL;
    }
    {
        apr_status_t end = ec_store_end(s, rv != APR_SUCCESS);
        return rv == APR_SUCCESS ? end : rv;
    }
}

apr_status_t ec_form_rate(ec_store_t *s, apr_pool_t *p, const char *form, const char *client_addr,
                          int max, int window, int *allowed)
{
    const char *count;
    apr_status_t rv;

    *allowed = 0;
    if ((rv = ec_store_get1(s, p, "form_recent", 1, &count,
                            EC_ARGS(form, client_addr, apr_itoa(p, window)))) != APR_SUCCESS)
        return rv;
    *allowed = apr_atoi64(count) < max;
    return ec_store_exec(s, p, "form_record", NULL, EC_ARGS(form, client_addr));
}

static void row_of(ec_store_t *s, apr_pool_t *p, apr_dbd_row_t *row, ec_report_row_t *r)
{
    const char *c[15];

    for (int i = 0; i < 15; i++) {
        const char *v = ec_store_col(s, row, i);
        c[i] = apr_pstrdup(p, v ? v : "");
    }
    r->report_no = c[0];
    r->kind = c[1];
    r->category = c[2];
    r->contact = c[3];
    r->serial_hex = c[4];
    r->server_name = c[5];
    r->body = c[6];
    r->client_addr = c[7];
    r->closed_by = c[8];
    r->close_note = c[9];
    r->spki_sha256_hex = c[10];
    r->created_at = (time_t)apr_atoi64(c[11]);
    r->closed_at = (time_t)apr_atoi64(c[12]);
    r->revoked = atoi(c[13]);
    r->age_s = atol(c[14]);
}

apr_status_t ec_report_list(ec_store_t *s, apr_pool_t *p, int open_only, ec_report_fn *fn, void *baton)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_status_t rv, cb = APR_SUCCESS;

    if ((rv = ec_store_select(s, p, "report_list", &res, EC_ARGS(open_only ? "1" : "0"))) != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS) {
        ec_report_row_t r;
        if (cb != APR_SUCCESS)
            continue;
        row_of(s, p, row, &r);
        cb = fn(baton, &r);
    }
    return cb;
}

apr_status_t ec_report_get(ec_store_t *s, apr_pool_t *p, const char *report_no, ec_report_row_t *out)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    apr_status_t rv;
    int found = 0;

    if ((rv = ec_store_select(s, p, "report_get", &res, EC_ARGS(report_no))) != APR_SUCCESS)
        return rv;
    while (ec_store_next(s, p, res, &row) == APR_SUCCESS)
        if (!found++)
            row_of(s, p, row, out);
    return found ? APR_SUCCESS : APR_ENOENT;
}

apr_status_t ec_report_close(ec_store_t *s, apr_pool_t *p, const char *report_no, const char *note,
                             const char *actor)
{
    const char *handled;
    apr_status_t rv;

    if ((rv = ec_store_begin(s, p)) != APR_SUCCESS)
        return rv;
    rv = ec_store_get1(s, p, "report_lock", 1, &handled, EC_ARGS(report_no));
    if (rv == APR_SUCCESS && strcmp(handled, "0"))
        rv = APR_EEXIST;
    if (rv == APR_SUCCESS)
        rv = ec_store_exec(s, p, "report_close", NULL, EC_ARGS(actor, note, report_no));
    if (rv == APR_SUCCESS)
        rv = ec_audit(s, p, actor, "report.closed", apr_psprintf(p, "report %s: %s", report_no, note));
    {
        apr_status_t end = ec_store_end(s, rv != APR_SUCCESS);
        return rv == APR_SUCCESS ? end : rv;
    }
}
