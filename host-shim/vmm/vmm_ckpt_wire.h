/*
 * Byte-level helpers shared by the checkpoint writer (vmm_ckpt_format.c) and reader
 * (vmm_ckpt_read.c): little-endian fields and the fixed layouts of the header, the section
 * headers and the small sections. Internal to the codec.
 */
#ifndef VMM_CKPT_WIRE_H
#define VMM_CKPT_WIRE_H

#include <stdint.h>
#include <string.h>

#include "vmm_ckpt_format.h"

#define VMM_CKPT_CLOCK_SIZE 40
#define VMM_CKPT_HOST_VCPU_SIZE 16
#define VMM_CKPT_TRACE_HEAD_SIZE 24
#define VMM_CKPT_END_SIZE 8

/* Host flag bits in a VMM_CKPT_HOST record. */
#define VMM_CKPT_HOST_IRQ_PENDING 1u
#define VMM_CKPT_HOST_HALTED      2u
#define VMM_CKPT_HOST_PAUSED      4u
#define VMM_CKPT_HOST_WDT_ENABLED 8u

static inline void wire_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void wire_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t wire_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t wire_get64(const uint8_t *p)
{
    return (uint64_t)wire_get32(p) | (uint64_t)wire_get32(p + 4) << 32;
}

#endif /* VMM_CKPT_WIRE_H */
