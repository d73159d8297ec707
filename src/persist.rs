//! Snapshots of the cache in a file: warm restart (`-e PATH`), written on a
//! graceful stop and loaded before the ports open.
//!
//! The store only walks its items and takes them back
//! ([`Cache::for_each_item`], [`Cache::loader`]); the format and the I/O
//! are here. Both sides avoid a cache miss per item, which is what bounds
//! them: the walk reads the indexes in order rather than probing them, and
//! a load sizes the indexes from the end section's count before it starts
//! and links its records one stripe at a time.
//!
//! ## Format (little-endian)
//! ```text
//! header   magic "FERROSNP" | version u32 | state u32 | written_at i64
//!          | hash_power u32 | crc32 u32 of the 28 bytes before      (32 bytes)
//! section  tag u32 (1: items, 2: end) | count u32 | len u32
//!          | crc32 u32 of tag, count, len and the payload | payload (len bytes)
//! item     key_len u8 | bits u8 | 0 u16 | flags u32 | cas u64
//!          | exptime i64 (unix seconds, 0: never) | last access i64 (unix)
//!          | value_len u32 | key | value
//! end      payload: items u64 | item sections u64
//! ```
//! A file is written to `PATH.tmp`, fsynced, renamed over `PATH` and the
//! directory fsynced: a crash mid-write leaves the previous file or none,
//! never a torn one. Every section is checked before its items are used;
//! a bad section, a missing end or a wrong count empties the cache again,
//! so a damaged file never yields a wrong value.
//!
//! `state` says whether loading the file is safe: a file written by a
//! graceful stop is exact. Once loaded it is marked `LOADED` in place: the
//! daemon that loaded it went on serving, so after a crash the file may hold
//! values deleted or replaced since; it is loaded again only with
//! `-o snapshot_load_unclean`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::store::{Cache, ItemCopy, ItemRef, Pace, StoreError, MAX_KEY};

const MAGIC: &[u8; 8] = b"FERROSNP";
/// The format this build writes and the newest it reads.
pub const VERSION: u32 = 1;
const HEADER_LEN: usize = 32;
const SECTION_HEAD: usize = 16;
const ITEM_HEAD: usize = 36;
const TAG_ITEMS: u32 = 1;
const TAG_END: u32 = 2;
/// Items are grouped into sections of about this many payload bytes.
const SECTION_TARGET: usize = 1 << 20;
/// No section may claim more (an item of the largest `-I`, 1 GiB, plus
/// its header): a hostile length cannot make the loader allocate more.
const SECTION_MAX: usize = (1 << 30) + 4096;

/// Whether a file may be loaded as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Written by a graceful stop, with no request served during the walk.
    Exact = 0,
    /// Written while serving (`-o snapshot_path`): not exact.
    Online = 1,
    /// Loaded once already: a daemon served (and maybe deleted) since.
    Loaded = 2,
}

/// What a write or a load did, for the log and `stats`.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub items: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// Items dropped on load: expired while the daemon was down.
    pub expired: u64,
    /// Items dropped on load: larger than `-I`, or no room under `-M`.
    pub skipped: u64,
    pub micros: u64,
}

/// Why a file was not (wholly) loaded. The cache is empty afterwards.
#[derive(Debug)]
pub enum LoadError {
    Missing,
    Io(io::Error),
    Empty,
    BadMagic,
    FutureVersion(u32),
    BadVersion(u32),
    /// A checksum did not match; the byte offset of the section.
    Checksum(u64),
    /// The file ends early; what was being read.
    Truncated(&'static str),
    /// Well-formed checksums around nonsense; what was wrong.
    Malformed(String),
    /// Loaded before and perhaps served from since (see the module doc).
    AlreadyLoaded,
    /// Taken while serving: a value deleted after it may be in it.
    Online,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Missing => write!(f, "no such file"),
            LoadError::Io(e) => write!(f, "read error: {e}"),
            LoadError::Empty => write!(f, "the file is empty"),
            LoadError::BadMagic => write!(f, "not a ferrocache snapshot (bad magic)"),
            LoadError::FutureVersion(v) => write!(
                f,
                "format version {v} is newer than this ferrocache reads ({VERSION})"
            ),
            LoadError::BadVersion(v) => write!(f, "unknown format version {v}"),
            LoadError::Checksum(at) => write!(f, "corrupt: checksum mismatch at byte {at}"),
            LoadError::Truncated(what) => write!(f, "truncated: the file ends inside {what}"),
            LoadError::Malformed(what) => write!(f, "corrupt: {what}"),
            LoadError::AlreadyLoaded => write!(
                f,
                "already loaded once (values deleted since may be in it); \
                 -o snapshot_load_unclean loads it anyway"
            ),
            LoadError::Online => write!(
                f,
                "an online snapshot (values deleted after it may be in it); \
                 -o snapshot_load_unclean loads it anyway"
            ),
        }
    }
}

impl LoadError {
    /// One word for `stats`.
    pub fn token(&self) -> &'static str {
        match self {
            LoadError::Missing => "missing",
            LoadError::Io(_) => "io_error",
            LoadError::Empty => "empty",
            LoadError::BadMagic | LoadError::Checksum(_) | LoadError::Malformed(_) => "corrupt",
            LoadError::FutureVersion(_) | LoadError::BadVersion(_) => "version",
            LoadError::Truncated(_) => "truncated",
            LoadError::AlreadyLoaded => "already_loaded",
            LoadError::Online => "unclean",
        }
    }
}

impl From<io::Error> for LoadError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            LoadError::Truncated("a section")
        } else {
            LoadError::Io(e)
        }
    }
}

fn crc(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

fn header(state: State, written_at: i64, hash_power: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(state as u32).to_le_bytes());
    h[16..24].copy_from_slice(&written_at.to_le_bytes());
    h[24..28].copy_from_slice(&hash_power.to_le_bytes());
    let c = crc(&[&h[..28]]);
    h[28..].copy_from_slice(&c.to_le_bytes());
    h
}

/// Why `-e PATH` must not be used as it is: `PATH.meta` is memcached's
/// restart metadata, so PATH is a memcached memory image waiting for its
/// restart. ferrocache cannot read it and would overwrite it at its next
/// save, so it refuses to start (memcached itself refuses a damaged one).
pub fn foreign_file(path: &Path) -> Option<String> {
    let mut meta = path.as_os_str().to_owned();
    meta.push(".meta");
    let meta = PathBuf::from(meta);
    meta.exists().then(|| {
        format!(
            "{} is memcached's restart metadata: {} holds a memcached memory image, \
             which ferrocache cannot load; move both away or use another -e file",
            meta.display(),
            path.display()
        )
    })
}

/// `PATH.tmp`: where a snapshot is written before the rename.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Encode one item at the end of `out`; times are unix seconds.
fn encode(out: &mut Vec<u8>, it: &ItemCopy, epoch_unix: i64) {
    let abs = |rel: u32| epoch_unix + rel as i64;
    out.push(it.key.len() as u8);
    out.push(it.bits);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&it.flags.to_le_bytes());
    out.extend_from_slice(&it.cas.to_le_bytes());
    let exp = if it.exp == 0 { 0 } else { abs(it.exp) };
    out.extend_from_slice(&exp.to_le_bytes());
    out.extend_from_slice(&abs(it.time).to_le_bytes());
    out.extend_from_slice(&(it.value.len() as u32).to_le_bytes());
    out.extend_from_slice(&it.key);
    out.extend_from_slice(&it.value);
}

fn write_section(w: &mut impl Write, tag: u32, count: u32, payload: &[u8]) -> io::Result<()> {
    let mut head = [0u8; SECTION_HEAD];
    head[..4].copy_from_slice(&tag.to_le_bytes());
    head[4..8].copy_from_slice(&count.to_le_bytes());
    head[8..12].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    let c = crc(&[&head[..12], payload]);
    head[12..].copy_from_slice(&c.to_le_bytes());
    w.write_all(&head)?;
    w.write_all(payload)
}

/// Write every live item of `cache` to `path` (through `PATH.tmp`, fsync
/// and rename). `hash_power` is kept for `stats` after the restart.
/// [`State::Online`] walks while the server serves (see
/// [`Cache::for_each_item`]).
pub fn write(
    cache: &Cache,
    path: &Path,
    hash_power: u32,
    state: State,
    pace: Option<&mut dyn Pace>,
) -> io::Result<Report> {
    let started = Instant::now();
    let tmp = temp_path(path);
    let result = write_to(cache, &tmp, hash_power, state, pace).and_then(|report| {
        std::fs::rename(&tmp, path)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        // The rename is durable once the directory is.
        File::open(dir)?.sync_all()?;
        Ok(report)
    });
    match result {
        Ok(mut report) => {
            report.micros = started.elapsed().as_micros() as u64;
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn write_to(
    cache: &Cache,
    tmp: &Path,
    hash_power: u32,
    state: State,
    pace: Option<&mut dyn Pace>,
) -> io::Result<Report> {
    let file = File::create(tmp)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let clock = cache.clock();
    let epoch = clock.epoch_unix();
    w.write_all(&header(state, clock.unix_now(), hash_power))?;
    let mut report = Report::default();
    let mut sections = 0u64;
    let mut buf = Vec::with_capacity(SECTION_TARGET + 4096);
    let mut count = 0u32;
    let mut failed: Option<io::Error> = None;
    let mut item = ItemCopy::default();
    debug_assert_eq!(pace.is_some(), state == State::Online);
    cache.for_each_item(&mut item, pace, |it| {
        encode(&mut buf, it, epoch);
        count += 1;
        report.items += 1;
        if buf.len() >= SECTION_TARGET {
            if let Err(e) = write_section(&mut w, TAG_ITEMS, count, &buf) {
                failed = Some(e);
                return false;
            }
            sections += 1;
            buf.clear();
            count = 0;
        }
        true
    });
    if let Some(e) = failed {
        return Err(e);
    }
    if count > 0 {
        write_section(&mut w, TAG_ITEMS, count, &buf)?;
        sections += 1;
    }
    let mut end = [0u8; 16];
    end[..8].copy_from_slice(&report.items.to_le_bytes());
    end[8..].copy_from_slice(&sections.to_le_bytes());
    write_section(&mut w, TAG_END, 0, &end)?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    report.bytes = file.metadata()?.len();
    Ok(report)
}

/// What [`load`] needs besides the cache and the path.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// `-o snapshot_load_unclean`: load a file even if it was loaded before.
    pub unclean: bool,
}

/// What a good load found besides its items.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub report: Report,
    pub hash_power: u32,
    /// Unix time the file was written.
    pub written_at: i64,
}

/// Load `path` into `cache` (empty, before the ports open). On any error
/// the cache is left empty. A good file is then marked loaded.
pub fn load(cache: &Cache, path: &Path, opts: LoadOptions) -> Result<Loaded, LoadError> {
    let started = Instant::now();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(LoadError::Missing),
        Err(e) => return Err(LoadError::Io(e)),
    };
    let size = file.metadata()?.len();
    let mut file = file;
    if let Some(items) = claimed_items(&mut file, size) {
        // Bounded by what the file and the budget can hold: a damaged
        // count cannot make the indexes huge.
        let most = (size / (ITEM_HEAD as u64 + 1)).min(cache.capacity_bytes() as u64 / 24);
        cache.expect_items(items.min(most) as usize);
    }
    let result = load_from(cache, &mut file, size, opts);
    match result {
        Ok(mut loaded) => {
            loaded.report.micros = started.elapsed().as_micros() as u64;
            Ok(loaded)
        }
        Err(e) => {
            // Sections already loaded were sound, but the file as a whole
            // is not: start empty rather than with part of it.
            cache.clear();
            Err(e)
        }
    }
}

/// The item count the end section claims, unchecked (its checksum is
/// checked when the load reaches it): a hint to size the indexes. Leaves
/// `file` at its start.
fn claimed_items(file: &mut File, size: u64) -> Option<u64> {
    const END_LEN: u64 = (SECTION_HEAD + 16) as u64;
    let mut end = [0u8; END_LEN as usize];
    let found = size >= (HEADER_LEN as u64 + END_LEN)
        && file.seek(SeekFrom::Start(size - END_LEN)).is_ok()
        && file.read_exact(&mut end).is_ok();
    file.seek(SeekFrom::Start(0)).ok()?;
    (found && le32(&end) == TAG_END && le32(&end[8..]) == 16).then(|| le64(&end[SECTION_HEAD..]))
}

/// Mark a loaded file so that it is not loaded again by accident.
pub fn mark_loaded(path: &Path, written_at: i64, hash_power: u32) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).open(path)?;
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&header(State::Loaded, written_at, hash_power))?;
    f.sync_all()
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// One item as the file has it: times are unix seconds (`exptime` 0:
/// never).
#[derive(Debug, Default, Clone, Copy)]
pub struct FileItem<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub flags: u32,
    pub cas: u64,
    pub exptime: i64,
    pub last_access: i64,
    pub bits: u8,
}

/// What a file's header and end section say.
#[derive(Debug, Clone, Default)]
pub struct FileSummary {
    pub items: u64,
    pub bytes: u64,
    pub hash_power: u32,
    pub written_at: i64,
    /// 0 exact, 1 online, 2 loaded ([`State`]).
    pub state: u32,
}

/// Read a snapshot file, checking every section, and hand each item of a
/// checked section to `f`. `accept` decides on the header's state. `f`
/// may see items of a file found damaged further on: a caller that must
/// not, reads it twice (the first time with a no-op `f`). `r` is read in
/// whole sections: it need not be buffered.
pub fn read_items(
    r: &mut impl Read,
    size: u64,
    accept: impl Fn(u32) -> Result<(), LoadError>,
    mut f: impl FnMut(&FileItem),
) -> Result<FileSummary, LoadError> {
    if size == 0 {
        return Err(LoadError::Empty);
    }
    let mut h = [0u8; HEADER_LEN];
    read_exact(r, &mut h, "the header")?;
    if &h[..8] != MAGIC {
        return Err(LoadError::BadMagic);
    }
    let version = le32(&h[8..]);
    if crc(&[&h[..28]]) != le32(&h[28..]) {
        return Err(LoadError::Checksum(0));
    }
    if version > VERSION {
        return Err(LoadError::FutureVersion(version));
    }
    if version == 0 {
        return Err(LoadError::BadVersion(version));
    }
    let state = le32(&h[12..]);
    if state > 2 {
        return Err(LoadError::Malformed(format!("unknown state {state}")));
    }
    accept(state)?;
    let mut summary = FileSummary {
        hash_power: le32(&h[24..]),
        written_at: le64(&h[16..]) as i64,
        state,
        bytes: size,
        ..Default::default()
    };
    let mut at = HEADER_LEN as u64;
    let mut sections = 0u64;
    // Only ever grown: a section is read straight into it, with no zeroing
    // and no copy through a buffer.
    let mut payload = Vec::new();
    let mut progress = Instant::now();
    loop {
        if progress.elapsed().as_secs() >= 1 {
            log::info!(
                "warm restart: loading, {} items and {at} of {size} bytes so far",
                summary.items
            );
            progress = Instant::now();
        }
        let mut head = [0u8; SECTION_HEAD];
        read_exact(r, &mut head, "a section header (no end section)")?;
        let (tag, count, len) = (le32(&head), le32(&head[4..]), le32(&head[8..]) as usize);
        if len > SECTION_MAX || at + (SECTION_HEAD + len) as u64 > size {
            // A cut file, or a damaged length.
            return Err(LoadError::Malformed(format!(
                "the section at byte {at} claims {len} bytes, {} remain (truncated file?)",
                size.saturating_sub(at + SECTION_HEAD as u64)
            )));
        }
        if payload.len() < len {
            payload.resize(len, 0);
        }
        let payload = &mut payload[..len];
        read_exact(r, payload, "a section")?;
        if crc(&[&head[..12], payload]) != le32(&head[12..]) {
            return Err(LoadError::Checksum(at));
        }
        at += (SECTION_HEAD + len) as u64;
        match tag {
            TAG_END => {
                if len != 16 {
                    return Err(LoadError::Malformed("end section of the wrong size".into()));
                }
                let (items, secs) = (le64(payload), le64(&payload[8..]));
                if items != summary.items || secs != sections {
                    return Err(LoadError::Malformed(format!(
                        "the end section counts {items} items in {secs} sections, \
                         the file holds {} in {sections}",
                        summary.items
                    )));
                }
                if at != size {
                    return Err(LoadError::Malformed("bytes after the end section".into()));
                }
                return Ok(summary);
            }
            TAG_ITEMS => {}
            t => return Err(LoadError::Malformed(format!("unknown section tag {t}"))),
        }
        sections += 1;
        let mut p = &*payload;
        for _ in 0..count {
            if p.len() < ITEM_HEAD {
                return Err(LoadError::Malformed("an item runs past its section".into()));
            }
            let nkey = p[0] as usize;
            let vlen = le32(&p[32..]) as usize;
            if nkey == 0 || nkey > MAX_KEY {
                return Err(LoadError::Malformed(format!("a key of {nkey} bytes")));
            }
            if p.len() < ITEM_HEAD + nkey + vlen {
                return Err(LoadError::Malformed("an item runs past its section".into()));
            }
            let item = FileItem {
                bits: p[1],
                flags: le32(&p[4..]),
                cas: le64(&p[8..]),
                exptime: le64(&p[16..]) as i64,
                last_access: le64(&p[24..]) as i64,
                key: &p[ITEM_HEAD..ITEM_HEAD + nkey],
                value: &p[ITEM_HEAD + nkey..ITEM_HEAD + nkey + vlen],
            };
            p = &p[ITEM_HEAD + nkey + vlen..];
            summary.items += 1;
            f(&item);
        }
        if !p.is_empty() {
            return Err(LoadError::Malformed(
                "a section holds more bytes than its items".into(),
            ));
        }
    }
}

fn load_from(
    cache: &Cache,
    r: &mut impl Read,
    size: u64,
    opts: LoadOptions,
) -> Result<Loaded, LoadError> {
    let accept = |state: u32| match state {
        0 => Ok(()),
        _ if opts.unclean => Ok(()),
        1 => Err(LoadError::Online),
        _ => Err(LoadError::AlreadyLoaded),
    };
    let clock = cache.clock();
    let (epoch, now_unix, now) = (clock.epoch_unix(), clock.unix_now(), clock.now());
    let mut report = Report::default();
    let mut max_cas = 0u64;
    // Dropped (linking what it holds) before `load` may clear the cache.
    let mut loader = cache.loader();
    let summary = read_items(r, size, accept, |it| {
        max_cas = max_cas.max(it.cas);
        if it.exptime != 0 && it.exptime <= now_unix {
            report.expired += 1;
            return;
        }
        let exp = if it.exptime == 0 {
            0
        } else {
            it.exptime
                .saturating_sub(epoch)
                .clamp(now as i64 + 1, u32::MAX as i64) as u32
        };
        let item = ItemRef {
            key: it.key,
            value: it.value,
            flags: it.flags,
            cas: it.cas,
            exp,
            time: it.last_access.saturating_sub(epoch).clamp(0, now as i64) as u32,
            bits: it.bits,
        };
        match loader.add(&item) {
            Ok(()) => report.items += 1,
            Err(StoreError::TooLarge | StoreError::OutOfMemory) => report.skipped += 1,
        }
    })?;
    drop(loader);
    cache.raise_cas_floor(max_cas);
    report.bytes = summary.bytes;
    Ok(Loaded {
        report,
        hash_power: summary.hash_power,
        written_at: summary.written_at,
    })
}

fn read_exact(r: &mut impl Read, buf: &mut [u8], what: &'static str) -> Result<(), LoadError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => LoadError::Truncated(what),
        _ => LoadError::Io(e),
    })
}

/// The last load or save, for `stats`.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Unix time it finished.
    pub at: i64,
    pub report: Report,
    /// `ok`, or a [`LoadError::token`] / `io_error`.
    pub result: &'static str,
}

/// The daemon's side of `-e` and `-o snapshot_path`: whether the stop under
/// way saves, whether an online snapshot is wanted, and what the last load
/// and save did.
#[derive(Debug, Default)]
pub struct Status {
    save_on_stop: AtomicBool,
    snapshot_wanted: Mutex<bool>,
    snapshot_asked: Condvar,
    pub last_load: Mutex<Option<Outcome>>,
    pub last_save: Mutex<Option<Outcome>>,
}

impl Status {
    /// SIGUSR1 or `shutdown graceful`: the stop that follows saves (`-e`).
    pub fn request_save(&self) {
        self.save_on_stop.store(true, Ordering::Release);
    }

    pub fn save_requested(&self) -> bool {
        self.save_on_stop.load(Ordering::Acquire)
    }

    /// Load `path` at start-up, before any port opens: log one line with
    /// the outcome, mark a loaded file, and return `stats`' hash power.
    pub fn load_at_start(&self, cache: &Cache, path: &Path, opts: LoadOptions) -> Option<u32> {
        let shown = path.display();
        let at = cache.clock().unix_now();
        match load(cache, path, opts) {
            Ok(loaded) => {
                let r = &loaded.report;
                log::warn!(
                    "warm restart: loaded {} items ({} bytes) from {shown} in {} ms; \
                     dropped {} expired, {} that did not fit",
                    r.items,
                    r.bytes,
                    r.micros / 1000,
                    r.expired,
                    r.skipped
                );
                if let Err(e) = mark_loaded(path, loaded.written_at, loaded.hash_power) {
                    log::error!("warm restart: cannot mark {shown} as loaded: {e}");
                }
                *self.last_load.lock() = Some(Outcome {
                    at,
                    report: loaded.report,
                    result: "ok",
                });
                Some(loaded.hash_power)
            }
            Err(e) => {
                log::warn!("warm restart: not loading {shown}: {e}; starting with an empty cache");
                *self.last_load.lock() = Some(Outcome {
                    at,
                    report: Report::default(),
                    result: e.token(),
                });
                None
            }
        }
    }

    /// Ask the snapshot thread for an online snapshot (SIGUSR2).
    pub fn request_snapshot(&self) {
        *self.snapshot_wanted.lock() = true;
        self.snapshot_asked.notify_all();
    }

    /// Wait up to `timeout` for [`Status::request_snapshot`]; whether one
    /// was asked for (and is now taken off the list).
    pub fn wait_snapshot(&self, timeout: std::time::Duration) -> bool {
        let mut wanted = self.snapshot_wanted.lock();
        if !*wanted {
            self.snapshot_asked.wait_for(&mut wanted, timeout);
        }
        std::mem::take(&mut *wanted)
    }

    /// An online snapshot to `path` while serving, sharing the machine as
    /// `pace` says; logs the outcome.
    pub fn save_online(
        &self,
        cache: &Cache,
        path: &Path,
        hash_power: u32,
        pace: &mut dyn Pace,
    ) -> io::Result<Report> {
        let result = write(cache, path, hash_power, State::Online, Some(pace));
        let shown = path.display();
        match &result {
            Ok(r) => log::info!(
                "snapshot: wrote {} items ({} bytes) to {shown} in {} ms",
                r.items,
                r.bytes,
                r.micros / 1000
            ),
            Err(e) => log::error!("snapshot: writing {shown} failed: {e}"),
        }
        *self.last_save.lock() = Some(Outcome {
            at: cache.clock().unix_now(),
            report: result.as_ref().cloned().unwrap_or_default(),
            result: if result.is_ok() { "ok" } else { "io_error" },
        });
        result
    }

    /// Save at the end of a graceful stop; logs the outcome.
    pub fn save_at_stop(&self, cache: &Cache, path: &Path, hash_power: u32) -> io::Result<Report> {
        let shown = path.display();
        log::warn!("warm restart: saving the cache to {shown}");
        let result = write(cache, path, hash_power, State::Exact, None);
        match &result {
            Ok(r) => log::warn!(
                "warm restart: saved {} items ({} bytes) to {shown} in {} ms",
                r.items,
                r.bytes,
                r.micros / 1000
            ),
            Err(e) => log::error!("warm restart: saving to {shown} failed: {e}"),
        }
        *self.last_save.lock() = Some(Outcome {
            at: cache.clock().unix_now(),
            report: result.as_ref().cloned().unwrap_or_default(),
            result: if result.is_ok() { "ok" } else { "io_error" },
        });
        result
    }
}

#[cfg(test)]
mod tests;
