/* ecertctl audit verify: recompute the hash chain of the audit log. */
#include <stdio.h>
#include <string.h>
#include "ctl.h"
#include "ec_audit.h"

int cmd_audit(ctl_t *ctl, int argc, char **argv)
{
    static const ec_stmt_t *const sets[] = { ec_audit_stmts, NULL };
    ec_store_t *s;
    long long count, bad;

    if (argc >= 2 && !strcmp(argv[1], "unfinished"))
        return ctl_unfinished(ctl, argc - 1, argv + 1);
    if (argc != 2 || strcmp(argv[1], "verify"))
        ctl_fail("usage: ecertctl audit verify");
    ctl_store(ctl, sets, &s);
    if (ec_audit_verify(s, ctl->pool, &count, &bad) != APR_SUCCESS) {
        if (bad)
            ctl_fail("audit log BROKEN at event %lld (%lld events read)", bad, count);
        ctl_fail("the audit log could not be read");
    }
    printf("audit log intact: %lld events\n", count);
    return 0;
}
