//! The `feedbackd-master` daemon: the NECP listener, the master state machine and IPVS.

use std::net::SocketAddr;

use lvs_core::config::feedbackd::MasterConfig;
use lvs_necp::driver::{
    run_master, Backend, DryRun, IpvsBackend, MasterDriverEvent, MemoryBackend,
};
use lvs_necp::session::master::{Master, MasterAction, MasterEvent, MasterSettings, Reason};
use tokio::net::TcpListener;
use tracing::{debug, error, info, warn};

/// Where the master's decisions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackendKind {
    /// The kernel's IPVS.
    Ipvs,
    /// The kernel's IPVS, read for connection counts only (`-n`).
    DryRun,
    /// A table in memory, logged (`--memory`): a trial without root or IPVS.
    Memory,
}

/// Runs the master until SIGTERM or SIGINT. Errors are the start-up failures (listening,
/// IPVS), already worded for the operator.
pub(crate) async fn run(cfg: MasterConfig, kind: BackendKind) -> Result<(), String> {
    let addr = SocketAddr::new(cfg.listen_address, cfg.listen_port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    info!(
        "listening for agents on {addr}; {} virtual services",
        cfg.virtual_services.len()
    );
    let mut backend: Box<dyn Backend> = match kind {
        BackendKind::Ipvs => Box::new(IpvsBackend::new().await.map_err(|e| e.0)?),
        BackendKind::DryRun => match IpvsBackend::new().await {
            Ok(b) => Box::new(DryRun(b)),
            Err(e) => {
                warn!("dry run without IPVS ({e}): quiesced reals count as idle");
                Box::new(DryRun(MemoryBackend::new()))
            }
        },
        BackendKind::Memory => Box::new(MemoryBackend::new()),
    };
    let seed = rand::random::<u64>();
    let master = Master::new(
        MasterSettings::new(cfg),
        tokio::time::Instant::now().into_std(),
        seed,
    );
    run_master(
        master,
        listener,
        &mut *backend,
        log_event,
        crate::signals::terminated(),
    )
    .await;
    info!("stopped; IPVS left as it is");
    Ok(())
}

fn log_event(ev: MasterDriverEvent<'_>) {
    match ev {
        MasterDriverEvent::Session(e) => log_session(e),
        MasterDriverEvent::BackendFailed { action, error } => {
            error!("{}: {error}", describe(action))
        }
        MasterDriverEvent::DryRun(action) => info!("dry run: would {}", describe(action)),
        MasterDriverEvent::AcceptFailed(e) => error!("accepting an agent failed: {e}"),
        other => debug!("{other:?}"),
    }
}

fn describe(action: &MasterAction) -> String {
    match action {
        MasterAction::AddService(s) => format!("add virtual service {}", s.key),
        MasterAction::AddReal { service, dest } => {
            format!(
                "add real {} to {service} with weight {}",
                dest.key(),
                dest.weight
            )
        }
        MasterAction::SetWeight { real, weight, .. } => {
            format!("set weight of {real} to {weight}")
        }
        MasterAction::QueryActive(reals) => {
            format!(
                "read the active connections of {} quiesced reals",
                reals.len()
            )
        }
        MasterAction::RemoveReal(real) => format!("remove {real}"),
        MasterAction::Close(conn) => format!("close connection {conn}"),
        other => format!("{other:?}"),
    }
}

fn log_session(e: &MasterEvent) {
    match e {
        MasterEvent::Refused { peer, reason } => match reason {
            Reason::NotAllowed => warn!(
                "refused agent {peer}: not in the allow list (add an `allow` line for its network)"
            ),
            _ => warn!("refused agent {peer}: {reason}"),
        },
        MasterEvent::Initialized {
            conn,
            peer,
            authenticated,
        } => info!(
            "agent {peer} connected (connection {conn}{})",
            if *authenticated {
                ", authenticated"
            } else {
                ""
            }
        ),
        MasterEvent::RealStarted(real) => info!("added {real} with weight 0"),
        MasterEvent::UnitRefused {
            peer, opcode, why, ..
        } => warn!("agent {peer}: {} refused: {why}", opcode.name()),
        MasterEvent::Weight {
            real,
            health,
            weight,
        } => debug!("{real}: health {health}, weight {weight}"),
        MasterEvent::Quiesced { real, reason } => match reason {
            Reason::Stopped => info!("quiesced {real}: {reason}"),
            _ => warn!("quiesced {real}: {reason}"),
        },
        MasterEvent::Removed(real) => info!("removed {real}: no active connections left"),
        MasterEvent::Disconnected { peer, reason, .. } => match reason {
            Reason::Closed | Reason::Stopped => info!("agent {peer} disconnected: {reason}"),
            _ => warn!("agent {peer} disconnected: {reason}"),
        },
        MasterEvent::AuthFailed { peer, why, .. } => warn!("agent {peer}: authentication: {why}"),
        MasterEvent::Unsupported { peer, opcode, .. } => {
            info!(
                "agent {peer}: unsupported {} answered with F_Error",
                opcode.name()
            )
        }
        other => debug!("{other:?}"),
    }
}
