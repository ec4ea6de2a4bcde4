/*
 * The guest kernel's text symbols from a System.map, to name the function a stalled vCPU is
 * in. It depends on nothing else of the VMM.
 */
#ifndef VMM_SYMBOLS_H
#define VMM_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

struct vmm_symbols;

/* Loads path; NULL with a message when it cannot be read or holds no text symbol. */
struct vmm_symbols *vmm_symbols_load(const char *path, char *err, size_t errlen);

/*
 * The symbol that contains addr: its name and addr's offset in it; NULL when addr is below the
 * first symbol or beyond the last one's end marker (_etext).
 */
const char *vmm_symbols_find(const struct vmm_symbols *s, uint64_t addr, uint64_t *offset);

void vmm_symbols_free(struct vmm_symbols *s);

#endif /* VMM_SYMBOLS_H */
