//! The crate's error type.

use std::fmt;
use std::path::PathBuf;

/// What went wrong loading the plugin or calling it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The plugin file does not exist.
    NotFound { path: PathBuf },
    /// `dlopen` refused the file (not an ELF shared object, wrong architecture, a missing
    /// dependency, ...). `reason` is the loader's message.
    Load { path: PathBuf, reason: String },
    /// The plugin lacks an ABI function at symbol version `VMWDT_1.0`.
    MissingSymbol {
        path: PathBuf,
        symbol: &'static str,
        reason: String,
    },
    /// The plugin reports an ABI major version other than the one this crate speaks.
    AbiVersion {
        path: PathBuf,
        /// `vmwdt_abi_version()` as the plugin returned it: `(major << 16) | minor`.
        found: u32,
        expected_major: u32,
    },
    /// A plugin function failed. `errno` is the negative errno value it returned and `text`
    /// the plugin's `vmwdt_strerror()` text for it.
    Call {
        op: &'static str,
        errno: i32,
        text: String,
    },
}

impl Error {
    /// The negative errno value of a failed call, or `None` for a load error.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Call { errno, .. } => Some(*errno),
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
                reason,
            } => write!(
                f,
                "vmwdt plugin {}: missing symbol {}@VMWDT_1.0: {}",
                path.display(),
                symbol,
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
            Error::Call { op, errno, text } => write!(f, "{} failed: {} ({})", op, errno, text),
        }
    }
}

impl std::error::Error for Error {}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
