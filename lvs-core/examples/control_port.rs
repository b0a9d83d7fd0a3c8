//! The control port without a network: a small [`ControlHandler`] over one virtual, and request
//! lines answered by [`respond`] as the server would (parse, lookup, handler call, reply).
//!
//! ```sh
//! cargo run -p lvs-core --example control_port
//! ```

use std::net::IpAddr;
use std::sync::Mutex;

use lvs_core::control::{
    respond, ControlHandler, ProcessUsage, RealView, RsetReply, StatsView, VirtualConnStats,
    VirtualListing, VirtualView,
};
use lvs_core::formats::ipvsfull::{Rt, VProto};
use lvs_core::model::{DestKey, Protocol, ServiceKey};
use lvs_core::state::{AdminState, WeightOverride};

/// One virtual with two reals; `rset` changes the real in place.
struct Director {
    listing: Mutex<Vec<VirtualListing>>,
}

impl ControlHandler for Director {
    fn listing(&self) -> Vec<VirtualListing> {
        self.listing.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn rset(
        &self,
        virtual_key: &ServiceKey,
        real: &DestKey,
        rstate: Option<AdminState>,
        rweight: Option<WeightOverride>,
    ) -> Result<RsetReply, String> {
        let mut listing = self.listing.lock().map_err(|_| "state lock poisoned")?;
        let r = listing
            .iter_mut()
            .filter(|l| l.virtual_view.key == *virtual_key)
            .flat_map(|l| l.reals.iter_mut())
            .find(|r| r.key == *real)
            .ok_or("the real is gone")?;
        if let Some(s) = rstate {
            r.rstate = s;
        }
        if rweight.is_some() {
            r.weight_override = rweight;
        }
        let weight = r
            .weight_override
            .map_or(r.conf_weight, WeightOverride::value);
        r.current_weight = if r.online && r.rstate == AdminState::Online {
            r.weight_override
                .map_or(r.conf_weight, |w| w.apply(r.conf_weight))
        } else {
            0
        };
        Ok(RsetReply {
            rstate: r.rstate,
            weight,
            in_percent: r.weight_override.is_some_and(WeightOverride::is_percent),
        })
    }

    fn stats(&self) -> StatsView {
        StatsView::default()
    }

    fn connstats(&self) -> Option<Vec<VirtualConnStats>> {
        None
    }
}

fn real(name: &str, addr: [u8; 4]) -> RealView {
    RealView {
        key: DestKey {
            addr: IpAddr::from(addr),
            port: 80,
        },
        name: name.into(),
        current_weight: 10,
        conf_weight: 10,
        online: true,
        rstate: AdminState::Online,
        weight_override: None,
        in_ipvs: true,
    }
}

fn main() {
    let vip = IpAddr::from([192, 0, 2, 10]);
    let director = Director {
        listing: Mutex::new(vec![VirtualListing {
            virtual_view: VirtualView {
                key: ServiceKey::Inet {
                    protocol: Protocol::Tcp,
                    addr: vip,
                    port: 80,
                },
                name: "www".into(),
                proto: VProto::Tcp,
                addr: vip,
                port: 80,
                fwmark: 0,
                rt: Rt::Dr,
                sched: "wlc".into(),
            },
            reals: vec![
                real("web1", [198, 51, 100, 1]),
                real("web2", [198, 51, 100, 2]),
            ],
        }]),
    };
    for line in [
        "vlist",
        "rset vproto=tcp vaddr=192.0.2.10 vport=80 raddr=198.51.100.2 rport=80 rweight=50%",
        "rlist vproto=tcp vaddr=192.0.2.10 vport=80",
        "rlist vproto=tcp vaddr=192.0.2.10 vport=80 json",
        "rlist vproto=udp vaddr=192.0.2.10 vport=80",
        "connstats",
    ] {
        let reply = respond(&director, line, ProcessUsage::default);
        print!("> {line}\n{}", reply.text);
    }
}
