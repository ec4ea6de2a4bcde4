/*
 * ABI 1.1, vmwdt_set_action (DESIGN.md section 4): the action from the next expiry on, a second
 * window that ends as the new action allows, calls from callbacks, and both 1.1 functions from
 * many threads at once while vCPUs pet (the lock rule: statistics hold a vCPU's lock only while
 * they copy its state, so vCPUs keep going).
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "vharness.h"
#include "vmwdt.h"
#include "vmwdt_test.h"

static struct vmwdt_vcpu_stats stats(vmwdt *dev, uint32_t cpu)
{
    struct vmwdt_vcpu_stats st = {.size = sizeof st};
    ck_assert_int_eq(vmwdt_vcpu_stats(dev, cpu, &st), 0);
    return st;
}

START_TEST(unknown_action_is_refused)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_ONLY, 0);
    ck_assert_int_eq(vmwdt_set_action(h->dev, 4), -EINVAL);
    ck_assert_int_eq(vmwdt_set_action(h->dev, UINT32_MAX), -EINVAL);
    ck_assert_int_eq(vmwdt_set_action(NULL, VMWDT_ACTION_NONE), -EINVAL);
    ck_assert_uint_eq(stats(h->dev, 0).action, VMWDT_ACTION_IRQ_ONLY);
    ck_assert_int_eq(vmwdt_set_action(h->dev, VMWDT_ACTION_RESET), 0);
    ck_assert_uint_eq(stats(h->dev, 0).action, VMWDT_ACTION_RESET);
    ck_assert_uint_eq(stats(h->dev, VMWDT_ALL_CPUS).action, VMWDT_ACTION_RESET);
    vh_free(h);
}
END_TEST

/* Changed during the first window: the first expiry does what the new action says. */
START_TEST(first_window_takes_the_new_action)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, 0);
    vh_start(h, 0, 10, 10); /* 1 s */
    vh_advance_to(h, VH_MS(500));
    ck_assert_int_eq(vmwdt_set_action(h->dev, VMWDT_ACTION_RESET), 0);
    vh_advance_to(h, VH_S(5));
    vh_expect_counts(h, 0, 1);
    vh_expect_reset(h, 0, VH_S(1), 0);
    /* RESET -> IRQ_THEN_RESET: after the next pet, an interrupt and then a reset again. */
    ck_assert_int_eq(vmwdt_set_action(h->dev, VMWDT_ACTION_IRQ_THEN_RESET), 0);
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_LOAD_CNT, 10), 0);
    vh_advance_to(h, VH_S(8));
    vh_expect_counts(h, 1, 2);
    vh_expect_irq(h, 0, VH_S(6), 0);
    vh_expect_reset(h, 1, VH_S(7), 0);
    vh_free(h);
}
END_TEST

/* Changed during the second window: it ends as the new action allows. */
START_TEST(second_window_ends_as_the_new_action_allows)
{
    static const struct { uint32_t action; int resets; } cases[] = {
        {VMWDT_ACTION_IRQ_THEN_RESET, 1}, {VMWDT_ACTION_RESET, 1},
        {VMWDT_ACTION_IRQ_ONLY, 0}, {VMWDT_ACTION_NONE, 0}};
    for (size_t i = 0; i < 4; i++) {
        struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, 0);
        vh_start(h, 0, 10, 10);
        vh_advance_to(h, VH_MS(1500));
        vh_expect_counts(h, 1, 0);
        ck_assert_int_eq(vmwdt_set_action(h->dev, cases[i].action), 0);
        int logs = h->nlog;
        vh_advance_to(h, VH_S(10));
        vh_expect_counts(h, 1, cases[i].resets);
        if (cases[i].resets)
            vh_expect_reset(h, 0, VH_S(2), 0);
        else
            ck_assert_msg(h->nlog > logs, "case %zu: the second window's end was not logged", i);
        struct vmwdt_vcpu_stats st = stats(h->dev, 0);
        ck_assert_int_eq(st.remaining_ns, -1); /* the countdown stopped either way */
        ck_assert_uint_eq(st.resets, (uint64_t)cases[i].resets);
        vh_free(h);
    }
}
END_TEST

/* Inside raise_irq: the statistics already count this interrupt, and the action can change. */
static int hook_calls;
static void hook_irq(struct vh *h, uint32_t cpu)
{
    struct vmwdt_vcpu_stats st = stats(h->dev, cpu);
    ck_assert_uint_eq(st.interrupts, 1);
    ck_assert_uint_eq(st.status & 2, 2);
    ck_assert_int_eq(vmwdt_set_action(h->dev, VMWDT_ACTION_NONE), 0);
    hook_calls++;
}

START_TEST(from_a_callback)
{
    struct vh *h = vh_new(2, VMWDT_ACTION_IRQ_THEN_RESET, 0);
    h->on_irq = hook_irq;
    hook_calls = 0;
    vh_start(h, 1, 10, 10);
    vh_advance_to(h, VH_S(5));
    ck_assert_int_eq(hook_calls, 1);
    vh_expect_counts(h, 1, 0);
    ck_assert_uint_eq(stats(h->dev, 1).action, VMWDT_ACTION_NONE);
    vh_free(h);
}
END_TEST

/* --- Real threads ---------------------------------------------------------------------------- */

#define VCPUS 4
#define PETS 20000

struct pet_arg {
    vmwdt *dev;
    uint32_t cpu;
};

static void *pet_loop(void *varg)
{
    struct pet_arg *a = varg;
    uint32_t f = 10, n = 100;
    uint64_t base = (uint64_t)a->cpu * VMWDT_REG_STRIDE;
    vmwdt_mmio_write(a->dev, base + VMWDT_REG_CLOCK_FREQ_HZ, &f, 4);
    vmwdt_mmio_write(a->dev, base + VMWDT_REG_STATUS, &f, 4);
    for (int i = 0; i < PETS; i++)
        ck_assert_int_eq(vmwdt_mmio_write(a->dev, base + VMWDT_REG_LOAD_CNT, &n, 4), 0);
    return NULL;
}

static atomic_bool stop;

static void *stats_loop(void *varg)
{
    vmwdt *dev = varg;
    uint64_t last = 0;
    for (uint32_t i = 0; !atomic_load(&stop); i++) {
        struct vmwdt_vcpu_stats st = {.size = sizeof st};
        ck_assert_int_eq(vmwdt_vcpu_stats(dev, i % 2 ? VMWDT_ALL_CPUS : i % VCPUS, &st), 0);
        if (i % 2) {
            ck_assert_uint_ge(st.pets, last); /* counters never go back */
            last = st.pets;
        }
        ck_assert_int_eq(vmwdt_set_action(dev, i % 2 ? VMWDT_ACTION_IRQ_ONLY
                                                      : VMWDT_ACTION_IRQ_THEN_RESET), 0);
    }
    return NULL;
}

START_TEST(threads_pet_while_stats_and_action_change)
{
    struct vmwdt_config cfg = {.size = sizeof cfg, .cpu_count = VCPUS,
                               .clock = VMWDT_CLOCK_MONOTONIC};
    vmwdt *dev = NULL;
    ck_assert_int_eq(vmwdt_create(&cfg, NULL, &dev), 0);
    pthread_t pets[VCPUS], readers[2];
    struct pet_arg args[VCPUS];
    atomic_store(&stop, false);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&readers[i], NULL, stats_loop, dev), 0);
    for (uint32_t i = 0; i < VCPUS; i++) {
        args[i] = (struct pet_arg){dev, i};
        ck_assert_int_eq(pthread_create(&pets[i], NULL, pet_loop, &args[i]), 0);
    }
    for (int i = 0; i < VCPUS; i++)
        pthread_join(pets[i], NULL);
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(readers[i], NULL);
    struct vmwdt_vcpu_stats all = stats(dev, VMWDT_ALL_CPUS);
    ck_assert_uint_eq(all.pets, (uint64_t)VCPUS * PETS);
    ck_assert_uint_eq(all.enables, VCPUS);
    ck_assert_uint_eq(all.refused, 0);
    vmwdt_destroy(dev);
}
END_TEST

/* On the worker thread: raise_irq calls both 1.1 functions; NONE then ends the second window. */
struct worker_host {
    vmwdt *dev;
    atomic_int irqs, resets;
    atomic_uint_least64_t seen_interrupts;
};

static void worker_irq(void *opaque, uint32_t cpu)
{
    struct worker_host *w = opaque;
    struct vmwdt_vcpu_stats st = {.size = sizeof st};
    if (vmwdt_vcpu_stats(w->dev, cpu, &st) == 0)
        atomic_store(&w->seen_interrupts, st.interrupts);
    vmwdt_set_action(w->dev, VMWDT_ACTION_NONE);
    atomic_fetch_add(&w->irqs, 1);
}

static void worker_reset(void *opaque, uint32_t cpu)
{
    atomic_fetch_add(&((struct worker_host *)opaque)->resets, 1);
}

START_TEST(worker_callback_calls_1_1)
{
    struct worker_host w = {0};
    struct vmwdt_host_ops ops = {.size = sizeof ops, .opaque = &w, .raise_irq = worker_irq,
                                 .request_reset = worker_reset};
    struct vmwdt_config cfg = {.size = sizeof cfg, .cpu_count = 1,
                               .clock = VMWDT_CLOCK_MONOTONIC};
    ck_assert_int_eq(vmwdt_create(&cfg, &ops, &w.dev), 0);
    uint32_t f = 1000, n = 20; /* 20 ms */
    vmwdt_mmio_write(w.dev, VMWDT_REG_CLOCK_FREQ_HZ, &f, 4);
    vmwdt_mmio_write(w.dev, VMWDT_REG_LOAD_CNT, &n, 4);
    vmwdt_mmio_write(w.dev, VMWDT_REG_STATUS, &f, 4);
    for (int i = 0; i < 10000 && atomic_load(&w.irqs) == 0; i++)
        sleep_ms(1);
    ck_assert_int_eq(atomic_load(&w.irqs), 1);
    ck_assert_uint_eq(atomic_load(&w.seen_interrupts), 1);
    /* The second window (20 ms) ends logged: wait well past it. */
    for (int i = 0; i < 5000 && stats(w.dev, 0).remaining_ns != -1; i++)
        sleep_ms(1);
    ck_assert_int_eq(stats(w.dev, 0).remaining_ns, -1);
    ck_assert_int_eq(atomic_load(&w.resets), 0);
    vmwdt_destroy(w.dev);
}
END_TEST

static Suite *action_suite(void)
{
    Suite *s = suite_create("abi_1_1_set_action");
    TCase *tc = tcase_create("set_action");
    tcase_add_test(tc, unknown_action_is_refused);
    tcase_add_test(tc, first_window_takes_the_new_action);
    tcase_add_test(tc, second_window_ends_as_the_new_action_allows);
    tcase_add_test(tc, from_a_callback);
    tcase_add_test(tc, threads_pet_while_stats_and_action_change);
    tcase_add_test(tc, worker_callback_calls_1_1);
    tcase_set_timeout(tc, 100);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(action_suite)
