/*
 * CRC-32 (the IEEE 802.3 polynomial, reflected, as zlib and PNG compute it) for the checksums
 * of the checkpoint stream. Kept apart from the codec so that tests can check it alone.
 */
#ifndef VMM_CRC32_H
#define VMM_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC over len more bytes; start with crc = 0. */
uint32_t vmm_crc32(uint32_t crc, const void *data, size_t len);

#endif /* VMM_CRC32_H */
