#!/usr/bin/env python3
"""Writes the malformed snapshot corpus into malformed/.

Every file is <case>.<ERRNO>.json: a document meant for a device of 2 vCPUs that
vmwdt_restore_json() must refuse with -ERRNO, changing nothing. The files are the corpus; this
script only documents how they were made and regenerates them after a deliberate change.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "malformed")

VCPU0 = {
    "is_enabled": True, "timer_freq_hz": 10, "load_cnt": 80, "last_guest_time_ms": 0,
    "next_expiration_interval_ms": 6500, "repeating_interval": None,
    "stall_evt_ppi_triggered": False, "stopped": False,
    "next_expiration_interval_ns": 6500000000, "window_ns": 8000000000,
}
VCPU1 = {
    "is_enabled": False, "timer_freq_hz": 0, "load_cnt": 0, "last_guest_time_ms": 0,
    "next_expiration_interval_ms": 0, "repeating_interval": None,
    "stall_evt_ppi_triggered": False, "stopped": False,
}


def base():
    return {"format": "vmwdt-snapshot", "version": 1, "cpu_count": 2, "activated": True,
            "vm_wdts": [dict(VCPU0), dict(VCPU1)]}


def crosvm():
    v = {"is_enabled": True, "timer_freq_hz": 2, "last_guest_time_ms": 41250,
         "thread_id": 4242, "process_id": 4200, "next_expiration_interval_ms": 6500,
         "stall_evt_ppi_triggered": False,
         "repeating_interval": {"secs": 0, "nanos": 500000000}}
    return {"vm_wdts": [dict(v), dict(v)], "activated": True}


def dump(doc):
    return json.dumps(doc).encode()


CASES = {}


def case(name, err, data):
    assert name not in CASES, name
    CASES[name] = (err, data if isinstance(data, bytes) else dump(data))


def with_root(**kw):
    d = base()
    for k, v in kw.items():
        if v is KeyError:
            del d[k]
        else:
            d[k] = v
    return d


def with_vcpu(i, doc=None, **kw):
    d = doc or base()
    for k, v in kw.items():
        if v is KeyError:
            del d["vm_wdts"][i][k]
        else:
            d["vm_wdts"][i][k] = v
    return d


GOOD = dump(base())

# Not JSON at all, or not one JSON object.
case("not_json_text", "EINVAL", b"hello, watchdog\n")
case("empty_file", "EINVAL", b"")
case("whitespace_only", "EINVAL", b"  \n\t ")
case("truncated_document", "EINVAL", GOOD[: len(GOOD) // 2])
case("trailing_garbage", "EINVAL", GOOD + b" x")
case("two_documents", "EINVAL", GOOD + GOOD)
case("top_level_array", "EINVAL", b"[" + GOOD + b"]")
case("top_level_string", "EINVAL", b'"vmwdt-snapshot"')
case("top_level_null", "EINVAL", b"null")
case("utf8_bom_prefix", "EINVAL", b"\xef\xbb\xbf" + GOOD)
case("invalid_utf8_in_string", "EINVAL", GOOD.replace(b'"vmwdt-snapshot"', b'"vmwdt-\xff"'))
case("single_quoted_strings", "EINVAL", GOOD.replace(b'"format"', b"'format'"))
case("comment_in_document", "EINVAL", b"// a comment\n" + GOOD)
case("nan_literal", "EINVAL", GOOD.replace(b'"last_guest_time_ms": 0', b'"last_guest_time_ms": NaN', 1))
case("leading_zero_number", "EINVAL", GOOD.replace(b'"timer_freq_hz": 10', b'"timer_freq_hz": 010'))
case("hex_number", "EINVAL", GOOD.replace(b'"timer_freq_hz": 10', b'"timer_freq_hz": 0xa'))
case("plus_signed_number", "EINVAL", GOOD.replace(b'"load_cnt": 80', b'"load_cnt": +80'))
case("unterminated_string", "EINVAL", b'{"format": "vmwdt-snapshot, "version": 1}')

# NUL: escaped (jansson refuses it without JSON_ALLOW_NUL) and raw. A raw NUL passed as a C
# string ends the document there, so these put it where the text before it is incomplete.
case("nul_escaped_in_string", "EINVAL", GOOD.replace(b'"vmwdt-snapshot"', b'"vmwdt-snapshot\\u0000"'))
case("nul_escaped_in_key", "EINVAL", GOOD.replace(b'"load_cnt"', b'"load\\u0000cnt"', 1))
case("nul_raw_in_string", "EINVAL", GOOD.replace(b'"vmwdt-snapshot"', b'"vmwdt\x00-snapshot"'))
case("nul_raw_between_members", "EINVAL", GOOD.replace(b', "vm_wdts"', b'\x00, "vm_wdts"'))

# Duplicate keys.
case("duplicate_key_root", "EINVAL", GOOD.replace(b'"version": 1,', b'"version": 1, "version": 1,'))
case("duplicate_key_vcpu", "EINVAL", GOOD.replace(b'"load_cnt": 80,', b'"load_cnt": 80, "load_cnt": 80,'))

# Nesting and size.
case("deep_nesting_unknown_key", "EINVAL", GOOD[:-1] + b', "extra": ' + b"[" * 100 + b"]" * 100 + b"}")
case("deep_nesting_past_parser_limit", "EINVAL", b"[" * 3000 + b"]" * 3000)
case("vm_wdts_huge_array", "EINVAL", dump(with_root(vm_wdts=[{}] * 5000)))
case("document_longer_than_limit", "EINVAL", dump(with_root(vm_wdts=[0] * 40000)))

# The header.
case("format_missing_with_version", "EINVAL", dump(with_root(format=KeyError)))
case("format_wrong_name", "EINVAL", dump(with_root(format="vmwdt-snapshot-v2")))
case("format_not_string", "EINVAL", dump(with_root(format=1)))
case("version_missing", "EINVAL", dump(with_root(version=KeyError)))
case("version_newer", "ENOTSUP", dump(with_root(version=2)))
case("version_newer_with_unknown_layout", "ENOTSUP", b'{"format": "vmwdt-snapshot", "version": 7, "vcpus": {}}')
case("version_zero", "ERANGE", dump(with_root(version=0)))
case("version_negative", "ERANGE", dump(with_root(version=-1)))
case("version_real", "EINVAL", dump(with_root(version=1.0)))
case("version_string", "EINVAL", dump(with_root(version="1")))
case("cpu_count_wrong", "EINVAL", dump(with_root(cpu_count=3)))
case("cpu_count_missing", "EINVAL", dump(with_root(cpu_count=KeyError)))
case("cpu_count_string", "EINVAL", dump(with_root(cpu_count="2")))
case("cpu_count_overflowing_u32", "EINVAL", dump(with_root(cpu_count=2**32 + 2)))
case("activated_missing", "EINVAL", dump(with_root(activated=KeyError)))
case("activated_integer", "EINVAL", dump(with_root(activated=1)))
case("activated_false_while_enabled", "EINVAL", dump(with_root(activated=False)))
case("vm_wdts_missing", "EINVAL", dump(with_root(vm_wdts=KeyError)))
case("vm_wdts_object", "EINVAL", dump(with_root(vm_wdts={"0": VCPU0, "1": VCPU1})))
case("vm_wdts_null", "EINVAL", dump(with_root(vm_wdts=None)))
case("vm_wdts_too_short", "EINVAL", dump(with_root(vm_wdts=[VCPU0])))
case("vm_wdts_too_long", "EINVAL", dump(with_root(vm_wdts=[VCPU0, VCPU1, VCPU1])))
case("vm_wdts_entry_not_object", "EINVAL", dump(with_root(vm_wdts=[VCPU0, 1])))

# Per-vCPU types.
case("is_enabled_missing", "EINVAL", dump(with_vcpu(0, is_enabled=KeyError)))
case("is_enabled_integer", "EINVAL", dump(with_vcpu(0, is_enabled=1)))
case("is_enabled_string", "EINVAL", dump(with_vcpu(0, is_enabled="true")))
case("timer_freq_hz_missing", "EINVAL", dump(with_vcpu(1, timer_freq_hz=KeyError)))
case("timer_freq_hz_real", "EINVAL", dump(with_vcpu(0, timer_freq_hz=10.0)))
case("timer_freq_hz_exponent_notation", "EINVAL", GOOD.replace(b'"timer_freq_hz": 10', b'"timer_freq_hz": 1e1'))
case("timer_freq_hz_boolean", "EINVAL", dump(with_vcpu(0, timer_freq_hz=True)))
case("load_cnt_missing", "EINVAL", dump(with_vcpu(0, load_cnt=KeyError)))
case("load_cnt_string", "EINVAL", dump(with_vcpu(0, load_cnt="80")))
case("last_guest_time_ms_missing", "EINVAL", dump(with_vcpu(0, last_guest_time_ms=KeyError)))
case("last_guest_time_ms_string", "EINVAL", dump(with_vcpu(0, last_guest_time_ms="0")))
case("next_expiration_interval_ms_missing", "EINVAL", dump(with_vcpu(1, next_expiration_interval_ms=KeyError)))
case("next_expiration_interval_ms_null", "EINVAL", dump(with_vcpu(0, next_expiration_interval_ms=None)))
case("next_expiration_interval_ms_real", "EINVAL", dump(with_vcpu(1, next_expiration_interval_ms=0.5)))
case("next_expiration_interval_ns_disagrees", "EINVAL", dump(with_vcpu(0, next_expiration_interval_ns=6501000000)))
case("next_expiration_interval_ns_real", "EINVAL", dump(with_vcpu(0, next_expiration_interval_ns=6.5e9)))
case("window_ns_shorter_than_budget", "EINVAL", dump(with_vcpu(0, window_ns=6499999999)))
case("repeating_interval_missing", "EINVAL", dump(with_vcpu(0, repeating_interval=KeyError)))
case("repeating_interval_number", "EINVAL", dump(with_vcpu(0, repeating_interval=100)))
case("repeating_interval_missing_nanos", "EINVAL", dump(with_vcpu(0, repeating_interval={"secs": 1})))
case("repeating_interval_nanos_string", "EINVAL", dump(with_vcpu(0, repeating_interval={"secs": 1, "nanos": "0"})))
case("stall_evt_ppi_triggered_missing", "EINVAL", dump(with_vcpu(0, stall_evt_ppi_triggered=KeyError)))
case("stall_evt_ppi_triggered_null", "EINVAL", dump(with_vcpu(0, stall_evt_ppi_triggered=None)))
case("stopped_missing", "EINVAL", dump(with_vcpu(1, stopped=KeyError)))
case("stopped_string", "EINVAL", dump(with_vcpu(0, stopped="no")))
case("stopped_while_disabled", "EINVAL", dump(with_vcpu(1, stopped=True)))

# Per-vCPU ranges.
case("timer_freq_hz_negative", "ERANGE", dump(with_vcpu(0, timer_freq_hz=-10)))
case("timer_freq_hz_overflowing_u32", "ERANGE", dump(with_vcpu(0, timer_freq_hz=2**32)))
case("load_cnt_negative", "ERANGE", dump(with_vcpu(0, load_cnt=-1)))
case("load_cnt_overflowing_u32", "ERANGE", dump(with_vcpu(0, load_cnt=2**32)))
case("last_guest_time_ms_overflowing_ns", "ERANGE", dump(with_vcpu(0, last_guest_time_ms=2**63 - 1)))
case("last_guest_time_ms_underflowing_ns", "ERANGE", dump(with_vcpu(0, last_guest_time_ms=-2**63)))
case("next_expiration_interval_ms_negative", "ERANGE", dump(with_vcpu(0, next_expiration_interval_ms=-1, next_expiration_interval_ns=KeyError)))
case("next_expiration_interval_ms_overflowing_ns", "ERANGE", dump(with_vcpu(1, next_expiration_interval_ms=2**63 - 1)))
case("next_expiration_interval_ms_past_longest_window", "ERANGE", dump(with_vcpu(1, next_expiration_interval_ms=(2**32 - 1) * 1000 + 1)))
case("next_expiration_interval_ns_negative", "ERANGE", dump(with_vcpu(0, next_expiration_interval_ns=-1)))
case("window_ns_past_longest_window", "ERANGE", dump(with_vcpu(0, window_ns=2**63 - 1)))
case("window_ns_negative", "ERANGE", dump(with_vcpu(0, window_ns=-8000000000)))
case("repeating_interval_nanos_one_second", "ERANGE", dump(with_vcpu(0, repeating_interval={"secs": 0, "nanos": 1000000000})))
case("repeating_interval_secs_negative", "ERANGE", dump(with_vcpu(0, repeating_interval={"secs": -1, "nanos": 0})))
case("repeating_interval_secs_overflowing_ns", "ERANGE", dump(with_vcpu(0, repeating_interval={"secs": 2**62, "nanos": 0})))
case("integer_too_big_for_parser", "ERANGE", GOOD.replace(b'"load_cnt": 80', b'"load_cnt": 99999999999999999999999'))
case("real_overflowing_parser", "ERANGE", GOOD.replace(b'"load_cnt": 80', b'"load_cnt": 1e999'))

# crosvm's document (no format, version, cpu_count, load_cnt, stopped).
c = crosvm()
c["vm_wdts"].append(dict(c["vm_wdts"][0]))
case("crosvm_wrong_vcpu_count", "EINVAL", dump(c))
c = crosvm()
c["vm_wdts"][1]["timer_freq_hz"] = 2**40
case("crosvm_timer_freq_hz_past_u32", "ERANGE", dump(c))
c = crosvm()
c["vm_wdts"][0]["repeating_interval"] = {"secs": 0, "nanos": 2**32}
case("crosvm_repeating_interval_nanos", "ERANGE", dump(c))
c = crosvm()
c["vm_wdts"][0]["stall_evt_ppi_triggered"] = "false"
case("crosvm_stall_evt_ppi_triggered_string", "EINVAL", dump(c))
c = crosvm()
del c["activated"]
case("crosvm_activated_missing", "EINVAL", dump(c))
c = crosvm()
c["vm_wdts"][0]["next_expiration_interval_ms"] = -100
case("crosvm_negative_budget", "ERANGE", dump(c))
c = crosvm()
del c["vm_wdts"][1]["is_enabled"]
case("crosvm_is_enabled_missing", "EINVAL", dump(c))
c = crosvm()
c["vm_wdts"][0]["stopped"] = True
c["vm_wdts"][0]["is_enabled"] = False
case("crosvm_stopped_while_disabled", "EINVAL", dump(c))


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".json"):
            os.unlink(os.path.join(OUT, f))
    for name, (err, data) in sorted(CASES.items()):
        with open(os.path.join(OUT, f"{name}.{err}.json"), "wb") as fh:
            fh.write(data)
    print(f"{len(CASES)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
