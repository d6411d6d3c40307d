/* The PIN envelope form's three fields read the way the subscriber means them:
 * separators, and the full-width digits and spaces a Chinese input method types, are dropped
 * or mapped; a server name pasted as a URL is cut to its host. NULL: not a value of that
 * field at all, so the form says which field and nothing is tried or counted. */
#ifndef EC_LOGIN_INPUT_H
#define EC_LOGIN_INPUT_H

#include <apr_pools.h>

/* The fields that are not values, as a mask. */
#define EC_LOGIN_BAD_NAME 1
#define EC_LOGIN_BAD_REF  2
#define EC_LOGIN_BAD_PIN  4

/* "1234-5678 ９０１２\u30003456" -> "1234567890123456"; NULL unless 16 digits. */
const char *ec_login_pin(apr_pool_t *p, const char *in);
/* "123 456-789" -> "123456789"; NULL unless 9 digits. */
const char *ec_login_reference(apr_pool_t *p, const char *in);
/* " https://WWW.Example.com:443/x " -> "www.example.com" (the A-label; a wildcard name
 * stays one); NULL unless a DNS name remains. */
const char *ec_login_server_name(apr_pool_t *p, const char *in);

#endif
