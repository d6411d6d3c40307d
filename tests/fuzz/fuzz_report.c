/* libFuzzer target for what anyone may post to the public report pages: the key-compromise
 * evidence (PEM private keys of every kind, proof CSRs) and the problem report's fields
 * (address, certificate, text), and an address the CA would mail. */
#include <stdint.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "ec_keycomp.h"
#include "ec_mail.h"
#include "ec_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static apr_pool_t *root;
    apr_pool_t *p;
    uint8_t spki[32];
    const char *kind, *third;
    char *text, *parts[3];
    ec_report_t r;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    apr_pool_create(&p, root);
    text = apr_pstrmemdup(p, (const char *)data, size);
    (void)ec_keycomp_evidence(p, text, strlen(text), NULL, spki, &kind);
    /* The same bytes as three form fields, split on the first two NULs or newlines. */
    parts[0] = text;
    parts[1] = strchr(parts[0], '\n') ? strchr(parts[0], '\n') + 1 : "";
    parts[2] = strchr(parts[1], '\n') ? strchr(parts[1], '\n') + 1 : "";
    third = parts[2];
    memset(&r, 0, sizeof(r));
    r.contact = apr_pstrndup(p, parts[0], strcspn(parts[0], "\n"));
    r.category = "other";
    r.body = third;
    if (ec_report_check(p, &r, apr_pstrndup(p, parts[1], strcspn(parts[1], "\n"))) == NULL &&
        !ec_mail_address_ok(r.contact))
        __builtin_trap();                /* a report is never accepted with a bad address */
    apr_pool_destroy(p);
    return 0;
}
