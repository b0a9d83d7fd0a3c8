//! Helpers of the daemon tests: daemons whose output lines the test waits for.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A daemon whose stdout lines arrive on a channel.
pub(crate) struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    pub(crate) fn start(bin: &str, conf: &Path, extra: &[&str]) -> Daemon {
        let mut cmd = Command::new(bin);
        cmd.arg("-d")
            .arg("-c")
            .arg(conf)
            .args(extra)
            .env("RUST_LOG", "debug")
            .env("NO_COLOR", "1")
            .stderr(Stdio::inherit());
        let (child, lines) = spawn_lines(&mut cmd, Pipe::Stdout);
        Daemon {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing every one of `parts` (or finds it among the lines
    /// already read).
    pub(crate) fn expect(&mut self, parts: &[&str], within: Duration) -> String {
        if let Some(l) = self
            .seen
            .iter()
            .find(|l| parts.iter().all(|p| l.contains(p)))
        {
            return l.clone();
        }
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if parts.iter().all(|p| line.contains(p)) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {parts:?} within {within:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    pub(crate) fn signal(&self, sig: &str) {
        signal(&self.child, sig);
    }

    pub(crate) fn wait(&mut self, within: Duration) -> Option<i32> {
        wait_exit(&mut self.child, within, "daemon")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which output of a child carries the lines a test waits for.
pub(crate) enum Pipe {
    Stdout,
    Stderr,
}

/// Spawns `cmd` with `pipe` captured; its lines arrive on the returned channel (a thread reads
/// them until the pipe closes).
pub(crate) fn spawn_lines(cmd: &mut Command, pipe: Pipe) -> (Child, mpsc::Receiver<String>) {
    match pipe {
        Pipe::Stdout => cmd.stdout(Stdio::piped()),
        Pipe::Stderr => cmd.stderr(Stdio::piped()),
    };
    let mut child = cmd.spawn().expect("start the program");
    let out: Box<dyn std::io::Read + Send> = match pipe {
        Pipe::Stdout => Box::new(child.stdout.take().expect("stdout")),
        Pipe::Stderr => Box::new(child.stderr.take().expect("stderr")),
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

/// Sends `sig` (a name such as `TERM`) to `child`.
pub(crate) fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args(["-s", sig, &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -s {sig}");
}

/// Waits for `child` to exit within `within`; its exit code.
pub(crate) fn wait_exit(child: &mut Child, within: Duration, what: &str) -> Option<i32> {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if let Some(st) = child.try_wait().expect("wait") {
            return st.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not exit within {within:?}");
}

pub(crate) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// Runs the guest's `ipvsadm` (`LVS_IPVSADM`, set by scripts/kernel-tests.sh) and returns its
/// stdout; panics with its stderr when it fails.
pub(crate) fn ipvsadm(args: &[&str]) -> String {
    let out = ipvsadm_output(args);
    assert!(
        out.status.success(),
        "ipvsadm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The same, whatever its exit status (to clean up what may not be there).
pub(crate) fn ipvsadm_output(args: &[&str]) -> std::process::Output {
    let path = std::env::var("LVS_IPVSADM").expect("LVS_IPVSADM: run by scripts/kernel-tests.sh");
    Command::new(&path)
        .args(args)
        .output()
        .expect("run ipvsadm")
}

/// An HTTP real server for the surealived tests, on `ip` and a port the kernel picks: it
/// answers `200 OK` while up and `503` while down (its test fails), once it has the request's
/// head.
pub(crate) struct HttpReal {
    pub(crate) addr: String,
    pub(crate) port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HttpReal {
    pub(crate) fn start(ip: &str) -> HttpReal {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicBool, Ordering};
        let l = TcpListener::bind((ip, 0)).expect("bind");
        let port = l.local_addr().expect("addr").port();
        let up = std::sync::Arc::new(AtomicBool::new(true));
        let flag = up.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                let mut got = Vec::new();
                let mut buf = [0u8; 512];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let r: &[u8] = if flag.load(Ordering::SeqCst) {
                    b"HTTP/1.0 200 OK\r\n\r\nok"
                } else {
                    b"HTTP/1.0 503 Busy\r\n\r\nno"
                };
                let _ = c.write_all(r);
            }
        });
        HttpReal {
            addr: ip.to_string(),
            port,
            up,
        }
    }

    pub(crate) fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
    }

    /// `ip:port`, as ipvsadm lists it.
    pub(crate) fn hostport(&self) -> String {
        format!("{}:{}", self.addr, self.port)
    }

    /// Its `<real>` element.
    pub(crate) fn xml(&self, name: &str, weight: u32) -> String {
        format!(
            r#"  <real name="{name}" addr="{}" port="{}" testport="{}" weight="{weight}"/>"#,
            self.addr, self.port, self.port
        )
    }
}
