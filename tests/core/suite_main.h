/* A main() shared by the Check suites of this folder: runs one suite, exits 0 when it passed. */
#ifndef SUITE_MAIN_H
#define SUITE_MAIN_H

#include <check.h>
#include <stdlib.h>

/* The window of n ticks at f Hz, as DESIGN.md section 2 defines it. */
#define WIN(n, f) ((int64_t)(n) * 1000000000LL / (int64_t)(f))

#define VMWDT_SUITE_MAIN(make_suite)                                    \
    int main(void)                                                      \
    {                                                                   \
        SRunner *sr = srunner_create(make_suite());                     \
        srunner_run_all(sr, CK_NORMAL);                                 \
        int failed = srunner_ntests_failed(sr);                         \
        srunner_free(sr);                                               \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;               \
    }

#endif /* SUITE_MAIN_H */
