//! Item memory: one log of fixed-size segments shared by every stripe.
//! Nothing here knows about keys or the index.
//!
//! Segcache's layout (Pelikan, NSDI '21) without its TTL buckets: a writer
//! reserves room at the end of the current head segment with one atomic
//! add, writes its record there outside any lock, then links it in its
//! stripe. When the head is full it is sealed and a free segment becomes
//! the head. When no segment is free, the cleaner (in `clean.rs`) empties a
//! sealed one: with garbage about, the one holding the fewest live bytes,
//! moving its live records forward (compaction); otherwise the oldest, where
//! records read since they were written move forward once more and the rest
//! are evicted (CLOCK over the whole cache, in write order).
//!
//! Memory therefore belongs to no stripe and no size class: the `-m` budget
//! is a number of segments, and every segment holds items of every size.
//!
//! ## Record layout
//! Records start on a 4-byte word and cover whole words (see `words.rs`).
//! ```text
//! word 0-1  CAS unique (u64)
//! word 2    expiry, relative seconds (0: never)
//! word 3    last access, relative seconds
//! word 4    key length (u8) | status bits (u8) | value length (u16)
//! [word]    client flags, present when the FLAGS bit is set
//! [word]    value length (u32), present when the LONG bit is set
//! key, value, zero padding to the next word
//! ```
//! A 20-byte key with a 100-byte value and flags 0 takes 140 bytes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

use super::words::{Bytes, WordWriter};

/// Refers to a record: `(segment << off_bits) | word offset`.
pub type Handle = u32;

/// Header bytes every item is charged for in `-I`: the largest header a
/// record can have, so a record of an item within `-I` fits a segment.
pub const HDR: usize = 28;

/// Bytes of the fixed part of a record header.
pub const BASE_HDR: usize = 20;

pub const W_CAS: usize = 0;
pub const W_EXP: usize = 2;
pub const W_TIME: usize = 3;
pub const W_META: usize = 4;

/// Status bits (byte 1 of the meta word).
/// CLOCK reference bit: read since written or last moved.
pub const REF: u8 = 1;
/// Written by the cleaner moving a live record forward, not by a store (an
/// online snapshot's walk of the log written since it began takes only
/// these: the items that moved ahead of it).
pub const MOVED: u8 = 2;
/// Read at least once since it was stored.
pub const FETCHED: u8 = 4;
/// Meta protocol: invalidated, served stale (`X`).
pub const STALE: u8 = 8;
/// Meta protocol: a win token was handed out for this item (`Z`).
pub const WON: u8 = 16;
/// Meta protocol: the key arrived base64-encoded (`b`).
pub const BINARY_KEY: u8 = 32;
/// The header carries a client-flags word.
pub const HAS_FLAGS: u8 = 64;
/// The header carries a 32-bit value-length word.
pub const LONG: u8 = 128;

const SEALED: u64 = 1 << 63;
const WRITER: u64 = 1 << 32;
const WRITERS: u64 = 0xffff << 32;
const USED: u64 = 0xffff_ffff;
const NONE: u32 = u32::MAX;

/// A record's header fields, as decoded.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub cas: u64,
    pub exp: u32,
    pub time: u32,
    pub flags: u32,
    pub nkey: usize,
    pub bits: u8,
    pub nbytes: usize,
    /// Bytes before the key.
    pub hdr: usize,
}

impl Header {
    /// Bytes the record covers, padding included.
    pub fn total(&self) -> usize {
        (self.hdr + self.nkey + self.nbytes).next_multiple_of(4)
    }
}

/// Bytes of the header a record with these fields needs.
pub fn header_len(flags: u32, nbytes: usize) -> usize {
    BASE_HDR + if flags != 0 { 4 } else { 0 } + if nbytes > u16::MAX as usize { 4 } else { 0 }
}

/// Bytes a record covers.
pub fn record_len(nkey: usize, flags: u32, nbytes: usize) -> usize {
    (header_len(flags, nbytes) + nkey + nbytes).next_multiple_of(4)
}

pub fn read_header(words: &[AtomicU32]) -> Header {
    let ld = |i: usize| words[i].load(Ordering::Relaxed);
    let meta = ld(W_META);
    let bits = (meta >> 8) as u8;
    let mut hdr = BASE_HDR;
    let mut flags = 0;
    if bits & HAS_FLAGS != 0 {
        flags = ld(hdr / 4);
        hdr += 4;
    }
    let mut nbytes = (meta >> 16) as usize;
    if bits & LONG != 0 {
        nbytes = ld(hdr / 4) as usize;
        hdr += 4;
    }
    Header {
        cas: ld(W_CAS) as u64 | (ld(W_CAS + 1) as u64) << 32,
        exp: ld(W_EXP),
        time: ld(W_TIME),
        flags,
        nkey: (meta & 0xff) as usize,
        bits,
        nbytes,
        hdr,
    }
}

/// Write a whole record at the start of `words`.
#[allow(clippy::too_many_arguments)]
pub fn write_record(
    words: &[AtomicU32],
    key: &[u8],
    flags: u32,
    exp: u32,
    time: u32,
    cas: u64,
    bits: u8,
    value: [&[u8]; 2],
) {
    let nbytes = value[0].len() + value[1].len();
    let mut bits = bits & !(HAS_FLAGS | LONG | MOVED);
    if flags != 0 {
        bits |= HAS_FLAGS;
    }
    let short = if nbytes > u16::MAX as usize {
        bits |= LONG;
        0
    } else {
        nbytes as u32
    };
    let mut w = WordWriter::new(words, 0);
    w.word(cas as u32);
    w.word((cas >> 32) as u32);
    w.word(exp);
    w.word(time);
    w.word(key.len() as u32 | (bits as u32) << 8 | short << 16);
    if flags != 0 {
        w.word(flags);
    }
    if bits & LONG != 0 {
        w.word(nbytes as u32);
    }
    w.bytes(key);
    w.bytes(value[0]);
    w.bytes(value[1]);
    w.finish();
}

/// Overwrite a filler header over `len` bytes: a record no key points to,
/// so walkers can step over an abandoned reservation.
fn write_filler(words: &[AtomicU32], len: usize) {
    let mut w = WordWriter::new(words, 0);
    for _ in 0..4 {
        w.word(0);
    }
    w.word((LONG as u32) << 8);
    // The filler's header is the base plus the long-length word.
    w.word((len - BASE_HDR - 4) as u32);
    w.finish();
}

pub fn set_meta_bits(words: &[AtomicU32], set: u8, clear: u8) {
    let meta = words[W_META].load(Ordering::Relaxed);
    let bits = ((meta >> 8) as u8 | set) & !clear;
    words[W_META].store(meta & !0xff00 | (bits as u32) << 8, Ordering::Relaxed);
}

struct Segment {
    data: OnceLock<Box<[AtomicU32]>>,
    /// Bytes reserved (low 32 bits), writers still at work (bits 32..48),
    /// and [`SEALED`].
    state: AtomicU64,
    /// Once sealed: bytes covered by complete reservations.
    end: AtomicU32,
    /// Bytes of linked records.
    live: AtomicU32,
    /// Readers copying a value out after unlocking its stripe.
    pins: AtomicU32,
    /// Times the segment was emptied for reuse: a walk that noted it can
    /// tell whether the records it saw there are still there.
    generation: AtomicU32,
}

struct LogState {
    /// Segments with memory and nothing in them.
    free: Vec<u32>,
    /// The next segment never used.
    fresh: u32,
    /// Oldest first.
    sealed: VecDeque<u32>,
    /// Head, sealed and being cleaned: what the budget counts.
    in_use: usize,
}

pub struct Log {
    seg_bytes: usize,
    off_bits: u32,
    segs: Box<[Segment]>,
    head: AtomicU32,
    state: Mutex<LogState>,
    /// Segments the budget allows (`-m`, then `cache_memlimit`).
    limit: AtomicUsize,
    /// The budget in bytes, as configured.
    limit_bytes: AtomicUsize,
    /// Segments whose memory has been allocated.
    allocated: AtomicUsize,
    /// `LogState::in_use`, readable without the lock.
    in_use: AtomicUsize,
    /// Segments sealed, for `stats`.
    pub sealed_total: AtomicU64,
}

/// A record's place in the head, being written. Dropping it without
/// [`Reservation::commit`] leaves a filler record; either way the segment's
/// writer count drops, so the cleaner may then look at it.
pub struct Reservation<'a> {
    log: &'a Log,
    seg: u32,
    word: u32,
    len: u32,
    committed: bool,
}

impl Reservation<'_> {
    pub fn handle(&self) -> Handle {
        (self.seg << self.log.off_bits) | self.word
    }

    pub fn words(&self) -> &[AtomicU32] {
        let w = self.word as usize;
        &self.log.seg_words(self.seg)[w..w + self.len as usize / 4]
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// The record is written and linked.
    pub fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.committed {
            write_filler(self.words(), self.len as usize);
        }
        self.log.segs[self.seg as usize]
            .state
            .fetch_sub(WRITER, Ordering::Release);
    }
}

/// A segment whose bytes a reader copies after unlocking its stripe; the
/// cleaner does not reuse a pinned segment.
pub struct Pin<'a> {
    log: &'a Log,
    seg: u32,
}

impl Drop for Pin<'_> {
    fn drop(&mut self) {
        self.log.segs[self.seg as usize]
            .pins
            .fetch_sub(1, Ordering::Release);
    }
}

/// Why a reservation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Every segment the budget allows is in use: clean one, then retry.
    NeedClean,
}

/// A sealed segment taken out of the log for cleaning.
#[derive(Debug, Clone, Copy)]
pub struct Victim {
    pub seg: u32,
    /// Compaction: move every live record (there is garbage elsewhere).
    pub compact: bool,
}

impl Log {
    /// A log of `limit` bytes in segments of at least `min_segment` bytes
    /// (the largest item, `-I`).
    pub fn new(limit: usize, min_segment: usize) -> Log {
        // Segments hold the largest item; beyond that, as few as keep
        // handles in 32 bits.
        let mut seg_bytes = min_segment.next_multiple_of(64 << 10).max(1 << 20);
        let max_limit = limit.saturating_mul(2).max(4 << 30);
        let mut off_bits = (seg_bytes / 4).next_power_of_two().trailing_zeros();
        while (max_limit / seg_bytes) >> (32 - off_bits) != 0 {
            seg_bytes *= 2;
            off_bits += 1;
        }
        let count = (max_limit / seg_bytes + 8).min(1 << (32 - off_bits)) - 1;
        let segs = (0..count)
            .map(|_| Segment {
                data: OnceLock::new(),
                state: AtomicU64::new(SEALED),
                end: AtomicU32::new(0),
                live: AtomicU32::new(0),
                pins: AtomicU32::new(0),
                generation: AtomicU32::new(0),
            })
            .collect();
        let log = Log {
            seg_bytes,
            off_bits,
            segs,
            head: AtomicU32::new(NONE),
            state: Mutex::new(LogState {
                free: Vec::new(),
                fresh: 0,
                sealed: VecDeque::new(),
                in_use: 0,
            }),
            limit: AtomicUsize::new(0),
            limit_bytes: AtomicUsize::new(limit),
            allocated: AtomicUsize::new(0),
            in_use: AtomicUsize::new(0),
            sealed_total: AtomicU64::new(0),
        };
        log.set_limit(limit);
        log
    }

    pub fn segment_bytes(&self) -> usize {
        self.seg_bytes
    }

    /// Largest record a segment holds.
    pub fn max_record(&self) -> usize {
        self.seg_bytes
    }

    /// Segments allowed for a budget of `bytes`: at least four, so the log
    /// can always seal, clean and refill.
    pub fn set_limit(&self, bytes: usize) {
        let n = (bytes / self.seg_bytes).clamp(4, self.segs.len());
        self.limit.store(n, Ordering::Relaxed);
        self.limit_bytes.store(bytes, Ordering::Relaxed);
    }

    /// The budget as configured (`limit_maxbytes`).
    pub fn limit_bytes(&self) -> usize {
        self.limit_bytes.load(Ordering::Relaxed)
    }

    pub fn limit_segments(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    pub fn capacity(&self) -> usize {
        self.limit_segments() * self.seg_bytes
    }

    /// Bytes of linked records, over all segments (summed when asked, so
    /// linking touches no counter shared by the whole cache).
    pub fn live_bytes(&self) -> usize {
        let used = self.allocated.load(Ordering::Relaxed);
        self.segs[..used]
            .iter()
            .map(|s| s.live.load(Ordering::Relaxed) as usize)
            .sum()
    }

    pub fn allocated_bytes(&self) -> usize {
        self.allocated.load(Ordering::Relaxed) * self.seg_bytes
    }

    /// Segments in use (head, sealed, being cleaned) and free with memory.
    pub fn segment_counts(&self) -> (usize, usize) {
        let st = self.state.lock();
        (st.in_use, st.free.len())
    }

    fn seg_words(&self, seg: u32) -> &[AtomicU32] {
        self.segs[seg as usize]
            .data
            .get()
            .expect("a segment in use has memory")
    }

    /// Bits of a handle that hold the word offset.
    pub fn off_bits(&self) -> u32 {
        self.off_bits
    }

    /// Segments the log can ever have (memory or not).
    pub fn segment_count(&self) -> usize {
        self.segs.len()
    }

    #[inline]
    pub fn split(&self, h: Handle) -> (u32, usize) {
        (
            h >> self.off_bits,
            (h & ((1 << self.off_bits) - 1)) as usize,
        )
    }

    /// The words of the record at `h`, to the end of its segment.
    #[inline]
    pub fn record(&self, h: Handle) -> &[AtomicU32] {
        let (seg, word) = self.split(h);
        &self.seg_words(seg)[word..]
    }

    pub fn header(&self, h: Handle) -> Header {
        read_header(self.record(h))
    }

    pub fn key(&self, h: Handle, hdr: &Header) -> Bytes<'_> {
        Bytes::new(self.record(h), hdr.hdr, hdr.nkey)
    }

    pub fn value(&self, h: Handle, hdr: &Header) -> Bytes<'_> {
        Bytes::new(self.record(h), hdr.hdr + hdr.nkey, hdr.nbytes)
    }

    /// Keep the segment of `h` from being reused until the pin drops.
    /// Called with the record's stripe locked.
    pub fn pin(&self, h: Handle) -> Pin<'_> {
        let seg = self.split(h).0;
        self.segs[seg as usize].pins.fetch_add(1, Ordering::Acquire);
        Pin { log: self, seg }
    }

    /// A linked record of `len` bytes starts (or stops) counting as live.
    pub fn add_live(&self, h: Handle, len: usize) {
        let seg = self.split(h).0 as usize;
        self.segs[seg].live.fetch_add(len as u32, Ordering::Relaxed);
    }

    pub fn sub_live(&self, h: Handle, len: usize) {
        let seg = self.split(h).0 as usize;
        self.segs[seg].live.fetch_sub(len as u32, Ordering::Relaxed);
    }

    /// Whether writers should evict ahead (`Cache::evict_ahead`): the
    /// budget allows one more segment at most.
    pub fn nearly_full(&self) -> bool {
        self.in_use.load(Ordering::Relaxed) + 1 >= self.limit_segments()
    }

    /// Whether writers should clean a segment before reserving: every
    /// segment the budget allows is in use but `spare`. Without evictions
    /// (`-M`) one is kept spare, so that compaction always has a head to
    /// move records into; with them, writers evict ahead while the last
    /// segment fills, and clean only if that fell behind (a record that
    /// finds no room to move is evicted).
    pub fn wants_clean(&self, spare: usize) -> bool {
        self.in_use.load(Ordering::Relaxed) + spare >= self.limit_segments()
    }

    /// Room for a record of `len` bytes (a multiple of 4, at most
    /// [`Log::max_record`]) at the end of the head. Opens a new head when
    /// this one is full and the budget allows; `Err` when it does not.
    pub fn reserve(&self, len: usize) -> Result<Reservation<'_>, Full> {
        debug_assert!(len % 4 == 0 && len <= self.seg_bytes);
        loop {
            let head = self.head.load(Ordering::Acquire);
            if head != NONE {
                let seg = &self.segs[head as usize];
                let old = seg.state.fetch_add(WRITER + len as u64, Ordering::Acquire);
                let used = (old & USED) as usize;
                if old & SEALED == 0 && used + len <= self.seg_bytes {
                    return Ok(Reservation {
                        log: self,
                        seg: head,
                        word: (used / 4) as u32,
                        len: len as u32,
                        committed: false,
                    });
                }
                if old & SEALED == 0 {
                    // The first reservation past the end seals the segment.
                    seg.end.fetch_min(used as u32, Ordering::Relaxed);
                    seg.state.fetch_or(SEALED, Ordering::Relaxed);
                }
                seg.state.fetch_sub(WRITER + len as u64, Ordering::Release);
            }
            self.roll(head)?;
        }
    }

    /// Replace the sealed (or missing) head `old` by a free segment.
    fn roll(&self, old: u32) -> Result<(), Full> {
        let mut st = self.state.lock();
        let head = self.head.load(Ordering::Acquire);
        if head != old {
            return Ok(()); // someone else rolled
        }
        if head != NONE {
            let seg = &self.segs[head as usize];
            if seg.state.load(Ordering::Relaxed) & SEALED == 0 {
                return Ok(()); // not full after all (an undone reservation)
            }
            st.sealed.push_back(head);
            self.head.store(NONE, Ordering::Release);
            self.sealed_total.fetch_add(1, Ordering::Relaxed);
        }
        if st.in_use >= self.limit_segments() {
            return Err(Full::NeedClean);
        }
        let next = match st.free.pop() {
            Some(s) => s,
            None => {
                let s = st.fresh;
                if s as usize >= self.segs.len() {
                    return Err(Full::NeedClean);
                }
                st.fresh += 1;
                // Zeroed memory, allocated under the log lock only (never
                // under a stripe lock), once per segment for the process.
                let words = self.seg_bytes / 4;
                let data: Box<[AtomicU32]> = (0..words).map(|_| AtomicU32::new(0)).collect();
                let _ = self.segs[s as usize].data.set(data);
                self.allocated.fetch_add(1, Ordering::Relaxed);
                s
            }
        };
        st.in_use += 1;
        self.in_use.store(st.in_use, Ordering::Relaxed);
        let seg = &self.segs[next as usize];
        seg.end.store(u32::MAX, Ordering::Relaxed);
        seg.live.store(0, Ordering::Relaxed);
        seg.state.store(0, Ordering::Release);
        self.head.store(next, Ordering::Release);
        Ok(())
    }

    /// Take a sealed segment out of the log for cleaning: `prefer` if it is
    /// still sealed (a segment a writer began evicting ahead, see
    /// `Cache::evict_ahead`), evicted; else one with nothing live if there
    /// is one; with two segments' worth of garbage about, the one with the
    /// fewest live bytes (if cleaning it gains a quarter of a segment); else
    /// the oldest.
    pub fn take_victim(&self, evictions: bool, prefer: Option<u32>) -> Option<Victim> {
        let mut st = self.state.lock();
        if let Some(pos) = prefer.and_then(|p| st.sealed.iter().position(|&s| s == p)) {
            let seg = st.sealed.remove(pos)?;
            return Some(Victim {
                seg,
                compact: false,
            });
        }
        let (pos, compact) = self.choose(&st, evictions)?;
        let seg = st.sealed.remove(pos)?;
        Some(Victim { seg, compact })
    }

    /// The oldest sealed segment, when the next cleaning would evict it
    /// (the log is full of live data); it stays in the log.
    pub fn eviction_candidate(&self, evictions: bool) -> Option<u32> {
        let st = self.state.lock();
        match self.choose(&st, evictions)? {
            (0, false) => st.sealed.front().copied(),
            _ => None,
        }
    }

    /// Where in `sealed` the next victim is, and whether it is compacted.
    fn choose(&self, st: &LogState, evictions: bool) -> Option<(usize, bool)> {
        let live = |s: &u32| self.segs[*s as usize].live.load(Ordering::Relaxed);
        let garbage = self.capacity().saturating_sub(self.live_bytes()) >= 2 * self.seg_bytes;
        let emptiest = (0..st.sealed.len()).min_by_key(|&i| live(&st.sealed[i]))?;
        let fill = live(&st.sealed[emptiest]) as usize;
        // Compaction must gain at least a quarter of a segment, so it cannot
        // churn on segments that are nearly all live.
        if fill == 0 || !evictions || (garbage && fill <= self.seg_bytes / 4 * 3) {
            Some((emptiest, true))
        } else {
            Some((0, false))
        }
    }

    /// Take `seg` out of the log if it is still sealed there.
    pub fn take(&self, seg: u32) -> bool {
        let mut st = self.state.lock();
        match st.sealed.iter().position(|&s| s == seg) {
            Some(pos) => st.sealed.remove(pos).is_some(),
            None => false,
        }
    }

    /// Take a sealed segment that holds no live record, if there is one:
    /// freeing it moves nothing.
    pub fn take_empty(&self) -> Option<u32> {
        let mut st = self.state.lock();
        let live = |s: &u32| self.segs[*s as usize].live.load(Ordering::Relaxed);
        let pos = st.sealed.iter().position(|s| live(s) == 0)?;
        st.sealed.remove(pos)
    }

    /// Bytes of live records in `seg`.
    pub fn live_in(&self, seg: u32) -> usize {
        self.segs[seg as usize].live.load(Ordering::Relaxed) as usize
    }

    /// Put a victim that could not be cleaned back where the oldest are.
    pub fn return_victim(&self, seg: u32) {
        self.state.lock().sealed.push_front(seg);
    }

    /// Wait until nobody writes into `seg` any more (it is sealed, so no
    /// new writer arrives), and return the bytes its records cover.
    pub fn settle(&self, seg: u32) -> usize {
        let s = &self.segs[seg as usize];
        let mut spins = 0u32;
        while s.state.load(Ordering::Acquire) & WRITERS != 0 {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        let used = (s.state.load(Ordering::Acquire) & USED) as usize;
        (s.end.load(Ordering::Relaxed) as usize)
            .min(used)
            .min(self.seg_bytes)
    }

    /// How many times `seg` has been emptied for reuse (read with the
    /// cleaner's lock held, which is what empties segments).
    pub fn generation(&self, seg: u32) -> u32 {
        self.segs[seg as usize].generation.load(Ordering::Relaxed)
    }

    /// The records of a settled segment, in order: `(handle, header)`.
    pub fn records(&self, seg: u32, end: usize) -> impl Iterator<Item = (Handle, Header)> + '_ {
        self.records_from(seg, 0, end)
    }

    /// The records of a settled segment from byte `start` (where a record
    /// begins) to `end`.
    pub fn records_from(
        &self,
        seg: u32,
        start: usize,
        end: usize,
    ) -> impl Iterator<Item = (Handle, Header)> + '_ {
        let words = self.seg_words(seg);
        let mut at = start;
        std::iter::from_fn(move || {
            if at + BASE_HDR > end {
                return None;
            }
            let hdr = read_header(&words[at / 4..]);
            let len = hdr.total();
            if len < BASE_HDR || at + len > end {
                return None;
            }
            let h = (seg << self.off_bits) | (at / 4) as Handle;
            at += len;
            Some((h, hdr))
        })
    }

    /// A cleaned segment (nothing in it is linked) becomes free once no
    /// reader has it pinned.
    pub fn release(&self, seg: u32) {
        let s = &self.segs[seg as usize];
        let mut spins = 0u32;
        while s.pins.load(Ordering::Acquire) != 0 {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        s.state.store(SEALED, Ordering::Release);
        s.live.store(0, Ordering::Relaxed);
        s.generation.fetch_add(1, Ordering::Relaxed);
        let mut st = self.state.lock();
        st.free.push(seg);
        st.in_use -= 1;
        self.in_use.store(st.in_use, Ordering::Relaxed);
    }

    /// The head and the bytes reserved in it (records there may still be
    /// being written: a walker checks each against the index).
    pub fn head_extent(&self) -> Option<(u32, usize)> {
        let head = self.head.load(Ordering::Acquire);
        if head == NONE {
            return None;
        }
        let used = (self.segs[head as usize].state.load(Ordering::Acquire) & USED) as usize;
        Some((head, used.min(self.seg_bytes)))
    }

    /// The head and the bytes of it whose records are all written: read at
    /// a moment when nobody writes into it (waiting for one), as a walker
    /// that must not stop at a record still being written needs.
    pub fn head_written(&self) -> Option<(u32, usize)> {
        let mut spins = 0u32;
        loop {
            let head = self.head.load(Ordering::Acquire);
            if head == NONE {
                return None;
            }
            let state = self.segs[head as usize].state.load(Ordering::Acquire);
            if state & WRITERS == 0 && self.head.load(Ordering::Acquire) == head {
                return Some((head, ((state & USED) as usize).min(self.seg_bytes)));
            }
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Sealed segments, oldest first (for the expiry crawler).
    pub fn sealed(&self) -> Vec<u32> {
        self.state.lock().sealed.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_words() {
        let words: Vec<AtomicU32> = (0..64).map(|_| AtomicU32::new(u32::MAX)).collect();
        for (flags, value) in [(0u32, &b"hello"[..]), (7, b""), (1, b"abcdefgh")] {
            write_record(
                &words,
                b"key",
                flags,
                5,
                6,
                0x1_0000_0002,
                STALE,
                [value, b"!"],
            );
            let h = read_header(&words);
            assert_eq!(
                (h.cas, h.exp, h.time, h.flags),
                (0x1_0000_0002, 5, 6, flags)
            );
            assert_eq!((h.nkey, h.nbytes), (3, value.len() + 1));
            assert_eq!(h.bits & STALE, STALE);
            assert_eq!(h.total(), record_len(3, flags, value.len() + 1));
            let v = Bytes::new(&words, h.hdr + h.nkey, h.nbytes).to_vec();
            assert_eq!(&v[..value.len()], value);
        }
        assert_eq!(record_len(20, 0, 100), 140);
    }

    #[test]
    fn reservations_fill_a_segment_then_roll() {
        let log = Log::new(8 << 20, 1 << 20);
        let seg = log.segment_bytes();
        let a = log.reserve(seg / 2).unwrap();
        let b = log.reserve(seg / 2).unwrap();
        assert_eq!(log.split(a.handle()).0, log.split(b.handle()).0);
        drop((a, b));
        let c = log.reserve(64).unwrap();
        assert_ne!(log.split(c.handle()).0, 0);
        drop(c);
        assert_eq!(log.sealed(), vec![0]);
        assert_eq!(log.records(0, log.settle(0)).count(), 2);
    }
}
