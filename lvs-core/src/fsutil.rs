//! Small file helpers: read a text file with located errors, and write a file atomically.
//!
//! **Reading.** Every loader reads its file as bytes and decodes it here, so that a stray byte
//! that is not UTF-8 is either tolerated (in a comment) or reported with its file, line and
//! column, never as a bare I/O error for the whole file:
//!
//! * [`read_text`] (line-based formats): valid UTF-8 is taken as is. A line whose invalid bytes
//!   come after the start of a comment (as the format's [`CommentRule`] defines it) is decoded
//!   lossily (each bad sequence becomes U+FFFD), so an ISO-8859-2 comment does not reject the
//!   file. Invalid bytes anywhere else are a [`ParseErrorKind::InvalidEncoding`] error.
//! * [`read_xml_text`] (the XML service file): a byte order mark, else the XML declaration's
//!   `encoding` (for example `encoding="ISO-8859-2"`), decides the encoding, and the text is
//!   transcoded to UTF-8 with `encoding_rs`. Without either, the file must be UTF-8.
//!
//! **Writing.** State files must never be seen half-written, even after a crash:
//! [`write_atomic`] writes a new temporary file next to the target, gives it the old file's
//! mode (and, as root, owner and group), fsyncs it, renames it over the target and fsyncs the
//! directory. A symbolic link is followed: the file it points to is replaced, the link stays.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Location, ParseError, ParseErrorKind};
use crate::Error;

fn read_bytes(path: &Path) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Where a line-based format has comments, which decides where [`read_text`] tolerates bytes
/// that are not UTF-8. Comments start with `#` in every format of this crate. Lines end at LF;
/// a UTF-8 byte order mark at the very start of the file is skipped, as every parser does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommentRule {
    /// The format has no comments: every byte must be UTF-8 (the dump files).
    None,
    /// A line whose **first character** is `#` is a comment (`surealived.cfg`, read as the
    /// original's `sscanf` loop: `  # x` is not a comment there).
    FirstColumn,
    /// A line whose first character other than space, TAB, CR, VT or FF is `#`
    /// (`ipvsfull.cfg`).
    WholeLine,
    /// A line whose first character other than space or TAB is `#`, and a `#` preceded by a
    /// space or TAB, which starts a comment running to the end of the line (the feedbackd
    /// files; `a#b` is not a comment).
    AfterBlank,
    /// Any `#` starts a comment running to the end of the line (`/etc/services`).
    Anywhere,
}

impl CommentRule {
    /// Whether a comment starts within `prefix`, the (valid UTF-8) start of a line up to its
    /// first invalid byte; everything after a comment's start belongs to the comment.
    fn comment_starts_in(self, prefix: &str, first_line: bool) -> bool {
        let p = if first_line {
            prefix.strip_prefix('\u{feff}').unwrap_or(prefix)
        } else {
            prefix
        };
        match self {
            CommentRule::None => false,
            CommentRule::FirstColumn => p.starts_with('#'),
            CommentRule::WholeLine => p
                .trim_start_matches([' ', '\t', '\r', '\x0b', '\x0c'])
                .starts_with('#'),
            CommentRule::AfterBlank => {
                p.trim_start_matches([' ', '\t']).starts_with('#')
                    || p.contains(" #")
                    || p.contains("\t#")
            }
            CommentRule::Anywhere => p.contains('#'),
        }
    }

    fn hint(self) -> &'static str {
        match self {
            CommentRule::None => "this file has no comments and must be UTF-8 text",
            CommentRule::FirstColumn => {
                "bytes that are not UTF-8 (such as ISO-8859-2 text) are accepted only in a \
                 comment line, one whose first character is `#`"
            }
            CommentRule::WholeLine => {
                "bytes that are not UTF-8 (such as ISO-8859-2 text) are accepted only in a \
                 comment line, one starting with `#`"
            }
            CommentRule::AfterBlank => {
                "bytes that are not UTF-8 (such as ISO-8859-2 text) are accepted only in a \
                 comment: a line starting with `#`, or the end of a line after ` #`"
            }
            CommentRule::Anywhere => {
                "bytes that are not UTF-8 (such as ISO-8859-2 text) are accepted only in a \
                 comment, after `#`"
            }
        }
    }
}

/// Reads a line-based text file (see [`decode_text`]); errors are labelled with the path as
/// given: [`Error::Io`] when it cannot be read, [`Error::Parse`] for a byte that is not UTF-8
/// outside a comment.
pub fn read_text(path: &Path, comments: CommentRule) -> Result<String, Error> {
    let bytes = read_bytes(path)?;
    Ok(decode_text(bytes, &path.display().to_string(), comments)?)
}

/// Decodes the bytes of a line-based text file. Valid UTF-8 is returned as is. Otherwise each
/// line (ending at LF) that is not UTF-8 is decoded lossily when its first invalid byte comes
/// after the start of a comment, as `comments` defines it; an invalid byte anywhere else is an
/// [`ParseErrorKind::InvalidEncoding`] error at its 1-based line and column (columns count
/// characters, as in the XML loader's errors). `file` labels the error.
pub fn decode_text(
    bytes: Vec<u8>,
    file: &str,
    comments: CommentRule,
) -> Result<String, ParseError> {
    let bytes = match String::from_utf8(bytes) {
        Ok(text) => return Ok(text),
        Err(e) => e.into_bytes(),
    };
    let mut out = String::with_capacity(bytes.len() + 16);
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let err = match std::str::from_utf8(line) {
            Ok(s) => {
                out.push_str(s);
                continue;
            }
            Err(e) => e,
        };
        let (prefix, bad) = split_at_error(line, &err);
        if comments.comment_starts_in(prefix, i == 0) {
            out.push_str(&String::from_utf8_lossy(line));
        } else {
            return Err(invalid_encoding(
                Location::new(file, to_u32(i + 1), Some(column_after(prefix))),
                "UTF-8",
                bad,
                Some(comments.hint().to_string()),
            ));
        }
    }
    Ok(out)
}

/// The valid start of `bytes` before the error `err`, and the invalid bytes there.
fn split_at_error<'a>(bytes: &'a [u8], err: &std::str::Utf8Error) -> (&'a str, &'a [u8]) {
    let (valid, rest) = bytes.split_at(err.valid_up_to());
    let bad_len = err.error_len().unwrap_or(rest.len());
    // `valid` is UTF-8 by the definition of `valid_up_to`.
    let prefix = std::str::from_utf8(valid).unwrap_or_default();
    (prefix, &rest[..bad_len.min(rest.len())])
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The 1-based column just after `line_prefix` (counted in characters, a TAB is one).
fn column_after(line_prefix: &str) -> u32 {
    to_u32(line_prefix.chars().count() + 1)
}

/// The 1-based line and column just after `text` (which holds every line before it).
fn position_after(text: &str) -> (u32, u32) {
    let line = text.bytes().filter(|&b| b == b'\n').count() + 1;
    let start = text.rfind('\n').map_or(0, |i| i + 1);
    (to_u32(line), column_after(&text[start..]))
}

fn invalid_encoding(
    location: Location,
    encoding: &str,
    bytes: &[u8],
    hint: Option<String>,
) -> ParseError {
    ParseError::new(
        location,
        None,
        ParseErrorKind::InvalidEncoding {
            encoding: encoding.to_string(),
            bytes: bytes.iter().copied().take(4).collect(),
            hint,
        },
    )
}

/// Reads an XML file (see [`decode_xml`]); errors are labelled with the path as given.
pub fn read_xml_text(path: &Path) -> Result<String, Error> {
    let bytes = read_bytes(path)?;
    Ok(decode_xml(bytes, &path.display().to_string())?)
}

/// Decodes the bytes of an XML file to UTF-8 text, honouring its encoding:
///
/// 1. a byte order mark (UTF-8, UTF-16LE, UTF-16BE) decides; a UTF-8 one is kept in the text,
///    a UTF-16 one is dropped;
/// 2. otherwise the XML declaration's `encoding` (`<?xml version="1.0"
///    encoding="ISO-8859-2"?>`), a label of the WHATWG Encoding Standard as `encoding_rs`
///    knows them (`ISO-8859-2`, `latin2`, `windows-1250`, `UTF-8`, ...; `ISO-8859-1` reads as
///    `windows-1252`, a superset); the declaration stays in the text;
/// 3. otherwise UTF-8.
///
/// A byte sequence that is not valid in that encoding is an
/// [`ParseErrorKind::InvalidEncoding`] error at its line and column (in characters). An
/// unknown `encoding`, or one that cannot be told from ASCII (UTF-16 without a byte order
/// mark, ISO-2022-KR, ...), is an [`ParseErrorKind::InvalidValue`] error at the attribute.
pub fn decode_xml(bytes: Vec<u8>, file: &str) -> Result<String, ParseError> {
    use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8};

    if let Some((enc, bom_len)) = Encoding::for_bom(&bytes) {
        if enc == UTF_8 {
            return decode_utf8(bytes, file, "the file starts with a UTF-8 byte order mark");
        }
        let name = enc.name();
        return transcode(
            enc,
            &bytes[bom_len..],
            file,
            &format!("the file starts with a {name} byte order mark"),
        );
    }
    let Some(decl) = declared_encoding(&bytes) else {
        return decode_utf8(
            bytes,
            file,
            "a file without an encoding declaration must be UTF-8; for an ISO-8859-2 file, \
             make its first line <?xml version=\"1.0\" encoding=\"ISO-8859-2\"?>",
        );
    };
    let (line, column) = position_after(&String::from_utf8_lossy(&bytes[..decl.at]));
    let bad_label = |reason: String| {
        ParseError::new(
            Location::new(file, line, Some(column)),
            Some("XML declaration attribute `encoding`".into()),
            ParseErrorKind::InvalidValue {
                value: decl.label.clone(),
                reason,
            },
        )
    };
    let Some(enc) = Encoding::for_label(decl.label.as_bytes()) else {
        return Err(bad_label(
            "unknown encoding; use a name such as UTF-8, ISO-8859-2 or windows-1250".into(),
        ));
    };
    if enc == UTF_8 {
        return decode_utf8(
            bytes,
            file,
            "the XML declaration says UTF-8; if the file is ISO-8859-2, declare \
             encoding=\"ISO-8859-2\"",
        );
    }
    if enc == UTF_16LE || enc == UTF_16BE {
        return Err(bad_label(
            "the file has no UTF-16 byte order mark and its declaration reads as ASCII, so it \
             is not UTF-16; declare the encoding it is written in"
                .into(),
        ));
    }
    if !enc.is_ascii_compatible() {
        return Err(bad_label(format!(
            "encoding {} is not supported; use UTF-8 or an ASCII-compatible encoding such as \
             ISO-8859-2",
            enc.name()
        )));
    }
    transcode(
        enc,
        &bytes,
        file,
        &format!("the XML declaration says {}", decl.label),
    )
}

fn decode_utf8(bytes: Vec<u8>, file: &str, hint: &str) -> Result<String, ParseError> {
    String::from_utf8(bytes).map_err(|e| {
        let (prefix, bad) = split_at_error(e.as_bytes(), &e.utf8_error());
        let (line, column) = position_after(prefix);
        invalid_encoding(
            Location::new(file, line, Some(column)),
            "UTF-8",
            bad,
            Some(hint.into()),
        )
    })
}

/// Decodes `bytes` (without a byte order mark) from `enc`, failing at the first malformed
/// sequence.
fn transcode(
    enc: &'static encoding_rs::Encoding,
    bytes: &[u8],
    file: &str,
    hint: &str,
) -> Result<String, ParseError> {
    use encoding_rs::DecoderResult;

    let mut decoder = enc.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .unwrap_or(bytes.len());
    let mut out = String::with_capacity(capacity);
    let mut read = 0;
    loop {
        let (result, n) =
            decoder.decode_to_string_without_replacement(&bytes[read..], &mut out, true);
        read += n;
        match result {
            DecoderResult::InputEmpty => return Ok(out),
            DecoderResult::OutputFull => out.reserve(bytes.len() - read + 16),
            DecoderResult::Malformed(bad, after) => {
                let end = read.saturating_sub(usize::from(after));
                let start = end.saturating_sub(usize::from(bad));
                let (line, column) = position_after(&out);
                return Err(invalid_encoding(
                    Location::new(file, line, Some(column)),
                    enc.name(),
                    &bytes[start..end],
                    Some(hint.into()),
                ));
            }
        }
    }
}

/// The `encoding` of an XML declaration at the very start of `bytes`.
struct DeclaredEncoding {
    /// The label as written.
    label: String,
    /// Byte offset of the `encoding` attribute name.
    at: usize,
}

/// Finds `encoding="..."` (or single quotes) in an XML declaration at the start of `bytes`;
/// `None` when there is no declaration or it names no encoding (the XML parser reports a
/// malformed declaration).
fn declared_encoding(bytes: &[u8]) -> Option<DeclaredEncoding> {
    const MAX_DECL: usize = 1024;
    let rest = bytes.strip_prefix(b"<?xml")?;
    if !rest.first().is_some_and(u8::is_ascii_whitespace) {
        return None;
    }
    let head = &bytes[..bytes.len().min(MAX_DECL)];
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = &head[..end];
    let mut i = 5;
    while i < decl.len() {
        // One pseudo-attribute: name, `=`, quoted value.
        while decl.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let name_start = i;
        while decl
            .get(i)
            .is_some_and(|b| !b.is_ascii_whitespace() && *b != b'=')
        {
            i += 1;
        }
        let name = &decl[name_start..i];
        while decl.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if decl.get(i) != Some(&b'=') {
            return None;
        }
        i += 1;
        while decl.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let quote = *decl.get(i).filter(|q| **q == b'"' || **q == b'\'')?;
        let value_start = i + 1;
        let len = decl[value_start..].iter().position(|b| *b == quote)?;
        i = value_start + len + 1;
        if name == b"encoding" {
            return Some(DeclaredEncoding {
                label: String::from_utf8_lossy(&decl[value_start..value_start + len]).into_owned(),
                at: name_start,
            });
        }
    }
    None
}

/// Longest chain of symbolic links [`write_atomic`] follows (Linux's limit).
const MAX_SYMLINKS: usize = 40;

/// The file `path` designates after following symbolic links (the link's directory anchors a
/// relative target). A link to a file that does not exist yet designates that file.
fn resolve_symlinks(path: &Path) -> std::io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            Ok(_) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(p),
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!(
        "more than {MAX_SYMLINKS} levels of symbolic links"
    )))
}

/// Replaces `path` with `contents` atomically: a reader sees the old file or the new one, never a
/// mix, and after a crash the file is one or the other.
///
/// * The new contents go to a temporary file created (`O_EXCL`) in the target's directory,
///   which is fsynced, renamed over the target, and the directory is fsynced.
/// * When `path` is a symbolic link (or a chain of them), the file it points to is replaced and
///   the link is left as it is.
/// * The new file gets the old file's permission bits and, when the caller is root, its owner
///   and group (a caller that is not root keeps the group when it may). A new file gets the
///   usual `0666` less the umask.
/// * As with any rename, other hard links to the old file keep the old contents.
///
/// Errors name `path` as given.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let target = resolve_symlinks(path).map_err(io)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| io(std::io::Error::other("path has no file name")))?;
    let old = match fs::metadata(&target) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    // Unique per process and per call, so concurrent writers never share a temporary file.
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    tmp_name.push(format!(".tmp.{}.{seq}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let mut created = false;
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        if old.is_some() {
            // Nobody else may open it before it has the old file's owner and mode.
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        created = true;
        if let Some(old) = &old {
            copy_owner_and_mode(&f, old)?;
        }
        f.write_all(contents)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &target)?;
        // Make the rename itself durable.
        File::open(dir)?.sync_all()
    })();
    if result.is_err() && created {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// Gives the new file `f` the owner, group (as far as allowed) and permission bits of `old`.
/// The owner comes first: changing it may clear set-user-ID and set-group-ID bits.
fn copy_owner_and_mode(f: &File, old: &fs::Metadata) -> std::io::Result<()> {
    let new = f.metadata()?;
    // A file we create is owned by our (filesystem) user ID: 0 means we are root.
    if new.uid() == 0 {
        if (new.uid(), new.gid()) != (old.uid(), old.gid()) {
            std::os::unix::fs::fchown(f, Some(old.uid()), Some(old.gid()))?;
        }
    } else if new.gid() != old.gid() {
        // Allowed when we belong to the group; otherwise the file keeps our group.
        let _ = std::os::unix::fs::fchown(f, None, Some(old.gid()));
    }
    f.set_permissions(old.permissions())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    /// "Zażółć" in ISO-8859-2: not UTF-8.
    const LATIN2: &[u8] = b"Za\xbf\xf3\xb3\xe6";

    fn bytes(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    fn decode(parts: &[&[u8]], rule: CommentRule) -> Result<String, String> {
        decode_text(bytes(parts), "f.cfg", rule).map_err(|e| e.to_string())
    }

    fn xml(parts: &[&[u8]]) -> Result<String, String> {
        decode_xml(bytes(parts), "s.xml").map_err(|e| e.to_string())
    }

    #[test]
    fn utf8_text_is_taken_as_is() {
        let text = "\u{feff}# zażółć\r\nkey = gęś\n";
        for rule in [
            CommentRule::None,
            CommentRule::FirstColumn,
            CommentRule::WholeLine,
            CommentRule::AfterBlank,
            CommentRule::Anywhere,
        ] {
            assert_eq!(decode(&[text.as_bytes()], rule), Ok(text.to_string()));
        }
    }

    #[test]
    fn latin2_in_a_comment_is_decoded_lossily() {
        // 0xF3 0xB3 is one broken sequence.
        let lossy = "Za\u{fffd}\u{fffd}\u{fffd}";
        for (rule, line) in [
            (CommentRule::FirstColumn, &b"# "[..]),
            (CommentRule::WholeLine, b" \t# "),
            (CommentRule::AfterBlank, b"\t# "),
            (CommentRule::AfterBlank, b"key = value  # "),
            (CommentRule::AfterBlank, b"[service]\t# "),
            (CommentRule::Anywhere, b"http 80/tcp www#"),
        ] {
            let got = decode(&[b"a 1\n", line, LATIN2, b"\nb 2\n"], rule);
            let line = String::from_utf8_lossy(line);
            assert_eq!(got, Ok(format!("a 1\n{line}{lossy}\nb 2\n")), "{rule:?}");
        }
        // A byte order mark before a comment on the first line.
        for rule in [CommentRule::FirstColumn, CommentRule::WholeLine] {
            let got = decode(&[b"\xef\xbb\xbf# ", LATIN2], rule);
            assert_eq!(got, Ok(format!("\u{feff}# {lossy}")), "{rule:?}");
        }
    }

    #[test]
    fn latin2_outside_a_comment_is_an_error_at_its_line_and_column() {
        let hint = |rule: CommentRule| rule.hint();
        for (rule, line, column) in [
            // surealived.cfg: only a `#` in the first column starts a comment
            (CommentRule::FirstColumn, &b" # "[..], 6),
            (CommentRule::FirstColumn, b"bind_addr ", 13),
            (CommentRule::WholeLine, b"virtual vname=", 17),
            // feedbackd: a `#` inside a word is kept, so this is a value
            (CommentRule::AfterBlank, b"secret = a#", 14),
            (CommentRule::AfterBlank, b"name = ", 10),
            (CommentRule::None, b"# ", 5),
        ] {
            let got = decode(&[b"a 1\n\n", line, LATIN2, b"\n"], rule);
            let want = format!(
                "f.cfg:3:{column}: not valid UTF-8 (byte 0xBF); {}",
                hint(rule)
            );
            assert_eq!(got, Err(want), "{rule:?} {}", String::from_utf8_lossy(line));
        }
        // Columns count characters; a sequence cut short by the end of the line is shown whole.
        let got = decode(&["x = gęś".as_bytes(), b"\xc5\n"], CommentRule::AfterBlank);
        assert_eq!(
            got,
            Err(format!(
                "f.cfg:1:8: not valid UTF-8 (byte 0xC5); {}",
                CommentRule::AfterBlank.hint()
            ))
        );
        assert!(CommentRule::AfterBlank
            .hint()
            .contains("accepted only in a comment"));
    }

    #[test]
    fn read_text_reports_io_and_encoding_errors_with_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.conf");
        let e = read_text(&p, CommentRule::WholeLine).expect_err("missing");
        assert!(matches!(e, Error::Io { .. }), "{e}");
        fs::write(&p, bytes(&[b"# ", LATIN2, b"\nx\n"])).expect("write");
        assert_eq!(
            read_text(&p, CommentRule::WholeLine).expect("comment"),
            "# Za\u{fffd}\u{fffd}\u{fffd}\nx\n"
        );
        fs::write(&p, bytes(&[b"x", LATIN2, b"\n"])).expect("write");
        let e = read_text(&p, CommentRule::WholeLine).expect_err("not a comment");
        assert!(matches!(e, Error::Parse(_)), "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("{}:1:4: not valid UTF-8", p.display())),
            "{e}"
        );
    }

    // --- XML ---------------------------------------------------------------------------------

    #[test]
    fn xml_declared_iso_8859_2_is_transcoded() {
        let got = xml(&[
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-2\"?>\n<!-- ",
            LATIN2,
            b" -->\n<a b=\"\xb3\"/>\n",
        ]);
        assert_eq!(
            got,
            Ok(
                "<?xml version=\"1.0\" encoding=\"ISO-8859-2\"?>\n<!-- Zażółć -->\n<a b=\"ł\"/>\n"
                    .to_string()
            )
        );
        // Labels are case-insensitive aliases; single quotes and blanks around `=` are fine.
        let got = xml(&[
            b"<?xml version='1.0'\n  encoding = 'latin2' ?><a>",
            LATIN2,
            b"</a>",
        ]);
        assert_eq!(
            got.as_deref().map(|t| t.ends_with("<a>Zażółć</a>")),
            Ok(true),
            "{got:?}"
        );
    }

    #[test]
    fn xml_utf8_is_unchanged_and_utf16_with_a_bom_is_transcoded() {
        let text = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>gęś</a>";
        assert_eq!(xml(&[text.as_bytes()]), Ok(text.to_string()));
        let mut utf16 = vec![0xff, 0xfe];
        for u in "<?xml version=\"1.0\" encoding=\"UTF-16\"?><a>gęś</a>".encode_utf16() {
            utf16.extend(u.to_le_bytes());
        }
        assert_eq!(
            xml(&[&utf16]),
            Ok("<?xml version=\"1.0\" encoding=\"UTF-16\"?><a>gęś</a>".to_string())
        );
    }

    #[test]
    fn xml_bytes_that_do_not_fit_the_encoding_are_located() {
        // Undeclared: UTF-8.
        let got = xml(&[
            b"<?xml version=\"1.0\"?>\n<a>\n  <!-- ",
            LATIN2,
            b" -->\n</a>\n",
        ]);
        assert_eq!(
            got,
            Err(
                "s.xml:3:10: not valid UTF-8 (byte 0xBF); a file without an encoding \
                 declaration must be UTF-8; for an ISO-8859-2 file, make its first line \
                 <?xml version=\"1.0\" encoding=\"ISO-8859-2\"?>"
                    .to_string()
            )
        );
        let got = xml(&[b"<a>", LATIN2, b"</a>"]);
        assert!(
            got.as_ref()
                .is_err_and(|e| e.starts_with("s.xml:1:6: not valid UTF-8 (byte 0xBF)")),
            "{got:?}"
        );
        // Declared UTF-8.
        let got = xml(&[b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<a>\xb3</a>"]);
        assert_eq!(
            got,
            Err(
                "s.xml:2:4: not valid UTF-8 (byte 0xB3); the XML declaration says UTF-8; if \
                 the file is ISO-8859-2, declare encoding=\"ISO-8859-2\""
                    .to_string()
            )
        );
        // Declared Shift_JIS: a lead byte followed by a blank.
        let got =
            xml(&[b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?>\n<a>\n\x82\xa0x\x81 </a>"]);
        assert_eq!(
            got,
            Err(
                "s.xml:3:3: not valid Shift_JIS (byte 0x81); the XML declaration says Shift_JIS"
                    .to_string()
            )
        );
        // UTF-16 with a byte order mark and an unpaired surrogate.
        let got = xml(&[b"\xff\xfe<\x00\n\x00a\x00\x00\xd8>\x00"]);
        assert_eq!(
            got,
            Err(
                "s.xml:2:2: not valid UTF-16LE (bytes 0x00 0xD8); the file starts with a \
                 UTF-16LE byte order mark"
                    .to_string()
            )
        );
    }

    #[test]
    fn xml_unknown_or_impossible_encodings_are_refused_at_the_attribute() {
        let got = xml(&[b"<?xml version=\"1.0\"\n   encoding=\"latin-99\"?><a/>"]);
        assert_eq!(
            got,
            Err(
                "s.xml:2:4: XML declaration attribute `encoding`: invalid value `latin-99`: \
                 unknown encoding; use a name such as UTF-8, ISO-8859-2 or windows-1250"
                    .to_string()
            )
        );
        let got = xml(&[b"<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>"]);
        assert!(
            got.as_ref().is_err_and(|e| e.starts_with(
                "s.xml:1:21: XML declaration attribute `encoding`: invalid value `UTF-16`: \
                 the file has no UTF-16 byte order mark"
            )),
            "{got:?}"
        );
        let got = xml(&[b"<?xml version=\"1.0\" encoding=\"ISO-2022-KR\"?><a/>"]);
        assert!(
            got.as_ref().is_err_and(|e| e.contains("is not supported")),
            "{got:?}"
        );
        // Something that is not a declaration is left to the XML parser.
        assert_eq!(
            xml(&[b"<?xml-stylesheet encoding=\"x\"?><a/>"]).map(|_| ()),
            Ok(())
        );
        assert_eq!(
            xml(&[b"<?xml version=\"1.0\" encoding?><a/>"]).map(|_| ()),
            Ok(())
        );
    }

    // --- the loaders read through these ------------------------------------------------------

    #[test]
    fn every_loader_accepts_a_latin2_comment_and_locates_other_latin2_bytes() {
        use crate::config::{surealived_cfg, xml};
        use crate::formats::{dumps, ipvsfull};

        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, parts: &[&[u8]]| {
            let p = dir.path().join(name);
            fs::write(&p, bytes(parts)).expect("write");
            p
        };
        let error_at = |e: Error, p: &Path, at: &str| {
            let want = format!("{}:{at}: not valid UTF-8", p.display());
            assert!(e.to_string().starts_with(&want), "{e}\nwant: {want}");
        };

        // surealived.cfg
        let p = write("surealived.cfg", &[b"# ", LATIN2, b"\nmaxfd 2048\n"]);
        let cfg = surealived_cfg::load_main_cfg(&p).expect("comment");
        assert_eq!(cfg.maxfd, 2048);
        let p = write("bad.cfg", &[b"maxfd 2048\n  # ", LATIN2, b"\n"]);
        error_at(
            surealived_cfg::load_main_cfg(&p).expect_err("indented"),
            &p,
            "2:7",
        );

        // ipvsfull.cfg
        let full = "meta version=1.0 mdate=2024-05-01 mtime=12:00:00\n\nDIFF file=/tmp/d\n\n";
        let p = write("ipvsfull.cfg", &[b"  # ", LATIN2, b"\n", full.as_bytes()]);
        ipvsfull::FullConfig::load(&p).expect("comment");
        let p = write(
            "bad-full.cfg",
            &[full.as_bytes(), b"virtual vname=", LATIN2, b"\n"],
        );
        error_at(
            ipvsfull::FullConfig::load(&p).expect_err("name"),
            &p,
            "5:17",
        );

        // dumps have no comments
        let p = write("offline.dump", &[b"# ", LATIN2, b"\n"]);
        error_at(
            dumps::OfflineDump::load(&p).expect_err("no comments"),
            &p,
            "1:5",
        );

        // XML
        let p = write(
            "services.xml",
            &[
                b"<?xml version=\"1.0\" encoding=\"ISO-8859-2\"?>\n<!-- ",
                LATIN2,
                b" -->\n<surealived>\n<virtual name=\"static\" addr=\"192.0.2.40\" port=\"80\" \
                  proto=\"tcp\" sched=\"wrr\" rt=\"dr\">\n  <tester proto=\"no-test\"/>\n  \
                  <real name=\"st1\" addr=\"198.51.100.51\" port=\"80\" weight=\"1\"/>\n</virtual>\n\
                  </surealived>\n",
            ],
        );
        let registry = xml::TesterRegistry::builtin();
        xml::load_service_xml(&p, &registry).unwrap_or_else(|e| panic!("{e}"));
        let p = write(
            "bad.xml",
            &[b"<surealived>\n<!-- ", LATIN2, b" -->\n</surealived>\n"],
        );
        error_at(
            xml::load_service_xml(&p, &registry).expect_err("undeclared"),
            &p,
            "2:8",
        );
    }

    // --- write_atomic -----------------------------------------------------------------------

    fn names_in(dir: &Path) -> Vec<std::ffi::OsString> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .expect("readdir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("state.dump");
        write_atomic(&p, b"one\n").expect("first write");
        write_atomic(&p, b"two\n").expect("second write");
        assert_eq!(fs::read(&p).expect("read"), b"two\n");
        assert_eq!(
            names_in(dir.path()),
            vec![std::ffi::OsString::from("state.dump")]
        );
    }

    #[test]
    fn write_atomic_into_missing_directory_fails_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("no/such/dir/x.dump");
        let e = write_atomic(&p, b"x").expect_err("must fail");
        assert!(e.to_string().contains("x.dump"), "{e}");
    }

    #[test]
    fn write_atomic_keeps_the_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("override.dump");
        fs::write(&p, b"old\n").expect("write");
        for mode in [0o640, 0o604, 0o600] {
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod");
            write_atomic(&p, b"new\n").expect("write_atomic");
            let m = fs::metadata(&p).expect("stat");
            assert_eq!(m.permissions().mode() & 0o7777, mode, "{mode:o}");
            assert_eq!(fs::read(&p).expect("read"), b"new\n");
        }
    }

    #[test]
    fn write_atomic_keeps_the_owner_when_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("stats.dump");
        fs::write(&p, b"old\n").expect("write");
        if fs::metadata(&p).expect("stat").uid() != 0 {
            // Not root: the owner cannot be given away; the group is kept when allowed.
            write_atomic(&p, b"new\n").expect("write_atomic");
            return;
        }
        std::os::unix::fs::chown(&p, Some(4321), Some(8765)).expect("chown");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o2640)).expect("chmod");
        write_atomic(&p, b"new\n").expect("write_atomic");
        let m = fs::metadata(&p).expect("stat");
        assert_eq!((m.uid(), m.gid()), (4321, 8765));
        assert_eq!(m.permissions().mode() & 0o7777, 0o2640);
        assert_eq!(fs::read(&p).expect("read"), b"new\n");
    }

    #[test]
    fn write_atomic_through_a_symlink_replaces_the_target_and_keeps_the_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real_dir = dir.path().join("real");
        fs::create_dir(&real_dir).expect("mkdir");
        let target = real_dir.join("notify.dump");
        fs::write(&target, b"old\n").expect("write");
        fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).expect("chmod");
        // A relative link in another directory, and a link to that link.
        let link = dir.path().join("notify.dump");
        symlink("real/notify.dump", &link).expect("symlink");
        let link2 = dir.path().join("again.dump");
        symlink(&link, &link2).expect("symlink");

        write_atomic(&link, b"one\n").expect("through the link");
        write_atomic(&link2, b"two\n").expect("through two links");

        for l in [&link, &link2] {
            assert!(fs::symlink_metadata(l)
                .expect("lstat")
                .file_type()
                .is_symlink());
        }
        assert_eq!(
            fs::read_link(&link).expect("readlink"),
            Path::new("real/notify.dump")
        );
        assert_eq!(fs::read(&target).expect("read"), b"two\n");
        assert_eq!(
            fs::metadata(&target).expect("stat").permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(
            names_in(&real_dir),
            vec![std::ffi::OsString::from("notify.dump")]
        );
        assert_eq!(
            names_in(dir.path()).len(),
            3,
            "again.dump, notify.dump, real"
        );

        // A dangling link gets its target created.
        let dangling = dir.path().join("new.dump");
        symlink("real/new.dump", &dangling).expect("symlink");
        write_atomic(&dangling, b"x\n").expect("dangling");
        assert_eq!(fs::read(real_dir.join("new.dump")).expect("read"), b"x\n");
        assert!(fs::symlink_metadata(&dangling)
            .expect("lstat")
            .file_type()
            .is_symlink());

        // A loop is an error naming the path.
        let a = dir.path().join("loop-a");
        symlink("loop-b", &a).expect("symlink");
        symlink("loop-a", dir.path().join("loop-b")).expect("symlink");
        let e = write_atomic(&a, b"x").expect_err("loop");
        assert!(e.to_string().contains("loop-a"), "{e}");
    }
}
