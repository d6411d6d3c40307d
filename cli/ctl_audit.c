/* ecertctl audit verify | checkpoint | unfinished: the audit log's hash chain recomputed and
 * checked against the checkpoints the token signed; a checkpoint now; signatures never stored. */
#include <stdio.h>
#include <string.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <apr_strings.h>
#include "ctl.h"
#include "ec_audit.h"
#include "ec_audit_anchor.h"

/* The audit key as the ceremony published it: outside the database on purpose. */
static const uint8_t *audit_key(ctl_t *ctl, size_t *len, const char **path)
{
    FILE *f;
    EVP_PKEY *k;
    unsigned char *der = NULL;
    uint8_t *out = NULL;
    int n;

    *path = ctl->conf.publish_dir ? apr_pstrcat(ctl->pool, ctl->conf.publish_dir, "/", EC_AUDIT_KEY_FILE, NULL) : NULL;
    if (!*path || !(f = fopen(*path, "r")))
        return NULL;
    k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (k && (n = i2d_PUBKEY(k, &der)) > 0) {
        out = apr_pmemdup(ctl->pool, der, (apr_size_t)n);
        *len = (size_t)n;
    }
    OPENSSL_free(der);
    EVP_PKEY_free(k);
    if (!out)
        ctl_fail("%s is not a public key", *path);
    return out;
}

static int verify(ctl_t *ctl, ec_store_t *s)
{
    ec_audit_report_t r;
    size_t len = 0;
    const char *path;
    const uint8_t *spki = audit_key(ctl, &len, &path);
    apr_status_t rv = ec_audit_verify(s, ctl->pool, spki, len, &r);

    if (rv != APR_SUCCESS && rv != APR_EGENERAL)
        ctl_fail("the audit log could not be read");
    if (r.forged_checkpoint)
        printf("audit log BROKEN: checkpoint %lld is not signed by the audit key\n", r.forged_checkpoint);
    if (r.bad_seq)
        printf("audit log BROKEN at event %lld (%lld events read)\n", r.bad_seq, r.count);
    if (r.bad_checkpoint)
        printf("audit log REWRITTEN: the events no longer give the chain hash the token signed at event %lld: "
               "an event after %lld and at or before %lld was changed, removed or inserted\n",
               r.bad_checkpoint, r.good_before, r.bad_checkpoint);
    if (rv != APR_SUCCESS)
        return 1;
    if (!spki)
        printf("audit log chain intact: %lld events, but NOT checked against any checkpoint (no %s)\n",
               r.count, path ? path : "ECertPublishDir");
    else
        printf("audit log intact: %lld events; %lld checkpoints signed by the audit key match, the last at "
               "event %lld; %lld events after it not yet anchored\n", r.count, r.checkpoints, r.anchored,
               r.count - r.anchored);
    return 0;
}

static int checkpoint(ctl_t *ctl, ec_store_t *s)
{
    ec_p11 *p11;
    ec_p11_key *key;
    int written;

    ctl_token(ctl, ctl_ca_token(ctl), &p11);
    if (ec_p11_key_get(p11, ctl->pool, ec_p11_uri(ctl->pool, ctl_ca_token(ctl), EC_AUDIT_KEY_LABEL), &key) != APR_SUCCESS ||
        ec_audit_checkpoint(s, ctl->pool, p11, key, 1, 0, &written) != APR_SUCCESS)
        ctl_fail("audit checkpoint: could not sign or store it (see the message above)");
    printf(written ? "audit checkpoint written\n" : "audit checkpoint: nothing new since the last one\n");
    return 0;
}

int cmd_audit(ctl_t *ctl, int argc, char **argv)
{
    static const ec_stmt_t *const sets[] = { ec_audit_stmts, ec_audit_anchor_stmts, NULL };
    ec_store_t *s;

    if (argc >= 2 && !strcmp(argv[1], "unfinished"))
        return ctl_unfinished(ctl, argc - 1, argv + 1);
    if (argc != 2 || (strcmp(argv[1], "verify") && strcmp(argv[1], "checkpoint")))
        ctl_fail("usage: ecertctl audit verify | audit checkpoint | audit unfinished ...");
    ctl_store(ctl, sets, &s);
    return !strcmp(argv[1], "verify") ? verify(ctl, s) : checkpoint(ctl, s);
}
