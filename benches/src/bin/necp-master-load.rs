//! Load harness of the feedbackd master: one master (the `lvs-necp` master state machine and
//! its tokio driver, memory backend) serving many agents at the default 2 s keepalive
//! interval.
//!
//! ```sh
//! cargo run --release -p lvs-benches --bin necp-master-load -- --agents 10000 --seconds 30
//! ```
//!
//! * The agents run in a child process (this program re-run with `--agents-child`): real
//!   `lvs-necp` agent sessions with their tokio driver, each connecting from its own loopback
//!   address `127.2.x.y` (the master keys a real server by the agent's address), each with one
//!   service whose health changes every `--change-every` seconds.
//! * The master runs on one tokio `current_thread` runtime in this process, with nothing else,
//!   so `getrusage(RUSAGE_SELF)` is the master's CPU.
//! * Once every agent's real has its weight, the harness measures for `--seconds`: the
//!   master's CPU share of one core, the keepalives answered (counted by the agents), the
//!   weight changes written, and memory per agent (VmRSS now minus VmRSS before the master
//!   existed, over the agents; the memory backend's table is included).
//!
//! It prints one line, e.g.
//! `necp-master-load: agents 10000 interval 2s window 30s: polls/s 5000 (expected 5000),
//! weight changes/s 333, master CPU 3.1% of one core (6.2 us/poll), memory 2.9 KiB/agent`.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use lvs_benches::process::{cpu_split_us, raise_nofile, rss};
use lvs_core::config::feedbackd::{parse_master_config, ServicesDb};
use lvs_core::model::{DestKey, Protocol, ServiceKey};
use lvs_necp::codec::{NecpForwarding, ServiceUnit};
use lvs_necp::driver::{run_agent, run_master, AgentDriverEvent, MasterDriverEvent, MemoryBackend};
use lvs_necp::session::agent::{Agent, AgentEvent, AgentSettings};
use lvs_necp::session::master::{Master, MasterEvent, MasterSettings, RealKey};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::{sleep, Instant};

/// Load harness of the feedbackd master.
#[derive(Debug, Parser)]
#[command(name = "necp-master-load")]
struct Args {
    /// Number of agents (one loopback address each).
    #[arg(long, default_value_t = 10_000)]
    agents: u32,
    /// The master's keepalive-interval, in seconds.
    #[arg(long, default_value_t = 2)]
    interval: u64,
    /// Measured seconds, after every agent has joined.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Each agent's health changes every this many seconds (0 = never).
    #[arg(long, default_value_t = 30)]
    change_every: u64,
    /// Internal: run the agents (this process is then the child), connecting to this master.
    #[arg(long, hide = true)]
    agents_child: Option<SocketAddr>,
}

const PORT: u16 = 8080;

fn agent_addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x7f02_0000_u32 + (i / 250) * 256 + i % 250 + 1)
}

fn real_of(i: u32) -> RealKey {
    RealKey {
        service: ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: "10.9.9.9".parse().expect("ip"),
            port: PORT,
        },
        real: DestKey {
            addr: IpAddr::V4(agent_addr(i)),
            port: PORT,
        },
    }
}

/// User + system CPU of this process, in µs.
fn cpu_us() -> u64 {
    let (user, sys) = cpu_split_us();
    user + sys
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    raise_nofile();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.agents_child {
        Some(master) => rt.block_on(agents(&args, master)),
        None => rt.block_on(master(&args)),
    }
}

/// The child: every agent, printing the polls answered when asked on stdin.
async fn agents(args: &Args, master: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let polls = Arc::new(AtomicU64::new(0));
    let mut healths = Vec::with_capacity(args.agents as usize);
    for i in 0..args.agents {
        let mut s = AgentSettings::new(vec![ServiceUnit {
            forwarding: NecpForwarding::L3,
            protocol: 6,
            port: PORT,
        }]);
        s.backoff_min = Duration::from_millis(200);
        s.backoff_max = Duration::from_secs(2);
        let agent = Agent::new(s, Instant::now().into_std());
        let (tx, rx) = watch::channel(vec![(i % 100 + 1) as u8]);
        healths.push(tx);
        let polls = polls.clone();
        tokio::spawn(run_agent(
            agent,
            master,
            Some(IpAddr::V4(agent_addr(i))),
            rx,
            move |ev| {
                if let AgentDriverEvent::Session(AgentEvent::Polled { .. }) = ev {
                    polls.fetch_add(1, Ordering::Relaxed);
                }
            },
            std::future::pending(),
        ));
        if i % 500 == 499 {
            // Let the master keep up with the connection storm.
            sleep(Duration::from_millis(20)).await;
        }
    }
    // Health changes, spread over the period.
    let every = args.change_every;
    if every > 0 {
        let n = healths.len() as u64;
        tokio::spawn(async move {
            let step = Duration::from_secs(every).as_nanos() as u64 / n.max(1);
            let mut round = 0u64;
            loop {
                round += 1;
                for (i, h) in healths.iter().enumerate() {
                    sleep(Duration::from_nanos(step)).await;
                    let v = ((i as u64 + round * 37) % 100 + 1) as u8;
                    h.send_replace(vec![v]);
                }
            }
        });
    }
    // Answer the parent, from a thread of its own: one line per request line; end with stdin.
    let answer = std::thread::spawn(move || {
        let mut line = String::new();
        let stdin = std::io::stdin();
        loop {
            line.clear();
            if stdin.lock().read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            println!("{}", polls.load(Ordering::Relaxed));
            let _ = std::io::stdout().flush();
        }
    });
    while !answer.is_finished() {
        sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

fn spawn_agents(args: &Args, master: SocketAddr) -> Result<Child, Box<dyn std::error::Error>> {
    Ok(Command::new(std::env::current_exe()?)
        .arg("--agents")
        .arg(args.agents.to_string())
        .arg("--change-every")
        .arg(args.change_every.to_string())
        .arg("--agents-child")
        .arg(master.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?)
}

/// Asks the child for its count of answered polls.
fn child_polls(
    stdin: &mut std::process::ChildStdin,
    stdout: &mut BufReader<std::process::ChildStdout>,
) -> u64 {
    let _ = writeln!(stdin);
    let _ = stdin.flush();
    let mut line = String::new();
    let _ = stdout.read_line(&mut line);
    line.trim().parse().unwrap_or(0)
}

async fn master(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let text = format!(
        "keepalive-interval = {}\nkeepalive-timeout = 10\nkeepalive-retries = 3\n\
         removal-interval = 30\nallow = 127.0.0.0/8\nmax-agents = {}\n\
         [virtual-service]\nname = www\naddress = 10.9.9.9\nprotocol = tcp\nport = {PORT}\n\
         scheduler = wrr\n",
        args.interval,
        args.agents + 16
    );
    let cfg = parse_master_config(&text, "load.conf", &ServicesDb::builtin())?;
    let before = rss();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let backend = MemoryBackend::new();
    let mut b = backend.clone();
    let weights = Arc::new(AtomicU64::new(0));
    let w = weights.clone();
    let m = Master::new(MasterSettings::new(cfg), Instant::now().into_std(), 1);
    tokio::spawn(async move {
        run_master(
            m,
            listener,
            &mut b,
            move |ev| {
                if let MasterDriverEvent::Session(MasterEvent::Weight { .. }) = ev {
                    w.fetch_add(1, Ordering::Relaxed);
                }
            },
            std::future::pending(),
        )
        .await
    });
    let mut child = spawn_agents(args, addr)?;
    let mut stdin = child.stdin.take().ok_or("child stdin")?;
    let mut stdout = BufReader::new(child.stdout.take().ok_or("child stdout")?);
    // Wait until every agent's real exists with a non-zero weight.
    let start = Instant::now();
    let n = args.agents;
    loop {
        sleep(Duration::from_millis(500)).await;
        let table = backend.table();
        let joined = (0..n)
            .filter(|&i| {
                let r = real_of(i);
                table
                    .destination(&r.service, &r.real)
                    .is_some_and(|d| d.weight > 0)
            })
            .count();
        if joined == n as usize {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            return Err(format!("only {joined} of {n} agents joined within 120 s").into());
        }
    }
    let joined_in = start.elapsed();
    // One more interval to settle, then the window.
    sleep(Duration::from_secs(args.interval)).await;
    let polls0 = child_polls(&mut stdin, &mut stdout);
    let weights0 = weights.load(Ordering::Relaxed);
    let cpu0 = cpu_us();
    let t0 = Instant::now();
    sleep(Duration::from_secs(args.seconds)).await;
    let cpu1 = cpu_us();
    let wall = t0.elapsed();
    let polls1 = child_polls(&mut stdin, &mut stdout);
    let weights1 = weights.load(Ordering::Relaxed);
    let after = rss();
    let _ = child.kill();
    let _ = child.wait();
    let secs = wall.as_secs_f64();
    let polls = (polls1 - polls0) as f64 / secs;
    let cpu_share = (cpu1 - cpu0) as f64 / 1e6 / secs;
    let us_per_poll = if polls > 0.0 {
        (cpu1 - cpu0) as f64 / (polls * secs)
    } else {
        0.0
    };
    println!(
        "necp-master-load: agents {n} interval {}s window {}s (joined in {:.1}s): polls/s {:.0} \
         (expected {:.0}), weight changes/s {:.0}, master CPU {:.2}% of one core ({:.1} us/poll), \
         memory {:.2} KiB/agent",
        args.interval,
        args.seconds,
        joined_in.as_secs_f64(),
        polls,
        f64::from(n) / args.interval as f64,
        (weights1 - weights0) as f64 / secs,
        cpu_share * 100.0,
        us_per_poll,
        after.saturating_sub(before) as f64 / 1024.0 / f64::from(n),
    );
    Ok(())
}
