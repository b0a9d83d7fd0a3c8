//! Monitor kinds of the agent (`monitor = cpuload.so`) and their option keys.
//!
//! The original loads a shared object per monitor; here a [`MonitorRegistry`] says which
//! monitor names a `[service]` may use and which option keys each takes. The built-in kinds are
//! the HOWTO's plugins; a Rust program embedding the agent registers its own with
//! [`MonitorRegistry::register`] and receives their options as text in [`Monitor::Custom`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::raw::quote;
use super::values::{self, Fields};
use crate::error::{ParseError, ParseErrorKind};

/// The keys of every `[service]`, whatever its monitor.
pub const SERVICE_KEYS: &[&str] = &["name", "protocol", "port", "forwarding", "monitor"];

/// A check of one custom option value: `Err(reason)` rejects it.
pub type OptionCheck = fn(&str) -> Result<(), String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Constant,
    CpuLoad,
    Exec,
    Perl,
    Custom,
}

/// One option key of a monitor.
#[derive(Debug, Clone)]
pub struct MonitorOption {
    key: String,
    required: bool,
    check: Option<OptionCheck>,
}

impl MonitorOption {
    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether a service using the monitor must give it.
    pub fn required(&self) -> bool {
        self.required
    }
}

/// A monitor kind: its name (without `.so`) and option keys.
#[derive(Debug, Clone)]
pub struct MonitorSpec {
    name: String,
    kind: Kind,
    options: Vec<MonitorOption>,
}

impl MonitorSpec {
    /// A custom monitor called `name`, without options yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: Kind::Custom,
            options: Vec::new(),
        }
    }

    fn builtin(name: &str, kind: Kind, options: &[&str]) -> Self {
        Self {
            name: name.into(),
            kind,
            options: options
                .iter()
                .map(|k| MonitorOption {
                    key: (*k).into(),
                    required: true,
                    check: None,
                })
                .collect(),
        }
    }

    /// Adds an option key, accepting any non-empty value.
    pub fn option(self, key: impl Into<String>, required: bool) -> Self {
        self.push(key.into(), required, None)
    }

    /// Adds an option key whose value `check` validates.
    pub fn checked_option(
        self,
        key: impl Into<String>,
        required: bool,
        check: OptionCheck,
    ) -> Self {
        self.push(key.into(), required, Some(check))
    }

    fn push(mut self, key: String, required: bool, check: Option<OptionCheck>) -> Self {
        self.options.push(MonitorOption {
            key,
            required,
            check,
        });
        self
    }

    /// The name, as written after `monitor =` (without `.so`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The option keys, in declaration order.
    pub fn options(&self) -> &[MonitorOption] {
        &self.options
    }

    /// Builds the service's [`Monitor`] from its (already collected) keys.
    pub(super) fn build(&self, f: &Fields<'_>) -> Result<Monitor, ParseError> {
        for o in self.options.iter().filter(|o| o.required) {
            f.require(&o.key)?;
        }
        Ok(match self.kind {
            Kind::Constant => Monitor::Constant {
                value: f.parse_required("value", |v| {
                    values::uint(v, 0, 100, " (health)").map(|n| u8::try_from(n).unwrap_or(100))
                })?,
            },
            Kind::CpuLoad => Monitor::CpuLoad,
            Kind::Exec => Monitor::Exec {
                command: f.parse_required("command", values::text)?,
            },
            Kind::Perl => Monitor::Perl {
                file: f.parse_required("file", |v| Ok(PathBuf::from(v)))?,
            },
            Kind::Custom => {
                let mut options = BTreeMap::new();
                for o in &self.options {
                    let Some(e) = f.get(&o.key) else { continue };
                    if let Some(check) = o.check {
                        check(&e.value).map_err(|reason| {
                            f.value_error(
                                e,
                                ParseErrorKind::InvalidValue {
                                    value: quote(&e.value),
                                    reason,
                                },
                            )
                        })?;
                    }
                    options.insert(o.key.clone(), e.value.clone());
                }
                Monitor::Custom {
                    name: self.name.clone(),
                    options,
                }
            }
        })
    }
}

/// The validated monitor of a `[service]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Monitor {
    /// `constant`: always reports `value` (0..=100).
    Constant {
        /// `value`: the health reported.
        value: u8,
    },
    /// `cpuload`: the proportion of time the CPU was idle.
    CpuLoad,
    /// `exec`: runs `command`, whose single output line is the health (0..100).
    Exec {
        /// `command`: the command line, as written.
        command: String,
    },
    /// `perl`: calls `get_health()` in the Perl script `file`.
    Perl {
        /// `file`: the script.
        file: PathBuf,
    },
    /// A monitor registered by the embedding program.
    Custom {
        /// Its name.
        name: String,
        /// The options given, by key.
        options: BTreeMap<String, String>,
    },
}

impl Monitor {
    /// The monitor's name (`constant`, `cpuload`, `exec`, `perl` or the custom name).
    pub fn name(&self) -> &str {
        match self {
            Monitor::Constant { .. } => "constant",
            Monitor::CpuLoad => "cpuload",
            Monitor::Exec { .. } => "exec",
            Monitor::Perl { .. } => "perl",
            Monitor::Custom { name, .. } => name,
        }
    }
}

/// The monitor kinds an agent file may use.
#[derive(Debug, Clone)]
pub struct MonitorRegistry {
    specs: BTreeMap<String, MonitorSpec>,
}

impl Default for MonitorRegistry {
    /// [`MonitorRegistry::builtin`].
    fn default() -> Self {
        Self::builtin()
    }
}

impl MonitorRegistry {
    /// No monitor at all.
    pub fn empty() -> Self {
        Self {
            specs: BTreeMap::new(),
        }
    }

    /// The HOWTO's plugins: `constant` (`value`, required, 0..100), `cpuload` (no option),
    /// `exec` (`command`, required) and `perl` (`file`, required).
    pub fn builtin() -> Self {
        let mut r = Self::empty();
        for spec in [
            MonitorSpec::builtin("constant", Kind::Constant, &["value"]),
            MonitorSpec::builtin("cpuload", Kind::CpuLoad, &[]),
            MonitorSpec::builtin("exec", Kind::Exec, &["command"]),
            MonitorSpec::builtin("perl", Kind::Perl, &["file"]),
        ] {
            r.specs.insert(spec.name.clone(), spec);
        }
        r
    }

    /// Adds a monitor kind. Fails when the name is taken, is not made of letters, digits, `-`
    /// and `_`, or ends with `.so`, or when an option key is one of [`SERVICE_KEYS`], is given
    /// twice or is not a valid key.
    pub fn register(&mut self, spec: MonitorSpec) -> Result<(), String> {
        let word = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !word(&spec.name) {
            return Err(format!(
                "monitor name `{}` must be letters, digits, `-` and `_`",
                spec.name
            ));
        }
        if self.specs.contains_key(&spec.name) {
            return Err(format!("monitor `{}` is already registered", spec.name));
        }
        let mut seen: Vec<&str> = Vec::new();
        for o in &spec.options {
            if !word(&o.key) {
                return Err(format!(
                    "option key `{}` must be letters, digits, `-` and `_`",
                    o.key
                ));
            }
            if SERVICE_KEYS.contains(&o.key.as_str()) {
                return Err(format!(
                    "option key `{}` is a [service] key of its own",
                    o.key
                ));
            }
            if seen.contains(&o.key.as_str()) {
                return Err(format!("option key `{}` is declared twice", o.key));
            }
            seen.push(&o.key);
        }
        self.specs.insert(spec.name.clone(), spec);
        Ok(())
    }

    /// The monitor called `name` (`exec`); `name.so` also finds it.
    pub fn get(&self, name: &str) -> Option<&MonitorSpec> {
        let name = name.strip_suffix(".so").unwrap_or(name);
        self.specs.get(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.specs.keys().map(String::as_str)
    }

    /// Every option key of every monitor, sorted and without repeats.
    pub fn all_option_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self
            .specs
            .values()
            .flat_map(|s| s.options.iter().map(|o| o.key.as_str()))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// The monitor of a `monitor = ...` value, or the reason it is unknown.
    pub(super) fn resolve(&self, value: &str) -> Result<&MonitorSpec, ParseErrorKind> {
        self.get(value).ok_or_else(|| {
            let bare = value.strip_suffix(".so").unwrap_or(value);
            let hint = crate::error::closest(bare, self.names())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            ParseErrorKind::InvalidValue {
                value: quote(value),
                reason: format!(
                    "unknown monitor{hint}; known: {} (with or without `.so`)",
                    self.names().collect::<Vec<_>>().join(", ")
                ),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_names_with_and_without_so() {
        let r = MonitorRegistry::builtin();
        assert_eq!(
            r.names().collect::<Vec<_>>(),
            ["constant", "cpuload", "exec", "perl"]
        );
        assert_eq!(r.get("exec.so").map(MonitorSpec::name), Some("exec"));
        assert_eq!(r.get("perl").map(MonitorSpec::name), Some("perl"));
        assert!(r.get("perl.so.so").is_none());
        assert_eq!(r.all_option_keys(), ["command", "file", "value"]);
        assert_eq!(
            r.resolve("cpuloda.so").map_err(|e| e.to_string()).err(),
            Some("invalid value `cpuloda.so`: unknown monitor (did you mean `cpuload`?); known: constant, cpuload, exec, perl (with or without `.so`)".into())
        );
    }

    #[test]
    fn register_rules() {
        let mut r = MonitorRegistry::builtin();
        assert_eq!(
            r.register(MonitorSpec::new("exec")),
            Err("monitor `exec` is already registered".into())
        );
        assert!(r.register(MonitorSpec::new("x.so")).is_err());
        assert!(r.register(MonitorSpec::new("")).is_err());
        assert_eq!(
            r.register(MonitorSpec::new("m").option("port", false)),
            Err("option key `port` is a [service] key of its own".into())
        );
        assert!(r
            .register(MonitorSpec::new("m").option("a", false).option("a", true))
            .is_err());
        assert!(r
            .register(MonitorSpec::new("m").option("bad key", false))
            .is_err());
        r.register(MonitorSpec::new("redis").option("socket", true))
            .expect("registers");
        let spec = r.get("redis.so").expect("found");
        assert_eq!(spec.options()[0].key(), "socket");
        assert!(spec.options()[0].required());
    }
}
