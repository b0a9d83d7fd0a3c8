//! The sans-IO request/reply engine: serialises a batch of requests into one send buffer, then
//! is fed the datagrams the kernel answers with and matches each message to its request by
//! sequence number. The blocking and tokio clients only move bytes in and out of it.
//!
//! Per request: change requests and single gets carry `NLM_F_ACK` and are complete at their
//! `NLMSG_ERROR` (0 = ACK, else the negative errno); dumps carry `NLM_F_DUMP` and are complete at
//! `NLMSG_DONE` (or an `NLMSG_ERROR` if the dump could not start). Messages with an unknown
//! sequence number (late answers to a request that timed out) are skipped.

use netlink_packet_core::{
    Emitable, NetlinkBuffer, NetlinkMessage, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN,
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_generic::ctrl::GenlCtrl;
use netlink_packet_generic::{GenlFamily, GenlMessage};

use crate::error::{Error, Object, Op};
use crate::wire::IpvsMessage;

/// What a request carries.
#[derive(Debug, Clone)]
pub(crate) enum Msg {
    Ipvs(IpvsMessage),
    Ctrl(GenlCtrl),
}

/// One request of an exchange.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) msg: Msg,
    pub(crate) dump: bool,
    pub(crate) op: Op,
    pub(crate) object: Object,
}

impl Request {
    pub(crate) fn ipvs(op: Op, object: Object, msg: IpvsMessage) -> Self {
        Self {
            msg: Msg::Ipvs(msg),
            dump: false,
            op,
            object,
        }
    }

    pub(crate) fn dump(op: Op, object: Object, msg: IpvsMessage) -> Self {
        Self {
            msg: Msg::Ipvs(msg),
            dump: true,
            op,
            object,
        }
    }
}

/// The answer to one request: the generic-netlink payloads of its reply messages, or why not.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) op: Op,
    pub(crate) result: Result<Vec<Vec<u8>>, Error>,
}

#[derive(Debug)]
struct Slot {
    op: Op,
    object: Object,
    replies: Vec<Vec<u8>>,
    done: Option<Result<(), i32>>,
}

/// A batch of requests sent in one buffer and their answers.
#[derive(Debug)]
pub(crate) struct Exchange {
    buf: Vec<u8>,
    first_seq: u32,
    slots: Vec<Slot>,
    open: usize,
}

fn serialize<F>(out: &mut Vec<u8>, mut genl: GenlMessage<F>, family: u16, seq: u32, flags: u16)
where
    F: GenlFamily + Emitable + std::fmt::Debug,
{
    genl.set_resolved_family_id(family);
    let mut nl = NetlinkMessage::from(genl);
    nl.header.flags = flags;
    nl.header.sequence_number = seq;
    nl.finalize();
    let start = out.len();
    out.resize(start + nl.buffer_len(), 0);
    nl.serialize(&mut out[start..]);
    debug_assert_eq!(nl.header.message_type, nl.payload.message_type());
}

impl Exchange {
    /// Serialises `requests` with sequence numbers from `first_seq` on, for the IPVS family
    /// `family`.
    pub(crate) fn new(family: u16, first_seq: u32, requests: Vec<Request>) -> Self {
        let mut buf = Vec::new();
        let mut slots = Vec::with_capacity(requests.len());
        for (i, r) in requests.into_iter().enumerate() {
            let seq = first_seq.wrapping_add(i as u32);
            let flags = NLM_F_REQUEST | if r.dump { NLM_F_DUMP } else { NLM_F_ACK };
            match r.msg {
                Msg::Ipvs(m) => {
                    serialize(&mut buf, GenlMessage::from_payload(m), family, seq, flags)
                }
                Msg::Ctrl(m) => {
                    let id = m.family_id();
                    serialize(&mut buf, GenlMessage::from_payload(m), id, seq, flags)
                }
            }
            slots.push(Slot {
                op: r.op,
                object: r.object,
                replies: Vec::new(),
                done: None,
            });
        }
        let open = slots.len();
        Self {
            buf,
            first_seq,
            slots,
            open,
        }
    }

    /// The bytes to send.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The operation of the first request (for errors of the whole exchange).
    pub(crate) fn op(&self) -> Op {
        self.slots.first().map(|s| s.op).unwrap_or(Op::Connect)
    }

    /// Whether every request has its final answer.
    pub(crate) fn is_complete(&self) -> bool {
        self.open == 0
    }

    /// Feeds one received datagram (one or more netlink messages).
    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            let nb = NetlinkBuffer::new_checked(data).map_err(|e| e.to_string())?;
            let len = nb.length() as usize;
            let (seq, kind) = (nb.sequence_number(), nb.message_type());
            let payload = nb.payload();
            data = data.get((len + 3) & !3..).unwrap_or_default();
            let idx = seq.wrapping_sub(self.first_seq) as usize;
            let Some(slot) = self.slots.get_mut(idx) else {
                continue;
            };
            if slot.done.is_some() {
                continue;
            }
            let code = || -> Result<i32, String> {
                let b: [u8; 4] = payload
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .ok_or("truncated error message")?;
                Ok(i32::from_ne_bytes(b))
            };
            match kind {
                NLMSG_NOOP | NLMSG_OVERRUN => {}
                NLMSG_ERROR => {
                    let c = code()?;
                    slot.done = Some(if c == 0 { Ok(()) } else { Err(-c) });
                }
                NLMSG_DONE => {
                    // A DONE may carry no code at all; a negative one is a dump error.
                    let c = if payload.is_empty() { 0 } else { code()? };
                    slot.done = Some(if c < 0 { Err(-c) } else { Ok(()) });
                }
                _ => {
                    slot.replies.push(payload.to_vec());
                    continue;
                }
            }
            if slot.done.is_some() {
                self.open -= 1;
            }
        }
        Ok(())
    }

    /// The answers, in request order; requests still open are marked lost (their answers were
    /// dropped by a receive-queue overflow).
    pub(crate) fn finish(self) -> Vec<Reply> {
        self.slots
            .into_iter()
            .map(|s| {
                let result = match s.done {
                    Some(Ok(())) => Ok(s.replies),
                    Some(Err(errno)) => Err(Error::kernel(s.op, s.object, errno)),
                    None => Err(Error::ReplyLost {
                        op: s.op,
                        object: s.object,
                    }),
                };
                Reply { op: s.op, result }
            })
            .collect()
    }
}

/// Sequence numbers and statistics shared by both clients.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) family: u16,
    next_seq: u32,
    pub(crate) counters: crate::Counters,
}

impl Core {
    pub(crate) fn new(seed: u32) -> Self {
        Self {
            family: 0,
            next_seq: seed.max(1),
            counters: crate::Counters::default(),
        }
    }

    /// Builds the exchange for `requests` and counts it.
    pub(crate) fn exchange(&mut self, requests: Vec<Request>) -> Exchange {
        let n = requests.len() as u32;
        self.counters.sends += 1;
        self.counters.requests += u64::from(n);
        self.counters.dumps += requests.iter().filter(|r| r.dump).count() as u64;
        let ex = Exchange::new(self.family, self.next_seq, requests);
        self.next_seq = self.next_seq.wrapping_add(n).max(1);
        ex
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::IpvsCmd;

    fn msg(seq: u32, kind: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&7u32.to_ne_bytes());
        v.extend_from_slice(payload);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    fn ack(seq: u32, errno: i32) -> Vec<u8> {
        let mut p = (-errno).to_ne_bytes().to_vec();
        p.extend_from_slice(&[0; 16]); // the request's header (NETLINK_CAP_ACK)
        msg(seq, NLMSG_ERROR, 0x100, &p)
    }

    fn flush() -> Request {
        Request::ipvs(
            Op::Flush,
            Object::None,
            IpvsMessage::new(IpvsCmd::Flush, vec![]),
        )
    }

    #[test]
    fn batch_is_matched_by_sequence_number_in_any_datagram_split() {
        let mut core = Core::new(100);
        core.family = 32;
        let ex = core.exchange(vec![flush(), flush(), flush()]);
        // Three 20-byte requests: header with our flags and consecutive sequence numbers.
        assert_eq!(ex.bytes().len(), 60);
        assert_eq!(&ex.bytes()[4..6], &32u16.to_ne_bytes());
        assert_eq!(
            &ex.bytes()[6..8],
            &(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes()
        );
        assert_eq!(&ex.bytes()[48..52], &102u32.to_ne_bytes());
        let mut ex = ex;
        let mut d = ack(100, 0);
        d.extend(ack(999, 0)); // stray: ignored
        ex.feed(&d).expect("feed");
        assert!(!ex.is_complete());
        let mut d = ack(102, 0);
        d.extend(ack(101, libc::EINVAL));
        ex.feed(&d).expect("feed");
        assert!(ex.is_complete());
        let r = ex.finish();
        assert!(r[0].result.is_ok());
        assert_eq!(
            r[1].result.as_ref().map_err(|e| e.errno()).err(),
            Some(Some(libc::EINVAL))
        );
        assert!(r[2].result.is_ok());
        assert_eq!(core.counters.requests, 3);
        assert_eq!(core.counters.sends, 1);
    }

    #[test]
    fn dump_collects_multipart_until_done_and_lost_answers_are_reported() {
        let mut core = Core::new(1);
        let req = Request::dump(
            Op::ListServices,
            Object::None,
            IpvsMessage::new(IpvsCmd::GetService, vec![]),
        );
        let mut ex = core.exchange(vec![req.clone()]);
        ex.feed(&msg(1, 32, 2, &[1, 1, 0, 0])).expect("feed");
        ex.feed(&msg(1, 32, 2, &[1, 1, 0, 0])).expect("feed");
        assert!(!ex.is_complete());
        ex.feed(&msg(1, NLMSG_DONE, 2, &0i32.to_ne_bytes()))
            .expect("feed");
        assert!(ex.is_complete());
        let r = ex.finish();
        assert_eq!(r[0].result.as_ref().map(|v| v.len()).ok(), Some(2));
        assert_eq!(core.counters.dumps, 1);

        let ex = core.exchange(vec![flush()]);
        let r = ex.finish();
        assert!(matches!(r[0].result, Err(Error::ReplyLost { .. })));

        let mut ex = core.exchange(vec![flush()]);
        assert!(ex.feed(&[1, 2, 3]).is_err());
    }
}
