//! The device on an MMIO bus, shaped like rust-vmm's `vm-device` traits, and crosvm-style
//! power management.

use crate::device::Vmwdt;
use crate::error::Result;

/// A guest-physical MMIO address: the newtype of `vm_device::bus::MmioAddress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MmioAddress(pub u64);

/// A device access shaped like rust-vmm's `vm_device::DeviceMmio`: `&self`, so that a device
/// shared by every vCPU (`Arc<Vmwdt>`, or registered on a bus as `Arc<dyn DeviceMmio>`) is
/// reached without a lock, and vCPUs never wait on each other. [`Vmwdt`] is `Sync`.
///
/// `base` is the device's guest-physical base address and is not used: `offset` is relative
/// to it. Refused accesses (the plugin logs them) are dropped and a refused read leaves zeros;
/// [`Vmwdt::try_mmio_read`] and [`Vmwdt::try_mmio_write`] say why.
///
/// A callback may access the device again (through the bus or directly): no lock is held.
pub trait DeviceMmio {
    /// A guest read of `data.len()` bytes at `offset`.
    fn mmio_read(&self, base: MmioAddress, offset: u64, data: &mut [u8]);
    /// A guest write of `data` at `offset`.
    fn mmio_write(&self, base: MmioAddress, offset: u64, data: &[u8]);
}

/// The same access with `&mut self`, shaped like rust-vmm's `vm_device::MutDeviceMmio`, for a
/// bus that owns its devices exclusively. It costs nothing over [`DeviceMmio`]: both make the
/// same call.
pub trait MutDeviceMmio {
    /// A guest read of `data.len()` bytes at `offset` (`base` is not used).
    fn mmio_read(&mut self, base: u64, offset: u64, data: &mut [u8]);
    /// A guest write of `data` at `offset` (`base` is not used).
    fn mmio_write(&mut self, base: u64, offset: u64, data: &[u8]);
}

/// Power management and migration, shaped like crosvm's `Suspendable`.
pub trait Suspendable {
    /// Stops every countdown, keeping the budgets left. Idempotent.
    ///
    /// # Errors
    /// [`Error::Call`](crate::Error::Call) when the plugin refuses it.
    fn sleep(&mut self) -> Result<()>;
    /// Restarts the countdowns from the budgets kept. Idempotent.
    ///
    /// # Errors
    /// [`Error::Call`](crate::Error::Call) when the plugin refuses it.
    fn wake(&mut self) -> Result<()>;
    /// The device state as a JSON document (`vmwdt-snapshot`, version 1).
    ///
    /// # Errors
    /// [`Error::Call`](crate::Error::Call) with -ENOMEM when the plugin cannot allocate it.
    fn snapshot(&mut self) -> Result<String>;
    /// Restores a snapshot, all or nothing; on success the device is asleep until `wake`.
    ///
    /// # Errors
    /// [`Error::Call`](crate::Error::Call): -EINVAL (not a valid document, another vCPU
    /// count), -ERANGE (a value out of range), -ENOTSUP (a newer document version).
    fn restore(&mut self, json: &str) -> Result<()>;
}

impl DeviceMmio for Vmwdt {
    fn mmio_read(&self, _base: MmioAddress, offset: u64, data: &mut [u8]) {
        // A refused read was logged by the plugin and left zeros in data.
        let _ = self.try_mmio_read(offset, data);
    }

    fn mmio_write(&self, _base: MmioAddress, offset: u64, data: &[u8]) {
        // A refused write was logged by the plugin and changed nothing.
        let _ = self.try_mmio_write(offset, data);
    }
}

impl MutDeviceMmio for Vmwdt {
    fn mmio_read(&mut self, base: u64, offset: u64, data: &mut [u8]) {
        DeviceMmio::mmio_read(self, MmioAddress(base), offset, data);
    }

    fn mmio_write(&mut self, base: u64, offset: u64, data: &[u8]) {
        DeviceMmio::mmio_write(self, MmioAddress(base), offset, data);
    }
}

impl Suspendable for Vmwdt {
    fn sleep(&mut self) -> Result<()> {
        Vmwdt::sleep(self)
    }

    fn wake(&mut self) -> Result<()> {
        Vmwdt::wake(self)
    }

    fn snapshot(&mut self) -> Result<String> {
        self.snapshot_json()
    }

    fn restore(&mut self, json: &str) -> Result<()> {
        self.restore_json(json)
    }
}

/// A shared device is a device: what vm-device does for its own `Arc<T>`.
impl<T: DeviceMmio + ?Sized> DeviceMmio for std::sync::Arc<T> {
    fn mmio_read(&self, base: MmioAddress, offset: u64, data: &mut [u8]) {
        (**self).mmio_read(base, offset, data);
    }

    fn mmio_write(&self, base: MmioAddress, offset: u64, data: &[u8]) {
        (**self).mmio_write(base, offset, data);
    }
}
