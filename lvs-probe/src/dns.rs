//! `dns`: one query over UDP to the test port, built and decoded with `hickory-proto`.
//!
//! ```text
//!  query (as the original):  ID random │ flags 0x0400 (AA set, RD clear) │ QD=1 AN=NS=AR=0
//!                            QNAME = `request` │ QTYPE = `qtype` (default SOA) │ QCLASS = IN
//!  prober ── UDP ──► real:testport
//!         ◄── reply: QR=1, same ID, same question, RCODE, ANCOUNT
//!         (TC=1 and tcp_fallback: the same query over TCP, 2-byte length prefix)
//! ```
//!
//! Success: a response to our ID and question, RCODE NOERROR and at least one answer.
//! **Difference from the original**, which reads the 12-byte header and checks only that
//! ANCOUNT is non-zero: a reply with another ID or question ([`Failure::DnsMismatch`]), an
//! error RCODE ([`Failure::Dns`], even with answers) or no answer ([`Failure::DnsNoAnswer`])
//! fails here. A reply that is not a DNS message fails as [`Failure::Protocol`]; an ICMP port
//! unreachable as [`Failure::Refused`].
//!
//! Attributes (declared by `lvs-core`'s registry): `request` (the name), and the extensions
//! `qtype` (default SOA) and `tcp_fallback` (default on).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use async_trait::async_trait;
use hickory_proto::op::{Header, Message, MessageType, OpCode, Query as DnsQuestion};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use lvs_core::config::xml::TesterSpec;
use tokio::io::AsyncReadExt;
use tokio::net::UdpSocket;
use tokio::time::{timeout_at, Instant};

use crate::net::{connect_tcp, io_failure, send};
use crate::outcome::{Failure, Outcome, Phase, Recorder};
use crate::prober::{builtin_spec, Prober};
use crate::target::Target;

/// A query ready to send, and what its reply must match.
#[derive(Debug, Clone)]
pub struct Query {
    /// The message ID.
    pub id: u16,
    /// The question.
    pub question: DnsQuestion,
    /// The encoded message.
    pub bytes: Vec<u8>,
}

impl Query {
    /// The query for `name` and `qtype` (class IN) with message ID `id`.
    pub fn new(name: &str, qtype: RecordType, id: u16) -> Result<Self, Failure> {
        let mut qname = Name::from_ascii(name).map_err(|e| Failure::Config {
            reason: format!("request `{name}`: {e}"),
        })?;
        qname.set_fqdn(true);
        let mut question = DnsQuestion::query(qname, qtype);
        question.set_query_class(DNSClass::IN);
        let mut msg = Message::new();
        msg.set_id(id)
            .set_message_type(MessageType::Query)
            .set_op_code(OpCode::Query)
            .set_authoritative(true)
            .set_recursion_desired(false)
            .add_query(question.clone());
        let bytes = msg.to_vec().map_err(|e| Failure::Config {
            reason: format!("request `{name}`: {e}"),
        })?;
        Ok(Self {
            id,
            question,
            bytes,
        })
    }

    /// Judges a reply: `Ok(true)` if it passes, `Ok(false)` if it is truncated (TC) and should
    /// be asked again over TCP, a failure otherwise. With `allow_truncated`, a truncated reply
    /// is judged like any other.
    pub fn check_reply(&self, reply: &[u8], allow_truncated: bool) -> Result<bool, Failure> {
        let malformed = |e: &dyn std::fmt::Display| Failure::Protocol {
            phase: Phase::Reply,
            reason: format!("not a DNS message ({} bytes): {e}", reply.len()),
        };
        let mut decoder = BinDecoder::new(reply);
        let header = Header::read(&mut decoder).map_err(|e| malformed(&e))?;
        if header.message_type() != MessageType::Response {
            return Err(Failure::DnsMismatch {
                reason: "a query, not a response (QR=0)".into(),
            });
        }
        if header.id() != self.id {
            return Err(Failure::DnsMismatch {
                reason: format!("reply ID {:#06x}, query ID {:#06x}", header.id(), self.id),
            });
        }
        if header.truncated() && !allow_truncated {
            return Ok(false);
        }
        let rcode = u16::from(header.response_code());
        if rcode != 0 {
            // Servers often drop the question from error replies: the RCODE says enough.
            return Err(Failure::Dns { rcode });
        }
        if header.query_count() != 1 {
            return Err(Failure::DnsMismatch {
                reason: format!("{} questions in the reply", header.query_count()),
            });
        }
        let q = DnsQuestion::read(&mut decoder).map_err(|e| malformed(&e))?;
        if q.name() != self.question.name()
            || q.query_type() != self.question.query_type()
            || q.query_class() != self.question.query_class()
        {
            return Err(Failure::DnsMismatch {
                reason: format!("reply to `{q}`, query `{}`", self.question),
            });
        }
        if header.answer_count() == 0 {
            return Err(Failure::DnsNoAnswer);
        }
        Ok(true)
    }
}

/// The `dns` prober.
#[derive(Debug, Default, Clone, Copy)]
pub struct DnsProber;

impl DnsProber {
    /// A `dns` prober.
    pub fn new() -> Self {
        Self
    }

    async fn run(
        &self,
        target: &Target,
        deadline: Instant,
        rec: &mut Recorder,
    ) -> Result<(), Failure> {
        let a = &target.attrs;
        let name = a.str("request").ok_or_else(|| Failure::Config {
            reason: "missing attribute `request`".into(),
        })?;
        let qtype_name = a.str("qtype").unwrap_or("SOA");
        let qtype: RecordType =
            qtype_name
                .to_ascii_uppercase()
                .parse()
                .map_err(|_| Failure::Config {
                    reason: format!("qtype `{qtype_name}` is not a record type"),
                })?;
        let query = Query::new(name, qtype, rand::random())?;
        let tcp_fallback = a.bool("tcp_fallback").unwrap_or(true);

        let addr = target.socket_addr();
        let udp_err = |e: std::io::Error| io_failure(&e, Phase::Reply);
        let local: SocketAddr = if addr.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).await.map_err(udp_err)?;
        socket.connect(addr).await.map_err(udp_err)?;
        match timeout_at(deadline, socket.send(&query.bytes)).await {
            Err(_) => return Err(Failure::Timeout { phase: Phase::Send }),
            Ok(Err(e)) => return Err(io_failure(&e, Phase::Send)),
            Ok(Ok(_)) => rec.sent(&query.bytes),
        }
        // No EDNS in the query: a UDP reply is at most 512 bytes; leave room for odd servers.
        let mut buf = vec![0u8; 4096];
        let n = match timeout_at(deadline, socket.recv(&mut buf)).await {
            Err(_) => {
                return Err(Failure::Timeout {
                    phase: Phase::Reply,
                })
            }
            Ok(Err(e)) => return Err(io_failure(&e, Phase::Reply)),
            Ok(Ok(n)) => n,
        };
        rec.received(&buf[..n]);
        if query.check_reply(&buf[..n], !tcp_fallback)? {
            return Ok(());
        }
        drop(socket);
        // Truncated: ask again over TCP.
        let mut conn = connect_tcp(addr, deadline, rec).await?;
        let mut framed = Vec::with_capacity(query.bytes.len() + 2);
        framed.extend_from_slice(&(query.bytes.len() as u16).to_be_bytes());
        framed.extend_from_slice(&query.bytes);
        send(&mut conn, &framed, deadline, rec).await?;
        let mut len = [0u8; 2];
        read_exact(&mut conn, &mut len, deadline, rec).await?;
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        read_exact(&mut conn, &mut msg, deadline, rec).await?;
        query.check_reply(&msg, true).map(drop)
    }
}

async fn read_exact(
    conn: &mut tokio::net::TcpStream,
    buf: &mut [u8],
    deadline: Instant,
    rec: &mut Recorder,
) -> Result<(), Failure> {
    match timeout_at(deadline, conn.read_exact(buf)).await {
        Err(_) => Err(Failure::Timeout {
            phase: Phase::Reply,
        }),
        Ok(Err(e)) => Err(io_failure(&e, Phase::Reply)),
        Ok(Ok(_)) => {
            rec.received(buf);
            Ok(())
        }
    }
}

#[async_trait]
impl Prober for DnsProber {
    fn spec(&self) -> TesterSpec {
        builtin_spec("dns")
    }

    async fn probe(&self, target: &Target, deadline: Instant) -> Outcome {
        let mut rec = Recorder::new(target.transcript);
        let result = self.run(target, deadline, &mut rec).await;
        rec.finish(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::rdata::SOA;
    use hickory_proto::rr::{RData, Record};

    #[test]
    fn the_query_bytes_are_the_originals() {
        let q = Query::new("onet.pl", RecordType::SOA, 0x1234).expect("valid");
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x12, 0x34, // ID
            0x04, 0x00, // flags: AA only, as the original
            0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // QD=1 AN=NS=AR=0
            0x04, b'o', b'n', b'e', b't', 0x02, b'p', b'l', 0x00, // QNAME
            0x00, 0x06, // QTYPE SOA
            0x00, 0x01, // QCLASS IN
        ];
        assert_eq!(q.bytes, want);
    }

    fn reply(q: &Query, edit: impl FnOnce(&mut Message)) -> Vec<u8> {
        let mut m = Message::from_vec(&q.bytes).expect("our query decodes");
        m.set_message_type(MessageType::Response);
        let soa = SOA::new(
            Name::from_ascii("ns.onet.pl.").expect("name"),
            Name::from_ascii("admin.onet.pl.").expect("name"),
            1,
            2,
            3,
            4,
            5,
        );
        m.add_answer(Record::from_rdata(
            q.question.name().clone(),
            60,
            RData::SOA(soa),
        ));
        edit(&mut m);
        m.to_vec().expect("encodes")
    }

    #[test]
    fn replies_are_judged_on_id_question_rcode_and_answers() {
        let q = Query::new("Onet.PL", RecordType::SOA, 7).expect("valid");
        assert_eq!(q.check_reply(&reply(&q, |_| {}), false), Ok(true));
        let e = q
            .check_reply(
                &reply(&q, |m| {
                    m.set_id(8);
                }),
                false,
            )
            .expect_err("wrong ID");
        assert!(matches!(&e, Failure::DnsMismatch { reason } if reason.contains("0x0008")));
        assert_eq!(
            q.check_reply(
                &reply(&q, |m| {
                    m.set_response_code(ResponseCode::ServFail);
                }),
                false
            ),
            Err(Failure::Dns { rcode: 2 })
        );
        assert_eq!(
            q.check_reply(
                &reply(&q, |m| {
                    m.take_answers();
                }),
                false
            ),
            Err(Failure::DnsNoAnswer)
        );
        assert_eq!(
            q.check_reply(
                &reply(&q, |m| {
                    m.set_truncated(true);
                }),
                false
            ),
            Ok(false)
        );
        assert_eq!(
            q.check_reply(
                &reply(&q, |m| {
                    m.set_truncated(true);
                }),
                true
            ),
            Ok(true)
        );
        let other = Query::new("wp.pl", RecordType::SOA, 7).expect("valid");
        assert!(matches!(
            q.check_reply(&reply(&other, |_| {}), false),
            Err(Failure::DnsMismatch { .. })
        ));
        assert!(matches!(
            q.check_reply(&q.bytes, false),
            Err(Failure::DnsMismatch { .. })
        ));
        assert!(matches!(
            q.check_reply(b"\x00\x07", false),
            Err(Failure::Protocol { .. })
        ));
    }
}
