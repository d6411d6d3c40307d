#include <stdarg.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_file_info.h>
#include <apr_hash.h>
#include <apr_tables.h>
#include <apr_lib.h>
#include "ec_tmpl.h"
#include "ec_util.h"

#define MAX_DEPTH 12
#define MAX_TEMPLATE (256 * 1024)

typedef struct {
    int kind;                   /* 0 text, 1 trusted html, 2 list, 3 flag */
    const char *s;
    apr_array_header_t *items;  /* ec_tmpl_vars * */
    int on;
} val_t;

struct ec_tmpl_vars {
    apr_pool_t *pool;
    ec_tmpl_vars *parent;
    apr_hash_t *vals;
};

struct ec_tmpl {
    apr_pool_t *pool;
    const char *dir;
    const char *sub, *ext;      /* "/templates/" ".html", or "/templates/mail/" ".txt" */
    int text;                   /* plain text: nothing is escaped */
    apr_hash_t *msgs;           /* key -> text */
    apr_hash_t *files;          /* page -> text, read once per ec_tmpl_t */
    int shared;                 /* msgs and files are a library's: never read into or changed */
};

struct ec_tmpl_lib {
    const char *dir;
    apr_hash_t *files;          /* page -> text: every .html file of templates/ */
    apr_hash_t *catalogues;     /* lang -> (key -> text) */
};

typedef struct {
    ec_tmpl_t *t;
    apr_pool_t *p;
    char *buf;
    size_t len, cap;
    const char *err;
} out_t;

ec_tmpl_vars *ec_tmpl_vars_make(apr_pool_t *p, ec_tmpl_vars *parent)
{
    ec_tmpl_vars *v = apr_pcalloc(p, sizeof(*v));
    v->pool = p;
    v->parent = parent;
    v->vals = apr_hash_make(p);
    return v;
}

static void put(ec_tmpl_vars *v, const char *name, val_t *x)
{
    apr_hash_set(v->vals, apr_pstrdup(v->pool, name), APR_HASH_KEY_STRING, x);
}

void ec_tmpl_set(ec_tmpl_vars *v, const char *name, const char *text)
{
    val_t *x;
    if (!text) {
        apr_hash_set(v->vals, name, APR_HASH_KEY_STRING, NULL);
        return;
    }
    x = apr_pcalloc(v->pool, sizeof(*x));
    x->kind = 0;
    x->s = apr_pstrdup(v->pool, text);
    put(v, name, x);
}

void ec_tmpl_setf(ec_tmpl_vars *v, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ec_tmpl_set(v, name, apr_pvsprintf(v->pool, fmt, ap));
    va_end(ap);
}

void ec_tmpl_set_raw(ec_tmpl_vars *v, const char *name, const char *html)
{
    val_t *x = apr_pcalloc(v->pool, sizeof(*x));
    x->kind = 1;
    x->s = html ? apr_pstrdup(v->pool, html) : "";
    put(v, name, x);
}

void ec_tmpl_flag(ec_tmpl_vars *v, const char *name, int on)
{
    val_t *x = apr_pcalloc(v->pool, sizeof(*x));
    x->kind = 3;
    x->on = on;
    put(v, name, x);
}

ec_tmpl_vars *ec_tmpl_add(ec_tmpl_vars *v, const char *name)
{
    val_t *x = apr_hash_get(v->vals, name, APR_HASH_KEY_STRING);
    ec_tmpl_vars *item;
    if (!x || x->kind != 2) {
        x = apr_pcalloc(v->pool, sizeof(*x));
        x->kind = 2;
        x->items = apr_array_make(v->pool, 4, sizeof(ec_tmpl_vars *));
        put(v, name, x);
    }
    item = ec_tmpl_vars_make(v->pool, v);
    APR_ARRAY_PUSH(x->items, ec_tmpl_vars *) = item;
    return item;
}

static val_t *lookup(ec_tmpl_vars *v, const char *name)
{
    for (; v; v = v->parent) {
        val_t *x = apr_hash_get(v->vals, name, APR_HASH_KEY_STRING);
        if (x)
            return x;
    }
    return NULL;
}

char *ec_html_escape(apr_pool_t *p, const char *s)
{
    size_t n = 0;
    char *out, *o;

    if (!s)
        return "";
    for (const char *c = s; *c; c++)
        n += *c == '&' ? 5 : (*c == '<' || *c == '>') ? 4 : (*c == '"' || *c == '\'') ? 5 : 1;
    out = o = apr_palloc(p, n + 1);
    for (const char *c = s; *c; c++) {
        switch (*c) {
        case '&': memcpy(o, "&amp;", 5); o += 5; break;
        case '<': memcpy(o, "&lt;", 4); o += 4; break;
        case '>': memcpy(o, "&gt;", 4); o += 4; break;
        case '"': memcpy(o, "&#34;", 5); o += 5; break;
        case '\'': memcpy(o, "&#39;", 5); o += 5; break;
        default: *o++ = *c;
        }
    }
    *o = 0;
    return out;
}

static void emit(out_t *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8192;
        char *nb;
        while (cap < o->len + n + 1)
            cap *= 2;
        nb = apr_palloc(o->p, cap);
        if (o->len)
            memcpy(nb, o->buf, o->len);
        o->buf = nb;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = 0;
}

static void emit_s(out_t *o, const char *s)
{
    emit(o, s, strlen(s));
}

static int name_ok(const char *s, size_t n)
{
    if (!n || n > 100)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(apr_isalnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return 0;
    return 1;
}

static const char *file_text(ec_tmpl_t *t, const char *page, const char **err)
{
    const char *text = apr_hash_get(t->files, page, APR_HASH_KEY_STRING);
    char *data;
    size_t len;

    if (text)
        return text;
    if (t->shared) {
        *err = apr_psprintf(t->pool, "no template %s%s%s%s (was it there at start?)", t->dir, t->sub, page, t->ext);
        return NULL;
    }
    if (!name_ok(page, strlen(page)) || strstr(page, "..")) {
        *err = apr_psprintf(t->pool, "bad template name '%s'", page);
        return NULL;
    }
    if (ec_read_file(t->pool, apr_pstrcat(t->pool, t->dir, t->sub, page, t->ext, NULL),
                     MAX_TEMPLATE, &data, &len) != APR_SUCCESS) {
        *err = apr_psprintf(t->pool, "cannot read template %s%s%s%s", t->dir, t->sub, page, t->ext);
        return NULL;
    }
    apr_hash_set(t->files, apr_pstrdup(t->pool, page), APR_HASH_KEY_STRING, data);
    return data;
}

static int render(out_t *o, const char *s, const char *end, ec_tmpl_vars *v, int depth);

/* The end of the section opened by `name` whose body starts at s: the position of its
 * "{{/name}}"; *after is past it. Nested sections of the same name are counted. */
static const char *section_end(const char *s, const char *end, const char *name, size_t nlen,
                               const char **after)
{
    int level = 1;
    while (s < end) {
        const char *open = strstr(s, "{{");
        const char *close;
        if (!open || open >= end)
            return NULL;
        close = strstr(open + 2, "}}");
        if (!close || close >= end)
            return NULL;
        if ((open[2] == '#' || open[2] == '^') && (size_t)(close - open - 3) == nlen &&
            !memcmp(open + 3, name, nlen))
            level++;
        else if (open[2] == '/' && (size_t)(close - open - 3) == nlen && !memcmp(open + 3, name, nlen) &&
                 --level == 0) {
            *after = close + 2;
            return open;
        }
        s = close + 2;
    }
    return NULL;
}

static int truthy(val_t *x)
{
    if (!x)
        return 0;
    switch (x->kind) {
    case 2: return x->items->nelts > 0;
    case 3: return x->on;
    default: return x->s && *x->s;
    }
}

static int render(out_t *o, const char *s, const char *end, ec_tmpl_vars *v, int depth)
{
    if (depth > MAX_DEPTH) {
        o->err = "templates nest too deeply";
        return -1;
    }
    while (s < end) {
        const char *open = strstr(s, "{{"), *close, *name;
        size_t nlen;
        char kind;

        if (!open || open >= end) {
            emit(o, s, (size_t)(end - s));
            return 0;
        }
        emit(o, s, (size_t)(open - s));
        close = strstr(open + 2, "}}");
        if (!close || close >= end) {
            o->err = "a {{ tag is not closed";
            return -1;
        }
        kind = open[2];
        name = open + 2;
        if (kind == '#' || kind == '^' || kind == '_' || kind == '>' || kind == '!' || kind == '/')
            name++;
        nlen = (size_t)(close - name);
        s = close + 2;
        if (kind == '!')
            continue;
        if (!name_ok(name, nlen)) {
            o->err = apr_psprintf(o->p, "bad tag {{%.*s}}", (int)(close - open - 2), open + 2);
            return -1;
        }
        char *key = apr_pstrndup(o->p, name, nlen);
        if (kind == '/') {
            o->err = apr_psprintf(o->p, "{{/%s}} without its opening tag", key);
            return -1;
        }
        if (kind == '#' || kind == '^') {
            const char *after = end, *body_end = section_end(s, end, name, nlen, &after);
            val_t *x = lookup(v, key);
            if (!body_end) {
                o->err = apr_psprintf(o->p, "section {{%c%s}} is not closed", kind, key);
                return -1;
            }
            if (kind == '^') {
                if (!truthy(x) && render(o, s, body_end, v, depth + 1) < 0)
                    return -1;
            }
            else if (x && x->kind == 2) {
                for (int i = 0; i < x->items->nelts; i++)
                    if (render(o, s, body_end, APR_ARRAY_IDX(x->items, i, ec_tmpl_vars *), depth + 1) < 0)
                        return -1;
            }
            else if (truthy(x) && render(o, s, body_end, v, depth + 1) < 0)
                return -1;
            s = after;
            continue;
        }
        if (kind == '_') {
            const char *msg = apr_hash_get(o->t->msgs, key, APR_HASH_KEY_STRING);
            if (!msg)
                emit_s(o, o->t->text ? key : ec_html_escape(o->p, key));
            else if (render(o, msg, msg + strlen(msg), v, depth + 1) < 0)
                return -1;
            continue;
        }
        if (kind == '>') {
            const char *text = file_text(o->t, key, &o->err);
            if (!text || render(o, text, text + strlen(text), v, depth + 1) < 0)
                return -1;
            continue;
        }
        {
            val_t *x = lookup(v, key);
            if (x && (x->kind == 1 || (x->kind == 0 && o->t->text)))
                emit_s(o, x->s);
            else if (x && x->kind == 0)
                emit_s(o, ec_html_escape(o->p, x->s));
        }
    }
    return 0;
}

static apr_status_t read_catalogue(apr_hash_t **msgs, apr_pool_t *p, const char *dir, const char *lang,
                                   const char **err)
{
    char *data, *line, *next;
    size_t len;
    apr_status_t rv;

    if (!name_ok(lang, strlen(lang))) {
        *err = "bad language";
        return APR_EINVAL;
    }
    *msgs = apr_hash_make(p);
    if ((rv = ec_read_file(p, apr_pstrcat(p, dir, "/templates/i18n/", lang, ".txt", NULL),
                           MAX_TEMPLATE, &data, &len)) != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot read the message catalogue %s/templates/i18n/%s.txt", dir, lang);
        return rv;
    }
    for (line = data; line && *line; line = next) {
        char *eq, *k, *ke, *val, *ve;
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        for (k = line; apr_isspace(*k); k++)
            ;
        if (!*k || *k == '#' || !(eq = strchr(k, '=')))
            continue;
        for (ke = eq; ke > k && apr_isspace(ke[-1]); ke--)
            ;
        *ke = 0;
        for (val = eq + 1; *val == ' ' || *val == '\t'; val++)
            ;
        for (ve = val + strlen(val); ve > val && apr_isspace(ve[-1]); ve--)
            ;
        *ve = 0;
        apr_hash_set(*msgs, k, APR_HASH_KEY_STRING, val);
    }
    return APR_SUCCESS;
}

apr_status_t ec_tmpl_open(ec_tmpl_t **out, apr_pool_t *p, const char *dir, const char *lang,
                          const char **err)
{
    ec_tmpl_t *t = apr_pcalloc(p, sizeof(*t));
    apr_status_t rv;

    t->pool = p;
    t->dir = dir;
    t->sub = "/templates/";
    t->ext = ".html";
    t->files = apr_hash_make(p);
    if ((rv = read_catalogue(&t->msgs, p, dir, lang, err)) != APR_SUCCESS)
        return rv;
    *out = t;
    return APR_SUCCESS;
}

/* What rendering would find wrong in text whatever the values: NULL when nothing. Sections
 * must nest (what render() accepts of a misnested one depends on the values). */
static const char *check(apr_pool_t *p, const char *s, apr_hash_t *files)
{
    apr_array_header_t *open_sections = apr_array_make(p, 8, sizeof(const char *));

    while ((s = strstr(s, "{{"))) {
        const char *close = strstr(s + 2, "}}"), *name = s + 2;
        char kind = s[2], *key;
        if (!close)
            return "a {{ tag is not closed";
        if (kind == '#' || kind == '^' || kind == '_' || kind == '>' || kind == '!' || kind == '/')
            name++;
        if (kind != '!' && !name_ok(name, (size_t)(close - name)))
            return apr_psprintf(p, "bad tag {{%.*s}}", (int)(close - s - 2), s + 2);
        key = apr_pstrndup(p, name, (size_t)(close - name));
        s = close + 2;
        if (kind == '#' || kind == '^')
            APR_ARRAY_PUSH(open_sections, const char *) = key;
        else if (kind == '/') {
            if (!open_sections->nelts)
                return apr_psprintf(p, "{{/%s}} without its opening tag", key);
            const char *top = *(const char **)apr_array_pop(open_sections);
            if (strcmp(top, key))
                return apr_psprintf(p, "{{/%s}} closes section %s", key, top);
        }
        else if (kind == '>' && !apr_hash_get(files, key, APR_HASH_KEY_STRING))
            return apr_psprintf(p, "{{>%s}}: there is no template %s.html", key, key);
    }
    if (open_sections->nelts)
        return apr_psprintf(p, "section %s is not closed", APR_ARRAY_IDX(open_sections, open_sections->nelts - 1,
                                                                       const char *));
    return NULL;
}

static apr_status_t read_pages(ec_tmpl_lib *lib, apr_pool_t *p, const char **err)
{
    const char *tdir = apr_pstrcat(p, lib->dir, "/templates", NULL);
    apr_dir_t *d;
    apr_finfo_t fi;
    apr_status_t rv;

    if ((rv = apr_dir_open(&d, tdir, p)) != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot open the templates directory %s", tdir);
        return rv;
    }
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d) == APR_SUCCESS) {
        size_t n = strlen(fi.name);
        char *data;
        size_t len;
        /* a link to a template counts; i18n/ and mail/ do not */
        if (fi.filetype == APR_DIR || n <= 5 || strcmp(fi.name + n - 5, ".html") || !name_ok(fi.name, n - 5))
            continue;
        if ((rv = ec_read_file(p, apr_pstrcat(p, tdir, "/", fi.name, NULL), MAX_TEMPLATE, &data, &len))
            != APR_SUCCESS) {
            *err = apr_psprintf(p, "cannot read template %s/%s", tdir, fi.name);
            break;
        }
        apr_hash_set(lib->files, apr_pstrndup(p, fi.name, n - 5), APR_HASH_KEY_STRING, data);
    }
    apr_dir_close(d);
    return rv;
}

apr_status_t ec_tmpl_lib_load(ec_tmpl_lib **out, apr_pool_t *p, const char *dir,
                              const char *const *langs, const char **err)
{
    ec_tmpl_lib *lib = apr_pcalloc(p, sizeof(*lib));
    apr_status_t rv;
    const char *why;

    lib->dir = apr_pstrdup(p, dir);
    lib->files = apr_hash_make(p);
    lib->catalogues = apr_hash_make(p);
    if ((rv = read_pages(lib, p, err)) != APR_SUCCESS)
        return rv;
    for (apr_hash_index_t *i = apr_hash_first(p, lib->files); i; i = apr_hash_next(i)) {
        const void *page;
        void *text;
        apr_hash_this(i, &page, NULL, &text);
        if ((why = check(p, text, lib->files))) {
            *err = apr_psprintf(p, "template %s/templates/%s.html: %s", dir, (const char *)page, why);
            return APR_EINVAL;
        }
    }
    for (; *langs; langs++) {
        apr_hash_t *msgs;
        if ((rv = read_catalogue(&msgs, p, dir, *langs, err)) != APR_SUCCESS)
            return rv;
        for (apr_hash_index_t *i = apr_hash_first(p, msgs); i; i = apr_hash_next(i)) {
            const void *key;
            void *text;
            apr_hash_this(i, &key, NULL, &text);
            if ((why = check(p, text, lib->files))) {
                *err = apr_psprintf(p, "catalogue %s/templates/i18n/%s.txt, message %s: %s", dir, *langs,
                                    (const char *)key, why);
                return APR_EINVAL;
            }
        }
        apr_hash_set(lib->catalogues, apr_pstrdup(p, *langs), APR_HASH_KEY_STRING, msgs);
    }
    *out = lib;
    return APR_SUCCESS;
}

apr_status_t ec_tmpl_lib_open(ec_tmpl_t **out, apr_pool_t *p, const ec_tmpl_lib *lib, const char *lang,
                              const char **err)
{
    ec_tmpl_t *t;
    apr_hash_t *msgs = apr_hash_get(lib->catalogues, lang, APR_HASH_KEY_STRING);

    if (!msgs) {
        *err = apr_psprintf(p, "no catalogue %s.txt was loaded from %s/templates/i18n", lang, lib->dir);
        return APR_ENOENT;
    }
    t = apr_pcalloc(p, sizeof(*t));
    t->pool = p;
    t->dir = lib->dir;
    t->sub = "/templates/";
    t->ext = ".html";
    t->msgs = msgs;
    t->files = lib->files;
    t->shared = 1;
    *out = t;
    return APR_SUCCESS;
}

apr_status_t ec_tmpl_open_text(ec_tmpl_t **out, apr_pool_t *p, const char *dir, const char **err)
{
    ec_tmpl_t *t = apr_pcalloc(p, sizeof(*t));
    apr_finfo_t fi;

    if (apr_stat(&fi, apr_pstrcat(p, dir, "/templates/mail", NULL), APR_FINFO_TYPE, p) != APR_SUCCESS ||
        fi.filetype != APR_DIR) {
        *err = apr_psprintf(p, "no mail templates in %s/templates/mail", dir);
        return APR_ENOENT;
    }
    t->pool = p;
    t->dir = dir;
    t->sub = "/templates/mail/";
    t->ext = ".txt";
    t->text = 1;
    t->msgs = apr_hash_make(p);
    t->files = apr_hash_make(p);
    *out = t;
    return APR_SUCCESS;
}

int ec_tmpl_has_msg(ec_tmpl_t *t, const char *key)
{
    return apr_hash_get(t->msgs, key, APR_HASH_KEY_STRING) != NULL;
}

const char *ec_tmpl_msg(ec_tmpl_t *t, const char *key, ec_tmpl_vars *v)
{
    const char *msg = apr_hash_get(t->msgs, key, APR_HASH_KEY_STRING);
    out_t o = { t, t->pool, NULL, 0, 0, NULL };

    if (!msg)
        return ec_html_escape(t->pool, key);
    if (render(&o, msg, msg + strlen(msg), v ? v : ec_tmpl_vars_make(t->pool, NULL), 0) < 0)
        return ec_html_escape(t->pool, key);
    return o.buf ? o.buf : "";
}

apr_status_t ec_tmpl_render(ec_tmpl_t *t, const char *page, ec_tmpl_vars *v, char **out,
                            size_t *len, const char **err)
{
    out_t o = { t, t->pool, NULL, 0, 0, NULL };
    const char *text = file_text(t, page, &o.err);

    if (!text || render(&o, text, text + strlen(text), v, 0) < 0) {
        *err = apr_psprintf(t->pool, "template %s: %s", page, o.err ? o.err : "error");
        return APR_EGENERAL;
    }
    *out = o.buf ? o.buf : apr_pstrdup(t->pool, "");
    *len = o.len;
    return APR_SUCCESS;
}
