// LD_PRELOAD malloc counter for scripts/count-daemon-allocations: counts every malloc of
// the process and those made on effnetd's per-camera threads (named "infer …" and
// "capture …"), and writes "total infer capture" to $MALLOC_COUNT_FILE every 100 ms.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static atomic_long total, infer, capture;
static void *(*real_malloc)(size_t);

void *malloc(size_t size) {
    if (!real_malloc) real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    atomic_fetch_add_explicit(&total, 1, memory_order_relaxed);
    char name[17] = {0};
    prctl(PR_GET_NAME, name);
    if (!strncmp(name, "infer", 5)) atomic_fetch_add_explicit(&infer, 1, memory_order_relaxed);
    if (!strncmp(name, "capture", 7)) atomic_fetch_add_explicit(&capture, 1, memory_order_relaxed);
    return real_malloc(size);
}

static void *report(void *arg) {
    const char *path = arg;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    for (;;) {
        FILE *f = fopen(tmp, "w");
        if (f) {
            fprintf(f, "%ld %ld %ld\n", atomic_load(&total), atomic_load(&infer), atomic_load(&capture));
            fclose(f);
            rename(tmp, path);
        }
        usleep(100000);
    }
    return NULL;
}

__attribute__((constructor)) static void start(void) {
    const char *path = getenv("MALLOC_COUNT_FILE");
    pthread_t t;
    if (path) pthread_create(&t, NULL, report, (void *)path);
}
