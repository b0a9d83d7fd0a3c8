//! Helpers of the ipvssync process tests (host and kernel): a temporary state directory laid
//! out as surealived leaves it, and the `ipvssync` binary whose log lines (stderr) the test
//! waits for. A test that uses it declares `mod common;` too.

#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub(crate) const IPVSSYNC: &str = env!("CARGO_BIN_EXE_ipvssync");

/// A state directory: `surealived.cfg`, `ipvsfull.cfg`, `ipvsfull.lock`, `diffs/`.
pub(crate) struct State {
    _tmp: tempfile::TempDir,
    pub(crate) dir: PathBuf,
    pub(crate) cfg: PathBuf,
}

impl State {
    /// `extra` is appended to surealived.cfg (e.g. `use_log true`).
    pub(crate) fn new(extra: &str) -> State {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        std::fs::create_dir(dir.join("diffs")).expect("mkdir");
        std::fs::write(dir.join("ipvsfull.lock"), "").expect("lock");
        let d = dir.display();
        let cfg = dir.join("surealived.cfg");
        std::fs::write(
            &cfg,
            format!(
                "lock_sync_file {d}/ipvsfull.lock\nfull_sync_file {d}/ipvsfull.cfg\n\
                 full_reload_file {d}/ipvsfull.reload\ndiff_sync_dir {d}/diffs\n\
                 ipvssync_logging info\n{extra}"
            ),
        )
        .expect("cfg");
        State {
            _tmp: tmp,
            dir,
            cfg,
        }
    }

    pub(crate) fn diff(&self, n: u64) -> PathBuf {
        self.dir.join("diffs").join(format!("diff_sync.{n}"))
    }

    pub(crate) fn reload_flag(&self) -> PathBuf {
        self.dir.join("ipvsfull.reload")
    }

    /// Writes ipvsfull.cfg with `body`, following diff file `n` (created empty if absent).
    pub(crate) fn full(&self, n: u64, body: &str) {
        let text = format!(
            "meta version=1.0 mdate=2026-11-29 mtime=12:00:00\nDIFF file={}\n{body}",
            self.diff(n).display()
        );
        std::fs::write(self.dir.join("ipvsfull.cfg"), text).expect("write cfg");
        self.append(n, "");
    }

    pub(crate) fn append(&self, n: u64, text: &str) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.diff(n))
            .expect("open diff");
        f.write_all(text.as_bytes()).expect("append");
    }
}

/// A diff line for real `raddr:rport` of the TCP virtual `vaddr:80` (dr, wrr).
pub(crate) fn diff_line(cmd: &str, vaddr: &str, raddr: &str, weight: u32) -> String {
    format!(
        "cmd={cmd} vname=v vproto=tcp vaddr={vaddr} vport=80 vfwmark=0 vrt=dr vsched=wrr \
         rname=r raddr={raddr} rport=80 rweight={weight}\n"
    )
}

/// A running ipvssync whose stderr lines arrive on a channel.
pub(crate) struct Sync {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Sync {
    pub(crate) fn start(state: &State, args: &[&str]) -> Sync {
        let mut cmd = Command::new(IPVSSYNC);
        cmd.arg("-c")
            .arg(&state.cfg)
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null());
        let (child, lines) = crate::common::spawn_lines(&mut cmd, crate::common::Pipe::Stderr);
        Sync {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a new line (not one seen before) containing every one of `parts`; returns it
    /// and when it was received.
    pub(crate) fn expect(&mut self, parts: &[&str], within: Duration) -> (String, Instant) {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let at = Instant::now();
                    self.seen.push(line.clone());
                    if parts.iter().all(|p| line.contains(p)) {
                        return (line, at);
                    }
                }
                Err(_) => panic!(
                    "no line with {parts:?} within {within:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Whether a line read so far (by [`Sync::expect`] or [`Sync::drain`]) contains every one
    /// of `parts`.
    pub(crate) fn saw(&self, parts: &[&str]) -> bool {
        self.seen
            .iter()
            .any(|l| parts.iter().all(|p| l.contains(p)))
    }

    /// Every line received so far or within `wait`.
    pub(crate) fn drain(&mut self, wait: Duration) -> Vec<String> {
        let end = Instant::now() + wait;
        while let Ok(l) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            self.seen.push(l);
        }
        self.seen.clone()
    }

    pub(crate) fn signal(&self, sig: &str) {
        crate::common::signal(&self.child, sig);
    }

    pub(crate) fn wait(&mut self, within: Duration) -> Option<i32> {
        crate::common::wait_exit(&mut self.child, within, "ipvssync")
    }
}

impl Drop for Sync {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs ipvssync to completion (for start-up failures).
pub(crate) fn run_once(cfg: &Path, args: &[&str]) -> std::process::Output {
    Command::new(IPVSSYNC)
        .arg("-c")
        .arg(cfg)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("run ipvssync")
}
