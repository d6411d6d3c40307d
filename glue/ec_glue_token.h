/* The token as every signing module takes it: the PIN read in the parent at each (re)start,
 * while still privileged (not activated is a state, said once: nothing signs until then), and
 * the handle opened in each child after fork. */
#ifndef EC_GLUE_TOKEN_H
#define EC_GLUE_TOKEN_H

#include "ec_glue_log.h"
#include "ec_p11.h"

/* NULL, or why a token directive (module, PIN, sessions) cannot be where cmd found it: the
 * token is opened once per child for the whole server, so in a <VirtualHost> it would be
 * silently ignored. */
EC_GLUE const char *ec_glue_token_directive(cmd_parms *cmd);

/* spec: the ECertTokenPIN / OCSPTokenPIN value. *pin NULL while not activated ("meanwhile"
 * says what the module does then). OK, or HTTP_INTERNAL_SERVER_ERROR after logging why. */
EC_GLUE int ec_glue_token_pin(apr_pool_t *pconf, server_rec *s, const char *spec, char **pin,
                              const char *meanwhile);

/* The child's handle on the token of key_uri; a token that cannot be reached yet is logged
 * (what happens "meanwhile") and retried on use. NULL only when the module does not load. */
EC_GLUE ec_p11 *ec_glue_token_open(apr_pool_t *pchild, server_rec *s, const char *p11_module, const char *key_uri,
                                   const char *pin, int sessions, const char *meanwhile);

#endif
