//! Rust bindings for **vmwdt**, the per-vCPU stall-detector watchdog (the device behind Linux's
//! `vcpu_stall_detector` driver, first implemented by crosvm), loaded at run time from
//! `libvmwdt.so.1` or any plugin that implements its C ABI 1.
//!
//! ```no_run
//! use std::sync::Arc;
//! use vmwdt::{Callbacks, Config, DeviceMmio, MmioAddress, Plugin, Vmwdt};
//!
//! let plugin = Plugin::open("/usr/lib/x86_64-linux-gnu/libvmwdt.so.1")?;
//! let callbacks = Callbacks::new(
//!     |cpu| println!("vCPU {cpu} stalled: raise its interrupt"),
//!     |cpu| println!("vCPU {cpu} stayed stalled: reset the VM"),
//! );
//! // Shared by every vCPU thread: the device is Sync, vCPUs never wait on each other.
//! let dev = Arc::new(Vmwdt::new(&plugin, Config::new(2), callbacks)?);
//! // What the guest driver does for vCPU 0: 10 Hz, an 8 s window, enable.
//! let base = MmioAddress(0x3000);
//! dev.mmio_write(base, 0x0c, &10u32.to_le_bytes());
//! dev.mmio_write(base, 0x04, &80u32.to_le_bytes());
//! dev.mmio_write(base, 0x00, &1u32.to_le_bytes());
//! // ABI 1.1: statistics, and the action changed at run time.
//! let stats = dev.vcpu_stats(0)?;
//! assert_eq!(stats.pets, 1);
//! dev.set_action(vmwdt::Action::IrqOnly)?;
//! # Ok::<(), vmwdt::Error>(())
//! ```
//!
//! The crate has no dependencies beyond std: it declares `dlopen`, `dlvsym`, `dlerror`,
//! `dlclose` and `gettid` itself, binds the functions of ABI 1.0 at symbol version
//! `VMWDT_1.0`, and those of 1.1 at `VMWDT_1.1` when the plugin reports 1.1 or later; with a
//! 1.0 plugin they fail with [`Error::Unsupported`] and everything else works.
#![deny(missing_docs)]

mod config;
mod device;
mod error;
mod mmio;
mod plugin;
mod stats;
mod sys;

pub use config::{Action, Clock, Config, LogLevel, Timers};
pub use device::{Callbacks, PanicPolicy, Vmwdt};
pub use error::{Error, Result};
pub use mmio::{DeviceMmio, MmioAddress, MutDeviceMmio, Suspendable};
pub use plugin::{Plugin, ABI_MAJOR, ABI_MINOR};
pub use stats::{gettid, VcpuStats, ALL_CPUS};

/// Register offsets within a vCPU's 16 bytes (`VMWDT_REG_*`).
pub mod reg {
    /// STATUS: nonzero enables, 0 disables; reads bit 0 enabled, bit 1 interrupt raised.
    pub const STATUS: u64 = 0x00;
    /// LOAD_CNT: a pet; the window is this many ticks of CLOCK_FREQ_HZ.
    pub const LOAD_CNT: u64 = 0x04;
    /// CURRENT_CNT: ticks left in the window (read-only).
    pub const CURRENT_CNT: u64 = 0x08;
    /// CLOCK_FREQ_HZ: the tick frequency for the next pet or enable.
    pub const CLOCK_FREQ_HZ: u64 = 0x0C;
    /// vCPU `n`'s registers start at `n * STRIDE`.
    pub const STRIDE: u64 = 0x10;

    /// The offset of register `reg` of vCPU `cpu`.
    pub const fn offset(cpu: u32, reg: u64) -> u64 {
        cpu as u64 * STRIDE + reg
    }
}

/// The most vCPUs a device may have (`VMWDT_MAX_CPUS`).
pub const MAX_CPUS: u32 = 4096;
