/*
 * The malformed corpus through the public ABI. Every file in malformed/ is named
 * <case>.<ERRNO>.json; vmwdt_restore_json() must refuse it with -ERRNO, log why, and change
 * nothing: a snapshot taken after equals the one taken before, and the device keeps counting.
 * Files are passed as C strings, as a host would: a raw NUL byte ends the document there.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snap_host.h"
#include "vmwdt_test.h"

#ifndef SNAP_MALFORMED_DIR
#error "SNAP_MALFORMED_DIR must name the corpus directory"
#endif

/* The expected error of a corpus file from its name, or 0 when the name has none. */
static int expected_error(const char *name)
{
    static const struct { const char *tag; int err; } tags[] = {
        { ".EINVAL.json", -EINVAL }, { ".ERANGE.json", -ERANGE },
        { ".ENOTSUP.json", -ENOTSUP }, { ".ENOMEM.json", -ENOMEM },
    };
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
        size_t t = strlen(tags[i].tag);
        if (n > t && strcmp(name + n - t, tags[i].tag) == 0)
            return tags[i].err;
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The corpus file names, sorted; *count gets how many. */
static char **list_corpus(int *count)
{
    DIR *d = opendir(SNAP_MALFORMED_DIR);
    ck_assert_msg(d != NULL, "cannot open %s", SNAP_MALFORMED_DIR);
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        names = realloc(names, sizeof(*names) * (size_t)(n + 1));
        ck_assert_ptr_nonnull(names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(*names), by_name);
    *count = n;
    return names;
}

/* A 2-vCPU device with state worth keeping: vCPU 0 counting, vCPU 1 in its second window. */
static struct sh *busy_device(void)
{
    struct sh *h = sh_new(2, VMWDT_CLOCK_HOST, VMWDT_ACTION_IRQ_THEN_RESET, SH_S(10));
    for (uint32_t cpu = 0; cpu < 2; cpu++) {
        ck_assert_int_eq(sh_write(h, cpu, VMWDT_REG_CLOCK_FREQ_HZ, 10), 0);
        ck_assert_int_eq(sh_write(h, cpu, VMWDT_REG_LOAD_CNT, cpu ? 10 : 80), 0);
        ck_assert_int_eq(sh_write(h, cpu, VMWDT_REG_STATUS, 1), 0);
    }
    sh_advance_to(h, SH_MS(11500));
    ck_assert_int_eq(h->nev, 2); /* vCPU 1's interrupt and the run_due that fired it */
    return h;
}

START_TEST(corpus_is_refused_and_changes_nothing)
{
    int count = 0;
    char **names = list_corpus(&count);
    ck_assert_int_ge(count, 40);
    struct sh *h = busy_device();
    char *before = sh_snapshot(h);
    int64_t deadline = vmwdt_next_deadline_ns(h->dev);
    for (int i = 0; i < count; i++) {
        int want = expected_error(names[i]);
        ck_assert_msg(want != 0, "%s: the name does not say which error is expected", names[i]);
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", SNAP_MALFORMED_DIR, names[i]);
        char *doc = sh_read_file(path, NULL);
        int logs = h->nlog;
        int rc = vmwdt_restore_json(h->dev, doc);
        ck_assert_msg(rc == want, "%s: expected %d (%s), got %d (log: %s)", names[i], want,
                      vmwdt_strerror(want), rc, h->last_log);
        ck_assert_msg(h->nlog > logs, "%s: refused without a log message", names[i]);
        char *after = sh_snapshot(h);
        ck_assert_msg(strcmp(before, after) == 0, "%s: the refusal changed the state", names[i]);
        ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), deadline);
        free(after);
        free(doc);
    }
    /* Still awake and counting as before: vCPU 1 resets at 12 s, vCPU 0 interrupts at 18 s. */
    sh_advance_to(h, SH_S(19));
    struct sh_event ev[8];
    int n = sh_events_since(h, SH_MS(11500), ev, 8);
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(ev[0].kind, SH_RESET);
    ck_assert_int_eq(ev[0].cpu, 1);
    ck_assert_int_eq(ev[0].t, SH_MS(500));
    ck_assert_int_eq(ev[2].kind, SH_IRQ);
    ck_assert_int_eq(ev[2].cpu, 0);
    ck_assert_int_eq(ev[2].t, SH_MS(6500));
    free(before);
    sh_free(h);
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
}
END_TEST

/* Each corpus file names its expected error, and the corpus covers every error class. */
START_TEST(corpus_names_are_well_formed)
{
    int count = 0;
    char **names = list_corpus(&count);
    int seen_inval = 0, seen_range = 0, seen_notsup = 0;
    for (int i = 0; i < count; i++) {
        int err = expected_error(names[i]);
        seen_inval += err == -EINVAL;
        seen_range += err == -ERANGE;
        seen_notsup += err == -ENOTSUP;
        free(names[i]);
    }
    free(names);
    ck_assert_int_gt(seen_inval, 0);
    ck_assert_int_gt(seen_range, 0);
    ck_assert_int_gt(seen_notsup, 0);
}
END_TEST

/* A valid document still restores on the same device afterwards (the corpus test is not vacuous). */
START_TEST(valid_document_restores)
{
    struct sh *h = busy_device();
    char *doc = sh_snapshot(h);
    ck_assert_int_eq(vmwdt_restore_json(h->dev, doc), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), INT64_MAX);
    free(doc);
    sh_free(h);
}
END_TEST

static Suite *corpus_suite(void)
{
    Suite *s = suite_create("snapshot_corpus");
    TCase *tc = tcase_create("corpus");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, corpus_names_are_well_formed);
    tcase_add_test(tc, corpus_is_refused_and_changes_nothing);
    tcase_add_test(tc, valid_document_restores);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(corpus_suite)
