//! memcached's introspection commands, request side: `lru_crawler ...`
//! (`proto_text.c` `process_lru_crawler_command`) and the class lists
//! `crawler.c` `lru_crawler_crawl` accepts.

use super::common::tokens;
use super::number;

/// Largest slab class id memcached accepts (`MAX_NUMBER_OF_SLAB_CLASSES`
/// is 64, and ids start at `POWER_SMALLEST`, 1).
pub const MAX_CLASS_ID: u32 = 63;

/// Which classes a crawl or a dump covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classes {
    /// `all`.
    All,
    /// `hash`: walk the hash table.
    Hash,
    /// A comma-separated list of class ids; bit `i` is class `i`.
    Ids(u64),
}

impl Classes {
    /// Whether class `id` is selected.
    pub fn includes(&self, id: u32) -> bool {
        match self {
            Classes::All | Classes::Hash => true,
            Classes::Ids(mask) => id < 64 && mask & (1 << id) != 0,
        }
    }
}

/// `BADCLASS invalid class id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadClass;

/// What `lru_crawler_crawl` makes of its argument: `all`, `hash`, or ids
/// 1..=63 separated by commas (empty items are skipped, as `strtok_r`
/// does).
pub fn classes(arg: &[u8]) -> Result<Classes, BadClass> {
    match arg {
        b"all" => return Ok(Classes::All),
        b"hash" => return Ok(Classes::Hash),
        _ => {}
    }
    let mut mask = 0u64;
    for item in arg.split(|&b| b == b',').filter(|t| !t.is_empty()) {
        match number::safe_strtoul(item) {
            Some(id) if (1..=MAX_CLASS_ID).contains(&id) => mask |= 1 << id,
            _ => return Err(BadClass),
        }
    }
    Ok(Classes::Ids(mask))
}

/// Which dump a `metadump`/`mgdump` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// `key=... exp=... la=... cas=... fetch=... cls=... size=... flags=...`
    /// lines, then `END`.
    Meta,
    /// `mg <key>` (or `mg <base64> b`) lines, then `EN` (memcached 1.6.19).
    Mg,
}

/// One `lru_crawler` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crawler<'a> {
    /// `crawl <classes>`: reclaim expired items now.
    Crawl(&'a [u8]),
    /// `metadump <classes>` / `mgdump <classes>`.
    Dump(DumpFormat, &'a [u8]),
    /// `tocrawl <n>`; `None` when not a number.
    ToCrawl(Option<u32>),
    /// `sleep <microseconds>`; `None` when not a number.
    Sleep(Option<u32>),
    Enable,
    Disable,
    /// Anything else: `ERROR`.
    Unknown,
}

/// Parse the arguments of `lru_crawler` (what follows the command name).
pub fn crawler(rest: &[u8]) -> Crawler<'_> {
    let mut t = tokens(rest);
    let (sub, arg, extra) = (t.next(), t.next(), t.next());
    if extra.is_some() {
        return Crawler::Unknown;
    }
    match (sub, arg) {
        (Some(b"crawl"), Some(a)) => Crawler::Crawl(a),
        (Some(b"metadump"), Some(a)) => Crawler::Dump(DumpFormat::Meta, a),
        (Some(b"mgdump"), Some(a)) => Crawler::Dump(DumpFormat::Mg, a),
        (Some(b"tocrawl"), Some(a)) => Crawler::ToCrawl(number::safe_strtoul(a)),
        (Some(b"sleep"), Some(a)) => Crawler::Sleep(number::safe_strtoul(a)),
        (Some(b"enable"), None) => Crawler::Enable,
        (Some(b"disable"), None) => Crawler::Disable,
        _ => Crawler::Unknown,
    }
}

/// The event kinds of `watch` (memcached's `LOG_*` bits).
pub mod watch {
    pub const RAWCMDS: u32 = 1;
    pub const EVICTIONS: u32 = 2;
    pub const FETCHERS: u32 = 4;
    pub const MUTATIONS: u32 = 8;
    pub const SYSEVENTS: u32 = 16;
    pub const CONNEVENTS: u32 = 32;
    pub const PROXYREQS: u32 = 64;
    pub const PROXYEVENTS: u32 = 128;
    pub const PROXYUSER: u32 = 256;
    pub const DELETIONS: u32 = 512;
    /// ferrocache: a key entering the hot-key list (`-o hot_keys`).
    pub const HOTKEYS: u32 = 1024;
}

/// The kinds a `watch` asks for (`fetchers` when none is named); `None`
/// when a word is not a kind memcached knows (`ERROR`). Kinds ferrocache
/// has no events for (`rawcmds`, `sysevents`, the proxy's) are accepted
/// and stay silent; `hotkeys` is ferrocache's own.
pub fn watch_kinds(rest: &[u8]) -> Option<u32> {
    let mut kinds = 0;
    for t in tokens(rest) {
        kinds |= match t {
            b"rawcmds" => watch::RAWCMDS,
            b"evictions" => watch::EVICTIONS,
            b"fetchers" => watch::FETCHERS,
            b"mutations" => watch::MUTATIONS,
            b"sysevents" => watch::SYSEVENTS,
            b"connevents" => watch::CONNEVENTS,
            b"proxyreqs" => watch::PROXYREQS,
            b"proxyevents" => watch::PROXYEVENTS,
            b"proxyuser" => watch::PROXYUSER,
            b"deletions" => watch::DELETIONS,
            b"hotkeys" => watch::HOTKEYS,
            _ => return None,
        };
    }
    Some(if kinds == 0 { watch::FETCHERS } else { kinds })
}

/// Why `stats cachedump <class> <limit>` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachedumpError {
    /// Fewer than two arguments: `CLIENT_ERROR bad command line`.
    Missing,
    /// Not numbers: `CLIENT_ERROR bad command line format`.
    Format,
    /// A class of 64 or more: `CLIENT_ERROR Illegal slab id`.
    Class,
}

/// The arguments of `stats cachedump` (after `cachedump`): the class and
/// the item limit (0: all), as memcached 1.6.18 checks them; more
/// arguments are ignored.
pub fn cachedump(args: &[u8]) -> Result<(u32, u32), CachedumpError> {
    let mut t = tokens(args);
    let (Some(class), Some(limit)) = (t.next(), t.next()) else {
        return Err(CachedumpError::Missing);
    };
    let (Some(class), Some(limit)) = (number::safe_strtoul(class), number::safe_strtoul(limit))
    else {
        return Err(CachedumpError::Format);
    };
    if class > MAX_CLASS_ID {
        return Err(CachedumpError::Class);
    }
    Ok((class, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_lists() {
        let cases: &[(&[u8], Result<Classes, BadClass>)] = &[
            (b"all", Ok(Classes::All)),
            (b"hash", Ok(Classes::Hash)),
            (b"1", Ok(Classes::Ids(1 << 1))),
            (b"1,3", Ok(Classes::Ids(1 << 1 | 1 << 3))),
            (b"63", Ok(Classes::Ids(1 << 63))),
            (b"0", Err(BadClass)),
            (b"64", Err(BadClass)),
            (b"1,x", Err(BadClass)),
            (b"-1", Err(BadClass)),
        ];
        for (arg, want) in cases {
            assert_eq!(classes(arg), *want, "{}", String::from_utf8_lossy(arg));
        }
    }

    #[test]
    fn subcommands() {
        let cases: &[(&[u8], Crawler)] = &[
            (b" crawl 1", Crawler::Crawl(b"1")),
            (b" metadump all", Crawler::Dump(DumpFormat::Meta, b"all")),
            (b" mgdump hash", Crawler::Dump(DumpFormat::Mg, b"hash")),
            (b" tocrawl 10", Crawler::ToCrawl(Some(10))),
            (b" sleep x", Crawler::Sleep(None)),
            (b" enable", Crawler::Enable),
            (b" disable", Crawler::Disable),
            (b" enable now", Crawler::Unknown),
            (b" crawl", Crawler::Unknown),
            (b" crawl 1 2", Crawler::Unknown),
            (b"", Crawler::Unknown),
        ];
        for (rest, want) in cases {
            assert_eq!(crawler(rest), *want, "{}", String::from_utf8_lossy(rest));
        }
    }
}
