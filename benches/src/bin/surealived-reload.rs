//! Reload harness of the `surealived` daemon: a service file of N reals, then R reloads
//! (SIGHUP) each changing one real's weight, against the release binary as an operator runs it.
//! Prints one summary line: the reload time the daemon reports (SIGHUP handled to the files
//! written) and the wall time from the signal to that log line, the diff lines each reload
//! wrote and whether any named another real, and the daemon's open file descriptors and memory
//! (VmRSS) after the first, the middle and the last reload: flat means the second half adds
//! nothing.
//!
//! ```sh
//! cargo build --release --bin surealived
//! cargo run --release -p lvs-benches --bin surealived-reload -- --reals 10000 --reloads 100
//! ```
//!
//! * The binary is `target/release/surealived`, next to this harness (`--bin PATH` names
//!   another).
//! * Every file lives in a temporary directory; the control port takes any free port. The reals
//!   use the `no-test` tester (always up), so that the run measures the reload and not the
//!   tests; a reload's cost per real does not depend on the tester kind (the engine compares
//!   tests by their key).
//! * Each reload rewrites the XML atomically with one real's weight toggled (the real in the
//!   middle of the file), sends SIGHUP and waits for the daemon's `reload done in X ms` line.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use lvs_core::fsutil::write_atomic;

/// Reload harness of the surealived daemon.
#[derive(Debug, Parser)]
#[command(name = "surealived-reload")]
struct Args {
    /// Reals in the service file (1000 per virtual).
    #[arg(long, default_value_t = 10_000)]
    reals: u32,
    /// Reloads, each changing one real's weight.
    #[arg(long, default_value_t = 100)]
    reloads: u32,
    /// The surealived binary (default: `surealived` next to this program).
    #[arg(long)]
    bin: Option<PathBuf>,
}

const PER_VIRTUAL: u32 = 1000;

fn xml(reals: u32, changed: u32, weight: u32) -> String {
    let mut x = String::with_capacity(reals as usize * 80);
    x.push_str("<surealived>\n");
    for i in 0..reals {
        if i % PER_VIRTUAL == 0 {
            if i > 0 {
                x.push_str("</virtual>\n");
            }
            let v = i / PER_VIRTUAL;
            let _ = writeln!(
                x,
                r#"<virtual name="v{v}" addr="10.0.{}.{}" port="80" proto="tcp" sched="wrr" rt="dr">"#,
                v / 250,
                1 + v % 250
            );
            x.push_str("<tester proto=\"no-test\" loopdelay=\"5\"/>\n");
        }
        let w = if i == changed { weight } else { 1 + i % 50 };
        let _ = writeln!(
            x,
            r#"<real name="r{i}" addr="172.{}.{}.{}" port="80" weight="{w}"/>"#,
            16 + (i >> 16),
            (i >> 8) & 0xff,
            i & 0xff
        );
    }
    x.push_str("</virtual>\n</surealived>\n");
    x
}

fn fds(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Every diff line written since `seen` bytes of the diff files (concatenated in name order).
fn diff_text(dir: &Path) -> String {
    let Ok(rd) = fs::read_dir(dir) else {
        return String::new();
    };
    let mut names: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    names
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .collect()
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the log holds `count` occurrences of `needle`; returns the log.
fn wait_log(log: &Path, needle: &str, count: usize, within: Duration) -> Result<String, String> {
    let end = Instant::now() + within;
    loop {
        let mut text = String::new();
        if let Ok(mut f) = fs::File::open(log) {
            let _ = f.read_to_string(&mut text);
        }
        if text.matches(needle).count() >= count {
            return Ok(text);
        }
        if Instant::now() > end {
            let tail: String = text.lines().rev().take(20).collect::<Vec<_>>().join("\n");
            return Err(format!(
                "no {count}x `{needle}` within {within:?}; log tail:\n{tail}"
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let bin = match args.bin.clone() {
        Some(b) => b,
        None => std::env::current_exe()?
            .parent()
            .ok_or("no directory")?
            .join("surealived"),
    };
    if !bin.exists() {
        return Err(format!(
            "{} not found: build it first (cargo build --release --bin surealived)",
            bin.display()
        )
        .into());
    }
    let dir = std::env::temp_dir().join(format!("surealived-reload-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let d = dir.display();
    fs::write(
        dir.join("surealived.cfg"),
        format!(
            "log stderr\nlogging info\nstartup_delay_ms 1000\nlisten_port 0\n\
             lock_sync_file {d}/ipvsfull.lock\nfull_sync_file {d}/ipvsfull.cfg\n\
             full_reload_file {d}/ipvsfull.reload\ndiff_sync_dir {d}/diffs\n\
             offline_dump {d}/offline.dump\noverride_dump {d}/override.dump\n\
             stats_dump {d}/stats.dump\nnotify_dump {d}/notify.dump\n\
             debug_comm_path {d}/comm\nstats_dir {d}/stats\n"
        ),
    )?;
    let changed = args.reals / 2;
    let xml_path = dir.join("services.xml");
    write_atomic(
        &xml_path,
        xml(args.reals, changed, 1 + changed % 50).as_bytes(),
    )?;
    let log = dir.join("stderr.log");
    let child = Command::new(&bin)
        .arg("-c")
        .arg(dir.join("surealived.cfg"))
        .arg(&xml_path)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log)?)
        .spawn()?;
    let pid = child.id();
    let _daemon = Daemon(child);
    wait_log(&log, "surealived running", 1, Duration::from_secs(60))?;
    // Every real tested once (no-test: within startup_delay) before the first reload.
    std::thread::sleep(Duration::from_secs(2));

    let diffs = dir.join("diffs");
    let (mut reported, mut wall) = (Vec::new(), Vec::new());
    let (mut lines_per_reload, mut others) = (Vec::new(), 0usize);
    let (mut first, mut middle) = ((0, 0), (0, 0));
    let want = format!("rname=r{changed} ");
    for n in 1..=args.reloads {
        let weight = if n % 2 == 1 { 77 } else { 78 };
        write_atomic(&xml_path, xml(args.reals, changed, weight).as_bytes())?;
        let before = diff_text(&diffs);
        let t0 = Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(pid)?),
            nix::sys::signal::Signal::SIGHUP,
        )?;
        let text = wait_log(&log, "reload done in ", n as usize, Duration::from_secs(30))?;
        wall.push(t0.elapsed().as_secs_f64() * 1000.0);
        let ms = text
            .rsplit("reload done in ")
            .next()
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or("cannot read the reload time")?;
        reported.push(ms);
        let after = diff_text(&diffs);
        let new: Vec<&str> = after
            .get(before.len()..)
            .unwrap_or("")
            .lines()
            .filter(|l| l.starts_with("cmd="))
            .collect();
        lines_per_reload.push(new.len());
        others += new.iter().filter(|l| !l.contains(&want)).count();
        if !new.iter().any(|l| l.contains(&format!("rweight={weight}"))) {
            return Err(format!("reload {n}: no diff line with the new weight {weight}").into());
        }
        if n == 1 {
            first = (fds(pid), rss_kib(pid));
        }
        if n == args.reloads.div_ceil(2) {
            middle = (fds(pid), rss_kib(pid));
        }
    }
    let last = (fds(pid), rss_kib(pid));
    reported.sort_by(f64::total_cmp);
    wall.sort_by(f64::total_cmp);
    let (lmin, lmax) = (
        lines_per_reload.iter().min().copied().unwrap_or(0),
        lines_per_reload.iter().max().copied().unwrap_or(0),
    );
    println!(
        "surealived-reload reals={} reloads={} reload_ms p50={:.1} p99={:.1} max={:.1} \
         (wall from SIGHUP p50={:.1} max={:.1}) diff_lines/reload={lmin}-{lmax} \
         lines_naming_other_reals={others} fds first={} middle={} last={} \
         rss_kib first={} middle={} last={} (second half {:+.1}%)",
        args.reals,
        args.reloads,
        percentile(&reported, 0.5),
        percentile(&reported, 0.99),
        reported.last().copied().unwrap_or(0.0),
        percentile(&wall, 0.5),
        wall.last().copied().unwrap_or(0.0),
        first.0,
        middle.0,
        last.0,
        first.1,
        middle.1,
        last.1,
        (last.1 as f64 - middle.1 as f64) * 100.0 / (middle.1.max(1) as f64),
    );
    drop(_daemon);
    let _ = fs::remove_dir_all(&dir);
    Ok(())
}
