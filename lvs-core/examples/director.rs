//! surealived's director without the daemon: load a service file, let the first real of each
//! virtual fail, drain the second with an operator `rset`, and print what each change asks
//! for (diff records, dumps, notifiers) and the `ipvsfull.cfg` the daemon would write.
//!
//! ```sh
//! cargo run -p lvs-core --example director -- examples/surealived/notify.xml
//! ```

use lvs_core::config::xml::{load_service_xml, TesterRegistry};
use lvs_core::director::{Change, Director};
use lvs_core::formats::ipvsfull::Meta;
use lvs_core::state::{AdminState, Hysteresis};

fn show(what: &str, c: &Change) {
    println!("# {what}");
    for r in &c.diff {
        print!("{}", r.write());
    }
    for n in &c.notifications {
        println!("run {} {}", n.script.display(), n.args.join(" "));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "examples/surealived/notify.xml".into());
    let config = load_service_xml(path.as_ref(), &TesterRegistry::builtin())?;
    let mut director = Director::new(&config);
    for v in &config.virtuals {
        for r in &v.reals {
            director.mark_tested(&v.key, &r.key());
        }
        show("every real tested", &director.evaluate_notifiers());
        if let Some(first) = v.reals.first() {
            let failed = Hysteresis::new_offline(v.tester.retries2ok, v.tester.retries2fail)
                .ok_or("retries are at least 1 in a validated config")?;
            let mut c = director.set_verdict(&v.key, &first.key(), failed);
            c.merge(director.evaluate_notifiers());
            show(&format!("{} of {} fails", first.name, v.name), &c);
        }
        if let Some(second) = v.reals.get(1) {
            let (reply, c) =
                director.rset(&v.key, &second.key(), Some(AdminState::Offline), None)?;
            show(&format!("rset {} rstate={}", second.name, reply.rstate), &c);
        }
    }
    println!("# offline.dump\n{}", director.offline_dump().write());
    println!("# override.dump\n{}", director.override_dump().write());
    println!("# notify.dump\n{}", director.notify_dump().write());
    let full = director.full_config(
        Meta::from_unix(0, 0),
        "/var/lib/surealived/diffs/diff_sync.0".into(),
    );
    print!("# ipvsfull.cfg\n{}", full.write());
    Ok(())
}
