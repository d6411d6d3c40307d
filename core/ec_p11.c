#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>
#include <apr_reslist.h>
#include <apr_strings.h>
#include <apr_time.h>
#include "ec_p11.h"
#include "ec_der.h"
#include "ec_util.h"
#include "ec_log.h"

struct ec_p11 {
    apr_pool_t *pool;
    const char *module, *token_uri;
    P11KitUri *token;
    int max_sessions;
    CK_FUNCTION_LIST *m;
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE anchor;   /* holds the login, see login_anchor() */
    char *pin;
    /* The session list lives in a pool of its own, destroyed by p11_cleanup only when no
     * thread holds a session: at child exit a background thread may still be signing
     * when the child's pool goes. */
    apr_pool_t *rpool;
    apr_reslist_t *sessions;
    int busy;                   /* operations under way (atomic) */
    int closing;                /* set by p11_cleanup (atomic) */
    int ready;                  /* logged in, sessions pooled (atomic) */
    pthread_mutex_t reconnect_lock;
    apr_time_t next_attempt;    /* while not ready: no reconnection before this */
    unsigned gen;               /* connections made so far (atomic): object handles are per connection */
    pthread_mutex_t keys_lock;  /* a key's handle and the connection it belongs to, together */
    void *peers;                /* the process's registry of handles (ec_p11_join), or NULL */
};

struct ec_p11_key {
    const char *uri;
    CK_ATTRIBUTE *tmpl;
    CK_ULONG ntmpl;
    CK_OBJECT_HANDLE handle;    /* 0: not looked up yet (or invalidated) */
    unsigned gen;               /* the connection handle was found in: another's may name another object */
};

typedef struct {
    CK_SESSION_HANDLE h;
} p11_session;

static void peers_leave(ec_p11 *p11);

const char *ec_p11_strerror(unsigned long rv)
{
    return p11_kit_strerror((CK_RV)rv);
}

static apr_status_t session_ctor(void **res, void *params, apr_pool_t *pool)
{
    ec_p11 *p11 = params;
    p11_session *s = apr_pcalloc(pool, sizeof(*s));
    CK_SESSION_INFO info;
    CK_RV rv;

    rv = p11->m->C_OpenSession(p11->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s->h);
    if (rv != CKR_OK) {
        ec_log(EC_LOG_ERR, "ECP0001", "C_OpenSession failed: %s", ec_p11_strerror(rv));
        return APR_EGENERAL;
    }
    /* Login state is per application: log in only when this session is still public. */
    rv = p11->m->C_GetSessionInfo(s->h, &info);
    if (rv == CKR_OK && (info.state == CKS_RO_PUBLIC_SESSION || info.state == CKS_RW_PUBLIC_SESSION)) {
        rv = p11->m->C_Login(s->h, CKU_USER, (CK_UTF8CHAR *)p11->pin, strlen(p11->pin));
        if (rv == CKR_USER_ALREADY_LOGGED_IN)
            rv = CKR_OK;
    }
    if (rv != CKR_OK) {
        ec_log(EC_LOG_ERR, "ECP0013", "session login failed: %s", ec_p11_strerror(rv));
        p11->m->C_CloseSession(s->h);
        return APR_EGENERAL;
    }
    *res = s;
    return APR_SUCCESS;
}

static apr_status_t session_dtor(void *res, void *params, apr_pool_t *pool)
{
    ec_p11 *p11 = params;
    p11_session *s = res;
    p11->m->C_CloseSession(s->h);
    return APR_SUCCESS;
}

static apr_status_t p11_cleanup(void *data)
{
    ec_p11 *p11 = data;

    __atomic_store_n(&p11->closing, 1, __ATOMIC_SEQ_CST);
    peers_leave(p11);
    if (__atomic_load_n(&p11->busy, __ATOMIC_SEQ_CST)) {
        /* A thread is inside the token: leave the sessions and the module to process exit
         * rather than pull them from under it. */
        ec_log(EC_LOG_INFO, "ECP0012", "token still in use at shutdown: left to process exit");
        return APR_SUCCESS;
    }
    if (p11->rpool) {
        apr_pool_destroy(p11->rpool);
        p11->rpool = NULL;
        p11->sessions = NULL;
    }
    if (p11->m && __atomic_load_n(&p11->ready, __ATOMIC_ACQUIRE)) {
        /* Said explicitly rather than left to C_Finalize: a token shared with other
         * processes must not stay logged in for this one (deactivation, CPS 6.2.2). */
        p11->m->C_Logout(p11->anchor);
        p11->m->C_CloseAllSessions(p11->slot);
    }
    if (p11->m) {
        p11_kit_module_finalize(p11->m);
        p11_kit_module_release(p11->m);
        p11->m = NULL;
    }
    if (p11->token) {
        p11_kit_uri_free(p11->token);
        p11->token = NULL;
    }
    if (p11->pin) {
        memset(p11->pin, 0, strlen(p11->pin));
    }
    return APR_SUCCESS;
}

static P11KitUri *parse_uri(const char *uri)
{
    P11KitUri *u = p11_kit_uri_new();
    int rc;

    if (!u)
        return NULL;
    rc = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, u);
    if (rc != P11_KIT_URI_OK) {
        ec_log(EC_LOG_ERR, "ECP0003", "bad PKCS#11 URI '%s': %s", uri, p11_kit_uri_message(rc));
        p11_kit_uri_free(u);
        return NULL;
    }
    return u;
}

/* About 3 s in all: enough for a crowd of processes starting at once to get through. */
#define OPEN_ATTEMPTS 10

/* Jittered, so processes that collided once do not collide again in step. */
static void open_backoff(int attempt)
{
    uint8_t r = 0;

    ec_random(&r, 1);
    apr_sleep(apr_time_from_msec((25 << (attempt < 4 ? attempt : 4)) + r % 64));
}

/* Errors a token read mid-rewrite gives; worth a fresh start. */
static int login_transient(CK_RV rv)
{
    switch (rv) {
    case CKR_USER_PIN_NOT_INITIALIZED:
    case CKR_GENERAL_ERROR:
    case CKR_FUNCTION_FAILED:
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_SESSION_HANDLE_INVALID:
        return 1;
    default:
        return 0;
    }
}

/* Login state belongs to the application, not the session: one session held open for the
 * life of the pool keeps it logged in, so pooled sessions opened later need no login. */
static CK_RV login_anchor(ec_p11 *p11)
{
    CK_RV rv = p11->m->C_OpenSession(p11->slot, CKF_SERIAL_SESSION, NULL, NULL, &p11->anchor);

    if (rv != CKR_OK)
        return rv;
    rv = p11->m->C_Login(p11->anchor, CKU_USER, (CK_UTF8CHAR *)p11->pin, strlen(p11->pin));
    if (rv == CKR_USER_ALREADY_LOGGED_IN)
        rv = CKR_OK;
    if (rv != CKR_OK)
        p11->m->C_CloseSession(p11->anchor);
    return rv;
}

/* Initialises the module and logs in; on failure the module is finalised again, so that
 * a later attempt in this process starts afresh. */
static apr_status_t connect_token(ec_p11 *p11, int attempts)
{
    CK_SLOT_ID slots[64];
    CK_ULONG nslots, i;
    CK_RV rv;
    apr_status_t status = APR_EGENERAL;
    void *res;

    if (!p11->pin)
        return APR_EACCES;      /* not activated: nothing to log in with, nothing to retry */

    /* A file-backed token (SoftHSM) rewrites its token file on every login, so a process
     * reading it at that moment can miss the token or see no user PIN: start over a few
     * times before giving up.  A wrong PIN is not retried. */
    for (int attempt = 0;; attempt++) {
        rv = p11_kit_module_initialize(p11->m);
        if (rv != CKR_OK) {
            ec_log(EC_LOG_ERR, "ECP0005", "cannot initialize %s: %s", p11->module, ec_p11_strerror(rv));
            return APR_EGENERAL;
        }
        nslots = 64;
        rv = p11->m->C_GetSlotList(CK_TRUE, slots, &nslots);
        if (rv != CKR_OK) {
            ec_log(EC_LOG_ERR, "ECP0006", "C_GetSlotList: %s", ec_p11_strerror(rv));
            goto fail;
        }
        for (i = 0; i < nslots; i++) {
            CK_TOKEN_INFO ti;
            if (p11->m->C_GetTokenInfo(slots[i], &ti) == CKR_OK && p11_kit_uri_match_token_info(p11->token, &ti))
                break;
        }
        if (i < nslots) {
            p11->slot = slots[i];
            rv = login_anchor(p11);
            if (rv == CKR_OK)
                break;
            if (!login_transient(rv) || attempt == attempts - 1) {
                ec_log(EC_LOG_ERR, "ECP0002", "token login failed: %s", ec_p11_strerror(rv));
                goto fail;
            }
        }
        else if (attempt == attempts - 1) {
            ec_log(EC_LOG_ERR, "ECP0007", "no token matches %s", p11->token_uri);
            status = APR_ENOENT;
            goto fail;
        }
        p11_kit_module_finalize(p11->m);
        open_backoff(attempt);
    }
    if ((status = apr_pool_create_unmanaged_ex(&p11->rpool, NULL, NULL)) == APR_SUCCESS)
        status = apr_reslist_create(&p11->sessions, 0, p11->max_sessions, p11->max_sessions, 0,
                                    session_ctor, session_dtor, p11, p11->rpool);
    /* One pooled session now, so a read-write session problem shows at start. */
    if (status == APR_SUCCESS && (status = apr_reslist_acquire(p11->sessions, &res)) == APR_SUCCESS) {
        apr_reslist_release(p11->sessions, res);
        __atomic_add_fetch(&p11->gen, 1, __ATOMIC_SEQ_CST);
        __atomic_store_n(&p11->ready, 1, __ATOMIC_RELEASE);
        return APR_SUCCESS;
    }
    if (p11->rpool)
        apr_pool_destroy(p11->rpool);
    p11->rpool = NULL;
    p11->sessions = NULL;
fail:
    p11_kit_module_finalize(p11->m);
    return status;
}

apr_status_t ec_p11_open(ec_p11 **out, apr_pool_t *pool, const char *module,
                         const char *token_uri, const char *pin, int max_sessions)
{
    ec_p11 *p11 = apr_pcalloc(pool, sizeof(*p11));
    apr_status_t status;

    if (!(p11->token = parse_uri(token_uri)))
        return APR_EINVAL;
    p11->pool = pool;
    p11->module = apr_pstrdup(pool, module);
    p11->token_uri = apr_pstrdup(pool, token_uri);
    p11->pin = apr_pstrdup(pool, pin);
    p11->max_sessions = max_sessions;
    pthread_mutex_init(&p11->reconnect_lock, NULL);
    pthread_mutex_init(&p11->keys_lock, NULL);
    apr_pool_cleanup_register(pool, p11, p11_cleanup, apr_pool_cleanup_null);
    p11->m = p11_kit_module_load(module, 0);
    if (!p11->m) {
        ec_log(EC_LOG_ERR, "ECP0004", "cannot load PKCS#11 module %s: %s", module, p11_kit_message());
        return APR_EGENERAL;
    }
    status = connect_token(p11, OPEN_ATTEMPTS);
    if (status != APR_SUCCESS)
        p11->next_attempt = apr_time_now() + EC_P11_RECONNECT;
    *out = p11;
    return status;
}

int ec_p11_available(ec_p11 *p11)
{
    int ok = 0;

    if (!p11)
        return 0;
    if (__atomic_load_n(&p11->ready, __ATOMIC_ACQUIRE))
        return 1;
    /* One thread tries, at most every EC_P11_RECONNECT; the others fail fast meanwhile.
     * Counted as busy, so that p11_cleanup leaves the module alone while it runs. */
    __atomic_add_fetch(&p11->busy, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&p11->closing, __ATOMIC_SEQ_CST) || !p11->m ||
        pthread_mutex_trylock(&p11->reconnect_lock) != 0) {
        __atomic_sub_fetch(&p11->busy, 1, __ATOMIC_SEQ_CST);
        return 0;
    }
    ok = __atomic_load_n(&p11->ready, __ATOMIC_ACQUIRE);
    if (!ok && apr_time_now() >= p11->next_attempt) {
        ok = connect_token(p11, 1) == APR_SUCCESS;
        if (ok)
            ec_log(EC_LOG_NOTICE, "ECP0014", "token %s reachable again: signing resumes", p11->token_uri);
        else
            p11->next_attempt = apr_time_now() + EC_P11_RECONNECT;
    }
    pthread_mutex_unlock(&p11->reconnect_lock);
    __atomic_sub_fetch(&p11->busy, 1, __ATOMIC_SEQ_CST);
    return ok;
}

apr_status_t ec_p11_key_get(ec_p11 *p11, apr_pool_t *pool, const char *uri, ec_p11_key **key)
{
    ec_p11_key *k = apr_pcalloc(pool, sizeof(*k));
    P11KitUri *u;
    CK_ATTRIBUTE *attrs;
    CK_ULONG n, i;
    int has_class = 0;
    static CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;

    if (!(u = parse_uri(uri)))
        return APR_EINVAL;
    attrs = p11_kit_uri_get_attributes(u, &n);
    k->tmpl = apr_pcalloc(pool, sizeof(CK_ATTRIBUTE) * (n + 1));
    for (i = 0; i < n; i++) {
        k->tmpl[i].type = attrs[i].type;
        k->tmpl[i].pValue = apr_pmemdup(pool, attrs[i].pValue, attrs[i].ulValueLen);
        k->tmpl[i].ulValueLen = attrs[i].ulValueLen;
        if (attrs[i].type == CKA_CLASS) {
            has_class = 1;
            if (attrs[i].ulValueLen != sizeof(CK_OBJECT_CLASS) ||
                *(CK_OBJECT_CLASS *)attrs[i].pValue != CKO_PRIVATE_KEY) {
                ec_log(EC_LOG_ERR, "ECP0008", "%s does not name a private key", uri);
                p11_kit_uri_free(u);
                return APR_EINVAL;
            }
        }
    }
    if (!has_class) {
        k->tmpl[n].type = CKA_CLASS;
        k->tmpl[n].pValue = &priv;
        k->tmpl[n].ulValueLen = sizeof(priv);
        n++;
    }
    k->ntmpl = n;
    k->uri = apr_pstrdup(pool, uri);
    p11_kit_uri_free(u);
    *key = k;
    return APR_SUCCESS;
}

/* Object handles are valid across the application's sessions: look up once, cache. */
static CK_RV find_key(ec_p11 *p11, CK_SESSION_HANDLE h, ec_p11_key *k, CK_OBJECT_HANDLE *out)
{
    CK_OBJECT_HANDLE found[2];
    CK_ULONG n = 0;
    CK_RV rv;
    unsigned gen = __atomic_load_n(&p11->gen, __ATOMIC_SEQ_CST);
    CK_OBJECT_HANDLE cached;

    pthread_mutex_lock(&p11->keys_lock);
    cached = k->gen == gen ? k->handle : 0;
    pthread_mutex_unlock(&p11->keys_lock);
    if (cached) {
        *out = cached;
        return CKR_OK;
    }
    rv = p11->m->C_FindObjectsInit(h, k->tmpl, k->ntmpl);
    if (rv != CKR_OK)
        return rv;
    rv = p11->m->C_FindObjects(h, found, 2, &n);
    p11->m->C_FindObjectsFinal(h);
    if (rv != CKR_OK)
        return rv;
    if (n != 1) {
        ec_log(EC_LOG_ERR, "ECP0009", "%s matches %lu private keys (need exactly one)",
               k->uri, (unsigned long)n);
        return CKR_KEY_HANDLE_INVALID;
    }
    pthread_mutex_lock(&p11->keys_lock);
    k->handle = found[0];
    k->gen = gen;
    pthread_mutex_unlock(&p11->keys_lock);
    *out = found[0];
    return CKR_OK;
}

static int retryable(CK_RV rv)
{
    switch (rv) {
    case CKR_SESSION_HANDLE_INVALID: case CKR_SESSION_CLOSED: case CKR_DEVICE_ERROR:
    case CKR_DEVICE_REMOVED: case CKR_TOKEN_NOT_PRESENT: case CKR_USER_NOT_LOGGED_IN:
    case CKR_KEY_HANDLE_INVALID: case CKR_OBJECT_HANDLE_INVALID:
        return 1;
    default:
        return 0;
    }
}

typedef CK_RV session_op(ec_p11 *p11, CK_SESSION_HANDLE h, void *baton);

/* Every handle of a process, whichever module's copy of this code opened it: a PKCS#11
 * library loaded through p11-kit is initialised once per process and finalised when its last
 * user finalises, so a token is read again only when every handle on it has let go. The
 * registry lives in the process pool (ec_p11_join); each entry calls back into the copy
 * that made it. */
#define PEERS_KEY "ec_p11_peers"
#define MAX_PEERS 32

typedef struct {
    pthread_mutex_t lock;
    int n;
    struct {
        void *p11;
        const char *module;
        void (*drop)(void *p11);
    } peer[MAX_PEERS];
} peers_t;

/* The token failed on a fresh session too (gone, replaced, its objects no longer seen): the
 * connection is dropped — sessions closed, module finalised — once no operation of this
 * handle is under way, and the next caller reconnects (ec_p11_available), as at start. A
 * file-backed token that was moved away and back is only read again by a new C_Initialize.
 * wait: block for the lock (the handle's own failure) or give up when it is taken (a peer's:
 * this handle is reconnecting or dropping already). */
static int drop_self(ec_p11 *p11, CK_RV why, int wait)
{
    int dropped = 0;
    if (wait)
        pthread_mutex_lock(&p11->reconnect_lock);
    else if (pthread_mutex_trylock(&p11->reconnect_lock) != 0)
        return 0;
    if (__atomic_exchange_n(&p11->ready, 0, __ATOMIC_SEQ_CST)) {
        while (__atomic_load_n(&p11->busy, __ATOMIC_SEQ_CST) > 0 && !__atomic_load_n(&p11->closing, __ATOMIC_SEQ_CST))
            apr_sleep(apr_time_from_msec(1));
        if (!__atomic_load_n(&p11->closing, __ATOMIC_SEQ_CST)) {
            if (p11->rpool)
                apr_pool_destroy(p11->rpool);
            p11->rpool = NULL;
            p11->sessions = NULL;
            p11->m->C_CloseSession(p11->anchor);
            p11_kit_module_finalize(p11->m);
            p11->next_attempt = apr_time_now();
            dropped = 1;
            ec_log(EC_LOG_WARN, "ECP0015", "token %s: %s: connection dropped, reconnecting", p11->token_uri,
                   why ? ec_p11_strerror(why) : "another handle of this process lost it");
        }
    }
    pthread_mutex_unlock(&p11->reconnect_lock);
    return dropped;
}

static void peer_drop(void *p11)
{
    drop_self(p11, 0, 0);
}

static void drop_connection(ec_p11 *p11, CK_RV why)
{
    peers_t *g = p11->peers;
    if (!drop_self(p11, why, 1) || !g)
        return;
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < g->n; i++)
        if (g->peer[i].p11 != p11 && !strcmp(g->peer[i].module, p11->module))
            g->peer[i].drop(g->peer[i].p11);
    pthread_mutex_unlock(&g->lock);
}

static void peers_leave(ec_p11 *p11)
{
    peers_t *g = p11->peers;
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < g->n; i++)
        if (g->peer[i].p11 == p11) {
            g->peer[i] = g->peer[--g->n];
            break;
        }
    pthread_mutex_unlock(&g->lock);
    p11->peers = NULL;
}

void ec_p11_join(ec_p11 *p11, apr_pool_t *process_pool)
{
    peers_t *g = NULL;
    if (!p11 || p11->peers)
        return;
    apr_pool_userdata_get((void **)&g, PEERS_KEY, process_pool);
    if (!g) {
        g = apr_pcalloc(process_pool, sizeof(*g));
        pthread_mutex_init(&g->lock, NULL);
        apr_pool_userdata_set(g, PEERS_KEY, apr_pool_cleanup_null, process_pool);
    }
    pthread_mutex_lock(&g->lock);
    if (g->n < MAX_PEERS) {
        g->peer[g->n].p11 = p11;
        g->peer[g->n].module = p11->module;
        g->peer[g->n].drop = peer_drop;
        g->n++;
        p11->peers = g;
    }
    pthread_mutex_unlock(&g->lock);
}

/* Runs op on a pooled session; a session or device error drops that session (and the
 * cached key handle) and the operation is tried once more on a fresh one; when that fails
 * too, the connection goes (drop_connection) and this operation fails with APR_EAGAIN. */
static apr_status_t with_session(ec_p11 *p11, ec_p11_key *k, session_op *op, void *baton,
                                 const char *what)
{
    CK_RV rv = CKR_OK;
    apr_status_t result = APR_EGENERAL;
    int gone = 0;

    if (!ec_p11_available(p11))
        return APR_EAGAIN;
    __atomic_add_fetch(&p11->busy, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&p11->closing, __ATOMIC_SEQ_CST)) {
        __atomic_sub_fetch(&p11->busy, 1, __ATOMIC_SEQ_CST);
        return APR_EGENERAL;
    }
    /* Counted as busy before looking: a drop either waits for this operation or is seen. */
    if (!__atomic_load_n(&p11->ready, __ATOMIC_SEQ_CST)) {
        __atomic_sub_fetch(&p11->busy, 1, __ATOMIC_SEQ_CST);
        return APR_EAGAIN;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        void *res;
        apr_status_t st = apr_reslist_acquire(p11->sessions, &res);
        if (st != APR_SUCCESS) {
            result = APR_EAGAIN;
            gone = 1;
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
        rv = op(p11, ((p11_session *)res)->h, baton);
        if (rv == CKR_OK) {
            apr_reslist_release(p11->sessions, res);
            result = APR_SUCCESS;
            goto out;
        }
        if (!retryable(rv)) {
            apr_reslist_release(p11->sessions, res);
            break;
        }
        ec_log(EC_LOG_WARN, "ECP0010", "%s: %s; reopening the session", what, ec_p11_strerror(rv));
        apr_reslist_invalidate(p11->sessions, res);
        if (k) {
            pthread_mutex_lock(&p11->keys_lock);
            k->handle = 0;
            pthread_mutex_unlock(&p11->keys_lock);
        }
        if (attempt == 1) {
            gone = 1;
            result = APR_EAGAIN;
        }
    }
    ec_log(EC_LOG_ERR, "ECP0011", "%s failed: %s", what, ec_p11_strerror(rv));
out:
    __atomic_sub_fetch(&p11->busy, 1, __ATOMIC_SEQ_CST);
    if (gone)
        drop_connection(p11, rv);
    return result;
}

typedef struct {
    ec_p11_key *key;
    const uint8_t *data;
    size_t len;
    uint8_t *sig;
    size_t siglen;
} sign_op;

#define SIGN_PART ((size_t)1 << 20)

static CK_RV do_sign(ec_p11 *p11, CK_SESSION_HANDLE h, void *baton)
{
    sign_op *s = baton;
    CK_MECHANISM mech = { CKM_SHA256_RSA_PKCS, NULL, 0 };
    CK_OBJECT_HANDLE kh;
    CK_ULONG siglen = EC_P11_SIGMAX;
    CK_RV rv;

    if ((rv = find_key(p11, h, s->key, &kh)) != CKR_OK)
        return rv;
    if ((rv = p11->m->C_SignInit(h, &mech, kh)) != CKR_OK)
        return rv;
    if (s->len <= SIGN_PART) {
        rv = p11->m->C_Sign(h, (CK_BYTE *)s->data, s->len, s->sig, &siglen);
    }
    else {
        /* A large CRL goes in parts: the token hashes as it reads, and no module has to hold
         * a copy of tens of megabytes. A failed part ends the operation (PKCS#11 5.2). */
        for (size_t off = 0; off < s->len && rv == CKR_OK; off += SIGN_PART)
            rv = p11->m->C_SignUpdate(h, (CK_BYTE *)s->data + off,
                                      s->len - off < SIGN_PART ? s->len - off : SIGN_PART);
        if (rv == CKR_OK)
            rv = p11->m->C_SignFinal(h, s->sig, &siglen);
    }
    s->siglen = siglen;
    return rv;
}

apr_status_t ec_p11_sign(ec_p11 *p11, ec_p11_key *key, const uint8_t *data, size_t len,
                         uint8_t *sig, size_t *siglen)
{
    sign_op s = { key, data, len, sig, 0 };
    apr_status_t st = with_session(p11, key, do_sign, &s, "C_Sign");
    *siglen = s.siglen;
    return st;
}

typedef struct {
    ec_p11_key *key;
    CK_ATTRIBUTE *attrs;
    CK_ULONG n;
} attr_op;

static CK_RV do_get_attrs(ec_p11 *p11, CK_SESSION_HANDLE h, void *baton)
{
    attr_op *a = baton;
    CK_OBJECT_HANDLE kh;
    CK_RV rv;

    if ((rv = find_key(p11, h, a->key, &kh)) != CKR_OK)
        return rv;
    return p11->m->C_GetAttributeValue(h, kh, a->attrs, a->n);
}

apr_status_t ec_p11_key_spki(ec_p11 *p11, ec_p11_key *key, apr_pool_t *pool,
                             const uint8_t **spki, size_t *len)
{
    uint8_t mod[1024], exp[16];
    CK_ATTRIBUTE attrs[2] = {
        { CKA_MODULUS, mod, sizeof(mod) }, { CKA_PUBLIC_EXPONENT, exp, sizeof(exp) }
    };
    attr_op a = { key, attrs, 2 };
    ec_der_w w;
    apr_status_t st;

    if ((st = with_session(p11, key, do_get_attrs, &a, "C_GetAttributeValue")) != APR_SUCCESS)
        return st;
    ec_der_w_init(&w);
    ec_der_begin(&w, EC_DER_SEQUENCE);
    ec_der_begin(&w, EC_DER_SEQUENCE);
    ec_der_oid(&w, "1.2.840.113549.1.1.1");
    ec_der_null(&w);
    ec_der_end(&w);
    ec_der_begin(&w, EC_DER_BITSTRING);
    ec_der_raw(&w, "", 1);
    ec_der_begin(&w, EC_DER_SEQUENCE);
    ec_der_uint(&w, mod, attrs[0].ulValueLen);
    ec_der_uint(&w, exp, attrs[1].ulValueLen);
    ec_der_end(&w);
    ec_der_end(&w);
    ec_der_end(&w);
    *spki = ec_der_w_take(&w, pool, len);
    return *spki ? APR_SUCCESS : APR_ENOMEM;
}

apr_status_t ec_p11_key_protection(ec_p11 *p11, ec_p11_key *key, int *extractable, int *sensitive)
{
    CK_BBOOL ext = CK_TRUE, sens = CK_FALSE;
    CK_ATTRIBUTE attrs[2] = {
        { CKA_EXTRACTABLE, &ext, sizeof(ext) }, { CKA_SENSITIVE, &sens, sizeof(sens) }
    };
    attr_op a = { key, attrs, 2 };
    apr_status_t st = with_session(p11, key, do_get_attrs, &a, "C_GetAttributeValue");
    *extractable = ext == CK_TRUE;
    *sensitive = sens == CK_TRUE;
    return st;
}

typedef struct {
    const char *label;
    unsigned bits;
} gen_op;

static CK_RV do_generate(ec_p11 *p11, CK_SESSION_HANDLE h, void *baton)
{
    gen_op *g = baton;
    CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG bits = g->bits;
    CK_BYTE e[] = { 0x01, 0x00, 0x01 };
    CK_BYTE id[16];
    CK_ULONG lablen = strlen(g->label);
    CK_OBJECT_HANDLE pub, priv;
    CK_ATTRIBUTE pubt[] = {
        { CKA_TOKEN, &yes, sizeof(yes) }, { CKA_VERIFY, &yes, sizeof(yes) },
        { CKA_ENCRYPT, &no, sizeof(no) }, { CKA_WRAP, &no, sizeof(no) },
        { CKA_MODULUS_BITS, &bits, sizeof(bits) }, { CKA_PUBLIC_EXPONENT, e, sizeof(e) },
        { CKA_LABEL, (void *)g->label, lablen }, { CKA_ID, id, sizeof(id) },
    };
    CK_ATTRIBUTE privt[] = {
        { CKA_TOKEN, &yes, sizeof(yes) }, { CKA_PRIVATE, &yes, sizeof(yes) },
        { CKA_SENSITIVE, &yes, sizeof(yes) }, { CKA_EXTRACTABLE, &no, sizeof(no) },
        { CKA_SIGN, &yes, sizeof(yes) }, { CKA_DECRYPT, &no, sizeof(no) },
        { CKA_UNWRAP, &no, sizeof(no) },
        { CKA_LABEL, (void *)g->label, lablen }, { CKA_ID, id, sizeof(id) },
    };

    if (ec_random(id, sizeof(id)) != APR_SUCCESS)
        return CKR_FUNCTION_FAILED;
    return p11->m->C_GenerateKeyPair(h, &mech, pubt, sizeof(pubt) / sizeof(pubt[0]),
                                     privt, sizeof(privt) / sizeof(privt[0]), &pub, &priv);
}

apr_status_t ec_p11_generate_rsa(ec_p11 *p11, const char *label, unsigned bits)
{
    gen_op g = { label, bits };
    return with_session(p11, NULL, do_generate, &g, "C_GenerateKeyPair");
}

typedef struct {
    const char *label;
    int destroy;
    int count;
} label_op;

static CK_RV do_label(ec_p11 *p11, CK_SESSION_HANDLE h, void *baton)
{
    label_op *l = baton;
    CK_ATTRIBUTE t[] = { { CKA_LABEL, (void *)l->label, strlen(l->label) } };
    CK_OBJECT_HANDLE found[32];
    CK_ULONG n = 0;
    CK_RV rv;

    if ((rv = p11->m->C_FindObjectsInit(h, t, 1)) != CKR_OK)
        return rv;
    rv = p11->m->C_FindObjects(h, found, 32, &n);
    p11->m->C_FindObjectsFinal(h);
    if (rv != CKR_OK)
        return rv;
    l->count = (int)n;
    for (CK_ULONG i = 0; l->destroy && i < n; i++)
        if ((rv = p11->m->C_DestroyObject(h, found[i])) != CKR_OK)
            return rv;
    return CKR_OK;
}

apr_status_t ec_p11_label_objects(ec_p11 *p11, const char *label, int destroy, int *count)
{
    label_op l = { label, destroy, 0 };
    apr_status_t st = with_session(p11, NULL, do_label, &l, "C_FindObjects");
    *count = l.count;
    return st;
}

typedef struct {
    const char *old_pin, *new_pin;
} set_pin_op;

static CK_RV do_set_pin(ec_p11 *p11, CK_SESSION_HANDLE h, void *baton)
{
    set_pin_op *o = baton;
    return p11->m->C_SetPIN(h, (CK_UTF8CHAR *)o->old_pin, strlen(o->old_pin),
                            (CK_UTF8CHAR *)o->new_pin, strlen(o->new_pin));
}

apr_status_t ec_p11_set_pin(ec_p11 *p11, const char *old_pin, const char *new_pin)
{
    set_pin_op o = { old_pin, new_pin };
    apr_status_t st = with_session(p11, NULL, do_set_pin, &o, "C_SetPIN");
    if (st == APR_SUCCESS) {
        /* Reconnections of this handle log in with the new PIN. */
        memset(p11->pin, 0, strlen(p11->pin));
        p11->pin = apr_pstrdup(p11->pool, new_pin);
    }
    return st;
}

static char *pct(apr_pool_t *pool, const char *s)
{
    char *out = apr_palloc(pool, 3 * strlen(s) + 1), *o = out;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~')
            *o++ = (char)c;
        else
            o += sprintf(o, "%%%02X", c);
    }
    *o = 0;
    return out;
}

char *ec_p11_token_uri(apr_pool_t *pool, const char *token_label)
{
    return apr_pstrcat(pool, "pkcs11:token=", pct(pool, token_label), NULL);
}

const char *ec_p11_uri_token(apr_pool_t *pool, const char *uri)
{
    const char *t = uri ? strstr(uri, "token=") : NULL;
    return t ? apr_pstrndup(pool, t + 6, strcspn(t + 6, ";?")) : NULL;
}

char *ec_p11_uri(apr_pool_t *pool, const char *token_label, const char *object_label)
{
    return apr_psprintf(pool, "pkcs11:token=%s;object=%s;type=private",
                        pct(pool, token_label), pct(pool, object_label));
}
