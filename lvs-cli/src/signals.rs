//! The daemons' stop signals.

use tokio::signal::unix::{signal, SignalKind};

/// Completes on the first SIGTERM or SIGINT. When the handlers cannot be installed it never
/// completes (the process then stops the default way, at once).
pub(crate) async fn terminated() {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
}
