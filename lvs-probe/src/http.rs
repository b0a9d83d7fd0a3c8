//! `http` (and, with `SSL="1"`, https): the original's request and status check, with the
//! response parsed by `httparse` and bounded in size and time.
//!
//! ```text
//!  prober                                   real
//!    │ ── TCP connect (+ TLS handshake) ──────► │
//!    │ ── GET <url> HTTP/1.0\r\n               │
//!    │    Host: <host>\r\n                      │
//!    │    User-Agent: SureAliveD\r\n\r\n ─────► │
//!    │ ◄── HTTP/1.x <status> ...\r\n ────────── │  naive (default): decided here
//!    │ ◄── headers\r\n\r\n ─────────────────── │
//!    │ ◄── body, to Content-Length, the last    │  otherwise: read to the end,
//!    │     chunk, or the close ─────────────── │  then regex / digest checks
//!    │ ── RST ────────────────────────────────► │
//! ```
//!
//! Attributes (declared by `lvs-core`'s registry): `url`, `host`, `naive` (default on, the
//! original's effective default), `retcode` (codes and ranges, default `200`), and the extensions
//! `method` (GET or HEAD), `regex` (the body must match it), `digest` (MD5 of the body, 32 hex
//! digits) and the TLS ones (see [`crate::tls`]).
//!
//! Differences from the original: the original reads exactly 12 bytes and compares bytes 9..11
//! with `retcode`; we read the whole status line and parse it, so a status line that is not
//! HTTP fails as [`Failure::Protocol`] instead of being compared blindly. Without `naive`, the
//! original drains to EOF whatever comes; we stop at the end of the body as framed by the
//! headers, and fail a response larger than the limits ([`HttpLimits`]). The whole test is
//! bounded by one deadline, so a server that drips a byte a second fails at the deadline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use lvs_core::config::xml::{StatusCodes, TesterSpec};
use md5::{Digest, Md5};
use regex::bytes::Regex;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::net::{recv, send, Connector};
use crate::outcome::{BodyCheck, Failure, Outcome, Phase, Recorder};
use crate::prober::{builtin_spec, Prober};
use crate::target::Target;

/// The `User-Agent` the original sends.
pub const USER_AGENT: &str = "SureAliveD";

/// Size limits of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest status line plus headers, in bytes (default 16 KiB).
    pub max_head: usize,
    /// Most headers (default 100).
    pub max_headers: usize,
    /// Largest body, in bytes (default 1 MiB).
    pub max_body: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_head: 16 * 1024,
            max_headers: 100,
            max_body: 1024 * 1024,
        }
    }
}

/// The request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Method {
    /// `GET` (the original's only method).
    #[default]
    Get,
    /// `HEAD`: the response has no body.
    Head,
}

impl Method {
    /// As written in the request line.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
        }
    }
}

/// The request bytes: `<METHOD> <url> HTTP/1.0`, `Host` and `User-Agent`, as the original.
/// A `url` with whitespace or control characters, or a `host` with control characters, would
/// change the request's meaning and is refused.
pub fn request(method: Method, url: &str, host: &str) -> Result<Vec<u8>, Failure> {
    if url.is_empty()
        || url
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(Failure::Config {
            reason: format!("url {url:?} is not a request target"),
        });
    }
    if host.bytes().any(|b| b.is_ascii_control()) {
        return Err(Failure::Config {
            reason: format!("host {host:?} has control characters"),
        });
    }
    Ok(format!(
        "{} {url} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n\r\n",
        method.as_str()
    )
    .into_bytes())
}

/// What a response must be to pass.
#[derive(Debug, Clone)]
pub struct HttpCheck {
    /// The request method (a `HEAD` response has no body).
    pub method: Method,
    /// Decide on the status line alone.
    pub naive: bool,
    /// The wanted status codes.
    pub retcode: StatusCodes,
    /// The body must match this.
    pub regex: Option<Arc<Regex>>,
    /// The MD5 of the body must be this (32 lower-case hex digits).
    pub digest: Option<String>,
    /// Size limits.
    pub limits: HttpLimits,
}

impl HttpCheck {
    /// A check of the status against `retcode` only, naive, with default limits.
    pub fn status(retcode: StatusCodes) -> Self {
        Self {
            method: Method::Get,
            naive: true,
            retcode,
            regex: None,
            digest: None,
            limits: HttpLimits::default(),
        }
    }
}

/// Where the reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More bytes are needed.
    NeedMore,
    /// The response passed; later bytes are not looked at.
    Done,
}

#[derive(Debug)]
enum Framing {
    /// `Content-Length`: bytes still to come.
    Length(u64),
    /// Until the connection closes.
    UntilEof,
    /// `Transfer-Encoding: chunked`.
    Chunked(ChunkState),
}

#[derive(Debug, Clone, Copy)]
enum ChunkState {
    /// Reading a chunk-size line.
    Size,
    /// Bytes of chunk data still to come.
    Data(u64),
    /// The CRLF after a chunk.
    DataEnd,
}

#[derive(Debug)]
enum State {
    Head,
    Body(Framing),
    Done,
}

/// Reads a response as it arrives and decides, without I/O: feed it the bytes read
/// ([`ResponseReader::feed`]) and tell it about the end of the stream
/// ([`ResponseReader::eof`]).
#[derive(Debug)]
pub struct ResponseReader<'a> {
    check: &'a HttpCheck,
    state: State,
    /// The head so far; in chunked mode, undecoded body bytes.
    buf: Vec<u8>,
    body: Vec<u8>,
    body_len: u64,
    md5: Option<Md5>,
}

fn protocol(phase: Phase, reason: impl Into<String>) -> Failure {
    Failure::Protocol {
        phase,
        reason: reason.into(),
    }
}

/// At most 40 bytes of `bytes`, escaped, to show what came instead of HTTP.
fn excerpt(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(40)];
    cut.escape_ascii().to_string()
}

impl<'a> ResponseReader<'a> {
    /// A reader for one response.
    pub fn new(check: &'a HttpCheck) -> Self {
        Self {
            check,
            state: State::Head,
            buf: Vec::new(),
            body: Vec::new(),
            body_len: 0,
            md5: check.digest.as_ref().map(|_| Md5::new()),
        }
    }

    /// The phase a timeout now would be reported in.
    pub fn phase(&self) -> Phase {
        match self.state {
            State::Head if self.buf.is_empty() => Phase::FirstByte,
            State::Head => Phase::Head,
            State::Body(_) | State::Done => Phase::Body,
        }
    }

    /// Takes the next bytes of the response.
    pub fn feed(&mut self, data: &[u8]) -> Result<Progress, Failure> {
        match self.state {
            State::Done => Ok(Progress::Done),
            State::Head => {
                self.buf.extend_from_slice(data);
                if self.check.naive {
                    self.naive_head(false)
                } else {
                    self.full_head()
                }
            }
            State::Body(_) => self.body_bytes(data),
        }
    }

    /// The peer closed the stream.
    pub fn eof(&mut self) -> Result<(), Failure> {
        match &self.state {
            State::Done => Ok(()),
            State::Head if self.buf.is_empty() => Err(Failure::Closed {
                phase: Phase::FirstByte,
            }),
            State::Head if self.check.naive => match self.naive_head(true)? {
                Progress::Done => Ok(()),
                Progress::NeedMore => Err(Failure::Closed { phase: Phase::Head }),
            },
            State::Head => Err(Failure::Closed { phase: Phase::Head }),
            State::Body(Framing::UntilEof) => self.finish(),
            State::Body(_) => Err(Failure::Closed { phase: Phase::Body }),
        }
    }

    fn status_ok(&self, code: u16) -> Result<(), Failure> {
        if self.check.retcode.contains(code) {
            Ok(())
        } else {
            Err(Failure::BadStatus { code })
        }
    }

    /// Naive mode: the status line alone decides. At the end of the stream (`at_eof`) a status
    /// line without its line end is taken as it is.
    fn naive_head(&mut self, at_eof: bool) -> Result<Progress, Failure> {
        let line_end = self.buf.iter().position(|&b| b == b'\n');
        let line: Vec<u8> = match line_end {
            Some(i) => self.buf[..=i].to_vec(),
            None if at_eof => [&self.buf[..], b"\r\n"].concat(),
            None => {
                // Not a whole line yet: reject garbage early, bound the line.
                let mut headers = [httparse::EMPTY_HEADER; 0];
                if let Err(e) = httparse::Response::new(&mut headers).parse(&self.buf) {
                    return Err(protocol(
                        Phase::Head,
                        format!("{e}: `{}`", excerpt(&self.buf)),
                    ));
                }
                if self.buf.len() > self.check.limits.max_head {
                    return Err(Failure::TooLarge {
                        what: "status line",
                        limit: self.check.limits.max_head,
                    });
                }
                return Ok(Progress::NeedMore);
            }
        };
        // The status line followed by an empty line is a complete response head.
        let head = [&line[..], b"\r\n"].concat();
        let mut headers = [httparse::EMPTY_HEADER; 0];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => {
                return Err(protocol(Phase::Head, "incomplete status line"))
            }
            Err(e) => return Err(protocol(Phase::Head, format!("{e}: `{}`", excerpt(&line)))),
        }
        let code = resp.code.unwrap_or_default();
        self.status_ok(code)?;
        self.state = State::Done;
        Ok(Progress::Done)
    }

    fn full_head(&mut self) -> Result<Progress, Failure> {
        let limits = self.check.limits;
        let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
        let mut resp = httparse::Response::new(&mut headers);
        let head_len = match resp.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                if self.buf.len() > limits.max_head {
                    return Err(Failure::TooLarge {
                        what: "response head",
                        limit: limits.max_head,
                    });
                }
                return Ok(Progress::NeedMore);
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Failure::TooLarge {
                    what: "header count",
                    limit: limits.max_headers,
                })
            }
            Err(e) => {
                return Err(protocol(
                    Phase::Head,
                    format!("{e}: `{}`", excerpt(&self.buf)),
                ))
            }
        };
        if head_len > limits.max_head {
            return Err(Failure::TooLarge {
                what: "response head",
                limit: limits.max_head,
            });
        }
        let code = resp.code.unwrap_or_default();
        self.status_ok(code)?;
        let no_body = self.check.method == Method::Head
            || (100..200).contains(&code)
            || code == 204
            || code == 304;
        let framing = if no_body {
            None
        } else {
            Some(framing(resp.headers, limits)?)
        };
        let rest = self.buf.split_off(head_len);
        self.buf.clear();
        match framing {
            None => {
                self.state = State::Body(Framing::Length(0));
                self.finish()?;
                Ok(Progress::Done)
            }
            Some(f) => {
                self.state = State::Body(f);
                if let State::Body(Framing::Length(0)) = self.state {
                    self.finish()?;
                    return Ok(Progress::Done);
                }
                self.body_bytes(&rest)
            }
        }
    }

    fn body_bytes(&mut self, data: &[u8]) -> Result<Progress, Failure> {
        let State::Body(framing) = &mut self.state else {
            return Ok(Progress::Done);
        };
        match framing {
            Framing::UntilEof => {
                take(
                    data,
                    &mut self.body,
                    &mut self.body_len,
                    &mut self.md5,
                    self.check,
                )?;
                Ok(Progress::NeedMore)
            }
            Framing::Length(left) => {
                let n = data.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= n as u64;
                let complete = *left == 0;
                take(
                    &data[..n],
                    &mut self.body,
                    &mut self.body_len,
                    &mut self.md5,
                    self.check,
                )?;
                if complete {
                    self.finish()?;
                    Ok(Progress::Done)
                } else {
                    Ok(Progress::NeedMore)
                }
            }
            Framing::Chunked(_) => {
                self.buf.extend_from_slice(data);
                self.dechunk()
            }
        }
    }

    fn dechunk(&mut self) -> Result<Progress, Failure> {
        let mut pos = 0;
        let result = loop {
            let State::Body(Framing::Chunked(cs)) = &mut self.state else {
                break Ok(Progress::Done);
            };
            let pending = &self.buf[pos..];
            match *cs {
                ChunkState::Size => match httparse::parse_chunk_size(pending) {
                    Ok(httparse::Status::Complete((n, 0))) => {
                        // The last chunk: trailers are not looked at.
                        pos += n;
                        self.finish()?;
                        break Ok(Progress::Done);
                    }
                    Ok(httparse::Status::Complete((n, size))) => {
                        pos += n;
                        *cs = ChunkState::Data(size);
                    }
                    Ok(httparse::Status::Partial) if pending.len() > 1024 => {
                        break Err(protocol(Phase::Body, "chunk-size line too long"))
                    }
                    Ok(httparse::Status::Partial) => break Ok(Progress::NeedMore),
                    Err(_) => {
                        break Err(protocol(
                            Phase::Body,
                            format!("bad chunk size: `{}`", excerpt(pending)),
                        ))
                    }
                },
                ChunkState::Data(left) => {
                    if pending.is_empty() {
                        break Ok(Progress::NeedMore);
                    }
                    let n = pending
                        .len()
                        .min(usize::try_from(left).unwrap_or(usize::MAX));
                    *cs = if left == n as u64 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left - n as u64)
                    };
                    let chunk = &self.buf[pos..pos + n];
                    pos += n;
                    take(
                        chunk,
                        &mut self.body,
                        &mut self.body_len,
                        &mut self.md5,
                        self.check,
                    )?;
                }
                ChunkState::DataEnd => {
                    if pending.len() < 2 {
                        break Ok(Progress::NeedMore);
                    }
                    if &pending[..2] != b"\r\n" {
                        break Err(protocol(Phase::Body, "chunk data not followed by CRLF"));
                    }
                    pos += 2;
                    *cs = ChunkState::Size;
                }
            }
        };
        self.buf.drain(..pos.min(self.buf.len()));
        result
    }

    /// The body is complete: run the body checks.
    fn finish(&mut self) -> Result<(), Failure> {
        self.state = State::Done;
        if let (Some(want), Some(md5)) = (&self.check.digest, self.md5.take()) {
            let got: String = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
            if !got.eq_ignore_ascii_case(want) {
                return Err(Failure::BodyMismatch {
                    check: BodyCheck::Digest { got },
                });
            }
        }
        if let Some(re) = &self.check.regex {
            if !re.is_match(&self.body) {
                return Err(Failure::BodyMismatch {
                    check: BodyCheck::Regex,
                });
            }
        }
        Ok(())
    }
}

/// Takes body bytes: counts them against the limit, hashes them and keeps them for the regex.
fn take(
    data: &[u8],
    body: &mut Vec<u8>,
    body_len: &mut u64,
    md5: &mut Option<Md5>,
    check: &HttpCheck,
) -> Result<(), Failure> {
    *body_len += data.len() as u64;
    if *body_len > check.limits.max_body as u64 {
        return Err(Failure::TooLarge {
            what: "response body",
            limit: check.limits.max_body,
        });
    }
    if let Some(h) = md5 {
        h.update(data);
    }
    if check.regex.is_some() {
        body.extend_from_slice(data);
    }
    Ok(())
}

/// How the body is delimited, from the headers.
fn framing(headers: &[httparse::Header<'_>], limits: HttpLimits) -> Result<Framing, Failure> {
    let value = |name: &str| {
        headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    let te = value("transfer-encoding");
    if let Some(last) = te.last() {
        if last.rsplit(',').next().map(str::trim) == Some("chunked") {
            return Ok(Framing::Chunked(ChunkState::Size));
        }
        return Ok(Framing::UntilEof);
    }
    let cl = value("content-length");
    match cl.first() {
        None => Ok(Framing::UntilEof),
        Some(v) => {
            if cl.iter().any(|o| o != v) {
                return Err(protocol(Phase::Head, "conflicting Content-Length headers"));
            }
            let n: u64 = v
                .parse()
                .map_err(|_| protocol(Phase::Head, format!("bad Content-Length `{v}`")))?;
            if n > limits.max_body as u64 {
                return Err(Failure::TooLarge {
                    what: "response body",
                    limit: limits.max_body,
                });
            }
            Ok(Framing::Length(n))
        }
    }
}

/// The `http` prober.
#[derive(Debug, Default)]
pub struct HttpProber {
    connector: Connector,
    limits: HttpLimits,
    regexes: Mutex<HashMap<String, Arc<Regex>>>,
}

impl HttpProber {
    /// An `http` prober with the default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same with other limits.
    pub fn with_limits(limits: HttpLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// The check `target` asks for.
    pub fn check_for(&self, target: &Target) -> Result<HttpCheck, Failure> {
        let a = &target.attrs;
        let retcode = match (a.status_codes("retcode"), a.str("retcode")) {
            (Some(c), _) => c.clone(),
            (None, Some(s)) => StatusCodes::parse(s).map_err(|reason| Failure::Config {
                reason: format!("retcode: {reason}"),
            })?,
            (None, None) => StatusCodes::parse("200").map_err(|reason| Failure::Config {
                reason: format!("retcode: {reason}"),
            })?,
        };
        let method = match a.str("method") {
            None => Method::Get,
            Some(m) if m.eq_ignore_ascii_case("GET") => Method::Get,
            Some(m) if m.eq_ignore_ascii_case("HEAD") => Method::Head,
            Some(m) => {
                return Err(Failure::Config {
                    reason: format!("method `{m}`: expected GET or HEAD"),
                })
            }
        };
        let regex = a.str("regex").map(|r| self.regex(r)).transpose()?;
        let digest = a.str("digest").map(str::to_ascii_lowercase);
        if method == Method::Head && (regex.is_some() || digest.is_some()) {
            return Err(Failure::Config {
                reason: "regex and digest check a body; a HEAD response has none".into(),
            });
        }
        Ok(HttpCheck {
            method,
            naive: a.bool("naive").unwrap_or(true),
            retcode,
            regex,
            digest,
            limits: self.limits,
        })
    }

    fn regex(&self, pattern: &str) -> Result<Arc<Regex>, Failure> {
        let mut cache = self.regexes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = cache.get(pattern) {
            return Ok(Arc::clone(r));
        }
        let r = Arc::new(Regex::new(pattern).map_err(|e| Failure::Config {
            reason: format!("regex: {e}"),
        })?);
        cache.insert(pattern.to_string(), Arc::clone(&r));
        Ok(r)
    }

    async fn run(
        &self,
        target: &Target,
        deadline: Instant,
        rec: &mut Recorder,
    ) -> Result<(), Failure> {
        let check = self.check_for(target)?;
        let missing = |name: &str| Failure::Config {
            reason: format!("missing attribute `{name}`"),
        };
        let url = target.attrs.str("url").ok_or_else(|| missing("url"))?;
        let host = target.attrs.str("host").ok_or_else(|| missing("host"))?;
        let req = request(check.method, url, host)?;
        let mut conn = self.connector.connect(target, deadline, rec).await?;
        exchange(&mut conn, &req, &check, deadline, rec).await
    }
}

/// Sends `request` on an open connection and judges the response with `check`, all by
/// `deadline`. The prober calls it after connecting; it works on any stream (a test can drive it
/// over an in-memory pipe on tokio's paused clock).
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut S,
    request: &[u8],
    check: &HttpCheck,
    deadline: Instant,
    rec: &mut Recorder,
) -> Result<(), Failure> {
    send(conn, request, deadline, rec).await?;
    let mut reader = ResponseReader::new(check);
    // A naive check decides on the status line: a small buffer is enough (and cheaper to
    // allocate on every test); a body is read in larger pieces.
    let mut buf = vec![0u8; if check.naive { 1024 } else { 8192 }];
    loop {
        let n = recv(conn, &mut buf, deadline, reader.phase(), rec).await?;
        if n == 0 {
            return reader.eof();
        }
        if reader.feed(&buf[..n])? == Progress::Done {
            return Ok(());
        }
    }
}

#[async_trait]
impl Prober for HttpProber {
    fn spec(&self) -> TesterSpec {
        builtin_spec("http")
    }

    async fn probe(&self, target: &Target, deadline: Instant) -> Outcome {
        let mut rec = Recorder::new(target.transcript);
        let result = self.run(target, deadline, &mut rec).await;
        rec.finish(result)
    }

    fn forget(&self, target: &Target) {
        self.connector.forget(target);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(s: &str) -> StatusCodes {
        StatusCodes::parse(s).expect("valid codes")
    }

    fn full(retcode: &str) -> HttpCheck {
        HttpCheck {
            naive: false,
            ..HttpCheck::status(codes(retcode))
        }
    }

    /// Feeds `parts` in order, then the end of the stream if still needed.
    fn run(check: &HttpCheck, parts: &[&[u8]]) -> Result<(), Failure> {
        let mut r = ResponseReader::new(check);
        for p in parts {
            if r.feed(p)? == Progress::Done {
                return Ok(());
            }
        }
        r.eof()
    }

    #[test]
    fn the_request_is_the_originals() {
        let req = request(Method::Get, "/index.html", "www.onet.pl").expect("valid");
        assert_eq!(
            req,
            b"GET /index.html HTTP/1.0\r\nHost: www.onet.pl\r\nUser-Agent: SureAliveD\r\n\r\n"
        );
        let head = request(Method::Head, "/", "h").expect("valid");
        assert!(head.starts_with(b"HEAD / HTTP/1.0\r\n"));
        assert!(request(Method::Get, "/a b", "h").is_err());
        assert!(request(Method::Get, "/", "h\r\nX: 1").is_err());
    }

    #[test]
    fn naive_decides_on_the_status_line_in_any_split() {
        let ok = HttpCheck::status(codes("200"));
        let resp: &[u8] = b"HTTP/1.1 200 OK\r\nServer: x\r\n";
        for cut in 0..resp.len() {
            assert_eq!(run(&ok, &[&resp[..cut], &resp[cut..]]), Ok(()), "cut {cut}");
        }
        assert_eq!(
            run(&ok, &[b"HTTP/1.0 503 Service Unavailable\r\n"]),
            Err(Failure::BadStatus { code: 503 })
        );
        let list = HttpCheck::status(codes("200-299,302"));
        assert_eq!(run(&list, &[b"HTTP/1.0 302 Found\r\n"]), Ok(()));
        assert_eq!(run(&list, &[b"HTTP/1.0 204 No Content\n"]), Ok(()));
        // The original's 12 bytes and a close: taken as a status line.
        assert_eq!(run(&ok, &[b"HTTP/1.0 200"]), Ok(()));
    }

    #[test]
    fn garbage_fails_at_once_not_at_the_deadline() {
        let check = HttpCheck::status(codes("200"));
        let mut r = ResponseReader::new(&check);
        let e = r.feed(b"SSH-2.0-OpenSSH").expect_err("not HTTP");
        assert!(
            matches!(&e, Failure::Protocol { phase: Phase::Head, reason } if reason.contains("SSH-2.0")),
            "{e}"
        );
        let e = run(&full("200"), &[b"\x16\x03\x01\x00"]).expect_err("TLS, not HTTP");
        assert!(matches!(e, Failure::Protocol { .. }), "{e}");
    }

    #[test]
    fn eof_before_anything_or_in_the_head() {
        assert_eq!(
            run(&full("200"), &[]),
            Err(Failure::Closed {
                phase: Phase::FirstByte
            })
        );
        assert_eq!(
            run(&full("200"), &[b"HTTP/1.1 200 OK\r\nA: b\r\n"]),
            Err(Failure::Closed { phase: Phase::Head })
        );
    }

    #[test]
    fn content_length_ends_the_body_and_checks_run() {
        let mut check = full("200");
        check.digest = Some("5d41402abc4b2a76b9719d911017c592".into()); // md5("hello")
        check.regex = Some(Arc::new(Regex::new("^h.l+o$").expect("regex")));
        let resp: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for cut in 0..resp.len() {
            assert_eq!(
                run(&check, &[&resp[..cut], &resp[cut..]]),
                Ok(()),
                "cut {cut}"
            );
        }
        let e = run(
            &check,
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhellx"],
        )
        .expect_err("digest");
        assert!(matches!(
            e,
            Failure::BodyMismatch {
                check: BodyCheck::Digest { .. }
            }
        ));
        check.digest = None;
        assert_eq!(
            run(&check, &[b"HTTP/1.0 200 OK\r\n\r\nhellx"]),
            Err(Failure::BodyMismatch {
                check: BodyCheck::Regex
            }),
            "until EOF, then the regex"
        );
        assert_eq!(
            run(
                &check,
                &[b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nhello"]
            ),
            Err(Failure::Closed { phase: Phase::Body })
        );
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        let mut check = full("200");
        check.digest = Some("5d41402abc4b2a76b9719d911017c592".into());
        let resp: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                            2\r\nhe\r\n3;ext=1\r\nllo\r\n0\r\n\r\n";
        for cut in 0..resp.len() {
            assert_eq!(
                run(&check, &[&resp[..cut], &resp[cut..]]),
                Ok(()),
                "cut {cut}"
            );
        }
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(matches!(
            run(&check, &[bad]),
            Err(Failure::Protocol {
                phase: Phase::Body,
                ..
            })
        ));
    }

    #[test]
    fn limits_bound_head_headers_and_body() {
        let mut check = full("200");
        check.limits = HttpLimits {
            max_head: 64,
            max_headers: 2,
            max_body: 10,
        };
        let long = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; 100]].concat();
        assert_eq!(
            run(&check, &[&long]),
            Err(Failure::TooLarge {
                what: "response head",
                limit: 64
            })
        );
        assert_eq!(
            run(
                &check,
                &[b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"]
            ),
            Err(Failure::TooLarge {
                what: "header count",
                limit: 2
            })
        );
        assert_eq!(
            run(&check, &[b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"]),
            Err(Failure::TooLarge {
                what: "response body",
                limit: 10
            })
        );
        let mut r = ResponseReader::new(&check);
        assert_eq!(r.feed(b"HTTP/1.0 200 OK\r\n\r\n"), Ok(Progress::NeedMore));
        assert_eq!(r.feed(b"0123456789"), Ok(Progress::NeedMore));
        assert!(matches!(r.feed(b"x"), Err(Failure::TooLarge { .. })));
    }

    #[test]
    fn bad_status_is_reported_before_the_body_and_head_has_no_body() {
        let mut check = full("200");
        assert_eq!(
            run(
                &check,
                &[b"HTTP/1.1 404 Not Found\r\nContent-Length: 100\r\n\r\n"]
            ),
            Err(Failure::BadStatus { code: 404 })
        );
        check.method = Method::Head;
        let mut r = ResponseReader::new(&check);
        assert_eq!(
            r.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"),
            Ok(Progress::Done)
        );
    }
}
