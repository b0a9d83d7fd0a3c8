//! A tester defined outside lvs-core: a program that brings its own prober declares the
//! attributes of `<tester proto="redis">`, and the loader validates them like the built-in ones
//! (unknown or misspelled attributes, missing mandatory ones, types, per-real overrides).
//!
//! ```sh
//! cargo run -p lvs-core --example custom_tester
//! ```

use lvs_core::config::xml::{
    parse_service_xml, AttrSpec, AttrType, AttrValue, TesterRegistry, TesterSpec, Transport,
};

const XML: &str = r#"<surealived>
<virtual name="cache" addr="192.0.2.10" port="6379" proto="tcp" sched="wlc" rt="dr">
  <tester proto="redis" testport="6379" password="s3cret" role="master"/>
  <real name="r1" addr="198.51.100.1" port="6379" weight="10"/>
  <real name="r2" addr="198.51.100.2" port="6379" weight="10" db="3" role="replica"/>
</virtual>
</surealived>
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut registry = TesterRegistry::builtin();
    registry.register(
        TesterSpec::new("redis", Transport::Tcp)
            .attr(AttrSpec::new("password", AttrType::String { max_len: 64 }).required())
            .attr(
                AttrSpec::new("db", AttrType::Uint)
                    .default_value(AttrValue::Uint(0))
                    .per_real(),
            )
            .attr(AttrSpec::new("role", AttrType::Enum(&["master", "replica"])).per_real()),
    )?;

    let config = parse_service_xml(XML, "cache.xml", &registry)?;
    for real in &config.virtuals[0].reals {
        println!(
            "{} db={:?} role={:?}",
            real.name,
            real.attrs.uint("db"),
            real.attrs.str("role")
        );
    }

    // A misspelled attribute of the user's tester is caught with a suggestion.
    let typo = XML.replace("password=", "pasword=");
    match parse_service_xml(&typo, "cache.xml", &registry) {
        Ok(_) => return Err("a misspelled attribute must be rejected".into()),
        Err(e) => println!("{e}"),
    }
    Ok(())
}
