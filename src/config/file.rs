//! `--config-file FILE`: the options of a file in Debian's
//! `/etc/memcached.conf` format, placed before the command line's.

use std::ffi::OsString;
use std::path::PathBuf;

use super::flags::flag_id;
use super::settings::ConfigError;

/// What a config file said beyond plain options.
pub(super) struct ConfigFile {
    pub(super) logfile: Option<PathBuf>,
    pub(super) notes: Vec<String>,
}

/// With `--config-file FILE`, put the file's options before the command
/// line's, dropping any the command line also gives (so it overrides even
/// repeatable flags such as `-l`).
pub(super) fn expand_config_file(
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
