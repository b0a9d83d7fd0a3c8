//! On a host without IPVS (the build and CI machines), the client fails loudly instead of
//! pretending: kubernetes found moby's client silently "succeeding" with family id 0 there.

use std::path::Path;

#[test]
fn a_kernel_without_ipvs_is_reported_as_such() {
    if Path::new("/proc/net/ip_vs").exists() {
        // A kernel with IPVS: the family resolves (or, unprivileged, the lookup still works).
        let c = lvs_ipvs::Client::new().expect("IPVS is loaded, the family must resolve");
        assert_ne!(c.family_id(), 0);
        return;
    }
    match lvs_ipvs::Client::new() {
        Err(e @ lvs_ipvs::Error::NotAvailable) => {
            assert_eq!(
                e.to_string(),
                "IPVS not available: modprobe ip_vs (the kernel has no generic netlink family \"IPVS\")"
            );
        }
        Err(e) => panic!("expected NotAvailable, got {e}"),
        Ok(c) => panic!(
            "no /proc/net/ip_vs, yet the family resolved to {}",
            c.family_id()
        ),
    }
}
