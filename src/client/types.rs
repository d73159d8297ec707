//! The client's vocabulary: errors, server addresses, timeouts and what
//! operations return. The client's parts import it, not their parent.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use super::ring::Node;
use crate::protocol::text_reply::Reply;

/// What went wrong; never a panic.
#[derive(Debug)]
pub enum Error {
    /// The connection failed (refused, reset, timed out, closed).
    Io(io::Error),
    /// `SERVER_ERROR <message>`.
    Server(String),
    /// `CLIENT_ERROR <message>`: the server refused the request.
    Client(String),
    /// `ERROR`: the server does not know the command.
    UnknownCommand,
    /// A reply that does not fit the request; the connection is dropped.
    Protocol(String),
    /// No server is configured, or every one is ejected.
    NoServers,
    /// A key memcached would refuse (empty, over 250 bytes, space or
    /// control byte).
    InvalidKey,
    /// A server list entry that cannot be read.
    InvalidServer(String),
    /// The TLS session failed: the server's certificate is not trusted or
    /// does not name it, the server refused the client certificate (or its
    /// absence), or the server does not speak TLS.
    Tls(String),
    /// The TLS settings cannot be used (unreadable or empty PEM file, a bad
    /// server name).
    TlsConfig(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Server(m) => write!(f, "SERVER_ERROR {m}"),
            Error::Client(m) => write!(f, "CLIENT_ERROR {m}"),
            Error::UnknownCommand => f.write_str("ERROR (unknown command)"),
            Error::Protocol(m) => write!(f, "unexpected reply: {m}"),
            Error::NoServers => f.write_str("no server available"),
            Error::InvalidKey => f.write_str("invalid key"),
            Error::InvalidServer(s) => write!(f, "invalid server {s:?}"),
            Error::Tls(m) => write!(f, "TLS error: {m}"),
            Error::TlsConfig(m) => write!(f, "TLS configuration: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// Errors that say the server (or the path to it) is unhealthy, as
    /// opposed to a reply about the request.
    pub(super) fn is_failure(&self) -> bool {
        matches!(self, Error::Io(_) | Error::Protocol(_) | Error::Tls(_))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Addr {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

/// One entry of a server list: `host:port[:weight]`, `[v6]:port[:weight]`,
/// or a unix socket path `/path[:weight]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub addr: Addr,
    pub weight: u32,
}

impl ServerSpec {
    pub fn parse(s: &str) -> Result<ServerSpec> {
        let bad = || Error::InvalidServer(s.to_string());
        let s = s.trim();
        if s.starts_with('/') {
            let (path, weight) = match s.rsplit_once(':') {
                Some((p, w)) if w.bytes().all(|b| b.is_ascii_digit()) && !w.is_empty() => {
                    (p, w.parse().map_err(|_| bad())?)
                }
                _ => (s, 1),
            };
            return Ok(ServerSpec {
                addr: Addr::Unix(PathBuf::from(path)),
                weight,
            });
        }
        let (host, rest) = if let Some(v6) = s.strip_prefix('[') {
            let (h, r) = v6.split_once(']').ok_or_else(bad)?;
            (h, r.strip_prefix(':').unwrap_or(r))
        } else {
            match s.split_once(':') {
                Some((h, r)) => (h, r),
                None => (s, ""),
            }
        };
        if host.is_empty() {
            return Err(bad());
        }
        let mut parts = rest.split(':');
        let port = match parts.next() {
            None | Some("") => 11211,
            Some(p) => p.parse().map_err(|_| bad())?,
        };
        let weight = match parts.next() {
            None => 1,
            Some(w) => w.parse().map_err(|_| bad())?,
        };
        if parts.next().is_some() || weight == 0 {
            return Err(bad());
        }
        Ok(ServerSpec {
            addr: Addr::Tcp {
                host: host.to_string(),
                port,
            },
            weight,
        })
    }

    /// Parse a comma- or whitespace-separated list.
    pub fn parse_list(list: &str) -> Result<Vec<ServerSpec>> {
        list.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(ServerSpec::parse)
            .collect()
    }

    pub(super) fn node(&self) -> Node {
        match &self.addr {
            Addr::Tcp { host, port } => Node {
                host: host.clone(),
                port: Some(*port),
                weight: self.weight,
            },
            Addr::Unix(p) => Node {
                host: p.display().to_string(),
                port: None,
                weight: self.weight,
            },
        }
    }
}

impl fmt::Display for ServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.addr {
            Addr::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Addr::Tcp { host, port } => write!(f, "{host}:{port}"),
            Addr::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Connect, read and write timeouts (zero: none).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
    pub write: Duration,
}

/// The items one server returned for a multi-get.
pub(crate) type Batch = Vec<(Vec<u8>, Item)>;

/// An item read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub value: Vec<u8>,
    pub flags: u32,
    /// Present for `gets` / `gats`.
    pub cas: Option<u64>,
}

/// What a `cas` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasOutcome {
    Stored,
    /// Someone else changed the item since its unique was read.
    Exists,
    NotFound,
}

/// Map an error reply to its [`Error`]; anything else is out of step.
pub(super) fn unexpected(r: Reply<'_>) -> Error {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match r {
        Reply::ServerError(m) => Error::Server(text(m)),
        Reply::ClientError(m) => Error::Client(text(m)),
        Reply::Error(_) => Error::UnknownCommand,
        other => Error::Protocol(format!("{other:?}")),
    }
}
