//! Property tests of `model::diff` and `Table::apply`: the diff turns one table into the other,
//! is empty between equal tables, is minimal, never deletes and re-adds, and keeps its order
//! (deletions of unmanaged services first, destination deletions before additions).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lvs_core::model::{
    diff, AddressFamily, ApplyError, DestKey, Destination, DestinationError, Forwarding, Netmask,
    Operation, Persistence, Protocol, SchedFlags, Scheduler, Service, ServiceKey, Table, Tunnel,
    TunnelChecksum, UnmanagedPolicy,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Strategies. Keys come from small pools so that independently drawn tables overlap.

const V4_VIPS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(10, 0, 0, 1),
    Ipv4Addr::new(10, 0, 0, 2),
    Ipv4Addr::new(192, 0, 2, 1),
];
const V6_VIPS: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
];
const V4_RIPS: [Ipv4Addr; 4] = [
    Ipv4Addr::new(10, 1, 0, 1),
    Ipv4Addr::new(10, 1, 0, 2),
    Ipv4Addr::new(10, 1, 0, 3),
    Ipv4Addr::new(10, 1, 0, 4),
];
const V6_RIPS: [Ipv6Addr; 3] = [
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2),
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 3),
];

fn af() -> impl Strategy<Value = AddressFamily> {
    prop_oneof![Just(AddressFamily::Inet), Just(AddressFamily::Inet6)]
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        Just(Protocol::Tcp),
        Just(Protocol::Udp),
        Just(Protocol::Sctp)
    ]
}

fn service_key() -> impl Strategy<Value = ServiceKey> {
    let vip = prop_oneof![
        prop::sample::select(&V4_VIPS[..]).prop_map(IpAddr::V4),
        prop::sample::select(&V6_VIPS[..]).prop_map(IpAddr::V6),
    ];
    prop_oneof![
        3 => (protocol(), vip, prop::sample::select(vec![0u16, 80, 443])).prop_map(
            |(protocol, addr, port)| ServiceKey::Inet { protocol, addr, port }
        ),
        1 => (af(), prop::sample::select(vec![1u32, 2, 300]))
            .prop_map(|(af, mark)| ServiceKey::Fwmark { af, mark }),
    ]
}

fn scheduler() -> impl Strategy<Value = Scheduler> {
    prop::sample::select(vec!["rr", "wrr", "wlc", "sh", "mh"])
        .prop_map(|s| Scheduler::new(s).expect("known scheduler"))
}

fn persistence(af: AddressFamily) -> impl Strategy<Value = Option<Persistence>> {
    let netmask = match af {
        AddressFamily::Inet => prop::sample::select(vec![
            Netmask::V4(Ipv4Addr::BROADCAST),
            Netmask::V4(Ipv4Addr::new(255, 255, 255, 0)),
        ])
        .boxed(),
        AddressFamily::Inet6 => {
            prop::sample::select(vec![Netmask::V6(128), Netmask::V6(64)]).boxed()
        }
    };
    proptest::option::of(
        (
            prop::sample::select(vec![60u32, 300]),
            netmask,
            proptest::option::of(Just("sip".to_string())),
        )
            .prop_map(|(timeout, netmask, engine)| Persistence {
                timeout,
                netmask,
                engine,
            }),
    )
}

fn service_params(key: ServiceKey) -> impl Strategy<Value = Service> {
    (
        scheduler(),
        persistence(key.af()),
        any::<bool>(),
        any::<(bool, bool, bool)>(),
    )
        .prop_map(
            move |(scheduler, persistence, one_packet, (fallback, port, flag3))| Service {
                key,
                scheduler,
                persistence,
                one_packet,
                sched_flags: SchedFlags {
                    fallback,
                    port,
                    flag3,
                },
            },
        )
}

fn service() -> impl Strategy<Value = Service> {
    service_key().prop_flat_map(service_params)
}

fn checksum() -> impl Strategy<Value = TunnelChecksum> {
    prop_oneof![
        Just(TunnelChecksum::NoCsum),
        Just(TunnelChecksum::Csum),
        Just(TunnelChecksum::RemCsum),
    ]
}

fn forwarding() -> impl Strategy<Value = Forwarding> {
    prop_oneof![
        Just(Forwarding::Masq),
        Just(Forwarding::DirectRoute),
        Just(Forwarding::Local),
        Just(Forwarding::Tunnel(Tunnel::Ipip)),
        (prop::sample::select(vec![5555u16, 6080]), checksum())
            .prop_map(|(port, csum)| Forwarding::Tunnel(Tunnel::Gue { port, csum })),
        prop_oneof![Just(TunnelChecksum::NoCsum), Just(TunnelChecksum::Csum)]
            .prop_map(|csum| Forwarding::Tunnel(Tunnel::Gre { csum })),
    ]
}

fn weight() -> impl Strategy<Value = u32> {
    prop::sample::select(vec![0u32, 1, 2, 100, 65535, Destination::MAX_WEIGHT])
}

fn destination(af: AddressFamily) -> impl Strategy<Value = Destination> {
    let rip = match af {
        AddressFamily::Inet => prop::sample::select(&V4_RIPS[..])
            .prop_map(IpAddr::V4)
            .boxed(),
        AddressFamily::Inet6 => prop::sample::select(&V6_RIPS[..])
            .prop_map(IpAddr::V6)
            .boxed(),
    };
    (
        rip,
        prop::sample::select(vec![0u16, 80, 8080]),
        weight(),
        // (lower, upper): the kernel refuses lower > upper, even with upper 0.
        prop::sample::select(vec![(0u32, 0u32), (0, 100), (10, 100), (100, 100)]),
        forwarding(),
    )
        .prop_map(
            |(addr, port, weight, (lower, upper), forwarding)| Destination {
                addr,
                port,
                weight,
                upper_threshold: upper,
                lower_threshold: lower,
                forwarding,
            },
        )
}

fn entry() -> impl Strategy<Value = (Service, Vec<Destination>)> {
    service().prop_flat_map(|s| {
        let af = s.key.af();
        (Just(s), proptest::collection::vec(destination(af), 0..6))
    })
}

fn build(entries: &[(Service, Vec<Destination>)]) -> Table {
    let mut t = Table::new();
    for (s, dests) in entries {
        t.insert_service(s.clone());
        for d in dests {
            t.insert_destination(&s.key, *d).expect("service inserted");
        }
    }
    t
}

fn table() -> impl Strategy<Value = Table> {
    proptest::collection::vec(entry(), 0..10).prop_map(|e| build(&e))
}

/// What happens to one service of `a` on its way to `b`.
#[derive(Debug, Clone)]
enum ServiceMutation {
    Keep,
    Remove,
    /// New scheduling parameters drawn from these.
    Params(Service),
    Dests(Vec<DestMutation>),
}

/// What happens to one destination.
#[derive(Debug, Clone)]
enum DestMutation {
    Keep,
    Remove,
    Weight(u32),
    /// New weight, thresholds and forwarding taken from this destination.
    Other(Destination),
}

fn dest_mutation() -> impl Strategy<Value = DestMutation> {
    prop_oneof![
        3 => Just(DestMutation::Keep),
        1 => Just(DestMutation::Remove),
        1 => weight().prop_map(DestMutation::Weight),
        1 => destination(AddressFamily::Inet).prop_map(DestMutation::Other),
    ]
}

fn service_mutation() -> impl Strategy<Value = ServiceMutation> {
    prop_oneof![
        3 => Just(ServiceMutation::Keep),
        1 => Just(ServiceMutation::Remove),
        1 => service().prop_map(ServiceMutation::Params),
        2 => proptest::collection::vec(dest_mutation(), 6).prop_map(ServiceMutation::Dests),
    ]
}

fn mutate(
    a: &Table,
    muts: &[ServiceMutation],
    added: &[(Service, Vec<Destination>)],
    added_dests: &[Destination],
) -> Table {
    let mut b = Table::new();
    for (i, e) in a.iter().enumerate() {
        let key = e.service.key;
        let m = muts.get(i).cloned().unwrap_or(ServiceMutation::Keep);
        let mut service = e.service.clone();
        let mut dests: Vec<Destination> = e.destinations.values().copied().collect();
        match m {
            ServiceMutation::Keep => {}
            ServiceMutation::Remove => continue,
            ServiceMutation::Params(p) => {
                service = Service { key, ..p };
                // Keep a persistence netmask of the right family.
                if let Some(per) = &mut service.persistence {
                    per.netmask = Netmask::host(key.af());
                }
            }
            ServiceMutation::Dests(dm) => {
                let mut out = Vec::new();
                for (j, d) in dests.iter().enumerate() {
                    match dm.get(j).cloned().unwrap_or(DestMutation::Keep) {
                        DestMutation::Keep => out.push(*d),
                        DestMutation::Remove => {}
                        DestMutation::Weight(w) => out.push(Destination { weight: w, ..*d }),
                        DestMutation::Other(o) => out.push(Destination {
                            addr: d.addr,
                            port: d.port,
                            ..o
                        }),
                    }
                }
                // New destinations on the same family, when there is one to take from.
                if let Some(first) = dests.first() {
                    for (k, nd) in added_dests.iter().enumerate().take(2) {
                        let port = 9000 + u16::try_from(k).expect("small");
                        out.push(Destination {
                            addr: first.addr,
                            port,
                            ..*nd
                        });
                    }
                }
                dests = out;
            }
        }
        b.insert_service(service);
        for d in dests {
            b.insert_destination(&key, d).expect("service inserted");
        }
    }
    for (s, ds) in added {
        if b.get(&s.key).is_none() && a.get(&s.key).is_none() {
            b.insert_service(s.clone());
            for d in ds {
                b.insert_destination(&s.key, *d).expect("service inserted");
            }
        }
    }
    b
}

/// Two tables: either drawn independently (overlapping through the key pools) or the second a
/// mutation of the first.
fn table_pair() -> impl Strategy<Value = (Table, Table)> {
    let independent = (table(), table());
    let mutated = (
        table(),
        proptest::collection::vec(service_mutation(), 10),
        proptest::collection::vec(entry(), 0..3),
        proptest::collection::vec(destination(AddressFamily::Inet), 0..3),
    )
        .prop_map(|(a, muts, added, added_dests)| {
            let b = mutate(&a, &muts, &added, &added_dests);
            (a, b)
        });
    prop_oneof![1 => independent, 3 => mutated]
}

fn policy() -> impl Strategy<Value = UnmanagedPolicy> {
    prop_oneof![Just(UnmanagedPolicy::Keep), Just(UnmanagedPolicy::Delete)]
}

// ---------------------------------------------------------------------------------------------
// Independent oracles.

fn applied(a: &Table, ops: &[Operation]) -> Table {
    let mut t = a.clone();
    t.apply_all(ops).expect("every operation of a diff applies");
    t
}

/// `b` plus the services of `a` that `b` does not have, untouched.
fn b_plus_unmanaged(a: &Table, b: &Table) -> Table {
    let mut t = b.clone();
    for e in a {
        if b.get(&e.service.key).is_none() {
            t.insert_service(e.service.clone());
            for d in e.destinations.values() {
                t.insert_destination(&e.service.key, *d).expect("inserted");
            }
        }
    }
    t
}

/// The minimal number of operations, counted without looking at `diff`.
fn minimal_count(a: &Table, b: &Table, policy: UnmanagedPolicy) -> usize {
    let mut n = 0;
    if policy == UnmanagedPolicy::Delete {
        n += a.iter().filter(|e| b.get(&e.service.key).is_none()).count();
    }
    for want in b {
        match a.get(&want.service.key) {
            None => n += 1 + want.destinations.len(),
            Some(have) => {
                n += usize::from(have.service != want.service);
                let keys: BTreeSet<DestKey> = have
                    .destinations
                    .keys()
                    .chain(want.destinations.keys())
                    .copied()
                    .collect();
                n += keys
                    .iter()
                    .filter(|k| have.destinations.get(k) != want.destinations.get(k))
                    .count();
            }
        }
    }
    n
}

fn op_service(op: &Operation) -> ServiceKey {
    match op {
        Operation::AddService(s) | Operation::EditService(s) => s.key,
        Operation::DeleteService(k) => *k,
        Operation::AddDestination { service, .. }
        | Operation::EditDestination { service, .. }
        | Operation::DeleteDestination { service, .. } => *service,
    }
}

fn op_dest(op: &Operation) -> Option<DestKey> {
    match op {
        Operation::AddDestination { dest, .. } | Operation::EditDestination { dest, .. } => {
            Some(dest.key())
        }
        Operation::DeleteDestination { dest, .. } => Some(*dest),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn delete_policy_reaches_wanted((a, b) in table_pair()) {
        let ops = diff(&a, &b, UnmanagedPolicy::Delete);
        prop_assert_eq!(applied(&a, &ops), b);
    }

    #[test]
    fn keep_policy_leaves_unmanaged_alone((a, b) in table_pair()) {
        let ops = diff(&a, &b, UnmanagedPolicy::Keep);
        prop_assert!(!ops.iter().any(|op| matches!(op, Operation::DeleteService(_))));
        prop_assert_eq!(applied(&a, &ops), b_plus_unmanaged(&a, &b));
    }

    #[test]
    fn diff_with_itself_is_empty(a in table(), p in policy()) {
        prop_assert!(diff(&a, &a, p).is_empty());
    }

    #[test]
    fn diff_is_minimal((a, b) in table_pair(), p in policy()) {
        let ops = diff(&a, &b, p);
        prop_assert_eq!(ops.len(), minimal_count(&a, &b, p));
    }

    #[test]
    fn never_delete_then_readd((a, b) in table_pair(), p in policy()) {
        let ops = diff(&a, &b, p);
        let deleted: BTreeSet<ServiceKey> = ops
            .iter()
            .filter_map(|op| match op {
                Operation::DeleteService(k) => Some(*k),
                _ => None,
            })
            .collect();
        for op in &ops {
            if let Operation::AddService(s) = op {
                prop_assert!(!deleted.contains(&s.key), "{} deleted and re-added", s.key);
                prop_assert!(a.get(&s.key).is_none());
            }
        }
        // Nor a destination, nor anything touched twice.
        let mut seen = BTreeSet::new();
        for op in &ops {
            if let Some(d) = op_dest(op) {
                prop_assert!(seen.insert((op_service(op), d)), "{} touched twice", d);
            }
        }
    }

    #[test]
    fn diff_keeps_its_order((a, b) in table_pair(), p in policy()) {
        let ops = diff(&a, &b, p);
        // Service deletions form a prefix.
        let first_other = ops
            .iter()
            .position(|op| !matches!(op, Operation::DeleteService(_)))
            .unwrap_or(ops.len());
        prop_assert!(ops[first_other..]
            .iter()
            .all(|op| !matches!(op, Operation::DeleteService(_))));
        // Per service: add/edit service first, then destination deletions, then the rest.
        for e in &b {
            let key = e.service.key;
            let mine: Vec<&Operation> = ops.iter().filter(|op| op_service(op) == key).collect();
            if let Some(pos) = mine
                .iter()
                .position(|op| matches!(op, Operation::AddService(_) | Operation::EditService(_)))
            {
                prop_assert_eq!(pos, 0);
            }
            let last_delete = mine
                .iter()
                .rposition(|op| matches!(op, Operation::DeleteDestination { .. }));
            let first_add = mine
                .iter()
                .position(|op| matches!(op, Operation::AddDestination { .. }));
            if let (Some(d), Some(a)) = (last_delete, first_add) {
                prop_assert!(d < a, "deletion after addition in {}", key);
            }
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn one_weight_change_is_one_edit(
        seed in 0u32..1000,
        pick in any::<prop::sample::Index>(),
        delta in 1u32..1000,
    ) {
        let a = large_table(300, 5, seed);
        let dests: Vec<(ServiceKey, Destination)> = a
            .iter()
            .flat_map(|e| e.destinations.values().map(move |d| (e.service.key, *d)))
            .collect();
        let (skey, d) = dests[pick.index(dests.len())];
        let mut b = a.clone();
        let changed = Destination { weight: (d.weight + delta) % 65536, ..d };
        b.insert_destination(&skey, changed).expect("service exists");
        for p in [UnmanagedPolicy::Keep, UnmanagedPolicy::Delete] {
            let ops = diff(&a, &b, p);
            prop_assert_eq!(
                ops,
                vec![Operation::EditDestination { service: skey, dest: changed }]
            );
        }
    }
}

/// The pair strategy produces every kind of operation, and tables that overlap.
#[test]
fn pair_strategy_covers_every_operation() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut kinds = std::collections::HashSet::new();
    let mut tunnels_and_v6 = (false, false);
    for _ in 0..500 {
        let (a, b) = table_pair()
            .new_tree(&mut runner)
            .expect("strategy")
            .current();
        for op in diff(&a, &b, UnmanagedPolicy::Delete) {
            kinds.insert(std::mem::discriminant(&op));
            if let Operation::EditDestination { dest, .. } = op {
                tunnels_and_v6.0 |=
                    matches!(dest.forwarding, Forwarding::Tunnel(Tunnel::Gue { .. }));
                tunnels_and_v6.1 |= dest.addr.is_ipv6();
            }
        }
    }
    assert_eq!(kinds.len(), 6, "every kind of operation is generated");
    assert_eq!(tunnels_and_v6, (true, true));
}

/// `services` IPv4 TCP services of `dests` DR destinations each, weights derived from `seed`.
fn large_table(services: u32, dests: u32, seed: u32) -> Table {
    let mut t = Table::new();
    for i in 0..services {
        let key = ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
            port: 80,
        };
        t.insert_service(Service::new(key, Scheduler::default()));
        for j in 0..dests {
            let addr = IpAddr::V4(Ipv4Addr::from(0xac10_0000 + i * dests + j));
            let weight = (i * 7 + j * 13 + seed) % 100;
            let d = Destination::new(addr, 80, weight, Forwarding::DirectRoute);
            t.insert_destination(&key, d).expect("service inserted");
        }
    }
    t
}

// ---------------------------------------------------------------------------------------------
// Hand-written cases.

fn tcp(last: u8, port: u16) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        port,
    }
}

fn dr(last: u8, weight: u32) -> Destination {
    Destination::new(
        IpAddr::V4(Ipv4Addr::new(10, 1, 0, last)),
        80,
        weight,
        Forwarding::DirectRoute,
    )
}

#[test]
fn unmanaged_deletions_come_first() {
    let (old, kept, new) = (tcp(1, 80), tcp(2, 80), tcp(3, 80));
    let mut a = Table::new();
    a.insert_service(Service::new(old, Scheduler::default()));
    a.insert_destination(&old, dr(1, 1)).expect("exists");
    a.insert_service(Service::new(kept, Scheduler::default()));
    a.insert_destination(&kept, dr(1, 1)).expect("exists");
    let mut b = Table::new();
    b.insert_service(Service::new(kept, Scheduler::default()));
    b.insert_destination(&kept, dr(1, 2)).expect("exists");
    b.insert_service(Service::new(new, Scheduler::default()));
    b.insert_destination(&new, dr(2, 5)).expect("exists");

    let ops = diff(&a, &b, UnmanagedPolicy::Delete);
    assert_eq!(
        ops,
        vec![
            Operation::DeleteService(old),
            Operation::EditDestination {
                service: kept,
                dest: dr(1, 2)
            },
            Operation::AddService(Service::new(new, Scheduler::default())),
            Operation::AddDestination {
                service: new,
                dest: dr(2, 5)
            },
        ]
    );
    let keep = diff(&a, &b, UnmanagedPolicy::Keep);
    assert_eq!(keep, ops[1..].to_vec());
}

#[test]
fn destination_deletions_before_additions() {
    let svc = tcp(1, 443);
    let mut a = Table::new();
    a.insert_service(Service::new(svc, Scheduler::default()));
    for d in [dr(5, 1), dr(6, 1), dr(7, 1)] {
        a.insert_destination(&svc, d).expect("exists");
    }
    // The wanted service has a new scheduler, drops .6 and .7, keeps .5 and adds .1 and .2
    // (which sort before the deleted ones).
    let mut wanted = Service::new(svc, Scheduler::new("rr").expect("known"));
    wanted.persistence = Some(Persistence {
        timeout: 300,
        netmask: Netmask::host(AddressFamily::Inet),
        engine: None,
    });
    let mut b = Table::new();
    b.insert_service(wanted.clone());
    for d in [dr(1, 1), dr(2, 1), dr(5, 1)] {
        b.insert_destination(&svc, d).expect("exists");
    }
    let ops = diff(&a, &b, UnmanagedPolicy::Keep);
    assert_eq!(
        ops,
        vec![
            Operation::EditService(wanted),
            Operation::DeleteDestination {
                service: svc,
                dest: dr(6, 1).key()
            },
            Operation::DeleteDestination {
                service: svc,
                dest: dr(7, 1).key()
            },
            Operation::AddDestination {
                service: svc,
                dest: dr(1, 1)
            },
            Operation::AddDestination {
                service: svc,
                dest: dr(2, 1)
            },
        ]
    );
    assert_eq!(applied(&a, &ops), b);
}

#[test]
fn forwarding_change_is_an_edit_not_a_readd() {
    let svc = tcp(1, 80);
    let mut a = Table::new();
    a.insert_service(Service::new(svc, Scheduler::default()));
    a.insert_destination(&svc, dr(1, 1)).expect("exists");
    let mut b = a.clone();
    let tun = Destination {
        forwarding: Forwarding::Tunnel(Tunnel::Gue {
            port: 6080,
            csum: TunnelChecksum::RemCsum,
        }),
        upper_threshold: 100,
        ..dr(1, 1)
    };
    b.insert_destination(&svc, tun).expect("exists");
    assert_eq!(
        diff(&a, &b, UnmanagedPolicy::Delete),
        vec![Operation::EditDestination {
            service: svc,
            dest: tun
        }]
    );
}

// ---------------------------------------------------------------------------------------------
// What the kernel refuses, the table refuses.

#[test]
fn thresholds_lower_above_upper_are_refused_even_with_upper_zero() {
    let svc = tcp(1, 80);
    let mut t = Table::new();
    t.insert_service(Service::new(svc, Scheduler::default()));
    let bad = Destination {
        lower_threshold: 5,
        upper_threshold: 0,
        ..dr(1, 1)
    };
    let refused = Err(ApplyError::InvalidDestination(
        svc,
        bad.key(),
        DestinationError::ThresholdsReversed { lower: 5, upper: 0 },
    ));
    assert_eq!(
        bad.validate(),
        Err(DestinationError::ThresholdsReversed { lower: 5, upper: 0 })
    );
    assert_eq!(
        t.apply(&Operation::AddDestination {
            service: svc,
            dest: bad
        }),
        refused
    );
    assert_eq!(t.insert_destination(&svc, bad).map(|_| ()), refused);
    assert!(t.get(&svc).expect("svc").destinations.is_empty());
    // An edit is refused too, before the destination's existence is looked at (the kernel's
    // order), and leaves the table as it was.
    t.apply(&Operation::AddDestination {
        service: svc,
        dest: dr(1, 1),
    })
    .expect("valid");
    let edit = Operation::EditDestination {
        service: svc,
        dest: Destination {
            lower_threshold: 11,
            upper_threshold: 10,
            ..dr(1, 1)
        },
    };
    assert!(matches!(
        t.apply(&edit),
        Err(ApplyError::InvalidDestination(
            _,
            _,
            DestinationError::ThresholdsReversed {
                lower: 11,
                upper: 10
            }
        ))
    ));
    assert_eq!(t.destination(&svc, &dr(1, 1).key()), Some(&dr(1, 1)));
    // Equal, or an upper threshold alone: accepted.
    for (lower, upper) in [(10, 10), (0, 10), (0, 0)] {
        let ok = Destination {
            lower_threshold: lower,
            upper_threshold: upper,
            ..dr(1, 1)
        };
        t.apply(&Operation::EditDestination {
            service: svc,
            dest: ok,
        })
        .expect("accepted");
    }
}

#[test]
fn weight_is_the_kernels_int() {
    let svc = tcp(1, 80);
    let mut t = Table::new();
    t.insert_service(Service::new(svc, Scheduler::default()));
    assert_eq!(Destination::MAX_WEIGHT, i32::MAX as u32);
    t.insert_destination(&svc, dr(1, Destination::MAX_WEIGHT))
        .expect("i32::MAX is accepted");
    let too_heavy = dr(2, Destination::MAX_WEIGHT + 1);
    assert_eq!(
        t.apply(&Operation::AddDestination {
            service: svc,
            dest: too_heavy
        }),
        Err(ApplyError::InvalidDestination(
            svc,
            too_heavy.key(),
            DestinationError::WeightOutOfRange(2_147_483_648)
        ))
    );
}

#[test]
fn addresses_must_be_unicast_and_of_the_family_unless_tunnelled() {
    let svc = tcp(1, 80);
    let v6 = "2001:db8::10".parse::<IpAddr>().expect("ip");
    let mut t = Table::new();
    t.insert_service(Service::new(svc, Scheduler::default()));
    for a in ["0.0.0.0", "224.0.0.1", "255.255.255.255", "::", "ff02::1"] {
        let addr: IpAddr = a.parse().expect("ip");
        let d = Destination::new(addr, 80, 1, Forwarding::Tunnel(Tunnel::Ipip));
        assert_eq!(d.validate(), Err(DestinationError::NotUnicast(addr)), "{a}");
        assert!(matches!(
            t.insert_destination(&svc, d),
            Err(ApplyError::InvalidDestination(..))
        ));
    }
    for fwd in [Forwarding::DirectRoute, Forwarding::Masq, Forwarding::Local] {
        let d = Destination::new(v6, 80, 1, fwd);
        assert_eq!(d.validate(), Ok(()));
        assert_eq!(
            d.validate_for(&svc),
            Err(DestinationError::FamilyMismatch {
                service: AddressFamily::Inet,
                dest: AddressFamily::Inet6
            })
        );
        assert_eq!(
            t.apply(&Operation::AddDestination {
                service: svc,
                dest: d
            })
            .map_err(|e| e.to_string()),
            Err(
                "destination [2001:db8::10]:80 of service tcp 10.0.0.1:80: an IPv6 destination \
                 in an IPv4 service needs tunnel forwarding"
                    .into()
            )
        );
    }
    let tunnelled = Destination::new(v6, 80, 1, Forwarding::Tunnel(Tunnel::Ipip));
    t.apply(&Operation::AddDestination {
        service: svc,
        dest: tunnelled,
    })
    .expect("mixed families with a tunnel");
}
