/*
 * The checkpoint reader. It reads the header and then each section in the one order the
 * writer uses, checking before it keeps anything: the magic, the format version, the header's
 * checksum and ranges, the vCPU count the caller wants, then for every section its type and
 * index where that section belongs, a length no larger than that section can be (so a
 * corrupted length never makes it allocate or wait for gigabytes), the bytes all there, and
 * the CRC over the section header and payload; finally the field values inside the small
 * sections and the end section's count. The first thing wrong is reported, naming its
 * section, and the caller gets nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "vmm_ckpt_format.h"
#include "vmm_ckpt_wire.h"
#include "vmm_crc32.h"

struct reader {
    int fd;
    char *err;
    size_t errlen;
    uint32_t sections;
};

static int refuse(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(struct reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Reads up to len bytes; returns how many came before the end of the stream, or -errno. */
static ssize_t read_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Reads exactly len bytes of the part named what, or refuses as truncated. */
static int read_part(struct reader *r, void *buf, size_t len, const char *what)
{
    ssize_t n = read_all(r->fd, buf, len);
    if (n < 0)
        return refuse(r, "reading %s failed: %s", what, strerror((int)-n));
    if ((size_t)n < len)
        return refuse(r, "truncated in %s (%zd of %zu bytes)", what, n, len);
    return 0;
}

static int read_header(struct reader *r, uint32_t want_cpus, struct vmm_ckpt_header *hdr,
                       uint32_t *sections)
{
    uint8_t h[VMM_CKPT_HEADER_SIZE];
    ssize_t n = read_all(r->fd, h, sizeof(h));
    if (n < 0)
        return refuse(r, "reading the header failed: %s", strerror((int)-n));
    if (n >= 8 && memcmp(h, VMM_CKPT_MAGIC, 8) != 0)
        return refuse(r, "header: not a vmwdt-vmm checkpoint (bad magic)");
    if (n >= 12 && wire_get32(h + 8) != VMM_CKPT_VERSION)
        return refuse(r, "header: format version %u, this vmwdt-vmm reads version %u",
                      wire_get32(h + 8), VMM_CKPT_VERSION);
    if ((size_t)n < sizeof(h))
        return refuse(r, "truncated in the header (%zd of %zu bytes)", n, sizeof(h));
    uint32_t crc = vmm_crc32(0, h, 60);
    if (crc != wire_get32(h + 60))
        return refuse(r, "header: checksum mismatch (stored 0x%08x, computed 0x%08x)",
                      wire_get32(h + 60), crc);
    hdr->version = VMM_CKPT_VERSION;
    hdr->cpus = wire_get32(h + 16);
    hdr->freq = wire_get32(h + 20);
    hdr->timeout = wire_get32(h + 24);
    hdr->clock = wire_get32(h + 28);
    hdr->ram_size = wire_get64(h + 32);
    *sections = wire_get32(h + 40);
    if (wire_get32(h + 12) != VMM_CKPT_HEADER_SIZE || hdr->cpus < 1 ||
        hdr->cpus > VMM_CKPT_MAX_CPUS || hdr->freq < 1 || hdr->timeout < 1 || hdr->clock > 3 ||
        hdr->ram_size < 1 || hdr->ram_size > VMM_CKPT_MAX_MEMORY ||
        (*sections != hdr->cpus + 6 && *sections != hdr->cpus + 7))
        return refuse(r, "header: a field is out of range");
    for (int i = 44; i < 60; i++) {
        if (h[i])
            return refuse(r, "header: reserved bytes are not zero");
    }
    if (want_cpus && hdr->cpus != want_cpus)
        return refuse(r, "header: the checkpoint is for %u vCPUs, this VM has %u",
                      hdr->cpus, want_cpus);
    return 0;
}

/*
 * Reads the section expected next: type and index as given, a length of exactly min when
 * max == min, else from min to max. Returns 0 with the payload in *out (malloc'd, one NUL
 * byte past its end), or -1.
 */
static int read_section(struct reader *r, uint32_t type, uint32_t index, uint64_t min,
                        uint64_t max, uint8_t **out, uint64_t *len)
{
    char name[32], what[48];
    vmm_ckpt_section_name(type, index, name, sizeof(name));
    snprintf(what, sizeof(what), "section '%s'", name);
    uint8_t h[VMM_CKPT_SECTION_HEADER_SIZE];
    if (read_part(r, h, sizeof(h), what) < 0)
        return -1;
    uint32_t got_type = wire_get32(h), got_index = wire_get32(h + 4);
    uint64_t length = wire_get64(h + 8);
    if (got_type != type || got_index != index) {
        char got[32];
        vmm_ckpt_section_name(got_type, got_index, got, sizeof(got));
        return refuse(r, "%s expected, found a section '%s' there (corrupted or out of order)",
                      what, got);
    }
    if (length < min || length > max || wire_get32(h + 16) != 0)
        return refuse(r, "%s: length %llu is not what that section holds (corrupted)", what,
                      (unsigned long long)length);
    uint8_t *p = malloc((size_t)length + 1);
    if (!p)
        return refuse(r, "%s: out of memory for %llu bytes", what, (unsigned long long)length);
    if (read_part(r, p, (size_t)length, what) < 0) {
        free(p);
        return -1;
    }
    p[length] = 0;
    uint32_t crc = vmm_crc32(vmm_crc32(0, h, 20), p, (size_t)length);
    if (crc != wire_get32(h + 20)) {
        free(p);
        return refuse(r, "%s: checksum mismatch (stored 0x%08x, computed 0x%08x)", what,
                      wire_get32(h + 20), crc);
    }
    r->sections++;
    *out = p;
    *len = length;
    return 0;
}

static int decode_clock(struct reader *r, const uint8_t *p, struct vmm_ckpt_clock *k)
{
    k->tsc_khz = wire_get32(p);
    k->run_start_ns = (int64_t)wire_get64(p + 8);
    k->run_elapsed_ns = (int64_t)wire_get64(p + 16);
    k->stop_ns = (int64_t)wire_get64(p + 24);
    k->plugin_ns = (int64_t)wire_get64(p + 32);
    if (k->tsc_khz == 0 || wire_get32(p + 4) || k->run_elapsed_ns < 0 || k->plugin_ns < 0)
        return refuse(r, "section 'clock': a field is out of range");
    return 0;
}

static int decode_host(struct reader *r, const uint8_t *p, uint32_t cpus,
                       struct vmm_ckpt_host_vcpu *host)
{
    for (uint32_t i = 0; i < cpus; i++, p += VMM_CKPT_HOST_VCPU_SIZE) {
        uint32_t flags = wire_get32(p);
        int64_t left = (int64_t)wire_get64(p + 8);
        if ((flags & ~15u) || wire_get32(p + 4) || left < -1)
            return refuse(r, "section 'host state': vCPU %u's record is out of range", i);
        host[i] = (struct vmm_ckpt_host_vcpu){
            .irq_pending = flags & VMM_CKPT_HOST_IRQ_PENDING,
            .halted = flags & VMM_CKPT_HOST_HALTED,
            .paused = flags & VMM_CKPT_HOST_PAUSED,
            .wdt_enabled = flags & VMM_CKPT_HOST_WDT_ENABLED,
            .sleep_left_ns = left,
        };
    }
    return 0;
}

static int decode_trace(struct reader *r, uint8_t *p, uint64_t len, struct vmm_ckpt_trace *t)
{
    t->last_t = (int64_t)wire_get64(p);
    t->file_length = wire_get64(p + 8);
    uint32_t in_place = wire_get32(p + 16);
    t->text_len = (size_t)(len - VMM_CKPT_TRACE_HEAD_SIZE);
    if (t->last_t < 0 || in_place > 1 || wire_get32(p + 20) || (in_place && t->text_len) ||
        (!in_place && t->text_len != t->file_length) || memchr(p + 24, 0, t->text_len))
        return refuse(r, "section 'trace': a field is out of range");
    t->in_place = in_place;
    t->text = malloc(t->text_len + 1);
    if (!t->text)
        return refuse(r, "section 'trace': out of memory");
    memcpy(t->text, p + 24, t->text_len);
    t->text[t->text_len] = '\0';
    return 0;
}

/* The sections after the vCPUs: host state, plugin document, the optional trace, the end. */
static int read_tail(struct reader *r, struct vmm_ckpt *c, uint32_t sections)
{
    uint8_t *p = NULL;
    uint64_t len;
    uint32_t cpus = c->hdr.cpus;
    uint64_t host_len = (uint64_t)cpus * VMM_CKPT_HOST_VCPU_SIZE;
    if (read_section(r, VMM_CKPT_HOST, 0, host_len, host_len, &p, &len) < 0)
        return -1;
    int rc = decode_host(r, p, cpus, c->host);
    free(p);
    if (rc < 0 || read_section(r, VMM_CKPT_PLUGIN, 0, 2, VMM_CKPT_MAX_PLUGIN, &p, &len) < 0)
        return -1;
    c->plugin_json = (char *)p;
    c->plugin_len = (size_t)len;
    if (memchr(p, 0, (size_t)len))
        return refuse(r, "section 'plugin document': not text (holds a NUL byte)");
    if (sections == cpus + 7) {
        if (read_section(r, VMM_CKPT_TRACE, 0, VMM_CKPT_TRACE_HEAD_SIZE,
                         VMM_CKPT_TRACE_HEAD_SIZE + VMM_CKPT_MAX_TRACE, &p, &len) < 0)
            return -1;
        c->has_trace = true;
        rc = decode_trace(r, p, len, &c->trace);
        free(p);
        if (rc < 0)
            return -1;
    }
    uint32_t before = r->sections;
    if (read_section(r, VMM_CKPT_END, 0, VMM_CKPT_END_SIZE, VMM_CKPT_END_SIZE, &p, &len) < 0)
        return -1;
    uint32_t count = wire_get32(p), reserved = wire_get32(p + 4);
    free(p);
    if (count != before || reserved)
        return refuse(r, "section 'end': it counts %u sections, %u came", count, before);
    return 0;
}

static int read_body(struct reader *r, struct vmm_ckpt *c, const struct vmm_ckpt_shape *want,
                     uint32_t sections)
{
    uint8_t *p;
    uint64_t len;
    uint32_t cpus = c->hdr.cpus;
    if (read_section(r, VMM_CKPT_MEMORY, 0, c->hdr.ram_size, c->hdr.ram_size, &c->memory,
                     &len) < 0)
        return -1;
    if (read_section(r, VMM_CKPT_CLOCK, 0, VMM_CKPT_CLOCK_SIZE, VMM_CKPT_CLOCK_SIZE, &p,
                     &len) < 0)
        return -1;
    int rc = decode_clock(r, p, &c->clock);
    free(p);
    if (rc < 0 || read_section(r, VMM_CKPT_VM, 0, want->vm_size, want->vm_size, &c->vm_state,
                               &len) < 0)
        return -1;
    c->vm_size = want->vm_size;
    c->vcpu_size = want->vcpu_size;
    c->vcpus = malloc(cpus * want->vcpu_size + 1);
    c->host = calloc(cpus, sizeof(*c->host));
    if (!c->vcpus || !c->host)
        return refuse(r, "out of memory for %u vCPUs", cpus);
    for (uint32_t i = 0; i < cpus; i++) {
        if (read_section(r, VMM_CKPT_VCPU, i, want->vcpu_size, want->vcpu_size, &p, &len) < 0)
            return -1;
        memcpy(c->vcpus + (size_t)i * want->vcpu_size, p, want->vcpu_size);
        free(p);
    }
    return read_tail(r, c, sections);
}

int vmm_ckpt_read(int fd, const struct vmm_ckpt_shape *want, struct vmm_ckpt *out, char *err,
                  size_t errlen)
{
    struct reader r = {.fd = fd, .err = err, .errlen = errlen};
    struct vmm_ckpt c;
    memset(&c, 0, sizeof(c));
    memset(out, 0, sizeof(*out));
    uint32_t sections = 0;
    if (read_header(&r, want->cpus, &c.hdr, &sections) < 0 ||
        read_body(&r, &c, want, sections) < 0) {
        vmm_ckpt_free(&c);
        return -1;
    }
    *out = c;
    return 0;
}
