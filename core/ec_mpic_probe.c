#include <string.h>
#include <apr_strings.h>
#include "ec_mpic_probe.h"
#include "ec_caa.h"
#include "ec_dcv_txt.h"
#include "ec_dcv_web.h"
#include "ec_util.h"

void ec_mpic_probe(ec_resolver_t *r, apr_pool_t *p, const ec_dcv_conf_t *c, const char *self,
                   const ec_mpic_msg_t *req, ec_mpic_msg_t *ans)
{
    apr_array_header_t *codes = apr_array_make(p, 1, sizeof(const char *));

    memset(ans, 0, sizeof(*ans));
    ans->dir = EC_MPIC_ANSWER;
    ans->perspective = self;
    ans->nonce = req->nonce;
    ans->check = req->check;
    ans->name = req->name;
    if (!strcmp(req->check, "health")) {
        ans->result = r ? "ok" : "failed";
        ans->reason = r ? "ok" : "dns";
        ans->detail = r ? "ready" : "this perspective's resolver did not start";
        return;
    }
    if (!r) {
        ans->result = "failed";
        ans->reason = "dns";
        ans->detail = "this perspective's resolver did not start";
        return;
    }
    if (req->code)
        APR_ARRAY_PUSH(codes, const char *) = req->code;
    if (!strcmp(req->check, "web")) {
        ec_dcv_web_result_t w;
        ec_dcv_web_fetch(r, p, c, req->name, codes, &w);
        ans->result = w.passed ? "pass" : "fail";
        ans->reason = w.reason;
        ans->detail = w.detail;
        ans->evidence = apr_pstrcat(p, w.urls ? w.urls : "", w.urls && *w.urls && w.dns && *w.dns ? "\n" : "",
                                    w.dns ? w.dns : "", NULL);
    }
    else if (!strcmp(req->check, "txt")) {
        ec_dcv_txt_result_t t;
        ec_dcv_txt_check(r, p, req->name, codes, &t);
        ans->result = t.passed ? "pass" : "fail";
        ans->reason = t.reason;
        ans->detail = t.detail;
        ans->evidence = t.dns;
    }
    else {
        /* The CA's issuer domains come with the request: a perspective serves its CA's
         * policy, not one of its own. */
        ec_caa_conf_t cc = { req->issuers };
        ec_caa_result_t res;
        ec_caa_check(r, p, &cc, req->name, req->method, &res);
        ans->result = res.verdict == EC_CAA_PERMIT ? "permit" : res.verdict == EC_CAA_FORBID ? "forbid" : "failed";
        ans->reason = res.reason;
        ans->detail = res.why;
        ans->evidence = res.evidence;
    }
    /* The answer must fit EC_MPIC_MAX_MSG once encoded, where a byte may take three. */
    ans->evidence = ec_clip(p, ans->evidence, 18000);
    ans->detail = ec_clip(p, ans->detail, 1990);
    if (ans->evidence && !*ans->evidence)
        ans->evidence = NULL;
}
