/*
 * The library as a host that loads it at run time sees it: dlopen() by its SONAME file, every
 * function found with dlvsym(..., "VMWDT_1.0"), nothing else exported, and a short scenario in
 * virtual time driven through the pointers alone (this program does not link the library).
 */
#define _GNU_SOURCE
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmwdt.h"
#include "vmwdt_test.h"

#ifndef VMWDT_LIB_PATH
#error "VMWDT_LIB_PATH must name the built libvmwdt.so.1"
#endif

static const char *const exported[] = {
    "vmwdt_abi_version", "vmwdt_strerror", "vmwdt_create", "vmwdt_destroy",
    "vmwdt_set_vcpu_thread", "vmwdt_mmio_write", "vmwdt_mmio_read", "vmwdt_sleep",
    "vmwdt_wake", "vmwdt_snapshot_json", "vmwdt_restore_json", "vmwdt_free",
    "vmwdt_next_deadline_ns", "vmwdt_run_due",
};

/* The library's entry points, each typed as abi/vmwdt.h declares it. */
struct api {
    void *lib;
    __typeof__(vmwdt_abi_version) *abi_version;
    __typeof__(vmwdt_create) *create;
    __typeof__(vmwdt_destroy) *destroy;
    __typeof__(vmwdt_mmio_write) *mmio_write;
    __typeof__(vmwdt_mmio_read) *mmio_read;
    __typeof__(vmwdt_next_deadline_ns) *next_deadline_ns;
    __typeof__(vmwdt_run_due) *run_due;
    __typeof__(vmwdt_snapshot_json) *snapshot_json;
    __typeof__(vmwdt_free) *free;
};

static void *sym(void *lib, const char *name)
{
    void *p = dlvsym(lib, name, "VMWDT_1.0");

    ck_assert_msg(p != NULL, "%s@VMWDT_1.0 not found: %s", name, dlerror());
    return p;
}

static void api_open(struct api *a)
{
    a->lib = dlopen(VMWDT_LIB_PATH, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(a->lib != NULL, "dlopen(%s): %s", VMWDT_LIB_PATH, dlerror());
    a->abi_version = sym(a->lib, "vmwdt_abi_version");
    a->create = sym(a->lib, "vmwdt_create");
    a->destroy = sym(a->lib, "vmwdt_destroy");
    a->mmio_write = sym(a->lib, "vmwdt_mmio_write");
    a->mmio_read = sym(a->lib, "vmwdt_mmio_read");
    a->next_deadline_ns = sym(a->lib, "vmwdt_next_deadline_ns");
    a->run_due = sym(a->lib, "vmwdt_run_due");
    a->snapshot_json = sym(a->lib, "vmwdt_snapshot_json");
    a->free = sym(a->lib, "vmwdt_free");
}

START_TEST(every_symbol_is_versioned)
{
    struct api a;

    api_open(&a);
    for (unsigned i = 0; i < sizeof(exported) / sizeof(exported[0]); i++) {
        void *v = sym(a.lib, exported[i]);
        /* The default lookup finds the same function. */
        ck_assert_ptr_eq(dlsym(a.lib, exported[i]), v);
        /* No other version node holds it. */
        ck_assert_ptr_null(dlvsym(a.lib, exported[i], "VMWDT_2.0"));
        ck_assert_ptr_null(dlvsym(a.lib, exported[i], "VMWDT_0.9"));
    }
    /* Internal functions stay hidden. */
    static const char *const hidden[] = { "wdt_vcpu_write", "wdt_window_ns", "wdt_vcpu_init",
                                          "wdt_rt_run_due", "wdt_parse_stat_field" };
    for (unsigned i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
        ck_assert_msg(dlsym(a.lib, hidden[i]) == NULL, "%s is exported", hidden[i]);
    ck_assert_uint_eq(a.abi_version() >> 16, VMWDT_ABI_MAJOR);
    ck_assert_uint_ge(a.abi_version() & 0xffff, VMWDT_ABI_MINOR);
    ck_assert_int_eq(dlclose(a.lib), 0);
}
END_TEST

/* A virtual host for the scenario. */
static struct {
    int64_t now;
    int nirq, nreset;
    int64_t irq_t, reset_t;
} host;

static void on_irq(void *o, uint32_t cpu) { host.nirq++; host.irq_t = host.now; }
static void on_reset(void *o, uint32_t cpu) { host.nreset++; host.reset_t = host.now; }
static int64_t guest_time(void *o, uint32_t cpu) { return host.now; }
static int64_t now_ns(void *o) { return host.now; }

static void advance_to(struct api *a, vmwdt *dev, int64_t t)
{
    int64_t d;

    while ((d = a->next_deadline_ns(dev)) <= t) {
        host.now = d;
        ck_assert_int_ge(a->run_due(dev, d), 0);
    }
    host.now = t;
}

static int write_reg(struct api *a, vmwdt *dev, uint64_t off, uint32_t v)
{
    uint8_t b[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };

    return a->mmio_write(dev, off, b, 4);
}

/* The Linux driver's start on vCPU 1 of 2, then a stall: events at exactly 8 s and 16 s. */
/* The functions of 1.1 are at VMWDT_1.1 only, and the library reports a minor that has them. */
START_TEST(minor_1_1_symbols_at_their_node)
{
    static const char *const added[] = { "vmwdt_vcpu_stats", "vmwdt_set_action" };
    struct api a;

    api_open(&a);
    uint32_t (*version)(void) = sym(a.lib, "vmwdt_abi_version");
    ck_assert_uint_ge(version() & 0xffff, 1);
    for (unsigned i = 0; i < 2; i++) {
        void *v = dlvsym(a.lib, added[i], "VMWDT_1.1");
        ck_assert_msg(v != NULL, "%s@VMWDT_1.1 not found: %s", added[i], dlerror());
        ck_assert_ptr_eq(dlsym(a.lib, added[i]), v);
        ck_assert_ptr_null(dlvsym(a.lib, added[i], "VMWDT_1.0"));
    }
    /* A 1.0 function is not at VMWDT_1.1: nodes inherit, symbols do not move. */
    ck_assert_ptr_null(dlvsym(a.lib, "vmwdt_create", "VMWDT_1.1"));
    dlclose(a.lib);
}
END_TEST

START_TEST(scenario_through_dlvsym)
{
    struct api a;
    struct vmwdt_config cfg = {
        .size = sizeof(cfg), .cpu_count = 2, .clock = VMWDT_CLOCK_HOST,
        .action = VMWDT_ACTION_IRQ_THEN_RESET, .timers = VMWDT_TIMERS_EXTERNAL,
    };
    struct vmwdt_host_ops ops = {
        .size = sizeof(ops), .raise_irq = on_irq, .request_reset = on_reset,
        .guest_time_ns = guest_time, .now_ns = now_ns,
    };
    vmwdt *dev = NULL;

    api_open(&a);
    memset(&host, 0, sizeof(host));
    host.now = 1000000000LL;
    ck_assert_int_eq(a.create(&cfg, &ops, &dev), 0);
    ck_assert_int_eq(write_reg(&a, dev, 0x1C, 10), 0);
    ck_assert_int_eq(write_reg(&a, dev, 0x14, 80), 0);
    ck_assert_int_eq(write_reg(&a, dev, 0x10, 1), 0);
    ck_assert_int_eq(write_reg(&a, dev, 0x18, 1), -EINVAL);
    for (int i = 1; i <= 10; i++) {
        advance_to(&a, dev, 1000000000LL + i * 4000000000LL);
        ck_assert_int_eq(write_reg(&a, dev, 0x14, 80), 0);
    }
    ck_assert_int_eq(host.nirq + host.nreset, 0);
    advance_to(&a, dev, 100000000000LL);
    ck_assert_int_eq(host.nirq, 1);
    ck_assert_int_eq(host.nreset, 1);
    ck_assert_int_eq(host.irq_t, 41000000000LL + 8000000000LL);
    ck_assert_int_eq(host.reset_t, 41000000000LL + 16000000000LL);
    uint8_t b[4];
    ck_assert_int_eq(a.mmio_read(dev, 0x10, b, 4), 0);
    ck_assert_int_eq(b[0], 3);
    char *json = NULL;
    if (a.snapshot_json(dev, &json) == 0) {
        ck_assert_ptr_nonnull(strstr(json, "vm_wdts"));
        a.free(json);
    }
    a.destroy(dev);
    ck_assert_int_eq(dlclose(a.lib), 0);
}
END_TEST

/* Loading, using and unloading repeatedly leaves nothing behind that breaks the next load. */
START_TEST(reload)
{
    for (int i = 0; i < 20; i++) {
        struct api a;
        struct vmwdt_config cfg = {
            .size = sizeof(cfg), .cpu_count = 4, .clock = VMWDT_CLOCK_MONOTONIC,
            .action = VMWDT_ACTION_IRQ_THEN_RESET, .timers = VMWDT_TIMERS_THREAD,
        };
        vmwdt *dev = NULL;

        api_open(&a);
        ck_assert_int_eq(a.create(&cfg, NULL, &dev), 0);
        ck_assert_int_eq(write_reg(&a, dev, 0x0C, 100), 0);
        ck_assert_int_eq(write_reg(&a, dev, 0x04, 1000), 0);
        ck_assert_int_eq(write_reg(&a, dev, 0x00, 1), 0);
        a.destroy(dev);
        ck_assert_int_eq(dlclose(a.lib), 0);
    }
}
END_TEST

static Suite *dlopen_suite(void)
{
    Suite *s = suite_create("abi_dlopen");
    TCase *tc = tcase_create("dlopen");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, every_symbol_is_versioned);
    tcase_add_test(tc, minor_1_1_symbols_at_their_node);
    tcase_add_test(tc, scenario_through_dlvsym);
    tcase_add_test(tc, reload);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(dlopen_suite)
