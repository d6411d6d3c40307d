#include <stdio.h>
#include <string.h>
#include <time.h>
#include <apr_strings.h>
#include "ec_audit_anchor.h"
#include "ec_log.h"
#include "ec_util.h"

const ec_stmt_t ec_audit_anchor_stmts[] = {
    { "audit_cp_head", "SELECT seq, LOWER(HEX(hash)) FROM audit_head WHERE id = 1" },
    { "audit_cp_last", "SELECT COALESCE(MAX(seq), 0), COALESCE(MAX(signed_at), 0) FROM audit_checkpoint" },
    { "audit_cp_insert", "INSERT IGNORE INTO audit_checkpoint (seq, hash, signed_at, signature) "
      "VALUES (%s, UNHEX(%s), %s, UNHEX(%s))" },
    { NULL, NULL }
};

apr_status_t ec_audit_key_make(ec_p11 *p11, apr_pool_t *p, const char *token_label, const char *pub_path)
{
    ec_p11_key *key;
    const uint8_t *spki;
    size_t len;
    int n;
    const char *pem;
    FILE *f;
    apr_status_t rv;

    if ((rv = ec_p11_label_objects(p11, EC_AUDIT_KEY_LABEL, 1, &n)) != APR_SUCCESS ||
        (rv = ec_p11_generate_rsa(p11, EC_AUDIT_KEY_LABEL, 2048)) != APR_SUCCESS ||
        (rv = ec_p11_key_get(p11, p, ec_p11_uri(p, token_label, EC_AUDIT_KEY_LABEL), &key)) != APR_SUCCESS ||
        (rv = ec_p11_key_spki(p11, key, p, &spki, &len)) != APR_SUCCESS)
        return rv;
    pem = ec_pem(p, "PUBLIC KEY", spki, len);
    if (!(f = fopen(pub_path, "w")) || fputs(pem, f) < 0 || fclose(f) != 0) {
        ec_log(EC_LOG_ERR, "ECA0010", "cannot write the audit checkpoint key to %s", pub_path);
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

char *ec_audit_checkpoint_text(apr_pool_t *p, const char *seq, const char *hash_hex, const char *signed_at)
{
    return apr_pstrcat(p, "ecert-audit-checkpoint-v1 ", seq, " ", hash_hex, " ", signed_at, NULL);
}

apr_status_t ec_audit_checkpoint(ec_store_t *s, apr_pool_t *p, ec_p11 *p11, ec_p11_key *key, long long min_events,
                                 long long max_age, int *written)
{
    const char *head[2], *last[2], *text, *at;
    uint8_t sig[EC_P11_SIGMAX];
    size_t siglen = sizeof(sig);
    long long events;
    int n = 0;
    apr_status_t rv;

    *written = 0;
    if ((rv = ec_store_get1(s, p, "audit_cp_head", 2, head, EC_NOARGS)) != APR_SUCCESS ||
        (rv = ec_store_get1(s, p, "audit_cp_last", 2, last, EC_NOARGS)) != APR_SUCCESS)
        return rv;
    events = apr_atoi64(head[0]) - apr_atoi64(last[0]);
    if (events <= 0 || (events < min_events && (long long)time(NULL) - apr_atoi64(last[1]) < max_age))
        return APR_SUCCESS;
    at = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)time(NULL));
    text = ec_audit_checkpoint_text(p, head[0], head[1], at);
    if ((rv = ec_p11_sign(p11, key, (const uint8_t *)text, strlen(text), sig, &siglen)) != APR_SUCCESS)
        return rv;
    if ((rv = ec_store_exec(s, p, "audit_cp_insert", &n, EC_ARGS(head[0], head[1], at, ec_hex(p, sig, siglen))))
        != APR_SUCCESS)
        return rv;
    *written = n == 1;
    if (n == 1)
        ec_log(EC_LOG_INFO, "ECA0011", "audit checkpoint at event %s: %s", head[0], head[1]);
    return APR_SUCCESS;
}
