//! Load harness of the probe engine: N reals on loopback, tested by `lvs_probe::engine` at a
//! fixed `loopdelay` and, in the same run, by a minimal raw loop (non-blocking connect and
//! RST close for tcp; one request per connection for http) at the same rate. Prints one
//! summary line with both and the ratio of their CPU cost per test.
//!
//! ```sh
//! cargo run --release -p lvs-benches --bin probe-load -- --reals 10000 --prober tcp --loopdelay 1s --seconds 60 --rounds 3 --pin
//! ```
//!
//! * Backends run in a child process (this program re-run with `--backend-child`), one listener
//!   per real on `127.1.x.y:<port>`, so that only the checker's CPU is counted: an accept loop
//!   that drops the connection (tcp), or a minimal HTTP/1.0 responder (http). The child stays
//!   up for the whole run.
//! * The checker runs on one tokio `current_thread` runtime (one core), as the raw loop does.
//! * The phases are interleaved so that both see the same background load: `--rounds N`
//!   (default 3) rounds of an engine window then a raw window, each `--seconds / N` long (at
//!   least 5 s) and each after its own warm-up of `loopdelay` plus one second that is not
//!   measured. Every engine round is a fresh runtime and engine whose first starts are spread
//!   over `startup_delay` (= `loopdelay`); every raw round a fresh epoll with its first starts
//!   spread the same way. `--rounds 1` is the former run: one engine window, then one raw one.
//! * Figures are summed over the rounds of a phase: tests/s, CPU µs per test
//!   (`getrusage(RUSAGE_SELF)` user+sys over all its windows, divided by all its tests),
//!   scheduling lag p50/p99 over all its windows (actual start minus planned start), failures
//!   over all rounds, warm-ups included (every backend is up, so every failure is false), and
//!   memory per real from the first engine round (VmRSS after the warm-up minus before the
//!   engine, divided by the reals). The ratio is the engine's CPU per test over the raw
//!   loop's; the line ends with `rounds=N` and the least and greatest ratio of a single round
//!   (also printed on stderr after each round).

#![forbid(unsafe_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use lvs_benches::process::{cpu_split_us, raise_nofile, rss};
use lvs_probe::engine::{Engine, EngineConfig, LagSnapshot};
use lvs_probe::lvs_core::config::xml::{parse_service_xml, ServiceConfig};
use lvs_probe::ProberRegistry;
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::socket::{
    connect, getsockopt, recv, send, setsockopt, socket, sockopt, AddressFamily, MsgFlags,
    SockFlag, SockType, SockaddrIn,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Which prober to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// Connect, then close with a RST.
    Tcp,
    /// `GET / HTTP/1.0`, decided on the status line (`naive`), then a RST.
    Http,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Tcp => "tcp",
            Kind::Http => "http",
        }
    }
}

/// Load harness of the probe engine against loopback backends.
#[derive(Debug, Parser)]
#[command(name = "probe-load")]
struct Args {
    /// Number of reals (one backend address each).
    #[arg(long, default_value_t = 10_000)]
    reals: u32,
    /// The prober.
    #[arg(long, value_enum, default_value_t = Kind::Tcp)]
    prober: Kind,
    /// Pause after each test's end, in whole seconds (`1s` or `1`).
    #[arg(long, default_value = "1s", value_parser = parse_secs)]
    loopdelay: u64,
    /// Measured seconds (after the warm-ups), for the engine and again for the raw loop,
    /// split evenly over the rounds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Rounds of an engine window then a raw window, so that both phases see the same
    /// background load; each window is `--seconds / --rounds` (at least 5 s) after its own
    /// warm-up. `--rounds 1` is one engine window then one raw window.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Tests in flight at most (`maxfd`).
    #[arg(long, default_value_t = 1024)]
    max_in_flight: usize,
    /// The backends' port (on every `127.1.x.y`).
    #[arg(long, default_value_t = 18_080)]
    port: u16,
    /// Skip the raw loop.
    #[arg(long)]
    no_raw: bool,
    /// Pin the checker to CPU 0 and the backends to CPU 1 (both phases alike), so that the
    /// scheduler does not move them between CPUs or run them on the same one; needs 2 CPUs.
    #[arg(long)]
    pin: bool,
    /// Internal: run the backends (this process is then the child).
    #[arg(long, hide = true)]
    backend_child: bool,
}

fn parse_secs(s: &str) -> Result<u64, String> {
    s.strip_suffix('s')
        .unwrap_or(s)
        .parse()
        .map_err(|e| format!("`{s}`: whole seconds, like 1s: {e}"))
}

const REQUEST: &[u8] = b"GET / HTTP/1.0\r\nHost: lb\r\nUser-Agent: SureAliveD\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";

fn real_addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x7f01_0000_u32 + i + 1)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    raise_nofile();
    if args.pin {
        pin_to_cpu(usize::from(args.backend_child))?;
    }
    if args.backend_child {
        return backends(&args);
    }
    let mut child = spawn_backends(&args)?;
    let result = run(&args);
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// Pins this process (its threads created from now on, and the calling thread) to `cpu`.
fn pin_to_cpu(cpu: usize) -> Result<(), Box<dyn std::error::Error>> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu).map_err(|e| format!("--pin: CPU {cpu}: {e}"))?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|e| format!("--pin: CPU {cpu}: {e} (--pin needs 2 CPUs)"))?;
    Ok(())
}

/// Starts the backends in a child process and waits until they listen.
fn spawn_backends(args: &Args) -> Result<Child, Box<dyn std::error::Error>> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(args.pin.then_some("--pin"))
        .args([
            "--backend-child",
            "--reals",
            &args.reals.to_string(),
            "--prober",
            args.prober.name(),
            "--port",
            &args.port.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line)?;
    if line.trim() != "ready" {
        let _ = child.kill();
        return Err(format!("backends did not start: {line:?}").into());
    }
    Ok(child)
}

/// The child: one listener per real, until stdin closes.
fn backends(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        for i in 0..args.reals {
            let addr = SocketAddrV4::new(real_addr(i), args.port);
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("bind {addr}: {e}"))?;
            let kind = args.prober;
            tokio::spawn(async move {
                loop {
                    let Ok((mut s, _)) = l.accept().await else {
                        continue;
                    };
                    if kind == Kind::Http {
                        let serve = async {
                            let mut buf = [0u8; 1024];
                            let mut have = 0;
                            loop {
                                let n = s.read(&mut buf[have..]).await?;
                                if n == 0 {
                                    return Ok::<_, std::io::Error>(());
                                }
                                have += n;
                                if buf[..have].windows(4).any(|w| w == b"\r\n\r\n")
                                    || have == buf.len()
                                {
                                    break;
                                }
                            }
                            s.write_all(RESPONSE).await
                        };
                        let _ = tokio::time::timeout(Duration::from_secs(5), serve).await;
                    }
                }
            });
        }
        println!("ready");
        std::io::stdout().flush()?;
        // Until the parent goes away (its end of our stdin closes).
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            let _ = tx.send(());
        });
        let _ = rx.await;
        Ok(())
    })
}

fn services_xml(args: &Args) -> String {
    let mut xml = String::from("<surealived>\n");
    let per_virtual = 1000;
    let tester = match args.prober {
        Kind::Tcp => format!(
            r#"<tester proto="tcp" testport="{}" loopdelay="{}" timeout="5"/>"#,
            args.port, args.loopdelay
        ),
        Kind::Http => format!(
            r#"<tester proto="http" testport="{}" loopdelay="{}" timeout="5" url="/" host="lb"/>"#,
            args.port, args.loopdelay
        ),
    };
    for i in 0..args.reals {
        if i % per_virtual == 0 {
            if i > 0 {
                xml.push_str("</virtual>\n");
            }
            let v = i / per_virtual;
            xml.push_str(&format!(
                "<virtual name=\"v{v}\" addr=\"10.0.{}.{}\" port=\"80\" proto=\"tcp\" sched=\"wrr\" rt=\"dr\">\n{tester}\n",
                v / 250,
                1 + v % 250
            ));
        }
        xml.push_str(&format!(
            "<real name=\"r{i}\" addr=\"{}\" port=\"80\" weight=\"1\"/>\n",
            real_addr(i)
        ));
    }
    if args.reals > 0 {
        xml.push_str("</virtual>\n");
    }
    xml.push_str("</surealived>\n");
    xml
}

/// What one measured window of one phase counted.
#[derive(Debug, Default, Clone, Copy)]
struct Window {
    tests: u64,
    user_us: u64,
    sys_us: u64,
    elapsed: Duration,
}

impl Window {
    fn add(&mut self, other: &Window) {
        self.tests += other.tests;
        self.user_us += other.user_us;
        self.sys_us += other.sys_us;
        self.elapsed += other.elapsed;
    }

    fn cpu_us_per_test(&self) -> f64 {
        (self.user_us + self.sys_us) as f64 / self.tests.max(1) as f64
    }

    fn tests_per_s(&self) -> f64 {
        self.tests as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    fn user_share(&self) -> f64 {
        self.user_us as f64 / (self.user_us + self.sys_us).max(1) as f64
    }
}

/// One engine round: its window, the lag of the starts in it, and the failures over the
/// engine's whole life (warm-up included).
struct EngineRound {
    window: Window,
    lag: LagSnapshot,
    failures: u64,
}

/// One raw round: its window, the lag of the starts in it (µs), and the failures over the
/// whole round (warm-up included).
struct RawRound {
    window: Window,
    lags: Vec<u32>,
    failures: u64,
}

/// The least measured window of a round.
const MIN_ROUND_WINDOW: Duration = Duration::from_secs(5);

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let services = parse_service_xml(
        &services_xml(args),
        "load.xml",
        ProberRegistry::builtin().testers(),
    )?;
    let loopdelay = Duration::from_secs(args.loopdelay);
    let warmup = loopdelay + Duration::from_secs(1);
    let window = Duration::from_secs(args.seconds) / args.rounds;
    if window < MIN_ROUND_WINDOW {
        return Err(format!(
            "--seconds {} over --rounds {} leaves {:.1} s per window, less than {} s",
            args.seconds,
            args.rounds,
            window.as_secs_f64(),
            MIN_ROUND_WINDOW.as_secs()
        )
        .into());
    }
    let targets: Vec<SocketAddrV4> = (0..args.reals)
        .map(|i| SocketAddrV4::new(real_addr(i), args.port))
        .collect();

    let (mut engine, mut engine_lag, mut engine_failures) = (Window::default(), None, 0);
    let (mut raw, mut raw_lags, mut raw_failures) = (Window::default(), Vec::new(), 0);
    let mut bytes_per_real = 0.0;
    let mut ratios: Vec<f64> = Vec::new();
    for round in 1..=args.rounds {
        let (e, bytes) = engine_round(args, &services, loopdelay, warmup, window)?;
        if round == 1 {
            bytes_per_real = bytes;
        }
        engine.add(&e.window);
        match engine_lag.as_mut() {
            Some(lag) => LagSnapshot::merge(lag, &e.lag),
            None => engine_lag = Some(e.lag),
        }
        engine_failures += e.failures;
        let mut progress = format!(
            "round {round}/{}: engine cpu_us/test={:.1}",
            args.rounds,
            e.window.cpu_us_per_test()
        );
        if !args.no_raw {
            let r = raw_loop(args.prober, &targets, loopdelay, warmup, window)?;
            raw.add(&r.window);
            raw_lags.extend_from_slice(&r.lags);
            raw_failures += r.failures;
            let ratio = e.window.cpu_us_per_test() / r.window.cpu_us_per_test();
            ratios.push(ratio);
            progress.push_str(&format!(
                " raw cpu_us/test={:.1} ratio={ratio:.2}",
                r.window.cpu_us_per_test()
            ));
        }
        eprintln!("{progress}");
    }
    let engine_lag = engine_lag.ok_or("no round")?;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut line = format!(
        "probe-load reals={} prober={} loopdelay={}s tests/s={:.0} cpu_us/test={:.1} (user {:.0}%) lag_p50_ms={:.2} lag_p99_ms={:.2} false_failures={} bytes/real={:.0}",
        args.reals,
        args.prober.name(),
        args.loopdelay,
        engine.tests_per_s(),
        engine.cpu_us_per_test(),
        engine.user_share() * 100.0,
        ms(engine_lag.quantile(0.5)),
        ms(engine_lag.quantile(0.99)),
        engine_failures,
        bytes_per_real,
    );
    if !args.no_raw {
        raw_lags.sort_unstable();
        let p99 = raw_lags
            .get(((raw_lags.len() as f64 * 0.99) as usize).min(raw_lags.len().saturating_sub(1)))
            .map_or(Duration::ZERO, |&us| Duration::from_micros(u64::from(us)));
        line.push_str(&format!(
            " | raw tests/s={:.0} cpu_us/test={:.1} (user {:.0}%) lag_p99_ms={:.2} failures={} | cpu_ratio={:.2}",
            raw.tests_per_s(),
            raw.cpu_us_per_test(),
            raw.user_share() * 100.0,
            ms(p99),
            raw_failures,
            engine.cpu_us_per_test() / raw.cpu_us_per_test().max(f64::MIN_POSITIVE),
        ));
    }
    line.push_str(&format!(" | rounds={}", args.rounds));
    if args.pin {
        line.push_str(" pinned");
    }
    if !ratios.is_empty() {
        let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let max = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        line.push_str(&format!(" round_ratios={min:.2}-{max:.2}"));
    }
    println!("{line}");
    Ok(())
}

/// One engine window: a fresh runtime and engine (first starts spread over `loopdelay`), the
/// warm-up, then `window` measured. Returns the round and the memory per real (VmRSS after
/// the warm-up minus before the engine, over the reals).
fn engine_round(
    args: &Args,
    services: &ServiceConfig,
    loopdelay: Duration,
    warmup: Duration,
    window: Duration,
) -> Result<(EngineRound, f64), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let round = rt.block_on(async {
        let rss0 = rss();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let transitions = Arc::new(AtomicU64::new(0));
        let t = transitions.clone();
        tokio::spawn(async move {
            while rx.recv().await.is_some() {
                t.fetch_add(1, Ordering::Relaxed);
            }
        });
        let config = EngineConfig {
            startup_delay: loopdelay,
            max_in_flight: args.max_in_flight,
            ..EngineConfig::default()
        };
        let engine = Engine::new(config, ProberRegistry::builtin(), tx);
        engine.reconcile(services)?;
        tokio::time::sleep(warmup).await;
        let bytes_per_real = rss().saturating_sub(rss0) as f64 / f64::from(args.reals.max(1));
        let (c0, lag0, (u0, s0), t0) = (
            engine.counters(),
            engine.scheduling_lag(),
            cpu_split_us(),
            Instant::now(),
        );
        tokio::time::sleep(window).await;
        let (c1, lag1, (u1, s1), el) = (
            engine.counters(),
            engine.scheduling_lag(),
            cpu_split_us(),
            t0.elapsed(),
        );
        let round = EngineRound {
            window: Window {
                tests: c1.tests - c0.tests,
                user_us: u1 - u0,
                sys_us: s1 - s0,
                elapsed: el,
            },
            lag: lag1.since(&lag0),
            failures: c1.failures,
        };
        if c1.failures > 0 {
            let snap = engine.snapshot();
            if let Some(r) = snap
                .iter()
                .flat_map(|v| v.reals.iter())
                .find(|r| r.last_failure.is_some())
            {
                eprintln!("a failure: {} {:?}", r.name, r.last_failure);
            }
        }
        engine.shutdown().await;
        Ok::<_, Box<dyn std::error::Error>>((round, bytes_per_real))
    })?;
    drop(rt);
    Ok(round)
}

/// A test of the raw loop in flight.
struct RawConn {
    fd: OwnedFd,
    sent: bool,
    got: Vec<u8>,
}

/// The machine's limit: the same schedule (each real `loopdelay` after its previous test
/// ended, first starts spread over `loopdelay`) with plain non-blocking sockets and epoll.
fn raw_loop(
    kind: Kind,
    targets: &[SocketAddrV4],
    loopdelay: Duration,
    warmup: Duration,
    window: Duration,
) -> Result<RawRound, Box<dyn std::error::Error>> {
    let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    let n = targets.len().max(1);
    let t0 = Instant::now();
    let mut heap: BinaryHeap<Reverse<(Instant, usize)>> = (0..targets.len())
        .map(|i| Reverse((t0 + loopdelay.mul_f64(i as f64 / n as f64), i)))
        .collect();
    let mut conns: Vec<Option<RawConn>> = (0..targets.len()).map(|_| None).collect();
    let mut events = vec![EpollEvent::empty(); 1024];
    let (measure_from, measure_to) = (t0 + warmup, t0 + warmup + window);
    let mut measuring = false;
    let (mut cpu0, mut done, mut failures) = ((0, 0), 0u64, 0u64);
    let mut lags: Vec<u32> = Vec::new();

    // Ends test `i`: closes the socket (a RST, SO_LINGER 0) and plans the next one.
    let mut finish = |conns: &mut Vec<Option<RawConn>>,
                      heap: &mut BinaryHeap<Reverse<(Instant, usize)>>,
                      i: usize,
                      ok: bool,
                      measuring: bool| {
        conns[i] = None;
        let end = Instant::now();
        if measuring {
            done += 1;
        }
        if !ok {
            failures += 1;
        }
        heap.push(Reverse((end + loopdelay, i)));
    };

    loop {
        let now = Instant::now();
        if !measuring && now >= measure_from {
            measuring = true;
            cpu0 = cpu_split_us();
        }
        if now >= measure_to {
            break;
        }
        while let Some(&Reverse((planned, i))) = heap.peek() {
            if planned > now {
                break;
            }
            heap.pop();
            if measuring {
                lags.push(
                    u32::try_from(now.duration_since(planned).as_micros()).unwrap_or(u32::MAX),
                );
            }
            let started = (|| -> nix::Result<Option<RawConn>> {
                let fd = socket(
                    AddressFamily::Inet,
                    SockType::Stream,
                    SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
                    None,
                )?;
                setsockopt(
                    &fd,
                    sockopt::Linger,
                    &nix::libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    },
                )?;
                match connect(fd.as_raw_fd(), &SockaddrIn::from(targets[i])) {
                    Ok(()) | Err(Errno::EINPROGRESS) => {}
                    Err(e) => return Err(e),
                }
                ep.add(&fd, EpollEvent::new(EpollFlags::EPOLLOUT, i as u64))?;
                Ok(Some(RawConn {
                    fd,
                    sent: false,
                    got: Vec::new(),
                }))
            })();
            match started {
                Ok(c) => conns[i] = c,
                Err(_) => finish(&mut conns, &mut heap, i, false, measuring),
            }
        }
        let timeout = heap.peek().map_or(100, |Reverse((t, _))| {
            let d = t.saturating_duration_since(Instant::now());
            // Round up to the next millisecond, as a timer wheel would.
            u16::try_from(d.as_micros().div_ceil(1000)).unwrap_or(u16::MAX)
        });
        let got = ep.wait(&mut events, EpollTimeout::from(timeout))?;
        for ev in &events[..got] {
            let i = ev.data() as usize;
            let Some(c) = conns[i].as_mut() else {
                continue;
            };
            let outcome: Option<bool> = if !c.sent {
                match getsockopt(&c.fd, sockopt::SocketError) {
                    Ok(0) if kind == Kind::Tcp => Some(true),
                    Ok(0) => match send(c.fd.as_raw_fd(), REQUEST, MsgFlags::MSG_NOSIGNAL) {
                        Ok(k) if k == REQUEST.len() => {
                            c.sent = true;
                            match ep
                                .modify(&c.fd, &mut EpollEvent::new(EpollFlags::EPOLLIN, i as u64))
                            {
                                Ok(()) => None,
                                Err(_) => Some(false),
                            }
                        }
                        _ => Some(false),
                    },
                    _ => Some(false),
                }
            } else {
                let mut buf = [0u8; 512];
                match recv(c.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                    Ok(0) => Some(false),
                    Ok(k) => {
                        c.got.extend_from_slice(&buf[..k]);
                        if c.got.len() >= 12 {
                            Some(c.got.starts_with(b"HTTP/1.") && &c.got[9..12] == b"200")
                        } else {
                            None
                        }
                    }
                    Err(Errno::EAGAIN) => None,
                    Err(_) => Some(false),
                }
            };
            if let Some(ok) = outcome {
                finish(&mut conns, &mut heap, i, ok, measuring);
            }
        }
    }
    let cpu1 = cpu_split_us();
    Ok(RawRound {
        window: Window {
            tests: done,
            user_us: cpu1.0 - cpu0.0,
            sys_us: cpu1.1 - cpu0.1,
            elapsed: window,
        },
        lags,
        failures,
    })
}
