//! Connections for TCP-based probers: a non-blocking connect bounded by the deadline, closed
//! with a RST (`SO_LINGER 0`) so that the director does not collect TIME_WAIT sockets, and the
//! TLS wrapper for `SSL="1"`.
//!
//! A prober of its own that speaks over TCP keeps a [`Connector`] and calls
//! [`Connector::connect`]: it gets a [`Conn`], plain or TLS as the target asks, and reads and
//! writes it through [`send`] and [`recv`], which bound every step by the deadline and map
//! errors to the [`Failure`] taxonomy.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use nix::errno::Errno;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{timeout_at, Instant};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::outcome::{Failure, Phase, Recorder};
use crate::target::Target;
use crate::tls::{TlsSessions, TlsSettings};

/// Maps an I/O error met during `phase` to a failure.
pub fn io_failure(e: &io::Error, phase: Phase) -> Failure {
    if let Some(errno) = e.raw_os_error() {
        match Errno::from_raw(errno) {
            Errno::ECONNREFUSED => return Failure::Refused,
            Errno::EHOSTUNREACH | Errno::ENETUNREACH | Errno::EHOSTDOWN | Errno::ENETDOWN => {
                return Failure::Unreachable { errno }
            }
            Errno::ETIMEDOUT if phase == Phase::Connect => return Failure::ConnectTimeout,
            Errno::ETIMEDOUT => return Failure::Timeout { phase },
            Errno::ECONNRESET | Errno::EPIPE | Errno::ECONNABORTED => {
                return Failure::Reset { phase }
            }
            _ => {}
        }
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Failure::Refused,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => Failure::Reset { phase },
        io::ErrorKind::UnexpectedEof => Failure::Closed { phase },
        _ => Failure::Io {
            phase,
            errno: e.raw_os_error(),
            message: e.to_string(),
        },
    }
}

/// Opens a TCP connection to `addr` by `deadline`, with `TCP_NODELAY` and `SO_LINGER 0` (the
/// close sends a RST), and stamps the connect time.
pub async fn connect_tcp(
    addr: SocketAddr,
    deadline: Instant,
    rec: &mut Recorder,
) -> Result<TcpStream, Failure> {
    connect_tcp_with(addr, true, deadline, rec).await
}

/// As [`connect_tcp`], with `TCP_NODELAY` only when `nodelay` is set: a plain probe that
/// sends its request in one write has no use for it, and the system call costs about 2 % of a
/// loopback test.
pub async fn connect_tcp_with(
    addr: SocketAddr,
    nodelay: bool,
    deadline: Instant,
    rec: &mut Recorder,
) -> Result<TcpStream, Failure> {
    let setup = |e: io::Error| io_failure(&e, Phase::Connect);
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(setup)?;
    socket2::SockRef::from(&socket)
        .set_linger(Some(Duration::ZERO))
        .map_err(setup)?;
    if nodelay {
        socket.set_nodelay(true).map_err(setup)?;
    }
    match timeout_at(deadline, socket.connect(addr)).await {
        Err(_) => Err(Failure::ConnectTimeout),
        Ok(Err(e)) => Err(io_failure(&e, Phase::Connect)),
        Ok(Ok(stream)) => {
            rec.connected();
            Ok(stream)
        }
    }
}

/// A connection to a real: plain TCP or TLS over TCP.
#[derive(Debug)]
pub enum Conn {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Conn {
    /// Whether TLS wraps the connection.
    pub fn is_tls(&self) -> bool {
        matches!(self, Conn::Tls(_))
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// Opens connections as targets ask: TCP, then TLS when `ssl` is set, keeping TLS sessions per
/// real for resumption.
#[derive(Debug, Default)]
pub struct Connector {
    tls: TlsSessions,
}

impl Connector {
    /// A connector with an empty session cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The TLS session cache.
    pub fn tls(&self) -> &TlsSessions {
        &self.tls
    }

    /// Connects to `target` (and does the TLS handshake if it asks for TLS) by `deadline`.
    pub async fn connect(
        &self,
        target: &Target,
        deadline: Instant,
        rec: &mut Recorder,
    ) -> Result<Conn, Failure> {
        // Configuration problems show before any packet is sent.
        let tls = if target.ssl {
            let settings = TlsSettings::of(target);
            let name = settings.server_name(target)?;
            Some((self.tls.config(target, &settings)?, name))
        } else {
            None
        };
        // TLS writes its handshake in several records: no Nagle delay for them.
        let tcp = connect_tcp_with(target.socket_addr(), target.ssl, deadline, rec).await?;
        let Some((config, name)) = tls else {
            return Ok(Conn::Plain(tcp));
        };
        // Boxed: the handshake's future holds a whole rustls connection (about 1 KiB), which
        // would otherwise make every plain connect's future that large too, and every probe's
        // future too big for the allocator's fast path.
        let handshake = Box::pin(TlsConnector::from(config).connect(name, tcp));
        match timeout_at(deadline, handshake).await {
            Err(_) => Err(Failure::Timeout { phase: Phase::Tls }),
            Ok(Err(e)) => Err(tls_failure(&e)),
            Ok(Ok(stream)) => {
                rec.tls_done();
                Ok(Conn::Tls(Box::new(stream)))
            }
        }
    }

    /// Drops the TLS sessions of `target`.
    pub fn forget(&self, target: &Target) {
        self.tls.forget(target);
    }
}

/// Maps an error of the TLS handshake.
fn tls_failure(e: &io::Error) -> Failure {
    let rustls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(e @ rustls::Error::InvalidCertificate(_)) => Failure::Certificate {
            reason: e.to_string(),
        },
        Some(other) => Failure::TlsHandshake {
            reason: other.to_string(),
        },
        None => io_failure(e, Phase::Tls),
    }
}

/// Writes all of `bytes` by `deadline` (and flushes, which TLS needs).
pub async fn send<S: AsyncWrite + Unpin>(
    conn: &mut S,
    bytes: &[u8],
    deadline: Instant,
    rec: &mut Recorder,
) -> Result<(), Failure> {
    let write = async {
        conn.write_all(bytes).await?;
        conn.flush().await
    };
    match timeout_at(deadline, write).await {
        Err(_) => Err(Failure::Timeout { phase: Phase::Send }),
        Ok(Err(e)) => Err(io_failure(&e, Phase::Send)),
        Ok(Ok(())) => {
            rec.sent(bytes);
            Ok(())
        }
    }
}

/// Reads once into `buf` by `deadline`; `Ok(0)` is the end of the stream. A TLS peer that closes
/// without `close_notify` is taken as an end of stream too (what ends the data is for the
/// protocol to judge).
pub async fn recv<S: AsyncRead + Unpin>(
    conn: &mut S,
    buf: &mut [u8],
    deadline: Instant,
    phase: Phase,
    rec: &mut Recorder,
) -> Result<usize, Failure> {
    match timeout_at(deadline, conn.read(buf)).await {
        Err(_) => Err(Failure::Timeout { phase }),
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
            rec.eof();
            Ok(0)
        }
        Ok(Err(e)) => Err(io_failure(&e, phase)),
        Ok(Ok(0)) => {
            rec.eof();
            Ok(0)
        }
        Ok(Ok(n)) => {
            rec.received(&buf[..n]);
            Ok(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_the_taxonomy() {
        let os = |e: Errno| io::Error::from_raw_os_error(e as i32);
        assert_eq!(
            io_failure(&os(Errno::ECONNREFUSED), Phase::Connect),
            Failure::Refused
        );
        assert_eq!(
            io_failure(&os(Errno::ENETUNREACH), Phase::Connect),
            Failure::Unreachable {
                errno: Errno::ENETUNREACH as i32
            }
        );
        assert_eq!(
            io_failure(&os(Errno::ETIMEDOUT), Phase::Connect),
            Failure::ConnectTimeout
        );
        assert_eq!(
            io_failure(&os(Errno::EPIPE), Phase::Send),
            Failure::Reset { phase: Phase::Send }
        );
        assert!(matches!(
            io_failure(&os(Errno::EMFILE), Phase::Connect),
            Failure::Io {
                errno: Some(24),
                ..
            }
        ));
    }
}
