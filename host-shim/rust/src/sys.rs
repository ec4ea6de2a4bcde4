//! Raw declarations: the C structs of `abi/vmwdt.h` and the few glibc functions used to load
//! the plugin. Nothing here is public outside the crate.

use std::os::raw::{c_char, c_int, c_void};

/// The symbol version every ABI 1.0 function is bound at.
pub(crate) const SYMBOL_VERSION: &[u8] = b"VMWDT_1.0\0";
/// The symbol version of the functions ABI 1.1 added.
pub(crate) const SYMBOL_VERSION_1_1: &[u8] = b"VMWDT_1.1\0";

pub(crate) const RTLD_NOW: c_int = 0x2;
pub(crate) const RTLD_LOCAL: c_int = 0;

// glibc >= 2.34 keeps these in libc itself, which std already links.
extern "C" {
    pub(crate) fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    pub(crate) fn dlvsym(
        handle: *mut c_void,
        symbol: *const c_char,
        version: *const c_char,
    ) -> *mut c_void;
    pub(crate) fn dlerror() -> *mut c_char;
    pub(crate) fn dlclose(handle: *mut c_void) -> c_int;
    pub(crate) fn gettid() -> i32;
}

/// The opaque C device (`vmwdt`).
#[repr(C)]
pub(crate) struct RawDevice {
    _private: [u8; 0],
}

/// `struct vmwdt_host_ops`.
#[repr(C)]
pub(crate) struct HostOps {
    pub size: u32,
    pub opaque: *mut c_void,
    pub raise_irq: Option<unsafe extern "C" fn(*mut c_void, u32)>,
    pub request_reset: Option<unsafe extern "C" fn(*mut c_void, u32)>,
    pub guest_time_ns: Option<unsafe extern "C" fn(*mut c_void, u32) -> i64>,
    pub now_ns: Option<unsafe extern "C" fn(*mut c_void) -> i64>,
    pub log: Option<unsafe extern "C" fn(*mut c_void, c_int, *const c_char)>,
}

/// `struct vmwdt_config`.
#[repr(C)]
pub(crate) struct RawConfig {
    pub size: u32,
    pub cpu_count: u32,
    pub clock: u32,
    pub action: u32,
    pub timers: u32,
    pub flags: u32,
}

/// `struct vmwdt_vcpu_stats` (ABI 1.1).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RawVcpuStats {
    pub size: u32,
    pub status: u32,
    pub clock: u32,
    pub action: u32,
    pub pets: u64,
    pub enables: u64,
    pub refused: u64,
    pub interrupts: u64,
    pub resets: u64,
    pub window_ns: i64,
    pub remaining_ns: i64,
}

pub(crate) type AbiVersionFn = unsafe extern "C" fn() -> u32;
pub(crate) type StrerrorFn = unsafe extern "C" fn(c_int) -> *const c_char;
pub(crate) type CreateFn =
    unsafe extern "C" fn(*const RawConfig, *const HostOps, *mut *mut RawDevice) -> c_int;
pub(crate) type DestroyFn = unsafe extern "C" fn(*mut RawDevice);
pub(crate) type SetVcpuThreadFn = unsafe extern "C" fn(*mut RawDevice, u32, i32, i32) -> c_int;
pub(crate) type MmioWriteFn =
    unsafe extern "C" fn(*mut RawDevice, u64, *const c_void, u32) -> c_int;
pub(crate) type MmioReadFn = unsafe extern "C" fn(*mut RawDevice, u64, *mut c_void, u32) -> c_int;
pub(crate) type DevFn = unsafe extern "C" fn(*mut RawDevice) -> c_int;
pub(crate) type SnapshotFn = unsafe extern "C" fn(*mut RawDevice, *mut *mut c_char) -> c_int;
pub(crate) type RestoreFn = unsafe extern "C" fn(*mut RawDevice, *const c_char) -> c_int;
pub(crate) type FreeFn = unsafe extern "C" fn(*mut c_void);
pub(crate) type NextDeadlineFn = unsafe extern "C" fn(*mut RawDevice) -> i64;
pub(crate) type RunDueFn = unsafe extern "C" fn(*mut RawDevice, i64) -> c_int;
pub(crate) type VcpuStatsFn = unsafe extern "C" fn(*mut RawDevice, u32, *mut RawVcpuStats) -> c_int;
pub(crate) type SetActionFn = unsafe extern "C" fn(*mut RawDevice, u32) -> c_int;

/// Every function of the ABI: those of 1.0 bound at `VMWDT_1.0`, those of 1.1 at `VMWDT_1.1`
/// when the plugin reports minor 1 or later (`None` with a 1.0 plugin).
pub(crate) struct Fns {
    pub abi_version: AbiVersionFn,
    pub strerror: StrerrorFn,
    pub create: CreateFn,
    pub destroy: DestroyFn,
    pub set_vcpu_thread: SetVcpuThreadFn,
    pub mmio_write: MmioWriteFn,
    pub mmio_read: MmioReadFn,
    pub sleep: DevFn,
    pub wake: DevFn,
    pub snapshot_json: SnapshotFn,
    pub restore_json: RestoreFn,
    pub free: FreeFn,
    pub next_deadline_ns: NextDeadlineFn,
    pub run_due: RunDueFn,
    pub vcpu_stats: Option<VcpuStatsFn>,
    pub set_action: Option<SetActionFn>,
}

/// The names of the ABI functions, in `abi/vmwdt.h` order.
pub(crate) const SYMBOLS: [&str; 14] = [
    "vmwdt_abi_version",
    "vmwdt_strerror",
    "vmwdt_create",
    "vmwdt_destroy",
    "vmwdt_set_vcpu_thread",
    "vmwdt_mmio_write",
    "vmwdt_mmio_read",
    "vmwdt_sleep",
    "vmwdt_wake",
    "vmwdt_snapshot_json",
    "vmwdt_restore_json",
    "vmwdt_free",
    "vmwdt_next_deadline_ns",
    "vmwdt_run_due",
];

/// The functions ABI 1.1 added, at `VMWDT_1.1`.
pub(crate) const SYMBOLS_1_1: [&str; 2] = ["vmwdt_vcpu_stats", "vmwdt_set_action"];
