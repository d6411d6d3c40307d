/* Multi-perspective corroboration's pure parts: the wire format (MAC, direction, replay
 * binding, every malformed shape refused), the quorum table, the BR's phase-in, the distance
 * and RIR rules of a configured set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "tap.h"
#include "ec_mpic.h"
#include "ec_mpic_conf.h"
#include "ec_mpic_wire.h"

static uint8_t KEY[32], OTHER[32];

static const uint8_t *key_fn(void *baton, const char *from)
{
    return !strcmp(from, (const char *)baton) ? KEY : NULL;
}

static ec_mpic_msg_t request(apr_pool_t *p)
{
    ec_mpic_msg_t m;
    memset(&m, 0, sizeof(m));
    m.dir = EC_MPIC_REQUEST;
    m.client = "hk-primary";
    m.perspective = "tokyo";
    m.nonce = "0123456789abcdef0123456789abcdef";
    m.time = 1796000000;
    m.check = "web";
    m.name = "www.example.com";
    m.code = "code with spaces % and\nnewline";
    return m;
}

static apr_status_t decode(apr_pool_t *p, const char *buf, ec_mpic_dir_t dir, const char *who, ec_mpic_msg_t *m)
{
    const char *why;
    return ec_mpic_decode(p, buf, strlen(buf), dir, key_fn, (void *)who, m, &why);
}

static void test_wire(apr_pool_t *p)
{
    ec_mpic_msg_t m = request(p), got, ans;
    apr_size_t len;
    char *buf = ec_mpic_encode(p, &m, KEY, &len), *bad;
    const char *why;

    ok(decode(p, buf, EC_MPIC_REQUEST, "hk-primary", &got) == APR_SUCCESS, "a request round-trips");
    ok(!strcmp(got.code, m.code) && !strcmp(got.name, m.name) && got.time == m.time,
       "values with spaces, %% and newlines survive the encoding");
    ok(!strchr(strchr(buf, '\n') + 1, ' '), "no raw space in the encoded lines");
    ok(decode(p, buf, EC_MPIC_ANSWER, "tokyo", &got) == APR_EINVAL, "a request does not pass for an answer");
    ok(decode(p, buf, EC_MPIC_REQUEST, "someone-else", &got) == APR_EACCES, "an unknown client is refused");
    bad = apr_pstrdup(p, buf);
    bad[strstr(bad, "www") - bad] = 'x';
    ok(decode(p, bad, EC_MPIC_REQUEST, "hk-primary", &got) == APR_EACCES, "a changed name breaks the MAC");
    {
        ec_mpic_msg_t o = request(p);
        apr_size_t l2;
        char *forged = ec_mpic_encode(p, &o, OTHER, &l2);
        ok(decode(p, forged, EC_MPIC_REQUEST, "hk-primary", &got) == APR_EACCES, "a MAC with another key is refused");
    }
    ok(ec_mpic_decode(p, buf, len - 1, EC_MPIC_REQUEST, key_fn, "hk-primary", &got, &why) == APR_EINVAL,
       "a truncated message is malformed");
    ok(decode(p, apr_pstrcat(p, buf, "check=txt\n", NULL), EC_MPIC_REQUEST, "hk-primary", &got) == APR_EINVAL,
       "nothing may follow the mac");
    ok(decode(p, apr_pstrcat(p, "ecert-mpic/1 request\ncheck=web\n", strchr(buf, '\n') + 1, NULL), EC_MPIC_REQUEST,
              "hk-primary", &got) != APR_SUCCESS, "a field given twice is refused");
    ok(decode(p, "ecert-mpic/1 request\nclient=hk-primary\nmac=00\n", EC_MPIC_REQUEST, "hk-primary", &got) == APR_EINVAL,
       "a short mac is malformed");
    ok(decode(p, "", EC_MPIC_REQUEST, "hk-primary", &got) == APR_EINVAL, "an empty message is malformed");
    ok(decode(p, "ecert-mpic/1 request\nclient=a%0\n", EC_MPIC_REQUEST, "hk-primary", &got) == APR_EINVAL,
       "a cut escape is malformed");
    ok(decode(p, "ecert-mpic/1 request\nclient=a%00b\n", EC_MPIC_REQUEST, "hk-primary", &got) == APR_EINVAL,
       "an escaped NUL is malformed");

    /* An answer, and the nonce that binds it to its request. */
    memset(&ans, 0, sizeof(ans));
    ans.dir = EC_MPIC_ANSWER;
    ans.perspective = "tokyo";
    ans.nonce = m.nonce;
    ans.time = 1796000001;
    ans.check = "web";
    ans.name = "www.example.com";
    ans.result = "pass";
    ans.reason = "passed";
    ans.detail = "the file holds the code";
    ans.evidence = "GET http://www.example.com/... -> 200 (192.0.2.1)\nline two";
    buf = ec_mpic_encode(p, &ans, KEY, &len);
    ok(decode(p, buf, EC_MPIC_ANSWER, "tokyo", &got) == APR_SUCCESS && !strcmp(got.evidence, ans.evidence) &&
       !strcmp(got.result, "pass"), "an answer round-trips with its evidence");
    ans.result = "maybe";
    buf = ec_mpic_encode(p, &ans, KEY, &len);
    ok(decode(p, buf, EC_MPIC_ANSWER, "tokyo", &got) == APR_EINVAL, "a result the protocol has not is refused");
    m.check = "caa";
    m.code = NULL;
    buf = ec_mpic_encode(p, &m, KEY, &len);
    ok(decode(p, buf, EC_MPIC_REQUEST, "hk-primary", &got) == APR_EINVAL, "a CAA check without issuers is refused");
}

static void test_quorum(apr_pool_t *p)
{
    ec_mpic_conf_t c;
    ok(ec_mpic_allowed_failures(2) == 1 && ec_mpic_allowed_failures(5) == 1, "2-5 remote perspectives: 1 may fail");
    ok(ec_mpic_allowed_failures(6) == 2 && ec_mpic_allowed_failures(9) == 2, "6 or more: 2 may fail");
    ec_mpic_conf_init(&c);
    ec_mpic_conf_finish(&c, p);
    ok(ec_mpic_required(&c, 1797292799) == 4, "4 remote perspectives until 2026-12-14");
    ok(ec_mpic_required(&c, 1797292800) == 5, "5 from 2026-12-15 (SC-067)");
    ok(ec_mpic_required(&c, 1773532800 - 1) == 2 && ec_mpic_required(&c, 1773532800) == 3,
       "3 from 2026-03-15");
    ok(ec_mpic_conf_problem(&c, p, 1797292800) != NULL, "no perspective configured: cannot be relied on");
}

static const char *conf_of(apr_pool_t *p, ec_mpic_conf_t *c, const char *const *lines, const char *keyfile)
{
    ec_mpic_conf_init(c);
    for (int i = 0; lines[i]; i++) {
        char **argv;
        const char *err;
        const char *pct = strstr(lines[i], "%s");
        int argc = 0;
        apr_tokenize_to_argv(pct ? apr_pstrcat(p, apr_pstrndup(p, lines[i], (apr_size_t)(pct - lines[i])), keyfile,
                                               pct + 2, NULL) : lines[i], &argv, p);
        while (argv[argc])
            argc++;
        if ((err = ec_mpic_conf_directive(c, p, argv[0], argc - 1, argv + 1)) != NULL)
            return err;
    }
    ec_mpic_conf_finish(c, p);
    return NULL;
}

static void test_conf(apr_pool_t *p, const char *keyfile, const char *badkey)
{
    static const char *const good[] = {
        "ECertPerspectivePrimary hk 22.32,114.17 APNIC", "ECertPerspectiveCA /dev/null",
        "ECertPerspective tokyo https://a/ APNIC 35.68,139.69 %s",
        "ECertPerspective frankfurt https://b/ RIPE 50.11,8.68 %s",
        "ECertPerspective virginia https://c/ ARIN 38.95,-77.45 %s",
        "ECertPerspective saopaulo https://d/ LACNIC -23.55,-46.63 %s",
        "ECertPerspective sydney https://e/ APNIC -33.87,151.21 %s", NULL };
    static const char *const near[] = {
        "ECertPerspectivePrimary hk 22.32,114.17 APNIC", "ECertPerspectiveCA /dev/null",
        "ECertPerspective tokyo https://a/ APNIC 35.68,139.69 %s",
        "ECertPerspective osaka https://b/ APNIC 34.69,135.50 %s",
        "ECertPerspective virginia https://c/ ARIN 38.95,-77.45 %s",
        "ECertPerspective saopaulo https://d/ LACNIC -23.55,-46.63 %s",
        "ECertPerspective sydney https://e/ APNIC -33.87,151.21 %s", NULL };
    static const char *const one_rir[] = {
        "ECertPerspectivePrimary hk 22.32,114.17 APNIC", "ECertPerspectiveCA /dev/null",
        "ECertPerspective tokyo https://a/ APNIC 35.68,139.69 %s",
        "ECertPerspective sydney https://b/ APNIC -33.87,151.21 %s",
        "ECertPerspective singapore https://c/ APNIC 1.35,103.82 %s",
        "ECertPerspective delhi https://d/ APNIC 28.61,77.21 %s",
        "ECertPerspective auckland https://e/ APNIC -36.85,174.76 %s", NULL };
    ec_mpic_conf_t c;
    const char *err, *problem;
    const char *const *bad_lines[] = { (const char *const[]){ "ECertPerspective a http://x/ APNIC 1,1 %s", NULL },
                                       (const char *const[]){ "ECertPerspective a https://x/ MARS 1,1 %s", NULL },
                                       (const char *const[]){ "ECertPerspective a https://x/ APNIC 91,1 %s", NULL },
                                       (const char *const[]){ "ECertPerspective a https://x/ APNIC 1,1", NULL },
                                       (const char *const[]){ "ECertPerspective a b https://x/ APNIC 1,1 %s", NULL } };

    err = conf_of(p, &c, good, keyfile);
    ok(err == NULL, "five perspectives configure (%s)", err ? err : "ok");
    ok(c.perspectives->nelts == 5 && c.timeout_ms == 20000, "five, and the default time of 20 s");
    problem = ec_mpic_conf_problem(&c, p, 1797292800);
    ok(problem == NULL, "they can be relied on on 2026-12-15 (%s)", problem ? problem : "ok");
    problem = conf_of(p, &c, near, keyfile) ? "not configured" : ec_mpic_conf_problem(&c, p, 1797292800);
    ok(problem && strstr(problem, "osaka") && strstr(problem, "km apart"), "Tokyo and Osaka are too close: %s",
       problem ? problem : "none");
    problem = conf_of(p, &c, one_rir, keyfile) ? "not configured" : ec_mpic_conf_problem(&c, p, 1797292800);
    ok(problem && strstr(problem, "Regional Internet Registry"), "all in APNIC is refused: %s",
       problem ? problem : "none");
    for (size_t i = 0; i < sizeof(bad_lines) / sizeof(*bad_lines); i++)
        ok(conf_of(p, &c, bad_lines[i], keyfile) != NULL, "refused: %s", bad_lines[i][0]);
    err = conf_of(p, &c, (const char *const[]){ "ECertPerspective a https://x/ APNIC 1,1 %s", NULL }, badkey);
    ok(err && strstr(err, "64 hex digits"), "a key file of the wrong length is refused: %s", err ? err : "none");
    {
        double km = ec_mpic_km(22.32, 114.17, 35.68, 139.69);
        ok(km > 2850 && km < 2910, "Hong Kong to Tokyo is about 2,880 km (%.0f)", km);
    }
#ifndef EC_TEST_CLOCK
    ok(conf_of(p, &c, (const char *const[]){ "ECertPerspectiveMinimum 0", NULL }, keyfile) != NULL,
       "a production build refuses ECertPerspectiveMinimum");
#else
    ok(1, "test build: ECertPerspectiveMinimum allowed");
#endif
}

static void test_corroborates(apr_pool_t *p)
{
    ec_perspective_t pv = { "tokyo", "https://a/", "APNIC", 0, 0, { 0 } };
    ec_mpic_ask_t a;
    const char *why;
    memset(&a, 0, sizeof(a));
    a.pv = &pv;
    a.req.check = "caa";
    a.answered = 1;
    a.ans.result = "permit";
    ok(ec_mpic_corroborates(&a, &why), "a CAA permit corroborates");
    a.ans.result = "forbid";
    ok(!ec_mpic_corroborates(&a, &why) && !strcmp(why, "differs"), "a CAA forbid differs");
    a.req.check = "web";
    a.ans.result = "pass";
    ok(ec_mpic_corroborates(&a, &why), "the code seen corroborates");
    a.answered = 0;
    a.failure = "timeout";
    ok(!ec_mpic_corroborates(&a, &why) && !strcmp(why, "timeout"), "no answer does not corroborate");
}

static void test_regions(apr_pool_t *p)
{
    ec_perspective_t pv[4] = { { "a", "https://a/", "ARIN", 0, 0, { 0 } }, { "b", "https://b/", "ARIN", 0, 0, { 0 } },
                               { "c", "https://c/", "ARIN", 0, 0, { 0 } }, { "d", "https://d/", "RIPE", 0, 0, { 0 } } };
    ec_mpic_ask_t asks[4];
    ec_mpic_result_t r;
    memset(asks, 0, sizeof(asks));
    for (int i = 0; i < 4; i++) {
        asks[i].pv = &pv[i];
        asks[i].req.check = "txt";
        asks[i].answered = 1;
        asks[i].ans.result = "pass";
    }
    memset(&r, 0, sizeof(r));
    r.remote = 4;
    r.required = 4;
    r.asks = asks;
    ec_mpic_quorum(p, &r);
    ok(r.passed && r.corroborating == 4, "4 of 4 over ARIN and RIPE corroborate");
    asks[3].answered = 0;
    asks[3].failure = "timeout";
    ec_mpic_quorum(p, &r);
    ok(!r.passed && r.corroborating == 3 && strstr(r.detail, "one RIR"),
       "3 of 4 is a quorum, but all three in ARIN is refused: %s", r.detail);
    asks[3].answered = 1;
    asks[2].ans.result = "fail";
    ec_mpic_quorum(p, &r);
    ok(r.passed && strstr(r.detail, "not: c (differs)"), "3 of 4 over two regions passes: %s", r.detail);
    asks[1].ans.result = "fail";
    ec_mpic_quorum(p, &r);
    ok(!r.passed && r.corroborating == 2, "2 of 4 is no quorum");
}

int main(void)
{
    apr_pool_t *p;
    char keyfile[] = "/tmp/ec-mpic-key-XXXXXX", badkey[] = "/tmp/ec-mpic-bad-XXXXXX";
    int fd;

    apr_initialize();
    apr_pool_create(&p, NULL);
    memset(KEY, 0x11, sizeof(KEY));
    memset(OTHER, 0x22, sizeof(OTHER));
    fd = mkstemp(keyfile);
    if (fd < 0 || write(fd, "1111111111111111111111111111111111111111111111111111111111111111\n", 65) != 65)
        return 1;
    close(fd);
    fd = mkstemp(badkey);
    if (fd < 0 || write(fd, "abcd\n", 5) != 5)
        return 1;
    close(fd);
    plan(45);
    test_wire(p);
    test_quorum(p);
    test_conf(p, keyfile, badkey);
    test_corroborates(p);
    test_regions(p);
    {
        ec_mpic_conf_t c;
        const char *err;
        chmod(keyfile, 0644);
        err = conf_of(p, &c, (const char *const[]){ "ECertPerspective a https://x/ APNIC 1,1 %s", NULL }, keyfile);
        ok(err && strstr(err, "chmod 600"), "a key file others may read is refused: %s", err ? err : "none");
    }
    unlink(keyfile);
    unlink(badkey);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
