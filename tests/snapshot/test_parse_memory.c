/*
 * The decoder's parse under memory pressure (snapshot/wdt_json_arena.c): the memory reserved
 * before a parse must suffice for every text within the length and depth limits, however it
 * is shaped, so that jansson never meets a failing allocation; decoders on several threads at
 * once each use their own reservation; and the refusal of a text jansson cannot parse reports
 * jansson's own reason, never an error code it did not write.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wdt_snapshot.h"
#include "vmwdt_test.h"

#define LIMIT_1CPU (64 * 1024 + 4096)

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

static uint64_t overflows(void)
{
    struct wdt_snap_parse_stats ps;
    wdt_snap_parse_stats(&ps);
    return ps.overflows;
}

/* A text of exactly len bytes: head, then unit repeated, then tail (unit cut to fit). */
static char *shaped(const char *head, const char *unit, const char *tail, size_t len)
{
    char *s = malloc(len + 1);
    ck_assert_ptr_nonnull(s);
    size_t h = strlen(head), t = strlen(tail), u = strlen(unit), n = h;
    memcpy(s, head, h);
    while (n + u + t <= len) {
        memcpy(s + n, unit, u);
        n += u;
    }
    memcpy(s + n, tail, t);
    s[n + t] = '\0';
    return s;
}

/* Decodes text for one vCPU; the parse must fit its reservation whatever the outcome. */
static int decode_fits(const char *text, struct logbuf *l)
{
    uint64_t before = overflows();
    struct wdt_snap out;
    memset(l, 0, sizeof(*l));
    int rc = wdt_snap_decode(text, 1, &out, capture, l);
    if (rc == 0)
        wdt_snap_release(&out);
    ck_assert_msg(overflows() == before, "a parse outgrew its reservation (rc %d)", rc);
    ck_assert_int_ne(rc, -ENOMEM);
    return rc;
}

/* The densest shapes jansson allocates for, each as long as the limit allows. */
START_TEST(every_shape_fits_its_reservation)
{
    static const struct {
        const char *head, *unit, *tail;
    } shapes[] = {
        { "[", "{},", "{}]" },           /* objects: struct and buckets for 3 bytes */
        { "[", "[],", "[]]" },           /* arrays: struct and table */
        { "[", "0,", "0]" },             /* integers: a value and a slot for 2 bytes */
        { "[", "1e5,", "1]" },           /* reals */
        { "[", "\"\",", "\"\"]" },       /* empty strings */
        { "[", "true,", "null]" },       /* literals: no allocation, but lexing */
        { "{\"x\":[", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]]]]]]]]]]],", "0]}" },
        { "{\"", "\\u00e9\\ud83d\\ude00", "\":1}" },  /* one long key of escapes */
        { "[\"", "x", "\"]" },           /* one long string */
        { "[", "123456789012345678901234567890", "]" }, /* one long number */
        { "[", " \t\r\n", "0]" },        /* white space */
    };
    struct logbuf l;
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        char *s = shaped(shapes[i].head, shapes[i].unit, shapes[i].tail, LIMIT_1CPU);
        ck_assert_int_lt(decode_fits(s, &l), 0);
        free(s);
    }
    /* Objects of many distinct keys, which make jansson rehash again and again. */
    size_t cap = LIMIT_1CPU, n = 0;
    char *keys = malloc(cap + 1);
    n += (size_t)snprintf(keys, cap, "{\"x\":{");
    for (int k = 0; n + 16 < cap; k++)
        n += (size_t)snprintf(keys + n, cap - n, "\"%x\":%d,", k, k);
    snprintf(keys + n, cap - n, "\"end\":0}}");
    ck_assert_int_lt(decode_fits(keys, &l), 0);
    free(keys);
}
END_TEST

/* An accepted document that carries a large unknown key is parsed within its reservation too. */
START_TEST(accepted_document_with_bulk_fits)
{
    const char *head = "{\"format\":\"vmwdt-snapshot\",\"version\":1,\"cpu_count\":1,"
                       "\"activated\":false,\"vm_wdts\":[{\"is_enabled\":false,"
                       "\"timer_freq_hz\":0,\"load_cnt\":0,\"last_guest_time_ms\":0,"
                       "\"next_expiration_interval_ms\":0,\"repeating_interval\":null,"
                       "\"stall_evt_ppi_triggered\":false,\"stopped\":false}],\"bulk\":[";
    char *s = shaped(head, "{\"a\":[1,2.5,\"z\"]},", "0]}", LIMIT_1CPU);
    struct logbuf l;
    ck_assert_int_eq(decode_fits(s, &l), 0);
    free(s);
}
END_TEST

/* jansson's reason is in the message; a text it refuses is -EINVAL, never -ENOMEM. */
START_TEST(refusal_reports_jansson_reason)
{
    struct logbuf l;
    ck_assert_int_eq(decode_fits("{\"format\": tru}", &l), -EINVAL);
    ck_assert_int_eq(l.count, 1);
    ck_assert_ptr_nonnull(strstr(l.last, "not a JSON document: invalid token"));
    ck_assert_int_eq(decode_fits("", &l), -EINVAL);
    ck_assert_ptr_nonnull(strstr(l.last, "not a JSON document"));
    ck_assert_int_eq(decode_fits("[1e999999]", &l), -ERANGE);
}
END_TEST

struct worker {
    const char *doc;
    int expect;
    int wrong;
};

static void *decode_loop(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 300; i++) {
        struct wdt_snap out;
        int rc = wdt_snap_decode(w->doc, 1, &out, NULL, NULL);
        if (rc == 0)
            wdt_snap_release(&out);
        w->wrong += rc != w->expect;
    }
    return NULL;
}

static void *encode_loop(void *arg)
{
    struct worker *w = arg;
    struct wdt_snap_vcpu v = { .is_enabled = true, .timer_freq_hz = 10, .load_cnt = 20,
                               .budget_ns = 5, .window_ns = 7 };
    struct wdt_snap s = { .cpu_count = 1, .activated = true, .vcpus = &v };
    for (int i = 0; i < 300; i++) {
        char *json = NULL;
        int rc = wdt_snap_encode(&s, &json);
        struct wdt_snap back;
        if (rc == 0 && wdt_snap_decode(json, 1, &back, NULL, NULL) == 0) {
            w->wrong += back.vcpus[0].window_ns != 7 || back.vcpus[0].budget_ns != 5;
            wdt_snap_release(&back);
        } else {
            w->wrong++;
        }
        free(json);
    }
    return NULL;
}

/* Each decoding thread has its own reservation; encoding meanwhile uses plain malloc(). */
START_TEST(threads_decode_and_encode_at_once)
{
    char *good = NULL;
    struct wdt_snap_vcpu v = { .is_enabled = true, .timer_freq_hz = 1000, .load_cnt = 10,
                               .budget_ns = 3000000, .window_ns = 10000000 };
    struct wdt_snap s = { .cpu_count = 1, .activated = true, .vcpus = &v };
    ck_assert_int_eq(wdt_snap_encode(&s, &good), 0);
    struct worker w[5] = {
        { good, 0, 0 }, { "[[[[[[[[]]]]]]]]", -EINVAL, 0 }, { good, 0, 0 },
        { "{\"vm_wdts\": [1, 2, 3], \"a\": \"\\u00e9\"}", -EINVAL, 0 }, { NULL, 0, 0 },
    };
    pthread_t t[5];
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, i == 4 ? encode_loop : decode_loop, &w[i]), 0);
    for (int i = 0; i < 5; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(w[i].wrong == 0, "thread %d: %d wrong results", i, w[i].wrong);
    }
    free(good);
    ck_assert_uint_eq(overflows(), 0);
}
END_TEST

static Suite *parse_suite(void)
{
    Suite *s = suite_create("snapshot_parse_memory");
    TCase *tc = tcase_create("parse");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_shape_fits_its_reservation);
    tcase_add_test(tc, accepted_document_with_bulk_fits);
    tcase_add_test(tc, refusal_reports_jansson_reason);
    tcase_add_test(tc, threads_decode_and_encode_at_once);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(parse_suite)
