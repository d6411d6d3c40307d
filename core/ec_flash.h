/* What a failed form hands to the page it redirects to (post/redirect/get): the message's
 * catalogue key and the values the page needs to show it again (what the subscriber typed,
 * the numbers in the message). Kept with the subscriber's session (ec_session.h), so the page
 * can be reloaded, left with Back and shown in the other language; never a secret. */
#ifndef EC_FLASH_H
#define EC_FLASH_H

#include <apr_pools.h>
#include <apr_tables.h>

/* Room for a pasted CSR and its message; a bigger one is not kept. */
#define EC_FLASH_MAX (80 * 1024)

/* name=value&... with every octet outside [A-Za-z0-9_.-] as %XX; NULL when over EC_FLASH_MAX. */
char *ec_flash_encode(apr_pool_t *p, const apr_table_t *t);
/* The table back; NULL when s is not what ec_flash_encode makes. */
apr_table_t *ec_flash_decode(apr_pool_t *p, const char *s);

#endif
