/* The core's log lines in httpd's error log, for every module that links the core: each
 * module's build compiles its own copy of this file (Makefile). */
#ifndef EC_GLUE_LOG_H
#define EC_GLUE_LOG_H

#include <httpd.h>
#include <http_config.h>

/* Hidden: httpd loads the modules RTLD_GLOBAL, and each copy must serve its own module's core. */
#define EC_GLUE __attribute__((visibility("hidden")))

/* From post_config on, core lines go to s's error log under module_index (APLOG_MODULE_INDEX). */
EC_GLUE void ec_glue_log_init(server_rec *s, int module_index);
/* Runs a handler with r as the thread's log context: the core's lines about the request
 * carry its client and log id (ap_log_rerror). */
EC_GLUE int ec_glue_log_handler(request_rec *r, int (*handler)(request_rec *r));

#endif
