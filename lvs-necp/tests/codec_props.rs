//! Property tests of the NECP codec: any message encodes and decodes to itself, signed or not;
//! any frame that decodes re-encodes to its own bytes; the typed unit views round-trip; the
//! framer cuts a stream the same way however it is split.

use std::net::Ipv4Addr;

use lvs_necp::codec::{
    ExceptionUnit, Flags, Frame, FrameDecoder, HealthAnswer, HealthQuery, InitAckUnit, InitUnit,
    Key, Message, NecpForwarding, Opcode, Payload, ServiceUnit, Unit, UnitError,
};
use proptest::prelude::*;

fn unit() -> impl Strategy<Value = Unit> {
    prop_oneof![
        any::<[u32; 8]>().prop_map(Unit),
        // Mostly small values, as real units have.
        proptest::array::uniform8(prop_oneof![Just(0u32), 0..=0xffffu32]).prop_map(Unit),
    ]
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        proptest::collection::vec(unit(), 0..12).prop_map(Payload::Units),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Payload::Opaque),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (
        any::<u16>(),
        any::<u8>(),
        any::<u8>(),
        any::<u16>(),
        any::<u64>(),
        payload(),
    )
        .prop_map(
            |(flags, version, opcode, request_id, seq_num, payload)| Message {
                flags: Flags::from_bits(flags)
                    .without(Flags::BASIC_PAYLOAD)
                    .without(Flags::AUTH_CREDENTIAL),
                version,
                opcode: Opcode::from(opcode),
                request_id,
                seq_num,
                payload,
            },
        )
}

fn decode_one(bytes: Vec<u8>) -> Message {
    Frame::from_bytes(bytes)
        .expect("a whole frame")
        .message()
        .expect("decodes")
}

proptest! {
    #[test]
    fn unsigned_round_trip(m in message()) {
        let bytes = m.to_bytes(None);
        prop_assert_eq!(bytes.len(), m.encoded_len(false));
        let frame = Frame::from_bytes(bytes.clone()).expect("a whole frame");
        prop_assert!(!frame.is_signed());
        prop_assert_eq!(frame.message().expect("decodes"), m.clone());
        prop_assert_eq!(decode_one(bytes.clone()).to_bytes(None), bytes);
    }

    #[test]
    fn signed_round_trip(m in message(), secret in proptest::collection::vec(any::<u8>(), 0..100)) {
        let key = Key::new(&secret);
        let bytes = m.to_bytes(Some(&key));
        prop_assert_eq!(bytes.len(), m.encoded_len(true));
        let frame = Frame::from_bytes(bytes.clone()).expect("a whole frame");
        prop_assert!(frame.is_signed());
        prop_assert!(frame.verify(&key));
        // (Not `push(0)`: HMAC pads the key with zeros, so `k` and `k || 0` are the same key.)
        let mut other = secret.clone();
        other.push(1);
        prop_assert!(!frame.verify(&Key::new(&other)));
        prop_assert_eq!(frame.message().expect("decodes"), m.clone());
        prop_assert_eq!(decode_one(bytes.clone()).to_bytes(Some(&key)), bytes);
    }

    /// Any bytes that make one frame and decode re-encode to themselves (unsigned).
    #[test]
    fn decoded_frames_re_encode(
        flags in any::<u16>(),
        head in any::<[u8; 14]>(),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let flags = flags & !Flags::AUTH_CREDENTIAL.bits();
        let mut bytes = vec![0x41, 0x4a];
        bytes.extend_from_slice(&flags.to_be_bytes());
        bytes.extend_from_slice(&head[..12]);
        bytes.extend_from_slice(&u32::try_from(body.len()).expect("short").to_be_bytes());
        bytes.extend_from_slice(&body);
        let frame = Frame::from_bytes(bytes.clone()).expect("a whole frame");
        if let Ok(m) = frame.message() {
            prop_assert_eq!(m.to_bytes(None), bytes);
        } else {
            prop_assert!(flags & 1 == 1 && body.len() % 32 != 0);
        }
    }

    /// The framer gives the same frames whatever the chunk sizes.
    #[test]
    fn framing_is_independent_of_chunking(
        ms in proptest::collection::vec(message(), 0..8),
        cuts in proptest::collection::vec(1usize..80, 1..40),
    ) {
        let stream: Vec<u8> = ms.iter().flat_map(|m| m.to_bytes(None)).collect();
        let mut dec = FrameDecoder::new(u32::MAX);
        let mut got = vec![];
        let mut rest = &stream[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = cuts[i % cuts.len()].min(rest.len());
            dec.push(&rest[..n]);
            rest = &rest[n..];
            i += 1;
            while let Some(f) = dec.next_frame().expect("in frame") {
                got.push(f.message().expect("decodes"));
            }
        }
        prop_assert_eq!(got, ms);
        prop_assert_eq!(dec.buffered(), 0);
    }

    /// Every typed view that accepts a unit gives it back unchanged.
    #[test]
    fn typed_views_are_lossless(u in unit()) {
        fn back<T: Into<Unit> + for<'a> TryFrom<&'a Unit, Error = UnitError>>(u: &Unit) -> Option<Unit> {
            T::try_from(u).ok().map(Into::into)
        }
        for got in [
            back::<InitUnit>(&u),
            back::<InitAckUnit>(&u),
            back::<HealthQuery>(&u),
            back::<HealthAnswer>(&u),
            back::<ServiceUnit>(&u),
            back::<ExceptionUnit>(&u),
        ].into_iter().flatten() {
            prop_assert_eq!(got, u);
        }
        let mut bytes = vec![];
        u.emit(&mut bytes);
        prop_assert_eq!(Unit::parse(&u.to_bytes()), u);
        prop_assert_eq!(bytes, u.to_bytes().to_vec());
    }

    #[test]
    fn init_round_trip(flags in any::<u32>(), initial_seq in any::<u64>()) {
        let v = InitUnit { flags, initial_seq };
        prop_assert_eq!(InitUnit::try_from(&Unit::from(v)), Ok(v));
    }

    #[test]
    fn init_ack_round_trip(initial_seq in any::<u64>()) {
        let v = InitAckUnit { initial_seq };
        prop_assert_eq!(InitAckUnit::try_from(&Unit::from(v)), Ok(v));
    }

    #[test]
    fn health_round_trip(query_type in any::<u32>(), protocol in any::<u8>(), port in any::<u16>(), value in any::<u32>()) {
        let query = HealthQuery { query_type, protocol, port };
        prop_assert_eq!(HealthQuery::try_from(&Unit::from(query)), Ok(query));
        let answer = HealthAnswer { query, value };
        prop_assert_eq!(HealthAnswer::try_from(&Unit::from(answer)), Ok(answer));
    }

    #[test]
    fn service_round_trip(forwarding in any::<u8>(), protocol in any::<u8>(), port in any::<u16>()) {
        let v = ServiceUnit { forwarding: NecpForwarding::from(forwarding), protocol, port };
        prop_assert_eq!(ServiceUnit::try_from(&Unit::from(v)), Ok(v));
    }

    #[test]
    fn exception_round_trip(
        scope in any::<u8>(), ttl in any::<u32>(), src in any::<u32>(), src_prefix in any::<u8>(),
        dst in any::<u32>(), dst_prefix in any::<u8>(), protocol in any::<u8>(), port in any::<u16>(),
    ) {
        let v = ExceptionUnit {
            scope, ttl, src: Ipv4Addr::from(src), src_prefix,
            dst: Ipv4Addr::from(dst), dst_prefix, protocol, port,
        };
        prop_assert_eq!(ExceptionUnit::try_from(&Unit::from(v)), Ok(v));
    }
}
