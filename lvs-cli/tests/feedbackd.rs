//! `feedbackd-master` and `feedbackd-agent` run as an operator runs them, on loopback: the
//! master with its memory table (`--memory`, no root), agents with the constant monitor.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{free_port, write, Daemon};

const MASTER: &str = env!("CARGO_BIN_EXE_feedbackd-master");
const AGENT: &str = env!("CARGO_BIN_EXE_feedbackd-agent");

#[test]
fn master_and_agents_on_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let master_conf = write(
        dir.path(),
        "master.conf",
        &format!(
            "logfile = -\nloglevel = DEBUG\nkeepalive-interval = 1\nkeepalive-timeout = 2\n\
             keepalive-retries = 2\nremoval-interval = 1\nlisten-address = 127.0.0.1\n\
             listen-port = {port}\nallow = 127.0.4.0/24\n\
             [virtual-service]\nname = www\naddress = 10.2.2.2\nprotocol = tcp\nport = 80\n\
             scheduler = wrr\n"
        ),
    );
    let agent_conf = |ip: &str, value: u8| {
        write(
            dir.path(),
            &format!("agent-{ip}.conf"),
            &format!(
                "director = 127.0.0.1\nmaster-port = {port}\nsource-address = {ip}\n\
                 master-timeout = 5\nlogfile = -\n\
                 [service]\nname = www\nprotocol = tcp\nport = http\nforwarding = DR\n\
                 monitor = constant.so\nvalue = {value}\n"
            ),
        )
    };
    let mut master = Daemon::start(MASTER, &master_conf, &["--memory"]);
    master.expect(
        &["listening for agents on 127.0.0.1"],
        Duration::from_secs(10),
    );
    let mut a = Daemon::start(AGENT, &agent_conf("127.0.4.1", 42), &[]);
    let b = Daemon::start(AGENT, &agent_conf("127.0.4.2", 77), &[]);
    master.expect(&["127.0.4.1:80", "weight 0"], Duration::from_secs(10));
    master.expect(
        &["127.0.4.1:80", "health 42, weight 42"],
        Duration::from_secs(10),
    );
    master.expect(
        &["127.0.4.2:80", "health 77, weight 77"],
        Duration::from_secs(10),
    );
    a.expect(&["master accepted the session"], Duration::from_secs(5));
    // SIGTERM: the agent sends NECP_STOP and exits 0; the master quiesces, then removes.
    a.signal("TERM");
    assert_eq!(a.wait(Duration::from_secs(10)), Some(0));
    master.expect(
        &["quiesced", "127.0.4.1:80", "NECP_STOP"],
        Duration::from_secs(5),
    );
    master.expect(&["removed", "127.0.4.1:80"], Duration::from_secs(5));
    // An agent killed hard: its connection closes, the master quiesces it at once.
    b.signal("KILL");
    master.expect(&["quiesced", "127.0.4.2:80"], Duration::from_secs(5));
    // An agent outside the allow list is refused and told nothing more.
    let _c = Daemon::start(AGENT, &agent_conf("127.0.5.1", 10), &[]);
    master.expect(
        &["refused agent 127.0.5.1", "allow"],
        Duration::from_secs(10),
    );
    master.signal("TERM");
    assert_eq!(master.wait(Duration::from_secs(5)), Some(0));
}

#[test]
fn the_master_refuses_to_start_without_an_allow_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write(
        dir.path(),
        "master.conf",
        "listen-address = 127.0.0.1\nlisten-port = 1\n[virtual-service]\nname = www\n\
         address = 10.2.2.2\nprotocol = tcp\nport = 80\nscheduler = wrr\n",
    );
    let out = Command::new(MASTER)
        .args(["--memory", "-c"])
        .arg(&conf)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no `allow` line") && err.contains("allow = 0.0.0.0/0"),
        "{err}"
    );
}

#[test]
fn an_agent_gives_up_after_its_connection_retries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port(); // nobody listens there
    let conf = write(
        dir.path(),
        "agent.conf",
        &format!(
            "director = 127.0.0.1\nmaster-port = {port}\nconnection-retries = 2\nlogfile = -\n\
             [service]\nname = www\nprotocol = tcp\nport = 80\nforwarding = NAT\n\
             monitor = constant\nvalue = 1\n"
        ),
    );
    let mut a = Daemon::start(AGENT, &conf, &[]);
    a.expect(
        &["giving up after 2 failed connection attempts"],
        Duration::from_secs(10),
    );
    assert_eq!(a.wait(Duration::from_secs(5)), Some(1));
}

#[test]
fn a_monitor_that_cannot_load_stops_the_agent_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = write(
        dir.path(),
        "agent.conf",
        "director = 127.0.0.1\nlogfile = -\n[service]\nname = www\nprotocol = tcp\nport = 80\n\
         forwarding = NAT\nmonitor = perl\nfile = /nonexistent/monitor.pl\n",
    );
    let out = Command::new(AGENT)
        .arg("-c")
        .arg(&conf)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("agent.conf:3")
            && err.contains("www")
            && err.contains("/nonexistent/monitor.pl"),
        "{err}"
    );
}

#[test]
fn the_log_level_and_file_are_honoured() {
    // loglevel = WARN into a file: the refused agent (a warning) is there, the accepted one's
    // "connected" (information) is not.
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let log = dir.path().join("master.log");
    let conf = write(
        dir.path(),
        "master.conf",
        &format!(
            "logfile = {}\nloglevel = WARN\nlisten-address = 127.0.0.1\nlisten-port = {port}\n\
             allow = 127.0.4.0/24\nkeepalive-interval = 1\n\
             [virtual-service]\nname = www\naddress = 10.2.2.2\nprotocol = tcp\nport = 80\n\
             scheduler = wrr\n",
            log.display()
        ),
    );
    let mut master = Command::new(MASTER)
        .args(["--memory", "-c"])
        .arg(&conf)
        .env_remove("RUST_LOG")
        .spawn()
        .expect("master");
    let agent = |ip: &str| {
        write(
            dir.path(),
            &format!("agent-{ip}.conf"),
            &format!(
                "director = 127.0.0.1\nmaster-port = {port}\nsource-address = {ip}\nlogfile = -\n\
                 connection-retries = 1\n[service]\nname = www\nprotocol = tcp\nport = 80\n\
                 forwarding = DR\nmonitor = constant\nvalue = 5\n"
            ),
        )
    };
    std::thread::sleep(Duration::from_millis(500));
    let _ok = Daemon::start(AGENT, &agent("127.0.4.9"), &[]);
    let _refused = Daemon::start(AGENT, &agent("127.0.8.9"), &[]);
    let start = std::time::Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("refused agent 127.0.8.9") {
            break text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "log so far:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(1500));
    let text = std::fs::read_to_string(&log).unwrap_or(text);
    assert!(text.contains("WARN"), "{text}");
    assert!(!text.contains("connected"), "INFO lines at WARN:\n{text}");
    assert!(!text.contains("\u{1b}["), "colour codes in a file:\n{text}");
    let _ = master.kill();
    let _ = master.wait();
}
