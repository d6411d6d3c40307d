/* What a person pastes into the repository search: serials as openssl and browsers print
 * them, server names as URLs or with the root's dot. */
#include <string.h>
#include <apr_general.h>
#include "tap.h"
#include "ec_flow.h"

static int is(const char *got, const char *want)
{
    return got && !strcmp(got, want);
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(10);

    ok(is(ec_flow_serial_norm(p, "0x45169D0895AF56F3D0B5A8027D988E4476D1C71F"),
          "45169d0895af56f3d0b5a8027d988e4476d1c71f"), "0x and upper case");
    ok(is(ec_flow_serial_norm(p, "45:16:9D:08:95:AF"), "45169d0895af") &&
       is(ec_flow_serial_norm(p, " 45 16 9d 08\t95 af "), "45169d0895af"), "colons, spaces and tabs");
    ok(is(ec_flow_serial_norm(p, "serial=0EB928"), "0eb928"), "openssl x509 -serial");
    ok(!ec_flow_serial_norm(p, "0x") && !ec_flow_serial_norm(p, "0xg1") && !ec_flow_serial_norm(p, "1x45"),
       "an x anywhere but after the leading 0 is no serial");
    ok(is(ec_flow_query_host(p, "https://www.example.com/path?q=1#top"), "www.example.com"),
       "the host of a URL");
    ok(is(ec_flow_query_host(p, "HTTPS://user:pw@www.example.com:8443/"), "www.example.com"),
       "without user information and port");
    ok(is(ec_flow_query_host(p, "www.example.com."), "www.example.com") &&
       is(ec_flow_query_host(p, "www.example.com/index.html"), "www.example.com"),
       "the root's dot and a path without a scheme");
    ok(is(ec_flow_query_host(p, "*.example.com"), "*.example.com") &&
       is(ec_flow_query_host(p, "例子.香港"), "例子.香港"), "wildcards and U-labels unchanged");
    ok(is(ec_flow_query_host(p, "www.example.com:abc"), "www.example.com:abc") &&
       is(ec_flow_query_host(p, "a b://x"), "a b:"), "no port or scheme: left for the name check to refuse");
    ok(is(ec_flow_query_host(p, "."), ".") && is(ec_flow_query_host(p, ""), ""), "a lone dot stays");
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
