/* httpd's configuration file syntax, for a host that reads httpd's files without httpd
 * (ecertctl): the same lines give the same arguments as httpd itself would pass. */
#ifndef EC_CONF_FILE_H
#define EC_CONF_FILE_H

#include <apr_pools.h>
#include <apr_tables.h>

typedef struct {
    const char *name;
    int argc;
    char **argv;                   /* the arguments after the name */
    int line;                      /* where the directive starts, from 1 */
} ec_conf_line_t;

/* Every directive of text, in order (ec_conf_line_t), as httpd reads them: a line ending in
 * one backslash continues on the next; a line whose first non-blank character is # is a
 * comment (also one continued); words are split at blanks, "..." and '...' keep blanks, and
 * inside them \\ and \<the quote> stand for the character (outside them only \\), as
 * ap_getword_conf. Section tags (<Location ...>) come back as directives named "<Location".
 * text is modified. */
apr_array_header_t *ec_conf_file_parse(apr_pool_t *p, char *text);

#endif
