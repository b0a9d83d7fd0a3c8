//! surealived's director: the pure core of the `surealived` daemon.
//!
//! It holds the virtuals and reals of the service file in file order, each real with its
//! configuration (weight, thresholds, forwarding, the tester's `remove_on_fail`) and its
//! [`RealState`] (test verdict, operator state, weight override), and says what each change
//! produces:
//!
//! ```text
//!  engine verdict ──► set_verdict ─┐                      ┌─► diff records (addreal+chgreal | delreal)
//!  control rset ────► rset ────────┼──► Director ─────────┼─► offline.dump / override.dump contents
//!  SIGHUP + XML ────► reload ──────┘    (reals' states)   ├─► real / virtual notifier invocations
//!  every test done ─► mark_tested ─► evaluate_notifiers ──┤   (+ notify.dump contents)
//!                                                         ├─► ipvsfull.cfg (full_config)
//!                                                         └─► wanted model::Table (direct IPVS)
//! ```
//!
//! No I/O and no clock: the daemon (`lvs-cli`) feeds it the probe engine's verdicts, the
//! control port's `rset` and a new [`ServiceConfig`] on reload, and writes, spawns and applies
//! what it returns. The rules are the original's (`sd_tester.c`, `sd_ipvssync.c`,
//! `sd_notify.c`, `sd_cmd.c`), with the decisions of `docs/quirks.md`:
//!
//! * a real whose `online` or `rstate` changed gives one `delreal` (DOWN, or failing with
//!   `remove_on_fail`) or `addreal` then `chgreal` with the same fields ([`diffs::real_change`]);
//! * the virtual notifier is UP when enough reals are up (`notify_min_reals`, `N` or `N%` of
//!   the reals) **and** enough weight is up (`notify_min_weight`: the sum of the up reals'
//!   effective weights against `N`, or against `N%` of the weight the reals would have if all
//!   were up); both forms work (quirk 5 fixed). It is evaluated only once every real of the
//!   virtual has been tested at least once (so a start does not announce a verdict the tests
//!   have not made yet), then after every change;
//! * a reload keeps the state of every real whose virtual and address stay, starts added reals
//!   online (or offline when [`Director::set_start_offline`] lists them) and drops removed
//!   ones; a changed real gives diff records; a virtual added, removed or changed asks for a
//!   fresh full write (the diff files cannot add a service).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use crate::config::xml::{Real, ServiceConfig, Virtual};
use crate::control::{RealView, RsetReply, StatsView, VirtualListing, VirtualView};
use crate::formats::diffs::{self, DiffCmd, DiffRecord};
use crate::formats::dumps::{
    NotifyDump, NotifyEntry, NotifyState, OfflineDump, OverrideDump, OverrideEntry, RealKey, VKey,
};
use crate::formats::ipvsfull::{FullConfig, Meta, RealRecord, Rt, VProto, VirtualRecord};
use crate::model::{AddressFamily, DestKey, Forwarding, Protocol, ServiceKey, Table};
use crate::state::{AdminState, Hysteresis, RealState, WeightOverride};

/// The fields the files give a virtual: `vproto`, `vaddr`, `vport`, `vfwmark`. A fwmark
/// virtual is written with the unspecified address of its family and port 0. SCTP (an
/// extension the files cannot carry) is written as `tcp`.
pub fn file_fields(key: &ServiceKey) -> (VProto, IpAddr, u16, u32) {
    match *key {
        ServiceKey::Inet {
            protocol,
            addr,
            port,
        } => {
            let p = if protocol == Protocol::Udp {
                VProto::Udp
            } else {
                VProto::Tcp
            };
            (p, addr, port, 0)
        }
        ServiceKey::Fwmark { af, mark } => {
            let addr = match af {
                AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            };
            (VProto::Fwmark, addr, 0, mark)
        }
    }
}

/// The dump key (`<vaddr>:<vport>:<proto#>:<fwmark>`) of a virtual.
pub fn vkey_of(key: &ServiceKey) -> VKey {
    let (proto, addr, port, fwmark) = file_fields(key);
    VKey {
        addr,
        port,
        proto,
        fwmark,
    }
}

/// The `rt` the files give a forwarding method. The extensions they cannot carry are written
/// as the nearest method: a tunnel of another encapsulation as `tun`, local delivery as `dr`
/// (the direct-IPVS mode programs them exactly).
pub fn file_rt(f: Forwarding) -> Rt {
    Rt::from_forwarding(f).unwrap_or(match f {
        Forwarding::Tunnel(_) => Rt::Tun,
        Forwarding::Masq => Rt::Masq,
        _ => Rt::Dr,
    })
}

/// A script to run: the notifier and its `key=value` arguments (§3.12 of the reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The script.
    pub script: PathBuf,
    /// Its arguments: `notify=<UP|DOWN> vname= vaddr= vport= vproto= vfwmark=` and, for a real
    /// notifier, `rname= raddr= rport=`.
    pub args: Vec<String>,
}

/// What a change asks the daemon to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// Diff records to append, in order.
    pub diff: Vec<DiffRecord>,
    /// Notifier scripts to run.
    pub notifications: Vec<Notification>,
    /// `offline.dump` must be rewritten ([`Director::offline_dump`]).
    pub offline_changed: bool,
    /// `override.dump` must be rewritten ([`Director::override_dump`]).
    pub override_changed: bool,
    /// `notify.dump` must be rewritten ([`Director::notify_dump`]).
    pub notify_changed: bool,
}

impl Change {
    /// Whether nothing is to be done.
    pub fn is_empty(&self) -> bool {
        self == &Change::default()
    }

    /// Appends another change's work to this one.
    pub fn merge(&mut self, other: Change) {
        self.diff.extend(other.diff);
        self.notifications.extend(other.notifications);
        self.offline_changed |= other.offline_changed;
        self.override_changed |= other.override_changed;
        self.notify_changed |= other.notify_changed;
    }
}

/// What [`Director::reload`] did and asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reload {
    /// The diff records of the reals that changed (empty when `full_write`).
    pub change: Change,
    /// A virtual was added, removed or changed: write `ipvsfull.cfg` afresh (with a new diff
    /// file and the reload flag) instead of diff records.
    pub full_write: bool,
    /// Reals (pairs of a virtual and a real) added.
    pub added: usize,
    /// Reals removed.
    pub removed: usize,
    /// Reals kept with their state.
    pub kept: usize,
}

/// Why [`Director::rset`] refused a command; the texts are the original's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RsetError {
    /// Neither `rstate` nor `rweight`.
    NothingToSet,
    /// No such virtual.
    NoVirtual,
    /// No such real in the virtual.
    NoReal,
}

impl fmt::Display for RsetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RsetError::NothingToSet => "cmd_rset: you need to set at least 'rstate' or 'rweight'",
            RsetError::NoVirtual => "cmd_find_virt: Virt not found",
            RsetError::NoReal => "cmd_find_real: Real not found",
        })
    }
}

impl std::error::Error for RsetError {}

#[derive(Debug, Clone)]
struct DReal {
    cfg: Real,
    state: RealState,
    tested: bool,
}

#[derive(Debug, Clone)]
struct DVirtual {
    cfg: Virtual,
    reals: Vec<DReal>,
    notify: NotifyState,
}

impl DVirtual {
    fn new(cfg: &Virtual, start_offline: &HashSet<(ServiceKey, DestKey)>) -> Self {
        let reals = cfg
            .reals
            .iter()
            .map(|r| DReal {
                cfg: r.clone(),
                state: RealState::new(start_hysteresis(
                    cfg,
                    start_offline.contains(&(cfg.key, r.key())),
                )),
                tested: false,
            })
            .collect();
        Self {
            cfg: cfg.clone(),
            reals,
            notify: NotifyState::Unknown,
        }
    }

    fn remove_on_fail(&self) -> bool {
        self.cfg.tester.remove_on_fail
    }

    fn rt(&self) -> Rt {
        file_rt(self.cfg.forwarding)
    }

    /// The `virtual` line's record, without its reals.
    fn record(&self) -> VirtualRecord {
        let (proto, addr, port, fwmark) = file_fields(&self.cfg.key);
        VirtualRecord {
            name: self.cfg.name.clone(),
            proto,
            addr,
            port,
            rt: self.rt(),
            sched: self.cfg.scheduler.clone(),
            pers: self.cfg.persistence.as_ref().map_or(0, |p| p.timeout),
            fwmark,
            ops: self.cfg.one_packet,
            reals: Vec::new(),
            has_real_list: !self.cfg.reals.is_empty(),
        }
    }

    /// The `real` line of a real in IPVS, `None` when it is not.
    fn real_record(&self, r: &DReal) -> Option<RealRecord> {
        let w = r.state.ipvs_weight(r.cfg.weight, self.remove_on_fail())?;
        Some(RealRecord {
            name: r.cfg.name.clone(),
            addr: r.cfg.addr,
            port: r.cfg.port,
            weight: w,
            l_thresh: r.cfg.lthresh,
            u_thresh: r.cfg.uthresh,
            rt: file_rt(r.cfg.forwarding),
        })
    }

    /// The diff records of a change of `r` (its present state).
    fn change_records(&self, r: &DReal) -> Vec<DiffRecord> {
        let present = r.state.in_ipvs(self.remove_on_fail());
        diffs::real_change(&self.diff_base(r), present)
    }

    fn diff_base(&self, r: &DReal) -> DiffRecord {
        let (vproto, vaddr, vport, vfwmark) = file_fields(&self.cfg.key);
        let vrt = self.rt();
        let rrt = file_rt(r.cfg.forwarding);
        DiffRecord {
            cmd: DiffCmd::ChgReal,
            vname: self.cfg.name.clone(),
            vproto,
            vaddr,
            vport,
            vfwmark,
            vrt,
            vsched: self.cfg.scheduler.clone(),
            rname: r.cfg.name.clone(),
            raddr: r.cfg.addr,
            rport: r.cfg.port,
            rweight: r.state.effective_weight(r.cfg.weight),
            rl_thresh: r.cfg.lthresh,
            ru_thresh: r.cfg.uthresh,
            rrt: Some(rrt).filter(|rt| *rt != vrt),
        }
    }

    fn base_args(&self, up: bool) -> Vec<String> {
        let (proto, addr, port, fwmark) = file_fields(&self.cfg.key);
        vec![
            format!("notify={}", if up { "UP" } else { "DOWN" }),
            format!("vname={}", self.cfg.name),
            format!("vaddr={addr}"),
            format!("vport={port}"),
            format!("vproto={proto}"),
            format!("vfwmark={fwmark}"),
        ]
    }

    fn real_notification(&self, r: &DReal, up: bool) -> Option<Notification> {
        let n = &self.cfg.notifiers;
        let script = if up { &n.real_up } else { &n.real_down };
        let mut args = self.base_args(up);
        args.push(format!("rname={}", r.cfg.name));
        args.push(format!("raddr={}", r.cfg.addr));
        args.push(format!("rport={}", r.cfg.port));
        script.clone().map(|script| Notification { script, args })
    }

    /// The virtual notifier's verdict now: enough reals up and enough weight up.
    fn verdict(&self) -> bool {
        let n = &self.cfg.notifiers;
        let total = self.reals.len() as u64;
        let up = self.reals.iter().filter(|r| r.state.is_up()).count() as u64;
        let up_weight: u64 = self
            .reals
            .iter()
            .map(|r| u64::from(r.state.effective_weight(r.cfg.weight)))
            .sum();
        let total_weight: u64 = self
            .reals
            .iter()
            .map(|r| {
                u64::from(
                    r.state
                        .weight_override()
                        .map_or(r.cfg.weight, |o| o.apply(r.cfg.weight)),
                )
            })
            .sum();
        n.min_reals.is_reached(up, total) && n.min_weight.is_reached(up_weight, total_weight)
    }
}

fn start_hysteresis(v: &Virtual, offline: bool) -> Hysteresis {
    let (rise, fall) = (v.tester.retries2ok.max(1), v.tester.retries2fail.max(1));
    let h = if offline {
        Hysteresis::new_offline(rise, fall)
    } else {
        Hysteresis::new(rise, fall)
    };
    h.expect("rise and fall are at least 1")
}

/// The director: every virtual and real with its state; see the [module documentation](self).
#[derive(Debug, Clone, Default)]
pub struct Director {
    virtuals: Vec<DVirtual>,
    start_offline: HashSet<(ServiceKey, DestKey)>,
    /// Where each (virtual, real) is: (virtual index, real index); the first of equal keys.
    index: HashMap<(ServiceKey, DestKey), (usize, usize)>,
    /// Where each virtual is by its dump key; the first of equal keys.
    vkeys: HashMap<VKey, usize>,
}

impl Director {
    /// Every real of `services` online, rstate ONLINE, no override; every virtual notifier
    /// UNKNOWN.
    pub fn new(services: &ServiceConfig) -> Self {
        let start_offline = HashSet::new();
        let mut d = Self {
            virtuals: services
                .virtuals
                .iter()
                .map(|v| DVirtual::new(v, &start_offline))
                .collect(),
            start_offline,
            index: HashMap::new(),
            vkeys: HashMap::new(),
        };
        d.reindex();
        d
    }

    /// Rebuilds the lookup indexes after the virtuals changed (a search from the front finds
    /// the first of equal keys, so the first is kept).
    fn reindex(&mut self) {
        self.index.clear();
        self.vkeys.clear();
        for (vi, v) in self.virtuals.iter().enumerate() {
            self.vkeys.entry(vkey_of(&v.cfg.key)).or_insert(vi);
            for (ri, r) in v.reals.iter().enumerate() {
                self.index
                    .entry((v.cfg.key, r.cfg.key()))
                    .or_insert((vi, ri));
            }
        }
    }

    /// Restores the operator state and override of each real an `override.dump` entry names
    /// (as [`RealState::from_override_dump`]); entries for reals not in the service file are
    /// ignored. Returns how many were restored.
    pub fn restore_overrides(&mut self, dump: &OverrideDump) -> usize {
        let mut n = 0;
        for e in &dump.entries {
            if let Some(r) = self.real_by_rkey(&e.key) {
                r.state = RealState::from_override_dump(*r.state.hysteresis(), e.rstate, e.weight);
                n += 1;
            }
        }
        n
    }

    /// Starts the reals `offline.dump` lists offline (they need `retries2ok` successes to come
    /// back); they are also remembered for [`Director::reload`]. Returns how many were found.
    pub fn restore_offline(&mut self, dump: &OfflineDump) -> usize {
        let mut n = 0;
        for k in &dump.entries {
            let Some((vi, ri)) = self.position_by_rkey(k) else {
                continue;
            };
            let v = &mut self.virtuals[vi];
            let key = (v.cfg.key, v.reals[ri].cfg.key());
            let h = start_hysteresis(&v.cfg, true);
            let r = &mut v.reals[ri];
            r.state = RealState::with_operator(h, r.state.admin(), r.state.weight_override());
            self.start_offline.insert(key);
            n += 1;
        }
        n
    }

    /// Restores the virtual notifiers' states from `notify.dump`. Returns how many were found.
    pub fn restore_notify(&mut self, dump: &NotifyDump) -> usize {
        let mut n = 0;
        for e in &dump.entries {
            if let Some(v) = self
                .virtuals
                .iter_mut()
                .find(|v| vkey_of(&v.cfg.key) == e.vkey)
            {
                v.notify = e.state;
                n += 1;
            }
        }
        n
    }

    /// Reals that start offline when (re)added: those restored from `offline.dump`.
    pub fn set_start_offline(&mut self, reals: HashSet<(ServiceKey, DestKey)>) {
        self.start_offline = reals;
    }

    /// The reals whose tests fail now, as (virtual, real) pairs: what the probe engine must
    /// start offline.
    pub fn offline_reals(&self) -> HashSet<(ServiceKey, DestKey)> {
        self.iter_reals()
            .filter(|(_, r)| !r.state.is_online())
            .map(|(v, r)| (v.cfg.key, r.cfg.key()))
            .collect()
    }

    fn iter_reals(&self) -> impl Iterator<Item = (&DVirtual, &DReal)> {
        self.virtuals
            .iter()
            .flat_map(|v| v.reals.iter().map(move |r| (v, r)))
    }

    fn position_by_rkey(&self, k: &RealKey) -> Option<(usize, usize)> {
        let vi = *self.vkeys.get(&k.vkey)?;
        self.position(&self.virtuals[vi].cfg.key, &k.real)
    }

    fn real_by_rkey(&mut self, k: &RealKey) -> Option<&mut DReal> {
        let (vi, ri) = self.position_by_rkey(k)?;
        Some(&mut self.virtuals[vi].reals[ri])
    }

    fn position(&self, virtual_key: &ServiceKey, real: &DestKey) -> Option<(usize, usize)> {
        self.index.get(&(*virtual_key, *real)).copied()
    }

    /// The number of virtuals and of (virtual, real) pairs.
    pub fn size(&self) -> (usize, usize) {
        (
            self.virtuals.len(),
            self.virtuals.iter().map(|v| v.reals.len()).sum(),
        )
    }

    /// The state of one real.
    pub fn real_state(&self, virtual_key: &ServiceKey, real: &DestKey) -> Option<RealState> {
        let (vi, ri) = self.position(virtual_key, real)?;
        Some(self.virtuals[vi].reals[ri].state)
    }

    /// A virtual notifier's state.
    pub fn notify_state(&self, virtual_key: &ServiceKey) -> Option<NotifyState> {
        self.virtuals
            .iter()
            .find(|v| v.cfg.key == *virtual_key)
            .map(|v| v.notify)
    }

    /// Takes a test verdict from the probe engine: the real's hysteresis after its latest
    /// test. When `online` changed this gives the real's diff records, its notifier and a new
    /// `offline.dump`; otherwise nothing. The real counts as tested. Unknown reals are ignored.
    pub fn set_verdict(
        &mut self,
        virtual_key: &ServiceKey,
        real: &DestKey,
        hysteresis: Hysteresis,
    ) -> Change {
        let Some((vi, ri)) = self.position(virtual_key, real) else {
            return Change::default();
        };
        let v = &mut self.virtuals[vi];
        let r = &mut v.reals[ri];
        let was = r.state.is_online();
        r.state = RealState::with_operator(hysteresis, r.state.admin(), r.state.weight_override());
        r.tested = true;
        let now = r.state.is_online();
        if was == now {
            return Change::default();
        }
        let r = &v.reals[ri];
        Change {
            diff: v.change_records(r),
            notifications: v.real_notification(r, now).into_iter().collect(),
            offline_changed: true,
            ..Change::default()
        }
    }

    /// Notes that a real has been tested at least once (the full write and the virtual
    /// notifier wait for that). Returns whether it is new.
    pub fn mark_tested(&mut self, virtual_key: &ServiceKey, real: &DestKey) -> bool {
        match self.position(virtual_key, real) {
            Some((vi, ri)) => !std::mem::replace(&mut self.virtuals[vi].reals[ri].tested, true),
            None => false,
        }
    }

    /// Whether every real has been tested at least once (the periodic full write waits for
    /// it, as the original waits for every virtual's first loop).
    pub fn all_tested(&self) -> bool {
        self.iter_reals().all(|(_, r)| r.tested)
    }

    /// The control port's `rset`: sets the real's rstate and/or weight override with the
    /// original's rule (an override equal to the configured weight, or exactly 100%, together
    /// with rstate ONLINE is deleted; `rweight=0` is a drain, `docs/quirks.md` row 7). Gives
    /// the reply, and the change: the real's diff records (always, as the original) and a new
    /// `override.dump`.
    pub fn rset(
        &mut self,
        virtual_key: &ServiceKey,
        real: &DestKey,
        rstate: Option<AdminState>,
        rweight: Option<WeightOverride>,
    ) -> Result<(RsetReply, Change), RsetError> {
        if rstate.is_none() && rweight.is_none() {
            return Err(RsetError::NothingToSet);
        }
        let (vi, ri) = match self.position(virtual_key, real) {
            Some(p) => p,
            None if self.virtuals.iter().any(|v| v.cfg.key == *virtual_key) => {
                return Err(RsetError::NoReal)
            }
            None => return Err(RsetError::NoVirtual),
        };
        let v = &mut self.virtuals[vi];
        let r = &mut v.reals[ri];
        let conf = r.cfg.weight;
        // The rstate first, so that the deletion rule sees the rstate the command leaves.
        if let Some(s) = rstate {
            r.state.set_admin(s, conf);
        }
        if let Some(w) = rweight {
            r.state.set_override(w, conf);
        }
        let (weight, in_percent) = match r.state.weight_override() {
            Some(o) => (o.value(), o.is_percent()),
            None => (conf, false),
        };
        let reply = RsetReply {
            rstate: r.state.admin(),
            weight,
            in_percent,
        };
        let r = &v.reals[ri];
        let change = Change {
            diff: v.change_records(r),
            override_changed: true,
            ..Change::default()
        };
        Ok((reply, change))
    }

    /// Evaluates the virtual notifiers of the virtuals whose reals have all been tested: a
    /// verdict different from the last one runs `notify_up` / `notify_down` (when set) and
    /// rewrites `notify.dump`. Call it after every change and after [`Director::mark_tested`].
    pub fn evaluate_notifiers(&mut self) -> Change {
        let mut change = Change::default();
        for v in &mut self.virtuals {
            if !v.reals.iter().all(|r| r.tested) {
                continue;
            }
            let up = v.verdict();
            let state = if up {
                NotifyState::Up
            } else {
                NotifyState::Down
            };
            if state == v.notify {
                continue;
            }
            v.notify = state;
            change.notify_changed = true;
            let n = &v.cfg.notifiers;
            let script = if up { &n.up } else { &n.down };
            if let Some(script) = script.clone() {
                change.notifications.push(Notification {
                    script,
                    args: v.base_args(up),
                });
            }
        }
        change
    }

    /// Takes a new service file (SIGHUP): see the [module documentation](self). Reals whose
    /// virtual and address stay keep their test verdict, operator state, override and
    /// "tested" mark; a virtual that stays keeps its notifier state.
    pub fn reload(&mut self, services: &ServiceConfig) -> Reload {
        let mut out = Reload::default();
        let old = std::mem::take(&mut self.virtuals);
        let mut new = Vec::with_capacity(services.virtuals.len());
        let old_index: HashMap<ServiceKey, usize> = old
            .iter()
            .enumerate()
            .rev() // the first of equal keys wins, as a search from the front would find it
            .map(|(i, o)| (o.cfg.key, i))
            .collect();
        for cfg in &services.virtuals {
            let mut v = DVirtual::new(cfg, &self.start_offline);
            let prev = old_index.get(&cfg.key).map(|&i| &old[i]);
            match prev {
                Some(p) => {
                    v.notify = p.notify;
                    // The real list is compared real by real below; an emptied list
                    // only changes a blank line.
                    let bare = |mut r: VirtualRecord| {
                        r.has_real_list = false;
                        r
                    };
                    if bare(p.record()) != bare(v.record()) {
                        out.full_write = true;
                    }
                    // Indexed once: a virtual of a thousand reals would otherwise cost a
                    // million comparisons per reload.
                    let before: HashMap<DestKey, usize> = p
                        .reals
                        .iter()
                        .enumerate()
                        .map(|(i, r)| (r.cfg.key(), i))
                        .collect();
                    let after: HashSet<DestKey> = v.reals.iter().map(|r| r.cfg.key()).collect();
                    for r in &mut v.reals {
                        match before.get(&r.cfg.key()) {
                            Some(&i) => {
                                let pr = &p.reals[i];
                                r.state = pr.state;
                                r.tested = pr.tested;
                                out.kept += 1;
                            }
                            None => out.added += 1,
                        }
                    }
                    for pr in &p.reals {
                        if !after.contains(&pr.cfg.key()) {
                            out.removed += 1;
                            if pr.state.in_ipvs(p.remove_on_fail()) {
                                let mut d = p.diff_base(pr);
                                d.cmd = DiffCmd::DelReal;
                                out.change.diff.push(d);
                            }
                        }
                    }
                    for r in &v.reals {
                        let was = before
                            .get(&r.cfg.key())
                            .and_then(|&i| p.real_record(&p.reals[i]));
                        let now = v.real_record(r);
                        if was != now {
                            out.change.diff.extend(v.change_records(r));
                        }
                    }
                }
                None => {
                    out.full_write = true;
                    out.added += v.reals.len();
                }
            }
            new.push(v);
        }
        let wanted: HashSet<ServiceKey> = services.virtuals.iter().map(|v| v.key).collect();
        for o in &old {
            if !wanted.contains(&o.cfg.key) {
                out.full_write = true;
                out.removed += o.reals.len();
            }
        }
        if out.full_write {
            out.change.diff.clear();
        }
        self.virtuals = new;
        self.reindex();
        out.change.offline_changed = out.added > 0 || out.removed > 0;
        out.change.override_changed = out.removed > 0;
        out.change.notify_changed = true;
        out
    }

    /// The `ipvsfull.cfg` of the present state: every virtual in file order with the reals in
    /// IPVS at their effective weight.
    pub fn full_config(&self, meta: Meta, diff_file: String) -> FullConfig {
        FullConfig {
            meta,
            diff_file,
            virtuals: self
                .virtuals
                .iter()
                .map(|v| VirtualRecord {
                    reals: v.reals.iter().filter_map(|r| v.real_record(r)).collect(),
                    ..v.record()
                })
                .collect(),
            warnings: Vec::new(),
        }
    }

    /// The wanted IPVS table (for applying directly): each virtual's service, each real in
    /// IPVS a destination at its effective weight, with its exact forwarding (tunnel
    /// encapsulations and local delivery included).
    pub fn table(&self) -> Table {
        let mut t = Table::new();
        for v in &self.virtuals {
            t.insert_service(v.cfg.service());
            for r in &v.reals {
                if let Some(w) = r.state.ipvs_weight(r.cfg.weight, v.remove_on_fail()) {
                    // A validated service file only has destinations the kernel accepts.
                    let _ = t.insert_destination(&v.cfg.key, r.cfg.destination(w));
                }
            }
        }
        t
    }

    /// `offline.dump`: the reals whose tests fail, in file order.
    pub fn offline_dump(&self) -> OfflineDump {
        OfflineDump {
            entries: self
                .iter_reals()
                .filter(|(_, r)| !r.state.is_online())
                .map(|(v, r)| RealKey {
                    vkey: vkey_of(&v.cfg.key),
                    real: r.cfg.key(),
                })
                .collect(),
        }
    }

    /// `override.dump`: the reals with an override or an rstate other than ONLINE.
    pub fn override_dump(&self) -> OverrideDump {
        OverrideDump {
            entries: self
                .iter_reals()
                .filter_map(|(v, r)| {
                    let (rstate, weight) = r.state.override_dump_entry()?;
                    Some(OverrideEntry {
                        key: RealKey {
                            vkey: vkey_of(&v.cfg.key),
                            real: r.cfg.key(),
                        },
                        weight,
                        rstate,
                    })
                })
                .collect(),
        }
    }

    /// `notify.dump`: every virtual's notifier state.
    pub fn notify_dump(&self) -> NotifyDump {
        NotifyDump {
            entries: self
                .virtuals
                .iter()
                .map(|v| NotifyEntry {
                    vkey: vkey_of(&v.cfg.key),
                    state: v.notify,
                })
                .collect(),
        }
    }

    /// The control port's listing (`vlist`, `rlist`): every virtual with its reals.
    pub fn listing(&self) -> Vec<VirtualListing> {
        self.virtuals
            .iter()
            .map(|v| {
                let (proto, addr, port, fwmark) = file_fields(&v.cfg.key);
                VirtualListing {
                    virtual_view: VirtualView {
                        key: v.cfg.key,
                        name: v.cfg.name.clone(),
                        proto,
                        addr,
                        port,
                        fwmark,
                        rt: v.rt(),
                        sched: v.cfg.scheduler.as_str().to_string(),
                    },
                    reals: v
                        .reals
                        .iter()
                        .map(|r| RealView {
                            key: r.cfg.key(),
                            name: r.cfg.name.clone(),
                            current_weight: r.state.effective_weight(r.cfg.weight),
                            conf_weight: r.cfg.weight,
                            online: r.state.is_online(),
                            rstate: r.state.admin(),
                            weight_override: r.state.weight_override(),
                            in_ipvs: r.state.in_ipvs(v.remove_on_fail()),
                        })
                        .collect(),
                }
            })
            .collect()
    }

    /// The part of `stats` the director knows: the sizes, the rstate counts, the dumps' sizes
    /// and the verdict counts. The daemon adds the process ids and the test counters.
    pub fn stats_view(&self) -> StatsView {
        let mut s = StatsView {
            virtuals: self.virtuals.len(),
            ..StatsView::default()
        };
        for (_, r) in self.iter_reals() {
            s.reals += 1;
            match r.state.admin() {
                AdminState::Online => s.rstate_online += 1,
                AdminState::Offline => s.rstate_offline += 1,
                AdminState::Down => s.rstate_down += 1,
            }
            if r.state.is_online() {
                s.success += 1;
            } else {
                s.failed += 1;
                s.offline_size += 1;
            }
            if r.state.keeps_override_entry() {
                s.override_size += 1;
            }
        }
        s
    }

    /// The virtual with this key as configured.
    pub fn virtual_config(&self, key: &ServiceKey) -> Option<&Virtual> {
        self.virtuals
            .iter()
            .find(|v| v.cfg.key == *key)
            .map(|v| &v.cfg)
    }
}

#[cfg(test)]
mod tests;
