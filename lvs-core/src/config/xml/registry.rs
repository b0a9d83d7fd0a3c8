//! Tester modules and their attributes: an open registry.
//!
//! A tester kind (`<tester proto="...">`) is described by a [`TesterSpec`]: its name, its
//! [`Transport`] and the module attributes it accepts ([`AttrSpec`]: name, [`AttrType`],
//! required or not, default, whether a `<real>` may override it). [`TesterRegistry::builtin`]
//! holds the kinds of the original (`tcp`, `http`, `dns`, `exec`, `no-test`); a program that
//! brings its own prober registers its spec, and its attributes are then validated like the
//! built-in ones.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::ParseErrorKind;

use super::values;

/// Attributes of `<virtual>` (the original's, then the extensions).
pub const VIRTUAL_ATTRS: &[&str] = &[
    "name",
    "addr",
    "port",
    "proto",
    "sched",
    "rt",
    "fwmark",
    "pers",
    "ops",
    "af",
    "sched_flags",
    "pers_netmask",
    "tun_type",
    "tun_port",
    "tun_csum",
];

/// Attributes of `<tester>` common to every tester kind; the kind's own attributes come on top.
pub const TESTER_COMMON_ATTRS: &[&str] = &[
    "proto",
    "testport",
    "loopdelay",
    "timeout",
    "retries2ok",
    "retries2fail",
    "remove_on_fail",
    "debugcomm",
    "logmicro",
    "stats_samples",
    "SSL",
    "notify_up",
    "notify_down",
    "notify_min_reals",
    "notify_min_weight",
    "real_notify_up",
    "real_notify_down",
];

/// Attributes of `<real>`; the tester kind's per-real attributes come on top.
pub const REAL_ATTRS: &[&str] = &[
    "name", "addr", "port", "weight", "testport", "uthresh", "lthresh", "rt", "bindaddr",
    "tun_type", "tun_port", "tun_csum",
];

/// How a tester reaches a real (the original's `m_test_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// A TCP connection (optionally wrapped in TLS with `SSL="1"`).
    Tcp,
    /// UDP datagrams.
    Udp,
    /// A program run per real.
    Exec,
    /// No test at all: every real passes (`no-test`).
    None,
}

/// The type of a module attribute, which decides how its value is checked and stored.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AttrType {
    /// A non-empty string of at most `max_len` bytes → [`AttrValue::String`].
    String {
        /// Largest accepted length in bytes.
        max_len: usize,
    },
    /// A non-empty file path of at most `max_len` bytes → [`AttrValue::Path`]. The loader does
    /// not look at the file system.
    Path {
        /// Largest accepted length in bytes.
        max_len: usize,
    },
    /// A port, 0..=65535 → [`AttrValue::Port`].
    Port,
    /// An unsigned 32-bit integer → [`AttrValue::Uint`].
    Uint,
    /// A signed 64-bit integer → [`AttrValue::Int`].
    Int,
    /// `true`/`on`/`1` or `false`/`off`/`0`, any case → [`AttrValue::Bool`].
    Bool,
    /// One of the listed words, any case → [`AttrValue::String`] spelled as in the list.
    Enum(&'static [&'static str]),
    /// Exactly `len` hexadecimal digits → [`AttrValue::String`] in lower case.
    Hex {
        /// Number of digits.
        len: usize,
    },
    /// HTTP status codes: `200`, or a list of codes and ranges such as `200-299,302`
    /// → [`AttrValue::StatusCodes`].
    StatusCodes,
    /// Anything else: `parse` checks the value and returns its typed form or the reason it is
    /// rejected; `expected` describes the accepted values in the documentation.
    Custom {
        /// What the values look like, for humans.
        expected: &'static str,
        /// The checker.
        parse: fn(&str) -> Result<AttrValue, String>,
    },
}

impl AttrType {
    /// Checks a value as written and returns its typed form.
    pub fn parse(&self, value: &str) -> Result<AttrValue, ParseErrorKind> {
        let invalid = |reason: String| ParseErrorKind::InvalidValue {
            value: values::clip(value),
            reason,
        };
        match self {
            AttrType::String { max_len } => {
                values::string(value, *max_len).map(|s| AttrValue::String(s.to_string()))
            }
            AttrType::Path { max_len } => {
                values::string(value, *max_len).map(|s| AttrValue::Path(PathBuf::from(s)))
            }
            AttrType::Port => values::port(value).map(AttrValue::Port),
            AttrType::Uint => values::uint(value).map(AttrValue::Uint),
            AttrType::Int => values::int(value).map(AttrValue::Int),
            AttrType::Bool => values::boolean(value).map(AttrValue::Bool),
            AttrType::Enum(words) => words
                .iter()
                .find(|w| w.eq_ignore_ascii_case(value.trim()))
                .map(|w| AttrValue::String((*w).to_string()))
                .ok_or_else(|| invalid(format!("expected one of {}", words.join(", ")))),
            AttrType::Hex { len } => {
                let v = value.trim();
                if v.len() == *len && v.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Ok(AttrValue::String(v.to_ascii_lowercase()))
                } else {
                    Err(invalid(format!("expected {len} hexadecimal digits")))
                }
            }
            AttrType::StatusCodes => StatusCodes::parse(value)
                .map(AttrValue::StatusCodes)
                .map_err(invalid),
            AttrType::Custom { parse, .. } => parse(value).map_err(invalid),
        }
    }

    /// A short description of the accepted values (for documentation and messages).
    pub fn describe(&self) -> String {
        match self {
            AttrType::String { max_len } => format!("string, at most {max_len} bytes"),
            AttrType::Path { max_len } => format!("path, at most {max_len} bytes"),
            AttrType::Port => "port 0..65535".into(),
            AttrType::Uint => "unsigned integer".into(),
            AttrType::Int => "integer".into(),
            AttrType::Bool => "boolean".into(),
            AttrType::Enum(words) => words.join(" | "),
            AttrType::Hex { len } => format!("{len} hex digits"),
            AttrType::StatusCodes => "status codes, e.g. `200` or `200-299,302`".into(),
            AttrType::Custom { expected, .. } => (*expected).to_string(),
        }
    }
}

/// A checked module attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// A string (also enum words and hex digests).
    String(String),
    /// A file path.
    Path(PathBuf),
    /// A port.
    Port(u16),
    /// An unsigned integer.
    Uint(u32),
    /// A signed integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// HTTP status codes.
    StatusCodes(StatusCodes),
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::String(s) => f.write_str(s),
            AttrValue::Path(p) => write!(f, "{}", p.display()),
            AttrValue::Port(p) => write!(f, "{p}"),
            AttrValue::Uint(n) => write!(f, "{n}"),
            AttrValue::Int(n) => write!(f, "{n}"),
            AttrValue::Bool(b) => write!(f, "{b}"),
            AttrValue::StatusCodes(c) => write!(f, "{c}"),
        }
    }
}

/// A set of HTTP status codes, as codes and inclusive ranges (`200-299,302`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct StatusCodes(Vec<(u16, u16)>);

impl StatusCodes {
    /// Parses `NNN` or a comma-separated list of `NNN` and `NNN-MMM`, each code 100..=599.
    pub fn parse(s: &str) -> Result<Self, String> {
        let code = |t: &str| -> Result<u16, String> {
            let t = t.trim();
            match t.parse::<u16>() {
                Ok(n) if t.len() == 3 && (100..=599).contains(&n) => Ok(n),
                _ => Err(format!(
                    "`{t}` is not a status code; expected 3-digit codes 100..599 or ranges, \
                     such as `200` or `200-299,302`"
                )),
            }
        };
        let mut ranges = Vec::new();
        for part in s.split(',') {
            let range = match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (code(a)?, code(b)?);
                    if a > b {
                        return Err(format!("range `{}` is reversed", part.trim()));
                    }
                    (a, b)
                }
                None => {
                    let c = code(part)?;
                    (c, c)
                }
            };
            ranges.push(range);
        }
        Ok(Self(ranges))
    }

    /// Whether `code` is in the set.
    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|&(a, b)| (a..=b).contains(&code))
    }

    /// The codes and ranges as written (single codes are `(c, c)`).
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.0
    }
}

impl fmt::Display for StatusCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (a, b)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

impl From<StatusCodes> for String {
    fn from(c: StatusCodes) -> String {
        c.to_string()
    }
}

/// The module attributes in force for a tester or a real: every attribute given, plus the
/// defaults of those not given. Keys are the attribute names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ModuleAttrs(BTreeMap<String, AttrValue>);

impl ModuleAttrs {
    /// The value of `name`, if set or defaulted.
    pub fn get(&self, name: &str) -> Option<&AttrValue> {
        self.0.get(name)
    }

    /// A string (or enum, or hex) attribute.
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.0.get(name)? {
            AttrValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// A path attribute.
    pub fn path(&self, name: &str) -> Option<&std::path::Path> {
        match self.0.get(name)? {
            AttrValue::Path(p) => Some(p),
            _ => None,
        }
    }

    /// A boolean attribute.
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.0.get(name)? {
            AttrValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// An unsigned integer attribute.
    pub fn uint(&self, name: &str) -> Option<u32> {
        match self.0.get(name)? {
            AttrValue::Uint(n) => Some(*n),
            _ => None,
        }
    }

    /// A signed integer attribute.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.0.get(name)? {
            AttrValue::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// A port attribute.
    pub fn port(&self, name: &str) -> Option<u16> {
        match self.0.get(name)? {
            AttrValue::Port(p) => Some(*p),
            _ => None,
        }
    }

    /// A status-codes attribute.
    pub fn status_codes(&self, name: &str) -> Option<&StatusCodes> {
        match self.0.get(name)? {
            AttrValue::StatusCodes(c) => Some(c),
            _ => None,
        }
    }

    /// All attributes, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AttrValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets an attribute, returning the previous value.
    pub fn insert(&mut self, name: impl Into<String>, value: AttrValue) -> Option<AttrValue> {
        self.0.insert(name.into(), value)
    }
}

/// One module attribute of a tester kind.
#[derive(Debug, Clone)]
pub struct AttrSpec {
    /// The attribute name, case-sensitive.
    pub name: Cow<'static, str>,
    /// Its type.
    pub ty: AttrType,
    /// Whether `<tester>` must give it.
    pub required: bool,
    /// The value when absent (should be of the type's variant).
    pub default: Option<AttrValue>,
    /// Whether a `<real>` may override it.
    pub per_real: bool,
}

impl AttrSpec {
    /// An optional attribute without default, not overridable per real.
    pub fn new(name: impl Into<Cow<'static, str>>, ty: AttrType) -> Self {
        Self {
            name: name.into(),
            ty,
            required: false,
            default: None,
            per_real: false,
        }
    }

    /// Makes it mandatory on `<tester>`.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Gives it a default.
    pub fn default_value(mut self, value: AttrValue) -> Self {
        self.default = Some(value);
        self
    }

    /// Lets `<real>` override it.
    pub fn per_real(mut self) -> Self {
        self.per_real = true;
        self
    }
}

/// A tester kind: its name (the value of `<tester proto>`), transport and attributes.
#[derive(Debug, Clone)]
pub struct TesterSpec {
    /// The name, matched exactly (only `no-test` is matched case-insensitively).
    pub name: Cow<'static, str>,
    /// How it reaches reals.
    pub transport: Transport,
    /// Its module attributes.
    pub attrs: Vec<AttrSpec>,
}

impl TesterSpec {
    /// A kind without attributes.
    pub fn new(name: impl Into<Cow<'static, str>>, transport: Transport) -> Self {
        Self {
            name: name.into(),
            transport,
            attrs: Vec::new(),
        }
    }

    /// Adds an attribute.
    pub fn attr(mut self, attr: AttrSpec) -> Self {
        self.attrs.push(attr);
        self
    }

    /// Adds the TLS extensions a TCP tester honours with `SSL="1"`, each overridable per real:
    /// `ssl_verify` (bool, default false: the original never verifies, reals are addressed by
    /// IP), `ssl_sni` (the server name to send and verify) and `ssl_ca` (a PEM file of trusted
    /// roots). A user's own TCP-based tester calls this to accept them too.
    pub fn with_tls_attrs(self) -> Self {
        self.attr(
            AttrSpec::new("ssl_verify", AttrType::Bool)
                .default_value(AttrValue::Bool(false))
                .per_real(),
        )
        .attr(AttrSpec::new("ssl_sni", AttrType::String { max_len: 256 }).per_real())
        .attr(AttrSpec::new("ssl_ca", AttrType::Path { max_len: 4096 }).per_real())
    }

    /// The spec of the attribute `name`.
    pub fn attr_spec(&self, name: &str) -> Option<&AttrSpec> {
        self.attrs.iter().find(|a| a.name == name)
    }
}

/// Why a [`TesterSpec`] cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tester `{tester}`: {reason}")]
pub struct SpecError {
    /// The tester name.
    pub tester: String,
    /// What is wrong.
    pub reason: String,
}

/// The tester kinds a loader accepts.
#[derive(Debug, Clone)]
pub struct TesterRegistry {
    specs: BTreeMap<String, TesterSpec>,
}

impl Default for TesterRegistry {
    /// [`TesterRegistry::builtin`].
    fn default() -> Self {
        Self::builtin()
    }
}

/// Checks an `http` tester's `regex`: at most 1024 bytes, and it compiles (with the syntax and
/// size limit the prober uses), so that a bad pattern is an error of the file, not of every test.
fn body_regex(value: &str) -> Result<AttrValue, String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > 1024 {
        return Err(format!("{} bytes, at most 1024 are allowed", value.len()));
    }
    regex::bytes::Regex::new(value).map_err(|e| {
        // The crate's message spans several lines (the pattern with a caret): keep the last one.
        let msg = e.to_string();
        let last = msg
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        format!(
            "not a valid regular expression: {}",
            last.trim().trim_start_matches("error: ")
        )
    })?;
    Ok(AttrValue::String(value.to_string()))
}

/// The DNS query types the `dns` tester accepts in `qtype`.
pub const DNS_QTYPES: &[&str] = &[
    "A", "AAAA", "SOA", "NS", "MX", "TXT", "CNAME", "PTR", "SRV", "ANY",
];

impl TesterRegistry {
    /// No tester kind at all.
    pub fn empty() -> Self {
        Self {
            specs: BTreeMap::new(),
        }
    }

    /// The kinds of the original, with their attributes and our extensions:
    ///
    /// * `tcp`: the TLS extensions of [`TesterSpec::with_tls_attrs`] (used with `SSL="1"`);
    /// * `http`: `url` (required, ≤ 8192 bytes), `host` (required, ≤ 256), `naive` (default
    ///   true, the original's effective default), `retcode` (default `200`; extension: lists and
    ///   ranges), and the extensions `method` (GET | HEAD), `regex`, `digest` (32 hex digits,
    ///   MD5 of the body), and the TLS extensions of [`TesterSpec::with_tls_attrs`];
    /// * `dns`: `request` (required, ≤ 254) and the extensions `qtype` (default SOA, one of
    ///   [`DNS_QTYPES`]) and `tcp_fallback` (default true);
    /// * `exec`: `exec` (required path; not per real) and `params` (≤ 1024);
    /// * `no-test`: no attribute, no test port.
    ///
    /// Every attribute except `exec` may be overridden on `<real>`.
    pub fn builtin() -> Self {
        let mut r = Self::empty();
        let specs = [
            TesterSpec::new("tcp", Transport::Tcp).with_tls_attrs(),
            TesterSpec::new("http", Transport::Tcp)
                .attr(
                    AttrSpec::new("url", AttrType::String { max_len: 8192 })
                        .required()
                        .per_real(),
                )
                .attr(
                    AttrSpec::new("host", AttrType::String { max_len: 256 })
                        .required()
                        .per_real(),
                )
                .attr(
                    AttrSpec::new("naive", AttrType::Bool)
                        .default_value(AttrValue::Bool(true))
                        .per_real(),
                )
                .attr(
                    AttrSpec::new("retcode", AttrType::StatusCodes)
                        .default_value(AttrValue::StatusCodes(StatusCodes(vec![(200, 200)])))
                        .per_real(),
                )
                .attr(
                    AttrSpec::new("method", AttrType::Enum(&["GET", "HEAD"]))
                        .default_value(AttrValue::String("GET".into()))
                        .per_real(),
                )
                .attr(
                    AttrSpec::new(
                        "regex",
                        AttrType::Custom {
                            expected:
                                "a regular expression (Rust `regex` syntax), at most 1024 bytes",
                            parse: body_regex,
                        },
                    )
                    .per_real(),
                )
                .attr(AttrSpec::new("digest", AttrType::Hex { len: 32 }).per_real())
                .with_tls_attrs(),
            TesterSpec::new("dns", Transport::Udp)
                .attr(
                    AttrSpec::new("request", AttrType::String { max_len: 254 })
                        .required()
                        .per_real(),
                )
                .attr(
                    AttrSpec::new("qtype", AttrType::Enum(DNS_QTYPES))
                        .default_value(AttrValue::String("SOA".into()))
                        .per_real(),
                )
                .attr(
                    AttrSpec::new("tcp_fallback", AttrType::Bool)
                        .default_value(AttrValue::Bool(true))
                        .per_real(),
                ),
            TesterSpec::new("exec", Transport::Exec)
                .attr(AttrSpec::new("exec", AttrType::Path { max_len: 4096 }).required())
                .attr(AttrSpec::new("params", AttrType::String { max_len: 1024 }).per_real()),
            TesterSpec::new("no-test", Transport::None),
        ];
        for s in specs {
            r.specs.insert(s.name.to_string(), s);
        }
        r
    }

    /// Adds (or replaces) a tester kind; returns the spec it replaces.
    ///
    /// Rejected: an empty name or one with whitespace, two attributes with one name, an
    /// attribute named like a common `<tester>` attribute, or a per-real attribute named like a
    /// `<real>` attribute.
    pub fn register(&mut self, spec: TesterSpec) -> Result<Option<TesterSpec>, SpecError> {
        let fail = |reason: String| SpecError {
            tester: spec.name.to_string(),
            reason,
        };
        if spec.name.is_empty() || spec.name.chars().any(char::is_whitespace) {
            return Err(fail(
                "a tester name must be non-empty, without whitespace".into(),
            ));
        }
        for (i, a) in spec.attrs.iter().enumerate() {
            if spec.attrs[..i].iter().any(|b| b.name == a.name) {
                return Err(fail(format!("attribute `{}` is declared twice", a.name)));
            }
            if TESTER_COMMON_ATTRS.contains(&&*a.name) {
                return Err(fail(format!(
                    "attribute `{}` is a common <tester> attribute",
                    a.name
                )));
            }
            if a.per_real && REAL_ATTRS.contains(&&*a.name) {
                return Err(fail(format!(
                    "per-real attribute `{}` is a <real> attribute",
                    a.name
                )));
            }
        }
        Ok(self.specs.insert(spec.name.to_string(), spec))
    }

    /// The kind called `name` (exactly; `no-test` in any case).
    pub fn get(&self, name: &str) -> Option<&TesterSpec> {
        if name.eq_ignore_ascii_case("no-test") {
            return self.specs.get("no-test");
        }
        self.specs.get(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.specs.keys().map(String::as_str)
    }

    /// The registered specs, sorted by name.
    pub fn specs(&self) -> impl Iterator<Item = &TesterSpec> {
        self.specs.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_parse_and_print() {
        let c = StatusCodes::parse("200-299, 302").expect("valid");
        assert!(c.contains(204) && c.contains(302) && !c.contains(301));
        assert_eq!(c.to_string(), "200-299,302");
        assert!(StatusCodes::parse("2xx").is_err());
        assert!(StatusCodes::parse("299-200").is_err());
        assert!(StatusCodes::parse("").is_err());
        assert!(StatusCodes::parse("600").is_err());
    }

    #[test]
    fn register_rejects_clashing_names() {
        let mut r = TesterRegistry::builtin();
        let e = r
            .register(
                TesterSpec::new("x", Transport::Tcp).attr(AttrSpec::new("timeout", AttrType::Uint)),
            )
            .expect_err("clash");
        assert_eq!(
            e.to_string(),
            "tester `x`: attribute `timeout` is a common <tester> attribute"
        );
        let e = r
            .register(
                TesterSpec::new("y", Transport::Tcp)
                    .attr(AttrSpec::new("weight", AttrType::Uint).per_real()),
            )
            .expect_err("clash");
        assert!(e.reason.contains("weight"), "{e}");
        assert!(r.get("NO-TEST").is_some());
        assert!(r.get("HTTP").is_none());
    }

    #[test]
    fn enum_values_are_canonicalised() {
        let t = AttrType::Enum(DNS_QTYPES);
        assert_eq!(t.parse("aaaa"), Ok(AttrValue::String("AAAA".into())));
        assert!(t.parse("AXFR").is_err());
    }
}
