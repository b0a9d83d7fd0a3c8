//! The diff files `<diff_sync_dir>/diff_sync.<unix-seconds>`: one line per change of a real,
//! appended by surealived and followed by ipvssync like `tail -f`.
//!
//! ```text
//! cmd=addreal vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt=dr vsched=wrr rname=a raddr=10.1.0.1 rport=80 rweight=10
//! cmd=chgreal vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt=dr vsched=wrr rname=a raddr=10.1.0.1 rport=80 rweight=10
//! DIFF file=/var/lib/surealived/diffs/diff_sync.1714564860
//! ```
//!
//! * [`DiffLine`] is one line, [`DiffLine::write`] its exact bytes;
//! * [`DiffReader`] turns appended bytes into complete lines (a partial last line waits for its
//!   newline), keeps the byte offset it consumed, and reports a bad line without stopping;
//! * [`real_change`] gives the lines surealived writes for one changed real (one `delreal`, or
//!   `addreal` then `chgreal`);
//! * [`apply_to_table`] applies a record to a [`Table`] as ipvssync does;
//! * [`diff_file_name`] and [`obsolete_diffs`] name the files and pick those to clean up.

use std::ffi::OsStr;
use std::fmt;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::error::{Location, ParseError, ParseErrorKind};
use crate::model::{ApplyError, Destination, Operation, Scheduler, ServiceKey, Table};

use super::ipvsfull::line::{self, Pairs, Vocabulary, Warnings};
use super::ipvsfull::{service_key, write_real_tail, Rt, VProto, DEFAULT_FWMARK};
use super::MAX_WARNINGS;

/// The longest line [`DiffReader`] buffers; a longer one is reported as an error and skipped.
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// What a diff record does to its real.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiffCmd {
    /// `addreal`: add the destination unless it exists.
    AddReal,
    /// `chgreal`: update the destination's weight, thresholds and forwarding.
    ChgReal,
    /// `delreal`: delete the destination.
    DelReal,
}

impl DiffCmd {
    /// The spelling after `cmd=`.
    pub fn as_str(self) -> &'static str {
        match self {
            DiffCmd::AddReal => "addreal",
            DiffCmd::ChgReal => "chgreal",
            DiffCmd::DelReal => "delreal",
        }
    }

    /// Parses `addreal`, `chgreal` or `delreal`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "addreal" => Some(DiffCmd::AddReal),
            "chgreal" => Some(DiffCmd::ChgReal),
            "delreal" => Some(DiffCmd::DelReal),
            _ => None,
        }
    }
}

impl fmt::Display for DiffCmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `cmd=` line: the command, its virtual and its real.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DiffRecord {
    /// `cmd`.
    pub cmd: DiffCmd,
    /// `vname` (`not-defined` when absent).
    pub vname: String,
    /// `vproto`.
    pub vproto: VProto,
    /// `vaddr`.
    pub vaddr: IpAddr,
    /// `vport`.
    pub vport: u16,
    /// `vfwmark` (always written; a fwmark virtual read without a non-zero one gets 300).
    pub vfwmark: u32,
    /// `vrt` (mandatory here; ipvssync itself takes the default from the full file).
    pub vrt: Rt,
    /// `vsched`.
    pub vsched: Scheduler,
    /// `rname` (`not-defined` when absent).
    pub rname: String,
    /// `raddr`.
    pub raddr: IpAddr,
    /// `rport`.
    pub rport: u16,
    /// `rweight` (default 1).
    pub rweight: u32,
    /// `rl_thresh` (old spelling `rlthresh`), 0 = none, written only when > 0. Never above
    /// `ru_thresh`, even when that is 0 (the kernel's `ERANGE`); the reader rejects such a line.
    pub rl_thresh: u32,
    /// `ru_thresh` (old spelling `ruthresh`), 0 = none, written only when > 0.
    pub ru_thresh: u32,
    /// `rrt` as the line gives it, `None` when absent. An explicit `rrt` wins over every default,
    /// also when it equals `vrt`, and is written back as it is. Without it the destination takes
    /// the full file's `vrt` (see [`apply_to_table`]). surealived writes `rrt` only when the
    /// real's method differs from the virtual's: set `None` in that case to write its bytes.
    pub rrt: Option<Rt>,
}

impl DiffRecord {
    /// The service the record designates (see [`service_key`]).
    pub fn service_key(&self) -> ServiceKey {
        service_key(self.vproto, self.vaddr, self.vport, self.vfwmark)
    }

    /// The destination the record describes, with forwarding method `rt`.
    fn destination(&self, rt: Rt) -> Destination {
        Destination {
            addr: self.raddr,
            port: self.rport,
            weight: self.rweight,
            upper_threshold: self.ru_thresh,
            lower_threshold: self.rl_thresh,
            forwarding: rt.forwarding(),
        }
    }

    /// The record's exact line, newline included.
    pub fn write(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "cmd={} vname={} vproto={} vaddr={} vport={} vfwmark={} vrt={} vsched={} \
             rname={} raddr={} rport={} rweight={}",
            self.cmd,
            self.vname,
            self.vproto,
            self.vaddr,
            self.vport,
            self.vfwmark,
            self.vrt,
            self.vsched,
            self.rname,
            self.raddr,
            self.rport,
            self.rweight
        );
        write_real_tail(&mut s, self.rl_thresh, self.ru_thresh, self.rrt);
        s.push('\n');
        s
    }
}

/// One line of a diff file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DiffLine {
    /// A change of a real.
    Record(DiffRecord),
    /// `DIFF file=<path>`: this file is finished, continue with `path`.
    Next(String),
}

const RECORD_VOCAB: Vocabulary = Vocabulary {
    keys: &[
        "cmd",
        "vname",
        "vproto",
        "vaddr",
        "vport",
        "vfwmark",
        "vrt",
        "vsched",
        "rname",
        "raddr",
        "rport",
        "rweight",
        "rl_thresh",
        "ru_thresh",
        "rrt",
    ],
    aliases: &[("rlthresh", "rl_thresh"), ("ruthresh", "ru_thresh")],
    // ipvssync reads a diff line's service with the full file's parser, so these are accepted;
    // they mean nothing for a real.
    tolerated: &["vpers", "vops"],
    keyword: None,
};

impl DiffLine {
    /// The line's exact bytes, newline included.
    pub fn write(&self) -> String {
        match self {
            DiffLine::Record(r) => r.write(),
            DiffLine::Next(path) => format!("DIFF file={path}\n"),
        }
    }

    /// Parses one line (without its newline): the line and the warnings about what was ignored
    /// in it, or `Ok(None)` for a blank line, which ipvssync skips. `label` and `lineno` locate
    /// errors and warnings. At most [`MAX_WARNINGS`] warnings are kept, then one says how many
    /// more were suppressed.
    ///
    /// A line beginning with `DIFF` is a chain line (`DIFF file=<path>`, read like the original's
    /// `sscanf("DIFF file=%s")`); any other line is a record, which needs `cmd`, `vproto`,
    /// `vaddr`, `vport`, `vrt`, `vsched`, `raddr` and `rport`, and whose real the kernel would
    /// accept: a lower threshold not above the upper one (even when that is 0), a unicast
    /// `raddr`, of the family of `vaddr` unless the real is tunnelled (`rrt`, or `vrt`, `tun`).
    pub fn parse(
        text: &str,
        label: &str,
        lineno: u32,
    ) -> Result<Option<(DiffLine, Vec<ParseError>)>, ParseError> {
        let mut warnings = Warnings::default();
        let line = Self::parse_into(text, label, lineno, &mut warnings)?;
        Ok(line.map(|l| (l, warnings.finish(label))))
    }

    /// [`DiffLine::parse`], with the warnings going to `warnings`.
    fn parse_into(
        text: &str,
        label: &str,
        lineno: u32,
        warnings: &mut Warnings,
    ) -> Result<Option<DiffLine>, ParseError> {
        let l = line::trim(text);
        if l.is_empty() {
            return Ok(None);
        }
        let loc = || Location::new(label, lineno, None);
        if let Some(rest) = l.strip_prefix("DIFF") {
            let path = rest
                .trim_start_matches(line::SEPARATORS)
                .strip_prefix("file=")
                .map(|p| p.trim_start_matches(line::SEPARATORS))
                .and_then(|p| p.split(line::SEPARATORS).next())
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    ParseError::new(
                        loc(),
                        None,
                        ParseErrorKind::Malformed("expected `DIFF file=<path>`".into()),
                    )
                })?;
            return Ok(Some(DiffLine::Next(path.to_string())));
        }
        let p = Pairs::lex(l, label, lineno, &RECORD_VOCAB, warnings);
        let record = parse_record(&p, warnings)?;
        Ok(Some(DiffLine::Record(record)))
    }
}

fn parse_record(p: &Pairs<'_>, warnings: &mut Warnings) -> Result<DiffRecord, ParseError> {
    let cmd_text = p.required("cmd")?;
    let cmd = DiffCmd::parse(cmd_text).ok_or_else(|| {
        p.invalid(
            "cmd",
            cmd_text,
            "expected addreal, chgreal or delreal".into(),
        )
    })?;
    let vproto = p.vproto("vproto")?;
    let vaddr = p.addr("vaddr")?;
    let vport = p.port("vport")?;
    let vsched = p.sched("vsched")?;
    let mut vfwmark = p.u32_or("vfwmark", 0)?;
    if vproto == VProto::Fwmark && vfwmark == 0 {
        if p.get("vfwmark").is_some() {
            p.warn(
                warnings,
                "vfwmark",
                format!("a fwmark virtual needs a non-zero mark; {DEFAULT_FWMARK} is used"),
            );
        }
        vfwmark = DEFAULT_FWMARK;
    }
    let vrt = p.rt("vrt")?.ok_or_else(|| {
        p.line_error(ParseErrorKind::Missing {
            what: "key",
            name: "vrt".into(),
        })
    })?;
    let raddr = p.addr("raddr")?;
    let rport = p.port("rport")?;
    let rrt = p.rt("rrt")?;
    let record = DiffRecord {
        cmd,
        vname: p.name("vname"),
        vproto,
        vaddr,
        vport,
        vfwmark,
        vrt,
        vsched,
        rname: p.name("rname"),
        raddr,
        rport,
        rweight: p.weight_or("rweight", 1)?,
        rl_thresh: p.u32_or("rl_thresh", 0)?,
        ru_thresh: p.u32_or("ru_thresh", 0)?,
        rrt,
    };
    p.check_destination(
        &record.destination(rrt.unwrap_or(vrt)),
        &record.service_key(),
    )?;
    Ok(record)
}

/// The lines surealived writes when a real's `online` or `rstate` changes: one `delreal` when
/// the real leaves IPVS (`present == false`: DOWN, or failed with `remove_on_fail`), otherwise
/// `addreal` then `chgreal` with identical fields. `base.cmd` is ignored.
pub fn real_change(base: &DiffRecord, present: bool) -> Vec<DiffRecord> {
    let with = |cmd| DiffRecord {
        cmd,
        ..base.clone()
    };
    if present {
        vec![with(DiffCmd::AddReal), with(DiffCmd::ChgReal)]
    } else {
        vec![with(DiffCmd::DelReal)]
    }
}

/// The bytes of [`real_change`], ready to append to the current diff file.
pub fn write_real_change(base: &DiffRecord, present: bool) -> String {
    real_change(base, present)
        .iter()
        .map(DiffRecord::write)
        .collect()
}

/// The bytes of several lines.
pub fn write_lines(lines: &[DiffLine]) -> String {
    lines.iter().map(DiffLine::write).collect()
}

/// What [`DiffReader`] reports for one non-blank line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffEvent {
    /// 1-based line number in the file.
    pub line: u32,
    /// The line, or why it was rejected (the reader goes on with the next line).
    pub result: Result<DiffLine, ParseError>,
    /// What the parser ignored in an accepted line.
    pub warnings: Vec<ParseError>,
}

/// Reads a diff file incrementally, as it grows.
///
/// Feed it the bytes appended since the last call; it returns one [`DiffEvent`] per complete
/// non-blank line. A partial last line is kept until its newline arrives (the original ipvssync
/// would split it in two). [`DiffReader::offset`] is the byte offset just after the last complete
/// line, where a restarted reader resumes ([`DiffReader::resume`]). A line longer than
/// [`MAX_LINE_LEN`] is reported as an error and skipped without being buffered.
///
/// At most [`MAX_WARNINGS`] warnings are reported for the file (from the reader's start): the
/// event where the limit is reached gets one more warning saying that later ones are
/// suppressed, and [`DiffReader::suppressed_warnings`] counts them.
#[derive(Debug, Clone)]
pub struct DiffReader {
    label: String,
    pending: Vec<u8>,
    overlong: bool,
    /// Bytes of the current (incomplete) line fed so far, buffered or not.
    line_bytes: u64,
    offset: u64,
    line: u32,
    /// Warnings reported so far.
    warnings_kept: usize,
    /// Warnings counted but not reported.
    warnings_suppressed: u64,
}

impl DiffReader {
    /// A reader at the start of a file; `label` (usually the path) names it in errors.
    pub fn new(label: impl Into<String>) -> Self {
        Self::resume(label, 0, 0)
    }

    /// A reader resuming after `lines` complete lines ending at byte `offset`.
    pub fn resume(label: impl Into<String>, offset: u64, lines: u32) -> Self {
        Self {
            label: label.into(),
            pending: Vec::new(),
            overlong: false,
            line_bytes: 0,
            offset,
            line: lines,
            warnings_kept: 0,
            warnings_suppressed: 0,
        }
    }

    /// How many warnings of accepted lines were not reported because [`MAX_WARNINGS`] had been
    /// reached.
    pub fn suppressed_warnings(&self) -> u64 {
        self.warnings_suppressed
    }

    /// The label given at construction.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The byte offset just after the last complete line consumed.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The number of complete lines consumed.
    pub fn lines(&self) -> u32 {
        self.line
    }

    /// The bytes of the partial last line waiting for its newline (empty while an overlong line
    /// is being skipped).
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }

    /// Consumes appended bytes and returns the events of the lines they complete.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<DiffEvent> {
        let mut events = Vec::new();
        while !bytes.is_empty() {
            let (chunk, complete) = match bytes.iter().position(|b| *b == b'\n') {
                Some(i) => (&bytes[..i], true),
                None => (bytes, false),
            };
            bytes = &bytes[chunk.len() + usize::from(complete)..];
            self.line_bytes += chunk.len() as u64;
            if !self.overlong {
                if self.pending.len() + chunk.len() > MAX_LINE_LEN {
                    self.overlong = true;
                    self.pending.clear();
                } else {
                    self.pending.extend_from_slice(chunk);
                }
            }
            if !complete {
                break;
            }
            self.line = self.line.saturating_add(1);
            self.offset += self.line_bytes + 1;
            let event = if self.overlong {
                Some(self.error(format!("line longer than {MAX_LINE_LEN} bytes; skipped")))
            } else {
                self.parse_pending()
            };
            events.extend(event);
            self.pending.clear();
            self.overlong = false;
            self.line_bytes = 0;
        }
        events
    }

    fn error(&self, msg: String) -> DiffEvent {
        DiffEvent {
            line: self.line,
            result: Err(ParseError::new(
                Location::new(self.label.clone(), self.line, None),
                None,
                ParseErrorKind::Malformed(msg),
            )),
            warnings: Vec::new(),
        }
    }

    fn parse_pending(&mut self) -> Option<DiffEvent> {
        let Ok(text) = std::str::from_utf8(&self.pending) else {
            return Some(self.error("line is not valid UTF-8".into()));
        };
        let mut w = Warnings::new(MAX_WARNINGS.saturating_sub(self.warnings_kept));
        match DiffLine::parse_into(text, &self.label, self.line, &mut w) {
            Ok(None) => None,
            Ok(Some(l)) => {
                let suppressed = w.suppressed();
                let mut warnings = w.into_kept();
                self.warnings_kept += warnings.len();
                if suppressed > 0 {
                    if self.warnings_suppressed == 0 {
                        warnings.push(ParseError::new(
                            Location::new(self.label.clone(), self.line, None),
                            None,
                            ParseErrorKind::Structure(format!(
                                "more than {MAX_WARNINGS} warnings in this file; the later ones \
                                 are suppressed"
                            )),
                        ));
                    }
                    self.warnings_suppressed += suppressed;
                }
                Some(DiffEvent {
                    line: self.line,
                    result: Ok(l),
                    warnings,
                })
            }
            Err(e) => Some(DiffEvent {
                line: self.line,
                result: Err(e),
                warnings: Vec::new(),
            }),
        }
    }
}

/// Parses a whole diff text at once: the events of every complete line (a last line without
/// newline is not included; see [`DiffReader`]).
pub fn parse_all(text: &[u8], label: &str) -> Vec<DiffEvent> {
    DiffReader::new(label).feed(text)
}

/// The path of the diff file opened at `unix_secs`: `<dir>/diff_sync.<unix_secs>`.
pub fn diff_file_name(dir: &Path, unix_secs: u64) -> PathBuf {
    dir.join(format!("{DIFF_PREFIX}{unix_secs}"))
}

/// The prefix of every diff file name.
pub const DIFF_PREFIX: &str = "diff_sync.";

/// The names (of entries of the diff directory) that ipvssync's periodic cleanup deletes: those
/// starting with `diff_sync.` that sort byte-wise before the current diff file's name (`current`
/// may be a full path; its last component is used). The original deletes every name sorting
/// before, whatever it is; only diff files are picked here.
pub fn obsolete_diffs<I, S>(names: I, current: &Path) -> Vec<S>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let current = current.file_name().unwrap_or(current.as_os_str());
    let current = current.as_encoded_bytes();
    names
        .into_iter()
        .filter(|n| {
            let b = n.as_ref().as_encoded_bytes();
            b.starts_with(DIFF_PREFIX.as_bytes()) && b < current
        })
        .collect()
}

/// Applies one record to `table` as ipvssync applies it to its in-memory config (3.9.3), and
/// returns the operation to push to the kernel.
///
/// * The service is looked up by [`DiffRecord::service_key`]; absent → `NoSuchService` (the
///   original logs "Can't find virtual" and goes on).
/// * The destination takes `rweight`, the thresholds and `rrt` (an explicit one always wins,
///   also when it equals `vrt`), or, without `rrt`, the forwarding method `default_rt` gives for
///   the service (the full file's `vrt`, see [`super::ipvsfull::FullConfig::default_rt`]),
///   falling back to the record's own `vrt`.
/// * A destination the kernel would refuse fails with `InvalidDestination` (a parsed record
///   never has one).
/// * `addreal` of an existing destination is ignored (`Ok(None)`); `chgreal` updates the
///   destination and `delreal` deletes it, both failing with `NoSuchDestination` when it is
///   absent.
pub fn apply_to_table(
    record: &DiffRecord,
    table: &mut Table,
    default_rt: impl FnOnce(&ServiceKey) -> Option<Rt>,
) -> Result<Option<Operation>, ApplyError> {
    let service = record.service_key();
    if table.get(&service).is_none() {
        return Err(ApplyError::NoSuchService(service));
    }
    let rt = match record.rrt {
        Some(rt) => rt,
        None => default_rt(&service).unwrap_or(record.vrt),
    };
    let dest = record.destination(rt);
    let exists = table.destination(&service, &dest.key()).is_some();
    let op = match record.cmd {
        DiffCmd::AddReal if exists => return Ok(None),
        DiffCmd::AddReal => Operation::AddDestination { service, dest },
        DiffCmd::ChgReal => Operation::EditDestination { service, dest },
        DiffCmd::DelReal => Operation::DeleteDestination {
            service,
            dest: dest.key(),
        },
    };
    table.apply(&op)?;
    Ok(Some(op))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_picks_older_diff_files_only() {
        let names = [
            "diff_sync.1700000000",
            "diff_sync.1700000060",
            "diff_sync.1700000120",
            "README",
            "a-file",
        ];
        let got = obsolete_diffs(
            names,
            Path::new("/var/lib/surealived/diffs/diff_sync.1700000060"),
        );
        assert_eq!(got, vec!["diff_sync.1700000000"]);
        assert_eq!(
            diff_file_name(Path::new("/d"), 1_700_000_000),
            PathBuf::from("/d/diff_sync.1700000000")
        );
    }

    #[test]
    fn overlong_line_is_reported_and_skipped() {
        let mut r = DiffReader::new("d");
        let long = vec![b'x'; MAX_LINE_LEN + 10];
        assert!(r.feed(&long).is_empty());
        assert!(r.pending().is_empty());
        let ev = r.feed(b"\nDIFF file=/x\n");
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].line, 1);
        assert!(ev[0].result.is_err());
        assert_eq!(ev[1].result, Ok(DiffLine::Next("/x".into())));
        assert_eq!(ev[1].line, 2);
        assert_eq!(r.offset(), (MAX_LINE_LEN + 10 + 1 + 13) as u64);
    }
}
