//! Bad guest input: every refused access returns -EINVAL through the crate, changes nothing,
//! touches no other vCPU, never panics; refused reads return zeros; log lines are rate-limited.

mod common;

use common::{Ev, Sim, EINVAL, ENOTSUP, ERANGE, S};
use vmwdt::{reg, Action, Error, MutDeviceMmio, Suspendable};

fn assert_einval(r: vmwdt::Result<()>, what: &str, plugin: &vmwdt::Plugin) {
    match r {
        Err(Error::Call {
            errno, ref text, ..
        }) => {
            assert_eq!(errno, EINVAL, "{what}");
            assert_eq!(text, &plugin.strerror(EINVAL), "{what}");
            assert!(!text.is_empty());
        }
        other => panic!("{what}: expected -EINVAL, got {other:?}"),
    }
}

/// Every register of every vCPU.
fn registers(sim: &Sim, cpus: u32) -> Vec<u32> {
    let mut v = Vec::new();
    for cpu in 0..cpus {
        for r in [
            reg::STATUS,
            reg::LOAD_CNT,
            reg::CURRENT_CNT,
            reg::CLOCK_FREQ_HZ,
        ] {
            v.push(sim.read(cpu, r));
        }
    }
    v
}

#[test]
fn refused_accesses() {
    let p = plugin_or_skip!();
    let cpus = 2;
    let mut sim = Sim::new(&p, cpus, Action::IrqThenReset);
    assert_eq!(
        registers(&sim, cpus),
        vec![0; 8],
        "a new device reads 0 everywhere"
    );

    // vCPU 1 runs the driver; vCPU 0 is the target of the hostile writes.
    sim.driver_online(1, 10, 80);
    let before = registers(&sim, cpus);

    // crosvm panics on these three: cpu == count, f = 0, offset 0x1.
    assert_einval(
        sim.dev
            .try_mmio_write(u64::from(cpus) * reg::STRIDE, &1u32.to_le_bytes()),
        "cpu == count",
        &p,
    );
    assert_einval(sim.write(0, reg::STATUS, 1), "enable with f = 0", &p);
    assert_einval(sim.write(0, reg::LOAD_CNT, 80), "pet with f = 0", &p);
    assert_einval(
        sim.dev.try_mmio_write(0x1, &1u32.to_le_bytes()),
        "offset 0x1",
        &p,
    );

    for off in [0x2u64, 0x3, 0x5, 0x0e, 0x11] {
        assert_einval(
            sim.dev.try_mmio_write(off, &1u32.to_le_bytes()),
            "misaligned",
            &p,
        );
    }
    for len in [0usize, 1, 2, 3, 5, 8, 64] {
        assert_einval(sim.dev.try_mmio_write(0, &vec![1u8; len]), "len != 4", &p);
    }
    for off in [0x1000u64, 0x1_0000_0000, u64::MAX - 3, u64::MAX] {
        assert_einval(
            sim.dev.try_mmio_write(off, &1u32.to_le_bytes()),
            "past the last vCPU",
            &p,
        );
    }
    assert_einval(
        sim.write(1, reg::CURRENT_CNT, 5),
        "write to CURRENT_CNT",
        &p,
    );
    assert_einval(
        sim.write(0, reg::CURRENT_CNT, 5),
        "write to CURRENT_CNT",
        &p,
    );

    // The same through the trait: dropped silently, no panic.
    sim.dev
        .mmio_write(0x3000, u64::from(cpus) * reg::STRIDE, &[1, 0, 0, 0]);
    sim.dev.mmio_write(0x3000, 0x1, &[1, 0, 0, 0]);
    sim.dev.mmio_write(0x3000, 0x0, &[1, 0]);
    sim.dev.mmio_write(0x3000, 0x0, &[]);

    // Refused reads fill the buffer with zeros.
    for (off, len) in [
        (0x1u64, 4usize),
        (0x0, 2),
        (0x0, 8),
        (u64::from(cpus) * reg::STRIDE, 4),
        (u64::MAX, 4),
    ] {
        let mut buf = vec![0xAAu8; len];
        let r = sim.dev.try_mmio_read(off, &mut buf);
        assert_einval(r, "bad read", &p);
        assert!(
            buf.iter().all(|&b| b == 0),
            "refused read at {off:#x} len {len} left {buf:?}"
        );
        let mut buf = vec![0xAAu8; len];
        sim.dev.mmio_read(0x3000, off, &mut buf);
        assert!(buf.iter().all(|&b| b == 0));
    }

    assert_eq!(
        registers(&sim, cpus),
        before,
        "refused accesses change nothing"
    );
    sim.advance_to(100 * S);
    assert_eq!(
        sim.take_events(),
        vec![(Ev::Irq, 8 * S, 1), (Ev::Reset, 16 * S, 1)]
    );
}

#[test]
fn guest_messages_are_rate_limited() {
    let p = plugin_or_skip!();
    let sim = Sim::new(&p, 1, Action::IrqThenReset);
    let n = 10_000;
    for i in 0..n {
        let _ = sim.dev.try_mmio_write(0x1 + (i % 3), &[0, 0, 0, 0]);
    }
    let logged = sim.w().logs.len();
    assert!(logged >= 1, "a refused access is logged");
    assert!(
        logged < n as usize / 10,
        "{logged} log lines for {n} bad writes: not rate-limited"
    );
}

#[test]
fn bad_snapshot_documents() {
    let p = plugin_or_skip!();
    let mut sim = Sim::new(&p, 2, Action::IrqThenReset);
    sim.driver_online(0, 10, 80);
    let good = sim.dev.snapshot_json().unwrap();
    let doc = common::json::parse(&good).unwrap();

    let expect = |sim: &mut Sim, text: &str, errno: i32| match sim.dev.restore(text) {
        Err(e) => assert_eq!(e.errno(), Some(errno), "restore of {text:?}: {e}"),
        Ok(()) => panic!("restore of {text:?} succeeded"),
    };
    expect(&mut sim, "", EINVAL);
    expect(&mut sim, "not json", EINVAL);
    expect(&mut sim, "[]", EINVAL);
    expect(&mut sim, "{\"format\": \"vmwdt-snapshot\"", EINVAL);
    expect(&mut sim, "{\"a\": 1}\0{}", EINVAL);

    let mut wrong_count = doc.clone();
    wrong_count.set("cpu_count", common::json::Value::Int(3));
    expect(&mut sim, &wrong_count.to_json(), EINVAL);

    let mut newer = doc.clone();
    newer.set("version", common::json::Value::Int(2));
    expect(&mut sim, &newer.to_json(), ENOTSUP);

    let mut wrong_type = doc.clone();
    wrong_type
        .get_mut("vm_wdts")
        .idx_mut(0)
        .set("is_enabled", common::json::Value::Str("yes".into()));
    expect(&mut sim, &wrong_type.to_json(), EINVAL);

    let mut out_of_range = doc.clone();
    out_of_range
        .get_mut("vm_wdts")
        .idx_mut(0)
        .set("timer_freq_hz", common::json::Value::Int(1 << 32));
    expect(&mut sim, &out_of_range.to_json(), ERANGE);

    // Nothing changed: same document, still awake and counting.
    assert_eq!(sim.dev.snapshot_json().unwrap(), good);
    assert!(sim.dev.next_deadline_ns().is_some());
    sim.advance_to(10 * S);
    assert_eq!(sim.take_events(), vec![(Ev::Irq, 8 * S, 0)]);
}
