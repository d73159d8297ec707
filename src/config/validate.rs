//! From the raw command line to a checked [`Config`]: defaults, ranges and
//! the cross-flag rules, with memcached 1.6.18's messages.

use super::flags::{parse_port, parse_size, parse_uint, to_usize, Cli};
use super::settings::*;
use super::suboptions::parse_extended;

pub(super) fn build(cli: Cli) -> Result<Config, ConfigError> {
    if cli.license {
        return Err(ConfigError {
            kind: ConfigErrorKind::License,
            message: format!(
                "ferrocache {} is distributed under the BSD 3-Clause license.",
                env!("CARGO_PKG_VERSION")
            ),
        });
    }
    let mut c = Config::default();

    if let Some(s) = &cli.port {
        c.port = parse_port(s).map_err(|e| ConfigError::invalid("-p/--port", e))?;
    }
    if let Some(s) = &cli.udp_port {
        c.udp_port = parse_port(s).map_err(|e| ConfigError::invalid("-U/--udp-port", e))?;
        // memcached: a UDP port given without -p is the TCP port too.
        if cli.port.is_none() && c.udp_port != 0 {
            c.port = c.udp_port;
        }
    }
    if !cli.listen.is_empty() {
        c.listen.clear();
        c.listen_addrs.clear();
        for entry in cli.listen.iter().flat_map(|l| l.split(',')) {
            let addr =
                ListenAddr::parse(entry).map_err(|e| ConfigError::invalid("-l/--listen", e))?;
            c.listen.push(entry.to_string());
            c.listen_addrs.push(addr);
        }
    }
    c.unix_socket = cli.unix_socket;
    if let Some(s) = &cli.unix_mask {
        let t = s.trim();
        let mask = if !t.is_empty() && t.chars().all(|ch| ('0'..='7').contains(&ch)) {
            u32::from_str_radix(t, 8).ok().filter(|m| *m <= 0o777)
        } else {
            None
        };
        c.unix_mask = mask.ok_or_else(|| {
            ConfigError::invalid(
                "-a/--unix-mask",
                format!("invalid value '{s}': expected an octal mode 0-777"),
            )
        })?;
    }
    if let Some(s) = &cli.memory_limit {
        const F: &str = "-m/--memory-limit";
        let bytes = parse_size(s, MIB, true).map_err(|e| ConfigError::invalid(F, e))?;
        if bytes == 0 {
            return Err(ConfigError::invalid(F, "must be greater than 0"));
        }
        c.memory_limit = to_usize(bytes, F, s)?;
    }
    c.disable_evictions = cli.disable_evictions;
    if let Some(s) = &cli.conn_limit {
        const F: &str = "-c/--conn-limit";
        let n: usize =
            parse_uint(s, "a positive integer").map_err(|e| ConfigError::invalid(F, e))?;
        if n == 0 {
            return Err(ConfigError::invalid(
                F,
                "Maximum connections must be greater than 0",
            ));
        }
        c.conn_limit = n;
    }
    if let Some(s) = &cli.threads {
        const F: &str = "-t/--threads";
        let n: usize =
            parse_uint(s, "a positive integer").map_err(|e| ConfigError::invalid(F, e))?;
        if n == 0 {
            return Err(ConfigError::invalid(
                F,
                "Number of threads must be greater than 0",
            ));
        }
        if n > MAX_THREADS {
            return Err(ConfigError::invalid(
                F,
                format!("at most {MAX_THREADS} threads are allowed"),
            ));
        }
        if n > WARN_THREADS {
            c.warnings.push(format!(
                "-t {n}: setting a high number of worker threads is not recommended; \
                 use the number of cores or less"
            ));
        }
        c.threads = n;
    }
    if let Some(s) = &cli.max_reqs_per_event {
        const F: &str = "-R/--max-reqs-per-event";
        let n: usize =
            parse_uint(s, "a positive integer").map_err(|e| ConfigError::invalid(F, e))?;
        if n == 0 {
            return Err(ConfigError::invalid(
                F,
                "Number of requests per event must be greater than 0",
            ));
        }
        c.max_reqs_per_event = n;
    }
    c.disable_cas = cli.disable_cas;
    if let Some(s) = &cli.listen_backlog {
        c.listen_backlog = parse_uint(s, "a non-negative integer up to 2147483647")
            .map_err(|e| ConfigError::invalid("-b/--listen-backlog", e))?;
    }
    if let Some(s) = &cli.protocol {
        c.protocol_given = true;
        c.protocol = match s.as_str() {
            "auto" => ProtocolMode::Auto,
            "ascii" => ProtocolMode::Ascii,
            "binary" => ProtocolMode::Binary,
            _ => {
                return Err(ConfigError::invalid(
                    "-B/--protocol",
                    format!("Invalid value for binding protocol: {s} -- should be one of auto, binary, or ascii"),
                ))
            }
        };
    }
    if let Some(s) = &cli.slab_growth_factor {
        const F: &str = "-f/--slab-growth-factor";
        let f: f64 = s.trim().parse().map_err(|_| {
            ConfigError::invalid(F, format!("invalid value '{s}': expected a number"))
        })?;
        if !f.is_finite() || f <= 1.0 {
            return Err(ConfigError::invalid(F, "Factor must be greater than 1"));
        }
        c.slab_growth_factor = f;
    }
    if let Some(s) = &cli.slab_min_size {
        const F: &str = "-n/--slab-min-size";
        let n: usize =
            parse_uint(s, "a positive integer").map_err(|e| ConfigError::invalid(F, e))?;
        if n == 0 {
            return Err(ConfigError::invalid(F, "Chunk size must be greater than 0"));
        }
        c.slab_min_size = n;
    }
    c.disable_flush_all = cli.disable_flush_all;
    c.enable_shutdown = cli.enable_shutdown;
    c.disable_dumping = cli.disable_dumping;
    c.disable_watch = cli.disable_watch;
    c.verbosity = cli.verbose;
    if let Some(u) = cli.user {
        if u.is_empty() {
            return Err(ConfigError::invalid("-u/--user", "empty user name"));
        }
        c.user = Some(u);
    }
    c.pidfile = cli.pidfile;
    c.daemonize = cli.daemon;
    c.enable_coredumps = cli.enable_coredumps;
    c.lock_memory = cli.lock_memory;
    c.enable_largepages = cli.enable_largepages;
    if let Some(s) = &cli.prefix_delimiter {
        // memcached silently uses the first byte; ferrocache wants exactly one.
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(ch), None) => c.prefix_delimiter = Some(ch),
            _ => {
                return Err(ConfigError::invalid(
                    "-D",
                    format!("invalid value '{s}': expected a single character"),
                ))
            }
        }
    }
    c.sasl = cli.enable_sasl;
    c.auth_file = cli.auth_file;
    c.tls = cli.enable_ssl;
    c.memory_file = cli.memory_file;
    if let Some(s) = &cli.napi_ids {
        c.napi_ids = Some(
            parse_uint(s, "a non-negative integer")
                .map_err(|e| ConfigError::invalid("-N/--napi-ids", e))?,
        );
    }
    c.extended = parse_extended(&cli.extended)?;

    // -I last: it is checked against -m and slab_chunk_max, as memcached does.
    const I: &str = "-I/--max-item-size";
    if let Some(s) = &cli.max_item_size {
        let bytes = parse_size(s, 1, true).map_err(|e| ConfigError::invalid(I, e))?;
        c.max_item_size = usize::try_from(bytes).unwrap_or(usize::MAX);
    }
    if c.max_item_size < MIN_ITEM_SIZE_LIMIT {
        return Err(ConfigError::invalid(
            I,
            "Item max size cannot be less than 1024 bytes.",
        ));
    }
    if c.max_item_size > MAX_ITEM_SIZE_LIMIT {
        return Err(ConfigError::invalid(
            I,
            "Cannot set item size limit higher than a gigabyte.",
        ));
    }
    if c.max_item_size > c.memory_limit / 2 {
        return Err(ConfigError::invalid(
            I,
            format!(
                "Cannot set item size limit higher than 1/2 of memory max (-m is {} bytes).",
                c.memory_limit
            ),
        ));
    }
    let chunk_max = c.slab_chunk_max();
    if chunk_max > c.max_item_size {
        return Err(ConfigError::invalid(
            "-o slab_chunk_max",
            format!(
                "slab_chunk_max (bytes: {chunk_max}) cannot be larger than -I (item_size_max {})",
                c.max_item_size
            ),
        ));
    }
    if c.max_item_size % chunk_max != 0 {
        return Err(ConfigError::invalid(
            I,
            format!(
                "-I (item_size_max: {}) must be evenly divisible by slab_chunk_max (bytes: {chunk_max})",
                c.max_item_size
            ),
        ));
    }
    if SLAB_PAGE_SIZE % chunk_max != 0 {
        return Err(ConfigError::invalid(
            "-o slab_chunk_max",
            format!("slab_chunk_max (bytes: {chunk_max}) must divide evenly into {SLAB_PAGE_SIZE} (slab_page_size)"),
        ));
    }
    if c.slab_min_size > chunk_max {
        return Err(ConfigError::invalid(
            "-n/--slab-min-size",
            format!(
                "{} is larger than slab_chunk_max ({chunk_max} bytes)",
                c.slab_min_size
            ),
        ));
    }
    Ok(c)
}
