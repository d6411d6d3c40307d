/* PIN envelopes: 9-digit reference number, 16-digit PIN, stored only as a salted
 * scrypt hash. */
#ifndef EC_PIN_H
#define EC_PIN_H

#include <apr_pools.h>
#include <apr_errno.h>

/* n random decimal digits (uniform, CSPRNG). */
apr_status_t ec_pin_digits(char *out, int n);
/* "$scrypt$ln=15,r=8,p=1$<salt hex>$<hash hex>" */
char *ec_pin_hash(apr_pool_t *p, const char *pin);
/* 1 when pin matches; constant time in the PIN. */
int ec_pin_verify(apr_pool_t *p, const char *pin, const char *stored);
/* The PIN as typed, spaces removed; NULL unless exactly 16 digits remain. */
char *ec_pin_normalize(apr_pool_t *p, const char *input);
/* "1234 5678 9012 3456" */
char *ec_pin_format(apr_pool_t *p, const char *pin);

#endif
