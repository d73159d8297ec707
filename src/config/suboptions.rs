//! The `-o` sub-options: one table says, for each, how it takes its value
//! and whether ferrocache uses it or accepts and ignores it (for memcached
//! compatibility); `parse_extended` checks them against memcached's
//! rules.

use std::path::PathBuf;

use super::flags::{parse_size, parse_uint};
use super::settings::{ConfigError, Extended, MIB};

/// How a known `-o` sub-option takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubKind {
    /// No value (a given value is ignored, as memcached does).
    Flag,
    /// Optional unsigned integer.
    OptUint,
    /// Required unsigned integer.
    Uint,
    /// Required decimal number.
    Float,
    /// Required free-form string.
    Str,
    /// Optional free-form string.
    OptStr,
}

/// What ferrocache does with a sub-option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Stored in a typed field of [`Extended`]: what it does.
    Used(&'static str),
    /// Accepted for memcached compatibility and ignored (with a log note
    /// at start-up): why.
    Ignored(&'static str),
}

/// One `-o` sub-option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubOption {
    pub name: &'static str,
    pub kind: SubKind,
    pub used: Use,
}

const fn sub(name: &'static str, kind: SubKind, used: Use) -> SubOption {
    SubOption { name, kind, used }
}

use Use::{Ignored, Used};

const EXTSTORE: &str = "extstore: ferrocache keeps every item in memory";
const LRU: &str = "memcached's segmented LRU and its threads: ferrocache evicts by CLOCK per class";
const SLABS: &str = "memcached's slab rebalancer: ferrocache moves pages between classes itself";
const HASH: &str = "memcached's hash table: ferrocache's index grows by itself";
const LOGGER: &str =
    "memcached's per-worker log buffers: watch lines go straight to each watcher's buffer";
const MEMORY: &str =
    "memcached's response objects and chunked items: not ferrocache's memory model";
const MODERN: &str = "a bundle of memcached defaults: ferrocache's are fixed";
const PRIVILEGES: &str = "memcached's seccomp sandbox: not implemented";
const SOCKET: &str = "a socket cookie for eBPF steering: not implemented";

/// Every `-o` sub-option memcached 1.6.18 accepts, plus ferrocache's own:
/// the one list of them.
pub const SUBOPTIONS: &[SubOption] = &[
    sub(
        "maxconns_fast",
        SubKind::Flag,
        Used("answer connections past -c at once with an error (default)"),
    ),
    sub(
        "no_maxconns_fast",
        SubKind::Flag,
        Used("turns maxconns_fast off"),
    ),
    sub(
        "hashpower",
        SubKind::Uint,
        Used("initial hash table power, 12-32 (checked as memcached does)"),
    ),
    sub("no_hashexpand", SubKind::Flag, Ignored(HASH)),
    sub("tail_repair_time", SubKind::Uint, Ignored(HASH)),
    sub("hash_algorithm", SubKind::Str, Ignored(HASH)),
    sub("slab_reassign", SubKind::Flag, Ignored(SLABS)),
    sub("no_slab_reassign", SubKind::Flag, Ignored(SLABS)),
    sub("slab_automove", SubKind::OptUint, Ignored(SLABS)),
    sub("no_slab_automove", SubKind::Flag, Ignored(SLABS)),
    sub("slab_automove_ratio", SubKind::Float, Ignored(SLABS)),
    sub("slab_automove_window", SubKind::Uint, Ignored(SLABS)),
    sub("slab_automove_freeratio", SubKind::Float, Ignored(SLABS)),
    sub(
        "slab_chunk_max",
        SubKind::Str,
        Used("largest slab chunk, bytes, or kilobytes below 1024 (default 524288); bounds -I"),
    ),
    sub("slab_sizes", SubKind::OptStr, Ignored(SLABS)),
    sub(
        "lru_crawler",
        SubKind::Flag,
        Used("start with lru_crawler enabled (the default)"),
    ),
    sub(
        "no_lru_crawler",
        SubKind::Flag,
        Used("start with lru_crawler disabled"),
    ),
    sub(
        "lru_crawler_sleep",
        SubKind::Uint,
        Used("shown by stats settings (the crawl does not sleep)"),
    ),
    sub(
        "lru_crawler_tocrawl",
        SubKind::Uint,
        Used("shown by stats settings (a crawl checks every item)"),
    ),
    sub(
        "lru_maintainer",
        SubKind::Flag,
        Used("report the LRU maintainer's figures in stats (the default)"),
    ),
    sub(
        "no_lru_maintainer",
        SubKind::Flag,
        Used("stats and stats settings report no LRU maintainer, as memcached's"),
    ),
    sub("hot_lru_pct", SubKind::Uint, Ignored(LRU)),
    sub("warm_lru_pct", SubKind::Uint, Ignored(LRU)),
    sub("hot_max_factor", SubKind::Float, Ignored(LRU)),
    sub("warm_max_factor", SubKind::Float, Ignored(LRU)),
    sub(
        "temporary_ttl",
        SubKind::Uint,
        Used("items set with a TTL of at most this many seconds are not evicted before they expire (memcached's temporary LRU)"),
    ),
    sub(
        "idle_timeout",
        SubKind::Uint,
        Used("close connections idle this many seconds (default 0: never)"),
    ),
    sub(
        "watcher_logbuf_size",
        SubKind::Uint,
        Used("KB of log lines each watch connection may have waiting (default 256)"),
    ),
    sub("worker_logbuf_size", SubKind::Uint, Ignored(LOGGER)),
    sub(
        "read_buf_mem_limit",
        SubKind::Uint,
        Used("MB of read buffers all connections may hold (default 0: no limit)"),
    ),
    sub("resp_obj_mem_limit", SubKind::OptStr, Ignored(MEMORY)),
    sub(
        "track_sizes",
        SubKind::Flag,
        Used("shown by stats settings"),
    ),
    sub("inline_ascii_resp", SubKind::Flag, Ignored(MEMORY)),
    sub("no_inline_ascii_resp", SubKind::Flag, Ignored(MEMORY)),
    sub("no_chunked_items", SubKind::Flag, Ignored(MEMORY)),
    sub("modern", SubKind::Flag, Ignored(MODERN)),
    sub(
        "no_modern",
        SubKind::Flag,
        Used("starts with lru_crawler disabled and reports no LRU maintainer; the rest is ignored"),
    ),
    sub("drop_privileges", SubKind::Flag, Ignored(PRIVILEGES)),
    sub("no_drop_privileges", SubKind::Flag, Ignored(PRIVILEGES)),
    sub("relaxed_privileges", SubKind::Flag, Ignored(PRIVILEGES)),
    sub("sock_cookie_id", SubKind::OptUint, Ignored(SOCKET)),
    sub("ext_path", SubKind::Str, Ignored(EXTSTORE)),
    sub("ext_page_size", SubKind::Uint, Ignored(EXTSTORE)),
    sub("ext_wbuf_size", SubKind::Uint, Ignored(EXTSTORE)),
    sub("ext_threads", SubKind::Uint, Ignored(EXTSTORE)),
    sub("ext_io_depth", SubKind::Uint, Ignored(EXTSTORE)),
    sub("ext_item_size", SubKind::Uint, Ignored(EXTSTORE)),
    sub("ext_item_age", SubKind::Uint, Ignored(EXTSTORE)),
    sub("ext_low_ttl", SubKind::Uint, Ignored(EXTSTORE)),
    sub("ext_drop_unread", SubKind::Flag, Ignored(EXTSTORE)),
    sub("ext_recache_rate", SubKind::Uint, Ignored(EXTSTORE)),
    sub("ext_compact_under", SubKind::Uint, Ignored(EXTSTORE)),
    sub("ext_drop_under", SubKind::Uint, Ignored(EXTSTORE)),
    sub("ext_max_frag", SubKind::Float, Ignored(EXTSTORE)),
    sub("ext_max_sleep", SubKind::Uint, Ignored(EXTSTORE)),
    sub(
        "ssl_chain_cert",
        SubKind::Str,
        Used("-Z: certificate chain file"),
    ),
    sub("ssl_key", SubKind::Str, Used("-Z: private key file")),
    sub(
        "ssl_keyformat",
        SubKind::Str,
        Used("-Z: key format (PEM only)"),
    ),
    sub(
        "ssl_verify_mode",
        SubKind::Str,
        Used("-Z: client certificate check, 0-3"),
    ),
    sub(
        "ssl_ciphers",
        SubKind::Str,
        Used("-Z: shown by stats settings (rustls picks its suites)"),
    ),
    sub(
        "ssl_ca_cert",
        SubKind::Str,
        Used("-Z: CA file for client certificates"),
    ),
    sub(
        "ssl_wbuf_size",
        SubKind::Uint,
        Used("-Z: shown by stats settings"),
    ),
    sub(
        "ssl_session_cache",
        SubKind::Flag,
        Used("-Z: shown by stats settings"),
    ),
    sub(
        "ssl_kernel_tls",
        SubKind::Flag,
        Used("-Z: shown by stats settings"),
    ),
    sub(
        "ssl_min_version",
        SubKind::Str,
        Used("-Z: lowest TLS version, 2|tlsv1.2 or 3|tlsv1.3"),
    ),
    sub(
        "sasl_pwdb",
        SubKind::Str,
        Used("SASL password file (ferrocache)"),
    ),
    sub(
        "sasl_mech_list",
        SubKind::Str,
        Used("SASL mechanisms offered, e.g. plain:cram-md5 (ferrocache)"),
    ),
    sub(
        "cluster_config",
        SubKind::Str,
        Used("nodes for `config get cluster`, reread on SIGHUP (ferrocache)"),
    ),
    sub(
        "snapshot_path",
        SubKind::Str,
        Used("file of online snapshots, written on SIGUSR2 (ferrocache)"),
    ),
    sub(
        "snapshot_interval",
        SubKind::Uint,
        Used("seconds between online snapshots, 0: none (ferrocache)"),
    ),
    sub(
        "snapshot_load_unclean",
        SubKind::Flag,
        Used("load a -e file a daemon already loaded (ferrocache)"),
    ),
    sub(
        "shutdown_timeout",
        SubKind::Uint,
        Used("seconds to drain connections on shutdown, default 10 (ferrocache)"),
    ),
    sub(
        "metrics_listen",
        SubKind::Str,
        Used("ADDR:PORT of the Prometheus /metrics listener (ferrocache)"),
    ),
    sub(
        "hot_keys",
        SubKind::Str,
        Used("off, or how many hot keys `stats hotkeys` lists (ferrocache)"),
    ),
    sub(
        "hot_keys_sample",
        SubKind::Str,
        Used("auto, or sample one request in N for hot keys (ferrocache)"),
    ),
];

/// The sub-option named `key`.
fn find(key: &str) -> Option<&'static SubOption> {
    SUBOPTIONS.iter().find(|o| o.name == key)
}

/// True for a sub-option ferrocache accepts and ignores.
pub fn is_ignored(key: &str) -> bool {
    find(key).is_some_and(|o| matches!(o.used, Ignored(_)))
}

const O: &str = "-o/--extended";

pub(super) fn parse_extended(items: &[String]) -> Result<Extended, ConfigError> {
    let mut ext = Extended::default();
    let mut hot_lru_pct: u64 = 20;
    let mut warm_lru_pct: u64 = 40;
    for item in items {
        for part in item.split(',') {
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (part, None),
            };
            let kind = find(key)
                .map(|o| o.kind)
                .ok_or_else(|| ConfigError::invalid(O, format!("Illegal suboption \"{part}\"")))?;
            let need = |v: Option<&str>| -> Result<String, ConfigError> {
                match v {
                    Some(v) if !v.is_empty() => Ok(v.to_string()),
                    _ => Err(ConfigError::invalid(O, format!("Missing {key} argument"))),
                }
            };
            let bad = |msg: String| ConfigError::invalid(O, format!("{key}: {msg}"));
            // Generic syntax check by kind.
            match kind {
                SubKind::Flag | SubKind::OptStr => {}
                SubKind::Str => {
                    need(value)?;
                }
                SubKind::Uint => {
                    parse_uint::<u64>(&need(value)?, "a non-negative integer").map_err(bad)?;
                }
                SubKind::OptUint => {
                    if let Some(v) = value {
                        parse_uint::<u64>(v, "a non-negative integer").map_err(bad)?;
                    }
                }
                SubKind::Float => {
                    let v = need(value)?;
                    match v.parse::<f64>() {
                        Ok(f) if f.is_finite() => {}
                        _ => return Err(bad(format!("invalid value '{v}': expected a number"))),
                    }
                }
            }
            let uint = || -> u64 { value.and_then(|v| v.parse().ok()).unwrap_or(0) };
            let string = || value.map(str::to_string);
            match key {
                "idle_timeout" => ext.idle_timeout = uint(),
                "temporary_ttl" => ext.temporary_ttl = Some(uint().min(u32::MAX as u64) as u32),
                "shutdown_timeout" => ext.shutdown_timeout = uint(),
                "snapshot_load_unclean" => ext.snapshot_load_unclean = true,
                "snapshot_path" => ext.snapshot_path = string().map(PathBuf::from),
                "snapshot_interval" => ext.snapshot_interval = uint(),
                "metrics_listen" => ext.metrics_listen = string(),
                "hot_keys" => {
                    let v = need(value)?;
                    ext.hot_keys = match v.as_str() {
                        "off" | "0" => 0,
                        v => match v.parse::<usize>() {
                            Ok(n) if (1..=crate::hotkeys::MAX_TOP).contains(&n) => n,
                            _ => {
                                return Err(bad(format!(
                                    "invalid value '{v}': expected off or 1-{}",
                                    crate::hotkeys::MAX_TOP
                                )))
                            }
                        },
                    };
                }
                "hot_keys_sample" => {
                    let v = need(value)?;
                    ext.hot_keys_sample = match v.as_str() {
                        "auto" => crate::hotkeys::Every::Auto,
                        v => match v.parse::<u32>() {
                            Ok(n) if (1..=1_000_000).contains(&n) => {
                                crate::hotkeys::Every::Fixed(n)
                            }
                            _ => {
                                return Err(bad(format!(
                                    "invalid value '{v}': expected auto or 1-1000000"
                                )))
                            }
                        },
                    };
                }
                "hashpower" => {
                    let n = uint();
                    if n < 12 {
                        return Err(bad(format!(
                            "Initial hashtable multiplier of {n} is too low"
                        )));
                    }
                    if n > 32 {
                        return Err(bad(format!(
                            "Initial hashtable multiplier of {n} is too high"
                        )));
                    }
                    ext.hashpower = Some(n as u8);
                }
                "slab_chunk_max" => {
                    let v = need(value)?;
                    let mut n = parse_size(&v, 1, false).map_err(bad)?;
                    if n == 0 {
                        return Err(bad("must be greater than 0".to_string()));
                    }
                    // memcached 1.6.18 reads bytes; later memcached (1.6.38
                    // checked) reads kilobytes, at most 1024. A bare number
                    // below 1024 is therefore kilobytes (1.6.18 has no use
                    // for a chunk that small); 1024 and more are bytes, so
                    // 1.6.18's `-I 1024 -o slab_chunk_max=1024` keeps its
                    // meaning (1.6.38 would read 1024 as 1 MiB).
                    if n < 1024 && v.bytes().all(|b| b.is_ascii_digit()) {
                        n *= 1024;
                    }
                    ext.slab_chunk_max = Some(
                        usize::try_from(n)
                            .map_err(|_| bad(format!("invalid value '{v}': too large")))?,
                    );
                }
                "read_buf_mem_limit" => {
                    let mb = uint();
                    let bytes = mb
                        .checked_mul(MIB)
                        .and_then(|b| usize::try_from(b).ok())
                        .ok_or_else(|| bad(format!("invalid value '{mb}': too large")))?;
                    ext.read_buf_mem_limit = (bytes != 0).then_some(bytes);
                }
                "maxconns_fast" => ext.maxconns_fast = true,
                "no_maxconns_fast" => ext.maxconns_fast = false,
                "track_sizes" => ext.track_sizes = true,
                "ssl_chain_cert" => ext.ssl_chain_cert = string(),
                "ssl_key" => ext.ssl_key = string(),
                "ssl_keyformat" => ext.ssl_keyformat = string(),
                "ssl_verify_mode" => {
                    if !matches!(value, Some("0" | "1" | "2" | "3")) {
                        return Err(ConfigError::invalid(
                            O,
                            "Invalid ssl_verify_mode. Valid values are 0 (none), 1 (request), 2 (require), 3 (once)",
                        ));
                    }
                    ext.ssl_verify_mode = string();
                }
                "ssl_min_version" => {
                    if !matches!(value, Some("0" | "1" | "2" | "3" | "tlsv1.2" | "tlsv1.3")) {
                        return Err(ConfigError::invalid(
                            O,
                            "Invalid ssl_min_version. Valid values are 0 (tlsv1.0), 1 (tlsv1.1), 2 (tlsv1.2), 3 (tlsv1.3)",
                        ));
                    }
                    ext.ssl_min_version = string();
                }
                "ssl_ciphers" => ext.ssl_ciphers = string(),
                "ssl_ca_cert" => ext.ssl_ca_cert = string(),
                "ssl_wbuf_size" => ext.ssl_wbuf_size = string(),
                "ssl_session_cache" => ext.ssl_session_cache = true,
                "ssl_kernel_tls" => ext.ssl_kernel_tls = true,
                "sasl_pwdb" => ext.sasl_pwdb = value.map(PathBuf::from),
                "sasl_mech_list" => ext.sasl_mech_list = string(),
                "cluster_config" => ext.cluster_config = value.map(PathBuf::from),
                // Range checks memcached does for options ferrocache ignores,
                // so a config memcached rejects is rejected here too.
                "hot_lru_pct" | "warm_lru_pct" => {
                    let n = uint();
                    if n <= 1 || n >= 80 {
                        return Err(bad(format!("{key} must be > 1 and < 80")));
                    }
                    if key == "hot_lru_pct" {
                        hot_lru_pct = n;
                    } else {
                        warm_lru_pct = n;
                    }
                }
                "lru_crawler_sleep" if uint() > 1_000_000 => {
                    return Err(bad(
                        "LRU crawler sleep must be between 0 and 1 second".to_string()
                    ));
                }
                "slab_automove" if value.is_some() && uint() > 2 => {
                    return Err(bad("slab_automove must be between 0 and 2".to_string()));
                }
                "slab_automove_ratio" => {
                    let f: f64 = value.and_then(|v| v.parse().ok()).unwrap_or(0.0);
                    if f <= 0.0 || f >= 1.0 {
                        return Err(bad("slab_automove_ratio must be > 0 and < 1".to_string()));
                    }
                }
                "hash_algorithm" if !matches!(value, Some("jenkins" | "murmur3" | "xxh3")) => {
                    return Err(bad(
                        "Unknown hash_algorithm option (jenkins, murmur3, xxh3)".to_string(),
                    ));
                }
                _ => {}
            }
            ext.pairs.push((key.to_string(), value.map(str::to_string)));
        }
    }
    if hot_lru_pct + warm_lru_pct > 80 {
        return Err(ConfigError::invalid(
            O,
            "hot_lru_pct + warm_lru_pct cannot be more than 80% combined",
        ));
    }
    Ok(ext)
}
