//! The [`Prober`] trait and the [`ProberRegistry`] that maps tester names to probers.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use lvs_core::config::xml::{SpecError, Tester, TesterRegistry, TesterSpec};
use tokio::time::Instant;

use crate::outcome::Outcome;
use crate::target::Target;
use crate::{DnsProber, ExecProber, HttpProber, NoTestProber, TcpProber};

/// A health test of one kind (`<tester proto="...">`).
///
/// A prober is shared by every real of every virtual that uses its kind, and is called
/// concurrently: per-real state (a TLS session cache, say) lives inside it, keyed by target, and
/// [`Prober::forget`] drops it when the real goes away.
///
/// ```
/// use async_trait::async_trait;
/// use lvs_core::config::xml::{TesterSpec, Transport};
/// use lvs_probe::{Outcome, Prober, Recorder, Target};
/// use tokio::time::Instant;
///
/// /// Passes on even ports, to show the shape.
/// #[derive(Debug)]
/// struct EvenPort;
///
/// #[async_trait]
/// impl Prober for EvenPort {
///     fn spec(&self) -> TesterSpec {
///         TesterSpec::new("even", Transport::None)
///     }
///     async fn probe(&self, target: &Target, _deadline: Instant) -> Outcome {
///         let rec = Recorder::new(target.transcript);
///         let result = if target.port % 2 == 0 {
///             Ok(())
///         } else {
///             Err(lvs_probe::Failure::Refused)
///         };
///         rec.finish(result)
///     }
/// }
/// ```
#[async_trait]
pub trait Prober: fmt::Debug + Send + Sync + 'static {
    /// The tester kind this prober implements: its name, transport and module attributes, which
    /// the service-file loader validates (see [`ProberRegistry::testers`]).
    fn spec(&self) -> TesterSpec;

    /// Tests `target` once. Every step of the test ends by `deadline` (a total deadline, not one
    /// per read): when it passes, the probe returns a timeout failure with the phase it was in.
    /// A probe never panics on what a real sends. Dropping the returned future abandons the
    /// probe cleanly: sockets are closed (with a RST) and an `exec` program's process group is
    /// killed.
    async fn probe(&self, target: &Target, deadline: Instant) -> Outcome;

    /// Drops whatever the prober keeps for `target` (the real was removed or changed). The
    /// default keeps nothing.
    fn forget(&self, target: &Target) {
        let _ = target;
    }
}

/// Probers by tester name, and the matching [`TesterRegistry`] for the service-file loader, so
/// that a `<tester proto="name">` is validated against the attributes its prober declares and
/// tested by that prober.
#[derive(Debug, Clone)]
pub struct ProberRegistry {
    probers: BTreeMap<String, Arc<dyn Prober>>,
    testers: TesterRegistry,
}

impl Default for ProberRegistry {
    /// [`ProberRegistry::builtin`].
    fn default() -> Self {
        Self::builtin()
    }
}

impl ProberRegistry {
    /// No prober at all.
    pub fn empty() -> Self {
        Self {
            probers: BTreeMap::new(),
            testers: TesterRegistry::empty(),
        }
    }

    /// The built-in probers: `tcp`, `http`, `dns`, `exec` and `no-test`, with their default
    /// limits.
    pub fn builtin() -> Self {
        let mut r = Self::empty();
        let builtin: [Arc<dyn Prober>; 5] = [
            Arc::new(TcpProber::new()),
            Arc::new(HttpProber::new()),
            Arc::new(DnsProber::new()),
            Arc::new(ExecProber::new()),
            Arc::new(NoTestProber),
        ];
        for p in builtin {
            r.register(p).expect("built-in specs are valid");
        }
        r
    }

    /// Adds `prober` under the name of its spec, replacing (and returning) one of the same name.
    /// The spec is checked as [`TesterRegistry::register`] does.
    pub fn register(
        &mut self,
        prober: Arc<dyn Prober>,
    ) -> Result<Option<Arc<dyn Prober>>, SpecError> {
        let spec = prober.spec();
        let name = spec.name.to_string();
        self.testers.register(spec)?;
        Ok(self.probers.insert(name, prober))
    }

    /// The prober called `name` (exactly; `no-test` in any case, as the loader).
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Prober>> {
        if name.eq_ignore_ascii_case("no-test") {
            return self.probers.get("no-test");
        }
        self.probers.get(name)
    }

    /// The prober for a validated tester.
    pub fn for_tester(&self, tester: &Tester) -> Option<&Arc<dyn Prober>> {
        self.get(&tester.kind)
    }

    /// The prober for a target.
    pub fn for_target(&self, target: &Target) -> Option<&Arc<dyn Prober>> {
        self.get(&target.kind)
    }

    /// The tester kinds of the registered probers, to load a service file with.
    pub fn testers(&self) -> &TesterRegistry {
        &self.testers
    }

    /// The registered names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.probers.keys().map(String::as_str)
    }
}

/// The spec `lvs-core` declares for a built-in tester kind.
pub(crate) fn builtin_spec(name: &str) -> TesterSpec {
    TesterRegistry::builtin()
        .get(name)
        .cloned()
        .expect("lvs-core declares every built-in tester kind")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_registry_matches_lvs_core_testers() {
        let r = ProberRegistry::builtin();
        let ours: Vec<_> = r.testers().names().collect();
        let core: Vec<_> = TesterRegistry::builtin()
            .names()
            .map(str::to_string)
            .collect();
        assert_eq!(ours, core);
        assert_eq!(r.names().collect::<Vec<_>>(), ours);
        assert!(r.get("No-Test").is_some());
        assert!(r.get("HTTP").is_none());
    }
}
