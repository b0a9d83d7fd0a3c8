//! `tcp`: success as soon as the connection is established (and, with `SSL="1"`, the TLS
//! handshake completed); the connection is then closed with a RST.

use async_trait::async_trait;
use lvs_core::config::xml::TesterSpec;
use tokio::time::Instant;

use crate::net::Connector;
use crate::outcome::{Outcome, Recorder};
use crate::prober::{builtin_spec, Prober};
use crate::target::Target;

/// The `tcp` prober.
#[derive(Debug, Default)]
pub struct TcpProber {
    connector: Connector,
}

impl TcpProber {
    /// A `tcp` prober.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Prober for TcpProber {
    fn spec(&self) -> TesterSpec {
        builtin_spec("tcp")
    }

    async fn probe(&self, target: &Target, deadline: Instant) -> Outcome {
        let mut rec = Recorder::new(target.transcript);
        let result = self
            .connector
            .connect(target, deadline, &mut rec)
            .await
            .map(drop);
        rec.finish(result)
    }

    fn forget(&self, target: &Target) {
        self.connector.forget(target);
    }
}
