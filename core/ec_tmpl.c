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

apr_status_t ec_tmpl_open(ec_tmpl_t **out, apr_pool_t *p, const char *dir, const char *lang,
                          const char **err)
{
    ec_tmpl_t *t = apr_pcalloc(p, sizeof(*t));
    char *data, *line, *next;
    size_t len;
    apr_status_t rv;

    if (!name_ok(lang, strlen(lang))) {
        *err = "bad language";
        return APR_EINVAL;
    }
    t->pool = p;
    t->dir = dir;
    t->sub = "/templates/";
    t->ext = ".html";
    t->msgs = apr_hash_make(p);
    t->files = apr_hash_make(p);
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
        apr_hash_set(t->msgs, k, APR_HASH_KEY_STRING, val);
    }
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
