/* ecertctl ct check SERIAL: the embedded SCTs of a stored certificate checked again, each
 * against its log's key (ECertCTLog) over the precert entry the log signed (RFC 6962 3.2),
 * and the set against the SCT policy its lifetime needs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <apr_strings.h>
#include "ctl.h"
#include "ec_ct.h"
#include "ec_der.h"
#include "ec_issue_ct.h"
#include "ec_util.h"
#include "ec_x509.h"

static const ec_stmt_t ct_stmts[] = {
    { "ctl_ct_cert", "SELECT HEX(c.cert_der), HEX(ca.spki_sha256), ca.name FROM certificate c "
      "JOIN ca ON ca.id = c.issuer_id WHERE c.serial_hex = %s ORDER BY c.created_at DESC LIMIT 1" },
    { NULL, NULL }
};

static int check_one(ctl_t *ctl, const ec_ct_conf_t *ct, const char *serial, const uint8_t *der, size_t len,
                     const uint8_t *key_hash, const char *issuer)
{
    apr_pool_t *p = ctl->pool;
    const uint8_t *tbs, *extn;
    size_t tbs_len, extn_len;
    apr_array_header_t *raw;
    ec_ct_sct_t *scts;
    ec_cert_info_t info;
    const char *err, *policy;
    int good = 0, bad = 0;

    if (ec_cert_info(p, der, len, &info) != APR_SUCCESS)
        ctl_fail("ct check: the stored certificate %s does not parse", serial);
    printf("certificate %s (issuer %s, %s)\n", serial, issuer, info.cn ? info.cn : "");
    if (!(extn = ec_issue_ct_scts_of(p, der, len, &extn_len))) {
        printf("  no SCT list: not logged (issued without ECertCTLog)\n");
        return 1;
    }
    if (ec_ct_scts_parse(p, extn, extn_len, &raw, &err) != APR_SUCCESS)
        ctl_fail("ct check: %s", err);
    if (!(tbs = ec_issue_ct_logged_tbs(p, der, len, &tbs_len)))
        ctl_fail("ct check: the certificate has more than one SCT list");
    scts = apr_pcalloc(p, sizeof(*scts) * (apr_size_t)(raw->nelts + 1));
    for (int i = 0; i < raw->nelts; i++) {
        const ec_der_r *r = &APR_ARRAY_IDX(raw, i, ec_der_r);
        ec_ct_sct_t s;
        char when[32];
        time_t t;
        if (ec_ct_sct_from_tls(p, ct->logs, r->p, r->n, &s, &err) != APR_SUCCESS) {
            printf("  SCT %d: %s\n", i + 1, err);
            bad++;
            continue;
        }
        t = (time_t)(s.timestamp / 1000);
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", gmtime(&t));
        if (ec_ct_sct_verify(&s, key_hash, tbs, tbs_len)) {
            printf("  SCT %d: log %s (%s), %s UTC: signature verifies\n", i + 1, s.log->name,
                   s.log->operator_name, when);
            scts[good++] = s;
        }
        else {
            printf("  SCT %d: log %s (%s), %s UTC: SIGNATURE DOES NOT VERIFY\n", i + 1, s.log->name,
                   s.log->operator_name, when);
            bad++;
        }
    }
    policy = ec_ct_policy(p, scts, good, info.not_before, info.not_after);
    printf("  %d of %d SCTs verify; %s\n", good, raw->nelts,
           policy ? apr_pstrcat(p, "policy NOT met: ", policy, NULL) : "the CT policy is met");
    return bad || policy ? 1 : 0;
}

int cmd_ct(ctl_t *ctl, int argc, char **argv)
{
    static const ec_stmt_t *const sets[] = { ct_stmts, NULL };
    const ec_profile_conf_t *prof;
    const char *serial, *c[3];
    uint8_t *der, *key;
    size_t len, klen;
    ec_store_t *s;
    apr_status_t rv;

    if (argc != 3 || strcmp(argv[1], "check")) {
        fputs("usage: ecertctl ct check SERIAL\n", stderr);
        return 2;
    }
    if (!(serial = ctl_serial_norm(ctl->pool, argv[2])))
        ctl_fail("ct check: '%s' is not a serial number in hex", argv[2]);
    prof = ctl_profile(ctl);
    if (!prof->ct.logs)
        ctl_fail("%s has no ECertCTLog line: there is no log to check against", ctl->conf.path);
    ctl_store(ctl, sets, &s);
    rv = ec_store_get1(s, ctl->pool, "ctl_ct_cert", 3, c, EC_ARGS(serial));
    if (rv == APR_ENOENT)
        ctl_fail("ct check: no certificate with serial %s", serial);
    if (rv != APR_SUCCESS)
        ctl_fail("ct check: cannot read the certificate (see the message above)");
    der = ec_unhex(ctl->pool, c[0], &len);
    key = ec_unhex(ctl->pool, c[1], &klen);
    if (!der || !key || klen != 32)
        ctl_fail("ct check: the stored row of %s is malformed", serial);
    return check_one(ctl, &prof->ct, serial, der, len, key, c[2]);
}
