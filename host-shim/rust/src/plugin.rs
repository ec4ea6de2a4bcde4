//! Loading `libvmwdt.so.1` (or any plugin implementing ABI 1) at run time.

use std::ffi::{CStr, CString};
use std::os::raw::{c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::sys;

/// The ABI major version this crate speaks.
pub const ABI_MAJOR: u32 = 1;
/// The ABI minor version this crate was written against. It works with a plugin of an older
/// minor too: the functions that plugin lacks then fail with [`Error::Unsupported`].
pub const ABI_MINOR: u32 = 1;

/// `dlerror()` is per thread in glibc, but `dlopen`/`dlvsym` followed by `dlerror` must not be
/// interleaved with another loader call of this crate on the same thread; a global lock keeps
/// the message paired with its call.
static DL_LOCK: Mutex<()> = Mutex::new(());

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the next dl call on
    // this thread; it is copied at once.
    unsafe {
        let msg = sys::dlerror();
        if msg.is_null() {
            "unknown dynamic loader error".to_owned()
        } else {
            CStr::from_ptr(msg).to_string_lossy().into_owned()
        }
    }
}

/// A loaded plugin: its handle and every ABI function it has, bound at its symbol version.
///
/// Devices keep an `Arc<Plugin>`, so the library stays loaded until the last device made from
/// it is dropped.
pub struct Plugin {
    handle: *mut c_void,
    path: PathBuf,
    version: u32,
    pub(crate) fns: sys::Fns,
}

// SAFETY: the handle is only passed to dlclose (once, in Drop) and the bound functions are
// plain C functions that the ABI declares callable from any thread (vmwdt_abi_version,
// vmwdt_strerror and vmwdt_free are stateless; device functions are guarded by Vmwdt).
unsafe impl Send for Plugin {}
unsafe impl Sync for Plugin {}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.path)
            .field("abi_major", &(self.version >> 16))
            .field("abi_minor", &(self.version & 0xffff))
            .finish()
    }
}

/// Closes a handle if loading fails half-way.
struct HandleGuard(*mut c_void);

impl Drop for HandleGuard {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: a handle returned by dlopen, closed once.
            unsafe {
                sys::dlclose(self.0);
            }
        }
    }
}

impl Plugin {
    /// Loads the plugin at `path`, checks that `vmwdt_abi_version()` reports major 1 and binds
    /// every ABI 1.0 function with `dlvsym(handle, name, "VMWDT_1.0")`, and, when the plugin
    /// reports minor 1 or later, the functions of 1.1 at `VMWDT_1.1`.
    ///
    /// A path without a `/` is searched for like `dlopen` does (`LD_LIBRARY_PATH`, the cache).
    ///
    /// # Errors
    /// [`Error::NotFound`] (a path with a `/` that does not exist), [`Error::Load`] (not a
    /// regular file, or `dlopen` failed), [`Error::MissingSymbol`] (a function of the plugin's
    /// version is not at its symbol version), [`Error::AbiVersion`] (another major version).
    pub fn open(path: impl AsRef<Path>) -> Result<Arc<Plugin>> {
        let path = path.as_ref().to_path_buf();
        let bytes = path.as_os_str().as_bytes();
        if bytes.contains(&b'/') {
            // Only a regular file is handed to dlopen: it would open a FIFO and wait for a
            // writer forever.
            match std::fs::metadata(&path) {
                Err(_) => return Err(Error::NotFound { path }),
                Ok(m) if !m.is_file() => {
                    return Err(Error::Load {
                        path,
                        reason: "not a regular file".to_owned(),
                    })
                }
                Ok(_) => {}
            }
        }
        let cpath = CString::new(bytes).map_err(|_| Error::Load {
            path: path.clone(),
            reason: "the path contains a NUL byte".to_owned(),
        })?;

        let _lock = DL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: cpath is a valid C string. Loading runs the library's constructors, which is
        // what loading a plugin means.
        let handle = unsafe { sys::dlopen(cpath.as_ptr(), sys::RTLD_NOW | sys::RTLD_LOCAL) };
        if handle.is_null() {
            let reason = dl_error();
            if !bytes.contains(&b'/') && reason.contains("No such file") {
                return Err(Error::NotFound { path });
            }
            return Err(Error::Load { path, reason });
        }
        let guard = HandleGuard(handle);

        let lookup_at = |symbol: &'static str, version: &'static [u8]| -> Result<*mut c_void> {
            let name = CString::new(symbol).expect("symbol names have no NUL");
            // SAFETY: valid handle and C strings; clear any stale error first.
            unsafe {
                sys::dlerror();
                let p = sys::dlvsym(handle, name.as_ptr(), version.as_ptr().cast());
                if p.is_null() {
                    return Err(Error::MissingSymbol {
                        path: path.clone(),
                        symbol,
                        version: std::str::from_utf8(&version[..version.len() - 1])
                            .expect("symbol versions are ASCII"),
                        reason: dl_error(),
                    });
                }
                Ok(p)
            }
        };
        let lookup = |symbol: &'static str| lookup_at(symbol, sys::SYMBOL_VERSION);

        // The version first: a plugin of another major may not have the other functions.
        let abi_version_ptr = lookup(sys::SYMBOLS[0])?;
        // SAFETY: the symbol is vmwdt_abi_version@VMWDT_1.0, `uint32_t (void)` by the ABI.
        let abi_version: sys::AbiVersionFn = unsafe { std::mem::transmute(abi_version_ptr) };
        // SAFETY: a C function taking nothing.
        let version = unsafe { abi_version() };
        if version >> 16 != ABI_MAJOR {
            return Err(Error::AbiVersion {
                path,
                found: version,
                expected_major: ABI_MAJOR,
            });
        }

        macro_rules! bind {
            ($name:expr, $ty:ty) => {{
                let p = lookup($name)?;
                // SAFETY: the symbol is the ABI function of that name at VMWDT_1.0, whose C
                // signature is $ty (abi/vmwdt.h).
                unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
            }};
        }

        let fns = sys::Fns {
            abi_version,
            strerror: bind!(sys::SYMBOLS[1], sys::StrerrorFn),
            create: bind!(sys::SYMBOLS[2], sys::CreateFn),
            destroy: bind!(sys::SYMBOLS[3], sys::DestroyFn),
            set_vcpu_thread: bind!(sys::SYMBOLS[4], sys::SetVcpuThreadFn),
            mmio_write: bind!(sys::SYMBOLS[5], sys::MmioWriteFn),
            mmio_read: bind!(sys::SYMBOLS[6], sys::MmioReadFn),
            sleep: bind!(sys::SYMBOLS[7], sys::DevFn),
            wake: bind!(sys::SYMBOLS[8], sys::DevFn),
            snapshot_json: bind!(sys::SYMBOLS[9], sys::SnapshotFn),
            restore_json: bind!(sys::SYMBOLS[10], sys::RestoreFn),
            free: bind!(sys::SYMBOLS[11], sys::FreeFn),
            next_deadline_ns: bind!(sys::SYMBOLS[12], sys::NextDeadlineFn),
            run_due: bind!(sys::SYMBOLS[13], sys::RunDueFn),
            vcpu_stats: None,
            set_action: None,
        };
        // The functions of 1.1, only from a plugin that reports 1.1 or later, which must then
        // have them at VMWDT_1.1. An older plugin's are left unbound.
        let mut fns = fns;
        if version & 0xffff >= 1 {
            let p = lookup_at(sys::SYMBOLS_1_1[0], sys::SYMBOL_VERSION_1_1)?;
            // SAFETY: vmwdt_vcpu_stats@VMWDT_1.1, whose C signature is VcpuStatsFn.
            fns.vcpu_stats =
                Some(unsafe { std::mem::transmute::<*mut c_void, sys::VcpuStatsFn>(p) });
            let p = lookup_at(sys::SYMBOLS_1_1[1], sys::SYMBOL_VERSION_1_1)?;
            // SAFETY: vmwdt_set_action@VMWDT_1.1, whose C signature is SetActionFn.
            fns.set_action =
                Some(unsafe { std::mem::transmute::<*mut c_void, sys::SetActionFn>(p) });
        }

        std::mem::forget(guard);
        Ok(Arc::new(Plugin {
            handle,
            path,
            version,
            fns,
        }))
    }

    /// The path the plugin was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `vmwdt_abi_version()`: `(major << 16) | minor`.
    pub fn abi_version(&self) -> u32 {
        // SAFETY: a C function taking nothing, bound while the library is loaded.
        unsafe { (self.fns.abi_version)() }
    }

    /// The plugin's ABI minor version.
    pub fn abi_minor(&self) -> u32 {
        self.version & 0xffff
    }

    /// Whether the plugin has the functions of ABI 1.1 ([`Vmwdt::vcpu_stats`],
    /// [`Vmwdt::set_action`]).
    ///
    /// [`Vmwdt::vcpu_stats`]: crate::Vmwdt::vcpu_stats
    /// [`Vmwdt::set_action`]: crate::Vmwdt::set_action
    pub fn has_1_1(&self) -> bool {
        self.fns.vcpu_stats.is_some() && self.fns.set_action.is_some()
    }

    /// The error of a function of ABI minor `minor` that this plugin, of an older minor, lacks.
    pub(crate) fn unsupported(&self, symbol: &'static str, minor: u32) -> Error {
        Error::Unsupported {
            path: self.path.clone(),
            symbol,
            found: self.version,
            needs_minor: minor,
        }
    }

    /// The plugin's description of an error value (`-errno` or `errno`).
    pub fn strerror(&self, err: i32) -> String {
        // SAFETY: vmwdt_strerror accepts any int and returns a static string (or NULL from a
        // misbehaving plugin, handled).
        unsafe {
            let s = (self.fns.strerror)(err as c_int);
            if s.is_null() {
                format!("error {}", err)
            } else {
                CStr::from_ptr(s).to_string_lossy().into_owned()
            }
        }
    }

    /// Turns a C return value into a result: negative values are errors.
    pub(crate) fn check(&self, op: &'static str, rc: c_int) -> Result<u32> {
        if rc < 0 {
            Err(self.call_error(op, rc))
        } else {
            Ok(rc as u32)
        }
    }

    pub(crate) fn call_error(&self, op: &'static str, errno: i32) -> Error {
        Error::Call {
            op,
            errno,
            text: self.strerror(errno),
        }
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _lock = DL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the handle came from dlopen and no device made from it is alive (each holds
        // an Arc<Plugin>).
        unsafe {
            sys::dlclose(self.handle);
        }
    }
}
