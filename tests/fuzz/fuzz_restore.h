/* The snapshot restore fuzz target, shared by the libFuzzer build and the replay driver. */
#ifndef FUZZ_RESTORE_H
#define FUZZ_RESTORE_H

#include "fuzz_target.h"

/* What vmwdt_restore_json() returned for the last input (for the replay driver). */
extern int fuzz_last_restore_rc;

#endif /* FUZZ_RESTORE_H */
