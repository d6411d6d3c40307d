/* ec_mail: addresses, and messages as RFC 5322 / 2047 / MIME want them; a header a value could
 * inject into is refused. */
#include <stdio.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <apr_base64.h>
#include "tap.h"
#include "ec_mail.h"

static const char *header(apr_pool_t *p, const char *msg, const char *name)
{
    const char *h = strstr(msg, apr_pstrcat(p, "\r\n", name, ": ", NULL));
    if (!h && !strncmp(msg, name, strlen(name)))
        h = msg - 2;
    return h ? apr_pstrndup(p, h + 4 + strlen(name), strcspn(h + 4 + strlen(name), "\r")) : NULL;
}

int main(void)
{
    apr_pool_t *p;
    ec_mail_conf_t c;
    const char *id, *subj_zh = "撤銷電子證書（伺服器）通知書 - 一個非常長的主旨，跨越多個編碼字，測試在字元邊界切開";
    char *msg, *body, *dec;
    int ok_lines = 1;

    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(17);

    ok(ec_mail_address_ok("admin@example.com") && ec_mail_address_ok("a.b+c@sub.example.org"),
       "ordinary addresses");
    ok(!ec_mail_address_ok("a@b") && !ec_mail_address_ok("@example.com") && !ec_mail_address_ok("a@@x.com") &&
       !ec_mail_address_ok("a b@example.com") && !ec_mail_address_ok("a@example.com\r\nBcc: x@y.com") &&
       !ec_mail_address_ok("a..b@example.com") && !ec_mail_address_ok("a@-x.example.com") &&
       !ec_mail_address_ok("\"q\"@example.com") && !ec_mail_address_ok(NULL),
       "no single-label domain, empty part, space, CRLF, double dot, bad label, quoting");

    memset(&c, 0, sizeof(c));
    ec_mail_finish(&c);
    ok(!strcmp(c.from, "no-reply@eCert.gov.hk") && !strcmp(c.operations, "enquiry@eCert.gov.hk"),
       "defaults: the CPS addresses");
    msg = ec_mail_compose(p, &c, "rep@example.com", "Plain subject", "line one\nline two\n", 1796090000, &id);
    ok(msg != NULL, "a message");
    ok(msg && !strncmp(msg, "Date: Tue, 01 Dec 2026 01:53:20 +0000\r\n", 39) && strstr(msg, " +0000\r\n"),
       "Date in RFC 5322 form with a numeric zone");
    ok(msg && !strcmp(header(p, msg, "Subject"), "Plain subject"), "an ASCII subject stays as it is");
    ok(msg && strlen(id) == 32 + strlen("@eCert.gov.hk") && strstr(msg, apr_pstrcat(p, "Message-ID: <", id, ">\r\n", NULL)),
       "Message-ID in the sender's domain");
    ok(msg && strstr(msg, "Content-Type: text/plain; charset=UTF-8\r\n") &&
       strstr(msg, "Content-Transfer-Encoding: base64\r\n") && strstr(msg, "MIME-Version: 1.0\r\n"), "MIME headers");
    body = msg ? strstr(msg, "\r\n\r\n") + 4 : NULL;
    if (body) {
        char *flat = apr_pstrdup(p, body), *o = flat;
        for (char *i = body; *i; i++)
            if (*i != '\r' && *i != '\n')
                *o++ = *i;
        *o = 0;
        dec = apr_palloc(p, (apr_size_t)apr_base64_decode_len(flat));
        dec[apr_base64_decode(dec, flat)] = 0;
    }
    else
        dec = "";
    ok(!strcmp(dec, "line one\r\nline two\r\n"), "the body in MIME canonical form (CRLF)");

    msg = ec_mail_compose(p, &c, "rep@example.com", subj_zh, "中文內容\n", 1796090000, &id);
    {
        const char *s = msg ? strstr(msg, "\r\nSubject: ") + 11 : NULL;
        const char *end = s ? strstr(s, "\r\nMessage-ID") : NULL;
        char *words = s && end ? apr_pstrndup(p, s, (apr_size_t)(end - s)) : "";
        char *w, *save, *joined = "";
        int count = 0, fits = 1, whole = 1;
        for (w = apr_strtok(words, "\r\n ", &save); w; w = apr_strtok(NULL, "\r\n ", &save)) {
            char *b, *dd;
            count++;
            fits &= strlen(w) <= 75 && !strncmp(w, "=?UTF-8?B?", 10) && !strcmp(w + strlen(w) - 2, "?=");
            b = apr_pstrndup(p, w + 10, strlen(w) - 12);
            dd = apr_palloc(p, (apr_size_t)apr_base64_decode_len(b));
            dd[apr_base64_decode(dd, b)] = 0;
            /* each word decodes to whole UTF-8 characters */
            whole &= (strlen(dd) == 0) || (((unsigned char)dd[0] & 0xc0) != 0x80);
            joined = apr_pstrcat(p, joined, dd, NULL);
        }
        ok(count > 1 && fits, "a UTF-8 subject: %d RFC 2047 encoded words of at most 75 characters", count);
        ok(whole && !strcmp(joined, subj_zh), "split between characters, it decodes back whole");
    }
    for (char *l = msg, *n; l && *l; l = n + 2) {
        n = strstr(l, "\r\n");
        if (!n)
            break;
        ok_lines &= n - l <= 998;
    }
    ok(ok_lines, "no line over 998 octets");
    ok(!ec_mail_compose(p, &c, "rep@example.com", "x\r\nBcc: victim@example.com", "b", 0, &id),
       "a subject with CRLF is refused");
    ok(!ec_mail_compose(p, &c, "rep@example.com\r\n", "x", "b", 0, &id), "a recipient with CRLF is refused");
    {
        char *argv[] = { "ftp://relay" }, *ok_argv[] = { "smtp://127.0.0.1:2525" };
        ok(ec_mail_directive(&c, p, "ECertMailRelay", 1, argv) != NULL &&
           !ec_mail_directive(&c, p, "ECertMailRelay", 1, ok_argv) && !strcmp(c.relay, "smtp://127.0.0.1:2525"),
           "ECertMailRelay takes smtp:// and smtps:// only");
    }
    {
        char *argv[] = { "not-an-address" };
        ok(ec_mail_directive(&c, p, "ECertMailFrom", 1, argv) != NULL, "ECertMailFrom wants an address");
        ok(ec_mail_directive(&c, p, "Other", 1, argv) == EC_MAIL_NOT_MINE, "other directives are not mine");
    }
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
