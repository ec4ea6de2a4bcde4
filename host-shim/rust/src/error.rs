//! The crate's error type.

use std::fmt;
use std::path::PathBuf;

/// What went wrong loading the plugin or calling it.
///
/// Later versions may add variants: a `match` needs a `_` arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The plugin file does not exist.
    NotFound {
        /// The path given to [`Plugin::open`](crate::Plugin::open).
        path: PathBuf,
    },
    /// `dlopen` refused the file (not an ELF shared object, wrong architecture, a missing
    /// dependency, ...).
    Load {
        /// The path given to [`Plugin::open`](crate::Plugin::open).
        path: PathBuf,
        /// The dynamic loader's message.
        reason: String,
    },
    /// The plugin lacks an ABI function at the symbol version that function belongs to.
    MissingSymbol {
        /// The plugin's path.
        path: PathBuf,
        /// The function, e.g. `vmwdt_run_due`.
        symbol: &'static str,
        /// Its symbol version, `VMWDT_1.0` or `VMWDT_1.1`.
        version: &'static str,
        /// The dynamic loader's message.
        reason: String,
    },
    /// The plugin reports an ABI major version other than the one this crate speaks.
    AbiVersion {
        /// The plugin's path.
        path: PathBuf,
        /// `vmwdt_abi_version()` as the plugin returned it: `(major << 16) | minor`.
        found: u32,
        /// The major version this crate speaks ([`ABI_MAJOR`](crate::ABI_MAJOR)).
        expected_major: u32,
    },
    /// The plugin implements an older minor version of the ABI, without this function.
    Unsupported {
        /// The plugin's path.
        path: PathBuf,
        /// The function, e.g. `vmwdt_vcpu_stats`.
        symbol: &'static str,
        /// `vmwdt_abi_version()` as the plugin returned it: `(major << 16) | minor`.
        found: u32,
        /// The minor version that added the function.
        needs_minor: u32,
    },
    /// A plugin function failed.
    Call {
        /// The C function, e.g. `vmwdt_create`.
        op: &'static str,
        /// The negative errno value it returned.
        errno: i32,
        /// The plugin's `vmwdt_strerror()` text for it.
        text: String,
    },
}

impl Error {
    /// The negative errno value of a failed call (`-ENOSYS` for [`Error::Unsupported`]), or
    /// `None` for a load error.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Call { errno, .. } => Some(*errno),
            Error::Unsupported { .. } => Some(-38),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound { path } => {
                write!(f, "vmwdt plugin {}: no such file", path.display())
            }
            Error::Load { path, reason } => {
                write!(
                    f,
                    "vmwdt plugin {}: cannot be loaded: {}",
                    path.display(),
                    reason
                )
            }
            Error::MissingSymbol {
                path,
                symbol,
                version,
                reason,
            } => write!(
                f,
                "vmwdt plugin {}: missing symbol {}@{}: {}",
                path.display(),
                symbol,
                version,
                reason
            ),
            Error::AbiVersion {
                path,
                found,
                expected_major,
            } => write!(
                f,
                "vmwdt plugin {}: ABI version {}.{}, this crate needs major {}",
                path.display(),
                found >> 16,
                found & 0xffff,
                expected_major
            ),
            Error::Unsupported {
                path,
                symbol,
                found,
                needs_minor,
            } => write!(
                f,
                "vmwdt plugin {} implements ABI {}.{}: {} needs ABI {}.{}",
                path.display(),
                found >> 16,
                found & 0xffff,
                symbol,
                found >> 16,
                needs_minor
            ),
            Error::Call { op, errno, text } => write!(f, "{} failed: {} ({})", op, errno, text),
        }
    }
}

impl std::error::Error for Error {}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
