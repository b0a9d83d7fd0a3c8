//! The `key=value` line lexer shared by `ipvsfull.cfg` and the diff files, and the typed value
//! readers behind it.
//!
//! A line is split into tokens on space, TAB, CR, VT and FF (the original splits on space and TAB
//! and strips the others at the ends of the line only). A token with a `=` is a pair: the key is
//! the text before the first `=`, the value everything after it. Tokens without `=` are ignored,
//! with a warning unless they are the line's leading keyword. A later pair with the same key wins,
//! as in the original's hash table.

use std::net::IpAddr;
use std::str::FromStr;

use crate::error::{closest, Location, ParseError, ParseErrorKind};
use crate::formats::MAX_WARNINGS;
use crate::model::{AddressFamily, Destination, DestinationError, Scheduler, ServiceKey};

use super::{Rt, VProto};

/// The characters that separate tokens (and are trimmed from the ends of a line).
pub(crate) const SEPARATORS: &[char] = &[' ', '\t', '\r', '\x0b', '\x0c'];

/// The largest weight the kernel accepts (`int`, not negative).
pub(crate) const MAX_WEIGHT: u32 = Destination::MAX_WEIGHT;

/// The warnings of one file (or of one line read on its own), at most `limit` of them: the
/// others are only counted, without being built, so a file full of unknown keys costs neither
/// memory nor the time of a suggestion per key.
#[derive(Debug)]
pub(crate) struct Warnings {
    kept: Vec<ParseError>,
    limit: usize,
    suppressed: u64,
    /// The line of the first warning not kept.
    first_suppressed: u32,
}

impl Warnings {
    /// A collector keeping at most `limit` warnings.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            kept: Vec::new(),
            limit,
            suppressed: 0,
            first_suppressed: 0,
        }
    }

    /// Adds the warning `make` builds, or counts it when `limit` are already kept.
    pub(crate) fn push(&mut self, line: u32, make: impl FnOnce() -> ParseError) {
        if self.kept.len() < self.limit {
            self.kept.push(make());
        } else {
            if self.suppressed == 0 {
                self.first_suppressed = line;
            }
            self.suppressed += 1;
        }
    }

    /// How many warnings were counted but not kept.
    pub(crate) fn suppressed(&self) -> u64 {
        self.suppressed
    }

    /// The kept warnings, without a summary.
    pub(crate) fn into_kept(self) -> Vec<ParseError> {
        self.kept
    }

    /// The kept warnings, followed, when some were not kept, by one warning saying how many, at
    /// the line of the first one not kept.
    pub(crate) fn finish(mut self, label: &str) -> Vec<ParseError> {
        if self.suppressed > 0 {
            self.kept.push(ParseError::new(
                Location::new(label, self.first_suppressed, None),
                None,
                ParseErrorKind::Structure(format!(
                    "{} more warnings suppressed from this line on (only the first {} are kept)",
                    self.suppressed, self.limit
                )),
            ));
        }
        self.kept
    }
}

impl Default for Warnings {
    fn default() -> Self {
        Self::new(MAX_WARNINGS)
    }
}

/// A line trimmed of separators at both ends.
pub(crate) fn trim(line: &str) -> &str {
    line.trim_matches(SEPARATORS)
}

/// One line's pairs, looked up by canonical key.
pub(crate) struct Pairs<'a> {
    label: &'a str,
    line: u32,
    /// (canonical key, key as spelled, value), one per canonical key, the last given.
    pairs: Vec<(&'static str, &'a str, &'a str)>,
}

/// What a line may contain: its keys, and old spellings mapped to canonical keys.
pub(crate) struct Vocabulary {
    /// The canonical keys.
    pub(crate) keys: &'static [&'static str],
    /// Old spellings accepted on input: (old, canonical).
    pub(crate) aliases: &'static [(&'static str, &'static str)],
    /// Keys accepted and ignored without a warning (the original reads them but they mean
    /// nothing here).
    pub(crate) tolerated: &'static [&'static str],
    /// The line's leading keyword (`virtual`, `real`, ...), not warned about.
    pub(crate) keyword: Option<&'static str>,
}

impl<'a> Pairs<'a> {
    /// Splits `line` into pairs, pushing a warning for each unknown key, repeated key and stray
    /// token.
    pub(crate) fn lex(
        line: &'a str,
        label: &'a str,
        lineno: u32,
        vocab: &Vocabulary,
        warnings: &mut Warnings,
    ) -> Self {
        let loc = || Location::new(label, lineno, None);
        let mut pairs: Vec<(&'static str, &'a str, &'a str)> = Vec::new();
        let mut first = true;
        for tok in line.split(SEPARATORS).filter(|t| !t.is_empty()) {
            let is_first = std::mem::replace(&mut first, false);
            let Some((key, value)) = tok.split_once('=') else {
                if !(is_first && vocab.keyword.is_some_and(|k| tok.starts_with(k))) {
                    warnings.push(lineno, || {
                        ParseError::new(
                            loc(),
                            None,
                            ParseErrorKind::Malformed(format!(
                                "token `{tok}` is not `key=value`; ignored"
                            )),
                        )
                    });
                }
                continue;
            };
            let canonical = vocab.keys.iter().find(|k| **k == key).copied().or_else(|| {
                vocab
                    .aliases
                    .iter()
                    .find(|(old, _)| *old == key)
                    .map(|(_, new)| *new)
            });
            let Some(canonical) = canonical else {
                if !vocab.tolerated.contains(&key) {
                    warnings.push(lineno, || {
                        ParseError::new(
                            loc(),
                            None,
                            ParseErrorKind::UnknownAttribute {
                                what: "key",
                                name: key.to_string(),
                                suggestion: closest(key, vocab.keys.iter().copied()),
                                allowed: vocab.keys.iter().map(|k| k.to_string()).collect(),
                            },
                        )
                    });
                }
                continue;
            };
            if let Some(slot) = pairs.iter_mut().find(|(c, _, _)| *c == canonical) {
                warnings.push(lineno, || {
                    ParseError::new(
                        loc(),
                        Some(format!("key `{key}`")),
                        ParseErrorKind::Malformed(format!(
                            "`{canonical}` is given more than once; the last value is used"
                        )),
                    )
                });
                *slot = (canonical, key, value);
            } else {
                pairs.push((canonical, key, value));
            }
        }
        Self {
            label,
            line: lineno,
            pairs,
        }
    }

    /// The value of a key, if given.
    pub(crate) fn get(&self, key: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .find(|(c, _, _)| *c == key)
            .map(|(_, _, v)| *v)
    }

    /// An error about the line as a whole.
    pub(crate) fn line_error(&self, kind: ParseErrorKind) -> ParseError {
        ParseError::new(Location::new(self.label, self.line, None), None, kind)
    }

    /// An error about one key's value (named as spelled in the file).
    fn value_error(&self, key: &str, kind: ParseErrorKind) -> ParseError {
        let spelled = self
            .pairs
            .iter()
            .find(|(c, _, _)| *c == key)
            .map_or(key, |(_, s, _)| *s);
        ParseError::new(
            Location::new(self.label, self.line, None),
            Some(format!("key `{spelled}`")),
            kind,
        )
    }

    /// The value of a mandatory key.
    pub(crate) fn required(&self, key: &'static str) -> Result<&'a str, ParseError> {
        self.get(key).ok_or_else(|| {
            self.line_error(ParseErrorKind::Missing {
                what: "key",
                name: key.to_string(),
            })
        })
    }

    /// A name: the value as written, or `not-defined` when absent (as the original).
    pub(crate) fn name(&self, key: &'static str) -> String {
        self.get(key).unwrap_or(NOT_DEFINED).to_string()
    }

    /// A mandatory `tcp`/`udp`/`fwmark`.
    pub(crate) fn vproto(&self, key: &'static str) -> Result<VProto, ParseError> {
        let v = self.required(key)?;
        VProto::parse(v).ok_or_else(|| {
            self.value_error(
                key,
                ParseErrorKind::InvalidValue {
                    value: v.to_string(),
                    reason: "expected tcp, udp or fwmark".into(),
                },
            )
        })
    }

    /// A forwarding method `dr`/`masq`/`tun`, if given.
    pub(crate) fn rt(&self, key: &'static str) -> Result<Option<Rt>, ParseError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        Rt::parse(v).map(Some).ok_or_else(|| {
            self.value_error(
                key,
                ParseErrorKind::UnknownForwarding {
                    name: v.to_string(),
                    known: vec!["dr".into(), "masq".into(), "tun".into()],
                },
            )
        })
    }

    /// A mandatory IPv4 (or, as an extension, IPv6) address.
    pub(crate) fn addr(&self, key: &'static str) -> Result<IpAddr, ParseError> {
        let v = self.required(key)?;
        IpAddr::from_str(v).map_err(|_| {
            self.value_error(
                key,
                ParseErrorKind::InvalidAddress {
                    value: v.to_string(),
                    reason: "expected an IPv4 or IPv6 address".into(),
                },
            )
        })
    }

    /// A mandatory port, 0..=65535.
    pub(crate) fn port(&self, key: &'static str) -> Result<u16, ParseError> {
        let v = self.required(key)?;
        parse_port(v).map_err(|kind| self.value_error(key, kind))
    }

    /// An unsigned 32-bit number, `default` when absent.
    pub(crate) fn u32_or(&self, key: &'static str, default: u32) -> Result<u32, ParseError> {
        let Some(v) = self.get(key) else {
            return Ok(default);
        };
        parse_u32(v).map_err(|kind| self.value_error(key, kind))
    }

    /// A weight 0..=2147483647, `default` when absent.
    pub(crate) fn weight_or(&self, key: &'static str, default: u32) -> Result<u32, ParseError> {
        let Some(v) = self.get(key) else {
            return Ok(default);
        };
        match u64::from_str(v) {
            Ok(w) if w <= u64::from(MAX_WEIGHT) => Ok(w as u32),
            Ok(_) => Err(self.value_error(
                key,
                ParseErrorKind::WeightOutOfRange {
                    value: v.to_string(),
                    min: 0,
                    max: i64::from(MAX_WEIGHT),
                },
            )),
            Err(_) => Err(self.value_error(
                key,
                ParseErrorKind::InvalidValue {
                    value: v.to_string(),
                    reason: format!("expected a decimal integer 0..{MAX_WEIGHT}"),
                },
            )),
        }
    }

    /// A mandatory scheduler name (1 to 15 printable ASCII characters).
    pub(crate) fn sched(&self, key: &'static str) -> Result<Scheduler, ParseError> {
        let v = self.required(key)?;
        Scheduler::custom(v).map_err(|reason| {
            self.value_error(
                key,
                ParseErrorKind::InvalidValue {
                    value: v.to_string(),
                    reason,
                },
            )
        })
    }

    /// Adds a warning about one key.
    pub(crate) fn warn(&self, warnings: &mut Warnings, key: &str, message: String) {
        warnings.push(self.line, || {
            self.value_error(key, ParseErrorKind::Malformed(message))
        });
    }

    /// Adds a warning about the line as a whole.
    pub(crate) fn warn_line(&self, warnings: &mut Warnings, kind: ParseErrorKind) {
        warnings.push(self.line, || self.line_error(kind));
    }

    /// Checks that the kernel would accept `dest` in `service` ([`Destination::validate_for`]),
    /// and names the offending key otherwise: `raddr` for the address, `rl_thresh` for the
    /// thresholds, `rweight` for the weight.
    pub(crate) fn check_destination(
        &self,
        dest: &Destination,
        service: &ServiceKey,
    ) -> Result<(), ParseError> {
        let Err(e) = dest.validate_for(service) else {
            return Ok(());
        };
        let written = |key: &str, default: String| self.get(key).map_or(default, str::to_string);
        Err(match e {
            DestinationError::WeightOutOfRange(w) => self.value_error(
                "rweight",
                ParseErrorKind::WeightOutOfRange {
                    value: written("rweight", w.to_string()),
                    min: 0,
                    max: i64::from(MAX_WEIGHT),
                },
            ),
            DestinationError::ThresholdsReversed { lower, upper } => self.value_error(
                "rl_thresh",
                ParseErrorKind::InvalidValue {
                    value: written("rl_thresh", lower.to_string()),
                    reason: format!(
                        "above the upper threshold ({upper}); the kernel rejects a lower \
                         threshold above the upper one (ERANGE), even when the upper one is 0"
                    ),
                },
            ),
            DestinationError::NotUnicast(a) => self.value_error(
                "raddr",
                ParseErrorKind::InvalidAddress {
                    value: written("raddr", a.to_string()),
                    reason: "not a unicast address (unspecified, multicast or broadcast)".into(),
                },
            ),
            DestinationError::FamilyMismatch { service, dest } => {
                let name = |af| match af {
                    AddressFamily::Inet => "IPv4",
                    AddressFamily::Inet6 => "IPv6",
                };
                self.value_error(
                    "raddr",
                    ParseErrorKind::InvalidAddress {
                        value: written("raddr", String::new()),
                        reason: format!(
                            "an {} real in an {} virtual needs rrt=tun",
                            name(dest),
                            name(service)
                        ),
                    },
                )
            }
        })
    }

    /// An error about one key's value.
    pub(crate) fn invalid(&self, key: &str, value: &str, reason: String) -> ParseError {
        self.value_error(
            key,
            ParseErrorKind::InvalidValue {
                value: value.to_string(),
                reason,
            },
        )
    }
}

/// The name the original gives a virtual or real whose name key is absent.
pub(crate) const NOT_DEFINED: &str = "not-defined";

/// A port number, 0..=65535.
pub(crate) fn parse_port(v: &str) -> Result<u16, ParseErrorKind> {
    match u64::from_str(v) {
        Ok(p) => u16::try_from(p).map_err(|_| ParseErrorKind::PortOutOfRange(v.to_string())),
        Err(e) if matches!(e.kind(), std::num::IntErrorKind::PosOverflow) => {
            Err(ParseErrorKind::PortOutOfRange(v.to_string()))
        }
        Err(_) => Err(ParseErrorKind::InvalidValue {
            value: v.to_string(),
            reason: "expected a port number 0..65535".into(),
        }),
    }
}

/// An unsigned 32-bit decimal number.
pub(crate) fn parse_u32(v: &str) -> Result<u32, ParseErrorKind> {
    u32::from_str(v).map_err(|_| ParseErrorKind::InvalidValue {
        value: v.to_string(),
        reason: format!("expected a decimal integer 0..{}", u32::MAX),
    })
}
