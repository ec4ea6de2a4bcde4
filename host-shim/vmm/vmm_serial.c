/*
 * A 16550A UART, as much of it as the Linux 8250 driver probes and uses for a console: the
 * scratch and interrupt-enable registers read back, loopback mode reflects the modem control
 * lines, FIFOs are reported enabled, and the line status always says the transmitter is empty.
 * The only interrupt source is "transmitter holding register empty": it is pending while
 * enabled, cleared by reading IIR, and raised again by each write, since the byte left at once.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmm_serial.h"

#define LINE_MAX_BYTES 1024

enum { RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

#define LCR_DLAB   0x80
#define IER_THRI   0x02
#define IER_MASK   0x0f
#define IIR_NO_INT 0x01
#define IIR_THRI   0x02
#define IIR_FIFO   0xc0 /* FIFOs enabled: a 16550A */
#define LSR_EMPTY  0x60 /* THRE | TEMT */
#define MCR_LOOP   0x10

struct vmm_serial {
    struct vmm_serial_ops ops;
    pthread_mutex_t lock;
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
    bool thr_pending; /* the THRE interrupt has not been acknowledged */
    bool irq_level;
    char line[LINE_MAX_BYTES + 1];
    size_t len;
};

struct vmm_serial *vmm_serial_new(const struct vmm_serial_ops *ops)
{
    struct vmm_serial *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->ops = *ops;
    pthread_mutex_init(&s->lock, NULL);
    s->dll = 12; /* 9600 baud, as after a reset */
    return s;
}

static void flush_line(struct vmm_serial *s)
{
    s->line[s->len] = '\0';
    if (s->ops.line)
        s->ops.line(s->ops.opaque, s->line);
    s->len = 0;
}

static void put_byte(struct vmm_serial *s, uint8_t c)
{
    if (c == '\n') {
        flush_line(s);
    } else if (c != '\r') {
        s->line[s->len++] = (c >= 0x20 && c < 0x7f) || c == '\t' ? (char)c : '?';
        if (s->len == LINE_MAX_BYTES)
            flush_line(s);
    }
}

/*
 * The interrupt line follows the pending interrupt. The callback runs under the lock, so that
 * two vCPUs' accesses cannot set the line in the opposite order of the state they computed.
 */
static void update_irq(struct vmm_serial *s)
{
    bool now = (s->ier & IER_THRI) && s->thr_pending;
    if (now == s->irq_level)
        return;
    s->irq_level = now;
    if (s->ops.irq)
        s->ops.irq(s->ops.opaque, now);
}

/* The modem status: in loopback the outputs come back as inputs, else the line is ready. */
static uint8_t modem_status(const struct vmm_serial *s)
{
    if (!(s->mcr & MCR_LOOP))
        return 0xb0; /* DCD, DSR, CTS */
    uint8_t m = 0;
    if (s->mcr & 0x01) m |= 0x20; /* DTR -> DSR */
    if (s->mcr & 0x02) m |= 0x10; /* RTS -> CTS */
    if (s->mcr & 0x04) m |= 0x40; /* OUT1 -> RI */
    if (s->mcr & 0x08) m |= 0x80; /* OUT2 -> DCD */
    return m;
}

static void serial_write(struct vmm_serial *s, uint32_t offset, uint8_t v)
{
    bool dlab = s->lcr & LCR_DLAB;
    switch (offset) {
    case RBR_THR:
        if (dlab) {
            s->dll = v;
        } else {
            if (!(s->mcr & MCR_LOOP))
                put_byte(s, v);
            s->thr_pending = true;
        }
        break;
    case IER:
        if (dlab) {
            s->dlm = v;
        } else {
            /* Enabling THRI while the transmitter is empty raises the interrupt at once. */
            if ((v & IER_THRI) && !(s->ier & IER_THRI))
                s->thr_pending = true;
            s->ier = v & IER_MASK;
        }
        break;
    case IIR_FCR: s->fcr = v; break;
    case LCR: s->lcr = v; break;
    case MCR: s->mcr = v & 0x1f; break;
    case SCR: s->scr = v; break;
    default: break; /* LSR and MSR are read-only */
    }
}

static uint8_t serial_read(struct vmm_serial *s, uint32_t offset)
{
    bool dlab = s->lcr & LCR_DLAB;
    uint8_t fifo = (s->fcr & 0x01) ? IIR_FIFO : 0;
    switch (offset) {
    case RBR_THR: return dlab ? s->dll : 0;
    case IER: return dlab ? s->dlm : s->ier;
    case IIR_FCR:
        if ((s->ier & IER_THRI) && s->thr_pending) {
            s->thr_pending = false;
            return fifo | IIR_THRI;
        }
        return fifo | IIR_NO_INT;
    case LCR: return s->lcr;
    case MCR: return s->mcr;
    case LSR: return LSR_EMPTY;
    case MSR: return modem_status(s);
    case SCR: return s->scr;
    default: return 0;
    }
}

void vmm_serial_access(struct vmm_serial *s, uint32_t offset, bool is_write, uint8_t *data)
{
    pthread_mutex_lock(&s->lock);
    if (is_write)
        serial_write(s, offset & 7, *data);
    else
        *data = serial_read(s, offset & 7);
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
}

void vmm_serial_free(struct vmm_serial *s)
{
    if (!s)
        return;
    if (s->len)
        flush_line(s);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
