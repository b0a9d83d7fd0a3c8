//! The apply benchmark of issue 4, run inside the kernel-test guest by
//! `scripts/kernel-tests.sh --bench` (see `docs/kernel-tests.md`).
//!
//! In one boot, so that both programs run under the same emulation, and each phase in a fresh
//! network namespace (`unshare -n`), so that each starts from a pristine IPVS: a flushed table
//! keeps its destinations in the kernel's "dest trash" for minutes, and every destination added
//! meanwhile searches that list, which would slow down whichever phase came second.
//!
//! 1. Phase `ipvsadm`: `ipvsadm -R` of our restore text ([`lvs_ipvs::save`]) of a table of
//!    `--services` TCP services with `--dests` destinations each, into the empty table.
//! 2. Phase `client` (second, so any clean-up left by the first counts against it):
//!    `lvs_ipvs::Client::new` plus `apply` of the same table into the empty table (`--batch` sets
//!    the requests per send, the client's default otherwise); then, with the table full, an apply
//!    of the table with one weight changed; then an apply of that table again.
//!
//! Each step is checked (the kernel holds every line, per `ipvsadm -S -n`; the client's reports
//! have no failure; the weight change sends one change request and the re-apply none) and the
//! program exits 1 when a check fails. The last line is the summary: `ipvs-guest-bench: …`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use lvs_core::model::{Table, UnmanagedPolicy};
use lvs_ipvs::save::{restore_text, SaveStyle};
use lvs_ipvs::{ApplyReport, Client, Options};

const USAGE: &str = "usage: ipvs-guest-bench [--services N] [--dests M] [--batch REQUESTS] \
                     [--ipvsadm PATH] [--same-netns] [--phase ipvsadm|client]";

/// The prefix of the machine-readable lines a phase prints for the orchestrating process.
const RESULT: &str = "result";

struct Args {
    services: u32,
    dests: u32,
    batch: usize,
    ipvsadm: String,
    same_netns: bool,
    phase: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        services: 10_000,
        dests: 5,
        batch: Options::default().batch_size,
        ipvsadm: std::env::var("LVS_IPVSADM").unwrap_or_else(|_| "ipvsadm".into()),
        same_netns: false,
        phase: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--services" => args.services = number(&value()?)?,
            "--dests" => args.dests = number(&value()?)?,
            "--batch" => args.batch = number(&value()?)? as usize,
            "--ipvsadm" => args.ipvsadm = value()?,
            "--same-netns" => args.same_netns = true,
            "--phase" => args.phase = Some(value()?),
            "-h" | "--help" => return Err(USAGE.into()),
            _ => return Err(format!("unknown argument `{flag}`\n{USAGE}")),
        }
    }
    Ok(args)
}

fn number(s: &str) -> Result<u32, String> {
    s.parse().map_err(|_| format!("`{s}` is not a number"))
}

/// Runs ipvsadm with `args` (and `stdin` from a file, if given) and returns its standard output.
fn ipvsadm(path: &str, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let input = match stdin {
        Some(file) => Stdio::from(File::open(file).map_err(|e| format!("{file}: {e}"))?),
        None => Stdio::null(),
    };
    let out = Command::new(path)
        .args(args)
        .stdin(input)
        .output()
        .map_err(|e| format!("cannot run {path}: {e}"))?;
    if !out.status.success() || !out.stderr.is_empty() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errors = stderr.lines().count();
        let first: Vec<&str> = stderr.lines().take(3).collect();
        return Err(format!(
            "{path} {} exited with {} and {errors} error lines, the first: {}",
            args.join(" "),
            out.status,
            first.join(" / ")
        ));
    }
    String::from_utf8(out.stdout).map_err(|_| format!("{path} printed non-UTF-8"))
}

/// Fails unless the kernel holds exactly `want` lines of `ipvsadm -S -n`.
fn check_kernel_lines(path: &str, want: usize, step: &str) -> Result<(), String> {
    let have = ipvsadm(path, &["-S", "-n"], None)?.lines().count();
    if have != want {
        return Err(format!(
            "{step}: the kernel holds {have} ipvsadm -Sn lines, {want} wanted"
        ));
    }
    Ok(())
}

/// Fails when an operation of `report` failed or the number of changes is not `want`.
fn check_report(report: &ApplyReport, want_changes: usize, step: &str) -> Result<(), String> {
    if let Some(f) = report.failures().next() {
        return Err(format!(
            "{step}: {} of {} operations failed, the first: {} ({:?})",
            report.failures().count(),
            report.changes(),
            f.operation,
            f.result
        ));
    }
    if report.changes() != want_changes {
        return Err(format!(
            "{step}: {} changes sent, {want_changes} wanted",
            report.changes()
        ));
    }
    Ok(())
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// Prints a human line for the step and the machine-readable results of `report`, named `name`.
fn print_report(name: &str, label: &str, took: Duration, report: &ApplyReport) {
    println!(
        "lvs-ipvs {label}: {} s, {} changes, {} requests ({} dumps) in {} sends",
        secs(took),
        report.changes(),
        report.requests,
        report.dumps,
        report.sends
    );
    println!("{RESULT} {name}_secs {}", secs(took));
    println!("{RESULT} {name}_changes {}", report.changes());
    println!("{RESULT} {name}_requests {}", report.requests);
    println!("{RESULT} {name}_dumps {}", report.dumps);
    println!("{RESULT} {name}_sends {}", report.sends);
}

/// Brings up `lo` in this process's network namespace: a fresh namespace has no local routing
/// table until then, and the kernel refuses direct-routed destinations (`EINVAL`) because it
/// cannot tell their addresses are unicast.
fn lo_up() -> Result<(), String> {
    let status = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if !status.success() {
        return Err(format!("ip link set lo up: {status}"));
    }
    Ok(())
}

/// Phase `ipvsadm`: `ipvsadm -R` of the table into the empty kernel table.
fn phase_ipvsadm(args: &Args, table: &Table, lines: usize) -> Result<(), String> {
    let path = args.ipvsadm.as_str();
    lo_up()?;
    let text = restore_text(table, SaveStyle::Ipvsadm).map_err(|e| e.to_string())?;
    let rules = std::env::temp_dir().join(format!("ipvs-guest-bench-{}.rules", std::process::id()));
    let rules = rules.to_str().ok_or("temporary directory is not UTF-8")?;
    File::create(rules)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("{rules}: {e}"))?;
    println!("restore text: {lines} lines, {} bytes", text.len());
    check_kernel_lines(path, 0, "before ipvsadm -R")?;
    let start = Instant::now();
    ipvsadm(path, &["-R"], Some(rules))?;
    let took = start.elapsed();
    check_kernel_lines(path, lines, "ipvsadm -R")?;
    println!("ipvsadm -R: {} s", secs(took));
    println!("{RESULT} ipvsadm_secs {}", secs(took));
    ipvsadm(path, &["-C"], None)?;
    let _ = std::fs::remove_file(rules);
    Ok(())
}

/// Phase `client`: our apply into the empty kernel table, one weight change, a re-apply.
fn phase_client(args: &Args, table: &Table, lines: usize) -> Result<(), String> {
    let path = args.ipvsadm.as_str();
    lo_up()?;
    check_kernel_lines(path, 0, "before the cold apply")?;
    let opts = Options {
        batch_size: args.batch,
        ..Options::default()
    };
    let start = Instant::now();
    let mut client = Client::with_options(opts).map_err(|e| e.to_string())?;
    let cold = client
        .apply(table, UnmanagedPolicy::Delete)
        .map_err(|e| e.to_string())?;
    let took = start.elapsed();
    check_report(&cold, lines, "cold apply")?;
    check_kernel_lines(path, lines, "cold apply")?;
    print_report("cold", "cold apply", took, &cold);

    let changed = lvs_benches::with_one_weight_changed(table);
    let start = Instant::now();
    let weight = client
        .apply(&changed, UnmanagedPolicy::Delete)
        .map_err(|e| e.to_string())?;
    let took = start.elapsed();
    check_report(&weight, 1, "one weight change")?;
    if weight.requests - weight.dumps != 1 {
        return Err(format!(
            "one weight change: {} change requests, 1 wanted",
            weight.requests - weight.dumps
        ));
    }
    print_report("weight", "one weight change", took, &weight);

    let start = Instant::now();
    let again = client
        .apply(&changed, UnmanagedPolicy::Delete)
        .map_err(|e| e.to_string())?;
    let took = start.elapsed();
    check_report(&again, 0, "re-apply")?;
    if again.requests != again.dumps {
        return Err(format!(
            "re-apply: {} requests besides the dumps",
            again.requests - again.dumps
        ));
    }
    print_report("again", "re-apply unchanged", took, &again);

    client.flush().map_err(|e| e.to_string())?;
    check_kernel_lines(path, 0, "final flush")
}

/// Runs one phase as a child process (in a fresh network namespace unless `--same-netns`),
/// echoes its output and returns its results.
fn run_phase(args: &Args, phase: &str) -> Result<BTreeMap<String, f64>, String> {
    let me = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let mut cmd = if args.same_netns {
        Command::new(&me)
    } else {
        let mut c = Command::new("unshare");
        c.arg("-n").arg(&me);
        c
    };
    let out = cmd
        .args(["--phase", phase])
        .args(["--services", &args.services.to_string()])
        .args(["--dests", &args.dests.to_string()])
        .args(["--batch", &args.batch.to_string()])
        .args(["--ipvsadm", &args.ipvsadm])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run phase {phase}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut results = BTreeMap::new();
    for line in stdout.lines() {
        match line.strip_prefix(RESULT).map(str::split_whitespace) {
            Some(mut kv) => {
                if let (Some(k), Some(v)) = (kv.next(), kv.next().and_then(|v| v.parse().ok())) {
                    results.insert(k.to_string(), v);
                }
            }
            None => println!("{line}"),
        }
    }
    if !out.status.success() {
        return Err(format!("phase {phase} failed ({})", out.status));
    }
    Ok(results)
}

fn orchestrate(args: &Args) -> Result<String, String> {
    let mut r = run_phase(args, "ipvsadm")?;
    r.extend(run_phase(args, "client")?);
    let get = |k: &str| r.get(k).copied().ok_or_else(|| format!("no result `{k}`"));
    let ratio = get("cold_secs")? / get("ipvsadm_secs")?;
    Ok(format!(
        "ipvs-guest-bench: {} services x {} dests: ipvsadm -R {:.3} s; lvs-ipvs apply {:.3} s \
         ({} requests, {} sends); ratio {ratio:.3} (target <= 0.5); one weight change {:.3} s, \
         {} change request, {} dumps; re-apply {:.3} s, {} changes, {} dumps",
        args.services,
        args.dests,
        get("ipvsadm_secs")?,
        get("cold_secs")?,
        get("cold_requests")?,
        get("cold_sends")?,
        get("weight_secs")?,
        get("weight_requests")? - get("weight_dumps")?,
        get("weight_dumps")?,
        get("again_secs")?,
        get("again_changes")?,
        get("again_dumps")?
    ))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match args.phase.as_deref() {
        None => orchestrate(&args).map(|summary| println!("{summary}")),
        Some(phase) => {
            let table = lvs_benches::table(args.services, args.dests);
            let lines = table.len() + table.destination_count();
            match phase {
                "ipvsadm" => phase_ipvsadm(&args, &table, lines),
                "client" => phase_client(&args, &table, lines),
                _ => Err(format!("unknown phase `{phase}`\n{USAGE}")),
            }
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipvs-guest-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
