/* What every fuzz target gives the libFuzzer build and the replay driver (replay_main.c). */
#ifndef FUZZ_TARGET_H
#define FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The last input's verdict, for the replay driver's --valid and --invalid: 0 it was accepted,
 * negative it was refused. */
extern int fuzz_last_rc;

#endif /* FUZZ_TARGET_H */
