//! `-o metrics_listen=ADDR:PORT`: the `stats` figures in Prometheus' text
//! exposition format, under the metric names memcached_exporter
//! (prometheus/memcached_exporter) gives them, plus per-command latency
//! histograms. A scrape is rare and small, so this is a plain blocking
//! listener on its own thread, off the event loops: one request per
//! connection, `Connection: close`.
//!
//! The figures are the typed snapshots of `super::report` (the `stats`
//! groups), rendered here from the same values `stats` prints, so `stats`
//! and `/metrics` can never disagree.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use super::report::{self, Group, Stat};
use super::shared::Shared;
use crate::protocol::CommandKind;
use crate::stats::{LATENCY_BOUNDS_NS, LATENCY_KINDS};

const _: () = assert!(CommandKind::ALL.len() <= LATENCY_KINDS);

/// Bind `-o metrics_listen` (at start-up, so a bad address is a start-up
/// error).
pub fn bind(addr: &str) -> io::Result<TcpListener> {
    let addrs: Vec<_> = addr
        .to_socket_addrs()
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("metrics_listen={addr}: {e}"),
            )
        })?
        .collect();
    let listener = TcpListener::bind(&addrs[..])?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// The metrics thread: serve scrapes until the server stops.
pub fn serve(shared: Arc<Shared>, listener: TcpListener) {
    while !shared.is_shutting_down() {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = answer(&shared, stream) {
                    log::debug!("metrics request failed: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::warn!("metrics accept failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Read one request head and answer it.
fn answer(shared: &Shared, mut stream: TcpStream) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > 8192 {
            return respond(&mut stream, "431 Request Header Fields Too Large", "");
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (parts.next(), parts.next());
    let path = target.map(|t| t.split(|&b| b == b'?').next().unwrap_or_default());
    match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => respond(&mut stream, "200 OK", &render(shared)),
        (Some(b"GET"), Some(_)) => {
            respond(&mut stream, "404 Not Found", "not found: try /metrics\n")
        }
        _ => respond(&mut stream, "405 Method Not Allowed", "only GET\n"),
    }
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// Per-class figures (`stats items`, `stats slabs`), grouped by class.
fn by_class(stats: &[Stat]) -> Vec<(String, Vec<Stat>)> {
    let mut classes: Vec<(usize, Vec<Stat>)> = Vec::new();
    for stat in stats {
        let Some(id) = stat.class else { continue };
        match classes.iter_mut().find(|(c, _)| *c == id) {
            Some((_, fields)) => fields.push(stat.clone()),
            None => classes.push((id, vec![stat.clone()])),
        }
    }
    classes
        .into_iter()
        .map(|(id, fields)| (id.to_string(), fields))
        .collect()
}

fn num(stats: &[Stat], name: &str) -> Option<f64> {
    stats.iter().find(|s| s.name == name)?.value.number()
}

/// Text exposition output, one metric family at a time.
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.out, "{k}=\"{v}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A family with one unlabelled sample, if the stat exists.
    fn single(&mut self, stats: &[Stat], stat: &str, name: &str, kind: &str, help: &str) {
        if let Some(v) = num(stats, stat) {
            self.family(name, kind, help);
            self.sample(name, &[], v);
        }
    }
}

/// memcached_exporter's unlabelled metrics: (stat, metric, type, help).
/// Counters whose exporter name lacks `_total` are typed gauge, so the
/// output passes `promtool check metrics`.
const GENERAL: &[(&str, &str, &str, &str)] = &[
    (
        "uptime",
        "memcached_uptime_seconds",
        "gauge",
        "Number of seconds since the server started.",
    ),
    (
        "time",
        "memcached_time_seconds",
        "gauge",
        "current UNIX time according to the server.",
    ),
    (
        "bytes_read",
        "memcached_read_bytes_total",
        "counter",
        "Total number of bytes read by this server from network.",
    ),
    (
        "bytes_written",
        "memcached_written_bytes_total",
        "counter",
        "Total number of bytes sent by this server to network.",
    ),
    (
        "curr_connections",
        "memcached_current_connections",
        "gauge",
        "Current number of open connections.",
    ),
    (
        "total_connections",
        "memcached_connections_total",
        "counter",
        "Total number of connections opened since the server started running.",
    ),
    (
        "rejected_connections",
        "memcached_connections_rejected_total",
        "counter",
        "Total number of connections rejected due to hitting the -c limit in maxconns_fast mode.",
    ),
    (
        "conn_yields",
        "memcached_connections_yielded_total",
        "counter",
        "Total number of connections yielded running due to hitting the -R limit.",
    ),
    (
        "listen_disabled_num",
        "memcached_connections_listener_disabled_total",
        "counter",
        "Number of times the server has hit its connections limit and disabled its listener.",
    ),
    (
        "bytes",
        "memcached_current_bytes",
        "gauge",
        "Current number of bytes used to store items.",
    ),
    (
        "limit_maxbytes",
        "memcached_limit_bytes",
        "gauge",
        "Number of bytes this server is allowed to use for storage.",
    ),
    (
        "curr_items",
        "memcached_current_items",
        "gauge",
        "Current number of items stored by this instance.",
    ),
    (
        "total_items",
        "memcached_items_total",
        "counter",
        "Total number of items stored during the life of this instance.",
    ),
    (
        "evictions",
        "memcached_items_evicted_total",
        "counter",
        "Total number of valid items removed from cache to free memory for new items.",
    ),
    (
        "reclaimed",
        "memcached_items_reclaimed_total",
        "counter",
        "Total number of times an entry was stored using memory from an expired entry.",
    ),
    (
        "store_too_large",
        "memcached_item_too_large_total",
        "counter",
        "The number of times an item exceeded the max-item-size when being stored.",
    ),
    (
        "store_no_memory",
        "memcached_item_no_memory_total",
        "counter",
        "The number of times an item could not be stored due to no more memory.",
    ),
    (
        "lru_crawler_starts",
        "memcached_lru_crawler_starts_total",
        "counter",
        "Times an LRU crawler was started.",
    ),
    (
        "direct_reclaims",
        "memcached_direct_reclaims_total",
        "counter",
        "Times worker threads had to directly reclaim or evict items.",
    ),
    (
        "crawler_items_checked",
        "memcached_lru_crawler_items_checked_total",
        "counter",
        "Total items examined by LRU Crawler.",
    ),
    (
        "crawler_reclaimed",
        "memcached_lru_crawler_reclaimed_total",
        "counter",
        "Total items freed by LRU Crawler.",
    ),
    (
        "moves_to_cold",
        "memcached_lru_crawler_moves_to_cold_total",
        "counter",
        "Total number of items moved from HOT/WARM to COLD LRU's.",
    ),
    (
        "moves_to_warm",
        "memcached_lru_crawler_moves_to_warm_total",
        "counter",
        "Total number of items moved from COLD to WARM LRU.",
    ),
    (
        "moves_within_lru",
        "memcached_lru_crawler_moves_within_lru_total",
        "counter",
        "Total number of items reshuffled within HOT or WARM LRU's.",
    ),
    (
        "accepting_conns",
        "memcached_accepting_connections",
        "gauge",
        "The server is currently accepting new connections.",
    ),
    (
        "idle_kicks",
        "ferrocache_idle_kicks_total",
        "counter",
        "Connections closed by -o idle_timeout.",
    ),
];

/// `stats settings` figures the exporter reads (when `lru_crawler` is on).
const SETTINGS: &[(&str, &str, &str)] = &[
    (
        "lru_crawler",
        "memcached_lru_crawler_enabled",
        "Whether the LRU crawler is enabled.",
    ),
    (
        "lru_crawler_sleep",
        "memcached_lru_crawler_sleep",
        "Microseconds to sleep between LRU crawls.",
    ),
    (
        "lru_crawler_tocrawl",
        "memcached_lru_crawler_to_crawl",
        "Max items to crawl per slab per run.",
    ),
    (
        "lru_maintainer_thread",
        "memcached_lru_crawler_maintainer_thread",
        "Split LRU mode and background threads.",
    ),
    (
        "hot_lru_pct",
        "memcached_lru_crawler_hot_percent",
        "Percent of slab memory reserved for HOT LRU.",
    ),
    (
        "warm_lru_pct",
        "memcached_lru_crawler_warm_percent",
        "Percent of slab memory reserved for WARM LRU.",
    ),
    (
        "hot_max_factor",
        "memcached_lru_crawler_hot_max_factor",
        "Set idle age of HOT LRU to COLD age * this",
    ),
    (
        "warm_max_factor",
        "memcached_lru_crawler_warm_max_factor",
        "Set idle age of WARM LRU to COLD age * this",
    ),
];

/// `stats items` per class: (field, metric, type, help).
const ITEMS: &[(&str, &str, &str, &str)] = &[
    ("number", "memcached_slab_current_items", "gauge", "Number of items currently stored in this slab class."),
    ("age", "memcached_slab_items_age_seconds", "gauge", "Number of seconds the oldest item has been in the slab class."),
    ("crawler_reclaimed", "memcached_slab_items_crawler_reclaimed_total", "counter", "Number of items freed by the LRU Crawler."),
    ("evicted", "memcached_slab_items_evicted_total", "counter", "Total number of times an item had to be evicted from the LRU before it expired."),
    ("evicted_nonzero", "memcached_slab_items_evicted_nonzero_total", "counter", "Total number of times an item which had an explicit expire time set had to be evicted from the LRU before it expired."),
    ("evicted_time", "memcached_slab_items_evicted_time_seconds", "gauge", "Seconds since the last access for the most recent item evicted from this class."),
    ("evicted_unfetched", "memcached_slab_items_evicted_unfetched_total", "counter", "Total number of items evicted and never fetched."),
    ("expired_unfetched", "memcached_slab_items_expired_unfetched_total", "counter", "Total number of valid items evicted from the LRU which were never touched after being set."),
    ("outofmemory", "memcached_slab_items_outofmemory_total", "counter", "Total number of items for this slab class that have triggered an out of memory error."),
    ("reclaimed", "memcached_slab_items_reclaimed_total", "counter", "Total number of items reclaimed."),
    ("tailrepairs", "memcached_slab_items_tailrepairs_total", "counter", "Total number of times the entries for a particular ID need repairing."),
    ("mem_requested", "memcached_slab_mem_requested_bytes", "gauge", "Number of bytes of memory actual items take up within a slab."),
    ("moves_to_cold", "memcached_slab_items_moves_to_cold", "gauge", "Number of items moved from HOT or WARM into COLD."),
    ("moves_to_warm", "memcached_slab_items_moves_to_warm", "gauge", "Number of items moves from COLD into WARM."),
    ("moves_within_lru", "memcached_slab_items_moves_within_lru", "gauge", "Number of times active items were bumped within HOT or WARM."),
    ("number_hot", "memcached_slab_hot_items", "gauge", "Number of items presently stored in the HOT LRU."),
    ("number_warm", "memcached_slab_warm_items", "gauge", "Number of items presently stored in the WARM LRU."),
    ("number_cold", "memcached_slab_cold_items", "gauge", "Number of items presently stored in the COLD LRU."),
    ("age_hot", "memcached_slab_hot_age_seconds", "gauge", "Age of the oldest item in HOT LRU."),
    ("age_warm", "memcached_slab_warm_age_seconds", "gauge", "Age of the oldest item in WARM LRU."),
];

/// `stats slabs` per class: (field, metric, help); all gauges.
const SLABS: &[(&str, &str, &str)] = &[
    (
        "chunk_size",
        "memcached_slab_chunk_size_bytes",
        "Number of bytes allocated to each chunk within this slab class.",
    ),
    (
        "chunks_per_page",
        "memcached_slab_chunks_per_page",
        "Number of chunks within a single page for this slab class.",
    ),
    (
        "total_pages",
        "memcached_slab_current_pages",
        "Number of pages allocated to this slab class.",
    ),
    (
        "total_chunks",
        "memcached_slab_current_chunks",
        "Number of chunks allocated to this slab class.",
    ),
    (
        "used_chunks",
        "memcached_slab_chunks_used",
        "Number of chunks allocated to an item.",
    ),
    (
        "free_chunks",
        "memcached_slab_chunks_free",
        "Number of chunks not yet allocated items.",
    ),
    (
        "free_chunks_end",
        "memcached_slab_chunks_free_end",
        "Number of free chunks at the end of the last allocated page.",
    ),
];

const HIT_MISS: [&str; 6] = ["get", "delete", "incr", "decr", "cas", "touch"];

/// The whole scrape.
pub fn render(shared: &Shared) -> String {
    let general = report::snapshot(shared, Group::General).stats;
    let settings = report::snapshot(shared, Group::Settings).stats;
    let items = report::snapshot(shared, Group::Items).stats;
    let slabs = report::snapshot(shared, Group::Slabs).stats;
    let mut e = Exposition {
        out: String::with_capacity(16 * 1024),
    };

    e.family(
        "memcached_up",
        "gauge",
        "Could the memcached server be reached.",
    );
    e.sample("memcached_up", &[], 1.0);
    if let Some(v) = general.iter().find(|s| s.name == "version") {
        let v = v.value.to_string();
        e.family(
            "memcached_version",
            "gauge",
            "The version of this memcached server.",
        );
        e.sample("memcached_version", &[("version", &v)], 1.0);
    }
    for (stat, name, help) in [
        (
            "rusage_user",
            "memcached_process_user_cpu_seconds_total",
            "Accumulated user time for this process.",
        ),
        (
            "rusage_system",
            "memcached_process_system_cpu_seconds_total",
            "Accumulated system time for this process.",
        ),
    ] {
        e.single(&general, stat, name, "counter", help);
    }
    for (stat, name, kind, help) in GENERAL {
        e.single(&general, stat, name, kind, help);
    }
    e.single(
        &settings,
        "maxconns",
        "memcached_max_connections",
        "gauge",
        "Maximum number of clients allowed.",
    );
    e.single(
        &slabs,
        "total_malloced",
        "memcached_malloced_bytes",
        "gauge",
        "Number of bytes of memory allocated to slab pages.",
    );

    // memcached_commands_total, as the exporter derives it.
    e.family(
        "memcached_commands_total",
        "counter",
        "Total number of all requests broken down by command (get, set, etc.) and status.",
    );
    let name = "memcached_commands_total";
    for op in HIT_MISS {
        for (suffix, status) in [("hits", "hit"), ("misses", "miss")] {
            if let Some(v) = num(&general, &format!("{op}_{suffix}")) {
                e.sample(name, &[("command", op), ("status", status)], v);
            }
        }
    }
    let get = |s: &str| num(&general, s).unwrap_or(0.0);
    e.sample(
        name,
        &[("command", "cas"), ("status", "badval")],
        get("cas_badval"),
    );
    e.sample(
        name,
        &[("command", "flush"), ("status", "hit")],
        get("cmd_flush"),
    );
    // cmd_set counts cas commands too.
    let set = get("cmd_set") - get("cas_misses") - get("cas_hits") - get("cas_badval");
    e.sample(name, &[("command", "set"), ("status", "hit")], set.max(0.0));

    if settings
        .iter()
        .any(|s| s.name == "lru_crawler" && s.value.to_string() == "yes")
    {
        for (stat, name, help) in SETTINGS {
            e.single(&settings, stat, name, "gauge", help);
        }
    }

    let item_classes = by_class(&items);
    for (field, name, kind, help) in ITEMS {
        labelled_by_class(&mut e, &item_classes, field, name, kind, help);
    }
    if !item_classes.is_empty() {
        let name = "memcached_slab_lru_hits_total";
        e.family(name, "counter", "Number of get_hits to the LRU.");
        for (slab, fields) in &item_classes {
            for (field, lru) in [
                ("hits_to_hot", "hot"),
                ("hits_to_warm", "warm"),
                ("hits_to_cold", "cold"),
                ("hits_to_temp", "temporary"),
            ] {
                if let Some(v) = num(fields, field) {
                    e.sample(name, &[("slab", slab), ("lru", lru)], v);
                }
            }
        }
    }

    let slab_classes = by_class(&slabs);
    for (field, name, help) in SLABS {
        labelled_by_class(&mut e, &slab_classes, field, name, "gauge", help);
    }
    if !slab_classes.is_empty() {
        let name = "memcached_slab_commands_total";
        e.family(name, "counter", "Total number of all requests broken down by command (get, set, etc.) and status per slab.");
        for (slab, fields) in &slab_classes {
            let get = |s: &str| num(fields, s).unwrap_or(0.0);
            for op in HIT_MISS {
                e.sample(
                    name,
                    &[("slab", slab), ("command", op), ("status", "hit")],
                    get(&format!("{op}_hits")),
                );
            }
            e.sample(
                name,
                &[("slab", slab), ("command", "cas"), ("status", "badval")],
                get("cas_badval"),
            );
            let set = get("cmd_set") - get("cas_hits") - get("cas_badval");
            e.sample(
                name,
                &[("slab", slab), ("command", "set"), ("status", "hit")],
                set.max(0.0),
            );
        }
    }

    latency(&mut e, shared);
    hot_keys(&mut e, shared);
    e.out
}

/// `-o hot_keys`: at most N keys (URI-encoded, so every label value is
/// printable ASCII), their estimated rates and miss share, and the
/// tracker's memory.
fn hot_keys(e: &mut Exposition, shared: &Shared) {
    let (Some((list, _)), Some(bytes)) = (report::hottest(shared), report::hot_keys_memory(shared))
    else {
        return;
    };
    let name = "ferrocache_hot_keys_memory_bytes";
    e.family(name, "gauge", "Memory held by the hot-key tracker.");
    e.sample(name, &[], bytes as f64);
    let keys: Vec<String> = list
        .iter()
        .map(|k| crate::hotkeys::uri_encode(&k.key))
        .collect();
    let name = "ferrocache_hot_key_ops_per_second";
    e.family(
        name,
        "gauge",
        "Estimated requests per second of the hottest keys (sampled), by operation.",
    );
    for (k, key) in list.iter().zip(&keys) {
        e.sample(name, &[("key", key), ("op", "read")], k.reads);
        e.sample(name, &[("key", key), ("op", "write")], k.writes);
    }
    let name = "ferrocache_hot_key_miss_ratio";
    e.family(
        name,
        "gauge",
        "Share of the hottest keys' reads that missed.",
    );
    for (k, key) in list.iter().zip(&keys) {
        e.sample(name, &[("key", key)], k.miss_share);
    }
}

fn labelled_by_class(
    e: &mut Exposition,
    classes: &[(String, Vec<Stat>)],
    field: &str,
    name: &str,
    kind: &str,
    help: &str,
) {
    let samples: Vec<(&str, f64)> = classes
        .iter()
        .filter_map(|(slab, fields)| Some((slab.as_str(), num(fields, field)?)))
        .collect();
    if samples.is_empty() {
        return;
    }
    e.family(name, kind, help);
    for (slab, v) in samples {
        e.sample(name, &[("slab", slab)], v);
    }
}

/// `ferrocache_command_duration_seconds`: time from a parsed request to its
/// reply bytes (not network time), summed over worker threads.
fn latency(e: &mut Exposition, shared: &Shared) {
    let name = "ferrocache_command_duration_seconds";
    e.family(
        name,
        "histogram",
        "Time to execute a command, from the parsed request to its reply bytes.",
    );
    let threads = shared.stats.latencies();
    let bucket = format!("{name}_bucket");
    for kind in CommandKind::ALL {
        let (k, command) = (kind as usize, kind.name());
        let mut counts = [0u64; LATENCY_BOUNDS_NS.len() + 1];
        let mut sum_ns = 0u64;
        for t in &threads {
            t.latency.add_to(k, &mut counts, &mut sum_ns);
        }
        let total: u64 = counts.iter().sum();
        if total == 0 {
            continue;
        }
        let mut cumulative = 0;
        for (i, c) in counts.iter().enumerate() {
            cumulative += c;
            let le = match LATENCY_BOUNDS_NS.get(i) {
                Some(ns) => format!("{}", *ns as f64 / 1e9),
                None => "+Inf".to_string(),
            };
            e.sample(
                &bucket,
                &[("command", command), ("le", &le)],
                cumulative as f64,
            );
        }
        e.sample(
            &format!("{name}_sum"),
            &[("command", command)],
            sum_ns as f64 / 1e9,
        );
        e.sample(
            &format!("{name}_count"),
            &[("command", command)],
            total as f64,
        );
    }
}
