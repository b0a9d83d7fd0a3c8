//! From a service file to probes: the registry gives the loader the tester kinds and each
//! tester its prober; a user's prober is used by `<tester proto="name">` with its own attributes.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::{deadline_in, read_request, serve};
use lvs_core::config::xml::{
    parse_service_xml, AttrSpec, AttrType, AttrValue, TesterSpec, Transport,
};
use lvs_probe::{Failure, Outcome, Prober, ProberRegistry, Recorder, Target};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

#[tokio::test]
async fn every_tester_of_a_service_file_gets_its_prober() {
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let tcp_port = tcp.local_addr().expect("addr").port();
    let web = serve(|mut s: TcpStream| async move {
        read_request(&mut s).await;
        let _ = s.write_all(b"HTTP/1.0 204 No Content\r\n\r\n").await;
    })
    .await;
    let xml = format!(
        r#"<surealived>
  <virtual name="t" addr="192.0.2.1" port="22" proto="tcp" sched="wrr" rt="dr">
    <tester proto="tcp" testport="{tcp_port}"/>
    <real name="a" addr="127.0.0.1" port="22" weight="1"/>
  </virtual>
  <virtual name="w" addr="192.0.2.1" port="80" proto="tcp" sched="wrr" rt="dr">
    <tester proto="http" testport="{web_port}" url="/" host="h" retcode="200-299"/>
    <real name="a" addr="127.0.0.1" port="80" weight="1"/>
    <real name="b" addr="127.0.0.1" port="81" weight="1" retcode="200"/>
  </virtual>
  <virtual name="n" addr="192.0.2.1" port="53" proto="udp" sched="wrr" rt="dr">
    <tester proto="NO-TEST"/>
    <real name="a" addr="127.0.0.1" port="53" weight="1"/>
  </virtual>
</surealived>"#,
        web_port = web.port()
    );
    let registry = ProberRegistry::builtin();
    let config = parse_service_xml(&xml, "services.xml", registry.testers()).expect("valid");
    let mut results = Vec::new();
    for v in &config.virtuals {
        let prober = registry.for_tester(&v.tester).expect("a prober per tester");
        for r in &v.reals {
            let target = Target::from_config(&v.tester, r);
            let outcome = prober.probe(&target, deadline_in(2000)).await;
            results.push((v.name.clone(), r.name.clone(), outcome.result));
        }
    }
    assert_eq!(
        results,
        [
            ("t".into(), "a".into(), Ok(())),
            ("w".into(), "a".into(), Ok(())),
            (
                "w".into(),
                "b".into(),
                Err(Failure::BadStatus { code: 204 })
            ),
            ("n".into(), "a".into(), Ok(())),
        ]
    );
    drop(tcp);
}

/// Passes when the real's `word` attribute is `yes`.
#[derive(Debug)]
struct Word;

#[async_trait]
impl Prober for Word {
    fn spec(&self) -> TesterSpec {
        TesterSpec::new("word", Transport::None).attr(
            AttrSpec::new("word", AttrType::Enum(&["yes", "no"]))
                .required()
                .per_real(),
        )
    }

    async fn probe(&self, target: &Target, _deadline: Instant) -> Outcome {
        let result = match target.attrs.get("word") {
            Some(AttrValue::String(w)) if w == "yes" => Ok(()),
            _ => Err(Failure::Refused),
        };
        Recorder::new(false).finish(result)
    }
}

#[tokio::test]
async fn a_users_prober_with_its_own_attributes() {
    let mut registry = ProberRegistry::builtin();
    assert!(registry
        .register(Arc::new(Word))
        .expect("valid spec")
        .is_none());
    let xml = r#"<surealived>
  <virtual name="v" addr="192.0.2.1" port="80" proto="tcp" sched="wrr" rt="dr">
    <tester proto="word" word="yes"/>
    <real name="a" addr="127.0.0.1" port="80" weight="1"/>
    <real name="b" addr="127.0.0.2" port="80" weight="1" word="no"/>
  </virtual>
</surealived>"#;
    let config = parse_service_xml(xml, "s.xml", registry.testers()).expect("valid");
    let v = &config.virtuals[0];
    let prober = registry.for_tester(&v.tester).expect("registered");
    let mut verdicts = Vec::new();
    for r in &v.reals {
        let o = prober
            .probe(&Target::from_config(&v.tester, r), deadline_in(100))
            .await;
        verdicts.push(o.is_ok());
    }
    assert_eq!(verdicts, [true, false]);

    // The loader checks the prober's attributes: a value outside the enum is refused.
    let bad = xml.replace("word=\"no\"", "word=\"maybe\"");
    let e = parse_service_xml(&bad, "s.xml", registry.testers()).expect_err("invalid");
    assert!(e.to_string().contains("maybe"), "{e}");
    // Without the prober, the tester kind is unknown.
    let e = parse_service_xml(xml, "s.xml", ProberRegistry::builtin().testers())
        .expect_err("unknown kind");
    assert!(e.to_string().contains("word"), "{e}");
}

#[derive(Debug)]
struct Clash;

#[async_trait]
impl Prober for Clash {
    fn spec(&self) -> TesterSpec {
        TesterSpec::new("clash", Transport::Tcp).attr(AttrSpec::new("timeout", AttrType::Uint))
    }

    async fn probe(&self, _target: &Target, _deadline: Instant) -> Outcome {
        Recorder::new(false).finish(Ok(()))
    }
}

#[test]
fn a_spec_clashing_with_common_attributes_is_refused() {
    let mut registry = ProberRegistry::builtin();
    let e = registry.register(Arc::new(Clash)).expect_err("clash");
    assert!(e.to_string().contains("timeout"), "{e}");
    assert!(registry.get("clash").is_none());
}
