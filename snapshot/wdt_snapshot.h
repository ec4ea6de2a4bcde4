/*
 * The snapshot codec: the device state of DESIGN.md section 5 as plain values, to and from the
 * JSON document, with jansson. It knows nothing of threads, clocks or the core's internals; the
 * plugin fills and reads struct wdt_snap.
 */
#ifndef WDT_SNAPSHOT_H
#define WDT_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WDT_SNAP_FORMAT "vmwdt-snapshot"
#define WDT_SNAP_VERSION 1

struct wdt_snap_vcpu {
    bool is_enabled;
    uint32_t timer_freq_hz;     /* CLOCK_FREQ_HZ as last written */
    uint32_t load_cnt;          /* LOAD_CNT as last written (0 in a crosvm document) */
    int64_t last_guest_time_ms; /* guest clock at the last pet or enable, informative */
    int64_t budget_ns;          /* guest time left in the current window, >= 0 */
    int64_t window_ns;          /* length of the current window, >= 0 */
    bool stall_evt_ppi_triggered; /* interrupt raised and not cleared */
    bool stopped;               /* countdown stopped after its final expiry */
};

struct wdt_snap {
    uint32_t cpu_count;
    bool activated;
    struct wdt_snap_vcpu *vcpus; /* cpu_count entries; owned by whoever filled the struct */
};

/* Log sink for the reasons a document is refused (syslog level, message). */
typedef void (*wdt_snap_log_fn)(void *ctx, int level, const char *msg);

/*
 * Encodes s as a snapshot document. On success *json_out is a new string the caller frees with
 * free(). Returns 0, -EINVAL (bad s) or -ENOMEM.
 */
int wdt_snap_encode(const struct wdt_snap *s, char **json_out);

/*
 * Decodes and validates a document for a device of expect_cpus vCPUs. Accepts this project's
 * document and crosvm's serde_json-era one. On success fills *out (out->vcpus is a new array the
 * caller releases with wdt_snap_release()). On failure *out is untouched and log (may be NULL)
 * receives one message naming the field and the reason. Returns 0, -EINVAL (not a document,
 * wrong type, missing field, wrong cpu_count), -ERANGE (value out of range), -ENOTSUP (newer
 * version) or -ENOMEM.
 */
int wdt_snap_decode(const char *json, uint32_t expect_cpus, struct wdt_snap *out,
                    wdt_snap_log_fn log, void *log_ctx);

/* Frees what wdt_snap_decode() allocated in s. */
void wdt_snap_release(struct wdt_snap *s);

/*
 * How the decoder's memory reservations fared since the process started, for the tests and fuzz
 * targets: the reservation made before a parse must always suffice (overflows stays 0).
 */
struct wdt_snap_parse_stats {
    uint64_t parses;    /* parses that got their reservation */
    uint64_t overflows; /* parses that needed more than was reserved */
    uint64_t max_used;  /* the most bytes one parse used */
};
void wdt_snap_parse_stats(struct wdt_snap_parse_stats *out);

/*
 * For the tests only: reserve this many bytes before each parse instead of the bound (0 goes
 * back to the bound), so that the paths taken when a reservation falls short can be tested.
 */
void wdt_snap_parse_test_reserve(size_t bytes);

#endif /* WDT_SNAPSHOT_H */
