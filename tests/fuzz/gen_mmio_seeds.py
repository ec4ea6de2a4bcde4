#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_mmio (see the input format at the top of fuzz_mmio.c).

Each seed is a scenario of DESIGN.md section 2 written out by hand: the fuzzer starts from these
and mutates them. Run from anywhere: python3 gen_mmio_seeds.py OUTDIR
"""
import os
import random
import sys

WRITE, READ, ADVANCE, LATE, RUN, FREEZE, THAW, SLEEP, WAKE, SNAPSHOT, RESTORE, FRESH, BAD = range(13)
STATUS, LOAD, CURRENT, FREQ = range(4)
NS, US, US100, MS = range(4)


def header(cpus, action, t0=(0, 0), origins=None):
    out = [cpus - 1, action, t0[0], t0[1] >> 8, t0[1] & 0xFF]
    for cls, mag in origins or [(0, 0)] * cpus:
        out += [cls, mag >> 8, mag & 0xFF]
    return out


def op(kind, cpu=0, check=False, *rest):
    return [kind | cpu << 4 | (0x80 if check else 0)] + list(rest)


def write(cpu, reg, v, check=False):
    return op(WRITE, cpu, check, reg, v)


def step(kind, unit, count, off=0):
    return op(kind, 0, False, unit | (off + 3) << 2, count)


def start(cpu, load):
    # FREQ value byte 0 picks 1000 Hz.
    return write(cpu, FREQ, 0) + write(cpu, LOAD, load) + write(cpu, STATUS, 1)


SEEDS = {
    # The case: f = 1000, LOAD_CNT = 10, a 1 ns freeze at 5 ms, then a late pet.
    "issue_1ns_freeze": header(1, 0) + start(0, 10) + step(ADVANCE, MS, 5) + op(FREEZE)
    + step(ADVANCE, NS, 1) + op(THAW) + step(ADVANCE, MS, 5) + step(LATE, US100, 3)
    + op(READ, 0, True, CURRENT) + write(0, LOAD, 10, True) + step(ADVANCE, MS, 30),
    # A clock that freezes in the last millisecond of its window, under each action.
    "freeze_last_ms": header(2, 1) + start(0, 10) + start(1, 3) + step(ADVANCE, US100, 95)
    + op(FREEZE) + op(FREEZE, 1) + step(ADVANCE, MS, 2) + op(THAW) + step(ADVANCE, US, 200)
    + op(THAW, 1) + step(ADVANCE, MS, 20),
    # Sleep, snapshot, restore into the device and into a fresh one of another action.
    "lifecycle": header(3, 0) + start(0, 20) + start(1, 5) + start(2, 0)
    + step(ADVANCE, MS, 3) + op(SLEEP) + op(SNAPSHOT) + step(ADVANCE, MS, 50) + op(WAKE)
    + step(ADVANCE, MS, 10) + op(RESTORE) + op(WAKE) + step(ADVANCE, MS, 4)
    + op(FRESH, 0, False, 2) + op(WAKE) + step(ADVANCE, MS, 40),
    # Guest and host clocks far below zero and crossing it.
    "negative_clocks": header(2, 0, (2, 500), [(1, 3), (2, 900)]) + start(0, 7) + start(1, 12)
    + step(ADVANCE, MS, 9) + op(READ, 1, True, CURRENT) + step(ADVANCE, MS, 30),
    # A host that runs nothing for a while: pets, enables and disables arrive after the end.
    "late_host": header(2, 0) + start(0, 4) + start(1, 4) + step(LATE, MS, 9)
    + write(0, LOAD, 4) + write(1, STATUS, 0) + op(RUN) + step(LATE, MS, 5)
    + write(1, STATUS, 1) + step(ADVANCE, MS, 20),
    # Windows of 0 ns, frequencies at the extremes, refused and read-only writes, bad offsets.
    "hostile": header(1, 0) + write(0, LOAD, 5) + write(0, FREQ, 6) + write(0, STATUS, 1)
    + write(0, FREQ, 5) + write(0, LOAD, 0) + write(0, STATUS, 1, True) + op(RUN)
    + write(0, CURRENT, 3) + op(BAD, 0, False, 1) + op(BAD, 0, False, 0x17)
    + write(0, FREQ, 1) + write(0, LOAD, 0xF0, True) + [0xFF, 0xFF, 0xFF, 0xFF]
    + step(ADVANCE, MS, 200),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "mmio_seeds")
    os.makedirs(out, exist_ok=True)
    # A few random streams too, from a fixed seed, so that the corpus is reproducible.
    rnd = random.Random(7)
    for i in range(4):
        SEEDS["random_%d" % i] = header(rnd.randint(1, 4), rnd.randint(0, 3)) + [
            rnd.randint(0, 255) for _ in range(600)]
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes(data))


if __name__ == "__main__":
    main()
