//! The execution layer: the one join between the protocols and the store.
//!
//! The text, meta and binary front ends (`super::front`) decode their
//! requests into the operations below and encode the outcomes in their own
//! wire format; they never call the store themselves. Everything that is
//! policy rather than framing lives here, once: the counters `stats`
//! reports, the failed-set rule, the auth gate, the no-bump rule, and the
//! "look up, reserve room in the reply buffer, look up again" read.
//!
//! Operations are plain structs and calls, monomorphised over the front
//! end's reply encoder ([`HitReply`]): no allocation, lock or dynamic
//! dispatch is added per request.

use super::auth::{AsciiAuth, SaslReply};
use super::inspect::PrefixOp;
use super::shared::Shared;
use crate::hotkeys::Op as HotOp;
use crate::protocol::admin::watch;
use crate::stats::ThreadStats;
use crate::store::{
    Bytes, DeleteOptions, DeleteOutcome, DeltaError, DeltaOptions, DeltaOutcome, ItemView, Pinned,
    ReadOptions, ReadState, StoreError, StoreMode, StoreOptions, StoreOutcome, Value, BINARY_KEY,
};

/// What the connection does after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Close once the replies are written.
    Close,
    /// Close and stop the server.
    Shutdown,
    /// A multi-get's reply passed [`Session::pause_above`]: write it out,
    /// then execute the same request again; the session remembers which
    /// keys are answered. This bounds a connection's unsent replies however
    /// many keys one request names.
    Pause,
}

/// Per-connection protocol state.
#[derive(Debug, Default)]
pub struct Session {
    pub auth: super::auth::AuthState,
    /// Pause a multi-get once the reply buffer holds more than this many
    /// bytes (`None`: never, as for a UDP datagram).
    pub pause_above: Option<usize>,
    /// Keys of the paused multi-get already answered.
    pub keys_done: usize,
    /// Where a paused `lru_crawler metadump|mgdump` resumes.
    pub dump: Option<Box<super::inspect::DumpCursor>>,
    /// After `watch`: the log lines this connection receives.
    pub watcher: Option<std::sync::Arc<super::watch::Watcher>>,
    /// The connection's descriptor, as `stats conns` and the logs name it.
    pub fd: i32,
    /// The connection is closed for a protocol error (`watch connevents`).
    pub closed_on_error: bool,
}

impl Session {
    /// One more key of a multi-get is answered: true when the reply is now
    /// past the bound and the rest must wait for the peer to read.
    pub fn pause_after_key(&mut self, out: &[u8]) -> bool {
        self.keys_done += 1;
        self.pause_above.is_some_and(|high| out.len() > high)
    }
}

/// The two families of memcached commands count some outcomes
/// differently (memcached 1.6.18's `proto_text.c`/`proto_bin.c` against its
/// meta commands); the difference is written down here, nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Text `get`/`set`/... and the binary protocol.
    Classic,
    /// `mg`, `ms`, `md`, `ma`.
    Meta,
}

/// How a read treats the item it finds.
#[derive(Debug, Clone, Copy)]
pub enum ReadOp<'o> {
    /// `get`, `gets`, binary Get: bump the item.
    Get,
    /// `gat`, `gats`, binary GAT: bump and set a new exptime.
    GetAndTouch(i64),
    /// Binary Touch: a new exptime, answered with the item's flags and CAS;
    /// counted as a touch only.
    Touch(i64),
    /// `mg` with its options (no bump, vivify, recache, ...).
    Meta(&'o ReadOptions),
}

/// What a hit shows besides its value: copied while the item is locked.
#[derive(Debug, Clone, Copy)]
pub struct Hit {
    pub flags: u32,
    pub cas: u64,
    /// Value length.
    pub len: usize,
    pub binary_key: bool,
    /// What a meta read saw and did (default for the other reads).
    pub state: ReadState,
}

/// A front end's encoding of a hit: `head`, then the value when
/// [`HitReply::with_value`], then `tail`.
pub trait HitReply {
    /// The most bytes `head` and `tail` add together.
    fn framing(&self) -> usize;
    /// Whether the reply to `hit` carries the value.
    fn with_value(&self, _hit: &Hit) -> bool {
        true
    }
    /// What precedes the value (it may name `hit.len`).
    fn head(&self, out: &mut Vec<u8>, hit: &Hit);
    /// What follows the value.
    fn tail(&self, _out: &mut Vec<u8>, _hit: &Hit) {}
}

/// A storage operation.
#[derive(Debug, Clone, Copy)]
pub struct StoreOp<'a> {
    pub mode: StoreMode,
    pub key: &'a [u8],
    pub flags: u32,
    pub exptime: i64,
    /// `None`: the value was over `-I` and was never read in.
    pub value: Option<&'a [u8]>,
    pub opts: StoreOptions,
    /// A failure (size or memory) removes the old value, so stale data does
    /// not outlive the write: memcached does this for `set` (text or
    /// binary, CAS or not) and for every `ms`.
    pub unlink_on_failure: bool,
}

/// An incr/decr.
#[derive(Debug, Clone, Copy)]
pub struct DeltaOp<'a> {
    pub key: &'a [u8],
    pub delta: u64,
    pub incr: bool,
    pub opts: DeltaOptions,
    pub family: Family,
}

/// Why `flush_all` did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushDisabled;

/// What the ASCII login (`-Y`) made of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    Ok,
    Failed,
    BadFormat,
}

/// What a lookup did under the stripe lock.
enum Copied<'a> {
    /// The reply is in `out`.
    Done,
    /// `out` lacked room: reserve this much and look again, so the lock is
    /// never held across an allocation.
    NeedRoom(usize, ReadState),
    /// A long value, pinned: written after the lock is released.
    Later(Hit, Pinned<'a>),
}

/// The execution layer for one worker: the shared server and the worker's
/// own counters.
#[derive(Clone, Copy)]
pub struct Exec<'a> {
    pub shared: &'a Shared,
    pub stats: &'a ThreadStats,
    /// The connection's descriptor (`cfd=` in the logs; -1: none).
    pub fd: i32,
}

impl<'a> Exec<'a> {
    pub fn new(shared: &'a Shared, stats: &'a ThreadStats) -> Exec<'a> {
        Exec {
            shared,
            stats,
            fd: -1,
        }
    }

    // ---- hot keys (`-o hot_keys`) --------------------------------------

    /// The hot-key hook, called once per keyed operation: nothing but an
    /// `Option` test when tracking is off, a check of this worker's own
    /// countdown when it is on; at the end of each gap (`-o
    /// hot_keys_sample`) the key goes to the worker's own sample buffer
    /// (`crate::hotkeys`).
    #[inline]
    fn sample_hot(&self, key: &[u8], op: HotOp) {
        if let Some(hot) = &self.stats.hot {
            if hot.due() {
                hot.record(key, op);
            }
        }
    }

    // ---- the auth gate -------------------------------------------------

    /// Whether a request must be refused because the connection has not
    /// authenticated yet (`-S` or `-Y`). `allowed_before_auth` is the front
    /// end's word on whether the request is one memcached serves before
    /// authentication (binary: version and the SASL opcodes).
    pub fn must_authenticate(&self, session: &Session, allowed_before_auth: bool) -> bool {
        let auth = &self.shared.auth;
        (auth.sasl.is_some() || auth.ascii.is_some())
            && !session.auth.authenticated
            && !allowed_before_auth
    }

    /// The `-Y` login: a `set` whose data is `<user> <password>`.
    pub fn ascii_login(&self, ascii: &AsciiAuth, session: &mut Session, token: &[u8]) -> Login {
        ThreadStats::incr(&self.stats.auth_cmds);
        match ascii.check_token(token) {
            Some(true) => {
                session.auth.authenticated = true;
                Login::Ok
            }
            Some(false) => {
                ThreadStats::incr(&self.stats.auth_errors);
                Login::Failed
            }
            None => {
                ThreadStats::incr(&self.stats.auth_errors);
                Login::BadFormat
            }
        }
    }

    /// One SASL Auth (`first`) or Step; `None` when SASL is off.
    pub fn sasl(
        &self,
        session: &mut Session,
        first: bool,
        mech: &[u8],
        data: &[u8],
    ) -> Option<SaslReply> {
        let sasl = self.shared.auth.sasl.as_ref()?;
        let reply = session.auth.sasl_step(sasl, first, mech, data);
        // memcached refuses an over-long mechanism name before it counts
        // an authentication.
        if reply != SaslReply::Invalid {
            ThreadStats::incr(&self.stats.auth_cmds);
        }
        if reply == SaslReply::Failed {
            ThreadStats::incr(&self.stats.auth_errors);
        }
        Some(reply)
    }

    // ---- reads -----------------------------------------------------------

    /// Look `key` up as `op` says and append `reply`'s encoding of the hit
    /// to `out`. False on a miss, with nothing appended.
    pub fn read<R: HitReply>(&self, key: &[u8], op: ReadOp, reply: &R, out: &mut Vec<u8>) -> bool {
        let found = self.lookup(key, op, reply, out);
        self.sample_hot(key, HotOp::Read { miss: !found });
        if self.shared.watchers.wants(watch::FETCHERS) {
            self.log_fetch(key);
        }
        if self.shared.prefixes.enabled() && !matches!(op, ReadOp::Meta(_)) {
            self.shared
                .prefixes
                .record(key, PrefixOp::Get { hit: found });
        }
        let s = self.stats;
        let count = |hits, misses| ThreadStats::incr(if found { hits } else { misses });
        match op {
            ReadOp::Get => {
                ThreadStats::incr(&s.cmd_get);
                count(&s.get_hits, &s.get_misses);
            }
            ReadOp::GetAndTouch(_) => {
                ThreadStats::incr(&s.cmd_get);
                ThreadStats::incr(&s.cmd_touch);
                count(&s.get_hits, &s.get_misses);
                count(&s.touch_hits, &s.touch_misses);
            }
            ReadOp::Touch(_) => {
                ThreadStats::incr(&s.cmd_touch);
                count(&s.touch_hits, &s.touch_misses);
            }
            // memcached's mg counts a hit with `T` as a touch, not a get.
            ReadOp::Meta(opts) => match (found, opts.touch.is_some()) {
                (true, true) => {
                    ThreadStats::incr(&s.cmd_touch);
                    ThreadStats::incr(&s.touch_hits);
                }
                (true, false) => {
                    ThreadStats::incr(&s.cmd_get);
                    ThreadStats::incr(&s.get_hits);
                }
                (false, _) => {
                    ThreadStats::incr(&s.cmd_get);
                    ThreadStats::incr(&s.get_misses);
                }
            },
        }
        found
    }

    /// The one reserve-and-retry read. A small value is copied under the
    /// stripe lock only when `out` already has room; otherwise the lock is
    /// released, room reserved, and the item read again with a plain read
    /// that repeats none of the first read's effects (touch, won token) and
    /// bumps only when the first one did.
    fn lookup<R: HitReply>(&self, key: &[u8], op: ReadOp, reply: &R, out: &mut Vec<u8>) -> bool {
        let cache = &self.shared.cache;
        let plain = ReadState::default();
        let first = match op {
            ReadOp::Get => cache.get(key, |item| copy_hit(item, &plain, reply, out)),
            ReadOp::GetAndTouch(t) | ReadOp::Touch(t) => {
                cache.get_and_touch(key, t, |item| copy_hit(item, &plain, reply, out))
            }
            ReadOp::Meta(opts) => {
                cache.read_with(key, opts, |item, state| copy_hit(item, state, reply, out))
            }
        };
        let (mut need, state) = match first {
            None => return false,
            Some(Copied::Done) => return true,
            Some(Copied::Later(hit, value)) => {
                write_hit(reply, &hit, Some(value.bytes()), out);
                return true;
            }
            Some(Copied::NeedRoom(need, state)) => (need, state),
        };
        let again = ReadOptions {
            no_bump: matches!(op, ReadOp::Meta(o) if o.no_bump),
            ..ReadOptions::default()
        };
        loop {
            out.reserve(need);
            let copied = match op {
                // A plain get's bump is idempotent: read it the same way.
                ReadOp::Get | ReadOp::GetAndTouch(_) | ReadOp::Touch(_) => {
                    cache.get(key, |item| copy_hit(item, &state, reply, out))
                }
                ReadOp::Meta(_) => {
                    cache.read_with(key, &again, |item, _| copy_hit(item, &state, reply, out))
                }
            };
            match copied {
                None => return false,
                Some(Copied::Done) => return true,
                Some(Copied::Later(hit, value)) => {
                    write_hit(reply, &hit, Some(value.bytes()), out);
                    return true;
                }
                Some(Copied::NeedRoom(n, _)) => need = n,
            }
        }
    }

    // ---- writes ----------------------------------------------------------

    /// A storage command: `cmd_set`, the CAS counters and the failed-set
    /// rule.
    pub fn store(&self, op: &StoreOp) -> Result<StoreOutcome, StoreError> {
        self.store_sized(op).map(|(outcome, _)| outcome)
    }

    /// [`Exec::store`], with the length of the value stored (meta's `s`:
    /// the combined value after an append or prepend).
    pub fn store_sized(&self, op: &StoreOp) -> Result<(StoreOutcome, usize), StoreError> {
        let s = self.stats;
        self.sample_hot(op.key, HotOp::Write);
        ThreadStats::incr(&s.cmd_set);
        if self.shared.prefixes.enabled() {
            self.shared.prefixes.record(op.key, PrefixOp::Set);
        }
        // memcached's store looks the old item up first (a fetch event).
        if self.shared.watchers.wants(watch::FETCHERS) {
            self.log_fetch(op.key);
        }
        let sized = match op.value {
            Some(value) => self
                .shared
                .cache
                .store_sized(op.mode, op.key, op.flags, op.exptime, value, &op.opts),
            None => Err(StoreError::TooLarge),
        };
        let result = sized.map(|(outcome, _)| outcome);
        if self.shared.watchers.wants(watch::MUTATIONS) {
            self.log_store(op, &result);
        }
        // A store that compared a CAS unique (append and prepend compare
        // without counting, as in memcached).
        let compared = matches!(op.mode, StoreMode::Cas(_))
            || op.opts.compare_cas.is_some()
                && matches!(op.mode, StoreMode::Set | StoreMode::Replace);
        match &result {
            Ok(StoreOutcome::Stored(_)) if compared => ThreadStats::incr(&s.cas_hits),
            Ok(StoreOutcome::Exists) if compared => ThreadStats::incr(&s.cas_badval),
            Ok(StoreOutcome::NotFound) => ThreadStats::incr(&s.cas_misses),
            Ok(_) => {}
            Err(e) => {
                if op.unlink_on_failure {
                    self.shared.cache.delete(op.key);
                }
                ThreadStats::incr(match e {
                    StoreError::TooLarge => &s.store_too_large,
                    StoreError::OutOfMemory => &s.store_no_memory,
                });
            }
        }
        sized
    }

    /// `slabs reassign <src> <dst>`, with memcached's checks and replies in
    /// its order. The log has no pages per class: memory goes to whatever
    /// size is written next, so every class already has the pages of every
    /// other. A request that passes the checks has nothing to move and is
    /// answered `OK`; `-1` ("pick a class with pages to spare") finds none
    /// and is `BADCLASS`, as from memcached when no class has spare pages.
    pub fn slabs_reassign(&self, classes: Option<(i32, i32)>) -> &'static [u8] {
        let Some((src, dst)) = classes else {
            return b"CLIENT_ERROR bad command line format\r\n";
        };
        if src == dst {
            return b"SAME src and dst class are identical\r\n";
        }
        // Class 0 is memcached's global page pool.
        let largest = self.shared.cache.class_count() as i32;
        if !(0..=largest).contains(&src) || !(0..=largest).contains(&dst) {
            return b"BADCLASS invalid src or dst class id\r\n";
        }
        b"OK\r\n"
    }

    /// A binary set refused before its value was read (over `-I`): the
    /// old value goes, so stale data does not outlive the write (memcached's
    /// `process_bin_update`; no counter moves, as in memcached).
    pub fn drop_stale(&self, key: &[u8]) {
        self.shared.cache.delete(key);
    }

    /// A delete, with meta's options or without.
    pub fn delete(&self, key: &[u8], opts: &DeleteOptions, family: Family) -> DeleteOutcome {
        let s = self.stats;
        self.sample_hot(key, HotOp::Write);
        if self.shared.prefixes.enabled() && family == Family::Classic {
            self.shared.prefixes.record(key, PrefixOp::Delete);
        }
        // An invalidation or a value drop is no deletion (memcached 1.6.20).
        let watched =
            self.shared.watchers.wants(watch::DELETIONS) && !opts.invalidate && !opts.drop_value;
        let before = watched.then(|| self.shared.cache.inspect(key)).flatten();
        let outcome = self.shared.cache.delete_with(key, opts);
        if let (Some(info), DeleteOutcome::Deleted) = (before, outcome) {
            self.log_delete(key, &info, family);
        }
        match outcome {
            // An invalidation or a value drop is not a delete hit.
            DeleteOutcome::Deleted if !opts.invalidate && !opts.drop_value => {
                ThreadStats::incr(&s.delete_hits)
            }
            DeleteOutcome::Deleted => {}
            DeleteOutcome::NotFound => ThreadStats::incr(&s.delete_misses),
            // A CAS mismatch: meta counts it as a miss, binary does not.
            DeleteOutcome::Exists if family == Family::Meta => ThreadStats::incr(&s.delete_misses),
            DeleteOutcome::Exists => {}
        }
        outcome
    }

    /// incr/decr and their hit and miss counters.
    pub fn delta(&self, op: &DeltaOp) -> Result<DeltaOutcome, DeltaError> {
        let s = self.stats;
        self.sample_hot(op.key, HotOp::Write);
        let (hits, misses) = if op.incr {
            (&s.incr_hits, &s.incr_misses)
        } else {
            (&s.decr_hits, &s.decr_misses)
        };
        let result = self
            .shared
            .cache
            .delta_with(op.key, op.delta, op.incr, &op.opts);
        match result {
            Ok(DeltaOutcome::Applied(_)) => ThreadStats::incr(hits),
            // Binary counts a counter its initial value created as a miss;
            // meta does not count it.
            Ok(DeltaOutcome::Created(_)) if op.family == Family::Classic => {
                ThreadStats::incr(misses)
            }
            Err(DeltaError::NotFound) => ThreadStats::incr(misses),
            _ => {}
        }
        result
    }

    /// `touch`: a new exptime, nothing read.
    pub fn touch(&self, key: &[u8], exptime: i64) -> bool {
        ThreadStats::incr(&self.stats.cmd_touch);
        let found = self.shared.cache.touch(key, exptime);
        self.sample_hot(key, HotOp::Read { miss: !found });
        ThreadStats::incr(if found {
            &self.stats.touch_hits
        } else {
            &self.stats.touch_misses
        });
        found
    }

    /// `flush_all [delay]`, unless `-F` disabled it.
    pub fn flush_all(&self, delay: i64) -> Result<(), FlushDisabled> {
        if self.shared.config.disable_flush_all {
            return Err(FlushDisabled);
        }
        ThreadStats::incr(&self.stats.cmd_flush);
        self.shared.cache.flush_all(delay);
        Ok(())
    }

    /// `me`: an item's metadata, counted as a meta command.
    pub fn inspect(&self, key: &[u8]) -> Option<crate::store::ItemInfo> {
        ThreadStats::incr(&self.stats.cmd_meta);
        self.shared.cache.inspect(key)
    }

    /// `cache_memlimit`: false when below memcached's 8 MiB floor.
    pub fn set_memory_limit(&self, megabytes: u64) -> bool {
        if megabytes < 8 {
            return false;
        }
        self.shared
            .cache
            .set_memory_limit(megabytes.saturating_mul(1 << 20) as usize);
        true
    }

    /// Whether `shutdown` may stop the server (`-A`).
    pub fn shutdown_enabled(&self) -> bool {
        self.shared.config.enable_shutdown
    }

    /// `shutdown graceful`: the stop saves the cache (`-e`), as SIGUSR1.
    pub fn request_save(&self) {
        self.shared.persist.request_save();
    }

    /// The `stats` group `group` as memcached's `STAT` lines.
    pub fn stats(&self, group: &[u8], out: &mut Vec<u8>) {
        use super::inspect::after_word;
        if let Some(args) = after_word(group, b"cachedump") {
            return self.cachedump(args, out);
        }
        if let Some(args) = after_word(group, b"detail") {
            return self.shared.prefixes.command(args, out);
        }
        if after_word(group, b"reset").is_some() {
            self.shared.prefixes.clear();
        }
        super::report::stats(self.shared, group, out)
    }
}

/// The one place an item's value is copied out of the store (under the
/// stripe lock): into `out` when it has room for the whole reply, or, for
/// a long value, by pinning it to copy after unlocking.
fn copy_hit<'a, R: HitReply>(
    item: &ItemView<'a>,
    state: &ReadState,
    reply: &R,
    out: &mut Vec<u8>,
) -> Copied<'a> {
    let hit = Hit {
        flags: item.flags,
        cas: item.cas,
        len: item.value.len(),
        binary_key: item.bits & BINARY_KEY != 0,
        state: *state,
    };
    let value = match &item.value {
        _ if !reply.with_value(&hit) => None,
        Value::Inline(v) => Some(*v),
        Value::Shared(v) => return Copied::Later(hit, v.pin()),
    };
    let need = reply.framing() + value.map_or(0, |v| v.len());
    if out.capacity() - out.len() < need {
        return Copied::NeedRoom(need, *state);
    }
    write_hit(reply, &hit, value, out);
    Copied::Done
}

/// `reply`'s encoding of a hit whose value is `value` (`None`: the reply
/// carries no value).
fn write_hit<R: HitReply>(reply: &R, hit: &Hit, value: Option<Bytes>, out: &mut Vec<u8>) {
    reply.head(out, hit);
    if let (true, Some(v)) = (reply.with_value(hit), value) {
        v.extend_into(out);
    }
    reply.tail(out, hit);
}
