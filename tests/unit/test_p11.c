/* The token pool (ec_p11) against a real SoftHSMv2 token made for this test: signing,
 * key protection, a wrong PIN, and many processes logging in at once (SoftHSM rewrites
 * its token file at every login, which a process starting at that moment must survive). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "ec_log.h"
#include "ec_p11.h"

#define MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define PIN "24681357"
#define CHILDREN 16
#define ROUNDS 25

static void to_diag(void *baton, ec_log_level_t level, apr_status_t rv, void *req, const char *tag,
                    const char *msg)
{
    fprintf(stderr, "# %s: %s\n", tag, msg);
}

static int make_token(apr_pool_t *p, const char *dir)
{
    char *cmd, *conf = apr_psprintf(p, "%s/softhsm2.conf", dir);
    FILE *f = fopen(conf, "w");
    int rc;

    if (!f)
        return -1;
    fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", dir);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    if (asprintf(&cmd, "softhsm2-util --init-token --free --label unit --pin %s --so-pin 13572468"
                 " >/dev/null", PIN) < 0)
        return -1;
    rc = system(cmd);
    free(cmd);
    return rc;
}

/* One child: open, sign, close, ROUNDS times; the exit code counts failures. */
static int child_rounds(const char *token_uri, const char *key_uri)
{
    int failures = 0;

    for (int r = 0; r < ROUNDS; r++) {
        apr_pool_t *p;
        ec_p11 *p11;
        ec_p11_key *k;
        uint8_t sig[EC_P11_SIGMAX];
        size_t siglen = sizeof(sig);

        apr_pool_create(&p, NULL);
        if (ec_p11_open(&p11, p, MODULE, token_uri, PIN, 2) != APR_SUCCESS ||
            ec_p11_key_get(p11, p, key_uri, &k) != APR_SUCCESS ||
            ec_p11_sign(p11, k, (const uint8_t *)"x", 1, sig, &siglen) != APR_SUCCESS || siglen != 256)
            failures++;
        apr_pool_destroy(p);
    }
    return failures;
}

int main(void)
{
    apr_pool_t *p, *tp;
    char dir[] = "/tmp/ec-unit-p11-XXXXXX";
    const char *token_uri, *key_uri;
    ec_p11 *p11;
    ec_p11_key *k;
    uint8_t sig[EC_P11_SIGMAX];
    size_t siglen = sizeof(sig);
    int extractable = -1, sensitive = -1, count = 0, failures = 0;
    pid_t kids[CHILDREN];

    apr_initialize();
    apr_pool_create(&p, NULL);
    ec_log_set(to_diag, NULL);
    plan(18);

    if (!mkdtemp(dir) || make_token(p, dir) != 0) {
        ok(0, "SoftHSM token created in %s", dir);
        return done_testing();
    }
    token_uri = ec_p11_token_uri(p, "unit");
    key_uri = ec_p11_uri(p, "unit", "signer");

    apr_pool_create(&tp, p);
    ok(ec_p11_open(&p11, tp, MODULE, token_uri, PIN, 2) == APR_SUCCESS, "pool opens and logs in");
    ok(ec_p11_generate_rsa(p11, "signer", 2048) == APR_SUCCESS, "RSA-2048 key generated in the token");
    ok(ec_p11_key_get(p11, tp, key_uri, &k) == APR_SUCCESS &&
       ec_p11_sign(p11, k, (const uint8_t *)"x", 1, sig, &siglen) == APR_SUCCESS && siglen == 256,
       "C_Sign in the token gives a 2048-bit signature");
    ok(ec_p11_key_protection(p11, k, &extractable, &sensitive) == APR_SUCCESS &&
       extractable == 0 && sensitive == 1, "private key is sensitive and not extractable");
    ec_p11_label_objects(p11, "signer", 0, &count);
    ok(count == 2, "private and public objects labelled (%d)", count);
    apr_pool_destroy(tp);

    apr_pool_create(&tp, p);
    ok(ec_p11_open(&p11, tp, MODULE, token_uri, "99999999", 2) != APR_SUCCESS, "wrong PIN refused");
    apr_pool_destroy(tp);
    apr_pool_create(&tp, p);
    ok(ec_p11_open(&p11, tp, MODULE, ec_p11_token_uri(p, "nosuch"), PIN, 2) == APR_ENOENT,
       "unknown token label refused");
    apr_pool_destroy(tp);

    /* Nothing of the token is open in this process now: children start clean. */
    for (int i = 0; i < CHILDREN; i++) {
        kids[i] = fork();
        if (kids[i] == 0)
            _exit(child_rounds(token_uri, key_uri));
    }
    for (int i = 0; i < CHILDREN; i++) {
        int st = 0;
        if (kids[i] < 0 || waitpid(kids[i], &st, 0) < 0 || !WIFEXITED(st))
            failures += ROUNDS;
        else
            failures += WEXITSTATUS(st);
    }
    ok(failures == 0, "%d processes x %d logins at once: %d failed", CHILDREN, ROUNDS, failures);

    apr_pool_create(&tp, p);
    ok(ec_p11_open(&p11, tp, MODULE, token_uri, PIN, 2) == APR_SUCCESS &&
       ec_p11_label_objects(p11, "signer", 1, &count) == APR_SUCCESS && count == 2, "key removed");
    apr_pool_destroy(tp);

    /* A token that comes up after the process started: the handle reconnects on use. */
    apr_pool_create(&tp, p);
    p11 = NULL;
    ok(ec_p11_open(&p11, tp, MODULE, ec_p11_token_uri(p, "late"), PIN, 2) == APR_ENOENT && p11,
       "missing token: an error, and a handle that will retry");
    ec_p11_key_get(p11, tp, ec_p11_uri(p, "late", "signer"), &k);
    siglen = sizeof(sig);
    ok(!ec_p11_available(p11) && ec_p11_sign(p11, k, (const uint8_t *)"x", 1, sig, &siglen) == APR_EAGAIN,
       "no retry before %d s: signing fails at once", (int)apr_time_sec(EC_P11_RECONNECT));
    ok(system("softhsm2-util --init-token --free --label late --pin " PIN " --so-pin 13572468 >/dev/null") == 0,
       "token 'late' created");
    apr_sleep(EC_P11_RECONNECT + apr_time_from_msec(200));
    ok(ec_p11_available(p11), "reconnected after %d s", (int)apr_time_sec(EC_P11_RECONNECT));
    siglen = sizeof(sig);
    ok(ec_p11_generate_rsa(p11, "signer", 2048) == APR_SUCCESS &&
       ec_p11_sign(p11, k, (const uint8_t *)"x", 1, sig, &siglen) == APR_SUCCESS && siglen == 256,
       "and signs");
    /* The token taken away while the handle is in use, then put back: the connection is
     * dropped and made again, without a restart, within 5 s of the token's return. */
    ok(system(apr_psprintf(p, "cd '%s' && mkdir .away && mv */ .away/", dir)) == 0, "token files moved away");
    siglen = sizeof(sig);
    ok(ec_p11_sign(p11, k, (const uint8_t *)"x", 1, sig, &siglen) == APR_EAGAIN && !ec_p11_available(p11),
       "signing fails with APR_EAGAIN, and the handle is no longer available");
    ok(system(apr_psprintf(p, "cd '%s' && mv .away/* . && rmdir .away", dir)) == 0, "token files back");
    {
        apr_time_t back = apr_time_now();
        apr_status_t st = APR_EAGAIN;
        while (st != APR_SUCCESS && apr_time_now() - back < apr_time_from_sec(8)) {
            siglen = sizeof(sig);
            if ((st = ec_p11_sign(p11, k, (const uint8_t *)"x", 1, sig, &siglen)) != APR_SUCCESS)
                apr_sleep(apr_time_from_msec(100));
        }
        ok(st == APR_SUCCESS && siglen == 256 && apr_time_now() - back < apr_time_from_sec(5),
           "signing resumes %.1f s after the token is back", (double)(apr_time_now() - back) / APR_USEC_PER_SEC);
    }
    apr_pool_destroy(tp);
    if (system(apr_psprintf(p, "rm -rf '%s'", dir)) != 0)
        fprintf(stderr, "# could not remove %s\n", dir);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
