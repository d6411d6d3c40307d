/* Values of configuration directives, checked the same way for httpd (both modules) and
 * ecertctl: each returns NULL or the sentence that tells the operator what is wrong. */
#ifndef EC_CONF_H
#define EC_CONF_H

#include <apr_pools.h>

const char *ec_conf_int(apr_pool_t *p, const char *directive, const char *arg, long min, long max,
                        int *out);
/* Seconds, or a number with a unit s, m, h or d. */
const char *ec_conf_duration(apr_pool_t *p, const char *directive, const char *arg, long min,
                             long max, int *out);

#endif
