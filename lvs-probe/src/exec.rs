//! `exec`: runs a program per test; exit status 0 is success.
//!
//! ```text
//!  argv: <exec> <real address> <test port> <params split on spaces...>
//!  env:  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin  LC_ALL=C  (nothing else)
//!  stdin /dev/null; stdout and stderr captured (bounded); own process group
//! ```
//!
//! The program gets its own process group. When it exits, whatever it left running in its group
//! is killed (SIGKILL to the group); at the deadline the whole group is killed and the test
//! fails with [`Failure::Timeout`] in [`Phase::Exec`]. The program is always reaped: no zombie
//! is left. A probe abandoned half-way (its future dropped) kills the group too, and tokio
//! reaps the program in the background. Its output (stdout and stderr in arrival order) is read as it comes, so a chatty
//! program never blocks on a full pipe; the first [`ExecProber::max_output`] bytes are kept in
//! [`Outcome::output`] and the rest is counted and dropped.
//!
//! Differences from the original: each real gets its own argument list (the original split a
//! shared `params` string in place, so later reals received only its first word); empty words
//! (from double spaces) are dropped; the environment is a small clean one instead of a copy of
//! argv (a bug of the original); the result is taken as soon as the program exits instead of at
//! the virtual's expiry; output goes to the outcome instead of surealived's log file.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use lvs_core::config::xml::TesterSpec;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::time::{sleep_until, timeout_at, Instant};

use crate::net::io_failure;
use crate::outcome::{Captured, Failure, Outcome, Phase, Recorder};
use crate::prober::{builtin_spec, Prober};
use crate::target::Target;

/// The `PATH` given to programs.
pub const EXEC_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long output is still read once the program's group is dead (a process that left the
/// group may hold the pipes open).
const DRAIN_GRACE: Duration = Duration::from_millis(100);

/// The `exec` prober.
#[derive(Debug, Clone)]
pub struct ExecProber {
    max_output: usize,
}

impl Default for ExecProber {
    fn default() -> Self {
        Self::new()
    }
}

impl ExecProber {
    /// An `exec` prober keeping at most 64 KiB of output per test.
    pub fn new() -> Self {
        Self {
            max_output: 64 * 1024,
        }
    }

    /// The same keeping at most `max_output` bytes of output per test.
    pub fn with_max_output(max_output: usize) -> Self {
        Self { max_output }
    }

    /// The most output kept per test.
    pub fn max_output(&self) -> usize {
        self.max_output
    }

    /// The command line for `target`: program, then arguments.
    pub fn argv(target: &Target) -> Result<(PathBuf, Vec<String>), Failure> {
        let a = &target.attrs;
        let program = a
            .path("exec")
            .map(PathBuf::from)
            .or_else(|| a.str("exec").map(PathBuf::from))
            .ok_or_else(|| Failure::Config {
                reason: "missing attribute `exec`".into(),
            })?;
        let mut args = vec![target.addr.to_string(), target.port.to_string()];
        if let Some(params) = a.str("params") {
            args.extend(
                params
                    .split(' ')
                    .filter(|w| !w.is_empty())
                    .map(str::to_string),
            );
        }
        Ok((program, args))
    }

    async fn run(
        &self,
        target: &Target,
        deadline: Instant,
        rec: &mut Recorder,
    ) -> Result<(), Failure> {
        let (program, args) = Self::argv(target)?;
        let mut child = Command::new(&program)
            .args(&args)
            .env_clear()
            .env("PATH", EXEC_PATH)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| match io_failure(&e, Phase::Exec) {
                Failure::Io {
                    phase,
                    errno,
                    message,
                } => Failure::Io {
                    phase,
                    errno,
                    message: format!("{}: {message}", program.display()),
                },
                other => other,
            })?;
        // The group's ID is the child's PID (process_group(0)); taken before the child is reaped.
        // If the probe is abandoned (its future dropped), the guard kills the group.
        let mut group = GroupGuard(
            child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .map(Pid::from_raw),
        );
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        let mut capture = Capture::new(self.max_output);
        let mut out_buf = vec![0u8; 8192];
        let mut err_buf = vec![0u8; 8192];

        let status = loop {
            tokio::select! {
                s = child.wait() => break Some(s),
                r = read_pipe(&mut out, &mut out_buf) => {
                    capture.take(r, &mut out, &out_buf, rec);
                }
                r = read_pipe(&mut err, &mut err_buf) => {
                    capture.take(r, &mut err, &err_buf, rec);
                }
                () = sleep_until(deadline) => break None,
            }
        };
        let result = match status {
            None => {
                group.kill();
                // Reap: SIGKILL cannot be ignored, so this is quick.
                let _ = child.wait().await;
                Err(Failure::Timeout { phase: Phase::Exec })
            }
            Some(Err(e)) => {
                group.kill();
                Err(io_failure(&e, Phase::Exec))
            }
            Some(Ok(status)) => {
                // What the program left behind in its group does not outlive the test.
                group.kill();
                match (status.code(), status.signal()) {
                    (Some(0), _) => Ok(()),
                    (Some(code), _) => Err(Failure::ExecExit { code }),
                    (None, Some(signal)) => Err(Failure::ExecSignal { signal }),
                    (None, None) => Err(Failure::Io {
                        phase: Phase::Exec,
                        errno: None,
                        message: format!("unknown exit status {status}"),
                    }),
                }
            }
        };
        // The rest of the output, until the pipes close (briefly: see DRAIN_GRACE).
        let until = Instant::now() + DRAIN_GRACE;
        while out.is_some() || err.is_some() {
            let r = timeout_at(until, async {
                tokio::select! {
                    r = read_pipe(&mut out, &mut out_buf) => (true, r),
                    r = read_pipe(&mut err, &mut err_buf) => (false, r),
                }
            })
            .await;
            match r {
                Err(_) => break,
                Ok((true, r)) => capture.take(r, &mut out, &out_buf, rec),
                Ok((false, r)) => capture.take(r, &mut err, &err_buf, rec),
            }
        }
        if capture.total > 0 {
            tracing::debug!(
                program = %program.display(),
                real = %target.socket_addr(),
                bytes = capture.total,
                output = %String::from_utf8_lossy(&capture.kept),
                "exec output"
            );
        }
        rec.set_output(Captured {
            bytes: capture.kept,
            total: capture.total,
        });
        result
    }
}

/// Kills a process group once: explicitly, or when dropped.
struct GroupGuard(Option<Pid>);

impl GroupGuard {
    fn kill(&mut self) {
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

/// Reads a pipe that is still open; never completes for a closed one.
async fn read_pipe<R: AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    match pipe {
        Some(p) => p.read(buf).await,
        None => std::future::pending().await,
    }
}

/// Bounded output capture.
struct Capture {
    kept: Vec<u8>,
    total: u64,
    limit: usize,
}

impl Capture {
    fn new(limit: usize) -> Self {
        Self {
            kept: Vec::new(),
            total: 0,
            limit,
        }
    }

    /// Takes the result of a read from `pipe` into `buf`; closes the pipe at its end.
    fn take<R>(
        &mut self,
        r: std::io::Result<usize>,
        pipe: &mut Option<R>,
        buf: &[u8],
        rec: &mut Recorder,
    ) {
        match r {
            Ok(0) | Err(_) => *pipe = None,
            Ok(n) => {
                self.total += n as u64;
                let room = self.limit.saturating_sub(self.kept.len());
                let kept = &buf[..n.min(room)];
                if !kept.is_empty() {
                    self.kept.extend_from_slice(kept);
                    rec.received(kept);
                }
            }
        }
    }
}

#[async_trait]
impl Prober for ExecProber {
    fn spec(&self) -> TesterSpec {
        builtin_spec("exec")
    }

    async fn probe(&self, target: &Target, deadline: Instant) -> Outcome {
        let mut rec = Recorder::new(target.transcript);
        let result = self.run(target, deadline, &mut rec).await;
        rec.finish(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvs_core::config::xml::AttrValue;

    #[test]
    fn argv_is_program_address_port_then_params() {
        let t = Target::new("exec", "192.0.2.7".parse().expect("ip"), 8080)
            .attr("exec", AttrValue::Path("/usr/lib/check".into()))
            .str_attr("params", "www.onet.pl  /0 x");
        let (program, args) = ExecProber::argv(&t).expect("argv");
        assert_eq!(program, PathBuf::from("/usr/lib/check"));
        assert_eq!(args, ["192.0.2.7", "8080", "www.onet.pl", "/0", "x"]);
        let missing = Target::new("exec", "192.0.2.7".parse().expect("ip"), 1);
        assert!(matches!(
            ExecProber::argv(&missing),
            Err(Failure::Config { .. })
        ));
    }
}
