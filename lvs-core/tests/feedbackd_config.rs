//! The feedbackd master and agent configuration loaders: the HOWTO's sample files, every key and
//! default, port names, monitors, every error with its exact message, the examples, and no
//! panic on nasty input.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lvs_core::config::feedbackd::{
    load_agent_config, load_agent_config_with, load_master_config, parse_agent_config,
    parse_master_config, AgentConfig, Cidr, Director, LogLevel, MasterConfig, Monitor,
    MonitorRegistry, MonitorSpec, RawConfigFile, ServicesDb, AGENT_KEYS, MASTER_KEYS,
};
use lvs_core::fsutil;
use lvs_core::model::{Forwarding, Netmask, Protocol, Scheduler, ServiceKey, Tunnel};
use proptest::prelude::*;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");

fn db() -> ServicesDb {
    ServicesDb::builtin()
}

fn master(text: &str) -> Result<MasterConfig, String> {
    parse_master_config(text, "m.conf", &db()).map_err(|e| e.to_string())
}

fn agent(text: &str) -> Result<AgentConfig, String> {
    parse_agent_config(text, "a.conf", &db(), &MonitorRegistry::builtin())
        .map_err(|e| e.to_string())
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect(s)
}

/// The HOWTO's sample master file, one directive per line as installed.
const HOWTO_MASTER: &str = "\
# configuration file for feedbackd-master

# logging configuration

# log file
logfile = /usr/local/var/log/feedbackd-master.log

# log level: one of CRIT, ERR, WARN, INFO, DEBUG or VDEBUG
loglevel = WARN

keepalive-interval = 2
keepalive-timeout = 10
keepalive-retries = 3
removal-interval = 30

# Example virtual service definition.
#  name (a symboolic name, used in logging)
#  address (local address to listen on)
#  protocol (tcp or udp),
#  port (numeric or a name in /etc/services)
#  scheduler (eg, rr, wrr - see ipvsadm documentation)
[virtual-service]
name = http
address = 127.0.0.1
protocol = tcp
port = http
scheduler = wrr
";

/// The HOWTO's sample agent file, one directive per line as installed.
const HOWTO_AGENT: &str = "\
# configuration file for feedbackd-agent

# Where to connect to the director. Either an IP address or hostname
director = $DIP

# How many connection attempts (to the master) to make before giving up.
# 0 = never give up (default)
connection-retries = 0

# How long to wait for the master
master-timeout = 10

# Path to the monitor plugins
moduledir = /usr/local/lib/feedbackd

# logging configuration

# log file
logfile = /usr/local/var/log/feedbackd-agent.log

# log level: one of CRIT, ERR, WARN, INFO, DEBUG or VDEBUG
loglevel = WARN

# Example service definition.
# The following directives are required:
#  name (a symboolic name, used in logging)
#  protocol (tcp or udp),
#  port (numeric or a name in /etc/services)
#  forwarding (DR, NAT or TUN)
#  monitor, followed by any configuration for the monitor plugin
[service]
name = http
protocol = tcp
port = http
forwarding = NAT
monitor = cpuload.so

# Another service definition
[service]
name = mail
protocol = tcp
port = smtp
forwarding = NAT
# Use the exec.so plugin, which requires a command parameter
monitor = exec.so
command = /usr/local/bin/monitor-mailqueue.sh
";

// ---------------------------------------------------------------------------------------------
// The HOWTO's samples

#[test]
fn howto_master_sample() {
    let cfg = master(HOWTO_MASTER).expect("the HOWTO's master sample loads");
    let want = MasterConfig {
        source: "m.conf".into(),
        logfile: "/usr/local/var/log/feedbackd-master.log".into(),
        virtual_services: cfg.virtual_services.clone(),
        ..MasterConfig::default()
    };
    assert_eq!(cfg, want);
    assert_eq!(cfg.virtual_services.len(), 1);
    let vs = &cfg.virtual_services[0];
    assert_eq!(vs.name, "http");
    assert_eq!(vs.line, 22);
    assert_eq!(
        vs.key(),
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: ip("127.0.0.1"),
            port: 80
        }
    );
    assert_eq!(vs.scheduler.as_str(), "wrr");
    assert_eq!(vs.persistent, None);
    // It has no `allow` line: the loader accepts it, the daemon's check says what to add.
    assert_eq!(
        cfg.check_allow_list().map_err(|e| e.to_string()),
        Err(
            "m.conf: no `allow` line, so no agent may connect; add a line naming the agents' \
             network, such as `allow = 10.0.0.0/8`, or `allow = 0.0.0.0/0` (and `allow = ::/0`) \
             to accept every agent as the original feedbackd did"
                .into()
        )
    );
    assert!(!cfg.allows(ip("127.0.0.1")));
}

#[test]
fn howto_agent_sample_fails_on_the_placeholder() {
    assert_eq!(
        agent(HOWTO_AGENT).err(),
        Some(
            "a.conf:4: key `director`: invalid value `$DIP`: an unexpanded placeholder (the \
             sample file's `$DIP`); write the director's IP address or host name"
                .into()
        )
    );
}

#[test]
fn howto_agent_sample_with_a_real_address() {
    let cfg = agent(&HOWTO_AGENT.replace("$DIP", "192.0.2.1")).expect("loads");
    assert_eq!(cfg.director, Director::Addr(ip("192.0.2.1")));
    assert_eq!(cfg.connection_retries, 0);
    // The sample's value; the default is 30 (see `defaults_of_the_agent`).
    assert_eq!(cfg.master_timeout, Duration::from_secs(10));
    assert_eq!(cfg.moduledir, PathBuf::from("/usr/local/lib/feedbackd"));
    assert_eq!(
        cfg.logfile,
        PathBuf::from("/usr/local/var/log/feedbackd-agent.log")
    );
    assert_eq!(cfg.loglevel, LogLevel::Warn);
    assert_eq!(cfg.master_port, 3262);
    assert_eq!(cfg.secret, None);
    assert_eq!(cfg.services.len(), 2);
    let http = &cfg.services[0];
    assert_eq!(
        (http.name.as_str(), http.protocol, http.port, http.line),
        ("http", Protocol::Tcp, 80, 31)
    );
    assert_eq!(http.forwarding, Forwarding::Masq);
    assert_eq!(http.monitor, Monitor::CpuLoad);
    let mail = &cfg.services[1];
    assert_eq!((mail.name.as_str(), mail.port), ("mail", 25));
    assert_eq!(
        mail.monitor,
        Monitor::Exec {
            command: "/usr/local/bin/monitor-mailqueue.sh".into()
        }
    );
    assert_eq!(mail.monitor.name(), "exec");
}

#[test]
fn the_howto_grammar_one_line_is_not_a_file() {
    // The HOWTO prints its samples run together on one line; on disk they are one directive
    // per line. A run-together line is a single key whose value swallows the rest.
    let raw = RawConfigFile::parse("logfile = /x loglevel = WARN\n", "f").expect("parses");
    assert_eq!(raw.globals[0].value, "/x loglevel = WARN");
}

// ---------------------------------------------------------------------------------------------
// Defaults and every key

#[test]
fn defaults_of_the_master() {
    let cfg = master("").expect("an empty master file loads");
    let d = MasterConfig::default();
    assert_eq!(
        cfg,
        MasterConfig {
            source: "m.conf".into(),
            ..d.clone()
        }
    );
    assert_eq!(d.logfile, PathBuf::from("/var/log/feedbackd-master.log"));
    assert_eq!(d.loglevel, LogLevel::Warn);
    assert_eq!(d.keepalive_interval, Duration::from_secs(2));
    assert_eq!(d.keepalive_timeout, Duration::from_secs(10));
    assert_eq!(d.keepalive_retries, 3);
    assert_eq!(d.removal_interval, Duration::from_secs(30));
    assert_eq!(d.listen_address, ip("0.0.0.0"));
    assert_eq!(d.listen_port, 3262);
    assert!(d.allow.is_empty());
    assert_eq!(d.secret, None);
    assert_eq!(d.max_agents, 1024);
    assert_eq!(d.max_services_per_agent, 64);
    assert_eq!(d.weight_smoothing, 0.0);
    assert_eq!(d.weight_threshold, 0);
    assert!(d.virtual_services.is_empty());
}

#[test]
fn defaults_of_a_virtual_service() {
    let cfg = master("[virtual-service]\nname=a\naddress=192.0.2.1\nprotocol=tcp\nport=80\n")
        .expect("loads");
    let vs = &cfg.virtual_services[0];
    assert_eq!(vs.scheduler, Scheduler::default());
    assert_eq!(vs.scheduler.as_str(), "wlc");
    assert_eq!(vs.persistent, None);
    assert_eq!(vs.to_service().persistence, None);
}

#[test]
fn defaults_of_the_agent() {
    let cfg = agent(
        "director = lvs.example.org\n[service]\nname=a\nprotocol=tcp\nport=80\nforwarding=DR\nmonitor=cpuload\n",
    )
    .expect("loads");
    assert_eq!(cfg.director, Director::Host("lvs.example.org".into()));
    assert_eq!(cfg.director.to_string(), "lvs.example.org");
    assert_eq!(cfg.master_port, 3262);
    assert_eq!(cfg.connection_retries, 0);
    assert_eq!(cfg.master_timeout, Duration::from_secs(30));
    assert_eq!(cfg.moduledir, PathBuf::from("/usr/lib/feedbackd-agent"));
    assert_eq!(cfg.logfile, PathBuf::from("/var/log/feedbackd-agent.log"));
    assert_eq!(cfg.loglevel, LogLevel::Warn);
    assert_eq!(cfg.secret, None);
    assert_eq!(cfg.source_address, None);
    assert_eq!(cfg.source, "a.conf");
}

#[test]
fn every_master_key() {
    let cfg = master(
        "logfile = /var/log/fb master.log
loglevel = vdebug
keepalive-interval = 5
keepalive-timeout = 20
keepalive-retries = 0
removal-interval = 60
listen-address = 2001:db8::1
listen-port = 4000
allow = 192.0.2.0/24
allow = 198.51.100.77/24   # host bits are cleared
allow = 2001:db8::/32
secret = s3cret with spaces
max-agents = 10
max-services-per-agent = 2
weight-smoothing = 0.25
weight-threshold = 5
[virtual-service]
name = dns
address = 2001:db8::53
protocol = UDP
port = domain
scheduler = SH
persistent = 600
[virtual-service]
name = any
address = 192.0.2.10
protocol = sctp
port = 0
persistent = 1
",
    )
    .expect("loads");
    assert_eq!(cfg.logfile, PathBuf::from("/var/log/fb master.log"));
    assert_eq!(cfg.loglevel, LogLevel::Vdebug);
    assert_eq!(cfg.keepalive_interval, Duration::from_secs(5));
    assert_eq!(cfg.keepalive_timeout, Duration::from_secs(20));
    assert_eq!(cfg.keepalive_retries, 0);
    assert_eq!(cfg.removal_interval, Duration::from_secs(60));
    assert_eq!(cfg.listen_address, ip("2001:db8::1"));
    assert_eq!(cfg.listen_port, 4000);
    let allow: Vec<String> = cfg.allow.iter().map(Cidr::to_string).collect();
    assert_eq!(allow, ["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"]);
    assert!(cfg.allows(ip("198.51.100.1")));
    assert!(cfg.allows(ip("::ffff:192.0.2.3")));
    assert!(cfg.allows(ip("2001:db8:5::1")));
    assert!(!cfg.allows(ip("203.0.113.1")));
    assert_eq!(cfg.check_allow_list(), Ok(()));
    assert_eq!(
        cfg.secret.as_ref().map(|s| s.expose()),
        Some("s3cret with spaces")
    );
    assert!(
        !format!("{cfg:?}").contains("s3cret"),
        "Debug hides the secret"
    );
    assert_eq!(cfg.max_agents, 10);
    assert_eq!(cfg.max_services_per_agent, 2);
    assert_eq!(cfg.weight_smoothing, 0.25);
    assert_eq!(cfg.weight_threshold, 5);

    let dns = &cfg.virtual_services[0];
    assert_eq!(dns.key().to_string(), "udp [2001:db8::53]:53");
    assert_eq!(dns.scheduler.as_str(), "sh");
    assert_eq!(dns.persistent, Some(Duration::from_secs(600)));
    let svc = dns.to_service();
    let p = svc.persistence.expect("persistent");
    assert_eq!((p.timeout, p.netmask), (600, Netmask::V6(128)));
    let any = &cfg.virtual_services[1];
    assert_eq!(any.key().to_string(), "sctp 192.0.2.10:0");
    assert_eq!(any.scheduler.as_str(), "wlc");
    assert_eq!(
        cfg.virtual_service_for(Protocol::Udp, 53)
            .map(|v| v.name.as_str()),
        Some("dns")
    );
    assert_eq!(
        cfg.virtual_service_for(Protocol::Sctp, 9)
            .map(|v| v.name.as_str()),
        Some("any")
    );
    assert!(cfg.virtual_service_for(Protocol::Tcp, 53).is_none());
}

#[test]
fn every_agent_key() {
    let cfg = agent(
        "director = 2001:db8::1
master-port = 4000
connection-retries = 7
master-timeout = 45
moduledir = /opt/fb/plugins
logfile = /var/log/a.log
loglevel = Debug
secret = abc#def
source-address = 2001:db8::7
[service]
name = c
protocol = tcp
port = 8080
forwarding = tun
monitor = constant.so
value = 0
[service]
name = e
protocol = Udp
port = ntp
forwarding = nat
monitor = exec
command = /usr/bin/measure-load.sh --ntp   -q   # trailing comment
[service]
name = p
protocol = sctp
port = https
forwarding = Dr
monitor = perl.so
file = /usr/lib/feedbackd-agent/monitor.pl
",
    )
    .expect("loads");
    assert_eq!(cfg.director, Director::Addr(ip("2001:db8::1")));
    assert_eq!(cfg.master_port, 4000);
    assert_eq!(cfg.connection_retries, 7);
    assert_eq!(cfg.master_timeout, Duration::from_secs(45));
    assert_eq!(cfg.moduledir, PathBuf::from("/opt/fb/plugins"));
    assert_eq!(cfg.logfile, PathBuf::from("/var/log/a.log"));
    assert_eq!(cfg.loglevel, LogLevel::Debug);
    assert_eq!(cfg.secret.as_ref().map(|s| s.expose()), Some("abc#def"));
    assert_eq!(cfg.source_address, Some(ip("2001:db8::7")));
    let s = &cfg.services;
    assert_eq!(
        (s[0].forwarding, &s[0].monitor),
        (
            Forwarding::Tunnel(Tunnel::Ipip),
            &Monitor::Constant { value: 0 }
        )
    );
    assert_eq!((s[1].protocol, s[1].port), (Protocol::Udp, 123));
    assert_eq!(s[1].forwarding, Forwarding::Masq);
    assert_eq!(
        s[1].monitor,
        Monitor::Exec {
            command: "/usr/bin/measure-load.sh --ntp   -q".into()
        }
    );
    assert_eq!((s[2].protocol, s[2].port), (Protocol::Sctp, 443));
    assert_eq!(s[2].forwarding, Forwarding::DirectRoute);
    assert_eq!(
        s[2].monitor,
        Monitor::Perl {
            file: "/usr/lib/feedbackd-agent/monitor.pl".into()
        }
    );
}

#[test]
fn key_lists_are_the_documented_ones() {
    assert_eq!(
        MASTER_KEYS,
        [
            "logfile",
            "loglevel",
            "keepalive-interval",
            "keepalive-timeout",
            "keepalive-retries",
            "removal-interval",
            "listen-address",
            "listen-port",
            "allow",
            "secret",
            "max-agents",
            "max-services-per-agent",
            "weight-smoothing",
            "weight-threshold",
        ]
    );
    assert_eq!(
        AGENT_KEYS,
        [
            "director",
            "connection-retries",
            "master-timeout",
            "moduledir",
            "logfile",
            "loglevel",
            "master-port",
            "secret",
            "source-address",
        ]
    );
}

#[test]
fn limits_at_their_edges() {
    let ok = |k: &str, v: &str| master(&format!("{k} = {v}\n")).map(|_| ());
    for (k, lo, hi) in [
        ("keepalive-interval", "1", "86400"),
        ("keepalive-timeout", "1", "86400"),
        ("removal-interval", "1", "86400"),
        ("keepalive-retries", "0", "100"),
        ("listen-port", "1", "65535"),
        ("max-agents", "1", "1000000"),
        ("max-services-per-agent", "1", "65535"),
        ("weight-threshold", "0", "2147483647"),
        ("weight-smoothing", "0", "0.999"),
    ] {
        assert_eq!(ok(k, lo), Ok(()), "{k} = {lo}");
        assert_eq!(ok(k, hi), Ok(()), "{k} = {hi}");
    }
    for (k, v) in [
        ("keepalive-interval", "86401"),
        ("keepalive-retries", "101"),
        ("listen-port", "0"),
        ("listen-port", "65536"),
        ("max-agents", "0"),
        ("max-services-per-agent", "65536"),
        ("weight-threshold", "2147483648"),
        ("weight-smoothing", "1"),
        ("weight-smoothing", "-0.1"),
        ("weight-smoothing", "1e-3"),
        ("weight-smoothing", "NaN"),
        ("weight-smoothing", "."),
    ] {
        assert!(ok(k, v).is_err(), "{k} = {v}");
    }
    let a = |k: &str, v: &str| {
        agent(&format!(
            "director=192.0.2.1\n{k} = {v}\n[service]\nname=a\nprotocol=tcp\nport=1\nforwarding=DR\nmonitor=cpuload\n"
        ))
        .map(|_| ())
    };
    assert_eq!(a("connection-retries", "4294967295"), Ok(()));
    assert!(a("connection-retries", "4294967296").is_err());
    assert_eq!(a("master-timeout", "1"), Ok(()));
    assert!(a("master-timeout", "0").is_err());
    assert!(a("master-port", "0").is_err());
}

// ---------------------------------------------------------------------------------------------
// Ports by name, monitors

#[test]
fn ports_by_name_follow_the_protocol_and_the_database() {
    let text = |proto: &str, port: &str| {
        format!("[virtual-service]\nname=a\naddress=192.0.2.1\nprotocol={proto}\nport={port}\n")
    };
    let custom = ServicesDb::parse("web 8000/tcp www2\nweb 9000/udp\n");
    let port = |proto: &str, name: &str| {
        parse_master_config(&text(proto, name), "m", &custom)
            .map(|c| c.virtual_services[0].port)
            .map_err(|e| e.to_string())
    };
    assert_eq!(port("tcp", "web"), Ok(8000));
    assert_eq!(port("tcp", "www2"), Ok(8000));
    assert_eq!(port("udp", "web"), Ok(9000));
    assert_eq!(port("sctp", "web"), Ok(8000), "SCTP falls back to TCP");
    assert_eq!(
        port("udp", "www2"),
        Err("m:5: [virtual-service] `a` key `port`: invalid value `www2`: not a port number or a known udp service name; use a number 1..65535 or a name from /etc/services".into())
    );
    // The built-in table knows the HOWTO's names for both protocols.
    for (name, n) in [
        ("http", 80),
        ("smtp", 25),
        ("domain", 53),
        ("postgresql", 5432),
    ] {
        for proto in ["tcp", "udp"] {
            let got = master(&text(proto, name)).map(|c| c.virtual_services[0].port);
            assert_eq!(got, Ok(n), "{name}/{proto}");
        }
    }
}

#[test]
fn monitors_with_and_without_so() {
    for m in ["cpuload", "cpuload.so"] {
        let cfg = agent(&format!(
            "director=192.0.2.1\n[service]\nname=a\nprotocol=tcp\nport=80\nforwarding=DR\nmonitor={m}\n"
        ))
        .expect(m);
        assert_eq!(cfg.services[0].monitor, Monitor::CpuLoad);
    }
    // Options may come before the monitor line.
    let cfg = agent(
        "director=192.0.2.1\n[service]\nvalue=100\nname=a\nprotocol=tcp\nport=80\nforwarding=DR\nmonitor=constant\n",
    )
    .expect("loads");
    assert_eq!(cfg.services[0].monitor, Monitor::Constant { value: 100 });
}

#[test]
fn a_custom_monitor_from_the_embedding_program() {
    let mut monitors = MonitorRegistry::builtin();
    monitors
        .register(
            MonitorSpec::new("redis")
                .option("socket", true)
                .checked_option("db", false, |v| {
                    v.parse::<u8>()
                        .map(|_| ())
                        .map_err(|_| "expected a database number 0..255".to_string())
                }),
        )
        .expect("registers");
    let text = |extra: &str| {
        format!(
            "director=192.0.2.1\n[service]\nname=r\nprotocol=tcp\nport=6379\nforwarding=DR\nmonitor=redis.so\n{extra}"
        )
    };
    let parse = |t: &str| {
        parse_agent_config(t, "a", &db(), &monitors)
            .map(|c| c.services[0].monitor.clone())
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        parse(&text("socket = /run/redis.sock\ndb = 3\n")),
        Ok(Monitor::Custom {
            name: "redis".into(),
            options: [
                ("db".to_string(), "3".to_string()),
                ("socket".to_string(), "/run/redis.sock".to_string())
            ]
            .into_iter()
            .collect()
        })
    );
    assert_eq!(
        parse(&text("db = 3\n")),
        Err("a:2: [service] `r`: missing mandatory key `socket`".into())
    );
    assert_eq!(
        parse(&text("socket = x\ndb = 300\n")),
        Err(
            "a:9: [service] `r` key `db`: invalid value `300`: expected a database number 0..255"
                .into()
        )
    );
    assert_eq!(
        parse(&text("socket = x\nsokcet = y\n")),
        Err("a:9: [service] `r`: unknown key `sokcet` (did you mean `socket`?); allowed: name, protocol, port, forwarding, monitor, socket, db".into())
    );
    // Without the registration the name is unknown and the message lists the built-ins.
    assert_eq!(
        agent(&text("")).err(),
        Some("a.conf:7: [service] `r` key `monitor`: invalid value `redis.so`: unknown monitor; known: constant, cpuload, exec, perl (with or without `.so`)".into())
    );
}

// ---------------------------------------------------------------------------------------------
// Grammar details

#[test]
fn comments_spaces_and_case() {
    let cfg = master(
        "  # indented comment\n\
         \tloglevel=info\t# after a tab\n\
         logfile   =   /var/log/with#hash.log\n\
         [ virtual-service ]   # a comment after a header\n\
         name = web front\n\
         address = 192.0.2.1\n\
         protocol = TCP\n\
         port = 80\n\
         scheduler = WRR\n",
    )
    .expect("loads");
    assert_eq!(cfg.loglevel, LogLevel::Info);
    assert_eq!(cfg.logfile, PathBuf::from("/var/log/with#hash.log"));
    let vs = &cfg.virtual_services[0];
    assert_eq!(vs.name, "web front");
    assert_eq!(vs.protocol, Protocol::Tcp);
    assert_eq!(vs.scheduler.as_str(), "wrr");
}

#[test]
fn keys_and_section_names_are_case_sensitive() {
    assert_eq!(
        master("LogLevel = WARN\n").err(),
        Some("m.conf:1: unknown key `LogLevel` (did you mean `loglevel`?); allowed: logfile, loglevel, keepalive-interval, keepalive-timeout, keepalive-retries, removal-interval, listen-address, listen-port, allow, secret, max-agents, max-services-per-agent, weight-smoothing, weight-threshold".into())
    );
    assert_eq!(
        master("[Virtual-Service]\n").err(),
        Some("m.conf:1: section `[Virtual-Service]`: unknown element `Virtual-Service`; allowed here: virtual-service".into())
    );
}

// ---------------------------------------------------------------------------------------------
// Errors, with their exact messages

#[test]
fn master_errors() {
    let vs = "[virtual-service]\nname = w\naddress = 192.0.2.1\nprotocol = tcp\nport = 80\n";
    for (text, msg) in [
        ("x y\n".to_string(), "m.conf:1: malformed input: expected `key = value`, a `[section]` header or a `# comment`, found `x y`"),
        ("[virtual-service\n".into(), "m.conf:1: malformed input: section header `[virtual-service` does not end with `]`"),
        ("[a b]\n".into(), "m.conf:1: malformed input: invalid section name `a b`; names are letters, digits, `-`, `_` and `.`"),
        ("loglevel = WARN\nloglevel = INFO\n".into(), "m.conf:2: `loglevel` is given twice"),
        ("loglevel = LOUD\n".into(), "m.conf:1: key `loglevel`: invalid value `LOUD`: unknown log level; known: CRIT, ERR, WARN, INFO, DEBUG, VDEBUG"),
        ("logfile =\n".into(), "m.conf:1: key `logfile`: invalid value ``: a value is required"),
        ("keepalive-interval = 2.5\n".into(), "m.conf:1: key `keepalive-interval`: invalid value `2.5`: expected a whole number 1..86400 seconds"),
        ("keepalive-timeout = 0\n".into(), "m.conf:1: key `keepalive-timeout`: invalid value `0`: out of range; expected 1..86400 seconds"),
        ("keepalive-retries = -1\n".into(), "m.conf:1: key `keepalive-retries`: invalid value `-1`: expected a whole number 0..100"),
        ("listen-address = 239.1.1.1\n".into(), "m.conf:1: key `listen-address`: invalid address `239.1.1.1`: cannot listen on a multicast address"),
        ("listen-address = localhost\n".into(), "m.conf:1: key `listen-address`: invalid address `localhost`: not an IPv4 or IPv6 address"),
        ("allow = 10.0.0.0/40\n".into(), "m.conf:1: key `allow`: invalid value `10.0.0.0/40`: prefix length /40 is longer than 32; expected a network such as `192.0.2.0/24` or `2001:db8::/32`"),
        ("allow = any\n".into(), "m.conf:1: key `allow`: invalid value `any`: `any` is not an IPv4 or IPv6 address; expected a network such as `192.0.2.0/24` or `2001:db8::/32`"),
        ("weight-smoothing = 1\n".into(), "m.conf:1: key `weight-smoothing`: invalid value `1`: expected a decimal number from 0 (off) up to, not including, 1"),
        ("secret = \n".into(), "m.conf:1: key `secret`: invalid value ``: a value is required"),
        ("name = w\n".into(), "m.conf:1: key `name`: this key belongs in a `[virtual-service]` section; put a `[virtual-service]` line above it"),
        (format!("{vs}loglevel = INFO\n"), "m.conf:6: [virtual-service] `w` key `loglevel`: this is a global key; move it above the first section"),
        (format!("{vs}sched = rr\n"), "m.conf:6: [virtual-service] `w`: unknown key `sched`; allowed: name, address, protocol, port, scheduler, persistent"),
        (format!("{vs}schedular = rr\n"), "m.conf:6: [virtual-service] `w`: unknown key `schedular` (did you mean `scheduler`?); allowed: name, address, protocol, port, scheduler, persistent"),
        (format!("{vs}port = 81\n"), "m.conf:6: [virtual-service] `w`: `port` is given twice"),
        (format!("{vs}scheduler = fastest\n"), "m.conf:6: [virtual-service] `w` key `scheduler`: unknown scheduler `fastest`; known: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos, none"),
        (format!("{vs}persistent = 0\n"), "m.conf:6: [virtual-service] `w` key `persistent`: invalid value `0`: out of range; expected 1..2678400 seconds"),
        ("[virtual-service]\naddress = 192.0.2.1\n".into(), "m.conf:1: [virtual-service]: missing mandatory key `name`"),
        ("\n[virtual-service]\nname = w\n".into(), "m.conf:2: [virtual-service] `w`: missing mandatory key `address`"),
        ("[virtual-service]\nname = w\naddress = 192.0.2.1\n".into(), "m.conf:1: [virtual-service] `w`: missing mandatory key `protocol`"),
        ("[virtual-service]\nname = w\naddress = 192.0.2.1\nprotocol = tcp\n".into(), "m.conf:1: [virtual-service] `w`: missing mandatory key `port`"),
        (vs.replace("192.0.2.1", "0.0.0.0"), "m.conf:3: [virtual-service] `w` key `address`: invalid address `0.0.0.0`: the unspecified address is not usable here"),
        (vs.replace("192.0.2.1", "ff02::1"), "m.conf:3: [virtual-service] `w` key `address`: invalid address `ff02::1`: a multicast or broadcast address is not usable here"),
        (vs.replace("192.0.2.1", "192.0.2.1/32"), "m.conf:3: [virtual-service] `w` key `address`: invalid address `192.0.2.1/32`: not an IPv4 or IPv6 address"),
        (vs.replace("tcp", "icmp"), "m.conf:4: [virtual-service] `w` key `protocol`: invalid value `icmp`: unknown protocol; known: tcp, udp, sctp"),
        (vs.replace("80", "65536"), "m.conf:5: [virtual-service] `w` key `port`: port `65536` out of range (0..65535)"),
        (vs.replace("80", "0"), "m.conf:5: [virtual-service] `w` key `port`: invalid value `0`: port 0 (every port) needs `persistent`"),
        (vs.replace("80", "-80"), "m.conf:5: [virtual-service] `w` key `port`: invalid value `-80`: not a port number or a known tcp service name; use a number 1..65535 or a name from /etc/services"),
        (vs.replace("80", "smpt"), "m.conf:5: [virtual-service] `w` key `port`: invalid value `smpt`: not a port number or a known tcp service name (did you mean `smtp`?); use a number 1..65535 or a name from /etc/services"),
        (format!("{vs}\n{}", vs.replace("name = w", "name = v")), "m.conf:7: [virtual-service] `v`: duplicate virtual service tcp 192.0.2.1:80 (first defined at line 1)"),
        (format!("{vs}{}", vs.replace("80", "http")), "m.conf:6: [virtual-service] `w`: duplicate virtual service tcp 192.0.2.1:80 (first defined at line 1)"),
        (format!("{vs}{}", vs.replace("tcp", "udp")), "m.conf:6: [virtual-service] `w`: duplicate virtual service name `w` (first defined at line 1)"),
        ("[service]\n".into(), "m.conf:1: section `[service]`: unknown element `service`; allowed here: virtual-service"),
    ] {
        assert_eq!(master(&text).err().as_deref(), Some(msg), "{text}");
    }
}

#[test]
fn agent_errors() {
    let d = "director = 192.0.2.1\n";
    let svc =
        "[service]\nname = s\nprotocol = tcp\nport = 80\nforwarding = DR\nmonitor = cpuload\n";
    for (text, msg) in [
        ("".to_string(), "a.conf: missing mandatory key `director`"),
        (d.to_string(), "a.conf: missing mandatory section `[service]`"),
        ("director = 192.0.2.1 192.0.2.2\n".into(), "a.conf:1: key `director`: invalid value `192.0.2.1 192.0.2.2`: not an IP address or a host name (letters, digits, `-` and `.`)"),
        ("director = 192.0.2.256\n".into(), "a.conf:1: key `director`: invalid address `192.0.2.256`: not an IPv4 or IPv6 address"),
        ("director = 0.0.0.0\n".into(), "a.conf:1: key `director`: invalid address `0.0.0.0`: the unspecified address is not usable here"),
        ("director = ${DIRECTOR}\n".into(), "a.conf:1: key `director`: invalid value `${DIRECTOR}`: an unexpanded placeholder (the sample file's `$DIP`); write the director's IP address or host name"),
        (format!("{d}diretor = x\n"), "a.conf:2: unknown key `diretor` (did you mean `director`?); allowed: director, connection-retries, master-timeout, moduledir, logfile, loglevel, master-port, secret, source-address"),
        (format!("{d}port = 80\n"), "a.conf:2: key `port`: this key belongs in a `[service]` section; put a `[service]` line above it"),
        (format!("{d}command = /bin/true\n"), "a.conf:2: key `command`: this key belongs in a `[service]` section; put a `[service]` line above it"),
        (format!("{d}master-timeout = 10s\n"), "a.conf:2: key `master-timeout`: invalid value `10s`: expected a whole number 1..86400 seconds"),
        (format!("{d}connection-retries = many\n"), "a.conf:2: key `connection-retries`: invalid value `many`: expected a whole number 0..4294967295"),
        (format!("{d}master-port = 70000\n"), "a.conf:2: key `master-port`: invalid value `70000`: out of range; expected 1..65535"),
        (format!("{d}loglevel = verbose\n"), "a.conf:2: key `loglevel`: invalid value `verbose`: unknown log level; known: CRIT, ERR, WARN, INFO, DEBUG, VDEBUG"),
        (format!("{d}{svc}master-timeout = 5\n"), "a.conf:8: [service] `s` key `master-timeout`: this is a global key; move it above the first section"),
        (format!("{d}[virtual-service]\n"), "a.conf:2: section `[virtual-service]`: unknown element `virtual-service`; allowed here: service"),
        (format!("{d}[service]\nname = s\n"), "a.conf:2: [service] `s`: missing mandatory key `protocol`"),
        (format!("{d}[service]\nprotocol = tcp\n"), "a.conf:2: [service]: missing mandatory key `name`"),
        (format!("{d}{}", svc.replace("monitor = cpuload\n", "")), "a.conf:2: [service] `s`: missing mandatory key `monitor`"),
        (format!("{d}{}", svc.replace("forwarding = DR\n", "")), "a.conf:2: [service] `s`: missing mandatory key `forwarding`"),
        (format!("{d}{}", svc.replace("DR", "masq")), "a.conf:6: [service] `s` key `forwarding`: unknown forwarding method `masq`; known: NAT, TUN, DR"),
        (format!("{d}{}", svc.replace("tcp", "icmp")), "a.conf:4: [service] `s` key `protocol`: invalid value `icmp`: unknown protocol; known: tcp, udp, sctp"),
        (format!("{d}{}", svc.replace("80", "0")), "a.conf:5: [service] `s` key `port`: invalid value `0`: port 0 is not a usable port; use 1..65535"),
        (format!("{d}{}", svc.replace("80", "99999")), "a.conf:5: [service] `s` key `port`: port `99999` out of range (0..65535)"),
        (format!("{d}{}", svc.replace("80", "gopher")), "a.conf:5: [service] `s` key `port`: invalid value `gopher`: not a port number or a known tcp service name; use a number 1..65535 or a name from /etc/services"),
        (format!("{d}{}", svc.replace("cpuload", "loadavg.so")), "a.conf:7: [service] `s` key `monitor`: invalid value `loadavg.so`: unknown monitor; known: constant, cpuload, exec, perl (with or without `.so`)"),
        (format!("{d}{}", svc.replace("cpuload", "exec.so")), "a.conf:2: [service] `s`: missing mandatory key `command`"),
        (format!("{d}{}", svc.replace("cpuload", "perl")), "a.conf:2: [service] `s`: missing mandatory key `file`"),
        (format!("{d}{}", svc.replace("cpuload", "constant")), "a.conf:2: [service] `s`: missing mandatory key `value`"),
        (format!("{d}{}value = 101\n", svc.replace("cpuload", "constant")), "a.conf:8: [service] `s` key `value`: invalid value `101`: out of range; expected 0..100 (health)"),
        (format!("{d}{}value = high\n", svc.replace("cpuload", "constant")), "a.conf:8: [service] `s` key `value`: invalid value `high`: expected a whole number 0..100 (health)"),
        (format!("{d}{svc}command = /bin/true\n"), "a.conf:8: [service] `s`: unknown key `command`; allowed: name, protocol, port, forwarding, monitor"),
        (format!("{d}{}comand = /bin/true\n", svc.replace("cpuload", "exec")), "a.conf:8: [service] `s`: unknown key `comand` (did you mean `command`?); allowed: name, protocol, port, forwarding, monitor, command"),
        (format!("{d}{}command =\n", svc.replace("cpuload", "exec")), "a.conf:8: [service] `s` key `command`: invalid value ``: a value is required"),
        (format!("{d}{svc}name = t\n"), "a.conf:8: [service] `s`: `name` is given twice"),
        (format!("{d}{svc}{}", svc.replace("name = s", "name = t").replace("80", "http")), "a.conf:8: [service] `t`: duplicate service tcp port 80 (first defined at line 2)"),
        (format!("{d}{svc}{}", svc.replace("tcp", "udp")), "a.conf:8: [service] `s`: duplicate service name `s` (first defined at line 2)"),
    ] {
        assert_eq!(agent(&text).err().as_deref(), Some(msg), "{text}");
    }
}

#[test]
fn long_values_are_cut_in_messages() {
    let long = "x".repeat(1000);
    assert_eq!(
        master(&format!("loglevel = {long}\n")).err(),
        Some(format!(
            "m.conf:1: key `loglevel`: invalid value `{}...`: unknown log level; known: CRIT, ERR, WARN, INFO, DEBUG, VDEBUG",
            "x".repeat(40)
        ))
    );
}

// ---------------------------------------------------------------------------------------------
// Files and examples

#[test]
fn load_functions_read_files_and_name_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = dir.path().join("feedbackd-master.conf");
    std::fs::write(&m, "allow = 192.0.2.0/24\n").expect("write");
    let cfg = load_master_config(&m).expect("loads");
    assert_eq!(cfg.source, m.display().to_string());
    std::fs::write(&m, "loglevel = x\n").expect("write");
    let e = load_master_config(&m).expect_err("invalid");
    assert!(
        e.to_string()
            .starts_with(&format!("{}:1: key `loglevel`", m.display())),
        "{e}"
    );
    let missing = dir.path().join("nope.conf");
    let e = load_agent_config(&missing).expect_err("missing");
    assert!(e.to_string().contains("nope.conf"), "{e}");
}

#[test]
fn ambiguous_virtual_services_are_refused_naming_both_lines() {
    let vs = |name: &str, addr: &str, proto: &str, port: &str| {
        format!(
            "[virtual-service]\nname = {name}\naddress = {addr}\nprotocol = {proto}\nport = {port}\npersistent = 60\n"
        )
    };
    let advice = "an agent announces only a protocol and a port, so its real server could join \
                  either; give each tcp virtual service its own port";
    for (text, msg) in [
        // Two addresses, one port: an agent announcing tcp/80 fits both.
        (
            format!("{}{}", vs("a", "192.0.2.1", "tcp", "80"), vs("b", "192.0.2.2", "tcp", "http")),
            format!("m.conf:7: [virtual-service] `b`: ambiguous with [virtual-service] `a` (line 1): both take tcp port 80; {advice}"),
        ),
        (
            format!("{}{}", vs("a", "192.0.2.1", "tcp", "80"), vs("b", "2001:db8::1", "TCP", "80")),
            format!("m.conf:7: [virtual-service] `b`: ambiguous with [virtual-service] `a` (line 1): both take tcp port 80; {advice}"),
        ),
        // Port 0 takes every port, before or after the other.
        (
            format!("{}{}", vs("all", "192.0.2.1", "tcp", "0"), vs("www", "192.0.2.2", "tcp", "80")),
            format!("m.conf:7: [virtual-service] `www`: ambiguous with [virtual-service] `all` (line 1): `all` takes every tcp port (port 0), including tcp port 80; {advice}"),
        ),
        (
            format!("{}\n{}", vs("www", "192.0.2.2", "tcp", "80"), vs("all", "192.0.2.2", "tcp", "0")),
            format!("m.conf:8: [virtual-service] `all`: ambiguous with [virtual-service] `www` (line 1): `all` takes every tcp port (port 0), including tcp port 80; {advice}"),
        ),
        (
            format!("{}{}", vs("x", "192.0.2.1", "tcp", "0"), vs("y", "192.0.2.2", "tcp", "0")),
            format!("m.conf:7: [virtual-service] `y`: ambiguous with [virtual-service] `x` (line 1): both take every tcp port (port 0); {advice}"),
        ),
        // The first ambiguous pair is reported; a true duplicate is still a duplicate.
        (
            format!("{}{}{}", vs("a", "192.0.2.1", "udp", "53"), vs("b", "192.0.2.1", "tcp", "80"), vs("c", "192.0.2.3", "tcp", "80")),
            format!("m.conf:13: [virtual-service] `c`: ambiguous with [virtual-service] `b` (line 7): both take tcp port 80; {advice}"),
        ),
        (
            format!("{}{}", vs("a", "192.0.2.1", "tcp", "80"), vs("b", "192.0.2.1", "tcp", "80")),
            "m.conf:7: [virtual-service] `b`: duplicate virtual service tcp 192.0.2.1:80 (first defined at line 1)".to_string(),
        ),
    ] {
        assert_eq!(master(&text).err(), Some(msg), "{text}");
    }
    // Different protocols or different ports do not compete; each real has one match.
    let cfg = master(&format!(
        "{}{}{}{}",
        vs("w", "192.0.2.1", "tcp", "80"),
        vs("s", "192.0.2.1", "tcp", "443"),
        vs("d", "192.0.2.1", "udp", "80"),
        vs("any", "192.0.2.1", "sctp", "0"),
    ))
    .expect("unambiguous");
    for (proto, port, name) in [
        (Protocol::Tcp, 80, Some("w")),
        (Protocol::Tcp, 443, Some("s")),
        (Protocol::Udp, 80, Some("d")),
        (Protocol::Sctp, 80, Some("any")),
        (Protocol::Udp, 443, None),
    ] {
        assert_eq!(
            cfg.virtual_service_for(proto, port)
                .map(|v| v.name.as_str()),
            name
        );
    }
}

#[test]
fn ipv4_mapped_allow_networks_match_ipv4_agents() {
    let cfg = master("allow = ::ffff:10.0.0.0/104\nallow = ::ffff:192.0.2.7\n").expect("loads");
    assert_eq!(
        cfg.allow,
        vec![
            "10.0.0.0/8".parse::<Cidr>().expect("cidr"),
            "192.0.2.7/32".parse::<Cidr>().expect("cidr")
        ]
    );
    for (peer, allowed) in [
        ("10.1.2.3", true),
        ("::ffff:10.1.2.3", true),
        ("192.0.2.7", true),
        ("::ffff:192.0.2.7", true),
        ("11.0.0.1", false),
        ("::ffff:11.0.0.1", false),
        ("192.0.2.8", false),
        ("2001:db8::1", false),
    ] {
        assert_eq!(cfg.allows(ip(peer)), allowed, "{peer}");
    }
}

/// "Usługi" and "sieć agentów" in ISO-8859-2: not UTF-8.
const USLUGI: &[u8] = b"Us\xb3ugi";
const SIEC: &[u8] = b"sie\xe6 agent\xf3w";

#[test]
fn latin2_comments_load_and_other_latin2_bytes_are_located() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = dir.path().join("feedbackd-master.conf");
    let master_bytes = [
        b"# ".as_slice(),
        USLUGI,
        b"\n  # ",
        SIEC,
        b"\nallow = 192.0.2.0/24   # ",
        SIEC,
        b"\n[virtual-service]\t# ",
        USLUGI,
        b"\nname = www\naddress = 192.0.2.1\nprotocol = tcp\nport = 80\n",
    ]
    .concat();
    std::fs::write(&m, &master_bytes).expect("write");
    let cfg = load_master_config(&m).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.allow.len(), 1);
    assert_eq!(cfg.virtual_services[0].name, "www");

    let a = dir.path().join("feedbackd-agent.conf");
    let agent_bytes = [
        b"director = 192.0.2.1 # ".as_slice(),
        SIEC,
        b"\n[service]\nname = www\nprotocol = tcp\nport = 80\nforwarding = DR\n",
        b"monitor = exec\ncommand = /usr/bin/check --quiet\t# ",
        USLUGI,
        b"\n",
    ]
    .concat();
    std::fs::write(&a, &agent_bytes).expect("write");
    let cfg = load_agent_config_with(&a, &db(), &MonitorRegistry::builtin())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg.services[0].monitor,
        Monitor::Exec {
            command: "/usr/bin/check --quiet".into()
        }
    );

    let hint = "bytes that are not UTF-8 (such as ISO-8859-2 text) are accepted only in a \
                comment: a line starting with `#`, or the end of a line after ` #`";
    for (bytes, at, byte) in [
        // in a value
        (
            [
                b"allow = 192.0.2.0/24\nlogfile = /var/log/".as_slice(),
                USLUGI,
                b".log\n",
            ]
            .concat(),
            "2:22",
            "0xB3",
        ),
        // a `#` inside a word does not start a comment
        (
            [b"secret = abc#".as_slice(), SIEC, b"\n"].concat(),
            "1:17",
            "0xE6",
        ),
        // in a section name
        ([b"[".as_slice(), USLUGI, b"]\n"].concat(), "1:4", "0xB3"),
    ] {
        std::fs::write(&m, &bytes).expect("write");
        let e = load_master_config(&m).expect_err("not a comment");
        assert_eq!(
            e.to_string(),
            format!(
                "{}:{at}: not valid UTF-8 (byte {byte}); {hint}",
                m.display()
            )
        );
    }
}

#[test]
fn services_db_accepts_latin2_comments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("services");
    let text = [
        b"# ".as_slice(),
        USLUGI,
        b"\nhttp 80/tcp www # ",
        SIEC,
        b"\ngopher\t70/tcp#",
        USLUGI,
        b"\n",
    ]
    .concat();
    std::fs::write(&p, &text).expect("write");
    let db = ServicesDb::load(&p).unwrap_or_else(|e| panic!("{e}"));
    let cfg = parse_agent_config(
        "director = 192.0.2.1\n[service]\nname = w\nprotocol = tcp\nport = gopher\nforwarding = DR\nmonitor = cpuload\n",
        "a.conf",
        &db,
        &MonitorRegistry::builtin(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.services[0].port, 70);
    std::fs::write(&p, [b"http 80/tcp ".as_slice(), USLUGI, b"\n"].concat()).expect("write");
    let e = ServicesDb::load(&p).expect_err("an alias that is not UTF-8");
    assert!(
        e.to_string().starts_with(&format!(
            "{}:1:15: not valid UTF-8 (byte 0xB3)",
            p.display()
        )),
        "{e}"
    );
}

fn example(path: &str) -> PathBuf {
    Path::new(EXAMPLES).join(path)
}

#[test]
fn every_good_example_loads() {
    let mut seen = 0;
    for entry in std::fs::read_dir(example("feedbackd")).expect("examples/feedbackd") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(example(&format!("feedbackd/{name}"))).expect("read");
        let label = format!("examples/feedbackd/{name}");
        if name.contains("master") {
            parse_master_config(&text, &label, &db()).unwrap_or_else(|e| panic!("{e}"));
        } else {
            parse_agent_config(&text, &label, &db(), &MonitorRegistry::builtin())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        seen += 1;
    }
    assert_eq!(
        seen, 7,
        "master, agent, agent-minimal, the two HOWTO samples and the two trial files"
    );
}

#[test]
fn good_examples_load() {
    let m = example("feedbackd/master.conf");
    let text = std::fs::read_to_string(&m).expect("master.conf");
    let cfg = parse_master_config(&text, "examples/feedbackd/master.conf", &db())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.virtual_services.len(), 2);
    assert_eq!(cfg.check_allow_list(), Ok(()));
    assert!(cfg.allows(ip("192.0.2.1")));
    assert!(cfg.secret.is_some());
    for f in ["agent.conf", "agent-minimal.conf"] {
        let p = example(&format!("feedbackd/{f}"));
        let cfg = load_agent_config_with(&p, &db(), &MonitorRegistry::builtin())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.director, Director::Addr(ip("192.0.2.1")));
    }
    let cfg = load_agent_config_with(
        &example("feedbackd/agent.conf"),
        &db(),
        &MonitorRegistry::builtin(),
    )
    .expect("agent.conf");
    let mut kinds: Vec<&str> = cfg.services.iter().map(|s| s.monitor.name()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["constant", "cpuload", "exec", "perl"]);
    // Every virtual service of the master example has an agent service to match.
    let master = parse_master_config(&text, "m", &db()).expect("master");
    for vs in &master.virtual_services {
        assert!(
            cfg.services
                .iter()
                .any(|s| s.protocol == vs.protocol && s.port == vs.port),
            "{}",
            vs.name
        );
    }
}

fn broken_files() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(example("broken-feedbackd"))
        .expect("examples/broken-feedbackd")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    v.sort();
    v
}

fn load_broken(file: &str, kind: &str) -> Result<(), lvs_core::ParseError> {
    let bytes = std::fs::read(example(&format!("broken-feedbackd/{file}")))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let label = format!("examples/broken-feedbackd/{file}");
    // As the loaders read (some examples are not UTF-8).
    let text = fsutil::decode_text(bytes, &label, fsutil::CommentRule::AfterBlank)?;
    match kind {
        "master" => parse_master_config(&text, &label, &db()).map(|_| ()),
        "agent" => {
            parse_agent_config(&text, &label, &db(), &MonitorRegistry::builtin()).map(|_| ())
        }
        other => panic!("{file}: kind `{other}` is neither master nor agent"),
    }
}

#[test]
fn every_broken_example_fails_with_its_expected_message() {
    let tsv =
        std::fs::read_to_string(example("broken-feedbackd/EXPECTED.tsv")).expect("EXPECTED.tsv");
    let mut rows = Vec::new();
    for line in tsv.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let mut cols = line.splitn(3, '\t');
        let (Some(file), Some(kind), Some(msg)) = (cols.next(), cols.next(), cols.next()) else {
            panic!("not file<TAB>kind<TAB>message: {line}");
        };
        assert!(!rows.contains(&file.to_string()), "{file} has two rows");
        rows.push(file.to_string());
        match load_broken(file, kind) {
            Ok(()) => panic!("{file} should fail"),
            Err(e) => assert_eq!(e.to_string(), msg, "{file}"),
        }
    }
    let files = broken_files();
    for f in &files {
        assert!(rows.contains(f), "{f} has no row in EXPECTED.tsv");
    }
    assert_eq!(rows.len(), files.len(), "a row without a file");
}

#[test]
fn broken_examples_cover_every_error_kind_a_feedbackd_file_can_have() {
    let tsv =
        std::fs::read_to_string(example("broken-feedbackd/EXPECTED.tsv")).expect("EXPECTED.tsv");
    let mut kinds = std::collections::BTreeSet::new();
    for line in tsv.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let mut cols = line.splitn(3, '\t');
        let (Some(file), Some(kind)) = (cols.next(), cols.next()) else {
            continue;
        };
        let e = load_broken(file, kind).expect_err(file);
        let name = format!("{:?}", e.kind);
        kinds.insert(name.split(['(', ' ', '{']).next().unwrap_or("").to_string());
    }
    for k in [
        "Malformed",
        "UnknownElement",
        "UnknownAttribute",
        "Missing",
        "DuplicateAttribute",
        "InvalidValue",
        "PortOutOfRange",
        "InvalidAddress",
        "UnknownScheduler",
        "UnknownForwarding",
        "Duplicate",
        "Structure",
        "InvalidEncoding",
    ] {
        assert!(kinds.contains(k), "no broken example gives {k}: {kinds:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// No panic on nasty input

#[test]
fn nasty_inputs_do_not_panic() {
    let nasty = [
        "",
        "\n\n\n",
        "=",
        "==",
        "a==b",
        "[",
        "]",
        "[]",
        "[[service]]",
        "[service]]",
        "#",
        " #",
        "a = #",
        "\u{feff}",
        "\u{feff}\u{feff}a=1",
        "\r",
        "\r\r\n",
        "a\r= b",
        "\u{7f}",
        "a = b\u{85}",
        "[service]\nport = 99999999999999999999999999\n",
        "[virtual-service]\nport = 4294967296\n",
        "allow = ::ffff:1.2.3.4/129\nallow = 1.2.3.4/255\nallow = /\n",
        "director = .\n",
        "director = ..\n",
        "director = \u{00e9}t\u{00e9}.example\n",
        "weight-smoothing = 0.99999999999999999999999999999\n",
        "weight-smoothing = 00000000000000000000000000.5\n",
        "[service]\nmonitor = .so\n",
        "[service]\nmonitor = so\n",
        "[service]\nmonitor = \n",
        "[service]\nmonitor = exec.so.so\n",
        "[virtual-service]\nname = \u{1F600}\naddress = ::\nprotocol = sctp\nport = 0\npersistent = 99999999999\n",
    ];
    for text in nasty {
        let _ = master(text);
        let _ = agent(text);
        let _ = RawConfigFile::parse(text, "f");
    }
    let many_sections = "[service]\nname=a\n".repeat(10_000);
    assert!(agent(&many_sections).is_err());
    let long_line = format!("command = {}\n", "y".repeat(1_000_000));
    assert!(agent(&long_line).is_err());
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = master(&text);
        let _ = agent(&text);
    }

    #[test]
    fn line_noise_from_the_grammar_never_panics(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("[service]".to_string()),
                Just("[virtual-service]".to_string()),
                Just("# c".to_string()),
                Just(String::new()),
                ("(name|address|protocol|port|forwarding|monitor|value|command|file|scheduler|persistent|director|allow|loglevel)",
                 "[ -~]{0,12}")
                    .prop_map(|(k, v)| format!("{k} = {v}")),
            ],
            0..30,
        )
    ) {
        let text = lines.join("\n");
        let _ = master(&text);
        let _ = agent(&text);
    }
}

#[test]
fn source_address_must_be_a_unicast_address() {
    for bad in ["lvs.example.org", "224.0.0.1", "0.0.0.0", "10.0.0"] {
        let text = format!(
            "director = 192.0.2.1\nsource-address = {bad}\n[service]\nname=a\nprotocol=tcp\n\
             port=80\nforwarding=DR\nmonitor=cpuload\n"
        );
        let err = agent(&text).expect_err(bad);
        assert!(
            err.contains("a.conf:2") && err.contains("source-address"),
            "{bad}: {err}"
        );
    }
}
