/*
 * Compiled into every suite that tests/abi/compat.cmake builds against the released 1.0 header:
 * the build fails unless the header it found is that one.
 */
#include "vmwdt.h"

_Static_assert(VMWDT_ABI_MAJOR == 1 && VMWDT_ABI_MINOR == 0, "built against the 1.0 header");
#ifdef VMWDT_ALL_CPUS
#error "a 1.1 header came first on the include path"
#endif

/* Referenced by nothing: the translation unit only checks the header it sees. */
int vmwdt_compat_guard_1_0(void);
int vmwdt_compat_guard_1_0(void)
{
    return VMWDT_ABI_MINOR;
}
