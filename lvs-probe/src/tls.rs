//! TLS for `SSL="1"`: rustls client configurations, one per real, so that each real resumes its
//! own sessions.
//!
//! Like the original (an OpenSSL client without verification), certificates are not verified by
//! default: reals are addressed by IP and often carry the certificate of the public name. The
//! handshake signatures are still checked against the certificate presented, so a peer that
//! does not hold the key of its certificate still fails. The module attributes `ssl_verify`,
//! `ssl_sni` and `ssl_ca` turn verification on:
//!
//! * `ssl_sni="name"`: send this server name (SNI) and, when verifying, check the certificate
//!   against it; without it no SNI is sent and the certificate is checked against the real's IP;
//! * `ssl_verify="1"`: verify the chain and the name;
//! * `ssl_ca="/path.pem"`: the trust anchors (PEM); default `/etc/ssl/certs/ca-certificates.crt`.
//!
//! rustls speaks TLS 1.2 and 1.3 only: a real that offers nothing newer than TLS 1.1 fails the
//! handshake, where the original's SSLv23 client would have accepted it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::outcome::Failure;
use crate::target::Target;

/// Trust anchors used by `ssl_verify="1"` without `ssl_ca` (Debian's `ca-certificates`).
pub const DEFAULT_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Sessions kept per real (TLS 1.3 servers may hand out several tickets).
const SESSIONS_PER_REAL: usize = 4;

/// The TLS settings of a target, from its module attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsSettings {
    /// `ssl_verify`: verify the certificate chain and name.
    pub verify: bool,
    /// `ssl_sni`: the server name to send and verify.
    pub sni: Option<String>,
    /// `ssl_ca`: the trust anchors when verifying.
    pub ca: Option<PathBuf>,
}

impl TlsSettings {
    /// The settings of `target` (absent attributes: no verification, no SNI, default CA file).
    pub fn of(target: &Target) -> Self {
        Self {
            verify: target.attrs.bool("ssl_verify").unwrap_or(false),
            sni: target.attrs.str("ssl_sni").map(str::to_string),
            ca: target
                .attrs
                .path("ssl_ca")
                .map(Path::to_path_buf)
                .or_else(|| target.attrs.str("ssl_ca").map(PathBuf::from)),
        }
    }

    /// The server name to connect to `addr` with.
    pub fn server_name(&self, target: &Target) -> Result<ServerName<'static>, Failure> {
        match &self.sni {
            Some(name) => ServerName::try_from(name.clone()).map_err(|e| Failure::Config {
                reason: format!("ssl_sni `{name}`: {e}"),
            }),
            None => Ok(ServerName::IpAddress(target.addr.into())),
        }
    }
}

/// Client configurations for TLS probes: one base configuration per verification setting, and
/// one per real (sharing the base's verifier) with its own session store, so that each real
/// resumes its own sessions even when several share an SNI name.
#[derive(Debug)]
pub struct TlsSessions {
    provider: Arc<CryptoProvider>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// By (verify, CA file).
    bases: HashMap<(bool, Option<PathBuf>), Arc<ClientConfig>>,
    /// By real.
    reals: HashMap<(SocketAddr, TlsSettings), Arc<ClientConfig>>,
}

impl Default for TlsSessions {
    fn default() -> Self {
        Self::new()
    }
}

impl TlsSessions {
    /// An empty cache using rustls's `ring` provider.
    pub fn new() -> Self {
        Self {
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The configuration for `target` with `settings`, made on first use.
    pub fn config(
        &self,
        target: &Target,
        settings: &TlsSettings,
    ) -> Result<Arc<ClientConfig>, Failure> {
        let key = (target.socket_addr(), settings.clone());
        let mut inner = self.lock();
        if let Some(c) = inner.reals.get(&key) {
            return Ok(Arc::clone(c));
        }
        let base_key = (settings.verify, settings.ca.clone());
        let base = match inner.bases.get(&base_key) {
            Some(b) => Arc::clone(b),
            None => {
                let b = Arc::new(self.base_config(settings)?);
                inner.bases.insert(base_key, Arc::clone(&b));
                b
            }
        };
        let mut per_real = (*base).clone();
        per_real.resumption = Resumption::in_memory_sessions(SESSIONS_PER_REAL);
        let per_real = Arc::new(per_real);
        inner.reals.insert(key, Arc::clone(&per_real));
        Ok(per_real)
    }

    /// Drops the sessions of `target` (every setting).
    pub fn forget(&self, target: &Target) {
        let addr = target.socket_addr();
        self.lock().reals.retain(|(a, _), _| *a != addr);
    }

    /// Drops everything, including the trust anchors read from CA files (to re-read them).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.reals.clear();
        inner.bases.clear();
    }

    /// Number of reals with a configuration.
    pub fn len(&self) -> usize {
        self.lock().reals.len()
    }

    /// Whether no real has a configuration.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves only caches behind: keep using them.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn base_config(&self, settings: &TlsSettings) -> Result<ClientConfig, Failure> {
        let builder = ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| Failure::Config {
                reason: format!("TLS versions: {e}"),
            })?;
        let config = if settings.verify {
            let path = settings
                .ca
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CA_FILE));
            let roots = read_roots(&path)?;
            let verifier =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                    .build()
                    .map_err(|e| Failure::Config {
                        reason: format!("ssl_ca {}: {e}", path.display()),
                    })?;
            builder.with_webpki_verifier(verifier).with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify {
                    provider: Arc::clone(&self.provider),
                }))
                .with_no_client_auth()
        };
        Ok(config)
    }
}

fn read_roots(path: &Path) -> Result<RootCertStore, Failure> {
    let config_err = |e: &dyn std::fmt::Display| Failure::Config {
        reason: format!("ssl_ca {}: {e}", path.display()),
    };
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| config_err(&e))?;
    for cert in certs {
        let cert = cert.map_err(|e| config_err(&e))?;
        roots.add(cert).map_err(|e| config_err(&e))?;
    }
    if roots.is_empty() {
        return Err(config_err(&"no certificate in the file"));
    }
    Ok(roots)
}

/// Accepts any certificate (the original's behaviour), but checks the handshake signatures.
#[derive(Debug)]
struct NoVerify {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvs_core::config::xml::AttrValue;

    #[test]
    fn one_config_per_real_sharing_the_base() {
        let s = TlsSessions::new();
        let a = Target::new("http", "127.0.0.1".parse().expect("ip"), 443);
        let b = Target::new("http", "127.0.0.2".parse().expect("ip"), 443);
        let sa = TlsSettings::of(&a);
        let ca1 = s.config(&a, &sa).expect("config");
        let ca2 = s.config(&a, &sa).expect("config");
        assert!(Arc::ptr_eq(&ca1, &ca2), "a real keeps its configuration");
        let cb = s.config(&b, &TlsSettings::of(&b)).expect("config");
        assert!(!Arc::ptr_eq(&ca1, &cb), "each real has its own sessions");
        assert_eq!(s.len(), 2);
        s.forget(&a);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn missing_ca_file_is_a_config_failure() {
        let s = TlsSessions::new();
        let t = Target::new("http", "127.0.0.1".parse().expect("ip"), 443)
            .attr("ssl_verify", AttrValue::Bool(true))
            .attr("ssl_ca", AttrValue::Path("/nonexistent/ca.pem".into()));
        let e = s
            .config(&t, &TlsSettings::of(&t))
            .expect_err("no such file");
        assert!(
            matches!(&e, Failure::Config { reason } if reason.contains("/nonexistent/ca.pem")),
            "{e}"
        );
        let bad_sni = TlsSettings {
            sni: Some("not a name!".into()),
            ..TlsSettings::of(&t)
        };
        assert!(matches!(
            bad_sni.server_name(&t),
            Err(Failure::Config { .. })
        ));
    }
}
