//! The agent's driver: one connection to the master at a time, the state machine and the
//! health values in one loop.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout, Instant};

use crate::session::agent::{Agent, AgentAction, AgentEvent};

/// What the agent's driver reports, for the log.
#[derive(Debug)]
#[non_exhaustive]
pub enum AgentDriverEvent<'a> {
    /// An event of the state machine.
    Session(&'a AgentEvent),
    /// Connecting to the master failed.
    ConnectFailed(&'a io::Error),
}

/// Runs the agent until it gives up, or until `shutdown` completes and the STOP is
/// acknowledged (or times out). `health` holds the current health of each service, in the
/// order of the session's services; `bind` is the local address to connect from.
pub async fn run_agent<F, S>(
    mut agent: Agent,
    master: SocketAddr,
    bind: Option<IpAddr>,
    mut health: watch::Receiver<Vec<u8>>,
    mut on_event: F,
    shutdown: S,
) -> Agent
where
    F: FnMut(AgentDriverEvent<'_>),
    S: Future<Output = ()>,
{
    let mut conn: Option<(OwnedReadHalf, OwnedWriteHalf)> = None;
    let mut buf = [0u8; 1024];
    let mut stopping = false;
    // Whether the health source is still there; once it is gone the last values stay.
    let mut health_open = true;
    let connect_timeout = agent.settings().master_timeout;
    tokio::pin!(shutdown);
    copy_health(&mut agent, &health.borrow_and_update());
    loop {
        // Perform what the session asks, until it asks nothing more.
        loop {
            let mut progressed = false;
            if let Some(bytes) = agent.poll_transmit() {
                progressed = true;
                if let Some((_, wr)) = conn.as_mut() {
                    // Bounded: a master that stops reading is a master that timed out.
                    let written = timeout(connect_timeout, wr.write_all(&bytes)).await;
                    if !matches!(written, Ok(Ok(()))) {
                        conn = None;
                        agent.on_closed(Instant::now().into_std());
                    }
                }
            }
            while let Some(ev) = agent.poll_event() {
                progressed = true;
                on_event(AgentDriverEvent::Session(&ev));
            }
            if let Some(action) = agent.poll_action() {
                progressed = true;
                match action {
                    AgentAction::Close => {
                        if let Some((_, mut wr)) = conn.take() {
                            let _ = wr.shutdown().await;
                        }
                    }
                    AgentAction::Connect => {
                        let attempt = tokio::select! {
                            r = timeout(connect_timeout, connect(master, bind)) => Some(r),
                            () = &mut shutdown, if !stopping => None,
                        };
                        let now = Instant::now().into_std();
                        match attempt {
                            None => {
                                stopping = true;
                                agent.on_connect_failed(now);
                                agent.shutdown(now);
                            }
                            Some(Ok(Ok(stream))) => {
                                let _ = stream.set_nodelay(true);
                                conn = Some(stream.into_split());
                                agent.on_connected(now, initial_seq());
                            }
                            Some(Ok(Err(e))) => {
                                on_event(AgentDriverEvent::ConnectFailed(&e));
                                agent.on_connect_failed(now);
                            }
                            Some(Err(_)) => {
                                let e =
                                    io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
                                on_event(AgentDriverEvent::ConnectFailed(&e));
                                agent.on_connect_failed(now);
                            }
                        }
                    }
                }
            }
            if !progressed {
                break;
            }
        }
        if agent.is_finished() {
            return agent;
        }
        let deadline = agent
            .poll_timeout()
            .map(Instant::from_std)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            () = &mut shutdown, if !stopping => {
                stopping = true;
                agent.shutdown(Instant::now().into_std());
            }
            r = read(conn.as_mut().map(|(rd, _)| rd), &mut buf) => {
                let now = Instant::now().into_std();
                match r {
                    Ok(0) | Err(_) => {
                        conn = None;
                        agent.on_closed(now);
                    }
                    Ok(n) => agent.handle_input(&buf[..n], now),
                }
            }
            changed = health.changed(), if health_open => {
                if changed.is_ok() {
                    copy_health(&mut agent, &health.borrow_and_update());
                } else {
                    health_open = false;
                }
            }
            () = sleep_until(deadline) => agent.handle_timeout(Instant::now().into_std()),
        }
    }
}

fn copy_health(agent: &mut Agent, values: &[u8]) {
    for (i, &v) in values.iter().enumerate() {
        agent.set_health(i, v);
    }
}

async fn read(rd: Option<&mut OwnedReadHalf>, buf: &mut [u8]) -> io::Result<usize> {
    match rd {
        Some(rd) => rd.read(buf).await,
        None => std::future::pending().await,
    }
}

async fn connect(master: SocketAddr, bind: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = if master.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = bind {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    socket.connect(master).await
}

/// The sequence number asked of the master: the clock's seconds in the upper 32 bits, as
/// the draft recommends, and the nanoseconds below so two connections in one second differ.
fn initial_seq() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() << 32) | u64::from(d.subsec_nanos())
}
