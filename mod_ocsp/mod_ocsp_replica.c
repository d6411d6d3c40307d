/* mod_ocsp: the node's replica of every live answer (core/ec_ocsp_replica.h) in httpd's
 * lifetime. The parent prepares it before the children start (a damaged file is set aside
 * and rebuilt, a new boot begins: the replica counts as current once a sync round of this
 * boot has caught up); each child then opens it for itself, since an LMDB environment must
 * not cross a fork. */
#include <errno.h>
#include <unistd.h>
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <ap_mpm.h>
#include <unixd.h>
#include <apr_strings.h>
#include "mod_ocsp.h"

APLOG_USE_MODULE(ocsp);

static unsigned int max_readers;

/* Every worker thread of two generations of children (a graceful restart) keeps a reader. */
static unsigned int readers_needed(void)
{
    int daemons = 16, threads = 64;

    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &daemons);
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_THREADS, &threads);
    return (unsigned int)(2 * (daemons > 0 ? daemons : 1) * (threads > 0 ? threads : 1) + 64);
}

/* A root parent creates the files; the children run as the User. */
static void hand_to_user(apr_pool_t *p, const char *dir)
{
    static const char *const files[] = { "", "/data.mdb", "/lock.mdb" };

    if (geteuid() != 0)
        return;
    for (int i = 0; i < 3; i++)
        if (chown(apr_pstrcat(p, dir, files[i], NULL), ap_unixd_config.user_id, ap_unixd_config.group_id) != 0)
            ap_log_error(APLOG_MARK, APLOG_WARNING, errno, NULL, "ECO0017: cannot hand %s%s to the User",
                         dir, files[i]);
}

int ocsp_replica_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    ocsp_srv_conf *c = ocsp_g.conf;
    ec_ocsp_replica_info_t info;
    apr_status_t rv;

    if (!c->replica_dir)
        c->replica_dir = ap_runtime_dir_relative(pconf, "ocsp-replica");
    max_readers = readers_needed();
    rv = ec_ocsp_replica_prepare(ptemp, c->replica_dir, c->replica_size, max_readers, &info);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "ECO0011: OCSPReplica %s cannot be created", c->replica_dir);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    hand_to_user(ptemp, c->replica_dir);
    if (info.rebuilt)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     "ECO0012: OCSP replica %s starts empty (%s): it fills from the database, which "
                     "answers meanwhile", c->replica_dir, info.why);
    else
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "ECO0013: OCSP replica %s: %" APR_SIZE_T_FMT " records, %" APR_OFF_T_FMT
                     " octets; it serves once it has caught up with the database",
                     c->replica_dir, info.entries, info.bytes);
    return OK;
}

void ocsp_replica_child_init(apr_pool_t *p, server_rec *s)
{
    ocsp_srv_conf *c = ocsp_g.conf;
    apr_status_t rv = ec_ocsp_replica_open(p, c->replica_dir, c->replica_size, max_readers, &ocsp_g.replica);

    if (rv != APR_SUCCESS) {
        ocsp_g.replica = NULL;
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "ECO0014: cannot open the OCSP replica %s: this child answers from the database only",
                     c->replica_dir);
    }
}
