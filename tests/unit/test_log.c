/* The core's log calls: the callback gets the status and the calling thread's context. */
#include <string.h>
#include <apr_general.h>
#include "tap.h"
#include "ec_log.h"

static struct {
    ec_log_level_t level;
    apr_status_t rv;
    void *req;
    char tag[16], msg[64];
} last;

static void keep(void *baton, ec_log_level_t level, apr_status_t rv, void *req, const char *tag, const char *msg)
{
    last.level = level;
    last.rv = rv;
    last.req = req;
    strncpy(last.tag, tag, sizeof(last.tag) - 1);
    strncpy(last.msg, msg, sizeof(last.msg) - 1);
}

int main(void)
{
    int request = 1;

    apr_initialize();
    plan(5);
    ec_log_set(keep, NULL);
    ec_log(EC_LOG_WARN, "ECT0001", "plain %d", 1);
    ok(last.level == EC_LOG_WARN && last.rv == APR_SUCCESS && !last.req && !strcmp(last.tag, "ECT0001") &&
       !strcmp(last.msg, "plain 1"), "ec_log: no status, no context");
    ec_log_rv(EC_LOG_ERR, APR_ENOENT, "ECT0002", "with %s", "status");
    ok(last.rv == APR_ENOENT && !strcmp(last.msg, "with status"), "ec_log_rv passes the status");
    ok(ec_log_context(&request) == NULL, "no context before one is set");
    ec_log(EC_LOG_INFO, "ECT0003", "in a request");
    ok(last.req == &request, "a line inside the context carries it");
    ec_log_context(NULL);
    ec_log(EC_LOG_INFO, "ECT0004", "after");
    ok(last.req == NULL, "set back, the next line has none");
    apr_terminate();
    return done_testing();
}
