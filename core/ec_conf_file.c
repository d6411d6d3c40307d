/* httpd's configuration file syntax: see ec_conf_file.h. */
#include <string.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include "ec_conf_file.h"

/* One word at *s (not blank): its value, and *s moved past it and the blanks after. */
static char *word(apr_pool_t *p, char **s)
{
    char *in = *s, *out, *res;
    char quote = (*in == '"' || *in == '\'') ? *in++ : 0;

    res = out = apr_palloc(p, strlen(in) + 1);
    while (*in && (quote ? *in != quote : !apr_isspace(*in))) {
        if (*in == '\\' && (in[1] == '\\' || (quote && in[1] == quote)))
            in++;
        *out++ = *in++;
    }
    *out = 0;
    if (quote && *in == quote)
        in++;
    while (apr_isspace(*in))
        in++;
    *s = in;
    return res;
}

/* A logical line's directive, or nothing for a blank line or a comment. */
static void directive(apr_pool_t *p, apr_array_header_t *out, char *s, int lineno)
{
    apr_array_header_t *words;
    ec_conf_line_t *l;

    while (apr_isspace(*s))
        s++;
    if (!*s || *s == '#')
        return;
    words = apr_array_make(p, 4, sizeof(char *));
    while (*s)
        APR_ARRAY_PUSH(words, char *) = word(p, &s);
    l = apr_array_push(out);
    l->name = APR_ARRAY_IDX(words, 0, char *);
    l->argc = words->nelts - 1;
    l->argv = (char **)words->elts + 1;
    l->line = lineno;
}

apr_array_header_t *ec_conf_file_parse(apr_pool_t *p, char *text)
{
    apr_array_header_t *out = apr_array_make(p, 32, sizeof(ec_conf_line_t));
    char *line = text, *joined = NULL;     /* joined: the continued lines so far */
    int lineno = 1, start = 1;

    for (; line && *line; lineno++) {
        char *nl = strchr(line, '\n');
        size_t len;

        if (nl)
            *nl = 0;
        len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[--len] = 0;
        if (!joined)
            start = lineno;
        /* One backslash at the end (not two) joins the next line, as ap_cfg_getline. */
        if (len && line[len - 1] == '\\' && (len < 2 || line[len - 2] != '\\')) {
            line[len - 1] = 0;
            joined = joined ? apr_pstrcat(p, joined, line, NULL) : apr_pstrdup(p, line);
        }
        else {
            directive(p, out, joined ? apr_pstrcat(p, joined, line, NULL) : line, start);
            joined = NULL;
        }
        line = nl ? nl + 1 : NULL;
    }
    if (joined)
        directive(p, out, joined, start);
    return out;
}
