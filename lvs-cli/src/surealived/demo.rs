//! `surealived --demo`: the daemon on a fresh machine, without root or IPVS. It starts three
//! small HTTP servers on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (the third answers 503 for 6 s
//! out of every 12), writes a cfg and a service file under a new temporary directory, and runs
//! the daemon on them, printing each state change and the table it would apply; at the end it
//! shows the files it wrote.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use lvs_core::config::surealived_cfg::load_main_cfg;
use lvs_core::config::xml::{load_service_xml, TesterRegistry};

use super::{Args, Options, NAME};

/// The failing real's period: healthy for half of it, 503 for the other half.
const FLAP_PERIOD: Duration = Duration::from_secs(12);

fn serve(listener: TcpListener, flapping: bool) {
    let start = Instant::now();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 1024];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") && got.len() < 8192 {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let failing =
                flapping && (start.elapsed().as_secs() / (FLAP_PERIOD.as_secs() / 2)) % 2 == 1;
            let reply: &[u8] = if failing {
                b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nbusy\n"
            } else {
                b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
            };
            let _ = conn.write_all(reply);
        }
    });
}

fn bind(last: u8) -> std::io::Result<TcpListener> {
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)), 0);
    TcpListener::bind(addr)
}

fn demo_dir() -> std::io::Result<PathBuf> {
    let base = std::env::temp_dir();
    for n in 0..1000u32 {
        let d = base.join(format!("surealived-demo.{}.{n}", std::process::id()));
        match std::fs::create_dir(&d) {
            Ok(()) => return Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free directory name"))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn setup() -> Result<(PathBuf, PathBuf, PathBuf), String> {
    let dir = demo_dir().map_err(|e| format!("cannot create the demo directory: {e}"))?;
    let mut reals = String::new();
    let mut first_port = 0;
    for (last, weight) in [(1u8, 10), (2, 10), (3, 5)] {
        let l = bind(last).map_err(|e| format!("cannot listen on 127.0.0.{last}: {e}"))?;
        let a = l.local_addr().map_err(|e| format!("127.0.0.{last}: {e}"))?;
        serve(l, last == 3);
        if first_port == 0 {
            first_port = a.port();
        }
        reals.push_str(&format!(
            "  <real name=\"web{last}\" addr=\"{}\" port=\"{}\" testport=\"{}\" weight=\"{weight}\"/>\n",
            a.ip(),
            a.port(),
            a.port()
        ));
    }
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!-- Written by surealived --demo. -->\n\
         <surealived>\n\
         <virtual name=\"demo-web\" addr=\"192.0.2.80\" port=\"80\" proto=\"tcp\" sched=\"wrr\" rt=\"masq\">\n\
         \x20 <tester loopdelay=\"1\" timeout=\"1\" proto=\"http\" url=\"/\" host=\"localhost\" testport=\"{first_port}\"/>\n\
         {reals}</virtual>\n\
         </surealived>\n"
    );
    let d = dir.display();
    let cfg = format!(
        "# Written by surealived --demo: every file under {d}.\n\
         log stderr\n\
         logging info\n\
         startup_delay_ms 500\n\
         listen_port 0\n\
         lock_sync_file {d}/ipvsfull.lock\n\
         full_sync_file {d}/ipvsfull.cfg\n\
         full_reload_file {d}/ipvsfull.reload\n\
         diff_sync_dir {d}/diffs\n\
         offline_dump {d}/offline.dump\n\
         override_dump {d}/override.dump\n\
         stats_dump {d}/stats.dump\n\
         stats_dump_savesec 10\n\
         notify_dump {d}/notify.dump\n\
         debug_comm_path {d}/comm\n\
         stats_dir {d}/stats\n"
    );
    let xml_path = dir.join("demo.xml");
    let cfg_path = dir.join("surealived.cfg");
    write(&xml_path, &xml)?;
    write(&cfg_path, &cfg)?;
    Ok((dir, cfg_path, xml_path))
}

pub(super) fn run(args: &Args) -> ExitCode {
    let (dir, cfg_path, xml_path) = match setup() {
        Ok(x) => x,
        Err(e) => return crate::fail(NAME, &e),
    };
    let cfg = match load_main_cfg(&cfg_path) {
        Ok(c) => c,
        Err(e) => return crate::fail(NAME, &e),
    };
    super::init_logging(&cfg, args.verbose, false);
    let services = match load_service_xml(&xml_path, &TesterRegistry::builtin()) {
        Ok(s) => s,
        Err(e) => return crate::fail(NAME, &e),
    };
    println!(
        "surealived demo: files in {}; running for {} s (Ctrl-C stops earlier)",
        dir.display(),
        args.demo_seconds
    );
    println!("the wanted table at start:");
    let opts = Options {
        no_sync: false,
        use_offline_dump: true,
        ipvs: false,
        print_table: true,
        stop_after: Some(Duration::from_secs(args.demo_seconds)),
        xml: xml_path,
        cfg: cfg.clone(),
    };
    let code = super::run_daemon(opts, services);
    for (what, path) in [
        ("ipvsfull.cfg", cfg.full_sync_file.clone()),
        ("offline.dump", cfg.offline_dump.clone()),
    ] {
        if let Ok(text) = std::fs::read_to_string(&path) {
            println!("--- {what} ({}):\n{text}", path.display());
        }
    }
    if let Ok(rd) = std::fs::read_dir(&cfg.diff_sync_dir) {
        let mut names: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        for p in names {
            if let Ok(text) = std::fs::read_to_string(&p) {
                println!("--- diff file {}:\n{text}", p.display());
            }
        }
    }
    println!(
        "surealived demo: done; the files stay in {} (remove it when done)",
        dir.display()
    );
    code
}
