//! The synchroniser's core against the in-memory kernel, with real files in a temporary
//! directory: start-up, following diff lines (partial lines, `DIFF file=` hops), the reload
//! flag, the cleanup, `-u`, drift repair and the lock.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lvs_cli::ipvssync::core::{SyncError, SyncPaths, Syncer};
use lvs_cli::ipvssync::kernel::MemoryKernel;
use lvs_core::model::{
    AddressFamily, DestKey, Destination, Forwarding, Protocol, Scheduler, Service, ServiceKey,
    Table, UnmanagedPolicy,
};

struct Env {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    paths: SyncPaths,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        std::fs::create_dir(dir.join("diffs")).expect("mkdir");
        std::fs::write(dir.join("ipvsfull.lock"), "").expect("lock");
        let paths = SyncPaths {
            lock: dir.join("ipvsfull.lock"),
            full: dir.join("ipvsfull.cfg"),
            reload: dir.join("ipvsfull.reload"),
            diff_dir: dir.join("diffs"),
        };
        Env {
            _tmp: tmp,
            dir,
            paths,
        }
    }

    fn diff(&self, n: u64) -> PathBuf {
        self.dir.join("diffs").join(format!("diff_sync.{n}"))
    }

    /// Writes ipvsfull.cfg with `body` (virtual and real lines), following diff file `n`.
    fn full(&self, n: u64, body: &str) {
        let text = format!(
            "meta version=1.0 mdate=2026-11-29 mtime=12:00:00\nDIFF file={}\n{body}",
            self.diff(n).display()
        );
        std::fs::write(&self.paths.full, text).expect("write cfg");
    }

    fn append(&self, n: u64, text: &str) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.diff(n))
            .expect("open diff");
        f.write_all(text.as_bytes()).expect("append");
    }

    fn start(&self, kernel: &mut MemoryKernel, policy: UnmanagedPolicy) -> Syncer {
        let (s, report) = Syncer::start(self.paths.clone(), policy, kernel).expect("start");
        assert!(report.full_sync);
        s
    }
}

const WEB: &str = "virtual vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vrt=dr vsched=wrr\n\
                   real rname=a raddr=10.1.0.1 rport=80 rweight=10\n\
                   real rname=b raddr=10.1.0.2 rport=80 rweight=20\n\n";

fn web() -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip("10.0.0.1"),
        port: 80,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn dk(addr: &str, port: u16) -> DestKey {
    DestKey {
        addr: ip(addr),
        port,
    }
}

/// `cmd=<cmd>` line for real `raddr:80` of `web`.
fn line(cmd: &str, raddr: &str, weight: u32) -> String {
    format!(
        "cmd={cmd} vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt=dr vsched=wrr \
         rname=x raddr={raddr} rport=80 rweight={weight}\n"
    )
}

fn weight(t: &Table, key: &ServiceKey, addr: &str, port: u16) -> Option<u32> {
    t.destination(key, &dk(addr, port)).map(|d| d.weight)
}

#[test]
fn start_applies_the_full_file_and_the_current_diff_then_an_unchanged_restart_sends_nothing() {
    let env = Env::new();
    env.full(100, WEB);
    env.append(100, &line("chgreal", "10.1.0.1", 5));
    env.append(100, &line("delreal", "10.1.0.2", 20));
    env.append(100, &line("addreal", "10.1.0.3", 7));
    env.append(100, &line("chgreal", "10.1.0.3", 7));
    std::fs::write(&env.paths.reload, "").expect("flag");
    let mut k = MemoryKernel::new(false);
    let (s, report) =
        Syncer::start(env.paths.clone(), UnmanagedPolicy::Keep, &mut k).expect("start");
    assert_eq!(report.records, 4);
    assert_eq!(report.rejected, 0);
    // One service and its two destinations: the diff was applied in memory first.
    assert_eq!(report.operations.len(), 3);
    assert_eq!(weight(&k.table, &web(), "10.1.0.1", 80), Some(5));
    assert_eq!(weight(&k.table, &web(), "10.1.0.2", 80), None);
    assert_eq!(weight(&k.table, &web(), "10.1.0.3", 80), Some(7));
    assert_eq!(&k.table, s.wanted());
    assert!(!env.paths.reload.exists(), "the reload flag is deleted");
    drop(s);
    let before = k.operations;
    let (_, again) =
        Syncer::start(env.paths.clone(), UnmanagedPolicy::Keep, &mut k).expect("restart");
    assert!(again.operations.is_empty());
    assert_eq!(k.operations, before);
}

#[test]
fn appended_lines_are_pushed_and_a_partial_line_waits_for_its_newline() {
    let env = Env::new();
    env.full(100, WEB);
    let mut k = MemoryKernel::new(false);
    let mut s = env.start(&mut k, UnmanagedPolicy::Keep);
    let l = line("chgreal", "10.1.0.1", 3);
    let (head, tail) = l.split_at(40);
    env.append(100, head);
    let r = s.poll(&mut k).expect("poll");
    assert_eq!((r.records, r.operations.len()), (0, 0));
    assert_eq!(weight(&k.table, &web(), "10.1.0.1", 80), Some(10));
    env.append(100, tail);
    let r = s.poll(&mut k).expect("poll");
    assert_eq!((r.records, r.operations.len()), (1, 1));
    assert_eq!(weight(&k.table, &web(), "10.1.0.1", 80), Some(3));
    // addreal of an existing destination is ignored; delreal deletes; addreal+chgreal adds.
    env.append(100, &line("addreal", "10.1.0.1", 99));
    env.append(100, &line("delreal", "10.1.0.2", 20));
    env.append(100, &line("addreal", "10.1.0.9", 4));
    env.append(100, &line("chgreal", "10.1.0.9", 4));
    let r = s.poll(&mut k).expect("poll");
    assert_eq!(r.records, 4);
    assert_eq!(r.operations.len(), 3);
    assert_eq!(r.failures(), 0);
    assert_eq!(weight(&k.table, &web(), "10.1.0.1", 80), Some(3));
    assert_eq!(weight(&k.table, &web(), "10.1.0.2", 80), None);
    assert_eq!(weight(&k.table, &web(), "10.1.0.9", 80), Some(4));
    // Nothing new: nothing sent.
    let r = s.poll(&mut k).expect("poll");
    assert!(r.operations.is_empty());
}

#[test]
fn bad_lines_and_unknown_services_are_skipped_and_reading_goes_on() {
    let env = Env::new();
    env.full(100, WEB);
    let mut k = MemoryKernel::new(false);
    let mut s = env.start(&mut k, UnmanagedPolicy::Keep);
    env.append(100, "cmd=frobreal vname=web\n");
    env.append(
        100,
        &line("chgreal", "10.1.0.1", 1).replace("10.0.0.1", "10.0.0.99"),
    );
    env.append(100, &line("chgreal", "10.1.0.77", 1));
    env.append(100, &line("chgreal", "10.1.0.2", 2));
    let r = s.poll(&mut k).expect("poll");
    assert_eq!(r.rejected, 3);
    assert_eq!(r.records, 1);
    assert_eq!(weight(&k.table, &web(), "10.1.0.2", 80), Some(2));
}

#[test]
fn diff_file_hops_are_followed_even_to_a_file_created_later() {
    let env = Env::new();
    env.full(100, WEB);
    env.append(100, &line("chgreal", "10.1.0.1", 1));
    env.append(100, &format!("DIFF file={}\n", env.diff(160).display()));
    let mut k = MemoryKernel::new(false);
    let mut s = env.start(&mut k, UnmanagedPolicy::Keep);
    assert_eq!(s.current_diff(), env.diff(160));
    assert_eq!(weight(&k.table, &web(), "10.1.0.1", 80), Some(1));
    // diff_sync.160 does not exist yet: nothing happens, then it appears.
    let r = s.poll(&mut k).expect("poll");
    assert!(r.operations.is_empty());
    env.append(160, &line("chgreal", "10.1.0.1", 2));
    env.append(160, &format!("DIFF file={}\n", env.diff(220).display()));
    env.append(220, &line("chgreal", "10.1.0.2", 3));
    let r = s.poll(&mut k).expect("poll");
    assert_eq!(r.hops, 1);
    assert_eq!(r.operations.len(), 2);
    assert_eq!(s.current_diff(), env.diff(220));
    assert_eq!(weight(&k.table, &web(), "10.1.0.1", 80), Some(2));
    assert_eq!(weight(&k.table, &web(), "10.1.0.2", 80), Some(3));
}

#[test]
fn a_loop_of_hops_stops() {
    let env = Env::new();
    env.full(100, WEB);
    env.append(100, &format!("DIFF file={}\n", env.diff(100).display()));
    let mut k = MemoryKernel::new(false);
    let (_, report) =
        Syncer::start(env.paths.clone(), UnmanagedPolicy::Keep, &mut k).expect("start");
    assert_eq!(report.hops, lvs_cli::ipvssync::core::MAX_HOPS);
}

#[test]
fn a_chain_longer_than_the_hop_limit_is_followed_over_several_polls() {
    // ipvssync stalled while surealived wrote 70 full writes: the first poll stops at the
    // limit but keeps its place, and the next one reaches the end and its record.
    let env = Env::new();
    env.full(100, WEB);
    let mut k = MemoryKernel::new(false);
    let mut s = env.start(&mut k, UnmanagedPolicy::Keep);
    for n in 100..170 {
        env.append(n, &format!("DIFF file={}\n", env.diff(n + 1).display()));
    }
    env.append(170, &line("chgreal", "10.1.0.1", 9));
    let r = s.poll(&mut k).expect("poll");
    assert_eq!(r.hops, lvs_cli::ipvssync::core::MAX_HOPS);
    assert_eq!(
        weight(&k.table, &web(), "10.1.0.1", 80),
        Some(10),
        "not there yet"
    );
    assert_eq!(s.current_diff(), env.diff(164));
    let r = s.poll(&mut k).expect("poll");
    assert_eq!(r.hops, 70 - lvs_cli::ipvssync::core::MAX_HOPS);
    assert_eq!(s.current_diff(), env.diff(170));
    assert_eq!(weight(&k.table, &web(), "10.1.0.1", 80), Some(9));
}

#[test]
fn the_reload_flag_and_a_truncated_diff_give_a_full_sync() {
    let env = Env::new();
    env.full(100, WEB);
    env.append(100, &line("chgreal", "10.1.0.1", 1));
    let mut k = MemoryKernel::new(false);
    let mut s = env.start(&mut k, UnmanagedPolicy::Keep);
    env.full(
        200,
        &format!(
            "{WEB}virtual vname=mail vproto=tcp vaddr=10.0.0.2 vport=25 vrt=masq vsched=rr\n\
             real rname=m raddr=10.2.0.1 rport=25 rweight=1\n"
        ),
    );
    env.append(200, &line("chgreal", "10.1.0.2", 8));
    std::fs::write(&env.paths.reload, "").expect("flag");
    let r = s.poll(&mut k).expect("poll");
    assert!(r.full_sync);
    assert!(!env.paths.reload.exists());
    assert_eq!(s.current_diff(), env.diff(200));
    let mail = ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip("10.0.0.2"),
        port: 25,
    };
    assert_eq!(weight(&k.table, &mail, "10.2.0.1", 25), Some(1));
    // The new file's weights: 10.1.0.1 back to 10 (the cfg), 10.1.0.2 at 8 (its diff).
    assert_eq!(weight(&k.table, &web(), "10.1.0.1", 80), Some(10));
    assert_eq!(weight(&k.table, &web(), "10.1.0.2", 80), Some(8));
    // The followed file replaced by a shorter one: re-read from the start.
    std::fs::write(env.diff(200), "").expect("truncate");
    let r = s.poll(&mut k).expect("poll");
    assert!(r.full_sync);
    assert_eq!(weight(&k.table, &web(), "10.1.0.2", 80), Some(20));
}

#[test]
fn a_broken_file_on_reload_keeps_the_previous_table() {
    let env = Env::new();
    env.full(100, WEB);
    let mut k = MemoryKernel::new(false);
    let mut s = env.start(&mut k, UnmanagedPolicy::Keep);
    std::fs::write(
        &env.paths.full,
        "meta version=1.0 mdate=2026-11-29 mtime=12:01:00\nDIFF file=/x\nvirtual vname=web vproto=tcp vaddr=10.0.0.1 vport=eighty vrt=dr vsched=wrr\n",
    )
    .expect("write");
    std::fs::write(&env.paths.reload, "").expect("flag");
    let err = s.poll(&mut k).expect_err("broken cfg");
    let msg = err.to_string();
    assert!(
        msg.contains("ipvsfull.cfg:3") && msg.contains("vport"),
        "{msg}"
    );
    assert!(!env.paths.reload.exists());
    assert_eq!(s.current_diff(), env.diff(100));
    assert_eq!(weight(s.wanted(), &web(), "10.1.0.2", 80), Some(20));
    env.append(100, &line("chgreal", "10.1.0.2", 21));
    s.poll(&mut k).expect("poll");
    assert_eq!(weight(&k.table, &web(), "10.1.0.2", 80), Some(21));
}

#[test]
fn cleanup_deletes_older_diff_files_only() {
    let env = Env::new();
    env.full(1_700_000_000, WEB);
    for n in [
        1_699_999_940,
        1_699_999_999,
        1_700_000_000,
        1_700_000_060,
        99,
    ] {
        env.append(n, "");
    }
    std::fs::write(env.dir.join("diffs/README"), "keep").expect("write");
    let mut k = MemoryKernel::new(false);
    let s = env.start(&mut k, UnmanagedPolicy::Keep);
    let mut deleted = s.cleanup();
    deleted.sort();
    assert_eq!(
        deleted,
        vec![env.diff(1_699_999_940), env.diff(1_699_999_999)]
    );
    // Byte-wise order, as the original: `diff_sync.99` sorts after `diff_sync.1700000000`.
    for (n, exists) in [
        (1_699_999_940, false),
        (1_699_999_999, false),
        (1_700_000_000, true),
        (1_700_000_060, true),
        (99, true),
    ] {
        assert_eq!(env.diff(n).exists(), exists, "diff_sync.{n}");
    }
    assert!(env.dir.join("diffs/README").exists());
    assert!(s.cleanup().is_empty());
}

fn kernel_with_strays() -> MemoryKernel {
    let mut k = MemoryKernel::new(false);
    let other = ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: ip("10.9.9.9"),
        port: 53,
    };
    k.table
        .insert_service(Service::new(other, Scheduler::new("rr").expect("rr")));
    k.table
        .insert_service(Service::new(web(), Scheduler::new("wrr").expect("wrr")));
    k.table
        .insert_destination(
            &web(),
            Destination::new(ip("10.1.0.66"), 80, 1, Forwarding::DirectRoute),
        )
        .expect("stray");
    k
}

#[test]
fn unmanaged_services_go_only_with_u_and_unmanaged_reals_always() {
    let other = ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: ip("10.9.9.9"),
        port: 53,
    };
    for (policy, kept) in [
        (UnmanagedPolicy::Keep, true),
        (UnmanagedPolicy::Delete, false),
    ] {
        let env = Env::new();
        env.full(100, WEB);
        let mut k = kernel_with_strays();
        let mut s = env.start(&mut k, policy);
        assert_eq!(k.table.get(&other).is_some(), kept, "{policy:?}");
        assert_eq!(weight(&k.table, &web(), "10.1.0.66", 80), None);
        assert_eq!(weight(&k.table, &web(), "10.1.0.1", 80), Some(10));
        // The repair keeps the same policy.
        assert!(s.repair(&mut k).expect("repair").is_empty());
    }
}

#[test]
fn drift_repair_restores_what_was_changed_outside_and_is_silent_otherwise() {
    let env = Env::new();
    env.full(
        100,
        &format!(
            "{WEB}virtual vname=fw vproto=fwmark vaddr=0.0.0.0 vport=0 vrt=masq vsched=rr\n\
             real rname=f raddr=10.3.0.1 rport=0 rweight=2\n"
        ),
    );
    let mut k = MemoryKernel::new(false);
    let mut s = env.start(&mut k, UnmanagedPolicy::Keep);
    assert!(s.repair(&mut k).expect("repair").is_empty());
    let fw = ServiceKey::Fwmark {
        af: AddressFamily::Inet,
        mark: 300,
    };
    assert!(k.table.get(&fw).is_some(), "fwmark 300 by default");
    k.table.remove_service(&web());
    k.table
        .insert_destination(
            &fw,
            Destination::new(ip("10.3.0.1"), 0, 77, Forwarding::Masq),
        )
        .expect("edit");
    let repaired = s.repair(&mut k).expect("repair");
    assert_eq!(repaired.len(), 4, "{repaired:?}");
    assert!(repaired.iter().all(|o| o.result.is_ok()));
    assert_eq!(&k.table, s.wanted());
    assert!(s.repair(&mut k).expect("repair").is_empty());
}

#[test]
fn a_change_the_kernel_refuses_triggers_a_resync() {
    let env = Env::new();
    env.full(100, WEB);
    let mut k = MemoryKernel::new(false);
    let mut s = env.start(&mut k, UnmanagedPolicy::Keep);
    // Someone deleted real b by hand; surealived then changes its weight.
    k.table
        .apply(&lvs_core::model::Operation::DeleteDestination {
            service: web(),
            dest: dk("10.1.0.2", 80),
        })
        .expect("delete");
    env.append(100, &line("chgreal", "10.1.0.2", 9));
    let r = s.poll(&mut k).expect("poll");
    assert_eq!(r.operations.len(), 1);
    assert!(r.operations[0].result.is_err());
    assert_eq!(r.repairs.len(), 1);
    assert_eq!(weight(&k.table, &web(), "10.1.0.2", 80), Some(9));
}

#[test]
fn missing_lock_or_cfg_is_a_clear_error() {
    let env = Env::new();
    let mut k = MemoryKernel::new(false);
    let err = Syncer::start(env.paths.clone(), UnmanagedPolicy::Keep, &mut k).expect_err("no cfg");
    assert!(matches!(err, SyncError::Config(_)), "{err}");
    assert!(err.to_string().contains("ipvsfull.cfg"), "{err}");
    env.full(100, WEB);
    std::fs::remove_file(&env.paths.lock).expect("rm lock");
    let err = Syncer::start(env.paths.clone(), UnmanagedPolicy::Keep, &mut k).expect_err("no lock");
    assert!(matches!(err, SyncError::Lock { .. }), "{err}");
    assert!(err.to_string().contains("ipvsfull.lock"), "{err}");
    assert!(k.table.is_empty());
}

#[test]
fn poll_waits_while_surealived_holds_the_lock() {
    let env = Env::new();
    env.full(100, WEB);
    let mut k = MemoryKernel::new(false);
    let mut s = env.start(&mut k, UnmanagedPolicy::Keep);
    let held = lvs_cli::ipvssync::core::lock(&env.paths.lock).expect("lock");
    env.append(100, &line("chgreal", "10.1.0.1", 4));
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let r = s.poll(&mut k).map(|r| r.operations.len());
        tx.send(r.is_ok()).expect("send");
        (k, r)
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "poll must wait for the lock"
    );
    drop(held);
    assert!(rx.recv_timeout(Duration::from_secs(10)).expect("poll ends"));
    let (k, r) = t.join().expect("join");
    assert_eq!(r.expect("poll"), 1);
    assert_eq!(weight(&k.table, &web(), "10.1.0.1", 80), Some(4));
}

/// The fixtures in the original's exact formats (lvs-core's, and ours with tabs, old spellings
/// and fwmark virtuals), consumed as ipvssync does, checked table by table.
#[test]
fn interop_fixtures_of_the_original_formats() {
    let core_fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lvs-core/tests/fixtures");
    let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ipvssync");
    // lvs-core's ipvsfull.cfg and its diff, with the DIFF path moved into the temp dir.
    let env = Env::new();
    let cfg = std::fs::read_to_string(core_fixtures.join("ipvsfull.cfg")).expect("fixture");
    let cfg = cfg.replace(
        "/var/lib/surealived/diffs/diff_sync.1714564800",
        &env.diff(1714564800).display().to_string(),
    );
    std::fs::write(&env.paths.full, cfg).expect("write");
    std::fs::copy(
        core_fixtures.join("diff_sync.1714564800"),
        env.diff(1714564800),
    )
    .expect("copy");
    let mut k = MemoryKernel::new(false);
    let s = env.start(&mut k, UnmanagedPolicy::Keep);
    let www = ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip("192.168.0.1"),
        port: 80,
    };
    let mark = ServiceKey::Fwmark {
        af: AddressFamily::Inet,
        mark: 42,
    };
    let v6 = ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip("2001:db8::1"),
        port: 80,
    };
    assert_eq!(k.table.len(), 6);
    assert_eq!(weight(&k.table, &www, "10.1.0.1", 80), Some(10));
    assert_eq!(weight(&k.table, &www, "10.1.0.2", 8080), None, "delreal");
    let sg3 = k.table.destination(&www, &dk("10.1.0.3", 80)).expect("sg3");
    assert_eq!(
        (sg3.forwarding, sg3.upper_threshold),
        (Forwarding::Masq, 1000)
    );
    let m2 = k.table.destination(&mark, &dk("10.3.0.2", 0)).expect("m2");
    assert_eq!((m2.weight, m2.forwarding), (3, Forwarding::Masq));
    let r6 = k
        .table
        .destination(&v6, &dk("2001:db8::10", 80))
        .expect("r6");
    assert_eq!((r6.weight, r6.upper_threshold), (7, 20));
    assert_eq!(
        s.current_diff(),
        Path::new("/var/lib/surealived/diffs/diff_sync.1714564860")
    );
    assert_eq!(&k.table, s.wanted());

    // Ours: tabs, the old rlthresh/ruthresh spelling, a fwmark virtual without vfwmark (300),
    // a diff line for it with vfwmark=0, a real without rweight (1), CRLF-free but
    // blank-line-separated blocks as the original writes them.
    let env = Env::new();
    let cfg = std::fs::read_to_string(own.join("ipvsfull.cfg")).expect("fixture");
    let cfg = cfg.replace("@DIFFS@", &env.dir.join("diffs").display().to_string());
    std::fs::write(&env.paths.full, cfg).expect("write");
    for n in [1262682300, 1262682360] {
        let text = std::fs::read_to_string(own.join(format!("diff_sync.{n}"))).expect("fixture");
        let text = text.replace("@DIFFS@", &env.dir.join("diffs").display().to_string());
        std::fs::write(env.diff(n), text).expect("write");
    }
    let expected = std::fs::read_to_string(own.join("expected.txt")).expect("fixture");
    let mut k = MemoryKernel::new(false);
    let s = env.start(&mut k, UnmanagedPolicy::Keep);
    assert_eq!(render(&k.table), expected);
    assert_eq!(s.current_diff(), env.diff(1262682360));
}

/// One line per service and destination, to compare with a fixture.
fn render(t: &Table) -> String {
    let mut s = String::new();
    for e in t {
        s.push_str(&format!(
            "service {} sched {} flags {}\n",
            e.service.key,
            e.service.scheduler,
            e.service.ipvs_flags()
        ));
        for d in e.destinations.values() {
            s.push_str(&format!(
                "  dest {} {} weight {} l {} u {}\n",
                d.key(),
                d.forwarding.short_name(),
                d.weight,
                d.lower_threshold,
                d.upper_threshold
            ));
        }
    }
    s
}

#[test]
fn the_log_goes_to_the_file_only_with_d_and_use_log() {
    use lvs_cli::ipvssync::log::{filter, log_file};
    use lvs_core::config::surealived_cfg::{parse_main_cfg, LogLevel};
    let on = parse_main_cfg("use_log true\nipvssync_log /var/log/x.log\n", "cfg").expect("cfg");
    let off = parse_main_cfg("ipvssync_log /var/log/x.log\n", "cfg").expect("cfg");
    let stderr = parse_main_cfg("use_log true\nipvssync_log stderr\n", "cfg").expect("cfg");
    assert_eq!(log_file(&on, true), Some(Path::new("/var/log/x.log")));
    assert_eq!(log_file(&on, false), None);
    assert_eq!(log_file(&off, true), None);
    assert_eq!(log_file(&stderr, true), None);
    // The original's default level is debug; its five names map onto tracing's five levels.
    assert_eq!(off.ipvssync_logging, LogLevel::Debug);
    let names: Vec<_> = [
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Dbdet,
    ]
    .into_iter()
    .map(filter)
    .collect();
    assert_eq!(names, ["error", "warn", "info", "debug", "trace"]);
    assert_eq!(filter(LogLevel::Info.raised(2)), "trace");
}

/// A kernel that, whenever it is talked to, checks that the lock file is free (surealived could
/// take it to append a change).
struct LockProbe {
    inner: MemoryKernel,
    lock: PathBuf,
    calls: usize,
}

impl LockProbe {
    fn check(&mut self) {
        let f = std::fs::File::open(&self.lock).expect("lock file");
        rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive)
            .expect("the lock is free while the kernel is talked to");
        self.calls += 1;
    }
}

impl lvs_cli::ipvssync::kernel::Kernel for LockProbe {
    fn apply(
        &mut self,
        wanted: &lvs_core::model::Table,
        policy: UnmanagedPolicy,
    ) -> Result<Vec<lvs_cli::ipvssync::kernel::OpOutcome>, lvs_cli::ipvssync::kernel::KernelError>
    {
        self.check();
        self.inner.apply(wanted, policy)
    }

    fn execute(
        &mut self,
        ops: &[lvs_core::model::Operation],
    ) -> Vec<lvs_cli::ipvssync::kernel::OpOutcome> {
        self.check();
        self.inner.execute(ops)
    }
}

#[test]
fn the_lock_is_not_held_while_the_kernel_is_talked_to() {
    let env = Env::new();
    env.full(100, WEB);
    let mut k = LockProbe {
        inner: MemoryKernel::new(false),
        lock: env.paths.lock.clone(),
        calls: 0,
    };
    let (mut s, _) =
        Syncer::start(env.paths.clone(), UnmanagedPolicy::Keep, &mut k).expect("start");
    env.append(100, &line("chgreal", "10.1.0.1", 4));
    s.poll(&mut k).expect("poll");
    std::fs::write(&env.paths.reload, "").expect("reload flag");
    s.poll(&mut k).expect("poll with the flag");
    s.full_sync(&mut k).expect("full sync");
    assert_eq!(k.calls, 4, "start, the diff line, the flag, SIGHUP");
    assert_eq!(weight(&k.inner.table, &web(), "10.1.0.1", 80), Some(4));
}
