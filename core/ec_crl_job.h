/* Producing the CRLs of one CA (BR 4.9.7, 7.2; CPS 4.9.7, App. C): when they are due, exactly
 * one producer among every node and ecertctl sharing the database, and the commit.
 *
 * Due: the first CRL at once; a Sub CA's CRLs at every slot of ECertCRLSchedule; any CRL once
 * it reaches ec_crl_renew_after() (BR: at least every 7 days; the ARL yearly); and
 * ECertCRLRevocationDelay after a revocation not yet listed (crl_pending).
 *
 * One producer: a lease in crl_state taken by a single-row UPDATE that commits at once (on
 * Galera the loser fails at certification) and renewed while the entries are read. The
 * pending revocations are claimed by a statement of their own, so every claimed one has
 * committed before the entries are read and is on the CRL; the job deletes exactly the rows it
 * claimed. The CRLNumbers are last_number + 1 ... under the lease; the commit re-checks both
 * under a row lock, so a node that lost its lease or died writes nothing and leaves no gap.
 *
 * Entries (BR 7.2): every revoked certificate until it has been on one regularly scheduled CRL
 * whose thisUpdate is after its notAfter. That is: notAfter at or after the last scheduled
 * CRL's thisUpdate, or revoked (status_changed) since shortly before that CRL was committed.
 *
 * With ECertCRLShards, each partition is a CRL of its own with an issuingDistributionPoint
 * naming its URL (BR 7.2.2.1), beside the full CRL that certificates issued before keep
 * naming; partitions come from the shard stored with each certificate. */
#ifndef EC_CRL_JOB_H
#define EC_CRL_JOB_H

#include <time.h>
#include <apr_tables.h>
#include "ec_crl.h"
#include "ec_crl_conf.h"
#include "ec_crl_store.h"
#include "ec_profile.h"
#include "ec_store.h"

extern const ec_stmt_t ec_crl_job_stmts[];

/* A CA that signs CRLs: root (the ARL), ssl or ev. */
typedef struct {
    const char *role;
    const char *ca_id;
    const char *cn;
    const char *crl_file;                        /* App. C file name */
    const uint8_t *subject; size_t subject_len;  /* as its certificate encodes it */
    uint8_t ski[20];
    const uint8_t *spki; size_t spki_len;        /* the certificate's, to verify what is signed */
    ec_p11_key *key;
} ec_crl_signer_t;

/* The newest CA of role in table ca, with its key: key_uri (NULL: the one the key ceremony
 * recorded), which must hold the public key of the CA's certificate. */
apr_status_t ec_crl_signer_load(ec_store_t *s, apr_pool_t *p, ec_p11 *p11, const char *role,
                                const char *key_uri, ec_crl_signer_t *out, const char **err);

typedef struct {
    const ec_crl_conf_t *conf;
    const ec_profile_conf_t *profile;            /* ECertCRLBase, ECertCRLShards */
    ec_p11 *p11;
    const char *owner;                           /* lease holder: host and process */
    const char *actor;                           /* audit actor */
} ec_crl_ctx_t;

typedef struct {
    int issued;                                  /* CRLs committed (0: nothing was due) */
    const char *cause;                           /* first, schedule, renewal, revocation, request */
    apr_array_header_t *crls;                    /* ec_crl_rec_t of what was committed */
} ec_crl_result_t;

/* Issues the signer's CRLs if they are due at now, or at once with force (ecertctl crl issue).
 * APR_SUCCESS (res->issued says whether anything was), APR_EBUSY when another producer holds
 * the lease, anything else when nothing could be written (the database or the token). */
apr_status_t ec_crl_run(const ec_crl_ctx_t *ctx, ec_store_t *s, apr_pool_t *p,
                        const ec_crl_signer_t *sg, time_t now, int force, ec_crl_result_t *res);

#endif
