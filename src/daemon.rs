//! Process set-up memcached does with `-d` and `-k`.
//!
//! `-d` re-executes the daemon binary rather than forking: the crate has
//! no `unsafe`, and `fork` is unsafe in Rust (a forked child of a
//! multi-threaded process may only call async-signal-safe functions).
//! Re-exec gives the same result as glibc's `daemon(3)`, which memcached
//! uses: the parent returns at once, the child runs in a new session (no
//! controlling terminal, not killed by the terminal's SIGHUP) with stdin
//! and stdout on /dev/null and stderr on /dev/null or the log file. It
//! keeps the working directory so relative paths given on the command line
//! (`-P`, `-s`, `--config-file`) mean what they meant to the caller.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

/// Set in the re-executed child's environment (and removed by it).
const CHILD: &str = "FERROCACHE_DAEMONIZED";

/// Which side of `-d` this process is.
#[derive(Debug, PartialEq, Eq)]
pub enum Daemon {
    /// The caller's process: the daemon has been started; exit 0.
    Parent(u32),
    /// The daemon itself, now a session leader without a terminal.
    Child,
}

/// `-d`: start the detached daemon (in the parent), or finish detaching
/// (in the child). Call before any thread starts: it edits the
/// environment.
pub fn daemonize(logfile: Option<&Path>) -> io::Result<Daemon> {
    if std::env::var_os(CHILD).is_some() {
        std::env::remove_var(CHILD);
        nix::unistd::setsid().map_err(io::Error::from)?;
        return Ok(Daemon::Child);
    }
    let stderr = match logfile {
        Some(path) => Stdio::from(OpenOptions::new().create(true).append(true).open(path)?),
        None => Stdio::from(File::create("/dev/null")?),
    };
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let child = Command::new(std::env::current_exe()?)
        .args(args)
        .env(CHILD, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()?;
    Ok(Daemon::Parent(child.id()))
}

/// `-k`: lock all current and future pages in memory. When the kernel
/// refuses (`RLIMIT_MEMLOCK`, no `CAP_IPC_LOCK`), warn as memcached does
/// and go on.
pub fn lock_memory() {
    use nix::sys::mman::{mlockall, MlockAllFlags};
    if let Err(e) = mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE) {
        eprintln!("warning: -k invalid, mlockall() failed: {}", e.desc());
    }
}
