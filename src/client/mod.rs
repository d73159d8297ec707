//! A blocking memcached client that places keys as libmemcached (weighted
//! ketama, MD5) or pymemcache (`HashClient` rendezvous) would, so a Rust
//! service shares a sharded keyspace with them.
//!
//! ```text
//!  Client ──▶ Topology (servers + Ring, swapped whole on discovery refresh)
//!               │ key ─ Ring::owners(alive) ─▶ [server, replica, ...]
//!               ▼
//!            Server: Pool of Connections + health (consecutive failures,
//!                    ejected until)
//! ```
//! Requests and replies use the crate's sans-IO text protocol code
//! ([`crate::protocol::text_reply`] parses what servers answer), or the
//! binary protocol on request ([`Options::protocol`]), over TLS when
//! [`Options::tls`] is set.

mod binary;
mod binary_ops;
mod discovery;
mod dump;
mod pool;
pub mod ring;
mod tls;
mod types;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

pub use crate::protocol::cluster_config::{ClusterConfig, ClusterNode};
pub use dump::DumpedItem;
use pool::{Connection, Pool};
pub use ring::Distribution;
use ring::{Node, Ring};
pub use tls::{TlsConfig, TlsConfigBuilder};
use types::unexpected;
pub(crate) use types::Batch;
pub use types::{Addr, CasOutcome, Error, Item, Result, ServerSpec, Timeouts};

use crate::protocol::text::StoreCommand;
use crate::protocol::text_reply::Reply;
use crate::protocol::Protocol;

/// Client settings; [`Default`] gives sensible ones.
#[derive(Debug, Clone)]
pub struct Options {
    pub timeouts: Timeouts,
    pub distribution: Distribution,
    /// Consecutive failures after which a server is ejected from the ring.
    pub failure_limit: u32,
    /// How long an ejected server stays out before it is tried again.
    pub retry_interval: Duration,
    /// Copies of each key: writes go to this many distinct servers, reads
    /// fall back along them.
    pub replicas: usize,
    /// Idle connections kept per server.
    pub max_idle: usize,
    /// With a configuration endpoint: how often operations check its
    /// version (zero: only on [`Client::refresh`]).
    pub refresh_interval: Duration,
    /// Text (default) or binary protocol.
    pub protocol: Protocol,
    /// Speak TLS to TCP servers (and the configuration endpoint); None:
    /// plaintext. Unix sockets stay plaintext.
    pub tls: Option<TlsConfig>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeouts: Timeouts {
                connect: Duration::from_secs(1),
                read: Duration::from_secs(5),
                write: Duration::from_secs(5),
            },
            distribution: Distribution::Ketama,
            failure_limit: 2,
            retry_interval: Duration::from_secs(5),
            replicas: 1,
            max_idle: 8,
            refresh_interval: Duration::ZERO,
            protocol: Protocol::Text,
            tls: None,
        }
    }
}

/// One server and its health.
struct Server {
    spec: ServerSpec,
    pool: Pool,
    health: Mutex<Health>,
}

#[derive(Default)]
struct Health {
    failures: u32,
    ejected_until: Option<Instant>,
}

impl Server {
    fn new(spec: ServerSpec) -> Server {
        Server {
            spec,
            pool: Pool::default(),
            health: Mutex::new(Health::default()),
        }
    }

    /// In the ring: not ejected, or its retry time has come (the next
    /// request probes it).
    fn alive(&self, now: Instant) -> bool {
        self.health.lock().ejected_until.map_or(true, |t| now >= t)
    }
}

/// The servers and the ring over them; replaced whole on a discovery
/// refresh.
struct Topology {
    servers: Vec<Arc<Server>>,
    ring: Ring,
}

impl Topology {
    fn new(specs: Vec<ServerSpec>, old: Option<&Topology>, dist: Distribution) -> Topology {
        let nodes: Vec<Node> = specs.iter().map(ServerSpec::node).collect();
        let servers = specs
            .into_iter()
            .map(|spec| {
                // Keep pools and health of servers that stay.
                old.and_then(|o| o.servers.iter().find(|s| s.spec == spec).cloned())
                    .unwrap_or_else(|| Arc::new(Server::new(spec)))
            })
            .collect();
        Topology {
            servers,
            ring: Ring::new(&nodes, dist),
        }
    }
}

/// The client. Cheap to clone; clones share pools and health.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    opts: Options,
    topology: RwLock<Arc<Topology>>,
    discovery: Option<Mutex<discovery::Endpoint>>,
}

impl Client {
    /// A client over `servers` (`host:port[:weight]` strings) with default
    /// options.
    pub fn new<S: AsRef<str>>(servers: &[S]) -> Result<Client> {
        Client::with_options(servers, Options::default())
    }

    pub fn with_options<S: AsRef<str>>(servers: &[S], opts: Options) -> Result<Client> {
        let specs = servers
            .iter()
            .map(|s| ServerSpec::parse(s.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        Ok(Client::from_specs(specs, opts, None))
    }

    fn from_specs(
        specs: Vec<ServerSpec>,
        opts: Options,
        discovery: Option<discovery::Endpoint>,
    ) -> Client {
        let topology = Topology::new(specs, None, opts.distribution);
        Client {
            inner: Arc::new(Inner {
                opts,
                topology: RwLock::new(Arc::new(topology)),
                discovery: discovery.map(Mutex::new),
            }),
        }
    }

    /// A client that learns its servers from an ElastiCache-style
    /// configuration endpoint (`config get cluster`).
    pub fn from_config_endpoint(endpoint: &str, opts: Options) -> Result<Client> {
        let spec = ServerSpec::parse(endpoint)?;
        let mut ep = discovery::Endpoint::new(spec);
        let config = ep.fetch(&opts.timeouts, opts.tls.as_ref())?;
        let specs = discovery::server_specs(&config);
        ep.version = Some(config.version);
        Ok(Client::from_specs(specs, opts, Some(ep)))
    }

    /// Ask the configuration endpoint for its version and rebuild the ring
    /// when it changed. Returns whether it changed; a client without an
    /// endpoint never changes.
    pub fn refresh(&self) -> Result<bool> {
        let Some(ep) = &self.inner.discovery else {
            return Ok(false);
        };
        let mut ep = ep.lock();
        ep.last_check = Some(Instant::now());
        let config = ep.fetch(&self.inner.opts.timeouts, self.inner.opts.tls.as_ref())?;
        if ep.version == Some(config.version) {
            return Ok(false);
        }
        let specs = discovery::server_specs(&config);
        let mut topo = self.inner.topology.write();
        *topo = Arc::new(Topology::new(
            specs,
            Some(&topo),
            self.inner.opts.distribution,
        ));
        ep.version = Some(config.version);
        Ok(true)
    }

    /// The configuration version last applied (discovery only).
    pub fn config_version(&self) -> Option<u64> {
        self.inner.discovery.as_ref().and_then(|e| e.lock().version)
    }

    fn maybe_refresh(&self) {
        let Some(ep) = &self.inner.discovery else {
            return;
        };
        let every = self.inner.opts.refresh_interval;
        if every.is_zero() {
            return;
        }
        let due = ep.lock().last_check.map_or(true, |t| t.elapsed() >= every);
        if due {
            if let Err(e) = self.refresh() {
                log::warn!("configuration endpoint refresh failed: {e}");
            }
        }
    }

    fn topology(&self) -> Arc<Topology> {
        self.maybe_refresh();
        Arc::clone(&self.inner.topology.read())
    }

    /// The servers, in list order.
    pub fn servers(&self) -> Vec<ServerSpec> {
        self.topology()
            .servers
            .iter()
            .map(|s| s.spec.clone())
            .collect()
    }

    /// The server that owns `key` now (ejected servers skipped).
    pub fn server_for(&self, key: &[u8]) -> Result<ServerSpec> {
        let topo = self.topology();
        let owners = self.owners(&topo, key, 1)?;
        Ok(topo.servers[owners[0]].spec.clone())
    }

    fn owners(&self, topo: &Topology, key: &[u8], n: usize) -> Result<Vec<usize>> {
        check_key(key)?;
        let now = Instant::now();
        let owners = topo.ring.owners(key, n, |i| topo.servers[i].alive(now));
        if owners.is_empty() {
            return Err(Error::NoServers);
        }
        Ok(owners)
    }

    /// Run `f` on a connection to `server`, keeping the health score.
    fn with_conn<T>(
        &self,
        server: &Server,
        f: impl FnOnce(&mut Connection) -> Result<T>,
    ) -> Result<T> {
        let opts = &self.inner.opts;
        let conn = match server.pool.take() {
            Some(c) => Ok(c),
            None => Connection::connect(&server.spec.addr, &opts.timeouts, opts.tls.as_ref()),
        };
        let result = conn.and_then(|mut c| f(&mut c).map(|v| (v, c)));
        match result {
            Ok((v, c)) => {
                server.pool.put(c, opts.max_idle);
                let mut h = server.health.lock();
                h.failures = 0;
                h.ejected_until = None;
                Ok(v)
            }
            Err(e) if e.is_failure() => {
                server.pool.clear();
                let mut h = server.health.lock();
                h.failures = h.failures.saturating_add(1);
                if h.failures >= opts.failure_limit.max(1) {
                    if h.ejected_until.map_or(true, |t| Instant::now() >= t) {
                        log::warn!(
                            "ejecting {} for {:?} after {} failures: {e}",
                            server.spec,
                            opts.retry_interval,
                            h.failures
                        );
                    }
                    h.ejected_until = Some(Instant::now() + opts.retry_interval);
                }
                Err(e)
            }
            // A reply about the request: the connection is still in step.
            Err(e) => Err(e),
        }
    }

    /// A read: the owner first, then each replica while the previous one
    /// fails.
    fn read_key<T>(&self, key: &[u8], f: impl Fn(&mut Connection) -> Result<T>) -> Result<T> {
        let topo = self.topology();
        let mut last = Error::NoServers;
        for i in self.owners(&topo, key, self.inner.opts.replicas.max(1))? {
            match self.with_conn(&topo.servers[i], &f) {
                Err(e) if e.is_failure() => last = e,
                other => return other,
            }
        }
        Err(last)
    }

    /// A write: every replica; the first server that answered decides the
    /// result, and it fails only if none answered.
    fn write_key<T>(&self, key: &[u8], f: impl Fn(&mut Connection) -> Result<T>) -> Result<T> {
        let topo = self.topology();
        let mut first: Option<Result<T>> = None;
        let mut last = Error::NoServers;
        for i in self.owners(&topo, key, self.inner.opts.replicas.max(1))? {
            match self.with_conn(&topo.servers[i], &f) {
                Err(e) if e.is_failure() => last = e,
                r => {
                    if first.is_none() {
                        first = Some(r);
                    }
                }
            }
        }
        first.unwrap_or(Err(last))
    }

    fn binary(&self) -> bool {
        self.inner.opts.protocol == Protocol::Binary
    }

    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Item>> {
        let key = key.as_ref();
        if self.binary() {
            return self.read_key(key, |c| binary_ops::get(c, key, None, false));
        }
        self.read_key(key, |c| single_get(c, b"get", None, key))
    }

    /// `get` with the item's CAS unique.
    pub fn gets(&self, key: impl AsRef<[u8]>) -> Result<Option<Item>> {
        let key = key.as_ref();
        if self.binary() {
            return self.read_key(key, |c| binary_ops::get(c, key, None, true));
        }
        self.read_key(key, |c| single_get(c, b"gets", None, key))
    }

    /// Get and touch: read the item and set its expiration.
    pub fn gat(&self, key: impl AsRef<[u8]>, exptime: i64) -> Result<Option<Item>> {
        let key = key.as_ref();
        if self.binary() {
            return self.write_key(key, |c| binary_ops::get(c, key, Some(exptime), false));
        }
        self.write_key(key, |c| single_get(c, b"gat", Some(exptime), key))
    }

    /// Fetch many keys: one `get k1 k2 ...` per owning server, sent to all
    /// servers in parallel. Keys whose server fails are retried on their
    /// replicas, if any. Missing keys are absent from the map; the keys of
    /// a server that failed count as misses, unless every server failed.
    pub fn get_multi<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<HashMap<Vec<u8>, Item>> {
        let topo = self.topology();
        let replicas = self.inner.opts.replicas.max(1);
        // key -> its servers; grouped by the first.
        let mut routes: Vec<(&[u8], Vec<usize>)> = Vec::with_capacity(keys.len());
        for k in keys {
            let k = k.as_ref();
            routes.push((k, self.owners(&topo, k, replicas)?));
        }
        let mut out = HashMap::with_capacity(keys.len());
        let mut pending: Vec<(&[u8], &[usize])> =
            routes.iter().map(|(k, o)| (*k, o.as_slice())).collect();
        let mut last_err = None;
        while !pending.is_empty() {
            let mut batches: HashMap<usize, Vec<&[u8]>> = HashMap::new();
            for (k, owners) in &pending {
                batches.entry(owners[0]).or_default().push(*k);
            }
            let results: Vec<(usize, Result<Batch>)> = std::thread::scope(|scope| {
                let handles: Vec<_> = batches
                    .iter()
                    .map(|(&server, batch)| {
                        let topo = &topo;
                        (
                            server,
                            scope.spawn(move || {
                                self.with_conn(&topo.servers[server], |c| {
                                    if self.binary() {
                                        binary_ops::get_multi(c, batch)
                                    } else {
                                        multi_get(c, batch)
                                    }
                                })
                            }),
                        )
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|(s, h)| {
                        let r = h.join().unwrap_or_else(|_| {
                            Err(Error::Protocol("get_multi worker panicked".into()))
                        });
                        (s, r)
                    })
                    .collect()
            });
            let mut failed = Vec::new();
            for (server, r) in results {
                match r {
                    Ok(items) => out.extend(items),
                    Err(e) if e.is_failure() => {
                        failed.push(server);
                        last_err = Some(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            // Keys of failed servers move on to their next replica.
            pending = pending
                .into_iter()
                .filter(|(_, o)| failed.contains(&o[0]))
                .filter(|(_, o)| o.len() > 1)
                .map(|(k, o)| (k, &o[1..]))
                .collect();
        }
        match last_err {
            Some(e) if out.is_empty() && !keys.is_empty() => Err(e),
            _ => Ok(out),
        }
    }

    /// `set`: store unconditionally. Ok(true) when stored.
    pub fn set(
        &self,
        key: impl AsRef<[u8]>,
        value: &[u8],
        flags: u32,
        exptime: i64,
    ) -> Result<bool> {
        self.store(StoreCommand::Set, key.as_ref(), value, flags, exptime, 0)
            .map(|o| o == CasOutcome::Stored)
    }

    /// `add`: store only if absent.
    pub fn add(
        &self,
        key: impl AsRef<[u8]>,
        value: &[u8],
        flags: u32,
        exptime: i64,
    ) -> Result<bool> {
        self.store(StoreCommand::Add, key.as_ref(), value, flags, exptime, 0)
            .map(|o| o == CasOutcome::Stored)
    }

    /// `replace`: store only if present.
    pub fn replace(
        &self,
        key: impl AsRef<[u8]>,
        value: &[u8],
        flags: u32,
        exptime: i64,
    ) -> Result<bool> {
        self.store(
            StoreCommand::Replace,
            key.as_ref(),
            value,
            flags,
            exptime,
            0,
        )
        .map(|o| o == CasOutcome::Stored)
    }

    pub fn append(&self, key: impl AsRef<[u8]>, value: &[u8]) -> Result<bool> {
        self.store(StoreCommand::Append, key.as_ref(), value, 0, 0, 0)
            .map(|o| o == CasOutcome::Stored)
    }

    pub fn prepend(&self, key: impl AsRef<[u8]>, value: &[u8]) -> Result<bool> {
        self.store(StoreCommand::Prepend, key.as_ref(), value, 0, 0, 0)
            .map(|o| o == CasOutcome::Stored)
    }

    /// `cas`: store if the item's unique is still `cas`.
    pub fn cas(
        &self,
        key: impl AsRef<[u8]>,
        value: &[u8],
        flags: u32,
        exptime: i64,
        cas: u64,
    ) -> Result<CasOutcome> {
        self.store(StoreCommand::Cas, key.as_ref(), value, flags, exptime, cas)
    }

    fn store(
        &self,
        command: StoreCommand,
        key: &[u8],
        value: &[u8],
        flags: u32,
        exptime: i64,
        cas: u64,
    ) -> Result<CasOutcome> {
        check_key(key)?;
        if self.binary() {
            return self.write_key(key, |c| {
                binary_ops::store(c, command, key, value, flags, exptime, cas)
            });
        }
        let name: &[u8] = match command {
            StoreCommand::Set => b"set",
            StoreCommand::Add => b"add",
            StoreCommand::Replace => b"replace",
            StoreCommand::Append => b"append",
            StoreCommand::Prepend => b"prepend",
            StoreCommand::Cas => b"cas",
        };
        let mut req = Vec::with_capacity(key.len() + value.len() + 64);
        req.extend_from_slice(name);
        req.push(b' ');
        req.extend_from_slice(key);
        req.extend_from_slice(format!(" {flags} {exptime} {}", value.len()).as_bytes());
        if command == StoreCommand::Cas {
            req.extend_from_slice(format!(" {cas}").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n");
        self.write_key(key, |c| {
            c.send(&req)?;
            c.reply(|r| match r {
                Reply::Stored => Ok(CasOutcome::Stored),
                Reply::NotStored | Reply::Exists if command != StoreCommand::Cas => {
                    Ok(CasOutcome::Exists)
                }
                Reply::Exists => Ok(CasOutcome::Exists),
                Reply::NotFound => Ok(CasOutcome::NotFound),
                other => Err(unexpected(other)),
            })?
        })
    }

    /// Ok(true) when the key existed.
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref();
        if self.binary() {
            return self.write_key(key, |c| binary_ops::delete(c, key));
        }
        let req = line(&[b"delete", key]);
        self.write_key(key, |c| {
            c.send(&req)?;
            c.reply(|r| match r {
                Reply::Deleted => Ok(true),
                Reply::NotFound => Ok(false),
                other => Err(unexpected(other)),
            })?
        })
    }

    /// The new value, or None when the key is absent.
    pub fn incr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<Option<u64>> {
        self.delta(b"incr", key.as_ref(), delta)
    }

    pub fn decr(&self, key: impl AsRef<[u8]>, delta: u64) -> Result<Option<u64>> {
        self.delta(b"decr", key.as_ref(), delta)
    }

    fn delta(&self, verb: &[u8], key: &[u8], delta: u64) -> Result<Option<u64>> {
        if self.binary() {
            return self.write_key(key, |c| binary_ops::delta(c, verb == b"incr", key, delta));
        }
        let req = line(&[verb, key, delta.to_string().as_bytes()]);
        self.write_key(key, |c| {
            c.send(&req)?;
            c.reply(|r| match r {
                Reply::Number(n) => Ok(Some(n)),
                Reply::NotFound => Ok(None),
                other => Err(unexpected(other)),
            })?
        })
    }

    /// Ok(true) when the key existed.
    pub fn touch(&self, key: impl AsRef<[u8]>, exptime: i64) -> Result<bool> {
        let key = key.as_ref();
        if self.binary() {
            return self.write_key(key, |c| binary_ops::touch(c, key, exptime));
        }
        let req = line(&[b"touch", key, exptime.to_string().as_bytes()]);
        self.write_key(key, |c| {
            c.send(&req)?;
            c.reply(|r| match r {
                Reply::Touched => Ok(true),
                Reply::NotFound => Ok(false),
                other => Err(unexpected(other)),
            })?
        })
    }

    /// `flush_all [delay]` on every server; the first error is returned
    /// after all were tried.
    pub fn flush_all(&self, delay: i64) -> Result<()> {
        let req = line(&[b"flush_all", delay.to_string().as_bytes()]);
        let mut first_err = None;
        for (_, r) in self.each_server(|c| {
            if self.binary() {
                return binary_ops::flush(c, delay);
            }
            c.send(&req)?;
            c.reply(|r| match r {
                Reply::Ok => Ok(()),
                other => Err(unexpected(other)),
            })?
        }) {
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// `stats [group]` of every server, in list order.
    #[allow(clippy::type_complexity)]
    pub fn stats(&self, group: Option<&str>) -> Vec<(ServerSpec, Result<Vec<(String, String)>>)> {
        let req = match group {
            Some(g) => line(&[b"stats", g.as_bytes()]),
            None => line(&[b"stats"]),
        };
        self.each_server(|c| {
            if self.binary() {
                return binary_ops::stats(c, group);
            }
            c.send(&req)?;
            let mut out = Vec::new();
            loop {
                let done = c.reply(|r| match r {
                    Reply::End => Ok(true),
                    Reply::Stat { name, value } => {
                        out.push((
                            String::from_utf8_lossy(name).into_owned(),
                            String::from_utf8_lossy(value).into_owned(),
                        ));
                        Ok(false)
                    }
                    other => Err(unexpected(other)),
                })??;
                if done {
                    return Ok(out);
                }
            }
        })
    }

    /// `version` of every server.
    pub fn version(&self) -> Vec<(ServerSpec, Result<String>)> {
        self.each_server(|c| {
            if self.binary() {
                return binary_ops::version(c);
            }
            c.send(b"version\r\n")?;
            c.reply(|r| match r {
                Reply::Version(v) => Ok(String::from_utf8_lossy(v).into_owned()),
                other => Err(unexpected(other)),
            })?
        })
    }

    /// Run `f` on every server (ejected ones too: these are admin calls).
    fn each_server<T: Send>(
        &self,
        f: impl Fn(&mut Connection) -> Result<T> + Sync,
    ) -> Vec<(ServerSpec, Result<T>)> {
        let topo = self.topology();
        std::thread::scope(|scope| {
            let handles: Vec<_> = topo
                .servers
                .iter()
                .map(|s| {
                    let f = &f;
                    (s, scope.spawn(move || self.with_conn(s, f)))
                })
                .collect();
            handles
                .into_iter()
                .map(|(s, h)| {
                    let r = h
                        .join()
                        .unwrap_or_else(|_| Err(Error::Protocol("worker panicked".into())));
                    (s.spec.clone(), r)
                })
                .collect()
        })
    }
}

fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() || !crate::protocol::common::valid_key(key) {
        return Err(Error::InvalidKey);
    }
    Ok(())
}

/// Words joined by spaces, ended by CRLF.
fn line(words: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(words.iter().map(|w| w.len() + 1).sum::<usize>() + 2);
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(w);
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `get`/`gets`/`gat`/`gats` of one key.
fn single_get(
    c: &mut Connection,
    verb: &[u8],
    exptime: Option<i64>,
    key: &[u8],
) -> Result<Option<Item>> {
    let req = match exptime {
        Some(t) => line(&[verb, t.to_string().as_bytes(), key]),
        None => line(&[verb, key]),
    };
    c.send(&req)?;
    let items = read_values(c)?;
    Ok(items.into_iter().next().map(|(_, item)| item))
}

fn multi_get(c: &mut Connection, keys: &[&[u8]]) -> Result<Vec<(Vec<u8>, Item)>> {
    let mut req = Vec::with_capacity(keys.iter().map(|k| k.len() + 1).sum::<usize>() + 8);
    req.extend_from_slice(b"get");
    for k in keys {
        req.push(b' ');
        req.extend_from_slice(k);
    }
    req.extend_from_slice(b"\r\n");
    c.send(&req)?;
    read_values(c)
}

/// `VALUE` blocks up to `END`.
fn read_values(c: &mut Connection) -> Result<Vec<(Vec<u8>, Item)>> {
    let mut out = Vec::new();
    loop {
        let done = c.reply(|r| match r {
            Reply::End => Ok(true),
            Reply::Value {
                key,
                flags,
                cas,
                data,
            } => {
                out.push((
                    key.to_vec(),
                    Item {
                        value: data.to_vec(),
                        flags,
                        cas,
                    },
                ));
                Ok(false)
            }
            other => Err(unexpected(other)),
        })??;
        if done {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_specs() {
        let tcp = |h: &str, p, w| ServerSpec {
            addr: Addr::Tcp {
                host: h.into(),
                port: p,
            },
            weight: w,
        };
        let table: &[(&str, Option<ServerSpec>)] = &[
            ("127.0.0.1:11212", Some(tcp("127.0.0.1", 11212, 1))),
            ("cache1", Some(tcp("cache1", 11211, 1))),
            ("cache1:11211:3", Some(tcp("cache1", 11211, 3))),
            ("[::1]:5000:2", Some(tcp("::1", 5000, 2))),
            (
                "/run/mc.sock:2",
                Some(ServerSpec {
                    addr: Addr::Unix("/run/mc.sock".into()),
                    weight: 2,
                }),
            ),
            ("host:notaport", None),
            ("host:1:0", None),
            ("host:1:2:3", None),
            (":11211", None),
        ];
        for (s, want) in table {
            assert_eq!(ServerSpec::parse(s).ok(), *want, "{s}");
        }
    }

    #[test]
    fn keys_memcached_refuses_are_refused_before_sending() {
        let c = Client::new(&["127.0.0.1:1"]).unwrap();
        for key in [&b""[..], b"a b", b"a\nb", &[b'k'; 251]] {
            assert!(matches!(c.get(key), Err(Error::InvalidKey)));
        }
        let none: [&str; 0] = [];
        assert!(matches!(
            Client::new(&none).unwrap().get("k"),
            Err(Error::NoServers)
        ));
    }
}
