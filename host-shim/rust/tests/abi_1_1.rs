//! ABI 1.1 through the crate: statistics, the action changed at run time (also from a
//! callback), a plugin of ABI 1.0 refused only these, the log level as an enum, and gettid.

mod common;

use std::sync::{Arc, OnceLock, Weak};

use common::{build_fake, Ev, Sim, EINVAL, S};
use vmwdt::{
    gettid, reg, Action, Callbacks, Clock, Config, Error, LogLevel, Plugin, Timers, Vmwdt, ALL_CPUS,
};

#[test]
fn statistics_count_what_the_guest_and_the_device_did() {
    let p = plugin_or_skip!();
    assert!(
        p.has_1_1(),
        "the plugin under test reports ABI {:#x}",
        p.abi_version()
    );
    let mut sim = Sim::new(&p, 2, Action::IrqThenReset);
    let st = sim.dev.vcpu_stats(1).unwrap();
    assert_eq!(
        (st.pets, st.enables, st.refused, st.interrupts, st.resets),
        (0, 0, 0, 0, 0)
    );
    assert_eq!((st.window_ns, st.remaining_ns), (0, -1));
    assert_eq!(st.clock, Some(Clock::Host));
    assert_eq!(st.action, Some(Action::IrqThenReset));

    sim.driver_online(1, 10, 10); // a 1 s window
    sim.pet(1, 20); // 2 s
    assert_eq!(
        sim.write(1, reg::CURRENT_CNT, 1).unwrap_err().errno(),
        Some(EINVAL)
    );
    assert!(sim
        .dev
        .try_mmio_write(2 * reg::STRIDE, &[1, 0, 0, 0])
        .is_err()); // past vCPU 1
    sim.advance_by(S / 2);
    let st = sim.dev.vcpu_stats(1).unwrap();
    assert_eq!((st.pets, st.enables, st.refused), (2, 1, 1));
    assert!(st.enabled() && !st.raised());
    assert_eq!((st.window_ns, st.remaining_ns), (2 * S, 3 * S / 2));

    sim.advance_by(4 * S);
    assert_eq!(
        sim.take_events(),
        vec![(Ev::Irq, 2 * S, 1), (Ev::Reset, 4 * S, 1)]
    );
    let st = sim.dev.vcpu_stats(1).unwrap();
    assert_eq!((st.interrupts, st.resets), (1, 1));
    let all = sim.dev.vcpu_stats(ALL_CPUS).unwrap();
    assert_eq!((all.pets, all.enables, all.refused), (2, 1, 2));
    assert_eq!((all.status, all.window_ns, all.remaining_ns), (0, 0, 0));
    assert_eq!(sim.dev.vcpu_stats(2).unwrap_err().errno(), Some(EINVAL));

    // Kept across sleep and wake; a restored device counts from 0.
    sim.dev.sleep().unwrap();
    sim.dev.wake().unwrap();
    assert_eq!(sim.dev.vcpu_stats(1).unwrap().pets, 2);
    let doc = sim.dev.snapshot_json().unwrap();
    sim.dev.restore_json(&doc).unwrap();
    assert_eq!(sim.dev.vcpu_stats(ALL_CPUS).unwrap().pets, 0);
}

#[test]
fn set_action_ends_a_second_window_as_the_new_action_allows() {
    let p = plugin_or_skip!();
    let mut sim = Sim::new(&p, 1, Action::IrqThenReset);
    sim.driver_online(0, 10, 10);
    sim.advance_to(3 * S / 2); // interrupt at 1 s, reset due at 2 s
    sim.dev.set_action(Action::IrqOnly).unwrap();
    assert_eq!(sim.dev.vcpu_stats(0).unwrap().action, Some(Action::IrqOnly));
    sim.advance_to(10 * S);
    assert_eq!(sim.take_events(), vec![(Ev::Irq, S, 0)]);
    assert_eq!(sim.dev.vcpu_stats(0).unwrap().remaining_ns, -1);
    // Reset: the next expiry requests one, with no interrupt.
    sim.dev.set_action(Action::Reset).unwrap();
    sim.pet(0, 10);
    sim.advance_to(12 * S);
    assert_eq!(sim.take_events(), vec![(Ev::Reset, 11 * S, 0)]);
}

#[test]
fn statistics_and_action_from_inside_a_callback() {
    let p = plugin_or_skip!();
    let me: Arc<OnceLock<Weak<Vmwdt>>> = Arc::new(OnceLock::new());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (me2, seen2) = (me.clone(), seen.clone());
    let now = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let (n1, n2) = (now.clone(), now.clone());
    let cb = Callbacks::new(
        move |cpu| {
            let dev = me2.get().and_then(Weak::upgrade).expect("the device");
            let st = dev.vcpu_stats(cpu).expect("vcpu_stats inside raise_irq");
            seen2.lock().unwrap().push(st.interrupts);
            dev.set_action(Action::None)
                .expect("set_action inside raise_irq");
        },
        |_| panic!("no reset: the callback set the action to none"),
    )
    .now_ns(move || n1.load(std::sync::atomic::Ordering::SeqCst))
    .guest_time_ns(move |_| n2.load(std::sync::atomic::Ordering::SeqCst));
    let config = Config::new(1)
        .with_clock(Clock::Host)
        .with_timers(Timers::External);
    let dev = Arc::new(Vmwdt::new(&p, config, cb).unwrap());
    me.set(Arc::downgrade(&dev)).unwrap();
    for (r, v) in [
        (reg::CLOCK_FREQ_HZ, 10u32),
        (reg::LOAD_CNT, 10),
        (reg::STATUS, 1),
    ] {
        dev.try_mmio_write(r, &v.to_le_bytes()).unwrap();
    }
    for t in [S, 2 * S, 3 * S] {
        now.store(t, std::sync::atomic::Ordering::SeqCst);
        dev.run_due(t).unwrap();
    }
    assert_eq!(*seen.lock().unwrap(), vec![1]);
    assert_eq!(dev.vcpu_stats(0).unwrap().resets, 0);
}

/// A plugin of ABI 1.0: every 1.0 function works, the two of 1.1 fail with Unsupported.
const FAKE_1_0: &str = r#"
#include <stdint.h>
#include <stdlib.h>
static int dummy;
uint32_t vmwdt_abi_version(void) { return MINOR | 1u << 16; }
const char *vmwdt_strerror(int e) { return "fake"; }
int vmwdt_create(const void *c, const void *o, void **out) { *out = &dummy; return 0; }
void vmwdt_destroy(void *d) {}
int vmwdt_set_vcpu_thread(void *d, uint32_t c, int32_t p, int32_t t) { return 0; }
int vmwdt_mmio_write(void *d, uint64_t o, const void *p, uint32_t l) { return 0; }
int vmwdt_mmio_read(void *d, uint64_t o, void *p, uint32_t l) { return 0; }
int vmwdt_sleep(void *d) { return 0; }
int vmwdt_wake(void *d) { return 0; }
int vmwdt_snapshot_json(void *d, char **j) { return -12; }
int vmwdt_restore_json(void *d, const char *j) { return -22; }
void vmwdt_free(void *p) {}
int64_t vmwdt_next_deadline_ns(void *d) { return INT64_MAX; }
int vmwdt_run_due(void *d, int64_t n) { return 0; }
"#;

#[test]
fn a_1_0_plugin_is_refused_only_the_1_1_functions() {
    let map = "VMWDT_1.0 { global: vmwdt_*; local: *; };\n";
    let Some(so) = build_fake("fake-1-0", &format!("#define MINOR 0u\n{FAKE_1_0}"), map) else {
        return;
    };
    let p = Plugin::open(&so).unwrap();
    assert!(!p.has_1_1());
    let dev = Vmwdt::new(&p, Config::new(1), Callbacks::default()).unwrap();
    dev.try_mmio_write(reg::STATUS, &[1, 0, 0, 0]).unwrap();
    dev.sleep().unwrap();
    let e = dev.vcpu_stats(0).unwrap_err();
    assert!(matches!(
        e,
        Error::Unsupported {
            symbol: "vmwdt_vcpu_stats",
            needs_minor: 1,
            ..
        }
    ));
    assert_eq!(e.errno(), Some(-38));
    let text = e.to_string();
    assert!(
        text.contains("implements ABI 1.0: vmwdt_vcpu_stats needs ABI 1.1"),
        "{text}"
    );
    let e = dev.set_action(Action::Reset).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Unsupported {
                symbol: "vmwdt_set_action",
                ..
            }
        ),
        "{e:?}"
    );

    // One that claims 1.1 must have them at VMWDT_1.1.
    let Some(so) = build_fake(
        "fake-claims-1-1",
        &format!("#define MINOR 1u\n{FAKE_1_0}"),
        map,
    ) else {
        return;
    };
    match Plugin::open(&so).unwrap_err() {
        Error::MissingSymbol {
            symbol, version, ..
        } => {
            assert_eq!((symbol, version), ("vmwdt_vcpu_stats", "VMWDT_1.1"))
        }
        other => panic!("expected MissingSymbol, got {other:?}"),
    }
}

#[test]
fn log_levels_are_an_enum() {
    assert_eq!(LogLevel::from_syslog(4), LogLevel::Warning);
    assert_eq!(LogLevel::from_syslog(-3), LogLevel::Emerg);
    assert_eq!(LogLevel::from_syslog(99), LogLevel::Debug);
    assert_eq!(LogLevel::Err.as_syslog(), 3);
    assert!(LogLevel::Err < LogLevel::Warning, "more severe sorts first");
    let p = plugin_or_skip!();
    let sim = Sim::new(&p, 1, Action::IrqThenReset);
    assert!(sim.write(0, reg::CURRENT_CNT, 1).is_err());
    let logs = sim.w().logs.clone();
    assert!(
        logs.iter()
            .any(|(l, m)| *l == LogLevel::Warning && m.contains("CURRENT_CNT")),
        "{logs:?}"
    );
}

#[test]
fn gettid_names_the_calling_thread() {
    let link = std::fs::read_link("/proc/thread-self").unwrap();
    let tid: i32 = link.file_name().unwrap().to_str().unwrap().parse().unwrap();
    assert_eq!(gettid(), tid);
    let other = std::thread::spawn(gettid).join().unwrap();
    assert_ne!(other, tid);
    let p = plugin_or_skip!();
    let dev = Vmwdt::new(&p, Config::new(2), Callbacks::default()).unwrap();
    assert_eq!(dev.vcpu_stats(1).unwrap().clock, Some(Clock::Monotonic));
    dev.set_current_thread(1).unwrap();
    // AUTO without the host's guest time measures the named thread's CPU time.
    assert_eq!(dev.vcpu_stats(1).unwrap().clock, Some(Clock::ThreadCpu));
    assert_eq!(dev.vcpu_stats(ALL_CPUS).unwrap().clock, Some(Clock::Auto));
}
