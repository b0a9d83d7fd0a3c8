//! `exec`: the health is the one line a command prints.
//!
//! ```text
//!  /bin/sh -c '<command>'          (the command line as written in the config, arguments and all)
//!  env:   PATH=/usr/sbin:/usr/bin:/sbin:/bin  LC_ALL=C   (nothing else)
//!  stdin: /dev/null   stdout: first 4 KiB kept   stderr: first 1 KiB kept (for errors)
//!  own process group; SIGKILL to the whole group at exit and at the timeout (default 5 s)
//! ```
//!
//! The command runs through `/bin/sh -c`, so that an operator's command line with arguments,
//! quotes or a pipe works as it would in a shell. It gets a process group of its own: once it
//! exits, whatever it left running in the group is killed, and at the timeout the whole group is
//! killed and [`MonitorError::Timeout`] returned. The command is always reaped (no zombie), also
//! when the call is abandoned (its future dropped). Output is read as it comes, so a chatty
//! command never blocks on a full pipe: the first 4 KiB of stdout are kept and the rest dropped.
//!
//! The result: a non-zero exit is [`MonitorError::ExitStatus`], a signal
//! [`MonitorError::Signal`] (both with the start of stderr), no output [`MonitorError::NoOutput`];
//! otherwise stdout, trimmed, must be one line holding a health number (see the
//! [module docs](super)): more than one line, or more than the 4 KiB kept, is
//! [`MonitorError::NotANumber`].

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::{sleep_until, timeout_at, Instant};

use super::process::{command, text, GroupGuard, Keep, Pipe};
use super::{parse_health, HealthMonitor, MonitorError, DEFAULT_TIMEOUT};

pub use super::process::EXEC_PATH;

/// The shell running the command line.
const SHELL: &str = "/bin/sh";
/// Stdout kept.
const MAX_STDOUT: usize = 4096;
/// Stderr kept, for error messages.
const MAX_STDERR: usize = 1024;
/// Characters of stderr quoted in an error.
const STDERR_CHARS: usize = 200;
/// How long output is still read once the command's group is dead (a process that left the
/// group may hold the pipes open).
const DRAIN_GRACE: Duration = Duration::from_millis(100);

/// The `exec` monitor (`monitor = exec.so`, `command = /usr/local/bin/monitor-mailqueue.sh`).
#[derive(Debug, Clone)]
pub struct Exec {
    command: String,
    timeout: Duration,
}

impl Exec {
    /// Runs `command` (a `/bin/sh` command line) at each call, killing it after
    /// [`DEFAULT_TIMEOUT`].
    pub fn new(command: impl Into<String>) -> Self {
        Self::with_timeout(command, DEFAULT_TIMEOUT)
    }

    /// The same, killing it after `timeout`.
    pub fn with_timeout(command: impl Into<String>, timeout: Duration) -> Self {
        Self {
            command: command.into(),
            timeout,
        }
    }

    /// The command line.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    async fn run(&self) -> Result<u8, MonitorError> {
        let deadline = Instant::now() + self.timeout;
        let mut child = command(SHELL)
            .arg("-c")
            .arg(&self.command)
            .spawn()
            .map_err(|source| MonitorError::Spawn {
                command: format!("{SHELL} -c {}", self.command),
                source,
            })?;
        // If this future is dropped, the guard kills the group and tokio reaps the shell.
        let mut group = GroupGuard::of(&child);
        let mut out = Pipe::new(child.stdout.take(), Keep::Head(MAX_STDOUT));
        let mut err = Pipe::new(child.stderr.take(), Keep::Head(MAX_STDERR));

        let status = loop {
            tokio::select! {
                s = child.wait() => break Some(s),
                _ = out.read() => {}
                _ = err.read() => {}
                () = sleep_until(deadline) => break None,
            }
        };
        // Whatever the command left in its group does not outlive the call.
        group.kill();
        let status = match status {
            None => {
                // Reap: SIGKILL cannot be ignored, so this is quick.
                let _ = child.wait().await;
                return Err(MonitorError::Timeout {
                    command: self.command.clone(),
                    after_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
                });
            }
            Some(Err(source)) => {
                return Err(MonitorError::Io {
                    monitor: format!("exec `{}`", self.command),
                    source,
                })
            }
            Some(Ok(status)) => status,
        };
        // The rest of the output, until the pipes close (briefly: see DRAIN_GRACE).
        let until = Instant::now() + DRAIN_GRACE;
        while out.is_open() || err.is_open() {
            let read = timeout_at(until, async {
                tokio::select! {
                    _ = out.read() => {}
                    _ = err.read() => {}
                }
            });
            if read.await.is_err() {
                break;
            }
        }
        let stderr = text(err.kept(), STDERR_CHARS);
        match (status.code(), status.signal()) {
            (Some(0), _) => {}
            (Some(code), _) => {
                return Err(MonitorError::ExitStatus {
                    command: self.command.clone(),
                    code,
                    stderr,
                })
            }
            (None, Some(signal)) => {
                return Err(MonitorError::Signal {
                    command: self.command.clone(),
                    signal,
                    stderr,
                })
            }
            (None, None) => {
                return Err(MonitorError::Io {
                    monitor: format!("exec `{}`", self.command),
                    source: std::io::Error::other(format!("unknown exit status {status}")),
                })
            }
        }
        let total = out.total();
        let stdout = out.kept();
        if stdout.iter().all(u8::is_ascii_whitespace) && total == stdout.len() {
            return Err(MonitorError::NoOutput {
                command: self.command.clone(),
            });
        }
        // The contract is one number on one line: more lines, or more output than is kept,
        // is "not a number" (quoted from its start).
        let text = String::from_utf8_lossy(stdout);
        let one_line = total == stdout.len() && !text.trim().contains('\n');
        if !one_line {
            return Err(MonitorError::NotANumber {
                monitor: format!("exec `{}`", self.command),
                output: super::truncate(text.trim()),
            });
        }
        parse_health(&text, || format!("exec `{}`", self.command))
    }
}

#[async_trait]
impl HealthMonitor for Exec {
    async fn health(&mut self) -> Result<u8, MonitorError> {
        let r = self.run().await;
        if let Err(e) = &r {
            tracing::debug!(command = %self.command, error = %e, "exec monitor failed");
        }
        r
    }
}
