//! Threads and lifetimes: concurrent MMIO from many vCPU threads, no callback after drop, the
//! boxed closures freed with the device, panics kept on the Rust side, callbacks calling back
//! into the device, a device dropped inside its own callback.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use common::{Ev, Sim, S};
use vmwdt::{reg, Action, Callbacks, Clock, Config, PanicPolicy, Timers, Vmwdt};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn device_is_send_and_sync() {
    assert_send_sync::<Vmwdt>();
    assert_send_sync::<vmwdt::Plugin>();
    assert_send_sync::<Callbacks>();
}

#[test]
fn concurrent_mmio_from_vcpu_threads() {
    let p = plugin_or_skip!();
    let cpus = 8u32;
    let events = Arc::new(AtomicUsize::new(0));
    let (e1, e2) = (events.clone(), events.clone());
    let dev = Arc::new(
        Vmwdt::new(
            &p,
            Config::new(cpus).with_clock(Clock::Monotonic),
            Callbacks::new(
                move |_| {
                    e1.fetch_add(1, Ordering::SeqCst);
                },
                move |_| {
                    e2.fetch_add(1, Ordering::SeqCst);
                },
            ),
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..cpus)
        .map(|cpu| {
            let dev = dev.clone();
            std::thread::spawn(move || {
                let w = |r, v: u32| {
                    dev.try_mmio_write(reg::offset(cpu, r), &v.to_le_bytes())
                        .unwrap()
                };
                let r = |r| {
                    let mut b = [0u8; 4];
                    dev.try_mmio_read(reg::offset(cpu, r), &mut b).unwrap();
                    u32::from_le_bytes(b)
                };
                w(reg::CLOCK_FREQ_HZ, 10);
                w(reg::LOAD_CNT, 80 + cpu);
                w(reg::STATUS, 1);
                for _ in 0..2000 {
                    w(reg::LOAD_CNT, 80 + cpu);
                    assert_eq!(r(reg::LOAD_CNT), 80 + cpu);
                    assert_eq!(r(reg::STATUS), 1);
                }
                w(reg::STATUS, 0);
            })
        })
        .collect();
    // Meanwhile the VMM thread suspends, snapshots and resumes the shared device.
    for _ in 0..50 {
        dev.sleep().unwrap();
        let doc = dev.snapshot_json().unwrap();
        assert!(doc.contains("vmwdt-snapshot"));
        dev.wake().unwrap();
        std::thread::yield_now();
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(events.load(Ordering::SeqCst), 0);
}

/// With the library's worker thread firing every millisecond, dropping the device stops every
/// callback and frees the boxed closures.
#[test]
fn no_callback_after_drop() {
    let p = plugin_or_skip!();
    let fired = Arc::new(AtomicUsize::new(0));
    let (f1, f2) = (fired.clone(), fired.clone());
    let dev = Vmwdt::new(
        &p,
        Config::new(2)
            .with_clock(Clock::Monotonic)
            .with_action(Action::IrqOnly)
            .with_timers(Timers::Thread),
        Callbacks::new(
            move |_| {
                f1.fetch_add(1, Ordering::SeqCst);
            },
            move |_| {
                f2.fetch_add(1, Ordering::SeqCst);
            },
        )
        .log(|_, _| {}),
    )
    .unwrap();
    for cpu in 0..2 {
        dev.try_mmio_write(reg::offset(cpu, reg::CLOCK_FREQ_HZ), &1000u32.to_le_bytes())
            .unwrap();
        dev.try_mmio_write(reg::offset(cpu, reg::LOAD_CNT), &1u32.to_le_bytes())
            .unwrap();
        dev.try_mmio_write(reg::offset(cpu, reg::STATUS), &1u32.to_le_bytes())
            .unwrap();
    }
    // Re-arm every millisecond or so until some interrupts have come.
    let start = Instant::now();
    while fired.load(Ordering::SeqCst) < 4 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(2));
        for cpu in 0..2 {
            dev.try_mmio_write(reg::offset(cpu, reg::LOAD_CNT), &1u32.to_le_bytes())
                .unwrap();
        }
    }
    assert!(
        fired.load(Ordering::SeqCst) >= 4,
        "the worker thread never fired"
    );
    drop(dev);
    let after = fired.load(Ordering::SeqCst);
    assert_eq!(
        Arc::strong_count(&fired),
        1,
        "the closures were freed with the device"
    );
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(fired.load(Ordering::SeqCst), after);
}

/// A closure may hold the last reference to its own device (through a slot the host fills after
/// making it). Dropping that reference inside the callback, on the library's worker thread, must
/// neither free the running closure's captures nor destroy the device under the worker: the
/// device is destroyed once the callback has returned, and no closure runs after the drop.
#[test]
fn drop_inside_its_own_callback() {
    let p = plugin_or_skip!();
    let slot: Arc<Mutex<Option<Arc<Vmwdt>>>> = Arc::new(Mutex::new(None));
    let calls = Arc::new(AtomicUsize::new(0));
    let (s1, c1, c2) = (slot.clone(), calls.clone(), calls.clone());
    let (tx, rx) = std::sync::mpsc::channel::<usize>();
    let tx = Mutex::new(tx);
    let cb = Callbacks::new(
        move |_| {
            let n = c1.fetch_add(1, Ordering::SeqCst);
            // The last reference to the device, dropped inside the device's own callback.
            let last = s1.lock().unwrap().take();
            drop(last);
            // The closure is still running: what it captured must still be there.
            let _ = tx.lock().unwrap().send(n);
        },
        move |_| {
            c2.fetch_add(1, Ordering::SeqCst);
        },
    )
    .log(|_, _| {});
    let dev = Arc::new(
        Vmwdt::new(
            &p,
            Config::new(1)
                .with_clock(Clock::Monotonic)
                .with_action(Action::IrqThenReset)
                .with_timers(Timers::Thread),
            cb,
        )
        .unwrap(),
    );
    // 10 Hz, 1 tick: the interrupt 100 ms after the enable, the reset request 100 ms later.
    let w = |r, v: u32| {
        dev.try_mmio_write(reg::offset(0, r), &v.to_le_bytes())
            .unwrap()
    };
    w(reg::CLOCK_FREQ_HZ, 10);
    w(reg::LOAD_CNT, 1);
    *slot.lock().unwrap() = Some(dev.clone());
    w(reg::STATUS, 1);
    drop(dev);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(20)),
        Ok(0),
        "the callback that dropped its device could still use its own captures"
    );
    // The device is destroyed on another thread once the callback returned; the closures go
    // with it.
    let start = Instant::now();
    while Arc::strong_count(&calls) > 1 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        Arc::strong_count(&calls),
        1,
        "the closures were freed once the device was destroyed"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "no closure ran after the drop (the reset request was due 100 ms later)"
    );
}

/// A panicking closure does not unwind into the C library: with PanicPolicy::Log it is
/// counted and the device goes on.
#[test]
fn panics_stay_on_the_rust_side() {
    let p = plugin_or_skip!();
    let now = Arc::new(Mutex::new(0i64));
    let resets = Arc::new(Mutex::new(Vec::new()));
    // How many times each panicking closure was entered.
    let irq_calls = Arc::new(AtomicU64::new(0));
    let log_calls = Arc::new(AtomicU64::new(0));
    let clock_panics = Arc::new(AtomicU64::new(0));
    let (n1, n2, n3, r1) = (now.clone(), now.clone(), now.clone(), resets.clone());
    let (ic, lc, cp) = (irq_calls.clone(), log_calls.clone(), clock_panics.clone());
    let freeze = Arc::new(AtomicBool::new(false));
    let fz = freeze.clone();
    let cb = Callbacks::new(
        move |cpu| {
            ic.fetch_add(1, Ordering::SeqCst);
            panic!("raise_irq for vCPU {cpu} panics on purpose")
        },
        move |cpu| r1.lock().unwrap().push((*n1.lock().unwrap(), cpu)),
    )
    .now_ns(move || *n2.lock().unwrap())
    .guest_time_ns(move |_| {
        if fz.load(Ordering::SeqCst) {
            cp.fetch_add(1, Ordering::SeqCst);
            panic!("guest_time_ns panics on purpose");
        }
        *n3.lock().unwrap()
    })
    .log(move |_, _| {
        lc.fetch_add(1, Ordering::SeqCst);
        panic!("log panics on purpose")
    })
    .on_panic(PanicPolicy::Log);
    let dev = Vmwdt::new(
        &p,
        Config::new(1)
            .with_clock(Clock::Host)
            .with_action(Action::IrqThenReset)
            .with_timers(Timers::External),
        cb,
    )
    .unwrap();
    let total = || {
        irq_calls.load(Ordering::SeqCst)
            + log_calls.load(Ordering::SeqCst)
            + clock_panics.load(Ordering::SeqCst)
    };
    let w = |r, v: u32| dev.try_mmio_write(reg::offset(0, r), &v.to_le_bytes());
    w(reg::CLOCK_FREQ_HZ, 10).unwrap();
    w(reg::LOAD_CNT, 10).unwrap();
    w(reg::STATUS, 1).unwrap();
    // A refused write makes the plugin log, and the log closure panics.
    assert!(w(reg::CURRENT_CNT, 1).is_err());
    assert!(
        log_calls.load(Ordering::SeqCst) >= 1,
        "the refusal is logged"
    );
    assert_eq!(
        dev.callback_panics(),
        total(),
        "every panic caught and counted"
    );

    let run_until = |t: i64| {
        while let Some(d) = dev.next_deadline_ns().filter(|&d| d <= t) {
            *now.lock().unwrap() = d;
            dev.run_due(d).unwrap();
        }
        *now.lock().unwrap() = t;
    };
    run_until(S + S / 2);
    assert_eq!(irq_calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        dev.callback_panics(),
        total(),
        "raise_irq's panic was caught"
    );
    run_until(2 * S + S / 2);
    assert_eq!(
        *resets.lock().unwrap(),
        vec![(2 * S, 0)],
        "the device went on to the reset"
    );

    // A guest clock that panics reads as its last value (2.5 s): frozen, so nothing expires.
    w(reg::LOAD_CNT, 10).unwrap();
    freeze.store(true, Ordering::SeqCst);
    run_until(20 * S);
    assert!(clock_panics.load(Ordering::SeqCst) >= 1);
    assert_eq!(dev.callback_panics(), total());
    assert_eq!(
        irq_calls.load(Ordering::SeqCst),
        1,
        "no expiry on a frozen clock"
    );
    assert_eq!(resets.lock().unwrap().len(), 1);
}

/// The child half of `caught_panics_never_escape`: a log closure that panics while stderr cannot
/// be written, then one whose panic payload panics when dropped. Both must be caught.
fn panic_child(p: &Arc<vmwdt::Plugin>) {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("the panic payload panics when dropped");
        }
    }
    let bomb = Arc::new(AtomicBool::new(false));
    let b1 = bomb.clone();
    let cb = Callbacks::default()
        .log(move |_, _| {
            if b1.load(Ordering::SeqCst) {
                std::panic::panic_any(PanicsOnDrop);
            }
            panic!("log panics on purpose");
        })
        .on_panic(PanicPolicy::Log);
    let dev = Vmwdt::new(
        p,
        Config::new(1)
            .with_clock(Clock::Monotonic)
            .with_action(Action::IrqOnly)
            .with_timers(Timers::External),
        cb,
    )
    .unwrap();
    let refused = |dev: &Vmwdt| {
        dev.try_mmio_write(reg::offset(0, reg::CURRENT_CNT), &1u32.to_le_bytes())
            .is_err()
    };
    assert!(refused(&dev));
    assert_eq!(dev.callback_panics(), 1);
    bomb.store(true, Ordering::SeqCst);
    // The guest-message rate limit still lets a second refusal through at once.
    assert!(refused(&dev));
    assert_eq!(dev.callback_panics(), 2);
    println!("VMWDT-CHILD-DONE");
}

/// With PanicPolicy::Log, reporting a caught panic cannot panic in turn and escape into the C
/// library (which aborts the process): not when stderr cannot be written, and not when the
/// panic's payload panics as it is dropped. Run in a child process whose stderr is /dev/full.
#[test]
fn caught_panics_never_escape() {
    let p = plugin_or_skip!();
    if std::env::var_os("VMWDT_PANIC_CHILD").is_some() {
        panic_child(&p);
        return;
    }
    let full = match std::fs::OpenOptions::new().write(true).open("/dev/full") {
        Ok(f) => f,
        Err(e) => {
            eprintln!("skipped: /dev/full: {e}");
            return;
        }
    };
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "caught_panics_never_escape",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("VMWDT_PANIC_CHILD", "1")
        .stdin(std::process::Stdio::null())
        .stderr(full)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("VMWDT-CHILD-DONE"),
        "the child failed ({}):\n{}",
        out.status,
        stdout
    );
}

/// A callback may call back into the device (any function but destroy).
#[test]
fn callbacks_may_call_the_device() {
    let p = plugin_or_skip!();
    let slot: Arc<OnceLock<Weak<Vmwdt>>> = Arc::new(OnceLock::new());
    let seen = Arc::new(AtomicU32::new(u32::MAX));
    let now = Arc::new(Mutex::new(0i64));
    let (s1, seen1, n1, n2) = (slot.clone(), seen.clone(), now.clone(), now.clone());
    let cb = Callbacks::new(
        move |cpu| {
            let dev = s1.get().and_then(Weak::upgrade).expect("device");
            let mut b = [0u8; 4];
            dev.try_mmio_read(reg::offset(cpu, reg::STATUS), &mut b)
                .unwrap();
            seen1.store(u32::from_le_bytes(b), Ordering::SeqCst);
            // Pet from inside the callback: the reset never comes.
            dev.try_mmio_write(reg::offset(cpu, reg::LOAD_CNT), &10u32.to_le_bytes())
                .unwrap();
            let _ = dev.snapshot_json().unwrap();
            let _ = dev.next_deadline_ns();
        },
        |_| panic!("no reset expected"),
    )
    .now_ns(move || *n1.lock().unwrap())
    .guest_time_ns(move |_| *n2.lock().unwrap());
    let dev = Arc::new(
        Vmwdt::new(
            &p,
            Config::new(1)
                .with_clock(Clock::Host)
                .with_action(Action::IrqThenReset)
                .with_timers(Timers::External),
            cb,
        )
        .unwrap(),
    );
    slot.set(Arc::downgrade(&dev)).unwrap();
    for (r, v) in [
        (reg::CLOCK_FREQ_HZ, 10u32),
        (reg::LOAD_CNT, 10),
        (reg::STATUS, 1),
    ] {
        dev.try_mmio_write(reg::offset(0, r), &v.to_le_bytes())
            .unwrap();
    }
    *now.lock().unwrap() = S;
    assert_eq!(dev.next_deadline_ns(), Some(S));
    assert_eq!(dev.run_due(S).unwrap(), 1);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        0b11,
        "raised while the callback runs"
    );
    assert_eq!(
        dev.next_deadline_ns(),
        Some(2 * S),
        "the pet in the callback re-armed"
    );
}

/// The virtual-time helper and the device agree with a frozen vCPU next to a running one.
#[test]
fn sim_sanity() {
    let p = plugin_or_skip!();
    let mut sim = Sim::new(&p, 2, Action::IrqThenReset);
    sim.driver_online(0, 1, 1);
    sim.driver_online(1, 1, 1);
    sim.pause(1);
    sim.advance_to(10 * S);
    assert_eq!(
        sim.take_events(),
        vec![(Ev::Irq, S, 0), (Ev::Reset, 2 * S, 0)]
    );
}
