//! The NECP codec against annotated byte vectors (one per opcode of draft-cerpa-necp-02 §5,
//! see `reference/necp.md` §1.6), the draft's worked example of sequence numbers, an HMAC-SHA1
//! known answer, the stream framer and the errors.
//!
//! Each vector is hex with a comment per field (`#` to the end of the line). The test parses it,
//! compares the message with one built independently, encodes that message and compares the
//! bytes. `scripts/test-all.sh` also takes the `const` vectors of this file as fuzz seeds.

use std::net::Ipv4Addr;

use lvs_core::model::{Forwarding, Protocol, Tunnel};
use lvs_necp::codec::{
    DecodeError, ExceptionUnit, Flags, Frame, FrameDecoder, HealthAnswer, HealthQuery, InitAckUnit,
    InitUnit, Key, Message, NecpForwarding, Opcode, Payload, ServiceUnit, Unit, UnitError,
    DEFAULT_MAX_PAYLOAD, QUERY_HEALTH_INDEX,
};

/// The bytes of annotated hex: `#` starts a comment, white space separates bytes.
fn hex(annotated: &str) -> Vec<u8> {
    let digits: String = annotated
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split_whitespace())
        .collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digits"))
        .collect()
}

/// Parses the vector, compares with `expected`, encodes `expected` and compares the bytes; the
/// same through a `FrameDecoder`. Returns the message.
fn check(annotated: &str, expected: &Message) -> Message {
    let bytes = hex(annotated);
    let frame = Frame::from_bytes(bytes.clone()).expect("a whole frame");
    assert!(!frame.is_signed());
    let got = frame.message().expect("decodes");
    assert_eq!(&got, expected);
    assert_eq!(expected.to_bytes(None), bytes, "encoding of {expected:?}");
    assert_eq!(expected.encoded_len(false), bytes.len());

    let mut dec = FrameDecoder::new(DEFAULT_MAX_PAYLOAD);
    dec.push(&bytes);
    assert_eq!(dec.next_frame(), Ok(Some(frame)));
    assert_eq!(dec.next_frame(), Ok(None));
    assert_eq!(dec.buffered(), 0);
    got
}

fn units<T: Into<Unit>>(typed: impl IntoIterator<Item = T>) -> Vec<Unit> {
    typed.into_iter().map(Into::into).collect()
}

/// Every unit of `m` as the typed view `T`.
fn typed<T: for<'a> TryFrom<&'a Unit, Error = UnitError>>(m: &Message) -> Vec<T> {
    m.units()
        .iter()
        .map(|u| T::try_from(u).expect("a valid typed unit"))
        .collect()
}

/// `NECP_NOOP`, no payload and no flag.
const NOOP: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 00                   # flags: none
    01                      # version 1
    00                      # opcode 0x00 NECP_NOOP
    00 00                   # request_id 0
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 00             # payload_len 0
";

/// `NECP_INIT`, unauthenticated: data0 = 0 (no auth), no initial sequence number.
const INIT: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    01                      # version 1
    01                      # opcode 0x01 NECP_INIT
    00 01                   # request_id 1
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 20             # payload_len 32
    # unit 0
    00 00 00 00             # data0: flags 0 (no authentication)
    00 00 00 00             # data1: initial seq high 0
    00 00 00 00             # data2: initial seq low 0
    00 00 00 00             # data3: 0
    00 00 00 00             # data4: 0
    00 00 00 00             # data5: 0
    00 00 00 00             # data6: 0
    00 00 00 00             # data7: 0
";

/// `NECP_INIT_ACK` to it: no sequence number either.
const INIT_ACK: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    01                      # version 1
    02                      # opcode 0x02 NECP_INIT_ACK
    00 01                   # request_id 1
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 20             # payload_len 32
    # unit 0
    00 00 00 00             # data0: initial seq high 0
    00 00 00 00             # data1: initial seq low 0
    00 00 00 00             # data2: 0
    00 00 00 00             # data3: 0
    00 00 00 00             # data4: 0
    00 00 00 00             # data5: 0
    00 00 00 00             # data6: 0
    00 00 00 00             # data7: 0
";

/// `NECP_INIT_ACK` of an NE refusing unauthenticated sessions (§1.7): F_Error + F_Auth_Required, no unit.
const INIT_ACK_AUTH_REQUIRED: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 15                   # flags: F_Basic_Payload | F_Error | F_Auth_Required
    01                      # version 1
    02                      # opcode 0x02 NECP_INIT_ACK
    00 01                   # request_id 1
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 00             # payload_len 0
";

/// `NECP_KEEPALIVE`: the Health Index of TCP/80, request_id 7 (the example of necp.md §1.12).
const KEEPALIVE: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    01                      # version 1
    03                      # opcode 0x03 NECP_KEEPALIVE
    00 07                   # request_id 7
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 20             # payload_len 32
    # unit 0
    00 00 00 01             # data0: query type 1 (Health Index)
    00 00 00 06             # data1: protocol 6 (TCP)
    00 00 00 50             # data2: port 80
    00 00 00 00             # data3: 0
    00 00 00 00             # data4: 0
    00 00 00 00             # data5: 0
    00 00 00 00             # data6: 0
    00 00 00 00             # data7: 0
";

/// `NECP_KEEPALIVE_ACK` to it: data0..2 copied, data3 = health 75.
const KEEPALIVE_ACK: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    01                      # version 1
    04                      # opcode 0x04 NECP_KEEPALIVE_ACK
    00 07                   # request_id 7
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 20             # payload_len 32
    # unit 0
    00 00 00 01             # data0: query type 1 (Health Index)
    00 00 00 06             # data1: protocol 6 (TCP)
    00 00 00 50             # data2: port 80
    00 00 00 4b             # data3: health 75
    00 00 00 00             # data4: 0
    00 00 00 00             # data5: 0
    00 00 00 00             # data6: 0
    00 00 00 00             # data7: 0
";

/// `NECP_KEEPALIVE` with no query: F_Basic_Payload, a zero-length payload.
const KEEPALIVE_EMPTY: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    01                      # version 1
    03                      # opcode 0x03 NECP_KEEPALIVE
    00 08                   # request_id 8
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 00             # payload_len 0
";

/// `NECP_KEEPALIVE` with two queries: TCP/80 and an unsupported query type 2 on UDP/53.
const KEEPALIVE_TWO: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    01                      # version 1
    03                      # opcode 0x03 NECP_KEEPALIVE
    00 09                   # request_id 9
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 40             # payload_len 64
    # unit 0
    00 00 00 01             # data0: query type 1 (Health Index)
    00 00 00 06             # data1: protocol 6 (TCP)
    00 00 00 50             # data2: port 80
    00 00 00 00             # data3: 0
    00 00 00 00             # data4: 0
    00 00 00 00             # data5: 0
    00 00 00 00             # data6: 0
    00 00 00 00             # data7: 0
    # unit 1
    00 00 00 02             # data0: query type 2 (unsupported)
    00 00 00 11             # data1: protocol 17 (UDP)
    00 00 00 35             # data2: port 53
    00 00 00 00             # data3: 0
    00 00 00 00             # data4: 0
    00 00 00 00             # data5: 0
    00 00 00 00             # data6: 0
    00 00 00 00             # data7: 0
";

/// `NECP_KEEPALIVE_ACK` to it: F_Error and only the unsupported query echoed (§1.7).
const KEEPALIVE_ACK_UNSUPPORTED: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 05                   # flags: F_Basic_Payload | F_Error
    01                      # version 1
    04                      # opcode 0x04 NECP_KEEPALIVE_ACK
    00 09                   # request_id 9
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 20             # payload_len 32
    # unit 0
    00 00 00 02             # data0: query type 2 (unsupported)
    00 00 00 11             # data1: protocol 17 (UDP)
    00 00 00 35             # data2: port 53
    00 00 00 00             # data3: 0
    00 00 00 00             # data4: 0
    00 00 00 00             # data5: 0
    00 00 00 00             # data6: 0
    00 00 00 00             # data7: 0
";

/// `NECP_START` of two services: L2 TCP/80 and L3 UDP/53.
const START: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    01                      # version 1
    05                      # opcode 0x05 NECP_START
    01 02                   # request_id 258
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 40             # payload_len 64
    # unit 0
    00 00 00 01             # data0: forwarding 1 (L2)
    00 00 00 06             # data1: protocol 6 (TCP)
    00 00 00 50             # data2: port 80
    00 00 00 00             # data3: 0
    00 00 00 00             # data4: 0
    00 00 00 00             # data5: 0
    00 00 00 00             # data6: 0
    00 00 00 00             # data7: 0
    # unit 1
    00 00 00 03             # data0: forwarding 3 (L3)
    00 00 00 11             # data1: protocol 17 (UDP)
    00 00 00 35             # data2: port 53
    00 00 00 00             # data3: 0
    00 00 00 00             # data4: 0
    00 00 00 00             # data5: 0
    00 00 00 00             # data6: 0
    00 00 00 00             # data7: 0
";

/// `NECP_START_ACK`, success: no unit, F_Error clear.
const START_ACK: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    01                      # version 1
    06                      # opcode 0x06 NECP_START_ACK
    01 02                   # request_id 258
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 00             # payload_len 0
";

/// `NECP_START_ACK` with F_Error echoing the unit that failed (§1.7).
const START_ACK_FAILED: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 05                   # flags: F_Basic_Payload | F_Error
    01                      # version 1
    06                      # opcode 0x06 NECP_START_ACK
    01 02                   # request_id 258
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 20             # payload_len 32
    # unit 0
    00 00 00 03             # data0: forwarding 3 (L3)
    00 00 00 11             # data1: protocol 17 (UDP)
    00 00 00 35             # data2: port 53
    00 00 00 00             # data3: 0
    00 00 00 00             # data4: 0
    00 00 00 00             # data5: 0
    00 00 00 00             # data6: 0
    00 00 00 00             # data7: 0
";

/// `NECP_STOP` of GRE TCP/443.
const STOP: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    01                      # version 1
    07                      # opcode 0x07 NECP_STOP
    01 03                   # request_id 259
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 20             # payload_len 32
    # unit 0
    00 00 00 02             # data0: forwarding 2 (GRE)
    00 00 00 06             # data1: protocol 6 (TCP)
    00 00 01 bb             # data2: port 443
    00 00 00 00             # data3: 0
    00 00 00 00             # data4: 0
    00 00 00 00             # data5: 0
    00 00 00 00             # data6: 0
    00 00 00 00             # data7: 0
";

/// `NECP_STOP_ACK`, success.
const STOP_ACK: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    01                      # version 1
    08                      # opcode 0x08 NECP_STOP_ACK
    01 03                   # request_id 259
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 00             # payload_len 0
";

/// `NECP_EXCEPTION_ADD`: not TCP/80 from 192.0.2.0/24 to this SE, for 300 s.
const EXCEPTION_ADD: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    01                      # version 1
    20                      # opcode 0x20 NECP_EXCEPTION_ADD
    02 00                   # request_id 512
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 20             # payload_len 32
    # unit 0
    00 00 00 01             # data0: scope 1 (local)
    00 00 01 2c             # data1: TTL 300 s
    c0 00 02 00             # data2: source 192.0.2.0
    00 00 00 18             # data3: source prefix /24
    00 00 00 00             # data4: destination 0.0.0.0 (wildcard)
    00 00 00 00             # data5: destination prefix /0
    00 00 00 06             # data6: protocol 6 (TCP)
    00 00 00 50             # data7: port 80
";

/// `NECP_EXCEPTION_ADD_ACK`, success.
const EXCEPTION_ADD_ACK: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    01                      # version 1
    21                      # opcode 0x21 NECP_EXCEPTION_ADD_ACK
    02 00                   # request_id 512
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 00             # payload_len 0
";

/// `NECP_EXCEPTION_DEL` of two entries.
const EXCEPTION_DEL: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    01                      # version 1
    22                      # opcode 0x22 NECP_EXCEPTION_DEL
    02 01                   # request_id 513
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 40             # payload_len 64
    # unit 0
    00 00 00 01             # data0: scope 1 (local)
    00 00 01 2c             # data1: TTL 300 s
    c0 00 02 00             # data2: source 192.0.2.0
    00 00 00 18             # data3: source prefix /24
    00 00 00 00             # data4: destination 0.0.0.0 (wildcard)
    00 00 00 00             # data5: destination prefix /0
    00 00 00 06             # data6: protocol 6 (TCP)
    00 00 00 50             # data7: port 80
    # unit 1
    00 00 00 02             # data0: scope 2 (global)
    00 00 00 00             # data1: TTL 0 (static)
    c6 33 64 07             # data2: source 198.51.100.7
    00 00 00 20             # data3: source prefix /32
    cb 00 71 0a             # data4: destination 203.0.113.10
    00 00 00 20             # data5: destination prefix /32
    00 00 00 11             # data6: protocol 17 (UDP)
    00 00 00 00             # data7: port 0 (wildcard)
";

/// `NECP_EXCEPTION_DEL_ACK` with F_Error echoing the entry that could not be deleted.
const EXCEPTION_DEL_ACK_FAILED: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 05                   # flags: F_Basic_Payload | F_Error
    01                      # version 1
    23                      # opcode 0x23 NECP_EXCEPTION_DEL_ACK
    02 01                   # request_id 513
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 20             # payload_len 32
    # unit 0
    00 00 00 02             # data0: scope 2 (global)
    00 00 00 00             # data1: TTL 0 (static)
    c6 33 64 07             # data2: source 198.51.100.7
    00 00 00 20             # data3: source prefix /32
    cb 00 71 0a             # data4: destination 203.0.113.10
    00 00 00 20             # data5: destination prefix /32
    00 00 00 11             # data6: protocol 17 (UDP)
    00 00 00 00             # data7: port 0 (wildcard)
";

/// `NECP_EXCEPTION_RESET`: no unit.
const EXCEPTION_RESET: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    01                      # version 1
    24                      # opcode 0x24 NECP_EXCEPTION_RESET
    02 02                   # request_id 514
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 00             # payload_len 0
";

/// `NECP_EXCEPTION_RESET_ACK`: no unit.
const EXCEPTION_RESET_ACK: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    01                      # version 1
    25                      # opcode 0x25 NECP_EXCEPTION_RESET_ACK
    02 02                   # request_id 514
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 00             # payload_len 0
";

/// `NECP_EXCEPTION_QUERY`: the TCP entries installed by 10.0.0.5.
const EXCEPTION_QUERY: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    01                      # version 1
    26                      # opcode 0x26 NECP_EXCEPTION_QUERY
    02 03                   # request_id 515
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 20             # payload_len 32
    # unit 0
    00 00 00 00             # data0: scope 0 (any)
    0a 00 00 05             # data1: installer SE 10.0.0.5
    00 00 00 00             # data2: source any
    00 00 00 00             # data3: source prefix any
    00 00 00 00             # data4: destination any
    00 00 00 00             # data5: destination prefix any
    00 00 00 06             # data6: protocol 6 (TCP)
    00 00 00 00             # data7: port any
";

/// `NECP_EXCEPTION_RESP`: the one matching entry, data1 = its installer.
const EXCEPTION_RESP: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    01                      # version 1
    27                      # opcode 0x27 NECP_EXCEPTION_RESP
    02 03                   # request_id 515
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 20             # payload_len 32
    # unit 0
    00 00 00 01             # data0: scope 1 (local)
    0a 00 00 05             # data1: installer SE 10.0.0.5
    c0 00 02 00             # data2: source 192.0.2.0
    00 00 00 18             # data3: source prefix /24
    00 00 00 00             # data4: destination 0.0.0.0 (wildcard)
    00 00 00 00             # data5: destination prefix /0
    00 00 00 06             # data6: protocol 6 (TCP)
    00 00 00 50             # data7: port 80
";

/// `NECP_INIT` of a future version 2: kept as data.
const INIT_V2: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 01                   # flags: F_Basic_Payload
    02                      # version 2
    01                      # opcode 0x01 NECP_INIT
    03 01                   # request_id 769
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 20             # payload_len 32
    # unit 0
    00 00 00 00             # data0: flags 0
    00 00 00 00             # data1: initial seq high 0
    00 00 00 00             # data2: initial seq low 0
    00 00 00 00             # data3: 0
    00 00 00 00             # data4: 0
    00 00 00 00             # data5: 0
    00 00 00 00             # data6: 0
    00 00 00 00             # data7: 0
";

/// The reply to it: F_Error + F_Protocol_Version_Mismatch, version = the highest we speak, no payload (§1.4).
const VERSION_MISMATCH: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 0c                   # flags: F_Error | F_Protocol_Version_Mismatch
    01                      # version 1
    01                      # opcode 0x01 NECP_INIT
    03 01                   # request_id 769
    00 00 00 00 00 00 00 00 # seq_num 0
    00 00 00 00             # payload_len 0
";

/// A reserved opcode 0x30 with an unknown flag bit 0x8000 and a 3-byte opaque payload: kept as data.
const UNKNOWN: &str = "
    41 4a                   # protocol_identifier 0x414A
    80 00                   # flags: unknown 0x8000
    01                      # version 1
    30                      # opcode 0x30 (reserved)
    ff fe                   # request_id 65534
    01 02 03 04 05 06 07 08 # seq_num 0x102030405060708
    00 00 00 03             # payload_len 3
    01 02 03                # opaque payload
";

const TCP: u8 = 6;
const UDP: u8 = 17;

fn e1() -> ExceptionUnit {
    ExceptionUnit {
        scope: 1,
        ttl: 300,
        src: Ipv4Addr::new(192, 0, 2, 0),
        src_prefix: 24,
        dst: Ipv4Addr::UNSPECIFIED,
        dst_prefix: 0,
        protocol: TCP,
        port: 80,
    }
}

fn e2() -> ExceptionUnit {
    ExceptionUnit {
        scope: 2,
        ttl: 0,
        src: Ipv4Addr::new(198, 51, 100, 7),
        src_prefix: 32,
        dst: Ipv4Addr::new(203, 0, 113, 10),
        dst_prefix: 32,
        protocol: UDP,
        port: 0,
    }
}

fn empty(opcode: Opcode, request_id: u16) -> Message {
    Message::new(opcode, request_id, vec![])
}

#[test]
fn noop() {
    let m = Message {
        payload: Payload::Opaque(vec![]),
        ..empty(Opcode::Noop, 0)
    };
    check(NOOP, &m);
}

#[test]
fn init_and_ack() {
    let init = InitUnit {
        flags: 0,
        initial_seq: 0,
    };
    let m = check(INIT, &Message::new(Opcode::Init, 1, units([init])));
    assert_eq!(typed::<InitUnit>(&m), [init]);
    assert!(!init.wants_auth());

    let ack = InitAckUnit { initial_seq: 0 };
    let m = check(INIT_ACK, &Message::new(Opcode::InitAck, 1, units([ack])));
    assert_eq!(typed::<InitAckUnit>(&m), [ack]);

    let refused = empty(Opcode::InitAck, 1).with_flags(Flags::ERROR | Flags::AUTH_REQUIRED);
    let m = check(INIT_ACK_AUTH_REQUIRED, &refused);
    assert!(m.is_error());
}

#[test]
fn keepalive_as_in_the_reference() {
    // necp.md §1.12, verbatim ("x5 more zero words" written out).
    let reference = "
        41 4a 00 01  01 03 00 07  00 00 00 00 00 00 00 00  00 00 00 20
        00 00 00 01  00 00 00 06  00 00 00 50  00 00 00 00
        00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00";
    assert_eq!(hex(KEEPALIVE), hex(reference));

    let q = HealthQuery::health_index(TCP, 80);
    let m = check(KEEPALIVE, &Message::new(Opcode::Keepalive, 7, units([q])));
    assert_eq!(typed::<HealthQuery>(&m), [q]);
    assert_eq!(q.query_type, QUERY_HEALTH_INDEX);

    // "The reply is identical except opcode 04 and data3 = the health value."
    let a = HealthAnswer {
        query: q,
        value: 75,
    };
    let m = check(
        KEEPALIVE_ACK,
        &Message::new(Opcode::KeepaliveAck, 7, units([a])),
    );
    assert_eq!(typed::<HealthAnswer>(&m), [a]);
    let mut expected = hex(reference);
    expected[5] = 0x04;
    expected[20 + 15] = 0x4b;
    assert_eq!(hex(KEEPALIVE_ACK), expected);
}

#[test]
fn keepalive_without_queries_and_an_unsupported_query() {
    let m = check(KEEPALIVE_EMPTY, &empty(Opcode::Keepalive, 8));
    assert_eq!(m.payload, Payload::Units(vec![]));

    let tcp80 = HealthQuery::health_index(TCP, 80);
    let other = HealthQuery {
        query_type: 2,
        protocol: UDP,
        port: 53,
    };
    let m = check(
        KEEPALIVE_TWO,
        &Message::new(Opcode::Keepalive, 9, units([tcp80, other])),
    );
    assert_eq!(typed::<HealthQuery>(&m), [tcp80, other]);
    let reply = Message::new(Opcode::KeepaliveAck, 9, units([other])).with_flags(Flags::ERROR);
    let m = check(KEEPALIVE_ACK_UNSUPPORTED, &reply);
    assert!(m.is_error());
    assert_eq!(typed::<HealthQuery>(&m), [other]);
}

#[test]
fn start_stop_and_their_acks() {
    let web = ServiceUnit {
        forwarding: NecpForwarding::L2,
        protocol: TCP,
        port: 80,
    };
    let dns = ServiceUnit {
        forwarding: NecpForwarding::L3,
        protocol: UDP,
        port: 53,
    };
    let m = check(
        START,
        &Message::new(Opcode::Start, 0x0102, units([web, dns])),
    );
    assert_eq!(typed::<ServiceUnit>(&m), [web, dns]);
    check(START_ACK, &empty(Opcode::StartAck, 0x0102));
    let failed = Message::new(Opcode::StartAck, 0x0102, units([dns])).with_flags(Flags::ERROR);
    let m = check(START_ACK_FAILED, &failed);
    assert!(m.is_error());
    assert_eq!(typed::<ServiceUnit>(&m), [dns]);

    let tls = ServiceUnit::for_protocol(NecpForwarding::Gre, Protocol::Tcp, 443);
    let m = check(STOP, &Message::new(Opcode::Stop, 0x0103, units([tls])));
    assert_eq!(typed::<ServiceUnit>(&m), [tls]);
    check(STOP_ACK, &empty(Opcode::StopAck, 0x0103));
}

#[test]
fn exceptions() {
    let m = check(
        EXCEPTION_ADD,
        &Message::new(Opcode::ExceptionAdd, 0x0200, units([e1()])),
    );
    assert_eq!(typed::<ExceptionUnit>(&m), [e1()]);
    check(EXCEPTION_ADD_ACK, &empty(Opcode::ExceptionAddAck, 0x0200));
    let m = check(
        EXCEPTION_DEL,
        &Message::new(Opcode::ExceptionDel, 0x0201, units([e1(), e2()])),
    );
    assert_eq!(typed::<ExceptionUnit>(&m), [e1(), e2()]);
    let failed =
        Message::new(Opcode::ExceptionDelAck, 0x0201, units([e2()])).with_flags(Flags::ERROR);
    check(EXCEPTION_DEL_ACK_FAILED, &failed);
    check(EXCEPTION_RESET, &empty(Opcode::ExceptionReset, 0x0202));
    check(
        EXCEPTION_RESET_ACK,
        &empty(Opcode::ExceptionResetAck, 0x0202),
    );

    let installer = Ipv4Addr::new(10, 0, 0, 5);
    let filter = ExceptionUnit {
        scope: 0,
        ttl: u32::from(installer),
        src: Ipv4Addr::UNSPECIFIED,
        src_prefix: 0,
        dst: Ipv4Addr::UNSPECIFIED,
        dst_prefix: 0,
        protocol: TCP,
        port: 0,
    };
    let m = check(
        EXCEPTION_QUERY,
        &Message::new(Opcode::ExceptionQuery, 0x0203, units([filter])),
    );
    assert_eq!(typed::<ExceptionUnit>(&m), [filter]);
    let entry = ExceptionUnit {
        ttl: u32::from(installer),
        ..e1()
    };
    let m = check(
        EXCEPTION_RESP,
        &Message::new(Opcode::ExceptionResp, 0x0203, units([entry])),
    );
    assert_eq!(typed::<ExceptionUnit>(&m), [entry]);
}

#[test]
fn unknown_version_and_its_mismatch_reply() {
    let init = InitUnit {
        flags: 0,
        initial_seq: 0,
    };
    let m = Message {
        version: 2,
        ..Message::new(Opcode::Init, 0x0301, units([init]))
    };
    check(INIT_V2, &m);
    let reply = Message {
        payload: Payload::Opaque(vec![]),
        ..empty(Opcode::Init, 0x0301)
    }
    .with_flags(Flags::ERROR | Flags::VERSION_MISMATCH);
    check(VERSION_MISMATCH, &reply);
}

#[test]
fn unknown_opcode_flags_and_opaque_payload_are_data() {
    let m = Message {
        flags: Flags::from_bits(0x8000),
        version: 1,
        opcode: Opcode::Unknown(0x30),
        request_id: 0xfffe,
        seq_num: 0x0102_0304_0506_0708,
        payload: Payload::Opaque(vec![1, 2, 3]),
    };
    let got = check(UNKNOWN, &m);
    assert_eq!(u8::from(got.opcode), 0x30);
    assert!(got.units().is_empty());
}

#[test]
fn every_opcode_round_trips_through_u8() {
    for code in 0..=u8::MAX {
        let op = Opcode::from(code);
        assert_eq!(u8::from(op), code);
        assert_eq!(
            op.name() == "NECP_UNKNOWN",
            matches!(op, Opcode::Unknown(_))
        );
    }
    assert_eq!(Opcode::from(0x09), Opcode::Unknown(0x09));
    assert_eq!(Opcode::from(0x1f), Opcode::Unknown(0x1f));
    assert_eq!(Opcode::from(0x28), Opcode::Unknown(0x28));
    assert_eq!(Opcode::ExceptionQuery.reply(), Some(Opcode::ExceptionResp));
    assert_eq!(Opcode::StartAck.reply(), None);
}

/// necp.md §1.11: the SE's INIT carries data1 = 0x22222222, data2 = 0x33333333; the NE's
/// INIT_ACK carries that number in its header and its own in data0:data1.
#[test]
fn the_drafts_worked_example_of_sequence_numbers() {
    let init_unit = Unit([1, 0x2222_2222, 0x3333_3333, 0, 0, 0, 0, 0]);
    let init = InitUnit::try_from(&init_unit).expect("an INIT unit");
    assert!(init.wants_auth());
    assert_eq!(init.initial_seq, 0x2222_2222_3333_3333);
    assert_eq!(Unit::from(init), init_unit);

    let ack_unit = Unit([0x4444_4444, 0x5555_5555, 0, 0, 0, 0, 0, 0]);
    let ack = InitAckUnit::try_from(&ack_unit).expect("an INIT_ACK unit");
    assert_eq!(ack.initial_seq, 0x4444_4444_5555_5555);
    assert_eq!(Unit::from(ack), ack_unit);

    let reply = Message::new(Opcode::InitAck, 1, units([ack])).with_seq(init.initial_seq);
    let bytes = reply.to_bytes(None);
    assert_eq!(
        bytes[8..16],
        [0x22, 0x22, 0x22, 0x22, 0x33, 0x33, 0x33, 0x33]
    );
    assert_eq!(
        bytes[20..28],
        [0x44, 0x44, 0x44, 0x44, 0x55, 0x55, 0x55, 0x55]
    );
    // The shift between the two layouts: INIT's seq is in data1:data2, INIT_ACK's in data0:data1.
    assert_eq!(
        InitAckUnit::try_from(&init_unit),
        Err(UnitError::NotZero {
            field: 2,
            value: 0x3333_3333
        })
    );
}

/// A signed INIT (the worked example's), credential computed independently with
///
/// ```text
/// python3 -c "import hmac,hashlib; m=bytes.fromhex('414a0003010100010000000000000000' \
///   '00000034' '00000001' '22222222' '33333333' + '00000000'*5); \
///   print(hmac.new(b'necp shared secret', m, hashlib.sha1).hexdigest())"
/// ```
const SIGNED_INIT: &str = "
    41 4a                   # protocol_identifier 0x414A
    00 03                   # flags: F_Basic_Payload | F_Auth_Credential_Provided
    01                      # version 1
    01                      # opcode 0x01 NECP_INIT
    00 01                   # request_id 1
    00 00 00 00 00 00 00 00 # seq_num 0 (the SE's INIT carries its number in the unit)
    00 00 00 34             # payload_len 52 = 32 (one unit) + 20 (credential)
    # unit 0
    00 00 00 01             # data0: flags 0x1 (authenticate every message)
    22 22 22 22             # data1: initial seq high
    33 33 33 33             # data2: initial seq low
    00 00 00 00             # data3: 0
    00 00 00 00             # data4: 0
    00 00 00 00             # data5: 0
    00 00 00 00             # data6: 0
    00 00 00 00             # data7: 0
    # credential: HMAC-SHA1(key, header || unit)
    15 79 61 2d d4 43 54 a9 f5 7b 47 ae 66 db b4 5e 74 52 b6 09
";

const SECRET: &[u8] = b"necp shared secret";

#[test]
fn hmac_sha1_known_answer() {
    // RFC 2202, test case 2.
    let key = Key::new(b"Jefe");
    assert_eq!(
        hex_string(&key.credential(b"what do ya want for nothing?")),
        "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
    );

    let key = Key::new(SECRET);
    let bytes = hex(SIGNED_INIT);
    let init = InitUnit {
        flags: InitUnit::AUTH,
        initial_seq: 0x2222_2222_3333_3333,
    };
    let m = Message::new(Opcode::Init, 1, units([init]));
    assert_eq!(m.to_bytes(Some(&key)), bytes);
    assert_eq!(m.encoded_len(true), bytes.len());

    let frame = Frame::from_bytes(bytes.clone()).expect("a whole frame");
    assert!(frame.is_signed());
    assert!(frame.verify(&key));
    assert_eq!(frame.credential(), Some(&bytes[52..]));
    assert_eq!(frame.payload(), &bytes[20..52]);
    // Decoding strips the credential and both auth-related flags.
    assert_eq!(frame.message(), Ok(m.clone()));
    assert_eq!(
        frame.message().expect("decodes").to_bytes(Some(&key)),
        bytes
    );
    // Unsigned, the same message is 20 bytes shorter and has only F_Basic_Payload.
    let unsigned = m.to_bytes(None);
    assert_eq!(unsigned.len(), bytes.len() - 20);
    assert_eq!(unsigned[2..4], [0x00, 0x01]);
    assert_eq!(unsigned[16..20], [0, 0, 0, 0x20]);
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn verify_fails_on_any_change() {
    let good = hex(SIGNED_INIT);
    let key = Key::new(SECRET);
    assert!(!Frame::from_bytes(good.clone())
        .expect("frame")
        .verify(&Key::new(b"necp shared secreT")));
    let flip = |at: usize, bit: u8| {
        let mut b = good.clone();
        b[at] ^= bit;
        Frame::from_bytes(b).expect("still one frame").verify(&key)
    };
    assert!(!flip(20, 0x01), "payload bit");
    assert!(!flip(51, 0x80), "last payload bit");
    assert!(!flip(7, 0x01), "header bit (request_id)");
    assert!(!flip(15, 0x01), "header bit (seq_num)");
    assert!(!flip(4, 0x02), "header bit (version)");
    assert!(!flip(52, 0x01), "credential bit");
    assert!(!flip(71, 0x80), "last credential bit");

    // Unsigned: false, whatever the key.
    let unsigned = Frame::from_bytes(hex(KEEPALIVE)).expect("frame");
    assert!(!unsigned.is_signed());
    assert!(!unsigned.verify(&key));
    assert_eq!(unsigned.credential(), None);
    // F_Auth_Credential_Provided on a payload too short for a credential.
    let mut short = hex(NOOP);
    short[3] = 0x02;
    let short = Frame::from_bytes(short).expect("frame");
    assert!(short.is_signed());
    assert!(!short.verify(&key));
    assert_eq!(short.message(), Err(DecodeError::MissingCredential(0)));
}

#[test]
fn signed_opaque_and_empty_messages() {
    let key = Key::new(b"k");
    for m in [
        empty(Opcode::StartAck, 3).with_seq(0x4444_4444_5555_5556),
        Message {
            payload: Payload::Opaque(vec![0xde, 0xad]),
            ..empty(Opcode::Unknown(0x99), 4)
        },
        Message {
            payload: Payload::Opaque(vec![]),
            ..empty(Opcode::Noop, 5)
        },
    ] {
        let bytes = m.to_bytes(Some(&key));
        assert_eq!(bytes.len(), m.encoded_len(true));
        let f = Frame::from_bytes(bytes.clone()).expect("frame");
        assert!(f.verify(&key));
        assert_eq!(f.message(), Ok(m.clone()));
        assert_eq!(f.message().expect("decodes").to_bytes(Some(&key)), bytes);
    }
}

#[test]
fn encode_derives_the_payload_and_credential_flags() {
    // Flags the caller sets wrongly are corrected: BASIC follows the payload, AUTH the key.
    let m = empty(Opcode::Keepalive, 1).with_flags(Flags::AUTH_CREDENTIAL);
    assert_eq!(m.to_bytes(None)[2..4], [0x00, 0x01]);
    let m = Message {
        payload: Payload::Opaque(vec![]),
        ..empty(Opcode::Noop, 1)
    }
    .with_flags(Flags::BASIC_PAYLOAD | Flags::ERROR);
    assert_eq!(m.to_bytes(None)[2..4], [0x00, 0x04]);
    assert_eq!(m.wire_flags(true), Flags::ERROR | Flags::AUTH_CREDENTIAL);
    // encode appends.
    let mut out = vec![0xaa];
    empty(Opcode::Noop, 0).encode(None, &mut out);
    assert_eq!(out.len(), 21);
    assert_eq!(out[..3], [0xaa, 0x41, 0x4a]);
    // and signs only what it appended.
    let key = Key::new(b"k");
    let mut out = vec![0xaa; 7];
    empty(Opcode::Noop, 0).encode(Some(&key), &mut out);
    assert!(Frame::from_bytes(out[7..].to_vec())
        .expect("frame")
        .verify(&key));
}

// --- framing ---

fn all_vectors() -> Vec<Vec<u8>> {
    [
        NOOP,
        INIT,
        INIT_ACK,
        INIT_ACK_AUTH_REQUIRED,
        KEEPALIVE,
        KEEPALIVE_ACK,
        KEEPALIVE_EMPTY,
        KEEPALIVE_TWO,
        KEEPALIVE_ACK_UNSUPPORTED,
        START,
        START_ACK,
        START_ACK_FAILED,
        STOP,
        STOP_ACK,
        EXCEPTION_ADD,
        EXCEPTION_ADD_ACK,
        EXCEPTION_DEL,
        EXCEPTION_DEL_ACK_FAILED,
        EXCEPTION_RESET,
        EXCEPTION_RESET_ACK,
        EXCEPTION_QUERY,
        EXCEPTION_RESP,
        INIT_V2,
        VERSION_MISMATCH,
        UNKNOWN,
        SIGNED_INIT,
    ]
    .into_iter()
    .map(hex)
    .collect()
}

fn drain(dec: &mut FrameDecoder) -> Vec<Vec<u8>> {
    let mut out = vec![];
    while let Some(f) = dec.next_frame().expect("in frame") {
        out.push(f.into_bytes());
    }
    out
}

#[test]
fn decoder_byte_at_a_time() {
    let frames = all_vectors();
    let stream = frames.concat();
    let mut dec = FrameDecoder::new(DEFAULT_MAX_PAYLOAD);
    let mut got = vec![];
    for (i, b) in stream.iter().enumerate() {
        dec.push(std::slice::from_ref(b));
        got.extend(drain(&mut dec));
        // A frame is returned on its last byte, not before.
        let ends: usize = got.iter().map(Vec::len).sum();
        assert_eq!(ends + dec.buffered(), i + 1);
    }
    assert_eq!(got, frames);
    assert_eq!(dec.buffered(), 0);
}

#[test]
fn decoder_many_frames_in_one_push() {
    let frames = all_vectors();
    let mut dec = FrameDecoder::new(DEFAULT_MAX_PAYLOAD);
    // 200 rounds of every vector (about 130 KB), pushed at once, then in 1000-byte chunks.
    let stream: Vec<u8> = (0..200).flat_map(|_| frames.concat()).collect();
    dec.push(&stream);
    let got = drain(&mut dec);
    assert_eq!(got.len(), 200 * frames.len());
    assert_eq!(got.concat(), stream);
    assert_eq!(dec.buffered(), 0);

    let mut got = vec![];
    for chunk in stream.chunks(1000) {
        dec.push(chunk);
        got.extend(drain(&mut dec));
    }
    assert_eq!(got.concat(), stream);
    assert_eq!(dec.buffered(), 0);
}

#[test]
fn decoder_rejects_a_bad_magic_as_soon_as_its_two_bytes_are_in() {
    let mut bytes = hex(KEEPALIVE);
    bytes[0] = 0x4a;
    bytes[1] = 0x41;
    let mut dec = FrameDecoder::new(DEFAULT_MAX_PAYLOAD);
    dec.push(&bytes[..1]);
    assert_eq!(dec.next_frame(), Ok(None));
    // A peer that sends a few bytes of something else and waits is cut off at once.
    dec.push(&bytes[1..2]);
    assert_eq!(dec.next_frame(), Err(DecodeError::BadProtocolId(0x4a41)));
    dec.push(&bytes[2..20]);
    // The stream stays out of frame.
    assert_eq!(dec.next_frame(), Err(DecodeError::BadProtocolId(0x4a41)));
    assert_eq!(
        Frame::from_bytes(bytes),
        Err(DecodeError::BadProtocolId(0x4a41))
    );
}

#[test]
fn decoder_bounds_the_payload_before_it_arrives() {
    let mut dec = FrameDecoder::new(64);
    assert_eq!(dec.max_payload(), 64);
    // 64 bytes: accepted.
    let two = Message::new(Opcode::Start, 1, vec![Unit::default(); 2]).to_bytes(None);
    dec.push(&two);
    assert_eq!(
        dec.next_frame().map(|f| f.map(Frame::into_bytes)),
        Ok(Some(two))
    );
    // 96 bytes announced: refused on the header alone.
    let three = Message::new(Opcode::Start, 2, vec![Unit::default(); 3]).to_bytes(None);
    dec.push(&three[..20]);
    assert_eq!(
        dec.next_frame(),
        Err(DecodeError::PayloadTooLong { len: 96, max: 64 })
    );
}

#[test]
fn decoder_zero_length_payload() {
    let mut dec = FrameDecoder::new(0);
    let bytes = hex(KEEPALIVE_EMPTY);
    assert_eq!(bytes.len(), 20);
    dec.push(&bytes);
    dec.push(&bytes);
    let f = dec.next_frame().expect("ok").expect("a frame");
    assert_eq!(f.payload(), &[] as &[u8]);
    assert_eq!(
        f.message().expect("decodes").payload,
        Payload::Units(vec![])
    );
    assert!(dec.next_frame().expect("ok").is_some());
    assert_eq!(dec.next_frame(), Ok(None));
}

#[test]
fn decoder_max_announced_length() {
    let mut header = hex(NOOP);
    header[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
    let mut dec = FrameDecoder::new(DEFAULT_MAX_PAYLOAD);
    dec.push(&header);
    assert_eq!(
        dec.next_frame(),
        Err(DecodeError::PayloadTooLong {
            len: u32::MAX,
            max: DEFAULT_MAX_PAYLOAD
        })
    );
    // Unbounded, the decoder waits (and allocates nothing for the announced length).
    let mut dec = FrameDecoder::new(u32::MAX);
    dec.push(&header);
    assert_eq!(dec.next_frame(), Ok(None));
    assert_eq!(dec.buffered(), 20);
    assert_eq!(
        Frame::from_bytes(header),
        Err(DecodeError::Length {
            expected: 20 + u32::MAX as usize,
            got: 20
        })
    );
}

#[test]
fn frame_from_bytes_wants_exactly_one_message() {
    let bytes = hex(KEEPALIVE);
    assert_eq!(
        Frame::from_bytes(bytes[..10].to_vec()),
        Err(DecodeError::Length {
            expected: 20,
            got: 10
        })
    );
    assert_eq!(
        Frame::from_bytes(bytes[..51].to_vec()),
        Err(DecodeError::Length {
            expected: 52,
            got: 51
        })
    );
    let mut two = bytes.clone();
    two.extend_from_slice(&bytes);
    assert_eq!(
        Frame::from_bytes(two),
        Err(DecodeError::Length {
            expected: 52,
            got: 104
        })
    );
}

#[test]
fn basic_payload_must_be_whole_units() {
    let mut bytes = hex(UNKNOWN); // 3-byte opaque payload
    bytes[3] |= 0x01;
    let f = Frame::from_bytes(bytes).expect("frame");
    assert_eq!(f.message(), Err(DecodeError::BadBasicLength(3)));
    // Signed: the length is counted without the credential.
    let key = Key::new(b"k");
    let m = Message {
        payload: Payload::Opaque(vec![0; 33]),
        ..empty(Opcode::Start, 1)
    };
    let mut bytes = m.to_bytes(Some(&key));
    bytes[3] |= 0x01;
    let f = Frame::from_bytes(bytes).expect("frame");
    assert_eq!(f.message(), Err(DecodeError::BadBasicLength(33)));
}

// --- typed units ---

#[test]
fn unit_wire_layout_is_eight_big_endian_words() {
    let u = Unit([1, 2, 3, 4, 5, 6, 7, 0x0102_0304]);
    let mut out = vec![];
    u.emit(&mut out);
    assert_eq!(out.len(), 32);
    assert_eq!(out[..4], [0, 0, 0, 1]);
    assert_eq!(out[28..], [1, 2, 3, 4]);
    assert_eq!(u.to_bytes().as_slice(), out.as_slice());
    assert_eq!(Unit::parse(&u.to_bytes()), u);
    assert_eq!(u.data(7), 0x0102_0304);
}

#[test]
fn typed_units_check_zero_fields_and_widths() {
    let nz = |field, value| Some(UnitError::NotZero { field, value });
    let oor = |field, value| Some(UnitError::OutOfRange { field, value });
    assert_eq!(
        InitUnit::try_from(&Unit([0, 0, 0, 9, 0, 0, 0, 0])).err(),
        nz(3, 9)
    );
    assert_eq!(
        InitUnit::try_from(&Unit([0, 0, 0, 0, 0, 0, 0, 1])).err(),
        nz(7, 1)
    );
    assert_eq!(
        InitAckUnit::try_from(&Unit([0, 0, 5, 0, 0, 0, 0, 0])).err(),
        nz(2, 5)
    );
    assert_eq!(
        HealthQuery::try_from(&Unit([1, 0x106, 80, 0, 0, 0, 0, 0])).err(),
        oor(1, 0x106)
    );
    assert_eq!(
        HealthQuery::try_from(&Unit([1, 6, 0x1_0000, 0, 0, 0, 0, 0])).err(),
        oor(2, 0x1_0000)
    );
    // A query with data3 set is an answer, not a query.
    assert_eq!(
        HealthQuery::try_from(&Unit([1, 6, 80, 75, 0, 0, 0, 0])).err(),
        nz(3, 75)
    );
    assert_eq!(
        HealthAnswer::try_from(&Unit([1, 6, 80, 75, 0, 0, 0, 2])).err(),
        nz(7, 2)
    );
    assert_eq!(
        ServiceUnit::try_from(&Unit([0x100, 6, 80, 0, 0, 0, 0, 0])).err(),
        oor(0, 0x100)
    );
    assert_eq!(
        ServiceUnit::try_from(&Unit([1, 6, 80, 0, 1, 0, 0, 0])).err(),
        nz(4, 1)
    );
    assert_eq!(
        ServiceUnit::try_from(Unit([9, 6, 80, 0, 0, 0, 0, 0])).map(|s| s.forwarding),
        Ok(NecpForwarding::Unknown(9))
    );
    for (field, value) in [(0, 256), (3, 33 << 8), (5, 256), (6, 256), (7, 0x1_0000)] {
        let mut u = Unit::from(e1());
        u.0[field] = value;
        assert_eq!(ExceptionUnit::try_from(&u).err(), oor(field, value));
    }
    // Every 32-bit field takes any value.
    let u = Unit([0, u32::MAX, u32::MAX, 0, u32::MAX, 0, 0, 0]);
    assert_eq!(Unit::from(ExceptionUnit::try_from(&u).expect("valid")), u);
}

#[test]
fn forwarding_and_protocol_conversions() {
    assert_eq!(
        Forwarding::try_from(NecpForwarding::L2),
        Ok(Forwarding::DirectRoute)
    );
    assert_eq!(
        Forwarding::try_from(NecpForwarding::Gre),
        Ok(Forwarding::Tunnel(Tunnel::Ipip))
    );
    assert_eq!(
        Forwarding::try_from(NecpForwarding::L3),
        Ok(Forwarding::Masq)
    );
    assert_eq!(
        Forwarding::try_from(NecpForwarding::Unknown(7)),
        Err(UnitError::UnknownForwarding(7))
    );
    assert_eq!(
        NecpForwarding::try_from(Forwarding::DirectRoute),
        Ok(NecpForwarding::L2)
    );
    assert_eq!(
        NecpForwarding::try_from(Forwarding::Tunnel(Tunnel::Ipip)),
        Ok(NecpForwarding::Gre)
    );
    assert_eq!(
        NecpForwarding::try_from(Forwarding::Masq),
        Ok(NecpForwarding::L3)
    );
    assert_eq!(
        NecpForwarding::try_from(Forwarding::Local),
        Err(UnitError::LocalForwarding)
    );
    for code in 0..=u8::MAX {
        assert_eq!(u8::from(NecpForwarding::from(code)), code);
    }

    for (p, n) in [
        (Protocol::Tcp, 6),
        (Protocol::Udp, 17),
        (Protocol::Sctp, 132),
    ] {
        let s = ServiceUnit::for_protocol(NecpForwarding::L3, p, 8080);
        assert_eq!(s.protocol, n);
        assert_eq!(s.lvs_protocol(), Ok(p));
        assert_eq!(s.lvs_forwarding(), Ok(Forwarding::Masq));
    }
    let icmp = ServiceUnit {
        forwarding: NecpForwarding::Unknown(0),
        protocol: 1,
        port: 0,
    };
    assert_eq!(icmp.lvs_protocol(), Err(UnitError::UnknownProtocol(1)));
    assert_eq!(icmp.lvs_forwarding(), Err(UnitError::UnknownForwarding(0)));
}

#[test]
fn error_texts() {
    let texts = [
        (
            DecodeError::BadProtocolId(0x4a41).to_string(),
            "bad protocol identifier 0x4a41 (expected 0x414a)",
        ),
        (
            DecodeError::PayloadTooLong {
                len: 40000,
                max: 32768,
            }
            .to_string(),
            "payload of 40000 bytes is over the limit of 32768",
        ),
        (
            DecodeError::MissingCredential(4).to_string(),
            "credential flag set but payload of 4 bytes holds no 20-byte credential",
        ),
        (
            DecodeError::BadBasicLength(33).to_string(),
            "basic payload of 33 bytes is not a multiple of 32",
        ),
        (
            DecodeError::Length {
                expected: 52,
                got: 51,
            }
            .to_string(),
            "52 bytes expected for this message, 51 given",
        ),
        (
            UnitError::NotZero { field: 3, value: 9 }.to_string(),
            "data3 must be 0, is 0x9",
        ),
        (
            UnitError::OutOfRange {
                field: 2,
                value: 0x10000,
            }
            .to_string(),
            "data2 = 0x10000 is out of range",
        ),
        (
            UnitError::UnknownForwarding(7).to_string(),
            "NECP forwarding type 0x7 is unknown (known: 0x1 L2, 0x2 GRE, 0x3 L3)",
        ),
        (
            UnitError::LocalForwarding.to_string(),
            "LVS forwarding method `local` has no NECP forwarding type",
        ),
        (
            UnitError::UnknownProtocol(1).to_string(),
            "IP protocol 1 is not one IPVS balances (tcp 6, udp 17, sctp 132)",
        ),
    ];
    for (got, want) in texts {
        assert_eq!(got, want);
    }
    assert_eq!(format!("{:?}", Key::new(b"secret")), "Key(..)");
    assert_eq!(
        format!("{:?}", Flags::ERROR | Flags::from_bits(0x4000)),
        "F_Error | 0x4000"
    );
}
