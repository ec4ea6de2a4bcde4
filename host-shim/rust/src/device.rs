//! A watchdog device made by a loaded plugin, with Rust closures as its host callbacks.

use std::cell::Cell;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use crate::config::{Config, LogLevel, Timers};
use crate::error::Result;
use crate::plugin::Plugin;
use crate::sys;

const EINVAL: i32 = 22;

/// What a trampoline does when a callback panics. A panic never unwinds into the C library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PanicPolicy {
    /// Print the panic and abort the process (the default: a host callback that panics is a
    /// host bug, and a lost reset request must not go unnoticed).
    #[default]
    Abort,
    /// Print the panic and go on: an event callback's event is dropped; a clock callback
    /// returns the last value it returned for that vCPU (0 before any). Counted in
    /// [`Vmwdt::callback_panics`].
    Log,
}

type CpuFn = Box<dyn Fn(u32) + Send + Sync>;
type CpuTimeFn = Box<dyn Fn(u32) -> i64 + Send + Sync>;
type NowFn = Box<dyn Fn() -> i64 + Send + Sync>;
type LogFn = Box<dyn Fn(LogLevel, &str) + Send + Sync>;

/// The host's side of the device: Rust closures the plugin calls back.
///
/// The closures may run on the plugin's worker thread (THREAD timers), inside
/// [`Vmwdt::run_due`] (EXTERNAL timers), and (`log`, `now_ns`, `guest_time_ns`) inside any call,
/// possibly from several threads at once; hence `Fn + Send + Sync`. A closure may call any
/// method of the device, and may drop the last reference to it (see [`Vmwdt`]).
pub struct Callbacks {
    raise_irq: CpuFn,
    request_reset: CpuFn,
    guest_time_ns: Option<CpuTimeFn>,
    now_ns: Option<NowFn>,
    log: Option<LogFn>,
    panic_policy: PanicPolicy,
}

impl Default for Callbacks {
    /// Callbacks that ignore interrupts and reset requests, with the plugin's default clocks
    /// and logging to stderr.
    fn default() -> Self {
        Callbacks::new(|_| {}, |_| {})
    }
}

impl std::fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callbacks")
            .field("guest_time_ns", &self.guest_time_ns.is_some())
            .field("now_ns", &self.now_ns.is_some())
            .field("log", &self.log.is_some())
            .field("panic_policy", &self.panic_policy)
            .finish()
    }
}

impl Callbacks {
    /// `raise_irq(cpu)`: the vCPU's stall interrupt (an edge). `request_reset(cpu)`: the stall
    /// persisted, reset the VM.
    pub fn new(
        raise_irq: impl Fn(u32) + Send + Sync + 'static,
        request_reset: impl Fn(u32) + Send + Sync + 'static,
    ) -> Self {
        Callbacks {
            raise_irq: Box::new(raise_irq),
            request_reset: Box::new(request_reset),
            guest_time_ns: None,
            now_ns: None,
            log: None,
            panic_policy: PanicPolicy::default(),
        }
    }

    /// The guest clock of a vCPU in nanoseconds, for [`Clock::Host`](crate::Clock::Host).
    pub fn guest_time_ns(mut self, f: impl Fn(u32) -> i64 + Send + Sync + 'static) -> Self {
        self.guest_time_ns = Some(Box::new(f));
        self
    }

    /// Host time in nanoseconds (the timebase of [`Vmwdt::next_deadline_ns`] and
    /// [`Vmwdt::run_due`]); without it the plugin uses CLOCK_MONOTONIC.
    pub fn now_ns(mut self, f: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.now_ns = Some(Box::new(f));
        self
    }

    /// The plugin's messages with their level; without it the plugin writes to stderr.
    pub fn log(mut self, f: impl Fn(LogLevel, &str) + Send + Sync + 'static) -> Self {
        self.log = Some(Box::new(f));
        self
    }

    /// What happens when a closure panics (default [`PanicPolicy::Abort`]).
    pub fn on_panic(mut self, policy: PanicPolicy) -> Self {
        self.panic_policy = policy;
        self
    }
}

/// The state behind `opaque`: lives on the heap, at a fixed address, until after
/// `vmwdt_destroy` returned.
struct HostState {
    cb: Callbacks,
    panics: AtomicU64,
    last_guest_time: Vec<AtomicI64>,
    last_now: AtomicI64,
    /// The device was dropped inside one of its own callbacks and is being destroyed by another
    /// thread: the closures are no longer called.
    dropped: AtomicBool,
}

/// A callback of one device running on this thread, linked to the callback it is nested in (a
/// closure may call another device, whose callbacks then run inside it).
struct CallbackFrame {
    host: *const HostState,
    outer: *const CallbackFrame,
}

thread_local! {
    /// The innermost callback running on this thread, or null. A plain pointer with no
    /// destructor, so that it stays usable while the thread ends.
    static INNERMOST_CALLBACK: Cell<*const CallbackFrame> = const { Cell::new(ptr::null()) };
}

/// Whether this thread is inside a callback of the device whose host state is `host`.
fn in_callback_of(host: *const HostState) -> bool {
    let mut frame = INNERMOST_CALLBACK.with(Cell::get);
    while !frame.is_null() {
        // SAFETY: every linked frame lives on this thread's stack in a guard() call that has
        // not returned yet; guard() unlinks its frame before returning.
        let f = unsafe { &*frame };
        if f.host == host {
            return true;
        }
        frame = f.outer;
    }
    false
}

impl HostState {
    fn guard<R>(&self, what: &str, f: impl FnOnce() -> R) -> Option<R> {
        if self.dropped.load(Ordering::Acquire) {
            return None;
        }
        let frame = CallbackFrame {
            host: self,
            outer: INNERMOST_CALLBACK.with(Cell::get),
        };
        INNERMOST_CALLBACK.with(|c| c.set(&frame));
        // catch_unwind returns in every case, so the frame is always unlinked.
        let result = catch_unwind(AssertUnwindSafe(f));
        INNERMOST_CALLBACK.with(|c| c.set(frame.outer));
        match result {
            Ok(r) => Some(r),
            Err(payload) => {
                drop_payload(payload);
                self.panics.fetch_add(1, Ordering::Relaxed);
                match self.cb.panic_policy {
                    PanicPolicy::Abort => {
                        report_panic(what, "aborting");
                        std::process::abort();
                    }
                    PanicPolicy::Log => {
                        report_panic(what, "ignored");
                        None
                    }
                }
            }
        }
    }
}

/// Drops a caught panic's payload. Its destructor may panic too, and that panic must not leave
/// the trampoline; a payload whose destructor panicked is leaked.
fn drop_payload(payload: Box<dyn std::any::Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// Says on stderr that a callback panicked. A failed write is ignored: eprintln! would panic,
/// and that panic would leave the trampoline.
fn report_panic(what: &str, outcome: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "vmwdt: the host's {} callback panicked; {}",
        what,
        outcome
    );
}

/// # Safety
/// `opaque` is the `HostState` of a live device (guaranteed by `Vmwdt`).
unsafe fn state<'a>(opaque: *mut c_void) -> &'a HostState {
    &*(opaque as *const HostState)
}

unsafe extern "C" fn tramp_raise_irq(opaque: *mut c_void, cpu: u32) {
    let st = state(opaque);
    st.guard("raise_irq", || (st.cb.raise_irq)(cpu));
}

unsafe extern "C" fn tramp_request_reset(opaque: *mut c_void, cpu: u32) {
    let st = state(opaque);
    st.guard("request_reset", || (st.cb.request_reset)(cpu));
}

unsafe extern "C" fn tramp_guest_time_ns(opaque: *mut c_void, cpu: u32) -> i64 {
    let st = state(opaque);
    let Some(f) = st.cb.guest_time_ns.as_ref() else {
        return 0;
    };
    let slot = st.last_guest_time.get(cpu as usize);
    match st.guard("guest_time_ns", || f(cpu)) {
        Some(v) => {
            if let Some(s) = slot {
                s.store(v, Ordering::Relaxed);
            }
            v
        }
        None => slot.map_or(0, |s| s.load(Ordering::Relaxed)),
    }
}

unsafe extern "C" fn tramp_now_ns(opaque: *mut c_void) -> i64 {
    let st = state(opaque);
    let Some(f) = st.cb.now_ns.as_ref() else {
        return 0;
    };
    match st.guard("now_ns", f) {
        Some(v) => {
            st.last_now.store(v, Ordering::Relaxed);
            v
        }
        None => st.last_now.load(Ordering::Relaxed),
    }
}

unsafe extern "C" fn tramp_log(opaque: *mut c_void, level: c_int, msg: *const c_char) {
    let st = state(opaque);
    let Some(f) = st.cb.log.as_ref() else {
        return;
    };
    let text = if msg.is_null() {
        std::borrow::Cow::Borrowed("")
    } else {
        CStr::from_ptr(msg).to_string_lossy()
    };
    st.guard("log", || f(LogLevel::from_syslog(level), &text));
}

/// A watchdog device. Dropping it calls `vmwdt_destroy`; no callback runs after the drop.
///
/// A closure may hold the last reference to its own device (an `Arc<Vmwdt>` it upgrades or
/// takes from a slot) and drop it. When that happens inside a callback on the library's worker
/// thread, the device is destroyed by a short-lived thread that waits for the callback to
/// return; the closures are not called again after the drop.
pub struct Vmwdt {
    plugin: Arc<Plugin>,
    dev: NonNull<sys::RawDevice>,
    /// From `Box::into_raw`; freed in `Drop` after `vmwdt_destroy`.
    host: NonNull<HostState>,
    config: Config,
}

// SAFETY: the C library allows every call on a device from any thread, and concurrent
// mmio_read / mmio_write (and the other non-destroying calls) from many threads; `destroy` only
// runs in Drop, which has exclusive access. The host state is only read through shared
// references and its closures are Send + Sync.
unsafe impl Send for Vmwdt {}
unsafe impl Sync for Vmwdt {}

impl std::fmt::Debug for Vmwdt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vmwdt")
            .field("plugin", &self.plugin.path())
            .field("config", &self.config)
            .finish()
    }
}

impl Vmwdt {
    /// Makes a device, awake, every register 0 and every vCPU disabled.
    ///
    /// # Errors
    /// [`Error::Call`](crate::Error::Call) from `vmwdt_create`: -EINVAL for `cpu_count`
    /// outside 1..=4096 or [`Clock::Host`](crate::Clock::Host) without a `guest_time_ns`
    /// closure; -ENOMEM. A worker thread of [`Timers::Thread`](crate::Timers::Thread) that
    /// cannot start is no error: it is logged and retried by later calls on the device.
    pub fn new(plugin: &Arc<Plugin>, config: Config, callbacks: Callbacks) -> Result<Vmwdt> {
        let slots = config.cpu_count.min(crate::MAX_CPUS) as usize;
        let host = NonNull::from(Box::leak(Box::new(HostState {
            last_guest_time: (0..slots).map(|_| AtomicI64::new(0)).collect(),
            last_now: AtomicI64::new(0),
            panics: AtomicU64::new(0),
            dropped: AtomicBool::new(false),
            cb: callbacks,
        })));
        // SAFETY: just leaked; only shared references are made from now on.
        let cb = unsafe { &host.as_ref().cb };
        let ops = sys::HostOps {
            size: std::mem::size_of::<sys::HostOps>() as u32,
            opaque: host.as_ptr().cast(),
            raise_irq: Some(tramp_raise_irq),
            request_reset: Some(tramp_request_reset),
            guest_time_ns: cb.guest_time_ns.as_ref().map(|_| tramp_guest_time_ns as _),
            now_ns: cb.now_ns.as_ref().map(|_| tramp_now_ns as _),
            log: cb.log.as_ref().map(|_| tramp_log as _),
        };
        let raw = sys::RawConfig {
            size: std::mem::size_of::<sys::RawConfig>() as u32,
            cpu_count: config.cpu_count,
            clock: config.clock as u32,
            action: config.action as u32,
            timers: config.timers as u32,
            flags: 0,
        };
        let mut dev: *mut sys::RawDevice = ptr::null_mut();
        // SAFETY: valid structs of the ABI's layout; ops.opaque points at the leaked HostState,
        // which stays alive until after vmwdt_destroy.
        let rc = unsafe { (plugin.fns.create)(&raw, &ops, &mut dev) };
        let check = plugin.check("vmwdt_create", rc).and_then(|_| {
            NonNull::new(dev).ok_or_else(|| plugin.call_error("vmwdt_create", -EINVAL))
        });
        match check {
            Ok(dev) => Ok(Vmwdt {
                plugin: Arc::clone(plugin),
                dev,
                host,
                config,
            }),
            Err(e) => {
                // SAFETY: from Box::leak above; the plugin made no device that could use it.
                drop(unsafe { Box::from_raw(host.as_ptr()) });
                Err(e)
            }
        }
    }

    /// The plugin this device was made by.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// The configuration the device was made with.
    pub fn config(&self) -> Config {
        self.config
    }

    /// How many times a callback panicked (with [`PanicPolicy::Log`]).
    pub fn callback_panics(&self) -> u64 {
        self.host().panics.load(Ordering::Relaxed)
    }

    fn host(&self) -> &HostState {
        // SAFETY: alive as long as self.
        unsafe { self.host.as_ref() }
    }

    pub(crate) fn raw(&self) -> *mut sys::RawDevice {
        self.dev.as_ptr()
    }

    /// A guest write at `offset` (relative to the device's base). Only aligned 4-byte accesses
    /// to an existing vCPU's registers are accepted. Callable from many vCPU threads at once.
    ///
    /// # Errors
    /// [`Error::Call`](crate::Error::Call) with -EINVAL for a refused access, which changes
    /// nothing (the plugin logs it, rate-limited).
    pub fn try_mmio_write(&self, offset: u64, data: &[u8]) -> Result<()> {
        let Ok(len) = u32::try_from(data.len()) else {
            return Err(self.plugin.call_error("vmwdt_mmio_write", -EINVAL));
        };
        // SAFETY: data is valid for len bytes; the device is alive.
        let rc =
            unsafe { (self.plugin.fns.mmio_write)(self.raw(), offset, data.as_ptr().cast(), len) };
        self.plugin.check("vmwdt_mmio_write", rc).map(|_| ())
    }

    /// A guest read at `offset` into `data`.
    ///
    /// # Errors
    /// [`Error::Call`](crate::Error::Call) with -EINVAL for a refused access; `data` is then
    /// filled with zeros.
    pub fn try_mmio_read(&self, offset: u64, data: &mut [u8]) -> Result<()> {
        let Ok(len) = u32::try_from(data.len()) else {
            data.fill(0);
            return Err(self.plugin.call_error("vmwdt_mmio_read", -EINVAL));
        };
        // SAFETY: data is valid for len bytes; the device is alive.
        let rc = unsafe {
            (self.plugin.fns.mmio_read)(self.raw(), offset, data.as_mut_ptr().cast(), len)
        };
        self.plugin.check("vmwdt_mmio_read", rc).map(|_| ())
    }

    /// Names the host thread running vCPU `cpu` (for the GUEST_TIME, THREAD_CPU and AUTO
    /// clocks); see also [`Vmwdt::set_current_thread`] and [`gettid`](crate::gettid).
    ///
    /// # Errors
    /// [`Error::Call`](crate::Error::Call): -EINVAL (cpu out of range, pid or tid not
    /// positive), -ENOENT or -ESRCH (no such thread).
    pub fn set_vcpu_thread(&self, cpu: u32, pid: i32, tid: i32) -> Result<()> {
        // SAFETY: the device is alive.
        let rc = unsafe { (self.plugin.fns.set_vcpu_thread)(self.raw(), cpu, pid, tid) };
        self.plugin.check("vmwdt_set_vcpu_thread", rc).map(|_| ())
    }

    /// EXTERNAL timers: the host time (the `now_ns` timebase) at which [`Vmwdt::run_due`] must
    /// next be called; `None` when nothing is armed (also while asleep, and with THREAD
    /// timers).
    pub fn next_deadline_ns(&self) -> Option<i64> {
        // SAFETY: the device is alive.
        let d = unsafe { (self.plugin.fns.next_deadline_ns)(self.raw()) };
        (d != i64::MAX).then_some(d)
    }

    /// EXTERNAL timers: handles every expiry due at or before `now_ns`, calling the
    /// `raise_irq` / `request_reset` closures from this thread. Returns how many events fired.
    ///
    /// # Errors
    /// [`Error::Call`](crate::Error::Call) with -EINVAL for a device with THREAD timers.
    pub fn run_due(&self, now_ns: i64) -> Result<u32> {
        // SAFETY: the device is alive.
        let rc = unsafe { (self.plugin.fns.run_due)(self.raw(), now_ns) };
        self.plugin.check("vmwdt_run_due", rc)
    }

    /// The device state as a JSON document; see
    /// [`Suspendable::snapshot`](crate::Suspendable::snapshot).
    ///
    /// # Errors
    /// [`Error::Call`](crate::Error::Call) with -ENOMEM.
    pub fn snapshot_json(&self) -> Result<String> {
        let mut out: *mut c_char = ptr::null_mut();
        // SAFETY: the device is alive; out receives a string the plugin allocated.
        let rc = unsafe { (self.plugin.fns.snapshot_json)(self.raw(), &mut out) };
        self.plugin.check("vmwdt_snapshot_json", rc)?;
        if out.is_null() {
            return Err(self.plugin.call_error("vmwdt_snapshot_json", -EINVAL));
        }
        // SAFETY: a NUL-terminated string from the plugin, copied, then freed with vmwdt_free.
        let text = unsafe {
            let s = CStr::from_ptr(out).to_string_lossy().into_owned();
            (self.plugin.fns.free)(out.cast());
            s
        };
        Ok(text)
    }

    /// Stops every countdown, keeping the budgets left. Takes `&self` so that a device shared
    /// by vCPU threads (`Arc<Vmwdt>`) can be put to sleep. Idempotent.
    ///
    /// # Errors
    /// [`Error::Call`](crate::Error::Call) when the plugin refuses it.
    pub fn sleep(&self) -> Result<()> {
        // SAFETY: the device is alive.
        let rc = unsafe { (self.plugin.fns.sleep)(self.raw()) };
        self.plugin.check("vmwdt_sleep", rc).map(|_| ())
    }

    /// Restarts the countdowns from the budgets kept. Idempotent.
    ///
    /// # Errors
    /// [`Error::Call`](crate::Error::Call) when the plugin refuses it.
    pub fn wake(&self) -> Result<()> {
        // SAFETY: the device is alive.
        let rc = unsafe { (self.plugin.fns.wake)(self.raw()) };
        self.plugin.check("vmwdt_wake", rc).map(|_| ())
    }

    /// Restores a snapshot document, all or nothing; the device is then asleep until
    /// [`Vmwdt::wake`]. Statistics start from 0 again.
    ///
    /// # Errors
    /// [`Error::Call`](crate::Error::Call): -EINVAL (not a valid document, another vCPU
    /// count, a NUL byte), -ERANGE (a value out of range), -ENOTSUP (a newer version).
    pub fn restore_json(&self, json: &str) -> Result<()> {
        // A document with a NUL byte is not a valid document.
        let Ok(c) = CString::new(json) else {
            return Err(self.plugin.call_error("vmwdt_restore_json", -EINVAL));
        };
        // SAFETY: the device is alive; c is a valid C string for the call.
        let rc = unsafe { (self.plugin.fns.restore_json)(self.raw(), c.as_ptr()) };
        self.plugin.check("vmwdt_restore_json", rc).map(|_| ())
    }
}

/// What destroying a device takes: the device, its host state and the loaded library.
struct Teardown {
    /// Some until run; a Teardown dropped without running leaks it all, library included,
    /// since a device that was not destroyed may still run the library's code.
    plugin: Option<Arc<Plugin>>,
    dev: NonNull<sys::RawDevice>,
    host: NonNull<HostState>,
}

// SAFETY: the C library lets any thread destroy a device, and the host state holds only atomics
// and Send + Sync closures.
unsafe impl Send for Teardown {}

impl Teardown {
    /// Destroys the device, then frees the host state: after vmwdt_destroy returns no callback
    /// runs, and none is running.
    ///
    /// # Safety
    /// No other call on the device runs or will run, and this thread is not inside one of its
    /// callbacks.
    unsafe fn run(mut self) {
        let plugin = self.plugin.take().expect("a teardown runs once");
        (plugin.fns.destroy)(self.dev.as_ptr());
        drop(Box::from_raw(self.host.as_ptr()));
    }
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Some(plugin) = self.plugin.take() {
            std::mem::forget(plugin);
        }
    }
}

impl Drop for Vmwdt {
    fn drop(&mut self) {
        let teardown = Teardown {
            plugin: Some(Arc::clone(&self.plugin)),
            dev: self.dev,
            host: self.host,
        };
        if !in_callback_of(self.host.as_ptr()) {
            // SAFETY: with &mut self no other call runs on the device, and this thread is not
            // inside one of its callbacks.
            unsafe { teardown.run() };
            return;
        }
        // A closure dropped the last reference to its own device. vmwdt_destroy must not run
        // inside the device's callback: it would free the device under the library's worker
        // and the closure that is running. The closures are not called from now on.
        self.host().dropped.store(true, Ordering::Release);
        if self.config.timers != Timers::Thread {
            // Only the worker thread calls back outside a call that borrows the device, so this
            // cannot happen from safe code; the device is leaked rather than destroyed while
            // the call that runs the callback goes on.
            return;
        }
        // Another thread destroys it: vmwdt_destroy waits for the worker, so for this callback
        // to return. If no thread can be started, the teardown is dropped and leaks the device.
        let _ = std::thread::Builder::new()
            .name("vmwdt-destroy".to_owned())
            // SAFETY: the new thread is inside no callback, and no call on the device is left:
            // this was its last reference, and the worker's callbacks end before destroy
            // returns.
            .spawn(move || unsafe { teardown.run() });
    }
}
