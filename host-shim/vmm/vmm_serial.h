/*
 * A 16550A UART as the Linux guest's console (COM1, ports 0x3f8..0x3ff): the transmitter is
 * always empty, so every byte written goes out at once, line by line, to a callback. There is
 * no input. It depends on nothing else of the VMM.
 */
#ifndef VMM_SERIAL_H
#define VMM_SERIAL_H

#include <stdbool.h>
#include <stdint.h>

#define VMM_SERIAL_BASE 0x3f8
#define VMM_SERIAL_SIZE 8
#define VMM_SERIAL_IRQ  4

struct vmm_serial;

struct vmm_serial_ops {
    void *opaque;
    void (*line)(void *opaque, const char *text); /* one line of output, without its newline */
    void (*irq)(void *opaque, bool level);        /* the line changes level; under the port's lock */
};

struct vmm_serial *vmm_serial_new(const struct vmm_serial_ops *ops);
/* One access to register offset (0..7); a read fills *data. Safe from every thread. */
void vmm_serial_access(struct vmm_serial *s, uint32_t offset, bool is_write, uint8_t *data);
/* Hands out a last unfinished line, then frees the port. */
void vmm_serial_free(struct vmm_serial *s);

#endif /* VMM_SERIAL_H */
