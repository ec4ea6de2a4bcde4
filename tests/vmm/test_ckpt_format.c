/*
 * Unit tests of vmwdt-vmm's checkpoint codec (host-shim/vmm/vmm_ckpt_*.c) on its own: round
 * trips through a file and a pipe, and the refusals: a stream cut in every section, a byte
 * flipped in every section, another format version, another vCPU count, a corrupted length.
 * Each refusal must name the part of the stream that is wrong and give the caller nothing.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm_ckpt_format.h"
#include "vmm_crc32.h"
#include "vmwdt_test.h"

#define RAM 65536u
#define VCPU_SIZE 200u /* the records are opaque to the codec: any size the caller names */
#define VM_SIZE 64u

static const struct vmm_ckpt_shape ANY = {.cpus = 0, .vcpu_size = VCPU_SIZE, .vm_size = VM_SIZE};

/* A checkpoint of cpus vCPUs whose every field is set from seed. */
static void sample(struct vmm_ckpt *c, uint32_t cpus, bool trace, unsigned seed)
{
    memset(c, 0, sizeof(*c));
    c->hdr = (struct vmm_ckpt_header){.cpus = cpus, .freq = 10, .timeout = 4, .clock = 0,
                                      .ram_size = RAM};
    c->memory = malloc(RAM);
    for (uint32_t i = 0; i < RAM; i++)
        c->memory[i] = (uint8_t)(i * 7 + seed);
    c->clock = (struct vmm_ckpt_clock){.tsc_khz = 2600000, .run_start_ns = 1000,
                                       .run_elapsed_ns = 5000000000, .stop_ns = 5000001000,
                                       .plugin_ns = 42000};
    c->vm_size = VM_SIZE;
    c->vm_state = malloc(VM_SIZE);
    for (uint32_t i = 0; i < VM_SIZE; i++)
        c->vm_state[i] = (uint8_t)(i + seed);
    c->vcpu_size = VCPU_SIZE;
    c->vcpus = malloc(cpus * VCPU_SIZE);
    for (uint32_t i = 0; i < cpus * VCPU_SIZE; i++)
        c->vcpus[i] = (uint8_t)(i * 3 + seed);
    c->host = calloc(cpus, sizeof(*c->host));
    for (uint32_t i = 0; i < cpus; i++) {
        c->host[i] = (struct vmm_ckpt_host_vcpu){.irq_pending = i == 1, .halted = i == 0,
                                                 .wdt_enabled = true,
                                                 .sleep_left_ns = i == 0 ? 1500000 : -1};
    }
    c->plugin_json = strdup("{\"format\": \"vmwdt-snapshot\", \"version\": 1}");
    c->plugin_len = strlen(c->plugin_json);
    if (trace) {
        c->has_trace = true;
        c->trace.text = strdup("{\"vmwdt_trace\": 1, \"cpus\": 2}\n");
        c->trace.text_len = strlen(c->trace.text);
        c->trace.file_length = c->trace.text_len;
        c->trace.last_t = 77;
    }
}

/* The stream of c, in memory. */
static uint8_t *encode(const struct vmm_ckpt *c, size_t *len)
{
    int fd = memfd_create("ckpt", MFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    char err[256];
    ck_assert_int_eq(vmm_ckpt_write(fd, c, err, sizeof(err)), 0);
    off_t size = lseek(fd, 0, SEEK_CUR);
    uint8_t *buf = malloc((size_t)size);
    ck_assert_int_eq(pread(fd, buf, (size_t)size, 0), size);
    close(fd);
    *len = (size_t)size;
    return buf;
}

/* Decodes len bytes of buf; returns the result and leaves the message in err. */
static int decode(const uint8_t *buf, size_t len, uint32_t cpus, struct vmm_ckpt *out,
                  char *err, size_t errlen)
{
    struct vmm_ckpt_shape want = ANY;
    want.cpus = cpus;
    int fd = memfd_create("ckpt", MFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
    lseek(fd, 0, SEEK_SET);
    err[0] = '\0';
    int rc = vmm_ckpt_read(fd, &want, out, err, errlen);
    close(fd);
    return rc;
}

/* Expects the stream to be refused with a message that holds each of the words given. */
static void expect_refused(const uint8_t *buf, size_t len, uint32_t want, const char *what,
                           const char *also)
{
    struct vmm_ckpt c;
    char err[256];
    int rc = decode(buf, len, want, &c, err, sizeof(err));
    ck_assert_msg(rc < 0, "accepted a stream that should name '%s'", what);
    ck_assert_msg(strstr(err, what), "message '%s' does not name '%s'", err, what);
    ck_assert_msg(!also || strstr(err, also), "message '%s' does not say '%s'", err, also);
    ck_assert_ptr_null(c.memory);
    ck_assert_ptr_null(c.vcpus);
    ck_assert_ptr_null(c.plugin_json);
}

/* Where each section of a stream lies, found by walking its section headers. */
struct layout {
    int count;
    char name[16][32];
    size_t start[16]; /* of the section header */
    size_t len[16];   /* header and payload */
};

static void walk(const uint8_t *buf, size_t len, struct layout *l)
{
    memset(l, 0, sizeof(*l));
    size_t off = VMM_CKPT_HEADER_SIZE;
    while (off < len) {
        uint32_t type, index;
        uint64_t length;
        memcpy(&type, buf + off, 4);
        memcpy(&index, buf + off + 4, 4);
        memcpy(&length, buf + off + 8, 8);
        vmm_ckpt_section_name(type, index, l->name[l->count], sizeof(l->name[0]));
        l->start[l->count] = off;
        l->len[l->count] = VMM_CKPT_SECTION_HEADER_SIZE + (size_t)length;
        off += l->len[l->count++];
    }
    ck_assert_uint_eq(off, len);
}

START_TEST(crc32_known_value)
{
    /* The check value of CRC-32/ISO-HDLC. */
    ck_assert_uint_eq(vmm_crc32(0, "123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(vmm_crc32(vmm_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
}
END_TEST

START_TEST(round_trip)
{
    for (int trace = 0; trace <= 1; trace++) {
        struct vmm_ckpt c, d;
        sample(&c, 3, trace, 5);
        size_t len;
        uint8_t *buf = encode(&c, &len);
        char err[256];
        ck_assert_msg(decode(buf, len, 3, &d, err, sizeof(err)) == 0, "%s", err);
        ck_assert_mem_eq(&d.hdr.cpus, &c.hdr.cpus, sizeof(uint32_t));
        ck_assert_uint_eq(d.hdr.version, VMM_CKPT_VERSION);
        ck_assert_uint_eq(d.hdr.timeout, 4);
        ck_assert_mem_eq(d.memory, c.memory, RAM);
        ck_assert_mem_eq(&d.clock, &c.clock, sizeof(c.clock));
        ck_assert_mem_eq(d.vm_state, c.vm_state, VM_SIZE);
        ck_assert_mem_eq(d.vcpus, c.vcpus, 3 * VCPU_SIZE);
        for (int i = 0; i < 3; i++) {
            ck_assert_int_eq(d.host[i].irq_pending, c.host[i].irq_pending);
            ck_assert_int_eq(d.host[i].halted, c.host[i].halted);
            ck_assert_int_eq(d.host[i].wdt_enabled, c.host[i].wdt_enabled);
            ck_assert_int_eq(d.host[i].sleep_left_ns, c.host[i].sleep_left_ns);
        }
        ck_assert_str_eq(d.plugin_json, c.plugin_json);
        ck_assert_int_eq(d.has_trace, trace);
        if (trace) {
            ck_assert_str_eq(d.trace.text, c.trace.text);
            ck_assert_int_eq(d.trace.last_t, 77);
        }
        vmm_ckpt_free(&c);
        vmm_ckpt_free(&d);
        free(buf);
    }
}
END_TEST

/* A pipe like a socket: the reader stops at the end section and leaves what follows. */
START_TEST(reads_nothing_past_the_end)
{
    struct vmm_ckpt c, d;
    sample(&c, 1, false, 1);
    size_t len;
    uint8_t *buf = encode(&c, &len);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    if (fork() == 0) {
        close(sv[0]);
        char err[256];
        _exit(vmm_ckpt_write(sv[1], &c, err, sizeof(err)) == 0 &&
                      write(sv[1], "ack", 3) == 3 ? 0 : 1);
    }
    close(sv[1]);
    char err[256], tail[4] = {0};
    struct vmm_ckpt_shape want = ANY;
    want.cpus = 1;
    ck_assert_msg(vmm_ckpt_read(sv[0], &want, &d, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(read(sv[0], tail, 3), 3);
    ck_assert_str_eq(tail, "ack");
    close(sv[0]);
    vmm_ckpt_free(&c);
    vmm_ckpt_free(&d);
    free(buf);
}
END_TEST

START_TEST(write_to_a_closed_socket_is_epipe)
{
    struct vmm_ckpt c;
    sample(&c, 1, false, 1);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[0]);
    char err[256];
    ck_assert_int_eq(vmm_ckpt_write(sv[1], &c, err, sizeof(err)), -EPIPE);
    ck_assert_ptr_nonnull(strstr(err, "header"));
    close(sv[1]);
    vmm_ckpt_free(&c);
}
END_TEST

START_TEST(truncated_in_every_section)
{
    struct vmm_ckpt c;
    sample(&c, 2, true, 3);
    size_t len;
    uint8_t *buf = encode(&c, &len);
    struct layout l;
    walk(buf, len, &l);
    ck_assert_int_eq(l.count, 2 + 6 + 1);
    expect_refused(buf, 0, 0, "header", "truncated");
    expect_refused(buf, 30, 0, "header", "truncated");
    for (int s = 0; s < l.count; s++) {
        char what[48];
        snprintf(what, sizeof(what), "section '%s'", l.name[s]);
        /* Cut in its header, in its payload, and one byte short of its end. */
        expect_refused(buf, l.start[s], 0, what, "truncated");
        expect_refused(buf, l.start[s] + 10, 0, what, "truncated");
        expect_refused(buf, l.start[s] + l.len[s] - 1, 0, what, "truncated");
    }
    vmm_ckpt_free(&c);
    free(buf);
}
END_TEST

START_TEST(flipped_byte_in_every_section)
{
    struct vmm_ckpt c;
    sample(&c, 2, true, 4);
    size_t len;
    uint8_t *buf = encode(&c, &len);
    struct layout l;
    walk(buf, len, &l);
    /* The header: its magic, its version, and a field its checksum covers. */
    size_t at[] = {0, 8, 20, 50, 61};
    const char *says[] = {"magic", "version", "checksum", "checksum", "checksum"};
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        buf[at[i]] ^= 0x10;
        expect_refused(buf, len, 0, "header", says[i]);
        buf[at[i]] ^= 0x10;
    }
    for (int s = 0; s < l.count; s++) {
        char what[48];
        snprintf(what, sizeof(what), "section '%s'", l.name[s]);
        /* A byte of the payload, its first and its last, and the stored checksum. */
        size_t body = l.start[s] + VMM_CKPT_SECTION_HEADER_SIZE;
        size_t flips[] = {body, body + (l.len[s] - VMM_CKPT_SECTION_HEADER_SIZE) / 2,
                          l.start[s] + l.len[s] - 1, l.start[s] + 21};
        for (size_t i = 0; i < 4; i++) {
            buf[flips[i]] ^= 0x01;
            expect_refused(buf, len, 0, what, "checksum");
            buf[flips[i]] ^= 0x01;
        }
        /* Its type, and its length made huge: refused at once, no giant allocation. */
        buf[l.start[s]] ^= 0x40;
        expect_refused(buf, len, 0, what, "found a section");
        buf[l.start[s]] ^= 0x40;
        buf[l.start[s] + 14] ^= 0x7f;
        expect_refused(buf, len, 0, what, "length");
        buf[l.start[s] + 14] ^= 0x7f;
    }
    struct vmm_ckpt d;
    char err[256];
    ck_assert_msg(decode(buf, len, 0, &d, err, sizeof(err)) == 0, "%s", err);
    vmm_ckpt_free(&d);
    vmm_ckpt_free(&c);
    free(buf);
}
END_TEST

START_TEST(another_version)
{
    struct vmm_ckpt c;
    sample(&c, 2, false, 6);
    size_t len;
    uint8_t *buf = encode(&c, &len);
    /* A well-formed header of version 2: its checksum fixed, so only the version is wrong. */
    buf[8] = 2;
    uint32_t crc = vmm_crc32(0, buf, 60);
    memcpy(buf + 60, &crc, 4);
    expect_refused(buf, len, 0, "header", "format version 2");
    vmm_ckpt_free(&c);
    free(buf);
}
END_TEST

START_TEST(another_vcpu_count)
{
    struct vmm_ckpt c, d;
    sample(&c, 2, false, 7);
    size_t len;
    uint8_t *buf = encode(&c, &len);
    expect_refused(buf, len, 4, "header", "for 2 vCPUs");
    char err[256];
    ck_assert_msg(decode(buf, len, 2, &d, err, sizeof(err)) == 0, "%s", err);
    vmm_ckpt_free(&d);
    vmm_ckpt_free(&c);
    free(buf);
}
END_TEST

/* A reader built with other record sizes refuses the stream at the first record that differs. */
START_TEST(another_record_size)
{
    struct vmm_ckpt c, d;
    sample(&c, 2, false, 8);
    size_t len;
    uint8_t *buf = encode(&c, &len);
    int fd = memfd_create("ckpt", MFD_CLOEXEC);
    ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
    struct vmm_ckpt_shape want = ANY;
    want.vcpu_size = VCPU_SIZE + 8;
    char err[256];
    lseek(fd, 0, SEEK_SET);
    ck_assert_int_lt(vmm_ckpt_read(fd, &want, &d, err, sizeof(err)), 0);
    ck_assert_msg(strstr(err, "section 'vCPU 0': length"), "%s", err);
    want = ANY;
    want.vm_size = VM_SIZE - 1;
    lseek(fd, 0, SEEK_SET);
    ck_assert_int_lt(vmm_ckpt_read(fd, &want, &d, err, sizeof(err)), 0);
    ck_assert_msg(strstr(err, "section 'VM state': length"), "%s", err);
    close(fd);
    vmm_ckpt_free(&c);
    free(buf);
}
END_TEST

static Suite *ckpt_suite(void)
{
    Suite *s = suite_create("vmm_ckpt_format");
    TCase *tc = tcase_create("codec");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, crc32_known_value);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, reads_nothing_past_the_end);
    tcase_add_test(tc, write_to_a_closed_socket_is_epipe);
    tcase_add_test(tc, truncated_in_every_section);
    tcase_add_test(tc, flipped_byte_in_every_section);
    tcase_add_test(tc, another_version);
    tcase_add_test(tc, another_vcpu_count);
    tcase_add_test(tc, another_record_size);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(ckpt_suite)
