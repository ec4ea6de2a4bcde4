//! The crate as a rust-vmm VMM uses it with `vm-device` 0.1: a `DeviceMmio` device on the bus,
//! reached by every vCPU thread at once without a lock, and a callback that goes through the
//! bus again without deadlocking.
//!
//! No crate registry is reachable here, so `vm_device` below reproduces the two items of
//! vm-device 0.1 that the README's newtype uses, with their exact paths and signatures; the
//! newtype itself is the README's text, checked to be there word for word.

mod common;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use vmwdt::{reg, Action, Callbacks, Clock, Config, Timers, Vmwdt};

/// vm-device 0.1's `bus::MmioAddress`, `bus::MmioAddressOffset` and `DeviceMmio`.
#[allow(dead_code)]
mod vm_device {
    pub mod bus {
        pub type MmioAddressOffset = u64;
        #[derive(Clone, Copy, Debug)]
        pub struct MmioAddress(pub MmioAddressOffset);
    }
    pub trait DeviceMmio {
        fn mmio_read(
            &self,
            base: bus::MmioAddress,
            offset: bus::MmioAddressOffset,
            data: &mut [u8],
        );
        fn mmio_write(&self, base: bus::MmioAddress, offset: bus::MmioAddressOffset, data: &[u8]);
    }
}

/// The README's newtype, verbatim between the markers.
mod readme {
    use super::vm_device;
    // README newtype begins
    use vm_device::bus::{MmioAddress, MmioAddressOffset};
    use vm_device::DeviceMmio;

    /// The watchdog on a vm-device bus: `Arc::new(Watchdog(dev))` registers as a
    /// `DeviceMmio` (the orphan rule needs a type of the VMM's own).
    pub struct Watchdog(pub vmwdt::Vmwdt);

    impl DeviceMmio for Watchdog {
        fn mmio_read(&self, base: MmioAddress, offset: MmioAddressOffset, data: &mut [u8]) {
            vmwdt::DeviceMmio::mmio_read(&self.0, vmwdt::MmioAddress(base.0), offset, data)
        }

        fn mmio_write(&self, base: MmioAddress, offset: MmioAddressOffset, data: &[u8]) {
            vmwdt::DeviceMmio::mmio_write(&self.0, vmwdt::MmioAddress(base.0), offset, data)
        }
    }
    // README newtype ends
}

use readme::Watchdog;
use vm_device::bus::MmioAddress;
use vm_device::DeviceMmio;

const BASE: MmioAddress = MmioAddress(0x3000);

/// The text between the markers, as it must appear in the README.
fn newtype_text() -> String {
    let me = include_str!("vm_device.rs");
    let begin = me.find("// README newtype begins\n").unwrap() + "// README newtype begins\n".len();
    let end = me.find("    // README newtype ends").unwrap();
    me[begin..end]
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_readme_shows_this_newtype() {
    let readme = include_str!("../README.md");
    let text = newtype_text();
    assert!(
        readme.contains(text.trim_end()),
        "README.md lacks the tested newtype:\n{text}"
    );
}

#[test]
fn vcpus_share_the_device_on_the_bus_without_a_lock() {
    let p = plugin_or_skip!();
    const CPUS: u32 = 4;
    const PETS: u64 = 5000;
    let cfg = Config::new(CPUS).with_clock(Clock::Monotonic);
    let dev = Vmwdt::new(&p, cfg, Callbacks::default()).unwrap();
    let bus: Arc<dyn DeviceMmio + Send + Sync> = Arc::new(Watchdog(dev));
    let threads: Vec<_> = (0..CPUS)
        .map(|cpu| {
            let bus = Arc::clone(&bus);
            std::thread::spawn(move || {
                let off = |r| reg::offset(cpu, r);
                bus.mmio_write(BASE, off(reg::CLOCK_FREQ_HZ), &10u32.to_le_bytes());
                bus.mmio_write(BASE, off(reg::STATUS), &1u32.to_le_bytes());
                for _ in 0..PETS {
                    bus.mmio_write(BASE, off(reg::LOAD_CNT), &100u32.to_le_bytes());
                    let mut b = [0u8; 4];
                    bus.mmio_read(BASE, off(reg::STATUS), &mut b);
                    assert_eq!(u32::from_le_bytes(b), 1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut b = [0u8; 4];
    bus.mmio_read(BASE, reg::offset(CPUS - 1, reg::LOAD_CNT), &mut b);
    assert_eq!(u32::from_le_bytes(b), 100);
}

#[test]
fn a_callback_reaches_the_device_through_the_bus() {
    let p = plugin_or_skip!();
    let bus_slot: Arc<OnceLock<Arc<dyn DeviceMmio + Send + Sync>>> = Arc::new(OnceLock::new());
    let read_in_callback = Arc::new(AtomicU64::new(0));
    let now = Arc::new(AtomicI64::new(0));
    let (slot, seen, n1, n2) = (
        bus_slot.clone(),
        read_in_callback.clone(),
        now.clone(),
        now.clone(),
    );
    let cb = Callbacks::new(
        move |cpu| {
            // With a Mutex around the device this would wait for the lock run_due holds.
            let bus = slot.get().expect("the bus");
            let mut b = [0u8; 4];
            bus.mmio_read(BASE, reg::offset(cpu, reg::STATUS), &mut b);
            seen.store(u64::from(u32::from_le_bytes(b)), Ordering::SeqCst);
        },
        |_| {},
    )
    .now_ns(move || n1.load(Ordering::SeqCst))
    .guest_time_ns(move |_| n2.load(Ordering::SeqCst));
    let cfg = Config::new(1)
        .with_clock(Clock::Host)
        .with_timers(Timers::External)
        .with_action(Action::IrqOnly);
    let wd = Arc::new(Watchdog(Vmwdt::new(&p, cfg, cb).unwrap()));
    let bus: Arc<dyn DeviceMmio + Send + Sync> = wd.clone();
    assert!(bus_slot.set(Arc::clone(&bus)).is_ok());
    for (r, v) in [
        (reg::CLOCK_FREQ_HZ, 10u32),
        (reg::LOAD_CNT, 10),
        (reg::STATUS, 1),
    ] {
        bus.mmio_write(BASE, r, &v.to_le_bytes());
    }
    now.store(1_000_000_000, Ordering::SeqCst);
    assert_eq!(wd.0.run_due(1_000_000_000).unwrap(), 1);
    // STATUS read inside raise_irq: enabled, interrupt raised.
    assert_eq!(read_in_callback.load(Ordering::SeqCst), 3);
}
