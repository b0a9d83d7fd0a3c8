//! What a probe returns: the verdict (success or a typed [`Failure`]), its [`Timings`], the bytes
//! exchanged and, on demand, the conversation ([`Transcript`]) for the communication dump.
//!
//! Probers build their [`Outcome`] with a [`Recorder`]: it stamps the connect, TLS and first
//! response times against the start of the probe, counts bytes and keeps the transcript.

use std::fmt;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// The step of a probe in which a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Opening the TCP connection.
    Connect,
    /// The TLS handshake (`SSL="1"`).
    Tls,
    /// Sending the request.
    Send,
    /// Waiting for the first byte of the response.
    FirstByte,
    /// Reading the response head (HTTP status line and headers).
    Head,
    /// Reading the response body.
    Body,
    /// Waiting for or reading a datagram reply (DNS).
    Reply,
    /// Running a program (`exec`).
    Exec,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connect => "connect",
            Phase::Tls => "TLS handshake",
            Phase::Send => "send",
            Phase::FirstByte => "first byte",
            Phase::Head => "response head",
            Phase::Body => "response body",
            Phase::Reply => "reply",
            Phase::Exec => "exec",
        })
    }
}

/// Which body check failed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BodyCheck {
    /// The body does not match the `regex` attribute.
    Regex,
    /// The MD5 digest of the body is not the `digest` attribute.
    Digest {
        /// The digest of the body received, 32 lower-case hexadecimal digits.
        got: String,
    },
}

impl fmt::Display for BodyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyCheck::Regex => f.write_str("body does not match the regex"),
            BodyCheck::Digest { got } => write!(f, "body MD5 is {got}"),
        }
    }
}

/// Why a probe failed: a taxonomy, not strings, so that the engine can count and report causes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// The connection was refused (TCP RST to the SYN, or ICMP port unreachable for UDP).
    #[error("connection refused")]
    Refused,
    /// The TCP connection was not established before the deadline.
    #[error("connect timed out")]
    ConnectTimeout,
    /// The host or network is unreachable (no route, no ARP answer, ICMP unreachable).
    #[error("unreachable: {}", errno_text(*.errno))]
    Unreachable {
        /// The error number (`EHOSTUNREACH`, `ENETUNREACH`, `EHOSTDOWN`, `ENETDOWN`).
        errno: i32,
    },
    /// The connection was reset by the peer.
    #[error("connection reset during {phase}")]
    Reset {
        /// When.
        phase: Phase,
    },
    /// The peer closed the connection before the exchange was complete.
    #[error("connection closed by the peer during {phase}")]
    Closed {
        /// When.
        phase: Phase,
    },
    /// The TLS handshake failed for another reason than the certificate.
    #[error("TLS handshake failed: {reason}")]
    TlsHandshake {
        /// What rustls said.
        reason: String,
    },
    /// The server's certificate was rejected (only when `ssl_verify` is on).
    #[error("certificate rejected: {reason}")]
    Certificate {
        /// What rustls said.
        reason: String,
    },
    /// The HTTP status is not one of those wanted (`retcode`).
    #[error("HTTP status {code}")]
    BadStatus {
        /// The status code received.
        code: u16,
    },
    /// The body does not pass the `regex` or `digest` check.
    #[error("{check}")]
    BodyMismatch {
        /// Which check.
        check: BodyCheck,
    },
    /// The DNS server answered with an error RCODE.
    #[error("DNS RCODE {rcode}")]
    Dns {
        /// The response code (1 FORMERR, 2 SERVFAIL, 3 NXDOMAIN, 4 NOTIMP, 5 REFUSED, ...).
        rcode: u16,
    },
    /// The DNS server answered NOERROR with no answer record.
    #[error("DNS reply without answer")]
    DnsNoAnswer,
    /// The datagram is not a reply to our query (ID, QR bit or question differ).
    #[error("DNS reply does not match the query: {reason}")]
    DnsMismatch {
        /// What differs.
        reason: String,
    },
    /// The program exited with a non-zero status.
    #[error("program exited with status {code}")]
    ExecExit {
        /// The exit status.
        code: i32,
    },
    /// The program was killed by a signal (not by us).
    #[error("program killed by signal {signal}")]
    ExecSignal {
        /// The signal number.
        signal: i32,
    },
    /// The deadline passed after the connection was made (or while a program ran).
    #[error("timed out during {phase}")]
    Timeout {
        /// What was going on.
        phase: Phase,
    },
    /// The peer does not speak the protocol: garbage instead of an HTTP status line, a malformed
    /// header, a DNS message that cannot be decoded.
    #[error("protocol error during {phase}: {reason}")]
    Protocol {
        /// When.
        phase: Phase,
        /// What is wrong.
        reason: String,
    },
    /// The response exceeds a size limit (response head, number of headers, body).
    #[error("{what} larger than {limit} bytes")]
    TooLarge {
        /// What grew too large.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The tester's attributes cannot be used as given (a regex that does not compile, an
    /// unreadable CA file, a missing attribute for a hand-built target).
    #[error("unusable tester configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// Any other input/output error.
    #[error("I/O error during {phase}: {message}")]
    Io {
        /// When.
        phase: Phase,
        /// The OS error number, when there is one.
        errno: Option<i32>,
        /// The error as the OS describes it.
        message: String,
    },
}

fn errno_text(errno: i32) -> &'static str {
    nix::errno::Errno::from_raw(errno).desc()
}

/// The original's three connection-problem counters (`connprob:arpprob:rstprob` in
/// `stats.dump`), which the engine keeps per real.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnProblem {
    /// No connection before the timeout (conntime −1 ms in the original's logs).
    Conn,
    /// The host did not answer ARP or is unreachable (−2 ms).
    Arp,
    /// The connection was refused with a RST (−3 ms).
    Rst,
}

impl Failure {
    /// The original's connection-problem class of this failure, if it is one.
    pub fn conn_problem(&self) -> Option<ConnProblem> {
        match self {
            Failure::ConnectTimeout => Some(ConnProblem::Conn),
            Failure::Unreachable { .. } => Some(ConnProblem::Arp),
            Failure::Refused => Some(ConnProblem::Rst),
            _ => None,
        }
    }
}

/// When the milestones of a probe were reached, counted from its start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// The TCP connection was established.
    pub connect: Option<Duration>,
    /// The TLS handshake completed.
    pub tls: Option<Duration>,
    /// The first byte of the response arrived (for `exec`: the first output).
    pub first_response: Option<Duration>,
    /// The probe ended.
    pub total: Duration,
}

/// Direction of a [`Chunk`], with the tag the original writes in the communication dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Bytes sent to the real.
    Sent,
    /// Bytes received from the real (for `exec`: output of the program).
    Received,
    /// The real closed its side.
    Eof,
}

impl Direction {
    /// The original's tag, as written after the timestamp in the dump (` sd_write ->`,
    /// ` sd_read <-`, ` sd_eof <-`), without the newline.
    pub fn tag(self) -> &'static str {
        match self {
            Direction::Sent => " sd_write ->",
            Direction::Received => " sd_read <-",
            Direction::Eof => " sd_eof <-",
        }
    }
}

/// One piece of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Wall-clock time of the I/O.
    pub at: SystemTime,
    /// Which way.
    pub direction: Direction,
    /// The bytes as sent or received (application data: after TLS decryption).
    pub bytes: Vec<u8>,
}

/// The conversation of one probe, for the communication dump (`debugcomm`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    /// The chunks in order.
    pub chunks: Vec<Chunk>,
}

impl Transcript {
    /// Appends the conversation to `out` in the original's communication-dump format (§3.11 of
    /// the reference): per chunk, the time as `stamp` writes it, one space, the tag, a newline,
    /// the raw bytes and a newline. [`utc_stamp`] writes the original's timestamp in UTC; the
    /// original used local time.
    pub fn render(&self, out: &mut Vec<u8>, stamp: impl Fn(SystemTime) -> String) {
        for c in &self.chunks {
            out.extend_from_slice(stamp(c.at).as_bytes());
            out.push(b' ');
            out.extend_from_slice(c.direction.tag().as_bytes());
            out.push(b'\n');
            out.extend_from_slice(&c.bytes);
            out.push(b'\n');
        }
    }
}

/// `[YYYY-MM-DD HH:MM:SS.uuuuuu]` in UTC, the timestamp of the communication dump.
pub fn utc_stamp(t: SystemTime) -> String {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    let m = lvs_core::formats::ipvsfull::Meta::from_unix(secs, 0);
    let ((year, month, day), (hour, minute, second)) = (m.date, m.time);
    format!(
        "[{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}.{:06}]",
        since.subsec_micros()
    )
}

/// What a program run by `exec` printed (stdout and stderr in arrival order), bounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The first bytes printed, at most the prober's limit.
    pub bytes: Vec<u8>,
    /// How many bytes were printed in all (more than `bytes.len()` when cut).
    pub total: u64,
}

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Success, or why not.
    pub result: Result<(), Failure>,
    /// Milestones.
    pub timings: Timings,
    /// Bytes sent (application data; for `exec`: none).
    pub bytes_sent: u64,
    /// Bytes received (application data; for `exec`: output printed).
    pub bytes_received: u64,
    /// The conversation, when the target asked for it.
    pub transcript: Option<Transcript>,
    /// The output of an `exec` program.
    pub output: Option<Captured>,
}

impl Outcome {
    /// Whether the probe succeeded.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// The failure, if any.
    pub fn failure(&self) -> Option<&Failure> {
        self.result.as_ref().err()
    }
}

/// Builds an [`Outcome`] while a probe runs: timestamps, byte counts and the transcript.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    connect: Option<Duration>,
    tls: Option<Duration>,
    first_response: Option<Duration>,
    sent: u64,
    received: u64,
    transcript: Option<Transcript>,
    output: Option<Captured>,
}

impl Recorder {
    /// Starts the clock now; keeps a transcript when `transcript` is true.
    pub fn new(transcript: bool) -> Self {
        Self {
            start: Instant::now(),
            connect: None,
            tls: None,
            first_response: None,
            sent: 0,
            received: 0,
            transcript: transcript.then(Transcript::default),
            output: None,
        }
    }

    /// When the probe started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Marks the TCP connection as established.
    pub fn connected(&mut self) {
        self.connect.get_or_insert(self.start.elapsed());
    }

    /// Marks the TLS handshake as complete.
    pub fn tls_done(&mut self) {
        self.tls.get_or_insert(self.start.elapsed());
    }

    /// Counts (and records) bytes sent.
    pub fn sent(&mut self, bytes: &[u8]) {
        self.sent += bytes.len() as u64;
        self.push(Direction::Sent, bytes);
    }

    /// Counts (and records) bytes received; the first non-empty call stamps the first response.
    pub fn received(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.first_response.get_or_insert(self.start.elapsed());
        self.received += bytes.len() as u64;
        self.push(Direction::Received, bytes);
    }

    /// Records that the peer closed its side.
    pub fn eof(&mut self) {
        self.push(Direction::Eof, &[]);
    }

    /// Attaches the output of a program.
    pub fn set_output(&mut self, output: Captured) {
        self.output = Some(output);
    }

    fn push(&mut self, direction: Direction, bytes: &[u8]) {
        if let Some(t) = &mut self.transcript {
            t.chunks.push(Chunk {
                at: SystemTime::now(),
                direction,
                bytes: bytes.to_vec(),
            });
        }
    }

    /// Ends the probe with `result`.
    pub fn finish(self, result: Result<(), Failure>) -> Outcome {
        Outcome {
            result,
            timings: Timings {
                connect: self.connect,
                tls: self.tls,
                first_response: self.first_response,
                total: self.start.elapsed(),
            },
            bytes_sent: self.sent,
            bytes_received: self.received,
            transcript: self.transcript,
            output: self.output,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn recorder_stamps_milestones_on_the_probe_clock() {
        let mut r = Recorder::new(true);
        tokio::time::advance(Duration::from_millis(5)).await;
        r.connected();
        r.sent(b"GET / HTTP/1.0\r\n\r\n");
        tokio::time::advance(Duration::from_millis(7)).await;
        r.received(b"");
        r.received(b"HTTP/1.0 200 OK\r\n");
        r.connected();
        r.eof();
        tokio::time::advance(Duration::from_millis(1)).await;
        let o = r.finish(Ok(()));
        assert!(o.is_ok());
        assert_eq!(o.timings.connect, Some(Duration::from_millis(5)));
        assert_eq!(o.timings.first_response, Some(Duration::from_millis(12)));
        assert_eq!(o.timings.total, Duration::from_millis(13));
        assert_eq!((o.bytes_sent, o.bytes_received), (18, 17));
        let t = o.transcript.expect("asked for");
        let dirs: Vec<_> = t.chunks.iter().map(|c| c.direction).collect();
        assert_eq!(
            dirs,
            [Direction::Sent, Direction::Received, Direction::Eof],
            "empty reads are not chunks"
        );
    }

    #[test]
    fn transcript_renders_in_the_originals_format() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_micros(1_709_260_245_123_456);
        assert_eq!(utc_stamp(at), "[2024-03-01 02:30:45.123456]");
        assert_eq!(
            utc_stamp(SystemTime::UNIX_EPOCH),
            "[1970-01-01 00:00:00.000000]"
        );
        let chunk = |direction, bytes: &[u8]| Chunk {
            at,
            direction,
            bytes: bytes.to_vec(),
        };
        let t = Transcript {
            chunks: vec![
                chunk(Direction::Sent, b"GET / HTTP/1.0\r\n\r\n"),
                chunk(Direction::Received, b"HTTP/1.0 200 OK\r\n"),
                chunk(Direction::Eof, b""),
            ],
        };
        let mut out = Vec::new();
        t.render(&mut out, utc_stamp);
        assert_eq!(
            String::from_utf8(out).expect("text"),
            "[2024-03-01 02:30:45.123456]  sd_write ->\nGET / HTTP/1.0\r\n\r\n\n\
             [2024-03-01 02:30:45.123456]  sd_read <-\nHTTP/1.0 200 OK\r\n\n\
             [2024-03-01 02:30:45.123456]  sd_eof <-\n\n"
        );
    }

    #[test]
    fn failures_read_well_and_classify_connection_problems() {
        let f = Failure::Unreachable {
            errno: nix::errno::Errno::EHOSTUNREACH as i32,
        };
        assert_eq!(f.to_string(), "unreachable: No route to host");
        assert_eq!(f.conn_problem(), Some(ConnProblem::Arp));
        assert_eq!(Failure::Refused.conn_problem(), Some(ConnProblem::Rst));
        assert_eq!(
            Failure::ConnectTimeout.conn_problem(),
            Some(ConnProblem::Conn)
        );
        assert_eq!(
            Failure::Timeout {
                phase: Phase::FirstByte
            }
            .to_string(),
            "timed out during first byte"
        );
        assert_eq!(Failure::BadStatus { code: 503 }.conn_problem(), None);
    }
}
