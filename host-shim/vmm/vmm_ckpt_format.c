/*
 * The checkpoint writer, and what the writer and reader share: section names and freeing.
 * Every multi-byte field of the header and of the small sections is written little-endian
 * byte by byte; the vCPU and VM records are the caller's, as they are in memory (KVM's x86-64
 * structures: this VMM runs on x86-64 only, so they are little-endian too).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm_ckpt_format.h"
#include "vmm_ckpt_wire.h"
#include "vmm_crc32.h"

void vmm_ckpt_section_name(uint32_t type, uint32_t index, char *buf, size_t len)
{
    switch (type) {
    case VMM_CKPT_MEMORY: snprintf(buf, len, "memory"); break;
    case VMM_CKPT_CLOCK: snprintf(buf, len, "clock"); break;
    case VMM_CKPT_VCPU: snprintf(buf, len, "vCPU %u", index); break;
    case VMM_CKPT_HOST: snprintf(buf, len, "host state"); break;
    case VMM_CKPT_PLUGIN: snprintf(buf, len, "plugin document"); break;
    case VMM_CKPT_TRACE: snprintf(buf, len, "trace"); break;
    case VMM_CKPT_END: snprintf(buf, len, "end"); break;
    case VMM_CKPT_VM: snprintf(buf, len, "VM state"); break;
    default: snprintf(buf, len, "type %u", type); break;
    }
}

void vmm_ckpt_free(struct vmm_ckpt *c)
{
    if (!c)
        return;
    free(c->memory);
    free(c->vm_state);
    free(c->vcpus);
    free(c->host);
    free(c->plugin_json);
    free(c->trace.text);
    memset(c, 0, sizeof(*c));
}

/* Writes all of buf; a socket gets MSG_NOSIGNAL so that a vanished reader is EPIPE. */
static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    bool is_socket = true;
    while (len > 0) {
        ssize_t n = is_socket ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);
        if (n < 0 && is_socket && errno == ENOTSOCK) {
            is_socket = false;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

struct writer {
    int fd;
    uint32_t sections;
    char *err;
    size_t errlen;
};

/* Writes one section: its header (type, index, length, reserved, CRC) and its payload. */
static int put_section(struct writer *w, uint32_t type, uint32_t index, const void *a,
                       size_t alen, const void *b, size_t blen)
{
    uint8_t h[VMM_CKPT_SECTION_HEADER_SIZE] = {0};
    wire_put32(h, type);
    wire_put32(h + 4, index);
    wire_put64(h + 8, (uint64_t)alen + blen);
    uint32_t crc = vmm_crc32(0, h, 20);
    crc = vmm_crc32(crc, a, alen);
    crc = vmm_crc32(crc, b, blen);
    wire_put32(h + 20, crc);
    int rc = write_all(w->fd, h, sizeof(h));
    if (rc == 0)
        rc = write_all(w->fd, a, alen);
    if (rc == 0 && blen)
        rc = write_all(w->fd, b, blen);
    if (rc < 0) {
        char name[32];
        vmm_ckpt_section_name(type, index, name, sizeof(name));
        snprintf(w->err, w->errlen, "writing section '%s' failed: %s", name, strerror(-rc));
        return rc;
    }
    w->sections++;
    return 0;
}

static void encode_header(const struct vmm_ckpt *c, uint8_t *h)
{
    memset(h, 0, VMM_CKPT_HEADER_SIZE);
    memcpy(h, VMM_CKPT_MAGIC, 8);
    wire_put32(h + 8, VMM_CKPT_VERSION);
    wire_put32(h + 12, VMM_CKPT_HEADER_SIZE);
    wire_put32(h + 16, c->hdr.cpus);
    wire_put32(h + 20, c->hdr.freq);
    wire_put32(h + 24, c->hdr.timeout);
    wire_put32(h + 28, c->hdr.clock);
    wire_put64(h + 32, c->hdr.ram_size);
    wire_put32(h + 40, c->hdr.cpus + (c->has_trace ? 7 : 6)); /* sections, end included */
    wire_put32(h + 60, vmm_crc32(0, h, 60));
}

static void encode_clock(const struct vmm_ckpt_clock *k, uint8_t *p)
{
    wire_put32(p, k->tsc_khz);
    wire_put32(p + 4, 0);
    wire_put64(p + 8, (uint64_t)k->run_start_ns);
    wire_put64(p + 16, (uint64_t)k->run_elapsed_ns);
    wire_put64(p + 24, (uint64_t)k->stop_ns);
    wire_put64(p + 32, (uint64_t)k->plugin_ns);
}

static int put_host(struct writer *w, const struct vmm_ckpt *c)
{
    size_t len = (size_t)c->hdr.cpus * VMM_CKPT_HOST_VCPU_SIZE;
    uint8_t *p = calloc(1, len);
    if (!p) {
        snprintf(w->err, w->errlen, "out of memory");
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < c->hdr.cpus; i++) {
        const struct vmm_ckpt_host_vcpu *h = &c->host[i];
        uint8_t *r = p + (size_t)i * VMM_CKPT_HOST_VCPU_SIZE;
        wire_put32(r, (h->irq_pending ? VMM_CKPT_HOST_IRQ_PENDING : 0) |
                          (h->halted ? VMM_CKPT_HOST_HALTED : 0) |
                          (h->paused ? VMM_CKPT_HOST_PAUSED : 0) |
                          (h->wdt_enabled ? VMM_CKPT_HOST_WDT_ENABLED : 0));
        wire_put64(r + 8, (uint64_t)h->sleep_left_ns);
    }
    int rc = put_section(w, VMM_CKPT_HOST, 0, p, len, NULL, 0);
    free(p);
    return rc;
}

static int put_trace(struct writer *w, const struct vmm_ckpt_trace *t)
{
    uint8_t head[VMM_CKPT_TRACE_HEAD_SIZE] = {0};
    wire_put64(head, (uint64_t)t->last_t);
    wire_put64(head + 8, t->file_length);
    wire_put32(head + 16, t->in_place ? 1 : 0);
    return put_section(w, VMM_CKPT_TRACE, 0, head, sizeof(head), t->text,
                       t->in_place ? 0 : t->text_len);
}

int vmm_ckpt_write(int fd, const struct vmm_ckpt *c, char *err, size_t errlen)
{
    struct writer w = {.fd = fd, .err = err, .errlen = errlen};
    uint8_t h[VMM_CKPT_HEADER_SIZE];
    encode_header(c, h);
    int rc = write_all(fd, h, sizeof(h));
    if (rc < 0) {
        snprintf(err, errlen, "writing the header failed: %s", strerror(-rc));
        return rc;
    }
    uint8_t clock[VMM_CKPT_CLOCK_SIZE];
    encode_clock(&c->clock, clock);
    if ((rc = put_section(&w, VMM_CKPT_MEMORY, 0, c->memory, c->hdr.ram_size, NULL, 0)) < 0 ||
        (rc = put_section(&w, VMM_CKPT_CLOCK, 0, clock, sizeof(clock), NULL, 0)) < 0 ||
        (rc = put_section(&w, VMM_CKPT_VM, 0, c->vm_state, c->vm_size, NULL, 0)) < 0)
        return rc;
    for (uint32_t i = 0; i < c->hdr.cpus; i++) {
        rc = put_section(&w, VMM_CKPT_VCPU, i, c->vcpus + (size_t)i * c->vcpu_size,
                         c->vcpu_size, NULL, 0);
        if (rc < 0)
            return rc;
    }
    if ((rc = put_host(&w, c)) < 0 ||
        (rc = put_section(&w, VMM_CKPT_PLUGIN, 0, c->plugin_json, c->plugin_len, NULL, 0)) < 0)
        return rc;
    if (c->has_trace && (rc = put_trace(&w, &c->trace)) < 0)
        return rc;
    uint8_t end[VMM_CKPT_END_SIZE] = {0};
    wire_put32(end, w.sections);
    return put_section(&w, VMM_CKPT_END, 0, end, sizeof(end), NULL, 0);
}
