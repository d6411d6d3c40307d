#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <keyutils.h>
#include <openssl/crypto.h>
#include <apr_strings.h>
#include "ec_token_pin.h"

#define PREFIX "keyring:"

const char *ec_token_pin_spec_error(const char *spec)
{
    const char *name;

    if (strncmp(spec, PREFIX, strlen(PREFIX)))
        return "the token PIN is given as keyring:NAME (put there by ecertctl activate)";
    name = spec + strlen(PREFIX);
    if (!*name || strlen(name) > 200 || strpbrk(name, " \t\r\n"))
        return "keyring:NAME needs a name of 1 to 200 characters without spaces";
    return NULL;
}

static apr_status_t wipe(void *data)
{
    char *pin = data;
    OPENSSL_cleanse(pin, strlen(pin));
    return APR_SUCCESS;
}

static key_serial_t find(const char *spec)
{
    return (key_serial_t)keyctl_search(KEY_SPEC_USER_KEYRING, "user", spec + strlen(PREFIX), 0);
}

apr_status_t ec_token_pin_read(apr_pool_t *pool, const char *spec, char **pin, const char **err)
{
    key_serial_t key;
    void *buf = NULL;
    long len;

    if ((*err = ec_token_pin_spec_error(spec)))
        return APR_EINVAL;
    if ((key = find(spec)) < 0 || (len = keyctl_read_alloc(key, &buf)) < 0) {
        int e = errno;
        *err = e == ENOKEY || e == EKEYREVOKED || e == EKEYEXPIRED
            ? "the CA keys are not activated (ecertctl activate, two custodians' shares)"
            : apr_psprintf(pool, "cannot read the token PIN from the keyring: %s", strerror(e));
        return e == ENOKEY || e == EKEYREVOKED || e == EKEYEXPIRED ? APR_ENOENT : APR_FROM_OS_ERROR(e);
    }
    *pin = apr_pstrmemdup(pool, buf, (apr_size_t)len);
    OPENSSL_cleanse(buf, (size_t)len);
    free(buf);
    apr_pool_cleanup_register(pool, *pin, wipe, apr_pool_cleanup_null);
    if (!**pin || strlen(*pin) != (size_t)len) {
        *err = "the keyring entry of the token PIN is malformed: activate again";
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

apr_status_t ec_token_pin_put(apr_pool_t *pool, const char *spec, const char *pin, const char **err)
{
    key_serial_t key;

    if ((*err = ec_token_pin_spec_error(spec)))
        return APR_EINVAL;
    key = add_key("user", spec + strlen(PREFIX), pin, strlen(pin), KEY_SPEC_USER_KEYRING);
    /* The account's own processes may read it whatever session keyring they were started
     * in (httpd under a service manager, ecertctl from a login shell); nobody else. */
    if (key < 0 || keyctl_setperm(key, KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_SEARCH) < 0) {
        *err = apr_psprintf(pool, "cannot put the token PIN in the kernel keyring: %s", strerror(errno));
        return APR_FROM_OS_ERROR(errno);
    }
    return APR_SUCCESS;
}

apr_status_t ec_token_pin_drop(apr_pool_t *pool, const char *spec, const char **err)
{
    key_serial_t key;

    if ((*err = ec_token_pin_spec_error(spec)))
        return APR_EINVAL;
    if ((key = find(spec)) < 0)
        return errno == ENOKEY ? APR_ENOENT : APR_FROM_OS_ERROR(errno);
    if (keyctl_invalidate(key) < 0 && keyctl_revoke(key) < 0) {
        *err = apr_psprintf(pool, "cannot remove the token PIN from the keyring: %s", strerror(errno));
        return APR_FROM_OS_ERROR(errno);
    }
    return APR_SUCCESS;
}
