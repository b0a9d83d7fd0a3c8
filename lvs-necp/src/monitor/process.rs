//! What `exec` and `perl` share: a clean command in its own process group, the group killed
//! whole, bounded reading of a pipe.

use std::collections::VecDeque;
use std::process::Stdio;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

/// The `PATH` given to monitor programs (and `perl`).
pub const EXEC_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// `program` with a clean environment (`PATH` = [`EXEC_PATH`], `LC_ALL=C` so that numbers are
/// printed with a `.`), stdout and stderr piped, stdin null, in a process group of its own, and
/// killed if the [`Child`] is dropped.
pub(crate) fn command(program: &str) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("PATH", EXEC_PATH)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    c
}

/// Kills a child's process group once: explicitly, or when dropped.
#[derive(Debug)]
pub(crate) struct GroupGuard(Option<Pid>);

impl GroupGuard {
    /// The group of `child`, spawned by [`command`] (its group ID is its PID). Take it before the
    /// child is reaped.
    pub(crate) fn of(child: &Child) -> Self {
        Self(
            child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .map(Pid::from_raw),
        )
    }

    /// SIGKILL to every process of the group; then nothing.
    pub(crate) fn kill(&mut self) {
        if let Some(g) = self.0.take() {
            // ESRCH: nobody left in the group.
            let _ = killpg(g, Signal::SIGKILL);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Which bytes of a pipe are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// The first `n` bytes.
    Head(usize),
    /// The last `n` bytes.
    Tail(usize),
}

/// A pipe read to its end, keeping a bounded part of what it carried; the rest is dropped, so
/// the writer never blocks on a full pipe.
#[derive(Debug)]
pub(crate) struct Pipe<R> {
    pipe: Option<R>,
    kept: VecDeque<u8>,
    keep: Keep,
    buf: Box<[u8]>,
    /// Bytes the pipe carried in all.
    total: usize,
}

impl<R: AsyncRead + Unpin> Pipe<R> {
    pub(crate) fn new(pipe: Option<R>, keep: Keep) -> Self {
        Self {
            pipe,
            kept: VecDeque::new(),
            keep,
            buf: vec![0; 8192].into_boxed_slice(),
            total: 0,
        }
    }

    /// Whether the pipe may still carry bytes.
    pub(crate) fn is_open(&self) -> bool {
        self.pipe.is_some()
    }

    /// Reads what is there (closing the pipe at its end) and returns it; never completes once
    /// the pipe is closed. Cancel-safe: a read that did not complete took nothing.
    pub(crate) async fn read(&mut self) -> &[u8] {
        let Some(p) = self.pipe.as_mut() else {
            return std::future::pending().await;
        };
        match p.read(&mut self.buf).await {
            Ok(0) | Err(_) => {
                self.pipe = None;
                &[]
            }
            Ok(n) => {
                self.total = self.total.saturating_add(n);
                let chunk = &self.buf[..n];
                match self.keep {
                    Keep::Head(limit) => {
                        let room = limit.saturating_sub(self.kept.len());
                        self.kept.extend(&chunk[..n.min(room)]);
                    }
                    Keep::Tail(limit) => {
                        self.kept.extend(chunk);
                        let over = self.kept.len().saturating_sub(limit);
                        self.kept.drain(..over);
                    }
                }
                chunk
            }
        }
    }

    /// What was kept so far.
    pub(crate) fn kept(&mut self) -> &[u8] {
        self.kept.make_contiguous()
    }

    /// Bytes the pipe carried so far, kept or not.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// Forgets what was kept so far.
    pub(crate) fn clear(&mut self) {
        self.kept.clear();
    }
}

/// The text of `bytes`, trimmed, cut to `max` characters.
pub(crate) fn text(bytes: &[u8], max: usize) -> String {
    super::cut(String::from_utf8_lossy(bytes).trim(), max)
}
