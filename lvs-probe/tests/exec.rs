//! The `exec` prober with small shell scripts: the argv contract and clean environment, exit
//! codes and signals, programs that hang, ignore SIGTERM, leave a child running or print
//! megabytes.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{deadline_in, wait_dead};
use lvs_core::config::xml::AttrValue;
use lvs_probe::{ExecProber, Failure, Outcome, Phase, Prober, Target};
use tokio::time::Instant;

/// Writes an executable script into `dir`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn target(program: &Path, addr: &str, params: Option<&str>) -> Target {
    let t = Target::new("exec", addr.parse().expect("ip"), 8080)
        .attr("exec", AttrValue::Path(program.to_path_buf()));
    match params {
        Some(p) => t.str_attr("params", p),
        None => t,
    }
}

/// Probes, trying again when the script was still open for writing in a process another test
/// had just forked (ETXTBSY: a hazard of tests that write and run scripts in parallel).
async fn probe(prober: &ExecProber, t: &Target, ms: u64) -> Outcome {
    for _ in 0..5 {
        let o = prober.probe(t, deadline_in(ms)).await;
        match o.result {
            Err(Failure::Io {
                errno: Some(errno), ..
            }) if errno == nix::errno::Errno::ETXTBSY as i32 => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ => return o,
        }
    }
    panic!("the script stayed busy");
}

fn pids(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| p.parse().expect("pid"))
        .collect()
}

#[tokio::test]
async fn argv_environment_and_success() {
    let dir = tempfile::tempdir().expect("tempdir");
    let check = script(
        dir.path(),
        "check.sh",
        r#"[ "$2" = 8080 ] || exit 12
[ "$3" = www.example.com ] || exit 13
[ "$4" = /0 ] || exit 14
[ $# = 4 ] || exit 15
[ -z "$HOME" ] || exit 16
[ "$PATH" = /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin ] || exit 17
echo "checked $1""#,
    );
    let prober = ExecProber::new();
    // Every real gets the whole params (the original gave later reals only the first word).
    for addr in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        let o = probe(
            &prober,
            &target(&check, addr, Some("www.example.com /0")),
            3000,
        )
        .await;
        assert_eq!(o.result, Ok(()), "{addr}: {o:?}");
        let out = o.output.expect("output captured");
        assert_eq!(out.bytes, format!("checked {addr}\n").as_bytes());
        assert!(o.timings.first_response.is_some());
    }
}

#[tokio::test]
async fn exit_code_and_signal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exit3 = script(dir.path(), "exit3.sh", "echo failing >&2; exit 3");
    let signal = script(dir.path(), "signal.sh", "kill -USR1 $$; sleep 5");
    let prober = ExecProber::new();
    let o = probe(&prober, &target(&exit3, "127.0.0.1", None), 3000).await;
    assert_eq!(o.result, Err(Failure::ExecExit { code: 3 }));
    assert_eq!(o.output.expect("output").bytes, b"failing\n");
    let o = probe(&prober, &target(&signal, "127.0.0.1", None), 3000).await;
    assert_eq!(
        o.result,
        Err(Failure::ExecSignal {
            signal: nix::sys::signal::Signal::SIGUSR1 as i32
        })
    );
}

#[tokio::test]
async fn a_program_that_hangs_is_killed_with_its_group_at_the_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("pids");
    let hang = script(
        dir.path(),
        "hang.sh",
        r#"echo $$ > "$3"; sleep 30 & echo $! >> "$3"; wait"#,
    );
    let start = Instant::now();
    let o = probe(
        &ExecProber::new(),
        &target(&hang, "127.0.0.1", pidfile.to_str()),
        700,
    )
    .await;
    let took = start.elapsed();
    assert_eq!(o.result, Err(Failure::Timeout { phase: Phase::Exec }));
    assert!(
        took >= Duration::from_millis(650) && took < Duration::from_millis(2000),
        "{took:?}"
    );
    let pids = pids(&pidfile);
    assert_eq!(pids.len(), 2, "the script and its sleep");
    assert!(
        !Path::new(&format!("/proc/{}", pids[0])).exists(),
        "the program was reaped: no zombie"
    );
    for pid in pids {
        assert!(wait_dead(pid, 2000).await, "process {pid} survived");
    }
}

#[tokio::test]
async fn a_program_that_ignores_sigterm_is_killed_anyway() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("pids");
    let stubborn = script(
        dir.path(),
        "stubborn.sh",
        r#"trap '' TERM; echo $$ > "$3"; while :; do sleep 1; done"#,
    );
    let o = probe(
        &ExecProber::new(),
        &target(&stubborn, "127.0.0.1", pidfile.to_str()),
        500,
    )
    .await;
    assert_eq!(o.result, Err(Failure::Timeout { phase: Phase::Exec }));
    for pid in pids(&pidfile) {
        assert!(wait_dead(pid, 2000).await, "process {pid} survived");
    }
}

#[tokio::test]
async fn a_child_left_running_is_killed_when_the_program_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("pids");
    let forks = script(
        dir.path(),
        "forks.sh",
        r#"sleep 30 & echo $! > "$3"; echo started; exit 0"#,
    );
    let start = Instant::now();
    let o = probe(
        &ExecProber::new(),
        &target(&forks, "127.0.0.1", pidfile.to_str()),
        5000,
    )
    .await;
    assert_eq!(o.result, Ok(()));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "the child holding the output pipe does not make the test wait"
    );
    assert_eq!(o.output.expect("output").bytes, b"started\n");
    let child = pids(&pidfile);
    assert_eq!(child.len(), 1);
    assert!(wait_dead(child[0], 2000).await, "the child survived");
}

#[tokio::test]
async fn megabytes_of_output_are_drained_and_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chatty = script(
        dir.path(),
        "chatty.sh",
        "head -c 5000000 /dev/zero; echo done >&2; exit 0",
    );
    let prober = ExecProber::with_max_output(4096);
    let o = probe(&prober, &target(&chatty, "127.0.0.1", None), 10_000).await;
    assert_eq!(o.result, Ok(()), "the program never blocks on a full pipe");
    let out = o.output.expect("output");
    assert_eq!(out.bytes.len(), 4096);
    assert_eq!(out.total, 5_000_005);
    assert_eq!(o.bytes_received, 4096);
}

#[tokio::test]
async fn a_missing_program() {
    let o = probe(
        &ExecProber::new(),
        &target(Path::new("/nonexistent/check"), "127.0.0.1", None),
        1000,
    )
    .await;
    assert!(
        matches!(
            &o.result,
            Err(Failure::Io { phase: Phase::Exec, errno: Some(2), message }) if message.contains("/nonexistent/check")
        ),
        "{o:?}"
    );
}

#[tokio::test]
async fn an_abandoned_probe_kills_the_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("pids");
    let hang = script(
        dir.path(),
        "hang.sh",
        r#"echo $$ > "$3"; sleep 30 & echo $! >> "$3"; wait"#,
    );
    let prober = ExecProber::new();
    let t = target(&hang, "127.0.0.1", pidfile.to_str());
    // The engine may drop a probe (the real was removed): the group must not outlive it.
    let mut started = false;
    for _ in 0..5 {
        let r = tokio::time::timeout(
            Duration::from_millis(500),
            prober.probe(&t, deadline_in(10_000)),
        )
        .await;
        match r {
            Err(_) => {
                started = true;
                break;
            }
            Ok(o) => assert!(
                matches!(&o.result, Err(Failure::Io { errno: Some(e), .. }) if *e == nix::errno::Errno::ETXTBSY as i32),
                "{o:?}"
            ),
        }
    }
    assert!(started, "the script never ran");
    let pids = pids(&pidfile);
    assert_eq!(pids.len(), 2, "the script and its sleep");
    for pid in pids {
        assert!(wait_dead(pid, 2000).await, "process {pid} survived");
    }
}
