/*
 * Lists the sections of a vmwdt-vmm checkpoint file, one line each: NAME, the offset of its
 * payload and the payload's length, separated by tabs, so that the tests can damage each
 * section on purpose. It trusts the lengths it reads: give it only a good checkpoint.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vmm_ckpt_format.h"

static uint64_t get(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int main(int argc, char **argv)
{
    FILE *f = argc == 2 ? fopen(argv[1], "rb") : NULL;
    if (!f) {
        fprintf(stderr, "usage: ckpt_sections CHECKPOINT\n");
        return 2;
    }
    printf("header\t0\t%d\n", VMM_CKPT_HEADER_SIZE);
    long off = VMM_CKPT_HEADER_SIZE;
    uint8_t h[VMM_CKPT_SECTION_HEADER_SIZE];
    while (fseek(f, off, SEEK_SET) == 0 && fread(h, 1, sizeof(h), f) == sizeof(h)) {
        char name[32];
        uint64_t len = get(h + 8, 8);
        vmm_ckpt_section_name((uint32_t)get(h, 4), (uint32_t)get(h + 4, 4), name, sizeof(name));
        printf("%s\t%ld\t%llu\n", name, off + VMM_CKPT_SECTION_HEADER_SIZE,
               (unsigned long long)len);
        off += VMM_CKPT_SECTION_HEADER_SIZE + (long)len;
    }
    fclose(f);
    return 0;
}
