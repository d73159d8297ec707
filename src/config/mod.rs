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

//!
//! The module's parts: [`flags`] (the clap definition and value parsing),
//! `settings` ([`Config`] and its parts, as data), [`suboptions`] (the one
//! table of `-o` sub-options), `file`
//! (`--config-file`), `validate` (from raw flags to a checked [`Config`],
//! with memcached's messages).

use std::ffi::OsString;
use std::fmt;

use clap::{CommandFactory, FromArgMatches};

mod file;
pub mod flags;
mod settings;
pub mod suboptions;
#[cfg(test)]
mod tests;
mod validate;

pub use flags::command;
use flags::{from_clap, Cli};
pub use settings::*;

impl Config {
    /// Log parse warnings (`log::warn!`) and the `-o` sub-options ferrocache
    /// accepts but ignores (`log::info!`). Call once the logger is set up.
    pub fn log_startup_notes(&self) {
        for w in &self.warnings {
            log::warn!("{w}");
        }
        for (key, value) in &self.extended.pairs {
            if suboptions::is_ignored(key) {
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

/// Parse a command line (the first item is the program name).
pub fn parse_args<I, T>(args: I) -> Result<Config, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let (args, file) = file::expand_config_file(args)?;
    let matches = Cli::command()
        .try_get_matches_from(args)
        .map_err(from_clap)?;
    let cli = Cli::from_arg_matches(&matches).map_err(from_clap)?;
    let mut config = validate::build(cli)?;
    if let Some(file) = file {
        config.logfile = file.logfile;
        config.warnings.extend(file.notes);
    }
    Ok(config)
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
