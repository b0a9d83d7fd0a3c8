//! The raw stage: the file split into global entries and sections, exactly as written.
//!
//! Grammar (one rule per line; lines end with `\n`, a `\r` before it is dropped):
//!
//! ```text
//! line    = blank | comment | section | entry
//! blank   = WS*
//! comment = WS* "#" ANY*
//! section = WS* "[" WS* NAME WS* "]" WS* [ WS "#" ANY* ]
//! entry   = WS* KEY WS* "=" WS* VALUE? [ WS "#" ANY* ]
//! KEY     = ( ALPHA | DIGIT | "-" | "_" | "." )+
//! NAME    = ( ALPHA | DIGIT | "-" | "_" | "." )+
//! VALUE   = ANY*                       ; trimmed; may contain spaces (a command line)
//! WS      = " " | TAB
//! ```
//!
//! A `#` preceded by a space or TAB starts a trailing comment; a `#` inside a word (`a#b`) is
//! part of the value. Control characters other than TAB are rejected anywhere, as is a line
//! that fits no rule. A UTF-8 byte order mark at the start of the file is ignored.

use crate::error::{Location, ParseError, ParseErrorKind};

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// The key as written (case kept).
    pub key: String,
    /// The value, trimmed, with any trailing comment removed; may be empty.
    pub value: String,
    /// 1-based line number.
    pub line: u32,
}

/// A `[name]` section and the entries up to the next section header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSection {
    /// The section name (`virtual-service`, `service`), as written.
    pub name: String,
    /// The line of the header.
    pub line: u32,
    /// The entries of the section, in file order.
    pub entries: Vec<RawEntry>,
}

/// A feedbackd configuration file as written: global entries (before the first section), then
/// the sections. Comments and blank lines are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawConfigFile {
    /// The label used in error locations (the file name as given).
    pub file: String,
    /// Entries before the first section header.
    pub globals: Vec<RawEntry>,
    /// The sections, in file order.
    pub sections: Vec<RawSection>,
}

/// How much of an offending line an error message quotes.
const QUOTE_MAX: usize = 40;

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// `s` cut to [`QUOTE_MAX`] characters, with `...` when cut.
pub(super) fn quote(s: &str) -> String {
    if s.chars().count() > QUOTE_MAX {
        let cut: String = s.chars().take(QUOTE_MAX).collect();
        format!("{cut}...")
    } else {
        s.to_string()
    }
}

/// `s` without a trailing comment (a `#` preceded by whitespace), trimmed.
fn strip_comment(s: &str) -> &str {
    let mut prev_ws = false;
    for (i, c) in s.char_indices() {
        if c == '#' && prev_ws {
            return s[..i].trim_matches(is_ws);
        }
        prev_ws = is_ws(c);
    }
    s.trim_matches(is_ws)
}

impl RawConfigFile {
    /// Splits `text` into globals and sections. `file` labels error locations.
    ///
    /// Fails only on a line that fits no rule of the grammar (see the module documentation).
    pub fn parse(text: &str, file: &str) -> Result<Self, ParseError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut globals = Vec::new();
        let mut sections: Vec<RawSection> = Vec::new();
        for (i, line) in text.split('\n').enumerate() {
            let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let line = line.strip_suffix('\r').unwrap_or(line);
            let malformed = |why: String| {
                ParseError::new(
                    Location::new(file, n, None),
                    None,
                    ParseErrorKind::Malformed(why),
                )
            };
            if let Some(c) = line.chars().find(|c| c.is_control() && *c != '\t') {
                return Err(malformed(format!(
                    "control character U+{:04X} in the line",
                    u32::from(c)
                )));
            }
            let trimmed = line.trim_matches(is_ws);
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if let Some(rest) = trimmed.strip_prefix('[') {
                let rest = strip_comment(rest);
                let Some(inner) = rest.strip_suffix(']') else {
                    return Err(malformed(format!(
                        "section header `{}` does not end with `]`",
                        quote(trimmed)
                    )));
                };
                let name = inner.trim_matches(is_ws);
                if name.is_empty() || !name.chars().all(is_name_char) {
                    return Err(malformed(format!(
                        "invalid section name `{}`; names are letters, digits, `-`, `_` and `.`",
                        quote(name)
                    )));
                }
                sections.push(RawSection {
                    name: name.to_string(),
                    line: n,
                    entries: Vec::new(),
                });
                continue;
            }
            let Some((key, value)) = trimmed.split_once('=') else {
                return Err(malformed(format!(
                    "expected `key = value`, a `[section]` header or a `# comment`, found `{}`",
                    quote(trimmed)
                )));
            };
            let key = key.trim_matches(is_ws);
            if key.is_empty() {
                return Err(malformed("a key is missing before `=`".into()));
            }
            if !key.chars().all(is_name_char) {
                return Err(malformed(format!(
                    "invalid key `{}`; keys are letters, digits, `-`, `_` and `.`",
                    quote(key)
                )));
            }
            // `key =#x`: the `#` follows `=`, not whitespace, so it is part of the value.
            let value = strip_comment(value).to_string();
            let entry = RawEntry {
                key: key.to_string(),
                value,
                line: n,
            };
            match sections.last_mut() {
                Some(s) => s.entries.push(entry),
                None => globals.push(entry),
            }
        }
        Ok(Self {
            file: file.to_string(),
            globals,
            sections,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &str, line: u32) -> RawEntry {
        RawEntry {
            key: key.into(),
            value: value.into(),
            line,
        }
    }

    #[test]
    fn splits_globals_and_sections() {
        let raw = RawConfigFile::parse(
            "# c\n\nlogfile=/x # log\n  loglevel =  WARN\n[service]\nname = a b \ncommand = x#y\n[ service ]\n",
            "f",
        )
        .expect("parses");
        assert_eq!(
            raw.globals,
            vec![entry("logfile", "/x", 3), entry("loglevel", "WARN", 4)]
        );
        assert_eq!(raw.sections.len(), 2);
        assert_eq!(raw.sections[0].name, "service");
        assert_eq!(raw.sections[0].line, 5);
        assert_eq!(
            raw.sections[0].entries,
            vec![entry("name", "a b", 6), entry("command", "x#y", 7)]
        );
        assert_eq!(raw.sections[1].name, "service");
        assert!(raw.sections[1].entries.is_empty());
    }

    #[test]
    fn comment_rules() {
        let raw = RawConfigFile::parse("a = # all comment\nb =#kept\nc = x\t# tab\n", "f")
            .expect("parses");
        assert_eq!(
            raw.globals,
            vec![
                entry("a", "", 1),
                entry("b", "#kept", 2),
                entry("c", "x", 3)
            ]
        );
    }

    #[test]
    fn crlf_and_bom() {
        let raw = RawConfigFile::parse("\u{feff}a = 1\r\n[s]\r\n", "f").expect("parses");
        assert_eq!(raw.globals, vec![entry("a", "1", 1)]);
        assert_eq!(raw.sections[0].name, "s");
    }

    #[test]
    fn malformed_lines() {
        for (text, msg) in [
            ("just words\n", "f:1: malformed input: expected `key = value`, a `[section]` header or a `# comment`, found `just words`"),
            ("= 3\n", "f:1: malformed input: a key is missing before `=`"),
            ("log file = 3\n", "f:1: malformed input: invalid key `log file`; keys are letters, digits, `-`, `_` and `.`"),
            ("[service\n", "f:1: malformed input: section header `[service` does not end with `]`"),
            ("[]\n", "f:1: malformed input: invalid section name ``; names are letters, digits, `-`, `_` and `.`"),
            ("[a] b\n", "f:1: malformed input: section header `[a] b` does not end with `]`"),
            ("a = \u{0}\n", "f:1: malformed input: control character U+0000 in the line"),
        ] {
            let e = RawConfigFile::parse(text, "f").expect_err(text);
            assert_eq!(e.to_string(), msg);
        }
    }
}
