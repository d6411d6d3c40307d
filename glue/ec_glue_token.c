#include <httpd.h>
#include <http_config.h>
#include <apr_strings.h>
#include "ec_glue_token.h"
#include "ec_log.h"
#include "ec_token_pin.h"

const char *ec_glue_token_directive(cmd_parms *cmd)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    return err ? apr_pstrcat(cmd->pool, err, " (the token is the whole server's)", NULL) : NULL;
}

int ec_glue_token_pin(apr_pool_t *pconf, server_rec *s, const char *spec, char **pin, const char *meanwhile)
{
    const char *err;
    apr_status_t rv;

    *pin = NULL;
    if (!spec)
        return OK;
    rv = ec_token_pin_read(pconf, spec, pin, &err);
    if (rv == APR_ENOENT) {
        *pin = NULL;
        ec_log(EC_LOG_NOTICE, "ECG0001", "%s: %s", err, meanwhile);
        return OK;
    }
    if (rv != APR_SUCCESS) {
        ec_log_rv(EC_LOG_ERR, rv, "ECG0002", "%s", err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

ec_p11 *ec_glue_token_open(apr_pool_t *pchild, server_rec *s, const char *p11_module, const char *key_uri,
                           const char *pin, int sessions, const char *meanwhile)
{
    ec_p11 *p11 = NULL;

    /* Sessions are opened here, after fork, never in the parent. */
    if (ec_p11_open(&p11, pchild, p11_module, key_uri, pin, sessions) != APR_SUCCESS && pin)
        ec_log(EC_LOG_ERR, "ECG0003", "the HSM is not available to this child yet: %s, and the token "
               "is tried again on use", meanwhile);
    ec_p11_join(p11, s->process->pool);
    return p11;
}
