//! Rust bindings for **vmwdt**, the per-vCPU stall-detector watchdog (the device behind Linux's
//! `vcpu_stall_detector` driver, first implemented by crosvm), loaded at run time from
//! `libvmwdt.so.1` or any plugin that implements its C ABI 1.
//!
//! ```no_run
//! use vmwdt::{Callbacks, Config, MutDeviceMmio, Plugin, Vmwdt};
//!
//! let plugin = Plugin::open("/usr/lib/x86_64-linux-gnu/libvmwdt.so.1")?;
//! let callbacks = Callbacks::new(
//!     |cpu| println!("vCPU {cpu} stalled: raise its interrupt"),
//!     |cpu| println!("vCPU {cpu} stayed stalled: reset the VM"),
//! );
//! let mut dev = Vmwdt::new(&plugin, Config { cpu_count: 2, ..Config::default() }, callbacks)?;
//! // What the guest driver does for vCPU 0: 10 Hz, an 8 s window, enable.
//! dev.mmio_write(0x3000, 0x0c, &10u32.to_le_bytes());
//! dev.mmio_write(0x3000, 0x04, &80u32.to_le_bytes());
//! dev.mmio_write(0x3000, 0x00, &1u32.to_le_bytes());
//! # Ok::<(), vmwdt::Error>(())
//! ```
//!
//! The crate has no dependencies beyond std: it declares `dlopen`, `dlvsym`, `dlerror` and
//! `dlclose` itself and binds every ABI function at symbol version `VMWDT_1.0`.

mod device;
mod error;
mod plugin;
mod sys;

pub use device::{
    log_level, Action, Callbacks, Clock, Config, MutDeviceMmio, PanicPolicy, Suspendable, Timers,
    Vmwdt,
};
pub use error::{Error, Result};
pub use plugin::{Plugin, ABI_MAJOR, ABI_MINOR};

/// Register offsets within a vCPU's 16 bytes (`VMWDT_REG_*`).
pub mod reg {
    pub const STATUS: u64 = 0x00;
    pub const LOAD_CNT: u64 = 0x04;
    pub const CURRENT_CNT: u64 = 0x08;
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
