/*
 * One side of a migration between two processes, with real clocks and the library's own timer
 * thread. The library is loaded with dlopen() by path, as a VMM that ships it as a plugin would.
 *
 *   xproc_helper source <libvmwdt.so> <file>   enable (f = 100 Hz, LOAD_CNT = 100: a 1 s window),
 *                                              pet, run ~300 ms, sleep, write the snapshot
 *   xproc_helper dest <libvmwdt.so> <file>     restore it into a fresh device, wake, and measure
 *                                              when the interrupt and the reset come
 *
 * dest exits 0 when the interrupt comes after the budget left in the document, no later than
 * BOUND_MS beyond it, and the reset one window (1 s) after the interrupt within the same bound.
 * Exit 1 on a failed expectation, 2 on a usage or setup error.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmwdt.h"

#define FREQ_HZ 100
#define LOAD 100
#define WINDOW_NS INT64_C(1000000000)
#define RUN_MS 300
#define BOUND_MS 150
#define WAIT_S 5

/* The functions this program uses, resolved from the loaded library. */
struct lib {
    uint32_t (*abi_version)(void);
    int (*create)(const struct vmwdt_config *, const struct vmwdt_host_ops *, vmwdt **);
    void (*destroy)(vmwdt *);
    int (*mmio_write)(vmwdt *, uint64_t, const void *, uint32_t);
    int (*sleep)(vmwdt *);
    int (*wake)(vmwdt *);
    int (*snapshot_json)(vmwdt *, char **);
    int (*restore_json)(vmwdt *, const char *);
    void (*free)(void *);
};

/* What the timer thread reports. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int64_t irq_at, reset_at; /* 0 until it happened */
    int irqs, resets;
} seen = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0 };

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_irq(void *opaque, uint32_t cpu)
{
    int64_t t = mono_ns();
    (void)opaque;
    (void)cpu;
    pthread_mutex_lock(&seen.lock);
    if (seen.irqs++ == 0)
        seen.irq_at = t;
    pthread_cond_broadcast(&seen.cond);
    pthread_mutex_unlock(&seen.lock);
}

static void on_reset(void *opaque, uint32_t cpu)
{
    int64_t t = mono_ns();
    (void)opaque;
    (void)cpu;
    pthread_mutex_lock(&seen.lock);
    if (seen.resets++ == 0)
        seen.reset_at = t;
    pthread_cond_broadcast(&seen.cond);
    pthread_mutex_unlock(&seen.lock);
}

static int load_lib(const char *path, struct lib *l)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return -1;
    }
    struct { const char *name; void **slot; } syms[] = {
        { "vmwdt_abi_version", (void **)&l->abi_version },
        { "vmwdt_create", (void **)&l->create },
        { "vmwdt_destroy", (void **)&l->destroy },
        { "vmwdt_mmio_write", (void **)&l->mmio_write },
        { "vmwdt_sleep", (void **)&l->sleep },
        { "vmwdt_wake", (void **)&l->wake },
        { "vmwdt_snapshot_json", (void **)&l->snapshot_json },
        { "vmwdt_restore_json", (void **)&l->restore_json },
        { "vmwdt_free", (void **)&l->free },
    };
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        *syms[i].slot = dlvsym(h, syms[i].name, "VMWDT_1.0");
        if (*syms[i].slot == NULL) {
            fprintf(stderr, "%s@VMWDT_1.0 not found in %s\n", syms[i].name, path);
            return -1;
        }
    }
    if (l->abi_version() >> 16 != VMWDT_ABI_MAJOR) {
        fprintf(stderr, "%s has ABI %#x, expected major %d\n", path, l->abi_version(),
                VMWDT_ABI_MAJOR);
        return -1;
    }
    return 0;
}

static vmwdt *new_device(const struct lib *l)
{
    struct vmwdt_config cfg = { sizeof(cfg), 1, VMWDT_CLOCK_MONOTONIC,
                                VMWDT_ACTION_IRQ_THEN_RESET, VMWDT_TIMERS_THREAD, 0 };
    struct vmwdt_host_ops ops = { sizeof(ops), NULL, on_irq, on_reset, NULL, NULL, NULL };
    vmwdt *dev = NULL;
    int rc = l->create(&cfg, &ops, &dev);
    if (rc < 0) {
        fprintf(stderr, "vmwdt_create: %d\n", rc);
        return NULL;
    }
    return dev;
}

static int reg_write(const struct lib *l, vmwdt *dev, uint32_t reg, uint32_t val)
{
    uint8_t b[4] = { val & 0xff, (val >> 8) & 0xff, (val >> 16) & 0xff, val >> 24 };
    return l->mmio_write(dev, reg, b, 4);
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int run_source(const struct lib *l, const char *file)
{
    vmwdt *dev = new_device(l);
    if (dev == NULL)
        return 2;
    if (reg_write(l, dev, VMWDT_REG_CLOCK_FREQ_HZ, FREQ_HZ) || reg_write(l, dev, VMWDT_REG_LOAD_CNT, LOAD) ||
        reg_write(l, dev, VMWDT_REG_STATUS, 1) || reg_write(l, dev, VMWDT_REG_LOAD_CNT, LOAD)) {
        fprintf(stderr, "source: guest writes refused\n");
        return 2;
    }
    int64_t pet = mono_ns();
    sleep_ms(RUN_MS);
    l->sleep(dev);
    int64_t slept = mono_ns();
    char *doc = NULL;
    int rc = l->snapshot_json(dev, &doc);
    l->destroy(dev);
    if (rc < 0) {
        fprintf(stderr, "source: vmwdt_snapshot_json: %d\n", rc);
        return 2;
    }
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", file);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fputs(doc, f) < 0 || fclose(f) != 0 || rename(tmp, file) != 0) {
        fprintf(stderr, "source: cannot write %s\n", file);
        return 2;
    }
    l->free(doc);
    printf("source: pet, slept %.1f ms later; interrupts so far %d\n", (slept - pet) / 1e6,
           seen.irqs);
    return seen.irqs == 0 && seen.resets == 0 ? 0 : 1;
}

/* next_expiration_interval_ns of vm_wdts[0] in our document, or -1. */
static int64_t budget_of(const char *doc)
{
    const char *p = strstr(doc, "\"next_expiration_interval_ns\":");
    if (p == NULL)
        return -1;
    return strtoll(p + strlen("\"next_expiration_interval_ns\":"), NULL, 10);
}

/* Waits until *counter is non-zero or the deadline passes. */
static void wait_for(int *counter, int64_t until)
{
    pthread_mutex_lock(&seen.lock);
    while (*counter == 0 && mono_ns() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&seen.cond, &seen.lock, &ts);
    }
    pthread_mutex_unlock(&seen.lock);
}

static int run_dest(const struct lib *l, const char *file)
{
    char doc[65536];
    FILE *f = fopen(file, "r");
    size_t n = f ? fread(doc, 1, sizeof(doc) - 1, f) : 0;
    if (f)
        fclose(f);
    if (n == 0) {
        fprintf(stderr, "dest: cannot read %s\n", file);
        return 2;
    }
    doc[n] = '\0';
    int64_t budget = budget_of(doc);
    /* The source ran about RUN_MS of its 1 s window; a loaded machine may have run longer. */
    if (budget <= 0 || budget > WINDOW_NS - (int64_t)RUN_MS * 1000000) {
        fprintf(stderr, "dest: implausible budget %" PRId64 " ns in the document\n", budget);
        return 1;
    }
    vmwdt *dev = new_device(l);
    if (dev == NULL)
        return 2;
    int rc = l->restore_json(dev, doc);
    if (rc < 0) {
        fprintf(stderr, "dest: vmwdt_restore_json: %d\n", rc);
        return 1;
    }
    sleep_ms(200); /* restored asleep: nothing may fire before wake */
    int64_t woke = mono_ns();
    l->wake(dev);
    wait_for(&seen.irqs, woke + (int64_t)WAIT_S * 1000000000);
    wait_for(&seen.resets, woke + (int64_t)WAIT_S * 1000000000);
    l->destroy(dev);
    if (seen.irqs == 0 || seen.resets == 0) {
        fprintf(stderr, "dest: no %s within %d s of wake\n", seen.irqs ? "reset" : "interrupt",
                WAIT_S);
        return 1;
    }
    double irq_late = (seen.irq_at - woke - budget) / 1e6;
    double reset_late = (seen.reset_at - seen.irq_at - WINDOW_NS) / 1e6;
    printf("dest: budget %.3f ms; interrupt %.3f ms after wake (%+.3f ms), reset %.3f ms after "
           "the interrupt (%+.3f ms); bound %d ms\n",
           budget / 1e6, (seen.irq_at - woke) / 1e6, irq_late, (seen.reset_at - seen.irq_at) / 1e6,
           reset_late, BOUND_MS);
    if (seen.irqs != 1 || seen.resets != 1) {
        fprintf(stderr, "dest: %d interrupts, %d resets; expected one each\n", seen.irqs,
                seen.resets);
        return 1;
    }
    /* Never early (woke was read before vmwdt_wake), at most BOUND_MS late. */
    if (irq_late < 0 || irq_late > BOUND_MS || reset_late < -BOUND_MS || reset_late > BOUND_MS) {
        fprintf(stderr, "dest: outside the bound\n");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct lib l;
    if (argc != 4 || (strcmp(argv[1], "source") != 0 && strcmp(argv[1], "dest") != 0)) {
        fprintf(stderr, "usage: %s source|dest <libvmwdt.so> <file>\n", argv[0]);
        return 2;
    }
    if (load_lib(argv[2], &l) < 0)
        return 2;
    int rc = strcmp(argv[1], "source") == 0 ? run_source(&l, argv[3]) : run_dest(&l, argv[3]);
    fflush(stdout);
    return rc;
}
