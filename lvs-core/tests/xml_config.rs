//! The surealived XML service file loader: the examples, every attribute, inheritance, defaults,
//! extensions, every error kind with its exact message, a custom tester, nasty inputs.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use lvs_core::config::xml::{
    load_service_xml, parse_service_xml, AttrSpec, AttrType, AttrValue, RawDocument, ServiceConfig,
    TesterRegistry, TesterSpec, Threshold, Transport,
};
use lvs_core::model::{
    AddressFamily, Forwarding, Netmask, Protocol, SchedFlags, ServiceKey, Tunnel, TunnelChecksum,
};
use lvs_core::{Error, ParseErrorKind};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");

fn parse(xml: &str) -> ServiceConfig {
    parse_service_xml(xml, "t.xml", &TesterRegistry::builtin())
        .unwrap_or_else(|e| panic!("should parse: {e}"))
}

fn error(xml: &str) -> String {
    match parse_service_xml(xml, "t.xml", &TesterRegistry::builtin()) {
        Ok(cfg) => panic!("should fail, got {cfg:?}"),
        Err(e) => e.to_string(),
    }
}

/// One virtual with a tcp tester around the given reals.
fn with_reals(vattrs: &str, reals: &str) -> String {
    format!(
        "<surealived><virtual name=\"v\" {vattrs}>\n<tester proto=\"tcp\" testport=\"80\"/>\n\
         {reals}\n</virtual></surealived>"
    )
}

const V: &str = r#"addr="192.0.2.1" port="80" proto="tcp" sched="wrr" rt="dr""#;

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn xml_files(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(format!("{EXAMPLES}/{dir}"))
        .expect("examples directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_example_loads() {
    let names = xml_files("surealived");
    assert!(names.len() >= 12, "{names:?}");
    for n in names {
        let path = format!("{EXAMPLES}/surealived/{n}");
        let cfg = load_service_xml(Path::new(&path), &TesterRegistry::builtin())
            .unwrap_or_else(|e| panic!("{n}: {e}"));
        assert!(!cfg.virtuals.is_empty(), "{n}");
    }
}

#[test]
fn every_broken_example_fails_with_its_expected_message() {
    let tsv =
        std::fs::read_to_string(format!("{EXAMPLES}/broken/EXPECTED.tsv")).expect("EXPECTED.tsv");
    let mut rows = Vec::new();
    for line in tsv.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (file, msg) = line.split_once('\t').expect("file<TAB>message");
        rows.push(file.to_string());
        let text = std::fs::read_to_string(format!("{EXAMPLES}/broken/{file}"))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let label = format!("examples/broken/{file}");
        match parse_service_xml(&text, &label, &TesterRegistry::builtin()) {
            Ok(_) => panic!("{file} should fail"),
            Err(e) => assert_eq!(e.to_string(), msg, "{file}"),
        }
    }
    let files = xml_files("broken");
    for f in &files {
        assert!(rows.contains(f), "{f} has no row in EXPECTED.tsv");
    }
    assert_eq!(rows.len(), files.len(), "a row without a file");
}

#[test]
fn broken_examples_cover_every_error_kind() {
    let mut kinds = std::collections::BTreeSet::new();
    for f in xml_files("broken") {
        let text = std::fs::read_to_string(format!("{EXAMPLES}/broken/{f}")).expect("read");
        let e = parse_service_xml(&text, &f, &TesterRegistry::builtin()).expect_err("broken");
        let name = format!("{:?}", e.kind);
        kinds.insert(name.split(['(', ' ', '{']).next().unwrap_or("").to_string());
    }
    let want = [
        "Malformed",
        "UnknownElement",
        "UnknownAttribute",
        "Missing",
        "DuplicateAttribute",
        "InvalidValue",
        "PortOutOfRange",
        "InvalidAddress",
        "WeightOutOfRange",
        "UnknownScheduler",
        "UnknownForwarding",
        "Duplicate",
        "Structure",
    ];
    for k in want {
        assert!(kinds.contains(k), "no broken example gives {k}: {kinds:?}");
    }
}

/// The example of the reference notes (after the original's `examples/onetwp.xml`).
#[test]
fn the_original_example() {
    let cfg = parse(
        r#"<surealived>
<virtual name="onet" addr="192.168.0.1" port="80" proto="tcp" sched="wrr" rt="dr">
  <tester loopdelay="1" timeout="2" retries2fail="1" retries2ok="1"
          proto="http" testport="80" url="/" host="www.onet.pl" debugcomm="1"/>
  <real name="sg" addr="213.180.146.27" port="80" weight="10"/>
</virtual>
<virtual name="wp" addr="192.168.0.2" port="80" proto="tcp" sched="wrr" rt="dr">
  <tester loopdelay="1" timeout="2" retries2fail="1" retries2ok="1" remove_on_fail="1"
          proto="http" testport="80" url="/" host="www.wp.pl"/>
  <real name="sg" addr="212.77.100.101" port="80" weight="11"/>
</virtual>
</surealived>"#,
    );
    assert_eq!(cfg.virtuals.len(), 2);
    let onet = &cfg.virtuals[0];
    assert_eq!(onet.name, "onet");
    assert_eq!(
        onet.key,
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: v4(192, 168, 0, 1),
            port: 80
        }
    );
    assert_eq!(onet.scheduler.as_str(), "wrr");
    assert_eq!(onet.forwarding, Forwarding::DirectRoute);
    assert_eq!(onet.persistence, None);
    assert!(!onet.one_packet);
    assert_eq!(onet.line, 2);
    let t = &onet.tester;
    assert_eq!(t.kind, "http");
    assert_eq!(t.transport, Transport::Tcp);
    assert_eq!(t.testport, Some(80));
    assert_eq!(t.loopdelay, Duration::from_secs(1));
    assert_eq!(t.timeout, Duration::from_secs(2));
    assert!(t.debugcomm && !t.remove_on_fail && !t.ssl && !t.logmicro);
    assert_eq!(t.attrs.str("url"), Some("/"));
    assert_eq!(t.attrs.str("host"), Some("www.onet.pl"));
    // The original's effective default for naive is on (reference 3.14, quirk 1).
    assert_eq!(t.attrs.bool("naive"), Some(true));
    assert_eq!(
        t.attrs.status_codes("retcode").map(|c| c.to_string()),
        Some("200".into())
    );
    assert_eq!(t.attrs.str("method"), Some("GET"));
    let r = &onet.reals[0];
    assert_eq!(
        (r.name.as_str(), r.addr, r.port, r.weight),
        ("sg", v4(213, 180, 146, 27), 80, 10)
    );
    assert_eq!(r.testport, 80);
    assert_eq!(r.forwarding, Forwarding::DirectRoute);
    assert_eq!(r.attrs, t.attrs);
    assert!(cfg.virtuals[1].tester.remove_on_fail);
    assert_eq!(cfg.virtuals[1].reals[0].weight, 11);
}

#[test]
fn tester_defaults() {
    let cfg = parse(&with_reals(V, ""));
    let t = &cfg.virtuals[0].tester;
    assert_eq!(t.loopdelay, Duration::from_secs(3));
    assert_eq!(t.timeout, Duration::from_secs(5));
    assert_eq!((t.retries2ok, t.retries2fail), (1, 1));
    assert!(!t.remove_on_fail && !t.debugcomm && !t.logmicro && !t.ssl);
    assert_eq!(t.stats_samples, 20);
    // tcp's only module attribute with a default: the TLS extension `ssl_verify` (off)
    assert_eq!(t.attrs.bool("ssl_verify"), Some(false));
    assert_eq!(t.attrs.str("ssl_sni"), None);
    let n = &cfg.virtuals[0].notifiers;
    assert_eq!((n.up.as_ref(), n.down.as_ref()), (None, None));
    assert_eq!(n.min_reals, Threshold::Absolute(0));
    assert_eq!(n.min_weight, Threshold::Absolute(0));
    assert!(cfg.virtuals[0].reals.is_empty());
}

#[test]
fn every_common_tester_attribute() {
    let cfg = parse(&format!(
        r#"<surealived><virtual name="v" {V}>
<tester proto="tcp" testport="8080" loopdelay="7" timeout="9" retries2ok="3" retries2fail="4"
  remove_on_fail="TRUE" debugcomm="on" logmicro="1" stats_samples="10" SSL="On"
  notify_up="/n/up" notify_down="/n/down" notify_min_reals="2" notify_min_weight="50%"
  real_notify_up="/n/rup" real_notify_down="/n/rdown"/>
</virtual></surealived>"#
    ));
    let v = &cfg.virtuals[0];
    let t = &v.tester;
    assert_eq!(t.testport, Some(8080));
    assert_eq!(t.loopdelay, Duration::from_secs(7));
    assert_eq!(t.timeout, Duration::from_secs(9));
    assert_eq!((t.retries2ok, t.retries2fail), (3, 4));
    assert!(t.remove_on_fail && t.debugcomm && t.logmicro && t.ssl);
    assert_eq!(t.stats_samples, 10);
    let n = &v.notifiers;
    assert_eq!(n.up.as_deref(), Some(Path::new("/n/up")));
    assert_eq!(n.down.as_deref(), Some(Path::new("/n/down")));
    assert_eq!(n.real_up.as_deref(), Some(Path::new("/n/rup")));
    assert_eq!(n.real_down.as_deref(), Some(Path::new("/n/rdown")));
    assert_eq!(n.min_reals, Threshold::Absolute(2));
    assert_eq!(n.min_weight, Threshold::Percent(50));
}

#[test]
fn stats_samples_outside_1_to_20_become_20() {
    for (given, want) in [("0", 20), ("21", 20), ("1", 1), ("20", 20)] {
        let xml = format!(
            r#"<virtual name="v" {V}><tester proto="tcp" testport="1" stats_samples="{given}"/></virtual>"#
        );
        assert_eq!(
            parse(&xml).virtuals[0].tester.stats_samples,
            want,
            "{given}"
        );
    }
}

#[test]
fn every_virtual_and_real_attribute() {
    let cfg = parse(
        r#"<surealived>
<virtual name="all" addr="192.0.2.9" port="5060" proto="UDP" sched="sh" rt="TUN" pers="30"
         pers_netmask="24" ops="1" sched_flags="sh-port,flag-3" af="inet"
         tun_type="GUE" tun_port="6080" tun_csum="remcsum">
  <tester proto="tcp" testport="5061"/>
  <real name="r" addr="198.51.100.9" port="5060" weight="65535" testport="5062" uthresh="10"
        lthresh="5" rt="tun" bindaddr="whatever" tun_port="6081" tun_csum="csum"/>
</virtual>
</surealived>"#,
    );
    let v = &cfg.virtuals[0];
    assert_eq!(
        v.key,
        ServiceKey::Inet {
            protocol: Protocol::Udp,
            addr: v4(192, 0, 2, 9),
            port: 5060
        }
    );
    assert!(v.one_packet);
    assert_eq!(
        v.sched_flags,
        SchedFlags {
            fallback: false,
            port: true,
            flag3: true
        }
    );
    let p = v.persistence.as_ref().expect("persistent");
    assert_eq!(p.timeout, 30);
    assert_eq!(p.netmask, Netmask::V4(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(
        v.forwarding,
        Forwarding::Tunnel(Tunnel::Gue {
            port: 6080,
            csum: TunnelChecksum::RemCsum
        })
    );
    let svc = v.service();
    assert_eq!(svc.key, v.key);
    assert_eq!(svc.ipvs_flags(), 0x1 | 0x4 | 0x10 | 0x20);
    let r = &v.reals[0];
    assert_eq!(
        (r.weight, r.testport, r.uthresh, r.lthresh),
        (65535, 5062, 10, 5)
    );
    // tun_type inherited from the virtual, port and checksum its own
    assert_eq!(
        r.forwarding,
        Forwarding::Tunnel(Tunnel::Gue {
            port: 6081,
            csum: TunnelChecksum::Csum
        })
    );
    let d = r.destination(7);
    assert_eq!((d.addr, d.port, d.weight), (r.addr, 5060, 7));
    assert_eq!((d.upper_threshold, d.lower_threshold), (10, 5));
    assert_eq!(d.forwarding, r.forwarding);
}

#[test]
fn one_packet_only_for_udp_as_the_original_emits_it() {
    let cfg = parse(&with_reals(
        r#"addr="192.0.2.1" port="80" proto="tcp" sched="wrr" rt="dr" ops="1""#,
        "",
    ));
    assert!(!cfg.virtuals[0].one_packet);
    let cfg = parse(&with_reals(
        r#"addr="192.0.2.1" port="53" proto="udp" sched="wrr" rt="dr" ops="0""#,
        "",
    ));
    assert!(!cfg.virtuals[0].one_packet);
}

#[test]
fn inheritance_of_testport_rt_and_module_attributes() {
    let cfg = parse(
        r#"<surealived>
<virtual name="v" addr="192.0.2.1" port="80" proto="tcp" sched="wrr" rt="masq">
  <tester proto="http" testport="81" url="/a" host="h" retcode="200-204"/>
  <real name="inherits" addr="198.51.100.1" port="80" weight="1"/>
  <real name="overrides" addr="198.51.100.2" port="80" weight="1" testport="82" rt="dr"
        url="/b" naive="off" retcode="301,302"/>
</virtual>
<virtual name="x" addr="192.0.2.2" port="80" proto="tcp" sched="wrr" rt="dr">
  <tester proto="exec" testport="80" exec="/usr/local/lib/surealived/check" params="a b"/>
  <real name="shared" addr="198.51.100.1" port="80" weight="1"/>
  <real name="own" addr="198.51.100.2" port="80" weight="1" params="c"/>
</virtual>
</surealived>"#,
    );
    let v = &cfg.virtuals[0];
    let (a, b) = (&v.reals[0], &v.reals[1]);
    assert_eq!((a.testport, a.forwarding), (81, Forwarding::Masq));
    assert_eq!((b.testport, b.forwarding), (82, Forwarding::DirectRoute));
    assert_eq!(a.attrs.str("url"), Some("/a"));
    assert_eq!(b.attrs.str("url"), Some("/b"));
    assert_eq!(b.attrs.str("host"), Some("h"), "not overridden: inherited");
    assert_eq!(a.attrs.bool("naive"), Some(true));
    assert_eq!(b.attrs.bool("naive"), Some(false));
    let codes = b.attrs.status_codes("retcode").expect("retcode");
    assert!(codes.contains(302) && !codes.contains(200));
    assert!(a
        .attrs
        .status_codes("retcode")
        .is_some_and(|c| c.contains(204)));
    // the tester's own view is not changed by the overrides
    assert_eq!(v.tester.attrs.str("url"), Some("/a"));

    let x = &cfg.virtuals[1];
    assert_eq!(
        x.tester.attrs.path("exec"),
        Some(Path::new("/usr/local/lib/surealived/check"))
    );
    assert_eq!(x.reals[0].attrs.str("params"), Some("a b"));
    assert_eq!(x.reals[1].attrs.str("params"), Some("c"));
    assert_eq!(
        x.reals[1].attrs.path("exec"),
        Some(Path::new("/usr/local/lib/surealived/check"))
    );
}

#[test]
fn dns_defaults_and_extensions() {
    let cfg = parse(
        r#"<surealived>
<virtual name="d" addr="192.0.2.53" port="53" proto="udp" sched="rr" rt="dr" ops="1">
  <tester proto="dns" testport="53" request="example.com"/>
  <real name="a" addr="198.51.100.53" port="53" weight="1" qtype="aaaa" tcp_fallback="0"/>
</virtual>
</surealived>"#,
    );
    let v = &cfg.virtuals[0];
    assert!(v.one_packet);
    assert_eq!(v.tester.transport, Transport::Udp);
    assert_eq!(v.tester.attrs.str("qtype"), Some("SOA"));
    assert_eq!(v.tester.attrs.bool("tcp_fallback"), Some(true));
    assert_eq!(v.reals[0].attrs.str("qtype"), Some("AAAA"));
    assert_eq!(v.reals[0].attrs.bool("tcp_fallback"), Some(false));
}

#[test]
fn no_test_needs_no_testport_and_matches_any_case() {
    let cfg = parse(&format!(
        r#"<virtual name="n" {V}><tester proto="NO-Test"/>
<real name="a" addr="198.51.100.1" port="8080" weight="1"/>
<real name="b" addr="198.51.100.2" port="8080" weight="1" testport="9"/></virtual>"#
    ));
    let v = &cfg.virtuals[0];
    assert_eq!(v.tester.kind, "no-test");
    assert_eq!(v.tester.transport, Transport::None);
    assert_eq!(v.tester.testport, None);
    assert_eq!(v.reals[0].testport, 8080, "falls back to the real's port");
    assert_eq!(v.reals[1].testport, 9);
    // module names are matched exactly
    let e = error(&format!(
        r#"<virtual name="n" {V}><tester proto="HTTP" testport="80"/></virtual>"#
    ));
    assert_eq!(
        e,
        "t.xml:1:86: <tester> attribute `proto`: invalid value `HTTP`: unknown tester; \
         registered: dns, exec, http, no-test, tcp"
    );
}

#[test]
fn ipv6_virtuals_and_reals() {
    let cfg = parse(
        r#"<surealived>
<virtual name="six" addr="2001:db8::1" port="443" proto="tcp" sched="wlc" rt="dr" pers="60">
  <tester proto="tcp" testport="443"/>
  <real name="a" addr="2001:db8:1::1" port="443" weight="1"/>
</virtual>
<virtual name="mixed" addr="192.0.2.1" port="443" proto="tcp" sched="wlc" rt="dr">
  <tester proto="tcp" testport="443"/>
  <real name="tunnelled" addr="2001:db8:1::2" port="443" weight="1" rt="tun"/>
</virtual>
</surealived>"#,
    );
    let v = &cfg.virtuals[0];
    assert_eq!(v.key.af(), AddressFamily::Inet6);
    assert_eq!(
        v.persistence.as_ref().map(|p| p.netmask),
        Some(Netmask::V6(128))
    );
    assert_eq!(
        v.reals[0].addr,
        "2001:db8:1::1".parse::<IpAddr>().expect("v6")
    );
    assert_eq!(
        cfg.virtuals[1].reals[0].forwarding,
        Forwarding::Tunnel(Tunnel::Ipip)
    );
    let e = error(
        r#"<virtual name="six" addr="2001:db8::1" port="443" proto="tcp" sched="wlc" rt="dr">
<tester proto="tcp" testport="443"/>
<real name="a" addr="198.51.100.1" port="443" weight="1"/></virtual>"#,
    );
    assert_eq!(
        e,
        "t.xml:3:16: <real> attribute `addr`: invalid address `198.51.100.1`: an IPv4 real in \
         an IPv6 virtual needs rt=\"tun\""
    );
}

#[test]
fn fwmark_virtuals() {
    let cfg = parse(
        r#"<surealived>
<virtual name="m" fwmark="7" proto="fwmark" sched="wlc" rt="dr" addr="not read" port="nor this">
  <tester proto="tcp" testport="80"/>
  <real name="a" addr="198.51.100.1" port="0" weight="1"/>
</virtual>
<virtual name="m6" fwmark="7" af="ipv6" proto="FWMARK" sched="wlc" rt="dr" pers="10">
  <tester proto="tcp" testport="80"/>
  <real name="a" addr="2001:db8::1" port="0" weight="1"/>
</virtual>
<virtual name="tcp-with-mark" fwmark="8" proto="tcp" sched="wlc" rt="dr">
  <tester proto="tcp" testport="80"/>
</virtual>
</surealived>"#,
    );
    assert_eq!(
        cfg.virtuals[0].key,
        ServiceKey::Fwmark {
            af: AddressFamily::Inet,
            mark: 7
        }
    );
    assert_eq!(
        cfg.virtuals[1].key,
        ServiceKey::Fwmark {
            af: AddressFamily::Inet6,
            mark: 7
        }
    );
    assert_eq!(
        cfg.virtuals[1].persistence.as_ref().map(|p| p.netmask),
        Some(Netmask::V6(128))
    );
    // As the original: a nonzero fwmark makes a fwmark service whatever proto says.
    assert_eq!(
        cfg.virtuals[2].key,
        ServiceKey::Fwmark {
            af: AddressFamily::Inet,
            mark: 8
        }
    );
    assert!(cfg.find(&cfg.virtuals[2].key).is_some());
    assert_eq!(
        error(r#"<virtual name="m" fwmark="0" proto="fwmark" sched="wlc" rt="dr"><tester proto="tcp" testport="1"/></virtual>"#),
        "t.xml:1:19: <virtual> attribute `fwmark`: invalid value `0`: must be > 0 with proto=\"fwmark\""
    );
    // An IPv4 real in an IPv6 fwmark service, without a tunnel.
    assert!(error(
        r#"<virtual name="m" fwmark="1" af="inet6" proto="fwmark" sched="wlc" rt="dr"><tester proto="tcp" testport="1"/><real name="a" addr="198.51.100.1" port="0" weight="1"/></virtual>"#
    )
    .contains("an IPv4 real in an IPv6 virtual"));
}

#[test]
fn tunnels_and_their_errors() {
    let cfg = parse(&with_reals(
        r#"addr="192.0.2.1" port="80" proto="tcp" sched="wrr" rt="dr""#,
        r#"<real name="a" addr="198.51.100.1" port="80" weight="1" rt="tun" tun_type="gre" tun_csum="csum"/>
<real name="b" addr="198.51.100.2" port="80" weight="1" rt="local"/>"#,
    ));
    let r = &cfg.virtuals[0].reals;
    assert_eq!(
        r[0].forwarding,
        Forwarding::Tunnel(Tunnel::Gre {
            csum: TunnelChecksum::Csum
        })
    );
    assert_eq!(r[1].forwarding, Forwarding::Local);
    let cases = [
        (
            r#"<real name="a" addr="198.51.100.1" port="80" weight="1" tun_type="gre"/>"#,
            "t.xml:3:57: <real> attribute `tun_type`: invalid value `gre`: `tun_type` needs rt=\"tun\"",
        ),
        (
            r#"<real name="a" addr="198.51.100.1" port="80" weight="1" rt="tun" tun_type="gue"/>"#,
            "t.xml:3:1: <real>: missing mandatory attribute `tun_port`",
        ),
        (
            r#"<real name="a" addr="198.51.100.1" port="80" weight="1" rt="tun" tun_port="1"/>"#,
            "t.xml:3:66: <real> attribute `tun_port`: invalid value `1`: tun_port is only used with tun_type=\"gue\"",
        ),
        (
            r#"<real name="a" addr="198.51.100.1" port="80" weight="1" rt="tun" tun_type="gre" tun_csum="remcsum"/>"#,
            "t.xml:3:81: <real> attribute `tun_csum`: invalid value `remcsum`: remcsum is only supported with tun_type=\"gue\"",
        ),
        (
            r#"<real name="a" addr="198.51.100.1" port="80" weight="1" rt="tun" tun_type="vxlan"/>"#,
            "t.xml:3:66: <real> attribute `tun_type`: invalid value `vxlan`: expected ipip, gue or gre",
        ),
    ];
    for (real, want) in cases {
        assert_eq!(error(&with_reals(V, real)), want);
    }
}

#[test]
fn virtual_attribute_errors() {
    let cases = [
        (
            r#"addr="192.0.2.1" port="80" proto="tcp" sched="wlc" sched_flags="mh-port" rt="dr""#,
            "t.xml:1:82: <virtual> attribute `sched_flags`: invalid value `mh-port`: `mh-port` needs sched=\"mh\" (sched is `wlc`)",
        ),
        (
            r#"addr="192.0.2.1" port="80" proto="tcp" sched="wlc" rt="dr" pers_netmask="24""#,
            "t.xml:1:90: <virtual> attribute `pers_netmask`: invalid value `24`: `pers_netmask` needs `pers` > 0",
        ),
        (
            r#"addr="192.0.2.1" port="80" proto="tcp" sched="wlc" rt="dr" af="inet6""#,
            "t.xml:1:90: <virtual> attribute `af`: invalid value `inet6`: does not match `addr`",
        ),
        (
            r#"addr="192.0.2.1" port="80" proto="tcp" sched="wlc" rt="dr" ops="x""#,
            "t.xml:1:90: <virtual> attribute `ops`: invalid value `x`: expected an integer",
        ),
        (
            r#"addr="192.0.2.1" port="80" proto="tcp" sched="WRR" rt="dr""#,
            "t.xml:1:70: <virtual> attribute `sched`: unknown scheduler `WRR`; known: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos, none",
        ),
        (
            r#"addr="192.0.2.1" proto="tcp" sched="wlc" rt="dr""#,
            "t.xml:1:13: <virtual>: missing mandatory attribute `port`",
        ),
    ];
    for (attrs, want) in cases {
        assert_eq!(error(&with_reals(attrs, "")), want, "{attrs}");
    }
    let long = "n".repeat(128);
    let e = error(&format!(
        r#"<virtual name="{long}" {V}><tester proto="tcp" testport="1"/></virtual>"#
    ));
    assert!(e.ends_with("longer than 127 bytes (128 bytes)"), "{e}");
    let ok = "n".repeat(127);
    parse(&format!(
        r#"<virtual name="{ok}" {V}><tester proto="tcp" testport="1"/></virtual>"#
    ));
}

#[test]
fn tester_attribute_errors() {
    let t = |attrs: &str| format!(r#"<virtual name="v" {V}><tester {attrs}/></virtual>"#);
    let cases = [
        (
            r#"testport="1""#,
            "t.xml:1:78: <tester>: missing mandatory attribute `proto`",
        ),
        (
            r#"proto="tcp" testport="1" retries2ok="0""#,
            "t.xml:1:111: <tester> attribute `retries2ok`: invalid value `0`: must be at least 1",
        ),
        (
            r#"proto="http" testport="1" url="/" host="h" digest="abc""#,
            "t.xml:1:129: <tester> attribute `digest`: invalid value `abc`: expected 32 hexadecimal digits",
        ),
        (
            r#"proto="http" testport="1" url="/" host="h" method="POST""#,
            "t.xml:1:129: <tester> attribute `method`: invalid value `POST`: expected one of GET, HEAD",
        ),
        (
            r#"proto="dns" testport="53" request="x" qtype="AXFR""#,
            "t.xml:1:124: <tester> attribute `qtype`: invalid value `AXFR`: expected one of A, AAAA, SOA, NS, MX, TXT, CNAME, PTR, SRV, ANY",
        ),
        (
            r#"proto="http" testport="1" url="" host="h""#,
            "t.xml:1:112: <tester> attribute `url`: invalid value ``: must not be empty",
        ),
        (
            r#"proto="tcp" testport="1" notify_min_weight="x%""#,
            "t.xml:1:111: <tester> attribute `notify_min_weight`: invalid value `x%`: expected N or N% (N an unsigned integer)",
        ),
        (
            r#"proto="tcp" testport="1" timeout="99999999999""#,
            "t.xml:1:111: <tester> attribute `timeout`: invalid value `99999999999`: out of range (0..4294967295)",
        ),
        (
            r#"proto="tcp" testport="1" exec="/bin/true""#,
            "t.xml:1:111: <tester>: unknown attribute `exec`; allowed: proto, testport, loopdelay, timeout, retries2ok, retries2fail, remove_on_fail, debugcomm, logmicro, stats_samples, SSL, notify_up, notify_down, notify_min_reals, notify_min_weight, real_notify_up, real_notify_down, ssl_verify, ssl_sni, ssl_ca",
        ),
        (
            r#"proto="tcp" testport="1" ssl="1""#,
            "t.xml:1:111: <tester>: unknown attribute `ssl` (did you mean `SSL`?); allowed: proto, testport, loopdelay, timeout, retries2ok, retries2fail, remove_on_fail, debugcomm, logmicro, stats_samples, SSL, notify_up, notify_down, notify_min_reals, notify_min_weight, real_notify_up, real_notify_down, ssl_verify, ssl_sni, ssl_ca",
        ),
    ];
    for (attrs, want) in cases {
        assert_eq!(error(&t(attrs)), want, "{attrs}");
    }
    // a 8193-byte url
    let url = format!("/{}", "u".repeat(8192));
    let e = error(&t(&format!(
        r#"proto="http" testport="1" host="h" url="{url}""#
    )));
    assert!(e.contains("longer than 8192 bytes (8193 bytes)"), "{e}");
}

#[test]
fn real_module_attributes_are_only_the_per_real_ones() {
    let e = error(&format!(
        r#"<virtual name="v" {V}><tester proto="exec" testport="1" exec="/x"/>
<real name="a" addr="198.51.100.1" port="80" weight="1" exec="/y"/></virtual>"#
    ));
    assert_eq!(
        e,
        "t.xml:2:57: <real>: unknown attribute `exec`; allowed: name, addr, port, weight, \
         testport, uthresh, lthresh, rt, bindaddr, tun_type, tun_port, tun_csum, params"
    );
}

#[test]
fn booleans_accept_the_originals_spellings() {
    for (v, want) in [
        ("true", true),
        ("ON", true),
        ("1", true),
        ("False", false),
        ("off", false),
        ("0", false),
    ] {
        let xml = format!(
            r#"<virtual name="v" {V}><tester proto="tcp" testport="1" logmicro="{v}"/></virtual>"#
        );
        assert_eq!(parse(&xml).virtuals[0].tester.logmicro, want, "{v}");
    }
}

#[test]
fn thresholds_lthresh_equal_to_uthresh_is_fine() {
    let cfg = parse(&with_reals(
        V,
        r#"<real name="a" addr="198.51.100.1" port="80" weight="1" uthresh="5" lthresh="5"/>
<real name="b" addr="198.51.100.2" port="80" weight="0" uthresh="9"/>
<real name="c" addr="198.51.100.3" port="80" weight="0" lthresh="0"/>"#,
    ));
    let r = &cfg.virtuals[0].reals;
    assert_eq!((r[0].uthresh, r[0].lthresh), (5, 5));
    assert_eq!((r[1].uthresh, r[1].lthresh), (9, 0));
    assert_eq!((r[2].uthresh, r[2].lthresh), (0, 0));
}

/// The kernel answers ERANGE to l_threshold > u_threshold, also when u_threshold is 0 (unset).
#[test]
fn thresholds_lthresh_without_or_above_uthresh_is_an_error() {
    assert_eq!(
        error(&with_reals(
            V,
            r#"<real name="b" addr="198.51.100.2" port="80" weight="0" lthresh="9"/>"#
        )),
        "t.xml:3:57: <real> attribute `lthresh`: invalid value `9`: lthresh needs an uthresh at \
         least as large (without one the upper threshold is 0); the kernel rejects it (ERANGE)"
    );
    assert_eq!(
        error(&with_reals(
            V,
            r#"<real name="b" addr="198.51.100.2" port="80" weight="0" lthresh="1" uthresh="0"/>"#
        )),
        "t.xml:3:57: <real> attribute `lthresh`: invalid value `1`: lthresh must not exceed \
         uthresh (0); the kernel rejects it (ERANGE)"
    );
}

#[test]
fn same_address_different_port_is_not_a_duplicate() {
    let cfg = parse(&with_reals(
        V,
        r#"<real name="a" addr="198.51.100.1" port="80" weight="1"/>
<real name="a" addr="198.51.100.1" port="81" weight="1"/>"#,
    ));
    assert_eq!(cfg.virtuals[0].reals.len(), 2);
}

/// A tester a program registers at run time, with attributes of every type.
fn redis_registry() -> TesterRegistry {
    fn even(v: &str) -> Result<AttrValue, String> {
        match v.parse::<u32>() {
            Ok(n) if n % 2 == 0 => Ok(AttrValue::Uint(n)),
            _ => Err("expected an even number".into()),
        }
    }
    let mut reg = TesterRegistry::builtin();
    let previous = reg
        .register(
            TesterSpec::new("redis", Transport::Tcp)
                .attr(AttrSpec::new("password", AttrType::String { max_len: 16 }).required())
                .attr(
                    AttrSpec::new("db", AttrType::Uint)
                        .default_value(AttrValue::Uint(0))
                        .per_real(),
                )
                .attr(AttrSpec::new("role", AttrType::Enum(&["master", "replica"])).per_real())
                .attr(AttrSpec::new("offset", AttrType::Int))
                .attr(AttrSpec::new("probe_port", AttrType::Port).per_real())
                .attr(AttrSpec::new(
                    "batch",
                    AttrType::Custom {
                        expected: "an even number",
                        parse: even,
                    },
                )),
        )
        .expect("valid spec");
    assert!(previous.is_none());
    reg
}

#[test]
fn a_custom_tester_is_validated_like_the_builtin_ones() {
    let reg = redis_registry();
    assert_eq!(
        reg.names().collect::<Vec<_>>(),
        ["dns", "exec", "http", "no-test", "redis", "tcp"]
    );
    let xml = format!(
        r#"<virtual name="v" {V}><tester proto="redis" testport="6379" password="s3cret" offset="-3" batch="4"/>
<real name="a" addr="198.51.100.1" port="6379" weight="1"/>
<real name="b" addr="198.51.100.2" port="6379" weight="1" db="2" role="Replica" probe_port="6380"/></virtual>"#
    );
    let cfg = parse_service_xml(&xml, "t.xml", &reg).expect("valid");
    let v = &cfg.virtuals[0];
    assert_eq!(v.tester.kind, "redis");
    assert_eq!(v.tester.attrs.int("offset"), Some(-3));
    assert_eq!(v.tester.attrs.uint("batch"), Some(4));
    assert_eq!(v.reals[0].attrs.uint("db"), Some(0));
    assert_eq!(v.reals[1].attrs.uint("db"), Some(2));
    assert_eq!(v.reals[1].attrs.str("role"), Some("replica"));
    assert_eq!(v.reals[1].attrs.port("probe_port"), Some(6380));
    assert_eq!(v.reals[0].attrs.get("role"), None);

    let fail = |xml: String| {
        parse_service_xml(&xml, "t.xml", &reg)
            .expect_err("invalid")
            .to_string()
    };
    assert_eq!(
        fail(format!(
            r#"<virtual name="v" {V}><tester proto="redis" testport="1" password="x" batch="3"/></virtual>"#
        )),
        "t.xml:1:126: <tester> attribute `batch`: invalid value `3`: expected an even number"
    );
    assert_eq!(
        fail(format!(
            r#"<virtual name="v" {V}><tester proto="redis" testport="1"/></virtual>"#
        )),
        "t.xml:1:78: <tester>: missing mandatory attribute `password`"
    );
    assert_eq!(
        fail(format!(
            r#"<virtual name="v" {V}><tester proto="redis" testport="1" pasword="x"/></virtual>"#
        )),
        "t.xml:1:113: <tester>: unknown attribute `pasword` (did you mean `password`?); allowed: \
         proto, testport, loopdelay, timeout, retries2ok, retries2fail, remove_on_fail, \
         debugcomm, logmicro, stats_samples, SSL, notify_up, notify_down, notify_min_reals, \
         notify_min_weight, real_notify_up, real_notify_down, password, db, role, offset, \
         probe_port, batch"
    );
    assert_eq!(
        fail(format!(
            r#"<virtual name="v" {V}><tester proto="redis" testport="1" password="x"/><real name="a" addr="198.51.100.1" port="1" weight="1" probe_port="70000"/></virtual>"#
        )),
        "t.xml:1:182: <real> attribute `probe_port`: port `70000` out of range (0..65535)"
    );
    // without the registration the kind is unknown
    assert!(error(&format!(
        r#"<virtual name="v" {V}><tester proto="redis" testport="1"/></virtual>"#
    ))
    .contains("unknown tester; registered: dns, exec, http, no-test, tcp"));
}

#[test]
fn raw_stage_keeps_order_and_positions() {
    let doc = RawDocument::parse(
        "<surealived>\n <virtual b=\"2\" a=\"1\">\n  <tester proto=\"x\"/>\n  <real z=\"&lt;\"/>\n </virtual>\n</surealived>\n",
        "raw.xml",
    )
    .expect("structure is fine even though the attributes are not");
    let v = &doc.virtuals[0];
    let names: Vec<_> = v
        .attrs
        .iter()
        .map(|a| (a.name.as_str(), a.line, a.column))
        .collect();
    assert_eq!(names, [("b", 2, 11), ("a", 2, 17)]);
    assert_eq!(v.reals[0].attrs[0].value, "<");
    assert_eq!(
        v.tester
            .as_ref()
            .and_then(|t| t.attr("proto"))
            .map(|a| a.value.as_str()),
        Some("x")
    );
    // and the validation then points at the first offending attribute
    let e = doc
        .validate(&TesterRegistry::builtin())
        .expect_err("invalid");
    assert_eq!(e.location.line, 2);
    assert_eq!(e.location.column, Some(11));
}

#[test]
fn comments_pis_and_whitespace_are_ignored() {
    let cfg = parse(&format!(
        "<?xml version=\"1.0\"?>\n<!-- c -->\n<?pi x?>\n<surealived>\n\t<!-- c -->\n<virtual name=\"v\" {V}>\r\n<tester proto=\"tcp\" testport=\"1\"></tester>\n<!-- c --><real name=\"a\" addr=\"198.51.100.1\" port=\"1\" weight=\"1\"></real></virtual>\n</surealived>\n<!-- after -->\n"
    ));
    assert_eq!(cfg.virtuals[0].reals.len(), 1);
    assert!(parse("\u{feff}<?xml version=\"1.0\"?><surealived/>")
        .virtuals
        .is_empty());
    let empty = parse("<surealived/>");
    assert!(empty.virtuals.is_empty());
}

/// A UTF-8 BOM is not a column: positions on the first line are those an editor shows.
#[test]
fn a_bom_does_not_shift_the_columns_of_the_first_line() {
    for (xml, want) in [
        (
            "\u{feff}<surealived a=1/>",
            "t.xml:1:15: malformed input: an attribute value must be in quotes",
        ),
        (
            "\u{feff}<surealived><bad/></surealived>",
            "t.xml:1:13: unknown element `bad`; allowed here: virtual",
        ),
        (
            "\u{feff}<bad/>",
            "t.xml:1:1: unknown element `bad`; allowed here: surealived, virtual",
        ),
        (
            "\u{feff}<surealived>\n<bad/></surealived>",
            "t.xml:2:1: unknown element `bad`; allowed here: virtual",
        ),
    ] {
        assert_eq!(error(xml), want, "{xml:?}");
    }
    let doc = RawDocument::parse("\u{feff}<virtual name=\"x\"><tester/></virtual>", "t.xml")
        .expect("parses");
    let v = &doc.virtuals[0];
    assert_eq!((v.line, v.column), (1, 1));
    assert_eq!((v.attrs[0].line, v.attrs[0].column), (1, 10));
}

/// Locating attributes must not rescan a long line for each one: a file that is a single line
/// of 20,000 reals (about 1.5 MB) loads at once. (It took more than ten minutes when each
/// column was counted from the start of the line.)
#[test]
fn a_single_long_line_loads_in_linear_time() {
    let mut xml =
        format!(r#"<surealived><virtual name="v" {V}><tester proto="tcp" testport="80"/>"#);
    for i in 0..20_000u32 {
        xml.push_str(&format!(
            r#"<real name="r{i}" addr="10.{}.{}.{}" port="80" weight="1"/>"#,
            i >> 16,
            (i >> 8) & 255,
            i & 255
        ));
    }
    xml.push_str("</virtual></surealived>");
    assert!(!xml.contains('\n'));
    let started = std::time::Instant::now();
    let cfg = parse(&xml);
    let took = started.elapsed();
    assert_eq!(cfg.virtuals[0].reals.len(), 20_000);
    // Generous for an unoptimised build on a loaded machine; well under a second in release.
    assert!(took < Duration::from_secs(30), "took {took:?}");
    // and an error at the end of the line still has the right column
    let bad = xml.replacen(r#"weight="1"/></virtual>"#, r#"weight="x"/></virtual>"#, 1);
    let col = bad.rfind(r#"weight="x""#).expect("there") + 1;
    assert_eq!(
        error(&bad),
        format!(
            "t.xml:1:{col}: <real> attribute `weight`: invalid value `x`: expected a weight (0..65535)"
        )
    );
}

#[test]
fn structural_errors() {
    let cases = [
        ("", "t.xml: malformed input: no root element; expected `<surealived>` (or a single `<virtual>`)"),
        ("<surealived>", "t.xml:1:13: malformed input: unexpected end of file inside an element"),
        ("<surealived/><surealived/>", "t.xml:1:14: malformed input: a second root element `<surealived>`; a document has exactly one root"),
        ("<Surealived/>", "t.xml:1:1: unknown element `Surealived`; allowed here: surealived, virtual"),
        ("<surealived><surealived/></surealived>", "t.xml:1:13: unknown element `surealived`; allowed here: virtual"),
        ("<surealived>&amp;</surealived>", "t.xml:1:13: unexpected text `&amp;`; only elements, comments and whitespace are allowed"),
        ("<surealived><![CDATA[x]]></surealived>", "t.xml:1:22: unexpected text `x`; only elements, comments and whitespace are allowed"),
        // a CDATA section is an error even when it holds only whitespace, as `&#32;` is
        ("<surealived>\n <![CDATA[ \n ]]></surealived>", "t.xml:2:2: unexpected CDATA section; only elements, comments and whitespace are allowed"),
        ("<surealived><![CDATA[]]></surealived>", "t.xml:1:13: unexpected CDATA section; only elements, comments and whitespace are allowed"),
        ("<surealived>&#32;</surealived>", "t.xml:1:13: unexpected text `&#32;`; only elements, comments and whitespace are allowed"),
        ("<surealived>\u{a0}</surealived>", "t.xml:1:13: unexpected text `\\u{a0}`; only elements, comments and whitespace are allowed"),
        ("<surealived/>\n<?xml version=\"1.0\"?>", "t.xml:2:1: malformed input: an XML declaration is allowed only at the very start of the file"),
        ("<surealived a=1/>", "t.xml:1:15: malformed input: an attribute value must be in quotes"),
        // an unclosed quote is reported where it opens, not at the start of the tag
        ("<surealived>\n  <virtual name=\"x addr='1'/>\n</surealived>", "t.xml:2:17: malformed input: an attribute value is not closed: no `\"` matches this one before the end of the file"),
        ("<surealived>\n  <virtual name=\"x\" addr='1/></virtual>\n</surealived>\n", "t.xml:2:26: malformed input: an attribute value is not closed: no `'` matches this one before the end of the file"),
        ("<surealived a=\"\">\n<virtual b='\"' c=\"é'", "t.xml:2:18: malformed input: an attribute value is not closed: no `\"` matches this one before the end of the file"),
    ];
    for (xml, want) in cases {
        assert_eq!(error(xml), want, "{xml:?}");
    }
}

#[test]
fn nasty_inputs_do_not_panic() {
    let reg = TesterRegistry::builtin();
    let deep = "<surealived>".to_string() + &"<virtual>".repeat(100_000);
    let deep_unknown = "<a>".repeat(100_000);
    let huge = format!(
        "<surealived><virtual name=\"{}\"/></surealived>",
        "x".repeat(5_000_000)
    );
    let binary: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let inputs = [
        String::new(),
        String::from_utf8_lossy(&binary).into_owned(),
        deep,
        deep_unknown,
        huge,
        "<".into(),
        "<surealived".into(),
        "<surealived><virtual name='\u{0}'/>".into(),
        "\u{feff}<surealived/>".into(),
        "<surealived><virtual name=\"&#xD800;\"/></surealived>".into(),
        "<surealived><virtual name=\"&#99999999999;\"/></surealived>".into(),
        "<!DOCTYPE x [<!ENTITY a \"&a;&a;\">]><x>&a;</x>".into(),
    ];
    for text in &inputs {
        let r = parse_service_xml(text, "n.xml", &reg);
        if let Err(e) = &r {
            assert!(!e.to_string().is_empty());
        }
    }
    let e = error(&inputs[4]);
    assert!(
        e.contains("longer than 127 bytes"),
        "{}",
        &e[..200.min(e.len())]
    );
    // values are cut in messages
    assert!(e.len() < 300, "{} bytes", e.len());
    assert!(e.contains("xxx...`"), "{e}");
}

#[test]
fn load_reports_the_path_of_a_missing_file() {
    let e = load_service_xml(
        Path::new("/nonexistent/services.xml"),
        &TesterRegistry::builtin(),
    )
    .expect_err("missing");
    assert!(matches!(e, Error::Io { .. }));
    assert!(
        e.to_string().starts_with("/nonexistent/services.xml: "),
        "{e}"
    );
}

#[test]
fn errors_carry_typed_kinds() {
    let e = parse_service_xml(
        &with_reals(
            V,
            r#"<real name="a" addr="198.51.100.1" port="80" weight="-5"/>"#,
        ),
        "t.xml",
        &TesterRegistry::builtin(),
    )
    .expect_err("weight");
    assert_eq!(
        e.kind,
        ParseErrorKind::WeightOutOfRange {
            value: "-5".into(),
            min: 0,
            max: 65535
        }
    );
    assert_eq!(e.item.as_deref(), Some("<real> attribute `weight`"));
    assert_eq!((e.location.line, e.location.column), (3, Some(46)));
}

#[test]
fn the_demo_example_is_on_loopback() {
    let cfg = load_service_xml(
        Path::new(&format!("{EXAMPLES}/surealived/demo.xml")),
        &TesterRegistry::builtin(),
    )
    .expect("demo");
    let ports: Vec<u16> = cfg.virtuals[0].reals.iter().map(|r| r.testport).collect();
    assert_eq!(ports, [8081, 8082, 8083]);
    assert!(cfg
        .virtuals
        .iter()
        .flat_map(|v| &v.reals)
        .all(|r| r.addr == v4(127, 0, 0, 1)));
    assert_eq!(cfg.virtuals[1].tester.kind, "tcp");
}

/// The TLS extensions are accepted by every built-in TCP kind, not only `http`.
#[test]
fn tls_extensions_on_a_tcp_tester() {
    let cfg = parse(&format!(
        r#"<surealived><virtual name="v" {V}>
  <tester proto="tcp" testport="443" SSL="1" ssl_verify="1" ssl_sni="www.example.org"/>
  <real name="r" addr="192.0.2.11" port="443" weight="1" ssl_verify="0"/>
</virtual></surealived>"#
    ));
    let t = &cfg.virtuals[0].tester;
    assert!(t.ssl);
    let text = format!("{cfg:?}");
    assert!(text.contains("www.example.org"), "{text}");
    let e = parse_service_xml(
        &format!(
            r#"<surealived><virtual name="v" {V}>
  <tester proto="dns" testport="53" request="example.org" ssl_verify="1"/>
</virtual></surealived>"#
        ),
        "t.xml",
        &TesterRegistry::builtin(),
    )
    .expect_err("dns has no TLS");
    assert!(e.to_string().contains("ssl_verify"), "{e}");
}

/// A body `regex` that does not compile is an error of the file, at its attribute.
#[test]
fn a_bad_body_regex_is_refused_at_load() {
    let xml = |re: &str| {
        format!(
            r#"<surealived><virtual name="v" {V}>
  <tester proto="http" testport="80" url="/" host="h" regex="{re}"/>
</virtual></surealived>"#
        )
    };
    let cfg = parse(&xml("^OK [0-9]+$"));
    assert_eq!(
        cfg.virtuals[0].tester.attrs.str("regex"),
        Some("^OK [0-9]+$")
    );
    let e = parse_service_xml(&xml("(unclosed"), "t.xml", &TesterRegistry::builtin())
        .expect_err("bad regex");
    let msg = e.to_string();
    assert!(
        msg.starts_with("t.xml:2:")
            && msg.contains(
                "attribute `regex`: invalid value `(unclosed`: not a valid regular expression"
            ),
        "{msg}"
    );
}
