//! The surealived control port's server: a TCP listener that answers request lines from a
//! [`ControlHandler`], the protocol itself being [`lvs_core::control`] (parse, lookup, render).
//!
//! ```text
//! accept loop ──(at most max_clients)──> one task per connection
//!    │ one more: "ERROR too many clients ..." then close
//!    │
//!    connection: read ≤ max_line bytes up to LF ──> spawn_blocking(respond(handler, line))
//!                write the reply (bounded by write_timeout) ──> next line
//! ```
//!
//! * Several commands per connection, one per line (LF or CR LF), answered in order; bytes after
//!   a line are kept for the next one (the original dropped them).
//! * A line longer than [`ControlLimits::max_line`] gets `ERROR request line longer than ...`
//!   and the connection is closed.
//! * A handler call runs on the blocking pool, so a slow handler holds up neither the accept
//!   loop nor the other clients.
//! * The next line is read only once the reply is written, and a reply that cannot be written
//!   within [`ControlLimits::write_timeout`] closes the connection: a client that never reads
//!   costs at most one reply and the socket buffers.
//! * A client silent for [`ControlLimits::idle_timeout`] is disconnected, so silent clients do
//!   not keep the slots forever.
//!
//! `docs/control-port.md` documents the protocol.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lvs_core::control::{
    parse_vm_lines, respond, ControlError, ControlHandler, ProcessUsage, Reply,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;

/// The original's port.
pub const DEFAULT_PORT: u16 = 1337;

/// The server's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlLimits {
    /// Clients served at once (the original's 16); one more gets an error line and is closed.
    pub max_clients: usize,
    /// The longest request line, in bytes without its LF (8 KiB, the original's buffer).
    pub max_line: usize,
    /// How long writing one reply may take before the connection is closed.
    pub write_timeout: Duration,
    /// How long a client may stay silent (no byte received) before it is disconnected.
    pub idle_timeout: Duration,
}

impl Default for ControlLimits {
    /// 16 clients, 8192-byte lines, 10 s to write a reply, 5 min of silence.
    fn default() -> Self {
        Self {
            max_clients: 16,
            max_line: 8192,
            write_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// How long a refused or closed connection is drained (so the error line is not lost to a
/// reset) and how many refused connections are drained at once.
const LINGER: Duration = Duration::from_secs(1);
const MAX_LINGERING: usize = 16;

/// Serves the control port on `listener` until `shutdown` completes; then it stops accepting,
/// closes every connection and returns. Errors of one connection end only that connection;
/// a failed `accept` (out of file descriptors) is logged and retried after a pause.
pub async fn serve<F>(
    listener: TcpListener,
    handler: Arc<dyn ControlHandler>,
    limits: ControlLimits,
    shutdown: F,
) where
    F: Future<Output = ()>,
{
    let slots = Arc::new(Semaphore::new(limits.max_clients));
    let lingering = Arc::new(Semaphore::new(MAX_LINGERING));
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("control port listening on {addr}");
    }
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        tracing::debug!("control client {peer} connected");
                        let handler = handler.clone();
                        tasks.spawn(async move {
                            connection(stream, peer, handler, limits).await;
                            tracing::debug!("control client {peer} gone");
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        tracing::warn!(
                            "control client {peer} refused: {} clients connected",
                            limits.max_clients
                        );
                        let reply = Reply::from(ControlError::TooManyClients(limits.max_clients));
                        match lingering.clone().try_acquire_owned() {
                            Ok(permit) => {
                                tasks.spawn(async move {
                                    close_with(stream, &reply.text, limits.write_timeout).await;
                                    drop(permit);
                                });
                            }
                            Err(_) => {
                                let _ = stream.try_write(reply.text.as_bytes());
                            }
                        }
                    }
                },
                Err(e) => {
                    tracing::warn!("control port: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    tracing::info!("control port closing");
    tasks.shutdown().await;
}

/// Sends `text`, closes our side and drains what the client still sends for a moment, so the
/// client reads `text` rather than a connection reset.
async fn close_with(mut stream: TcpStream, text: &str, write_timeout: Duration) {
    if timeout(write_timeout, stream.write_all(text.as_bytes()))
        .await
        .is_ok_and(|r| r.is_ok())
    {
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 1024];
        let _ = timeout(LINGER, async {
            while let Ok(n) = stream.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<dyn ControlHandler>,
    limits: ControlLimits,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = vec![0u8; 4096];
    loop {
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            if pos > limits.max_line {
                break;
            }
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let reply = answer(&handler, peer, line).await;
            match timeout(
                limits.write_timeout,
                stream.write_all(reply.text.as_bytes()),
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::debug!("control client {peer}: write failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::warn!(
                        "control client {peer}: reply not read within {:?}, disconnecting",
                        limits.write_timeout
                    );
                    return;
                }
            }
        }
        let longest = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
        if longest > limits.max_line {
            tracing::warn!("control client {peer}: request line too long, disconnecting");
            let reply = Reply::from(ControlError::LineTooLong(limits.max_line));
            close_with(stream, &reply.text, limits.write_timeout).await;
            return;
        }
        match timeout(limits.idle_timeout, stream.read(&mut chunk)).await {
            Err(_) => {
                tracing::debug!("control client {peer}: silent, disconnecting");
                return;
            }
            Ok(Ok(0)) => {
                if !buf.is_empty() {
                    tracing::debug!("control client {peer}: closed mid-line, line dropped");
                }
                return;
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => {
                tracing::debug!("control client {peer}: read failed: {e}");
                return;
            }
        }
    }
}

/// Answers one line on the blocking pool (the handler may take a lock or rewrite a file).
async fn answer(handler: &Arc<dyn ControlHandler>, peer: SocketAddr, line: Vec<u8>) -> Reply {
    let handler = handler.clone();
    let job = tokio::task::spawn_blocking(move || {
        let line = String::from_utf8_lossy(&line);
        let reply = respond(&*handler, &line, read_process_usage);
        (line.trim_end().to_owned(), reply)
    });
    match job.await {
        Ok((line, reply)) => {
            let first = reply.text.lines().next().unwrap_or_default();
            if line.starts_with("rset") {
                tracing::info!("control client {peer}: {line:?} -> {first:?}");
            } else {
                tracing::debug!("control client {peer}: {line:?} -> {first:?}");
            }
            reply
        }
        Err(e) => {
            tracing::error!("control client {peer}: the handler failed: {e}");
            ControlError::Internal("the request failed, see the daemon's log".into()).into()
        }
    }
}

/// This process's resource usage for `stats`: `getrusage(RUSAGE_SELF)`, the entries of
/// `/proc/self/fd` and the `Vm*` lines of `/proc/self/status` (what cannot be read stays 0 or
/// empty).
pub fn read_process_usage() -> ProcessUsage {
    use nix::sys::resource::{getrusage, UsageWho};
    let mut u = ProcessUsage::default();
    if let Ok(r) = getrusage(UsageWho::RUSAGE_SELF) {
        let d = |t: nix::sys::time::TimeVal| {
            Duration::new(
                u64::try_from(t.tv_sec()).unwrap_or(0),
                u32::try_from(t.tv_usec()).unwrap_or(0) * 1000,
            )
        };
        u.user_time = d(r.user_time());
        u.system_time = d(r.system_time());
        u.block_in_ops = r.block_reads();
        u.block_out_ops = r.block_writes();
        u.messages_sent = r.ipc_sends();
        u.messages_rcvd = r.ipc_receives();
        u.signals_rcvd = r.signals();
        u.voluntary_ctx = r.voluntary_context_switches();
        u.involunt_ctx = r.involuntary_context_switches();
    }
    u.fd_used = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    u.memory = std::fs::read_to_string("/proc/self/status")
        .map(|s| parse_vm_lines(&s))
        .unwrap_or_default();
    u
}
