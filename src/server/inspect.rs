//! Looking inside a running cache: `lru_crawler` (its settings, the
//! on-demand expiry crawl, and the `metadump`/`mgdump` key dumps) and
//! `stats cachedump`, `stats detail`.
//!
//! A dump streams: [`DumpCursor`] lives in the connection's
//! [`Session`] and walks the store stripe by stripe, a batch of records per
//! lock hold (`store::dump`). Once the reply buffer passes
//! [`DUMP_CHUNK`] the request answers [`Flow::Pause`]; the connection
//! writes what it has and, when its peer has read it, runs the same request
//! again, which resumes at the cursor. A dump therefore holds at most one
//! stripe's handles and one chunk of lines, however large the cache.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use super::exec::{Exec, Flow, Session};
use super::shared::Shared;
use crate::config::Config;
use crate::protocol::admin::{self, CachedumpError, Crawler as Cmd, DumpFormat};
use crate::store::{DumpEntry, DumpItem, DUMP_BATCH};

/// Reply bytes a dump adds before it pauses for its peer to read. A dump
/// writes one chunk per turn of its worker's event loop, then lets the
/// worker's other connections have theirs: a chunk of about 65 lines
/// takes some tens of microseconds, what a few requests take, so requests
/// on the same worker wait about that much longer while a dump runs.
pub const DUMP_CHUNK: usize = 8 * 1024;

/// While its worker has other work, a dump takes at most one part in this
/// many of the worker's time: after a chunk that took `t`, the next waits
/// `(DUMP_SHARE - 1) * t`, unless the worker has been otherwise idle for
/// [`DUMP_QUIET`]. Sending a chunk, which the kernel does on the worker's
/// core, is not timed, so the true share is larger.
const DUMP_SHARE: u32 = 16;

/// How long a worker must have had nothing else to do before a dump runs
/// at full speed: a moment between two requests is not idle.
const DUMP_QUIET: std::time::Duration = std::time::Duration::from_millis(10);

thread_local! {
    /// When the worker last found requests besides a dump's turn
    /// (`stats::micros`; see [`set_worker_busy`]).
    static WORKER_BUSY_AT: Cell<u64> = const { Cell::new(0) };
}

/// Called by the worker after a poll that found requests to serve besides
/// connections that yielded, with the time.
pub fn set_worker_busy(now: u64) {
    WORKER_BUSY_AT.with(|w| w.set(now));
}

/// Whether the worker has had nothing but dumps to do for [`DUMP_QUIET`].
fn worker_quiet() -> bool {
    let at = WORKER_BUSY_AT.with(Cell::get);
    crate::stats::micros().saturating_sub(at) >= DUMP_QUIET.as_micros() as u64
}

/// The one class id every item has (`stats slabs` shows one class).
pub const ITEM_CLASS: u32 = 1;

/// `stats cachedump`'s cap on its reply, as memcached's 2 MB buffer.
const CACHEDUMP_MAX: usize = 2 * 1024 * 1024;

/// The crawler's settings and counters (`stats`, `stats settings`).
#[derive(Debug)]
pub struct Crawler {
    pub enabled: AtomicBool,
    /// `lru_crawler sleep`: microseconds between batches (shown only).
    pub sleep: AtomicU32,
    /// `lru_crawler tocrawl`: items per class per run (shown only).
    pub tocrawl: AtomicU32,
    /// A `crawl` is waiting for the maintenance thread, or running.
    pub running: AtomicBool,
    pub starts: AtomicU64,
    pub items_checked: AtomicU64,
}

impl Crawler {
    /// The settings `-o` gave: the crawler is on unless `no_modern` or
    /// `no_lru_crawler` came last (memcached's `modern` default turns it on).
    pub fn new(config: &Config) -> Crawler {
        let mut enabled = true;
        let mut sleep = 100;
        let mut tocrawl = 0;
        for (key, value) in &config.extended.pairs {
            let uint = || value.as_deref().and_then(|v| v.parse().ok());
            match key.as_str() {
                "modern" | "lru_crawler" => enabled = true,
                "no_modern" | "no_lru_crawler" => enabled = false,
                "lru_crawler_sleep" => sleep = uint().unwrap_or(sleep),
                "lru_crawler_tocrawl" => tocrawl = uint().unwrap_or(tocrawl),
                _ => {}
            }
        }
        Crawler {
            enabled: AtomicBool::new(enabled),
            sleep: AtomicU32::new(sleep),
            tocrawl: AtomicU32::new(tocrawl),
            running: AtomicBool::new(false),
            starts: AtomicU64::new(0),
            items_checked: AtomicU64::new(0),
        }
    }

    /// The maintenance thread's part: run a requested crawl.
    pub fn run_pending(shared: &Shared) {
        let crawler = &shared.crawler;
        if !crawler.running.load(Ordering::Acquire) {
            return;
        }
        let (checked, _) = shared.cache.crawl_expired();
        crawler.items_checked.fetch_add(checked, Ordering::Relaxed);
        crawler.running.store(false, Ordering::Release);
    }
}

/// `stats detail`: per-prefix counters of gets, hits, sets and deletes
/// (memcached's `stats_prefix.c`), kept while detail is on. A key counts
/// under the bytes before its first delimiter (`-D`, default `:`); a key
/// without one is not counted.
#[derive(Debug)]
pub struct Prefixes {
    enabled: AtomicBool,
    delimiter: u8,
    /// Prefix -> [gets, hits, sets, deletes].
    counts: Mutex<HashMap<Box<[u8]>, [u64; 4]>>,
}

/// Which counter of a prefix an operation adds to.
#[derive(Debug, Clone, Copy)]
pub enum PrefixOp {
    Get { hit: bool },
    Set,
    Delete,
}

impl Prefixes {
    pub fn new(config: &Config) -> Prefixes {
        let delimiter = config
            .prefix_delimiter
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(b':');
        Prefixes {
            enabled: AtomicBool::new(false),
            delimiter,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Whether counting is on: the one relaxed load the request path pays.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Count `op` on `key` (call only when [`Prefixes::enabled`]).
    pub fn record(&self, key: &[u8], op: PrefixOp) {
        let Some(end) = key.iter().position(|&b| b == self.delimiter) else {
            return;
        };
        let prefix = &key[..end];
        let mut counts = self.counts.lock();
        let c = match counts.get_mut(prefix) {
            Some(c) => c,
            None => counts.entry(prefix.into()).or_insert([0; 4]),
        };
        match op {
            PrefixOp::Get { hit } => {
                c[0] += 1;
                c[1] += u64::from(hit);
            }
            PrefixOp::Set => c[2] += 1,
            PrefixOp::Delete => c[3] += 1,
        }
    }

    /// `stats reset`.
    pub fn clear(&self) {
        self.counts.lock().clear();
    }

    /// `stats detail on|off|dump`, as memcached 1.6.18 answers it.
    pub fn command(&self, args: &[u8], out: &mut Vec<u8>) {
        let mut t = crate::protocol::common::tokens(args);
        match t.next() {
            Some(b"on") => {
                self.enabled.store(true, Ordering::Relaxed);
                out.extend_from_slice(b"OK\r\n");
            }
            Some(b"off") => {
                self.enabled.store(false, Ordering::Relaxed);
                out.extend_from_slice(b"OK\r\n");
            }
            Some(b"dump") => {
                let counts = self.counts.lock();
                let mut n = itoa::Buffer::new();
                for (prefix, c) in counts.iter() {
                    out.extend_from_slice(b"PREFIX ");
                    out.extend_from_slice(prefix);
                    for (name, v) in [
                        (" get ", c[0]),
                        (" hit ", c[1]),
                        (" set ", c[2]),
                        (" del ", c[3]),
                    ] {
                        out.extend_from_slice(name.as_bytes());
                        out.extend_from_slice(n.format(v).as_bytes());
                    }
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"END\r\n");
            }
            _ => out.extend_from_slice(b"CLIENT_ERROR usage: stats detail on|off|dump\r\n"),
        }
    }
}

/// Where a paused dump resumes.
#[derive(Debug)]
pub struct DumpCursor {
    format: DumpFormat,
    /// Stripe whose snapshot is `snap`.
    stripe: usize,
    snap: Vec<DumpEntry>,
    /// Entries of `snap` already visited.
    pos: usize,
    /// Pacing: no chunk before this, unless the worker is idle.
    not_before: Option<Instant>,
}

impl<'a> Exec<'a> {
    /// One `lru_crawler` request, as memcached 1.6.18's
    /// `process_lru_crawler_command` answers it (`mgdump` as 1.6.19's).
    pub fn lru_crawler(&self, cmd: Cmd, session: &mut Session, out: &mut Vec<u8>) -> Flow {
        let crawler = &self.shared.crawler;
        let enabled = crawler.enabled.load(Ordering::Relaxed);
        let line: &[u8] = match cmd {
            Cmd::Crawl(_) | Cmd::Dump(..) if !enabled => b"CLIENT_ERROR lru crawler disabled\r\n",
            Cmd::Crawl(arg) => match admin::classes(arg) {
                Err(_) => b"BADCLASS invalid class id\r\n",
                // memcached starts a crawl of an empty class too.
                Ok(_) if crawler.running.load(Ordering::Acquire) => {
                    b"BUSY currently processing crawler request\r\n"
                }
                Ok(classes) => {
                    crawler.starts.fetch_add(1, Ordering::Relaxed);
                    if classes.includes(ITEM_CLASS) {
                        crawler.running.store(true, Ordering::Release);
                    }
                    b"OK\r\n"
                }
            },
            Cmd::Dump(format, arg) => return self.dump(format, arg, session, out),
            Cmd::ToCrawl(Some(n)) => {
                crawler.tocrawl.store(n, Ordering::Relaxed);
                b"OK\r\n"
            }
            Cmd::Sleep(Some(n)) if n > 1_000_000 => {
                b"CLIENT_ERROR sleep must be one second or less\r\n"
            }
            Cmd::Sleep(Some(n)) => {
                crawler.sleep.store(n, Ordering::Relaxed);
                b"OK\r\n"
            }
            Cmd::ToCrawl(None) | Cmd::Sleep(None) => b"CLIENT_ERROR bad command line format\r\n",
            Cmd::Enable => {
                crawler.enabled.store(true, Ordering::Relaxed);
                b"OK\r\n"
            }
            Cmd::Disable => {
                crawler.enabled.store(false, Ordering::Relaxed);
                b"OK\r\n"
            }
            Cmd::Unknown => b"ERROR\r\n",
        };
        out.extend_from_slice(line);
        Flow::Continue
    }

    /// `lru_crawler metadump|mgdump`: start a dump, or resume a paused one.
    fn dump(
        &self,
        format: DumpFormat,
        arg: &[u8],
        session: &mut Session,
        out: &mut Vec<u8>,
    ) -> Flow {
        if session.dump.is_none() {
            let refusal: Option<&[u8]> = match format {
                _ if self.shared.config.disable_dumping => Some(match format {
                    DumpFormat::Meta => b"ERROR metadump not allowed\r\n",
                    DumpFormat::Mg => b"ERROR key dump not allowed\r\n",
                }),
                // memcached serves a dump from another thread and cannot
                // order it after replies still queued.
                _ if !out.is_empty() => Some(match format {
                    DumpFormat::Meta => b"ERROR cannot pipeline other commands before metadump\r\n",
                    DumpFormat::Mg => b"ERROR cannot pipeline other commands before mgdump\r\n",
                }),
                _ => match admin::classes(arg) {
                    Err(_) => Some(b"BADCLASS invalid class id\r\n"),
                    // No item is in another class: an empty dump.
                    Ok(c) if !c.includes(ITEM_CLASS) => Some(end_line(format)),
                    Ok(_) => None,
                },
            };
            if let Some(line) = refusal {
                out.extend_from_slice(line);
                return Flow::Continue;
            }
            self.shared.crawler.starts.fetch_add(1, Ordering::Relaxed);
            session.dump = Some(Box::new(DumpCursor {
                format,
                stripe: 0,
                snap: Vec::new(),
                pos: 0,
                not_before: None,
            }));
        }
        let Some(cursor) = session.dump.as_deref_mut() else {
            return Flow::Continue;
        };
        let cache = &self.shared.cache;
        let epoch = cache.clock().epoch_unix();
        let high = session.pause_above.map(|h| h.min(DUMP_CHUNK));
        if let Some(t) = cursor.not_before {
            if Instant::now() < t && !worker_quiet() {
                return Flow::Pause; // the worker's other connections first
            }
        }
        let started = Instant::now();
        while cursor.stripe < cache.stripe_count() {
            if cursor.pos == 0 && cursor.snap.is_empty() {
                cache.snapshot_stripe(cursor.stripe, &mut cursor.snap);
            }
            while cursor.pos < cursor.snap.len() {
                let end = (cursor.pos + DUMP_BATCH).min(cursor.snap.len());
                let batch = &cursor.snap[cursor.pos..end];
                cache.visit(cursor.stripe, batch, |item| {
                    write_item(cursor.format, item, epoch, out)
                });
                cursor.pos = end;
                if high.is_some_and(|h| out.len() > h) {
                    let now = Instant::now();
                    cursor.not_before = Some(now + (now - started) * (DUMP_SHARE - 1));
                    return Flow::Pause;
                }
            }
            cursor.stripe += 1;
            cursor.pos = 0;
            cursor.snap.clear();
        }
        out.extend_from_slice(end_line(cursor.format));
        session.dump = None;
        Flow::Continue
    }

    /// `stats cachedump <class> <limit>`: up to `limit` items (0: all) of
    /// the class, within memcached's 2 MB, as `ITEM <key> [<n> b; <t> s]`.
    pub fn cachedump(&self, args: &[u8], out: &mut Vec<u8>) {
        if self.shared.config.disable_dumping {
            out.extend_from_slice(b"CLIENT_ERROR stats cachedump not allowed\r\n");
            return;
        }
        let (class, limit) = match admin::cachedump(args) {
            Ok(v) => v,
            Err(e) => {
                out.extend_from_slice(match e {
                    CachedumpError::Missing => b"CLIENT_ERROR bad command line\r\n",
                    CachedumpError::Format => b"CLIENT_ERROR bad command line format\r\n",
                    CachedumpError::Class => b"CLIENT_ERROR Illegal slab id\r\n",
                });
                return;
            }
        };
        if class == ITEM_CLASS {
            let cache = &self.shared.cache;
            let epoch = cache.clock().epoch_unix();
            let start = out.len();
            let mut shown = 0u32;
            let mut snap = Vec::new();
            'walk: for i in 0..cache.stripe_count() {
                cache.snapshot_stripe(i, &mut snap);
                for batch in snap.chunks(DUMP_BATCH) {
                    cache.visit(i, batch, |item| {
                        if (limit != 0 && shown >= limit) || out.len() - start > CACHEDUMP_MAX {
                            return;
                        }
                        shown += 1;
                        let mut n = itoa::Buffer::new();
                        out.extend_from_slice(b"ITEM ");
                        item.key.extend_into(out);
                        out.extend_from_slice(b" [");
                        out.extend_from_slice(n.format(item.nbytes).as_bytes());
                        out.extend_from_slice(b" b; ");
                        // memcached shows 0 for an item that never expires,
                        // else the expiry as a unix time.
                        let exp = if item.exp == 0 {
                            0
                        } else {
                            epoch + i64::from(item.exp)
                        };
                        out.extend_from_slice(n.format(exp).as_bytes());
                        out.extend_from_slice(b" s]\r\n");
                    });
                    if (limit != 0 && shown >= limit) || out.len() - start > CACHEDUMP_MAX {
                        break 'walk;
                    }
                }
            }
        }
        out.extend_from_slice(b"END\r\n");
    }
}

/// What follows `word` when it is the first word of `args`.
pub fn after_word<'a>(args: &'a [u8], word: &[u8]) -> Option<&'a [u8]> {
    let start = args.iter().position(|&b| b != b' ').unwrap_or(args.len());
    let rest = args[start..].strip_prefix(word)?;
    (rest.is_empty() || rest[0] == b' ').then_some(rest)
}

fn end_line(format: DumpFormat) -> &'static [u8] {
    match format {
        DumpFormat::Meta => b"END\r\n",
        DumpFormat::Mg => b"EN\r\n",
    }
}

/// One dump line for `item` (times made absolute with `epoch`, memcached's
/// `process_started`).
fn write_item(format: DumpFormat, item: &DumpItem, epoch: i64, out: &mut Vec<u8>) {
    let mut key = [0u8; 256];
    let key = &mut key[..item.key.len()];
    item.key.copy_to(key);
    let mut n = itoa::Buffer::new();
    match format {
        // memcached's current line (1.6.18's, plus `flags=`, 1.6.24), its
        // trailing space included.
        DumpFormat::Meta => {
            out.extend_from_slice(b"key=");
            uri_encode(key, out);
            out.extend_from_slice(b" exp=");
            if item.exp == 0 {
                out.extend_from_slice(b"-1");
            } else {
                out.extend_from_slice(n.format(epoch + i64::from(item.exp)).as_bytes());
            }
            out.extend_from_slice(b" la=");
            out.extend_from_slice(n.format(epoch + i64::from(item.time)).as_bytes());
            out.extend_from_slice(b" cas=");
            out.extend_from_slice(n.format(item.cas).as_bytes());
            out.extend_from_slice(if item.fetched {
                b" fetch=yes cls="
            } else {
                b" fetch=no cls="
            });
            out.extend_from_slice(n.format(ITEM_CLASS).as_bytes());
            out.extend_from_slice(b" size=");
            out.extend_from_slice(n.format(item.size).as_bytes());
            out.extend_from_slice(b" flags=");
            out.extend_from_slice(n.format(item.flags).as_bytes());
            out.extend_from_slice(b" \n");
        }
        DumpFormat::Mg => {
            out.extend_from_slice(b"mg ");
            if item.binary_key {
                base64_encode(key, out);
                out.extend_from_slice(b" b\r\n");
            } else {
                out.extend_from_slice(key);
                out.extend_from_slice(b"\r\n");
            }
        }
    }
}

/// memcached's `uriencode`: alphanumerics and `-._~` as they are, every
/// other byte as `%XX`.
pub fn uri_encode(key: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// Standard base64 with padding.
fn base64_encode(data: &[u8], out: &mut Vec<u8>) {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        out.push(T[(v >> 18) as usize & 63]);
        out.push(T[(v >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            T[(v >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            T[v as usize & 63]
        } else {
            b'='
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_and_base64() {
        let mut out = Vec::new();
        uri_encode(b"a b/c~d.e-f_g%", &mut out);
        assert_eq!(out, b"a%20b%2Fc~d.e-f_g%25");
        for (raw, want) in [
            (&b""[..], &b""[..]),
            (b"f", b"Zg=="),
            (b"fo", b"Zm8="),
            (b"foo", b"Zm9v"),
            (b"\x00\xff\x10\x20", b"AP8QIA=="),
        ] {
            let mut out = Vec::new();
            base64_encode(raw, &mut out);
            assert_eq!(out, want);
        }
    }
}
