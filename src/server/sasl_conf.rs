//! memcached's SASL configuration file: `memcached.conf` in Cyrus SASL's
//! format (`key: value` lines), found where memcached's `sasl_defs.c` looks:
//! in `$SASL_CONF_PATH`, else `/etc/sasl`, else `/etc/sasl2`.
//!
//! Two keys matter to ferrocache: `mech_list` (the mechanisms offered, e.g.
//! `plain cram-md5`) and `sasldb_path` (a Cyrus sasldb2 file, as
//! `saslpasswd2` writes it, read by [`super::sasldb`]). Other keys
//! (`log_level`, `pwcheck_method`, ...) are Cyrus' own and ignored.

use std::path::{Path, PathBuf};

/// The directories searched when `$SASL_CONF_PATH` is unset, in order.
const DEFAULT_DIRS: &[&str] = &["/etc/sasl", "/etc/sasl2"];
/// The file name, as Cyrus derives it from memcached's application name.
const FILE_NAME: &str = "memcached.conf";

/// What `memcached.conf` says, as far as ferrocache uses it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SaslConf {
    /// Where the file was read from, if one was found.
    pub path: Option<PathBuf>,
    /// `mech_list`: mechanism names, upper-cased (Cyrus compares them
    /// without regard to case).
    pub mech_list: Option<Vec<String>>,
    /// `sasldb_path`: a sasldb2 file with the users.
    pub sasldb_path: Option<PathBuf>,
}

impl SaslConf {
    /// Parse Cyrus' format: `key: value` per line; `#` starts a comment
    /// line; the key is everything before the first `:`.
    pub fn parse(text: &str) -> SaslConf {
        let mut conf = SaslConf::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "mech_list" => conf.mech_list = Some(mech_names(value)),
                "sasldb_path" if !value.is_empty() => conf.sasldb_path = Some(value.into()),
                _ => {}
            }
        }
        conf
    }

    /// Read the file from memcached's places; no file is an empty config.
    pub fn load() -> SaslConf {
        let dirs: Vec<PathBuf> = match std::env::var_os("SASL_CONF_PATH") {
            Some(dir) if !dir.is_empty() => vec![dir.into()],
            _ => DEFAULT_DIRS.iter().map(PathBuf::from).collect(),
        };
        for dir in dirs {
            let path = dir.join(FILE_NAME);
            if let Ok(text) = std::fs::read_to_string(&path) {
                return SaslConf {
                    path: Some(path),
                    ..SaslConf::parse(&text)
                };
            }
        }
        SaslConf::default()
    }

    /// Where it came from, for messages.
    pub fn describe(&self) -> String {
        self.path.as_deref().map_or_else(
            || "(no memcached.conf)".into(),
            |p: &Path| p.display().to_string(),
        )
    }
}

/// Mechanism names separated by spaces (Cyrus) or colons (`-o
/// sasl_mech_list=plain:cram-md5`, where commas separate sub-options).
pub fn mech_names(list: &str) -> Vec<String> {
    list.split([' ', '\t', ':'])
        .filter(|m| !m.is_empty())
        .map(str::to_ascii_uppercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_memcached_test_conf() {
        // memcached 1.6.18's t/sasl/memcached.conf.
        let conf = SaslConf::parse(
            "mech_list: plain cram-md5\nlog_level: 5\nsasldb_path: /tmp/test-memcached.sasldb\n",
        );
        assert_eq!(
            conf.mech_list,
            Some(vec!["PLAIN".to_string(), "CRAM-MD5".to_string()])
        );
        assert_eq!(
            conf.sasldb_path,
            Some(PathBuf::from("/tmp/test-memcached.sasldb"))
        );
    }

    #[test]
    fn comments_blank_and_other_keys() {
        let conf = SaslConf::parse("# mech_list: scram-sha-1\n\npwcheck_method: auxprop\n");
        assert_eq!(conf, SaslConf::default());
        assert_eq!(mech_names("plain:CRAM-md5"), vec!["PLAIN", "CRAM-MD5"]);
    }
}
