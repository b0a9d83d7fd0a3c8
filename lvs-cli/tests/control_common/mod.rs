//! Helpers of the control-port tests: a fake handler, the server on a thread of its own (as in
//! the daemon, a current-thread runtime) on a loopback port, and a line-reading client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use lvs_cli::control::{serve, ControlLimits};
use lvs_core::control::{
    ControlHandler, RealConnStats, RealView, RsetReply, StatsView, TestCounters, VirtualConnStats,
    VirtualListing, VirtualView,
};
use lvs_core::formats::dumps::{Problems, Times};
use lvs_core::formats::ipvsfull::{Rt, VProto};
use lvs_core::model::{AddressFamily, DestKey, Protocol, ServiceKey};
use lvs_core::state::{AdminState, WeightOverride};

pub(crate) const WAIT: Duration = Duration::from_secs(20);

pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn real(name: &str, addr: &str, port: u16, weight: u32, online: bool) -> RealView {
    RealView {
        key: DestKey {
            addr: ip(addr),
            port,
        },
        name: name.into(),
        current_weight: if online { weight } else { 0 },
        conf_weight: weight,
        online,
        rstate: AdminState::Online,
        weight_override: None,
        in_ipvs: online,
    }
}

fn virt(name: &str, proto: VProto, addr: &str, port: u16, fwmark: u32) -> VirtualView {
    let key = if fwmark > 0 {
        ServiceKey::Fwmark {
            af: AddressFamily::Inet,
            mark: fwmark,
        }
    } else {
        ServiceKey::Inet {
            protocol: if proto == VProto::Udp {
                Protocol::Udp
            } else {
                Protocol::Tcp
            },
            addr: ip(addr),
            port,
        }
    };
    VirtualView {
        key,
        name: name.into(),
        proto,
        addr: ip(addr),
        port,
        fwmark,
        rt: Rt::Dr,
        sched: "wlc".into(),
    }
}

/// www (tcp 10.0.0.1:80: web1 up, web2 failing), fw (fwmark 42, no reals), dns6 (udp
/// [2001:db8::1]:53 with one real).
pub(crate) fn listing() -> Vec<VirtualListing> {
    vec![
        VirtualListing {
            virtual_view: virt("www", VProto::Tcp, "10.0.0.1", 80, 0),
            reals: vec![
                real("web1", "10.0.1.1", 8080, 10, true),
                real("web2", "10.0.1.2", 8080, 5, false),
            ],
        },
        VirtualListing {
            virtual_view: virt("fw", VProto::Fwmark, "0.0.0.0", 0, 42),
            reals: vec![],
        },
        VirtualListing {
            virtual_view: virt("dns6", VProto::Udp, "2001:db8::1", 53, 0),
            reals: vec![real("ns1", "2001:db8::53", 53, 1, true)],
        },
    ]
}

/// `n` virtuals with long names (a large `vlist`).
pub(crate) fn big_listing(n: usize) -> Vec<VirtualListing> {
    (0..n)
        .map(|i| VirtualListing {
            virtual_view: virt(
                &format!("virtual-with-a-rather-long-name-{i:06}"),
                VProto::Tcp,
                "10.0.0.1",
                u16::try_from(i % 60000).unwrap_or(0) + 1,
                0,
            ),
            reals: vec![],
        })
        .collect()
}

pub(crate) type RsetCall = (
    ServiceKey,
    DestKey,
    Option<AdminState>,
    Option<WeightOverride>,
);

/// A handler over a fixed listing that records `rset` calls; `stats` can be made to wait for
/// the test's go.
pub(crate) struct Fake {
    pub(crate) listing: Vec<VirtualListing>,
    pub(crate) rsets: Mutex<Vec<RsetCall>>,
    pub(crate) stats_gate: Mutex<Option<mpsc::Receiver<()>>>,
    pub(crate) stats_calls: AtomicUsize,
}

impl Fake {
    pub(crate) fn new() -> Self {
        Self::with(listing())
    }

    pub(crate) fn with(listing: Vec<VirtualListing>) -> Self {
        Fake {
            listing,
            rsets: Mutex::new(Vec::new()),
            stats_gate: Mutex::new(None),
            stats_calls: AtomicUsize::new(0),
        }
    }

    pub(crate) fn rsets(&self) -> Vec<RsetCall> {
        self.rsets.lock().expect("lock").clone()
    }
}

pub(crate) fn stats_view() -> StatsView {
    StatsView {
        watchdog_pid: None,
        tester_pid: 4242,
        virtuals: 3,
        reals: 3,
        rstate_online: 3,
        rstate_offline: 0,
        rstate_down: 0,
        offline_size: 1,
        override_size: 0,
        success: 2,
        failed: 1,
        tests: TestCounters {
            success: 100,
            failed: 7,
            ..TestCounters::default()
        },
    }
}

pub(crate) fn connstats_view() -> Vec<VirtualConnStats> {
    let l = listing();
    let t = |c, r, total| Times {
        conn: c,
        resp: r,
        total,
    };
    let rs = RealConnStats {
        total: 10,
        problems: Problems {
            conn: 1,
            arp: 0,
            rst: 0,
        },
        last_us: t(1500, 2500, 4000),
        sample_avg_us: t(1000, 2000, 3000),
        lifetime_avg_us: t(1100, 2100, 3200),
    };
    vec![VirtualConnStats {
        listing: l[0].clone(),
        samples: 20,
        total: 20,
        sample_avg_us: t(1000, 2000, 3000),
        problems: Problems {
            conn: 1,
            arp: 0,
            rst: 0,
        },
        reals: vec![rs, rs],
    }]
}

impl ControlHandler for Fake {
    fn listing(&self) -> Vec<VirtualListing> {
        self.listing.clone()
    }

    fn rset(
        &self,
        v: &ServiceKey,
        r: &DestKey,
        rstate: Option<AdminState>,
        rweight: Option<WeightOverride>,
    ) -> Result<RsetReply, String> {
        self.rsets
            .lock()
            .expect("lock")
            .push((*v, *r, rstate, rweight));
        Ok(RsetReply {
            rstate: rstate.unwrap_or(AdminState::Online),
            weight: rweight.map_or(10, WeightOverride::value),
            in_percent: rweight.is_some_and(WeightOverride::is_percent),
        })
    }

    fn stats(&self) -> StatsView {
        self.stats_calls.fetch_add(1, Ordering::SeqCst);
        let gate = self.stats_gate.lock().expect("lock").take();
        if let Some(gate) = gate {
            let _ = gate.recv_timeout(WAIT);
        }
        stats_view()
    }

    fn connstats(&self) -> Option<Vec<VirtualConnStats>> {
        Some(connstats_view())
    }
}

/// The server on its own thread and runtime; dropping it stops it.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub(crate) fn start(handler: Arc<dyn ControlHandler>, limits: ControlLimits) -> Server {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = lvs_cli::runtime().expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind loopback");
                addr_tx
                    .send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                serve(listener, handler, limits, async {
                    let _ = stop_rx.await;
                })
                .await;
            });
        });
        let addr = addr_rx.recv_timeout(WAIT).expect("server address");
        Server {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Stops the server and waits (boundedly) for `serve` to return; true if it did.
    pub(crate) fn stop(&mut self) -> bool {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(thread) = self.thread.take() else {
            return true;
        };
        let deadline = std::time::Instant::now() + WAIT;
        while !thread.is_finished() {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        thread.join().is_ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A blocking client that reads replies up to their `_SD_CMD_END_` line.
pub(crate) struct Client {
    pub(crate) stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    pub(crate) fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        stream.set_write_timeout(Some(WAIT)).expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Client { stream, reader }
    }

    pub(crate) fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// One whole reply, terminator included.
    pub(crate) fn reply(&mut self) -> String {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("read reply");
            assert!(n > 0, "connection closed mid-reply after {text:?}");
            text.push_str(&line);
            if line == "_SD_CMD_END_\n" {
                return text;
            }
        }
    }

    pub(crate) fn ask(&mut self, line: &str) -> String {
        self.send(format!("{line}\n").as_bytes());
        self.reply()
    }

    /// Reads what remains until the server closes; `None` if it does not within the read
    /// timeout. A reset counts as closed.
    pub(crate) fn rest_until_closed(&mut self) -> Option<String> {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => Some(String::from_utf8_lossy(&rest).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                Some(String::from_utf8_lossy(&rest).into_owned())
            }
            Err(_) => None,
        }
    }
}
