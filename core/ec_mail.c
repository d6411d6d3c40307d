#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_base64.h>
#include "ec_mail.h"
#include "ec_util.h"

const char EC_MAIL_NOT_MINE[] = "not a mail directive";

const ec_stmt_t ec_mail_stmts[] = {
    { "mail_insert", "INSERT INTO mail_queue (kind, mail_from, rcpt_to, message_id, message) "
      "VALUES (%s, %s, %s, %s, %s)" },
    { NULL, NULL }
};

int ec_mail_address_ok(const char *a)
{
    const char *at = a ? strchr(a, '@') : NULL;
    size_t n = a ? strlen(a) : 0;
    int label = 0;

    if (!at || at == a || n > 254 || at - a > 64 || strchr(at + 1, '@') || a[0] == '.' || at[-1] == '.')
        return 0;
    for (const char *c = a; c < at; c++)
        if (!(apr_isalnum(*c) || strchr(".!#$%&'*+/=?^_`{|}~-", *c)) || (c[0] == '.' && c[1] == '.'))
            return 0;
    /* domain: LDH labels, at least two */
    if (!at[1])
        return 0;
    for (const char *c = at + 1; ; c++) {
        if (*c == '.' || !*c) {
            if (!label || c[-1] == '-')
                return 0;
            if (!*c)
                break;
            label = 0;
            continue;
        }
        if (!(apr_isalnum(*c) || (*c == '-' && label)))
            return 0;
        label++;
    }
    return strchr(at + 1, '.') != NULL;
}

static const char *url_arg(apr_pool_t *p, const char *name, int argc, char *const *argv,
                           const char *const *schemes)
{
    if (argc != 1)
        return apr_psprintf(p, "%s takes one URL", name);
    for (; *schemes; schemes++)
        if (!strncmp(argv[0], *schemes, strlen(*schemes)) && argv[0][strlen(*schemes)])
            return NULL;
    return apr_psprintf(p, "%s: '%s' is not a URL this directive takes", name, argv[0]);
}

const char *ec_mail_directive(ec_mail_conf_t *c, apr_pool_t *p, const char *name, int argc,
                              char *const *argv)
{
    static const char *const smtp[] = { "smtp://", "smtps://", NULL };
    static const char *const http[] = { "http://", "https://", NULL };
    const char *err;

    if (!strcasecmp(name, "ECertMailRelay")) {
        if ((err = url_arg(p, name, argc, argv, smtp)))
            return apr_pstrcat(p, err, " (smtp://host[:port] or smtps://host[:port])", NULL);
        c->relay = apr_pstrdup(p, argv[0]);
        return NULL;
    }
    if (!strcasecmp(name, "ECertMailRelayCA")) {
        if (argc != 1 || !*argv[0])
            return "ECertMailRelayCA takes one file of CA certificates (PEM)";
        c->relay_ca = apr_pstrdup(p, argv[0]);
        return NULL;
    }
    if (!strcasecmp(name, "ECertMailFrom") || !strcasecmp(name, "ECertMailOperations")) {
        if (argc != 1 || !ec_mail_address_ok(argv[0]))
            return apr_psprintf(p, "%s takes one e-mail address (local@domain), not '%s'", name,
                                argc ? argv[0] : "");
        if (!strcasecmp(name, "ECertMailFrom"))
            c->from = apr_pstrdup(p, argv[0]);
        else
            c->operations = apr_pstrdup(p, argv[0]);
        return NULL;
    }
    if (!strcasecmp(name, "ECertPublicURL")) {
        if ((err = url_arg(p, name, argc, argv, http)))
            return err;
        c->public_url = apr_pstrdup(p, argv[0]);
        return NULL;
    }
    return EC_MAIL_NOT_MINE;
}

ec_mail_conf_t *ec_mail_merge(apr_pool_t *p, const ec_mail_conf_t *base, const ec_mail_conf_t *add)
{
    ec_mail_conf_t *c = apr_pcalloc(p, sizeof(*c));
#define PICK(f) c->f = add->f ? add->f : base->f
    PICK(relay); PICK(relay_ca); PICK(from); PICK(from_name); PICK(operations); PICK(public_url);
#undef PICK
    return c;
}

void ec_mail_finish(ec_mail_conf_t *c)
{
    if (!c->from)
        c->from = "no-reply@eCert.gov.hk";
    if (!c->from_name)
        c->from_name = "Hongkong Post e-Cert";
    if (!c->operations)
        c->operations = "enquiry@eCert.gov.hk";
    if (!c->public_url)
        c->public_url = "https://www.ecert.gov.hk/ecert/";
}

static int header_safe(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n' || *s == 0x7f)
            return 0;
    return 1;
}

static int ascii_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

static char *b64(apr_pool_t *p, const char *data, int len)
{
    char *out = apr_palloc(p, (apr_size_t)apr_base64_encode_len(len));
    apr_base64_encode(out, data, len);
    return out;
}

/* RFC 2047 encoded words of at most 75 characters, split between UTF-8 characters. */
static char *encoded_subject(apr_pool_t *p, const char *s)
{
    char *out = "";
    size_t n = strlen(s), off = 0;

    if (ascii_printable(s) && n <= 900)
        return apr_pstrdup(p, s);
    while (off < n) {
        size_t take = n - off > 45 ? 45 : n - off;
        while (take < n - off && take && ((unsigned char)s[off + take] & 0xc0) == 0x80)
            take--;
        out = apr_psprintf(p, "%s%s=?UTF-8?B?%s?=", out, *out ? "\r\n " : "", b64(p, s + off, (int)take));
        off += take;
    }
    return out;
}

/* MIME canonical text: CRLF line ends, in base64 lines of 76. */
static char *body_base64(apr_pool_t *p, const char *body)
{
    size_t n = strlen(body), k = 0;
    char *crlf = apr_palloc(p, 2 * n + 1), *enc, *out;
    size_t elen, o = 0;

    for (size_t i = 0; i < n; i++) {
        if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r'))
            crlf[k++] = '\r';
        crlf[k++] = body[i];
    }
    enc = b64(p, crlf, (int)k);
    elen = strlen(enc);
    out = apr_palloc(p, elen + (elen / 76 + 2) * 2 + 1);
    for (size_t i = 0; i < elen; i += 76) {
        size_t m = elen - i < 76 ? elen - i : 76;
        memcpy(out + o, enc + i, m);
        o += m;
        out[o++] = '\r';
        out[o++] = '\n';
    }
    out[o] = 0;
    return out;
}

static const char *rfc5322_date(apr_pool_t *p, time_t t)
{
    static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
                                          "Sep", "Oct", "Nov", "Dec" };
    struct tm tm;
    gmtime_r(&t, &tm);
    return apr_psprintf(p, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
                        months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

char *ec_mail_compose(apr_pool_t *p, const ec_mail_conf_t *c, const char *to, const char *subject,
                      const char *body, time_t date, const char **message_id)
{
    uint8_t rnd[16];

    if (!ec_mail_address_ok(to) || !ec_mail_address_ok(c->from) || !subject || !header_safe(subject) ||
        !ascii_printable(c->from_name) || strchr(c->from_name, '"') || !body ||
        ec_random(rnd, sizeof(rnd)) != APR_SUCCESS)
        return NULL;
    *message_id = apr_pstrcat(p, ec_hex(p, rnd, sizeof(rnd)), strchr(c->from, '@'), NULL);
    return apr_pstrcat(p,
                       "Date: ", rfc5322_date(p, date), "\r\n",
                       "From: \"", c->from_name, "\" <", c->from, ">\r\n",
                       "To: <", to, ">\r\n",
                       "Subject: ", encoded_subject(p, subject), "\r\n",
                       "Message-ID: <", *message_id, ">\r\n",
                       "MIME-Version: 1.0\r\n",
                       "Content-Type: text/plain; charset=UTF-8\r\n",
                       "Content-Transfer-Encoding: base64\r\n",
                       "Auto-Submitted: auto-generated\r\n",
                       "\r\n", body_base64(p, body), NULL);
}

apr_status_t ec_mail_queue(ec_store_t *s, apr_pool_t *p, const ec_mail_conf_t *c, const char *kind,
                           const char *to, const char *subject, const char *body)
{
    const char *id;
    char *msg = ec_mail_compose(p, c, to, subject, body, time(NULL), &id);

    if (!msg)
        return APR_EINVAL;
    return ec_store_exec(s, p, "mail_insert", NULL, EC_ARGS(kind, c->from, to, id, msg));
}
