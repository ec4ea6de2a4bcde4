/*
 * The device of the fake plugins that the loader suite builds (fake_plugin.c). It records the
 * arguments of the last call, so the suite can check that every value crossed libffi intact.
 */
#ifndef FAKE_PLUGIN_H
#define FAKE_PLUGIN_H

#include <stdint.h>

#include "vmwdt.h"

/* What vmwdt_next_deadline_ns returns: a value that needs all 64 bits. */
#define FAKE_DEADLINE INT64_C(0x7123456789abcdef)
/* What vmwdt_snapshot_json returns, and the only document vmwdt_restore_json accepts. */
#define FAKE_SNAPSHOT "{\"fake\": true}"

struct vmwdt {
    struct vmwdt_config cfg;
    struct vmwdt_host_ops ops;
    uint32_t cpu;
    int32_t pid, tid;
    uint64_t offset;
    uint32_t len;
    uint8_t data[8];
    int64_t now;
    int sleeps, wakes;
    uint32_t action;
};

#endif
