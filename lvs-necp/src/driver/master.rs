//! The master's driver: a listener, one task per agent connection, the state machine and the
//! backend in one loop.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
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

enum Output {
    Data(Vec<u8>),
    Close,
}

/// Bytes read per system call on an agent connection: NECP messages are small.
const READ_CHUNK: usize = 512;

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
    let mut conns: HashMap<ConnId, mpsc::UnboundedSender<Output>> = HashMap::new();
    let mut next_id: ConnId = 1;
    tokio::pin!(shutdown);
    loop {
        flush(&mut master, &mut conns, backend, &mut on_event).await;
        let deadline = master
            .poll_timeout()
            .map(Instant::from_std)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            biased;
            () = &mut shutdown => break,
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
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let id = next_id;
                    next_id += 1;
                    if master.accept(id, peer, Instant::now().into_std()).is_ok() {
                        let (out_tx, out_rx) = mpsc::unbounded_channel();
                        conns.insert(id, out_tx);
                        tokio::spawn(connection(id, stream, in_tx.clone(), out_rx));
                    }
                }
                Err(e) => {
                    on_event(MasterDriverEvent::AcceptFailed(&e));
                    sleep(Duration::from_millis(100)).await;
                }
            },
            () = sleep_until(deadline) => master.handle_timeout(Instant::now().into_std()),
        }
    }
    for (_, tx) in conns.drain() {
        let _ = tx.send(Output::Close);
    }
    master
}

/// Sends what the state machine has to send, performs its actions and reports its events.
async fn flush<B, F>(
    master: &mut Master,
    conns: &mut HashMap<ConnId, mpsc::UnboundedSender<Output>>,
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
            if let Some(tx) = conns.get(&id) {
                let _ = tx.send(Output::Data(bytes));
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
    conns: &mut HashMap<ConnId, mpsc::UnboundedSender<Output>>,
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
            if let Some(tx) = conns.remove(id) {
                let _ = tx.send(Output::Close);
            }
            return;
        }
        MasterAction::QueryActive(real) => match backend.active_connections(real).await {
            Ok(Some(n)) => {
                master.active_connections(*real, n);
                Ok(())
            }
            Ok(None) => {
                master.forget(real);
                Ok(())
            }
            Err(e) => Err(e),
        },
        MasterAction::AddService(s) => backend.add_service(s).await,
        MasterAction::AddReal { service, dest } => backend.add_real(service, dest).await,
        MasterAction::SetWeight { real, weight } => backend.set_weight(real, *weight).await,
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
    stream: TcpStream,
    inbox: mpsc::Sender<(ConnId, Input)>,
    mut out: mpsc::UnboundedReceiver<Output>,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = [0u8; READ_CHUNK];
    loop {
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if inbox.send((id, Input::Data(buf[..n].to_vec()))).await.is_err() {
                        return;
                    }
                }
            },
            o = out.recv() => match o {
                Some(Output::Data(bytes)) => {
                    if wr.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                Some(Output::Close) | None => {
                    let _ = wr.shutdown().await;
                    return;
                }
            },
        }
    }
    let _ = inbox.send((id, Input::Closed)).await;
}
