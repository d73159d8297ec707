//! The command line as clap sees it: every memcached 1.6 flag, values kept
//! as strings so `validate` reports each problem in one line that
//! names the flag; and the value parsers (sizes, integers) the checks use.

use std::path::PathBuf;

use clap::{error::ErrorKind, ArgAction, CommandFactory, Parser};

use super::settings::{ConfigError, ConfigErrorKind, MIB};

const AFTER_HELP: &str = "\
Extended options (-o key[=value],...; repeatable), as in memcached 1.6:
  idle_timeout=SECS        close idle connections (default: 0, never)
  hashpower=N              initial hash table size power, 12-32
  slab_chunk_max=BYTES     largest slab chunk (default: 524288); a number
                           below 1024 is kilobytes, as newer memcached
                           reads it; checked against -I and reported (the
                           log store has no slab chunks)
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
  hot_keys=off|N           track and list the N hottest keys in `stats hotkeys`
                           (default: 20; ferrocache)
  hot_keys_sample=auto|N   sample one request in N for hot keys, or about
                           8192 a second per worker (auto, the default;
                           ferrocache)
All other memcached sub-options (lru_*, slab_*, ext_*, hash_algorithm, modern,
...) are accepted and ignored with a log note.

  snapshot_path=FILE       write an online snapshot there on SIGUSR2
                           (ferrocache)
  snapshot_interval=SECS   and every SECS seconds (default: 0, never;
                           ferrocache)
  snapshot_load_unclean    load a -e file that a daemon already loaded, or
                           the online snapshot at start (ferrocache)
Not supported yet (exit 64): -L, -N.";

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
pub(super) struct Cli {
    /// TCP port to listen on (default: 11211)
    #[arg(
        short = 'p',
        long = "port",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    pub(super) port: Option<String>,
    /// UDP port to listen on (default: 0, off)
    #[arg(
        short = 'U',
        long = "udp-port",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    pub(super) udp_port: Option<String>,
    /// UNIX socket to listen on
    #[arg(
        short = 's',
        long = "unix-socket",
        value_name = "FILE",
        allow_hyphen_values = true
    )]
    pub(super) unix_socket: Option<PathBuf>,
    /// Access mask for the UNIX socket, in octal (default: 700)
    #[arg(
        short = 'a',
        long = "unix-mask",
        value_name = "MASK",
        allow_hyphen_values = true
    )]
    pub(super) unix_mask: Option<String>,
    /// Enable the ascii "shutdown" command
    #[arg(short = 'A', long = "enable-shutdown")]
    pub(super) enable_shutdown: bool,
    /// Interface(s) to listen on: host, host:port, [v6]:port, notls:...;
    /// comma-separated, repeatable (default: 127.0.0.1; memcached: all)
    #[arg(short = 'l', long = "listen", value_name = "ADDR", action = ArgAction::Append, allow_hyphen_values = true)]
    pub(super) listen: Vec<String>,
    /// Run as a daemon (detach from the terminal; see -P)
    #[arg(short = 'd', long = "daemon")]
    pub(super) daemon: bool,
    /// Maximize core file limit
    #[arg(short = 'r', long = "enable-coredumps")]
    pub(super) enable_coredumps: bool,
    /// Assume identity of USER (only when run as root)
    #[arg(
        short = 'u',
        long = "user",
        value_name = "USER",
        allow_hyphen_values = true
    )]
    pub(super) user: Option<String>,
    /// Item memory in megabytes; k/m/g suffixes allowed (default: 64)
    #[arg(
        short = 'm',
        long = "memory-limit",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    pub(super) memory_limit: Option<String>,
    /// Return error on memory exhausted instead of evicting
    #[arg(short = 'M', long = "disable-evictions")]
    pub(super) disable_evictions: bool,
    /// Max simultaneous connections (default: 1024)
    #[arg(
        short = 'c',
        long = "conn-limit",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    pub(super) conn_limit: Option<String>,
    /// Lock down all paged memory (mlockall; a warning if not permitted)
    #[arg(short = 'k', long = "lock-memory")]
    pub(super) lock_memory: bool,
    /// Verbose; repeat for more (-vv, -vvv)
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub(super) verbose: u8,
    /// Print license and exit
    #[arg(short = 'i', long = "license")]
    pub(super) license: bool,
    /// Read options from FILE first, in the format of Debian's
    /// /etc/memcached.conf (one option per line, # comments, `logfile PATH`);
    /// command-line flags override it
    #[arg(long = "config-file", value_name = "FILE")]
    pub(super) config_file: Option<PathBuf>,
    /// Save PID in FILE
    #[arg(
        short = 'P',
        long = "pidfile",
        value_name = "FILE",
        allow_hyphen_values = true
    )]
    pub(super) pidfile: Option<PathBuf>,
    /// Chunk size growth factor (default: 1.25); checked as memcached
    /// checks it and reported, but the log store has no size classes
    #[arg(
        short = 'f',
        long = "slab-growth-factor",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    pub(super) slab_growth_factor: Option<String>,
    /// Min space used for key+value+flags in bytes (default: 48); checked
    /// and reported, but the log store has no size classes
    #[arg(
        short = 'n',
        long = "slab-min-size",
        value_name = "BYTES",
        allow_hyphen_values = true
    )]
    pub(super) slab_min_size: Option<String>,
    /// Try to use large memory pages (not supported yet)
    #[arg(short = 'L', long = "enable-largepages")]
    pub(super) enable_largepages: bool,
    /// Delimiter between key prefixes and IDs for per-prefix stats
    /// (default: ':'); turns detailed stats on
    #[arg(short = 'D', value_name = "CHAR", allow_hyphen_values = true)]
    pub(super) prefix_delimiter: Option<String>,
    /// Number of worker threads (default: number of CPUs; memcached: 4)
    #[arg(
        short = 't',
        long = "threads",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    pub(super) threads: Option<String>,
    /// Max requests per event per connection (default: 20)
    #[arg(
        short = 'R',
        long = "max-reqs-per-event",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    pub(super) max_reqs_per_event: Option<String>,
    /// Disable use of CAS
    #[arg(short = 'C', long = "disable-cas")]
    pub(super) disable_cas: bool,
    /// Listen backlog queue limit (default: 1024)
    #[arg(
        short = 'b',
        long = "listen-backlog",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    pub(super) listen_backlog: Option<String>,
    /// Protocol: auto, ascii or binary (default: auto)
    #[arg(
        short = 'B',
        long = "protocol",
        value_name = "NAME",
        allow_hyphen_values = true
    )]
    pub(super) protocol: Option<String>,
    /// Max item size; k/m suffixes (default: 1m, min: 1k, max: 1024m)
    #[arg(
        short = 'I',
        long = "max-item-size",
        value_name = "SIZE",
        allow_hyphen_values = true
    )]
    pub(super) max_item_size: Option<String>,
    /// Turn on SASL authentication
    #[arg(short = 'S', long = "enable-sasl")]
    pub(super) enable_sasl: bool,
    /// Disable the flush_all command
    #[arg(short = 'F', long = "disable-flush-all")]
    pub(super) disable_flush_all: bool,
    /// Disable stats cachedump and lru_crawler metadump
    #[arg(short = 'X', long = "disable-dumping")]
    pub(super) disable_dumping: bool,
    /// Disable watch commands
    #[arg(short = 'W', long = "disable-watch")]
    pub(super) disable_watch: bool,
    /// ASCII authentication file
    #[arg(
        short = 'Y',
        long = "auth-file",
        value_name = "FILE",
        allow_hyphen_values = true
    )]
    pub(super) auth_file: Option<PathBuf>,
    /// Warm restart: save the cache to FILE on SIGUSR1 or `shutdown
    /// graceful`, load it at start
    #[arg(
        short = 'e',
        long = "memory-file",
        value_name = "FILE",
        allow_hyphen_values = true
    )]
    pub(super) memory_file: Option<PathBuf>,
    /// Enable TLS
    #[arg(short = 'Z', long = "enable-ssl")]
    pub(super) enable_ssl: bool,
    /// Number of NAPI ids (not supported yet)
    #[arg(
        short = 'N',
        long = "napi-ids",
        value_name = "NUM",
        allow_hyphen_values = true
    )]
    pub(super) napi_ids: Option<String>,
    /// Comma-separated extended options, key[=value]; repeatable (see below)
    #[arg(short = 'o', long = "extended", value_name = "OPTS", action = ArgAction::Append, allow_hyphen_values = true)]
    pub(super) extended: Vec<String>,
}

/// Parse a size such as `64`, `1.5m`, `512k`, `1g`. A bare number is in
/// `default_unit` bytes. Returns bytes.
pub(super) fn parse_size(s: &str, default_unit: u64, allow_g: bool) -> Result<u64, String> {
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

pub(super) fn parse_uint<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    let t = s.trim();
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("invalid value '{s}': expected {what}"));
    }
    t.parse::<T>()
        .map_err(|_| format!("invalid value '{s}': out of range ({what})"))
}

/// A `-p`/`-U` value: 0-65535, or -1 (an ephemeral port), as memcached takes them.
pub(super) fn parse_port(s: &str) -> Result<i32, String> {
    if s.trim() == "-1" {
        return Ok(-1);
    }
    parse_uint::<u16>(s, "a port number 0-65535, or -1 for an ephemeral port").map(i32::from)
}

pub(super) fn to_usize(v: u64, flag: &str, s: &str) -> Result<usize, ConfigError> {
    usize::try_from(v)
        .map_err(|_| ConfigError::invalid(flag, format!("invalid value '{s}': too large")))
}

/// Turn a clap error into a one-line [`ConfigError`], or a help/version
/// request.
pub(super) fn from_clap(err: clap::Error) -> ConfigError {
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

/// The clap id of the option an argument names (`-m64`, `-vv`, `--port=1`).
pub(super) fn flag_id(arg: &str) -> Option<String> {
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
