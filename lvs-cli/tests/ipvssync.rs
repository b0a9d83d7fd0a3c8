//! The `ipvssync` binary with `--memory` (no root, no IPVS) on a temporary state directory:
//! start-up, diff lines followed (with inotify and with the polling fallback), the reload flag,
//! SIGHUP, the cleanup, the log file, and clean stops and start-up failures.

mod common;
mod sync_common;

/// Prints a measured figure on stderr directly, past the test harness's capture, so the figures
/// show in every run (the kernel tests' console included).
macro_rules! report {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

use std::time::{Duration, Instant};

use sync_common::{diff_line, run_once, State, Sync};

const WEB: &str = "virtual vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vrt=dr vsched=wrr\n\
                   real rname=a raddr=10.1.0.1 rport=80 rweight=10\n\n";
const BOUND: Duration = Duration::from_secs(10);

fn follows_appended_lines(args: &[&str]) -> Duration {
    let st = State::new("");
    st.full(100, WEB);
    let mut s = Sync::start(&st, &[&["--memory"], args].concat());
    s.expect(
        &["synchronised: add destination 10.1.0.1:80", "weight 10"],
        BOUND,
    );
    s.expect(&["following", "diff_sync.100"], BOUND);
    let mut worst = Duration::ZERO;
    for w in 1..=5 {
        let before = Instant::now();
        st.append(100, &diff_line("chgreal", "10.0.0.1", "10.1.0.1", w));
        let (_, at) = s.expect(
            &[
                "applied: edit destination 10.1.0.1:80",
                &format!("weight {w})"),
            ],
            BOUND,
        );
        worst = worst.max(at - before);
    }
    // A hop to the next file, then a line there.
    st.append(100, &format!("DIFF file={}\n", st.diff(160).display()));
    st.append(160, &diff_line("addreal", "10.0.0.1", "10.1.0.2", 6));
    s.expect(&["applied: add destination 10.1.0.2:80", "weight 6"], BOUND);
    s.signal("TERM");
    assert_eq!(s.wait(BOUND), Some(0));
    s.expect(&["stopped; the kernel's table is left as it is"], BOUND);
    worst
}

#[test]
fn appended_lines_are_applied_with_inotify() {
    let worst = follows_appended_lines(&[]);
    report!("ipvssync --memory, inotify: worst latency append -> applied over 5 lines: {worst:?}");
}

#[test]
fn appended_lines_are_applied_with_the_polling_fallback() {
    let worst = follows_appended_lines(&["--no-inotify"]);
    report!("ipvssync --memory, polling: worst latency append -> applied over 5 lines: {worst:?}");
}

#[test]
fn a_partial_line_waits_for_its_newline() {
    let st = State::new("");
    st.full(100, WEB);
    let mut s = Sync::start(&st, &["--memory"]);
    s.expect(&["following"], BOUND);
    let l = diff_line("chgreal", "10.0.0.1", "10.1.0.1", 4);
    let (head, tail) = l.split_at(50);
    st.append(100, head);
    let seen = s.drain(Duration::from_millis(400));
    assert!(
        !seen
            .iter()
            .any(|l| l.contains("applied") || l.contains("WARN")),
        "{seen:?}"
    );
    st.append(100, tail);
    s.expect(
        &["applied: edit destination 10.1.0.1:80", "weight 4)"],
        BOUND,
    );
}

#[test]
fn reload_flag_and_sighup_give_a_full_sync() {
    let st = State::new("");
    st.full(100, WEB);
    let mut s = Sync::start(&st, &["--memory"]);
    s.expect(&["following"], BOUND);
    st.full(
        200,
        &format!(
            "{WEB}virtual vname=mail vproto=tcp vaddr=10.0.0.2 vport=25 vrt=masq vsched=rr\n\
             real rname=m raddr=10.2.0.1 rport=25 rweight=1\n"
        ),
    );
    std::fs::write(st.reload_flag(), "").expect("flag");
    s.expect(&["reload flag found"], BOUND);
    s.expect(
        &[
            "synchronised: add destination 10.2.0.1:25",
            "tcp 10.0.0.2:25",
        ],
        BOUND,
    );
    s.expect(&["full synchronisation: 2 services, 2 reals"], BOUND);
    assert!(!st.reload_flag().exists());
    s.signal("HUP");
    s.expect(&["SIGHUP: full synchronisation"], BOUND);
    s.expect(&["full synchronisation: 2 services", "0 operations"], BOUND);
    s.signal("INT");
    assert_eq!(s.wait(BOUND), Some(0));
}

#[test]
fn cleanup_runs_unless_k() {
    for keep in [false, true] {
        let st = State::new("");
        st.full(1_700_000_060, WEB);
        st.append(1_700_000_000, "");
        let mut args = vec!["--memory", "--cleanup-interval", "1"];
        if keep {
            args.push("-k");
        }
        let mut s = Sync::start(&st, &args);
        s.expect(&["following"], BOUND);
        if keep {
            let seen = s.drain(Duration::from_millis(2500));
            assert!(!seen.iter().any(|l| l.contains("obsolete")), "{seen:?}");
            assert!(st.diff(1_700_000_000).exists());
        } else {
            s.expect(
                &["diff_sync.1700000000: deleted (obsolete diff file)"],
                BOUND,
            );
            assert!(!st.diff(1_700_000_000).exists());
        }
        assert!(st.diff(1_700_000_060).exists());
    }
}

#[test]
fn with_d_and_use_log_the_log_goes_to_ipvssync_log() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("ipvssync.log");
    let st = State::new(&format!("use_log true\nipvssync_log {}\n", log.display()));
    st.full(100, WEB);
    let mut s = Sync::start(&st, &["--memory", "-d"]);
    let end = Instant::now() + BOUND;
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("following") {
            assert!(
                text.contains("synchronised: add service tcp 10.0.0.1:80"),
                "{text}"
            );
            break;
        }
        assert!(Instant::now() < end, "no log in {}: {text}", log.display());
        std::thread::sleep(Duration::from_millis(50));
    }
    s.signal("TERM");
    assert_eq!(s.wait(BOUND), Some(0));
    let stderr = s.drain(Duration::ZERO);
    assert!(stderr.is_empty(), "{stderr:?}");
}

#[test]
fn start_up_failures_name_the_file_and_exit_1() {
    let st = State::new("");
    let out = run_once(&st.cfg, &["--memory"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ipvsfull.cfg"), "{err}");
    st.full(100, WEB);
    std::fs::remove_file(st.dir.join("ipvsfull.lock")).expect("rm");
    let out = run_once(&st.cfg, &["--memory"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ipvsfull.lock") && err.contains("cannot lock"),
        "{err}"
    );
    std::fs::write(st.dir.join("ipvsfull.lock"), "").expect("lock");
    std::fs::write(
        st.dir.join("ipvsfull.cfg"),
        "meta version=1.0 mdate=2026-11-29 mtime=12:00:00\nDIFF file=/x\n\
         virtual vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vrt=dr vsched=wrr\n\
         real rname=a raddr=10.1.0.1 rport=80 rweight=10 rl_thresh=5\n",
    )
    .expect("write");
    let out = run_once(&st.cfg, &["--memory"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ipvsfull.cfg:4") && err.contains("rl_thresh"),
        "{err}"
    );
}

#[test]
fn the_trial_example_checks() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let run = |args: &[&str]| {
        std::process::Command::new(sync_common::IPVSSYNC)
            .current_dir(&root)
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .expect("run")
    };
    let out = run(&["-t", "-c", "examples/ipvssync/surealived.cfg"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK: 2 virtual services, 3 reals"));
}
