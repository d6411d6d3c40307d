/* ec_tmpl: escaping by default, trusted fragments, sections, lists, inverted sections,
 * partials, message catalogues, and malformed templates reported, not rendered. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "ec_tmpl.h"

static char dir[] = "/tmp/ec-tmpl-XXXXXX";

static void put(const char *rel, const char *text)
{
    char path[256];
    FILE *f;
    snprintf(path, sizeof(path), "%s/templates/%s", dir, rel);
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static const char *render(apr_pool_t *p, const char *lang, const char *page, ec_tmpl_vars *v)
{
    ec_tmpl_t *t;
    const char *err;
    char *out;
    size_t len;
    if (ec_tmpl_open(&t, p, dir, lang, &err) != APR_SUCCESS)
        return apr_pstrcat(p, "OPEN: ", err, NULL);
    if (ec_tmpl_render(t, page, v, &out, &len, &err) != APR_SUCCESS)
        return apr_pstrcat(p, "ERR: ", err, NULL);
    return out;
}

int main(int argc, const char *const *argv)
{
    apr_pool_t *p;
    ec_tmpl_vars *v, *it;
    char path[256];
    const char *out;

    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&p, NULL);
    plan(12);
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof(path), "%s/templates", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/templates/i18n", dir);
    mkdir(path, 0700);
    put("i18n/en.txt", "# comment\nhello = Hello, <b>{{name}}</b>!\ncount = {{n}} item(s)\n");
    put("i18n/zh.txt", "hello = 你好，<b>{{name}}</b>！\n");
    put("head.html", "<h1>{{title}}</h1>");
    put("page.html", "{{>head}}[{{name}}][{{html}}]{{! a comment }}"
                     "{{#items}}<li>{{label}}/{{name}}</li>{{/items}}{{^items}}none{{/items}}"
                     "{{#flag}}F{{/flag}}{{^flag}}nf{{/flag}}|{{_hello}}|{{_missing.key}}");
    put("bad.html", "{{#open}}never closed");
    put("bad2.html", "{{name");
    put("bad3.html", "{{/x}}");
    put("loop.html", "{{>loop}}");

    v = ec_tmpl_vars_make(p, NULL);
    ec_tmpl_set(v, "name", "<script>alert(\"x\") & 'y'</script>");
    ec_tmpl_set(v, "title", "T&T");
    ec_tmpl_set_raw(v, "html", "<em>ok</em>");
    out = render(p, "en", "page", v);
    ok(strstr(out, "<h1>T&amp;T</h1>") != NULL, "partial rendered, value escaped");
    ok(strstr(out, "[&lt;script&gt;alert(&#34;x&#34;) &amp; &#39;y&#39;&lt;/script&gt;]") != NULL,
       "every special character escaped");
    ok(strstr(out, "[<em>ok</em>]") != NULL, "a trusted fragment is written as is");
    ok(strstr(out, "none") && strstr(out, "nf"), "inverted sections for an unset list and flag");
    ok(strstr(out, "|Hello, <b>&lt;script&gt;") != NULL, "catalogue message: markup kept, placeholders escaped");
    ok(strstr(out, "|missing.key") != NULL, "a missing message shows its key");
    it = ec_tmpl_add(v, "items");
    ec_tmpl_set(it, "label", "a<");
    it = ec_tmpl_add(v, "items");
    ec_tmpl_set(it, "label", "b");
    ec_tmpl_set(it, "name", "inner");
    ec_tmpl_flag(v, "flag", 1);
    out = render(p, "en", "page", v);
    ok(strstr(out, "<li>a&lt;/&lt;script&gt;") && strstr(out, "<li>b/inner</li>") && !strstr(out, "none"),
       "list items see their own and the outer values");
    ok(strstr(out, "F|") && !strstr(out, "nf"), "flag section");
    out = render(p, "zh", "page", v);
    ok(strstr(out, "|你好，<b>") != NULL, "the language picks the catalogue");
    ok(!strncmp(render(p, "en", "bad", v), "ERR:", 4) && !strncmp(render(p, "en", "bad2", v), "ERR:", 4) &&
       !strncmp(render(p, "en", "bad3", v), "ERR:", 4), "malformed templates are errors");
    ok(!strncmp(render(p, "en", "loop", v), "ERR:", 4), "a partial including itself stops");
    ok(!strncmp(render(p, "en", "../../etc/passwd", v), "ERR:", 4) && !strncmp(render(p, "xx", "page", v), "OPEN:", 5),
       "no path outside the directory, no catalogue for an unknown language");
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    if (system(path) != 0)
        return 1;
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
