//! `ferrocache-cli`: talk to a fleet of memcached-compatible servers through
//! the ferrocache client library (same key placement as libmemcached's
//! weighted ketama, or pymemcache's rendezvous hashing).
//!
//! Exit codes (sysexits): 0 success; 1 a negative answer (miss, not
//! stored, not found); 64 usage; 65 bad key or value (or dump file); 66
//! unreadable stdin or file; 69 no server reachable; 73 output file not
//! written; 76 a server error or unexpected reply; 77 the
//! TLS session was refused.

#![forbid(unsafe_code)]

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

#[path = "cli/dump.rs"]
mod dump;
#[path = "cli/top.rs"]
mod top;
use ferrocache::client::{Client, Distribution, Error, Options, ServerSpec, TlsConfig};

const EX_NEGATIVE: u8 = 1;
const EX_USAGE: u8 = 64;
const EX_DATAERR: u8 = 65;
const EX_NOINPUT: u8 = 66;
const EX_UNAVAILABLE: u8 = 69;
const EX_CANTCREAT: u8 = 73;
const EX_PROTOCOL: u8 = 76;
const EX_NOPERM: u8 = 77;

const AFTER_HELP: &str = "\
Servers: HOST:PORT[:WEIGHT], [V6]:PORT[:WEIGHT] or /unix/socket[:WEIGHT],
comma-separated, from --servers or $FERROCACHE_SERVERS.

TLS: --tls-ca, --tls-cert/--tls-key and --tls-server-name imply --tls;
--tls alone trusts the system CA bundle ($SSL_CERT_FILE or the
distribution's). Unix sockets stay plaintext.

Exit codes (sysexits): 0 ok, 1 miss / not stored / not found, 64 usage,
65 bad key or value, 66 unreadable stdin or TLS file, 69 no server
reachable, 73 output file not written, 76 server error or unexpected
reply, 77 TLS session refused.";

#[derive(Parser, Debug)]
#[command(
    name = "ferrocache-cli",
    version,
    about = "Command-line client for a ferrocache / memcached fleet",
    after_help = AFTER_HELP,
    color = clap::ColorChoice::Never
)]
struct Cli {
    /// Servers, comma-separated (default: $FERROCACHE_SERVERS).
    #[arg(short, long, global = true, value_name = "LIST")]
    servers: Option<String>,
    /// Learn the servers from this ElastiCache-style configuration endpoint
    /// (`config get cluster`) instead.
    #[arg(
        long,
        global = true,
        value_name = "HOST:PORT",
        conflicts_with = "servers"
    )]
    discover: Option<String>,
    /// Key placement.
    #[arg(short, long, global = true, value_enum, default_value_t = Dist::Ketama)]
    distribution: Dist,
    /// Speak memcached's binary protocol instead of the text protocol.
    #[arg(long, global = true)]
    binary: bool,
    /// Connect, read and write timeout in seconds.
    #[arg(long, global = true, default_value_t = 5.0, value_name = "SECS")]
    timeout: f64,
    /// Connect to TCP servers over TLS.
    #[arg(long, global = true)]
    tls: bool,
    /// Trust the CA certificates in this PEM file to verify servers
    /// (instead of the system bundle).
    #[arg(long, global = true, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS; needs --tls-key.
    #[arg(long, global = true, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, global = true, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Name the servers' certificates must carry (default: the host part of
    /// each server's address), e.g. when servers are listed by IP address.
    #[arg(long, global = true, value_name = "NAME")]
    tls_server_name: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum Dist {
    /// libmemcached weighted ketama with MD5 (pylibmc, twemproxy ketama)
    Ketama,
    /// libmemcached `distribution: consistent ketama` + `hash: md5` without
    /// weights (100 points per server; weighted when a weight is above 1)
    ConsistentKetama,
    /// pymemcache HashClient (murmur3 rendezvous)
    Rendezvous,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the value of each key (one key: the raw value; several:
    /// `key<TAB>value` lines).
    Get {
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Store a value, from the argument or else from stdin.
    Set {
        key: String,
        value: Option<String>,
        /// Client flags (32-bit).
        #[arg(short, long, default_value_t = 0)]
        flags: u32,
        /// Expiration: seconds, or a unix time past 30 days; 0 = never.
        #[arg(short, long, default_value_t = 0)]
        exptime: i64,
    },
    /// Delete a key.
    Delete { key: String },
    /// Increment a counter and print its new value.
    Incr {
        key: String,
        #[arg(default_value_t = 1)]
        delta: u64,
    },
    /// Decrement a counter (not below 0) and print its new value.
    Decr {
        key: String,
        #[arg(default_value_t = 1)]
        delta: u64,
    },
    /// Set a key's expiration.
    Touch { key: String, exptime: i64 },
    /// Invalidate every item on every server.
    Flush {
        /// Seconds to wait before flushing.
        #[arg(long, default_value_t = 0)]
        delay: i64,
    },
    /// Server statistics, one column per server.
    Stats {
        /// A stats group (`settings`, `items`, `slabs`, ...).
        group: Option<String>,
    },
    /// Print the server that owns each key (no server is contacted).
    Ring {
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// A live view of every server: ops/s, hit ratio, connections, memory,
    /// evictions/s, bytes/s, and the hottest keys across the ring (from
    /// ferrocache's `stats hotkeys`). `q` quits.
    Top {
        /// Print one frame (two polls, `--interval` apart) and exit.
        #[arg(long)]
        once: bool,
        /// Print frames as JSON, one object per line.
        #[arg(long)]
        json: bool,
        /// Seconds between frames.
        #[arg(long, default_value_t = 1.0, value_name = "SECS")]
        interval: f64,
        /// Hot keys shown.
        #[arg(long, default_value_t = 20)]
        keys: usize,
    },
    /// Every key of each server (one node, or every node of the ring),
    /// listed by `lru_crawler metadump all`. With --values, every item
    /// with its value, flags and expiry as `add` records `load` (or any
    /// memcached, through `nc`) can replay: memcached-tool's dump format.
    Dump {
        /// Write `add <key> <flags> <exptime> <bytes>` records with the
        /// values (exptime: unix time, 0 for none) instead of keys.
        #[arg(long)]
        values: bool,
        /// Write to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Replay a `dump --values` file (or memcached-tool's `dump`) into the
    /// servers, each key to its owner on the ring, with its remaining TTL;
    /// `add` records keep a value the servers already hold, `set` records
    /// overwrite it. The whole file is checked before anything is sent.
    Load { file: PathBuf },
    /// Replay a ferrocache snapshot file (`-e` or `-o snapshot_path`) into
    /// the servers, each key to its owner on the ring, with its remaining
    /// TTL. A key the servers already hold is left alone (`add`), so a newer
    /// value is never overwritten; expired items are skipped. The whole file
    /// is checked before anything is sent.
    Restore {
        file: PathBuf,
        /// Servers to restore into, as --servers (default: --servers).
        #[arg(long, value_name = "LIST")]
        to: Option<String>,
    },
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Command::Restore { to: Some(to), .. } = &cli.command {
        cli.servers = Some(to.clone());
    }
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err((code, msg)) => {
            eprintln!("ferrocache-cli: {msg}");
            ExitCode::from(code)
        }
    }
}

type Failure = (u8, String);

fn fail(e: Error) -> Failure {
    let code = match &e {
        Error::Io(_) | Error::NoServers => EX_UNAVAILABLE,
        Error::InvalidKey | Error::Client(_) => EX_DATAERR,
        Error::InvalidServer(_) => EX_USAGE,
        Error::TlsConfig(_) => EX_NOINPUT,
        Error::Tls(_) => EX_NOPERM,
        _ => EX_PROTOCOL,
    };
    (code, e.to_string())
}

fn client(cli: &Cli) -> Result<Client, Failure> {
    let secs = Duration::try_from_secs_f64(cli.timeout)
        .map_err(|_| (EX_USAGE, format!("bad --timeout {}", cli.timeout)))?;
    let mut opts = Options::default();
    opts.timeouts.connect = secs;
    opts.timeouts.read = secs;
    opts.timeouts.write = secs;
    opts.distribution = match cli.distribution {
        Dist::Ketama => Distribution::Ketama,
        Dist::ConsistentKetama => Distribution::ConsistentKetama,
        Dist::Rendezvous => Distribution::Rendezvous,
    };
    if cli.binary {
        opts.protocol = ferrocache::protocol::Protocol::Binary;
    }
    opts.tls = tls(cli).map_err(fail)?;
    if let Some(ep) = &cli.discover {
        return Client::from_config_endpoint(ep, opts).map_err(fail);
    }
    let list = match &cli.servers {
        Some(s) => s.clone(),
        None => std::env::var("FERROCACHE_SERVERS").unwrap_or_default(),
    };
    let specs = ServerSpec::parse_list(&list).map_err(fail)?;
    if specs.is_empty() {
        return Err((
            EX_USAGE,
            "no servers: give --servers or set FERROCACHE_SERVERS".into(),
        ));
    }
    let names: Vec<String> = list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Client::with_options(&names, opts).map_err(fail)
}

/// The TLS settings the flags ask for; None for plaintext.
fn tls(cli: &Cli) -> Result<Option<TlsConfig>, Error> {
    let wanted =
        cli.tls || cli.tls_ca.is_some() || cli.tls_cert.is_some() || cli.tls_server_name.is_some();
    if !wanted {
        return Ok(None);
    }
    let mut b = TlsConfig::builder();
    b = match &cli.tls_ca {
        Some(ca) => b.ca_file(ca),
        None => b.system_roots(),
    };
    if let (Some(cert), Some(key)) = (&cli.tls_cert, &cli.tls_key) {
        b = b.client_cert(cert, key);
    }
    if let Some(name) = &cli.tls_server_name {
        b = b.server_name(name);
    }
    b.build().map(Some)
}

fn negative(ok: bool) -> u8 {
    if ok {
        0
    } else {
        EX_NEGATIVE
    }
}

fn run(mut cli: Cli) -> Result<u8, Failure> {
    let mut top_interval = Duration::ZERO;
    if let Command::Top { interval, .. } = cli.command {
        top_interval = Duration::try_from_secs_f64(interval)
            .ok()
            .filter(|d| *d >= Duration::from_millis(100))
            .ok_or((EX_USAGE, format!("bad --interval {interval}")))?;
        // A node that does not answer shows as down within a frame.
        cli.timeout = cli.timeout.min(top_interval.as_secs_f64() * 0.6);
    }
    let c = client(&cli)?;
    let out = std::io::stdout();
    let mut out = out.lock();
    let io = |e: std::io::Error| (EX_UNAVAILABLE, format!("stdout: {e}"));
    match cli.command {
        Command::Get { keys } if keys.len() == 1 => match c.get(&keys[0]).map_err(fail)? {
            Some(item) => {
                out.write_all(&item.value).map_err(io)?;
                if std::io::stdout().is_terminal() {
                    out.write_all(b"\n").map_err(io)?;
                }
                Ok(0)
            }
            None => Ok(EX_NEGATIVE),
        },
        Command::Get { keys } => {
            let items = c.get_multi(&keys).map_err(fail)?;
            for k in &keys {
                if let Some(item) = items.get(k.as_bytes()) {
                    out.write_all(k.as_bytes()).map_err(io)?;
                    out.write_all(b"\t").map_err(io)?;
                    out.write_all(&item.value).map_err(io)?;
                    out.write_all(b"\n").map_err(io)?;
                }
            }
            Ok(negative(items.len() == keys.len()))
        }
        Command::Set {
            key,
            value,
            flags,
            exptime,
        } => {
            let value = match value {
                Some(v) => v.into_bytes(),
                None => {
                    let mut v = Vec::new();
                    std::io::stdin()
                        .read_to_end(&mut v)
                        .map_err(|e| (EX_NOINPUT, format!("stdin: {e}")))?;
                    v
                }
            };
            Ok(negative(c.set(&key, &value, flags, exptime).map_err(fail)?))
        }
        Command::Delete { key } => Ok(negative(c.delete(&key).map_err(fail)?)),
        Command::Incr { key, delta } => counter(c.incr(&key, delta), &mut out),
        Command::Decr { key, delta } => counter(c.decr(&key, delta), &mut out),
        Command::Touch { key, exptime } => Ok(negative(c.touch(&key, exptime).map_err(fail)?)),
        Command::Flush { delay } => c.flush_all(delay).map(|_| 0).map_err(fail),
        Command::Stats { group } => {
            let all = c.stats(group.as_deref());
            let text = stats_table(&all);
            out.write_all(text.as_bytes()).map_err(io)?;
            let mut code = 0;
            for (spec, r) in &all {
                if let Err(e) = r {
                    eprintln!("ferrocache-cli: {spec}: {e}");
                    code = EX_UNAVAILABLE;
                }
            }
            Ok(code)
        }
        Command::Top {
            once, json, keys, ..
        } => {
            let opts = top::Top {
                once,
                json,
                interval: top_interval,
                keys,
            };
            top::run(c, opts)
                .map(|_| 0)
                .map_err(|e| (EX_UNAVAILABLE, format!("top: {e}")))
        }
        Command::Restore { file, .. } => restore(&c, &file, &mut out),
        Command::Dump { values, output } => match output {
            Some(path) => {
                let f = std::fs::File::create(&path)
                    .map_err(|e| (EX_CANTCREAT, format!("{}: {e}", path.display())))?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                let code = dump::dump(&c, values, &mut w)?;
                w.flush()
                    .map_err(|e| (EX_CANTCREAT, format!("{}: {e}", path.display())))?;
                Ok(code)
            }
            None => {
                let mut w = std::io::BufWriter::with_capacity(1 << 16, out);
                let code = dump::dump(&c, values, &mut w)?;
                w.flush().map_err(io)?;
                Ok(code)
            }
        },
        Command::Load { file } => dump::load(&c, &file, &mut out),
        Command::Ring { keys } => {
            for k in &keys {
                let spec = c.server_for(k.as_bytes()).map_err(fail)?;
                writeln!(out, "{k}\t{spec}").map_err(io)?;
            }
            Ok(0)
        }
    }
}

fn counter(r: Result<Option<u64>, Error>, out: &mut impl Write) -> Result<u8, Failure> {
    match r.map_err(fail)? {
        Some(n) => {
            writeln!(out, "{n}").map_err(|e| (EX_UNAVAILABLE, format!("stdout: {e}")))?;
            Ok(0)
        }
        None => Ok(EX_NEGATIVE),
    }
}

type ServerStats = (ServerSpec, Result<Vec<(String, String)>, Error>);

/// One row per stat (in the first server's order), one column per server.
fn stats_table(all: &[ServerStats]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for (_, r) in all {
        for (n, _) in r.as_deref().unwrap_or(&[]) {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
    }
    let mut rows: Vec<Vec<String>> = Vec::with_capacity(names.len() + 1);
    let mut header = vec!["stat".to_string()];
    header.extend(all.iter().map(|(s, _)| s.to_string()));
    rows.push(header);
    for name in &names {
        let mut row = vec![name.to_string()];
        for (_, r) in all {
            let v = match r {
                Ok(stats) => stats
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or("-".to_string(), |(_, v)| v.clone()),
                Err(_) => "(down)".to_string(),
            };
            row.push(v);
        }
        rows.push(row);
    }
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == cols {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        s.push('\n');
    }
    s
}

/// The exptime to send for an item that expires at unix time `at` (0:
/// never): the seconds left when under memcached's 30-day limit for
/// relative times (so the servers' clocks do not matter), else `at`
/// itself; None once it has expired.
fn exptime_to_send(at: i64, now: i64) -> Option<i64> {
    const MAX_RELATIVE: i64 = 60 * 60 * 24 * 30;
    match at.saturating_sub(now) {
        _ if at == 0 => Some(0),
        left if left <= 0 => None,
        left if left <= MAX_RELATIVE => Some(left),
        _ => Some(at),
    }
}

/// Seconds since the epoch.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `restore FILE`: check the whole file, then `add` each item that has not
/// expired with its remaining TTL.
fn restore(c: &Client, path: &std::path::Path, out: &mut impl Write) -> Result<u8, Failure> {
    use ferrocache::persist::read_items;
    let shown = path.display();
    let open = || {
        let f = std::fs::File::open(path).map_err(|e| (EX_NOINPUT, format!("{shown}: {e}")))?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        Ok::<_, Failure>((std::io::BufReader::with_capacity(1 << 20, f), size))
    };
    let bad = |e: ferrocache::persist::LoadError| (EX_DATAERR, format!("{shown}: {e}"));
    let (mut r, size) = open()?;
    read_items(&mut r, size, |_| Ok(()), |_| {}).map_err(bad)?;
    let now = unix_now();
    let (mut added, mut kept, mut expired, mut skipped) = (0u64, 0u64, 0u64, 0u64);
    let mut failure = None;
    let (mut r, size) = open()?;
    read_items(
        &mut r,
        size,
        |_| Ok(()),
        |it| {
            if failure.is_some() {
                return;
            }
            let Some(exptime) = exptime_to_send(it.exptime, now) else {
                expired += 1;
                return;
            };
            match c.add(it.key, it.value, it.flags, exptime) {
                Ok(true) => added += 1,
                Ok(false) => kept += 1,
                // A key the text protocol cannot carry (a meta base64 key).
                Err(Error::InvalidKey) => skipped += 1,
                Err(e) => failure = Some(e),
            }
        },
    )
    .map_err(bad)?;
    if let Some(e) = failure {
        return Err(fail(e));
    }
    writeln!(
        out,
        "restored {added} items from {shown}; {kept} already present (kept), \
         {expired} expired, {skipped} with keys the text protocol cannot send"
    )
    .map_err(|e| (EX_UNAVAILABLE, format!("stdout: {e}")))?;
    Ok(0)
}
