//! Monitoring: `stats` as exporters read it. memcached_exporter
//! (prometheus/memcached_exporter, pkg/exporter/exporter.go) rejects a
//! scrape when a field it sums is missing or when a field it reads is not a
//! number, so every such field is checked here; the field sets of every
//! group are compared with Debian's memcached 1.6.18 (the oracle).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Conn, TestServer};

const ORACLE: &str = "/usr/bin/memcached";

/// A little traffic so that `stats items` and `stats slabs` list a class.
fn warm_up(c: &mut Conn) {
    c.roundtrip(b"set a 0 0 1\r\nb\r\n", b"STORED\r\n");
    c.roundtrip(b"get a\r\n", b"VALUE a 0 1\r\nb\r\nEND\r\n");
}

fn lookup<'a>(stats: &'a [(String, String)], name: &str) -> Option<&'a str> {
    stats
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Per-class fields (`items:3:number`, `3:chunk_size`) of the first class.
fn class_fields(stats: &[(String, String)], prefix: &str) -> Vec<(String, String)> {
    let first = stats
        .iter()
        .find_map(|(k, _)| {
            let rest = k.strip_prefix(prefix)?;
            let (id, _) = rest.split_once(':')?;
            Some(format!("{prefix}{id}:"))
        })
        .unwrap_or_else(|| panic!("no per-class {prefix}N: fields in {stats:?}"));
    stats
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(&first)?.to_string(), v.clone())))
        .collect()
}

fn numeric(group: &str, stats: &[(String, String)], names: &[&str]) {
    for name in names {
        let v = lookup(stats, name).unwrap_or_else(|| panic!("stats {group}: no {name}"));
        assert!(
            v.parse::<f64>().is_ok(),
            "stats {group}: {name} is not a number: {v:?}"
        );
    }
}

#[test]
fn every_field_memcached_exporter_reads_is_present_and_numeric() {
    let server = TestServer::start(&[]);
    let mut c = server.conn();
    warm_up(&mut c);

    let general = c.stats("");
    // The exporter sums these; a missing one fails the whole scrape.
    numeric(
        "",
        &general,
        &[
            "cmd_set",
            "cas_misses",
            "cas_hits",
            "cas_badval",
            "uptime",
            "time",
            "cmd_flush",
            "bytes",
            "limit_maxbytes",
            "curr_items",
            "total_items",
            "bytes_read",
            "bytes_written",
            "curr_connections",
            "max_connections",
            "total_connections",
            "rejected_connections",
            "conn_yields",
            "listen_disabled_num",
            "evictions",
            "reclaimed",
            "store_too_large",
            "store_no_memory",
            "lru_crawler_starts",
            "direct_reclaims",
            "crawler_items_checked",
            "crawler_reclaimed",
            "moves_to_cold",
            "moves_to_warm",
            "moves_within_lru",
            "accepting_conns",
            "get_hits",
            "get_misses",
            "delete_hits",
            "delete_misses",
            "incr_hits",
            "incr_misses",
            "decr_hits",
            "decr_misses",
            "touch_hits",
            "touch_misses",
        ],
    );
    assert!(lookup(&general, "version").is_some_and(|v| !v.is_empty()));
    // `rusage_*` are timevals: seconds '.' microseconds, both numeric.
    for name in ["rusage_user", "rusage_system"] {
        let v = lookup(&general, name).unwrap();
        let (s, us) = v.split_once('.').unwrap_or_else(|| panic!("{name}={v}"));
        assert!(
            s.parse::<u64>().is_ok() && us.parse::<u64>().is_ok(),
            "{name}={v}"
        );
    }

    let settings = c.stats("settings");
    numeric(
        "settings",
        &settings,
        &[
            "maxconns",
            "lru_crawler_sleep",
            "lru_crawler_tocrawl",
            "hot_lru_pct",
            "warm_lru_pct",
            "hot_max_factor",
            "warm_max_factor",
        ],
    );
    for name in ["lru_crawler", "lru_maintainer_thread"] {
        let v = lookup(&settings, name).unwrap_or_else(|| panic!("no {name}"));
        assert!(v == "yes" || v == "no", "{name} is not a yes/no: {v}");
    }

    let items = class_fields(&c.stats("items"), "items:");
    numeric(
        "items",
        &items,
        &[
            "number",
            "age",
            "hits_to_hot",
            "hits_to_warm",
            "hits_to_cold",
            "hits_to_temp",
            "crawler_reclaimed",
            "evicted",
            "evicted_nonzero",
            "evicted_time",
            "evicted_unfetched",
            "expired_unfetched",
            "outofmemory",
            "reclaimed",
            "tailrepairs",
            "mem_requested",
            "moves_to_cold",
            "moves_to_warm",
            "moves_within_lru",
            "number_hot",
            "number_warm",
            "number_cold",
            "age_hot",
            "age_warm",
        ],
    );

    let slabs = c.stats("slabs");
    numeric("slabs", &slabs, &["total_malloced", "active_slabs"]);
    let class = class_fields(&slabs, "");
    numeric(
        "slabs",
        &class,
        &[
            "get_hits",
            "delete_hits",
            "incr_hits",
            "decr_hits",
            "cas_hits",
            "touch_hits",
            "cas_badval",
            "cmd_set",
            "chunk_size",
            "chunks_per_page",
            "total_pages",
            "total_chunks",
            "used_chunks",
            "free_chunks",
            "free_chunks_end",
        ],
    );
}

/// Field names of a group with class ids replaced by `N`, in order.
fn shape(stats: &[(String, String)]) -> Vec<String> {
    let mut seen = Vec::new();
    for (k, _) in stats {
        let generic: Vec<String> = k
            .split(':')
            .map(|part| {
                if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                    "N".to_string()
                } else {
                    part.to_string()
                }
            })
            .collect();
        let generic = generic.join(":");
        if !seen.contains(&generic) {
            seen.push(generic);
        }
    }
    seen
}

/// Debian's memcached on a free port, killed on drop.
fn oracle() -> Option<TestServer> {
    if !Path::new(ORACLE).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{ORACLE} is missing (install Debian's memcached package)"
        );
        eprintln!("skipped: {ORACLE} is not installed");
        return None;
    }
    for _ in 0..5 {
        let port = common::free_port();
        let mut cmd = Command::new(ORACLE);
        cmd.args(["-p", &port.to_string(), "-l", "127.0.0.1", "-U", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if nix::unistd::geteuid().is_root() {
            cmd.args(["-u", "nobody"]);
        }
        let child = cmd.spawn().expect("spawn memcached");
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let server = TestServer::adopt(child, addr);
        for _ in 0..100 {
            if common::wait_for_port(addr, Duration::from_millis(100)) {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("memcached did not start");
}

/// Fields of `stats` (group, name) that memcached added after 1.6.18 and
/// ferrocache prints too, in current memcached's place.
const LATER_FIELDS: &[(&str, &str)] = &[
    ("settings", "client_flags_size"), // 1.6.22
];

#[test]
fn stats_groups_have_memcached_1_6_18s_fields_in_its_order() {
    if common::is_memcached() {
        return; // compares ferrocache with memcached.
    }
    let Some(oracle) = oracle() else { return };
    let ours = TestServer::start(&[]);
    let mut a = oracle.conn();
    let mut b = ours.conn();
    warm_up(&mut a);
    warm_up(&mut b);
    for group in ["", "settings", "items", "slabs"] {
        let want = shape(&a.stats(group));
        let mut got = shape(&b.stats(group));
        // Fields later memcached releases added (docs/protocol-coverage.md):
        // present, and left out of the comparison with 1.6.18.
        for later in LATER_FIELDS.iter().filter(|(g, _)| *g == group) {
            assert!(
                got.iter().any(|n| n == later.1),
                "stats {group}: no {}",
                later.1
            );
        }
        got.retain(|n| !LATER_FIELDS.contains(&(group, n.as_str())));
        let missing: Vec<_> = want.iter().filter(|n| !got.contains(n)).collect();
        let extra: Vec<_> = got.iter().filter(|n| !want.contains(n)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "stats {group}: missing {missing:?}, not in memcached {extra:?}"
        );
        assert_eq!(got, want, "stats {group}: same fields, other order");
    }
}

/// One HTTP/1.1 GET; (status line, headers, body).
fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to metrics_listen");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("read the reply");
    let (head, body) = reply.split_once("\r\n\r\n").expect("a header block");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_string(), body.to_string())
}

/// The value of the sample `series` (name with labels, as printed).
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_endpoint_serves_exporter_names_and_latency_histograms() {
    if common::is_memcached() {
        return; // a ferrocache extension.
    }
    let port = common::free_port();
    let listen = format!("metrics_listen=127.0.0.1:{port}");
    let server = TestServer::start(&["-o", &listen]);
    let metrics = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut c = server.conn();
    warm_up(&mut c);
    c.roundtrip(b"get nothing\r\n", b"END\r\n");
    c.roundtrip(b"mn\r\n", b"MN\r\n");
    let stats = c.stats("");

    let (status, headers, body) = http_get(metrics, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        headers.contains("Content-Type: text/plain; version=0.0.4"),
        "{headers}"
    );
    let stat = |name: &str| -> f64 { lookup(&stats, name).unwrap().parse().unwrap() };
    // memcached_exporter's names for the same figures.
    for (series, want) in [
        ("memcached_up", 1.0),
        ("memcached_current_items", stat("curr_items")),
        ("memcached_items_total", stat("total_items")),
        ("memcached_current_bytes", stat("bytes")),
        ("memcached_limit_bytes", stat("limit_maxbytes")),
        ("memcached_items_evicted_total", stat("evictions")),
        ("memcached_current_connections", stat("curr_connections")),
        ("memcached_max_connections", stat("max_connections")),
        (
            r#"memcached_commands_total{command="get",status="hit"}"#,
            1.0,
        ),
        (
            r#"memcached_commands_total{command="get",status="miss"}"#,
            1.0,
        ),
        (
            r#"memcached_commands_total{command="set",status="hit"}"#,
            1.0,
        ),
        (r#"memcached_slab_current_items{slab="1"}"#, 1.0),
        (
            r#"ferrocache_command_duration_seconds_bucket{command="get",le="+Inf"}"#,
            2.0,
        ),
        (
            r#"ferrocache_command_duration_seconds_count{command="set"}"#,
            1.0,
        ),
        (
            r#"ferrocache_command_duration_seconds_count{command="mn"}"#,
            1.0,
        ),
    ] {
        assert_eq!(sample(&body, series), Some(want), "{series} in:\n{body}");
    }
    for family in [
        "memcached_version",
        "memcached_uptime_seconds",
        "memcached_read_bytes_total",
        "memcached_connections_total",
        "memcached_malloced_bytes",
        "memcached_process_user_cpu_seconds_total",
        "memcached_lru_crawler_enabled",
        "memcached_slab_chunk_size_bytes",
    ] {
        assert!(
            body.contains(&format!("# TYPE {family} ")),
            "no {family} in:\n{body}"
        );
    }
    let (status, _, _) = http_get(metrics, "/nothing");
    assert_eq!(status, "HTTP/1.1 404 Not Found");

    common::assert_promtool_accepts(&body);
}

/// `stats settings` reports `slab_chunk_max` as set: memcached's default
/// (half a 1 MiB page, as `--help` says) or the `-o slab_chunk_max` given
/// (Debian's `memcached-tool settings` shows it).
#[test]
fn stats_settings_slab_chunk_max_is_the_setting() {
    for (args, want) in [
        (&[][..], "524288"),
        (&["-o", "slab_chunk_max=16384"][..], "16384"),
    ] {
        let server = TestServer::start(args);
        let settings = server.conn().stats("settings");
        let got = settings
            .iter()
            .find(|(k, _)| k == "slab_chunk_max")
            .map(|(_, v)| v.as_str());
        assert_eq!(got, Some(want), "{args:?}");
    }
}
