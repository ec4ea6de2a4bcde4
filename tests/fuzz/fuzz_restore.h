/* The snapshot restore fuzz target, shared by the libFuzzer build and the replay driver. */
#ifndef FUZZ_RESTORE_H
#define FUZZ_RESTORE_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What vmwdt_restore_json() returned for the last input (for the replay driver). */
extern int fuzz_last_restore_rc;

#endif /* FUZZ_RESTORE_H */
