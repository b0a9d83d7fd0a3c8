//! The `feedbackd-agent` daemon: the monitors, the NECP session to the master.

use std::net::SocketAddr;
use std::time::Duration;

use lvs_core::config::feedbackd::{AgentConfig, Director};
use lvs_necp::driver::{run_agent, AgentDriverEvent};
use lvs_necp::monitor::{HealthMonitor, MonitorFactory};
use lvs_necp::session::agent::{Agent, AgentEvent, AgentSettings, DropReason};
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

/// The longest the agent goes without measuring, when the master does not poll.
const IDLE_SAMPLE: Duration = Duration::from_secs(30);

/// Runs the agent until SIGTERM or SIGINT (then STOP is sent; `Ok(true)`) or until it gives
/// up connecting (`Ok(false)`). Errors are the start-up failures (resolving the director,
/// loading a monitor).
pub(crate) async fn run(cfg: AgentConfig, factory: &MonitorFactory) -> Result<bool, String> {
    let master = resolve(&cfg.director, cfg.master_port).await?;
    let source = cfg.source_address;
    let mut monitors = Vec::with_capacity(cfg.services.len());
    for s in &cfg.services {
        let m = factory.build(&s.monitor).await.map_err(|e| {
            format!(
                "{}:{}: service `{}`: monitor {}: {e}",
                cfg.source,
                s.line,
                s.name,
                s.monitor.name()
            )
        })?;
        monitors.push((s.name.clone(), m));
    }
    let (health_tx, health_rx) = watch::channel(vec![0u8; monitors.len()]);
    let (poll_tx, poll_rx) = mpsc::unbounded_channel();
    sample(&mut monitors, &health_tx).await;
    let sampler = tokio::spawn(sampler(monitors, health_tx, poll_rx));
    info!(
        "connecting to the master at {master} for {} services",
        cfg.services.len()
    );
    let agent = Agent::new(
        AgentSettings::from_config(&cfg),
        tokio::time::Instant::now().into_std(),
    );
    let on_event = move |ev: AgentDriverEvent<'_>| match ev {
        AgentDriverEvent::Session(AgentEvent::Polled { .. }) => {
            let _ = poll_tx.send(());
        }
        AgentDriverEvent::Session(e) => log_event(e),
        AgentDriverEvent::ConnectFailed(e) => {
            warn!("cannot connect to the master at {master}: {e}")
        }
        other => debug!("{other:?}"),
    };
    let stop = crate::signals::terminated();
    tokio::pin!(stop);
    let mut asked = false;
    let shutdown = async {
        (&mut stop).await;
        asked = true;
    };
    let _agent = run_agent(agent, master, source, health_rx, on_event, shutdown).await;
    sampler.abort();
    Ok(asked)
}

async fn resolve(director: &Director, port: u16) -> Result<SocketAddr, String> {
    match director {
        Director::Addr(ip) => Ok(SocketAddr::new(*ip, port)),
        Director::Host(h) => tokio::net::lookup_host((h.as_str(), port))
            .await
            .map_err(|e| format!("cannot resolve director {h}: {e}"))?
            .next()
            .ok_or_else(|| format!("director {h} has no address")),
    }
}

/// Measures again after each poll (at most one measurement at a time; polls that arrive
/// meanwhile are merged), and at least every 30 s.
async fn sampler(
    mut monitors: Vec<(String, Box<dyn HealthMonitor>)>,
    health: watch::Sender<Vec<u8>>,
    mut polls: mpsc::UnboundedReceiver<()>,
) {
    loop {
        if let Ok(None) = tokio::time::timeout(IDLE_SAMPLE, polls.recv()).await {
            return; // the session ended
        }
        while polls.try_recv().is_ok() {}
        sample(&mut monitors, &health).await;
    }
}

/// Measures every service; a failing monitor reports 0 ("send no work") and is logged.
async fn sample(
    monitors: &mut [(String, Box<dyn HealthMonitor>)],
    health: &watch::Sender<Vec<u8>>,
) {
    let mut values = Vec::with_capacity(monitors.len());
    for (name, m) in monitors.iter_mut() {
        let v = match m.health().await {
            Ok(v) => v,
            Err(e) => {
                warn!("service `{name}`: monitor failed, reporting health 0: {e}");
                0
            }
        };
        values.push(v);
    }
    health.send_if_modified(|cur| {
        if *cur == values {
            return false;
        }
        debug!("health now {values:?}");
        *cur = values;
        true
    });
}

fn log_event(e: &AgentEvent) {
    match e {
        AgentEvent::Connected => debug!("connected; NECP_INIT sent"),
        AgentEvent::Initialized => info!("master accepted the session; services started"),
        AgentEvent::ServicesAccepted { opcode } => debug!("{} without error", opcode.name()),
        AgentEvent::ServicesRefused { opcode, units } => {
            error!("master refused services in {}: {units:?}", opcode.name())
        }
        AgentEvent::Dropped { reason, retry_in } => {
            match reason {
                DropReason::MasterTimeout => warn!("Master timed out, attempting reconnection"),
                DropReason::InitRefused(flags) => {
                    error!("master refused the session ({flags:?}); check `secret`; retry in {retry_in:?}")
                }
                other => warn!("connection to the master lost: {other:?}; retry in {retry_in:?}"),
            }
        }
        AgentEvent::ConnectFailed { attempts, retry_in } => {
            warn!("connection attempt {attempts} failed; retry in {retry_in:?}")
        }
        AgentEvent::GaveUp { attempts } => {
            error!("giving up after {attempts} failed connection attempts (connection-retries)")
        }
        AgentEvent::AuthFailed { opcode, reason } => {
            warn!("master's {} failed authentication: {reason}", opcode.name())
        }
        AgentEvent::Unsupported { opcode, units } => {
            info!(
                "unsupported {} ({units} units) answered with F_Error",
                opcode.name()
            )
        }
        AgentEvent::Stopped => info!("services stopped"),
        other => debug!("{other:?}"),
    }
}
