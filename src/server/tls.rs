//! TLS (`-Z`) with rustls, on the workers' own event loops.
//!
//! [`TlsStream`] wraps a non-blocking TCP stream and a
//! `rustls::ServerConnection`: reads decrypt into the connection's read
//! buffer, and a batch of replies is encrypted in one `write` (rustls keeps
//! what the socket would not take and `flush` pushes it on the next writable
//! event). No thread ever blocks on a slow peer.
//!
//! [`Tls`] holds the server configuration behind a lock so it can be swapped
//! at run time (`refresh_certs`, SIGHUP, or a changed file seen by the
//! maintenance thread): new handshakes take the current one; established
//! connections keep theirs. A file that fails to load leaves the old
//! configuration in service.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use mio::net::TcpStream;
use parking_lot::{Mutex, RwLock};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

use crate::config::Config;
use crate::pem::{read_certs, read_key};

/// The TLS settings of a server started with `-Z`, and the configuration
/// new handshakes use.
pub struct Tls {
    files: Files,
    current: RwLock<Arc<ServerConfig>>,
    /// Modification times of the files when last loaded (file-change reload).
    mtimes: Mutex<Vec<Option<SystemTime>>>,
    /// Clock time (seconds since start) of the last successful load.
    pub refreshed_at: AtomicU32,
    pub handshake_errors: AtomicU64,
    /// Fatal TLS errors after the handshake (memcached 1.6.30's
    /// `ssl_proto_errors`).
    pub proto_errors: AtomicU64,
    pub new_sessions: AtomicU64,
}

/// What `-o ssl_*` named; everything needed to build a configuration again.
#[derive(Debug, Clone)]
pub struct Files {
    pub chain_cert: PathBuf,
    pub key: PathBuf,
    pub ca_cert: Option<PathBuf>,
    /// memcached's 0 none, 1 request, 2 require, 3 require once.
    pub verify_mode: u8,
    pub tls13_only: bool,
}

impl Files {
    /// The TLS settings of `config`, or None without `-Z`.
    pub fn from_config(config: &Config) -> Result<Option<Files>, String> {
        if !config.tls {
            return Ok(None);
        }
        let ext = &config.extended;
        let chain_cert = ext
            .ssl_chain_cert
            .as_ref()
            .ok_or("-Z needs -o ssl_chain_cert=FILE (the server certificate chain, PEM)")?;
        let key = ext
            .ssl_key
            .as_ref()
            .ok_or("-Z needs -o ssl_key=FILE (the server private key, PEM)")?;
        let verify_mode = match ext.ssl_verify_mode.as_deref() {
            None => 0,
            Some(v) => v
                .parse::<u8>()
                .ok()
                .filter(|v| *v <= 3)
                .ok_or("invalid ssl_verify_mode")?,
        };
        if verify_mode > 0 && ext.ssl_ca_cert.is_none() {
            return Err(
                "ssl_verify_mode 1..3 needs -o ssl_ca_cert=FILE (the CA that signs client certificates)"
                    .into(),
            );
        }
        let tls13_only = match ext.ssl_min_version.as_deref() {
            None | Some("2" | "tlsv1.2") => false,
            Some("3" | "tlsv1.3") => true,
            Some("0" | "1" | "tlsv1.0" | "tlsv1.1") => {
                log::warn!("ssl_min_version below TLS 1.2: rustls speaks TLS 1.2 and 1.3 only");
                false
            }
            Some(other) => return Err(format!("invalid ssl_min_version {other}")),
        };
        Ok(Some(Files {
            chain_cert: chain_cert.into(),
            key: key.into(),
            ca_cert: ext.ssl_ca_cert.as_ref().map(PathBuf::from),
            verify_mode,
            tls13_only,
        }))
    }

    fn paths(&self) -> Vec<&Path> {
        let mut p = vec![self.chain_cert.as_path(), self.key.as_path()];
        p.extend(self.ca_cert.as_deref());
        p
    }

    fn mtimes(&self) -> Vec<Option<SystemTime>> {
        self.paths()
            .iter()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    }

    /// Read the files and build a server configuration. The error is
    /// memcached's `refresh_certs` message, without the line end.
    pub fn load(&self) -> Result<ServerConfig, String> {
        let certs = read_certs(&self.chain_cert).map_err(|e| {
            failed(
                format!(
                    "Error loading the certificate chain: {}",
                    self.chain_cert.display()
                ),
                e,
            )
        })?;
        let key = read_key(&self.key)
            .map_err(|e| failed(format!("Error loading the key: {}", self.key.display()), e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = if self.tls13_only {
            &[&rustls::version::TLS13]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| format!("Error setting the TLS versions ({e})"))?;
        let builder = match (&self.ca_cert, self.verify_mode) {
            (Some(ca), mode) if mode > 0 => {
                let mut roots = RootCertStore::empty();
                let ca_error = || format!("Error loading the CA certificate: {}", ca.display());
                let ca_certs = read_certs(ca).map_err(|e| failed(ca_error(), e))?;
                for c in ca_certs {
                    roots.add(c).map_err(|e| failed(ca_error(), e))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider);
                // 1 (request): a certificate is checked if given.
                let verifier = if mode == 1 {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier.build().map_err(|e| failed(ca_error(), e))?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => builder.with_no_client_auth(),
        };
        builder
            .with_single_cert(certs, key)
            .map_err(|e| failed("Error validating the certificate".into(), e))
    }
}

/// memcached's shape: `<what failed>: <file> : <library's reason>`.
fn failed(message: String, cause: impl std::fmt::Display) -> String {
    format!("{message} : {cause}")
}

impl Tls {
    /// Load the files `-Z` names; None without `-Z`. An error stops start-up.
    pub fn from_config(config: &Config, now: u32) -> Result<Option<Tls>, String> {
        let Some(files) = Files::from_config(config)? else {
            return Ok(None);
        };
        let mtimes = files.mtimes();
        let server = files.load()?;
        Ok(Some(Tls {
            files,
            current: RwLock::new(Arc::new(server)),
            mtimes: Mutex::new(mtimes),
            refreshed_at: AtomicU32::new(now),
            handshake_errors: AtomicU64::new(0),
            proto_errors: AtomicU64::new(0),
            new_sessions: AtomicU64::new(0),
        }))
    }

    pub fn files(&self) -> &Files {
        &self.files
    }

    /// A server-side session for a freshly accepted connection.
    pub fn accept(&self, tcp: TcpStream) -> io::Result<TlsStream> {
        let config = self.current.read().clone();
        let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
        // The connection's own back-pressure bounds a batch; rustls holds at
        // most the one batch the socket has not taken yet.
        conn.set_buffer_limit(None);
        Ok(TlsStream {
            tcp,
            conn,
            handshaking: true,
        })
    }

    /// Re-read the files; on failure the configuration in service stays.
    pub fn refresh(&self, now: u32) -> Result<(), String> {
        let mtimes = self.files.mtimes();
        let result = self.files.load();
        // Remember the times even on failure, so a bad file is reported
        // once, not on every poll.
        *self.mtimes.lock() = mtimes;
        let server = result?;
        *self.current.write() = Arc::new(server);
        self.refreshed_at.store(now, Ordering::Relaxed);
        Ok(())
    }

    /// From the maintenance thread: reload when a file changed on disk.
    pub fn reload_if_changed(&self, now: u32) {
        let mtimes = self.files.mtimes();
        if *self.mtimes.lock() == mtimes {
            return;
        }
        match self.refresh(now) {
            Ok(()) => log::info!("TLS certificates changed on disk: reloaded"),
            Err(e) => log::error!(
                "TLS certificates changed on disk but did not load; keeping the old ones: {e}"
            ),
        }
    }
}

/// A TLS session over a non-blocking TCP stream.
pub struct TlsStream {
    pub tcp: TcpStream,
    conn: ServerConnection,
    handshaking: bool,
}

fn would_block() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

impl TlsStream {
    /// Send what rustls holds (handshake messages, encrypted replies).
    /// Ok(true) once nothing is pending.
    fn push(&mut self) -> io::Result<bool> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// True when the handshake just completed (counted once).
    pub fn take_handshake_done(&mut self) -> bool {
        if self.handshaking && !self.conn.is_handshaking() {
            self.handshaking = false;
            return true;
        }
        false
    }

    pub fn is_handshaking(&self) -> bool {
        self.handshaking
    }
}

impl Read for TlsStream {
    /// Plaintext if any; Ok(0) at the end of the stream; WouldBlock only
    /// when the socket itself would block, so edge-triggered polling holds.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed without close_notify: treat as an end.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            match self.conn.read_tls(&mut self.tcp) {
                Ok(0) => return Ok(0),
                Ok(_) => {
                    if let Err(e) = self.conn.process_new_packets() {
                        // Tell the peer why (an alert), then give up.
                        let _ = self.push();
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                    // Handshake replies go out now, not with the next batch.
                    self.push()?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Write for TlsStream {
    /// Encrypt `buf` (a whole batch of replies, as far as rustls's buffer
    /// limit takes it) and send what the socket takes.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.push()? {
            return Err(would_block());
        }
        let n = self.conn.writer().write(buf)?;
        self.push()?;
        if n == 0 && !buf.is_empty() {
            return Err(would_block());
        }
        Ok(n)
    }

    /// WouldBlock while encrypted bytes are still waiting for the socket.
    fn flush(&mut self) -> io::Result<()> {
        if self.push()? {
            Ok(())
        } else {
            Err(would_block())
        }
    }
}
