//! The NECP codec: the first byte seeds the chunk sizes, the rest is a byte stream fed to a
//! `FrameDecoder` in those chunks. The frames must be the same as when the stream is pushed at
//! once; each frame that decodes re-encodes to its own bytes (unsigned) or, signed, to the same
//! header and payload with a credential that verifies; every unit goes through every typed view,
//! and a view that accepts a unit gives it back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_necp::codec::{
    DecodeError, ExceptionUnit, Frame, FrameDecoder, HealthAnswer, HealthQuery, InitAckUnit,
    InitUnit, Key, Message, ServiceUnit, Unit, UnitError, CREDENTIAL_LEN,
};

/// A small bound, so that over-long announced lengths are exercised too.
const MAX_PAYLOAD: u32 = 4096;

fn cut(stream: &[u8], seed: u8) -> (Vec<Frame>, Option<DecodeError>) {
    let mut dec = FrameDecoder::new(MAX_PAYLOAD);
    let mut frames = vec![];
    let mut state = u32::from(seed) | 1;
    let mut rest = stream;
    loop {
        loop {
            match dec.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
        if rest.is_empty() {
            return (frames, None);
        }
        // xorshift: chunks of 1..=64 bytes.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state as usize % 64 + 1).min(rest.len());
        dec.push(&rest[..n]);
        rest = &rest[n..];
    }
}

fn view<T: Into<Unit> + for<'a> TryFrom<&'a Unit, Error = UnitError>>(u: &Unit) {
    if let Ok(t) = T::try_from(u) {
        assert_eq!(t.into(), *u);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let (frames, err) = cut(stream, seed);
    let (whole, whole_err) = {
        let mut dec = FrameDecoder::new(MAX_PAYLOAD);
        dec.push(stream);
        let mut v = vec![];
        let e = loop {
            match dec.next_frame() {
                Ok(Some(f)) => v.push(f),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        (v, e)
    };
    assert_eq!(frames, whole);
    assert_eq!(err, whole_err);

    let key = Key::new(b"fuzz");
    for f in &frames {
        assert_eq!(Frame::from_bytes(f.as_bytes().to_vec()).as_ref(), Ok(f));
        let Ok(m) = Message::decode(f) else {
            continue;
        };
        let bytes = f.as_bytes();
        if f.is_signed() {
            let again = m.to_bytes(Some(&key));
            let n = bytes.len() - CREDENTIAL_LEN;
            assert_eq!(again.len(), bytes.len());
            assert_eq!(again[..n], bytes[..n]);
            let again = Frame::from_bytes(again).expect("an encoded message is a frame");
            assert!(again.verify(&key));
            if f.verify(&key) {
                assert_eq!(again.as_bytes(), bytes);
            }
        } else {
            assert!(!f.verify(&key));
            assert_eq!(m.to_bytes(None), bytes);
        }
        assert_eq!(m.encoded_len(f.is_signed()), bytes.len());
        for u in m.units() {
            view::<InitUnit>(u);
            view::<InitAckUnit>(u);
            view::<HealthQuery>(u);
            view::<HealthAnswer>(u);
            view::<ServiceUnit>(u);
            view::<ExceptionUnit>(u);
            let _ = ServiceUnit::try_from(u).map(|s| (s.lvs_protocol(), s.lvs_forwarding()));
        }
    }
});
