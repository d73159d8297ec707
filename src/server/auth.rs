//! Authentication: SASL over the binary protocol (PLAIN and SCRAM through
//! rsasl, CRAM-MD5 here) and memcached's ASCII token auth (`-Y`).
//!
//! Both read `user:password` files at start-up and again on SIGHUP
//! ([`Auth::reload`]); a connection checks against whichever copy was
//! current when it asked. SASL may instead take its users from the Cyrus
//! sasldb2 file that `sasldb_path` in `memcached.conf` names (see
//! [`super::sasl_conf`]), read again whenever it changes, as Cyrus does.
//! Passwords are compared in constant time and never logged or printed
//! (their `Debug` is redacted).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use hmac::{Hmac, Mac};
use md5::Md5;
use parking_lot::{Mutex, RwLock};
use rsasl::callback::{Context, Request, SessionCallback, SessionData};
use rsasl::mechanisms::scram::properties::ScramStoredPassword;
use rsasl::mechanisms::scram::tools as scram;
use rsasl::prelude::{Mechname, SASLConfig, SASLServer, SessionError, State};
use rsasl::property::{AuthId, AuthzId, Password};
use rsasl::validate::{Validate, Validation, ValidationError};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::sasl_conf::{self, SaslConf};
use super::sasldb;
use crate::config::Config;

/// Mechanisms offered by default, strongest first: clients that pick the
/// first one they support get SCRAM, and PLAIN remains for simple clients.
pub const MECHANISMS: &str = "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN";
/// Every mechanism ferrocache can serve, strongest first: the order in
/// which a configured `mech_list` is offered (memcached's t/binary-sasl.t
/// expects `CRAM-MD5 PLAIN` for `mech_list: plain cram-md5`).
pub const SUPPORTED: &[&str] = &["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN"];
/// memcached's `MAX_SASL_MECH_LEN`: a longer mechanism name is refused
/// with "invalid arguments" (and not counted as an authentication).
pub const MAX_MECH_LEN: usize = 32;
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

    /// The users of a sasldb2 file. Cyrus names a user `user@realm` on the
    /// wire; a user of the default realm (the host name) also answers to
    /// the bare name.
    fn from_sasldb(users: Vec<sasldb::User>, default_realm: &[u8]) -> Credentials {
        let mut entries = Vec::new();
        for u in users {
            let mut qualified = u.user.clone();
            qualified.push(b'@');
            qualified.extend_from_slice(&u.realm);
            if u.realm == default_realm {
                entries.push(Entry {
                    user: u.user,
                    password: u.password.clone(),
                });
            }
            entries.push(Entry {
                user: qualified,
                password: u.password,
            });
        }
        Credentials { entries }
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

/// Where SASL's users come from.
enum Source {
    /// A `user:password` file (`-o sasl_pwdb`, `$MEMCACHED_SASL_PWDB`),
    /// read at start-up and on SIGHUP.
    File(PathBuf),
    /// A Cyrus sasldb2 file (`sasldb_path` in memcached.conf), read again
    /// before an authentication whenever its size or time stamp changed.
    /// It need not exist yet: until it does, every attempt fails.
    Sasldb {
        path: PathBuf,
        seen: Mutex<Option<(SystemTime, u64)>>,
    },
}

/// The users and the rsasl configuration built on them.
struct Loaded {
    db: Arc<SaslDb>,
    config: Arc<SASLConfig>,
}

impl Loaded {
    fn new(creds: Credentials) -> io::Result<Arc<Loaded>> {
        let db = Arc::new(SaslDb::new(creds));
        let config = SASLConfig::builder()
            .with_defaults()
            .with_callback(Callback(db.clone()))
            .map_err(|e| io::Error::other(format!("SASL set-up failed: {e}")))?;
        Ok(Arc::new(Loaded { db, config }))
    }
}

/// The SASL side: the mechanisms offered, the current users and where they
/// came from.
pub struct Sasl {
    source: Source,
    mechs: Vec<&'static str>,
    /// `mechs`, space-separated, as SASL_LIST_MECHS answers.
    mech_list: String,
    loaded: RwLock<Arc<Loaded>>,
}

impl Sasl {
    fn new(source: Source, mechs: Vec<&'static str>) -> io::Result<Sasl> {
        let creds = match &source {
            Source::File(path) => Credentials::load(path, None)?,
            Source::Sasldb { .. } => Credentials {
                entries: Vec::new(),
            },
        };
        let sasl = Sasl {
            mech_list: mechs.join(" "),
            mechs,
            loaded: RwLock::new(Loaded::new(creds)?),
            source,
        };
        sasl.refresh();
        Ok(sasl)
    }

    /// The mechanisms offered, space-separated (SASL_LIST_MECHS).
    pub fn mech_list(&self) -> &str {
        &self.mech_list
    }

    /// Re-read the user file (SIGHUP).
    fn reload(&self) -> io::Result<()> {
        match &self.source {
            Source::File(path) => {
                *self.loaded.write() = Loaded::new(Credentials::load(path, None)?)?;
            }
            Source::Sasldb { seen, .. } => {
                *seen.lock() = None;
                self.refresh();
            }
        }
        Ok(())
    }

    /// A sasldb2 source: re-read the file if it changed since last time.
    fn refresh(&self) {
        let Source::Sasldb { path, seen } = &self.source else {
            return;
        };
        let stamp = std::fs::metadata(path)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        let mut seen = seen.lock();
        if stamp.is_some() && *seen == stamp {
            return;
        }
        let users = match std::fs::read(path) {
            Ok(bytes) => sasldb::parse(&bytes).unwrap_or_else(|e| {
                log::warn!("SASL: cannot read the sasldb {}: {e}", path.display());
                Vec::new()
            }),
            Err(_) => Vec::new(),
        };
        let creds = Credentials::from_sasldb(users, hostname().as_bytes());
        match Loaded::new(creds) {
            Ok(l) => {
                *self.loaded.write() = l;
                *seen = stamp;
            }
            Err(e) => log::warn!("SASL: {e}"),
        }
    }

    fn current(&self) -> Arc<Loaded> {
        self.refresh();
        self.loaded.read().clone()
    }
}

/// The host name: Cyrus' default realm, and the domain of CRAM-MD5's
/// challenges.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The mechanisms to offer: `-o sasl_mech_list`, else `mech_list` in
/// memcached.conf, else [`MECHANISMS`]; in [`SUPPORTED`]'s order.
fn offered(config: &Config, conf: &SaslConf) -> io::Result<Vec<&'static str>> {
    let wanted = match (&config.extended.sasl_mech_list, &conf.mech_list) {
        (Some(list), _) => sasl_conf::mech_names(list),
        (None, Some(list)) => list.clone(),
        (None, None) => sasl_conf::mech_names(MECHANISMS),
    };
    for w in &wanted {
        if !SUPPORTED.contains(&w.as_str()) {
            log::warn!("SASL: mechanism {w} is not supported; not offered");
        }
    }
    let mechs: Vec<&'static str> = SUPPORTED
        .iter()
        .copied()
        .filter(|m| wanted.iter().any(|w| w == m))
        .collect();
    if mechs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "SASL: the mechanism list ({}) names none ferrocache supports ({})",
                wanted.join(" "),
                SUPPORTED.join(" ")
            ),
        ));
    }
    Ok(mechs)
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
            let conf = SaslConf::load();
            let source =
                match (sasl_pwdb(config), &conf.sasldb_path) {
                    (Some(path), _) => Source::File(path),
                    (None, Some(path)) => Source::Sasldb {
                        path: path.clone(),
                        seen: Mutex::new(None),
                    },
                    (None, None) => return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "-S needs a password file: set MEMCACHED_SASL_PWDB or -o sasl_pwdb=FILE, \
                         or sasldb_path in $SASL_CONF_PATH/memcached.conf",
                    )),
                };
            let mechs = offered(config, &conf)?;
            log::info!(
                "SASL: offering {} (SASL config: {})",
                mechs.join(" "),
                conf.describe()
            );
            auth.sasl = Some(Sasl::new(source, mechs)?);
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
            s.reload()?;
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
    exchange: Option<Exchange>,
}

/// A SASL exchange waiting for the client's next step.
enum Exchange {
    /// PLAIN and SCRAM, run by rsasl.
    Rsasl(rsasl::prelude::Session<Authenticated>),
    /// CRAM-MD5 (RFC 2195), after the challenge was sent.
    CramMd5 { challenge: Vec<u8>, db: Arc<SaslDb> },
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
    /// A mechanism name longer than [`MAX_MECH_LEN`]: memcached answers
    /// "invalid arguments" and does not count an authentication.
    Invalid,
}

impl AuthState {
    /// SASL Auth (`first`) or Step with the client's data. A failed attempt
    /// leaves the connection unauthenticated; a new Auth starts over.
    pub fn sasl_step(&mut self, sasl: &Sasl, first: bool, mech: &[u8], data: &[u8]) -> SaslReply {
        if mech.len() > MAX_MECH_LEN {
            return SaslReply::Invalid;
        }
        if first {
            self.authenticated = false;
            self.exchange = None;
            // An unknown mechanism fails this attempt; the connection stays
            // open for the next one, as in memcached.
            if !sasl.mechs.iter().any(|m| m.as_bytes() == mech) {
                return SaslReply::Failed;
            }
            let loaded = sasl.current();
            if mech == b"CRAM-MD5" {
                let challenge = cram_md5_challenge();
                self.exchange = Some(Exchange::CramMd5 {
                    challenge: challenge.clone(),
                    db: loaded.db.clone(),
                });
                return SaslReply::Continue(challenge);
            }
            let Ok(name) = Mechname::parse(mech) else {
                return SaslReply::Failed;
            };
            let server = SASLServer::<Authenticated>::new(loaded.config.clone());
            match server.start_suggested(name) {
                Ok(session) => self.exchange = Some(Exchange::Rsasl(session)),
                Err(_) => return SaslReply::Failed,
            }
        }
        if let Some(Exchange::CramMd5 { challenge, db }) = &self.exchange {
            let ok = cram_md5_check(&db.creds, challenge, data);
            self.exchange = None;
            if !ok {
                return SaslReply::Failed;
            }
            log::debug!("SASL: authenticated with CRAM-MD5");
            self.authenticated = true;
            return SaslReply::Done(Vec::new());
        }
        let Some(Exchange::Rsasl(session)) = self.exchange.as_mut() else {
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

/// A CRAM-MD5 challenge (RFC 2195): `<random.time@host>`, unique per
/// exchange.
fn cram_md5_challenge() -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // std's RandomState is seeded from the OS's random source.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("<{}.{secs}@{}>", h.finish(), hostname()).into_bytes()
}

/// Check a CRAM-MD5 response, `user SP hex(HMAC-MD5(password, challenge))`.
fn cram_md5_check(creds: &Credentials, challenge: &[u8], response: &[u8]) -> bool {
    let Some(space) = response.iter().rposition(|&b| b == b' ') else {
        return false;
    };
    let (user, digest) = (&response[..space], &response[space + 1..]);
    let Some(i) = creds.find(user) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Md5>::new_from_slice(&creds.entries[i].password) else {
        return false;
    };
    mac.update(challenge);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected
        .as_bytes()
        .ct_eq(&digest.to_ascii_lowercase())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cram_md5_matches_rfc_2195() {
        // RFC 2195's example: tim / tanstaaftanstaaf.
        let creds = Credentials::parse(b"tim:tanstaaftanstaaf\n", None).unwrap();
        let challenge = b"<1896.697170952@postoffice.reston.mci.net>";
        assert!(cram_md5_check(
            &creds,
            challenge,
            b"tim b913a602c7eda7a495b4e6e7334d3890"
        ));
        assert!(!cram_md5_check(
            &creds,
            challenge,
            b"tim b913a602c7eda7a495b4e6e7334d3891"
        ));
        assert!(!cram_md5_check(
            &creds,
            challenge,
            b"tom b913a602c7eda7a495b4e6e7334d3890"
        ));
        assert!(!cram_md5_check(&creds, challenge, b"garbage"));
        let c = cram_md5_challenge();
        assert!(c.starts_with(b"<") && c.ends_with(b">") && c.contains(&b'@'));
        assert_ne!(c, cram_md5_challenge());
    }

    #[test]
    fn sasldb_users_answer_to_user_at_realm() {
        let users = vec![
            sasldb::User {
                user: b"testuser".to_vec(),
                realm: b"memcached.realm".to_vec(),
                password: b"testpass".to_vec(),
            },
            sasldb::User {
                user: b"carol".to_vec(),
                realm: b"host".to_vec(),
                password: b"pw".to_vec(),
            },
        ];
        let c = Credentials::from_sasldb(users, b"host");
        assert!(c.check(b"testuser@memcached.realm", b"testpass"));
        assert!(!c.check(b"testuser", b"testpass"));
        assert!(c.check(b"carol", b"pw"));
        assert!(c.check(b"carol@host", b"pw"));
    }

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
