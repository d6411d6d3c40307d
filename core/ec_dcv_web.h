/* Website Change (BR 3.2.2.4.18): fetch http://<name>/.well-known/pki-validation/fileauth.txt
 * and look for the random value in the body. Every host is resolved by the CA's validating
 * resolver and connected to at that address only; redirects are followed by hand, only 301, 302,
 * 307 and 308, only to http or https on port 80 or 443, at most EC_DCV_WEB_MAX_HOPS of them; the
 * body is read up to EC_DCV_WEB_MAX_BODY and the whole fetch takes at most EC_DCV_WEB_TIMEOUT_S.
 * The value never appears in a URL the CA requests. */
#ifndef EC_DCV_WEB_H
#define EC_DCV_WEB_H

#include "ec_dcv_conf.h"
#include "ec_resolver.h"

#define EC_DCV_WEB_PATH      "/.well-known/pki-validation/fileauth.txt"
#define EC_DCV_WEB_MAX_HOPS  5
#define EC_DCV_WEB_MAX_BODY  65536
#define EC_DCV_WEB_TIMEOUT_S 15

typedef struct {
    int passed;
    int matched;           /* passed: the index of the code found */
    const char *reason;    /* catalogue suffix: passed, not-found, code-absent, redirect, http, timeout,
                            * connect, dns, bogus, address, too-large */
    const char *detail;    /* a sentence */
    const char *urls;      /* each request: "GET url -> status (address)", one per line */
    const char *dns;       /* the address lookups */
} ec_dcv_web_result_t;

/* codes: const char *, the application's live codes (any one of them passes). */
void ec_dcv_web_fetch(ec_resolver_t *r, apr_pool_t *p, const ec_dcv_conf_t *c, const char *name,
                      const apr_array_header_t *codes, ec_dcv_web_result_t *res);

/* Whether an address (4 or 16 octets) is one the CA must not fetch from: IPv4 loopback,
 * private, link-local, shared, multicast, reserved, documentation; IPv6 outside global unicast
 * (2000::/3), its special-purpose blocks, and 6to4 or mapped addresses of such IPv4. */
int ec_dcv_address_private(const uint8_t *a, size_t len);

#endif
