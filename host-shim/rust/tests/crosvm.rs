//! crosvm's own vmwdt unit tests (devices/src/vmwdt.rs), restated against the plugin in
//! virtual time: one vCPU, a 10 Hz clock and a count of 1 (a 100 ms window), enabled after
//! CLOCK_FREQ_HZ and LOAD_CNT as crosvm's tests write them.

mod common;

use common::{Ev, Sim, MS, S};
use vmwdt::{reg, Action, MutDeviceMmio};

/// crosvm's AArch64 base address; the MutDeviceMmio base is ignored.
const BASE: u64 = 0x3000;

fn crosvm_setup(sim: &mut Sim) {
    // Through the rust-vmm shaped trait, as a VMM's bus would deliver it.
    sim.dev
        .mmio_write(BASE, reg::CLOCK_FREQ_HZ, &10u32.to_le_bytes());
    sim.dev.mmio_write(BASE, reg::LOAD_CNT, &1u32.to_le_bytes());
    sim.dev.mmio_write(BASE, reg::STATUS, &1u32.to_le_bytes());
}

/// crosvm `test_watchdog_internal_timer`: when the timer fires before the vCPU's guest clock
/// has used up the window, the device re-arms for the budget left (crosvm checks that
/// next_expiration_interval_ms changed). Here the guest clock runs 10 ms and then freezes:
/// nothing fires at 100 ms, the budget left is 90 ms, and once the clock runs again the
/// interrupt comes after exactly those 90 ms.
#[test]
fn watchdog_internal_timer() {
    let p = plugin_or_skip!();
    let mut sim = Sim::new(&p, 1, Action::IrqThenReset);
    crosvm_setup(&mut sim);
    let before = sim.snapshot_doc();
    assert_eq!(
        before
            .get("vm_wdts")
            .idx(0)
            .get("next_expiration_interval_ms")
            .int(),
        100
    );

    sim.advance_to(10 * MS);
    sim.pause(0);
    sim.advance_to(S);
    assert_eq!(
        sim.take_events(),
        vec![],
        "a frozen guest clock must not expire"
    );

    let after = sim.snapshot_doc();
    let wdt = after.get("vm_wdts").idx(0);
    assert_eq!(
        wdt.get("next_expiration_interval_ms").int(),
        90,
        "{after:?}"
    );
    assert!(wdt.get("is_enabled").boolean());
    assert!(!wdt.get("stall_evt_ppi_triggered").boolean());
    // 90 ms left at 10 Hz: 0.9 ticks, rounded up.
    assert_eq!(sim.read(0, reg::CURRENT_CNT), 1);
    assert_eq!(sim.read(0, reg::STATUS), 1);

    sim.resume(0);
    sim.advance_to(2 * S);
    assert_eq!(
        sim.take_events(),
        vec![(Ev::Irq, S + 90 * MS, 0), (Ev::Reset, S + 190 * MS, 0)]
    );
}

/// crosvm `test_watchdog_expiration`: a vCPU whose guest clock ran a whole window without a
/// pet makes the device request a reset. With crosvm's action the interrupt comes first, at
/// exactly one window, and the reset at exactly two.
#[test]
fn watchdog_expiration() {
    let p = plugin_or_skip!();
    let mut sim = Sim::new(&p, 1, Action::IrqThenReset);
    crosvm_setup(&mut sim);
    sim.advance_to(100 * MS - 1);
    assert_eq!(sim.take_events(), vec![]);
    sim.advance_to(100 * MS);
    assert_eq!(sim.take_events(), vec![(Ev::Irq, 100 * MS, 0)]);
    let mut status = [0u8; 4];
    sim.dev.mmio_read(BASE, reg::STATUS, &mut status);
    assert_eq!(
        u32::from_le_bytes(status),
        0b11,
        "enabled and interrupt raised"
    );
    assert_eq!(sim.read(0, reg::CURRENT_CNT), 0, "0 from the first expiry");
    sim.advance_to(S);
    assert_eq!(sim.take_events(), vec![(Ev::Reset, 200 * MS, 0)]);
    assert_eq!(sim.fired, 2);
    // After the reset request the countdown stops until the next pet.
    assert_eq!(sim.dev.next_deadline_ns(), None);
    sim.advance_to(10 * S);
    assert_eq!(sim.take_events(), vec![]);
}

/// The same scenario with the RESET action: the reset request at exactly one window and
/// nothing else.
#[test]
fn watchdog_expiration_reset_action() {
    let p = plugin_or_skip!();
    let mut sim = Sim::new(&p, 1, Action::Reset);
    crosvm_setup(&mut sim);
    sim.advance_to(5 * S);
    assert_eq!(sim.take_events(), vec![(Ev::Reset, 100 * MS, 0)]);
    assert_eq!(
        sim.read(0, reg::STATUS),
        1,
        "no interrupt with the RESET action"
    );
}
