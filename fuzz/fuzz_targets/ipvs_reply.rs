//! The IPVS generic-netlink codec: parse -> emit -> parse gives the same message, the second
//! emit gives the same bytes, and the model view of every service and destination nest survives
//! being encoded as the client would send it and decoded again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_core::model::AddressFamily;
use lvs_ipvs::wire::{self, CmdAttr, IpvsMessage};

fuzz_target!(|data: &[u8]| {
    let Ok(m) = IpvsMessage::parse_genl(data) else {
        return;
    };
    let bytes = m.emit_genl();
    let again = IpvsMessage::parse_genl(&bytes).expect("an emitted message parses");
    assert_eq!(m, again);
    assert_eq!(again.emit_genl(), bytes);

    for a in m.cmd_attrs() {
        match a {
            CmdAttr::Service(s) => {
                if let Ok(st) = wire::service_status(s) {
                    let sent = wire::service_attrs(&st.service).expect("a decoded service encodes");
                    let back = wire::service_status(&sent).expect("what we send decodes");
                    assert_eq!(back.service, st.service);
                }
            }
            CmdAttr::Dest(d) => {
                for af in [AddressFamily::Inet, AddressFamily::Inet6] {
                    if let Ok(st) = wire::destination_status(d, af) {
                        let sent = wire::destination_attrs(&st.dest);
                        let back = wire::destination_status(&sent, af).expect("what we send decodes");
                        assert_eq!(back.dest, st.dest);
                    }
                }
            }
            _ => {}
        }
    }
});
