//! Authentication: SASL over the binary protocol (through rsasl) and
//! memcached's ASCII token auth (`-Y`).
//!
//! Both read `user:password` files at start-up and again on SIGHUP
//! ([`Auth::reload`]); a connection checks against whichever copy was
//! current when it asked. Passwords are compared in constant time and never
//! logged or printed (their `Debug` is redacted).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use rsasl::callback::{Context, Request, SessionCallback, SessionData};
use rsasl::mechanisms::scram::properties::ScramStoredPassword;
use rsasl::mechanisms::scram::tools as scram;
use rsasl::prelude::{Mechname, SASLConfig, SASLServer, SessionError, State};
use rsasl::property::{AuthId, AuthzId, Password};
use rsasl::validate::{Validate, Validation, ValidationError};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Config;

/// Mechanisms offered, strongest first: clients that pick the first one
/// they support get SCRAM, and PLAIN remains for simple clients.
pub const MECHANISMS: &str = "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN";
/// Most entries memcached reads from an `-Y` file.
pub const ASCII_MAX_ENTRIES: usize = 8;
/// PBKDF2 rounds for the SCRAM keys derived at load time (RFC 7677's 4096).
const SCRAM_ITERATIONS: u32 = 4096;

/// One `user:password` line.
struct Entry {
    user: Vec<u8>,
    password: Vec<u8>,
}

/// The lines of a credentials file.
pub struct Credentials {
    entries: Vec<Entry>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("users", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Parse `user:password` lines; blank lines are skipped, a trailing `\r`
    /// is dropped, and the password is everything after the first `:`.
    pub fn parse(text: &[u8], max_entries: Option<usize>) -> Result<Credentials, String> {
        let mut entries = Vec::new();
        for (n, line) in text.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(format!("line {}: expected user:password", n + 1));
            };
            if colon == 0 {
                return Err(format!("line {}: empty user name", n + 1));
            }
            entries.push(Entry {
                user: line[..colon].to_vec(),
                password: line[colon + 1..].to_vec(),
            });
        }
        if entries.is_empty() {
            return Err("no user:password lines".into());
        }
        if let Some(max) = max_entries {
            if entries.len() > max {
                return Err(format!("more than {max} entries"));
            }
        }
        Ok(Credentials { entries })
    }

    pub fn load(path: &Path, max_entries: Option<usize>) -> io::Result<Credentials> {
        let text = std::fs::read(path).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
        })?;
        Credentials::parse(&text, max_entries).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }

    /// True when some entry matches both. Every entry is compared, each in
    /// constant time, so timing tells nothing about which part was wrong.
    pub fn check(&self, user: &[u8], password: &[u8]) -> bool {
        let mut ok = subtle::Choice::from(0);
        for e in &self.entries {
            ok |= e.user.as_slice().ct_eq(user) & e.password.as_slice().ct_eq(password);
        }
        ok.into()
    }

    fn find(&self, user: &[u8]) -> Option<usize> {
        self.entries.iter().position(|e| e.user == user)
    }
}

/// SCRAM server keys for one user and one hash.
struct ScramKeys {
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

/// Derive a user's SCRAM keys for one concrete hash (rsasl's tools are
/// generic over bounds that are simplest to satisfy with a named type).
macro_rules! scram_keys {
    ($hash:ty, $password:expr, $salt:expr) => {{
        let mut salted = Default::default();
        scram::hash_password::<$hash>($password, SCRAM_ITERATIONS, $salt, &mut salted);
        let (client_key, server_key) = scram::derive_keys::<$hash>(salted.as_slice());
        ScramKeys {
            salt: $salt.to_vec(),
            stored_key: <$hash>::digest(client_key).to_vec(),
            server_key: server_key.to_vec(),
        }
    }};
}

/// The SASL user database and the keys SCRAM needs, built at load time.
struct SaslDb {
    creds: Credentials,
    sha256: Vec<ScramKeys>,
    sha1: Vec<ScramKeys>,
}

impl SaslDb {
    fn new(creds: Credentials) -> SaslDb {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut sha256 = Vec::new();
        let mut sha1 = Vec::new();
        for (i, e) in creds.entries.iter().enumerate() {
            // A salt unique to this user and load; it need not be secret.
            let mut h = Sha256::new();
            h.update(b"ferrocache scram salt");
            h.update(seed.to_le_bytes());
            h.update(std::process::id().to_le_bytes());
            h.update((i as u64).to_le_bytes());
            h.update(&e.user);
            let salt = &h.finalize()[..16];
            sha256.push(scram_keys!(Sha256, &e.password, salt));
            sha1.push(scram_keys!(Sha1, &e.password, salt));
        }
        SaslDb {
            creds,
            sha256,
            sha1,
        }
    }
}

/// rsasl's window onto the database.
struct Callback(Arc<SaslDb>);

/// What a successful exchange yields: the authenticated user.
pub struct Authenticated;

impl Validation for Authenticated {
    type Value = String;
}

impl SessionCallback for Callback {
    fn callback(
        &self,
        session_data: &SessionData,
        context: &Context,
        request: &mut Request,
    ) -> Result<(), SessionError> {
        let db = &self.0;
        let Some(i) = context
            .get_ref::<AuthId>()
            .and_then(|user| db.creds.find(user.as_bytes()))
        else {
            return Ok(());
        };
        let keys = if &**session_data.mechanism().mechanism == "SCRAM-SHA-1" {
            &db.sha1[i]
        } else {
            &db.sha256[i]
        };
        if request.is::<ScramStoredPassword>() {
            request.satisfy::<ScramStoredPassword>(&ScramStoredPassword::new(
                SCRAM_ITERATIONS,
                &keys.salt,
                &keys.stored_key,
                &keys.server_key,
            ))?;
        }
        Ok(())
    }

    fn validate(
        &self,
        session_data: &SessionData,
        context: &Context,
        validate: &mut Validate<'_>,
    ) -> Result<(), ValidationError> {
        let Some(user) = context.get_ref::<AuthId>() else {
            return Ok(());
        };
        // Acting as someone else is not supported.
        if let Some(authz) = context.get_ref::<AuthzId>() {
            if !authz.is_empty() && authz != user {
                return Ok(());
            }
        }
        let ok = if &**session_data.mechanism().mechanism == "PLAIN" {
            let password = context.get_ref::<Password>().unwrap_or_default();
            self.0.creds.check(user.as_bytes(), password)
        } else {
            // SCRAM calls this only after the client's proof checked out.
            self.0.creds.find(user.as_bytes()).is_some()
        };
        if ok {
            validate.finalize::<Authenticated>(user.to_string());
        }
        Ok(())
    }
}

/// The SASL side: the current configuration and where it came from.
pub struct Sasl {
    path: PathBuf,
    config: RwLock<Arc<SASLConfig>>,
}

impl Sasl {
    fn load(path: &Path) -> io::Result<Arc<SASLConfig>> {
        let db = SaslDb::new(Credentials::load(path, None)?);
        SASLConfig::builder()
            .with_defaults()
            .with_callback(Callback(Arc::new(db)))
            .map_err(|e| io::Error::other(format!("SASL set-up failed: {e}")))
    }
}

/// The ASCII side (`-Y`).
pub struct AsciiAuth {
    path: PathBuf,
    creds: RwLock<Arc<Credentials>>,
}

impl AsciiAuth {
    /// Check a `<user> <password>` token (the data block of the first
    /// `set`). `None` when the token is malformed.
    pub fn check_token(&self, token: &[u8]) -> Option<bool> {
        let space = token.iter().position(|&b| b == b' ')?;
        let (user, password) = (&token[..space], &token[space + 1..]);
        if user.is_empty() {
            return None;
        }
        let creds = self.creds.read().clone();
        Some(creds.check(user, password))
    }
}

/// Everything the server needs to authenticate clients.
#[derive(Default)]
pub struct Auth {
    pub sasl: Option<Sasl>,
    pub ascii: Option<AsciiAuth>,
}

impl Auth {
    /// Read the credential files the configuration names. A missing or
    /// unreadable file is an error: the server must not start open.
    pub fn from_config(config: &Config) -> io::Result<Auth> {
        let mut auth = Auth::default();
        if config.sasl {
            let path = sasl_pwdb(config).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "-S needs a password file: set MEMCACHED_SASL_PWDB or -o sasl_pwdb=FILE",
                )
            })?;
            let config = Sasl::load(&path)?;
            auth.sasl = Some(Sasl {
                path,
                config: RwLock::new(config),
            });
        }
        if let Some(path) = &config.auth_file {
            let creds = Credentials::load(path, Some(ASCII_MAX_ENTRIES))?;
            auth.ascii = Some(AsciiAuth {
                path: path.clone(),
                creds: RwLock::new(Arc::new(creds)),
            });
        }
        Ok(auth)
    }

    /// Re-read both files (SIGHUP). A file that fails to load leaves the
    /// previous credentials in force.
    pub fn reload(&self) -> io::Result<()> {
        if let Some(s) = &self.sasl {
            *s.config.write() = Sasl::load(&s.path)?;
        }
        if let Some(a) = &self.ascii {
            let creds = Credentials::load(&a.path, Some(ASCII_MAX_ENTRIES))?;
            *a.creds.write() = Arc::new(creds);
        }
        Ok(())
    }
}

/// `-o sasl_pwdb=FILE`, else memcached's `MEMCACHED_SASL_PWDB`.
fn sasl_pwdb(config: &Config) -> Option<PathBuf> {
    config.extended.sasl_pwdb.clone().or_else(|| {
        std::env::var_os("MEMCACHED_SASL_PWDB")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// A connection's authentication state.
#[derive(Default)]
pub struct AuthState {
    /// Passed SASL (binary) or the ASCII token check.
    pub authenticated: bool,
    /// A multi-step SASL exchange in progress.
    exchange: Option<rsasl::prelude::Session<Authenticated>>,
}

impl fmt::Debug for AuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthState")
            .field("authenticated", &self.authenticated)
            .field("exchange", &self.exchange.is_some())
            .finish()
    }
}

/// Result of one SASL auth or step request.
#[derive(Debug, PartialEq, Eq)]
pub enum SaslReply {
    /// Authenticated; any final server message to pass on.
    Done(Vec<u8>),
    /// The exchange goes on: send this challenge (status 0x21).
    Continue(Vec<u8>),
    Failed,
}

impl AuthState {
    /// SASL Auth (`first`) or Step with the client's data. A failed attempt
    /// leaves the connection unauthenticated; a new Auth starts over.
    pub fn sasl_step(&mut self, sasl: &Sasl, first: bool, mech: &[u8], data: &[u8]) -> SaslReply {
        if first {
            self.authenticated = false;
            self.exchange = None;
            let Ok(name) = Mechname::parse(mech) else {
                return SaslReply::Failed;
            };
            if !MECHANISMS.split(' ').any(|m| m.as_bytes() == mech) {
                return SaslReply::Failed;
            }
            let server = SASLServer::<Authenticated>::new(sasl.config.read().clone());
            match server.start_suggested(name) {
                Ok(session) => self.exchange = Some(session),
                Err(_) => return SaslReply::Failed,
            }
        }
        let Some(session) = self.exchange.as_mut() else {
            return SaslReply::Failed;
        };
        let mut out = Vec::new();
        match session.step(Some(data), &mut out) {
            Ok(State::Running) => SaslReply::Continue(out),
            Ok(State::Finished(_)) => {
                let user = session.validation();
                self.exchange = None;
                match user {
                    Some(user) => {
                        log::debug!("SASL: authenticated {user:?}");
                        self.authenticated = true;
                        SaslReply::Done(out)
                    }
                    None => SaslReply::Failed,
                }
            }
            Err(_) => {
                self.exchange = None;
                SaslReply::Failed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_parse_and_check() {
        let c = Credentials::parse(b"alice:s3cret\r\n\nbob:pa:ss\n", None).unwrap();
        assert!(c.check(b"alice", b"s3cret"));
        assert!(c.check(b"bob", b"pa:ss"));
        assert!(!c.check(b"alice", b"s3cre"));
        assert!(!c.check(b"alice", b"pa:ss"));
        assert!(!c.check(b"carol", b""));
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn credentials_refused() {
        for (text, max) in [
            (&b""[..], None),
            (b"nocolon\n", None),
            (b":pw\n", None),
            (b"a:1\nb:2\nc:3\n", Some(2)),
        ] {
            assert!(Credentials::parse(text, max).is_err(), "{text:?}");
        }
    }
}
