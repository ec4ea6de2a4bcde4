/*
 * The loader suite: vmwdt_plugin_open() on the real plugin and on fake ones built beside this
 * test (fake_plugin.c), every error it promises (missing file, not an ELF object or not a
 * regular file, a missing symbol, a symbol at another version, a wrong major, too old a
 * minor), and a short scenario through libffi on each kind of plugin.
 *
 * Paths come from the build: FAKE_DIR (the fake plugins and scratch files) and, when the tree
 * builds it, REAL_PLUGIN (the library's file).
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_plugin.h"
#include "vmwdt_loader.h"
#include "vmwdt_test.h"

#define FAKE(name) FAKE_DIR "/" name

static char err[512];

static struct vmwdt_plugin *open_ok(const char *path)
{
    struct vmwdt_plugin *p = NULL;
    int rc = vmwdt_plugin_open(path, 0, &p, err, sizeof err);
    ck_assert_msg(rc == 0, "open %s: %d: %s", path, rc, err);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Opens a plugin that must fail with want; the message must name the path and needle. */
static void open_fails(const char *path, uint32_t need_minor, int want, const char *needle)
{
    struct vmwdt_plugin *p = (struct vmwdt_plugin *)0x1;
    memset(err, 0, sizeof err);
    int rc = vmwdt_plugin_open(path, need_minor, &p, err, sizeof err);
    ck_assert_int_eq(rc, want);
    ck_assert_msg(p == (struct vmwdt_plugin *)0x1, "out was written on failure");
    ck_assert_msg(strstr(err, path), "message does not name the plugin: %s", err);
    if (needle)
        ck_assert_msg(strstr(err, needle), "message does not name '%s': %s", needle, err);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* Host callbacks: they record what the plugin reported. */
struct host {
    int64_t now;
    int irqs, resets;
    uint32_t last_irq_cpu, last_reset_cpu;
    int64_t last_irq_t, last_reset_t;
};

static void on_irq(void *opaque, uint32_t cpu)
{
    struct host *h = opaque;
    h->irqs++;
    h->last_irq_cpu = cpu;
    h->last_irq_t = h->now;
}

static void on_reset(void *opaque, uint32_t cpu)
{
    struct host *h = opaque;
    h->resets++;
    h->last_reset_cpu = cpu;
    h->last_reset_t = h->now;
}

static int64_t guest_ns(void *opaque, uint32_t cpu)
{
    return ((struct host *)opaque)->now;
}

static int64_t now_ns(void *opaque)
{
    return ((struct host *)opaque)->now;
}

static struct vmwdt_host_ops host_ops(struct host *h)
{
    struct vmwdt_host_ops ops = {.size = sizeof ops, .opaque = h, .raise_irq = on_irq,
                                 .request_reset = on_reset, .guest_time_ns = guest_ns,
                                 .now_ns = now_ns};
    return ops;
}

static struct vmwdt_config ext_config(uint32_t cpus)
{
    struct vmwdt_config cfg = {.size = sizeof cfg, .cpu_count = cpus,
                               .clock = VMWDT_CLOCK_HOST,
                               .action = VMWDT_ACTION_IRQ_THEN_RESET,
                               .timers = VMWDT_TIMERS_EXTERNAL};
    return cfg;
}

/* Every argument and return value crosses libffi intact, in both directions. */
START_TEST(fake_marshals_every_function)
{
    struct vmwdt_plugin *p = open_ok(FAKE("libfake_ok.so"));
    ck_assert_str_eq(vmwdt_plugin_path(p), FAKE("libfake_ok.so"));
    ck_assert_uint_eq(vmwdt_plugin_abi_version(p), 1u << 16);
    ck_assert_str_eq(vmwdt_plugin_strerror(p, -EINVAL), "fake: invalid argument");
    ck_assert_str_eq(vmwdt_plugin_strerror(p, -EIO), "fake: other error");

    struct host h = {0};
    struct vmwdt_host_ops ops = host_ops(&h);
    struct vmwdt_config cfg = ext_config(3);
    vmwdt *dev = NULL;
    ck_assert_int_eq(vmwdt_plugin_create(p, &cfg, &ops, &dev), 0);
    ck_assert_ptr_nonnull(dev);
    ck_assert_uint_eq(dev->cfg.cpu_count, 3);
    ck_assert_ptr_eq(dev->ops.opaque, &h);
    cfg.cpu_count = 0;
    ck_assert_int_eq(vmwdt_plugin_create(p, &cfg, &ops, &dev), -EINVAL);

    ck_assert_int_eq(vmwdt_plugin_set_vcpu_thread(p, dev, 0xfffffffeu, 0x7fffffff, 12345), 0);
    ck_assert_uint_eq(dev->cpu, 0xfffffffeu);
    ck_assert_int_eq(dev->pid, 0x7fffffff);
    ck_assert_int_eq(dev->tid, 12345);
    ck_assert_int_eq(vmwdt_plugin_set_vcpu_thread(p, dev, 1, -1, 2), -ESRCH);

    uint32_t v = 0xa1b2c3d4u;
    ck_assert_int_eq(vmwdt_plugin_mmio_write(p, dev, UINT64_C(0xfedcba9876543210), &v, 4), 0);
    ck_assert_uint_eq(dev->offset, UINT64_C(0xfedcba9876543210));
    ck_assert_uint_eq(dev->len, 4);
    ck_assert_mem_eq(dev->data, &v, 4);
    ck_assert_int_eq(vmwdt_plugin_mmio_write(p, dev, 0, &v, 2), -EINVAL);

    uint8_t buf[4] = {0};
    ck_assert_int_eq(vmwdt_plugin_mmio_read(p, dev, 0x1fc, buf, 4), 4);
    ck_assert_uint_eq(buf[0], 0xfc);
    ck_assert_uint_eq(buf[3], 0xff);

    ck_assert_int_eq(vmwdt_plugin_sleep(p, dev), 1);
    ck_assert_int_eq(vmwdt_plugin_sleep(p, dev), 2);
    ck_assert_int_eq(vmwdt_plugin_wake(p, dev), 1);

    char *json = NULL;
    ck_assert_int_eq(vmwdt_plugin_snapshot_json(p, dev, &json), 0);
    ck_assert_str_eq(json, FAKE_SNAPSHOT);
    ck_assert_int_eq(vmwdt_plugin_restore_json(p, dev, json), 0);
    ck_assert_int_eq(vmwdt_plugin_restore_json(p, dev, "{}"), -EINVAL);
    vmwdt_plugin_free(p, json);
    vmwdt_plugin_free(p, NULL);

    ck_assert_int_eq(vmwdt_plugin_next_deadline_ns(p, dev), FAKE_DEADLINE);
    h.now = INT64_C(0x100000002); /* 2 mod 3 once all 64 bits arrive */
    ck_assert_int_eq(vmwdt_plugin_run_due(p, dev, h.now), 2);
    ck_assert_int_eq(dev->now, INT64_C(0x100000002));
    ck_assert_int_eq(h.irqs, 1);
    ck_assert_int_eq(h.resets, 1);
    ck_assert_uint_eq(h.last_irq_cpu, (uint32_t)(INT64_C(0x100000002) % 3));

    vmwdt_plugin_destroy(p, dev);
    vmwdt_plugin_close(p);
}
END_TEST

START_TEST(missing_file_is_enoent)
{
    open_fails(FAKE("no-such-plugin.so"), 0, -ENOENT, NULL);
    open_fails(FAKE("no-such-dir/libvmwdt.so.1"), 0, -ENOENT, NULL);
}
END_TEST

START_TEST(bare_name_not_found_is_enoent)
{
    open_fails("libvmwdt-no-such-plugin.so.9", 0, -ENOENT, NULL);
}
END_TEST

START_TEST(text_file_is_enoexec)
{
    const char text[] = "this is not a shared object\n";
    write_file(FAKE("not-elf.so"), text, sizeof text - 1);
    open_fails(FAKE("not-elf.so"), 0, -ENOEXEC, "not an ELF");
    write_file(FAKE("empty.so"), "", 0);
    open_fails(FAKE("empty.so"), 0, -ENOEXEC, "not an ELF");
    open_fails(FAKE_DIR, 0, -ENOEXEC, "not an ELF"); /* a directory */
}
END_TEST

/* A FIFO is refused at once: opening or reading it must not wait for a writer. */
START_TEST(fifo_is_enoexec_without_blocking)
{
    unlink(FAKE("fifo.so"));
    ck_assert_int_eq(mkfifo(FAKE("fifo.so"), 0600), 0);
    open_fails(FAKE("fifo.so"), 0, -ENOEXEC, "not an ELF");
    unlink(FAKE("fifo.so"));
}
END_TEST

START_TEST(broken_elf_is_enoexec)
{
    /* The ELF magic followed by garbage: the dynamic linker refuses it. */
    char bad[256];
    memset(bad, 0x5a, sizeof bad);
    memcpy(bad, "\177ELF", 4);
    write_file(FAKE("broken-elf.so"), bad, sizeof bad);
    open_fails(FAKE("broken-elf.so"), 0, -ENOEXEC, "cannot load");
}
END_TEST

START_TEST(missing_function_is_enosys)
{
    open_fails(FAKE("libfake_no_run_due.so"), 0, -ENOSYS, "vmwdt_run_due@VMWDT_1.0");
}
END_TEST

START_TEST(symbols_at_another_version_are_enosys)
{
    /* Every vmwdt_ symbol exists, but in node VMWDT_2.0: none binds at VMWDT_1.0. */
    open_fails(FAKE("libfake_v2node.so"), 0, -ENOSYS, "vmwdt_abi_version@VMWDT_1.0");
}
END_TEST

START_TEST(wrong_major_is_eproto)
{
    open_fails(FAKE("libfake_major2.so"), 0, -EPROTO, "ABI 2.0");
}
END_TEST

START_TEST(old_minor_is_eproto)
{
    open_fails(FAKE("libfake_ok.so"), 1, -EPROTO, "ABI 1.0");
    struct vmwdt_plugin *p = NULL;
    ck_assert_int_eq(vmwdt_plugin_open(FAKE("libfake_minor3.so"), 2, &p, err, sizeof err), 0);
    ck_assert_uint_eq(vmwdt_plugin_abi_version(p), (1u << 16) | 3);
    vmwdt_plugin_close(p);
}
END_TEST

START_TEST(no_error_buffer_and_null_arguments)
{
    struct vmwdt_plugin *p = NULL;
    ck_assert_int_eq(vmwdt_plugin_open(FAKE("no-such-plugin.so"), 0, &p, NULL, 0), -ENOENT);
    ck_assert_int_eq(vmwdt_plugin_open(FAKE("libfake_major2.so"), 0, &p, NULL, 0), -EPROTO);
    char small[8];
    ck_assert_int_eq(vmwdt_plugin_open(FAKE("libfake_no_run_due.so"), 0, &p, small,
                                       sizeof small), -ENOSYS);
    ck_assert_uint_lt(strlen(small), sizeof small);
    ck_assert_int_eq(vmwdt_plugin_open(FAKE("libfake_ok.so"), 0, NULL, err, sizeof err),
                     -EINVAL);
    ck_assert_ptr_null(p);
    vmwdt_plugin_close(NULL);
    ck_assert_ptr_null(vmwdt_plugin_path(NULL));
    ck_assert_uint_eq(vmwdt_plugin_abi_version(NULL), 0);
    ck_assert_int_eq(vmwdt_plugin_run_due(NULL, NULL, 0), -EINVAL);
    ck_assert_int_eq(vmwdt_plugin_next_deadline_ns(NULL, NULL), INT64_MAX);
}
END_TEST

START_TEST(default_path_follows_environment)
{
    setenv("VMWDT_PLUGIN", FAKE("libfake_ok.so"), 1);
    ck_assert_str_eq(vmwdt_plugin_default_path(), FAKE("libfake_ok.so"));
    struct vmwdt_plugin *p = open_ok(NULL);
    ck_assert_str_eq(vmwdt_plugin_path(p), FAKE("libfake_ok.so"));
    vmwdt_plugin_close(p);
    unsetenv("VMWDT_PLUGIN");
#ifdef REAL_PLUGIN
    ck_assert_str_eq(vmwdt_plugin_default_path(), REAL_PLUGIN);
#else
    ck_assert_str_eq(vmwdt_plugin_default_path(), "libvmwdt.so.1");
#endif
}
END_TEST

#ifdef REAL_PLUGIN
/*
 * The real plugin through libffi: vCPU 1 of 2 is enabled at t = 0 with 20 ticks at 10 Hz and
 * never petted, so its interrupt comes at 2 s and its reset request at 4 s (DESIGN.md 2).
 */
START_TEST(real_plugin_scenario)
{
    struct vmwdt_plugin *p = open_ok(REAL_PLUGIN);
    ck_assert_uint_eq(vmwdt_plugin_abi_version(p),
                      ((uint32_t)VMWDT_ABI_MAJOR << 16) | VMWDT_ABI_MINOR);
    ck_assert_ptr_nonnull(vmwdt_plugin_strerror(p, -EINVAL));

    struct host h = {0};
    struct vmwdt_host_ops ops = host_ops(&h);
    struct vmwdt_config cfg = ext_config(2);
    vmwdt *dev = NULL;
    ck_assert_int_eq(vmwdt_plugin_create(p, &cfg, &ops, &dev), 0);
    ck_assert_int_eq(vmwdt_plugin_next_deadline_ns(p, dev), INT64_MAX);

    const uint32_t f = 10, n = 20, on = 1;
    const uint64_t base = 1 * VMWDT_REG_STRIDE;
    ck_assert_int_eq(vmwdt_plugin_mmio_write(p, dev, base + VMWDT_REG_CLOCK_FREQ_HZ, &f, 4), 0);
    ck_assert_int_eq(vmwdt_plugin_mmio_write(p, dev, base + VMWDT_REG_LOAD_CNT, &n, 4), 0);
    ck_assert_int_eq(vmwdt_plugin_mmio_write(p, dev, base + VMWDT_REG_STATUS, &on, 4), 0);
    ck_assert_int_eq(vmwdt_plugin_mmio_write(p, dev, base + 1, &on, 4), -EINVAL);

    uint32_t r = 0xffffffffu;
    ck_assert_int_eq(vmwdt_plugin_mmio_read(p, dev, base + VMWDT_REG_STATUS, &r, 4), 0);
    ck_assert_uint_eq(r, 1);
    ck_assert_int_eq(vmwdt_plugin_mmio_read(p, dev, base + VMWDT_REG_CURRENT_CNT, &r, 4), 0);
    ck_assert_uint_eq(r, 20);
    ck_assert_int_eq(vmwdt_plugin_next_deadline_ns(p, dev), INT64_C(2000000000));

    h.now = INT64_C(1999999999);
    ck_assert_int_eq(vmwdt_plugin_run_due(p, dev, h.now), 0);
    ck_assert_int_eq(h.irqs, 0);
    h.now = INT64_C(2000000000);
    ck_assert_int_eq(vmwdt_plugin_run_due(p, dev, h.now), 1);
    ck_assert_int_eq(h.irqs, 1);
    ck_assert_uint_eq(h.last_irq_cpu, 1);
    ck_assert_int_eq(vmwdt_plugin_mmio_read(p, dev, base + VMWDT_REG_STATUS, &r, 4), 0);
    ck_assert_uint_eq(r, 3);
    ck_assert_int_eq(vmwdt_plugin_next_deadline_ns(p, dev), INT64_C(4000000000));

    char *json = NULL;
    ck_assert_int_eq(vmwdt_plugin_snapshot_json(p, dev, &json), 0);
    ck_assert_ptr_nonnull(strstr(json, "\"vm_wdts\""));
    vmwdt_plugin_free(p, json);

    h.now = INT64_C(4000000000);
    ck_assert_int_eq(vmwdt_plugin_run_due(p, dev, h.now), 1);
    ck_assert_int_eq(h.resets, 1);
    ck_assert_uint_eq(h.last_reset_cpu, 1);
    ck_assert_int_eq(vmwdt_plugin_next_deadline_ns(p, dev), INT64_MAX);

    ck_assert_int_eq(vmwdt_plugin_sleep(p, dev), 0);
    ck_assert_int_eq(vmwdt_plugin_wake(p, dev), 0);
    vmwdt_plugin_destroy(p, dev);
    vmwdt_plugin_close(p);
}
END_TEST

/* Many vCPU threads call through one plugin at once: each prepared call interface is shared. */
#define THREADS 4
#define WRITES 20000

struct worker {
    struct vmwdt_plugin *p;
    vmwdt *dev;
    uint32_t cpu;
    int mismatches;
};

static void *pet_loop(void *arg)
{
    struct worker *w = arg;
    const uint64_t base = (uint64_t)w->cpu * VMWDT_REG_STRIDE;
    const uint32_t f = 1000;
    if (vmwdt_plugin_mmio_write(w->p, w->dev, base + VMWDT_REG_CLOCK_FREQ_HZ, &f, 4) != 0)
        w->mismatches++;
    for (uint32_t k = 1; k <= WRITES; k++) {
        uint32_t v = w->cpu * 1000000u + k, r = 0;
        if (vmwdt_plugin_mmio_write(w->p, w->dev, base + VMWDT_REG_LOAD_CNT, &v, 4) != 0 ||
            vmwdt_plugin_mmio_read(w->p, w->dev, base + VMWDT_REG_LOAD_CNT, &r, 4) != 0 || r != v)
            w->mismatches++;
    }
    return NULL;
}

START_TEST(real_plugin_concurrent_calls)
{
    struct vmwdt_plugin *p = open_ok(REAL_PLUGIN);
    struct host h = {0};
    struct vmwdt_host_ops ops = host_ops(&h);
    struct vmwdt_config cfg = ext_config(THREADS);
    vmwdt *dev = NULL;
    ck_assert_int_eq(vmwdt_plugin_create(p, &cfg, &ops, &dev), 0);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (uint32_t i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.p = p, .dev = dev, .cpu = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, pet_loop, &w[i]), 0);
    }
    for (uint32_t i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        ck_assert_int_eq(w[i].mismatches, 0);
    }
    vmwdt_plugin_destroy(p, dev);
    vmwdt_plugin_close(p);
}
END_TEST
#endif

static Suite *loader_suite(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("open");
    tcase_add_test(tc, fake_marshals_every_function);
    tcase_add_test(tc, missing_file_is_enoent);
    tcase_add_test(tc, bare_name_not_found_is_enoent);
    tcase_add_test(tc, text_file_is_enoexec);
    tcase_add_test(tc, fifo_is_enoexec_without_blocking);
    tcase_add_test(tc, broken_elf_is_enoexec);
    tcase_add_test(tc, missing_function_is_enosys);
    tcase_add_test(tc, symbols_at_another_version_are_enosys);
    tcase_add_test(tc, wrong_major_is_eproto);
    tcase_add_test(tc, old_minor_is_eproto);
    tcase_add_test(tc, no_error_buffer_and_null_arguments);
    tcase_add_test(tc, default_path_follows_environment);
#ifdef REAL_PLUGIN
    tcase_add_test(tc, real_plugin_scenario);
    tcase_add_test(tc, real_plugin_concurrent_calls);
#endif
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(loader_suite)
