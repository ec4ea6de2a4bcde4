/*
 * vmwdt-vmm's end-of-run statistics table (host-shim/vmm/vmm_wdt_stats.c), through the loader: the
 * figures of the real plugin, row by row, and one clear line with a plugin of ABI 1.0.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm_wdt_stats.h"
#include "vmwdt_loader.h"
#include "vmwdt_test.h"

static char err[512];
static int64_t now;

static int64_t clock_now(void *opaque)
{
    return now;
}

static int64_t guest_now(void *opaque, uint32_t cpu)
{
    return now;
}

/* Runs print into a string the caller frees. */
static char *table(struct vmwdt_plugin *p, vmwdt *dev, uint32_t cpus, int *rc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    *rc = vmm_wdt_stats_print(p, dev, cpus, 12.3456, f);
    fclose(f);
    return text;
}

static void wr(struct vmwdt_plugin *p, vmwdt *dev, uint64_t off, uint32_t v, int want)
{
    ck_assert_int_eq(vmwdt_plugin_mmio_write(p, dev, off, &v, 4), want);
}

START_TEST(real_plugin_table)
{
    struct vmwdt_plugin *p = NULL;
    ck_assert_msg(vmwdt_plugin_open(REAL_PLUGIN, 0, &p, err, sizeof err) == 0, "%s", err);
    struct vmwdt_config cfg = {.size = sizeof cfg, .cpu_count = 2, .clock = VMWDT_CLOCK_HOST,
                               .timers = VMWDT_TIMERS_EXTERNAL};
    struct vmwdt_host_ops ops = {.size = sizeof ops, .now_ns = clock_now,
                                 .guest_time_ns = guest_now};
    vmwdt *dev = NULL;
    now = 0;
    ck_assert_int_eq(vmwdt_plugin_create(p, &cfg, &ops, &dev), 0);
    /* vCPU 0: 3 pets, never stalls. vCPU 1: one pet, a refused CURRENT_CNT write, then it
     * stalls to its reset. One access past the last vCPU. */
    wr(p, dev, 0x0c, 10, 0);
    wr(p, dev, 0x1c, 10, 0);
    for (int i = 0; i < 3; i++)
        wr(p, dev, 0x04, 100, 0);
    wr(p, dev, 0x14, 10, 0);
    wr(p, dev, 0x10, 1, 0);
    wr(p, dev, 0x18, 1, -EINVAL);
    wr(p, dev, 0x20, 1, -EINVAL);
    now = 1000000000;
    ck_assert_int_eq(vmwdt_plugin_run_due(p, dev, now), 1);
    now = 3000000000;
    ck_assert_int_eq(vmwdt_plugin_run_due(p, dev, now), 1);
    int rc;
    char *text = table(p, dev, 2, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(text,
                     "[12.346] stats:  vCPU       pets  refused interrupts resets\n"
                     "[12.346] stats:     0          3        0          0      0\n"
                     "[12.346] stats:     1          1        1          1      1\n"
                     "[12.346] stats:   all          4        2          1      1\n");
    free(text);
    vmwdt_plugin_destroy(p, dev);
    vmwdt_plugin_close(p);
}
END_TEST

START_TEST(plugin_1_0_says_why)
{
    struct vmwdt_plugin *p = NULL;
    ck_assert_msg(vmwdt_plugin_open(FAKE_1_0, 0, &p, err, sizeof err) == 0, "%s", err);
    int rc;
    char *text = table(p, NULL, 2, &rc);
    ck_assert_int_eq(rc, -ENOSYS);
    ck_assert_msg(strncmp(text, "[12.346] stats: no per-vCPU statistics: vmwdt plugin ", 53) == 0 &&
                      strstr(text, "implements ABI 1.0: vmwdt_vcpu_stats needs ABI 1.1") &&
                      strchr(text, '\n') == text + strlen(text) - 1,
                  "%s", text);
    free(text);
    vmwdt_plugin_close(p);
}
END_TEST

static Suite *vmm_stats_suite(void)
{
    Suite *s = suite_create("vmm_stats");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, real_plugin_table);
    tcase_add_test(tc, plugin_1_0_says_why);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(vmm_stats_suite)
