//! The surealived XML service file (`services.xml`): virtuals, their tester and their reals.
//!
//! Two stages, as every loader of this crate:
//!
//! 1. [`RawDocument::parse`] reads the XML with quick-xml's event reader and checks the
//!    structure (`<surealived>` root, `<tester>` first and once in each `<virtual>`, then only
//!    `<real>`); it keeps every attribute as written, in order, with its line and column.
//! 2. [`RawDocument::validate`] checks and types every attribute against the schema and the
//!    [`TesterRegistry`], resolves defaults and inheritance (a real's test port, forwarding
//!    method and module attributes) and gives a [`ServiceConfig`].
//!
//! [`parse_service_xml`] does both; [`load_service_xml`] reads a file first. The loader never
//! looks at the file system beyond reading the file itself: scripts named by `exec` or the
//! notifiers are not checked for existence.
//!
//! ```
//! use lvs_core::config::xml::{parse_service_xml, TesterRegistry};
//!
//! let xml = r#"<surealived>
//!   <virtual name="web" addr="192.0.2.1" port="80" proto="tcp" sched="wrr" rt="dr">
//!     <tester proto="http" testport="80" url="/" host="www.example.com"/>
//!     <real name="a" addr="198.51.100.1" port="80" weight="10"/>
//!   </virtual>
//! </surealived>"#;
//! let cfg = parse_service_xml(xml, "services.xml", &TesterRegistry::builtin())?;
//! assert_eq!(cfg.virtuals[0].reals[0].testport, 80);
//! assert_eq!(cfg.virtuals[0].reals[0].attrs.bool("naive"), Some(true));
//! # Ok::<(), lvs_core::ParseError>(())
//! ```
//!
//! The accepted schema, its defaults, our extensions and where we are stricter than the
//! original are described in `docs/configuration.md`.

use std::path::Path;

use crate::error::{Error, ParseError};

mod raw;
mod registry;
mod validate;
mod values;

pub use raw::{RawAttr, RawDocument, RawElement, RawVirtual};
pub use registry::{
    AttrSpec, AttrType, AttrValue, ModuleAttrs, SpecError, StatusCodes, TesterRegistry, TesterSpec,
    Transport, DNS_QTYPES, REAL_ATTRS, TESTER_COMMON_ATTRS, VIRTUAL_ATTRS,
};
pub use validate::{Notifiers, Real, ServiceConfig, Tester, Threshold, Virtual};

/// Parses and validates the text of a service file. `file_label` names the file in errors.
pub fn parse_service_xml(
    text: &str,
    file_label: &str,
    registry: &TesterRegistry,
) -> Result<ServiceConfig, ParseError> {
    RawDocument::parse(text, file_label)?.validate(registry)
}

/// Reads, parses and validates a service file; errors are labelled with the path as given.
pub fn load_service_xml(path: &Path, registry: &TesterRegistry) -> Result<ServiceConfig, Error> {
    let text = crate::fsutil::read_xml_text(path)?;
    Ok(parse_service_xml(
        &text,
        &path.display().to_string(),
        registry,
    )?)
}
