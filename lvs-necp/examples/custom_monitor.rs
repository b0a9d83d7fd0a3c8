//! A Rust program's own health monitor, registered and built like the built-in ones.
//!
//! The monitor `connections` reports 100 minus the number of connections in the `ESTABLISHED`
//! state to a port (from `/proc/net/tcp`), never below 0. Its option key `watch-port` is declared to
//! lvs-core's `MonitorRegistry`, so an agent config file using it validates, and its builder is
//! registered with the `MonitorFactory`, which starts it for each service using it.
//!
//! ```text
//! cargo run -p lvs-necp --example custom_monitor
//! ```

use std::collections::BTreeMap;

use async_trait::async_trait;
use lvs_core::config::feedbackd::{
    AgentConfig, Monitor, MonitorRegistry, MonitorSpec, RawConfigFile, ServicesDb,
};
use lvs_necp::monitor::{HealthMonitor, MonitorError, MonitorFactory};

const AGENT_CONF: &str = "\
director = 192.0.2.1
[service]
name = web
protocol = tcp
port = http
forwarding = NAT
monitor = connections.so
watch-port = 80
[service]
name = mail
protocol = tcp
port = smtp
forwarding = DR
monitor = cpuload.so
";

/// Fewer connections, better health.
struct Connections {
    port: u16,
}

#[async_trait]
impl HealthMonitor for Connections {
    async fn health(&mut self) -> Result<u8, MonitorError> {
        // procfs is served from memory: a blocking read does not stall the runtime.
        let table =
            std::fs::read_to_string("/proc/net/tcp").map_err(|source| MonitorError::Io {
                monitor: "connections".into(),
                source,
            })?;
        let local = format!(":{:04X}", self.port);
        // Columns: sl local_address rem_address st ...; st 01 is ESTABLISHED.
        let established = table
            .lines()
            .skip(1)
            .filter_map(|l| {
                let mut w = l.split_whitespace().skip(1);
                Some((w.next()?, w.nth(1)?))
            })
            .filter(|(addr, st)| addr.ends_with(&local) && *st == "01")
            .count();
        Ok(u8::try_from(100usize.saturating_sub(established)).unwrap_or(0))
    }
}

fn port_check(v: &str) -> Result<(), String> {
    v.parse::<u16>()
        .map(|_| ())
        .map_err(|_| "not a port number".into())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The config layer learns the monitor's name and option keys.
    let mut registry = MonitorRegistry::builtin();
    registry.register(MonitorSpec::new("connections").checked_option(
        "watch-port",
        true,
        port_check,
    ))?;

    // 2. The factory learns how to build it from those (validated) options.
    let mut factory = MonitorFactory::builtin();
    factory.register("connections", |options: &BTreeMap<String, String>| {
        let port = options
            .get("watch-port")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| MonitorError::Config {
                name: "connections".into(),
                reason: "needs `watch-port`".into(),
            })?;
        Ok(Box::new(Connections { port }) as Box<dyn HealthMonitor>)
    })?;

    // 3. An agent file using it and a built-in one, validated with that registry.
    let raw = RawConfigFile::parse(AGENT_CONF, "feedbackd-agent.conf")?;
    let config = AgentConfig::from_raw(&raw, &ServicesDb::builtin(), &registry)?;
    assert_eq!(
        config.services[0].monitor,
        Monitor::Custom {
            name: "connections".into(),
            options: BTreeMap::from([("watch-port".into(), "80".into())]),
        }
    );

    // 4. One running monitor per service, from the same factory.
    for service in &config.services {
        let mut m = factory.build(&service.monitor).await?;
        println!(
            "{} ({}): health {}",
            service.name,
            service.monitor.name(),
            m.health().await?
        );
    }
    Ok(())
}
