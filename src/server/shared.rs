//! The state every server thread shares: the store, the configuration,
//! the counters, auth, TLS and the `stats conns` table. It lives apart from
//! the listener and workers (`server/mod.rs`) so the parts that use it
//! import it, not their parent.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mio::Waker;
use parking_lot::Mutex;

use super::conn_table::{ConnInfo, Endpoint};
use super::{auth, cluster, readbuf, tls};
use crate::config::{Config, ProtocolMode};
use crate::protocol::text;
use crate::stats::Stats;
use crate::store::Cache;

/// The version `version` and `stats` report: memcached's protocol level
/// first, so clients that parse it (libmemcached) see a 1.6 server.
pub const VERSION: &str = concat!("1.6.18-ferrocache-", env!("CARGO_PKG_VERSION"));

/// State every thread shares.
pub struct Shared {
    pub cache: Cache,
    pub config: Config,
    pub stats: Stats,
    /// `-o hot_keys`: every thread's samples over the last seconds
    /// (`None`: off). Only the maintenance thread and `stats hotkeys` lock it.
    pub hot: Option<Mutex<crate::hotkeys::Tracker>>,
    /// `lru_crawler`'s settings and counters.
    pub crawler: super::inspect::Crawler,
    /// `stats detail`'s per-prefix counters.
    pub prefixes: super::inspect::Prefixes,
    /// `watch`: the log streams.
    pub watchers: super::watch::Watchers,
    pub limits: text::Limits,
    /// Largest read buffer a connection may need (one request).
    pub max_request: usize,
    /// The first TCP port listened on (`stats settings` shows it).
    pub tcp_port: u16,
    /// `-B`, with auth's implications: `-S` means binary, `-Y` ascii.
    pub protocol: ProtocolMode,
    /// Credentials for SASL (`-S`) and ASCII auth (`-Y`).
    pub auth: auth::Auth,
    /// `config get cluster` (auto-discovery); reloaded by [`Shared::reload`].
    pub cluster: cluster::Cluster,
    /// `-e`: whether the stop saves, and the last load and save.
    pub persist: crate::persist::Status,
    /// Read-buffer memory of all connections (`-o read_buf_mem_limit`).
    pub read_bufs: readbuf::ReadBufs,
    /// `-o metrics_listen`: time each command for the latency histograms.
    pub metrics_on: bool,
    /// `-Z`: the certificates new handshakes use.
    pub tls: Option<tls::Tls>,
    pub(super) conns: Mutex<slab::Slab<Arc<ConnInfo>>>,
    /// Listening sockets (TCP, unix, UDP), listed by `stats conns`.
    pub(super) endpoints: Mutex<Vec<Endpoint>>,
    pub(super) shutting_down: AtomicBool,
    /// The listener may still hand over connections (its backlog is drained
    /// at shutdown, so clients that already connected are answered).
    pub(super) accepting: AtomicBool,
    pub(super) wakers: Mutex<Vec<Arc<Waker>>>,
}

impl Shared {
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Ask every thread to stop.
    pub fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        self.wake_all();
    }

    pub fn is_accepting(&self) -> bool {
        self.accepting.load(Ordering::Acquire)
    }

    pub fn wake_all(&self) {
        for w in self.wakers.lock().iter() {
            let _ = w.wake();
        }
    }

    /// SIGHUP: re-read the files that may change at run time (credentials,
    /// cluster config). On failure the old contents stay in service.
    pub fn reload(&self) -> io::Result<()> {
        self.cluster.reload();
        let tls = match self.tls {
            Some(_) => self.refresh_certs(),
            None => Ok(()),
        };
        self.auth.reload()?;
        tls.map_err(io::Error::other)
    }

    /// Reload the TLS certificate, key and CA (`refresh_certs`, SIGHUP).
    /// On failure the old ones stay in service and the error is logged.
    pub fn refresh_certs(&self) -> Result<(), String> {
        let Some(tls) = &self.tls else {
            return Err("Error TLS not enabled".into());
        };
        let result = tls.refresh(self.cache.clock().now());
        if let Err(e) = &result {
            log::error!("TLS certificate refresh failed, keeping the old ones: {e}");
        }
        result
    }

    /// A connection closed: forget its `stats conns` entry and give back
    /// its read buffer's share of `-o read_buf_mem_limit`.
    pub(super) fn forget(&self, info: &Arc<ConnInfo>, read_buf_len: usize) {
        self.read_bufs.release(read_buf_len);
        let mut conns = self.conns.lock();
        if let Some(key) = conns
            .iter()
            .find(|(_, i)| Arc::ptr_eq(i, info))
            .map(|(k, _)| k)
        {
            conns.remove(key);
        }
        self.stats.curr_connections.fetch_sub(1, Ordering::Relaxed);
    }
}
