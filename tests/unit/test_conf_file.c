/* httpd's configuration syntax as ecertctl reads it: quotes, escapes, continuation lines,
 * comments, as ap_cfg_getline and ap_getword_conf. */
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "ec_conf_file.h"

static ec_conf_line_t *at(apr_array_header_t *a, int i)
{
    return i < a->nelts ? &APR_ARRAY_IDX(a, i, ec_conf_line_t) : NULL;
}

static int args_are(ec_conf_line_t *l, const char *name, int argc, ...)
{
    va_list ap;
    int good = l && !strcmp(l->name, name) && l->argc == argc;

    va_start(ap, argc);
    for (int i = 0; good && i < argc; i++)
        good = !strcmp(l->argv[i], va_arg(ap, const char *));
    va_end(ap);
    return good;
}

int main(void)
{
    apr_pool_t *p;
    apr_array_header_t *a;

    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(14);

    a = ec_conf_file_parse(p, apr_pstrdup(p,
        "# a comment\n"
        "   # an indented comment\n"
        "\n"
        "ECertPublishDir \"/srv/e-Cert CA/pub\"\n"
        "ECertTemplates '/srv/my templates'\n"
        "DBDParams \"host=db user=ecert pass=a\\\"b\\\\c\\d\"\n"
        "ECertIssuer ssl \\\n"
        "    /srv/ssl.crt \\\n"
        "    \"pkcs11:token=ecert;object=SSL%20CA\"\n"
        "ECertMailFrom ca@example.com # not a comment here\n"
        "ECertEKU serverAuth\\\\\n"
        "ECertKeySizes 2048\r\n"
        "# a comment continued \\\n"
        "ECertHidden by the comment\n"
        "<Location /ecert>\n"
        "Plain back\\\\slash and\\\\\\\\two\n"));
    ok(a->nelts == 9, "nine directives (%d)", a->nelts);
    ok(args_are(at(a, 0), "ECertPublishDir", 1, "/srv/e-Cert CA/pub") && at(a, 0)->line == 4,
       "a double-quoted path with spaces is one argument, line 4");
    ok(args_are(at(a, 1), "ECertTemplates", 1, "/srv/my templates"), "single quotes too");
    ok(args_are(at(a, 2), "DBDParams", 1, "host=db user=ecert pass=a\"b\\c\\d"),
       "inside quotes \\\" and \\\\ are escapes, another backslash stays");
    ok(args_are(at(a, 3), "ECertIssuer", 3, "ssl", "/srv/ssl.crt", "pkcs11:token=ecert;object=SSL%20CA"),
       "a continued directive is one line");
    ok(at(a, 3) && at(a, 3)->line == 7, "and it is reported at the line it starts on");
    ok(args_are(at(a, 4), "ECertMailFrom", 6, "ca@example.com", "#", "not", "a", "comment", "here"),
       "a # after a directive is not a comment (httpd passes it on)");
    ok(args_are(at(a, 5), "ECertEKU", 1, "serverAuth\\"), "two backslashes at the end do not continue");
    ok(args_are(at(a, 6), "ECertKeySizes", 1, "2048"), "CR LF line ends");
    ok(args_are(at(a, 7), "<Location", 1, "/ecert>"), "a continued comment hides the next line; a section tag");
    ok(args_are(at(a, 8), "Plain", 2, "back\\slash", "and\\\\two"), "outside quotes \\\\ is one backslash");
    a = ec_conf_file_parse(p, apr_pstrdup(p, "Last \"unterminated quote"));
    ok(args_are(at(a, 0), "Last", 1, "unterminated quote"), "an unterminated quote ends with the line");
    a = ec_conf_file_parse(p, apr_pstrdup(p, "A \"x\"y 'z'\nB\\"));
    ok(args_are(at(a, 0), "A", 3, "x", "y", "z"), "a closing quote ends the word");
    ok(args_are(at(a, 1), "B", 0), "a continuation at the end of the file");
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
