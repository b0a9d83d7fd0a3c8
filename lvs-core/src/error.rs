//! Errors of the configuration loaders and text-format parsers.
//!
//! Every parser of outside input in this crate reports a [`ParseError`]: where (file, line and,
//! for XML, column), what (the element or key) and why ([`ParseErrorKind`]). Its `Display` form is
//! one line an operator can act on, `file:line[:column]: [item: ]message`, for example:
//!
//! ```
//! use lvs_core::{Location, ParseError, ParseErrorKind};
//!
//! let e = ParseError::new(
//!     Location::new("services.xml", 12, Some(5)),
//!     Some("<real>".into()),
//!     ParseErrorKind::UnknownAttribute {
//!         what: "attribute",
//!         name: "wieght".into(),
//!         suggestion: Some("weight".into()),
//!         allowed: vec!["name".into(), "addr".into(), "port".into(), "weight".into()],
//!     },
//! );
//! assert_eq!(
//!     e.to_string(),
//!     "services.xml:12:5: <real>: unknown attribute `wieght` (did you mean `weight`?); \
//!      allowed: name, addr, port, weight"
//! );
//! ```

use std::fmt;
use std::path::PathBuf;

/// The crate's error at its public surface.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file (or string) could not be parsed or failed validation.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An operation could not be applied to a [`crate::model::Table`].
    #[error(transparent)]
    Apply(#[from] crate::model::ApplyError),
}

/// Where in a source a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file name as given to the loader (or a label such as `<string>`).
    pub file: String,
    /// 1-based line number; 0 when the problem concerns the whole file.
    pub line: u32,
    /// 1-based column, for formats where it is meaningful (XML).
    pub column: Option<u32>,
}

impl Location {
    /// A location at `line` (and optional `column`) of `file`.
    pub fn new(file: impl Into<String>, line: u32, column: Option<u32>) -> Self {
        Self {
            file: file.into(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        Ok(())
    }
}

/// A parse or validation error with its location and the item (element, attribute or key) concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// Where the problem is.
    pub location: Location,
    /// The element, attribute or key concerned, as the operator wrote it (for example
    /// `<real> attribute \`port\`` or `key \`keepalive-interval\``), if any.
    pub item: Option<String>,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

impl ParseError {
    /// A new error.
    pub fn new(location: Location, item: Option<String>, kind: ParseErrorKind) -> Self {
        Self {
            location,
            item,
            kind,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location)?;
        if let Some(item) = &self.item {
            write!(f, "{item}: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

/// What was wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The input is not well-formed in its syntax (broken XML, a line that fits no rule).
    #[error("malformed input: {0}")]
    Malformed(String),
    /// An element or section name that is not allowed here.
    #[error("unknown element `{name}`; allowed here: {}", allowed.join(", "))]
    UnknownElement {
        /// The name found.
        name: String,
        /// The names allowed at this place.
        allowed: Vec<String>,
    },
    /// An attribute or key that is not known.
    #[error("unknown {what} `{name}`{}; allowed: {}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default(), allowed.join(", "))]
    UnknownAttribute {
        /// "attribute" or "key".
        what: &'static str,
        /// The name found.
        name: String,
        /// The closest allowed name, when one is close.
        suggestion: Option<String>,
        /// Every allowed name.
        allowed: Vec<String>,
    },
    /// A mandatory attribute or key is absent.
    #[error("missing mandatory {what} `{name}`")]
    Missing {
        /// "attribute", "key" or "element".
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// The same attribute or key given twice where that is not allowed.
    #[error("`{0}` is given twice")]
    DuplicateAttribute(String),
    /// A value that does not parse or is out of its domain.
    #[error("invalid value `{value}`: {reason}")]
    InvalidValue {
        /// The value as written.
        value: String,
        /// Why it is rejected, including what is accepted.
        reason: String,
    },
    /// A port outside 0..=65535 (or 1..=65535 where 0 is meaningless).
    #[error("port `{0}` out of range (0..65535)")]
    PortOutOfRange(String),
    /// An address that does not parse, or is not usable (multicast, unspecified where forbidden).
    #[error("invalid address `{value}`: {reason}")]
    InvalidAddress {
        /// The value as written.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A weight outside the accepted range.
    #[error("weight `{value}` out of range ({min}..{max})")]
    WeightOutOfRange {
        /// The value as written.
        value: String,
        /// Smallest accepted.
        min: i64,
        /// Largest accepted.
        max: i64,
    },
    /// An IPVS scheduler name that the kernel does not know.
    #[error("unknown scheduler `{name}`; known: {}", known.join(", "))]
    UnknownScheduler {
        /// The name found.
        name: String,
        /// The known names.
        known: Vec<String>,
    },
    /// A forwarding method that is not known.
    #[error("unknown forwarding method `{name}`; known: {}", known.join(", "))]
    UnknownForwarding {
        /// The name found.
        name: String,
        /// The known names.
        known: Vec<String>,
    },
    /// A second virtual or real with the same identity.
    #[error("duplicate {what} {key} (first defined at line {first_line})")]
    Duplicate {
        /// "virtual", "real", "service", ...
        what: &'static str,
        /// The identity that collides, as text.
        key: String,
        /// The line of the first definition.
        first_line: u32,
    },
    /// A structural rule of the format is broken (for example `<tester>` not first).
    #[error("{0}")]
    Structure(String),
    /// Bytes that are not valid text in the file's character encoding: UTF-8, unless an XML
    /// declaration or byte order mark names another (see [`crate::fsutil::read_text`] and
    /// [`crate::fsutil::read_xml_text`]). Displayed as, for example,
    /// `not valid UTF-8 (byte 0xB3); bytes that are not UTF-8 ... are accepted only in a comment ...`.
    #[error("not valid {encoding} ({}){}", hex_bytes(bytes), hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    InvalidEncoding {
        /// The encoding the file was read in (`UTF-8`, `ISO-8859-2`, `Shift_JIS`, ...).
        encoding: String,
        /// The offending byte sequence (at most its first 4 bytes).
        bytes: Vec<u8>,
        /// What the operator can do about it, if there is advice.
        hint: Option<String>,
    },
}

/// `byte 0xB3`, `bytes 0xC3 0x28`.
fn hex_bytes(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().map(|b| format!("0x{b:02X}")).collect();
    let s = if bytes.len() == 1 { "" } else { "s" };
    format!("byte{s} {}", hex.join(" "))
}

/// The allowed name closest to `name` (edit distance at most 2, or a case-insensitive match),
/// used to suggest a fix for a misspelled attribute or key.
pub fn closest<'a>(name: &str, allowed: impl IntoIterator<Item = &'a str>) -> Option<String> {
    const MAX: usize = 2;
    let name: Vec<char> = name.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut best: Option<(usize, &str)> = None;
    let mut cand_buf: Vec<char> = Vec::new();
    for cand in allowed {
        cand_buf.clear();
        cand_buf.extend(cand.chars().map(|c| c.to_ascii_lowercase()));
        let limit = best.map_or(MAX, |(bd, _)| bd.saturating_sub(1));
        if let Some(d) = bounded_distance(&name, &cand_buf, limit) {
            if best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, cand));
                if d == 0 {
                    break;
                }
            }
        }
    }
    best.map(|(_, s)| s.to_string())
}

/// Optimal string alignment distance (insertions, deletions, substitutions and transpositions of
/// adjacent characters each cost 1, so `smpt` is 1 from `smtp`), or `None` when it exceeds `max`.
/// Stops as soon as a whole row is above `max`, so far-apart names cost little.
fn bounded_distance(a: &[char], b: &[char], max: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
            row_min = row_min.min(cur[j]);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[b.len()]).filter(|&d| d <= max)
}

#[cfg(test)]
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    bounded_distance(&a, &b, usize::MAX).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        let allowed = ["weight", "port", "addr", "name"];
        assert_eq!(closest("wieght", allowed), Some("weight".into()));
        assert_eq!(closest("WEIGHT", allowed), Some("weight".into()));
        assert_eq!(closest("prot", allowed), Some("port".into()));
        assert_eq!(closest("scheduler", allowed), None);
        // a transposition is one edit, and beats a two-edit candidate listed first
        assert_eq!(closest("smpt", ["saft", "smtp"]), Some("smtp".into()));
        assert_eq!(edit_distance("smpt", "smtp"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn display_of_invalid_encoding() {
        let e = ParseError::new(
            Location::new("m.conf", 3, Some(9)),
            None,
            ParseErrorKind::InvalidEncoding {
                encoding: "UTF-8".into(),
                bytes: vec![0xb3],
                hint: Some("use UTF-8".into()),
            },
        );
        assert_eq!(
            e.to_string(),
            "m.conf:3:9: not valid UTF-8 (byte 0xB3); use UTF-8"
        );
        let e = ParseError::new(
            Location::new("s.xml", 1, Some(2)),
            None,
            ParseErrorKind::InvalidEncoding {
                encoding: "Shift_JIS".into(),
                bytes: vec![0x81, 0x20],
                hint: None,
            },
        );
        assert_eq!(
            e.to_string(),
            "s.xml:1:2: not valid Shift_JIS (bytes 0x81 0x20)"
        );
    }

    #[test]
    fn display_names_file_line_column_item() {
        let e = ParseError::new(
            Location::new("a.xml", 3, Some(7)),
            Some("<real> attribute `port`".into()),
            ParseErrorKind::PortOutOfRange("70000".into()),
        );
        assert_eq!(
            e.to_string(),
            "a.xml:3:7: <real> attribute `port`: port `70000` out of range (0..65535)"
        );
    }
}
