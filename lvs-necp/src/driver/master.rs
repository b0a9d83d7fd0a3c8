//! The master's driver: a listener, one task per agent connection, the state machine and the
//! backend in one loop.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio::time::{sleep, sleep_until, Instant};

use super::Backend;
use crate::session::master::{ConnId, Master, MasterAction, MasterEvent};

/// What the master's driver reports, for the log.
#[derive(Debug)]
#[non_exhaustive]
pub enum MasterDriverEvent<'a> {
    /// An event of the state machine.
    Session(&'a MasterEvent),
    /// The backend failed an action.
    BackendFailed {
        /// The action.
        action: &'a MasterAction,
        /// The backend's message.
        error: String,
    },
    /// A dry run skipped this action.
    DryRun(&'a MasterAction),
    /// Accepting a connection failed (the listener goes on after a short pause).
    AcceptFailed(&'a io::Error),
}

enum Input {
    Data(Vec<u8>),
    Closed,
}

/// What the loop has for one connection's task to write: a buffer and a close flag behind a
/// lock, and a wake-up. (A channel per connection would cost a kilobyte or more each.)
#[derive(Default)]
struct Outbox {
    state: Mutex<OutState>,
    notify: Notify,
}

#[derive(Default)]
struct OutState {
    bytes: Vec<u8>,
    close: bool,
}

impl Outbox {
    /// Queues bytes; a peer that lets more than [`MAX_OUTBOX`] pile up (it does not read) is
    /// closed instead.
    fn send(&self, bytes: &[u8]) {
        {
            let mut st = self.lock();
            if st.bytes.len() + bytes.len() > MAX_OUTBOX {
                st.close = true;
                st.bytes.clear();
            } else {
                st.bytes.extend_from_slice(bytes);
            }
        }
        self.notify.notify_one();
    }

    fn close(&self) {
        self.lock().close = true;
        self.notify.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Bytes waiting for a peer that does not read, at most: a few hundred keepalives.
const MAX_OUTBOX: usize = 64 * 1024;

/// The longest one write to an agent may block (its receive window closed): then the
/// connection is dropped, so a peer that stops reading cannot keep a task and a socket.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes read per system call on an agent connection: NECP messages are small. The buffer is
/// on the stack only while reading, not kept in each connection's task.
const READ_CHUNK: usize = 1024;

/// Runs the master on `listener` until `shutdown` completes, then returns the state machine
/// (with every real as it stands). IPVS is left as it is on exit, as the original did.
pub async fn run_master<B, F, S>(
    mut master: Master,
    listener: TcpListener,
    backend: &mut B,
    mut on_event: F,
    shutdown: S,
) -> Master
where
    B: Backend + ?Sized,
    F: FnMut(MasterDriverEvent<'_>),
    S: Future<Output = ()>,
{
    let (in_tx, mut in_rx) = mpsc::channel::<(ConnId, Input)>(4096);
    let mut conns: HashMap<ConnId, Arc<Outbox>> = HashMap::new();
    let mut next_id: ConnId = 1;
    tokio::pin!(shutdown);
    loop {
        flush(&mut master, &mut conns, backend, &mut on_event).await;
        let deadline = master
            .poll_timeout()
            .map(Instant::from_std)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        // Not biased: tokio picks among the ready branches at random, so a peer that keeps
        // the inbox full cannot stop the polls, the removals or the accepts of everyone else.
        tokio::select! {
            () = &mut shutdown => break,
            () = sleep_until(deadline) => master.handle_timeout(Instant::now().into_std()),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let id = next_id;
                    next_id += 1;
                    if master.accept(id, peer, Instant::now().into_std()).is_ok() {
                        let outbox = Arc::new(Outbox::default());
                        conns.insert(id, outbox.clone());
                        tokio::spawn(connection(id, stream, in_tx.clone(), outbox));
                    }
                }
                Err(e) => {
                    on_event(MasterDriverEvent::AcceptFailed(&e));
                    sleep(Duration::from_millis(100)).await;
                }
            },
            Some((id, input)) = in_rx.recv() => {
                let now = Instant::now().into_std();
                match input {
                    Input::Data(bytes) => master.handle_input(id, &bytes, now),
                    Input::Closed => {
                        conns.remove(&id);
                        master.on_closed(id, now);
                    }
                }
            }
        }
    }
    for (_, outbox) in conns.drain() {
        outbox.close();
    }
    master
}

/// Sends what the state machine has to send, performs its actions and reports its events.
async fn flush<B, F>(
    master: &mut Master,
    conns: &mut HashMap<ConnId, Arc<Outbox>>,
    backend: &mut B,
    on_event: &mut F,
) where
    B: Backend + ?Sized,
    F: FnMut(MasterDriverEvent<'_>),
{
    loop {
        let mut progressed = false;
        while let Some((id, bytes)) = master.poll_transmit() {
            progressed = true;
            if let Some(outbox) = conns.get(&id) {
                outbox.send(&bytes);
            }
        }
        while let Some(ev) = master.poll_event() {
            progressed = true;
            on_event(MasterDriverEvent::Session(&ev));
        }
        if let Some(action) = master.poll_action() {
            progressed = true;
            perform(master, conns, backend, on_event, action).await;
        }
        if !progressed {
            return;
        }
    }
}

async fn perform<B, F>(
    master: &mut Master,
    conns: &mut HashMap<ConnId, Arc<Outbox>>,
    backend: &mut B,
    on_event: &mut F,
    action: MasterAction,
) where
    B: Backend + ?Sized,
    F: FnMut(MasterDriverEvent<'_>),
{
    let dry = backend.is_dry_run();
    let result = match &action {
        MasterAction::Close(id) => {
            if let Some(outbox) = conns.remove(id) {
                outbox.close();
            }
            return;
        }
        MasterAction::QueryActive(reals) => match backend.active_connections(reals).await {
            Ok(counts) => {
                for (real, n) in reals.iter().zip(counts) {
                    match n {
                        Some(n) => master.active_connections(*real, n),
                        None => master.forget(real),
                    }
                }
                Ok(())
            }
            Err(e) => Err(e),
        },
        MasterAction::AddService(s) => backend.add_service(s).await,
        MasterAction::AddReal { service, dest } => backend.add_real(service, dest).await,
        MasterAction::SetWeight {
            real,
            weight,
            forwarding,
        } => backend.set_weight(real, *weight, *forwarding).await,
        MasterAction::RemoveReal(real) => backend.remove_real(real).await,
    };
    if dry && !matches!(action, MasterAction::QueryActive(_)) {
        on_event(MasterDriverEvent::DryRun(&action));
    }
    if let Err(e) = result {
        on_event(MasterDriverEvent::BackendFailed {
            action: &action,
            error: e.0,
        });
    }
}

/// One agent connection: reads into the master's inbox, writes what the master sends.
async fn connection(
    id: ConnId,
    mut stream: TcpStream,
    inbox: mpsc::Sender<(ConnId, Input)>,
    outbox: Arc<Outbox>,
) {
    let _ = stream.set_nodelay(true);
    loop {
        tokio::select! {
            r = stream.readable() => {
                if r.is_err() {
                    break;
                }
                let read = {
                    let mut buf = [0u8; READ_CHUNK];
                    match stream.try_read(&mut buf) {
                        Ok(0) => None,
                        Ok(n) => Some(Ok(buf[..n].to_vec())),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Some(Err(())),
                        Err(_) => None,
                    }
                };
                match read {
                    None => break,
                    Some(Err(())) => continue,
                    Some(Ok(bytes)) => {
                        if inbox.send((id, Input::Data(bytes))).await.is_err() {
                            return;
                        }
                    }
                }
            }
            () = outbox.notify.notified() => {
                let (bytes, close) = {
                    let mut st = outbox.lock();
                    (std::mem::take(&mut st.bytes), st.close)
                };
                if !bytes.is_empty() {
                    match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&bytes)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) | Err(_) => break,
                    }
                }
                if close {
                    let _ = stream.shutdown().await;
                    return;
                }
            }
        }
    }
    let _ = inbox.send((id, Input::Closed)).await;
}
