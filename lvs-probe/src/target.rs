//! What a probe tests: one real server as its tester sees it.

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use lvs_core::config::xml::{AttrValue, ModuleAttrs, Real, Tester};

/// One real as a tester tests it: the address, the test port, the tester kind, whether TLS wraps
/// the connection, and the module attributes in force for this real (the tester's, overridden
/// by the real's, defaults filled in by `lvs-core`'s loader).
///
/// Two targets that compare equal are the same test: an engine may run it once for several
/// virtuals and share the outcome (targets hash consistently with equality, to key a map).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The real's address.
    pub addr: IpAddr,
    /// The port to test (the real's `testport`, else the tester's).
    pub port: u16,
    /// The tester kind, the name of the prober (`tcp`, `http`, ..., `no-test`).
    pub kind: String,
    /// `SSL="1"`: wrap the TCP connection in TLS.
    pub ssl: bool,
    /// The module attributes for this real, shared: the reals of a tester mostly have the same
    /// ones, and an engine keeps one copy for them all.
    pub attrs: Arc<ModuleAttrs>,
    /// Keep the conversation in the outcome (for `debugcomm`).
    pub transcript: bool,
}

impl Target {
    /// A target of kind `kind` at `addr:port`, without TLS, attributes or transcript; attributes
    /// set by hand are not validated (the loader's defaults are not applied either).
    pub fn new(kind: impl Into<String>, addr: IpAddr, port: u16) -> Self {
        Self {
            addr,
            port,
            kind: kind.into(),
            ssl: false,
            attrs: Arc::new(ModuleAttrs::default()),
            transcript: false,
        }
    }

    /// The target for `real` tested by `tester`, from a validated service file. The transcript
    /// is off: the engine turns it on when `debugcomm` applies.
    pub fn from_config(tester: &Tester, real: &Real) -> Self {
        Self {
            addr: real.addr,
            port: real.testport,
            kind: tester.kind.clone(),
            ssl: tester.ssl,
            attrs: Arc::new(real.attrs.clone()),
            transcript: false,
        }
    }

    /// Sets a module attribute.
    pub fn attr(mut self, name: &str, value: AttrValue) -> Self {
        Arc::make_mut(&mut self.attrs).insert(name, value);
        self
    }

    /// Sets a string module attribute.
    pub fn str_attr(self, name: &str, value: &str) -> Self {
        self.attr(name, AttrValue::String(value.to_string()))
    }

    /// Turns TLS on or off.
    pub fn with_ssl(mut self, ssl: bool) -> Self {
        self.ssl = ssl;
        self
    }

    /// Keeps the conversation, or not.
    pub fn with_transcript(mut self, transcript: bool) -> Self {
        self.transcript = transcript;
        self
    }

    /// `addr:port`.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
    }
}

impl Hash for Target {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.addr.hash(state);
        self.port.hash(state);
        self.kind.hash(state);
        self.ssl.hash(state);
        self.transcript.hash(state);
        // Attribute values have no Hash of their own; equal values print the same.
        for (name, value) in self.attrs.iter() {
            name.hash(state);
            value.to_string().hash(state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvs_core::config::xml::{parse_service_xml, TesterRegistry};

    #[test]
    fn from_config_takes_the_real_test_port_and_merged_attributes() {
        let xml = r#"<surealived>
          <virtual name="web" addr="192.0.2.1" port="443" proto="tcp" sched="wrr" rt="dr">
            <tester proto="http" testport="443" SSL="1" url="/" host="a.example"/>
            <real name="a" addr="127.0.0.1" port="443" weight="1" testport="8443" url="/health"/>
          </virtual>
        </surealived>"#;
        let cfg = parse_service_xml(xml, "t.xml", &TesterRegistry::builtin()).expect("valid");
        let v = &cfg.virtuals[0];
        let t = Target::from_config(&v.tester, &v.reals[0]);
        assert_eq!(t.socket_addr(), "127.0.0.1:8443".parse().expect("addr"));
        assert!(t.ssl);
        assert_eq!(t.kind, "http");
        assert_eq!(t.attrs.str("url"), Some("/health"));
        assert_eq!(t.attrs.str("host"), Some("a.example"));
        assert_eq!(t.attrs.bool("naive"), Some(true));
    }

    #[test]
    fn identical_tests_are_one_key() {
        use std::collections::HashSet;
        let ip = "127.0.0.1".parse().expect("ip");
        let a = Target::new("http", ip, 80).str_attr("url", "/");
        let mut set = HashSet::new();
        set.insert(a.clone());
        assert!(set.contains(&Target::new("http", ip, 80).str_attr("url", "/")));
        assert!(!set.contains(&a.clone().str_attr("url", "/x")));
        assert!(!set.contains(&a.clone().with_ssl(true)));
        assert!(!set.contains(&Target::new("http", ip, 81).str_attr("url", "/")));
    }
}
