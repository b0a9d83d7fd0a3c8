//! The agent's health monitors against real things: files, `/bin/sh`, `perl`, `/proc/stat`.

#![cfg(feature = "monitor")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lvs_core::config::feedbackd::Monitor;
use lvs_necp::monitor::{
    Constant, CpuLoad, Exec, HealthMonitor, MonitorError, MonitorFactory, Perl,
};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use tempfile::TempDir;

/// A short timeout for the tests that hang on purpose.
const SHORT: Duration = Duration::from_millis(400);
/// What a loaded, shared machine may add to it.
const MARGIN: Duration = Duration::from_millis(1500);

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn pids(file: &Path) -> Vec<i32> {
    std::fs::read_to_string(file)
        .expect("pid file")
        .split_whitespace()
        .map(|p| p.parse().expect("pid"))
        .collect()
}

/// Whether `pid` is gone: no such process, or a zombie. An orphan killed with its group is
/// reparented to PID 1, which reaps it; a container's PID 1 may not, leaving a dead zombie.
fn gone(pid: i32) -> bool {
    match kill(Pid::from_raw(pid), None) {
        Err(Errno::ESRCH) => true,
        _ => std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(true),
    }
}

/// Waits up to a second for `pid` to be gone (SIGKILL delivery is asynchronous).
async fn wait_gone(pid: i32) -> bool {
    for _ in 0..100 {
        if gone(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

// ---- constant -------------------------------------------------------------------------------

#[tokio::test]
async fn constant_reports_its_value() {
    let mut m = Constant::new(32);
    assert_eq!(m.health().await.expect("health"), 32);
    assert_eq!(m.health().await.expect("health"), 32);
    let mut m = MonitorFactory::builtin()
        .build(&Monitor::Constant { value: 0 })
        .await
        .expect("build");
    assert_eq!(m.health().await.expect("health"), 0);
}

// ---- cpuload --------------------------------------------------------------------------------

const STAT_TAIL: &str = "cpu0 1 2 3 4 5 6 7 8 0 0\nintr 12345 0 0\nctxt 999\n";

fn stat(dir: &Path, cpu: &str) -> PathBuf {
    write(dir, "stat", &format!("{cpu}\n{STAT_TAIL}"))
}

#[tokio::test]
async fn cpuload_from_known_deltas() {
    let dir = TempDir::new().expect("tempdir");
    let path = stat(dir.path(), "cpu  100 0 100 700 100 0 0 0 0 0");
    let mut m = CpuLoad::with_path(&path).expect("first sample");
    // user +50, system +50, idle +300, iowait +0, guest +40 (already in user, not counted):
    // idle share 300 / 400.
    stat(dir.path(), "cpu  150 0 150 1000 100 0 0 0 40 0");
    assert_eq!(m.health().await.expect("health"), 75);
    // Then: user +10, nice +10, idle +10, iowait +10, irq +10, softirq +10, steal +10 -> 20 / 70
    // = 28.57 -> 29.
    stat(dir.path(), "cpu  160 10 150 1010 110 10 10 10 40 0");
    assert_eq!(m.health().await.expect("health"), 29);
    // No tick counted since: the previous value.
    assert_eq!(m.health().await.expect("health"), 29);
    // All busy; iowait going backwards counts as no change.
    stat(dir.path(), "cpu  260 10 150 1010 90 10 10 10 40 0");
    assert_eq!(m.health().await.expect("health"), 0);
    // All idle, old kernel with four counters.
    stat(dir.path(), "cpu  260 10 150 2010");
    assert_eq!(m.health().await.expect("health"), 100);
}

#[tokio::test]
async fn cpuload_bad_files() {
    let dir = TempDir::new().expect("tempdir");
    let missing = dir.path().join("nope");
    let e = CpuLoad::with_path(&missing).expect_err("missing");
    assert!(matches!(e, MonitorError::ProcStat { .. }), "{e}");
    assert!(e.to_string().contains("nope"), "{e}");

    let path = stat(dir.path(), "cpux 1 2 3 4");
    let e = CpuLoad::with_path(&path).expect_err("no cpu line");
    assert!(e.to_string().ends_with("no `cpu ` line"), "{e}");

    let path = stat(dir.path(), "cpu  1 2 x 4");
    let e = CpuLoad::with_path(&path).expect_err("not a counter");
    assert!(e.to_string().contains("`x`"), "{e}");

    // The counters never move: after a second look 100 ms later, an error.
    let path = stat(dir.path(), "cpu  1 2 3 4 5 6 7 8 0 0");
    let mut m = CpuLoad::with_path(&path).expect("first sample");
    let e = m.health().await.expect_err("no tick");
    assert!(e.to_string().contains("no CPU time counted"), "{e}");

    // The file goes away after construction.
    std::fs::remove_file(&path).expect("rm");
    assert!(matches!(
        m.health().await,
        Err(MonitorError::ProcStat { .. })
    ));
}

#[tokio::test]
async fn cpuload_real_proc_stat() {
    let mut m = MonitorFactory::builtin()
        .build(&Monitor::CpuLoad)
        .await
        .expect("build");
    // The first call measures since construction (waiting 100 ms if no tick was counted yet).
    for _ in 0..3 {
        let v = m.health().await.expect("health");
        assert!(v <= 100, "{v}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

// ---- exec -----------------------------------------------------------------------------------

async fn exec(command: &str) -> Result<u8, MonitorError> {
    Exec::with_timeout(command, Duration::from_secs(10))
        .health()
        .await
}

#[tokio::test]
async fn exec_values() {
    assert_eq!(exec("echo 42").await.expect("42"), 42);
    assert_eq!(exec("printf '  77\\n'").await.expect("77"), 77);
    // No newline at the end is fine.
    assert_eq!(exec("printf 100").await.expect("100"), 100);
    assert_eq!(exec("printf 0").await.expect("0"), 0);
    // Decimals are rounded.
    assert_eq!(exec("echo 42.7").await.expect("42.7"), 43);
    // stderr does not count.
    assert_eq!(exec("echo oops >&2; echo 5").await.expect("5"), 5);
}

#[tokio::test]
async fn exec_command_with_arguments() {
    let dir = TempDir::new().expect("tempdir");
    let script = write(
        dir.path(),
        "half.sh",
        "#!/bin/sh\n# prints half of its first argument; PATH and environment are the clean ones\n\
         [ \"$PATH\" = /usr/sbin:/usr/bin:/sbin:/bin ] || { echo \"PATH=$PATH\" >&2; exit 9; }\n\
         [ -z \"$HOME\" ] || { echo \"HOME=$HOME\" >&2; exit 8; }\n\
         echo $(( $1 / 2 ))\n",
    );
    let command = format!("/bin/sh {} 130 'ignored arg'", script.display());
    let mut m = MonitorFactory::builtin()
        .build(&Monitor::Exec { command })
        .await
        .expect("build");
    assert_eq!(m.health().await.expect("health"), 65);
    // Shell syntax works: a pipe.
    assert_eq!(exec("echo 12 | tr 1 3").await.expect("32"), 32);
}

#[tokio::test]
async fn exec_bad_output() {
    let e = exec("echo garbage").await.expect_err("garbage");
    assert_eq!(
        e.to_string(),
        "exec `echo garbage` reported \"garbage\", not a health number 0..=100"
    );
    let e = exec("echo 101").await.expect_err("101");
    assert!(
        matches!(&e, MonitorError::OutOfRange { value, .. } if value == "101"),
        "{e}"
    );
    let e = exec("true").await.expect_err("nothing");
    assert!(matches!(e, MonitorError::NoOutput { .. }), "{e}");
    assert_eq!(e.to_string(), "exec `true` printed nothing");
    let e = exec("echo 50; echo garbage")
        .await
        .expect_err("a second line");
    assert!(matches!(e, MonitorError::NotANumber { .. }), "{e}");
    // Blank lines around the one number are fine.
    assert_eq!(exec("echo; echo 4; echo").await.expect("4"), 4);
}

#[tokio::test]
async fn exec_exit_status_and_signal() {
    let e = exec("echo 50; echo 'disk gone' >&2; exit 3")
        .await
        .expect_err("exit 3");
    assert!(
        matches!(&e, MonitorError::ExitStatus { code: 3, stderr, .. } if stderr == "disk gone"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "exec `echo 50; echo 'disk gone' >&2; exit 3` exited with status 3; stderr: disk gone"
    );
    let e = exec("/nonexistent/monitor").await.expect_err("127");
    assert!(
        matches!(&e, MonitorError::ExitStatus { code: 127, stderr, .. } if stderr.contains("not found")),
        "{e:?}"
    );
    let e = exec("kill -TERM $$").await.expect_err("signal");
    assert!(
        matches!(e, MonitorError::Signal { signal: 15, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("killed by signal SIGTERM"), "{e}");
}

#[tokio::test]
async fn exec_hang_kills_the_whole_group() {
    let dir = TempDir::new().expect("tempdir");
    let pid_file = dir.path().join("pids");
    // The shell, a child of it, and a grandchild that ignores SIGTERM; all wait forever.
    let command = format!(
        "sleep 100 & echo $! > {p}.tmp; sh -c 'trap \"\" TERM; sleep 100' & echo $! >> {p}.tmp; \
         echo $$ >> {p}.tmp; mv {p}.tmp {p}; wait",
        p = pid_file.display()
    );
    let mut m = Exec::with_timeout(&command, SHORT);
    let start = Instant::now();
    let e = m.health().await.expect_err("timeout");
    let took = start.elapsed();
    assert!(
        matches!(&e, MonitorError::Timeout { after_ms: 400, .. }),
        "{e:?}"
    );
    assert!(e
        .to_string()
        .ends_with("timed out after 400 ms (its process group was killed)"));
    assert!(took >= SHORT && took < SHORT + MARGIN, "{took:?}");
    let pids = pids(&pid_file);
    assert_eq!(pids.len(), 3);
    for pid in pids {
        assert!(wait_gone(pid).await, "pid {pid} still runs");
    }
}

#[tokio::test]
async fn exec_leftovers_are_killed_at_exit() {
    let dir = TempDir::new().expect("tempdir");
    let pid_file = dir.path().join("pid");
    // The command answers at once but leaves a process behind, holding stdout open.
    let command = format!("sleep 100 & echo $! > {}; echo 60", pid_file.display());
    let start = Instant::now();
    assert_eq!(exec(&command).await.expect("60"), 60);
    assert!(start.elapsed() < MARGIN, "{:?}", start.elapsed());
    let pid = pids(&pid_file)[0];
    assert!(wait_gone(pid).await, "pid {pid} still runs");
}

#[tokio::test]
async fn exec_megabytes_of_output() {
    // 5 MB of "42" lines: read to the end (the command is not blocked), and refused: the
    // contract is one number on one line.
    let e = exec("yes 42 | head -c 5000000")
        .await
        .expect_err("many lines");
    assert!(matches!(e, MonitorError::NotANumber { .. }), "{e}");
    // 3 MB on one line: not a number, quoted cut short.
    let e = exec("head -c 3000000 /dev/zero | tr '\\0' x")
        .await
        .expect_err("one long line");
    let MonitorError::NotANumber { output, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(output, &format!("{}...", "x".repeat(80)));
    // And the same on stderr does not block it.
    assert_eq!(
        exec("head -c 3000000 /dev/zero >&2; echo 9")
            .await
            .expect("9"),
        9
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_calls_in_parallel() {
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        tasks.push(tokio::spawn(async move {
            Exec::new(format!("sleep 0.1; echo {i}")).health().await
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.expect("join").expect("health"), i as u8);
    }
}

// ---- perl -----------------------------------------------------------------------------------

async fn perl(dir: &Path, script: &str) -> Result<Perl, MonitorError> {
    let file = write(dir, "monitor.pl", script);
    Perl::with_timeout(file, SHORT).await
}

#[tokio::test]
async fn perl_returns_73() {
    let dir = TempDir::new().expect("tempdir");
    // The HOWTO's shape: a sub with an empty prototype, no `1;` at the end.
    let file = write(
        dir.path(),
        "monitor.pl",
        "sub get_health() {\n    my $health = 73;\n    return $health;\n}\n",
    );
    let mut m = MonitorFactory::builtin()
        .build(&Monitor::Perl { file })
        .await
        .expect("build");
    assert_eq!(m.health().await.expect("health"), 73);
    assert_eq!(m.health().await.expect("health"), 73);
}

#[tokio::test]
async fn perl_keeps_state_in_one_process() {
    let dir = TempDir::new().expect("tempdir");
    let mut m = perl(
        dir.path(),
        "my $n = 10;\nsub get_health { return $n++ }\n1;\n",
    )
    .await
    .expect("load");
    let pid = m.pid().expect("running");
    for want in 10..15 {
        assert_eq!(m.health().await.expect("health"), want);
    }
    assert_eq!(m.pid(), Some(pid));
    // Dropping the monitor kills perl.
    drop(m);
    assert!(wait_gone(i32::try_from(pid).expect("pid")).await);
}

#[tokio::test]
async fn perl_script_output_does_not_desync() {
    let dir = TempDir::new().expect("tempdir");
    let script = "my $n = 0;\n\
        sub get_health {\n\
          $n++;\n\
          print \"ok 99\\n\";\n\
          print STDOUT \"7\\n\";\n\
          printf(\"%s\", 'no newline ');\n\
          print STDERR \"a warning\\n\";\n\
          system('echo ok 98; echo 97 >&2');\n\
          $\\ = \"\\n\"; $, = ' ';\n\
          return 40 + $n;\n\
        }\n";
    let mut m = perl(dir.path(), script).await.expect("load");
    assert_eq!(m.health().await.expect("health"), 41);
    assert_eq!(m.health().await.expect("health"), 42);
    assert_eq!(m.health().await.expect("health"), 43);
}

#[tokio::test]
async fn perl_reads_decimals_and_refuses_garbage() {
    let dir = TempDir::new().expect("tempdir");
    let mut m = perl(
        dir.path(),
        "my @v = (100 / 3, 'busy', 250, undef, \"1\\n2\", 5);\nsub get_health { shift @v }\n",
    )
    .await
    .expect("load");
    assert_eq!(m.health().await.expect("33.33"), 33);
    let e = m.health().await.expect_err("busy");
    assert!(
        e.to_string()
            .ends_with("monitor.pl get_health() reported \"busy\", not a health number 0..=100"),
        "{e}"
    );
    assert!(matches!(
        m.health().await,
        Err(MonitorError::OutOfRange { value, .. }) if value == "250"
    ));
    assert!(matches!(
        m.health().await,
        Err(MonitorError::NotANumber { output, .. }) if output == "undef"
    ));
    assert!(matches!(
        m.health().await,
        Err(MonitorError::NotANumber { output, .. }) if output == "1 2"
    ));
    assert_eq!(m.health().await.expect("5"), 5);
}

fn load_error(e: MonitorError) -> (PathBuf, String) {
    match e {
        MonitorError::PerlLoad { file, message } => (file, message),
        other => panic!("not a load error: {other:?}"),
    }
}

#[tokio::test]
async fn perl_syntax_error_at_load() {
    let dir = TempDir::new().expect("tempdir");
    let e = perl(dir.path(), "sub get_health {\n  return 5 +;\n}\n")
        .await
        .expect_err("syntax error");
    let text = e.to_string();
    let (file, message) = load_error(e);
    assert_eq!(file, dir.path().join("monitor.pl"));
    assert!(message.contains("syntax error"), "{message}");
    assert!(message.contains("monitor.pl line 2"), "{message}");
    assert!(
        text.starts_with(&format!("cannot load perl monitor {}: ", file.display())),
        "{text}"
    );
}

#[tokio::test]
async fn perl_missing_file() {
    let dir = TempDir::new().expect("tempdir");
    let file = dir.path().join("absent.pl");
    let e = Perl::new(&file).await.expect_err("missing");
    let (f, message) = load_error(e);
    assert_eq!(f, file);
    assert!(message.contains("No such file or directory"), "{message}");
}

#[tokio::test]
async fn perl_without_get_health() {
    let dir = TempDir::new().expect("tempdir");
    let e = perl(dir.path(), "sub health { 5 }\n1;\n")
        .await
        .expect_err("no sub");
    let (_, message) = load_error(e);
    assert!(
        message.ends_with("monitor.pl defines no get_health sub"),
        "{message}"
    );
    // A script dying or exiting while loading.
    let e = perl(dir.path(), "die \"no database\\n\";\n")
        .await
        .expect_err("dies");
    assert_eq!(load_error(e).1, "no database");
    let e = perl(dir.path(), "exit 4;\n").await.expect_err("exits");
    assert_eq!(load_error(e).1, "perl ended while loading (exit status 4)");
}

#[tokio::test]
async fn perl_relative_path() {
    // `do` does not search the current directory for a bare name: the driver adds `./`.
    let dir = TempDir::new().expect("tempdir");
    write(dir.path(), "rel.pl", "sub get_health { 12 }\n");
    let cwd = std::env::current_dir().expect("cwd");
    let rel = pathdiff(dir.path(), &cwd);
    let mut m = Perl::new(&rel).await.expect("load");
    assert_eq!(m.health().await.expect("health"), 12);
}

/// `target` relative to `base` (both absolute), with `..` as needed.
fn pathdiff(target: &Path, base: &Path) -> PathBuf {
    let t: Vec<_> = target.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut p = PathBuf::new();
    for _ in common..b.len() {
        p.push("..");
    }
    for c in &t[common..] {
        p.push(c);
    }
    p.join("rel.pl")
}

#[tokio::test]
async fn perl_get_health_dies_then_works() {
    let dir = TempDir::new().expect("tempdir");
    let mut m = perl(
        dir.path(),
        "my $n = 0;\nsub get_health {\n  $n++;\n  die \"cannot reach\\nthe queue\\n\" if $n == 2;\n  return $n;\n}\n",
    )
    .await
    .expect("load");
    let pid = m.pid();
    assert_eq!(m.health().await.expect("1"), 1);
    let e = m.health().await.expect_err("dies");
    assert!(
        matches!(&e, MonitorError::PerlCall { message, .. } if message == "cannot reach the queue"),
        "{e:?}"
    );
    // Same process, state kept.
    assert_eq!(m.health().await.expect("3"), 3);
    assert_eq!(m.pid(), pid);
}

#[tokio::test]
async fn perl_timeout_restarts_the_process() {
    let dir = TempDir::new().expect("tempdir");
    let slow = dir.path().join("slow");
    let pid_file = dir.path().join("child");
    let script = format!(
        "my $n = 0;\n\
         sub get_health {{\n\
           $n++;\n\
           if (-e '{slow}') {{\n\
             unlink '{slow}';\n\
             system('sleep 100 & echo $! > {child}');\n\
             sleep 100;\n\
           }}\n\
           return 50 + $n;\n\
         }}\n",
        slow = slow.display(),
        child = pid_file.display()
    );
    let mut m = perl(dir.path(), &script).await.expect("load");
    assert_eq!(m.health().await.expect("51"), 51);
    assert_eq!(m.health().await.expect("52"), 52);
    let old = i32::try_from(m.pid().expect("running")).expect("pid");
    std::fs::write(&slow, "").expect("slow");
    let start = Instant::now();
    let e = m.health().await.expect_err("timeout");
    let took = start.elapsed();
    assert!(
        matches!(&e, MonitorError::PerlTimeout { after_ms: 400, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("restarted at the next call"), "{e}");
    assert!(took >= SHORT && took < SHORT + MARGIN, "{took:?}");
    assert_eq!(m.pid(), None);
    // perl and what it started are gone.
    assert!(wait_gone(old).await);
    assert!(wait_gone(pids(&pid_file)[0]).await);
    // A new perl, the script loaded again: its state starts afresh.
    assert_eq!(m.health().await.expect("51 again"), 51);
    assert_ne!(m.pid(), Some(u32::try_from(old).expect("pid")));
}

#[tokio::test]
async fn perl_process_death_restarts() {
    let dir = TempDir::new().expect("tempdir");
    let mut m = perl(
        dir.path(),
        "my $n = 0;\nsub get_health { $n++; if ($n == 2) { print STDERR \"bye\\n\"; exit 3 } 20 + $n }\n",
    )
    .await
    .expect("load");
    assert_eq!(m.health().await.expect("21"), 21);
    let e = m.health().await.expect_err("exit");
    assert!(
        matches!(&e, MonitorError::PerlDied { status, stderr, .. }
            if status == "exit status 3" && stderr == "bye"),
        "{e:?}"
    );
    assert_eq!(m.health().await.expect("21 again"), 21);

    // Killed from outside.
    let pid = m.pid().expect("running");
    kill(
        Pid::from_raw(i32::try_from(pid).expect("pid")),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let e = m.health().await.expect_err("killed");
    assert!(
        matches!(&e, MonitorError::PerlDied { status, .. } if status.contains("SIGKILL")),
        "{e:?}"
    );
    assert_eq!(m.health().await.expect("21 once more"), 21);
}

#[tokio::test]
async fn perl_reload_failure_after_restart() {
    let dir = TempDir::new().expect("tempdir");
    let mut m = perl(dir.path(), "sub get_health { exit 1 }\n")
        .await
        .expect("load");
    assert!(matches!(
        m.health().await,
        Err(MonitorError::PerlDied { .. })
    ));
    std::fs::remove_file(dir.path().join("monitor.pl")).expect("rm");
    assert!(matches!(
        m.health().await,
        Err(MonitorError::PerlLoad { .. })
    ));
}

// ---- the factory ----------------------------------------------------------------------------

/// A custom monitor: counts down from its `start` option.
struct Countdown(u8);

#[async_trait]
impl HealthMonitor for Countdown {
    async fn health(&mut self) -> Result<u8, MonitorError> {
        self.0 = self.0.saturating_sub(1);
        Ok(self.0)
    }
}

#[tokio::test]
async fn custom_monitor_registered_and_built() {
    let mut f = MonitorFactory::builtin().with_timeout(SHORT);
    f.register("countdown", |options: &BTreeMap<String, String>| {
        let start = options
            .get("start")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| MonitorError::Config {
                name: "countdown".into(),
                reason: "`start` must be 0..=255".into(),
            })?;
        Ok(Box::new(Countdown(start)) as Box<dyn HealthMonitor>)
    })
    .expect("register");
    let custom = |name: &str, start: &str| Monitor::Custom {
        name: name.into(),
        options: BTreeMap::from([("start".into(), start.into())]),
    };
    let mut m = f.build(&custom("countdown", "50")).await.expect("build");
    assert_eq!(m.health().await.expect("49"), 49);
    assert_eq!(m.health().await.expect("48"), 48);
    // `.so` is accepted too.
    let mut m = f.build(&custom("countdown.so", "3")).await.expect("build");
    assert_eq!(m.health().await.expect("2"), 2);

    let Err(e) = f.build(&custom("countdown", "x")).await else {
        panic!("built with a bad option")
    };
    assert_eq!(
        e.to_string(),
        "monitor `countdown`: `start` must be 0..=255"
    );
    let Err(e) = f.build(&custom("redis", "1")).await else {
        panic!("built an unknown monitor")
    };
    assert_eq!(
        e.to_string(),
        "unknown monitor `redis`; known: constant, countdown, cpuload, exec, perl"
    );

    // The factory's timeout reaches exec.
    let mut m = f
        .build(&Monitor::Exec {
            command: "sleep 5".into(),
        })
        .await
        .expect("build");
    assert!(matches!(
        m.health().await,
        Err(MonitorError::Timeout { after_ms: 400, .. })
    ));
}
