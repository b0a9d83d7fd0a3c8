//! The surealived/ipvssync text formats against hand-written fixtures (`tests/fixtures/`): exact
//! bytes out, old spellings in, exact error messages, the incremental diff reader, the mapping to
//! the IPVS table and atomic saves.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use lvs_core::formats::diffs::{
    apply_to_table, parse_all, real_change, write_lines, write_real_change, DiffCmd, DiffEvent,
    DiffLine, DiffReader, DiffRecord,
};
use lvs_core::formats::dumps::{
    NotifyDump, NotifyState, OfflineDump, OverrideDump, OverrideWeight, RState, RealStatsRecord,
    StatsDump, VKey,
};
use lvs_core::formats::ipvsfull::{
    FullConfig, Meta, RealRecord, Rt, VProto, VirtualRecord, DEFAULT_FWMARK,
};
use lvs_core::formats::MAX_WARNINGS;
use lvs_core::model::{
    AddressFamily, ApplyError, DestKey, Destination, DestinationError, Forwarding, Netmask,
    Operation, Protocol, Scheduler, ServiceKey, Tunnel,
};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn text(name: &str) -> String {
    String::from_utf8(fixture(name)).expect("fixture is UTF-8")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

fn messages(errors: &[lvs_core::ParseError]) -> Vec<String> {
    errors.iter().map(|e| e.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// ipvsfull.cfg

fn full(name: &str) -> FullConfig {
    FullConfig::parse(&text(name), name).expect("parses")
}

#[test]
fn ipvsfull_fixture_rewrites_to_the_same_bytes() {
    let t = text("ipvsfull.cfg");
    let p = FullConfig::parse(&t, "ipvsfull.cfg").expect("parses");
    assert_eq!(messages(&p.warnings), Vec::<String>::new());
    assert_eq!(p.write(), t);
    let again = FullConfig::parse(&p.write(), "again").expect("reparses");
    assert_eq!(again, p);
}

#[test]
fn ipvsfull_fixture_reads_as_the_grammar_says() {
    let c = full("ipvsfull.cfg");
    assert_eq!(
        c.meta,
        Meta {
            date: (2024, 5, 1),
            time: (14, 0, 0)
        }
    );
    assert_eq!(
        c.diff_file,
        "/var/lib/surealived/diffs/diff_sync.1714564800"
    );
    let names: Vec<_> = c.virtuals.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["www", "dns", "mark", "allskipped", "noreals", "v6"]);
    let www = &c.virtuals[0];
    assert_eq!(
        (www.proto, www.pers, www.fwmark, www.ops),
        (VProto::Tcp, 300, 0, false)
    );
    assert_eq!(
        www.reals[1],
        RealRecord {
            name: "sg2".into(),
            addr: ip("10.1.0.2"),
            port: 8080,
            weight: 0,
            l_thresh: 100,
            u_thresh: 500,
            rt: Rt::Dr,
        }
    );
    assert_eq!(www.reals[2].rt, Rt::Masq);
    let dns = &c.virtuals[1];
    assert_eq!(
        (dns.proto, dns.pers, dns.ops, dns.rt),
        (VProto::Udp, 60, true, Rt::Tun)
    );
    assert_eq!(dns.reals[0].rt, Rt::Tun, "rrt defaults to vrt");
    assert_eq!(
        (c.virtuals[2].proto, c.virtuals[2].fwmark),
        (VProto::Fwmark, 42)
    );
    // A real list whose reals were all left out still ends with a blank line; no list, none.
    assert!(c.virtuals[3].reals.is_empty() && c.virtuals[3].has_real_list);
    assert!(c.virtuals[4].reals.is_empty() && !c.virtuals[4].has_real_list);
    assert_eq!(c.virtuals[5].addr, ip("2001:db8::1"));
    assert_eq!(c.virtuals[5].reals[0].rt, Rt::Tun);
}

#[test]
fn ipvsfull_old_spellings_are_read_and_rewritten_with_new_ones() {
    let p = FullConfig::parse(&text("ipvsfull-old.cfg"), "ipvsfull.cfg").expect("parses");
    assert_eq!(p.write(), text("ipvsfull-old.expected.cfg"));
    assert_eq!(
        messages(&p.warnings),
        [
            "ipvsfull.cfg:4: unknown key `vcolour`; allowed: vname, vproto, vaddr, vport, vrt, \
             vsched, vpers, vfwmark, vops",
            "ipvsfull.cfg:6: malformed input: token `stray` is not `key=value`; ignored",
            "ipvsfull.cfg:8: key `vops`: malformed input: one-packet scheduling applies to UDP \
             virtuals only; ignored",
            "ipvsfull.cfg:9: key `rlthresh`: malformed input: `rl_thresh` is given more than \
             once; the last value is used",
        ]
    );
    let fw = &p.virtuals[1];
    let mut again = FullConfig::parse(&p.write(), "again").expect("reparses");
    assert!(again.warnings.is_empty());
    again.warnings = p.warnings.clone();
    assert_eq!(again, p);
    assert_eq!((fw.fwmark, fw.ops), (DEFAULT_FWMARK, false));
}

#[test]
fn ipvsfull_unknown_key_suggests_the_close_one() {
    let t = "meta version=1.0 mdate=2024-05-01 mtime=14:00:00\nDIFF file=/d/diff_sync.1\n\
             virtual vname=a vproto=tcp vaddr=10.0.0.1 vport=80 vrt=dr vsched=wrr\n\
             real rname=r raddr=10.1.0.1 rport=80 rwieght=3\n";
    let p = FullConfig::parse(t, "f").expect("parses");
    assert_eq!(
        messages(&p.warnings),
        [
            "f:4: unknown key `rwieght` (did you mean `rweight`?); allowed: rname, raddr, rport, \
          rweight, rl_thresh, ru_thresh, rrt"
        ]
    );
    assert_eq!(p.virtuals[0].reals[0].weight, 1, "default rweight");
}

#[test]
fn ipvsfull_errors_name_file_line_and_key() {
    let head = "meta version=1.0 mdate=2024-05-01 mtime=14:00:00\nDIFF file=/d/diff_sync.1\n";
    let v = "virtual vname=a vproto=tcp vaddr=10.0.0.1 vport=80 vrt=dr vsched=wrr\n";
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{head}virtual vname=a vproto=tcp vaddr=10.0.0.1 vport=80 vsched=wrr\n"),
            "f:3: missing mandatory key `vrt`",
        ),
        (
            format!(
                "{head}virtual vname=a vproto=sctp vaddr=10.0.0.1 vport=80 vrt=dr vsched=wrr\n"
            ),
            "f:3: key `vproto`: invalid value `sctp`: expected tcp, udp or fwmark",
        ),
        (
            format!(
                "{head}virtual vname=a vproto=tcp vaddr=10.0.0.300 vport=80 vrt=dr vsched=wrr\n"
            ),
            "f:3: key `vaddr`: invalid address `10.0.0.300`: expected an IPv4 or IPv6 address",
        ),
        (
            format!(
                "{head}virtual vname=a vproto=tcp vaddr=10.0.0.1 vport=70000 vrt=dr vsched=wrr\n"
            ),
            "f:3: key `vport`: port `70000` out of range (0..65535)",
        ),
        (
            format!(
                "{head}virtual vname=a vproto=tcp vaddr=10.0.0.1 vport=http vrt=dr vsched=wrr\n"
            ),
            "f:3: key `vport`: invalid value `http`: expected a port number 0..65535",
        ),
        (
            format!("{head}virtual vname=a vproto=tcp vaddr=10.0.0.1 vport=80 vrt=DR vsched=wrr\n"),
            "f:3: key `vrt`: unknown forwarding method `DR`; known: dr, masq, tun",
        ),
        (
            format!("{head}virtual vname=a vproto=tcp vaddr=10.0.0.1 vport=80 vrt=dr vsched=\n"),
            "f:3: key `vsched`: invalid value ``: scheduler name `` must be 1 to 15 printable \
             ASCII characters",
        ),
        (
            format!("{head}{v}real rname=r raddr=10.1.0.1 rport=80 rweight=-1\n"),
            "f:4: key `rweight`: invalid value `-1`: expected a decimal integer 0..2147483647",
        ),
        (
            format!("{head}{v}real rname=r raddr=10.1.0.1 rport=80 rweight=2147483648\n"),
            "f:4: key `rweight`: weight `2147483648` out of range (0..2147483647)",
        ),
        (
            format!("{head}{v}real rname=r raddr=10.1.0.1 rport=80 ruthresh=x\n"),
            "f:4: key `ruthresh`: invalid value `x`: expected a decimal integer 0..4294967295",
        ),
        (
            format!("{head}{v}real rname=r rport=80\n"),
            "f:4: missing mandatory key `raddr`",
        ),
        (
            format!("{head}real rname=r raddr=10.1.0.1 rport=80\n"),
            "f:3: `real` line before any `virtual` line",
        ),
        (
            format!("{head}{v}{v}"),
            "f:4: duplicate virtual tcp 10.0.0.1:80 (first defined at line 3)",
        ),
        (
            format!(
                "{head}{v}real raddr=10.1.0.1 rport=80\n\nreal raddr=10.1.0.1 rport=80 rweight=2\n"
            ),
            "f:6: duplicate real 10.1.0.1:80 (first defined at line 4)",
        ),
        (
            format!(
                "{head}virtual vproto=fwmark vaddr=0.0.0.0 vport=0 vrt=dr vsched=rr\n\
                     virtual vproto=fwmark vaddr=0.0.0.0 vport=0 vrt=dr vsched=rr vfwmark=300\n"
            ),
            "f:4: duplicate virtual fwmark 300 (first defined at line 3)",
        ),
        (
            format!("{head}meta version=1.0 mdate=2024-05-01 mtime=14:00:00\n"),
            "f:3: duplicate line `meta` (first defined at line 1)",
        ),
        (
            "meta version=1.0 mdate=2024-13-01 mtime=14:00:00\n".into(),
            "f:1: key `mdate`: invalid value `2024-13-01`: expected YYYY-MM-DD",
        ),
        (
            "meta version=1.0 mdate=2024-12-01 mtime=24:00:00\n".into(),
            "f:1: key `mtime`: invalid value `24:00:00`: expected HH:MM:SS",
        ),
        (
            "meta version=1.0 mdate=2024-12-01\n".into(),
            "f:1: missing mandatory key `mtime`",
        ),
        (
            "DIFF file=/d/diff_sync.1\n".into(),
            "f: missing mandatory line `meta`",
        ),
        (
            "meta version=1.0 mdate=2024-05-01 mtime=14:00:00\n".into(),
            "f: missing mandatory line `DIFF`",
        ),
        (
            "meta version=1.0 mdate=2024-05-01 mtime=14:00:00\nDIFF path=/x\n".into(),
            "f:2: missing mandatory key `file`",
        ),
    ];
    for (input, want) in cases {
        let e = FullConfig::parse(&input, "f").expect_err(&input);
        assert_eq!(e.to_string(), want, "input:\n{input}");
    }
}

#[test]
fn ipvsfull_writer_takes_the_time_as_an_argument() {
    let c = FullConfig {
        meta: Meta::from_unix(1_714_572_000, 0),
        diff_file: "/var/lib/surealived/diffs/diff_sync.1714572000".into(),
        virtuals: vec![VirtualRecord {
            name: "tcp-ops".into(),
            proto: VProto::Tcp,
            addr: ip("10.0.0.1"),
            port: 80,
            rt: Rt::Dr,
            sched: Scheduler::new("wlc").expect("sched"),
            pers: 0,
            fwmark: 0,
            ops: true, // only written for UDP
            reals: vec![RealRecord {
                name: "r".into(),
                addr: ip("10.1.0.1"),
                port: 80,
                weight: 1,
                l_thresh: 0,
                u_thresh: 0,
                rt: Rt::Dr,
            }],
            has_real_list: false,
        }],
        warnings: vec![],
    };
    assert_eq!(
        c.write(),
        "meta version=1.0 mdate=2024-05-01 mtime=14:00:00\n\n\
         DIFF file=/var/lib/surealived/diffs/diff_sync.1714572000\n\n\
         virtual vname=tcp-ops vproto=tcp vaddr=10.0.0.1 vport=80 vrt=dr vsched=wlc\n\
         real rname=r raddr=10.1.0.1 rport=80 rweight=1\n\n"
    );
}

#[test]
fn ipvsfull_maps_to_the_table_as_ipvssync() {
    let t = full("ipvsfull.cfg").to_table().expect("table");
    assert_eq!(t.len(), 6);
    assert_eq!(t.destination_count(), 6);

    let www = ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip("192.168.0.1"),
        port: 80,
    };
    let e = t.get(&www).expect("www");
    let pers = e.service.persistence.as_ref().expect("persistent");
    assert_eq!(
        (pers.timeout, pers.netmask),
        (300, Netmask::V4("255.255.255.255".parse().expect("mask")))
    );
    assert_eq!(e.service.scheduler.as_str(), "wrr");
    assert!(!e.service.one_packet);
    assert_eq!(e.service.ipvs_flags(), 0x1);
    let sg2 = t
        .destination(
            &www,
            &DestKey {
                addr: ip("10.1.0.2"),
                port: 8080,
            },
        )
        .expect("sg2");
    assert_eq!(
        *sg2,
        Destination {
            addr: ip("10.1.0.2"),
            port: 8080,
            weight: 0,
            upper_threshold: 500,
            lower_threshold: 100,
            forwarding: Forwarding::DirectRoute,
        }
    );
    let sg3 = t
        .destination(
            &www,
            &DestKey {
                addr: ip("10.1.0.3"),
                port: 80,
            },
        )
        .expect("sg3");
    assert_eq!(sg3.forwarding, Forwarding::Masq);

    let dns = ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: ip("192.168.0.2"),
        port: 53,
    };
    let e = t.get(&dns).expect("dns");
    assert!(e.service.one_packet);
    assert_eq!(e.service.ipvs_flags(), 0x5);
    assert_eq!(
        e.destinations.values().next().expect("ns1").forwarding,
        Forwarding::Tunnel(Tunnel::Ipip)
    );

    let mark = ServiceKey::Fwmark {
        af: AddressFamily::Inet,
        mark: 42,
    };
    assert_eq!(t.get(&mark).expect("mark").destinations.len(), 1);
    assert!(t
        .get(&ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: ip("192.168.0.3"),
            port: 443
        })
        .expect("allskipped")
        .destinations
        .is_empty());
    let v6 = ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip("2001:db8::1"),
        port: 80,
    };
    assert_eq!(t.get(&v6).expect("v6").destinations.len(), 1);

    // A fwmark virtual without vfwmark is mark 300; IPv6 persistence uses /128.
    let t2 = full("ipvsfull-old.expected.cfg").to_table().expect("table");
    assert!(t2
        .get(&ServiceKey::Fwmark {
            af: AddressFamily::Inet,
            mark: 300
        })
        .is_some());
    let mut c = full("ipvsfull.cfg");
    c.virtuals[5].pers = 10;
    let t3 = c.to_table().expect("table");
    assert_eq!(
        t3.get(&v6)
            .expect("v6")
            .service
            .persistence
            .as_ref()
            .expect("pers")
            .netmask,
        Netmask::V6(128)
    );
    assert_eq!(c.default_rt(&dns), Some(Rt::Tun));
}

#[test]
fn ipvsfull_hand_built_duplicates_fail_to_map() {
    let mut c = full("ipvsfull.cfg");
    c.virtuals.push(c.virtuals[0].clone());
    assert!(matches!(c.to_table(), Err(ApplyError::ServiceExists(_))));
    let mut c = full("ipvsfull.cfg");
    let r = c.virtuals[0].reals[0].clone();
    c.virtuals[0].reals.push(r);
    assert!(matches!(
        c.to_table(),
        Err(ApplyError::DestinationExists(..))
    ));
}

// ---------------------------------------------------------------------------------------------
// diff files

fn records(events: &[DiffEvent]) -> Vec<DiffLine> {
    events
        .iter()
        .map(|e| e.result.clone().expect("no error"))
        .collect()
}

#[test]
fn diff_fixture_rewrites_to_the_same_bytes() {
    let bytes = fixture("diff_sync.1714564800");
    let ev = parse_all(&bytes, "diff");
    assert!(ev.iter().all(|e| e.warnings.is_empty()));
    let lines = records(&ev);
    assert_eq!(lines.len(), 7);
    assert_eq!(write_lines(&lines).as_bytes(), bytes);
    assert_eq!(
        lines[6],
        DiffLine::Next("/var/lib/surealived/diffs/diff_sync.1714564860".into())
    );
    let DiffLine::Record(r) = &lines[3] else {
        panic!("record")
    };
    assert_eq!(
        (r.cmd, r.vproto, r.vfwmark, r.rrt),
        (DiffCmd::AddReal, VProto::Fwmark, 42, Some(Rt::Masq))
    );
    let DiffLine::Record(r) = &lines[5] else {
        panic!("record")
    };
    assert_eq!(
        (r.raddr, r.rweight, r.ru_thresh),
        (ip("2001:db8::10"), 7, 20)
    );
}

#[test]
fn diff_old_spellings_are_read_and_a_partial_line_waits() {
    let bytes = fixture("diff_sync.old");
    let mut r = DiffReader::new("diff");
    let ev = r.feed(&bytes);
    assert_eq!(ev.iter().map(|e| e.line).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(write_lines(&records(&ev)), text("diff_sync.old.expected"));
    assert_eq!(r.lines(), 3);
    let partial = b"cmd=addreal vname=www vproto=tcp vaddr=192.168.0.1 vport=80 vfwmark=0 vrt=dr \
                    vsched=wrr rname=sg3 raddr=10.1.0.3 rp";
    assert_eq!(r.pending(), partial);
    assert_eq!(r.offset(), (bytes.len() - partial.len()) as u64);
    // The rest of the line arrives.
    let ev = r.feed(b"ort=80 rweight=5\n");
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].line, 4);
    let DiffLine::Record(rec) = ev[0].result.clone().expect("record") else {
        panic!("record")
    };
    assert_eq!((rec.rport, rec.rweight), (80, 5));
    assert_eq!(r.offset(), bytes.len() as u64 + 17);
    assert!(r.pending().is_empty());
}

#[test]
fn diff_reader_fed_byte_by_byte_equals_fed_whole() {
    let mut all = fixture("diff_sync.1714564800");
    all.extend_from_slice(b"garbage line\n\n");
    all.extend(fixture("diff_sync.old"));
    let whole = {
        let mut r = DiffReader::new("d");
        let ev = r.feed(&all);
        (ev, r.offset(), r.pending().to_vec())
    };
    let mut r = DiffReader::new("d");
    let mut ev = Vec::new();
    for b in &all {
        ev.extend(r.feed(std::slice::from_ref(b)));
    }
    assert_eq!(ev, whole.0);
    assert_eq!((r.offset(), r.pending().to_vec()), (whole.1, whole.2));
    // Resuming at the recorded offset reads the rest only.
    let mut r2 = DiffReader::resume("d", whole.1, r.lines());
    let tail = r2.feed(&all[whole.1 as usize..]);
    assert!(tail.is_empty());
    assert_eq!(r2.pending(), r.pending());
}

#[test]
fn diff_bad_lines_are_reported_and_reading_goes_on() {
    let v = "vname=a vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt=dr vsched=wrr";
    let input = format!(
        "cmd=addreal {v} raddr=10.1.0.1 rport=80\n\
         cmd=movereal {v} raddr=10.1.0.1 rport=80\n\
         # a comment is not a record\n\
         cmd=chgreal {v} raddr=10.1.0.1\n\
         cmd=chgreal {v} raddr=10.1.0.1 rport=80 rweight=abc\n\
         cmd=delreal vname=a vproto=tcp vaddr=10.0.0.1 vport=80 vsched=wrr raddr=10.1.0.1 rport=80\n\
         DIFF\n\
         \u{ff}\n\
         cmd=delreal {v} raddr=10.1.0.1 rport=80 vpers=5 vops=1 colour=red\n"
    );
    let mut bytes = input.into_bytes();
    // Line 8: not UTF-8.
    let i = bytes.iter().position(|b| *b == 0xc3).expect("marker");
    bytes[i] = 0xff;
    bytes.remove(i + 1);
    let ev = parse_all(&bytes, "diff_sync.1");
    let got: Vec<(u32, String)> = ev
        .iter()
        .map(|e| {
            (
                e.line,
                match &e.result {
                    Ok(_) => "ok".to_string(),
                    Err(err) => err.to_string(),
                },
            )
        })
        .collect();
    let want: Vec<(u32, String)> = vec![
        (1, "ok".into()),
        (2, "diff_sync.1:2: key `cmd`: invalid value `movereal`: expected addreal, chgreal or delreal".into()),
        (3, "diff_sync.1:3: missing mandatory key `cmd`".into()),
        (4, "diff_sync.1:4: missing mandatory key `rport`".into()),
        (5, "diff_sync.1:5: key `rweight`: invalid value `abc`: expected a decimal integer 0..2147483647".into()),
        (6, "diff_sync.1:6: missing mandatory key `vrt`".into()),
        (7, "diff_sync.1:7: malformed input: expected `DIFF file=<path>`".into()),
        (8, "diff_sync.1:8: malformed input: line is not valid UTF-8".into()),
        (9, "ok".into()),
    ];
    assert_eq!(got, want);
    // vpers and vops are tolerated in diff lines (ipvssync reads them and ignores them).
    assert_eq!(
        messages(&ev[8].warnings),
        [
            "diff_sync.1:9: unknown key `colour`; allowed: cmd, vname, vproto, vaddr, vport, \
          vfwmark, vrt, vsched, rname, raddr, rport, rweight, rl_thresh, ru_thresh, rrt"
        ]
    );
    let Ok(DiffLine::Record(r)) = &ev[0].result else {
        panic!("record")
    };
    assert_eq!((r.rname.as_str(), r.rweight), ("not-defined", 1));
}

fn base_record() -> DiffRecord {
    DiffRecord {
        cmd: DiffCmd::ChgReal,
        vname: "www".into(),
        vproto: VProto::Tcp,
        vaddr: ip("192.168.0.1"),
        vport: 80,
        vfwmark: 0,
        vrt: Rt::Dr,
        vsched: Scheduler::new("wrr").expect("sched"),
        rname: "sg1".into(),
        raddr: ip("10.1.0.1"),
        rport: 80,
        rweight: 10,
        rl_thresh: 0,
        ru_thresh: 0,
        rrt: None,
    }
}

#[test]
fn a_real_change_is_one_delreal_or_addreal_then_chgreal() {
    let b = base_record();
    assert_eq!(
        real_change(&b, true)
            .iter()
            .map(|r| r.cmd)
            .collect::<Vec<_>>(),
        [DiffCmd::AddReal, DiffCmd::ChgReal]
    );
    let f = fixture("diff_sync.1714564800");
    let first_two: String = String::from_utf8_lossy(&f)
        .lines()
        .take(2)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(write_real_change(&b, true), first_two);
    let mut gone = b.clone();
    gone.rweight = 0;
    assert_eq!(
        write_real_change(&gone, false),
        "cmd=delreal vname=www vproto=tcp vaddr=192.168.0.1 vport=80 vfwmark=0 vrt=dr \
         vsched=wrr rname=sg1 raddr=10.1.0.1 rport=80 rweight=0\n"
    );
    // No rrt, no `rrt=` (the original's bytes when the real's method is the virtual's).
    assert!(!b.write().contains("rrt"));
}

#[test]
fn diff_records_apply_to_the_table_as_ipvssync() {
    let cfg = full("ipvsfull.cfg");
    let mut t = cfg.to_table().expect("table");
    let www = ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip("192.168.0.1"),
        port: 80,
    };
    let mut r = base_record();

    // addreal for an existing destination is ignored.
    r.cmd = DiffCmd::AddReal;
    r.rweight = 99;
    assert_eq!(apply_to_table(&r, &mut t, |k| cfg.default_rt(k)), Ok(None));
    let key = DestKey {
        addr: ip("10.1.0.1"),
        port: 80,
    };
    assert_eq!(t.destination(&www, &key).expect("sg1").weight, 10);

    // chgreal updates weight, thresholds and forwarding.
    r.cmd = DiffCmd::ChgReal;
    r.ru_thresh = 7;
    r.rrt = Some(Rt::Masq);
    let op = apply_to_table(&r, &mut t, |k| cfg.default_rt(k)).expect("applies");
    let d = *t.destination(&www, &key).expect("sg1");
    assert_eq!(
        (d.weight, d.upper_threshold, d.forwarding),
        (99, 7, Forwarding::Masq)
    );
    assert_eq!(
        op,
        Some(Operation::EditDestination {
            service: www,
            dest: d
        })
    );

    // Without rrt the forwarding method is the full file's vrt, not the line's.
    let mut add = base_record();
    add.cmd = DiffCmd::AddReal;
    add.vproto = VProto::Udp;
    add.vaddr = ip("192.168.0.2");
    add.vport = 53;
    add.vrt = Rt::Dr;
    add.raddr = ip("10.2.0.9");
    add.rport = 53;
    apply_to_table(&add, &mut t, |k| cfg.default_rt(k)).expect("adds");
    let dns = add.service_key();
    let d9 = t
        .destination(
            &dns,
            &DestKey {
                addr: ip("10.2.0.9"),
                port: 53,
            },
        )
        .expect("added");
    assert_eq!(d9.forwarding, Forwarding::Tunnel(Tunnel::Ipip));

    // delreal deletes; a second delreal finds nothing.
    r.cmd = DiffCmd::DelReal;
    assert_eq!(
        apply_to_table(&r, &mut t, |_| None),
        Ok(Some(Operation::DeleteDestination {
            service: www,
            dest: key
        }))
    );
    assert_eq!(
        apply_to_table(&r, &mut t, |_| None),
        Err(ApplyError::NoSuchDestination(www, key))
    );

    // Fwmark services are matched by mark, whatever the address.
    let mut fw = base_record();
    fw.cmd = DiffCmd::AddReal;
    fw.vproto = VProto::Fwmark;
    fw.vaddr = ip("0.0.0.0");
    fw.vport = 0;
    fw.vfwmark = 42;
    fw.raddr = ip("10.3.0.9");
    fw.rport = 0;
    apply_to_table(&fw, &mut t, |k| cfg.default_rt(k)).expect("adds to mark 42");
    fw.vfwmark = 43;
    assert!(matches!(
        apply_to_table(&fw, &mut t, |_| None),
        Err(ApplyError::NoSuchService(ServiceKey::Fwmark {
            mark: 43,
            ..
        }))
    ));
}

// ---------------------------------------------------------------------------------------------
// dumps

#[test]
fn dump_fixtures_rewrite_to_the_same_bytes() {
    let t = text("offline.dump");
    assert_eq!(OfflineDump::parse(&t, "o").expect("offline").write(), t);
    let t = text("override.dump");
    assert_eq!(OverrideDump::parse(&t, "o").expect("override").write(), t);
    let t = text("stats.dump");
    assert_eq!(StatsDump::parse(&t, "s").expect("stats").write(), t);
    let t = text("notify.dump");
    assert_eq!(NotifyDump::parse(&t, "n").expect("notify").write(), t);
}

#[test]
fn override_dump_reads_percent_absolute_and_old_zero() {
    let d = OverrideDump::parse(&text("override.dump"), "o").expect("parses");
    let w: Vec<_> = d.entries.iter().map(|e| (e.weight, e.rstate)).collect();
    assert_eq!(
        w,
        [
            (OverrideWeight::Percent(50), RState::Online),
            (OverrideWeight::Absolute(7), RState::Offline),
            // The dumps layer returns what the file says; the state layer decides what 0 means.
            (OverrideWeight::Absolute(0), RState::Down),
            (OverrideWeight::Percent(150), RState::Online),
        ]
    );
    assert_eq!(
        d.entries[3].key.vkey,
        VKey {
            addr: ip("2001:db8::1"),
            port: 80,
            proto: VProto::Tcp,
            fwmark: 0
        }
    );
    let lenient = OverrideDump::parse(&text("override-lenient.dump"), "o").expect("parses");
    assert_eq!(lenient.write(), text("override-lenient.expected.dump"));
}

#[test]
fn stats_dump_structure() {
    let s = StatsDump::parse(&text("stats.dump"), "s").expect("parses");
    assert_eq!(s.virtuals.len(), 4);
    let v = &s.virtuals[0];
    assert_eq!((v.samples, v.total, v.avg_us.total), (20, 151, 13052));
    assert_eq!(v.reals.len(), 2);
    let r = &v.reals[1];
    assert_eq!((r.avg_ms.conn, r.avg_us.resp), (-1, -1_677_721_600));
    assert_eq!(
        (r.total_ms.resp, r.total_us.resp),
        (9_876_543_210, 9_876_543_210_123)
    );
    assert_eq!((r.problems.conn, r.problems.arp, r.problems.rst), (1, 0, 2));
    assert!(s.virtuals[1].reals.is_empty() && s.virtuals[1].has_real_list);
    assert!(s.virtuals[2].reals.is_empty() && !s.virtuals[2].has_real_list);
    // An IPv4 real of an IPv6 virtual (tunnelled) has its line.
    assert_eq!(s.virtuals[3].reals[0].real.addr, ip("10.1.0.9"));
}

#[test]
fn offline_and_notify_dumps_keep_the_last_of_duplicates() {
    let o = OfflineDump::parse(
        "10.0.0.1:80:0:0 - 10.1.0.1:80\n10.0.0.1:80:0:0 - 10.1.0.2:80\n10.0.0.1:80:0:0 - 10.1.0.1:80\n",
        "o",
    )
    .expect("parses");
    assert_eq!(o.entries.len(), 2);
    let n = NotifyDump::parse(
        "vnotify 10.0.0.1:80:0:0 - state=UP\n\nvnotify 10.0.0.1:80:0:0 - state=DOWN\n",
        "n",
    )
    .expect("parses");
    assert_eq!(n.entries.len(), 1);
    assert_eq!(n.entries[0].state, NotifyState::Down);
}

#[test]
fn dump_errors_name_file_line_and_field() {
    let offline = [
        ("10.0.0.1:80:0:0 10.1.0.1:80\n", "offline.dump:1: malformed input: expected `<vkey> - <raddr>:<rport>`"),
        ("\n10.0.0.1:80:5:0 - 10.1.0.1:80\n", "offline.dump:2: field `<vkey>`: invalid value `10.0.0.1:80:5:0`: bad protocol number `5`; expected 0 (tcp), 1 (udp) or 2 (fwmark)"),
        ("2001:db8::1:80:0:0 - 10.1.0.1:80\n", "offline.dump:1: field `<vkey>`: invalid value `2001:db8::1:80:0:0`: bad IPv4 address `2001` (IPv6 is written in brackets)"),
        ("10.0.0.1:80:0:0 - 10.1.0.1:99999\n", "offline.dump:1: field `<raddr>:<rport>`: invalid value `10.1.0.1:99999`: bad port `99999`"),
    ];
    for (input, want) in offline {
        let e = OfflineDump::parse(input, "offline.dump").expect_err(input);
        assert_eq!(e.to_string(), want);
    }
    let overrides = [
        ("10.0.0.1:80:0:0 - 10.1.0.1:80 - weight=-1  rstate=ONLINE\n", "override.dump:1: key `weight`: invalid value `-1`: expected an unsigned integer, followed by `%` for a percentage"),
        ("10.0.0.1:80:0:0 - 10.1.0.1:80 - weight=5% rstate=online\n", "override.dump:1: key `rstate`: invalid value `online`: expected ONLINE, OFFLINE or DOWN"),
        ("10.0.0.1:80:0:0 - 10.1.0.1:80 - wieght=5% rstate=ONLINE\n", "override.dump:1: malformed input: expected `<vkey> - <raddr>:<rport> - weight=<N>[%] rstate=<S>`"),
    ];
    for (input, want) in overrides {
        let e = OverrideDump::parse(input, "override.dump").expect_err(input);
        assert_eq!(e.to_string(), want);
    }
    let stats = [
        ("rstats 10.1.0.1:80 - 1 - 0:0:0 - 0:0:0 - 0:0:0 - 0:0:0 - 0:0:0\n", "stats.dump:1: `rstats` line before any `vstats` line"),
        ("vstats 10.0.0.1:80:0:0 - 20 x - 0:0:0 - 0:0:0 - 0:0:0\n", "stats.dump:1: field `<total>`: invalid value `x`: expected a decimal integer"),
        ("vstats 10.0.0.1:80:0:0 - 20 1 - 0:0 - 0:0:0 - 0:0:0\n", "stats.dump:1: field `<avg ms>`: invalid value `0:0`: expected three integers `a:b:c`"),
        ("vstats 10.0.0.1:80:0:0 - 20 1 - 0:0:0 - 0:0:0 - 0:0:0\nrstats 10.1.0.1:80 - 1 - 0:0:0 - 0:0:0 - 0:0:x - 0:0:0 - 0:0:0\n", "stats.dump:2: field `<total ms>`: invalid value `0:0:x`: expected three integers `a:b:c`"),
    ];
    for (input, want) in stats {
        let e = StatsDump::parse(input, "stats.dump").expect_err(input);
        assert_eq!(e.to_string(), want);
    }
    let e = NotifyDump::parse("vnotify 10.0.0.1:80:0:0 - state=UPPER\n", "notify.dump")
        .expect_err("bad state");
    assert_eq!(
        e.to_string(),
        "notify.dump:1: key `state`: invalid value `UPPER`: expected UNKNOWN, UP or DOWN"
    );
}

// ---------------------------------------------------------------------------------------------
// atomic saves

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("readdir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn saves_are_atomic_and_leave_no_temporary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |n: &str| -> PathBuf { dir.path().join(n) };

    let c = full("ipvsfull.cfg");
    c.save(&p("ipvsfull.cfg")).expect("save");
    c.save(&p("ipvsfull.cfg")).expect("save again");
    assert_eq!(FullConfig::load(&p("ipvsfull.cfg")).expect("load"), c);

    let o = OfflineDump::parse(&text("offline.dump"), "o").expect("offline");
    o.save(&p("offline.dump")).expect("save");
    assert_eq!(OfflineDump::load(&p("offline.dump")).expect("load"), o);
    let ov = OverrideDump::parse(&text("override.dump"), "o").expect("override");
    ov.save(&p("override.dump")).expect("save");
    assert_eq!(OverrideDump::load(&p("override.dump")).expect("load"), ov);
    let s = StatsDump::parse(&text("stats.dump"), "s").expect("stats");
    s.save(&p("stats.dump")).expect("save");
    assert_eq!(StatsDump::load(&p("stats.dump")).expect("load"), s);
    let n = NotifyDump::parse(&text("notify.dump"), "n").expect("notify");
    n.save(&p("notify.dump")).expect("save");
    assert_eq!(NotifyDump::load(&p("notify.dump")).expect("load"), n);

    assert_eq!(
        names_in(dir.path()),
        [
            "ipvsfull.cfg",
            "notify.dump",
            "offline.dump",
            "override.dump",
            "stats.dump"
        ]
    );
    assert_eq!(
        fs::read(p("stats.dump")).expect("read"),
        fixture("stats.dump")
    );

    // A load error names the file and line.
    fs::write(p("bad.dump"), "vnotify x - state=UP\n").expect("write");
    let e = NotifyDump::load(&p("bad.dump")).expect_err("bad");
    assert!(
        e.to_string()
            .starts_with(&format!("{}:1: ", p("bad.dump").display())),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// what the kernel refuses, refused when read

const HEAD: &str = "meta version=1.0 mdate=2024-05-01 mtime=14:00:00\nDIFF file=/d/diff_sync.1\n";
const V4_VIRTUAL: &str = "virtual vname=a vproto=tcp vaddr=10.0.0.1 vport=80 vrt=dr vsched=wrr\n";
const DIFF_V4: &str = "cmd=addreal vname=a vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt=dr \
                       vsched=wrr rname=r";

fn full_error(real: &str) -> String {
    let input = format!("{HEAD}{V4_VIRTUAL}real rname=r {real}\n");
    FullConfig::parse(&input, "f")
        .expect_err(&input)
        .to_string()
}

fn diff_error(rest: &str) -> String {
    let line = format!("{DIFF_V4} {rest}");
    DiffLine::parse(&line, "d", 3).expect_err(&line).to_string()
}

#[test]
fn a_lower_threshold_needs_an_upper_one_at_least_as_high() {
    // The kernel answers ERANGE to l_threshold > u_threshold, with no exception for an upper
    // threshold of 0.
    let reason = "the kernel rejects a lower threshold above the upper one (ERANGE), even when \
                  the upper one is 0";
    assert_eq!(
        full_error("raddr=10.1.0.1 rport=80 rl_thresh=5"),
        format!("f:4: key `rl_thresh`: invalid value `5`: above the upper threshold (0); {reason}")
    );
    assert_eq!(
        full_error("raddr=10.1.0.1 rport=80 rlthresh=50 ruthresh=10"),
        format!(
            "f:4: key `rlthresh`: invalid value `50`: above the upper threshold (10); {reason}"
        )
    );
    assert_eq!(
        diff_error("raddr=10.1.0.1 rport=80 rl_thresh=5"),
        format!("d:3: key `rl_thresh`: invalid value `5`: above the upper threshold (0); {reason}")
    );
    assert_eq!(
        diff_error("raddr=10.1.0.1 rport=80 rl_thresh=11 ru_thresh=10"),
        format!(
            "d:3: key `rl_thresh`: invalid value `11`: above the upper threshold (10); {reason}"
        )
    );
    // Equal thresholds, an upper one alone, or none: accepted.
    for ok in [
        "rl_thresh=10 ru_thresh=10",
        "ru_thresh=10",
        "rl_thresh=0",
        "",
    ] {
        let input = format!("{HEAD}{V4_VIRTUAL}real raddr=10.1.0.1 rport=80 {ok}\n");
        FullConfig::parse(&input, "f").expect(ok);
        let line = format!("{DIFF_V4} raddr=10.1.0.1 rport=80 {ok}");
        DiffLine::parse(&line, "d", 1).expect(ok);
    }
}

#[test]
fn a_real_must_be_unicast_and_of_its_virtuals_family_unless_tunnelled() {
    let not_unicast = "not a unicast address (unspecified, multicast or broadcast)";
    for a in [
        "0.0.0.0",
        "224.0.0.1",
        "239.1.2.3",
        "255.255.255.255",
        "::",
        "ff02::1",
    ] {
        assert_eq!(
            full_error(&format!("raddr={a} rport=80 rrt=tun")),
            format!("f:4: key `raddr`: invalid address `{a}`: {not_unicast}")
        );
        assert_eq!(
            diff_error(&format!("raddr={a} rport=80 rrt=tun")),
            format!("d:3: key `raddr`: invalid address `{a}`: {not_unicast}")
        );
    }
    assert_eq!(
        full_error("raddr=2001:db8::10 rport=80"),
        "f:4: key `raddr`: invalid address `2001:db8::10`: an IPv6 real in an IPv4 virtual \
         needs rrt=tun"
    );
    assert_eq!(
        diff_error("raddr=2001:db8::10 rport=80 rrt=masq"),
        "d:3: key `raddr`: invalid address `2001:db8::10`: an IPv6 real in an IPv4 virtual \
         needs rrt=tun"
    );
    let v6 = "virtual vname=b vproto=tcp vaddr=2001:db8::1 vport=80 vrt=masq vsched=wrr\n";
    let e = FullConfig::parse(&format!("{HEAD}{v6}real raddr=10.1.0.1 rport=80\n"), "f")
        .expect_err("IPv4 real in IPv6 virtual");
    assert_eq!(
        e.to_string(),
        "f:4: key `raddr`: invalid address `10.1.0.1`: an IPv4 real in an IPv6 virtual needs \
         rrt=tun"
    );
    // A fwmark virtual's family is its address's.
    let fw = "virtual vname=m vproto=fwmark vaddr=0.0.0.0 vport=0 vrt=dr vsched=rr vfwmark=7\n";
    assert!(
        FullConfig::parse(&format!("{HEAD}{fw}real raddr=2001:db8::10 rport=0\n"), "f").is_err()
    );
    // Tunnelled, either by rrt or by the virtual's vrt: accepted, and mapped to the table.
    let tun = "virtual vname=t vproto=tcp vaddr=10.0.0.2 vport=80 vrt=tun vsched=wrr\n";
    let c = FullConfig::parse(
        &format!(
            "{HEAD}{V4_VIRTUAL}real raddr=2001:db8::10 rport=80 rrt=tun\n\n{tun}\
             real raddr=2001:db8::11 rport=80\n"
        ),
        "f",
    )
    .expect("tunnelled reals of the other family");
    assert_eq!(c.to_table().expect("table").destination_count(), 2);
    DiffLine::parse(
        &format!("{DIFF_V4} raddr=2001:db8::10 rport=80 rrt=tun"),
        "d",
        1,
    )
    .expect("rrt=tun");
    let line = DIFF_V4.replace("vrt=dr", "vrt=tun");
    DiffLine::parse(&format!("{line} raddr=2001:db8::10 rport=80"), "d", 1).expect("vrt=tun");
}

#[test]
fn an_explicit_rrt_equal_to_vrt_round_trips_and_wins_over_the_full_files_vrt() {
    let line = "cmd=chgreal vname=dns vproto=udp vaddr=192.168.0.2 vport=53 vfwmark=0 vrt=dr \
                vsched=rr rname=ns1 raddr=10.2.0.1 rport=53 rweight=1 rrt=dr";
    let (l, warnings) = DiffLine::parse(line, "d", 1)
        .expect("parses")
        .expect("a line");
    assert!(warnings.is_empty());
    let DiffLine::Record(r) = &l else {
        panic!("record")
    };
    assert_eq!(r.rrt, Some(Rt::Dr), "an explicit rrt is kept");
    assert_eq!(l.write(), format!("{line}\n"), "and written back");
    // The full file says vrt=tun for this service; the line's explicit rrt=dr wins.
    let cfg = full("ipvsfull.cfg");
    let mut t = cfg.to_table().expect("table");
    assert_eq!(cfg.default_rt(&r.service_key()), Some(Rt::Tun));
    apply_to_table(r, &mut t, |k| cfg.default_rt(k)).expect("applies");
    let d = *t
        .destination(
            &r.service_key(),
            &DestKey {
                addr: ip("10.2.0.1"),
                port: 53,
            },
        )
        .expect("ns1");
    assert_eq!(d.forwarding, Forwarding::DirectRoute);
    // Without rrt the full file's vrt applies.
    let mut no_rrt = r.clone();
    no_rrt.rrt = None;
    apply_to_table(&no_rrt, &mut t, |k| cfg.default_rt(k)).expect("applies");
    assert_eq!(
        t.destination(&r.service_key(), &d.key())
            .expect("ns1")
            .forwarding,
        Forwarding::Tunnel(Tunnel::Ipip)
    );
}

#[test]
fn hand_built_records_the_kernel_refuses_fail_to_apply() {
    let cfg = full("ipvsfull.cfg");
    let mut t = cfg.to_table().expect("table");
    let mut r = base_record();
    r.cmd = DiffCmd::AddReal;
    r.raddr = ip("10.1.0.99");
    r.rl_thresh = 5;
    assert!(matches!(
        apply_to_table(&r, &mut t, |k| cfg.default_rt(k)),
        Err(ApplyError::InvalidDestination(
            _,
            _,
            DestinationError::ThresholdsReversed { lower: 5, upper: 0 }
        ))
    ));
    let mut c = full("ipvsfull.cfg");
    c.virtuals[0].reals[0].l_thresh = 1;
    assert!(matches!(
        c.to_table(),
        Err(ApplyError::InvalidDestination(..))
    ));
}

// ---------------------------------------------------------------------------------------------
// warnings are capped per file

#[test]
fn ipvsfull_keeps_at_most_max_warnings_then_a_count() {
    let mut input = String::from(HEAD);
    input.push_str(V4_VIRTUAL);
    let lines = 10_000;
    for i in 0..lines {
        // A blank-separated stray token and two unknown keys per line.
        input.push_str(&format!(
            "real raddr=10.1.{}.{} rport=80 colour=red size=big stray\n",
            i / 250,
            i % 250 + 1
        ));
    }
    let p = FullConfig::parse(&input, "f").expect("parses");
    assert_eq!(p.virtuals[0].reals.len(), lines);
    assert_eq!(p.warnings.len(), MAX_WARNINGS + 1);
    // 3 warnings per line from line 4: the 101st is the first of line 37.
    assert_eq!(
        p.warnings[MAX_WARNINGS].to_string(),
        format!(
            "f:37: {} more warnings suppressed from this line on (only the first 100 are kept)",
            3 * lines - MAX_WARNINGS
        )
    );
    assert_eq!(
        p.warnings[0].to_string(),
        "f:4: unknown key `colour`; allowed: rname, raddr, rport, rweight, rl_thresh, \
         ru_thresh, rrt"
    );
}

#[test]
fn a_diff_file_full_of_unknown_keys_keeps_at_most_max_warnings() {
    // A million unknown keys: 20,000 lines of 50.
    let unknown: String = (0..50).map(|i| format!(" k{i}=v")).collect();
    let line = format!("{DIFF_V4} raddr=10.1.0.1 rport=80{unknown}\n");
    let lines = 20_000;
    let bytes = line.repeat(lines);
    let mut r = DiffReader::new("d");
    // Fed in pieces, as a followed file grows.
    let mut events = Vec::new();
    for chunk in bytes.as_bytes().chunks(64 * 1024) {
        events.extend(r.feed(chunk));
    }
    assert_eq!(events.len(), lines);
    assert!(events.iter().all(|e| e.result.is_ok()));
    let total: usize = events.iter().map(|e| e.warnings.len()).sum();
    assert_eq!(total, MAX_WARNINGS + 1);
    // The limit is reached with line 2 (50 + 50); line 3 is the first to lose warnings and
    // carries the notice.
    assert_eq!(events[1].warnings.len(), 50);
    assert_eq!(
        messages(&events[2].warnings),
        ["d:3: more than 100 warnings in this file; the later ones are suppressed"]
    );
    assert!(events[3..].iter().all(|e| e.warnings.is_empty()));
    assert_eq!(r.suppressed_warnings(), (50 * lines - MAX_WARNINGS) as u64);

    // One line read on its own keeps at most MAX_WARNINGS too, then a count.
    let many: String = (0..1000).map(|i| format!(" k{i}=v")).collect();
    let (_, w) = DiffLine::parse(&format!("{DIFF_V4} raddr=10.1.0.1 rport=80{many}"), "d", 7)
        .expect("parses")
        .expect("a line");
    assert_eq!(w.len(), MAX_WARNINGS + 1);
    assert_eq!(
        w[MAX_WARNINGS].to_string(),
        "d:7: 900 more warnings suppressed from this line on (only the first 100 are kept)"
    );
}

// ---------------------------------------------------------------------------------------------
// stats.dump: no rstats line for an IPv6 real

#[test]
fn stats_dump_leaves_out_ipv6_reals() {
    // The original reads `<raddr>:<rport>` into `raddr[32]` with `%s`: this token is 47 bytes.
    let long = DestKey {
        addr: ip("2001:db8:1234:5678:9abc:def0:1234:5678"),
        port: 65535,
    };
    assert!(long.to_string().len() > 31);
    let t = text("stats.dump");
    let mut s = StatsDump::parse(&t, "s").expect("parses");
    let mut r6 = s.virtuals[0].reals[0];
    r6.real = long;
    s.virtuals[0].reals.push(r6);
    s.virtuals[3]
        .reals
        .insert(0, RealStatsRecord { real: long, ..r6 });
    assert_eq!(s.write(), t, "no rstats line for the IPv6 reals");
    assert!(!s.write().contains("rstats ["));

    // A virtual whose only reals are IPv6 keeps its blank line.
    let mut only6 = s.virtuals[2].clone();
    only6.reals = vec![RealStatsRecord { real: long, ..r6 }];
    only6.has_real_list = false;
    let d = StatsDump {
        virtuals: vec![only6],
    };
    assert_eq!(
        d.write(),
        "vstats 192.168.0.4:25:0:0 - 10 3 - 0:0:0 - 0:0:0 - 0:0:0\n\n"
    );

    // An IPv6 rstats line (from an older version of ours) is read and skipped.
    let old = "vstats [2001:db8::1]:80:0:0 - 20 5 - 1:2:3 - 1000:2000:3000 - 0:1:0\n\
               rstats [2001:db8::10]:80 - 5 - 1:2:3 - 1000:2000:3000 - 5:10:15 - 5000:10000:15000 - 0:1:0\n\
               rstats 10.1.0.9:80 - 5 - 1:2:3 - 1000:2000:3000 - 5:10:15 - 5000:10000:15000 - 0:1:0\n\n";
    let p = StatsDump::parse(old, "s").expect("parses");
    assert_eq!(p.virtuals[0].reals.len(), 1);
    assert_eq!(p.virtuals[0].reals[0].real.addr, ip("10.1.0.9"));
    assert!(p.virtuals[0].has_real_list);
    assert_eq!(
        p.write(),
        "vstats [2001:db8::1]:80:0:0 - 20 5 - 1:2:3 - 1000:2000:3000 - 0:1:0\n\
         rstats 10.1.0.9:80 - 5 - 1:2:3 - 1000:2000:3000 - 5:10:15 - 5000:10000:15000 - 0:1:0\n\n"
    );
    // A bad IPv6 rstats line is still an error.
    assert!(StatsDump::parse(
        "vstats [2001:db8::1]:80:0:0 - 20 5 - 1:2:3 - 1000:2000:3000 - 0:1:0\n\
         rstats [2001:db8::10]:80 - x - 1:2:3 - 1000:2000:3000 - 5:10:15 - 5000:10000:15000 - 0:1:0\n",
        "s"
    )
    .is_err());
}

// ---------------------------------------------------------------------------------------------
// properties: parse(write(x)) == x

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u16; 8]>().prop_map(IpAddr::from),
    ]
}

/// A real address the kernel accepts: not unspecified, multicast or broadcast.
fn arb_real_ip() -> impl Strategy<Value = IpAddr> {
    arb_ip().prop_filter("unicast", lvs_core::model::is_unicast)
}

/// Thresholds the kernel accepts: (lower, upper) with lower <= upper.
fn arb_thresholds() -> impl Strategy<Value = (u32, u32)> {
    prop_oneof![
        Just((0, 0)),
        any::<u32>().prop_map(|u| (0, u)),
        (any::<u32>(), any::<u32>()).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ]
}

/// `rt`, or `tun` when the real's family is not the virtual's (the kernel's rule).
fn fit_rt(rt: Rt, vaddr: IpAddr, raddr: IpAddr) -> Rt {
    if vaddr.is_ipv4() == raddr.is_ipv4() {
        rt
    } else {
        Rt::Tun
    }
}

fn arb_rt() -> impl Strategy<Value = Rt> {
    prop_oneof![Just(Rt::Dr), Just(Rt::Masq), Just(Rt::Tun)]
}

fn arb_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.:=-]{1,16}"
}

fn arb_sched() -> impl Strategy<Value = Scheduler> {
    "[a-z]{1,15}".prop_map(|s| Scheduler::custom(&s).expect("valid"))
}

fn arb_real(vrt: Rt, vaddr: IpAddr) -> impl Strategy<Value = RealRecord> {
    (
        arb_name(),
        arb_real_ip(),
        any::<u16>(),
        0..=i32::MAX as u32,
        arb_thresholds(),
        proptest::option::of(arb_rt()),
    )
        .prop_map(
            move |(name, addr, port, weight, (l_thresh, u_thresh), rt)| RealRecord {
                name,
                addr,
                port,
                weight,
                l_thresh,
                u_thresh,
                rt: fit_rt(rt.unwrap_or(vrt), vaddr, addr),
            },
        )
}

fn arb_virtual(i: u16) -> impl Strategy<Value = VirtualRecord> {
    (
        arb_name(),
        prop_oneof![Just(VProto::Tcp), Just(VProto::Udp), Just(VProto::Fwmark)],
        arb_ip(),
        arb_rt(),
        arb_sched(),
        any::<u32>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(move |(name, proto, addr, rt, sched, pers, ops, list)| {
            // Distinct services: the index is the port (or the mark).
            let fwmark = if proto == VProto::Fwmark {
                u32::from(i) + 1
            } else {
                0
            };
            let port = if proto == VProto::Fwmark { 0 } else { i };
            proptest::collection::vec(arb_real(rt, addr), 0..4).prop_map(move |reals| {
                let mut seen = std::collections::HashSet::new();
                let reals: Vec<_> = reals
                    .into_iter()
                    .filter(|r| seen.insert((r.addr, r.port)))
                    .collect();
                VirtualRecord {
                    name: name.clone(),
                    proto,
                    addr,
                    port,
                    rt,
                    sched: sched.clone(),
                    pers,
                    fwmark,
                    ops: ops && proto == VProto::Udp,
                    has_real_list: list || !reals.is_empty(),
                    reals,
                }
            })
        })
}

fn arb_record() -> impl Strategy<Value = DiffRecord> {
    (
        (
            prop_oneof![
                Just(DiffCmd::AddReal),
                Just(DiffCmd::ChgReal),
                Just(DiffCmd::DelReal)
            ],
            arb_name(),
            prop_oneof![Just(VProto::Tcp), Just(VProto::Udp), Just(VProto::Fwmark)],
            arb_ip(),
            any::<u16>(),
            1..u32::MAX,
            arb_rt(),
            arb_sched(),
        ),
        (
            arb_name(),
            arb_real_ip(),
            any::<u16>(),
            0..=i32::MAX as u32,
            arb_thresholds(),
            proptest::option::of(arb_rt()),
        ),
    )
        .prop_map(
            |(
                (cmd, vname, vproto, vaddr, vport, vfwmark, vrt, vsched),
                (rname, raddr, rport, rweight, (rl_thresh, ru_thresh), rrt),
            )| DiffRecord {
                cmd,
                vname,
                vproto,
                vaddr,
                vport,
                vfwmark,
                vrt,
                vsched,
                rname,
                raddr,
                rport,
                rweight,
                rl_thresh,
                ru_thresh,
                // An explicit rrt is kept, also when it equals vrt.
                rrt: match rrt {
                    Some(rt) => Some(fit_rt(rt, vaddr, raddr)),
                    None if fit_rt(vrt, vaddr, raddr) != vrt => Some(Rt::Tun),
                    None => None,
                },
            },
        )
}

proptest! {
    #[test]
    fn full_config_round_trips(
        virtuals in (0u16..5).prop_flat_map(|n| (0..n).map(arb_virtual).collect::<Vec<_>>()),
        secs in 0i64..4_000_000_000,
        diff in "/[a-z/]{1,20}diff_sync\\.[0-9]{1,10}",
    ) {
        let c = FullConfig { meta: Meta::from_unix(secs, 0), diff_file: diff, virtuals, warnings: vec![] };
        let p = FullConfig::parse(&c.write(), "p").expect("reparses");
        prop_assert_eq!(p, c);
    }

    #[test]
    fn diff_records_round_trip(recs in proptest::collection::vec(arb_record(), 0..6)) {
        let lines: Vec<DiffLine> = recs.into_iter().map(DiffLine::Record).collect();
        let ev = parse_all(write_lines(&lines).as_bytes(), "p");
        prop_assert_eq!(records(&ev), lines);
    }
}
