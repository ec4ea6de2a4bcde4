/*
 * Unit tests of the snapshot codec (snapshot/wdt_snapshot.c) on its own: encode/decode round
 * trips, the exact shape of the document, crosvm import, and the refusals with the error and
 * the field each one names.
 */
#define _GNU_SOURCE /* asprintf */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wdt_snapshot.h"
#include "vmwdt_test.h"

/* Every message the codec logged during one call. */
struct logbuf {
    int count;
    char last[512];
};

static void capture(void *ctx, int level, const char *msg)
{
    struct logbuf *l = ctx;
    (void)level;
    l->count++;
    snprintf(l->last, sizeof(l->last), "%s", msg);
}

/* Decodes doc for cpus vCPUs; checks that a refusal logs one message and leaves out alone. */
static int decode(const char *doc, uint32_t cpus, struct wdt_snap *out, struct logbuf *l)
{
    struct wdt_snap sentinel = { .cpu_count = 0xdead, .activated = true, .vcpus = (void *)out };
    *out = sentinel;
    memset(l, 0, sizeof(*l));
    int rc = wdt_snap_decode(doc, cpus, out, capture, l);
    if (rc < 0) {
        ck_assert_int_eq(l->count, 1);
        ck_assert_uint_eq(out->cpu_count, 0xdead);
        ck_assert_ptr_eq(out->vcpus, (void *)out);
    } else {
        ck_assert_int_eq(l->count, 0);
    }
    return rc;
}

/* Expects doc to be refused with err and a message naming field. */
static void expect_refused(const char *doc, uint32_t cpus, int err, const char *field)
{
    struct wdt_snap s;
    struct logbuf l;
    int rc = decode(doc, cpus, &s, &l);
    ck_assert_msg(rc == err, "expected %d, got %d for %s (log: %s)", err, rc, doc, l.last);
    ck_assert_msg(strstr(l.last, field) != NULL, "message '%s' does not name '%s'", l.last,
                  field);
}

static const struct wdt_snap_vcpu SAMPLE[4] = {
    /* Disabled, never used. */
    { false, 0, 0, 0, 0, 0, false, false },
    /* Counting its first window: 8 s at 10 Hz, 6.5 s and 1 ns left. */
    { true, 10, 80, 1234, 6500000001, 8000000000, false, false },
    /* Second window of IRQ_THEN_RESET, f rewritten since the pet. */
    { true, 1000, 80, -5, 1, 8000000000, true, false },
    /* Stopped after its final expiry, the largest window there is. */
    { true, 1, UINT32_MAX, 99, 0, (int64_t)UINT32_MAX * 1000000000, true, true },
};

static void assert_vcpu_eq(const struct wdt_snap_vcpu *a, const struct wdt_snap_vcpu *b)
{
    ck_assert_int_eq(a->is_enabled, b->is_enabled);
    ck_assert_uint_eq(a->timer_freq_hz, b->timer_freq_hz);
    ck_assert_uint_eq(a->load_cnt, b->load_cnt);
    ck_assert_int_eq(a->last_guest_time_ms, b->last_guest_time_ms);
    ck_assert_int_eq(a->budget_ns, b->budget_ns);
    ck_assert_int_eq(a->window_ns, b->window_ns);
    ck_assert_int_eq(a->stall_evt_ppi_triggered, b->stall_evt_ppi_triggered);
    ck_assert_int_eq(a->stopped, b->stopped);
}

static char *encode_sample(void)
{
    struct wdt_snap s = { 4, true, (struct wdt_snap_vcpu *)SAMPLE };
    char *doc = NULL;
    ck_assert_int_eq(wdt_snap_encode(&s, &doc), 0);
    ck_assert_ptr_nonnull(doc);
    return doc;
}

START_TEST(round_trip_is_exact)
{
    char *doc = encode_sample();
    struct wdt_snap out;
    struct logbuf l;
    ck_assert_int_eq(decode(doc, 4, &out, &l), 0);
    ck_assert_uint_eq(out.cpu_count, 4);
    ck_assert(out.activated);
    for (int i = 0; i < 4; i++)
        assert_vcpu_eq(&out.vcpus[i], &SAMPLE[i]);

    /* Encoding what was decoded gives the same text. */
    char *again = NULL;
    ck_assert_int_eq(wdt_snap_encode(&out, &again), 0);
    ck_assert_str_eq(again, doc);
    free(again);
    wdt_snap_release(&out);
    ck_assert_ptr_null(out.vcpus);
    free(doc);
}
END_TEST

/* The document has exactly the keys of DESIGN.md section 5 plus our two ns keys. */
START_TEST(document_shape)
{
    char *doc = encode_sample();
    json_error_t e;
    json_t *root = json_loads(doc, JSON_REJECT_DUPLICATES, &e);
    ck_assert_ptr_nonnull(root);
    ck_assert_uint_eq(json_object_size(root), 5);
    ck_assert_str_eq(json_string_value(json_object_get(root, "format")), "vmwdt-snapshot");
    ck_assert(json_is_integer(json_object_get(root, "version")));
    ck_assert_int_eq(json_integer_value(json_object_get(root, "version")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(root, "cpu_count")), 4);
    ck_assert(json_is_true(json_object_get(root, "activated")));
    json_t *arr = json_object_get(root, "vm_wdts");
    ck_assert_uint_eq(json_array_size(arr), 4);
    static const char *const keys[] = {
        "is_enabled", "timer_freq_hz", "load_cnt", "last_guest_time_ms",
        "next_expiration_interval_ms", "repeating_interval", "stall_evt_ppi_triggered",
        "stopped", "next_expiration_interval_ns", "window_ns",
    };
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_array_get(arr, i);
        ck_assert_uint_eq(json_object_size(v), sizeof(keys) / sizeof(keys[0]));
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            ck_assert_msg(json_object_get(v, keys[k]) != NULL, "missing %s", keys[k]);
        ck_assert(json_is_null(json_object_get(v, "repeating_interval")));
    }
    json_t *v1 = json_array_get(arr, 1);
    ck_assert(json_is_true(json_object_get(v1, "is_enabled")));
    ck_assert_int_eq(json_integer_value(json_object_get(v1, "timer_freq_hz")), 10);
    ck_assert_int_eq(json_integer_value(json_object_get(v1, "load_cnt")), 80);
    ck_assert_int_eq(json_integer_value(json_object_get(v1, "last_guest_time_ms")), 1234);
    ck_assert_int_eq(json_integer_value(json_object_get(v1, "next_expiration_interval_ns")),
                     6500000001);
    ck_assert_int_eq(json_integer_value(json_object_get(v1, "window_ns")), 8000000000);
    json_decref(root);
    free(doc);
}
END_TEST

/* next_expiration_interval_ms is the budget rounded up to a whole millisecond. */
START_TEST(milliseconds_round_up)
{
    static const struct { int64_t ns, ms; } cases[] = {
        { 0, 0 }, { 1, 1 }, { 999999, 1 }, { 1000000, 1 }, { 1000001, 2 },
        { 5000000000, 5000 }, { 6500000001, 6501 },
        { (int64_t)UINT32_MAX * 1000000000, (int64_t)UINT32_MAX * 1000 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wdt_snap_vcpu v = { true, 1, UINT32_MAX, 0, cases[i].ns,
                                   (int64_t)UINT32_MAX * 1000000000, false, false };
        struct wdt_snap s = { 1, true, &v };
        char *doc = NULL;
        ck_assert_int_eq(wdt_snap_encode(&s, &doc), 0);
        json_t *root = json_loads(doc, 0, NULL);
        json_t *o = json_array_get(json_object_get(root, "vm_wdts"), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(o, "next_expiration_interval_ms")),
                         cases[i].ms);
        json_decref(root);
        free(doc);
    }
}
END_TEST

START_TEST(encode_refuses_bad_state)
{
    struct wdt_snap_vcpu v;
    struct wdt_snap s = { 1, true, &v };
    char *doc = (char *)"untouched";
    const struct wdt_snap_vcpu ok = { true, 10, 80, 0, 100, 8000000000, false, false };

    v = ok;
    v.budget_ns = -1;
    ck_assert_int_eq(wdt_snap_encode(&s, &doc), -EINVAL);
    v = ok;
    v.window_ns = 99; /* shorter than the budget */
    ck_assert_int_eq(wdt_snap_encode(&s, &doc), -EINVAL);
    v = ok;
    v.window_ns = (int64_t)UINT32_MAX * 1000000000 + 1;
    ck_assert_int_eq(wdt_snap_encode(&s, &doc), -EINVAL);
    v = ok;
    v.is_enabled = false;
    v.stopped = true;
    ck_assert_int_eq(wdt_snap_encode(&s, &doc), -EINVAL);
    v = ok;
    s.activated = false; /* enabled although never activated */
    ck_assert_int_eq(wdt_snap_encode(&s, &doc), -EINVAL);
    s.activated = true;
    s.cpu_count = 0;
    ck_assert_int_eq(wdt_snap_encode(&s, &doc), -EINVAL);
    s.cpu_count = 4097;
    ck_assert_int_eq(wdt_snap_encode(&s, &doc), -EINVAL);
    s.cpu_count = 1;
    s.vcpus = NULL;
    ck_assert_int_eq(wdt_snap_encode(&s, &doc), -EINVAL);
    ck_assert_int_eq(wdt_snap_encode(NULL, &doc), -EINVAL);
    ck_assert_str_eq(doc, "untouched");
    s.vcpus = &v;
    ck_assert_int_eq(wdt_snap_encode(&s, NULL), -EINVAL);
}
END_TEST

/* A document as crosvm's serde_json snapshot writes it (two vCPUs). */
static const char CROSVM_DOC[] =
    "{\"vm_wdts\":["
    "{\"is_enabled\":true,\"timer_freq_hz\":2,\"last_guest_time_ms\":41250,"
    "\"thread_id\":4242,\"process_id\":4200,\"next_expiration_interval_ms\":6500,"
    "\"stall_evt_ppi_triggered\":false,"
    "\"repeating_interval\":{\"secs\":0,\"nanos\":500000000}},"
    "{\"is_enabled\":true,\"timer_freq_hz\":2,\"last_guest_time_ms\":40000,"
    "\"thread_id\":4243,\"process_id\":4200,\"next_expiration_interval_ms\":250,"
    "\"stall_evt_ppi_triggered\":true,\"repeating_interval\":null}"
    "],\"activated\":true}";

START_TEST(crosvm_import)
{
    struct wdt_snap out;
    struct logbuf l;
    ck_assert_int_eq(decode(CROSVM_DOC, 2, &out, &l), 0);
    ck_assert_uint_eq(out.cpu_count, 2);
    ck_assert(out.activated);
    const struct wdt_snap_vcpu want[2] = {
        /* No load_cnt: the window is the budget; no stopped: false. */
        { true, 2, 0, 41250, 6500000000, 6500000000, false, false },
        { true, 2, 0, 40000, 250000000, 250000000, true, false },
    };
    assert_vcpu_eq(&out.vcpus[0], &want[0]);
    assert_vcpu_eq(&out.vcpus[1], &want[1]);

    /* Re-encoded, it becomes our own document. */
    char *doc = NULL;
    ck_assert_int_eq(wdt_snap_encode(&out, &doc), 0);
    ck_assert_ptr_nonnull(strstr(doc, "\"format\": \"vmwdt-snapshot\""));
    wdt_snap_release(&out);
    free(doc);

    /* The wrong number of vCPUs is refused for crosvm documents too. */
    expect_refused(CROSVM_DOC, 3, -EINVAL, "vm_wdts");
}
END_TEST

/* crosvm's restore struct needs neither stall_evt_ppi_triggered nor repeating_interval. */
START_TEST(crosvm_minimal)
{
    const char *doc = "{\"activated\":false,\"vm_wdts\":[{\"is_enabled\":false,"
                      "\"timer_freq_hz\":0,\"last_guest_time_ms\":0,"
                      "\"next_expiration_interval_ms\":0}]}";
    struct wdt_snap out;
    struct logbuf l;
    ck_assert_int_eq(decode(doc, 1, &out, &l), 0);
    const struct wdt_snap_vcpu want = { false, 0, 0, 0, 0, 0, false, false };
    assert_vcpu_eq(&out.vcpus[0], &want);
    wdt_snap_release(&out);

    /* An extra key of ours in a crosvm document is still checked. */
    expect_refused("{\"activated\":true,\"vm_wdts\":[{\"is_enabled\":true,\"timer_freq_hz\":2,"
                   "\"last_guest_time_ms\":0,\"next_expiration_interval_ms\":10,"
                   "\"stopped\":1}]}",
                   1, -EINVAL, "vm_wdts[0].stopped");
    /* A document that has a version but no format is not crosvm's. */
    expect_refused("{\"version\":1,\"activated\":false,\"vm_wdts\":[]}", 1, -EINVAL, "format");
}
END_TEST

/* One of our documents for one vCPU: activated as given, vm_wdts[0]'s members are body. */
static char *doc1_act(const char *activated, const char *body)
{
    char *s = NULL;
    if (asprintf(&s, "{\"format\":\"vmwdt-snapshot\",\"version\":1,\"cpu_count\":1,"
                     "\"activated\":%s,\"vm_wdts\":[{%s}]}", activated, body) < 0)
        ck_abort();
    return s;
}

static char *doc1(const char *body)
{
    return doc1_act("true", body);
}

#define BASE "\"is_enabled\":true,\"timer_freq_hz\":10,\"load_cnt\":80,\"last_guest_time_ms\":0," \
             "\"repeating_interval\":null,\"stall_evt_ppi_triggered\":false,\"stopped\":false"

static int64_t decode_one(const char *body, int64_t *window, int *rc)
{
    char *doc = doc1(body);
    struct wdt_snap out;
    struct logbuf l;
    int64_t budget = -1;
    *rc = decode(doc, 1, &out, &l);
    if (*rc == 0) {
        budget = out.vcpus[0].budget_ns;
        *window = out.vcpus[0].window_ns;
        wdt_snap_release(&out);
    }
    free(doc);
    return budget;
}

START_TEST(budget_from_ns_or_ms)
{
    int64_t w = 0;
    int rc;
    /* Without the ns key: ms * 1e6; the window from load_cnt / f. */
    ck_assert_int_eq(decode_one(BASE ",\"next_expiration_interval_ms\":6500", &w, &rc),
                     6500000000);
    ck_assert_int_eq(w, 8000000000);
    /* The ns key wins when it agrees to within a millisecond, either side. */
    ck_assert_int_eq(decode_one(BASE ",\"next_expiration_interval_ms\":5,"
                                "\"next_expiration_interval_ns\":4000001", &w, &rc), 4000001);
    ck_assert_int_eq(decode_one(BASE ",\"next_expiration_interval_ms\":5,"
                                "\"next_expiration_interval_ns\":5999999", &w, &rc), 5999999);
    ck_assert_int_eq(decode_one(BASE ",\"next_expiration_interval_ms\":5,"
                                "\"next_expiration_interval_ns\":4000000", &w, &rc), -1);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_int_eq(decode_one(BASE ",\"next_expiration_interval_ms\":5,"
                                "\"next_expiration_interval_ns\":6000000", &w, &rc), -1);
    ck_assert_int_eq(rc, -EINVAL);
    /* window_ns wins over load_cnt / f. */
    ck_assert_int_eq(decode_one(BASE ",\"next_expiration_interval_ms\":1,\"window_ns\":77000000",
                                &w, &rc), 1000000);
    ck_assert_int_eq(w, 77000000);
    /* A derived window never falls short of the budget. */
    ck_assert_int_eq(decode_one(BASE ",\"next_expiration_interval_ms\":9000", &w, &rc),
                     9000000000);
    ck_assert_int_eq(w, 9000000000);
}
END_TEST

START_TEST(window_without_frequency)
{
    int64_t w = 0;
    int rc;
    const char *body = "\"is_enabled\":true,\"timer_freq_hz\":0,\"load_cnt\":80,"
                       "\"last_guest_time_ms\":0,\"repeating_interval\":null,"
                       "\"stall_evt_ppi_triggered\":false,\"stopped\":false,"
                       "\"next_expiration_interval_ms\":300";
    ck_assert_int_eq(decode_one(body, &w, &rc), 300000000);
    ck_assert_int_eq(w, 300000000);
}
END_TEST

/* Each refusal: its error and the field its message names. */
START_TEST(refusals_name_the_field)
{
    static const struct {
        const char *body;
        int err;
        const char *field;
    } cases[] = {
        { BASE, -EINVAL, "vm_wdts[0].next_expiration_interval_ms" },
        { BASE ",\"next_expiration_interval_ms\":-1", -ERANGE,
          "vm_wdts[0].next_expiration_interval_ms" },
        { BASE ",\"next_expiration_interval_ms\":4294967295001", -ERANGE,
          "vm_wdts[0].next_expiration_interval_ms" },
        { BASE ",\"next_expiration_interval_ms\":1.5", -EINVAL,
          "vm_wdts[0].next_expiration_interval_ms" },
        { BASE ",\"next_expiration_interval_ms\":1,\"next_expiration_interval_ns\":-1", -ERANGE,
          "vm_wdts[0].next_expiration_interval_ns" },
        { BASE ",\"next_expiration_interval_ms\":1,\"window_ns\":999999", -EINVAL,
          "vm_wdts[0].window_ns" },
        { BASE ",\"next_expiration_interval_ms\":1,\"window_ns\":\"8\"", -EINVAL,
          "vm_wdts[0].window_ns" },
        { "\"is_enabled\":1,\"timer_freq_hz\":10,\"load_cnt\":80,\"last_guest_time_ms\":0,"
          "\"next_expiration_interval_ms\":1,\"repeating_interval\":null,"
          "\"stall_evt_ppi_triggered\":false,\"stopped\":false",
          -EINVAL, "vm_wdts[0].is_enabled" },
        { "\"is_enabled\":true,\"timer_freq_hz\":4294967296,\"load_cnt\":80,"
          "\"last_guest_time_ms\":0,\"next_expiration_interval_ms\":1,"
          "\"repeating_interval\":null,\"stall_evt_ppi_triggered\":false,\"stopped\":false",
          -ERANGE, "vm_wdts[0].timer_freq_hz" },
        { "\"is_enabled\":true,\"timer_freq_hz\":10,\"load_cnt\":-80,"
          "\"last_guest_time_ms\":0,\"next_expiration_interval_ms\":1,"
          "\"repeating_interval\":null,\"stall_evt_ppi_triggered\":false,\"stopped\":false",
          -ERANGE, "vm_wdts[0].load_cnt" },
        { "\"is_enabled\":true,\"timer_freq_hz\":10,\"load_cnt\":80,"
          "\"last_guest_time_ms\":9223372036854775807,\"next_expiration_interval_ms\":1,"
          "\"repeating_interval\":null,\"stall_evt_ppi_triggered\":false,\"stopped\":false",
          -ERANGE, "vm_wdts[0].last_guest_time_ms" },
        { "\"is_enabled\":true,\"timer_freq_hz\":10,\"load_cnt\":80,"
          "\"last_guest_time_ms\":0,\"next_expiration_interval_ms\":1,"
          "\"repeating_interval\":{\"secs\":1,\"nanos\":1000000000},"
          "\"stall_evt_ppi_triggered\":false,\"stopped\":false",
          -ERANGE, "vm_wdts[0].repeating_interval.nanos" },
        { "\"is_enabled\":true,\"timer_freq_hz\":10,\"load_cnt\":80,"
          "\"last_guest_time_ms\":0,\"next_expiration_interval_ms\":1,"
          "\"repeating_interval\":{\"nanos\":0},"
          "\"stall_evt_ppi_triggered\":false,\"stopped\":false",
          -EINVAL, "vm_wdts[0].repeating_interval.secs" },
        { "\"is_enabled\":true,\"timer_freq_hz\":10,\"load_cnt\":80,"
          "\"last_guest_time_ms\":0,\"next_expiration_interval_ms\":1,"
          "\"repeating_interval\":100,\"stall_evt_ppi_triggered\":false,\"stopped\":false",
          -EINVAL, "vm_wdts[0].repeating_interval" },
        { "\"is_enabled\":false,\"timer_freq_hz\":10,\"load_cnt\":80,"
          "\"last_guest_time_ms\":0,\"next_expiration_interval_ms\":1,"
          "\"repeating_interval\":null,\"stall_evt_ppi_triggered\":true,\"stopped\":true",
          -EINVAL, "vm_wdts[0].stopped" },
        { "\"is_enabled\":true,\"timer_freq_hz\":10,\"last_guest_time_ms\":0,"
          "\"next_expiration_interval_ms\":1,\"repeating_interval\":null,"
          "\"stall_evt_ppi_triggered\":false,\"stopped\":false",
          -EINVAL, "vm_wdts[0].load_cnt" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *doc = doc1(cases[i].body);
        expect_refused(doc, 1, cases[i].err, cases[i].field);
        free(doc);
    }
}
END_TEST

START_TEST(refusals_at_the_root)
{
    expect_refused("", 1, -EINVAL, "document");
    expect_refused("[]", 1, -EINVAL, "document");
    expect_refused("{\"format\":\"vmwdt-snapshot\",\"version\":1,\"format\":\"x\"}", 1, -EINVAL,
                   "document");
    expect_refused("{\"format\":\"vmwdt-snapshot\",\"version\":99999999999999999999}", 1,
                   -ERANGE, "document");
    expect_refused("{\"format\":\"vmwdt\",\"version\":1}", 1, -EINVAL, "format");
    expect_refused("{\"format\":\"vmwdt-snapshot\",\"version\":2,\"bogus\":[]}", 1, -ENOTSUP,
                   "version");
    expect_refused("{\"format\":\"vmwdt-snapshot\",\"version\":0}", 1, -ERANGE, "version");
    expect_refused("{\"format\":\"vmwdt-snapshot\",\"version\":1.0}", 1, -EINVAL, "version");
    expect_refused("{\"format\":\"vmwdt-snapshot\",\"version\":1,\"cpu_count\":2}", 1, -EINVAL,
                   "cpu_count");
    expect_refused("{\"format\":\"vmwdt-snapshot\",\"version\":1,\"cpu_count\":1}", 1, -EINVAL,
                   "activated");
    expect_refused("{\"format\":\"vmwdt-snapshot\",\"version\":1,\"cpu_count\":1,"
                   "\"activated\":false}", 1, -EINVAL, "vm_wdts");
    expect_refused("{\"format\":\"vmwdt-snapshot\",\"version\":1,\"cpu_count\":1,"
                   "\"activated\":false,\"vm_wdts\":{}}", 1, -EINVAL, "vm_wdts");
    expect_refused("{\"format\":\"vmwdt-snapshot\",\"version\":1,\"cpu_count\":1,"
                   "\"activated\":false,\"vm_wdts\":[7]}", 1, -EINVAL, "vm_wdts[0]");
    char *doc = doc1_act("0", BASE ",\"next_expiration_interval_ms\":1");
    expect_refused(doc, 1, -EINVAL, "activated");
    free(doc);
    /* Enabled but never activated. */
    doc = doc1_act("false", BASE ",\"next_expiration_interval_ms\":1");
    expect_refused(doc, 1, -EINVAL, "activated");
    free(doc);
    /* The device's own vCPU count must be sane. */
    expect_refused("{}", 0, -EINVAL, "cpu_count");
    expect_refused("{}", 4097, -EINVAL, "cpu_count");
}
END_TEST

START_TEST(nul_in_strings_and_keys)
{
    expect_refused("{\"format\":\"vmwdt-snapshot\\u0000\",\"version\":1}", 1, -EINVAL,
                   "document");
    expect_refused("{\"for\\u0000mat\":\"vmwdt-snapshot\",\"version\":1}", 1, -EINVAL,
                   "document");
}
END_TEST

/* Nesting and length are bounded before the parser runs. */
START_TEST(depth_and_length_limits)
{
    char deep[200];
    /* 33 levels in an unknown key is refused; brackets inside strings do not count. */
    int n = snprintf(deep, sizeof(deep), "{\"x\":");
    for (int i = 0; i < 32; i++)
        deep[n++] = '[';
    deep[n] = '\0';
    expect_refused(deep, 1, -EINVAL, "document");

    char *ok = doc1(BASE ",\"next_expiration_interval_ms\":1,\"note\":\"[[[[[[[[[[[[[[[[[[[["
                    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[\"");
    struct wdt_snap out;
    struct logbuf l;
    ck_assert_int_eq(decode(ok, 1, &out, &l), 0);
    wdt_snap_release(&out);
    free(ok);

    /* 64 KiB + 4 KiB per vCPU at most. */
    size_t big = 64 * 1024 + 4096 + 1;
    char *text = malloc(big + 1);
    memset(text, ' ', big);
    text[0] = '{';
    text[big - 1] = '}';
    text[big] = '\0';
    expect_refused(text, 1, -EINVAL, "document");
    text[big - 2] = '}';
    text[big - 1] = '\0';
    ck_assert_int_eq(decode(text, 1, &out, &l), -EINVAL);
    ck_assert_ptr_null(strstr(l.last, "longer"));
    free(text);
}
END_TEST

START_TEST(decode_null_arguments)
{
    struct wdt_snap out;
    struct logbuf l;
    ck_assert_int_eq(decode(NULL, 1, &out, &l), -EINVAL);
    ck_assert_int_eq(wdt_snap_decode("{}", 1, NULL, NULL, NULL), -EINVAL);
    /* Without a log sink a refusal still returns its error. */
    ck_assert_int_eq(wdt_snap_decode("nope", 1, &out, NULL, NULL), -EINVAL);
    wdt_snap_release(NULL);
}
END_TEST

static Suite *codec_suite(void)
{
    Suite *s = suite_create("snapshot_codec");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, round_trip_is_exact);
    tcase_add_test(tc, document_shape);
    tcase_add_test(tc, milliseconds_round_up);
    tcase_add_test(tc, encode_refuses_bad_state);
    tcase_add_test(tc, crosvm_import);
    tcase_add_test(tc, crosvm_minimal);
    tcase_add_test(tc, budget_from_ns_or_ms);
    tcase_add_test(tc, window_without_frequency);
    tcase_add_test(tc, refusals_name_the_field);
    tcase_add_test(tc, refusals_at_the_root);
    tcase_add_test(tc, nul_in_strings_and_keys);
    tcase_add_test(tc, depth_and_length_limits);
    tcase_add_test(tc, decode_null_arguments);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(codec_suite)
