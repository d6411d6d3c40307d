/* Where the token PIN waits between activations: a kernel keyring entry, never a file.
 * `ecertctl activate` rebuilds the PIN from two custodians' shares and puts it in the user
 * keyring of the account httpd starts as (a "user" key named by ECertTokenPIN
 * keyring:NAME); httpd reads it at each (re)start while still privileged and its children
 * keep it in memory only. `ecertctl deactivate` invalidates the entry: from the next restart
 * nothing can sign until two custodians activate again. Keyring entries live in kernel
 * memory: a reboot deactivates too. */
#ifndef EC_TOKEN_PIN_H
#define EC_TOKEN_PIN_H

#include <apr_pools.h>
#include <apr_errno.h>

/* spec is "keyring:NAME". APR_ENOENT (with *err saying so) when the CA keys are not
 * activated; APR_EINVAL for a malformed spec; *pin is wiped when pool is cleared. */
apr_status_t ec_token_pin_read(apr_pool_t *pool, const char *spec, char **pin, const char **err);

/* For ecertctl: activate (replacing an earlier entry) and deactivate. */
apr_status_t ec_token_pin_put(apr_pool_t *pool, const char *spec, const char *pin, const char **err);
apr_status_t ec_token_pin_drop(apr_pool_t *pool, const char *spec, const char **err);

/* NULL when spec is well-formed; otherwise what is wrong with it (for directive parsing). */
const char *ec_token_pin_spec_error(const char *spec);

#endif
