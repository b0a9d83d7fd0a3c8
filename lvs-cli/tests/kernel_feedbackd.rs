//! `feedbackd-master` and `feedbackd-agent` against the kernel's IPVS, as an operator runs
//! them; run in a guest kernel by scripts/kernel-tests.sh. The agents connect from 127.0.7.x
//! (local to the guest, so the kernel shows their forwarding as local node).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_port, ipvsadm, write, Daemon};

const MASTER: &str = env!("CARGO_BIN_EXE_feedbackd-master");
const AGENT: &str = env!("CARGO_BIN_EXE_feedbackd-agent");

/// The weight of real `ip:80` of 10.7.7.7:80 in `ipvsadm -Ln`, `None` when absent (or the
/// service is, as before the master created it).
fn weight(ip: &str) -> Option<u32> {
    let path = std::env::var("LVS_IPVSADM").expect("LVS_IPVSADM: run by scripts/kernel-tests.sh");
    let out = Command::new(&path)
        .args(["-L", "-n", "-t", "10.7.7.7:80"])
        .output()
        .expect("run ipvsadm");
    let listing = String::from_utf8_lossy(&out.stdout);
    let needle = format!("{ip}:80");
    listing.lines().find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.len() >= 4 && cols[0] == "->" && cols[1] == needle)
            .then(|| cols[3].parse().expect("weight column"))
    })
}

fn wait_weight(ip: &str, want: Option<u32>, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let got = weight(ip);
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{ip}: weight {got:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn master_conf(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    write(
        dir,
        "master.conf",
        &format!(
            "logfile = -\nkeepalive-interval = 1\nkeepalive-timeout = 1\nkeepalive-retries = 2\n\
             removal-interval = 4\nlisten-address = 127.0.0.1\nlisten-port = {port}\n\
             allow = 127.0.7.0/24\n\
             [virtual-service]\nname = www\naddress = 10.7.7.7\nprotocol = tcp\nport = http\n\
             scheduler = wrr\n"
        ),
    )
}

fn agent_conf(dir: &std::path::Path, port: u16, ip: &str, value: u8) -> std::path::PathBuf {
    write(
        dir,
        &format!("agent-{ip}.conf"),
        &format!(
            "director = 127.0.0.1\nmaster-port = {port}\nsource-address = {ip}\nlogfile = -\n\
             [service]\nname = www\nprotocol = tcp\nport = 80\nforwarding = DR\n\
             monitor = constant\nvalue = {value}\n"
        ),
    )
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn daemons_program_the_kernel_and_stop_quiesces() {
    ipvsadm(&["-C"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut master = Daemon::start(MASTER, &master_conf(dir.path(), port), &[]);
    master.expect(&["listening for agents"], Duration::from_secs(10));
    let mut a = Daemon::start(AGENT, &agent_conf(dir.path(), port, "127.0.7.1", 64), &[]);
    let _b = Daemon::start(AGENT, &agent_conf(dir.path(), port, "127.0.7.2", 16), &[]);
    wait_weight("127.0.7.1", Some(64), Duration::from_secs(10));
    wait_weight("127.0.7.2", Some(16), Duration::from_secs(10));
    println!("{}", ipvsadm(&["-L", "-n"]));
    // SIGTERM: the agent's NECP_STOP quiesces its real in the kernel, then it is removed.
    a.signal("TERM");
    assert_eq!(a.wait(Duration::from_secs(10)), Some(0));
    // Quiesced at once (weight 0, still in the kernel), removed at a later check.
    let quiesced = wait_weight("127.0.7.1", Some(0), Duration::from_secs(2));
    let removed = wait_weight("127.0.7.1", None, Duration::from_secs(6));
    println!(
        "after STOP: weight 0 in {} ms, removed {} ms later",
        quiesced.as_millis(),
        removed.as_millis()
    );
    assert_eq!(weight("127.0.7.2"), Some(16));
    // The master stops and leaves the kernel as it is.
    master.signal("TERM");
    assert_eq!(master.wait(Duration::from_secs(5)), Some(0));
    assert_eq!(weight("127.0.7.2"), Some(16));
    ipvsadm(&["-C"]);
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn dry_run_changes_nothing() {
    ipvsadm(&["-C"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut master = Daemon::start(MASTER, &master_conf(dir.path(), port), &["-n"]);
    master.expect(&["listening for agents"], Duration::from_secs(10));
    let _a = Daemon::start(AGENT, &agent_conf(dir.path(), port, "127.0.7.3", 50), &[]);
    master.expect(
        &["dry run: would set weight", "127.0.7.3:80", "to 50"],
        Duration::from_secs(10),
    );
    assert_eq!(
        ipvsadm(&["-S", "-n"]).trim(),
        "",
        "the dry run changed the kernel"
    );
}
