//! `stats` and its groups, with memcached 1.6's field names and order, so
//! exporters that parse them strictly keep working.
//!
//! The figures are data first: [`snapshot`] takes one typed [`Snapshot`] of
//! a group, which `stats` renders as `STAT` lines and `/metrics`
//! (`super::metrics`) as Prometheus text, from the same values.

use std::fmt;
use std::sync::atomic::Ordering;

use super::conn_table::ConnState;
use super::shared::{Shared, VERSION};
use crate::config::ProtocolMode;
use crate::stats::StatWriter;

/// A `stats` group that is a snapshot of figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    General,
    Settings,
    Items,
    Slabs,
}

/// One figure's value, as `stats` prints it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Count(u64),
    Signed(i64),
    /// CPU time: seconds and microseconds (`1.000500`).
    CpuTime(u64, u64),
    Text(String),
}

impl Value {
    /// The value as a number, for Prometheus: `yes`/`no` are 1 and 0, text
    /// that is not a number has none.
    pub fn number(&self) -> Option<f64> {
        match self {
            Value::Count(n) => Some(*n as f64),
            Value::Signed(n) => Some(*n as f64),
            Value::CpuTime(..) => self.to_string().parse().ok(),
            Value::Text(t) => match t.as_str() {
                "yes" => Some(1.0),
                "no" => Some(0.0),
                t => t.parse().ok(),
            },
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Count(n) => write!(f, "{n}"),
            Value::Signed(n) => write!(f, "{n}"),
            Value::CpuTime(s, us) => write!(f, "{s}.{us:06}"),
            Value::Text(t) => f.write_str(t),
        }
    }
}

macro_rules! count_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Count(n as u64)
            }
        }
    )*};
}
count_from!(u8, u16, u32, u64, usize);

impl From<i32> for Value {
    fn from(n: i32) -> Value {
        Value::Signed(n.into())
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Signed(n)
    }
}

impl From<&str> for Value {
    fn from(t: &str) -> Value {
        Value::Text(t.to_string())
    }
}

impl From<String> for Value {
    fn from(t: String) -> Value {
        Value::Text(t)
    }
}

impl From<char> for Value {
    fn from(c: char) -> Value {
        Value::Text(c.to_string())
    }
}

/// One figure: its memcached name, the size class it belongs to (`stats
/// items` and `stats slabs`, numbered from 1) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    pub class: Option<usize>,
    pub name: &'static str,
    pub value: Value,
}

/// A group's figures in memcached's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// What precedes a class number in a per-class name (`items:`).
    class_prefix: &'static str,
    pub stats: Vec<Stat>,
}

impl Snapshot {
    fn new(class_prefix: &'static str) -> Snapshot {
        Snapshot {
            class_prefix,
            stats: Vec::with_capacity(128),
        }
    }

    fn stat(&mut self, name: &'static str, value: impl Into<Value>) {
        self.stats.push(Stat {
            class: None,
            name,
            value: value.into(),
        });
    }

    fn class_stat(&mut self, class: usize, name: &'static str, value: impl Into<Value>) {
        self.stats.push(Stat {
            class: Some(class),
            name,
            value: value.into(),
        });
    }

    /// memcached's `STAT <name> <value>` lines and `END`.
    pub fn write_lines(&self, out: &mut Vec<u8>) {
        let mut w = StatWriter::new(out);
        for s in &self.stats {
            match s.class {
                None => w.stat(s.name, &s.value),
                Some(id) => w.stat(
                    format_args!("{}{id}:{}", self.class_prefix, s.name),
                    &s.value,
                ),
            }
        }
        w.end();
    }
}

/// One typed snapshot of a group's figures.
pub fn snapshot(shared: &Shared, group: Group) -> Snapshot {
    match group {
        Group::General => general(shared),
        Group::Settings => settings(shared),
        Group::Items => items(shared),
        Group::Slabs => slabs(shared),
    }
}

/// Answer `stats [group]`.
pub fn stats(shared: &Shared, args: &[u8], out: &mut Vec<u8>) {
    let mut words = args.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let group = match words.next() {
        None => Group::General,
        Some(b"settings") => Group::Settings,
        Some(b"items") => Group::Items,
        Some(b"slabs") => Group::Slabs,
        Some(b"sizes") => {
            let mut w = StatWriter::new(out);
            w.stat("sizes_status", "disabled");
            return w.end();
        }
        Some(b"conns") => return conns(shared, out),
        Some(b"hotkeys") => return hotkeys(shared, out),
        Some(b"reset") => {
            shared.stats.reset();
            shared.cache.reset_stats();
            return out.extend_from_slice(b"RESET\r\n");
        }
        Some(_) => return out.extend_from_slice(b"ERROR\r\n"),
    };
    snapshot(shared, group).write_lines(out);
}

fn general(shared: &Shared) -> Snapshot {
    let t = shared.stats.totals();
    let store = shared.cache.stats();
    let clock = shared.cache.clock();
    let (user, system) = rusage();
    let c = &shared.config;
    let mut w = Snapshot::new("");
    w.stat("pid", std::process::id());
    w.stat("uptime", clock.now().saturating_sub(2));
    w.stat("time", clock.unix_now());
    w.stat("version", VERSION);
    w.stat("libevent", "mio");
    w.stat("pointer_size", usize::BITS);
    w.stat("rusage_user", Value::CpuTime(user.0, user.1));
    w.stat("rusage_system", Value::CpuTime(system.0, system.1));
    w.stat("max_connections", c.conn_limit);
    w.stat(
        "curr_connections",
        shared.stats.curr_connections.load(Ordering::Relaxed),
    );
    w.stat(
        "total_connections",
        shared.stats.total_connections.load(Ordering::Relaxed),
    );
    w.stat(
        "rejected_connections",
        shared.stats.rejected_connections.load(Ordering::Relaxed),
    );
    w.stat(
        "connection_structures",
        shared.stats.curr_connections.load(Ordering::Relaxed),
    );
    for name in [
        "response_obj_oom",
        "response_obj_count",
        "response_obj_bytes",
    ] {
        w.stat(name, 0);
    }
    let (bufs, buf_bytes, buf_oom) = shared.read_bufs.figures();
    w.stat("read_buf_count", bufs);
    w.stat("read_buf_bytes", buf_bytes);
    // Buffers go back to the allocator, not to a free list.
    w.stat("read_buf_bytes_free", 0);
    w.stat("read_buf_oom", buf_oom);
    w.stat("reserved_fds", 0);
    w.stat("cmd_get", t.cmd_get);
    w.stat("cmd_set", t.cmd_set);
    w.stat("cmd_flush", t.cmd_flush);
    w.stat("cmd_touch", t.cmd_touch);
    w.stat("cmd_meta", t.cmd_meta);
    w.stat("get_hits", t.get_hits);
    w.stat("get_misses", t.get_misses);
    w.stat("get_expired", store.items.get_expired);
    w.stat("get_flushed", store.items.get_flushed);
    w.stat("delete_misses", t.delete_misses);
    w.stat("delete_hits", t.delete_hits);
    w.stat("incr_misses", t.incr_misses);
    w.stat("incr_hits", t.incr_hits);
    w.stat("decr_misses", t.decr_misses);
    w.stat("decr_hits", t.decr_hits);
    w.stat("cas_misses", t.cas_misses);
    w.stat("cas_hits", t.cas_hits);
    w.stat("cas_badval", t.cas_badval);
    w.stat("touch_hits", t.touch_hits);
    w.stat("touch_misses", t.touch_misses);
    w.stat("store_too_large", t.store_too_large);
    w.stat("store_no_memory", t.store_no_memory);
    w.stat("auth_cmds", t.auth_cmds);
    w.stat("auth_errors", t.auth_errors);
    // As memcached: listed only when `-o idle_timeout` is on.
    if c.extended.idle_timeout > 0 {
        w.stat("idle_kicks", t.idle_kicks);
    }
    w.stat("bytes_read", t.bytes_read);
    w.stat("bytes_written", t.bytes_written);
    w.stat("limit_maxbytes", store.limit_maxbytes);
    w.stat("accepting_conns", 1);
    w.stat("listen_disabled_num", 0);
    w.stat("time_in_listen_disabled_us", 0);
    w.stat("threads", c.threads);
    w.stat("conn_yields", t.conn_yields);
    let hash_power = shared.cache.hash_power();
    w.stat("hash_power_level", hash_power);
    w.stat("hash_bytes", 8u64 << hash_power);
    w.stat("hash_is_expanding", 0);
    for name in [
        "slab_reassign_rescues",
        "slab_reassign_chunk_rescues",
        "slab_reassign_evictions_nomem",
        "slab_reassign_inline_reclaim",
        "slab_reassign_busy_items",
        "slab_reassign_busy_deletes",
        "slab_reassign_running",
    ] {
        w.stat(name, 0);
    }
    w.stat(
        "slabs_moved",
        store.segments_compacted + store.segments_evicted,
    );
    // memcached prints these only with the crawler, and the maintainer, on.
    let crawler = &shared.crawler;
    if crawler.enabled.load(Ordering::Relaxed) {
        w.stat(
            "lru_crawler_running",
            u8::from(crawler.running.load(Ordering::Relaxed)),
        );
        w.stat("lru_crawler_starts", crawler.starts.load(Ordering::Relaxed));
    }
    let maintainer = shared.config.extended.lru_maintainer();
    if maintainer {
        w.stat("lru_maintainer_juggles", 0);
    }
    for name in ["malloc_fails", "log_worker_dropped", "log_worker_written"] {
        w.stat(name, 0);
    }
    let watchers = &shared.watchers;
    w.stat(
        "log_watcher_skipped",
        watchers.skipped.load(Ordering::Relaxed),
    );
    w.stat("log_watcher_sent", watchers.sent.load(Ordering::Relaxed));
    w.stat("log_watchers", watchers.count());
    // Where memcached puts them, only with -Z.
    if let Some(tls) = &shared.tls {
        w.stat("ssl_new_sessions", tls.new_sessions.load(Ordering::Relaxed));
        w.stat(
            "ssl_handshake_errors",
            tls.handshake_errors.load(Ordering::Relaxed),
        );
        // memcached 1.6.30.
        w.stat("ssl_proto_errors", tls.proto_errors.load(Ordering::Relaxed));
        w.stat(
            "time_since_server_cert_refresh",
            clock
                .now()
                .saturating_sub(tls.refreshed_at.load(Ordering::Relaxed)),
        );
    }
    // ferrocache: the last load and save (`-e`, `-o snapshot_path` only).
    if c.memory_file.is_some() || c.extended.snapshot_path.is_some() {
        persist_stats(&mut w, &shared.persist);
    }
    w.stat("unexpected_napi_ids", 0);
    w.stat("round_robin_fallback", 0);
    let i = &store.items;
    w.stat("bytes", i.bytes);
    w.stat("curr_items", i.curr_items);
    w.stat("total_items", i.total_items);
    // Segments allocated and holding nothing, free for items of any size,
    // less the cleaner's reserve.
    w.stat("slab_global_page_pool", store.segments_spare);
    w.stat("expired_unfetched", i.expired_unfetched);
    w.stat("evicted_unfetched", i.evicted_unfetched);
    if maintainer {
        w.stat("evicted_active", i.evicted_active);
    }
    w.stat("evictions", i.evictions);
    w.stat("reclaimed", i.reclaimed);
    w.stat("crawler_reclaimed", i.crawler_reclaimed);
    w.stat(
        "crawler_items_checked",
        shared.crawler.items_checked.load(Ordering::Relaxed),
    );
    w.stat("lrutail_reflocked", 0);
    if maintainer {
        w.stat("moves_to_cold", 0);
        w.stat("moves_to_warm", 0);
        w.stat("moves_within_lru", i.moved);
        w.stat("direct_reclaims", 0);
        w.stat("lru_bumps_dropped", 0);
    }
    w
}

/// Bytes the hot-key tracker holds (every thread's sample buffer, the
/// sketch and the window);
/// `None` when `-o hot_keys=off`.
pub fn hot_keys_memory(shared: &Shared) -> Option<usize> {
    let tracker = shared.hot.as_ref()?.lock().memory();
    let samplers: usize = (shared.stats.latencies().iter())
        .filter_map(|t| t.hot.as_ref().map(|s| s.memory()))
        .sum();
    Some(tracker + samplers)
}

/// The hottest keys and the seconds their rates cover (`None`: tracking
/// is off).
pub fn hottest(shared: &Shared) -> Option<(Vec<crate::hotkeys::HotKey>, f64)> {
    let tracker = shared.hot.as_ref()?.lock();
    Some((tracker.hottest(), tracker.window_secs()))
}

/// `stats hotkeys` (ferrocache): rank, URI-encoded key, estimated ops/s,
/// its read/write split and the share of reads that missed, in
/// `STAT hotkey:<rank>:<field> <value>` lines (the shape of `stats items`).
fn hotkeys(shared: &Shared, out: &mut Vec<u8>) {
    let mut w = StatWriter::new(out);
    let Some((list, window)) = hottest(shared) else {
        w.stat("hot_keys", "off");
        return w.end();
    };
    w.stat("hot_keys", list.len());
    w.stat("hot_keys_window_secs", format_args!("{window:.1}"));
    w.stat("hot_keys_sample", shared.config.extended.hot_keys_sample);
    // The busiest worker's gap now (with `auto`, the others' are smaller).
    let every = (shared.stats.latencies().iter())
        .filter_map(|t| t.hot.as_ref().map(|s| s.every()))
        .max();
    w.stat("hot_keys_sample_every", every.unwrap_or(1));
    // Kept here, not in `stats`: that group has exactly memcached's fields.
    w.stat("hot_keys_bytes", hot_keys_memory(shared).unwrap_or(0));
    for (i, k) in list.iter().enumerate() {
        let rank = i + 1;
        w.stat(
            format_args!("hotkey:{rank}:key"),
            crate::hotkeys::uri_encode(&k.key),
        );
        w.stat(
            format_args!("hotkey:{rank}:ops"),
            format_args!("{:.1}", k.ops),
        );
        w.stat(
            format_args!("hotkey:{rank}:reads"),
            format_args!("{:.1}", k.reads),
        );
        w.stat(
            format_args!("hotkey:{rank}:writes"),
            format_args!("{:.1}", k.writes),
        );
        w.stat(
            format_args!("hotkey:{rank}:miss_share"),
            format_args!("{:.3}", k.miss_share),
        );
        w.stat(format_args!("hotkey:{rank}:samples"), k.samples);
    }
    w.end();
}

fn settings(shared: &Shared) -> Snapshot {
    let c = &shared.config;
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let mut w = Snapshot::new("");
    w.stat("maxbytes", shared.cache.stats().limit_maxbytes);
    w.stat("maxconns", c.conn_limit);
    w.stat("tcpport", shared.tcp_port);
    w.stat("udpport", c.udp_port);
    w.stat("inter", c.listen.join(","));
    w.stat("verbosity", c.verbosity);
    w.stat("oldest", 0);
    w.stat("evictions", if c.disable_evictions { "off" } else { "on" });
    match &c.unix_socket {
        Some(p) => w.stat("domain_socket", p.display().to_string()),
        None => w.stat("domain_socket", "NULL"),
    }
    w.stat("umask", format!("{:o}", c.unix_mask));
    w.stat("shutdown_command", yes_no(c.enable_shutdown));
    w.stat("growth_factor", format!("{:.2}", c.slab_growth_factor));
    w.stat("chunk_size", c.slab_min_size);
    w.stat("num_threads", c.threads);
    w.stat("num_threads_per_udp", c.threads);
    w.stat("stat_key_prefix", c.prefix_delimiter.unwrap_or(':'));
    w.stat("detail_enabled", yes_no(shared.prefixes.enabled()));
    w.stat("reqs_per_event", c.max_reqs_per_event);
    w.stat("cas_enabled", yes_no(!c.disable_cas));
    w.stat("tcp_backlog", c.listen_backlog);
    w.stat(
        "binding_protocol",
        match c.protocol {
            ProtocolMode::Auto => "auto-negotiate",
            ProtocolMode::Ascii => "ascii",
            ProtocolMode::Binary => "binary",
        },
    );
    w.stat("auth_enabled_sasl", yes_no(c.sasl));
    w.stat("auth_enabled_ascii", yes_no(c.auth_file.is_some()));
    w.stat("item_size_max", c.max_item_size);
    w.stat("maxconns_fast", yes_no(c.extended.maxconns_fast));
    w.stat("hashpower_init", c.extended.hashpower.unwrap_or(0));
    w.stat("slab_reassign", "yes");
    w.stat("slab_automove", 1);
    w.stat("slab_automove_ratio", "0.80");
    w.stat("slab_automove_window", 30);
    // The setting, as memcached reports it (and --help documents its
    // default); the store may carve smaller chunks internally.
    w.stat("slab_chunk_max", c.slab_chunk_max());
    let crawler = &shared.crawler;
    w.stat(
        "lru_crawler",
        yes_no(crawler.enabled.load(Ordering::Relaxed)),
    );
    w.stat("lru_crawler_sleep", crawler.sleep.load(Ordering::Relaxed));
    w.stat(
        "lru_crawler_tocrawl",
        crawler.tocrawl.load(Ordering::Relaxed),
    );
    w.stat("tail_repair_time", 0);
    w.stat("flush_enabled", yes_no(!c.disable_flush_all));
    w.stat("dump_enabled", yes_no(!c.disable_dumping));
    w.stat("hash_algorithm", "ahash");
    w.stat("lru_maintainer_thread", yes_no(c.extended.lru_maintainer()));
    w.stat("lru_segmented", "no");
    w.stat("hot_lru_pct", 20);
    w.stat("warm_lru_pct", 40);
    w.stat("hot_max_factor", "0.20");
    w.stat("warm_max_factor", "2.00");
    w.stat("temp_lru", yes_no(c.extended.temporary_ttl.is_some()));
    w.stat("temporary_ttl", c.extended.temporary_ttl.unwrap_or(61));
    w.stat("idle_timeout", c.extended.idle_timeout);
    w.stat("watcher_logbuf_size", shared.watchers.buffer_bytes());
    w.stat("worker_logbuf_size", 65536);
    // In bytes, as memcached prints it (it is given in megabytes).
    w.stat(
        "read_buf_mem_limit",
        c.extended.read_buf_mem_limit.unwrap_or(0),
    );
    w.stat("track_sizes", yes_no(c.extended.track_sizes));
    w.stat("inline_ascii_response", "no");
    // Debian builds memcached with extstore, which adds these; ferrocache
    // has no extstore and prints memcached's defaults, so field sets match.
    for (name, value) in [
        ("ext_item_size", "512"),
        ("ext_item_age", "4294967295"),
        ("ext_low_ttl", "0"),
        ("ext_recache_rate", "2000"),
        ("ext_wbuf_size", "4194304"),
        ("ext_compact_under", "0"),
        ("ext_drop_under", "0"),
        ("ext_max_sleep", "1000000"),
        ("ext_max_frag", "0.80"),
        ("slab_automove_freeratio", "0.010"),
        ("ext_drop_unread", "no"),
    ] {
        w.stat(name, value);
    }
    w.stat("ssl_enabled", yes_no(c.tls));
    let e = &c.extended;
    let null = |v: &Option<String>, none: &'static str| v.clone().unwrap_or(none.into());
    w.stat("ssl_chain_cert", null(&e.ssl_chain_cert, "(null)"));
    w.stat("ssl_key", null(&e.ssl_key, "(null)"));
    w.stat("ssl_verify_mode", null(&e.ssl_verify_mode, "0"));
    w.stat("ssl_keyformat", null(&e.ssl_keyformat, "1"));
    w.stat("ssl_ciphers", null(&e.ssl_ciphers, "NULL"));
    w.stat("ssl_ca_cert", null(&e.ssl_ca_cert, "NULL"));
    w.stat("ssl_wbuf_size", null(&e.ssl_wbuf_size, "16384"));
    w.stat("ssl_session_cache", yes_no(e.ssl_session_cache));
    w.stat("ssl_kernel_tls", yes_no(e.ssl_kernel_tls));
    let min_version = match e.ssl_min_version.as_deref() {
        Some("3" | "tlsv1.3") => "tlsv1.3",
        _ => "tlsv1.2",
    };
    w.stat("ssl_min_version", min_version);
    w.stat("num_napi_ids", "(null)");
    match &c.memory_file {
        Some(p) => w.stat("memory_file", p.display().to_string()),
        None => w.stat("memory_file", "(null)"),
    }
    // memcached 1.6.22: bytes of client flags (32-bit, as memcached's
    // default build).
    w.stat("client_flags_size", 4);
    w
}

/// `snapshot_load_*` and `snapshot_save_*`: what the last load and save
/// of the `-e` file did (`none` before there is one).
fn persist_stats(w: &mut Snapshot, status: &crate::persist::Status) {
    let figures = |last: Option<crate::persist::Outcome>| {
        let last = last.unwrap_or_default();
        let result = if last.result.is_empty() {
            "none"
        } else {
            last.result
        };
        (result, last.at, last.report)
    };
    let (result, at, r) = figures(status.last_load.lock().clone());
    w.stat("snapshot_load_result", result);
    w.stat("snapshot_load_time", at);
    w.stat("snapshot_load_items", r.items);
    w.stat("snapshot_load_bytes", r.bytes);
    w.stat("snapshot_load_expired", r.expired);
    w.stat("snapshot_load_skipped", r.skipped);
    w.stat("snapshot_load_us", r.micros);
    let (result, at, r) = figures(status.last_save.lock().clone());
    w.stat("snapshot_save_result", result);
    w.stat("snapshot_save_time", at);
    w.stat("snapshot_save_items", r.items);
    w.stat("snapshot_save_bytes", r.bytes);
    w.stat("snapshot_save_us", r.micros);
}

/// `stats items`: per memcached size class, the class memcached would
/// store each item in (the log itself has no classes; see
/// docs/architecture.md). The segmented-LRU figures are 0: the log has one
/// CLOCK-ordered queue, reported as COLD.
fn items(shared: &Shared) -> Snapshot {
    let now = shared.cache.clock().now();
    let mut w = Snapshot::new("items:");
    for (i, c) in shared.cache.class_stats().iter().enumerate() {
        if c.items == 0 {
            continue;
        }
        let id = i + 1;
        let evicted_time = if c.evicted > 0 {
            now.saturating_sub(c.evicted_time)
        } else {
            0
        };
        for (name, value) in [
            ("number", c.items),
            ("number_hot", 0),
            ("number_warm", 0),
            ("number_cold", c.items),
            ("age_hot", 0),
            ("age_warm", 0),
            ("age", 0),
            ("mem_requested", c.bytes),
            ("evicted", c.evicted),
            ("evicted_nonzero", c.evicted_nonzero),
            ("evicted_time", evicted_time as u64),
            ("outofmemory", 0),
            ("tailrepairs", 0),
            ("reclaimed", c.reclaimed),
            ("expired_unfetched", c.expired_unfetched),
            ("evicted_unfetched", c.evicted_unfetched),
            ("evicted_active", c.evicted_active),
            ("crawler_reclaimed", c.crawler_reclaimed),
            ("crawler_items_checked", 0),
            ("lrutail_reflocked", 0),
            ("moves_to_cold", 0),
            ("moves_to_warm", 0),
            // The cleaner's moves are counted for the whole cache only
            // (`stats`' moves_within_lru), not per class.
            ("moves_within_lru", 0),
            ("direct_reclaims", 0),
            ("hits_to_hot", 0),
            ("hits_to_warm", 0),
            ("hits_to_cold", 0),
            ("hits_to_temp", 0),
        ] {
            w.class_stat(id, name, value);
        }
    }
    w
}

/// `stats slabs`: memcached's classes that have held an item, with the
/// pages memcached would need for each class's items (at least one, as
/// memcached keeps a page once allocated). The log's memory is
/// `total_malloced`, in segments shared by every class.
fn slabs(shared: &Shared) -> Snapshot {
    let mut w = Snapshot::new("");
    let mut active = 0;
    for (i, c) in shared.cache.class_stats().iter().enumerate() {
        // memcached keeps a class's pages once it has had an item.
        if !c.seen {
            continue;
        }
        active += 1;
        let id = i + 1;
        let per_page = c.chunks_per_page;
        let pages = c.items.div_ceil(per_page).max(1);
        w.class_stat(id, "chunk_size", c.chunk_size);
        w.class_stat(id, "chunks_per_page", per_page);
        w.class_stat(id, "total_pages", pages);
        w.class_stat(id, "total_chunks", pages * per_page);
        w.class_stat(id, "used_chunks", c.items);
        w.class_stat(id, "free_chunks", pages * per_page - c.items);
        w.class_stat(id, "free_chunks_end", 0u64);
        for name in [
            "get_hits",
            "cmd_set",
            "delete_hits",
            "incr_hits",
            "decr_hits",
            "cas_hits",
            "cas_badval",
            "touch_hits",
        ] {
            w.class_stat(id, name, 0u64);
        }
    }
    w.stat("active_slabs", active as u64);
    w.stat("total_malloced", shared.cache.stats().total_malloced);
    w
}

/// `stats conns`: listeners, UDP sockets and connections in descriptor
/// order, field for field as memcached 1.6.18 prints them.
fn conns(shared: &Shared, out: &mut Vec<u8>) {
    let now = shared.cache.clock().now();
    let mut lines: Vec<(i32, Vec<u8>)> = Vec::new();
    for e in shared.endpoints.lock().iter() {
        let mut buf = Vec::new();
        let mut w = StatWriter::new(&mut buf);
        let fd = e.fd;
        if e.udp {
            w.stat(format_args!("{fd}:UDP"), "UDP");
        }
        w.stat(format_args!("{fd}:addr"), &e.addr);
        let state = if e.udp { "conn_read" } else { "conn_listening" };
        w.stat(format_args!("{fd}:state"), state);
        w.stat(
            format_args!("{fd}:secs_since_last_cmd"),
            now.saturating_sub(e.since),
        );
        lines.push((fd, buf));
    }
    for info in shared.conns.lock().iter().map(|(_, i)| i) {
        let mut buf = Vec::new();
        let mut w = StatWriter::new(&mut buf);
        let fd = info.fd;
        w.stat(format_args!("{fd}:addr"), &info.addr);
        w.stat(format_args!("{fd}:listen_addr"), &info.listen_addr);
        let state = info.state.load(Ordering::Relaxed);
        w.stat(format_args!("{fd}:state"), ConnState::name(state));
        let last = info.last_cmd.load(Ordering::Relaxed);
        w.stat(
            format_args!("{fd}:secs_since_last_cmd"),
            now.saturating_sub(last),
        );
        lines.push((fd, buf));
    }
    lines.sort_by_key(|(fd, _)| *fd);
    for (_, buf) in lines {
        out.extend_from_slice(&buf);
    }
    StatWriter::new(out).end();
}

/// (seconds, microseconds) of user and system CPU time.
fn rusage() -> ((u64, u64), (u64, u64)) {
    // /proc/self/stat fields 14 and 15 are utime and stime in clock ticks.
    let ticks = 100u64;
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let to = |t: u64| (t / ticks, (t % ticks) * (1_000_000 / ticks));
    (to(*f.first().unwrap_or(&0)), to(*f.get(1).unwrap_or(&0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_stats_and_read_as_numbers() {
        let table: &[(Value, &str, Option<f64>)] = &[
            (Value::Count(42), "42", Some(42.0)),
            (Value::Signed(-1), "-1", Some(-1.0)),
            (Value::CpuTime(1, 500), "1.000500", Some(1.0005)),
            (Value::from("yes"), "yes", Some(1.0)),
            (Value::from("no"), "no", Some(0.0)),
            (Value::from("0.80"), "0.80", Some(0.8)),
            (Value::from("(null)"), "(null)", None),
        ];
        for (value, text, number) in table {
            assert_eq!(value.to_string(), *text);
            assert_eq!(value.number(), *number, "{text}");
        }
    }

    #[test]
    fn per_class_names_carry_the_group_prefix() {
        let mut s = Snapshot::new("items:");
        s.class_stat(3, "number", 7u64);
        s.stat("total_malloced", 5u64);
        let mut out = Vec::new();
        s.write_lines(&mut out);
        assert_eq!(
            out,
            b"STAT items:3:number 7\r\nSTAT total_malloced 5\r\nEND\r\n"
        );
    }
}
