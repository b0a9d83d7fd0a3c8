//! `perl`: the health is what the script's `get_health()` returns, called in one long-lived
//! `perl` process.
//!
//! ```text
//!  perl -e <driver> -- <file>      env: PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C; own group
//!
//!  driver:  fd 1 (the answer pipe) is kept on a private handle; the script's STDOUT is sent to
//!           stderr and its STDIN is /dev/null; then `do <file>`, then check get_health exists
//!  agent -> perl   "\n"                         one request per call
//!  perl  -> agent  "ready\n"                    once, after the script loaded
//!                  "ok <get_health() result>\n" result, newlines made spaces; undef is "undef"
//!                  "err <message>\n"            get_health() died (message on one line)
//!  stderr          the script's prints and warnings: read as they come, logged at debug level,
//!                  the last 4 KiB kept for error messages
//! ```
//!
//! The script is loaded once, when the monitor is built: a missing or unreadable file, a compile
//! error, a `die` or `exit` while loading, or no `get_health` sub is a [`MonitorError::PerlLoad`]
//! with the path and perl's message. Each call then writes one request and reads one answer line
//! within the timeout (default 5 s). The answers travel on a handle of their own and the
//! script's own output goes to stderr, so a script printing to STDOUT (or running programs that
//! do) cannot desync the protocol.
//!
//! When `get_health()` dies, the call fails with [`MonitorError::PerlCall`] and the process lives
//! on. When it does not answer in time ([`MonitorError::PerlTimeout`]) or the process dies
//! ([`MonitorError::PerlDied`]), its whole process group is killed and reaped, and the next call
//! starts a new `perl`, loading the file again as it is then (so its state starts afresh).
//! Dropping the monitor kills the process group.
//!
//! Differences from the original plugin, which embedded a Perl interpreter in the agent: the
//! script runs in a process of its own with a small clean environment (`PERL5LIB` is not passed:
//! use `use lib` in the script), and a hung or crashing script cannot hang or crash the agent.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};
use tokio::time::{sleep_until, timeout_at, Instant};

use super::process::{command, text, GroupGuard, Keep, Pipe};
use super::{parse_health, HealthMonitor, MonitorError, DEFAULT_TIMEOUT};

/// How long loading a script (starting `perl`, `do FILE`) may take.
pub const PERL_LOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The interpreter, looked up in the clean `PATH`.
const PERL: &str = "perl";
/// The longest answer line read.
const MAX_ANSWER: usize = 4096;
/// The end of stderr kept for error messages.
const STDERR_TAIL: usize = 4096;
/// Characters of perl's messages quoted in an error.
const MESSAGE_CHARS: usize = 1000;
/// How long a `perl` whose answer pipe closed may take to exit before its group is killed.
const EXIT_GRACE: Duration = Duration::from_millis(500);
/// How long stderr is still read once the group is dead.
const DRAIN_GRACE: Duration = Duration::from_millis(100);

/// The driver given to `perl -e`; the script's path is its argument.
const DRIVER: &str = r#"
use strict;
my $file = shift @ARGV;
open(my $ANS, '>&', \*STDOUT) or die "cannot dup stdout: $!\n";
open(my $REQ, '<&', \*STDIN) or die "cannot dup stdin: $!\n";
open(STDOUT, '>&', \*STDERR) or die "cannot send stdout to stderr: $!\n";
open(STDIN, '<', '/dev/null') or die "cannot open /dev/null: $!\n";
{ my $old = select($ANS); $| = 1; select(STDOUT); $| = 1; select($old); }
my $path = $file =~ m{^\.{0,2}/} ? $file : "./$file";
open(my $check, '<', $path) or die "cannot read $file: $!\n";
close($check);
$0 = $file;
my $loaded = eval { do $path; die $@ if $@; 1 };
die($@ =~ /\S/ ? $@ : "$file: died while loading\n") unless $loaded;
defined(&main::get_health) or die "$file defines no get_health sub\n";
{ local ($\, $,) = ('', ''); print $ANS "ready\n"; }
while (1) {
    my $req = do { local $/ = "\n"; <$REQ> };
    last unless defined $req;
    my $h;
    my $ok = eval { $h = main::get_health(); 1 };
    local ($\, $,) = ('', '');
    if (!$ok) {
        my $e = "$@";
        $e =~ s/\s+\z//;
        $e =~ s/\s*\n\s*/ /g;
        $e = 'died' if $e eq '';
        print $ANS "err $e\n";
        next;
    }
    $h = 'undef' unless defined $h;
    $h =~ s/[\r\n]+/ /g;
    print $ANS "ok $h\n";
}
"#;

/// The `perl` monitor (`monitor = perl.so`, `file = /usr/lib/feedbackd-agent/monitor.pl`).
#[derive(Debug)]
pub struct Perl {
    file: PathBuf,
    timeout: Duration,
    process: Option<Process>,
}

impl Perl {
    /// Loads `file` into a new `perl` process; calls time out after [`DEFAULT_TIMEOUT`].
    pub async fn new(file: impl Into<PathBuf>) -> Result<Self, MonitorError> {
        Self::with_timeout(file, DEFAULT_TIMEOUT).await
    }

    /// The same with calls timing out after `timeout` (loading may take
    /// [`PERL_LOAD_TIMEOUT`]).
    pub async fn with_timeout(
        file: impl Into<PathBuf>,
        timeout: Duration,
    ) -> Result<Self, MonitorError> {
        let file = file.into();
        let process = Process::start(&file).await?;
        Ok(Self {
            file,
            timeout,
            process: Some(process),
        })
    }

    /// The script.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The PID of the running `perl`, if one runs (none after a timeout or a death, until the
    /// next call).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(|p| p.child.id())
    }

    async fn call(&mut self) -> Result<u8, MonitorError> {
        if self.process.is_none() {
            tracing::info!(file = %self.file.display(), "restarting perl monitor");
            self.process = Some(Process::start(&self.file).await?);
        }
        let Some(process) = self.process.as_mut() else {
            unreachable!("started above")
        };
        let deadline = Instant::now() + self.timeout;
        process.stderr.clear();
        let reply = match process.stdin.write_all(b"\n").await {
            Ok(()) => process.answer(&self.file, deadline).await,
            Err(e) => Reply::Broken(format!("cannot write the request: {e}")),
        };
        let reply = match reply {
            Reply::Line(line) => {
                if let Some(value) = line.strip_prefix("ok ") {
                    return parse_health(value, || {
                        format!("perl {} get_health()", self.file.display())
                    });
                }
                if let Some(message) = line.strip_prefix("err ") {
                    return Err(MonitorError::PerlCall {
                        file: self.file.clone(),
                        message: super::cut(message, MESSAGE_CHARS),
                    });
                }
                Reply::Broken(format!("unexpected answer {:?}", super::truncate(&line)))
            }
            other => other,
        };
        let Some(process) = self.process.take() else {
            unreachable!("the process answered")
        };
        let after_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        let (status, stderr) = process.end(matches!(reply, Reply::Timeout)).await;
        Err(match reply {
            Reply::Timeout => MonitorError::PerlTimeout {
                file: self.file.clone(),
                after_ms,
            },
            Reply::Eof => MonitorError::PerlDied {
                file: self.file.clone(),
                status,
                stderr,
            },
            Reply::Broken(why) => MonitorError::PerlDied {
                file: self.file.clone(),
                status: format!("{why}; {status}"),
                stderr,
            },
            Reply::Line(_) => unreachable!("handled above"),
        })
    }
}

#[async_trait]
impl HealthMonitor for Perl {
    async fn health(&mut self) -> Result<u8, MonitorError> {
        let r = self.call().await;
        if let Err(e) = &r {
            tracing::debug!(file = %self.file.display(), error = %e, "perl monitor failed");
        }
        r
    }
}

/// One `perl` running the driver.
#[derive(Debug)]
struct Process {
    child: Child,
    group: GroupGuard,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr: Pipe<ChildStderr>,
}

/// What came back for a request (or the `ready` of loading).
enum Reply {
    /// One line, without its `\n`.
    Line(String),
    /// The answer pipe closed: the process is ending.
    Eof,
    /// No answer by the deadline.
    Timeout,
    /// The protocol broke (an I/O error, a line too long, an unknown answer).
    Broken(String),
}

impl Process {
    /// Starts `perl` on `file` and waits until the script is loaded.
    async fn start(file: &Path) -> Result<Self, MonitorError> {
        let mut cmd = command(PERL);
        cmd.arg("-e").arg(DRIVER).arg("--").arg(file);
        cmd.stdin(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| MonitorError::Spawn {
            command: PERL.into(),
            source,
        })?;
        let group = GroupGuard::of(&child);
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            unreachable!("the three pipes were asked for")
        };
        let mut p = Process {
            child,
            group,
            stdin,
            stdout: BufReader::new(stdout),
            stderr: Pipe::new(Some(stderr), Keep::Tail(STDERR_TAIL)),
        };
        let deadline = Instant::now() + PERL_LOAD_TIMEOUT;
        let reply = p.answer(file, deadline).await;
        let hung = matches!(reply, Reply::Timeout);
        let failure = match reply {
            Reply::Line(l) if l == "ready" => return Ok(p),
            Reply::Line(l) => format!("unexpected answer {:?}", super::truncate(&l)),
            Reply::Eof => String::new(),
            Reply::Timeout => format!("not loaded within {} s", PERL_LOAD_TIMEOUT.as_secs()),
            Reply::Broken(why) => why,
        };
        let (status, stderr) = p.end(hung).await;
        let message = match (failure.is_empty(), stderr.is_empty()) {
            (true, true) => format!("perl ended while loading ({status})"),
            (true, false) => stderr,
            (false, true) => failure,
            (false, false) => format!("{failure}: {stderr}"),
        };
        Err(MonitorError::PerlLoad {
            file: file.to_path_buf(),
            message,
        })
    }

    /// Reads one answer line by `deadline`, reading (and logging) stderr meanwhile.
    async fn answer(&mut self, file: &Path, deadline: Instant) -> Reply {
        let Process { stdout, stderr, .. } = self;
        let mut line = Vec::new();
        let limit = u64::try_from(MAX_ANSWER).unwrap_or(u64::MAX);
        let mut bounded = (&mut *stdout).take(limit);
        let read = bounded.read_until(b'\n', &mut line);
        tokio::pin!(read);
        let r = loop {
            tokio::select! {
                r = &mut read => break Some(r),
                chunk = stderr.read() => {
                    if !chunk.is_empty() {
                        tracing::debug!(
                            file = %file.display(),
                            output = %String::from_utf8_lossy(chunk).trim_end(),
                            "perl monitor stderr"
                        );
                    }
                }
                () = sleep_until(deadline) => break None,
            }
        };
        match r {
            None => Reply::Timeout,
            Some(Err(e)) => Reply::Broken(format!("cannot read the answer: {e}")),
            Some(Ok(0)) => Reply::Eof,
            Some(Ok(_)) => match line.pop() {
                Some(b'\n') => Reply::Line(String::from_utf8_lossy(&line).into_owned()),
                _ if line.len() + 1 >= MAX_ANSWER => {
                    Reply::Broken(format!("answer longer than {MAX_ANSWER} bytes"))
                }
                _ => Reply::Eof,
            },
        }
    }

    /// Ends the process: waits briefly for it to exit by itself unless `now`, kills its group,
    /// reaps it and reads the rest of stderr. Returns how it ended and the end of its stderr.
    async fn end(mut self, now: bool) -> (String, String) {
        let exited = if now {
            None
        } else {
            timeout_at(Instant::now() + EXIT_GRACE, self.child.wait())
                .await
                .ok()
                .and_then(Result::ok)
        };
        self.group.kill();
        let status = match exited {
            Some(s) => Ok(s),
            // SIGKILL cannot be ignored, so this is quick.
            None => self.child.wait().await,
        };
        let until = Instant::now() + DRAIN_GRACE;
        while self.stderr.is_open() {
            if timeout_at(until, self.stderr.read()).await.is_err() {
                break;
            }
        }
        let status = match status {
            Ok(s) => describe(s),
            Err(e) => format!("cannot reap it: {e}"),
        };
        (status, text(self.stderr.kept(), MESSAGE_CHARS))
    }
}

/// `exit status 3`, `killed by SIGKILL`.
fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by {}", super::signal_name(signal)),
        (None, None) => status.to_string(),
    }
}
