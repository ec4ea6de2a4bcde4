//! Plugin::open errors (missing file, not a library, a FIFO, missing symbol, wrong ABI version)
//! and configurations the plugin refuses.

mod common;

use std::process::Command;

use common::{build_fake, tmp, EINVAL};
use vmwdt::{Callbacks, Clock, Config, Error, Plugin, Timers, Vmwdt};

#[test]
fn missing_file() {
    let e = Plugin::open("/nonexistent/dir/libvmwdt.so.1").unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert!(
        e.to_string().contains("/nonexistent/dir/libvmwdt.so.1"),
        "{e}"
    );
    let e = Plugin::open("libvmwdt-that-does-not-exist.so.1").unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
}

#[test]
fn not_a_library() {
    let path = tmp("not-a-library.so");
    std::fs::write(&path, "this is text, not ELF\n").unwrap();
    let e = Plugin::open(&path).unwrap_err();
    match &e {
        Error::Load { reason, .. } => assert!(!reason.is_empty()),
        other => panic!("expected Error::Load, got {other:?}"),
    }
}

/// A FIFO named as the plugin is refused at once: dlopen would wait for a writer forever.
#[test]
fn fifo_is_refused_without_blocking() {
    let path = tmp("fifo.so");
    let _ = std::fs::remove_file(&path);
    match Command::new("mkfifo").arg(&path).status() {
        Ok(s) if s.success() => {}
        other => {
            eprintln!("SKIPPED: mkfifo failed: {other:?}");
            return;
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let p = path.clone();
    std::thread::spawn(move || {
        let _ = tx.send(Plugin::open(&p).map(|_| ()));
    });
    let got = rx.recv_timeout(std::time::Duration::from_secs(10));
    let _ = std::fs::remove_file(&path);
    match got {
        Ok(Err(Error::Load { reason, .. })) => assert!(reason.contains("regular file"), "{reason}"),
        other => panic!("expected Error::Load at once, got {other:?}"),
    }
}

#[test]
fn library_without_the_abi() {
    // glibc's libm is loadable and has no vmwdt symbols.
    let e = Plugin::open("libm.so.6").unwrap_err();
    match &e {
        Error::MissingSymbol { symbol, .. } => assert_eq!(*symbol, "vmwdt_abi_version"),
        other => panic!("expected Error::MissingSymbol, got {other:?}"),
    }
    assert!(e.to_string().contains("vmwdt_abi_version@VMWDT_1.0"), "{e}");
}

#[test]
fn wrong_major_version() {
    let Some(so) = build_fake(
        "fake-v2",
        "unsigned int vmwdt_abi_version(void) { return 2u << 16 | 3u; }\n",
        "VMWDT_1.0 { global: vmwdt_abi_version; local: *; };\n",
    ) else {
        return;
    };
    let e = Plugin::open(&so).unwrap_err();
    match e {
        Error::AbiVersion {
            found,
            expected_major,
            ..
        } => {
            assert_eq!(found, 0x0002_0003);
            assert_eq!(expected_major, 1);
        }
        other => panic!("expected Error::AbiVersion, got {other:?}"),
    }
}

#[test]
fn symbol_missing_after_version() {
    let Some(so) = build_fake(
        "fake-partial",
        "unsigned int vmwdt_abi_version(void) { return 1u << 16; }\n",
        "VMWDT_1.0 { global: vmwdt_abi_version; local: *; };\n",
    ) else {
        return;
    };
    match Plugin::open(&so).unwrap_err() {
        Error::MissingSymbol { symbol, .. } => assert_eq!(symbol, "vmwdt_strerror"),
        other => panic!("expected Error::MissingSymbol, got {other:?}"),
    }
}

#[test]
fn symbol_at_another_version() {
    // The right name at the wrong symbol version is not the ABI function.
    let Some(so) = build_fake(
        "fake-other-node",
        "unsigned int vmwdt_abi_version(void) { return 1u << 16; }\n",
        "VMWDT_0.9 { global: vmwdt_abi_version; local: *; };\n",
    ) else {
        return;
    };
    match Plugin::open(&so).unwrap_err() {
        Error::MissingSymbol { symbol, .. } => assert_eq!(symbol, "vmwdt_abi_version"),
        other => panic!("expected Error::MissingSymbol, got {other:?}"),
    }
}

#[test]
fn the_real_plugin() {
    let p = plugin_or_skip!();
    assert_eq!(p.abi_version() >> 16, vmwdt::ABI_MAJOR);
    assert_eq!(p.abi_minor(), p.abi_version() & 0xffff);
    assert!(!p.strerror(-22).is_empty());
    assert_eq!(p.strerror(-22), p.strerror(22), "accepts -errno or errno");
    assert!(format!("{p:?}").contains("abi_major: 1"));
    // A second handle on the same library is independent.
    let q = Plugin::open(p.path()).unwrap();
    drop(q);
    assert_eq!(p.abi_version() >> 16, 1);
}

#[test]
fn refused_configurations() {
    let p = plugin_or_skip!();
    let bad = |config: Config, cb: Callbacks| match Vmwdt::new(&p, config, cb) {
        Err(e) => {
            assert_eq!(e.errno(), Some(EINVAL), "{config:?}: {e}");
            assert!(e.to_string().contains("vmwdt_create"), "{e}");
        }
        Ok(_) => panic!("{config:?} was accepted"),
    };
    bad(Config::new(0), Callbacks::default());
    bad(Config::new(vmwdt::MAX_CPUS + 1), Callbacks::default());
    bad(Config::new(1).with_clock(Clock::Host), Callbacks::default());

    let ok =
        Vmwdt::new(&p, Config::new(vmwdt::MAX_CPUS), Callbacks::default()).expect("4096 vCPUs");
    assert_eq!(ok.config().cpu_count, vmwdt::MAX_CPUS);
    // THREAD timers: no deadline for the host, and run_due is refused.
    assert_eq!(ok.next_deadline_ns(), None);
    assert_eq!(ok.run_due(0).unwrap_err().errno(), Some(EINVAL));

    let ext = Vmwdt::new(
        &p,
        Config::new(1)
            .with_clock(Clock::Monotonic)
            .with_timers(Timers::External),
        Callbacks::default().now_ns(|| 0),
    )
    .unwrap();
    assert_eq!(ext.run_due(0).unwrap(), 0);
}

#[test]
fn set_vcpu_thread() {
    let p = plugin_or_skip!();
    let dev = Vmwdt::new(&p, Config::new(2), Callbacks::default()).unwrap();
    // "<pid>/task/<tid>" of this thread.
    let link = std::fs::read_link("/proc/thread-self").unwrap();
    let parts: Vec<i32> = link
        .to_str()
        .unwrap()
        .split('/')
        .filter_map(|s| s.parse().ok())
        .collect();
    let (pid, tid) = (parts[0], parts[1]);
    dev.set_vcpu_thread(0, pid, tid).unwrap();
    dev.set_vcpu_thread(1, pid, tid).unwrap();
    assert_eq!(
        dev.set_vcpu_thread(2, pid, tid).unwrap_err().errno(),
        Some(EINVAL)
    );
    assert_eq!(
        dev.set_vcpu_thread(0, 0, tid).unwrap_err().errno(),
        Some(EINVAL)
    );
    assert_eq!(
        dev.set_vcpu_thread(0, pid, -1).unwrap_err().errno(),
        Some(EINVAL)
    );
    let e = dev.set_vcpu_thread(0, pid, i32::MAX).unwrap_err();
    assert!(
        matches!(e.errno(), Some(-2) | Some(-3)),
        "no such thread: {e}"
    );
}
