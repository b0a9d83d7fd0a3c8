//! From a surealived XML file to the operations that would program the kernel: load and validate
//! the file, start every real's state as the original does (online), let the first real of each
//! virtual fail one test, build the wanted table and print the diff from an empty kernel table.
//!
//! ```sh
//! cargo run -p lvs-core --example wanted_table -- examples/surealived/demo.xml
//! ```

use lvs_core::config::xml::{load_service_xml, TesterRegistry};
use lvs_core::model::{diff, Table, UnmanagedPolicy};
use lvs_core::state::{Hysteresis, RealState};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "examples/surealived/demo.xml".into());
    let config = load_service_xml(path.as_ref(), &TesterRegistry::builtin())?;

    let mut wanted = Table::new();
    for v in &config.virtuals {
        wanted.insert_service(v.service());
        for (i, real) in v.reals.iter().enumerate() {
            let rise_fall = Hysteresis::new(v.tester.retries2ok, v.tester.retries2fail)
                .ok_or("retries2ok and retries2fail are at least 1 in a validated config")?;
            let mut state = RealState::new(rise_fall);
            if i == 0 {
                // The first real of each virtual fails one test.
                if let Some(t) = state.record(false) {
                    println!("# {} {}: {t:?}", v.name, real.name);
                }
            }
            // Absent from IPVS when DOWN, or failed with remove_on_fail.
            if let Some(weight) = state.ipvs_weight(real.weight, v.tester.remove_on_fail) {
                wanted.insert_destination(&v.key, real.destination(weight))?;
            }
        }
    }
    for op in diff(&Table::new(), &wanted, UnmanagedPolicy::Keep) {
        println!("{op}");
    }
    Ok(())
}
