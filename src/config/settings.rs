//! The configuration as data: [`Config`], its `-o` part [`Extended`], the
//! limits memcached enforces, and [`ConfigError`]. The other parts of
//! `config` build these; nothing here parses.

use std::fmt;
use std::path::PathBuf;

/// memcached's EX_USAGE exit status, used for every configuration error.
pub const EXIT_USAGE: i32 = 64;

/// Size of one slab page; memcached 1.6 fixes it at 1 MiB.
pub const SLAB_PAGE_SIZE: usize = 1024 * 1024;
/// Default `-o slab_chunk_max`: half a slab page, as in memcached.
pub const DEFAULT_SLAB_CHUNK_MAX: usize = SLAB_PAGE_SIZE / 2;
/// Largest `-I` memcached allows.
pub const MAX_ITEM_SIZE_LIMIT: usize = 1024 * 1024 * 1024;
/// Smallest `-I` memcached allows.
pub const MIN_ITEM_SIZE_LIMIT: usize = 1024;
/// Upper bound for `-t`; memcached has none but fails at startup long before.
pub const MAX_THREADS: usize = 1024;
/// memcached warns above this many worker threads.
pub const WARN_THREADS: usize = 64;

pub(super) const MIB: u64 = 1024 * 1024;

/// Wire protocol selected with `-B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtocolMode {
    /// Negotiate per connection from the first byte (memcached's default).
    #[default]
    Auto,
    Ascii,
    Binary,
}

/// One `-l` entry, split into its parts. The raw string is kept as well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    /// The entry exactly as given, e.g. `notls:[::1]:11212`.
    pub raw: String,
    /// The entry had memcached's `notls:` prefix (TLS disabled on it).
    pub notls: bool,
    /// Host or address, without brackets for IPv6.
    pub host: String,
    /// Port given in the entry; `None` means use `-p`.
    pub port: Option<u16>,
}

impl ListenAddr {
    /// Parse `host`, `host:port`, `[v6]`, `[v6]:port`, bare `v6`, each with an
    /// optional `notls:` prefix.
    pub fn parse(raw: &str) -> Result<ListenAddr, String> {
        let (notls, rest) = match raw.strip_prefix("notls:") {
            Some(r) => (true, r),
            None => (false, raw),
        };
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let close = inner
                .find(']')
                .ok_or_else(|| format!("'{raw}': missing ']' after IPv6 address"))?;
            let host = &inner[..close];
            let after = &inner[close + 1..];
            let port = if after.is_empty() {
                None
            } else if let Some(p) = after.strip_prefix(':') {
                Some(p)
            } else {
                return Err(format!("'{raw}': unexpected text after ']'"));
            };
            (host, port)
        } else if rest.matches(':').count() == 1 {
            let (h, p) = rest.split_once(':').unwrap_or((rest, ""));
            (h, Some(p))
        } else {
            // No colon, or a bare IPv6 address with several.
            (rest, None)
        };
        if host.is_empty() {
            return Err(format!("'{raw}': empty address"));
        }
        let port = match port {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| format!("'{raw}': invalid port '{p}' (expected 0-65535)"))?,
            ),
        };
        Ok(ListenAddr {
            raw: raw.to_string(),
            notls,
            host: host.to_string(),
            port,
        })
    }
}

/// Settings given with `-o key[=value],...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Extended {
    /// Every sub-option in the order given, including the typed ones below.
    pub pairs: Vec<(String, Option<String>)>,
    /// `idle_timeout`: seconds before an idle connection is closed; 0 = never.
    pub idle_timeout: u64,
    /// `temporary_ttl`: items set with a TTL of at most this many seconds
    /// are kept until they expire (memcached's `temp_lru`); `None`: off.
    pub temporary_ttl: Option<u32>,
    /// `slab_chunk_max` in bytes (memcached 1.6.18 reads this value as bytes,
    /// although its help says kilobytes). `None` = [`DEFAULT_SLAB_CHUNK_MAX`].
    pub slab_chunk_max: Option<usize>,
    /// `hashpower`: initial hash table size as a power of two (12..=32).
    pub hashpower: Option<u8>,
    /// `read_buf_mem_limit`, converted from megabytes to bytes. `None` (also
    /// for an explicit 0) = unlimited.
    pub read_buf_mem_limit: Option<usize>,
    /// `maxconns_fast` (default on) / `no_maxconns_fast`: reject connections
    /// over `-c` immediately.
    pub maxconns_fast: bool,
    /// `track_sizes`: enable `stats sizes`.
    pub track_sizes: bool,
    pub ssl_chain_cert: Option<String>,
    pub ssl_key: Option<String>,
    pub ssl_keyformat: Option<String>,
    /// `ssl_verify_mode`, checked to be 0..=3.
    pub ssl_verify_mode: Option<String>,
    pub ssl_ciphers: Option<String>,
    pub ssl_ca_cert: Option<String>,
    pub ssl_wbuf_size: Option<String>,
    /// `ssl_min_version`, checked to be 0..=3.
    pub ssl_min_version: Option<String>,
    pub ssl_session_cache: bool,
    pub ssl_kernel_tls: bool,
    /// `sasl_pwdb` (ferrocache extension): SASL password database file.
    pub sasl_pwdb: Option<PathBuf>,
    /// `sasl_mech_list` (ferrocache extension): the SASL mechanisms offered,
    /// colon-separated (`plain:cram-md5`); overrides `mech_list` in
    /// `$SASL_CONF_PATH/memcached.conf`.
    pub sasl_mech_list: Option<String>,
    /// `cluster_config` (ferrocache extension): the node list served to
    /// `config get cluster` (ElastiCache auto-discovery), reread on SIGHUP.
    pub cluster_config: Option<PathBuf>,
    /// `snapshot_load_unclean` (ferrocache extension): load a `-e` file
    /// even if a daemon loaded it before and may have served since.
    pub snapshot_load_unclean: bool,
    /// `snapshot_path` (ferrocache extension): where online snapshots go
    /// (SIGUSR2, `snapshot_interval`); loaded at start with
    /// `snapshot_load_unclean` when no `-e` file was.
    pub snapshot_path: Option<PathBuf>,
    /// `snapshot_interval` (ferrocache extension): seconds between online
    /// snapshots (0: only on SIGUSR2).
    pub snapshot_interval: u64,
    /// `shutdown_timeout` (ferrocache extension): seconds to drain
    /// connections on shutdown. Default 10.
    pub shutdown_timeout: u64,
    /// `metrics_listen` (ferrocache extension): `ADDR:PORT` of the
    /// Prometheus `/metrics` endpoint.
    pub metrics_listen: Option<String>,
    /// `hot_keys` (ferrocache extension): keys `stats hotkeys` lists
    /// (default [`crate::hotkeys::DEFAULT_TOP`]; its cost is within the
    /// noise of `make bench`, see docs/benchmarks.md); 0 = hot-key
    /// tracking off (`-o hot_keys=off`).
    pub hot_keys: usize,
    /// `hot_keys_sample` (ferrocache extension): `auto` (the default: each
    /// worker takes about [`crate::hotkeys::SAMPLES_PER_SEC`] samples a
    /// second) or one request in N.
    pub hot_keys_sample: crate::hotkeys::Every,
}

impl Extended {
    /// memcached's `lru_maintainer_thread`: on (memcached's `modern`
    /// default) unless `no_lru_maintainer` or `no_modern` came last. The
    /// log's maintenance thread always runs; this decides what `stats` and
    /// `stats settings` report, as memcached's build with it on or off.
    pub fn lru_maintainer(&self) -> bool {
        self.pairs
            .iter()
            .fold(true, |on, (key, _)| match key.as_str() {
                "modern" | "lru_maintainer" => true,
                "no_modern" | "no_lru_maintainer" => false,
                _ => on,
            })
    }
}

impl Default for Extended {
    fn default() -> Self {
        Extended {
            pairs: Vec::new(),
            idle_timeout: 0,
            temporary_ttl: None,
            slab_chunk_max: None,
            hashpower: None,
            read_buf_mem_limit: None,
            maxconns_fast: true,
            track_sizes: false,
            ssl_chain_cert: None,
            ssl_key: None,
            ssl_keyformat: None,
            ssl_verify_mode: None,
            ssl_ciphers: None,
            ssl_ca_cert: None,
            ssl_wbuf_size: None,
            ssl_min_version: None,
            ssl_session_cache: false,
            ssl_kernel_tls: false,
            sasl_pwdb: None,
            sasl_mech_list: None,
            cluster_config: None,
            snapshot_load_unclean: false,
            snapshot_path: None,
            snapshot_interval: 0,
            shutdown_timeout: 10,
            metrics_listen: None,
            hot_keys: crate::hotkeys::DEFAULT_TOP,
            hot_keys_sample: crate::hotkeys::Every::Auto,
        }
    }
}

/// The daemon's configuration. [`Default`] gives memcached's defaults (with
/// ferrocache's safer `listen` and CPU-count `threads`).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `-p`: TCP port (default 11211); as in memcached, 0 = no TCP
    /// listener and -1 = an ephemeral port. See [`Config::tcp_bind_port`].
    pub port: i32,
    /// `-l`: raw listen entries, comma-separated lists flattened.
    pub listen: Vec<String>,
    /// `-l` entries parsed; same order as `listen`.
    pub listen_addrs: Vec<ListenAddr>,
    /// `-U`: UDP port; 0 = off (the default), -1 = an ephemeral port. See
    /// [`Config::udp_bind_port`].
    pub udp_port: i32,
    /// `-s`: UNIX socket path.
    pub unix_socket: Option<PathBuf>,
    /// `-a`: permission bits of the UNIX socket (default 0o700).
    pub unix_mask: u32,
    /// `-m`: item memory in bytes (default 64 MiB).
    pub memory_limit: usize,
    /// `-M`: return an error instead of evicting.
    pub disable_evictions: bool,
    /// `-c`: maximum simultaneous connections (default 1024).
    pub conn_limit: usize,
    /// `-t`: worker threads (default: available parallelism; memcached: 4).
    pub threads: usize,
    /// `-R`: requests handled per connection per event (default 20).
    pub max_reqs_per_event: usize,
    /// `-C`: disable CAS.
    pub disable_cas: bool,
    /// `-b`: listen backlog (default 1024).
    pub listen_backlog: i32,
    /// `-B`: protocol (default auto).
    pub protocol: ProtocolMode,
    /// `-B` was given: memcached refuses `-S` with any `-B` but `binary`.
    pub protocol_given: bool,
    /// `-I`: maximum item size in bytes (default 1 MiB).
    pub max_item_size: usize,
    /// `-f`: slab chunk growth factor (default 1.25, > 1.0).
    pub slab_growth_factor: f64,
    /// `-n`: minimum space for key+value+flags (default 48).
    pub slab_min_size: usize,
    /// `-F`: disable `flush_all`.
    pub disable_flush_all: bool,
    /// `-A`: enable the ascii `shutdown` command.
    pub enable_shutdown: bool,
    /// `-X`: disable `stats cachedump` and `lru_crawler metadump`.
    pub disable_dumping: bool,
    /// `-W`: disable `watch`.
    pub disable_watch: bool,
    /// `-v` count (`-vv` = 2, `-vvv` = 3).
    pub verbosity: u8,
    /// `-u`: user to switch to when started as root.
    pub user: Option<String>,
    /// `-P`: pid file.
    pub pidfile: Option<PathBuf>,
    /// `-d`: daemonize.
    pub daemonize: bool,
    /// `-r`: raise the core file size limit.
    pub enable_coredumps: bool,
    /// `-k`: mlockall.
    pub lock_memory: bool,
    /// `-L`: large pages.
    pub enable_largepages: bool,
    /// `-D`: prefix delimiter for per-prefix stats; given = detail stats on.
    pub prefix_delimiter: Option<char>,
    /// `-S`: SASL.
    pub sasl: bool,
    /// `-Y`: ascii authentication file.
    pub auth_file: Option<PathBuf>,
    /// `-Z`: TLS.
    pub tls: bool,
    /// `-e`: the snapshot file of a warm restart: written on SIGUSR1 or
    /// `shutdown graceful`, loaded at start (`crate::persist`).
    pub memory_file: Option<PathBuf>,
    /// `-N`: number of NAPI ids.
    pub napi_ids: Option<u32>,
    /// `-o` sub-options.
    pub extended: Extended,
    /// Warnings found while parsing (e.g. many threads); see
    /// [`Config::log_startup_notes`].
    pub warnings: Vec<String>,
    /// `logfile PATH` from a config file: where the log goes.
    pub logfile: Option<PathBuf>,
}

fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(4)
        .min(MAX_THREADS)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 11211,
            listen: vec!["127.0.0.1".to_string()],
            listen_addrs: vec![ListenAddr {
                raw: "127.0.0.1".to_string(),
                notls: false,
                host: "127.0.0.1".to_string(),
                port: None,
            }],
            udp_port: 0,
            unix_socket: None,
            unix_mask: 0o700,
            memory_limit: 64 * 1024 * 1024,
            disable_evictions: false,
            conn_limit: 1024,
            threads: default_threads(),
            max_reqs_per_event: 20,
            disable_cas: false,
            listen_backlog: 1024,
            protocol: ProtocolMode::Auto,
            protocol_given: false,
            max_item_size: 1024 * 1024,
            slab_growth_factor: 1.25,
            slab_min_size: 48,
            disable_flush_all: false,
            enable_shutdown: false,
            disable_dumping: false,
            disable_watch: false,
            verbosity: 0,
            user: None,
            pidfile: None,
            daemonize: false,
            enable_coredumps: false,
            lock_memory: false,
            enable_largepages: false,
            prefix_delimiter: None,
            sasl: false,
            auth_file: None,
            tls: false,
            memory_file: None,
            napi_ids: None,
            extended: Extended::default(),
            warnings: Vec::new(),
            logfile: None,
        }
    }
}

impl Config {
    /// The port to bind the TCP listeners on (0: let the kernel choose), or
    /// `None` for no TCP listener: memcached's `-p 0`, and any `-s`, which
    /// disables the network listeners altogether.
    pub fn tcp_bind_port(&self) -> Option<u16> {
        bind_port(self.port).filter(|_| self.unix_socket.is_none())
    }

    /// [`Config::tcp_bind_port`] for UDP (`-U`).
    pub fn udp_bind_port(&self) -> Option<u16> {
        bind_port(self.udp_port).filter(|_| self.unix_socket.is_none())
    }

    /// The first given flag ferrocache does not implement yet, as a message
    /// such as `-S/--enable-sasl is not supported yet`.
    pub fn unsupported(&self) -> Option<String> {
        // memcached's rules: SASL speaks only binary, ASCII auth only text.
        if self.sasl && self.protocol == ProtocolMode::Ascii {
            return Some("-S/--enable-sasl cannot be used with -B ascii".into());
        }
        // memcached: "You cannot allow the ASCII protocol while using SASL".
        if self.sasl && self.protocol_given && self.protocol != ProtocolMode::Binary {
            return Some(
                "-S/--enable-sasl cannot be used with -B auto: SASL needs -B binary".into(),
            );
        }
        if self.auth_file.is_some() && (self.sasl || self.protocol == ProtocolMode::Binary) {
            return Some(
                "-Y/--auth-file cannot be used with the binary protocol (-S or -B binary)".into(),
            );
        }
        // memcached: SASL cannot authenticate a datagram.
        if self.sasl && self.udp_port != 0 {
            return Some("-S/--enable-sasl cannot be used with UDP (-U); use -U 0".into());
        }
        let flag = if self.enable_largepages {
            "-L/--enable-largepages"
        } else if self.napi_ids.is_some() {
            "-N/--napi-ids"
        } else {
            return None;
        };
        Some(format!("{flag} is not supported yet"))
    }

    /// The effective `slab_chunk_max` in bytes.
    pub fn slab_chunk_max(&self) -> usize {
        self.extended
            .slab_chunk_max
            .unwrap_or(DEFAULT_SLAB_CHUNK_MAX)
    }
}

/// The port to bind for a `-p`/`-U` value: `None` when it is 0 (off).
fn bind_port(port: i32) -> Option<u16> {
    match port {
        0 => None,
        -1 => Some(0),
        p => u16::try_from(p).ok(),
    }
}

/// What a [`ConfigError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// `-h/--help`: the message is the help text; print to stdout, exit 0.
    Help,
    /// `-V/--version`: the message is the version line; stdout, exit 0.
    Version,
    /// `-i/--license`: the message is the license note; stdout, exit 0.
    License,
    /// A bad flag or value: one line, exit [`EXIT_USAGE`].
    Invalid,
}

/// A parse failure, or a request to print help/version/license and exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub(super) kind: ConfigErrorKind,
    pub(super) message: String,
}

impl ConfigError {
    pub(super) fn invalid(flag: &str, msg: impl fmt::Display) -> Self {
        ConfigError {
            kind: ConfigErrorKind::Invalid,
            message: format!("{flag}: {msg}"),
        }
    }

    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }

    /// The text to print (help text for `Help`, one line otherwise).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True for help/version/license requests, which are not failures.
    pub fn is_info(&self) -> bool {
        self.kind != ConfigErrorKind::Invalid
    }

    /// Process exit status: 0 for info requests, [`EXIT_USAGE`] otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.is_info() {
            0
        } else {
            EXIT_USAGE
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message.trim_end())
    }
}

impl std::error::Error for ConfigError {}
