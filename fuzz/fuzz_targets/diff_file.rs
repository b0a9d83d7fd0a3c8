//! Diff file round trip through the incremental reader: the accepted lines, written and read
//! again, are the same lines, without errors or warnings; and feeding the bytes in two pieces
//! gives the same events, offset and pending bytes as feeding them whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_core::formats::diffs::{write_lines, DiffLine, DiffReader, MAX_LINE_LEN};

fuzz_target!(|data: &[u8]| {
    // Keep written lines (which may gain default keys) below the reader's line limit.
    if data.len() > MAX_LINE_LEN / 2 {
        return;
    }
    let mut whole = DiffReader::new("fuzz");
    let events = whole.feed(data);

    let cut = data
        .first()
        .map_or(0, |b| usize::from(*b) % (data.len() + 1));
    let mut split = DiffReader::new("fuzz");
    let mut events2 = split.feed(&data[..cut]);
    events2.extend(split.feed(&data[cut..]));
    assert_eq!(events2, events);
    assert_eq!(split.offset(), whole.offset());
    assert_eq!(split.pending(), whole.pending());

    let lines: Vec<DiffLine> = events.into_iter().filter_map(|e| e.result.ok()).collect();
    let written = write_lines(&lines);
    let back: Vec<DiffLine> = DiffReader::new("written")
        .feed(written.as_bytes())
        .into_iter()
        .map(|e| {
            assert!(e.warnings.is_empty(), "{:?}", e.warnings);
            e.result.expect("a written line parses")
        })
        .collect();
    assert_eq!(back, lines);
    assert_eq!(write_lines(&back), written);
});
