/* libFuzzer target for what the CRL code parses: the head of a served file (ec_crl_peek reads
 * thisUpdate and nextUpdate from it, whatever is on disk) and the directives' values
 * (ECertCRLSchedule times, durations). */
#include <stdint.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "ec_crl.h"
#include "ec_crl_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static apr_pool_t *root;
    apr_pool_t *p;
    time_t a, b;
    ec_crl_conf_t c;
    char *text, *argv[8];
    int argc = 0;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    apr_pool_create(&p, root);
    /* Any head at all: a verdict, never a read past it (ASan says). */
    (void)ec_crl_peek(data, size, &a, &b);

    /* The same bytes as directive arguments, split on spaces. */
    text = apr_pstrmemdup(p, (const char *)data, size > 200 ? 200 : size);
    for (char *save = NULL, *w = apr_strtok(text, " ", &save); w && argc < 8; w = apr_strtok(NULL, " ", &save))
        argv[argc++] = w;
    ec_crl_conf_init(&c);
    if (!ec_crl_conf_directive(&c, p, "ECertCRLSchedule", argc, argv)) {
        time_t slot = ec_crl_sched_slot(&c.sched, 1796090000);
        if (slot > 1796090000 || slot < 1796090000 - 2 * 86400)
            __builtin_trap();
    }
    ec_crl_conf_directive(&c, p, "ECertCRLValidity", argc, argv);
    apr_pool_destroy(p);
    return 0;
}
