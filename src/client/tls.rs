//! TLS to the servers, client side, with rustls: which certificate
//! authorities to trust, an optional client certificate (mutual TLS), and
//! the name the server's certificate must carry.
//!
//! TCP servers only: a unix socket stays plaintext (memcached and ferrocache
//! speak TLS on TCP listeners only).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig, RootCertStore};

use super::types::{Error, Result};
use crate::pem::{read_certs, read_key};

/// Where system-wide trusted CAs live, as one PEM bundle (Debian and
/// Ubuntu, Fedora and RHEL, openSUSE, Alpine); `$SSL_CERT_FILE` first.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// TLS settings for [`super::Options::tls`]; made by [`TlsConfig::builder`].
/// Cheap to clone: connections share one rustls configuration (and so its
/// session cache, which makes reconnections cheap).
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
    client_cert: bool,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("server_name", &self.server_name)
            .field("client_cert", &self.client_cert)
            .finish()
    }
}

/// What [`TlsConfig`] is built from; files are read by [`build`](Self::build).
#[derive(Debug, Clone, Default)]
pub struct TlsConfigBuilder {
    ca_files: Vec<PathBuf>,
    system_roots: bool,
    client_cert: Option<(PathBuf, PathBuf)>,
    server_name: Option<String>,
}

impl TlsConfig {
    pub fn builder() -> TlsConfigBuilder {
        TlsConfigBuilder::default()
    }

    /// The name the certificate of the server at `host` must carry: the
    /// override if set, else `host` itself (a DNS name or an IP address).
    pub(super) fn server_name(&self, host: &str) -> Result<ServerName<'static>> {
        if let Some(name) = &self.server_name {
            return Ok(name.clone());
        }
        ServerName::try_from(host.to_string()).map_err(|_| {
            Error::TlsConfig(format!(
                "{host:?} is not a DNS name or IP address to check the server certificate \
                 against; set a server name"
            ))
        })
    }

    pub(super) fn rustls(&self) -> &Arc<ClientConfig> {
        &self.config
    }
}

impl TlsConfigBuilder {
    /// Trust the CA certificates in this PEM file (may be given again for
    /// more files).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Trust the system's CA bundle (`$SSL_CERT_FILE`, else the
    /// distribution's file), e.g. for a managed cache with a public
    /// certificate.
    pub fn system_roots(mut self) -> Self {
        self.system_roots = true;
        self
    }

    /// Present this certificate chain and private key (PEM) to servers that
    /// ask for one (mutual TLS).
    pub fn client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert = Some((cert.into(), key.into()));
        self
    }

    /// Check every server's certificate against this name instead of the
    /// host part of its address (e.g. servers listed by IP address whose
    /// certificates name a host).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Read the files and make the configuration.
    pub fn build(self) -> Result<TlsConfig> {
        let mut roots = RootCertStore::empty();
        let mut files = self.ca_files.clone();
        if self.system_roots {
            files.push(system_bundle()?);
        }
        if files.is_empty() {
            return Err(Error::TlsConfig(
                "no CA to verify servers with: give a CA file or use the system roots".into(),
            ));
        }
        for path in &files {
            let certs = read_certs(path).map_err(|e| file_error("CA certificate", path, e))?;
            // A bundle may hold certificates webpki cannot use; keep the rest.
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(file_error(
                    "CA certificate",
                    path,
                    "no usable certificate in the file",
                ));
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::TlsConfig(e.to_string()))?
            .with_root_certificates(roots);
        let config = match &self.client_cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let certs =
                    read_certs(cert).map_err(|e| file_error("client certificate", cert, e))?;
                let key = read_key(key).map_err(|e| file_error("client key", key, e))?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| Error::TlsConfig(format!("client certificate and key: {e}")))?
            }
        };
        let server_name =
            match self.server_name {
                None => None,
                Some(name) => Some(ServerName::try_from(name.clone()).map_err(|_| {
                    Error::TlsConfig(format!("{name:?} is not a valid server name"))
                })?),
            };
        Ok(TlsConfig {
            config: Arc::new(config),
            server_name,
            client_cert: self.client_cert.is_some(),
        })
    }
}

fn system_bundle() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("SSL_CERT_FILE") {
        return Ok(p.into());
    }
    SYSTEM_BUNDLES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::TlsConfig(
                "no system CA bundle found (set SSL_CERT_FILE or give a CA file)".into(),
            )
        })
}

fn file_error(what: &str, path: &Path, cause: impl fmt::Display) -> Error {
    Error::TlsConfig(format!("{what} {}: {cause}", path.display()))
}

/// The rustls error inside an IO error, if that is what it is.
pub(super) fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

/// A TLS failure in words a person can act on.
pub(super) fn describe(e: &rustls::Error) -> String {
    use rustls::AlertDescription as Alert;
    let hint = match e {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            " (the server's certificate is not signed by a trusted CA)"
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => " (the server's certificate does not name this server; set the server name)",
        rustls::Error::AlertReceived(Alert::UnknownCA) => {
            " (the server does not trust the CA of the client certificate)"
        }
        rustls::Error::AlertReceived(
            Alert::CertificateRequired | Alert::BadCertificate | Alert::HandshakeFailure,
        ) => " (the server may require a client certificate signed by its CA)",
        rustls::Error::InvalidMessage(_) => " (is the server speaking TLS?)",
        _ => "",
    };
    format!("{e}{hint}")
}

impl From<io::Error> for Error {
    /// rustls reports a refused session (a bad certificate, an alert from
    /// the server) through the stream's IO error; say so.
    fn from(e: io::Error) -> Self {
        match rustls_error(&e) {
            Some(t) => Error::Tls(describe(t)),
            None => Error::Io(e),
        }
    }
}
