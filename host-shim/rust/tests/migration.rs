//! sleep -> snapshot on the source, new device -> restore -> wake on the destination: the
//! budgets left travel with the document, to the millisecond, and are re-based on the
//! destination's clocks at wake.

mod common;

use common::{Ev, Sim, MS, S};
use vmwdt::{reg, Action, Suspendable};

fn suspend<D: Suspendable>(dev: &mut D) {
    dev.sleep().unwrap();
}

#[test]
fn migrate_mid_window() {
    let p = plugin_or_skip!();
    let mut src = Sim::new(&p, 2, Action::IrqThenReset);
    src.driver_online(0, 10, 80);
    src.driver_online(1, 10, 80);
    src.advance_to(2 * S);
    src.pet(1, 80);
    src.advance_to(3 * S + 250 * MS);

    // Through the crosvm-shaped trait, as a VMM's generic suspend code would.
    suspend(&mut src.dev);
    suspend(&mut src.dev); // idempotent
    assert_eq!(src.dev.next_deadline_ns(), None, "asleep: nothing armed");
    src.advance_to(100 * S);
    assert_eq!(
        src.take_events(),
        vec![],
        "an asleep device counts nothing down"
    );

    let text = Suspendable::snapshot(&mut src.dev).unwrap();
    let doc = common::json::parse(&text).unwrap();
    assert_eq!(doc.get("format").string(), "vmwdt-snapshot");
    assert_eq!(doc.get("version").int(), 1);
    assert_eq!(doc.get("cpu_count").int(), 2);
    let wdts = doc.get("vm_wdts");
    assert_eq!(wdts.len(), 2);
    for (cpu, left) in [(0, 4750), (1, 6750)] {
        let w = wdts.idx(cpu);
        assert!(w.get("is_enabled").boolean());
        assert_eq!(w.get("timer_freq_hz").int(), 10);
        assert_eq!(w.get("load_cnt").int(), 80);
        assert_eq!(
            w.get("next_expiration_interval_ms").int(),
            left,
            "vCPU {cpu}: {text}"
        );
        assert!(!w.get("stall_evt_ppi_triggered").boolean());
        assert!(!w.get("stopped").boolean());
    }
    drop(src);

    // The destination's host and guest clocks have nothing in common with the source's.
    let mut dst = Sim::starting_at(&p, 2, Action::IrqThenReset, 5000 * S, 777 * S);
    dst.dev.restore(&text).unwrap();
    assert_eq!(
        dst.dev.next_deadline_ns(),
        None,
        "a restored device is asleep"
    );
    for cpu in 0..2 {
        assert_eq!(dst.read(cpu, reg::STATUS), 1);
        assert_eq!(dst.read(cpu, reg::LOAD_CNT), 80);
        assert_eq!(dst.read(cpu, reg::CLOCK_FREQ_HZ), 10);
    }
    dst.advance_to(5100 * S);
    assert_eq!(dst.take_events(), vec![], "nothing counts down before wake");

    let woke = dst.now();
    Suspendable::wake(&mut dst.dev).unwrap();
    Suspendable::wake(&mut dst.dev).unwrap(); // idempotent
    dst.advance_to(woke + S);
    dst.pet(1, 80); // vCPU 1 pets once after the migration, vCPU 0 never does
    dst.advance_to(woke + 100 * S);
    assert_eq!(
        dst.take_events(),
        vec![
            (Ev::Irq, woke + 4750 * MS, 0),
            (Ev::Irq, woke + 9 * S, 1),
            (Ev::Reset, woke + 12750 * MS, 0),
            (Ev::Reset, woke + 17 * S, 1),
        ]
    );
}

/// Migrating after the interrupt: the second window's budget travels, the destination requests
/// the reset without a second interrupt.
#[test]
fn migrate_with_reset_pending() {
    let p = plugin_or_skip!();
    let mut src = Sim::new(&p, 1, Action::IrqThenReset);
    src.driver_online(0, 10, 80);
    src.advance_to(10 * S);
    assert_eq!(src.take_events(), vec![(Ev::Irq, 8 * S, 0)]);
    src.dev.sleep().unwrap();
    let text = src.dev.snapshot().unwrap();
    let doc = common::json::parse(&text).unwrap();
    let w = doc.get("vm_wdts").idx(0);
    assert!(w.get("stall_evt_ppi_triggered").boolean());
    assert!(!w.get("stopped").boolean());
    assert_eq!(w.get("next_expiration_interval_ms").int(), 6000);

    let mut dst = Sim::starting_at(&p, 1, Action::IrqThenReset, 42 * S, 0);
    dst.dev.restore(&text).unwrap();
    assert_eq!(dst.read(0, reg::STATUS), 0b11, "the raised state travels");
    dst.dev.wake().unwrap();
    dst.advance_to(100 * S);
    assert_eq!(dst.take_events(), vec![(Ev::Reset, 48 * S, 0)]);
}

/// A guest clock frozen on the destination after wake still delays the stall.
#[test]
fn migrate_then_pause() {
    let p = plugin_or_skip!();
    let mut src = Sim::new(&p, 1, Action::IrqThenReset);
    src.driver_online(0, 2, 20); // crosvm's defaults: 2 Hz, 10 s
    src.advance_to(4 * S);
    src.dev.sleep().unwrap();
    let text = src.dev.snapshot().unwrap();

    let mut dst = Sim::starting_at(&p, 1, Action::IrqThenReset, S, S);
    dst.dev.restore(&text).unwrap();
    dst.dev.wake().unwrap();
    dst.advance_to(2 * S);
    dst.pause(0);
    dst.advance_to(12 * S);
    dst.resume(0);
    dst.advance_to(60 * S);
    assert_eq!(
        dst.take_events(),
        vec![(Ev::Irq, 17 * S, 0), (Ev::Reset, 27 * S, 0)]
    );
}

/// Restoring into the same device, awake: a snapshot round-trips unchanged.
#[test]
fn restore_in_place_round_trips() {
    let p = plugin_or_skip!();
    let mut sim = Sim::new(&p, 3, Action::IrqThenReset);
    sim.driver_online(0, 10, 80);
    sim.driver_online(2, 1000, 3000);
    sim.advance_to(1500 * MS);
    sim.dev.sleep().unwrap();
    let a = sim.dev.snapshot().unwrap();
    sim.dev.wake().unwrap();
    sim.dev.restore(&a).unwrap();
    assert_eq!(
        sim.dev.next_deadline_ns(),
        None,
        "restore leaves the device asleep"
    );
    let b = sim.dev.snapshot().unwrap();
    assert_eq!(
        common::json::parse(&a).unwrap(),
        common::json::parse(&b).unwrap()
    );
    let t = sim.now();
    sim.dev.wake().unwrap();
    sim.advance_to(t + 20 * S);
    assert_eq!(
        sim.take_events(),
        vec![
            (Ev::Irq, t + 1500 * MS, 2),
            (Ev::Reset, t + 4500 * MS, 2),
            (Ev::Irq, t + 6500 * MS, 0),
            (Ev::Reset, t + 14500 * MS, 0),
        ]
    );
}
