/* The bare PKCS#11 signing loop the OCSP benchmark compares mod_ocsp's fresh-signing path
 * with: T threads, each with its own logged-in session, C_SignInit + C_Sign
 * (CKM_SHA256_RSA_PKCS) over a 300-octet message (about an OCSP ResponseData) for S seconds.
 *   p11sign MODULE TOKEN_LABEL KEY_LABEL PIN_FILE THREADS SECONDS
 * Prints "signatures N seconds S per_second R". */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST *f;
static CK_SLOT_ID slot;
static const char *key_label;
static char pin[256];
static double seconds;
static volatile int stop;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
    long *count = arg;
    CK_SESSION_HANDLE h;
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof(cls) },
        { CKA_LABEL, (void *)key_label, strlen(key_label) },
    };
    CK_OBJECT_HANDLE key;
    CK_ULONG n = 0;
    CK_MECHANISM mech = { CKM_SHA256_RSA_PKCS, NULL, 0 };
    unsigned char msg[300], sig[512];
    CK_RV rv;

    memset(msg, 0x42, sizeof(msg));
    if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h)) != CKR_OK) {
        fprintf(stderr, "p11sign: C_OpenSession: 0x%lx\n", rv);
        exit(1);
    }
    rv = f->C_Login(h, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin));
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        fprintf(stderr, "p11sign: C_Login: 0x%lx\n", rv);
        exit(1);
    }
    if (f->C_FindObjectsInit(h, tmpl, 2) != CKR_OK || f->C_FindObjects(h, &key, 1, &n) != CKR_OK || n != 1) {
        fprintf(stderr, "p11sign: no private key labelled '%s'\n", key_label);
        exit(1);
    }
    f->C_FindObjectsFinal(h);
    while (!stop) {
        CK_ULONG siglen = sizeof(sig);
        msg[0]++;
        if (f->C_SignInit(h, &mech, key) != CKR_OK || f->C_Sign(h, msg, sizeof(msg), sig, &siglen) != CKR_OK) {
            fprintf(stderr, "p11sign: C_Sign failed\n");
            exit(1);
        }
        (*count)++;
    }
    f->C_CloseSession(h);
    return NULL;
}

int main(int argc, char **argv)
{
    CK_C_GetFunctionList get;
    CK_C_INITIALIZE_ARGS init = { NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL };
    CK_SLOT_ID slots[32];
    CK_ULONG nslots = 32, i;
    void *lib;
    FILE *pf;
    int threads;
    pthread_t tid[64];
    long counts[64] = { 0 }, total = 0;
    double t0, t1;

    if (argc != 7) {
        fputs("usage: p11sign MODULE TOKEN_LABEL KEY_LABEL PIN_FILE THREADS SECONDS\n", stderr);
        return 2;
    }
    key_label = argv[3];
    threads = atoi(argv[5]);
    seconds = atof(argv[6]);
    if (threads < 1 || threads > 64 || seconds <= 0 || seconds > 600)
        return 2;
    if (!(pf = fopen(argv[4], "r")) || !fgets(pin, sizeof(pin), pf)) {
        fprintf(stderr, "p11sign: cannot read %s\n", argv[4]);
        return 1;
    }
    fclose(pf);
    pin[strcspn(pin, "\r\n")] = 0;
    if (!(lib = dlopen(argv[1], RTLD_NOW)) || !(get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList")) ||
        get(&f) != CKR_OK || f->C_Initialize(&init) != CKR_OK) {
        fprintf(stderr, "p11sign: cannot load %s\n", argv[1]);
        return 1;
    }
    if (f->C_GetSlotList(CK_TRUE, slots, &nslots) != CKR_OK)
        return 1;
    for (i = 0; i < nslots; i++) {
        CK_TOKEN_INFO ti;
        char label[33];
        if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        memcpy(label, ti.label, 32);
        label[32] = 0;
        for (int k = 31; k >= 0 && label[k] == ' '; k--)
            label[k] = 0;
        if (!strcmp(label, argv[2]))
            break;
    }
    if (i == nslots) {
        fprintf(stderr, "p11sign: no token '%s'\n", argv[2]);
        return 1;
    }
    slot = slots[i];
    t0 = now();
    for (int k = 0; k < threads; k++)
        pthread_create(&tid[k], NULL, worker, &counts[k]);
    while (now() - t0 < seconds) {
        struct timespec ts = { 0, 50000000 };
        nanosleep(&ts, NULL);
    }
    stop = 1;
    for (int k = 0; k < threads; k++) {
        pthread_join(tid[k], NULL);
        total += counts[k];
    }
    t1 = now();
    printf("signatures %ld seconds %.2f per_second %.1f\n", total, t1 - t0, (double)total / (t1 - t0));
    f->C_Finalize(NULL);
    return 0;
}
