//! The feedbackd master and agent configuration files (`feedbackd-master.conf`,
//! `feedbackd-agent.conf`), as the feedbackd HOWTO (v2007.09) describes them, plus our
//! extensions (see `docs/feedbackd-config.md`).
//!
//! ```text
//! # comment                      <- whole-line comment; ` # ...` after a value is one too
//! loglevel = WARN                <- global key (before the first section)
//! [virtual-service]              <- master: one block per virtual service
//! name = http
//! port = http                    <- number or a name from /etc/services (ServicesDb)
//! [service]                      <- agent: one block per announced service
//! monitor = exec.so
//! command = /usr/local/bin/check --fast    <- values may contain spaces
//! ```
//!
//! Two stages:
//!
//! 1. [`RawConfigFile::parse`] splits the text into global entries and sections (it fails only
//!    on a line that fits no rule);
//! 2. [`MasterConfig::from_raw`] / [`AgentConfig::from_raw`] check every key and value, apply
//!    the defaults, resolve port names through a [`ServicesDb`] and monitors through a
//!    [`MonitorRegistry`]. Only the validated form travels.
//!
//! Errors are [`ParseError`]s (`file:line: item: message`), the first one in the order: unknown
//! section, unknown or misplaced or repeated key (file order), missing key, invalid value,
//! duplicate. Nothing here resolves host names or touches the network; the only file access is
//! in [`load_master_config`], [`load_agent_config`] and [`ServicesDb::system`].

use std::path::Path;

use crate::error::ParseError;
use crate::Error;

mod agent;
mod cidr;
mod master;
mod monitor;
mod raw;
mod services_db;
mod values;

pub use agent::{
    AgentConfig, AgentService, Director, AGENT_KEYS, AGENT_SECTIONS, DEFAULT_AGENT_LOGFILE,
    DEFAULT_MASTER_TIMEOUT, DEFAULT_MODULEDIR, FORWARDING_NAMES,
};
pub use cidr::Cidr;
pub use master::{
    MasterConfig, VirtualService, MASTER_KEYS, MASTER_SECTIONS, VIRTUAL_SERVICE_KEYS,
};
pub use monitor::{
    Monitor, MonitorOption, MonitorRegistry, MonitorSpec, OptionCheck, SERVICE_KEYS,
};
pub use raw::{RawConfigFile, RawEntry, RawSection};
pub use services_db::{ServicesDb, BUILTIN_SERVICES};
pub use values::{LogLevel, Secret};

/// The NECP port (TCP 3262): the default of the master's `listen-port` and the agent's
/// `master-port`.
pub const NECP_PORT: u16 = 3262;

/// Parses and validates the text of a master file; `label` names it in errors.
pub fn parse_master_config(
    text: &str,
    label: &str,
    services: &ServicesDb,
) -> Result<MasterConfig, ParseError> {
    MasterConfig::from_raw(&RawConfigFile::parse(text, label)?, services)
}

/// Parses and validates the text of an agent file; `label` names it in errors.
pub fn parse_agent_config(
    text: &str,
    label: &str,
    services: &ServicesDb,
    monitors: &MonitorRegistry,
) -> Result<AgentConfig, ParseError> {
    AgentConfig::from_raw(&RawConfigFile::parse(text, label)?, services, monitors)
}

/// Reads and validates a master file, resolving port names with [`ServicesDb::system`].
pub fn load_master_config(path: &Path) -> Result<MasterConfig, Error> {
    let text = crate::fsutil::read_text(path, crate::fsutil::CommentRule::AfterBlank)?;
    Ok(parse_master_config(
        &text,
        &path.display().to_string(),
        &ServicesDb::system(),
    )?)
}

/// Reads and validates an agent file, with [`ServicesDb::system`] and the built-in monitors.
pub fn load_agent_config(path: &Path) -> Result<AgentConfig, Error> {
    load_agent_config_with(path, &ServicesDb::system(), &MonitorRegistry::builtin())
}

/// Reads and validates an agent file with the given services database and monitors.
pub fn load_agent_config_with(
    path: &Path,
    services: &ServicesDb,
    monitors: &MonitorRegistry,
) -> Result<AgentConfig, Error> {
    let text = crate::fsutil::read_text(path, crate::fsutil::CommentRule::AfterBlank)?;
    Ok(parse_agent_config(
        &text,
        &path.display().to_string(),
        services,
        monitors,
    )?)
}
