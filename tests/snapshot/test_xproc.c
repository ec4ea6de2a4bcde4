/*
 * Migration between two processes with real clocks: xproc_helper runs the source in one
 * process and, after it has exited, the destination in a separate exec. See xproc_helper.c for
 * what each side checks; this suite runs both and requires both to succeed.
 */
#include <check.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "vmwdt_test.h"

#if !defined(XPROC_HELPER) || !defined(XPROC_LIBRARY) || !defined(XPROC_STATE_FILE)
#error "XPROC_HELPER, XPROC_LIBRARY and XPROC_STATE_FILE must be defined"
#endif

extern char **environ;

/* Runs the helper in the given role; returns its exit status, or -1 if it did not exit. */
static int run_helper(const char *role)
{
    char *argv[] = { (char *)XPROC_HELPER, (char *)role, (char *)XPROC_LIBRARY,
                     (char *)XPROC_STATE_FILE, NULL };
    pid_t pid;
    fflush(stdout);
    ck_assert_int_eq(posix_spawn(&pid, XPROC_HELPER, NULL, NULL, argv, environ), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(migrate_between_processes)
{
    unlink(XPROC_STATE_FILE);
    ck_assert_int_eq(run_helper("source"), 0);
    ck_assert_int_eq(access(XPROC_STATE_FILE, R_OK), 0);
    ck_assert_int_eq(run_helper("dest"), 0);
}
END_TEST

static Suite *xproc_suite(void)
{
    Suite *s = suite_create("snapshot_xproc");
    TCase *tc = tcase_create("xproc");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, migrate_between_processes);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(xproc_suite)
