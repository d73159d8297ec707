//! `watch`: memcached's log streams (`logger.c`). A connection that sends
//! `watch [fetchers] [mutations] [evictions] [connevents] [deletions]`
//! answers `OK` and from then on receives one line per event of those
//! kinds, in memcached's format (`ts=<s>.<us> gid=<n> type=... key=...`).
//! ferrocache adds `hotkeys`: a line when a key enters the hot-key list.
//!
//! Each watcher has a bounded buffer: an event that does not fit is
//! counted, and a `skipped=N` line goes out before the next one that does,
//! so a watcher that never reads costs the request path a short lock and
//! nothing more. With no watcher attached the request path pays one relaxed
//! load ([`Watchers::wants`]). The watching connection's worker is woken
//! when its buffer goes from empty to non-empty and moves the lines into
//! its reply buffer ([`Watcher::drain_into`]).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use super::exec::{Exec, Family, Session, StoreOp};
use super::shared::Shared;
use crate::protocol::admin::watch as kinds;
use crate::store::{ItemInfo, StoreError, StoreMode, StoreOutcome};

/// At most this many watchers at once (memcached's `WATCHER_LIMIT`).
pub const WATCHER_LIMIT: usize = 20;

/// memcached's default `watcher_logbuf_size`, in kilobytes.
const DEFAULT_LOGBUF_KB: usize = 256;

/// One watching connection.
#[derive(Debug)]
pub struct Watcher {
    kinds: u32,
    limit: usize,
    buf: Mutex<WatchBuf>,
}

#[derive(Debug, Default)]
struct WatchBuf {
    lines: Vec<u8>,
    skipped: u64,
}

impl Watcher {
    /// Move buffered lines into `out`; true if any moved.
    pub fn drain_into(&self, out: &mut Vec<u8>) -> bool {
        let mut b = self.buf.lock();
        if b.lines.is_empty() {
            return false;
        }
        out.extend_from_slice(&b.lines);
        b.lines.clear();
        true
    }
}

/// Every watcher, and the union of the kinds they watch.
#[derive(Debug)]
pub struct Watchers {
    /// Kinds some watcher wants: the request path's one relaxed load.
    active: AtomicU32,
    /// A watcher lives as long as its connection's session holds it; a
    /// dead entry is pruned by the next event or count.
    list: Mutex<Vec<Weak<Watcher>>>,
    limit: usize,
    gid: AtomicU64,
    pub sent: AtomicU64,
    pub skipped: AtomicU64,
}

/// Why `watch` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMany;

impl Watchers {
    /// `-o watcher_logbuf_size=KB` sizes each watcher's buffer.
    pub fn new(config: &crate::config::Config) -> Watchers {
        let kb = config
            .extended
            .pairs
            .iter()
            .rev()
            .find(|(k, _)| k == "watcher_logbuf_size")
            .and_then(|(_, v)| v.as_deref()?.parse::<usize>().ok())
            .unwrap_or(DEFAULT_LOGBUF_KB);
        Watchers {
            active: AtomicU32::new(0),
            list: Mutex::new(Vec::new()),
            limit: kb.max(1) * 1024,
            gid: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }

    /// Each watcher's buffer, in bytes (`stats settings`).
    pub fn buffer_bytes(&self) -> usize {
        self.limit
    }

    /// Whether some watcher wants events of `kind`.
    #[inline]
    pub fn wants(&self, kind: u32) -> bool {
        self.active.load(Ordering::Relaxed) & kind != 0
    }

    /// Watchers attached now (`stats` `log_watchers`).
    pub fn count(&self) -> usize {
        let mut list = self.list.lock();
        self.prune(&mut list);
        list.len()
    }

    /// Forget watchers whose connections closed; recompute the mask.
    fn prune(&self, list: &mut Vec<Weak<Watcher>>) {
        list.retain(|w| w.strong_count() > 0);
        let mask = list
            .iter()
            .filter_map(Weak::upgrade)
            .fold(0, |m, x| m | x.kinds);
        self.active.store(mask, Ordering::Relaxed);
    }

    /// Attach a watcher of `kinds`.
    pub fn add(&self, kinds: u32) -> Result<Arc<Watcher>, TooMany> {
        let mut list = self.list.lock();
        self.prune(&mut list);
        if list.len() >= WATCHER_LIMIT {
            return Err(TooMany);
        }
        let watcher = Arc::new(Watcher {
            kinds,
            limit: self.limit,
            buf: Mutex::new(WatchBuf::default()),
        });
        list.push(Arc::downgrade(&watcher));
        self.active.fetch_or(kinds, Ordering::Relaxed);
        Ok(watcher)
    }

    /// Log one event of `kind`: `body` writes what follows `gid=<n> `
    /// (without the newline). Returns true when a watcher's buffer went
    /// from empty to non-empty (its worker must be woken).
    pub fn log(&self, kind: u32, body: impl Fn(&mut Vec<u8>)) -> bool {
        let mut list = self.list.lock();
        if list.iter().any(|w| w.strong_count() == 0) {
            self.prune(&mut list);
        }
        let gid = self.gid.fetch_add(1, Ordering::Relaxed) + 1;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut line = Vec::with_capacity(256);
        let mut n = itoa::Buffer::new();
        line.extend_from_slice(b"ts=");
        line.extend_from_slice(n.format(now.as_secs()).as_bytes());
        line.push(b'.');
        line.extend_from_slice(n.format(now.subsec_micros()).as_bytes());
        line.extend_from_slice(b" gid=");
        line.extend_from_slice(n.format(gid).as_bytes());
        line.push(b' ');
        body(&mut line);
        line.push(b'\n');
        let mut wake = false;
        for w in list.iter().filter_map(Weak::upgrade) {
            if w.kinds & kind == 0 {
                continue;
            }
            let mut b = w.buf.lock();
            let skip_line = if b.skipped > 0 { 32 } else { 0 };
            if b.lines.len() + line.len() + skip_line > w.limit {
                b.skipped += 1;
                self.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            wake |= b.lines.is_empty();
            if b.skipped > 0 {
                let skipped = b.skipped;
                b.lines.extend_from_slice(b"skipped=");
                b.lines.extend_from_slice(n.format(skipped).as_bytes());
                b.lines.push(b'\n');
                b.skipped = 0;
            }
            b.lines.extend_from_slice(&line);
            self.sent.fetch_add(1, Ordering::Relaxed);
        }
        wake
    }
}

/// Log an event and wake the workers if a watcher needs writing.
pub fn emit(shared: &Shared, kind: u32, body: impl Fn(&mut Vec<u8>)) {
    if shared.watchers.log(kind, body) {
        shared.wake_all();
    }
}

/// memcached's `uriencode` of a key into a log line.
pub fn push_key(line: &mut Vec<u8>, key: &[u8]) {
    super::inspect::uri_encode(key, line);
}

/// `watch hotkeys` (ferrocache): after each merge of the hot-key samples,
/// one `type=hot_key` line per key that entered the list (`stats hotkeys`'
/// fields: rank, estimated ops/s, reads/s and writes/s, share of reads
/// that missed). `listed` is the list as last announced; a new watcher
/// first sees the whole list (nothing is announced while nobody watches).
pub fn hot_keys_entered(
    shared: &Shared,
    hottest: impl FnOnce() -> Vec<crate::hotkeys::HotKey>,
    listed: &mut std::collections::HashSet<Vec<u8>>,
) {
    if !shared.watchers.wants(kinds::HOTKEYS) {
        listed.clear();
        return;
    }
    let list = hottest();
    for (i, k) in list.iter().enumerate() {
        if listed.contains(&k.key) {
            continue;
        }
        emit(shared, kinds::HOTKEYS, |l| {
            let mut n = itoa::Buffer::new();
            l.extend_from_slice(b"type=hot_key key=");
            push_key(l, &k.key);
            l.extend_from_slice(b" rank=");
            l.extend_from_slice(n.format(i + 1).as_bytes());
            let rates = format!(
                " ops={:.1} reads={:.1} writes={:.1} miss_share={:.3}",
                k.ops, k.reads, k.writes, k.miss_share
            );
            l.extend_from_slice(rates.as_bytes());
        });
    }
    *listed = list.into_iter().map(|k| k.key).collect();
}

/// `type=conn_new` / `type=conn_close` for the connection at `addr`
/// (`tcp:<ip>:<port>` or `unix:<path>`, as `stats conns` names it).
pub fn conn_event(shared: &Shared, addr: &str, fd: i32, close: Option<bool>) {
    if !shared.watchers.wants(kinds::CONNEVENTS) {
        return;
    }
    let (rip, rport, transport) = match addr.strip_prefix("tcp:") {
        Some(sock) => match sock.parse::<std::net::SocketAddr>() {
            Ok(a) => (a.ip().to_string(), a.port(), "tcp"),
            Err(_) => (sock.to_string(), 0, "tcp"),
        },
        None => ("unix".to_string(), 0, "local"),
    };
    emit(shared, kinds::CONNEVENTS, |l| {
        let mut n = itoa::Buffer::new();
        l.extend_from_slice(match close {
            None => b"type=conn_new rip=",
            Some(_) => b"type=conn_close rip=",
        });
        l.extend_from_slice(rip.as_bytes());
        l.extend_from_slice(b" rport=");
        l.extend_from_slice(n.format(rport).as_bytes());
        l.extend_from_slice(b" transport=");
        l.extend_from_slice(transport.as_bytes());
        match close {
            Some(true) => l.extend_from_slice(b" reason=error"),
            Some(false) => l.extend_from_slice(b" reason=normal"),
            None => {}
        }
        l.extend_from_slice(b" cfd=");
        l.extend_from_slice(n.format(fd).as_bytes());
    });
}

impl<'a> Exec<'a> {
    /// `watch [kinds]`: `OK`, then the connection only receives log lines.
    pub fn watch(&self, kinds: Option<u32>, session: &mut Session, out: &mut Vec<u8>) {
        let line: &[u8] = if self.shared.config.disable_watch {
            b"CLIENT_ERROR watch commands not allowed\r\n"
        } else if !out.is_empty() {
            b"ERROR cannot pipeline other commands before watch\r\n"
        } else {
            match kinds.map(|k| self.shared.watchers.add(k)) {
                None => b"ERROR\r\n",
                Some(Err(TooMany)) => b"WATCHER_TOO_MANY log watcher limit reached\r\n",
                Some(Ok(w)) => {
                    session.watcher = Some(w);
                    b"OK\r\n"
                }
            }
        };
        out.extend_from_slice(line);
    }

    /// `type=item_get`: what a lookup of `key` finds now (the item's
    /// class and value length; `not_found`, class 0, size 0 without one).
    pub(super) fn log_fetch(&self, key: &[u8]) {
        let info = self.shared.cache.inspect(key);
        let fd = self.fd;
        emit(self.shared, kinds::FETCHERS, |l| {
            let mut n = itoa::Buffer::new();
            l.extend_from_slice(b"type=item_get key=");
            push_key(l, key);
            l.extend_from_slice(match info {
                Some(_) => b" status=found clsid=",
                None => b" status=not_found clsid=",
            });
            l.extend_from_slice(n.format(u8::from(info.is_some())).as_bytes());
            l.extend_from_slice(b" cfd=");
            l.extend_from_slice(n.format(fd).as_bytes());
            l.extend_from_slice(b" size=");
            let size = info.map_or(0, |i| value_len(&i, key));
            l.extend_from_slice(n.format(size).as_bytes());
        });
    }

    /// `type=item_store`.
    pub(super) fn log_store(&self, op: &StoreOp, result: &Result<StoreOutcome, StoreError>) {
        let status: &[u8] = match result {
            Ok(StoreOutcome::Stored(_)) => b"stored",
            Ok(StoreOutcome::NotStored) => b"not_stored",
            Ok(StoreOutcome::Exists) => b"exists",
            Ok(StoreOutcome::NotFound) => b"not_found",
            Err(StoreError::TooLarge) => b"too_large",
            Err(StoreError::OutOfMemory) => b"no_memory",
        };
        let cmd: &[u8] = match op.mode {
            StoreMode::Set => b"set",
            StoreMode::Add => b"add",
            StoreMode::Replace => b"replace",
            StoreMode::Append => b"append",
            StoreMode::Prepend => b"prepend",
            StoreMode::Cas(_) => b"cas",
        };
        let clock = self.shared.cache.clock();
        let exp = clock.expiry(op.exptime);
        let ttl = if exp == 0 {
            0
        } else {
            exp.saturating_sub(clock.now())
        };
        let size = op.value.map_or(0, <[u8]>::len);
        let fd = self.fd;
        emit(self.shared, kinds::MUTATIONS, |l| {
            let mut n = itoa::Buffer::new();
            l.extend_from_slice(b"type=item_store key=");
            push_key(l, op.key);
            l.extend_from_slice(b" status=");
            l.extend_from_slice(status);
            l.extend_from_slice(b" cmd=");
            l.extend_from_slice(cmd);
            l.extend_from_slice(b" ttl=");
            l.extend_from_slice(n.format(ttl).as_bytes());
            l.extend_from_slice(b" clsid=1 cfd=");
            l.extend_from_slice(n.format(fd).as_bytes());
            l.extend_from_slice(b" size=");
            l.extend_from_slice(n.format(size).as_bytes());
        });
    }

    /// `type=deleted` (memcached 1.6.20's `deletions`).
    pub(super) fn log_delete(&self, key: &[u8], info: &ItemInfo, family: Family) {
        let size = value_len(info, key);
        emit(self.shared, kinds::DELETIONS, |l| {
            let mut n = itoa::Buffer::new();
            l.extend_from_slice(b"type=deleted key=");
            push_key(l, key);
            l.extend_from_slice(match family {
                Family::Classic => b" cmd=delete clsid=1 size=",
                Family::Meta => b" cmd=md clsid=1 size=",
            });
            l.extend_from_slice(n.format(size).as_bytes());
        });
    }
}

/// An item's value length from its metadata (`size` counts header and key).
fn value_len(info: &ItemInfo, key: &[u8]) -> usize {
    info.size.saturating_sub(crate::store::HDR + key.len())
}

/// `type=eviction`, from the store's eviction hook: `ttl` is the seconds
/// left (-1: none), `la` the seconds since the last access.
pub fn log_eviction(shared: &Shared, item: &crate::store::DumpItem) {
    if !shared.watchers.wants(kinds::EVICTIONS) {
        return;
    }
    let now = shared.cache.clock().now();
    let mut key = [0u8; 256];
    let key = &mut key[..item.key.len()];
    item.key.copy_to(key);
    let ttl = if item.exp == 0 {
        -1
    } else {
        i64::from(item.exp) - i64::from(now)
    };
    emit(shared, kinds::EVICTIONS, |l| {
        let mut n = itoa::Buffer::new();
        l.extend_from_slice(b"type=eviction key=");
        push_key(l, key);
        l.extend_from_slice(if item.fetched {
            b" fetch=yes ttl="
        } else {
            b" fetch=no ttl="
        });
        l.extend_from_slice(n.format(ttl).as_bytes());
        l.extend_from_slice(b" la=");
        l.extend_from_slice(n.format(now.saturating_sub(item.time)).as_bytes());
        l.extend_from_slice(b" clsid=1 size=");
        l.extend_from_slice(n.format(item.nbytes).as_bytes());
    });
}
