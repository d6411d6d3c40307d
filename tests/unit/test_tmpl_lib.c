/* ec_tmpl_lib: templates and catalogues read and checked once, then rendered many times and
 * by several threads at once without changing; broken files refused at load, naming them. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/stat.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <apr_allocator.h>
#include "tap.h"
#include "ec_tmpl.h"

#define RENDERS 2000

static const char *const langs[] = { "en", "zh", NULL };
static char top[] = "/tmp/ec-tmpl-lib-XXXXXX";

static void put(const char *dir, const char *rel, const char *text)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof(path), "%s/templates/%s", dir, rel);
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* A template directory top/name with the catalogues and pages every case starts from. */
static const char *tree(apr_pool_t *p, const char *name)
{
    const char *dir = apr_pstrcat(p, top, "/", name, NULL);
    mkdir(dir, 0700);
    mkdir(apr_pstrcat(p, dir, "/templates", NULL), 0700);
    mkdir(apr_pstrcat(p, dir, "/templates/i18n", NULL), 0700);
    put(dir, "i18n/en.txt", "hello = Hello, <b>{{name}}</b>!\n");
    put(dir, "i18n/zh.txt", "hello = 你好，<b>{{name}}</b>！\n");
    put(dir, "head.html", "<h1>{{title}}</h1>");
    put(dir, "page.html", "{{>head}}[{{name}}]{{#items}}<li>{{label}}</li>{{/items}}{{^items}}none{{/items}}"
                          "|{{_hello}}|{{_missing.key}}");
    put(dir, "loop.html", "{{>loop}}");
    return dir;
}

static const char *render(apr_pool_t *p, const ec_tmpl_lib *lib, const char *lang, const char *page,
                          ec_tmpl_vars *v)
{
    ec_tmpl_t *t;
    const char *err;
    char *out;
    size_t len;
    if (ec_tmpl_lib_open(&t, p, lib, lang, &err) != APR_SUCCESS)
        return apr_pstrcat(p, "OPEN: ", err, NULL);
    if (ec_tmpl_render(t, page, v, &out, &len, &err) != APR_SUCCESS)
        return apr_pstrcat(p, "ERR: ", err, NULL);
    return out;
}

static const char *load_err(apr_pool_t *p, const char *dir)
{
    ec_tmpl_lib *lib;
    const char *err = NULL;
    return ec_tmpl_lib_load(&lib, p, dir, langs, &err) == APR_SUCCESS ? "" : err;
}

typedef struct {
    const ec_tmpl_lib *lib;
    const char *lang, *name, *want;
    int bad;
} job_t;

/* One thread: RENDERS requests, each with its own pool and values; the thread has its own
 * allocator, as an httpd worker thread has. */
static void *worker(void *arg)
{
    job_t *j = arg;
    apr_allocator_t *al;
    apr_pool_t *root;
    apr_allocator_create(&al);
    apr_pool_create_ex(&root, NULL, NULL, al);
    apr_allocator_owner_set(al, root);
    for (int i = 0; i < RENDERS; i++) {
        apr_pool_t *rp;
        ec_tmpl_vars *v;
        apr_pool_create(&rp, root);
        v = ec_tmpl_vars_make(rp, NULL);
        ec_tmpl_set(v, "name", j->name);
        ec_tmpl_set(v, "title", j->name);
        ec_tmpl_set(ec_tmpl_add(v, "items"), "label", j->name);
        if (strcmp(render(rp, j->lib, j->lang, "page", v), j->want))
            j->bad++;
        apr_pool_destroy(rp);
    }
    apr_pool_destroy(root);
    return NULL;
}

int main(int argc, const char *const *argv)
{
    apr_pool_t *p;
    ec_tmpl_lib *lib;
    ec_tmpl_vars *v;
    const char *dir, *err = NULL, *first, *e;
    int same = 1;

    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&p, NULL);
    plan(11);
    if (!mkdtemp(top))
        return 1;
    dir = tree(p, "good");
    ok(ec_tmpl_lib_load(&lib, p, dir, langs, &err) == APR_SUCCESS, "a good directory loads (%s)", err ? err : "");

    v = ec_tmpl_vars_make(p, NULL);
    ec_tmpl_set(v, "name", "<x>");
    ec_tmpl_set(v, "title", "T&T");
    first = render(p, lib, "en", "page", v);
    ok(!strcmp(first, "<h1>T&amp;T</h1>[&lt;x&gt;]none|Hello, <b>&lt;x&gt;</b>!|missing.key"),
       "same semantics as a directory opened per request: %s", first);
    ok(strstr(render(p, lib, "zh", "page", v), "|你好，<b>&lt;x&gt;</b>！|") != NULL, "both languages loaded");

    /* read once: what changes on disk afterwards is not seen */
    put(dir, "page.html", "changed");
    put(dir, "i18n/en.txt", "hello = changed\n");
    put(dir, "later.html", "added after the load");
    for (int i = 0; i < RENDERS; i++)
        same &= !strcmp(render(p, lib, "en", "page", v), first);
    ok(same, "%d renders, each the same as the first; the files changed on disk are not read", RENDERS);
    ok(!strncmp(render(p, lib, "en", "later", v), "ERR: template later: no template", 32),
       "a page that was not there at load is an error, not read then");
    ok(!strncmp(render(p, lib, "en", "loop", v), "ERR:", 4) && !strncmp(render(p, lib, "xx", "page", v), "OPEN:", 5),
       "a partial including itself stops; no catalogue for an unknown language");

    {
        job_t jobs[2] = {
            { lib, "en", "alpha", "<h1>alpha</h1>[alpha]<li>alpha</li>|Hello, <b>alpha</b>!|missing.key", 0 },
            { lib, "zh", "beta&", "<h1>beta&amp;</h1>[beta&amp;]<li>beta&amp;</li>|你好，<b>beta&amp;</b>！|missing.key", 0 },
        };
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&th[i], NULL, worker, &jobs[i]);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        ok(jobs[0].bad == 0 && jobs[1].bad == 0, "two threads rendering %d times each at once: %d and %d wrong",
           RENDERS, jobs[0].bad, jobs[1].bad);
    }
    ok(!strcmp(render(p, lib, "en", "page", v), first), "the library is as it was after the threads");

    dir = tree(p, "unclosed");
    put(dir, "form.html", "{{#open}}never closed");
    e = load_err(p, dir);
    ok(strstr(e, "/templates/form.html: section open is not closed") != NULL, "unclosed section refused: %s", e);
    dir = tree(p, "misnested");
    put(dir, "form.html", "{{#a}}{{#b}}{{/a}}{{/b}}");
    e = load_err(p, dir);
    ok(strstr(e, "form.html: {{/a}} closes section b") != NULL, "misnested sections refused: %s", e);
    dir = tree(p, "catalogue");
    put(dir, "i18n/zh.txt", "hello = {{>nowhere}}\n");
    e = load_err(p, dir);
    ok(strstr(e, "i18n/zh.txt, message hello: {{>nowhere}}: there is no template nowhere.html") != NULL,
       "a message naming a missing partial refused: %s", e);

    if (system(apr_psprintf(p, "rm -rf '%s'", top)) != 0)
        return 1;
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
