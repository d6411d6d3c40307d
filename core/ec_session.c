#include <string.h>
#include <apr_strings.h>
#include "ec_session.h"
#include "ec_flash.h"
#include "ec_util.h"

const ec_stmt_t ec_session_stmts[] = {
    { "session_insert", "INSERT INTO session (id_sha256, application_id, csrf_token, client_addr, "
      "lang, purpose) VALUES (UNHEX(%s), NULLIF(%s, ''), %s, %s, %s, %s)" },
    { "session_get", "SELECT application_id, csrf_token, lang, "
      "TIMESTAMPDIFF(SECOND, last_seen, NOW()), purpose, TIMESTAMPDIFF(SECOND, created_at, NOW()), "
      "flash_page, flash FROM session WHERE id_sha256 = UNHEX(%s)" },
    { "session_touch", "UPDATE session SET last_seen = NOW() WHERE id_sha256 = UNHEX(%s)" },
    { "session_delete", "DELETE FROM session WHERE id_sha256 = UNHEX(%s)" },
    { "session_flash", "UPDATE session SET flash_page = NULLIF(%s, ''), flash = NULLIF(%s, '') "
      "WHERE id_sha256 = UNHEX(%s)" },
    { "session_lang", "UPDATE session SET lang = %s WHERE id_sha256 = UNHEX(%s)" },
    { "session_expire", "DELETE FROM session WHERE last_seen < NOW() - INTERVAL %s SECOND "
      "OR created_at < NOW() - INTERVAL %s SECOND LIMIT 500" },
    { NULL, NULL }
};

static const char *id_hash(apr_pool_t *p, const char *cookie)
{
    uint8_t h[32];
    ec_sha256(cookie, strlen(cookie), h);
    return ec_hex(p, h, 32);
}

static int cookie_ok(const char *c)
{
    if (!c || strlen(c) != 64)
        return 0;
    for (; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return 0;
    return 1;
}

apr_status_t ec_session_create(ec_store_t *s, apr_pool_t *p, const char *app_id, const char *purpose,
                               const char *client_addr, const char *lang, ec_session_t **out)
{
    uint8_t id[32], csrf[32];
    ec_session_t *ss = apr_pcalloc(p, sizeof(*ss));
    apr_status_t rv;

    if (ec_random(id, 32) != APR_SUCCESS || ec_random(csrf, 32) != APR_SUCCESS)
        return APR_EGENERAL;
    ss->cookie = ec_hex(p, id, 32);
    ss->csrf = ec_hex(p, csrf, 32);
    ss->app_id = app_id;
    ss->lang = lang;
    ss->purpose = purpose ? purpose : "flow";
    rv = ec_store_exec(s, p, "session_insert", NULL,
                       EC_ARGS(id_hash(p, ss->cookie), app_id ? app_id : "", ss->csrf,
                               client_addr, lang, ss->purpose));
    if (rv == APR_SUCCESS)
        *out = ss;
    return rv;
}

apr_status_t ec_session_load(ec_store_t *s, apr_pool_t *p, const char *cookie, int idle_seconds,
                             ec_session_t **out)
{
    const char *c[8], *h;
    ec_session_t *ss;
    apr_status_t rv;

    if (!cookie_ok(cookie))
        return APR_ENOENT;
    h = id_hash(p, cookie);
    if ((rv = ec_store_get1(s, p, "session_get", 8, c, EC_ARGS(h))) != APR_SUCCESS)
        return rv;
    if (!c[3] || !c[5] || apr_atoi64(c[3]) > idle_seconds || apr_atoi64(c[5]) > EC_SESSION_MAX_AGE) {
        ec_store_exec(s, p, "session_delete", NULL, EC_ARGS(h));
        return APR_ENOENT;
    }
    ss = apr_pcalloc(p, sizeof(*ss));
    ss->cookie = apr_pstrdup(p, cookie);
    ss->app_id = c[0];
    ss->csrf = c[1];
    ss->lang = c[2];
    ss->purpose = c[4];
    if (c[6] && c[7] && (ss->flash = ec_flash_decode(p, c[7])) != NULL)
        ss->flash_page = c[6];
    /* Marking it seen is a committed write: once a minute is enough for an idle timeout. */
    if (apr_atoi64(c[3]) >= 60)
        ec_store_exec(s, p, "session_touch", NULL, EC_ARGS(h));
    *out = ss;
    return APR_SUCCESS;
}

apr_status_t ec_session_destroy(ec_store_t *s, apr_pool_t *p, const char *cookie)
{
    if (!cookie_ok(cookie))
        return APR_ENOENT;
    return ec_store_exec(s, p, "session_delete", NULL, EC_ARGS(id_hash(p, cookie)));
}

apr_status_t ec_session_set_lang(ec_store_t *s, apr_pool_t *p, ec_session_t *ss, const char *lang)
{
    ss->lang = lang;
    return ec_store_exec(s, p, "session_lang", NULL, EC_ARGS(lang, id_hash(p, ss->cookie)));
}

apr_status_t ec_session_set_flash(ec_store_t *s, apr_pool_t *p, ec_session_t *ss, const char *page,
                                  const apr_table_t *flash)
{
    const char *enc = page && flash ? ec_flash_encode(p, flash) : NULL;
    if (!enc)
        page = NULL;
    ss->flash_page = page;
    ss->flash = page ? apr_table_copy(p, flash) : NULL;
    return ec_store_exec(s, p, "session_flash", NULL, EC_ARGS(page ? page : "", enc ? enc : "", id_hash(p, ss->cookie)));
}

apr_status_t ec_session_expire(ec_store_t *s, apr_pool_t *p, int idle_seconds)
{
    return ec_store_exec(s, p, "session_expire", NULL,
                         EC_ARGS(apr_itoa(p, idle_seconds), apr_itoa(p, EC_SESSION_MAX_AGE)));
}

int ec_session_csrf_ok(const ec_session_t *ss, const char *token)
{
    return ss && ss->csrf && token && strlen(token) == strlen(ss->csrf) &&
           ec_memeq(token, ss->csrf, strlen(token));
}
