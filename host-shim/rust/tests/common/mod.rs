//! Shared helpers of the integration tests: the plugin under test, a virtual-time host and a
//! small JSON reader for snapshot documents.
#![allow(dead_code)]

pub mod json;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard};

use vmwdt::{reg, Action, Callbacks, Clock, Config, Plugin, Timers, Vmwdt};

pub const MS: i64 = 1_000_000;
pub const S: i64 = 1_000_000_000;
pub const EINVAL: i32 = -22;
pub const ERANGE: i32 = -34;
pub const ENOTSUP: i32 = -95;

/// Whether the tests run in continuous integration (`CI` set, and not to "false" or "0"),
/// where a test that cannot find the plugin must fail rather than skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The plugin named by `VMWDT_PLUGIN`, or `None` (the test then skips, saying why). In CI a
/// missing plugin fails the test instead: a run that skipped everything would look green.
pub fn plugin() -> Option<Arc<Plugin>> {
    match std::env::var_os("VMWDT_PLUGIN") {
        None if in_ci() => panic!(
            "CI is set but VMWDT_PLUGIN is not: no plugin to test (point it at libvmwdt.so.1)"
        ),
        None => {
            // Straight to stderr: the test harness captures eprintln! of passing tests.
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED: VMWDT_PLUGIN is not set; point it at libvmwdt.so.1 to run the \
                     tests that need the plugin"
                );
            });
            None
        }
        Some(p) => Some(Plugin::open(&p).unwrap_or_else(|e| panic!("cannot load the plugin: {e}"))),
    }
}

/// Evaluates to the plugin, or returns from the test when `VMWDT_PLUGIN` is unset.
#[macro_export]
macro_rules! plugin_or_skip {
    () => {
        match common::plugin() {
            Some(p) => p,
            None => return,
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ev {
    Irq,
    Reset,
}

/// One guest clock: runs at host rate unless paused.
#[derive(Debug, Clone, Copy)]
struct GuestClock {
    /// Guest time accumulated up to `since` (or up to the pause).
    base: i64,
    /// Host time since which the clock runs; `None` while paused.
    since: Option<i64>,
}

/// The host as the device sees it, in virtual time.
#[derive(Debug)]
pub struct World {
    pub now: i64,
    guest: Vec<GuestClock>,
    pub events: Vec<(Ev, i64, u32)>,
    pub logs: Vec<(vmwdt::LogLevel, String)>,
}

impl World {
    pub fn guest_time(&self, cpu: u32) -> i64 {
        let g = self.guest[cpu as usize];
        match g.since {
            Some(s) => g.base + (self.now - s),
            None => g.base,
        }
    }
}

/// A device with EXTERNAL timers and the HOST clock, driven in virtual time.
pub struct Sim {
    pub dev: Vmwdt,
    pub world: Arc<Mutex<World>>,
    pub fired: u64,
}

impl Sim {
    /// `cpus` vCPUs whose guest clocks run from host time 0 (guest time 0 at t = 0).
    pub fn new(plugin: &Arc<Plugin>, cpus: u32, action: Action) -> Sim {
        Sim::starting_at(plugin, cpus, action, 0, 0)
    }

    /// Host time starts at `now`; every guest clock reads `guest` then and runs.
    pub fn starting_at(
        plugin: &Arc<Plugin>,
        cpus: u32,
        action: Action,
        now: i64,
        guest: i64,
    ) -> Sim {
        let world = Arc::new(Mutex::new(World {
            now,
            guest: vec![
                GuestClock {
                    base: guest,
                    since: Some(now)
                };
                cpus as usize
            ],
            events: Vec::new(),
            logs: Vec::new(),
        }));
        let (w1, w2, w3, w4, w5) = (
            world.clone(),
            world.clone(),
            world.clone(),
            world.clone(),
            world.clone(),
        );
        let cb = Callbacks::new(
            move |cpu| {
                let mut w = w1.lock().unwrap();
                let t = w.now;
                w.events.push((Ev::Irq, t, cpu));
            },
            move |cpu| {
                let mut w = w2.lock().unwrap();
                let t = w.now;
                w.events.push((Ev::Reset, t, cpu));
            },
        )
        .guest_time_ns(move |cpu| w3.lock().unwrap().guest_time(cpu))
        .now_ns(move || w4.lock().unwrap().now)
        .log(move |level, msg| w5.lock().unwrap().logs.push((level, msg.to_owned())));
        let config = Config::new(cpus)
            .with_clock(Clock::Host)
            .with_action(action)
            .with_timers(Timers::External);
        let dev = Vmwdt::new(plugin, config, cb).expect("vmwdt_create");
        Sim {
            dev,
            world,
            fired: 0,
        }
    }

    pub fn w(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }

    pub fn now(&self) -> i64 {
        self.w().now
    }

    /// Moves virtual time to `t`, running every deadline `d <= t` at `d` first.
    pub fn advance_to(&mut self, t: i64) {
        assert!(
            t >= self.now(),
            "virtual time never goes back ({} -> {})",
            self.now(),
            t
        );
        let mut rounds = 0u32;
        while let Some(d) = self.dev.next_deadline_ns() {
            if d > t {
                break;
            }
            rounds += 1;
            assert!(
                rounds < 100_000,
                "run_due makes no progress: deadline stays at {d}"
            );
            let d = d.max(self.now());
            self.w().now = d;
            let n = self.dev.run_due(d).expect("vmwdt_run_due");
            self.fired += u64::from(n);
        }
        self.w().now = t;
    }

    pub fn advance_by(&mut self, dt: i64) {
        let t = self.now() + dt;
        self.advance_to(t);
    }

    /// Freezes vCPU `cpu`'s guest clock now.
    pub fn pause(&self, cpu: u32) {
        let mut w = self.w();
        let g = w.guest_time(cpu);
        w.guest[cpu as usize] = GuestClock {
            base: g,
            since: None,
        };
    }

    /// Lets vCPU `cpu`'s guest clock run again from now.
    pub fn resume(&self, cpu: u32) {
        let mut w = self.w();
        let now = w.now;
        let c = &mut w.guest[cpu as usize];
        assert!(c.since.is_none(), "vCPU {cpu} is not paused");
        c.since = Some(now);
    }

    pub fn write(&self, cpu: u32, r: u64, value: u32) -> vmwdt::Result<()> {
        self.dev
            .try_mmio_write(reg::offset(cpu, r), &value.to_le_bytes())
    }

    pub fn read(&self, cpu: u32, r: u64) -> u32 {
        let mut b = [0u8; 4];
        self.dev
            .try_mmio_read(reg::offset(cpu, r), &mut b)
            .expect("a valid read");
        u32::from_le_bytes(b)
    }

    /// What the Linux driver does when a CPU comes online: frequency, count, enable.
    pub fn driver_online(&self, cpu: u32, hz: u32, count: u32) {
        self.write(cpu, reg::CLOCK_FREQ_HZ, hz).unwrap();
        self.write(cpu, reg::LOAD_CNT, count).unwrap();
        self.write(cpu, reg::STATUS, 1).unwrap();
    }

    pub fn pet(&self, cpu: u32, count: u32) {
        self.write(cpu, reg::LOAD_CNT, count).unwrap();
    }

    /// The events since the previous call.
    pub fn take_events(&self) -> Vec<(Ev, i64, u32)> {
        std::mem::take(&mut self.w().events)
    }

    pub fn snapshot_doc(&self) -> json::Value {
        let text = self.dev.snapshot_json().expect("vmwdt_snapshot_json");
        json::parse(&text).unwrap_or_else(|e| panic!("snapshot is not JSON ({e}): {text}"))
    }
}

pub fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("vmwdt-loading");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Builds a shared object from C source and a version script with the system C compiler;
/// `None` (the caller skips) when there is no compiler.
pub fn build_fake(name: &str, source: &str, map: &str) -> Option<PathBuf> {
    let c = tmp(&format!("{name}.c"));
    let m = tmp(&format!("{name}.map"));
    let so = tmp(&format!("{name}.so"));
    std::fs::write(&c, source).unwrap();
    std::fs::write(&m, map).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let status = Command::new(&cc)
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&c)
        .arg(format!("-Wl,--version-script={}", m.display()))
        .status();
    match status {
        Ok(s) if s.success() => Some(so),
        Ok(s) => panic!("{cc} failed to build the fake plugin {name}: {s}"),
        Err(e) => {
            eprintln!("SKIPPED: no C compiler ({cc}: {e}) to build a fake plugin");
            None
        }
    }
}
