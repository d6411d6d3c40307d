/* The OCSP responder's freshness rules (ec_ocsp_entry: which answer may be served, which
 * may replace which, the record encoding and its check) and the node replica built on them
 * (ec_ocsp_replica: LMDB put/get, tombstones, the boot and "caught up" marks, the purge,
 * a damaged file set aside and rebuilt, a damaged record never served). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "ec_ocsp_entry.h"
#include "ec_ocsp_replica.h"

#define NOW 1796000000LL
#define REFRESH 86400
#define MAP (64u << 20)

static const uint8_t DER[] = "0\x82\x01\x0a this stands for a signed OCSP response, 40 octets";

static ec_ocsp_entry_t answer(int status, apr_int64_t sc, apr_int64_t this_update)
{
    ec_ocsp_entry_t e;
    memset(&e, 0, sizeof(e));
    e.status = status;
    e.reason = status == EC_OCSP_REVOKED ? 1 : -1;
    e.revoked_at = status == EC_OCSP_REVOKED ? this_update - 10 : 0;
    e.this_update = this_update;
    e.next_update = this_update + 4 * 86400;
    e.sc = sc;
    e.der = DER;
    e.der_len = sizeof(DER) - 1;
    return e;
}

static void verdicts(void)
{
    ec_ocsp_entry_t e = answer(EC_OCSP_GOOD, 5, NOW - 3600), t;
    ec_ocsp_rec_t rec;

    ok(ec_ocsp_entry_verdict(NULL, NOW, REFRESH, 1) == EC_OCSP_MISS, "no entry: miss");
    ok(ec_ocsp_entry_verdict(&e, NOW, REFRESH, 1) == EC_OCSP_SERVE, "fresh and current: served");
    ok(ec_ocsp_entry_verdict(&e, NOW, REFRESH, 0) == EC_OCSP_FALLBACK,
       "replica not yet caught up: only when the database cannot answer");
    ok(ec_ocsp_entry_verdict(&e, NOW - 3600 + REFRESH, REFRESH, 1) == EC_OCSP_FALLBACK,
       "due for refresh: fallback");
    ok(ec_ocsp_entry_verdict(&e, e.next_update, REFRESH, 1) == EC_OCSP_MISS, "at nextUpdate: never served");
    ok(ec_ocsp_entry_verdict(&e, e.next_update - 1, 10 * 86400, 1) == EC_OCSP_SERVE,
       "a second before nextUpdate: still valid");
    e.this_update = NOW + 301;
    e.next_update = NOW + 86400;
    ok(ec_ocsp_entry_verdict(&e, NOW, REFRESH, 1) == EC_OCSP_MISS, "thisUpdate further ahead than clock skew: miss");
    ec_ocsp_entry_tombstone(&t, 9, NOW + 86400);
    ok(ec_ocsp_entry_verdict(&t, NOW, REFRESH, 1) == EC_OCSP_MISS, "tombstone: miss");

    memset(&rec, 0, sizeof(rec));
    rec.found = rec.has_resp = 1;
    rec.sc = rec.resp_sc = 7;
    rec.this_update = NOW - 60;
    rec.next_update = NOW + 86400;
    ok(ec_ocsp_rec_verdict(&rec, NOW, REFRESH) == EC_OCSP_SERVE, "stored answer for the current status: served");
    rec.resp_sc = 6;
    ok(ec_ocsp_rec_verdict(&rec, NOW, REFRESH) == EC_OCSP_MISS, "stored answer for an older status: miss");
    rec.resp_sc = 7;
    rec.found = 0;
    ok(ec_ocsp_rec_verdict(&rec, NOW, REFRESH) == EC_OCSP_MISS, "not issued: miss");
}

static void replacing(void)
{
    ec_ocsp_entry_t a = answer(EC_OCSP_GOOD, 5, NOW - 100), b, t;

    ok(ec_ocsp_entry_replaces(&a, NULL), "anything replaces nothing");
    b = answer(EC_OCSP_REVOKED, 6, NOW - 200);
    ok(ec_ocsp_entry_replaces(&b, &a), "an answer for a newer status replaces, even with an older thisUpdate");
    ok(!ec_ocsp_entry_replaces(&a, &b), "never an answer for an older status");
    ec_ocsp_entry_tombstone(&t, 5, NOW);
    ok(!ec_ocsp_entry_replaces(&t, &a), "a tombstone does not bury the answer for the status it marks");
    ok(ec_ocsp_entry_replaces(&a, &t), "the answer for the marked status replaces its tombstone");
    ec_ocsp_entry_tombstone(&t, 6, NOW);
    ok(ec_ocsp_entry_replaces(&t, &a), "a newer status change buries the answer");
    ok(!ec_ocsp_entry_replaces(&a, &t), "and the old answer cannot come back");
    b = answer(EC_OCSP_GOOD, 5, NOW - 50);
    ok(ec_ocsp_entry_replaces(&b, &a), "a refresh (same status, newer thisUpdate) replaces");
    ok(!ec_ocsp_entry_replaces(&a, &b), "an older refresh does not");
    ok(!ec_ocsp_entry_replaces(&a, &a), "the same answer again: nothing to write");
}

static void encoding(void)
{
    uint8_t buf[EC_OCSP_ENTRY_MAX], copy[EC_OCSP_ENTRY_MAX];
    ec_ocsp_entry_t e = answer(EC_OCSP_REVOKED, 1234567, NOW - 10), d, d2, big;
    const char *key = "0123456789abcdef/1/7a";
    apr_size_t n = ec_ocsp_entry_encode(buf, key, &e);
    static uint8_t large[EC_OCSP_ENTRY_MAX];
    int all = 1;

    ok(n > e.der_len, "encoded: %zu octets", (size_t)n);
    ok(ec_ocsp_entry_decode(buf, n, key, &d) && d.status == EC_OCSP_REVOKED && d.reason == 1 &&
       d.revoked_at == e.revoked_at && d.this_update == e.this_update && d.next_update == e.next_update &&
       d.sc == 1234567 && d.der_len == e.der_len && !memcmp(d.der, DER, d.der_len),
       "decoded: every field and the DER back");
    ok(strlen(d.etag) == 18 && d.etag[0] == '"' && d.etag[17] == '"', "ETag quoted, 16 hex digits: %s", d.etag);
    ok(!ec_ocsp_entry_decode(buf, n, "0123456789abcdef/2/7a", &d2), "under another key: refused");
    for (apr_size_t i = 0; i < n; i++) {
        memcpy(copy, buf, n);
        copy[i] ^= 0x01;
        if (ec_ocsp_entry_decode(copy, n, key, &d2))
            all = 0;
    }
    ok(all, "any single flipped bit of the %zu octets: refused", (size_t)n);
    ok(!ec_ocsp_entry_decode(buf, n - 1, key, &d2) && !ec_ocsp_entry_decode(buf, 10, key, &d2),
       "cut short: refused");
    {
        ec_ocsp_entry_t other = e;
        char etag[20];
        uint8_t b2[EC_OCSP_ENTRY_MAX];
        apr_size_t n2;
        other.sc = 99;
        n2 = ec_ocsp_entry_encode(b2, "fedcba9876543210/2/7a", &other);
        ec_ocsp_entry_decode(b2, n2, "fedcba9876543210/2/7a", &d2);
        strcpy(etag, d2.etag);
        ok(!strcmp(etag, d.etag), "the ETag depends on the DER alone");
        {
            ec_ocsp_rec_t rec;
            memset(&rec, 0, sizeof(rec));
            rec.found = 1;
            rec.der = DER;
            rec.der_len = sizeof(DER) - 1;
            ec_ocsp_entry_from_rec(&d2, &rec);
            ok(!strcmp(d2.etag, etag), "and is the same from the database as from the replica");
        }
    }
    big = e;
    big.der = large;
    big.der_len = sizeof(large);
    ok(ec_ocsp_entry_encode(buf, key, &big) == 0, "an answer larger than a record: not encoded");
}

static int corrupt_file(const char *path, off_t at, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    int rc = fd >= 0 && pwrite(fd, bytes, n, at) == (ssize_t)n;
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Changes the first octet of every occurrence of needle in the file (LMDB writes pages
 * anew: older copies stay in the file); returns how many. */
static int damage_all(apr_pool_t *p, const char *path, const void *needle, size_t n)
{
    FILE *f = fopen(path, "rb");
    long size;
    char *data;
    int count = 0;

    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = apr_palloc(p, (apr_size_t)size);
    if (fread(data, 1, (size_t)size, f) == (size_t)size)
        for (long i = 0; i + (long)n <= size; i++)
            if (!memcmp(data + i, needle, n) && corrupt_file(path, (off_t)i, "X", 1))
                count++;
    fclose(f);
    return count;
}

static void replica(apr_pool_t *p)
{
    char dir[] = "/tmp/ec-replica-XXXXXX";
    ec_ocsp_replica_info_t info;
    ec_ocsp_replica *r;
    ec_ocsp_replica_txn *t;
    ec_ocsp_entry_t e, got, tomb;
    int cur = 0;
    const char *k1 = "0123456789abcdef/1/01", *k2 = "0123456789abcdef/1/02", *k3 = "0123456789abcdef/2/03";
    apr_pool_t *sp;
    apr_status_t rv;
    int removed = 0;

    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp");
        return;
    }
    rv = ec_ocsp_replica_prepare(p, dir, MAP, 126, &info);
    ok(rv == APR_SUCCESS && info.rebuilt && !info.entries && info.why && !strcmp(info.why, "it is new"),
       "a new replica is prepared empty (%s)", info.why ? info.why : "-");
    apr_pool_create(&sp, p);
    ok(ec_ocsp_replica_open(sp, dir, MAP, 126, &r) == APR_SUCCESS, "opened");
    ok(ec_ocsp_replica_get(r, k1, p, &got, &cur) == 0, "absent: 0");
    ok(!ec_ocsp_replica_current(r), "not current before a sync round caught up");

    ec_ocsp_replica_begin(r, p, &t);
    e = answer(EC_OCSP_GOOD, 10, NOW - 100);
    ok(ec_ocsp_replica_put(t, k1, &e) == APR_SUCCESS, "stored");
    e = answer(EC_OCSP_GOOD, 9, NOW - 50);
    ok(ec_ocsp_replica_put(t, k1, &e) == APR_EEXIST, "an answer for an older status is kept out");
    e = answer(EC_OCSP_GOOD, 10, NOW - 100 + 86400 * 10);
    e.next_update = NOW - 7200;   /* long expired */
    e.this_update = NOW - 86400 * 5;
    e.sc = 1;
    ok(ec_ocsp_replica_put(t, k2, &e) == APR_SUCCESS, "an expired answer stored");
    ec_ocsp_entry_tombstone(&tomb, 20, NOW + 86400);
    ok(ec_ocsp_replica_put(t, k3, &tomb) == APR_SUCCESS, "a tombstone stored");
    ec_ocsp_replica_set_mark(t, "caught_up", ec_ocsp_replica_mark(t, "boot"));
    ec_ocsp_replica_set_mark(t, "synced_at", apr_time_now() - EC_OCSP_REPLICA_LEASE_US - 1);
    ok(ec_ocsp_replica_commit(t) == APR_SUCCESS, "committed");
    ok(!ec_ocsp_replica_current(r), "caught up, but the last good round is older than the lease: not current");
    ec_ocsp_replica_begin(r, p, &t);
    ec_ocsp_replica_set_mark(t, "synced_at", apr_time_now());
    ec_ocsp_replica_commit(t);

    ok(ec_ocsp_replica_get(r, k1, p, &got, &cur) == 1 && got.sc == 10 && got.this_update == NOW - 100 && cur,
       "read back without a lock: the newer status's answer, current");
    ok(ec_ocsp_replica_get(r, k3, p, &got, &cur) == 1 && got.status == EC_OCSP_TOMBSTONE &&
       ec_ocsp_entry_verdict(&got, NOW, REFRESH, 1) == EC_OCSP_MISS, "the tombstone reads as a miss");
    ok(ec_ocsp_replica_current(r), "current once caught up in this boot");

    ec_ocsp_replica_begin(r, p, &t);
    rv = ec_ocsp_replica_purge(t, NOW - 3600, 100, &removed);
    ok(rv == APR_SUCCESS && removed == 1, "the purge removes the expired record only (%d)", removed);
    ec_ocsp_replica_commit(t);
    ok(ec_ocsp_replica_get(r, k2, p, &got, &cur) == 0 && ec_ocsp_replica_get(r, k1, p, &got, &cur) == 1,
       "expired gone, live kept");
    apr_pool_destroy(sp);

    rv = ec_ocsp_replica_prepare(p, dir, MAP, 126, &info);
    ok(rv == APR_SUCCESS && !info.rebuilt && info.entries == 2, "prepared again: kept, %zu records",
       (size_t)info.entries);
    apr_pool_create(&sp, p);
    ec_ocsp_replica_open(sp, dir, MAP, 126, &r);
    ok(!ec_ocsp_replica_current(r), "a new boot: not current until a round of it catches up");
    ok(ec_ocsp_replica_get(r, k1, p, &got, &cur) == 1, "the answers survived the restart");
    apr_pool_destroy(sp);

    /* One byte of a stored DER changed behind LMDB's back: found, refused, never served. */
    {
        const char *data = apr_pstrcat(p, dir, "/data.mdb", NULL);
        int n = damage_all(p, data, DER + 4, 20);
        ok(n > 0, "one byte of the record changed in the file (%d copies)", n);
        ok(ec_ocsp_replica_prepare(p, dir, MAP, 126, &info) == APR_SUCCESS && !info.rebuilt,
           "its header still looks right: the file is kept");
        apr_pool_create(&sp, p);
        ec_ocsp_replica_open(sp, dir, MAP, 126, &r);
        ok(ec_ocsp_replica_get(r, k1, p, &got, &cur) == -1, "the record fails its check: -1, not served");
        apr_pool_destroy(sp);
        /* The file's first pages (LMDB's meta pages) overwritten. */
        static const char junk[8192] = "not an LMDB file";
        ok(corrupt_file(data, 0, junk, sizeof(junk)), "the file's head overwritten");
        rv = ec_ocsp_replica_prepare(p, dir, MAP, 126, &info);
        ok(rv == APR_SUCCESS && info.rebuilt && !info.entries, "set aside and started empty (%s)",
           info.why ? info.why : "-");
        ok(access(apr_pstrcat(p, data, ".damaged", NULL), F_OK) == 0, "the damaged file is kept beside");
    }
    {
        char cmd[200];
        apr_snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            ok(0, "cleanup");
    }
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    plan(54);
    verdicts();
    replacing();
    encoding();
    replica(p);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
