//! The control port's parser, lookup and rendering (`lvs_core::control`): exact bytes of every
//! reply and error, and property tests of the parser.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use lvs_core::control::{
    find_real, find_virtual, parse, parse_bytes, parse_vm_lines, render_connstats, render_error,
    render_rlist, render_rset, render_stats, render_vlist, respond, ControlError, ControlHandler,
    Format, ParsedRequest, ProcessUsage, RealConnStats, RealView, Request, RsetReply, StatsView,
    TestCounters, VirtualConnStats, VirtualListing, VirtualSelector, VirtualView, VmLine,
};
use lvs_core::formats::dumps::{Problems, Times};
use lvs_core::formats::ipvsfull::{Rt, VProto};
use lvs_core::model::{AddressFamily, DestKey, Protocol, ServiceKey};
use lvs_core::state::{AdminState, WeightOverride};
use proptest::prelude::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn real(name: &str, addr: &str, port: u16, cur: u32, conf: u32, online: bool) -> RealView {
    RealView {
        key: DestKey {
            addr: ip(addr),
            port,
        },
        name: name.into(),
        current_weight: cur,
        conf_weight: conf,
        online,
        rstate: AdminState::Online,
        weight_override: None,
        in_ipvs: online,
    }
}

/// www (tcp 10.0.0.1:80, two reals), fw (fwmark 42, no reals), dns6 (udp [2001:db8::1]:53).
fn listing() -> Vec<VirtualListing> {
    let mut down = real("web2", "10.0.1.2", 8080, 0, 5, false);
    down.rstate = AdminState::Down;
    down.weight_override = Some(WeightOverride::Percent(50));
    vec![
        VirtualListing {
            virtual_view: VirtualView {
                key: ServiceKey::Inet {
                    protocol: Protocol::Tcp,
                    addr: ip("10.0.0.1"),
                    port: 80,
                },
                name: "www".into(),
                proto: VProto::Tcp,
                addr: ip("10.0.0.1"),
                port: 80,
                fwmark: 0,
                rt: Rt::Dr,
                sched: "wlc".into(),
            },
            reals: vec![real("web1", "10.0.1.1", 8080, 10, 10, true), down],
        },
        VirtualListing {
            virtual_view: VirtualView {
                key: ServiceKey::Fwmark {
                    af: AddressFamily::Inet,
                    mark: 42,
                },
                name: "fw".into(),
                proto: VProto::Fwmark,
                addr: ip("0.0.0.0"),
                port: 0,
                fwmark: 42,
                rt: Rt::Masq,
                sched: "rr".into(),
            },
            reals: vec![],
        },
        VirtualListing {
            virtual_view: VirtualView {
                key: ServiceKey::Inet {
                    protocol: Protocol::Udp,
                    addr: ip("2001:db8::1"),
                    port: 53,
                },
                name: "dns6".into(),
                proto: VProto::Udp,
                addr: ip("2001:db8::1"),
                port: 53,
                fwmark: 0,
                rt: Rt::Tun,
                sched: "sh".into(),
            },
            reals: vec![real("ns1", "2001:db8::53", 53, 1, 1, true)],
        },
    ]
}

type RsetCall = (
    ServiceKey,
    DestKey,
    Option<AdminState>,
    Option<WeightOverride>,
);

struct Fake {
    listing: Vec<VirtualListing>,
    gather: bool,
    rsets: Mutex<Vec<RsetCall>>,
    refuse: Option<String>,
}

impl Fake {
    fn new() -> Self {
        Fake {
            listing: listing(),
            gather: true,
            rsets: Mutex::new(Vec::new()),
            refuse: None,
        }
    }
    fn calls(&self) -> Vec<RsetCall> {
        self.rsets.lock().expect("lock").clone()
    }
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
        if let Some(reason) = &self.refuse {
            return Err(reason.clone());
        }
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
        stats_view()
    }
    fn connstats(&self) -> Option<Vec<VirtualConnStats>> {
        self.gather.then(connstats_view)
    }
}

fn stats_view() -> StatsView {
    StatsView {
        watchdog_pid: None,
        tester_pid: 4242,
        virtuals: 3,
        reals: 3,
        rstate_online: 2,
        rstate_offline: 0,
        rstate_down: 1,
        offline_size: 1,
        override_size: 1,
        success: 2,
        failed: 1,
        tests: TestCounters {
            success: 100,
            failed: 7,
            online_set: 1,
            offline_set: 2,
            conn_problem: 3,
            arp_problem: 4,
            rst_problem: 5,
            bytes_received: 123456,
            bytes_sent: 6543,
        },
    }
}

fn usage() -> ProcessUsage {
    ProcessUsage {
        user_time: Duration::new(1, 234_000),
        system_time: Duration::from_micros(56),
        block_in_ops: 1,
        block_out_ops: 2,
        messages_sent: 0,
        messages_rcvd: 0,
        signals_rcvd: 3,
        voluntary_ctx: 40,
        involunt_ctx: 5,
        fd_used: 9,
        memory: vec![
            VmLine {
                name: "Peak".into(),
                value: 12345,
                unit: "kB".into(),
            },
            VmLine {
                name: "RSS".into(),
                value: 1234567,
                unit: "kB".into(),
            },
        ],
    }
}

fn connstats_view() -> Vec<VirtualConnStats> {
    let l = listing();
    let t = |c, r, tt| Times {
        conn: c,
        resp: r,
        total: tt,
    };
    let rs = |n: i64| RealConnStats {
        total: 10 * n as u64,
        problems: Problems {
            conn: n as i32,
            arp: 0,
            rst: 2,
        },
        last_us: t(1500 * n, 2500, 4000),
        sample_avg_us: t(1000, 2000, 3999),
        lifetime_avg_us: t(999, 12_345, 13_344),
    };
    vec![
        VirtualConnStats {
            listing: l[0].clone(),
            samples: 20,
            total: 30,
            sample_avg_us: t(1000, 2000, 3000),
            problems: Problems {
                conn: 3,
                arp: 0,
                rst: 4,
            },
            reals: vec![rs(1), rs(2)],
        },
        VirtualConnStats {
            listing: l[1].clone(),
            samples: 5,
            total: 0,
            sample_avg_us: t(0, 0, 0),
            problems: Problems::default(),
            reals: vec![],
        },
    ]
}

fn sel(proto: VProto, addr: &str, port: u16, fwmark: u32) -> VirtualSelector {
    VirtualSelector {
        proto,
        addr: ip(addr),
        port,
        fwmark,
    }
}

fn text(line: &str) -> Request {
    let p = parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert_eq!(p.format, Format::Text, "{line:?}");
    p.request
}

// ---------------------------------------------------------------------------------------------
// Parser

#[test]
fn commands_are_prefixes_of_the_line() {
    assert_eq!(text("vlist"), Request::Vlist);
    assert_eq!(text("vlist\n"), Request::Vlist);
    assert_eq!(text("vlist\r\n"), Request::Vlist);
    assert_eq!(text("vlistwhatever"), Request::Vlist);
    assert_eq!(text("stats"), Request::Stats);
    assert_eq!(text("statsx y=z"), Request::Stats);
    assert_eq!(text("connstats"), Request::Connstats);
    assert_eq!(
        text("rlist vproto=tcp"),
        Request::Rlist(sel(VProto::Tcp, "0.0.0.0", 0, 0))
    );
    for bad in ["", " vlist", "VLIST", "rse", "conn", "quit", "\r"] {
        assert!(
            matches!(parse(bad), Err(ControlError::InvalidRequest(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn words_split_on_space_and_tab_value_between_first_and_second_equals() {
    assert_eq!(
        text("rlist\tvproto=udp  vaddr=10.0.0.9=junk\tvport=53 noise vfwmark=0"),
        Request::Rlist(sel(VProto::Udp, "10.0.0.9", 53, 0))
    );
    // A later word replaces an earlier one, as in the original's hash table.
    assert_eq!(
        text("rlist vproto=udp vport=1 vport=2 vproto=tcp"),
        Request::Rlist(sel(VProto::Tcp, "0.0.0.0", 2, 0))
    );
    assert_eq!(
        text("rlist vproto=fwmark vfwmark=42"),
        Request::Rlist(sel(VProto::Fwmark, "0.0.0.0", 0, 42))
    );
    assert_eq!(
        text("rlist vproto=udp vaddr=2001:db8::1 vport=53"),
        Request::Rlist(sel(VProto::Udp, "2001:db8::1", 53, 0))
    );
}

#[test]
fn rset_parameters() {
    assert_eq!(
        text("rset vproto=tcp vaddr=10.0.0.1 vport=80 raddr=10.0.1.1 rport=8080 rstate=OFFLINE"),
        Request::Rset {
            virtual_sel: sel(VProto::Tcp, "10.0.0.1", 80, 0),
            real: DestKey {
                addr: ip("10.0.1.1"),
                port: 8080
            },
            rstate: Some(AdminState::Offline),
            rweight: None,
        }
    );
    let Request::Rset {
        rstate, rweight, ..
    } = text("rset vproto=tcp raddr=10.0.1.1 rport=1 rweight=50%")
    else {
        panic!("not rset");
    };
    assert_eq!((rstate, rweight), (None, Some(WeightOverride::Percent(50))));
    let Request::Rset { rweight, .. } =
        text("rset vproto=tcp raddr=10.0.1.1 rport=1 rweight=0 rstate=DOWN")
    else {
        panic!("not rset");
    };
    assert_eq!(rweight, Some(WeightOverride::Absolute(0)));
}

#[test]
fn parse_errors_carry_the_original_text() {
    let cases: &[(&str, &str)] = &[
        (
            "rlist vaddr=10.0.0.1 vport=80",
            "cmd_find_virt: No vproto specified",
        ),
        (
            "rset raddr=1.2.3.4 rport=1 rstate=DOWN",
            "cmd_find_virt: No vproto specified",
        ),
        ("rlist vproto=sctp", "cmd_find_virt: vproto unknown [sctp]"),
        ("rlist vproto=TCP", "cmd_find_virt: vproto unknown [TCP]"),
        (
            "rlist vproto=tcp vaddr=10.0.0.256",
            "cmd_find_virt: invalid IP [10.0.0.256]",
        ),
        ("rlist vproto=tcp vaddr=", "cmd_find_virt: invalid IP []"),
        (
            "rlist vproto=tcp vport=80x",
            "cmd_find_virt: invalid vport [80x]",
        ),
        (
            "rlist vproto=tcp vport=65536",
            "cmd_find_virt: invalid vport [65536]",
        ),
        (
            "rlist vproto=tcp vport=-1",
            "cmd_find_virt: invalid vport [-1]",
        ),
        (
            "rlist vproto=fwmark vfwmark=x",
            "cmd_find_virt: invalid vfwmark [x]",
        ),
        (
            "rset vproto=tcp rport=1 rstate=DOWN",
            "cmd_find_real: raddr not found",
        ),
        (
            "rset vproto=tcp raddr=1.2.3.4 rstate=DOWN",
            "cmd_find_real: rport not found",
        ),
        (
            "rset vproto=tcp raddr=1.2.3 rport=1 rstate=DOWN",
            "cmd_find_real: invalid IP [1.2.3]",
        ),
        (
            "rset vproto=tcp raddr=1.2.3.4 rport=http rstate=DOWN",
            "cmd_find_real: invalid rport [http]",
        ),
        (
            "rset vproto=tcp raddr=1.2.3.4 rport=1",
            "cmd_rset: you need to set at least 'rstate' or 'rweight'",
        ),
        (
            "rset vproto=tcp raddr=1.2.3.4 rport=1 rstate=online",
            "cmd_rset: rstate unknown [online]",
        ),
        (
            "rset vproto=tcp raddr=1.2.3.4 rport=1 rstate=",
            "cmd_rset: rstate unknown []",
        ),
        (
            "rset vproto=tcp raddr=1.2.3.4 rport=1 rweight=5.5",
            "cmd_rset: rweight invalid [5.5]",
        ),
        (
            "rset vproto=tcp raddr=1.2.3.4 rport=1 rweight=%",
            "cmd_rset: rweight invalid [%]",
        ),
        ("vlist format=xml", "format unknown [xml] (text or json)"),
        ("hello world", "Invalid request! [hello world]"),
        (
            "hello\x07\x1b[2J\r",
            "Invalid request! [hello\\x07\\x1b[2J]",
        ),
        ("", "Invalid request! []"),
    ];
    for (line, message) in cases {
        let e = parse(line).expect_err(line);
        assert_eq!(e.to_string(), *message, "{line:?}");
        assert_eq!(
            render_error(&e),
            format!("ERROR {message}\n_SD_CMD_END_\n"),
            "{line:?}"
        );
    }
}

#[test]
fn invalid_utf8_is_replaced_not_refused() {
    assert_eq!(
        parse_bytes(b"vlist \xff\xfe").expect("vlist").request,
        Request::Vlist
    );
    assert_eq!(
        parse_bytes(b"\xffvlist").expect_err("garbage").to_string(),
        "Invalid request! [\u{fffd}vlist]"
    );
}

#[test]
fn json_is_asked_for_with_a_word_the_original_ignores() {
    for line in [
        "vlist json",
        "vlist format=json",
        "vlist\tjson\r\n",
        "stats json",
        "connstats format=json",
    ] {
        assert_eq!(parse(line).expect(line).format, Format::Json, "{line:?}");
    }
    for line in [
        "vlist",
        "vlist format=text",
        "vlist jsonx",
        "vlist format=text json",
        "vlistjson",
    ] {
        assert_eq!(parse(line).expect(line).format, Format::Text, "{line:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Lookup

#[test]
fn virtual_lookup_follows_the_original() {
    let l = listing();
    let idx = |s: VirtualSelector| find_virtual(&l, &s).map(|(i, _)| i);
    assert_eq!(idx(sel(VProto::Tcp, "10.0.0.1", 80, 0)), Ok(0));
    assert_eq!(
        idx(sel(VProto::Udp, "10.0.0.1", 80, 0)),
        Err(ControlError::VirtNotFound)
    );
    assert_eq!(
        idx(sel(VProto::Tcp, "10.0.0.1", 81, 0)),
        Err(ControlError::VirtNotFound)
    );
    // A non-zero vfwmark finds the fwmark virtual whatever the other fields say.
    assert_eq!(idx(sel(VProto::Tcp, "1.1.1.1", 9, 42)), Ok(1));
    assert_eq!(
        idx(sel(VProto::Fwmark, "0.0.0.0", 0, 43)),
        Err(ControlError::VirtNotFound)
    );
    // A fwmark virtual is not found by its (0.0.0.0, 0) address.
    assert_eq!(
        idx(sel(VProto::Fwmark, "0.0.0.0", 0, 0)),
        Err(ControlError::VirtNotFound)
    );
    // A vfwmark that matches nothing still lets an address match.
    assert_eq!(idx(sel(VProto::Tcp, "10.0.0.1", 80, 7)), Ok(0));
    assert_eq!(idx(sel(VProto::Udp, "2001:db8::1", 53, 0)), Ok(2));
}

#[test]
fn real_lookup_follows_the_original() {
    let l = listing();
    let key = |a: &str, p| DestKey {
        addr: ip(a),
        port: p,
    };
    assert_eq!(
        find_real(&l[0], &key("10.0.1.2", 8080)).map(|(j, _)| j),
        Ok(1)
    );
    assert_eq!(
        find_real(&l[0], &key("10.0.1.2", 80)).map(|(j, _)| j),
        Err(ControlError::RealNotFound)
    );
    assert_eq!(
        find_real(&l[1], &key("10.0.1.2", 8080)).map(|(j, _)| j),
        Err(ControlError::EmptyRealArr)
    );
}

// ---------------------------------------------------------------------------------------------
// Rendering

#[test]
fn vlist_bytes() {
    assert_eq!(
        render_vlist(&listing()),
        "v:0 vname=www vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt=dr vsched=wlc\n\
         v:1 vname=fw vproto=fwmark vaddr=0.0.0.0 vport=0 vfwmark=42 vrt=masq vsched=rr\n\
         v:2 vname=dns6 vproto=udp vaddr=2001:db8::1 vport=53 vfwmark=0 vrt=tun vsched=sh\n\
         _SD_CMD_END_\n"
    );
    assert_eq!(render_vlist(&[]), "_SD_CMD_END_\n");
}

#[test]
fn rlist_bytes() {
    let l = listing();
    assert_eq!(
        render_rlist(&l[0]),
        "vname=www vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt=dr vsched=wlc\n\
         r:0 rname=web1 raddr=10.0.1.1 rport=8080 currwgt=10 confwgt=10 ronline=TRUE rstate=ONLINE\n\
         r:1 rname=web2 raddr=10.0.1.2 rport=8080 currwgt=0 confwgt=5 ronline=FALSE rstate=DOWN\n\
         _SD_CMD_END_\n"
    );
    assert_eq!(
        render_rlist(&l[1]),
        "vname=fw vproto=fwmark vaddr=0.0.0.0 vport=0 vfwmark=42 vrt=masq vsched=rr\n\
         EMPTY LIST - no reals defined in virtual\n\
         _SD_CMD_END_\n"
    );
}

#[test]
fn rset_bytes() {
    let r = RsetReply {
        rstate: AdminState::Offline,
        weight: 50,
        in_percent: true,
    };
    assert_eq!(
        render_rset(&r),
        "Set: rstate=OFFLINE, weight=50, inpercent=TRUE\n_SD_CMD_END_\n"
    );
    let r = RsetReply {
        rstate: AdminState::Online,
        weight: 7,
        in_percent: false,
    };
    assert_eq!(
        render_rset(&r),
        "Set: rstate=ONLINE, weight=7, inpercent=FALSE\n_SD_CMD_END_\n"
    );
}

#[test]
fn stats_bytes() {
    let expected = "\
=== global stats ===
watchdog_pid   : -1
tester_pid     : 4242
virtuals       : 3
reals          : 3

=== real settings ===
ronline        : 2
roffline       : 0
rdown          : 1
offline_size   : 1
override_size  : 1

=== real stats ===
success        : 2
failed         : 1

=== tests stats ===
t_success      : 100
t_failed       : 7
t_online_set   : 1
t_offline_set  : 2
t_conn_problem : 3
t_arp_problem  : 4
t_rst_problem  : 5
t_bytes_rcvd   : 123456
t_bytes_sent   : 6543

=== resource usage ===
user_time      : 1.000234 sec
system_time    : 0.000056 sec
block_in_ops   : 1
block_out_ops  : 2
messages_sent  : 0
messages_rcvd  : 0
signals_rcvd   : 3
voluntary_ctx  : 40
involunt_ctx   : 5
fd_used        : 9

=== memory usage ===
VmPeak         : 12345  kB
VmRSS          : 1234567 kB
_SD_CMD_END_
";
    assert_eq!(render_stats(&stats_view(), &usage()), expected);
    let mut st = stats_view();
    st.watchdog_pid = Some(17);
    assert!(render_stats(&st, &usage()).starts_with("=== global stats ===\nwatchdog_pid   : 17\n"));
}

#[test]
fn vm_lines_of_proc_status() {
    let status =
        "Name:\tsurealived\nVmPeak:\t   12345 kB\nVmSize:\t   12000 kB\nVmLck:\t       0 kB\n\
                  Threads:\t1\nVmBad:\tx kB\nVmNoUnit:\t5\nvmlower:\t1 kB\nVmSwap:\t       0 kB\n";
    let v = parse_vm_lines(status);
    let names: Vec<_> = v
        .iter()
        .map(|m| (m.name.as_str(), m.value, m.unit.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("Peak", 12345, "kB"),
            ("Size", 12000, "kB"),
            ("Lck", 0, "kB"),
            ("Swap", 0, "kB")
        ]
    );
}

#[test]
fn connstats_bytes() {
    let v = "vname=www vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0";
    let r1 = "rname=web1 raddr=10.0.1.1 rport=8080 total=10";
    let r2 = "rname=web2 raddr=10.0.1.2 rport=8080 total=20";
    let expected = format!(
        "Virtual:\n\
v:0 {v} vrt=dr vsched=wlc samples=20 total=30 savgconn=1ms savgresp=2ms savgtotal=3ms connprob=3 arpprob=0 rstprob=4\n\
\n\
Reals:\n\
r:0.0 real-stats {v} {r1} connprob=1 arpprob=0 rstprob=2\n\
r:0.0 lstats_ms  {v} {r1} lastconn=1ms lastresp=2ms lasttotal=4ms\n\
r:0.0 lstats_us  {v} {r1} lastconn=1500us lastresp=2500us lasttotal=4000us\n\
r:0.0 sstats_ms  {v} {r1} savgconn=1ms savgresp=2ms savgtotal=3ms\n\
r:0.0 sstats_us  {v} {r1} savgconn=1000us savgresp=2000us savgtotal=3999us\n\
r:0.0 tstats_ms  {v} {r1} tavgconn=0ms tavgresp=12ms tavgtotal=13ms\n\
r:0.0 tstats_us  {v} {r1} tavgconn=999us tavgresp=12345us tavgtotal=13344us\n\
\n\
r:0.1 real-stats {v} {r2} connprob=2 arpprob=0 rstprob=2\n\
r:0.1 lstats_ms  {v} {r2} lastconn=3ms lastresp=2ms lasttotal=4ms\n\
r:0.1 lstats_us  {v} {r2} lastconn=3000us lastresp=2500us lasttotal=4000us\n\
r:0.1 sstats_ms  {v} {r2} savgconn=1ms savgresp=2ms savgtotal=3ms\n\
r:0.1 sstats_us  {v} {r2} savgconn=1000us savgresp=2000us savgtotal=3999us\n\
r:0.1 tstats_ms  {v} {r2} tavgconn=0ms tavgresp=12ms tavgtotal=13ms\n\
r:0.1 tstats_us  {v} {r2} tavgconn=999us tavgresp=12345us tavgtotal=13344us\n\
\n\
-----\n\
\n\
Virtual:\n\
v:1 vname=fw vproto=fwmark vaddr=0.0.0.0 vport=0 vfwmark=42 vrt=masq vsched=rr samples=5 total=0 savgconn=0ms savgresp=0ms savgtotal=0ms connprob=0 arpprob=0 rstprob=0\n\
\n\
Reals:\n\
\n\
_SD_CMD_END_\n"
    );
    assert_eq!(render_connstats(Some(&connstats_view())), expected);
    assert_eq!(
        render_connstats(None),
        "Gathering statistics is OFF\n_SD_CMD_END_\n"
    );
}

// ---------------------------------------------------------------------------------------------
// respond: parse, lookup, handler, render

#[test]
fn respond_answers_every_command() {
    let h = Fake::new();
    let r = respond(&h, "vlist\r\n", usage);
    assert!(!r.is_error);
    assert_eq!(r.text, render_vlist(&listing()));
    let r = respond(&h, "rlist vproto=fwmark vfwmark=42", usage);
    assert_eq!(r.text, render_rlist(&listing()[1]));
    let r = respond(&h, "stats", usage);
    assert_eq!(r.text, render_stats(&stats_view(), &usage()));
    let r = respond(&h, "connstats", usage);
    assert_eq!(r.text, render_connstats(Some(&connstats_view())));
    let r = respond(
        &h,
        "rset vproto=udp vaddr=2001:db8::1 vport=53 raddr=2001:db8::53 rport=53 rweight=3",
        usage,
    );
    assert_eq!(
        r.text,
        "Set: rstate=ONLINE, weight=3, inpercent=FALSE\n_SD_CMD_END_\n"
    );
    assert_eq!(
        h.calls(),
        [(
            listing()[2].virtual_view.key,
            DestKey {
                addr: ip("2001:db8::53"),
                port: 53
            },
            None,
            Some(WeightOverride::Absolute(3))
        )]
    );
}

#[test]
fn respond_errors_and_the_handler_is_not_called() {
    let h = Fake::new();
    let cases: &[(&str, &str)] = &[
        (
            "rlist vproto=tcp vaddr=10.9.9.9 vport=80",
            "cmd_find_virt: Virt not found",
        ),
        (
            "rset vproto=tcp vaddr=10.9.9.9 vport=80 raddr=10.0.1.1 rport=8080 rstate=DOWN",
            "cmd_find_virt: Virt not found",
        ),
        (
            "rset vproto=fwmark vfwmark=42 raddr=10.0.1.1 rport=8080 rstate=DOWN",
            "cmd_find_real: empty realArr",
        ),
        (
            "rset vproto=tcp vaddr=10.0.0.1 vport=80 raddr=10.0.1.1 rport=80 rstate=DOWN",
            "cmd_find_real: Real not found",
        ),
        (
            "rset vproto=tcp vaddr=10.0.0.1 vport=80 raddr=10.0.1.1 rport=8080",
            "cmd_rset: you need to set at least 'rstate' or 'rweight'",
        ),
        ("exit", "Invalid request! [exit]"),
    ];
    for (line, message) in cases {
        let r = respond(&h, line, usage);
        assert!(r.is_error, "{line:?}");
        assert_eq!(
            r.text,
            format!("ERROR {message}\n_SD_CMD_END_\n"),
            "{line:?}"
        );
    }
    assert!(h.calls().is_empty());
    let refusing = Fake {
        refuse: Some("cannot write override.dump: Permission denied".into()),
        ..Fake::new()
    };
    let r = respond(
        &refusing,
        "rset vproto=tcp vaddr=10.0.0.1 vport=80 raddr=10.0.1.1 rport=8080 rstate=DOWN",
        usage,
    );
    assert_eq!(
        r.text,
        "ERROR cmd_rset: cannot write override.dump: Permission denied\n_SD_CMD_END_\n"
    );
    let off = Fake {
        gather: false,
        ..Fake::new()
    };
    let r = respond(&off, "connstats", usage);
    assert!(!r.is_error);
    assert_eq!(r.text, "Gathering statistics is OFF\n_SD_CMD_END_\n");
}

#[test]
fn usage_is_read_only_for_stats() {
    let h = Fake::new();
    for line in [
        "vlist",
        "rlist vproto=tcp vaddr=10.0.0.1 vport=80",
        "connstats",
        "nope",
    ] {
        let _ = respond(&h, line, || panic!("usage read for {line:?}"));
    }
}

#[test]
fn json_replies_parse_back() {
    use lvs_core::control::json;
    let h = Fake::new();
    let body = |line: &str| {
        let r = respond(&h, line, usage);
        assert!(!r.is_error, "{line:?}");
        let (body, rest) = r.text.split_once('\n').expect("a line");
        assert_eq!(rest, "_SD_CMD_END_\n");
        body.to_owned()
    };
    let v: json::Vlist = serde_json::from_str(&body("vlist json")).expect("vlist json");
    assert_eq!(v.virtuals.len(), 3);
    assert_eq!(v.virtuals[2].addr, ip("2001:db8::1"));
    assert_eq!(v.virtuals[1].proto, "fwmark");
    assert_eq!(v.virtuals[1].fwmark, 42);
    let r: json::Rlist = serde_json::from_str(&body(
        "rlist vproto=tcp vaddr=10.0.0.1 vport=80 format=json",
    ))
    .expect("rlist json");
    assert_eq!(r.virtual_.name, "www");
    assert_eq!(r.reals[1].rstate, "DOWN");
    assert_eq!(r.reals[1].weight_override.as_deref(), Some("50%"));
    assert!(!r.reals[1].in_ipvs);
    let raw: serde_json::Value =
        serde_json::from_str(&body("rlist vproto=fwmark vfwmark=42 json")).expect("json");
    assert_eq!(raw["virtual"]["index"], 1);
    assert_eq!(raw["reals"], serde_json::json!([]));
    let s: json::Stats = serde_json::from_str(&body("stats json")).expect("stats json");
    assert_eq!(s.watchdog_pid, None);
    assert_eq!(s.tests.bytes_received, 123456);
    assert_eq!(s.resources.user_time_us, 1_000_234);
    assert_eq!(s.memory[1].name, "RSS");
    let c: json::Connstats = serde_json::from_str(&body("connstats json")).expect("connstats");
    assert!(c.gather_stats);
    assert_eq!(c.virtuals[0].reals[1].last_us.conn, 3000);
    assert_eq!(c.virtuals[0].reals[1].real.name, "web2");
    let off = Fake {
        gather: false,
        ..Fake::new()
    };
    let r = respond(&off, "connstats json", usage);
    assert_eq!(
        r.text,
        "{\"gather_stats\":false,\"virtuals\":[]}\n_SD_CMD_END_\n"
    );
    // rset answers in text, errors stay text lines.
    let r = respond(
        &h,
        "rset vproto=tcp vaddr=10.0.0.1 vport=80 raddr=10.0.1.1 rport=8080 rstate=DOWN json",
        usage,
    );
    assert_eq!(
        r.text,
        "Set: rstate=DOWN, weight=10, inpercent=FALSE\n_SD_CMD_END_\n"
    );
    let r = respond(&h, "rlist json", usage);
    assert_eq!(
        r.text,
        "ERROR cmd_find_virt: No vproto specified\n_SD_CMD_END_\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Properties

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u16; 8]>().prop_map(IpAddr::from),
    ]
}

fn arb_selector() -> impl Strategy<Value = VirtualSelector> {
    (
        prop_oneof![Just(VProto::Tcp), Just(VProto::Udp), Just(VProto::Fwmark)],
        arb_ip(),
        any::<u16>(),
        any::<u32>(),
    )
        .prop_map(|(proto, addr, port, fwmark)| VirtualSelector {
            proto,
            addr,
            port,
            fwmark,
        })
}

fn arb_request() -> impl Strategy<Value = ParsedRequest> {
    let state = prop_oneof![
        Just(None),
        Just(Some(AdminState::Online)),
        Just(Some(AdminState::Offline)),
        Just(Some(AdminState::Down)),
    ];
    let weight = prop_oneof![
        Just(None),
        any::<u32>().prop_map(|n| Some(WeightOverride::Absolute(n))),
        any::<u32>().prop_map(|n| Some(WeightOverride::Percent(n))),
    ];
    let rset = (arb_selector(), arb_ip(), any::<u16>(), state, weight)
        .prop_filter("rset sets something", |(_, _, _, s, w)| {
            s.is_some() || w.is_some()
        })
        .prop_map(|(virtual_sel, addr, port, rstate, rweight)| Request::Rset {
            virtual_sel,
            real: DestKey { addr, port },
            rstate,
            rweight,
        });
    let request = prop_oneof![
        Just(Request::Vlist),
        Just(Request::Stats),
        Just(Request::Connstats),
        arb_selector().prop_map(Request::Rlist),
        rset,
    ];
    (request, any::<bool>()).prop_map(|(request, json)| ParsedRequest {
        request,
        format: if json { Format::Json } else { Format::Text },
    })
}

proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_bytes(&bytes);
    }

    #[test]
    fn parse_never_panics_on_wordy_lines(
        cmd in prop_oneof![Just("vlist"), Just("rlist"), Just("rset"), Just("stats"), Just("connstats"), Just("x")],
        words in proptest::collection::vec(
            (prop_oneof![Just("vproto"), Just("vaddr"), Just("vport"), Just("vfwmark"), Just("raddr"),
                         Just("rport"), Just("rstate"), Just("rweight"), Just("format"), Just("")],
             "[ -~]{0,12}"),
            0..8),
    ) {
        let line = words.iter().fold(cmd.to_owned(), |l, (k, v)| format!("{l} {k}={v}"));
        if let Ok(p) = parse(&line) {
            // What parses renders to a line that parses to the same request.
            prop_assert_eq!(parse(&p.to_string()), Ok(p));
        }
    }

    #[test]
    fn rendering_then_parsing_round_trips(req in arb_request()) {
        let line = req.to_string();
        prop_assert_eq!(parse(&line), Ok(req.clone()));
        prop_assert_eq!(parse(&format!("{line}\r\n")), Ok(req));
    }

    #[test]
    fn selector_words_round_trip(s in arb_selector()) {
        prop_assert_eq!(parse(&format!("rlist {s}")).map(|p| p.request), Ok(Request::Rlist(s)));
    }
}

#[test]
fn the_fuzz_seeds_parse_as_expected() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/control");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read seed");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let result = parse_bytes(&bytes);
        match name {
            "rset-nothing.req" => assert_eq!(result, Err(ControlError::NothingToSet)),
            "bad.req" => assert_eq!(result, Err(ControlError::NoVproto)),
            _ => {
                let p = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    p.format == Format::Json,
                    name.contains("json")
                        || name.starts_with("connstats")
                        || name.contains("fwmark"),
                    "{name}"
                );
            }
        }
        seen += 1;
    }
    assert_eq!(seen, 10);
}
