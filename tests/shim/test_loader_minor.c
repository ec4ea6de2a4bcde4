/*
 * The loader and ABI minor versions: a host built for 1.1 binds a function of minor m only when
 * the plugin reports minor m or later and the function is at its node VMWDT_1.m. Given a 1.0
 * plugin it refuses the 1.1 functions alone, clearly, and everything of 1.0 still works.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <string.h>

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
    return p;
}

static vmwdt *create(struct vmwdt_plugin *p)
{
    struct vmwdt_config cfg = {.size = sizeof cfg, .cpu_count = 2,
                               .timers = VMWDT_TIMERS_EXTERNAL};
    vmwdt *dev = NULL;
    ck_assert_int_eq(vmwdt_plugin_create(p, &cfg, NULL, &dev), 0);
    return dev;
}

/* The 1.1 functions are refused, each with a message naming the plugin and both versions. */
static void assert_1_1_refused(struct vmwdt_plugin *p, const char *path, vmwdt *dev)
{
    static const char *const fns[] = {"vmwdt_vcpu_stats", "vmwdt_set_action"};
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(vmwdt_plugin_check_fn(p, fns[i], err, sizeof err), -ENOSYS);
        ck_assert_msg(strstr(err, path) && strstr(err, "implements ABI 1.0") &&
                          strstr(err, fns[i]) && strstr(err, "needs ABI 1.1 (symbol version "
                                                             "VMWDT_1.1)"),
                      "unclear refusal: %s", err);
    }
    struct vmwdt_vcpu_stats st = {.size = sizeof st, .pets = 99};
    ck_assert_int_eq(vmwdt_plugin_vcpu_stats(p, dev, 0, &st), -ENOSYS);
    ck_assert_uint_eq(st.pets, 99);
    ck_assert_int_eq(vmwdt_plugin_set_action(p, dev, VMWDT_ACTION_NONE), -ENOSYS);
}

/* A 1.0 plugin: opens for a host that needs 1.0, every 1.0 function works, 1.1 is refused. */
START_TEST(plugin_1_0_refuses_only_1_1)
{
    struct vmwdt_plugin *p = open_ok(FAKE("libfake_ok.so"));
    vmwdt *dev = create(p);
    assert_1_1_refused(p, FAKE("libfake_ok.so"), dev);
    for (const char *const *f = (const char *const[]){"vmwdt_create", "vmwdt_run_due",
                                                      "vmwdt_mmio_write", NULL};
         *f; f++)
        ck_assert_int_eq(vmwdt_plugin_check_fn(p, *f, err, sizeof err), 0);
    ck_assert_int_eq(vmwdt_plugin_check_fn(p, "vmwdt_bogus", err, sizeof err), -EINVAL);
    ck_assert_int_eq(vmwdt_plugin_sleep(p, dev), 1);
    ck_assert_int_eq(vmwdt_plugin_next_deadline_ns(p, dev), FAKE_DEADLINE);
    vmwdt_plugin_destroy(p, dev);
    vmwdt_plugin_close(p);
    /* A host that needs 1.1 is refused the plugin itself, naming both versions. */
    struct vmwdt_plugin *q = NULL;
    ck_assert_int_eq(vmwdt_plugin_open(FAKE("libfake_ok.so"), 1, &q, err, sizeof err), -EPROTO);
    ck_assert_msg(strstr(err, "ABI 1.0") && strstr(err, "needs 1.1"), "%s", err);
}
END_TEST

/* A plugin reporting 1.0 that has the symbols anyway did not promise them: left unbound. */
START_TEST(plugin_1_0_with_1_1_symbols_is_not_bound)
{
    struct vmwdt_plugin *p = open_ok(FAKE("libfake_v10_extra.so"));
    vmwdt *dev = create(p);
    assert_1_1_refused(p, FAKE("libfake_v10_extra.so"), dev);
    ck_assert_uint_eq(dev->action, 0);
    vmwdt_plugin_destroy(p, dev);
    vmwdt_plugin_close(p);
}
END_TEST

/* A 1.1 plugin: both functions bound, their arguments cross libffi intact. */
START_TEST(plugin_1_1_binds_and_marshals)
{
    struct vmwdt_plugin *p = NULL;
    ck_assert_int_eq(vmwdt_plugin_open(FAKE("libfake_v11.so"), 1, &p, err, sizeof err), 0);
    ck_assert_uint_eq(vmwdt_plugin_abi_version(p), 0x00010001u);
    vmwdt *dev = create(p);
    ck_assert_int_eq(vmwdt_plugin_check_fn(p, "vmwdt_vcpu_stats", err, sizeof err), 0);
    ck_assert_int_eq(vmwdt_plugin_check_fn(p, "vmwdt_set_action", err, sizeof err), 0);
    struct vmwdt_vcpu_stats st = {.size = sizeof st};
    ck_assert_int_eq(vmwdt_plugin_vcpu_stats(p, dev, VMWDT_ALL_CPUS, &st), 0);
    ck_assert_uint_eq(dev->cpu, VMWDT_ALL_CPUS);
    ck_assert_uint_eq(st.pets, (uint64_t)VMWDT_ALL_CPUS << 32 | 7);
    ck_assert_int_eq(st.remaining_ns, -1);
    ck_assert_int_eq(vmwdt_plugin_set_action(p, dev, VMWDT_ACTION_RESET), 0);
    ck_assert_uint_eq(dev->action, VMWDT_ACTION_RESET);
    ck_assert_int_eq(vmwdt_plugin_set_action(p, dev, 0xfffffffeu), -EINVAL);
    ck_assert_uint_eq(dev->action, 0xfffffffeu);
    vmwdt_plugin_destroy(p, dev);
    vmwdt_plugin_close(p);
    /* A later minor binds them too (fake_minor3 has them at VMWDT_1.1). */
    p = open_ok(FAKE("libfake_minor3.so"));
    ck_assert_int_eq(vmwdt_plugin_check_fn(p, "vmwdt_set_action", err, sizeof err), 0);
    vmwdt_plugin_close(p);
}
END_TEST

/* A plugin that claims 1.1 must have the functions at VMWDT_1.1: it is refused otherwise. */
START_TEST(plugin_claiming_1_1_without_them_is_refused)
{
    struct vmwdt_plugin *p = (struct vmwdt_plugin *)0x1;
    ck_assert_int_eq(vmwdt_plugin_open(FAKE("libfake_claims11.so"), 0, &p, err, sizeof err),
                     -ENOSYS);
    ck_assert_msg(strstr(err, "missing symbol vmwdt_vcpu_stats@VMWDT_1.1"), "%s", err);
    ck_assert_int_eq(vmwdt_plugin_open(FAKE("libfake_v11_node10.so"), 0, &p, err, sizeof err),
                     -ENOSYS);
    ck_assert_msg(strstr(err, "vmwdt_vcpu_stats@VMWDT_1.1"), "%s", err);
    ck_assert_ptr_eq(p, (struct vmwdt_plugin *)0x1);
}
END_TEST

#ifdef REAL_PLUGIN
/* The library this tree builds is 1.1 and its statistics come through the loader. */
START_TEST(real_plugin_is_1_1)
{
    struct vmwdt_plugin *p = NULL;
    ck_assert_int_eq(vmwdt_plugin_open(REAL_PLUGIN, 1, &p, err, sizeof err), 0);
    ck_assert_uint_eq(vmwdt_plugin_abi_version(p), 0x00010001u);
    vmwdt *dev = create(p);
    uint32_t v = 10;
    ck_assert_int_eq(vmwdt_plugin_mmio_write(p, dev, VMWDT_REG_CLOCK_FREQ_HZ, &v, 4), 0);
    ck_assert_int_eq(vmwdt_plugin_mmio_write(p, dev, VMWDT_REG_LOAD_CNT, &v, 4), 0);
    ck_assert_int_eq(vmwdt_plugin_mmio_write(p, dev, 0x100, &v, 4), -EINVAL);
    struct vmwdt_vcpu_stats st = {.size = sizeof st};
    ck_assert_int_eq(vmwdt_plugin_vcpu_stats(p, dev, VMWDT_ALL_CPUS, &st), 0);
    ck_assert_uint_eq(st.pets, 1);
    ck_assert_uint_eq(st.refused, 1);
    ck_assert_int_eq(vmwdt_plugin_set_action(p, dev, 4), -EINVAL);
    ck_assert_int_eq(vmwdt_plugin_set_action(p, dev, VMWDT_ACTION_IRQ_ONLY), 0);
    ck_assert_int_eq(vmwdt_plugin_vcpu_stats(p, dev, 0, &st), 0);
    ck_assert_uint_eq(st.action, VMWDT_ACTION_IRQ_ONLY);
    vmwdt_plugin_destroy(p, dev);
    vmwdt_plugin_close(p);
}
END_TEST
#endif

static Suite *minor_suite(void)
{
    Suite *s = suite_create("loader_minor");
    TCase *tc = tcase_create("minor");
    tcase_add_test(tc, plugin_1_0_refuses_only_1_1);
    tcase_add_test(tc, plugin_1_0_with_1_1_symbols_is_not_bound);
    tcase_add_test(tc, plugin_1_1_binds_and_marshals);
    tcase_add_test(tc, plugin_claiming_1_1_without_them_is_refused);
#ifdef REAL_PLUGIN
    tcase_add_test(tc, real_plugin_is_1_1);
#endif
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(minor_suite)
