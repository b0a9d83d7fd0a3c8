//! The probe engine on a small service file: two virtuals share a real (tested once), one real
//! is down. The engine prints the transitions it sends, then reloads with one real changed and
//! one removed, and prints what it kept.
//!
//! ```sh
//! cargo run -p lvs-probe --example engine
//! ```

use std::time::Duration;

use lvs_probe::engine::{Engine, EngineConfig};
use lvs_probe::lvs_core::config::xml::parse_service_xml;
use lvs_probe::ProberRegistry;
use tokio::net::TcpListener;

fn services(up_port: u16, down_port: u16, with_b: bool) -> String {
    let b = if with_b {
        format!(r#"<real name="b" addr="127.0.0.3" port="80" weight="1" testport="{down_port}"/>"#)
    } else {
        String::new()
    };
    format!(
        r#"<surealived>
<virtual name="web" addr="192.0.2.1" port="80" proto="tcp" sched="wrr" rt="dr">
  <tester proto="tcp" testport="{up_port}" loopdelay="1" timeout="2" retries2fail="2"/>
  <real name="a" addr="127.0.0.1" port="80" weight="1"/>
  {b}
</virtual>
<virtual name="web-alt" addr="192.0.2.1" port="8080" proto="tcp" sched="wrr" rt="dr">
  <tester proto="tcp" testport="{up_port}" loopdelay="1" timeout="2"/>
  <real name="a" addr="127.0.0.1" port="8080" weight="1"/>
</virtual>
</surealived>"#
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        // A backend that accepts, and a port where nobody listens.
        let up = TcpListener::bind("127.0.0.1:0").await?;
        let up_port = up.local_addr()?.port();
        tokio::spawn(async move {
            while let Ok((s, _)) = up.accept().await {
                drop(s);
            }
        });
        let down_port = std::net::TcpListener::bind("127.0.0.3:0")?
            .local_addr()?
            .port();

        let registry = ProberRegistry::builtin();
        let first = parse_service_xml(
            &services(up_port, down_port, true),
            "example.xml",
            registry.testers(),
        )?;
        let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
        let config = EngineConfig {
            startup_delay: Duration::from_millis(200),
            ..EngineConfig::default()
        };
        let engine = Engine::new(config, registry.clone(), tx);
        let report = engine.reconcile(&first)?;
        println!(
            "started: {} (virtual, real) pairs, {} distinct tests",
            report.added, report.tests
        );
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                let reason = e.reason.map(|f| format!(" ({f})")).unwrap_or_default();
                println!(
                    "event: {}/{} {} -> {}{reason}",
                    e.vname,
                    e.rname,
                    if e.was_online { "online" } else { "offline" },
                    if e.online { "online" } else { "offline" },
                );
            }
        });
        tokio::time::sleep(Duration::from_millis(2600)).await;

        // Reload: b removed; `web-alt`'s tester now waits 2 s, so its `a` is a test of its own.
        let second = parse_service_xml(
            &services(up_port, down_port, false).replacen(
                r#"loopdelay="1" timeout="2"/>"#,
                r#"loopdelay="2" timeout="2"/>"#,
                1,
            ),
            "example.xml",
            registry.testers(),
        )?;
        let r = engine.reconcile(&second)?;
        println!(
            "reload: {} unchanged, {} changed, {} removed, {} added; {} tests",
            r.unchanged, r.changed, r.removed, r.added, r.tests
        );
        tokio::time::sleep(Duration::from_millis(2500)).await;
        for v in engine.snapshot() {
            for real in &v.reals {
                let s = &real.stats;
                println!(
                    "{}/{}: {} tests, {} failed, last connect {} µs, {}",
                    v.name,
                    real.name,
                    s.total,
                    s.failures,
                    s.last.conn,
                    if real.hysteresis.is_online() {
                        "online"
                    } else {
                        "offline"
                    }
                );
            }
        }
        engine.shutdown().await;
        Ok(())
    })
}
