//! ABI 1.1: per-vCPU statistics and a run-time change of the action.

use crate::config::{Action, Clock};
use crate::device::Vmwdt;
use crate::error::Result;
use crate::sys;

/// [`Vmwdt::vcpu_stats`] of this "vCPU" gives sums over every vCPU (`VMWDT_ALL_CPUS`).
pub const ALL_CPUS: u32 = u32::MAX;

/// One vCPU's statistics (`struct vmwdt_vcpu_stats`), or sums over every vCPU.
///
/// Counters start at 0 when the device is made and after a restore, and are kept across sleep
/// and wake. Later versions may add fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct VcpuStats {
    /// STATUS as the guest would read it now (bit 0 enabled, bit 1 interrupt raised); 0 in
    /// sums.
    pub status: u32,
    /// The clock measuring this vCPU now, [`Clock::Auto`] resolved (the device's clock in
    /// sums); `None` for a value this crate does not know.
    pub clock: Option<Clock>,
    /// The action in force; `None` for a value this crate does not know.
    pub action: Option<Action>,
    /// Accepted LOAD_CNT writes.
    pub pets: u64,
    /// Accepted STATUS writes that enabled a disabled vCPU.
    pub enables: u64,
    /// Refused guest accesses (in sums, those past the last vCPU too).
    pub refused: u64,
    /// `raise_irq` calls.
    pub interrupts: u64,
    /// `request_reset` calls.
    pub resets: u64,
    /// The length of the current window in nanoseconds; 0 when not counting (and in sums).
    pub window_ns: i64,
    /// Guest time left in the current window in nanoseconds; -1 when not counting, 0 in sums.
    pub remaining_ns: i64,
}

impl VcpuStats {
    /// Whether the vCPU's watchdog is enabled.
    pub fn enabled(&self) -> bool {
        self.status & 1 != 0
    }

    /// Whether its stall interrupt is raised and not yet cleared by a pet or an enable.
    pub fn raised(&self) -> bool {
        self.status & 2 != 0
    }
}

impl Vmwdt {
    /// Statistics of vCPU `cpu`, or sums over every vCPU for [`ALL_CPUS`]. Callable from any
    /// thread, callbacks included; it holds a vCPU's lock only while it copies its state.
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported) with a plugin of ABI 1.0;
    /// [`Error::Call`](crate::Error::Call) with -EINVAL for a vCPU out of range.
    pub fn vcpu_stats(&self, cpu: u32) -> Result<VcpuStats> {
        let plugin = self.plugin();
        let f = plugin
            .fns
            .vcpu_stats
            .ok_or_else(|| plugin.unsupported("vmwdt_vcpu_stats", 1))?;
        let mut raw = sys::RawVcpuStats {
            size: std::mem::size_of::<sys::RawVcpuStats>() as u32,
            ..Default::default()
        };
        // SAFETY: the device is alive and raw is a struct of the ABI's layout and size.
        let rc = unsafe { f(self.raw(), cpu, &mut raw) };
        plugin.check("vmwdt_vcpu_stats", rc)?;
        Ok(VcpuStats {
            status: raw.status,
            clock: Clock::from_raw(raw.clock),
            action: Action::from_raw(raw.action),
            pets: raw.pets,
            enables: raw.enables,
            refused: raw.refused,
            interrupts: raw.interrupts,
            resets: raw.resets,
            window_ns: raw.window_ns,
            remaining_ns: raw.remaining_ns,
        })
    }

    /// Sets the action from the next expiry on. Callable from any thread, callbacks included.
    /// A countdown in its second window then ends as the new action allows: a reset request
    /// for [`Action::IrqThenReset`] and [`Action::Reset`], a log message otherwise.
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported) with a plugin of ABI 1.0.
    pub fn set_action(&self, action: Action) -> Result<()> {
        let plugin = self.plugin();
        let f = plugin
            .fns
            .set_action
            .ok_or_else(|| plugin.unsupported("vmwdt_set_action", 1))?;
        // SAFETY: the device is alive.
        let rc = unsafe { f(self.raw(), action as u32) };
        plugin.check("vmwdt_set_action", rc).map(|_| ())
    }

    /// Names the calling thread as the one running vCPU `cpu`:
    /// [`set_vcpu_thread`](Vmwdt::set_vcpu_thread) with this process and [`gettid`]. Call it
    /// from each vCPU thread before it first runs the guest.
    ///
    /// # Errors
    /// As [`set_vcpu_thread`](Vmwdt::set_vcpu_thread).
    pub fn set_current_thread(&self, cpu: u32) -> Result<()> {
        self.set_vcpu_thread(cpu, std::process::id() as i32, gettid())
    }
}

/// The calling thread's id (`gettid(2)`), the `tid` that
/// [`Vmwdt::set_vcpu_thread`] takes.
pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { sys::gettid() }
}
