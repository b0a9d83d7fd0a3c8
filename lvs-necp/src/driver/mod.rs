//! Small tokio drivers for the sans-IO sessions: they move bytes between sockets and the
//! state machines, arm one timer, and hand the master's decisions to a [`Backend`].

mod agent;
mod backend;
mod master;

pub use agent::{run_agent, AgentDriverEvent};
#[cfg(feature = "ipvs")]
pub use backend::IpvsBackend;
pub use backend::{Backend, BackendError, DryRun, MemoryBackend};
pub use master::{run_master, MasterDriverEvent};
