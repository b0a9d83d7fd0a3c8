//! `surealived --ipvs` against the kernel's IPVS: the table applied at start, a failing real's
//! weight going to 0 and back, a reload changing one weight, and a removed real deleted; run in
//! a guest kernel by scripts/kernel-tests.sh. The reals are HTTP servers of the test on
//! 127.0.8.x (local to the guest).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::HttpReal;

const BIN: &str = env!("CARGO_BIN_EXE_surealived");
const VIP: &str = "10.8.8.8:80";

/// The guest's ipvsadm's stdout, whatever its status (a cleanup may delete what is not there).
fn ipvsadm(args: &[&str]) -> String {
    String::from_utf8_lossy(&common::ipvsadm_output(args).stdout).into_owned()
}

/// The weight of `real` (ip:port) in the service, `None` when absent.
fn weight(real: &str) -> Option<u32> {
    ipvsadm(&["-L", "-n", "-t", VIP]).lines().find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.len() >= 4 && cols[0] == "->" && cols[1] == real)
            .then(|| cols[3].parse().expect("weight column"))
    })
}

fn wait_weight(real: &str, want: Option<u32>, within: Duration) {
    let start = Instant::now();
    loop {
        let got = weight(real);
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < within,
            "{real}: weight {got:?}, want {want:?}\n{}",
            ipvsadm(&["-L", "-n"])
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn xml(reals: &[String]) -> String {
    format!(
        "<surealived>\n<virtual name=\"k\" addr=\"10.8.8.8\" port=\"80\" proto=\"tcp\" sched=\"wrr\" rt=\"masq\">\n\
         \x20 <tester loopdelay=\"1\" timeout=\"1\" proto=\"http\" url=\"/\" host=\"t\" testport=\"1\"/>\n\
         {}\n</virtual>\n</surealived>\n",
        reals.join("\n")
    )
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(d: &Daemon, sig: &str) {
    common::signal(&d.0, sig);
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn surealived_applies_its_table_to_the_kernel() {
    let _ = ipvsadm(&["-D", "-t", VIP]);
    let a = HttpReal::start("127.0.8.2");
    let b = HttpReal::start("127.0.8.3");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();
    let cfg = dir.path().join("surealived.cfg");
    std::fs::write(
        &cfg,
        format!(
            "log stderr\nlogging info\nstartup_delay_ms 200\nlisten_port 0\nlock_sync_file {d}/lock\n\
             full_sync_file {d}/ipvsfull.cfg\nfull_reload_file {d}/reload\ndiff_sync_dir {d}/diffs\n\
             offline_dump {d}/offline.dump\noverride_dump {d}/override.dump\n\
             stats_dump {d}/stats.dump\nnotify_dump {d}/notify.dump\n"
        ),
    )
    .expect("cfg");
    let xml_path = dir.path().join("services.xml");
    std::fs::write(&xml_path, xml(&[a.xml("a", 10), b.xml("b", 5)])).expect("xml");
    let daemon = Daemon(
        Command::new(BIN)
            .arg("--ipvs")
            .arg("-c")
            .arg(&cfg)
            .arg(&xml_path)
            .stdout(Stdio::null())
            .spawn()
            .expect("start surealived"),
    );
    let within = Duration::from_secs(15);
    wait_weight(&a.hostport(), Some(10), within);
    wait_weight(&b.hostport(), Some(5), within);
    assert!(ipvsadm(&["-L", "-n"]).contains("TCP  10.8.8.8:80 wrr"));

    // A failing real is drained (weight 0, not removed) and comes back.
    a.set_up(false);
    wait_weight(&a.hostport(), Some(0), within);
    a.set_up(true);
    wait_weight(&a.hostport(), Some(10), within);

    // A reload: b's weight changes, a goes.
    std::fs::write(&xml_path, xml(&[b.xml("b", 7)])).expect("xml");
    signal(&daemon, "HUP");
    wait_weight(&b.hostport(), Some(7), within);
    wait_weight(&a.hostport(), None, within);
    // --ipvs writes no file for ipvssync.
    assert!(!dir.path().join("ipvsfull.cfg").exists());

    signal(&daemon, "TERM");
    let mut daemon = daemon;
    let end = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = daemon.0.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < end, "surealived did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    // The table stays as it was (ipvssync's behaviour too).
    assert_eq!(weight(&b.hostport()), Some(7));
    let _ = ipvsadm(&["-D", "-t", VIP]);
}
