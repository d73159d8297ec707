//! Command-line configuration, compatible with memcached 1.6's flags.
//!
//! The goal is that an existing `memcached` invocation, or the option lines of
//! Debian's `/etc/memcached.conf`, work unchanged with ferrocache:
//!
//! * every short and long flag of memcached 1.6.18 is accepted, with the same
//!   meaning and default, except where noted below;
//! * getopt conventions work: clustered short flags (`-vv`, `-dvv`), attached
//!   values (`-p11211`, `-m64`), `--long=value` and `--long value`, unique
//!   prefixes of long names (`--mem=64`), and a later flag overrides an earlier
//!   one (`-p 1 -p 2` means port 2);
//! * every `-o` sub-option memcached 1.6.18 knows is accepted; the ones
//!   ferrocache uses land in typed fields of [`Extended`], the rest are kept in
//!   [`Extended::pairs`] and reported by [`Config::log_startup_notes`].
//!
//! Deliberate differences from memcached:
//!
//! * `-l` defaults to `127.0.0.1` (memcached: every interface).
//! * `-t` defaults to [`std::thread::available_parallelism`] (memcached: 4).
//! * `-m` also accepts `k`/`m`/`g`/`t` suffixes (`-m 1g` is one GiB; memcached
//!   parses it with `atoi` and silently uses 1 MiB). A bare number is MiB, as
//!   in memcached.
//! * `-I` also accepts a `g` suffix (`-I 1g`), and plain byte counts as memcached.
//! * Values memcached silently truncates or wraps (`-m -1`, `-p 70000`,
//!   `-a 999`, `-o idle_timeout=abc`) are errors here.
//! * `-U` defaults to 0 (off), as memcached 1.6 does.
//!
//! Validation of item and slab sizes follows memcached 1.6.18 exactly
//! (messages included): `-I` must be within 1k..=1024m, at most half of `-m`,
//! and must be a multiple of `slab_chunk_max` (default 512 KiB, so `-I`
//! below 512k requires a smaller `-o slab_chunk_max=`), which itself must
//! divide the 1 MiB slab page.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use clap::{error::ErrorKind, ArgAction, CommandFactory, FromArgMatches, Parser};

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

const MIB: u64 = 1024 * 1024;

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
    /// `shutdown_timeout` (ferrocache extension): seconds to drain
    /// connections on shutdown. Default 10.
    pub shutdown_timeout: u64,
    /// `metrics_listen` (ferrocache extension): `ADDR:PORT` of the
    /// Prometheus `/metrics` endpoint.
    pub metrics_listen: Option<String>,
}

impl Default for Extended {
    fn default() -> Self {
        Extended {
            pairs: Vec::new(),
            idle_timeout: 0,
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
            shutdown_timeout: 10,
            metrics_listen: None,
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
    /// `-e`: mmap'd memory file (restartable cache).
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
        let flag = if self.memory_file.is_some() {
            "-e/--memory-file"
        } else if self.enable_largepages {
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

    /// Log parse warnings (`log::warn!`) and the `-o` sub-options ferrocache
    /// accepts but ignores (`log::info!`). Call once the logger is set up.
    pub fn log_startup_notes(&self) {
        for w in &self.warnings {
            log::warn!("{w}");
        }
        for (key, value) in &self.extended.pairs {
            if !is_typed_suboption(key) {
                match value {
                    Some(v) => {
                        log::info!("-o {key}={v}: accepted for memcached compatibility, ignored")
                    }
                    None => log::info!("-o {key}: accepted for memcached compatibility, ignored"),
                }
            }
        }
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
    kind: ConfigErrorKind,
    message: String,
}

impl ConfigError {
    fn invalid(flag: &str, msg: impl fmt::Display) -> Self {
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

const AFTER_HELP: &str = "\
Extended options (-o key[=value],...; repeatable), as in memcached 1.6:
  idle_timeout=SECS        close idle connections (default: 0, never)
  hashpower=N              initial hash table size power, 12-32
  slab_chunk_max=BYTES     largest slab chunk (default: 524288)
  read_buf_mem_limit=MB    limit for connection buffers (default: 0, none)
  maxconns_fast / no_maxconns_fast, track_sizes
  ssl_chain_cert, ssl_key, ssl_keyformat, ssl_verify_mode, ssl_ciphers,
  ssl_ca_cert, ssl_wbuf_size, ssl_session_cache, ssl_kernel_tls,
  ssl_min_version          TLS settings for -Z (rustls; min version
                           2|tlsv1.2 or 3|tlsv1.3)
  sasl_pwdb=FILE           SASL password file (ferrocache)
  sasl_mech_list=M1:M2     SASL mechanisms offered, e.g. plain:cram-md5
                           (default: mech_list in $SASL_CONF_PATH/memcached.conf,
                           else SCRAM-SHA-256 SCRAM-SHA-1 PLAIN; ferrocache)
  cluster_config=FILE      nodes (host|ip|port ...) for `config get cluster`,
                           reread on SIGHUP (ferrocache)
  shutdown_timeout=SECS    connection drain time on shutdown (default: 10;
                           ferrocache)
  metrics_listen=ADDR:PORT serve Prometheus metrics on http://ADDR:PORT/metrics
                           (ferrocache)
All other memcached sub-options (lru_*, slab_*, ext_*, hash_algorithm, modern,
...) are accepted and ignored with a log note.

Not supported yet (exit 64): -e, -L, -N.";

/// The clap definition of the command line (for the man page).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Raw command line; values are strings so that every problem is reported by
/// our own validation with a one-line message naming the flag.
#[derive(Parser, Debug)]
#[command(
    name = "ferrocache",
    version,
    about = "A memcached-compatible cache daemon; accepts memcached 1.6 flags.",
    after_help = AFTER_HELP,
    args_override_self = true,
    infer_long_args = true,
    color = clap::ColorChoice::Never
)]
struct Cli {
    /// TCP port to listen on (default: 11211)
    #[arg(
        short = 'p',
        long = "port",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    port: Option<String>,
    /// UDP port to listen on (default: 0, off)
    #[arg(
        short = 'U',
        long = "udp-port",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    udp_port: Option<String>,
    /// UNIX socket to listen on
    #[arg(
        short = 's',
        long = "unix-socket",
        value_name = "FILE",
        allow_hyphen_values = true
    )]
    unix_socket: Option<PathBuf>,
    /// Access mask for the UNIX socket, in octal (default: 700)
    #[arg(
        short = 'a',
        long = "unix-mask",
        value_name = "MASK",
        allow_hyphen_values = true
    )]
    unix_mask: Option<String>,
    /// Enable the ascii "shutdown" command
    #[arg(short = 'A', long = "enable-shutdown")]
    enable_shutdown: bool,
    /// Interface(s) to listen on: host, host:port, [v6]:port, notls:...;
    /// comma-separated, repeatable (default: 127.0.0.1; memcached: all)
    #[arg(short = 'l', long = "listen", value_name = "ADDR", action = ArgAction::Append, allow_hyphen_values = true)]
    listen: Vec<String>,
    /// Run as a daemon (detach from the terminal; see -P)
    #[arg(short = 'd', long = "daemon")]
    daemon: bool,
    /// Maximize core file limit
    #[arg(short = 'r', long = "enable-coredumps")]
    enable_coredumps: bool,
    /// Assume identity of USER (only when run as root)
    #[arg(
        short = 'u',
        long = "user",
        value_name = "USER",
        allow_hyphen_values = true
    )]
    user: Option<String>,
    /// Item memory in megabytes; k/m/g suffixes allowed (default: 64)
    #[arg(
        short = 'm',
        long = "memory-limit",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    memory_limit: Option<String>,
    /// Return error on memory exhausted instead of evicting
    #[arg(short = 'M', long = "disable-evictions")]
    disable_evictions: bool,
    /// Max simultaneous connections (default: 1024)
    #[arg(
        short = 'c',
        long = "conn-limit",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    conn_limit: Option<String>,
    /// Lock down all paged memory (mlockall; a warning if not permitted)
    #[arg(short = 'k', long = "lock-memory")]
    lock_memory: bool,
    /// Verbose; repeat for more (-vv, -vvv)
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    verbose: u8,
    /// Print license and exit
    #[arg(short = 'i', long = "license")]
    license: bool,
    /// Read options from FILE first, in the format of Debian's
    /// /etc/memcached.conf (one option per line, # comments, `logfile PATH`);
    /// command-line flags override it
    #[arg(long = "config-file", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Save PID in FILE
    #[arg(
        short = 'P',
        long = "pidfile",
        value_name = "FILE",
        allow_hyphen_values = true
    )]
    pidfile: Option<PathBuf>,
    /// Chunk size growth factor (default: 1.25)
    #[arg(
        short = 'f',
        long = "slab-growth-factor",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    slab_growth_factor: Option<String>,
    /// Min space used for key+value+flags in bytes (default: 48)
    #[arg(
        short = 'n',
        long = "slab-min-size",
        value_name = "BYTES",
        allow_hyphen_values = true
    )]
    slab_min_size: Option<String>,
    /// Try to use large memory pages (not supported yet)
    #[arg(short = 'L', long = "enable-largepages")]
    enable_largepages: bool,
    /// Delimiter between key prefixes and IDs for per-prefix stats
    /// (default: ':'); turns detailed stats on
    #[arg(short = 'D', value_name = "CHAR", allow_hyphen_values = true)]
    prefix_delimiter: Option<String>,
    /// Number of worker threads (default: number of CPUs; memcached: 4)
    #[arg(
        short = 't',
        long = "threads",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    threads: Option<String>,
    /// Max requests per event per connection (default: 20)
    #[arg(
        short = 'R',
        long = "max-reqs-per-event",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    max_reqs_per_event: Option<String>,
    /// Disable use of CAS
    #[arg(short = 'C', long = "disable-cas")]
    disable_cas: bool,
    /// Listen backlog queue limit (default: 1024)
    #[arg(
        short = 'b',
        long = "listen-backlog",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    listen_backlog: Option<String>,
    /// Protocol: auto, ascii or binary (default: auto)
    #[arg(
        short = 'B',
        long = "protocol",
        value_name = "NAME",
        allow_hyphen_values = true
    )]
    protocol: Option<String>,
    /// Max item size; k/m suffixes (default: 1m, min: 1k, max: 1024m)
    #[arg(
        short = 'I',
        long = "max-item-size",
        value_name = "SIZE",
        allow_hyphen_values = true
    )]
    max_item_size: Option<String>,
    /// Turn on SASL authentication
    #[arg(short = 'S', long = "enable-sasl")]
    enable_sasl: bool,
    /// Disable the flush_all command
    #[arg(short = 'F', long = "disable-flush-all")]
    disable_flush_all: bool,
    /// Disable stats cachedump and lru_crawler metadump
    #[arg(short = 'X', long = "disable-dumping")]
    disable_dumping: bool,
    /// Disable watch commands
    #[arg(short = 'W', long = "disable-watch")]
    disable_watch: bool,
    /// ASCII authentication file
    #[arg(
        short = 'Y',
        long = "auth-file",
        value_name = "FILE",
        allow_hyphen_values = true
    )]
    auth_file: Option<PathBuf>,
    /// Mmap a file for item memory (not supported yet)
    #[arg(
        short = 'e',
        long = "memory-file",
        value_name = "FILE",
        allow_hyphen_values = true
    )]
    memory_file: Option<PathBuf>,
    /// Enable TLS
    #[arg(short = 'Z', long = "enable-ssl")]
    enable_ssl: bool,
    /// Number of NAPI ids (not supported yet)
    #[arg(
        short = 'N',
        long = "napi-ids",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    napi_ids: Option<String>,
    /// Comma-separated extended options, key[=value]; repeatable (see below)
    #[arg(short = 'o', long = "extended", value_name = "OPTS", action = ArgAction::Append, allow_hyphen_values = true)]
    extended: Vec<String>,
}

/// Parse a size such as `64`, `1.5m`, `512k`, `1g`. A bare number is in
/// `default_unit` bytes. Returns bytes.
fn parse_size(s: &str, default_unit: u64, allow_g: bool) -> Result<u64, String> {
    let t = s.trim();
    let (num, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let unit = match c.to_ascii_lowercase() {
                'k' => 1024,
                'm' => MIB,
                'g' if allow_g => 1024 * MIB,
                't' if allow_g => 1024 * 1024 * MIB,
                _ => return Err(format!("invalid value '{s}': unknown size suffix '{c}'")),
            };
            (&t[..i], unit)
        }
        _ => (t, default_unit),
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!("invalid value '{s}': expected a non-negative size"));
    }
    if let Ok(n) = num.parse::<u64>() {
        return n
            .checked_mul(unit)
            .ok_or_else(|| format!("invalid value '{s}': too large"));
    }
    let f: f64 = num
        .parse()
        .map_err(|_| format!("invalid value '{s}': expected a non-negative size"))?;
    let bytes = (f * unit as f64).round();
    if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
        return Err(format!("invalid value '{s}': too large"));
    }
    Ok(bytes as u64)
}

fn parse_uint<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    let t = s.trim();
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("invalid value '{s}': expected {what}"));
    }
    t.parse::<T>()
        .map_err(|_| format!("invalid value '{s}': out of range ({what})"))
}

/// A `-p`/`-U` value: 0-65535, or -1 (an ephemeral port), as memcached takes them.
fn parse_port(s: &str) -> Result<i32, String> {
    if s.trim() == "-1" {
        return Ok(-1);
    }
    parse_uint::<u16>(s, "a port number 0-65535, or -1 for an ephemeral port").map(i32::from)
}

/// The port to bind for a `-p`/`-U` value: `None` when it is 0 (off).
fn bind_port(port: i32) -> Option<u16> {
    match port {
        0 => None,
        -1 => Some(0),
        p => u16::try_from(p).ok(),
    }
}

fn to_usize(v: u64, flag: &str, s: &str) -> Result<usize, ConfigError> {
    usize::try_from(v)
        .map_err(|_| ConfigError::invalid(flag, format!("invalid value '{s}': too large")))
}

/// How a known `-o` sub-option takes its value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SubKind {
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

/// Every `-o` sub-option memcached 1.6.18 accepts, plus ferrocache's own.
const SUBOPTIONS: &[(&str, SubKind)] = &[
    ("maxconns_fast", SubKind::Flag),
    ("no_maxconns_fast", SubKind::Flag),
    ("hashpower", SubKind::Uint),
    ("no_hashexpand", SubKind::Flag),
    ("tail_repair_time", SubKind::Uint),
    ("hash_algorithm", SubKind::Str),
    ("slab_reassign", SubKind::Flag),
    ("no_slab_reassign", SubKind::Flag),
    ("slab_automove", SubKind::OptUint),
    ("no_slab_automove", SubKind::Flag),
    ("slab_automove_ratio", SubKind::Float),
    ("slab_automove_window", SubKind::Uint),
    ("slab_automove_freeratio", SubKind::Float),
    ("slab_chunk_max", SubKind::Str),
    ("slab_sizes", SubKind::OptStr),
    ("lru_crawler", SubKind::Flag),
    ("no_lru_crawler", SubKind::Flag),
    ("lru_crawler_sleep", SubKind::Uint),
    ("lru_crawler_tocrawl", SubKind::Uint),
    ("lru_maintainer", SubKind::Flag),
    ("no_lru_maintainer", SubKind::Flag),
    ("hot_lru_pct", SubKind::Uint),
    ("warm_lru_pct", SubKind::Uint),
    ("hot_max_factor", SubKind::Float),
    ("warm_max_factor", SubKind::Float),
    ("temporary_ttl", SubKind::Uint),
    ("idle_timeout", SubKind::Uint),
    ("watcher_logbuf_size", SubKind::Uint),
    ("worker_logbuf_size", SubKind::Uint),
    ("read_buf_mem_limit", SubKind::Uint),
    ("resp_obj_mem_limit", SubKind::OptStr),
    ("track_sizes", SubKind::Flag),
    ("inline_ascii_resp", SubKind::Flag),
    ("no_inline_ascii_resp", SubKind::Flag),
    ("no_chunked_items", SubKind::Flag),
    ("modern", SubKind::Flag),
    ("no_modern", SubKind::Flag),
    ("drop_privileges", SubKind::Flag),
    ("no_drop_privileges", SubKind::Flag),
    ("relaxed_privileges", SubKind::Flag),
    ("sock_cookie_id", SubKind::OptUint),
    ("ext_path", SubKind::Str),
    ("ext_page_size", SubKind::Uint),
    ("ext_wbuf_size", SubKind::Uint),
    ("ext_threads", SubKind::Uint),
    ("ext_io_depth", SubKind::Uint),
    ("ext_item_size", SubKind::Uint),
    ("ext_item_age", SubKind::Uint),
    ("ext_low_ttl", SubKind::Uint),
    ("ext_drop_unread", SubKind::Flag),
    ("ext_recache_rate", SubKind::Uint),
    ("ext_compact_under", SubKind::Uint),
    ("ext_drop_under", SubKind::Uint),
    ("ext_max_frag", SubKind::Float),
    ("ext_max_sleep", SubKind::Uint),
    ("ssl_chain_cert", SubKind::Str),
    ("ssl_key", SubKind::Str),
    ("ssl_keyformat", SubKind::Str),
    ("ssl_verify_mode", SubKind::Str),
    ("ssl_ciphers", SubKind::Str),
    ("ssl_ca_cert", SubKind::Str),
    ("ssl_wbuf_size", SubKind::Uint),
    ("ssl_session_cache", SubKind::Flag),
    ("ssl_kernel_tls", SubKind::Flag),
    ("ssl_min_version", SubKind::Str),
    // ferrocache extensions
    ("sasl_pwdb", SubKind::Str),
    ("sasl_mech_list", SubKind::Str),
    ("cluster_config", SubKind::Str),
    ("shutdown_timeout", SubKind::Uint),
    ("metrics_listen", SubKind::Str),
];

/// Sub-options stored in typed fields of [`Extended`].
const TYPED_SUBOPTIONS: &[&str] = &[
    "idle_timeout",
    "slab_chunk_max",
    "hashpower",
    "read_buf_mem_limit",
    "maxconns_fast",
    "no_maxconns_fast",
    "track_sizes",
    "ssl_chain_cert",
    "ssl_key",
    "ssl_keyformat",
    "ssl_verify_mode",
    "ssl_ciphers",
    "ssl_ca_cert",
    "ssl_wbuf_size",
    "ssl_min_version",
    "ssl_session_cache",
    "ssl_kernel_tls",
    "sasl_pwdb",
    "sasl_mech_list",
    "cluster_config",
    "shutdown_timeout",
    "metrics_listen",
];

fn is_typed_suboption(key: &str) -> bool {
    TYPED_SUBOPTIONS.contains(&key)
}

const O: &str = "-o/--extended";

fn parse_extended(items: &[String]) -> Result<Extended, ConfigError> {
    let mut ext = Extended::default();
    let mut hot_lru_pct: u64 = 20;
    let mut warm_lru_pct: u64 = 40;
    for item in items {
        for part in item.split(',') {
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (part, None),
            };
            let kind = SUBOPTIONS
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, kind)| *kind)
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
                "shutdown_timeout" => ext.shutdown_timeout = uint(),
                "metrics_listen" => ext.metrics_listen = string(),
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
                    let n = parse_size(&v, 1, false).map_err(bad)?;
                    if n == 0 {
                        return Err(bad("must be greater than 0".to_string()));
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
                "sasl_mech_list" => ext.sasl_mech_list = value.map(str::to_string),
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

/// Turn a clap error into a one-line [`ConfigError`], or a help/version
/// request.
fn from_clap(err: clap::Error) -> ConfigError {
    let rendered = err.render().to_string();
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            ConfigError {
                kind: ConfigErrorKind::Help,
                message: rendered,
            }
        }
        ErrorKind::DisplayVersion => ConfigError {
            kind: ConfigErrorKind::Version,
            message: rendered,
        },
        _ => {
            let line = rendered
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("invalid arguments");
            let line = line.strip_prefix("error: ").unwrap_or(line);
            ConfigError {
                kind: ConfigErrorKind::Invalid,
                message: line.to_string(),
            }
        }
    }
}

/// Parse a command line (the first item is the program name).
pub fn parse_args<I, T>(args: I) -> Result<Config, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let (args, file) = expand_config_file(args)?;
    let matches = Cli::command()
        .try_get_matches_from(args)
        .map_err(from_clap)?;
    let cli = Cli::from_arg_matches(&matches).map_err(from_clap)?;
    let mut config = build(cli)?;
    if let Some(file) = file {
        config.logfile = file.logfile;
        config.warnings.extend(file.notes);
    }
    Ok(config)
}

/// What a config file said beyond plain options.
struct ConfigFile {
    logfile: Option<PathBuf>,
    notes: Vec<String>,
}

/// With `--config-file FILE`, put the file's options before the command
/// line's, dropping any the command line also gives (so it overrides even
/// repeatable flags such as `-l`).
fn expand_config_file(
    args: Vec<OsString>,
) -> Result<(Vec<OsString>, Option<ConfigFile>), ConfigError> {
    let invalid = |e: String| ConfigError::invalid("--config-file", e);
    let mut path = None;
    let mut rest = Vec::with_capacity(args.len());
    let mut iter = args.into_iter();
    rest.extend(iter.next());
    while let Some(a) = iter.next() {
        let s = a.to_string_lossy();
        if s == "--config-file" {
            path = Some(PathBuf::from(
                iter.next()
                    .ok_or_else(|| invalid("needs a file name".into()))?,
            ));
        } else if let Some(p) = s.strip_prefix("--config-file=") {
            path = Some(PathBuf::from(p));
        } else {
            rest.push(a);
        }
    }
    let Some(path) = path else {
        return Ok((rest, None));
    };
    let text =
        std::fs::read_to_string(&path).map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    let given: Vec<String> = rest[1..]
        .iter()
        .filter_map(|a| flag_id(&a.to_string_lossy()))
        .collect();
    let mut file = ConfigFile {
        logfile: None,
        notes: Vec::new(),
    };
    let mut merged = vec![rest[0].clone()];
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first == "logfile" {
            file.logfile = words.next().map(PathBuf::from);
            continue;
        }
        let Some(id) = flag_id(first) else {
            return Err(invalid(format!(
                "{}:{}: not an option: {line}",
                path.display(),
                n + 1
            )));
        };
        if id == "daemon" {
            // Debian's file says -d for its init script; a service manager
            // (or the foreground) decides that here.
            file.notes.push(format!(
                "{}: -d ignored; run under a service manager instead",
                path.display()
            ));
            continue;
        }
        if given.contains(&id) {
            continue;
        }
        merged.push(first.into());
        merged.extend(words.map(OsString::from));
    }
    merged.extend(rest.into_iter().skip(1));
    Ok((merged, Some(file)))
}

/// The clap id of the option an argument names (`-m64`, `-vv`, `--port=1`).
fn flag_id(arg: &str) -> Option<String> {
    let cmd = Cli::command();
    let found = if let Some(long) = arg.strip_prefix("--") {
        let long = long.split('=').next().unwrap_or("");
        cmd.get_arguments().find(|a| a.get_long() == Some(long))
    } else {
        let short = arg.strip_prefix('-')?.chars().next()?;
        cmd.get_arguments().find(|a| a.get_short() == Some(short))
    };
    found.map(|a| a.get_id().to_string())
}

fn build(cli: Cli) -> Result<Config, ConfigError> {
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

/// Parse [`std::env::args_os`]. Help, version and license requests print to
/// stdout and exit 0. Any error, or a flag ferrocache does not support yet
/// ([`Config::unsupported`]), prints `ferrocache: <message>` to stderr and
/// exits [`EXIT_USAGE`] (64), as memcached does for bad settings.
pub fn from_env_or_exit() -> Config {
    use std::io::Write;
    // Write errors (closed stdout/stderr) are ignored: never panic here.
    let fail = |msg: &dyn fmt::Display| -> ! {
        let _ = writeln!(std::io::stderr(), "ferrocache: {msg}");
        std::process::exit(EXIT_USAGE);
    };
    match parse_args(std::env::args_os()) {
        Ok(config) => {
            if let Some(msg) = config.unsupported() {
                fail(&msg);
            }
            config
        }
        Err(e) if e.is_info() => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", e.message().trim_end());
            let _ = out.flush();
            std::process::exit(0);
        }
        Err(e) => fail(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        parse_args(std::iter::once("ferrocache").chain(args.iter().copied()))
    }

    fn ok(args: &[&str]) -> Config {
        match parse(args) {
            Ok(c) => c,
            Err(e) => panic!("{args:?} failed: {e}"),
        }
    }

    fn err(args: &[&str]) -> String {
        match parse(args) {
            Ok(c) => panic!("{args:?} unexpectedly parsed: {c:?}"),
            Err(e) => {
                assert_eq!(e.kind(), ConfigErrorKind::Invalid, "{args:?}: {e}");
                assert_eq!(e.exit_code(), EXIT_USAGE);
                let msg = e.to_string();
                assert!(!msg.contains('\n'), "{args:?}: multi-line error {msg:?}");
                msg
            }
        }
    }

    #[test]
    fn defaults() {
        let c = ok(&[]);
        assert_eq!(c, Config::default());
        assert_eq!(c.port, 11211);
        assert_eq!(c.listen, vec!["127.0.0.1"]);
        assert_eq!(c.udp_port, 0);
        assert_eq!(c.unix_mask, 0o700);
        assert_eq!(c.memory_limit, 64 << 20);
        assert_eq!(c.conn_limit, 1024);
        assert!(c.threads >= 1);
        assert_eq!(c.max_reqs_per_event, 20);
        assert_eq!(c.listen_backlog, 1024);
        assert_eq!(c.protocol, ProtocolMode::Auto);
        assert_eq!(c.max_item_size, 1 << 20);
        assert_eq!(c.slab_growth_factor, 1.25);
        assert_eq!(c.slab_min_size, 48);
        assert_eq!(c.extended.idle_timeout, 0);
        assert_eq!(c.extended.shutdown_timeout, 10);
        assert!(c.extended.maxconns_fast);
        assert_eq!(c.slab_chunk_max(), 512 * 1024);
        assert_eq!(c.unsupported(), None);
    }

    #[test]
    fn debian_memcached_conf() {
        // Option lines of Debian 12's stock /etc/memcached.conf ("logfile" is
        // read by the init wrapper, not memcached).
        let c = ok(&[
            "-d",
            "-m",
            "64",
            "-p",
            "11211",
            "-u",
            "memcache",
            "-l",
            "127.0.0.1",
            "-P",
            "/var/run/memcached/memcached.pid",
        ]);
        assert!(c.daemonize);
        assert_eq!(c.memory_limit, 64 << 20);
        assert_eq!(c.port, 11211);
        assert_eq!(c.user.as_deref(), Some("memcache"));
        assert_eq!(c.listen, vec!["127.0.0.1"]);
        assert_eq!(
            c.pidfile,
            Some(PathBuf::from("/var/run/memcached/memcached.pid"))
        );
        assert_eq!(c.unsupported(), None);
    }

    #[test]
    fn table_of_good_invocations() {
        type Check = fn(&Config) -> bool;
        let table: &[(&[&str], Check)] = &[
            (&["-p11300"], |c| c.port == 11300),
            (&["--port=11300"], |c| c.port == 11300),
            (&["--port", "11300"], |c| c.port == 11300),
            (&["--por=11300"], |c| c.port == 11300),
            (&["-p", "1", "-p", "2"], |c| c.port == 2),
            (&["-p", "0"], |c| c.port == 0 && c.tcp_bind_port().is_none()),
            (&["-p", "-1"], |c| {
                c.port == -1 && c.tcp_bind_port() == Some(0)
            }),
            (&["-U", "0"], |c| {
                c.udp_port == 0 && c.udp_bind_port().is_none()
            }),
            (&["-U", "-1"], |c| {
                c.udp_port == -1 && c.udp_bind_port() == Some(0) && c.tcp_bind_port() == Some(0)
            }),
            // memcached: -U without -p moves TCP to the same port.
            (&["-U", "11300"], |c| c.port == 11300 && c.udp_port == 11300),
            (&["-p", "11211", "-U", "11300"], |c| c.port == 11211),
            (&["-p", "-1", "-U", "11300"], |c| {
                c.tcp_bind_port() == Some(0)
            }),
            // A unix socket disables TCP and UDP, as in memcached.
            (&["-s", "/tmp/mc.sock", "-p", "11300", "-U", "11301"], |c| {
                c.tcp_bind_port().is_none() && c.udp_bind_port().is_none()
            }),
            (&["-v"], |c| c.verbosity == 1),
            (&["-vv"], |c| c.verbosity == 2),
            (&["-vvv"], |c| c.verbosity == 3),
            (&["-v", "-v", "--verbose"], |c| c.verbosity == 3),
            (&["-dvv"], |c| c.daemonize && c.verbosity == 2),
            (&["-m", "64"], |c| c.memory_limit == 64 << 20),
            (&["-m64"], |c| c.memory_limit == 64 << 20),
            (&["-m", "64m"], |c| c.memory_limit == 64 << 20),
            (&["-m", "1g"], |c| c.memory_limit == 1 << 30),
            (&["-m", "4096"], |c| c.memory_limit == 4096 << 20),
            (&["-m", "2048k"], |c| c.memory_limit == 2 << 20),
            (&["-M", "-C", "-F", "-A", "-X", "-W", "-r"], |c| {
                c.disable_evictions
                    && c.disable_cas
                    && c.disable_flush_all
                    && c.enable_shutdown
                    && c.disable_dumping
                    && c.disable_watch
                    && c.enable_coredumps
            }),
            (&["-c", "4096"], |c| c.conn_limit == 4096),
            (&["-t", "8"], |c| c.threads == 8 && c.warnings.is_empty()),
            (&["-t", "100"], |c| {
                c.threads == 100 && c.warnings.len() == 1
            }),
            (&["-R", "5"], |c| c.max_reqs_per_event == 5),
            (&["-b", "4096"], |c| c.listen_backlog == 4096),
            (&["-B", "ascii"], |c| c.protocol == ProtocolMode::Ascii),
            (&["-B", "binary"], |c| c.protocol == ProtocolMode::Binary),
            (&["--protocol=auto"], |c| c.protocol == ProtocolMode::Auto),
            (&["-I", "2m"], |c| c.max_item_size == 2 << 20),
            (&["-I", "2M"], |c| c.max_item_size == 2 << 20),
            (&["-I", "1536k"], |c| c.max_item_size == 1536 << 10),
            (&["-I", "1.5m"], |c| c.max_item_size == 1536 << 10),
            (&["-I", "512k"], |c| c.max_item_size == 512 << 10),
            (&["-I", "1048576"], |c| c.max_item_size == 1 << 20),
            (&["-m", "2048", "-I", "1024m"], |c| {
                c.max_item_size == 1 << 30
            }),
            (&["-m", "2g", "-I", "1g"], |c| c.max_item_size == 1 << 30),
            (&["-I", "1k", "-o", "slab_chunk_max=1024"], |c| {
                c.max_item_size == 1024 && c.extended.slab_chunk_max == Some(1024)
            }),
            (&["-I", "4m", "-o", "slab_chunk_max=1m"], |c| {
                c.slab_chunk_max() == 1 << 20
            }),
            (&["-f", "1.05"], |c| c.slab_growth_factor == 1.05),
            (&["-n", "96"], |c| c.slab_min_size == 96),
            (&["-a", "0755"], |c| c.unix_mask == 0o755),
            (&["-a", "700"], |c| c.unix_mask == 0o700),
            (&["-s", "/tmp/mc.sock"], |c| {
                c.unix_socket == Some(PathBuf::from("/tmp/mc.sock"))
            }),
            (&["-D", "|"], |c| c.prefix_delimiter == Some('|')),
            (&["-l", "0.0.0.0"], |c| c.listen == ["0.0.0.0"]),
            (&["-l", "127.0.0.1,::1", "-l", "[::1]:11212"], |c| {
                c.listen == ["127.0.0.1", "::1", "[::1]:11212"]
                    && c.listen_addrs[1].host == "::1"
                    && c.listen_addrs[1].port.is_none()
                    && c.listen_addrs[2].host == "::1"
                    && c.listen_addrs[2].port == Some(11212)
            }),
            (&["-l", "notls:10.0.0.1:11212"], |c| {
                c.listen_addrs[0].notls
                    && c.listen_addrs[0].host == "10.0.0.1"
                    && c.listen_addrs[0].port == Some(11212)
                    && c.listen[0] == "notls:10.0.0.1:11212"
            }),
            (&["-o", "idle_timeout=30"], |c| {
                c.extended.idle_timeout == 30
            }),
            (&["-o", "hashpower=20,idle_timeout=5"], |c| {
                c.extended.hashpower == Some(20) && c.extended.idle_timeout == 5
            }),
            (&["-ohashpower=16", "--extended=track_sizes"], |c| {
                c.extended.hashpower == Some(16) && c.extended.track_sizes
            }),
            (&["-o", "read_buf_mem_limit=32"], |c| {
                c.extended.read_buf_mem_limit == Some(32 << 20)
            }),
            (&["-o", "read_buf_mem_limit=0"], |c| {
                c.extended.read_buf_mem_limit.is_none()
            }),
            (&["-o", "no_maxconns_fast"], |c| !c.extended.maxconns_fast),
            (&["-o", "cluster_config=/etc/fc.cluster"], |c| {
                c.extended.cluster_config == Some(PathBuf::from("/etc/fc.cluster"))
            }),
            (&["-o", "shutdown_timeout=0,sasl_pwdb=/etc/fc.pw"], |c| {
                c.extended.shutdown_timeout == 0
                    && c.extended.sasl_pwdb == Some(PathBuf::from("/etc/fc.pw"))
            }),
            (
                &[
                    "-o",
                    "ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_verify_mode=2,ssl_min_version=3",
                    "-o",
                    "ssl_ciphers=HIGH:!aNULL,ssl_session_cache,ssl_kernel_tls",
                ],
                |c| {
                    c.extended.ssl_chain_cert.as_deref() == Some("/c.pem")
                        && c.extended.ssl_key.as_deref() == Some("/k.pem")
                        && c.extended.ssl_verify_mode.as_deref() == Some("2")
                        && c.extended.ssl_min_version.as_deref() == Some("3")
                        && c.extended.ssl_ciphers.as_deref() == Some("HIGH:!aNULL")
                        && c.extended.ssl_session_cache
                        && c.extended.ssl_kernel_tls
                },
            ),
            (
                &[
                    "-o",
                    "modern,no_lru_crawler,lru_crawler_sleep=100,lru_crawler_tocrawl=0",
                    "-o",
                    "hot_lru_pct=20,warm_lru_pct=40,hot_max_factor=0.2,warm_max_factor=2.0",
                    "-o",
                    "slab_reassign,slab_automove=1,slab_automove_ratio=0.8,temporary_ttl=61",
                    "-o",
                    "hash_algorithm=xxh3,tail_repair_time=0,watcher_logbuf_size=256",
                    "-o",
                    "ext_path=/mnt/d1/extstore:1G,ext_threads=2,ext_max_frag=0.8",
                ],
                |c| c.extended.pairs.len() == 18 && c.extended.pairs[17].0 == "ext_max_frag",
            ),
        ];
        for (args, check) in table {
            let c = ok(args);
            assert!(check(&c), "{args:?} gave {c:?}");
        }
    }

    #[test]
    fn table_of_errors() {
        let table: &[(&[&str], &str)] = &[
            (&["-m", "-1"], "-m/--memory-limit: invalid value '-1'"),
            (&["-m", "0"], "-m/--memory-limit: must be greater than 0"),
            (&["-m", "abc"], "-m/--memory-limit"),
            (&["-m", "99999999999999999999"], "-m/--memory-limit"),
            (&["-m", "99999999999t"], "-m/--memory-limit"),
            (&["-m", "1"], "1/2 of memory max"),
            (
                &["-t", "0"],
                "-t/--threads: Number of threads must be greater than 0",
            ),
            (&["-t", "abc"], "-t/--threads"),
            (&["-t", "100000"], "-t/--threads: at most"),
            (
                &["-I", "2000m"],
                "-I/--max-item-size: Cannot set item size limit higher than a gigabyte",
            ),
            (&["-I", "1025m", "-m", "8192"], "higher than a gigabyte"),
            (&["-I", "2g", "-m", "8g"], "higher than a gigabyte"),
            (
                &["-I", "500"],
                "Item max size cannot be less than 1024 bytes",
            ),
            (&["-I", "1023"], "less than 1024 bytes"),
            (&["-I", "abc"], "-I/--max-item-size"),
            (&["-I", "5x"], "unknown size suffix"),
            (
                &["-I", "1k"],
                "slab_chunk_max (bytes: 524288) cannot be larger than -I",
            ),
            (
                &["-I", "600k"],
                "must be evenly divisible by slab_chunk_max",
            ),
            (&["-I", "1024m"], "1/2 of memory max"),
            (
                &["-o", "slab_chunk_max=3"],
                "must be evenly divisible by slab_chunk_max (bytes: 3)",
            ),
            (
                &["-o", "slab_chunk_max=2097152"],
                "cannot be larger than -I",
            ),
            (
                &["-I", "4m", "-o", "slab_chunk_max=2m"],
                "must divide evenly into 1048576",
            ),
            (&["-o", "slab_chunk_max=0"], "must be greater than 0"),
            (
                &["-f", "1.0"],
                "-f/--slab-growth-factor: Factor must be greater than 1",
            ),
            (&["-f", "0.5"], "Factor must be greater than 1"),
            (&["-f", "nan"], "Factor must be greater than 1"),
            (&["-f", "inf"], "Factor must be greater than 1"),
            (&["-f", "abc"], "-f/--slab-growth-factor: invalid value"),
            (&["-p", "70000"], "-p/--port: invalid value '70000'"),
            (&["-p", "-2"], "-p/--port"),
            (&["-U", "-2"], "-U/--udp-port"),
            (&["-p", "abc"], "-p/--port"),
            (&["-U", "65536"], "-U/--udp-port"),
            (&["-c", "abc"], "-c/--conn-limit: invalid value 'abc'"),
            (&["-c", "0"], "Maximum connections must be greater than 0"),
            (
                &["-R", "0"],
                "Number of requests per event must be greater than 0",
            ),
            (&["-R", "-1"], "-R/--max-reqs-per-event"),
            (&["-b", "-5"], "-b/--listen-backlog"),
            (&["-b", "99999999999"], "-b/--listen-backlog"),
            (&["-n", "0"], "Chunk size must be greater than 0"),
            (&["-n", "600000"], "-n/--slab-min-size"),
            (
                &["-B", "foo"],
                "-B/--protocol: Invalid value for binding protocol: foo",
            ),
            (&["-B", "-p"], "binding protocol: -p"),
            (&["-a", "999"], "-a/--unix-mask: invalid value '999'"),
            (&["-a", "1777"], "-a/--unix-mask"),
            (&["-D", "ab"], "-D: invalid value 'ab'"),
            (&["-D", ""], "-D"),
            (&["-u", ""], "-u/--user"),
            (&["-N", "x"], "-N/--napi-ids"),
            (&["-l", "[::1"], "-l/--listen"),
            (
                &["-l", "127.0.0.1:99999"],
                "-l/--listen: '127.0.0.1:99999': invalid port",
            ),
            (&["-l", ""], "-l/--listen"),
            (&["-l", "a,,b"], "-l/--listen"),
            (
                &["-o", "bogus"],
                "-o/--extended: Illegal suboption \"bogus\"",
            ),
            (
                &["-o", "idle_timeout=5,bogus=1"],
                "Illegal suboption \"bogus=1\"",
            ),
            (&["-o", ""], "Illegal suboption \"\""),
            (
                &["-o", "idle_timeout=abc"],
                "-o/--extended: idle_timeout: invalid value 'abc'",
            ),
            (
                &["-o", "idle_timeout=-1"],
                "idle_timeout: invalid value '-1'",
            ),
            (&["-o", "idle_timeout"], "Missing idle_timeout argument"),
            (
                &["-o", "hashpower=11"],
                "Initial hashtable multiplier of 11 is too low",
            ),
            (
                &["-o", "hashpower=33"],
                "Initial hashtable multiplier of 33 is too high",
            ),
            (
                &["-o", "hashpower=99999999999999999999999"],
                "hashpower: invalid value",
            ),
            (
                &["-o", "read_buf_mem_limit=1g"],
                "read_buf_mem_limit: invalid value",
            ),
            (
                &["-o", "hot_lru_pct=90"],
                "hot_lru_pct must be > 1 and < 80",
            ),
            (
                &["-o", "hot_lru_pct=50,warm_lru_pct=50"],
                "cannot be more than 80% combined",
            ),
            (
                &["-o", "lru_crawler_sleep=2000000"],
                "between 0 and 1 second",
            ),
            (
                &["-o", "slab_automove=5"],
                "slab_automove must be between 0 and 2",
            ),
            (&["-o", "slab_automove_ratio=abc"], "slab_automove_ratio"),
            (
                &["-o", "hash_algorithm=foo"],
                "Unknown hash_algorithm option",
            ),
            (&["-o", "ssl_verify_mode=9"], "Invalid ssl_verify_mode"),
            (&["-o", "ssl_min_version=9"], "Invalid ssl_min_version"),
            (&["-o", "ext_max_frag=x"], "ext_max_frag: invalid value 'x'"),
            (&["-x"], "unexpected argument '-x'"),
            (&["--bogus"], "unexpected argument '--bogus'"),
            (&["--enable-s"], "--enable-s"),
            (&["-p"], "--port"),
            (&["extra"], "unexpected argument 'extra'"),
        ];
        for (args, fragment) in table {
            let msg = err(args);
            assert!(
                msg.contains(fragment),
                "{args:?}: error {msg:?} lacks {fragment:?}"
            );
        }
    }

    #[test]
    fn help_version_license() {
        for args in [&["-h"][..], &["--help"][..]] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.kind(), ConfigErrorKind::Help);
            assert_eq!(e.exit_code(), 0);
            let text = e.message();
            for needle in [
                "--port",
                "default: 11211",
                "--memory-limit",
                "-o, --extended",
                "idle_timeout",
            ] {
                assert!(text.contains(needle), "help lacks {needle:?}");
            }
        }
        for args in [&["-V"][..], &["--version"][..]] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.kind(), ConfigErrorKind::Version);
            assert_eq!(
                e.to_string(),
                format!("ferrocache {}", env!("CARGO_PKG_VERSION"))
            );
        }
        let e = parse(&["-i"]).unwrap_err();
        assert_eq!(e.kind(), ConfigErrorKind::License);
        assert!(e.is_info());
    }

    #[test]
    fn unsupported_flags() {
        let table: &[(&[&str], &str)] = &[
            (
                &["-S", "-B", "ascii"],
                "-S/--enable-sasl cannot be used with -B ascii",
            ),
            (
                &["-Y", "/etc/auth", "-B", "binary"],
                "-Y/--auth-file cannot",
            ),
            (&["-Y", "/etc/auth", "-S"], "-Y/--auth-file cannot"),
            // memcached's t/binary-sasl.t: SASL with protocol negotiation.
            (
                &["-S", "-B", "auto"],
                "-S/--enable-sasl cannot be used with -B auto",
            ),
            (&["-S", "-B", "binary", "-B", "auto"], "-B auto"),
            (
                &["-S", "-U", "11211"],
                "-S/--enable-sasl cannot be used with UDP",
            ),
            (&["-e", "/dev/shm/mc"], "-e/--memory-file"),
            (&["-L"], "-L/--enable-largepages"),
            (&["-N", "2"], "-N/--napi-ids"),
        ];
        for (args, fragment) in table {
            let c = ok(args);
            let msg = c.unsupported().unwrap_or_default();
            assert!(msg.contains(fragment), "{args:?}: {msg:?}");
        }
        assert_eq!(ok(&["-U", "0", "-M", "-r"]).unsupported(), None);
        assert_eq!(ok(&["-d", "-k"]).unsupported(), None);
        assert_eq!(ok(&["-U", "11211"]).unsupported(), None);
        assert_eq!(ok(&["-S"]).unsupported(), None);
        assert_eq!(ok(&["-Z"]).unsupported(), None);
        assert_eq!(ok(&["-S", "-B", "binary"]).unsupported(), None);
        assert_eq!(ok(&["-Y", "/etc/auth", "-B", "ascii"]).unsupported(), None);
    }

    #[test]
    fn every_memcached_suboption_is_accepted() {
        for (name, kind) in SUBOPTIONS {
            let arg = match (name, kind) {
                (&"hashpower", _) => "hashpower=16".to_string(),
                (&"hash_algorithm", _) => "hash_algorithm=murmur3".to_string(),
                (&"hot_lru_pct", _) | (&"warm_lru_pct", _) => format!("{name}=20"),
                (&"slab_automove_ratio", _) => "slab_automove_ratio=0.5".to_string(),
                (&"slab_chunk_max", _) => "slab_chunk_max=524288".to_string(),
                (n, SubKind::Uint) if n.starts_with("ssl_") => format!("{n}=16"),
                (&"ssl_verify_mode", _) | (&"ssl_min_version", _) => format!("{name}=1"),
                (_, SubKind::Flag) | (_, SubKind::OptUint) | (_, SubKind::OptStr) => {
                    name.to_string()
                }
                (_, SubKind::Uint) => format!("{name}=1"),
                (_, SubKind::Float) => format!("{name}=0.5"),
                (_, SubKind::Str) => format!("{name}=x"),
            };
            let c = ok(&["-o", &arg]);
            assert_eq!(c.extended.pairs.len(), 1, "{arg}");
            assert_eq!(c.extended.pairs[0].0, *name);
        }
    }

    #[test]
    fn non_utf8_arguments() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(vec![b'1', 0xff]);
        let e = parse_args([
            OsString::from("ferrocache"),
            OsString::from("-p"),
            bad.clone(),
        ])
        .unwrap_err();
        assert_eq!(e.kind(), ConfigErrorKind::Invalid);
        assert!(!e.to_string().contains('\n'), "{e}");
        // Paths may be any bytes.
        let c = parse_args([OsString::from("ferrocache"), OsString::from("-P"), bad]).unwrap();
        assert!(c.pidfile.is_some());
    }

    #[test]
    fn absurd_inputs_never_panic() {
        let junk = [
            "",
            "-",
            "--",
            "=",
            "-=",
            "\u{0}",
            "💥",
            "-1",
            "1e309",
            "0x10",
            "18446744073709551616",
            "1.5.5",
            ".",
            "k",
            "m",
            "-o",
            "=,=,",
            ",",
            "[",
            "]:",
            "[]:1",
        ];
        let flags = [
            "-p", "-U", "-s", "-a", "-l", "-u", "-m", "-c", "-P", "-f", "-n", "-D", "-t", "-R",
            "-b", "-B", "-I", "-Y", "-e", "-N", "-o",
        ];
        for flag in flags {
            for v in junk {
                let _ = parse(&[flag, v]);
                let _ = parse(&[&format!("{flag}{v}")]);
            }
        }
    }
}
