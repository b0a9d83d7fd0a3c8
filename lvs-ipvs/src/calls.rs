//! Each client operation as requests plus a decoder of their replies, shared by the blocking and
//! the tokio client (which only run the exchange).

use lvs_core::model::{DestKey, Destination, Operation, Service, ServiceKey};
use netlink_packet_core::ParseableParametrized;
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlHeader;

use crate::convert;
use crate::engine::{Msg, Reply, Request};
use crate::error::{Error, Object, Op};
use crate::types::{DaemonState, DestinationStatus, Info, ServiceStatus, SyncDaemon, Timeouts};
use crate::wire::{Attrs, CmdAttr, DaemonAttr, InfoAttr, IpvsCmd, IpvsMessage, GENL_HEADER_LEN};

type Decoder<T> = Box<dyn FnOnce(Vec<Reply>) -> Result<T, Error> + Send>;

/// Requests to send in one exchange and how to read their answers.
pub(crate) struct Call<T> {
    pub(crate) requests: Vec<Request>,
    pub(crate) decode: Decoder<T>,
}

impl<T> Call<T> {
    fn new(
        requests: Vec<Request>,
        decode: impl FnOnce(Vec<Reply>) -> Result<T, Error> + Send + 'static,
    ) -> Self {
        Self {
            requests,
            decode: Box::new(decode),
        }
    }
}

/// The replies of the last request, or its error (earlier requests' errors first).
fn last_ok(replies: Vec<Reply>) -> Result<(Op, Vec<Vec<u8>>), Error> {
    let mut out = None;
    for r in replies {
        out = Some((r.op, r.result?));
    }
    out.ok_or(Error::Decode {
        op: Op::Connect,
        reason: "no answer".into(),
    })
}

fn decode_ipvs(op: Op, payload: &[u8]) -> Result<IpvsMessage, Error> {
    IpvsMessage::parse_genl(payload).map_err(|e| Error::Decode {
        op,
        reason: e.to_string(),
    })
}

fn ack_only(op: Op, object: Object, msg: IpvsMessage) -> Call<()> {
    Call::new(vec![Request::ipvs(op, object, msg)], |r| {
        last_ok(r).map(|_| ())
    })
}

fn invalid(op: Op, object: Object) -> impl FnOnce(String) -> Error {
    move |reason| Error::Invalid { op, object, reason }
}

/// Resolves the "IPVS" family id with the generic-netlink controller.
pub(crate) fn resolve_family() -> Call<u16> {
    let msg = GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(
            crate::wire::IPVS_GENL_NAME.into(),
        )],
    };
    let req = Request {
        msg: Msg::Ctrl(msg),
        dump: false,
        op: Op::Connect,
        object: Object::None,
    };
    Call::new(vec![req], |replies| {
        let (_, payloads) = last_ok(replies).map_err(|e| match e.errno() {
            Some(libc::ENOENT) => Error::NotAvailable,
            _ => e,
        })?;
        for p in payloads {
            let header = GenlHeader::parse(&p).map_err(|e| Error::Decode {
                op: Op::Connect,
                reason: e.to_string(),
            })?;
            let ctrl = GenlCtrl::parse_with_param(&p[GENL_HEADER_LEN..], header).map_err(|e| {
                Error::Decode {
                    op: Op::Connect,
                    reason: e.to_string(),
                }
            })?;
            for a in ctrl.nlas {
                if let GenlCtrlAttrs::FamilyId(id) = a {
                    return Ok(id);
                }
            }
        }
        Err(Error::NotAvailable)
    })
}

fn services_of(op: Op, payloads: &[Vec<u8>]) -> Result<Vec<ServiceStatus>, Error> {
    let mut out = Vec::with_capacity(payloads.len());
    for p in payloads {
        let m = decode_ipvs(op, p)?;
        for a in m.cmd_attrs() {
            if let CmdAttr::Service(s) = a {
                out.push(
                    convert::decode_service(s).map_err(|reason| Error::Decode { op, reason })?,
                );
            }
        }
    }
    Ok(out)
}

pub(crate) fn list_services() -> Call<Vec<ServiceStatus>> {
    Call::new(
        vec![Request::dump(
            Op::ListServices,
            Object::None,
            IpvsMessage::new(IpvsCmd::GetService, vec![]),
        )],
        |r| services_of(Op::ListServices, &last_ok(r)?.1),
    )
}

fn get_service_request(op: Op, key: &ServiceKey) -> Request {
    Request::ipvs(
        op,
        Object::Service(*key),
        IpvsMessage::new(
            IpvsCmd::GetService,
            vec![CmdAttr::Service(convert::service_id(key))],
        ),
    )
}

pub(crate) fn get_service(key: &ServiceKey) -> Call<ServiceStatus> {
    let key = *key;
    Call::new(vec![get_service_request(Op::GetService, &key)], move |r| {
        services_of(Op::GetService, &last_ok(r)?.1)?
            .into_iter()
            .next()
            .ok_or(Error::kernel(
                Op::GetService,
                Object::Service(key),
                libc::ESRCH,
            ))
    })
}

/// The dump of one service's destinations, for a service known to exist.
pub(crate) fn dest_dump_request(key: &ServiceKey) -> Request {
    Request::dump(
        Op::ListDestinations,
        Object::Service(*key),
        IpvsMessage::new(
            IpvsCmd::GetDest,
            vec![CmdAttr::Service(convert::service_id(key))],
        ),
    )
}

pub(crate) fn dests_of(
    key: &ServiceKey,
    payloads: &[Vec<u8>],
) -> Result<Vec<DestinationStatus>, Error> {
    let op = Op::ListDestinations;
    let mut out = Vec::with_capacity(payloads.len());
    for p in payloads {
        let m = decode_ipvs(op, p)?;
        for a in m.cmd_attrs() {
            if let CmdAttr::Dest(d) = a {
                out.push(
                    convert::decode_dest(d, key.af())
                        .map_err(|reason| Error::Decode { op, reason })?,
                );
            }
        }
    }
    Ok(out)
}

/// A GET_SERVICE first (the kernel answers a dump for a missing service with nothing, so
/// this is how "no such service" is told from "no destinations"), then the dump, in one send.
pub(crate) fn list_destinations(key: &ServiceKey) -> Call<Vec<DestinationStatus>> {
    let key = *key;
    Call::new(
        vec![
            get_service_request(Op::ListDestinations, &key),
            dest_dump_request(&key),
        ],
        move |r| dests_of(&key, &last_ok(r)?.1),
    )
}

/// The request for one model operation.
pub(crate) fn operation(op: &Operation) -> Result<Request, Error> {
    Ok(match op {
        Operation::AddService(s) => service_change(Op::AddService, IpvsCmd::NewService, s)?,
        Operation::EditService(s) => service_change(Op::EditService, IpvsCmd::SetService, s)?,
        Operation::DeleteService(k) => Request::ipvs(
            Op::DeleteService,
            Object::Service(*k),
            IpvsMessage::new(
                IpvsCmd::DelService,
                vec![CmdAttr::Service(convert::service_id(k))],
            ),
        ),
        Operation::AddDestination { service, dest } => {
            dest_change(Op::AddDestination, IpvsCmd::NewDest, service, dest)
        }
        Operation::EditDestination { service, dest } => {
            dest_change(Op::EditDestination, IpvsCmd::SetDest, service, dest)
        }
        Operation::DeleteDestination { service, dest } => Request::ipvs(
            Op::DeleteDestination,
            Object::Destination(*service, *dest),
            IpvsMessage::new(
                IpvsCmd::DelDest,
                vec![
                    CmdAttr::Service(convert::service_id(service)),
                    CmdAttr::Dest(convert::dest_id(dest)),
                ],
            ),
        ),
    })
}

fn service_change(op: Op, cmd: IpvsCmd, s: &Service) -> Result<Request, Error> {
    let object = Object::Service(s.key);
    let attrs = convert::service_full(s).map_err(invalid(op, object.clone()))?;
    Ok(Request::ipvs(
        op,
        object,
        IpvsMessage::new(cmd, vec![CmdAttr::Service(attrs)]),
    ))
}

fn dest_change(op: Op, cmd: IpvsCmd, service: &ServiceKey, d: &Destination) -> Request {
    Request::ipvs(
        op,
        Object::Destination(*service, d.key()),
        IpvsMessage::new(
            cmd,
            vec![
                CmdAttr::Service(convert::service_id(service)),
                CmdAttr::Dest(convert::dest_full(d)),
            ],
        ),
    )
}

pub(crate) fn change(op: &Operation) -> Result<Call<()>, Error> {
    let req = operation(op)?;
    Ok(Call::new(vec![req], |r| last_ok(r).map(|_| ())))
}

pub(crate) fn delete_destination(service: &ServiceKey, dest: &DestKey) -> Result<Call<()>, Error> {
    change(&Operation::DeleteDestination {
        service: *service,
        dest: *dest,
    })
}

pub(crate) fn get_timeouts() -> Call<Timeouts> {
    Call::new(
        vec![Request::ipvs(
            Op::GetTimeouts,
            Object::None,
            IpvsMessage::new(IpvsCmd::GetConfig, vec![]),
        )],
        |r| {
            let (op, payloads) = last_ok(r)?;
            let p = payloads.first().ok_or(Error::Decode {
                op,
                reason: "no GET_CONFIG reply".into(),
            })?;
            Ok(convert::decode_timeouts(decode_ipvs(op, p)?.cmd_attrs()))
        },
    )
}

pub(crate) fn set_timeouts(t: &Timeouts) -> Call<()> {
    ack_only(
        Op::SetTimeouts,
        Object::None,
        IpvsMessage::new(IpvsCmd::SetConfig, convert::timeouts_attrs(t)),
    )
}

pub(crate) fn list_daemons() -> Call<Vec<SyncDaemon>> {
    Call::new(
        vec![Request::dump(
            Op::ListDaemons,
            Object::None,
            IpvsMessage::new(IpvsCmd::GetDaemon, vec![]),
        )],
        |r| {
            let (op, payloads) = last_ok(r)?;
            let mut out = Vec::new();
            for p in payloads {
                for a in decode_ipvs(op, &p)?.cmd_attrs() {
                    if let CmdAttr::Daemon(d) = a {
                        out.push(
                            convert::decode_daemon(d)
                                .map_err(|reason| Error::Decode { op, reason })?,
                        );
                    }
                }
            }
            Ok(out)
        },
    )
}

pub(crate) fn start_daemon(d: &SyncDaemon) -> Result<Call<()>, Error> {
    let object = Object::Daemon(d.state);
    let attrs = convert::daemon_full(d).map_err(invalid(Op::StartDaemon, object.clone()))?;
    Ok(ack_only(
        Op::StartDaemon,
        object,
        IpvsMessage::new(IpvsCmd::NewDaemon, vec![CmdAttr::Daemon(attrs)]),
    ))
}

pub(crate) fn stop_daemon(state: DaemonState) -> Call<()> {
    ack_only(
        Op::StopDaemon,
        Object::Daemon(state),
        IpvsMessage::new(
            IpvsCmd::DelDaemon,
            vec![CmdAttr::Daemon(vec![DaemonAttr::State(state.value())])],
        ),
    )
}

pub(crate) fn zero(key: Option<&ServiceKey>) -> Call<()> {
    let (object, attrs) = match key {
        Some(k) => (
            Object::Service(*k),
            vec![CmdAttr::Service(convert::service_id(k))],
        ),
        None => (Object::None, vec![]),
    };
    ack_only(Op::Zero, object, IpvsMessage::new(IpvsCmd::Zero, attrs))
}

pub(crate) fn flush() -> Call<()> {
    ack_only(
        Op::Flush,
        Object::None,
        IpvsMessage::new(IpvsCmd::Flush, vec![]),
    )
}

pub(crate) fn info() -> Call<Info> {
    Call::new(
        vec![Request::ipvs(
            Op::Info,
            Object::None,
            IpvsMessage::new(IpvsCmd::GetInfo, vec![]),
        )],
        |r| {
            let (op, payloads) = last_ok(r)?;
            let p = payloads.first().ok_or(Error::Decode {
                op,
                reason: "no GET_INFO reply".into(),
            })?;
            let m = decode_ipvs(op, p)?;
            let mut info = Info {
                version: 0,
                conn_tab_size: 0,
            };
            if let Attrs::Info(attrs) = &m.attrs {
                for a in attrs {
                    match a {
                        InfoAttr::Version(v) => info.version = *v,
                        InfoAttr::ConnTabSize(v) => info.conn_tab_size = *v,
                        _ => {}
                    }
                }
            }
            Ok(info)
        },
    )
}

pub(crate) fn list_services_decode(payloads: &[Vec<u8>]) -> Result<Vec<ServiceStatus>, Error> {
    services_of(Op::ListServices, payloads)
}
