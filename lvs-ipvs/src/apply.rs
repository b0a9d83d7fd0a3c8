//! Reading the kernel's table and applying a wanted one, as a sans-IO plan the clients drive:
//! each step is a list of requests for one exchange, and its replies feed the next step.
//!
//! 1. Dump the services (one dump).
//! 2. Dump the destinations of the services that matter (all of them for [`read`], only the
//!    services that are both in the kernel and wanted for an apply: an unmanaged service is
//!    deleted whole or left alone, never looked into). The kernel runs one dump at a time per
//!    socket, so that is one exchange per service.
//! 3. [`lvs_core::model::diff`] the two tables and send the operations in batches of
//!    `batch_size` requests per send, each with `NLM_F_ACK`, each answer matched by sequence
//!    number. A failed operation does not stop the others: the kernel goes on with the next
//!    message of the batch and every answer is reported.
//!
//! [`read`]: Plan::read

use std::collections::VecDeque;

use lvs_core::model::{diff, Operation, ServiceKey, Table, UnmanagedPolicy};

use crate::calls;
use crate::engine::{Reply, Request};
use crate::error::{Error, Object, Op};

/// The result of one operation of an apply.
#[derive(Debug)]
pub struct OpResult {
    /// The operation.
    pub operation: Operation,
    /// What the kernel said.
    pub result: Result<(), Error>,
}

/// What an apply did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// Every operation sent, in order, with its result.
    pub results: Vec<OpResult>,
    /// Services the kernel held before the apply.
    pub services_before: usize,
    /// Netlink requests of this apply (dumps included).
    pub requests: u64,
    /// Dump requests of this apply.
    pub dumps: u64,
    /// Send calls of this apply.
    pub sends: u64,
}

impl ApplyReport {
    /// Records what the client sent for this report: `now` minus `before`.
    pub(crate) fn count_since(&mut self, before: crate::Counters, now: crate::Counters) {
        self.requests = now.requests - before.requests;
        self.dumps = now.dumps - before.dumps;
        self.sends = now.sends - before.sends;
    }

    /// Whether every operation succeeded (also true when nothing had to change).
    pub fn is_success(&self) -> bool {
        self.results.iter().all(|r| r.result.is_ok())
    }

    /// The operations that failed.
    pub fn failures(&self) -> impl Iterator<Item = &OpResult> {
        self.results.iter().filter(|r| r.result.is_err())
    }

    /// Number of operations (changes) sent.
    pub fn changes(&self) -> usize {
        self.results.len()
    }
}

enum Stage {
    Services,
    Dests,
    Send,
    Done,
}

/// The state of a read or an apply.
pub(crate) struct Plan {
    wanted: Option<(Table, UnmanagedPolicy)>,
    stage: Stage,
    kernel: Table,
    to_dump: VecDeque<ServiceKey>,
    current: Option<ServiceKey>,
    ops: VecDeque<Operation>,
    in_flight: Vec<Operation>,
    batch_size: usize,
    pub(crate) report: ApplyReport,
}

impl Plan {
    /// Reads the whole kernel table.
    pub(crate) fn read() -> Self {
        Self::new(None, 1)
    }

    /// Applies `wanted`.
    pub(crate) fn apply(wanted: &Table, policy: UnmanagedPolicy, batch_size: usize) -> Self {
        Self::new(Some((wanted.clone(), policy)), batch_size)
    }

    /// Sends `ops` as they are, batched, without reading the kernel.
    pub(crate) fn execute(ops: &[Operation], batch_size: usize) -> Self {
        let mut p = Self::new(None, batch_size);
        p.stage = Stage::Send;
        p.ops = ops.iter().cloned().collect();
        p
    }

    fn new(wanted: Option<(Table, UnmanagedPolicy)>, batch_size: usize) -> Self {
        Self {
            wanted,
            stage: Stage::Services,
            kernel: Table::new(),
            to_dump: VecDeque::new(),
            current: None,
            ops: VecDeque::new(),
            in_flight: Vec::new(),
            batch_size: batch_size.max(1),
            report: ApplyReport::default(),
        }
    }

    /// The requests of the next exchange, or `None` when the plan is done.
    pub(crate) fn next(&mut self) -> Option<Vec<Request>> {
        loop {
            match self.stage {
                Stage::Services => return Some(calls::list_services().requests),
                Stage::Dests => match self.to_dump.pop_front() {
                    Some(k) => {
                        self.current = Some(k);
                        return Some(vec![calls::dest_dump_request(&k)]);
                    }
                    None => {
                        self.stage = Stage::Send;
                        if let Some((wanted, policy)) = &self.wanted {
                            self.ops = diff(&self.kernel, wanted, *policy).into();
                        }
                    }
                },
                Stage::Send => {
                    if self.ops.is_empty() {
                        self.stage = Stage::Done;
                        continue;
                    }
                    let mut reqs = Vec::new();
                    self.in_flight.clear();
                    while reqs.len() < self.batch_size {
                        let Some(op) = self.ops.pop_front() else {
                            break;
                        };
                        match calls::operation(&op) {
                            Ok(r) => {
                                reqs.push(r);
                                self.in_flight.push(op);
                            }
                            Err(e) => self.report.results.push(OpResult {
                                operation: op,
                                result: Err(e),
                            }),
                        }
                    }
                    if reqs.is_empty() {
                        continue;
                    }
                    return Some(reqs);
                }
                Stage::Done => return None,
            }
        }
    }

    /// Takes the outcome of the exchange `next` returned. An error of a read step ends the plan
    /// with that error; an error of a send step marks its operations and every remaining one.
    pub(crate) fn complete(&mut self, outcome: Result<Vec<Reply>, Error>) -> Result<(), Error> {
        match self.stage {
            Stage::Services => {
                let mut replies = outcome?;
                let payloads = replies.pop().map(|r| r.result).unwrap_or(Ok(Vec::new()))?;
                let services = calls::list_services_decode(&payloads)?;
                self.report.services_before = services.len();
                for s in services {
                    let key = s.service.key;
                    let dump = match &self.wanted {
                        None => true,
                        Some((w, _)) => w.get(&key).is_some(),
                    };
                    self.kernel.insert_service(s.service);
                    if dump {
                        self.to_dump.push_back(key);
                    }
                }
                self.stage = Stage::Dests;
            }
            Stage::Dests => {
                let key = self.current.take().ok_or(Error::Decode {
                    op: Op::ListDestinations,
                    reason: "no dump in flight".into(),
                })?;
                let mut replies = outcome?;
                let payloads = replies.pop().map(|r| r.result).unwrap_or(Ok(Vec::new()))?;
                for d in calls::dests_of(&key, &payloads)? {
                    // The service was just read; a concurrent delete makes this fail, and the
                    // destination is then rightly ignored.
                    let _ = self.kernel.insert_destination(&key, d.dest);
                }
            }
            Stage::Send => {
                let ops = std::mem::take(&mut self.in_flight);
                match outcome {
                    Ok(replies) => {
                        for (op, reply) in ops.into_iter().zip(replies) {
                            self.report.results.push(OpResult {
                                operation: op,
                                result: reply.result.map(|_| ()),
                            });
                        }
                    }
                    Err(e) => {
                        let reason = e.to_string();
                        for op in ops.into_iter().chain(self.ops.drain(..)) {
                            let (o, object) = describe(&op);
                            self.report.results.push(OpResult {
                                operation: op,
                                result: Err(Error::NotSent {
                                    op: o,
                                    object,
                                    reason: reason.clone(),
                                }),
                            });
                        }
                        self.stage = Stage::Done;
                    }
                }
            }
            Stage::Done => {}
        }
        Ok(())
    }

    /// The table read (for [`Plan::read`]).
    pub(crate) fn into_table(self) -> Table {
        self.kernel
    }
}

fn describe(op: &Operation) -> (Op, Object) {
    match op {
        Operation::AddService(s) => (Op::AddService, Object::Service(s.key)),
        Operation::EditService(s) => (Op::EditService, Object::Service(s.key)),
        Operation::DeleteService(k) => (Op::DeleteService, Object::Service(*k)),
        Operation::AddDestination { service, dest } => (
            Op::AddDestination,
            Object::Destination(*service, dest.key()),
        ),
        Operation::EditDestination { service, dest } => (
            Op::EditDestination,
            Object::Destination(*service, dest.key()),
        ),
        Operation::DeleteDestination { service, dest } => {
            (Op::DeleteDestination, Object::Destination(*service, *dest))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert;
    use crate::wire::{CmdAttr, IpvsCmd, IpvsMessage};
    use lvs_core::model::{Destination, Forwarding, Protocol, Scheduler, Service};

    fn key(n: u8) -> ServiceKey {
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: std::net::IpAddr::from([10, 0, 0, n]),
            port: 80,
        }
    }

    fn service(n: u8) -> Service {
        Service::new(key(n), Scheduler::new("rr").expect("rr"))
    }

    fn dest(n: u8, weight: u32) -> Destination {
        Destination::new(
            std::net::IpAddr::from([10, 1, 0, n]),
            80,
            weight,
            Forwarding::DirectRoute,
        )
    }

    /// What the kernel would answer a dump with: one message per nest.
    fn dump_reply(op: Op, nests: Vec<CmdAttr>) -> Result<Vec<Reply>, Error> {
        let payloads = nests
            .into_iter()
            .map(|n| IpvsMessage::new(IpvsCmd::NewService, vec![n]).emit_genl())
            .collect();
        Ok(vec![Reply {
            op,
            result: Ok(payloads),
        }])
    }

    fn svc_nest(s: &Service) -> CmdAttr {
        let mut attrs = convert::service_full(s).expect("encode");
        // The kernel adds HASHED to the flags of every reply.
        for a in &mut attrs {
            if let crate::wire::SvcAttr::Flags { flags, .. } = a {
                *flags |= crate::wire::SVC_F_HASHED;
            }
        }
        CmdAttr::Service(attrs)
    }

    fn acks(reqs: &[Request]) -> Result<Vec<Reply>, Error> {
        Ok(reqs
            .iter()
            .map(|r| Reply {
                op: r.op,
                result: Ok(vec![]),
            })
            .collect())
    }

    #[test]
    fn an_empty_kernel_costs_one_dump_then_batches() {
        let mut wanted = Table::new();
        for n in 1..=3 {
            wanted.insert_service(service(n));
            wanted.insert_destination(&key(n), dest(n, 1)).expect("svc");
        }
        let mut plan = Plan::apply(&wanted, UnmanagedPolicy::Keep, 4);
        let reqs = plan.next().expect("dump");
        assert_eq!(reqs.len(), 1);
        assert!(reqs[0].dump);
        plan.complete(dump_reply(Op::ListServices, vec![]))
            .expect("services");
        let b1 = plan.next().expect("batch 1");
        assert_eq!(b1.len(), 4);
        plan.complete(acks(&b1)).expect("acks");
        let b2 = plan.next().expect("batch 2");
        assert_eq!(b2.len(), 2);
        plan.complete(acks(&b2)).expect("acks");
        assert!(plan.next().is_none());
        assert_eq!(plan.report.changes(), 6);
        assert!(plan.report.is_success());
    }

    #[test]
    fn only_wanted_services_are_looked_into_and_one_weight_is_one_request() {
        let mut wanted = Table::new();
        wanted.insert_service(service(1));
        wanted.insert_destination(&key(1), dest(1, 5)).expect("svc");
        let mut plan = Plan::apply(&wanted, UnmanagedPolicy::Keep, 256);
        plan.next().expect("dump");
        // The kernel has the wanted service and an unmanaged one.
        plan.complete(dump_reply(
            Op::ListServices,
            vec![svc_nest(&service(1)), svc_nest(&service(2))],
        ))
        .expect("services");
        assert_eq!(plan.report.services_before, 2);
        let reqs = plan.next().expect("dest dump");
        assert_eq!(reqs.len(), 1);
        assert!(reqs[0].dump);
        assert_eq!(reqs[0].object, Object::Service(key(1)));
        plan.complete(dump_reply(
            Op::ListDestinations,
            vec![CmdAttr::Dest(convert::dest_full(&dest(1, 4)))],
        ))
        .expect("dests");
        let batch = plan.next().expect("the change");
        assert_eq!(batch.len(), 1);
        plan.complete(acks(&batch)).expect("ack");
        assert!(plan.next().is_none());
        assert_eq!(
            plan.report.results[0].operation,
            Operation::EditDestination {
                service: key(1),
                dest: dest(1, 5)
            }
        );
    }

    #[test]
    fn a_failed_send_marks_its_operations_and_the_rest_not_sent() {
        let ops: Vec<Operation> = (1..=5).map(|n| Operation::AddService(service(n))).collect();
        let mut plan = Plan::execute(&ops, 2);
        let b1 = plan.next().expect("batch");
        let mut replies = acks(&b1).expect("acks");
        replies[1].result = Err(Error::kernel(
            Op::AddService,
            Object::Service(key(2)),
            libc::EEXIST,
        ));
        plan.complete(Ok(replies)).expect("first batch");
        plan.next().expect("batch 2");
        plan.complete(Err(Error::Io {
            op: Op::AddService,
            source: std::io::Error::from_raw_os_error(libc::EBADF),
        }))
        .expect("a send error is reported per operation");
        assert!(plan.next().is_none());
        let r = &plan.report.results;
        assert_eq!(r.len(), 5);
        assert!(r[0].result.is_ok());
        assert_eq!(
            r[1].result.as_ref().err().and_then(Error::reason),
            Some(crate::Reason::ServiceExists)
        );
        assert!(r[2..]
            .iter()
            .all(|r| matches!(r.result, Err(Error::NotSent { .. }))));
    }
}
