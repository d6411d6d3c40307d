/* mod_ocsp: the response cache, in two levels.
 *
 * L2, shared: mod_socache (shmcb by default), one instance per httpd, created in the
 * parent and read by every child and thread. Providers that are not MP-safe (shmcb) are
 * serialised by a global mutex ("Mutex ocsp-cache ..."), which also makes "store unless
 * newer" atomic.
 *
 * L1, per child: a small direct-mapped table read without any lock (a sequence counter
 * per slot, odd while a writer is in it: readers copy, then check the counter did not
 * move). It spares the hot path the cross-process mutex. An L1 entry is only good for
 * the cache epoch it was filled in: a counter in shared memory that the change poller of
 * any child bumps after it has put its tombstones into L2. So once one child has seen a
 * change, no child answers from an older L1 entry: every L1 refills from L2 (a request
 * reads the epoch before anything it fills from, so a fill that raced the change is
 * stored under the old epoch and never used).
 */
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <ap_provider.h>
#include <ap_socache.h>
#include <util_mutex.h>
#include <apr_strings.h>
#include <apr_shm.h>
#include "mod_ocsp.h"

APLOG_USE_MODULE(ocsp);
#include "ec_util.h"

#define MUTEX_TYPE "ocsp-cache"
#define ENTRY_MAGIC 0x4f435331u     /* "OCS1" */
#define MARK_KEY "~watermark"

typedef struct {
    apr_uint32_t magic;
    apr_int32_t status, reason;
    apr_uint32_t der_len;
    apr_int64_t revoked_at, this_update, next_update, sc;
    char etag[24];
} entry_hdr;

#define L1_SLOTS 1024
#define L1_DER_MAX 3072

typedef struct {
    apr_uint32_t seq;           /* odd while being written */
    apr_uint64_t epoch;
    char key[OCSP_KEY_MAX];
    entry_hdr h;
    uint8_t der[L1_DER_MAX];
} l1_slot;

static l1_slot *l1;
static apr_thread_mutex_t *l1_mutex;   /* writers only */
static apr_shm_t *epoch_shm;
static apr_uint64_t *epoch;            /* in shared memory */

static const ap_socache_provider_t *provider;
static ap_socache_instance_t *instance;
static apr_global_mutex_t *mutex;
static server_rec *cache_server;

/* The cache lives as long as the configuration: a restart starts with an empty one. */
static apr_status_t cache_destroy(void *data)
{
    if (instance)
        provider->destroy(instance, data);
    instance = NULL;
    mutex = NULL;
    epoch = NULL;
    return APR_SUCCESS;
}

void ocsp_cache_register(apr_pool_t *pconf)
{
    ap_mutex_register(pconf, MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
}

int ocsp_cache_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s, const char *spec)
{
    struct ap_socache_hints hints = { 48, 2048, apr_time_from_sec(30) };
    const char *name = spec, *arg = NULL, *sep = ap_strchr_c(spec, ':'), *err;
    apr_status_t rv;

    if (sep) {
        name = apr_pstrmemdup(ptemp, spec, (apr_size_t)(sep - spec));
        arg = sep + 1;
    }
    provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name, AP_SOCACHE_PROVIDER_VERSION);
    if (!provider) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "ECO0010: OCSPCache: no socache provider '%s' (LoadModule socache_%s_module?)",
                     name, name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if ((err = provider->create(&instance, arg, ptemp, pconf)) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "ECO0011: OCSPCache '%s': %s", spec, err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) {
        rv = ap_global_mutex_create(&mutex, NULL, MUTEX_TYPE, NULL, s, pconf, 0);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "ECO0012: cannot create the OCSP cache mutex");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    else
        mutex = NULL;
    if ((rv = provider->init(instance, "mod_ocsp", &hints, s, pconf)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "ECO0013: cannot initialise the OCSP cache '%s'", spec);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    cache_server = s;
    apr_pool_cleanup_register(pconf, s, cache_destroy, apr_pool_cleanup_null);
    /* Anonymous shared memory: inherited by the children, gone with the configuration. */
    if ((rv = apr_shm_create(&epoch_shm, sizeof(*epoch), NULL, pconf)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "ECO0016: cannot create the OCSP cache epoch");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    epoch = apr_shm_baseaddr_get(epoch_shm);
    *epoch = 1;
    return OK;
}

void ocsp_cache_child_init(apr_pool_t *p, server_rec *s)
{
    l1 = apr_pcalloc(p, sizeof(*l1) * L1_SLOTS);
    apr_thread_mutex_create(&l1_mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (mutex) {
        apr_status_t rv = apr_global_mutex_child_init(&mutex, apr_global_mutex_lockfile(mutex), p);
        if (rv != APR_SUCCESS)
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "ECO0014: cannot attach the OCSP cache mutex");
    }
}

static void lock(void)
{
    if (mutex)
        apr_global_mutex_lock(mutex);
}

static void unlock(void)
{
    if (mutex)
        apr_global_mutex_unlock(mutex);
}

void ocsp_cache_key(char *key, const ocsp_issuer_conf *is, int alg, const char *serial_hex)
{
    apr_snprintf(key, OCSP_KEY_MAX, "%s/%d/%.44s", is->tag, alg, serial_hex);
}

static int decode(const uint8_t *buf, unsigned int len, ocsp_entry *e)
{
    entry_hdr h;

    if (len < sizeof(h))
        return 0;
    memcpy(&h, buf, sizeof(h));
    if (h.magic != ENTRY_MAGIC || h.der_len != len - sizeof(h))
        return 0;
    e->status = h.status;
    e->reason = h.reason;
    e->revoked_at = h.revoked_at;
    e->this_update = h.this_update;
    e->next_update = h.next_update;
    e->sc = h.sc;
    memcpy(e->etag, h.etag, sizeof(e->etag));
    e->etag[sizeof(e->etag) - 1] = 0;
    e->der = buf + sizeof(h);
    e->der_len = h.der_len;
    return 1;
}

/* Caller holds the lock. */
static int get_locked(const char *key, ocsp_entry *e, uint8_t *buf, apr_pool_t *p)
{
    unsigned int len = OCSP_ENTRY_MAX;

    if (!instance)
        return 0;
    if (provider->retrieve(instance, cache_server, (const unsigned char *)key, (unsigned int)strlen(key),
                           buf, &len, p) != APR_SUCCESS)
        return 0;
    return decode(buf, len, e);
}

static l1_slot *l1_slot_of(const char *key)
{
    apr_uint32_t h = 2166136261u;           /* FNV-1a */
    for (const unsigned char *k = (const unsigned char *)key; *k; k++)
        h = (h ^ *k) * 16777619u;
    return &l1[h % L1_SLOTS];
}

/* Lock-free read: copy, then check that no writer was in the slot meanwhile. */
static int l1_get(const char *key, apr_uint64_t ep, ocsp_entry *e, uint8_t *buf)
{
    l1_slot *s = l1_slot_of(key);

    for (int tries = 0; tries < 4; tries++) {
        apr_uint32_t before = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE), len;
        int match;
        if (before & 1)
            continue;
        match = s->epoch == ep && !strncmp(s->key, key, OCSP_KEY_MAX);
        memcpy(buf, &s->h, sizeof(entry_hdr));
        len = ((entry_hdr *)buf)->der_len;
        if (match && len <= L1_DER_MAX)
            memcpy(buf + sizeof(entry_hdr), s->der, len);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == before)
            return match && len <= L1_DER_MAX && decode(buf, (unsigned int)(sizeof(entry_hdr) + len), e);
    }
    return 0;
}

static void l1_write(l1_slot *s, apr_uint64_t ep, const char *key, const entry_hdr *h, const uint8_t *der)
{
    __atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    s->epoch = ep;
    apr_cpystrn(s->key, key, sizeof(s->key));
    memcpy(&s->h, h, sizeof(*h));
    if (h->der_len)
        memcpy(s->der, der, h->der_len);
    __atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
}

static void hdr_of(entry_hdr *h, const ocsp_entry *e)
{
    memset(h, 0, sizeof(*h));
    h->magic = ENTRY_MAGIC;
    h->status = e->status;
    h->reason = e->reason;
    h->der_len = (apr_uint32_t)e->der_len;
    h->revoked_at = e->revoked_at;
    h->this_update = e->this_update;
    h->next_update = e->next_update;
    h->sc = e->sc;
    memcpy(h->etag, e->etag, sizeof(h->etag));
}

/* Same rule as L2 within an epoch: never over an answer for a newer status_changed. */
static void l1_put(const char *key, const ocsp_entry *e, apr_uint64_t ep)
{
    l1_slot *s;
    entry_hdr h;

    if (!l1 || e->der_len > L1_DER_MAX)
        return;
    s = l1_slot_of(key);
    hdr_of(&h, e);
    apr_thread_mutex_lock(l1_mutex);
    if (s->epoch != ep || strncmp(s->key, key, OCSP_KEY_MAX) || s->h.sc <= e->sc)
        l1_write(s, ep, key, &h, e->der);
    apr_thread_mutex_unlock(l1_mutex);
}

apr_uint64_t ocsp_cache_epoch(void)
{
    return epoch ? __atomic_load_n(epoch, __ATOMIC_ACQUIRE) : 0;
}

void ocsp_cache_new_epoch(void)
{
    if (epoch)
        __atomic_add_fetch(epoch, 1, __ATOMIC_ACQ_REL);
}

int ocsp_cache_get(const char *key, apr_uint64_t ep, ocsp_entry *e, uint8_t *buf, apr_pool_t *p,
                   apr_int64_t now, int refresh)
{
    int found;

    if (l1 && l1_get(key, ep, e, buf) && e->status != OCSP_TOMBSTONE && now < e->this_update + refresh &&
        now < e->next_update)
        return 1;
    lock();
    found = get_locked(key, e, buf, p);
    unlock();
    if (found)
        l1_put(key, e, ep);
    return found;
}

static void put_locked(const char *key, const ocsp_entry *e, apr_time_t expiry, apr_pool_t *p)
{
    entry_hdr h;
    unsigned char data[OCSP_ENTRY_MAX];
    apr_status_t rv;

    if (sizeof(h) + e->der_len > OCSP_ENTRY_MAX)
        return;
    hdr_of(&h, e);
    memcpy(data, &h, sizeof(h));
    if (e->der_len)
        memcpy(data + sizeof(h), e->der, e->der_len);
    rv = provider->store(instance, cache_server, (const unsigned char *)key, (unsigned int)strlen(key),
                         expiry, data, (unsigned int)(sizeof(h) + e->der_len), p);
    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_DEBUG, rv, cache_server, "ECO0015: OCSP cache store of %s failed", key);
}

/* The scratch buffers below are on the stack: the poller calls this for every changed
 * row, thousands per round after a bulk load, all in one pool. */
void ocsp_cache_put(const char *key, apr_uint64_t ep, const ocsp_entry *e, apr_pool_t *p)
{
    uint8_t buf[OCSP_ENTRY_MAX];
    ocsp_entry cur;

    if (!instance)
        return;
    lock();
    if (!get_locked(key, &cur, buf, p) || cur.sc <= e->sc)
        put_locked(key, e, apr_time_from_sec(e->next_update), p);
    unlock();
    l1_put(key, e, ep);
}

void ocsp_cache_invalidate(const char *key, apr_int64_t sc, apr_pool_t *p)
{
    uint8_t buf[OCSP_ENTRY_MAX];
    ocsp_entry cur, tomb;

    if (!instance)
        return;
    lock();
    /* No entry: nothing stale to hide. An answer being filled from a read before the change
     * lands after this scan, and the next scan (the change is within the margin) buries it. */
    if (get_locked(key, &cur, buf, p) && cur.sc < sc) {
        memset(&tomb, 0, sizeof(tomb));
        tomb.status = OCSP_TOMBSTONE;
        tomb.sc = sc;
        put_locked(key, &tomb, apr_time_now() + apr_time_from_sec(600), p);
    }
    unlock();
}

apr_int64_t ocsp_cache_mark_get(apr_pool_t *p)
{
    uint8_t buf[64];
    unsigned int len = sizeof(buf);
    apr_int64_t mark = 0;
    apr_status_t rv;

    if (!instance)
        return 0;
    lock();
    rv = provider->retrieve(instance, cache_server, (const unsigned char *)MARK_KEY, sizeof(MARK_KEY) - 1,
                            buf, &len, p);
    unlock();
    if (rv == APR_SUCCESS && len == sizeof(mark))
        memcpy(&mark, buf, sizeof(mark));
    return mark;
}

void ocsp_cache_mark_put(apr_int64_t mark, apr_pool_t *p)
{
    uint8_t buf[64];
    unsigned int len = sizeof(buf);
    apr_int64_t cur = 0;

    if (!instance)
        return;
    lock();
    if (provider->retrieve(instance, cache_server, (const unsigned char *)MARK_KEY, sizeof(MARK_KEY) - 1,
                           buf, &len, p) == APR_SUCCESS && len == sizeof(cur))
        memcpy(&cur, buf, sizeof(cur));
    if (mark >= cur)
        provider->store(instance, cache_server, (const unsigned char *)MARK_KEY, sizeof(MARK_KEY) - 1,
                        apr_time_now() + apr_time_from_sec(86400), (unsigned char *)&mark, sizeof(mark), p);
    unlock();
}

void ocsp_entry_from_rec(ocsp_entry *e, const ec_ocsp_rec_t *rec)
{
    uint8_t h[32];
    static const char hex[] = "0123456789abcdef";

    memset(e, 0, sizeof(*e));
    e->status = rec->found ? rec->status : EC_OCSP_UNKNOWN;
    e->reason = rec->reason;
    e->revoked_at = rec->revoked_at;
    e->this_update = rec->this_update;
    e->next_update = rec->next_update;
    e->sc = rec->found ? rec->resp_sc : 0;
    e->der = rec->der;
    e->der_len = rec->der_len;
    ec_sha256(rec->der, rec->der_len, h);
    e->etag[0] = '"';
    for (int i = 0; i < 8; i++) {
        e->etag[1 + 2 * i] = hex[h[i] >> 4];
        e->etag[2 + 2 * i] = hex[h[i] & 15];
    }
    e->etag[17] = '"';
    e->etag[18] = 0;
}
