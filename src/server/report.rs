//! `stats` and its groups, with memcached 1.6's field names and order, so
//! exporters that parse them strictly keep working.

use std::sync::atomic::Ordering;

use super::conn::ConnState;
use super::Shared;
use crate::config::ProtocolMode;
use crate::stats::StatWriter;

/// Answer `stats [group]`.
pub fn stats(shared: &Shared, args: &[u8], out: &mut Vec<u8>) {
    let mut words = args.split(|&b| b == b' ').filter(|w| !w.is_empty());
    match words.next() {
        None => general(shared, out),
        Some(b"settings") => settings(shared, out),
        Some(b"items") => items(shared, out),
        Some(b"slabs") => slabs(shared, out),
        Some(b"sizes") => {
            let mut w = StatWriter::new(out);
            w.stat("sizes_status", "disabled");
            w.end();
        }
        Some(b"conns") => conns(shared, out),
        Some(b"reset") => {
            shared.stats.reset();
            out.extend_from_slice(b"RESET\r\n");
        }
        Some(b"detail") => match words.next() {
            Some(b"on") | Some(b"off") => out.extend_from_slice(b"OK\r\n"),
            Some(b"dump") => out.extend_from_slice(b"END\r\n"),
            _ => out.extend_from_slice(b"CLIENT_ERROR usage: stats detail on|off|dump\r\n"),
        },
        Some(_) => out.extend_from_slice(b"ERROR\r\n"),
    }
}

fn general(shared: &Shared, out: &mut Vec<u8>) {
    let t = shared.stats.totals();
    let store = shared.cache.stats();
    let clock = shared.cache.clock();
    let (user, system) = rusage();
    let c = &shared.config;
    let mut w = StatWriter::new(out);
    w.stat("pid", std::process::id());
    w.stat("uptime", clock.now().saturating_sub(2));
    w.stat("time", clock.unix_now());
    w.stat("version", super::VERSION);
    w.stat("libevent", "mio");
    w.stat("pointer_size", usize::BITS);
    w.stat("rusage_user", format_args!("{}.{:06}", user.0, user.1));
    w.stat(
        "rusage_system",
        format_args!("{}.{:06}", system.0, system.1),
    );
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
    w.stat("get_expired", t.get_expired);
    w.stat("get_flushed", t.get_flushed);
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
    w.stat("hash_power_level", 16);
    w.stat("hash_bytes", 524288);
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
    w.stat("lru_crawler_running", 0);
    w.stat("lru_crawler_starts", 0);
    w.stat("lru_maintainer_juggles", 0);
    for name in [
        "malloc_fails",
        "log_worker_dropped",
        "log_worker_written",
        "log_watcher_skipped",
        "log_watcher_sent",
        "log_watchers",
    ] {
        w.stat(name, 0);
    }
    // Where memcached puts them, only with -Z.
    if let Some(tls) = &shared.tls {
        w.stat("ssl_new_sessions", tls.new_sessions.load(Ordering::Relaxed));
        w.stat(
            "ssl_handshake_errors",
            tls.handshake_errors.load(Ordering::Relaxed),
        );
        w.stat(
            "time_since_server_cert_refresh",
            clock
                .now()
                .saturating_sub(tls.refreshed_at.load(Ordering::Relaxed)),
        );
    }
    w.stat("unexpected_napi_ids", 0);
    w.stat("round_robin_fallback", 0);
    let i = &store.items;
    w.stat("bytes", i.bytes);
    w.stat("curr_items", i.curr_items);
    w.stat("total_items", i.total_items);
    w.stat("slab_global_page_pool", 0);
    w.stat("expired_unfetched", i.expired_unfetched);
    w.stat("evicted_unfetched", i.evicted_unfetched);
    w.stat("evicted_active", 0);
    w.stat("evictions", i.evictions);
    w.stat("reclaimed", i.reclaimed);
    w.stat("crawler_reclaimed", i.crawler_reclaimed);
    for name in [
        "crawler_items_checked",
        "lrutail_reflocked",
        "moves_to_cold",
        "moves_to_warm",
        "moves_within_lru",
        "direct_reclaims",
        "lru_bumps_dropped",
    ] {
        w.stat(name, 0);
    }
    w.end();
}

fn settings(shared: &Shared, out: &mut Vec<u8>) {
    let c = &shared.config;
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let mut w = StatWriter::new(out);
    w.stat("maxbytes", shared.cache.stats().limit_maxbytes);
    w.stat("maxconns", c.conn_limit);
    w.stat("tcpport", shared.tcp_port);
    w.stat("udpport", c.udp_port);
    w.stat("inter", c.listen.join(","));
    w.stat("verbosity", c.verbosity);
    w.stat("oldest", 0);
    w.stat("evictions", if c.disable_evictions { "off" } else { "on" });
    match &c.unix_socket {
        Some(p) => w.stat("domain_socket", p.display()),
        None => w.stat("domain_socket", "NULL"),
    }
    w.stat("umask", format_args!("{:o}", c.unix_mask));
    w.stat("shutdown_command", yes_no(c.enable_shutdown));
    w.stat("growth_factor", format_args!("{:.2}", c.slab_growth_factor));
    w.stat("chunk_size", c.slab_min_size);
    w.stat("num_threads", c.threads);
    w.stat("num_threads_per_udp", c.threads);
    w.stat("stat_key_prefix", c.prefix_delimiter.unwrap_or(':'));
    w.stat("detail_enabled", "no");
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
    w.stat("lru_crawler", "yes");
    w.stat("lru_crawler_sleep", 100);
    w.stat("lru_crawler_tocrawl", 0);
    w.stat("tail_repair_time", 0);
    w.stat("flush_enabled", yes_no(!c.disable_flush_all));
    w.stat("dump_enabled", yes_no(!c.disable_dumping));
    w.stat("hash_algorithm", "ahash");
    w.stat("lru_maintainer_thread", "no");
    w.stat("lru_segmented", "no");
    w.stat("hot_lru_pct", 20);
    w.stat("warm_lru_pct", 40);
    w.stat("hot_max_factor", "0.20");
    w.stat("warm_max_factor", "2.00");
    w.stat("temp_lru", "no");
    w.stat("temporary_ttl", 61);
    w.stat("idle_timeout", c.extended.idle_timeout);
    w.stat("watcher_logbuf_size", 262144);
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
    w.stat("memory_file", "(null)");
    w.end();
}

/// `stats items`: the log is one class (see docs/architecture.md), so
/// class 1 carries the whole cache's figures.
fn items(shared: &Shared, out: &mut Vec<u8>) {
    let now = shared.cache.clock().now();
    let store = shared.cache.stats();
    let i = &store.items;
    let mut w = StatWriter::new(out);
    if i.curr_items > 0 {
        let id = 1;
        let evicted_time = if i.evictions > 0 {
            now.saturating_sub(i.evicted_time)
        } else {
            0
        };
        for (name, value) in [
            ("number", i.curr_items),
            ("number_hot", 0),
            ("number_warm", 0),
            ("number_cold", i.curr_items),
            ("age_hot", 0),
            ("age_warm", 0),
            ("age", 0),
            ("mem_requested", i.bytes),
            ("evicted", i.evictions),
            ("evicted_nonzero", 0),
            ("evicted_time", evicted_time as u64),
            ("outofmemory", 0),
            ("tailrepairs", 0),
            ("reclaimed", i.reclaimed),
            ("expired_unfetched", i.expired_unfetched),
            ("evicted_unfetched", i.evicted_unfetched),
            ("evicted_active", i.evicted_active),
            ("crawler_reclaimed", i.crawler_reclaimed),
            ("crawler_items_checked", 0),
            ("lrutail_reflocked", 0),
            ("moves_to_cold", 0),
            ("moves_to_warm", 0),
            ("moves_within_lru", i.moved),
            ("direct_reclaims", 0),
            ("hits_to_hot", 0),
            ("hits_to_warm", 0),
            ("hits_to_cold", 0),
            ("hits_to_temp", 0),
        ] {
            w.stat(format_args!("items:{id}:{name}"), value);
        }
    }
    w.end();
}

fn slabs(shared: &Shared, out: &mut Vec<u8>) {
    let mut w = StatWriter::new(out);
    let mut active = 0;
    for (class, size) in shared.cache.classes() {
        let cs = shared.cache.class_stats(class);
        if cs.pages == 0 {
            continue;
        }
        active += 1;
        let id = class as usize + 1;
        let per_page = cs.chunks_per_page;
        w.stat(format_args!("{id}:chunk_size"), size);
        w.stat(format_args!("{id}:chunks_per_page"), per_page);
        w.stat(format_args!("{id}:total_pages"), cs.pages);
        w.stat(
            format_args!("{id}:total_chunks"),
            cs.pages * per_page,
        );
        w.stat(format_args!("{id}:used_chunks"), cs.items);
        w.stat(format_args!("{id}:free_chunks"), cs.free_chunks);
        w.stat(format_args!("{id}:free_chunks_end"), 0);
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
            w.stat(format_args!("{id}:{name}"), 0);
        }
    }
    w.stat("active_slabs", active);
    w.stat("total_malloced", shared.cache.stats().total_malloced);
    w.end();
}

/// A listening socket as `stats conns` shows it.
#[derive(Debug)]
pub struct Endpoint {
    fd: i32,
    addr: String,
    udp: bool,
    /// When it was opened (memcached's `last_cmd_time` for a listener).
    since: u32,
}

impl Endpoint {
    pub fn listening(fd: i32, addr: String, since: u32) -> Endpoint {
        Endpoint {
            fd,
            addr,
            udp: false,
            since,
        }
    }

    pub fn udp(fd: i32, addr: std::net::SocketAddr, since: u32) -> Endpoint {
        Endpoint {
            fd,
            addr: format!("udp:{addr}"),
            udp: true,
            since,
        }
    }
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
