//! The README's example: `VMWDT_PLUGIN=path/to/libvmwdt.so.1 cargo run --example basic`.

use vmwdt::{Callbacks, Config, MutDeviceMmio, Plugin, Suspendable, Vmwdt};

fn main() -> Result<(), vmwdt::Error> {
    let path = std::env::var("VMWDT_PLUGIN").unwrap_or_else(|_| "libvmwdt.so.1".to_owned());
    let plugin = Plugin::open(path)?;
    let callbacks = Callbacks::new(
        |cpu| eprintln!("vCPU {cpu} stalled: inject its stall interrupt"),
        |cpu| eprintln!("vCPU {cpu} is still stalled: reset the VM"),
    );
    let config = Config::new(4); // AUTO clock, own worker thread
    let mut wdt = Vmwdt::new(&plugin, config, callbacks)?;

    // Route the guest's accesses to [base, base + 0x1000) here; offsets are relative.
    let base = 0x3000;
    wdt.mmio_write(base, 0x0c, &10u32.to_le_bytes()); // vCPU 0: CLOCK_FREQ_HZ = 10
    wdt.mmio_write(base, 0x04, &80u32.to_le_bytes()); // LOAD_CNT = 80: an 8 s window
    wdt.mmio_write(base, 0x00, &1u32.to_le_bytes()); // STATUS = 1: enabled

    // Migration: sleep and snapshot here, restore and wake on the destination.
    wdt.sleep()?;
    let state: String = wdt.snapshot()?;
    println!("{state}");
    wdt.restore(&state)?;
    wdt.wake()
}
