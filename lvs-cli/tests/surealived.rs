//! Process tests of the `surealived` daemon: a temp cfg with every path in a temp dir, an XML
//! whose reals are HTTP servers this test runs on 127.0.0.x, and the files the daemon writes,
//! checked by lvs-core's parsers and by a strict checker written from the original's grammar
//! (reference §3.9).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::HttpReal;
use lvs_core::formats::diffs::{parse_all, DiffLine};
use lvs_core::formats::dumps::{OfflineDump, StatsDump};
use lvs_core::formats::ipvsfull::FullConfig;
use regex::Regex;

const BIN: &str = env!("CARGO_BIN_EXE_surealived");
/// loopdelay (1 s) + timeout (1 s) + a generous margin for a loaded machine.
const CHANGE_WITHIN: Duration = Duration::from_secs(12);

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display();
        let cfg = format!(
            "log stderr\nlogging debug\nstartup_delay_ms 200\nlisten_port 0\n\
             lock_sync_file {d}/ipvsfull.lock\nfull_sync_file {d}/ipvsfull.cfg\n\
             full_reload_file {d}/ipvsfull.reload\ndiff_sync_dir {d}/diffs\n\
             offline_dump {d}/offline.dump\noverride_dump {d}/override.dump\n\
             stats_dump {d}/stats.dump\nstats_dump_savesec 1\nnotify_dump {d}/notify.dump\n\
             debug_comm_path {d}/comm\nstats_dir {d}/stats\n"
        );
        std::fs::write(dir.path().join("surealived.cfg"), cfg).expect("cfg");
        Setup { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An executable `/bin/sh` script `name` in the directory with `body`.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    fn write_xml(&self, body: &str) {
        std::fs::write(
            self.path("services.xml"),
            format!("<surealived>\n{body}</surealived>\n"),
        )
        .expect("xml");
    }

    fn start(&self, extra: &[&str]) -> Daemon {
        let log = std::fs::File::create(self.path("stderr.log")).expect("log");
        let child = Command::new(BIN)
            .arg("-c")
            .arg(self.path("surealived.cfg"))
            .args(extra)
            .arg(self.path("services.xml"))
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start surealived");
        Daemon { child }
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    fn log(&self) -> String {
        self.read("stderr.log")
    }

    /// Every diff file's text, in name order.
    fn diffs(&self) -> String {
        let Ok(rd) = std::fs::read_dir(self.path("diffs")) else {
            return String::new();
        };
        let mut names: Vec<PathBuf> = rd.map(|e| e.expect("entry").path()).collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("diff"))
            .collect()
    }

    fn wait_for(&self, what: &str, within: Duration, mut ok: impl FnMut(&Setup) -> bool) {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if ok(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{what}: not within {within:?}\n--- diffs:\n{}\n--- log:\n{}",
            self.diffs(),
            self.log()
        );
    }
}

struct Daemon {
    child: Child,
}

impl Daemon {
    fn signal(&self, sig: &str) {
        common::signal(&self.child, sig);
    }

    fn stop(&mut self) -> Option<i32> {
        self.signal("TERM");
        common::wait_exit(&mut self.child, Duration::from_secs(10), "surealived")
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn virtual_xml(name: &str, port: u16, extra: &str, reals: &[String]) -> String {
    format!(
        "<virtual name=\"{name}\" addr=\"10.0.0.1\" port=\"{port}\" proto=\"tcp\" sched=\"wrr\" rt=\"dr\">\n\
         \x20 <tester loopdelay=\"1\" timeout=\"1\" proto=\"http\" url=\"/\" host=\"t\" testport=\"1\" {extra}/>\n\
         {}\n</virtual>\n",
        reals.join("\n")
    )
}

// ---------------------------------------------------------------------------------------------
// The strict checker, from the original's grammar (reference §3.9.1 and §3.9.2): only these
// keys, in this order, with single spaces.

const IP: &str = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}";
const NAME: &str = r"[^\s=]+";
const RT: &str = "(dr|masq|tun)";

fn full_grammar() -> (Regex, Regex, Regex, Regex) {
    let meta = Regex::new(r"^meta version=1\.0 mdate=\d{4}-\d{2}-\d{2} mtime=\d{2}:\d{2}:\d{2}$")
        .expect("re");
    let diff = Regex::new(r"^DIFF file=\S+$").expect("re");
    let v = Regex::new(&format!(
        r"^virtual vname={NAME} vproto=(tcp|udp|fwmark) vaddr={IP} vport=\d+ vrt={RT} vsched={NAME}( vpers=[1-9]\d*)?( vfwmark=[1-9]\d*)?( vops=1)?$"
    ))
    .expect("re");
    let r = Regex::new(&format!(
        r"^real rname={NAME} raddr={IP} rport=\d+ rweight=\d+( rl_thresh=[1-9]\d*)?( ru_thresh=[1-9]\d*)?( rrt={RT})?$"
    ))
    .expect("re");
    (meta, diff, v, r)
}

/// Checks an `ipvsfull.cfg` against §3.9.1 and returns its `DIFF file=` path.
fn check_full(text: &str) -> String {
    let (meta, diff, v, r) = full_grammar();
    let lines: Vec<&str> = text.split('\n').collect();
    assert!(text.ends_with('\n'), "no final newline:\n{text}");
    assert!(meta.is_match(lines[0]), "meta line: {:?}", lines[0]);
    assert_eq!(lines[1], "", "a blank line after meta");
    assert!(diff.is_match(lines[2]), "DIFF line: {:?}", lines[2]);
    assert_eq!(lines[3], "", "a blank line after DIFF");
    // Virtual blocks: vline *rline LF.
    let mut i = 4;
    while i < lines.len() - 1 {
        assert!(
            v.is_match(lines[i]),
            "virtual line {}: {:?}",
            i + 1,
            lines[i]
        );
        i += 1;
        while i < lines.len() - 1 && lines[i].starts_with("real ") {
            assert!(r.is_match(lines[i]), "real line {}: {:?}", i + 1, lines[i]);
            i += 1;
        }
        if i < lines.len() - 1 {
            assert_eq!(
                lines[i],
                "",
                "line {}: a blank line ends a virtual block",
                i + 1
            );
            i += 1;
        }
    }
    // lvs-core's own parser agrees and finds no oddity.
    let parsed = FullConfig::parse(text, "ipvsfull.cfg").expect("lvs-core parses it");
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    lines[2]["DIFF file=".len()..].to_string()
}

/// Checks a diff file against §3.9.2: records and `DIFF file=` lines only; an `addreal` is
/// followed by a `chgreal` with identical fields.
fn check_diff(text: &str) {
    let rec = Regex::new(&format!(
        r"^cmd=(delreal|addreal|chgreal) vname={NAME} vproto=(tcp|udp|fwmark) vaddr={IP} vport=\d+ vfwmark=\d+ vrt={RT} vsched={NAME} rname={NAME} raddr={IP} rport=\d+ rweight=\d+( rl_thresh=[1-9]\d*)?( ru_thresh=[1-9]\d*)?( rrt={RT})?$"
    ))
    .expect("re");
    let chain = Regex::new(r"^DIFF file=\S+$").expect("re");
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        assert!(
            rec.is_match(l) || chain.is_match(l),
            "diff line {}: {l:?}",
            i + 1
        );
        if let Some(rest) = l.strip_prefix("cmd=addreal ") {
            assert_eq!(
                lines
                    .get(i + 1)
                    .and_then(|n| n.strip_prefix("cmd=chgreal ")),
                Some(rest),
                "addreal then chgreal with the same fields"
            );
        }
    }
    for ev in parse_all(text.as_bytes(), "diff") {
        let line = ev.result.expect("lvs-core parses every diff line");
        assert!(ev.warnings.is_empty(), "{:?}", ev.warnings);
        if let DiffLine::Next(p) = line {
            assert!(!p.is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------------

#[test]
fn start_writes_the_files_and_a_failing_real_gives_its_diff_lines() {
    let a = HttpReal::start("127.0.0.2");
    let b = HttpReal::start("127.0.0.3");
    let c = HttpReal::start("127.0.0.4");
    let s = Setup::new();
    s.write_xml(&format!(
        "{}{}",
        virtual_xml("web", 80, "", &[a.xml("a", 10), b.xml("b", 5)]),
        virtual_xml("rof", 81, "remove_on_fail=\"1\"", &[c.xml("c", 3)])
    ));
    let mut d = s.start(&[]);
    s.wait_for("ipvsfull.cfg at start", Duration::from_secs(10), |s| {
        s.path("ipvsfull.reload").exists() && s.read("ipvsfull.cfg").contains("rname=c")
    });
    assert!(s.path("ipvsfull.lock").exists());
    let full = s.read("ipvsfull.cfg");
    let diff_path = check_full(&full);
    assert!(Path::new(&diff_path).exists(), "{diff_path}");
    assert!(full.contains(&format!(
        "real rname=a raddr=127.0.0.2 rport={} rweight=10\n",
        a.port
    )));

    a.set_up(false);
    c.set_up(false);
    s.wait_for("a's and c's diff lines", CHANGE_WITHIN, |s| {
        let d = s.diffs();
        d.contains("cmd=chgreal vname=web") && d.contains("cmd=delreal vname=rof")
    });
    let diffs = s.diffs();
    check_diff(&diffs);
    assert!(diffs.contains(&format!(
        "cmd=addreal vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt=dr vsched=wrr rname=a raddr=127.0.0.2 rport={} rweight=0\n",
        a.port
    )));
    assert!(diffs.contains(&format!(
        "cmd=delreal vname=rof vproto=tcp vaddr=10.0.0.1 vport=81 vfwmark=0 vrt=dr vsched=wrr rname=c raddr=127.0.0.4 rport={} rweight=0\n",
        c.port
    )));
    assert!(!diffs.contains("rname=b"), "b did not change:\n{diffs}");
    let off = OfflineDump::parse(&s.read("offline.dump"), "offline.dump").expect("offline.dump");
    assert_eq!(off.entries.len(), 2, "{}", s.read("offline.dump"));

    // Back up: addreal/chgreal at the configured weight.
    a.set_up(true);
    s.wait_for("a back up", CHANGE_WITHIN, |s| {
        s.diffs().contains(&format!(
            "rname=a raddr=127.0.0.2 rport={} rweight=10",
            a.port
        ))
    });
    assert_eq!(d.stop(), Some(0));
    let stats = StatsDump::parse(&s.read("stats.dump"), "stats.dump").expect("stats.dump");
    assert_eq!(stats.virtuals.len(), 2);
    assert!(stats.virtuals[0].reals[0].total > 0);
}

#[test]
fn a_restart_keeps_the_offline_and_override_state() {
    let a = HttpReal::start("127.0.0.5");
    let b = HttpReal::start("127.0.0.6");
    let c = HttpReal::start("127.0.0.7");
    let s = Setup::new();
    s.write_xml(&virtual_xml(
        "web",
        80,
        "",
        &[a.xml("a", 10), b.xml("b", 20), c.xml("c", 4)],
    ));
    // The operator's state as an rset left it: b at 50 %, c DOWN.
    std::fs::write(
        s.path("override.dump"),
        format!(
            "10.0.0.1:80:0:0 - 127.0.0.6:{} - weight=50% rstate=ONLINE\n\
             10.0.0.1:80:0:0 - 127.0.0.7:{} - weight=0  rstate=DOWN\n",
            b.port, c.port
        ),
    )
    .expect("override.dump");
    a.set_up(false);
    let mut d = s.start(&[]);
    s.wait_for("a offline", CHANGE_WITHIN, |s| {
        s.read("offline.dump")
            .contains(&format!("127.0.0.5:{}", a.port))
    });
    assert_eq!(d.stop(), Some(0));
    std::fs::remove_file(s.path("ipvsfull.cfg")).expect("rm");

    // Restarted with a still failing: the full file at start has it at 0, b at 10, no c.
    let mut d = s.start(&[]);
    s.wait_for("ipvsfull.cfg", Duration::from_secs(10), |s| {
        s.read("ipvsfull.cfg").contains("rname=a")
    });
    let full = s.read("ipvsfull.cfg");
    check_full(&full);
    assert!(full.contains(&format!(
        "rname=a raddr=127.0.0.5 rport={} rweight=0\n",
        a.port
    )));
    assert!(full.contains(&format!(
        "rname=b raddr=127.0.0.6 rport={} rweight=10\n",
        b.port
    )));
    assert!(!full.contains("rname=c"), "{full}");
    // The override survives the restart unchanged.
    assert!(s.read("override.dump").contains("weight=50% rstate=ONLINE"));
    assert!(s.read("override.dump").contains("rstate=DOWN"));
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn sighup_reloads_in_place_and_a_broken_file_is_refused() {
    let a = HttpReal::start("127.0.0.8");
    let b = HttpReal::start("127.0.0.9");
    let s = Setup::new();
    let xml = virtual_xml("web", 80, "", &[a.xml("a", 10), b.xml("b", 5)]);
    s.write_xml(&xml);
    a.set_up(false);
    let mut d = s.start(&[]);
    s.wait_for("a offline", CHANGE_WITHIN, |s| {
        s.diffs().contains("rname=a")
    });
    let before = s.diffs();

    // A broken file: logged, the running configuration kept.
    std::fs::write(s.path("services.xml"), "<surealived><virtual").expect("xml");
    d.signal("HUP");
    s.wait_for("the refusal", Duration::from_secs(10), |s| {
        s.log().contains("reload refused")
    });
    assert!(d.alive());

    // b's weight edited: only b's lines; a keeps its failing state (no line for it).
    s.write_xml(&xml.replace(&b.xml("b", 5), &b.xml("b", 7)));
    d.signal("HUP");
    s.wait_for("b's new weight", Duration::from_secs(10), |s| {
        s.diffs().contains("rname=b")
    });
    let after = s.diffs();
    let new = &after[before.len()..];
    assert_eq!(
        new,
        format!(
            "cmd=addreal vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt=dr vsched=wrr rname=b raddr=127.0.0.9 rport={p} rweight=7\n\
             cmd=chgreal vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt=dr vsched=wrr rname=b raddr=127.0.0.9 rport={p} rweight=7\n",
            p = b.port
        )
    );
    check_diff(&after);
    assert!(s
        .read("offline.dump")
        .contains(&format!("127.0.0.8:{}", a.port)));
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn notifier_scripts_run_with_their_arguments() {
    let a = HttpReal::start("127.0.0.10");
    let b = HttpReal::start("127.0.0.11");
    let s = Setup::new();
    let script = s.script(
        "notify.sh",
        &format!("echo \"$@\" >> {}", s.path("calls").display()),
    );
    let sc = script.display();
    s.write_xml(&virtual_xml(
        "web",
        80,
        &format!(
            "notify_up=\"{sc}\" notify_down=\"{sc}\" real_notify_up=\"{sc}\" real_notify_down=\"{sc}\" notify_min_reals=\"2\""
        ),
        &[a.xml("a", 10), b.xml("b", 5)],
    ));
    let mut d = s.start(&[]);
    // Every real tested once: the virtual is UP.
    s.wait_for("notify=UP", Duration::from_secs(10), |s| {
        s.read("calls").contains("notify=UP vname=web")
    });
    assert!(s
        .read("notify.dump")
        .contains("vnotify 10.0.0.1:80:0:0 - state=UP"));
    a.set_up(false);
    s.wait_for("the real and virtual DOWN", CHANGE_WITHIN, |s| {
        s.read("calls").lines().count() >= 3
    });
    let calls = s.read("calls");
    assert!(
        calls.contains(&format!(
            "notify=DOWN vname=web vaddr=10.0.0.1 vport=80 vproto=tcp vfwmark=0 rname=a raddr=127.0.0.10 rport={}\n",
            a.port
        )),
        "{calls}"
    );
    assert!(
        calls.contains("notify=DOWN vname=web vaddr=10.0.0.1 vport=80 vproto=tcp vfwmark=0\n"),
        "{calls}"
    );
    s.wait_for("notify.dump DOWN", Duration::from_secs(5), |s| {
        s.read("notify.dump").contains("state=DOWN")
    });
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn no_sync_writes_no_sync_file() {
    let a = HttpReal::start("127.0.0.12");
    let s = Setup::new();
    s.write_xml(&virtual_xml("web", 80, "", &[a.xml("a", 10)]));
    let mut d = s.start(&["-n"]);
    a.set_up(false);
    s.wait_for("a offline", CHANGE_WITHIN, |s| {
        s.read("offline.dump").contains("127.0.0.12")
    });
    for f in ["ipvsfull.cfg", "ipvsfull.reload", "ipvsfull.lock", "diffs"] {
        assert!(!s.path(f).exists(), "{f} written with -n");
    }
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn the_demo_runs_without_root_and_ends_by_itself() {
    let out = Command::new(BIN)
        .args(["--demo", "--demo-seconds", "3"])
        .env("NO_COLOR", "1")
        .output()
        .expect("demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("tcp 192.0.2.80:80 wrr"), "{stdout}");
    assert!(stdout.contains("--- ipvsfull.cfg"), "{stdout}");
    let dir = stdout
        .lines()
        .find_map(|l| l.strip_prefix("surealived demo: files in "))
        .and_then(|l| l.split(';').next())
        .expect("the demo names its directory");
    check_full(&std::fs::read_to_string(Path::new(dir).join("ipvsfull.cfg")).expect("full"));
    std::fs::remove_dir_all(dir).expect("rm demo dir");
}

#[test]
fn the_strict_checker_refuses_what_the_grammar_does_not_allow() {
    let good = "meta version=1.0 mdate=2026-01-02 mtime=03:04:05\n\nDIFF file=/d/diff_sync.1\n\n\
                virtual vname=v vproto=tcp vaddr=10.0.0.1 vport=80 vrt=dr vsched=wrr\n\
                real rname=a raddr=10.1.0.1 rport=80 rweight=1\n\n";
    check_full(good);
    for bad in [
        // two spaces
        good.replace("vport=80 vrt", "vport=80  vrt"),
        // keys out of order
        good.replace("vrt=dr vsched=wrr", "vsched=wrr vrt=dr"),
        // an unknown key
        good.replace("rweight=1", "rweight=1 rfoo=2"),
        // no blank line after the DIFF line
        good.replace("diff_sync.1\n\n", "diff_sync.1\n"),
        // a zero vpers is never written
        good.replace("vsched=wrr", "vsched=wrr vpers=0"),
    ] {
        let r = std::panic::catch_unwind(|| check_full(&bad));
        assert!(r.is_err(), "accepted:\n{bad}");
    }
    let rec = "cmd=addreal vname=v vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt=dr vsched=wrr rname=a raddr=10.1.0.1 rport=80 rweight=1\n";
    check_diff(&format!("{rec}{}", rec.replace("addreal", "chgreal")));
    for bad in [
        rec.to_string(), // addreal without chgreal
        format!(
            "{rec}{}",
            rec.replace("addreal", "chgreal")
                .replace("rweight=1", "rweight=2")
        ),
        rec.replace("vfwmark=0 ", ""),
    ] {
        let r = std::panic::catch_unwind(|| check_diff(&bad));
        assert!(r.is_err(), "accepted:\n{bad}");
    }
}

#[test]
fn a_reload_that_changes_a_virtual_writes_the_full_file_afresh() {
    let a = HttpReal::start("127.0.0.13");
    let s = Setup::new();
    let xml = virtual_xml("web", 80, "", &[a.xml("a", 10)]);
    s.write_xml(&xml);
    let mut d = s.start(&[]);
    s.wait_for("ipvsfull.cfg", Duration::from_secs(10), |s| {
        s.read("ipvsfull.cfg").contains("rname=a")
    });
    let first = check_full(&s.read("ipvsfull.cfg"));
    std::fs::remove_file(s.path("ipvsfull.reload")).expect("rm flag");
    s.write_xml(&xml.replace("sched=\"wrr\"", "sched=\"wlc\""));
    d.signal("HUP");
    s.wait_for("the new full file", Duration::from_secs(10), |s| {
        s.read("ipvsfull.cfg").contains("vsched=wlc") && s.path("ipvsfull.reload").exists()
    });
    let second = check_full(&s.read("ipvsfull.cfg"));
    assert_ne!(first, second, "a new diff file");
    // The previous diff file ends with the hop to the new one.
    let old = std::fs::read_to_string(&first).expect("old diff file");
    assert!(old.ends_with(&format!("DIFF file={second}\n")), "{old}");
    check_diff(&old);
    assert!(Path::new(&second).exists());
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn a_notify_dump_older_than_the_boot_is_ignored_and_removed() {
    let a = HttpReal::start("127.0.0.14");
    let s = Setup::new();
    let script = s.script(
        "notify.sh",
        &format!("echo \"$@\" >> {}", s.path("calls").display()),
    );
    s.write_xml(&virtual_xml(
        "web",
        80,
        &format!("notify_up=\"{}\"", script.display()),
        &[a.xml("a", 10)],
    ));
    // A dump from before the boot that says UP: ignored, so UP is announced again.
    std::fs::write(
        s.path("notify.dump"),
        "vnotify 10.0.0.1:80:0:0 - state=UP\n",
    )
    .expect("dump");
    let ok = Command::new("touch")
        .args(["-d", "@1000000000"])
        .arg(s.path("notify.dump"))
        .status()
        .expect("touch")
        .success();
    assert!(ok);
    let mut d = s.start(&[]);
    s.wait_for("notify=UP", Duration::from_secs(10), |s| {
        s.read("calls").contains("notify=UP vname=web")
    });
    assert!(s.log().contains("older than the boot"), "{}", s.log());
    assert_eq!(d.stop(), Some(0));

    // A fresh dump that says UP: no second announcement after a restart.
    std::fs::remove_file(s.path("calls")).expect("rm");
    let mut d = s.start(&[]);
    std::thread::sleep(Duration::from_secs(3));
    assert!(s.log().contains("surealived running"));
    assert_eq!(s.read("calls"), "", "UP announced again");
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn the_log_file_and_level_are_honoured() {
    let a = HttpReal::start("127.0.0.15");
    let s = Setup::new();
    let cfg = s
        .read("surealived.cfg")
        .replace("log stderr\nlogging debug\n", "")
        + &format!(
            "log {}\nuse_log true\nlogging warn\n",
            s.path("sd.log").display()
        );
    std::fs::write(s.path("surealived.cfg"), cfg).expect("cfg");
    s.write_xml(&virtual_xml("web", 80, "", &[a.xml("a", 10)]));
    // -d: to the file; warn raised by one -v: info, not debug.
    let mut d = s.start(&["-d", "-v"]);
    a.set_up(false);
    s.wait_for("the state change in the log file", CHANGE_WITHIN, |s| {
        s.read("sd.log").contains("online -> offline")
    });
    let log = s.read("sd.log");
    assert!(log.contains("surealived running"), "{log}");
    assert!(!log.contains("DEBUG"), "{log}");
    assert!(!s.log().contains("surealived running"), "not on stderr");
    assert_eq!(d.stop(), Some(0));
}

/// The port the daemon's log says its control port listens on (`listen_port 0`).
fn control_port(s: &Setup) -> u16 {
    let mut port = 0;
    s.wait_for("control port", Duration::from_secs(10), |s| {
        let log = s.log();
        let Some(at) = log.find("control port listening on ") else {
            return false;
        };
        let rest = &log[at + "control port listening on ".len()..];
        let addr = rest.split_whitespace().next().unwrap_or("");
        port = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        port != 0
    });
    port
}

fn lvsctl(port: u16, words: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lvsctl"))
        .args(["-p", &port.to_string()])
        .args(words)
        .output()
        .expect("run lvsctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_control_port_lists_and_sets_reals_and_the_files_follow() {
    let a = HttpReal::start("127.0.0.21");
    let b = HttpReal::start("127.0.0.22");
    let s = Setup::new();
    s.write_xml(&virtual_xml(
        "web",
        80,
        "",
        &[a.xml("a", 10), b.xml("b", 20)],
    ));
    let mut d = s.start(&[]);
    let port = control_port(&s);

    let (code, out, err) = lvsctl(port, &["vlist"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("v:0 vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt="),
        "{out}"
    );
    let (code, out, err) = lvsctl(port, &["rlist", "tcp", "10.0.0.1", "80"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "r:1 rname=b raddr=127.0.0.22 rport={} currwgt=20 confwgt=20 ronline=TRUE rstate=ONLINE",
            b.port
        )),
        "{out}"
    );

    // OFFLINE: weight 0 in a diff record, the override kept in override.dump.
    let bport = b.port.to_string();
    let (code, out, err) = lvsctl(
        port,
        &[
            "rset",
            "tcp",
            "10.0.0.1",
            "80",
            "127.0.0.22",
            &bport,
            "OFFLINE",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        "Set: rstate=OFFLINE, weight=20, inpercent=FALSE"
    );
    let want = format!("rname=b raddr=127.0.0.22 rport={} rweight=0", b.port);
    s.wait_for("b's weight 0 in a diff", Duration::from_secs(5), |s| {
        s.diffs().contains(&want)
    });
    assert!(s.read("override.dump").contains("rstate=OFFLINE"));

    // Back ONLINE at 50 %: weight 10.
    let (code, out, err) = lvsctl(
        port,
        &[
            "rset",
            "tcp",
            "10.0.0.1",
            "80",
            "127.0.0.22",
            &bport,
            "ONLINE",
            "50%",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "Set: rstate=ONLINE, weight=50, inpercent=TRUE");
    let want = "cmd=chgreal vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0";
    s.wait_for("b at weight 10", Duration::from_secs(5), |s| {
        s.diffs().lines().any(|l| {
            l.starts_with(want)
                && l.contains(&format!("raddr=127.0.0.22 rport={} rweight=10", b.port))
        })
    });
    check_diff(&s.diffs());

    // An unknown real is an error reply: exit 1, the original's text on stderr.
    let (code, _, err) = lvsctl(
        port,
        &["rset", "tcp", "10.0.0.1", "80", "127.0.0.99", "80", "DOWN"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("Real not found"), "{err}");

    // The JSON form parses.
    let (code, out, err) = lvsctl(port, &["--json", "stats"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("\"virtuals\":1") || out.contains("\"virtuals\": 1"),
        "{out}"
    );
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn a_broken_operator_dump_stops_the_start_and_a_broken_stats_dump_is_set_aside() {
    let a = HttpReal::start("127.0.0.31");
    let s = Setup::new();
    s.write_xml(&virtual_xml("web", 80, "", &[a.xml("a", 10)]));
    // override.dump holds the operator's states: starting without them would bring a real
    // taken DOWN back into service, so a broken line stops the start, naming it.
    let broken = "10.0.0.1:80:0:0 - 127.0.0.31:80 - weight=50% rstate=ONLINE\ngarbage here\n";
    std::fs::write(s.path("override.dump"), broken).expect("override.dump");
    let mut d = s.start(&[]);
    let end = Instant::now() + Duration::from_secs(10);
    while d.alive() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        d.child.try_wait().expect("wait").and_then(|st| st.code()),
        Some(1)
    );
    let log = s.log();
    assert!(log.contains("override.dump") && log.contains(":2"), "{log}");
    assert_eq!(
        s.read("override.dump"),
        broken,
        "the file is left as it was"
    );
    assert!(!s.path("ipvsfull.cfg").exists());

    // stats.dump only holds statistics: a broken one is set aside and the daemon runs.
    std::fs::remove_file(s.path("override.dump")).expect("rm");
    std::fs::write(s.path("stats.dump"), "vstats nonsense\n").expect("stats.dump");
    let mut d = s.start(&[]);
    s.wait_for(
        "start with the stats set aside",
        Duration::from_secs(10),
        |s| s.read("ipvsfull.cfg").contains("rname=a"),
    );
    assert_eq!(s.read("stats.dump.bad"), "vstats nonsense\n");
    assert!(s.log().contains("stats.dump not merged"), "{}", s.log());
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn a_failed_diff_append_is_made_good_by_a_full_write_with_the_reload_flag() {
    let a = HttpReal::start("127.0.0.32");
    let b = HttpReal::start("127.0.0.33");
    let s = Setup::new();
    s.write_xml(&virtual_xml(
        "web",
        80,
        "",
        &[a.xml("a", 10), b.xml("b", 5)],
    ));
    let mut d = s.start(&[]);
    s.wait_for("ipvsfull.cfg at start", Duration::from_secs(10), |s| {
        s.read("ipvsfull.cfg").contains("rname=b")
    });
    // ipvssync took the start's full write.
    std::fs::remove_file(s.path("ipvsfull.reload")).expect("rm flag");
    // The lock file cannot be opened: the next diff append fails.
    std::fs::remove_file(s.path("ipvsfull.lock")).expect("rm lock");
    std::fs::create_dir(s.path("ipvsfull.lock")).expect("dir in its place");
    a.set_up(false);
    s.wait_for("the failed append logged", CHANGE_WITHIN, |s| {
        s.log()
            .contains("a full write with the reload flag follows")
    });
    assert!(!s
        .diffs()
        .contains(&format!("raddr=127.0.0.32 rport={} rweight=0", a.port)));
    // The lock file is back: the owed full write holds a at 0 and raises the reload flag, so
    // that ipvssync takes the whole table again.
    std::fs::remove_dir(s.path("ipvsfull.lock")).expect("rmdir");
    s.wait_for("the owed full write", Duration::from_secs(5), |s| {
        s.path("ipvsfull.reload").exists()
            && s.read("ipvsfull.cfg").contains(&format!(
                "rname=a raddr=127.0.0.32 rport={} rweight=0\n",
                a.port
            ))
    });
    check_full(&s.read("ipvsfull.cfg"));
    check_diff(&s.diffs());
    assert_eq!(d.stop(), Some(0));
}

#[test]
fn a_real_s_notifiers_run_in_order_even_when_a_script_is_slow() {
    let a = HttpReal::start("127.0.0.34");
    let s = Setup::new();
    let calls = s.path("calls");
    // The DOWN script takes 3 s; the real is back (and its UP script due) well before that.
    let down = s.script(
        "down.sh",
        &format!("sleep 3\necho down >> {}", calls.display()),
    );
    let up = s.script("up.sh", &format!("echo up >> {}", calls.display()));
    s.write_xml(&virtual_xml(
        "web",
        80,
        &format!(
            "real_notify_up=\"{}\" real_notify_down=\"{}\" retries2ok=\"1\" retries2fail=\"1\"",
            up.display(),
            down.display()
        ),
        &[a.xml("a", 10)],
    ));
    let mut d = s.start(&[]);
    a.set_up(false);
    s.wait_for("a offline", CHANGE_WITHIN, |s| {
        s.read("offline.dump").contains("127.0.0.34:")
    });
    a.set_up(true);
    s.wait_for("a online again", CHANGE_WITHIN, |s| {
        !s.read("offline.dump").contains("127.0.0.34:")
    });
    assert!(
        !s.read("calls").contains("down"),
        "the DOWN script was to be still running when the real came back"
    );
    s.wait_for("both scripts", Duration::from_secs(10), |s| {
        s.read("calls").lines().count() >= 2
    });
    assert_eq!(
        s.read("calls"),
        "down\nup\n",
        "the UP script waited for the DOWN one"
    );
    assert_eq!(d.stop(), Some(0));
}
