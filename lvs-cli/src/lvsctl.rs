//! `lvsctl`: a small client of the surealived control port, so operators need no `nc`.
//!
//! ```text
//! lvsctl [-a ADDR] [-p PORT] [-t SECONDS] [--json] vlist
//! lvsctl ... rlist VPROTO VADDR VPORT          (rlist fwmark MARK)
//! lvsctl ... rset VPROTO VADDR VPORT RADDR RPORT [RSTATE] [RWEIGHT[%]]
//!                                              (rset fwmark MARK RADDR RPORT ...)
//! lvsctl ... stats | connstats
//! lvsctl ... rset vproto=tcp vaddr=10.0.0.1 vport=80 raddr=... rport=... rstate=DOWN
//! ```
//!
//! Positional words fill the parameters in that order; `key=value` words are passed as they
//! are, so the original's grammar works too. The line is checked with
//! [`lvs_core::control::parse`] before it is sent. The reply is printed without its
//! `_SD_CMD_END_` line; an error reply goes to stderr.
//!
//! Exit status: 0 success, 1 error reply, 2 invalid command line, 3 connection failure or no
//! whole reply within the timeout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use lvs_core::control::{parse, END_MARKER, ERROR_PREFIX};

/// Exit status of an error reply.
pub const EXIT_ERROR_REPLY: u8 = 1;
/// Exit status of an invalid command line.
pub const EXIT_USAGE: u8 = 2;
/// Exit status of a connection failure or timeout.
pub const EXIT_CONNECTION: u8 = 3;

/// The largest reply read (a guard against a peer that never ends its reply).
const MAX_REPLY: usize = 64 << 20;

/// `lvsctl`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "lvsctl",
    version,
    about = "Ask surealived's control port: vlist, rlist, rset, stats, connstats",
    after_help = "Examples:\n  lvsctl vlist\n  lvsctl rlist tcp 10.0.0.1 80\n  \
                  lvsctl rset tcp 10.0.0.1 80 10.0.1.2 8080 OFFLINE\n  \
                  lvsctl rset fwmark 42 10.0.1.2 0 50%\n  lvsctl --json stats\n\n\
                  Exit status: 0 success, 1 error reply, 2 invalid command line, \
                  3 connection failure or timeout."
)]
pub struct Args {
    /// Address (or host name) of the control port.
    #[arg(short = 'a', long = "addr", default_value = "127.0.0.1")]
    pub addr: String,
    /// Port of the control port.
    #[arg(short = 'p', long = "port", default_value_t = 1337)]
    pub port: u16,
    /// Ask for the JSON form (vlist, rlist, stats, connstats).
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for the connection and the whole reply.
    #[arg(short = 't', long = "timeout", default_value = "10", value_parser = parse_seconds)]
    pub timeout: Duration,
    /// The command and its parameters.
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    pub command: Vec<String>,
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(format!(
            "`{s}`: the timeout must be above 0 and at most 86400"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The request line for `words` (command first), checked with the control port's parser.
///
/// ```
/// use lvs_cli::lvsctl::request_line;
///
/// let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
/// assert_eq!(
///     request_line(&words("rlist tcp 10.0.0.1 80"), false).unwrap(),
///     "rlist vproto=tcp vaddr=10.0.0.1 vport=80"
/// );
/// assert_eq!(
///     request_line(&words("rset fwmark 42 10.0.1.2 0 DOWN"), false).unwrap(),
///     "rset vproto=fwmark vfwmark=42 raddr=10.0.1.2 rport=0 rstate=DOWN"
/// );
/// assert!(request_line(&words("rlist"), false).is_err());
/// ```
pub fn request_line(words: &[String], json: bool) -> Result<String, String> {
    let (command, rest) = words
        .split_first()
        .ok_or_else(|| "no command given".to_owned())?;
    let mut keys: &[&str] = match command.as_str() {
        "vlist" | "stats" | "connstats" => &[],
        "rlist" => &["vproto", "vaddr", "vport"],
        "rset" => &["vproto", "vaddr", "vport", "raddr", "rport"],
        other => {
            return Err(format!(
                "unknown command `{other}` (vlist, rlist, rset, stats or connstats)"
            ))
        }
    };
    let mut line = command.clone();
    let (mut positional, mut extra) = (0, 0);
    for word in rest {
        if word.contains('=') {
            line.push(' ');
            line.push_str(word);
            continue;
        }
        let key = match keys.get(positional) {
            Some(key) => *key,
            // After rset's real: a state and/or a weight, in either order.
            None if command == "rset" && extra < 2 => {
                extra += 1;
                if word.starts_with(|c: char| c.is_ascii_digit()) {
                    "rweight"
                } else {
                    "rstate"
                }
            }
            None => return Err(format!("`{command}`: unexpected word `{word}`")),
        };
        if key == "vproto" && word == "fwmark" {
            // A fwmark virtual is named by its mark: `fwmark MARK` instead of `ADDR PORT`.
            keys = if command == "rset" {
                &["vproto", "vfwmark", "raddr", "rport"]
            } else {
                &["vproto", "vfwmark"]
            };
        }
        line.push_str(&format!(" {key}={word}"));
        positional += 1;
    }
    if json {
        line.push_str(" json");
    }
    parse(&line).map_err(|e| e.to_string())?;
    Ok(line)
}

/// Why no reply was read.
#[derive(Debug)]
pub struct ConnectionError(String);

impl std::fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Sends `line` to `addr` and reads the reply up to and including its `_SD_CMD_END_` line,
/// all within `timeout`.
pub fn exchange(
    addr: SocketAddr,
    line: &str,
    timeout: Duration,
) -> Result<String, ConnectionError> {
    let deadline = Instant::now() + timeout;
    let err = |what: &str, e: std::io::Error| ConnectionError(format!("{addr}: {what}: {e}"));
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| err("connect", e))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| err("socket", e))?;
    stream
        .write_all(format!("{line}\n").as_bytes())
        .map_err(|e| err("send", e))?;
    let end = format!("{END_MARKER}\n");
    let mut reply = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if reply.ends_with(end.as_bytes())
            && (reply.len() == end.len() || reply[..reply.len() - end.len()].ends_with(b"\n"))
        {
            return Ok(String::from_utf8_lossy(&reply).into_owned());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ConnectionError(format!(
                "{addr}: no whole reply within {timeout:?}"
            )));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| err("socket", e))?;
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(ConnectionError(format!(
                    "{addr}: connection closed before the end of the reply"
                )))
            }
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ConnectionError(format!(
                    "{addr}: no whole reply within {timeout:?}"
                )))
            }
            Err(e) => return Err(err("receive", e)),
        }
        if reply.len() > MAX_REPLY {
            return Err(ConnectionError(format!(
                "{addr}: reply longer than {MAX_REPLY} bytes"
            )));
        }
    }
}

/// Runs `lvsctl`: builds the line, asks the control port, prints the reply.
pub fn run(args: &Args) -> ExitCode {
    let line = match request_line(&args.command, args.json) {
        Ok(line) => line,
        Err(e) => {
            eprintln!("lvsctl: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let addr = match (args.addr.as_str(), args.port)
        .to_socket_addrs()
        .map(|mut a| a.next())
    {
        Ok(Some(addr)) => addr,
        Ok(None) => {
            eprintln!("lvsctl: {}: no address", args.addr);
            return ExitCode::from(EXIT_CONNECTION);
        }
        Err(e) => {
            eprintln!("lvsctl: {}: {e}", args.addr);
            return ExitCode::from(EXIT_CONNECTION);
        }
    };
    let reply = match exchange(addr, &line, args.timeout) {
        Ok(reply) => reply,
        Err(e) => {
            eprintln!("lvsctl: {e}");
            return ExitCode::from(EXIT_CONNECTION);
        }
    };
    let body = &reply[..reply.len() - END_MARKER.len() - 1];
    if let Some(message) = body.strip_prefix(ERROR_PREFIX) {
        eprint!("lvsctl: {message}");
        return ExitCode::from(EXIT_ERROR_REPLY);
    }
    print!("{body}");
    ExitCode::SUCCESS
}
