//! The Linux guest driver's cadence (drivers/misc/vcpu_stall_detector.c): at CPU online
//! CLOCK_FREQ_HZ = 10, LOAD_CNT = 80 (8 s), STATUS = 1; a per-CPU timer writes LOAD_CNT = 80
//! every 4 s; at CPU offline STATUS = 0.

mod common;

use common::{Ev, Sim, MS, S};
use vmwdt::{reg, Action};

const HZ: u32 = 10;
const COUNT: u32 = 80;
const PET_EVERY: i64 = 4 * S;

#[test]
fn four_vcpus_one_stalls() {
    let p = plugin_or_skip!();
    let mut sim = Sim::new(&p, 4, Action::IrqThenReset);
    let online = |cpu: u32| i64::from(cpu) * 100 * MS + 50 * MS;
    let stalled = 2u32;
    let last_pet_of_stalled = online(stalled) + 3 * PET_EVERY;

    // Every driver action in time order, up to 40 s.
    let mut schedule: Vec<(i64, u32)> = Vec::new();
    for cpu in 0..4u32 {
        let mut t = online(cpu) + PET_EVERY;
        while t < 40 * S {
            if cpu != stalled || t <= last_pet_of_stalled {
                schedule.push((t, cpu));
            }
            t += PET_EVERY;
        }
    }
    schedule.sort();

    for cpu in 0..4u32 {
        sim.advance_to(online(cpu));
        sim.driver_online(cpu, HZ, COUNT);
        assert_eq!(sim.read(cpu, reg::STATUS), 1);
        assert_eq!(sim.read(cpu, reg::LOAD_CNT), COUNT);
        assert_eq!(sim.read(cpu, reg::CLOCK_FREQ_HZ), HZ);
        assert_eq!(sim.read(cpu, reg::CURRENT_CNT), COUNT);
    }
    // 1.05 s into cpu 0's window: 69.5 ticks left, rounded up.
    sim.advance_to(online(0) + 1050 * MS);
    assert_eq!(sim.read(0, reg::CURRENT_CNT), 70);

    for (t, cpu) in schedule {
        sim.advance_to(t);
        sim.pet(cpu, COUNT);
    }
    sim.advance_to(40 * S);

    let irq_at = last_pet_of_stalled + 8 * S;
    let reset_at = last_pet_of_stalled + 16 * S;
    assert_eq!(
        sim.take_events(),
        vec![(Ev::Irq, irq_at, stalled), (Ev::Reset, reset_at, stalled)]
    );
    assert_eq!(sim.read(stalled, reg::STATUS), 0b11);
    assert_eq!(sim.read(stalled, reg::CURRENT_CNT), 0);
    assert_eq!(sim.read(0, reg::STATUS), 1);

    // CPUs go offline: nothing fires any more, the stalled one included.
    for cpu in 0..4u32 {
        sim.write(cpu, reg::STATUS, 0).unwrap();
        // Only a pet or an enable clears the raised state (bit 1).
        let raised = if cpu == stalled { 0b10 } else { 0 };
        assert_eq!(sim.read(cpu, reg::STATUS), raised);
        assert_eq!(
            sim.read(cpu, reg::CURRENT_CNT),
            COUNT,
            "disabled: the loaded count"
        );
    }
    sim.advance_to(200 * S);
    assert_eq!(sim.take_events(), vec![]);
    assert_eq!(sim.dev.next_deadline_ns(), None);

    // The stalled vCPU recovers: online again, a fresh window from the enable.
    sim.driver_online(stalled, HZ, COUNT);
    assert_eq!(
        sim.read(stalled, reg::STATUS),
        1,
        "enable clears the raised state"
    );
    sim.advance_to(300 * S);
    assert_eq!(
        sim.take_events(),
        vec![(Ev::Irq, 208 * S, stalled), (Ev::Reset, 216 * S, stalled)]
    );
}

/// Time during which a vCPU's guest clock is frozen (the vCPU does not run) is added to both
/// the interrupt and the reset times.
#[test]
fn frozen_guest_clock_is_not_counted() {
    let p = plugin_or_skip!();
    let mut sim = Sim::new(&p, 2, Action::IrqThenReset);
    sim.advance_to(S);
    sim.driver_online(0, HZ, 20); // a 2 s window from t = 1 s
    sim.driver_online(1, HZ, 20);
    sim.advance_to(2 * S);
    sim.pause(0); // frozen from 2 s to 7 s
    sim.advance_to(7 * S);
    sim.resume(0);
    sim.advance_to(8 * S + 500 * MS);
    sim.pause(0); // frozen in the second window from 8.5 s to 9.5 s
    sim.advance_to(9 * S + 500 * MS);
    sim.resume(0);
    sim.advance_to(30 * S);
    assert_eq!(
        sim.take_events(),
        vec![
            (Ev::Irq, 3 * S, 1),
            (Ev::Reset, 5 * S, 1),
            (Ev::Irq, 8 * S, 0),
            (Ev::Reset, 11 * S, 0)
        ]
    );
}

/// IRQ_ONLY: one interrupt per stall, then again after the next pet; NONE: no callback, but
/// the expiry is logged and counted by run_due.
#[test]
fn irq_only_and_none_actions() {
    let p = plugin_or_skip!();
    let mut sim = Sim::new(&p, 1, Action::IrqOnly);
    sim.driver_online(0, HZ, COUNT);
    sim.advance_to(30 * S);
    assert_eq!(sim.take_events(), vec![(Ev::Irq, 8 * S, 0)]);
    sim.pet(0, COUNT);
    assert_eq!(sim.read(0, reg::STATUS), 1, "a pet clears the raised state");
    sim.advance_to(60 * S);
    assert_eq!(sim.take_events(), vec![(Ev::Irq, 38 * S, 0)]);

    let mut sim = Sim::new(&p, 1, Action::None);
    sim.driver_online(0, HZ, COUNT);
    let logs_before = sim.w().logs.len();
    sim.advance_to(30 * S);
    assert_eq!(sim.take_events(), vec![]);
    assert_eq!(sim.fired, 1, "the logged NONE expiry counts as an event");
    assert!(
        sim.w().logs.len() > logs_before,
        "the NONE expiry is logged"
    );
}

/// Frequencies above 1000 Hz are valid (crosvm turns them into a 0 ms timer), a window of 0 ns
/// expires at once without a busy loop, and the largest count does not overflow.
#[test]
fn extreme_frequencies_and_counts() {
    let p = plugin_or_skip!();
    let mut sim = Sim::new(&p, 3, Action::IrqThenReset);
    sim.advance_to(S);
    sim.driver_online(0, 5000, 1); // 200 us
    sim.driver_online(1, u32::MAX, 1); // 1e9 / (2^32 - 1) = 0 ns
    sim.driver_online(2, 1, u32::MAX); // 2^32 - 1 seconds
    assert_eq!(sim.read(2, reg::CURRENT_CNT), u32::MAX);
    sim.advance_to(2 * S);
    assert_eq!(
        sim.take_events(),
        vec![
            (Ev::Irq, S, 1),
            (Ev::Reset, S, 1),
            (Ev::Irq, S + 200_000, 0),
            (Ev::Reset, S + 400_000, 0)
        ]
    );
    let huge = i64::from(u32::MAX) * S;
    assert_eq!(sim.dev.next_deadline_ns(), Some(S + huge));
    assert_eq!(
        sim.read(2, reg::CURRENT_CNT),
        u32::MAX - 1,
        "one second of 2^32 - 1 used"
    );
}
