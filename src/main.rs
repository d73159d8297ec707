//! The `ferrocache` daemon: parse memcached's flags, bind, serve until a
//! signal or `shutdown` stops it.

#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrocache::config::{self, Config, EXIT_USAGE};
use ferrocache::persist;
use ferrocache::server::{Server, Shared};
use ferrocache::systemd;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

/// sysexits' EX_OSERR: a bind or thread failure.
const EXIT_OSERR: u8 = 71;

fn main() -> ExitCode {
    // Hidden: `make install` renders the man page with the binary it installs.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "--generate-man")
    {
        let stdout = std::io::stdout();
        return match ferrocache::manpage::render(&mut stdout.lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ferrocache: {e}");
                ExitCode::from(EXIT_OSERR)
            }
        };
    }
    let config = config::from_env_or_exit();
    init_logging(&config);
    config.log_startup_notes();
    if let Some(msg) = config.unsupported() {
        eprintln!("ferrocache: {msg}");
        return ExitCode::from(EXIT_USAGE as u8);
    }
    if let Some(msg) = config
        .memory_file
        .as_deref()
        .and_then(persist::foreign_file)
    {
        eprintln!("ferrocache: {msg}");
        return ExitCode::from(EXIT_USAGE as u8);
    }
    // memcached's rule: a cache has no business running as root, so root
    // must name the user to switch to (`-u root` to insist).
    if config.user.is_none() && is_root() {
        eprintln!("can't run as root without the -u switch");
        return ExitCode::from(EXIT_USAGE as u8);
    }
    // Before any thread starts: daemonizing edits the environment, and
    // memory is locked before the store grows.
    if config.daemonize {
        match ferrocache::daemon::daemonize(config.logfile.as_deref()) {
            Ok(ferrocache::daemon::Daemon::Parent(_)) => return ExitCode::SUCCESS,
            Ok(ferrocache::daemon::Daemon::Child) => {}
            Err(e) => {
                eprintln!("ferrocache: failed to daemonize: {e}");
                return ExitCode::from(EXIT_OSERR);
            }
        }
    }
    if config.lock_memory {
        ferrocache::daemon::lock_memory();
    }
    raise_fd_limit(config.conn_limit);
    // Before any thread starts: this edits the environment.
    let inherited = match systemd::take_listeners() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ferrocache: {e}");
            return ExitCode::from(EXIT_OSERR);
        }
    };
    let pidfile = config.pidfile.clone();
    let user = config.user.clone();
    // Catch signals before the port opens: a SIGHUP (reload) or SIGTERM
    // sent as soon as clients can connect must not meet the default action,
    // which kills the process. They wait in the handler until served below.
    let signals = match Signals::new([SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGHUP]) {
        Ok(s) => Some(s),
        Err(e) => {
            log::warn!("could not install signal handlers: {e}");
            None
        }
    };
    // The pid file exists before the port accepts, so whoever sees the
    // port open can read it.
    if let Some(path) = &pidfile {
        if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
            eprintln!(
                "ferrocache: could not write pid file {}: {e}",
                path.display()
            );
        }
    }
    let remove_pidfile = || {
        if let Some(path) = &pidfile {
            let _ = std::fs::remove_file(path);
        }
    };
    let server = match Server::bind_with(config, inherited) {
        Ok(s) => s,
        // Credential files: missing, unreadable or malformed.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            eprintln!("ferrocache: {e}");
            remove_pidfile();
            return ExitCode::from(EXIT_USAGE as u8);
        }
        Err(e) => {
            eprintln!("ferrocache: failed to listen: {e}");
            remove_pidfile();
            return ExitCode::from(EXIT_OSERR);
        }
    };
    if let Err(e) = drop_privileges(user.as_deref()) {
        eprintln!("ferrocache: {e}");
        return ExitCode::from(EXIT_USAGE as u8);
    }
    for addr in server.local_addrs() {
        log::info!("listening on {addr}");
    }
    let handle = match server.start() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("ferrocache: failed to start: {e}");
            return ExitCode::from(EXIT_OSERR);
        }
    };
    let shared = handle.shared().clone();
    let after_stop = shared.clone();
    let notifier = spawn_notifier(shared.clone(), handle.addrs().len());
    if let Some(mut signals) = signals {
        let _ = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    if sig == SIGHUP {
                        match shared.reload() {
                            Ok(()) => log::info!("SIGHUP: reloaded"),
                            Err(e) => {
                                log::error!("SIGHUP: reload failed, keeping the old files: {e}")
                            }
                        }
                        continue;
                    }
                    if sig == SIGUSR2 {
                        if shared.config.extended.snapshot_path.is_some() {
                            shared.persist.request_snapshot();
                        } else {
                            log::warn!("SIGUSR2: no -o snapshot_path to write a snapshot to");
                        }
                        continue;
                    }
                    log::info!("signal {sig}: shutting down");
                    // memcached: SIGUSR1 is the graceful stop, which saves
                    // the cache when -e names a file.
                    if sig == SIGUSR1 {
                        shared.persist.request_save();
                    }
                    shared.shutdown();
                    break;
                }
            });
    }
    handle.join();
    // Every worker has answered and stopped: the walk sees the final cache.
    let mut code = ExitCode::SUCCESS;
    if let Some(path) = after_stop.config.memory_file.as_deref() {
        if after_stop.persist.save_requested() {
            let cache = &after_stop.cache;
            if after_stop
                .persist
                .save_at_stop(cache, path, cache.hash_power())
                .is_err()
            {
                code = ExitCode::from(EXIT_OSERR);
            }
        }
    }
    if let Some(n) = notifier {
        let _ = n.join();
    }
    if let Some(path) = &pidfile {
        let _ = std::fs::remove_file(path);
    }
    code
}

/// `-v` info, `-vv` debug, `-vvv` trace; `RUST_LOG` overrides.
fn init_logging(config: &Config) {
    let level = match config.verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level));
    if let Some(path) = &config.logfile {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(file) => {
                builder.target(env_logger::Target::Pipe(Box::new(file)));
            }
            Err(e) => eprintln!("ferrocache: cannot open logfile {}: {e}", path.display()),
        }
    }
    builder.init();
}

/// Whether the process runs with root's real or effective uid (memcached's test).
fn is_root() -> bool {
    nix::unistd::getuid().is_root() || nix::unistd::geteuid().is_root()
}

/// `-u USER`: as root, switch to that user after binding (memcached's rule;
/// without root the flag has nothing to do).
fn drop_privileges(user: Option<&str>) -> Result<(), String> {
    use nix::unistd::{getuid, setgid, setgroups, setuid, Uid, User};
    let Some(name) = user else {
        return Ok(());
    };
    if !Uid::effective().is_root() && !getuid().is_root() {
        return Ok(());
    }
    let u = User::from_name(name)
        .map_err(|e| format!("can't find the user {name}: {e}"))?
        .ok_or_else(|| format!("can't find the user {name} to switch to"))?;
    setgroups(&[u.gid]).map_err(|e| format!("failed to drop supplementary groups: {e}"))?;
    setgid(u.gid).map_err(|e| format!("failed to assume the group of {name}: {e}"))?;
    setuid(u.uid).map_err(|e| format!("failed to assume the identity of {name}: {e}"))?;
    Ok(())
}

/// Tell systemd (Type=notify) that the daemon is ready, keep its status line
/// and watchdog current, and say `STOPPING=1` once a stop begins, whether
/// from a signal or the `shutdown` command.
fn spawn_notifier(
    shared: Arc<Shared>,
    tcp_listeners: usize,
) -> Option<std::thread::JoinHandle<()>> {
    let notifier = systemd::Notifier::from_env();
    if !notifier.is_enabled() {
        return None;
    }
    let threads = shared.config.threads.max(1);
    notifier.notify(&format!(
        "READY=1\nMAINPID={}\nSTATUS=serving on {tcp_listeners} TCP listener(s), {threads} worker threads",
        std::process::id()
    ));
    let watchdog = systemd::watchdog_interval();
    const TICK: Duration = Duration::from_millis(100);
    const STATUS_EVERY: Duration = Duration::from_secs(10);
    let spawned = std::thread::Builder::new()
        .name("sd-notify".into())
        .spawn(move || {
            let mut last_watchdog = Instant::now();
            let mut last_status = Instant::now();
            if watchdog.is_some() {
                notifier.notify("WATCHDOG=1");
            }
            while !shared.is_shutting_down() {
                std::thread::sleep(TICK);
                if watchdog.is_some_and(|w| last_watchdog.elapsed() >= w) {
                    notifier.notify("WATCHDOG=1");
                    last_watchdog = Instant::now();
                }
                if last_status.elapsed() >= STATUS_EVERY {
                    let conns = shared.stats.curr_connections.load(Ordering::Relaxed);
                    notifier.notify(&format!("STATUS=serving, {conns} connections open"));
                    last_status = Instant::now();
                }
            }
            notifier.notify("STOPPING=1\nSTATUS=stopping: answering requests already read");
        });
    spawned
        .map_err(|e| log::warn!("could not start the sd-notify thread: {e}"))
        .ok()
}

/// Descriptors beyond `-c` for listeners, the waker pipes, log files.
const FD_SLACK: u64 = 64;

/// Raise RLIMIT_NOFILE so `-c` connections fit, as memcached does at
/// start-up; without it a `-c 20000` daemon under the usual 1024 soft limit
/// fails accept() long before the `-c` gate answers. Best effort: raising
/// the hard limit needs privileges, so fall back to the hard limit and warn.
fn raise_fd_limit(conn_limit: usize) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let want = conn_limit as u64 + FD_SLACK;
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft >= want {
        return;
    }
    if setrlimit(Resource::RLIMIT_NOFILE, want, hard.max(want)).is_ok() {
        return;
    }
    let _ = setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard);
    log::warn!(
        "cannot raise the open files limit to {want} for -c {conn_limit}; it stays at {}",
        want.min(hard).max(soft)
    );
}
