//! A prober of one's own: `<tester proto="redis">` sends `PING` (after `AUTH` when a password
//! is set) and wants `+PONG`. Registered in a [`ProberRegistry`], its attributes are declared
//! once: the service-file loader validates them, and the registry hands the prober to every
//! real of such a tester. It reuses the crate's connector, so `SSL="1"` works for it too.
//!
//! The example starts a tiny fake redis on loopback, loads a service file whose reals point at
//! it, and tests each real.
//!
//! ```sh
//! cargo run -p lvs-probe --example custom_prober
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use lvs_probe::lvs_core::config::xml::{
    parse_service_xml, AttrSpec, AttrType, AttrValue, TesterSpec, Transport,
};
use lvs_probe::net::{recv, send, Connector};
use lvs_probe::{Failure, Outcome, Phase, Prober, ProberRegistry, Recorder, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// `PING` a redis server.
#[derive(Debug, Default)]
struct RedisProber {
    connector: Connector,
}

impl RedisProber {
    async fn run(
        &self,
        target: &Target,
        deadline: Instant,
        rec: &mut Recorder,
    ) -> Result<(), Failure> {
        let mut conn = self.connector.connect(target, deadline, rec).await?;
        let mut request = Vec::new();
        if let Some(password) = target.attrs.str("password") {
            request.extend_from_slice(format!("AUTH {password}\r\n").as_bytes());
        }
        request.extend_from_slice(b"PING\r\n");
        send(&mut conn, &request, deadline, rec).await?;
        let want: &[u8] = if target.attrs.str("password").is_some() {
            b"+OK\r\n+PONG\r\n"
        } else {
            b"+PONG\r\n"
        };
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while got.len() < want.len() {
            let phase = if got.is_empty() {
                Phase::FirstByte
            } else {
                Phase::Head
            };
            let n = recv(&mut conn, &mut buf, deadline, phase, rec).await?;
            if n == 0 {
                return Err(Failure::Closed { phase });
            }
            got.extend_from_slice(&buf[..n]);
        }
        if got.starts_with(want) {
            Ok(())
        } else {
            Err(Failure::Protocol {
                phase: Phase::Head,
                reason: format!("unexpected reply {:?}", String::from_utf8_lossy(&got)),
            })
        }
    }
}

#[async_trait]
impl Prober for RedisProber {
    fn spec(&self) -> TesterSpec {
        TesterSpec::new("redis", Transport::Tcp)
            .attr(AttrSpec::new("password", AttrType::String { max_len: 64 }).per_real())
            .attr(
                AttrSpec::new("db", AttrType::Uint)
                    .default_value(AttrValue::Uint(0))
                    .per_real(),
            )
    }

    async fn probe(&self, target: &Target, deadline: Instant) -> Outcome {
        let mut rec = Recorder::new(target.transcript);
        let result = self.run(target, deadline, &mut rec).await;
        rec.finish(result)
    }

    fn forget(&self, target: &Target) {
        self.connector.forget(target);
    }
}

/// A fake redis: `+OK` to AUTH with `s3cret`, `-ERR` to any other AUTH, `+PONG` to PING.
async fn fake_redis() -> std::io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 256];
                let mut seen = Vec::new();
                while !seen.ends_with(b"PING\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&seen);
                let mut reply = String::new();
                for line in text.lines() {
                    match line.split_once(' ') {
                        Some(("AUTH", "s3cret")) => reply.push_str("+OK\r\n"),
                        Some(("AUTH", _)) => reply.push_str("-ERR invalid password\r\n"),
                        _ if line == "PING" => reply.push_str("+PONG\r\n"),
                        _ => {}
                    }
                }
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    Ok(port)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut registry = ProberRegistry::builtin();
        registry.register(Arc::new(RedisProber::default()))?;

        let port = fake_redis().await?;
        let xml = format!(
            r#"<surealived>
<virtual name="cache" addr="192.0.2.10" port="6379" proto="tcp" sched="wlc" rt="dr">
  <tester proto="redis" testport="{port}" password="s3cret" timeout="2"/>
  <real name="good" addr="127.0.0.1" port="6379" weight="10"/>
  <real name="wrong-password" addr="127.0.0.1" port="6380" weight="10" password="nope"/>
  <real name="down" addr="127.0.0.3" port="6379" weight="10" testport="1"/>
</virtual>
</surealived>"#
        );
        // The loader validates `password` and `db` with the prober's own declarations.
        let config = parse_service_xml(&xml, "cache.xml", registry.testers())?;
        let virt = &config.virtuals[0];
        let prober = registry
            .for_tester(&virt.tester)
            .ok_or("no prober for the tester")?;
        for real in &virt.reals {
            let target = Target::from_config(&virt.tester, real);
            let deadline = Instant::now() + virt.tester.timeout;
            let outcome = prober.probe(&target, deadline).await;
            match &outcome.result {
                Ok(()) => println!("{:<15} up   in {:?}", real.name, outcome.timings.total),
                Err(f) => println!("{:<15} down: {f}", real.name),
            }
        }

        // A misspelled attribute of our tester is caught by the loader.
        let typo = xml.replace("password=\"s3cret\"", "pasword=\"s3cret\"");
        if let Err(e) = parse_service_xml(&typo, "cache.xml", registry.testers()) {
            println!("{e}");
        }
        Ok(())
    })
}
