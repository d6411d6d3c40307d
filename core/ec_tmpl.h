/* Page templates (R-1..R-8 pages, bilingual): a small mustache-like engine so that
 * administrators restyle pages and wording without recompiling, and so that every
 * dynamic value is HTML-escaped in one place.
 *
 *   {{name}}              value; escaped unless it was set as a trusted fragment
 *   {{#name}}..{{/name}}  once per list item, or once if the value is set and non-empty
 *   {{^name}}..{{/name}}  when the value is unset, empty or an empty list
 *   {{_key}}              message `key` of the language's catalogue, itself a template
 *   {{>file}}             another template of the directory (header, footer)
 *   {{!text}}             comment
 *
 * Files: <dir>/templates/<page>.html and the catalogues <dir>/templates/i18n/<lang>.txt
 * ("key = text" lines, '#' comments).
 *
 * A server reads them once (ec_tmpl_lib_load, at start) into a library that is read-only
 * afterwards, so the threads of a process share it; each request renders through its own
 * view (ec_tmpl_lib_open), which allocates in the request's pool only. */
#ifndef EC_TMPL_H
#define EC_TMPL_H

#include <apr_pools.h>
#include <apr_errno.h>

typedef struct ec_tmpl_vars ec_tmpl_vars;
typedef struct ec_tmpl ec_tmpl_t;
typedef struct ec_tmpl_lib ec_tmpl_lib;

ec_tmpl_vars *ec_tmpl_vars_make(apr_pool_t *p, ec_tmpl_vars *parent);
/* Untrusted text: always escaped on output. NULL unsets. */
void ec_tmpl_set(ec_tmpl_vars *v, const char *name, const char *text);
void ec_tmpl_setf(ec_tmpl_vars *v, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A trusted HTML fragment the program built itself (never user input). */
void ec_tmpl_set_raw(ec_tmpl_vars *v, const char *name, const char *html);
void ec_tmpl_flag(ec_tmpl_vars *v, const char *name, int on);
/* Appends an item to list `name` and returns its scope (it sees the outer values). */
ec_tmpl_vars *ec_tmpl_add(ec_tmpl_vars *v, const char *name);

/* Opens the directory for one language ("en", "zh"); the catalogue must exist. */
apr_status_t ec_tmpl_open(ec_tmpl_t **t, apr_pool_t *p, const char *dir, const char *lang,
                          const char **err);
/* Reads every .html file of <dir>/templates and the catalogue of each language of langs (NULL
 * ended) into p, and checks them all (tags closed and well formed, sections nested, every
 * {{>file}} there): an error names the file and what is wrong. */
apr_status_t ec_tmpl_lib_load(ec_tmpl_lib **lib, apr_pool_t *p, const char *dir,
                              const char *const *langs, const char **err);
/* One language of lib, for rendering into p; a language lib has no catalogue for fails. */
apr_status_t ec_tmpl_lib_open(ec_tmpl_t **t, apr_pool_t *p, const ec_tmpl_lib *lib, const char *lang,
                              const char **err);
/* The mail templates <dir>/templates/mail/<name>.txt: plain text, nothing escaped (a mail
 * is text/plain; its headers are checked where it is composed), no catalogue. */
apr_status_t ec_tmpl_open_text(ec_tmpl_t **t, apr_pool_t *p, const char *dir, const char **err);
/* A catalogue message rendered with v (HTML); the key itself when it is missing. */
const char *ec_tmpl_msg(ec_tmpl_t *t, const char *key, ec_tmpl_vars *v);
int ec_tmpl_has_msg(ec_tmpl_t *t, const char *key);
apr_status_t ec_tmpl_render(ec_tmpl_t *t, const char *page, ec_tmpl_vars *v, char **out,
                            size_t *len, const char **err);

char *ec_html_escape(apr_pool_t *p, const char *s);

#endif
