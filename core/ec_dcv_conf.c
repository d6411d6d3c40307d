#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "ec_dcv_conf.h"

const char EC_DCV_NOT_MINE[] = "not a DCV directive";

#define DEF_MAILS_PER_HOUR 5

void ec_dcv_conf_init(ec_dcv_conf_t *c)
{
    memset(c, 0, sizeof(*c));
    c->email = -1;
    c->private_addresses = -1;
    c->mails_per_hour = -1;
    ec_mpic_conf_init(&c->mpic);
}

static const char *on_off(apr_pool_t *p, const char *name, int argc, char *const *argv, const char *on,
                          const char *off, int *out)
{
    if (argc == 1 && !strcasecmp(argv[0], on))
        *out = 1;
    else if (argc == 1 && !strcasecmp(argv[0], off))
        *out = 0;
    else
        return apr_psprintf(p, "%s takes %s or %s", name, on, off);
    return NULL;
}

const char *ec_dcv_conf_directive(ec_dcv_conf_t *c, apr_pool_t *p, const char *name, int argc,
                                  char *const *argv)
{
    const char *err;

    if (!strcasecmp(name, "ECertDCVEmail"))
        return on_off(p, name, argc, argv, "on", "off", &c->email);
    if (!strcasecmp(name, "ECertDCVPrivateAddresses"))
        return on_off(p, name, argc, argv, "allow", "refuse", &c->private_addresses);
    if (!strcasecmp(name, "ECertDCVMailsPerHour")) {
        char *end;
        long v = argc == 1 ? strtol(argv[0], &end, 10) : 0;
        if (argc != 1 || *end || v < 1 || v > 100)
            return "ECertDCVMailsPerHour takes the validation mails one application may send per hour, 1 to 100";
        c->mails_per_hour = (int)v;
        return NULL;
    }
    if ((err = ec_resolver_directive(&c->dns, p, name, argc, argv)) != EC_RESOLVER_NOT_MINE)
        return err;
    if ((err = ec_caa_directive(&c->caa, p, name, argc, argv)) != EC_CAA_NOT_MINE)
        return err;
    if ((err = ec_mpic_conf_directive(&c->mpic, p, name, argc, argv)) != EC_MPIC_NOT_MINE)
        return err;
    return EC_DCV_NOT_MINE;
}

ec_dcv_conf_t *ec_dcv_conf_merge(apr_pool_t *p, const ec_dcv_conf_t *base, const ec_dcv_conf_t *add)
{
    ec_dcv_conf_t *c = apr_pcalloc(p, sizeof(*c));
    c->dns = *ec_resolver_merge(p, &base->dns, &add->dns);
    c->caa = *ec_caa_merge(p, &base->caa, &add->caa);
    c->mpic = *ec_mpic_conf_merge(p, &base->mpic, &add->mpic);
    c->email = add->email >= 0 ? add->email : base->email;
    c->private_addresses = add->private_addresses >= 0 ? add->private_addresses : base->private_addresses;
    c->mails_per_hour = add->mails_per_hour >= 0 ? add->mails_per_hour : base->mails_per_hour;
    return c;
}

void ec_dcv_conf_finish(ec_dcv_conf_t *c, apr_pool_t *p)
{
    ec_resolver_finish(&c->dns);
    ec_caa_finish(&c->caa, p);
    ec_mpic_conf_finish(&c->mpic, p);
    if (c->email < 0)
        c->email = 1;
    if (c->private_addresses < 0)
        c->private_addresses = 0;
    if (c->mails_per_hour < 0)
        c->mails_per_hour = DEF_MAILS_PER_HOUR;
}
