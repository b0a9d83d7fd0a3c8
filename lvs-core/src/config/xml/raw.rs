//! The raw stage: the XML service file as written, element by element, with positions.
//!
//! [`RawDocument::parse`] checks well-formedness and the structure of the schema (which element
//! may appear where), but not the attributes: every attribute is kept as written, in document
//! order, with its 1-based line and column, so the validated stage can point at it.

use std::cell::Cell;

use quick_xml::errors::SyntaxError;
use quick_xml::escape::EscapeError;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use serde::Serialize;

use crate::error::{Location, ParseError, ParseErrorKind};

use super::values::clip;

/// One attribute as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawAttr {
    /// Its name, case preserved.
    pub name: String,
    /// Its value, with the predefined entities and character references resolved and
    /// whitespace normalised as XML 1.0 requires (a TAB or newline becomes a space).
    pub value: String,
    /// 1-based line of the attribute name.
    pub line: u32,
    /// 1-based column (in characters) of the attribute name.
    pub column: u32,
}

/// An element without children of interest (`<tester>` or `<real>`), or the start tag of a
/// `<virtual>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawElement {
    /// 1-based line of the `<`.
    pub line: u32,
    /// 1-based column of the `<`.
    pub column: u32,
    /// The attributes, in document order.
    pub attrs: Vec<RawAttr>,
}

impl RawElement {
    /// The attribute called exactly `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&RawAttr> {
        self.attrs.iter().find(|a| a.name == name)
    }
}

/// A `<virtual>` element as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawVirtual {
    /// 1-based line of the `<`.
    pub line: u32,
    /// 1-based column of the `<`.
    pub column: u32,
    /// The attributes of `<virtual>`, in document order.
    pub attrs: Vec<RawAttr>,
    /// The `<tester>` (the first element child), if any; validation requires one.
    pub tester: Option<RawElement>,
    /// The `<real>` elements, in document order.
    pub reals: Vec<RawElement>,
}

/// The whole service file as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawDocument {
    /// The label used in error locations (usually the path as given).
    pub file: String,
    /// The virtuals, in document order.
    pub virtuals: Vec<RawVirtual>,
}

/// Which element is open.
#[derive(Debug, Clone, Copy)]
enum Frame {
    Surealived,
    Virtual,
    Leaf(&'static str),
}

/// Byte offset → 1-based line and column (columns count characters, a TAB is one; a UTF-8 BOM
/// at the start of the file is not a column).
///
/// The line is found by binary search over the line starts. The column is counted from the
/// position located last when that is on the same line (the parser asks in document order),
/// else from the start of the line; so locating every attribute of a file that is one long
/// line stays linear overall instead of rescanning the line for each attribute.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
    /// The offset located last and its column.
    last: Cell<(usize, usize)>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        // The first line starts after a BOM, so that its columns are those an editor shows.
        let first = if text.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        };
        let mut starts = vec![first];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Self {
            text,
            starts,
            last: Cell::new((first, 1)),
        }
    }

    /// Characters that start in `text[from..to]` (continuation bytes are not counted).
    fn chars_between(&self, from: usize, to: usize) -> usize {
        self.text.as_bytes()[from..to]
            .iter()
            .filter(|b| (**b & 0xC0) != 0x80)
            .count()
    }

    pub(crate) fn locate(&self, offset: usize) -> (u32, u32) {
        // An offset inside the BOM is column 1 of line 1.
        let offset = offset.min(self.text.len()).max(self.starts[0]);
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let end = self.starts.get(line).copied().unwrap_or(usize::MAX);
        let (last, last_col) = self.last.get();
        let column = if (start..end).contains(&last) {
            if last <= offset {
                last_col + self.chars_between(last, offset)
            } else {
                last_col - self.chars_between(offset, last)
            }
        } else {
            self.chars_between(start, offset) + 1
        };
        self.last.set((offset, column));
        (to_u32(line), to_u32(column))
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn element_name(s: &BytesStart<'_>) -> String {
    let name = s.name();
    clip(name.as_ref())
}

/// The offset of `part` inside `whole`, when `part` borrows from it.
fn offset_in(whole: &str, part: &[u8]) -> Option<usize> {
    let base = whole.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    (p >= base && p + part.len() <= base + whole.len()).then(|| p - base)
}

struct Parser<'a> {
    file: &'a str,
    text: &'a str,
    index: LineIndex<'a>,
    stack: Vec<Frame>,
    root_seen: bool,
    virtuals: Vec<RawVirtual>,
}

impl<'a> Parser<'a> {
    fn location(&self, offset: usize) -> Location {
        let (line, column) = self.index.locate(offset);
        Location::new(self.file, line, Some(column))
    }

    fn error(&self, offset: usize, item: Option<String>, kind: ParseErrorKind) -> ParseError {
        ParseError::new(self.location(offset), item, kind)
    }

    fn malformed(&self, offset: usize, msg: impl Into<String>) -> ParseError {
        self.error(offset, None, ParseErrorKind::Malformed(msg.into()))
    }

    fn run(mut self) -> Result<RawDocument, ParseError> {
        let mut reader = Reader::from_str(self.text);
        reader.config_mut().check_end_names = true;
        loop {
            let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            let event = match reader.read_event() {
                Ok(ev) => ev,
                Err(quick_xml::Error::Syntax(
                    SyntaxError::UnclosedDoubleQuotedAttributeValue
                    | SyntaxError::UnclosedSingleQuotedAttributeValue,
                )) => {
                    // quick-xml points at the `<` of the tag; point at the quote left open.
                    let tag = usize::try_from(reader.error_position()).unwrap_or(before);
                    let (at, quote) = self.unclosed_quote(tag);
                    return Err(self.malformed(
                        at,
                        format!(
                            "an attribute value is not closed: no `{quote}` matches this one \
                             before the end of the file"
                        ),
                    ));
                }
                Err(e) => {
                    let at = usize::try_from(reader.error_position()).unwrap_or(before);
                    return Err(self.malformed(at, e.to_string()));
                }
            };
            match event {
                Event::Decl(_) if before > 0 && self.text.get(..before) != Some("\u{feff}") => {
                    return Err(self.malformed(
                        before,
                        "an XML declaration is allowed only at the very start of the file",
                    ));
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::DocType(_) => {
                    return Err(self.malformed(
                        before,
                        "DOCTYPE declarations are not accepted (no DTD, no entities beyond the \
                         predefined ones)",
                    ));
                }
                Event::Text(t) => self.text_event(&t, before)?,
                // A CDATA section is character data by definition, never layout: an error even
                // when it holds only whitespace (as a character reference such as `&#32;` is).
                Event::CData(t) => {
                    if t.bytes().all(|b| b.is_ascii_whitespace()) {
                        return Err(self.error(
                            before,
                            None,
                            ParseErrorKind::Structure(
                                "unexpected CDATA section; only elements, comments and \
                                 whitespace are allowed"
                                    .into(),
                            ),
                        ));
                    }
                    self.text_event(&t, before)?
                }
                Event::GeneralRef(r) => {
                    let at = offset_in(self.text, r.as_bytes()).map_or(before, |o| o - 1);
                    return Err(self.unexpected_text(at, &format!("&{};", &*r)));
                }
                Event::Start(s) => self.open(&s, before, false)?,
                Event::Empty(s) => self.open(&s, before, true)?,
                Event::End(_) => {
                    self.stack.pop();
                }
                Event::Eof => break,
            }
        }
        if !self.root_seen {
            return Err(ParseError::new(
                Location::new(self.file, 0, None),
                None,
                ParseErrorKind::Malformed(
                    "no root element; expected `<surealived>` (or a single `<virtual>`)".into(),
                ),
            ));
        }
        if !self.stack.is_empty() {
            let end = self.text.len();
            return Err(self.malformed(end, "unexpected end of file inside an element"));
        }
        Ok(RawDocument {
            file: self.file.to_string(),
            virtuals: self.virtuals,
        })
    }

    /// The offset and the character of the quote left open in the tag whose `<` is at `tag`
    /// (quick-xml reached the end of the file inside an attribute value).
    fn unclosed_quote(&self, tag: usize) -> (usize, char) {
        let mut open: Option<(usize, u8)> = None;
        for (i, b) in self.text.as_bytes().iter().enumerate().skip(tag) {
            match (open, *b) {
                (None, q @ (b'"' | b'\'')) => open = Some((i, q)),
                (Some((_, q)), c) if c == q => open = None,
                _ => {}
            }
        }
        open.map_or((tag, '"'), |(i, q)| (i, char::from(q)))
    }

    fn unexpected_text(&self, at: usize, text: &str) -> ParseError {
        let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
        let shown: String = trimmed
            .chars()
            .take(40)
            .map(|c| {
                if c.is_control() || (c.is_whitespace() && !c.is_ascii()) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect();
        let more = if trimmed.chars().count() > 40 {
            "..."
        } else {
            ""
        };
        self.error(
            at,
            None,
            ParseErrorKind::Structure(format!(
                "unexpected text `{shown}{more}`; only elements, comments and whitespace are \
                 allowed"
            )),
        )
    }

    fn unknown(&self, at: usize, name: &str, allowed: &[&str]) -> ParseError {
        self.error(
            at,
            None,
            ParseErrorKind::UnknownElement {
                name: name.to_string(),
                allowed: allowed.iter().map(|s| s.to_string()).collect(),
            },
        )
    }

    fn text_event(&self, raw: &str, before: usize) -> Result<(), ParseError> {
        let Some(first) = raw.find(|c: char| !c.is_ascii_whitespace()) else {
            return Ok(());
        };
        let at = offset_in(self.text, raw.as_bytes()).map_or(before, |o| o + first);
        Err(self.unexpected_text(at, raw))
    }

    fn open(&mut self, s: &BytesStart<'_>, before: usize, empty: bool) -> Result<(), ParseError> {
        let at = offset_in(self.text, s.as_bytes()).map_or(before, |o| o.saturating_sub(1));
        let name = element_name(s);
        let frame = match self.stack.last().copied() {
            None => {
                if self.root_seen {
                    return Err(self.malformed(
                        at,
                        format!(
                            "a second root element `<{name}>`; a document has exactly one root"
                        ),
                    ));
                }
                self.root_seen = true;
                match name.as_str() {
                    "surealived" => {
                        // Its attributes mean nothing (as in the original) but must be
                        // well-formed.
                        self.element(s, at)?;
                        Frame::Surealived
                    }
                    "virtual" => {
                        self.start_virtual(s, at)?;
                        Frame::Virtual
                    }
                    _ => return Err(self.unknown(at, &name, &["surealived", "virtual"])),
                }
            }
            Some(Frame::Surealived) => match name.as_str() {
                "virtual" => {
                    self.start_virtual(s, at)?;
                    Frame::Virtual
                }
                _ => return Err(self.unknown(at, &name, &["virtual"])),
            },
            Some(Frame::Virtual) => match name.as_str() {
                "tester" => {
                    let el = self.element(s, at)?;
                    let has_tester = self.virtuals.last().is_some_and(|v| v.tester.is_some());
                    if has_tester {
                        return Err(self.error(
                            at,
                            None,
                            ParseErrorKind::Structure(
                                "a second `<tester>` in `<virtual>`; exactly one is allowed".into(),
                            ),
                        ));
                    }
                    if let Some(v) = self.virtuals.last_mut() {
                        v.tester = Some(el);
                    }
                    Frame::Leaf("tester")
                }
                "real" => {
                    let el = self.element(s, at)?;
                    let has_tester = self.virtuals.last().is_some_and(|v| v.tester.is_some());
                    if !has_tester {
                        return Err(self.error(
                            at,
                            None,
                            ParseErrorKind::Structure(
                                "`<tester>` must be the first element child of `<virtual>`; \
                                 found `<real>` before it"
                                    .into(),
                            ),
                        ));
                    }
                    if let Some(v) = self.virtuals.last_mut() {
                        v.reals.push(el);
                    }
                    Frame::Leaf("real")
                }
                _ => return Err(self.unknown(at, &name, &["tester", "real"])),
            },
            Some(Frame::Leaf(parent)) => {
                return Err(self.error(
                    at,
                    None,
                    ParseErrorKind::Structure(format!(
                        "`<{parent}>` takes no child elements; found `<{name}>`"
                    )),
                ));
            }
        };
        if !empty {
            self.stack.push(frame);
        }
        Ok(())
    }

    fn start_virtual(&mut self, s: &BytesStart<'_>, at: usize) -> Result<(), ParseError> {
        let el = self.element(s, at)?;
        self.virtuals.push(RawVirtual {
            line: el.line,
            column: el.column,
            attrs: el.attrs,
            tester: None,
            reals: Vec::new(),
        });
        Ok(())
    }

    /// The position and attributes of a start tag whose `<` is at `at`.
    fn element(&self, s: &BytesStart<'_>, at: usize) -> Result<RawElement, ParseError> {
        // Located first: the index counts columns onwards from the last position it located.
        let (line, column) = self.index.locate(at);
        // Attribute error positions are relative to the byte after `<`.
        let rel = |pos: usize| at + 1 + pos;
        let mut attrs = Vec::new();
        for a in s.attributes() {
            let a = match a {
                Ok(a) => a,
                Err(AttrError::Duplicated(pos, _)) => {
                    let body: &str = s;
                    let name: String = body
                        .get(pos..)
                        .unwrap_or("")
                        .chars()
                        .take_while(|c| *c != '=' && !c.is_whitespace())
                        .collect();
                    return Err(self.error(
                        rel(pos),
                        Some(format!("<{}>", element_name(s))),
                        ParseErrorKind::DuplicateAttribute(clip(&name)),
                    ));
                }
                Err(e) => {
                    let (pos, msg) = match e {
                        AttrError::ExpectedEq(p) => {
                            (p, "an attribute name must be followed by `=`".to_string())
                        }
                        AttrError::ExpectedValue(p) => {
                            (p, "`=` must be followed by a quoted value".to_string())
                        }
                        AttrError::UnquotedValue(p) => {
                            (p, "an attribute value must be in quotes".to_string())
                        }
                        AttrError::ExpectedQuote(p, _) => (
                            p,
                            "an attribute value is not closed by its quote".to_string(),
                        ),
                        other => (0, other.to_string()),
                    };
                    return Err(self.malformed(rel(pos), msg));
                }
            };
            let key = a.key.as_ref();
            let off = offset_in(self.text, key.as_bytes()).unwrap_or(at);
            let name = key.to_string();
            let value = match a.normalized_value(XmlVersion::Implicit1_0) {
                Ok(v) => v.into_owned(),
                Err(e) => {
                    let base = offset_in(self.text, a.value.as_bytes());
                    let (at, msg) = match e {
                        quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(r, ent)) => (
                            base.map(|b| b + r.start.saturating_sub(1)),
                            format!(
                                "attribute `{name}`: unknown entity `&{ent};`; only &lt; &gt; \
                                 &amp; &apos; &quot; and character references are accepted"
                            ),
                        ),
                        quick_xml::Error::Escape(EscapeError::UnterminatedEntity(r)) => (
                            base.map(|b| b + r.start),
                            format!("attribute `{name}`: `&` must start an entity such as &amp;"),
                        ),
                        other => (base, format!("attribute `{name}`: {other}")),
                    };
                    return Err(self.malformed(at.unwrap_or(off), msg));
                }
            };
            let (line, column) = self.index.locate(off);
            attrs.push(RawAttr {
                name,
                value,
                line,
                column,
            });
        }
        Ok(RawElement {
            line,
            column,
            attrs,
        })
    }
}

impl RawDocument {
    /// Parses the text of a service file into its raw form. `file` labels error locations.
    ///
    /// Checks: well-formed XML (→ [`ParseErrorKind::Malformed`]); no DOCTYPE and no entity other
    /// than the five predefined ones; a `<surealived>` root (or a single `<virtual>`); only
    /// `<virtual>` inside it; `<tester>` first and once in each `<virtual>`, then only `<real>`;
    /// no children in `<tester>` or `<real>`; no text other than whitespace. Comments and
    /// processing instructions are ignored. Element and attribute names are case-sensitive.
    pub fn parse(text: &str, file: &str) -> Result<Self, ParseError> {
        Parser {
            file,
            text,
            index: LineIndex::new(text),
            stack: Vec::new(),
            root_seen: false,
            virtuals: Vec::new(),
        }
        .run()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_counts_characters() {
        let text = "ab\nçd\n\nx";
        let ix = LineIndex::new(text);
        assert_eq!(ix.locate(0), (1, 1));
        assert_eq!(ix.locate(2), (1, 3));
        assert_eq!(ix.locate(3), (2, 1));
        // `d` after the two-byte `ç`
        assert_eq!(ix.locate(5), (2, 2));
        assert_eq!(ix.locate(7), (3, 1));
        assert_eq!(ix.locate(8), (4, 1));
        assert_eq!(ix.locate(100), (4, 2));
    }

    #[test]
    fn line_index_counts_from_the_last_position_in_any_order() {
        let text = "aé\tb\ncd\néé";
        let want = [
            (0, (1, 1)),
            (1, (1, 2)),
            (3, (1, 3)),
            (4, (1, 4)),
            (5, (1, 5)),
            (6, (2, 1)),
            (8, (2, 3)),
            (9, (3, 1)),
            (11, (3, 2)),
            (13, (3, 3)),
        ];
        let ix = LineIndex::new(text);
        // forwards, backwards, and jumping between lines: always what a fresh count gives
        for (off, pos) in want.iter().chain(want.iter().rev()) {
            assert_eq!(ix.locate(*off), *pos, "offset {off}");
            assert_eq!(LineIndex::new(text).locate(*off), *pos, "offset {off}");
        }
        for (off, pos) in [want[4], want[0], want[7], want[2], want[9], want[5]] {
            assert_eq!(ix.locate(off), pos, "offset {off}");
        }
    }

    #[test]
    fn line_index_skips_a_bom() {
        let ix = LineIndex::new("\u{feff}<a>\n<b>");
        assert_eq!(ix.locate(0), (1, 1));
        assert_eq!(ix.locate(3), (1, 1));
        assert_eq!(ix.locate(4), (1, 2));
        assert_eq!(ix.locate(1), (1, 1));
        assert_eq!(ix.locate(7), (2, 1));
        assert_eq!(LineIndex::new("\u{feff}").locate(3), (1, 1));
        assert_eq!(LineIndex::new("").locate(0), (1, 1));
    }

    #[test]
    fn positions_of_elements_and_attributes() {
        let text = "<surealived>\n  <virtual name=\"a\"\n     addr='1'>\n  <tester proto=\"tcp\"/>\n  <real x=\"&amp;&#65;\"/>\n</virtual></surealived>";
        let doc = RawDocument::parse(text, "t.xml").expect("parses");
        let v = &doc.virtuals[0];
        assert_eq!((v.line, v.column), (2, 3));
        assert_eq!((v.attrs[0].line, v.attrs[0].column), (2, 12));
        assert_eq!((v.attrs[1].line, v.attrs[1].column), (3, 6));
        assert_eq!(v.attrs[1].value, "1");
        let t = v.tester.as_ref().expect("tester");
        assert_eq!((t.line, t.column), (4, 3));
        assert_eq!(v.reals[0].attrs[0].value, "&A");
    }

    #[test]
    fn bare_virtual_root_is_accepted() {
        let doc = RawDocument::parse("<virtual name='x'><tester/></virtual>", "t").expect("ok");
        assert_eq!(doc.virtuals.len(), 1);
    }

    #[test]
    fn empty_document_is_malformed() {
        let e = RawDocument::parse("  <!-- nothing -->\n", "t").expect_err("empty");
        assert_eq!(
            e.to_string(),
            "t: malformed input: no root element; expected `<surealived>` (or a single `<virtual>`)"
        );
    }
}
