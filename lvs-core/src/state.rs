//! The state of one real server: health hysteresis, operator state, weight override, and what
//! follows from them (the effective weight and whether the real is in IPVS at all).
//!
//! ```text
//!  test results ──► Hysteresis (rise/fall) ──► online? ─┐
//!  rset rstate= ──► AdminState (ONLINE/OFFLINE/DOWN) ───┼──► RealState ──► effective_weight(conf)
//!  rset rweight= ─► WeightOverride (N or N%) ───────────┘                └─► in_ipvs(remove_on_fail)
//! ```
//!
//! These are small pure types: no clock, no I/O. The probe engine calls
//! [`RealState::record`] once per finished test (see [`Hysteresis`] for what "once" means), the
//! control port calls [`RealState::set_admin`] and [`RealState::set_override`], and the daemon
//! reads [`RealState::ipvs_weight`] to build the wanted [`crate::model::Table`]. The rules are
//! those of surealived's `sd_tester.c` and `sd_ipvssync.c`; the few places where we differ are
//! listed in `docs/quirks.md`.

use std::fmt;
use std::str::FromStr;

use crate::formats::dumps::{OverrideWeight, RState};
use crate::model::Destination;

/// A change of a real's test verdict (`online`), as returned by [`Hysteresis::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    /// The real became online: `rise` consecutive successes.
    Up,
    /// The real became offline: `fall` consecutive failures.
    Down,
}

/// Rise/fall hysteresis over test results: surealived's `retries2ok` / `retries2fail`.
///
/// Two saturating counters: a success sets `ok = min(ok + 1, rise)` and `fail = 0`, a failure the
/// opposite. The real becomes online when `ok == rise` and offline when `fail == fall`; in
/// between it keeps its verdict.
///
/// A real starts online ([`Hysteresis::new`]), as in the original, unless `offline.dump` lists
/// it: [`Hysteresis::new_offline`] then starts it offline with `fail == fall`, so that `rise`
/// successes are needed to bring it back.
///
/// Feed it **one result per finished test**. The original evaluated a real that finished before
/// its virtual's expiry a second time at expiry, advancing the counters twice per loop; we do
/// not (a real unfinished at expiry is recorded once, as a failure). See `docs/quirks.md`.
///
/// ```
/// use lvs_core::state::{Hysteresis, Transition};
///
/// // retries2ok=2, retries2fail=3
/// let mut h = Hysteresis::new(2, 3).expect("non-zero retries");
/// assert!(h.is_online());
/// assert_eq!(h.record(false), None);
/// assert_eq!(h.record(false), None);
/// assert_eq!(h.record(false), Some(Transition::Down));
/// assert_eq!(h.record(true), None);
/// assert_eq!(h.record(true), Some(Transition::Up));
/// assert_eq!((h.ok(), h.fail()), (2, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hysteresis {
    rise: u32,
    fall: u32,
    ok: u32,
    fail: u32,
    online: bool,
}

impl Hysteresis {
    /// A real that starts online with both counters at 0; `None` if `rise` (retries2ok) or `fall`
    /// (retries2fail) is 0.
    pub fn new(rise: u32, fall: u32) -> Option<Self> {
        (rise >= 1 && fall >= 1).then_some(Self {
            rise,
            fall,
            ok: 0,
            fail: 0,
            online: true,
        })
    }

    /// A real restored from `offline.dump`: offline, with `fail == fall`; `None` if `rise` or
    /// `fall` is 0.
    pub fn new_offline(rise: u32, fall: u32) -> Option<Self> {
        Self::new(rise, fall).map(|h| Self {
            fail: fall,
            online: false,
            ..h
        })
    }

    /// Records one finished test and returns the transition if the verdict flipped.
    pub fn record(&mut self, success: bool) -> Option<Transition> {
        if success {
            self.ok = self.ok.saturating_add(1).min(self.rise);
            self.fail = 0;
        } else {
            self.fail = self.fail.saturating_add(1).min(self.fall);
            self.ok = 0;
        }
        let was = self.online;
        if self.ok == self.rise {
            self.online = true;
        } else if self.fail == self.fall {
            self.online = false;
        }
        match (was, self.online) {
            (false, true) => Some(Transition::Up),
            (true, false) => Some(Transition::Down),
            _ => None,
        }
    }

    /// The test verdict (`online` of the original).
    pub fn is_online(&self) -> bool {
        self.online
    }

    /// Consecutive successes, capped at [`Hysteresis::rise`].
    pub fn ok(&self) -> u32 {
        self.ok
    }

    /// Consecutive failures, capped at [`Hysteresis::fall`].
    pub fn fail(&self) -> u32 {
        self.fail
    }

    /// Successes needed to go online (`retries2ok`).
    pub fn rise(&self) -> u32 {
        self.rise
    }

    /// Failures needed to go offline (`retries2fail`).
    pub fn fall(&self) -> u32 {
        self.fall
    }
}

/// The operator state of a real (`rstate` of the control port and `override.dump`).
///
/// ```
/// use lvs_core::state::AdminState;
///
/// assert_eq!(AdminState::parse("OFFLINE"), Some(AdminState::Offline));
/// assert_eq!(AdminState::parse("offline"), None); // exact upper case, as the original
/// assert_eq!(AdminState::Down.to_string(), "DOWN");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AdminState {
    /// `ONLINE`: in service when its tests pass (the default).
    #[default]
    Online,
    /// `OFFLINE`: kept in IPVS with weight 0 (drained, still tested).
    Offline,
    /// `DOWN`: removed from IPVS (still tested).
    Down,
}

impl AdminState {
    /// The control-port spelling: `ONLINE`, `OFFLINE` or `DOWN`.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::Online => "ONLINE",
            AdminState::Offline => "OFFLINE",
            AdminState::Down => "DOWN",
        }
    }

    /// Parses `ONLINE`, `OFFLINE` or `DOWN`, exact upper case only.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ONLINE" => Some(AdminState::Online),
            "OFFLINE" => Some(AdminState::Offline),
            "DOWN" => Some(AdminState::Down),
            _ => None,
        }
    }
}

impl fmt::Display for AdminState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AdminState {
    type Err = String;
    /// As [`AdminState::parse`], with a message naming the accepted values.
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s).ok_or_else(|| format!("unknown rstate `{s}`; known: ONLINE, OFFLINE, DOWN"))
    }
}

impl From<RState> for AdminState {
    fn from(s: RState) -> Self {
        match s {
            RState::Online => AdminState::Online,
            RState::Offline => AdminState::Offline,
            RState::Down => AdminState::Down,
        }
    }
}

impl From<AdminState> for RState {
    fn from(s: AdminState) -> Self {
        match s {
            AdminState::Online => RState::Online,
            AdminState::Offline => RState::Offline,
            AdminState::Down => RState::Down,
        }
    }
}

/// An operator's weight override (`rweight=N` or `rweight=N%`).
///
/// Applied to the configured weight by [`WeightOverride::apply`]:
///
/// * `Absolute(n)`: `n`;
/// * `Percent(p)`, `p > 0`: `max(1, conf * p / 100)` (integer division, as the original), but 0
///   when the configured weight is 0, so that 100% always equals the configured weight;
/// * `Percent(0)` and `Absolute(0)`: 0. The original read 0 as "no override"; we let an operator
///   drain a real that stays monitored (`docs/quirks.md`, quirk 7).
///
/// The result is capped at [`Destination::MAX_WEIGHT`] (2147483647, the kernel's limit).
///
/// ```
/// use lvs_core::state::WeightOverride;
///
/// let half = WeightOverride::parse("50%").expect("valid");
/// assert_eq!(half, WeightOverride::Percent(50));
/// assert_eq!(half.apply(10), 5);
/// assert_eq!(half.apply(1), 1); // never rounded down to 0
/// assert_eq!(WeightOverride::parse("7"), Some(WeightOverride::Absolute(7)));
/// assert_eq!(WeightOverride::Absolute(7).apply(100), 7);
/// assert_eq!(WeightOverride::Absolute(0).apply(100), 0);
/// assert_eq!(half.to_string(), "50%");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WeightOverride {
    /// The weight itself.
    Absolute(u32),
    /// A percentage of the configured weight (may exceed 100).
    Percent(u32),
}

impl WeightOverride {
    /// Parses the control-port form `1*DIGIT ["%"]`: `"7"` or `"50%"`. No sign, no blanks, at
    /// most `u32::MAX`.
    pub fn parse(s: &str) -> Option<Self> {
        let (digits, percent) = match s.strip_suffix('%') {
            Some(d) => (d, true),
            None => (s, false),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n = digits.parse().ok()?;
        Some(if percent {
            WeightOverride::Percent(n)
        } else {
            WeightOverride::Absolute(n)
        })
    }

    /// The number, without its unit.
    pub fn value(self) -> u32 {
        match self {
            WeightOverride::Absolute(n) | WeightOverride::Percent(n) => n,
        }
    }

    /// Whether it is a percentage (`inpercent` of the control port's reply).
    pub fn is_percent(self) -> bool {
        matches!(self, WeightOverride::Percent(_))
    }

    /// The weight this override gives to a real configured with `conf_weight`.
    pub fn apply(self, conf_weight: u32) -> u32 {
        let w = match self {
            WeightOverride::Absolute(n) => u64::from(n),
            WeightOverride::Percent(0) => 0,
            WeightOverride::Percent(_) if conf_weight == 0 => 0,
            WeightOverride::Percent(p) => (u64::from(conf_weight) * u64::from(p) / 100).max(1),
        };
        clamp_weight(w)
    }

    /// Whether this override changes nothing for `conf_weight`: the configured weight itself, or
    /// exactly 100%. With rstate ONLINE such an override is deleted (the `rset` rule).
    pub fn is_neutral(self, conf_weight: u32) -> bool {
        match self {
            WeightOverride::Absolute(n) => n == conf_weight,
            WeightOverride::Percent(p) => p == 100,
        }
    }

    /// The override an `override.dump` weight stands for. An absolute `weight=0` is read as **no
    /// override**, as the original wrote and read it; `weight=0%` is our drain (what
    /// [`OverrideWeight::from`] writes for a zero override), read back as weight 0
    /// (`docs/quirks.md`, quirk 7).
    pub fn from_dump(w: OverrideWeight) -> Option<Self> {
        match w {
            OverrideWeight::Absolute(0) => None,
            OverrideWeight::Absolute(n) => Some(WeightOverride::Absolute(n)),
            OverrideWeight::Percent(n) => Some(WeightOverride::Percent(n)),
        }
    }
}

impl From<WeightOverride> for OverrideWeight {
    /// The `override.dump` form. A zero override (a drain) is written as `weight=0%`, because an
    /// absolute `weight=0` meant "no override" to the original and is read so.
    fn from(w: WeightOverride) -> Self {
        match w {
            WeightOverride::Absolute(0) => OverrideWeight::Percent(0),
            WeightOverride::Absolute(n) => OverrideWeight::Absolute(n),
            WeightOverride::Percent(n) => OverrideWeight::Percent(n),
        }
    }
}

impl fmt::Display for WeightOverride {
    /// The control-port form: `7` or `50%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightOverride::Absolute(n) => write!(f, "{n}"),
            WeightOverride::Percent(n) => write!(f, "{n}%"),
        }
    }
}

impl FromStr for WeightOverride {
    type Err = String;
    /// As [`WeightOverride::parse`], with a message naming the accepted forms.
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s).ok_or_else(|| format!("invalid rweight `{s}`; expected N or N% (digits)"))
    }
}

fn clamp_weight(w: u64) -> u32 {
    u32::try_from(w.min(u64::from(Destination::MAX_WEIGHT))).unwrap_or(Destination::MAX_WEIGHT)
}

/// Everything surealived knows about one real: its test verdict, its operator state and its
/// weight override.
///
/// * The real is **up** when its rstate is ONLINE and its tests pass; only then does it get a
///   non-zero weight ([`RealState::effective_weight`]).
/// * It is **in IPVS** unless it is DOWN, or failing with `remove_on_fail`
///   ([`RealState::in_ipvs`]). An OFFLINE real stays in IPVS with weight 0, even with
///   `remove_on_fail` (the code's behaviour; a comment of the original's `sd_defs.h` says
///   otherwise).
/// * [`RealState::set_admin`] and [`RealState::set_override`] follow the control port's `rset`
///   rule: ONLINE together with a neutral override (the configured weight, or 100%) deletes the
///   override, so the real no longer has an `override.dump` entry.
///
/// ```
/// use lvs_core::state::{AdminState, Hysteresis, RealState, WeightOverride};
///
/// let conf_weight = 10;
/// let mut real = RealState::new(Hysteresis::new(1, 2).expect("non-zero retries"));
/// assert_eq!(real.ipvs_weight(conf_weight, false), Some(10));
///
/// real.set_override(WeightOverride::Percent(50), conf_weight);
/// assert_eq!(real.effective_weight(conf_weight), 5);
/// assert!(real.keeps_override_entry());
///
/// real.set_admin(AdminState::Offline, conf_weight);
/// assert_eq!(real.ipvs_weight(conf_weight, true), Some(0)); // drained, still in IPVS
///
/// real.set_admin(AdminState::Online, conf_weight);
/// real.set_override(WeightOverride::Percent(100), conf_weight); // neutral: deleted
/// assert_eq!(real.weight_override(), None);
/// assert!(!real.keeps_override_entry());
///
/// real.record(false);
/// real.record(false); // two failures: offline
/// assert_eq!(real.ipvs_weight(conf_weight, false), Some(0));
/// assert_eq!(real.ipvs_weight(conf_weight, true), None); // remove_on_fail
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RealState {
    hysteresis: Hysteresis,
    admin: AdminState,
    weight_override: Option<WeightOverride>,
}

impl RealState {
    /// A real with rstate ONLINE and no override.
    pub fn new(hysteresis: Hysteresis) -> Self {
        Self {
            hysteresis,
            admin: AdminState::Online,
            weight_override: None,
        }
    }

    /// A real with the given operator state and override, taken as they are (for restoring an
    /// `override.dump` entry; no `rset` rule is applied).
    pub fn with_operator(
        hysteresis: Hysteresis,
        admin: AdminState,
        weight_override: Option<WeightOverride>,
    ) -> Self {
        Self {
            hysteresis,
            admin,
            weight_override,
        }
    }

    /// Records one finished test; see [`Hysteresis::record`].
    pub fn record(&mut self, success: bool) -> Option<Transition> {
        self.hysteresis.record(success)
    }

    /// The hysteresis (test verdict and counters).
    pub fn hysteresis(&self) -> &Hysteresis {
        &self.hysteresis
    }

    /// The test verdict (`ronline` of `rlist`).
    pub fn is_online(&self) -> bool {
        self.hysteresis.is_online()
    }

    /// The operator state (`rstate`).
    pub fn admin(&self) -> AdminState {
        self.admin
    }

    /// The weight override, if any.
    pub fn weight_override(&self) -> Option<WeightOverride> {
        self.weight_override
    }

    /// rstate ONLINE and tests passing.
    pub fn is_up(&self) -> bool {
        self.admin == AdminState::Online && self.is_online()
    }

    /// The weight to give this real (`currwgt` of `rlist`): 0 when not up, else the override
    /// applied to `conf_weight`, else `conf_weight`; at most [`Destination::MAX_WEIGHT`].
    pub fn effective_weight(&self, conf_weight: u32) -> u32 {
        if !self.is_up() {
            return 0;
        }
        match self.weight_override {
            Some(o) => o.apply(conf_weight),
            None => clamp_weight(u64::from(conf_weight)),
        }
    }

    /// Whether the real is a destination in IPVS: not when DOWN, nor when failing with
    /// `remove_on_fail`. OFFLINE keeps it (weight 0) whatever `remove_on_fail` says.
    pub fn in_ipvs(&self, remove_on_fail: bool) -> bool {
        !(self.admin == AdminState::Down || (remove_on_fail && !self.is_online()))
    }

    /// The IPVS weight of the real, or `None` if it is not in IPVS.
    pub fn ipvs_weight(&self, conf_weight: u32, remove_on_fail: bool) -> Option<u32> {
        self.in_ipvs(remove_on_fail)
            .then(|| self.effective_weight(conf_weight))
    }

    /// Sets the operator state (`rset rstate=`), then applies the `rset` rule: ONLINE with a
    /// neutral override for `conf_weight` deletes the override.
    pub fn set_admin(&mut self, admin: AdminState, conf_weight: u32) {
        self.admin = admin;
        self.normalize(conf_weight);
    }

    /// Sets the weight override (`rset rweight=`), then applies the `rset` rule: ONLINE with a
    /// neutral override for `conf_weight` deletes the override.
    pub fn set_override(&mut self, weight_override: WeightOverride, conf_weight: u32) {
        self.weight_override = Some(weight_override);
        self.normalize(conf_weight);
    }

    /// Removes the override, leaving the operator state.
    pub fn clear_override(&mut self) {
        self.weight_override = None;
    }

    fn normalize(&mut self, conf_weight: u32) {
        if self.admin == AdminState::Online
            && self
                .weight_override
                .is_some_and(|o| o.is_neutral(conf_weight))
        {
            self.weight_override = None;
        }
    }

    /// Whether the real has an `override.dump` entry: an override, or an rstate other than
    /// ONLINE.
    pub fn keeps_override_entry(&self) -> bool {
        self.admin != AdminState::Online || self.weight_override.is_some()
    }

    /// The real's override as the control port shows it, if it keeps an `override.dump` entry:
    /// its rstate and its override, which defaults to the configured weight when only the rstate
    /// was set (as the original's `rlist`).
    ///
    /// This is **not** what to write to `override.dump`: use [`RealState::override_dump_entry`],
    /// which keeps "only the rstate was set" apart from an override (for a real configured with
    /// weight 0, `Absolute(0)` here would be written as the drain `weight=0%`).
    pub fn override_entry(&self, conf_weight: u32) -> Option<(AdminState, WeightOverride)> {
        self.keeps_override_entry().then(|| {
            (
                self.admin,
                self.weight_override
                    .unwrap_or(WeightOverride::Absolute(conf_weight)),
            )
        })
    }

    /// The real's `override.dump` entry, if it keeps one: its rstate and the `weight=` to write.
    ///
    /// * An override is written as [`OverrideWeight::from`] gives it (a zero override, the drain,
    ///   as `weight=0%`).
    /// * Only the rstate set: `weight=0` (absolute), which both we and the original read as "no
    ///   override" ([`WeightOverride::from_dump`]). The original wrote the configured weight
    ///   there, which would come back as an absolute override pinning that weight (and, for a
    ///   real configured with weight 0, as a permanent drain once written as `0%`); `weight=0`
    ///   restores exactly the state that was saved, whatever the configured weight.
    ///
    /// [`RealState::from_override_dump`] reads the entry back.
    pub fn override_dump_entry(&self) -> Option<(RState, OverrideWeight)> {
        self.keeps_override_entry().then(|| {
            (
                self.admin.into(),
                self.weight_override
                    .map_or(OverrideWeight::Absolute(0), OverrideWeight::from),
            )
        })
    }

    /// A real restored from its `override.dump` entry (see [`RealState::override_dump_entry`]):
    /// the rstate, and the override [`WeightOverride::from_dump`] reads (none for an absolute
    /// `weight=0`). No `rset` rule is applied, as the original.
    pub fn from_override_dump(
        hysteresis: Hysteresis,
        rstate: RState,
        weight: OverrideWeight,
    ) -> Self {
        Self::with_operator(hysteresis, rstate.into(), WeightOverride::from_dump(weight))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hyst(rise: u32, fall: u32) -> Hysteresis {
        Hysteresis::new(rise, fall).expect("non-zero")
    }

    fn real(online: bool, admin: AdminState, o: Option<WeightOverride>) -> RealState {
        let h = if online {
            hyst(1, 1)
        } else {
            Hysteresis::new_offline(1, 1).expect("non-zero")
        };
        RealState::with_operator(h, admin, o)
    }

    #[test]
    fn zero_retries_rejected() {
        assert_eq!(Hysteresis::new(0, 1), None);
        assert_eq!(Hysteresis::new(1, 0), None);
        assert_eq!(Hysteresis::new_offline(0, 3), None);
    }

    #[test]
    fn starts_online_with_zero_counters() {
        let h = hyst(3, 2);
        assert!(h.is_online());
        assert_eq!((h.ok(), h.fail(), h.rise(), h.fall()), (0, 0, 3, 2));
    }

    #[test]
    fn offline_dump_start_needs_rise_successes() {
        let mut h = Hysteresis::new_offline(3, 2).expect("non-zero");
        assert!(!h.is_online());
        assert_eq!(h.fail(), 2);
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(true), Some(Transition::Up));
    }

    #[test]
    fn counters_saturate_and_reset() {
        let mut h = hyst(2, 3);
        for _ in 0..10 {
            h.record(true);
        }
        assert_eq!((h.ok(), h.fail()), (2, 0));
        h.record(false);
        assert_eq!((h.ok(), h.fail()), (0, 1));
        for _ in 0..10 {
            h.record(false);
        }
        assert_eq!((h.ok(), h.fail()), (0, 3));
        h.record(true);
        assert_eq!((h.ok(), h.fail()), (1, 0));
    }

    #[test]
    fn interrupted_runs_do_not_flip() {
        let mut h = hyst(2, 2);
        // fail, ok, fail, ok ... never two in a row: stays online.
        for i in 0..20 {
            assert_eq!(h.record(i % 2 == 1), None);
        }
        assert!(h.is_online());
        h.record(false);
        h.record(false);
        assert!(!h.is_online());
        for i in 0..20 {
            assert_eq!(h.record(i % 2 == 0), None);
        }
        assert!(!h.is_online());
    }

    #[test]
    fn rise_and_fall_of_one_flip_at_once() {
        let mut h = hyst(1, 1);
        assert_eq!(h.record(true), None); // already online
        assert_eq!(h.record(false), Some(Transition::Down));
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(true), Some(Transition::Up));
    }

    #[test]
    fn admin_state_spelling() {
        for (s, a) in [
            ("ONLINE", AdminState::Online),
            ("OFFLINE", AdminState::Offline),
            ("DOWN", AdminState::Down),
        ] {
            assert_eq!(AdminState::parse(s), Some(a));
            assert_eq!(a.to_string(), s);
            assert_eq!(s.parse::<AdminState>(), Ok(a));
            assert_eq!(AdminState::from(RState::from(a)), a);
        }
        for s in ["online", "Online", " DOWN", "DOWN ", ""] {
            assert_eq!(AdminState::parse(s), None);
            assert!(s.parse::<AdminState>().is_err());
        }
        assert_eq!(AdminState::default(), AdminState::Online);
    }

    #[test]
    fn override_parse_and_display() {
        use WeightOverride::*;
        for (s, o) in [
            ("7", Absolute(7)),
            ("0", Absolute(0)),
            ("50%", Percent(50)),
            ("0%", Percent(0)),
            ("250%", Percent(250)),
            ("4294967295", Absolute(u32::MAX)),
        ] {
            assert_eq!(WeightOverride::parse(s), Some(o), "{s}");
            assert_eq!(o.to_string(), s);
        }
        for s in [
            "",
            "%",
            "-1",
            "+5",
            "5 %",
            " 5",
            "5%%",
            "x",
            "4294967296",
            "1.5",
        ] {
            assert_eq!(WeightOverride::parse(s), None, "{s}");
            assert!(s.parse::<WeightOverride>().is_err());
        }
        assert!(Percent(5).is_percent() && !Absolute(5).is_percent());
        assert_eq!(Percent(5).value(), 5);
    }

    #[test]
    fn percent_rule() {
        use WeightOverride::Percent;
        assert_eq!(Percent(50).apply(10), 5);
        assert_eq!(Percent(33).apply(10), 3); // integer division
        assert_eq!(Percent(50).apply(1), 1); // max(1, 0)
        assert_eq!(Percent(1).apply(99), 1);
        assert_eq!(Percent(100).apply(42), 42);
        assert_eq!(Percent(200).apply(42), 84);
        assert_eq!(Percent(200).apply(65535), 131_070); // the kernel takes up to i32::MAX
        assert_eq!(Percent(u32::MAX).apply(u32::MAX), 2_147_483_647); // capped
        assert_eq!(Percent(50).apply(0), 0); // 0 stays 0
        assert_eq!(Percent(0).apply(42), 0); // explicit drain (quirk 7)
    }

    #[test]
    fn absolute_rule() {
        use WeightOverride::Absolute;
        assert_eq!(Absolute(7).apply(100), 7);
        assert_eq!(Absolute(700).apply(1), 700);
        assert_eq!(Absolute(0).apply(100), 0); // explicit drain (quirk 7)
        assert_eq!(Absolute(70000).apply(1), 70000);
        assert_eq!(Absolute(u32::MAX).apply(1), Destination::MAX_WEIGHT); // capped
        assert_eq!(Destination::MAX_WEIGHT, 2_147_483_647);
    }

    #[test]
    fn dump_weight_zero_means_no_override() {
        assert_eq!(WeightOverride::from_dump(OverrideWeight::Absolute(0)), None);
        // Our drain is written as 0% and survives a restart.
        assert_eq!(
            WeightOverride::from_dump(OverrideWeight::Percent(0)),
            Some(WeightOverride::Percent(0))
        );
        assert_eq!(
            OverrideWeight::from(WeightOverride::Absolute(0)),
            OverrideWeight::Percent(0)
        );
        let drained = WeightOverride::from_dump(OverrideWeight::from(WeightOverride::Absolute(0)))
            .expect("a drain survives the dump");
        assert_eq!(drained.apply(10), 0);
        assert_eq!(
            WeightOverride::from_dump(OverrideWeight::Absolute(7)),
            Some(WeightOverride::Absolute(7))
        );
        assert_eq!(
            WeightOverride::from_dump(OverrideWeight::Percent(50)),
            Some(WeightOverride::Percent(50))
        );
        assert_eq!(
            OverrideWeight::from(WeightOverride::Percent(50)),
            OverrideWeight::Percent(50)
        );
    }

    #[test]
    fn effective_weight_rules() {
        use AdminState::*;
        use WeightOverride::*;
        // 1. not up => 0
        assert_eq!(real(false, Online, None).effective_weight(10), 0);
        assert_eq!(real(true, Offline, None).effective_weight(10), 0);
        assert_eq!(real(true, Down, Some(Absolute(5))).effective_weight(10), 0);
        // 2. percent
        assert_eq!(
            real(true, Online, Some(Percent(50))).effective_weight(10),
            5
        );
        // 3. absolute
        assert_eq!(
            real(true, Online, Some(Absolute(3))).effective_weight(10),
            3
        );
        // 4. configured weight
        assert_eq!(real(true, Online, None).effective_weight(10), 10);
        assert_eq!(real(true, Online, None).effective_weight(0), 0);
        // our decision on quirk 7: an override of 0 drains
        assert_eq!(
            real(true, Online, Some(Absolute(0))).effective_weight(10),
            0
        );
    }

    #[test]
    fn presence_rules() {
        use AdminState::*;
        // (online, admin, remove_on_fail) => in IPVS
        let cases = [
            (true, Online, false, true),
            (true, Online, true, true),
            (false, Online, false, true), // failed: weight 0
            (false, Online, true, false), // failed + remove_on_fail
            (true, Offline, false, true),
            (true, Offline, true, true), // code, not the sd_defs.h comment
            (false, Offline, false, true),
            (false, Offline, true, false),
            (true, Down, false, false),
            (true, Down, true, false),
            (false, Down, false, false),
        ];
        for (online, admin, rof, present) in cases {
            let r = real(online, admin, None);
            assert_eq!(r.in_ipvs(rof), present, "{online} {admin} {rof}");
            let expected = present.then_some(if online && admin == Online { 10 } else { 0 });
            assert_eq!(r.ipvs_weight(10, rof), expected, "{online} {admin} {rof}");
        }
    }

    #[test]
    fn rset_rule_deletes_neutral_override_when_online() {
        use WeightOverride::*;
        let mut r = RealState::new(hyst(1, 1));
        r.set_override(Absolute(10), 10);
        assert_eq!(r.weight_override(), None);
        r.set_override(Percent(100), 10);
        assert_eq!(r.weight_override(), None);
        r.set_override(Absolute(11), 10);
        assert_eq!(r.weight_override(), Some(Absolute(11)));
        assert_eq!(
            r.override_entry(10),
            Some((AdminState::Online, Absolute(11)))
        );
        // Setting only rstate keeps a non-neutral override.
        r.set_admin(AdminState::Offline, 10);
        assert_eq!(r.weight_override(), Some(Absolute(11)));
        r.set_admin(AdminState::Online, 10);
        assert_eq!(r.weight_override(), Some(Absolute(11)));
        r.clear_override();
        assert!(!r.keeps_override_entry());
        assert_eq!(r.override_entry(10), None);
    }

    #[test]
    fn rset_rule_keeps_neutral_override_when_not_online() {
        use WeightOverride::*;
        let mut r = RealState::new(hyst(1, 1));
        r.set_admin(AdminState::Offline, 10);
        // rstate only: the entry's weight defaults to the configured weight.
        assert!(r.keeps_override_entry());
        assert_eq!(
            r.override_entry(10),
            Some((AdminState::Offline, Absolute(10)))
        );
        r.set_override(Percent(100), 10);
        assert_eq!(r.weight_override(), Some(Percent(100)));
        // Back to ONLINE with the neutral override: the entry goes.
        r.set_admin(AdminState::Online, 10);
        assert_eq!(r.weight_override(), None);
        assert!(!r.keeps_override_entry());
    }

    #[test]
    fn zero_override_is_kept_and_drains() {
        let mut r = RealState::new(hyst(1, 1));
        r.set_override(WeightOverride::Absolute(0), 10);
        assert_eq!(r.weight_override(), Some(WeightOverride::Absolute(0)));
        assert!(r.keeps_override_entry());
        assert_eq!(r.ipvs_weight(10, true), Some(0));
        assert!(r.is_up());
    }

    #[test]
    fn rstate_only_entry_of_a_zero_weight_real_survives_a_restart() {
        // Configured weight 0, only the rstate set: no override.
        let conf_weight = 0;
        let mut r = RealState::new(hyst(1, 1));
        r.set_admin(AdminState::Offline, conf_weight);
        assert_eq!(r.weight_override(), None);
        let (rstate, weight) = r.override_dump_entry().expect("an entry");
        // Written as the original's absolute `weight=0`, not as the drain `weight=0%`.
        assert_eq!(
            (rstate, weight),
            (RState::Offline, OverrideWeight::Absolute(0))
        );
        let mut back = RealState::from_override_dump(hyst(1, 1), rstate, weight);
        assert_eq!(back, r);
        // Back ONLINE, the real takes its configured weight again: no permanent drain.
        back.set_admin(AdminState::Online, conf_weight);
        assert!(!back.keeps_override_entry());
        let mut fresh = r;
        fresh.set_admin(AdminState::Online, conf_weight);
        assert_eq!(back, fresh);
        // The same for a configured weight > 0: no spurious override pinning the weight.
        let mut r = RealState::new(hyst(1, 1));
        r.set_admin(AdminState::Down, 10);
        let (rstate, weight) = r.override_dump_entry().expect("an entry");
        assert_eq!(weight, OverrideWeight::Absolute(0));
        assert_eq!(RealState::from_override_dump(hyst(1, 1), rstate, weight), r);
        // An explicit drain is still written as 0% and comes back as a drain.
        let mut d = RealState::new(hyst(1, 1));
        d.set_override(WeightOverride::Absolute(0), 10);
        let (rstate, weight) = d.override_dump_entry().expect("an entry");
        assert_eq!(
            (rstate, weight),
            (RState::Online, OverrideWeight::Percent(0))
        );
        let back = RealState::from_override_dump(hyst(1, 1), rstate, weight);
        assert_eq!(back.effective_weight(10), 0);
        assert_eq!(RealState::new(hyst(1, 1)).override_dump_entry(), None);
    }

    #[test]
    fn record_through_real_state() {
        let mut r = RealState::new(hyst(1, 2));
        assert_eq!(r.record(false), None);
        assert_eq!(r.record(false), Some(Transition::Down));
        assert!(!r.is_online() && !r.hysteresis().is_online());
        assert_eq!(r.record(true), Some(Transition::Up));
    }
}
