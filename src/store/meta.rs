//! The store operations the meta protocol needs, in domain terms: reads
//! that may vivify a placeholder, hand out a recache ("win") token or touch;
//! stores and deletes that compare CAS, invalidate (mark stale) or set an
//! explicit CAS; arithmetic that may create its counter; and an inspection
//! that changes nothing.
//!
//! The rules are memcached 1.6.18's (`proto_text.c`, `items.c`): an item
//! hands out one win token ([`WON`]) until it is replaced or invalidated
//! again; a stale item ([`STALE`]) gives the token to the first reader.

use super::cache::{parse_counter, Cache};
use super::log::{BINARY_KEY, FETCHED, HDR, STALE, WON};
use super::stripe::{ItemView, PIN_ABOVE};
use super::types::{
    DeleteOptions, DeleteOutcome, DeltaDone, DeltaError, DeltaOptions, DeltaOutcome, ItemInfo,
    PutExtra, ReadOptions, ReadState, StoreError, StoreMode, StoreOptions, StoreOutcome,
};

/// How often an operation retries after losing a race with a writer.
const RETRIES: usize = 16;

impl Cache {
    /// A storage command with meta options. `exptime` follows the protocol.
    pub fn store_with(
        &self,
        mode: StoreMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        value: &[u8],
        opts: &StoreOptions,
    ) -> Result<StoreOutcome, StoreError> {
        self.store_sized(mode, key, flags, exptime, value, opts)
            .map(|(outcome, _)| outcome)
    }

    /// [`Cache::store_with`], with the length of the value stored: after
    /// an append or prepend, the combined value's; else (and when nothing
    /// was stored) `value`'s, as memcached's `ms ... s` reports it.
    pub fn store_sized(
        &self,
        mode: StoreMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        value: &[u8],
        opts: &StoreOptions,
    ) -> Result<(StoreOutcome, usize), StoreError> {
        let bits = if opts.binary_key { BINARY_KEY } else { 0 };
        let extra = PutExtra {
            new_cas: opts.new_cas,
            bits,
            invalidate: opts.invalidate,
        };
        let mode = match (mode, opts.compare_cas) {
            (StoreMode::Set | StoreMode::Replace, Some(cas)) => StoreMode::Cas(cas),
            (mode, _) => mode,
        };
        match mode {
            StoreMode::Append | StoreMode::Prepend => {
                self.concat(key, value, mode == StoreMode::Append, opts)
            }
            _ => {
                let exp = self.clock.expiry(exptime);
                self.put(mode, key, flags, exp, [value, &[]], extra)
                    .map(|outcome| (outcome, value.len()))
            }
        }
    }

    /// A read with meta options: `f` sees the item (after this read's
    /// changes) and what the read saw before it changed anything.
    pub fn read_with<'a, R>(
        &'a self,
        key: &[u8],
        opts: &ReadOptions,
        f: impl FnOnce(&ItemView<'a>, &ReadState) -> R,
    ) -> Option<R> {
        let mut f = Some(f);
        let mut created = false;
        for _ in 0..RETRIES {
            if let Some(r) = self.read_locked(key, opts, created, &mut f) {
                return Some(r);
            }
            let exptime = opts.vivify?;
            // Miss: store a placeholder outside the lock (a page may have to
            // be allocated). Whoever's add wins gets the token; a loser
            // finds the placeholder on its next look.
            let exp = self.clock.expiry(exptime);
            let extra = PutExtra {
                new_cas: opts.new_cas,
                bits: WON,
                invalidate: false,
            };
            created = matches!(
                self.put(StoreMode::Add, key, 0, exp, [&[], &[]], extra),
                Ok(StoreOutcome::Stored(_))
            );
        }
        None
    }

    fn read_locked<'a, R, F: FnOnce(&ItemView<'a>, &ReadState) -> R>(
        &'a self,
        key: &[u8],
        opts: &ReadOptions,
        created: bool,
        f: &mut Option<F>,
    ) -> Option<R> {
        let (i, hash) = self.locate(key);
        let ctx = self.ctx();
        let mut s = self.lock(i);
        let h = s.lookup(&ctx, hash, key)?;
        let (bits, exp_before, time) = {
            let v = s.view(&self.log, h);
            (v.bits, v.exp, v.time)
        };
        let mut state = ReadState {
            created,
            won: created,
            already_won: !created && bits & WON != 0,
            stale: bits & STALE != 0,
            fetched_before: bits & FETCHED != 0,
            idle: ctx.now.saturating_sub(time),
            exp_before,
            now: ctx.now,
        };
        let touch = opts.touch.map(|t| self.clock.expiry(t));
        let mut exp = exp_before;
        if opts.touch_first {
            exp = touch.unwrap_or(exp);
        }
        if let Some(below) = opts.recache_below {
            let below = self.clock.expiry(below);
            if bits & WON == 0 && !created && exp != 0 && exp < below {
                state.won = true;
            }
        }
        if let Some(t) = touch {
            s.set_exp(&self.log, h, t);
        }
        if state.stale && bits & WON == 0 {
            state.won = true;
        }
        if state.won {
            s.set_bits(&self.log, h, WON, 0);
        }
        if !opts.no_bump {
            s.mark_used(&self.log, h, ctx.now, true);
        }
        let f = f.take().expect("called once");
        let r = f(&s.view(&self.log, h), &state);
        drop(s);
        Some(r)
    }

    /// A delete with meta options.
    pub fn delete_with(&self, key: &[u8], opts: &DeleteOptions) -> DeleteOutcome {
        let (i, hash) = self.locate(key);
        for _ in 0..RETRIES {
            let ctx = self.ctx();
            let mut s = self.lock(i);
            let Some(h) = s.lookup(&ctx, hash, key) else {
                drop(s);
                return DeleteOutcome::NotFound;
            };
            let (cas, flags, exp, bits) = {
                let v = s.view(&self.log, h);
                (v.cas, v.flags, v.exp, v.bits)
            };
            if opts.compare_cas.is_some_and(|c| c != cas) {
                drop(s);
                return DeleteOutcome::Exists;
            }
            let exp = match (opts.invalidate, opts.exptime) {
                (true, Some(t)) => self.clock.expiry(t),
                _ => exp,
            };
            if !opts.drop_value {
                if opts.invalidate {
                    // Stale, with a new CAS, and the token free for the
                    // next reader.
                    let new = opts.new_cas.unwrap_or_else(|| s.next_cas(ctx.use_cas));
                    s.set_bits(&self.log, h, STALE, WON);
                    s.set_cas(&self.log, h, new);
                    s.set_exp(&self.log, h, exp);
                } else {
                    s.unlink(&self.log, hash, h);
                }
                drop(s);
                return DeleteOutcome::Deleted;
            }
            drop(s);
            // Drop the value: store an empty item in its place, if nobody
            // changed it meanwhile.
            let keep = bits & BINARY_KEY | if opts.invalidate { STALE } else { 0 };
            let extra = PutExtra {
                new_cas: opts.new_cas,
                bits: keep,
                invalidate: false,
            };
            match self.put(StoreMode::Cas(cas), key, flags, exp, [&[], &[]], extra) {
                Ok(StoreOutcome::Stored(_)) => return DeleteOutcome::Deleted,
                Ok(StoreOutcome::NotFound) => return DeleteOutcome::NotFound,
                Ok(_) => continue,
                // An empty item always fits; memory refused: remove it.
                Err(_) => {
                    self.delete(key);
                    return DeleteOutcome::Deleted;
                }
            }
        }
        DeleteOutcome::Exists
    }

    /// Arithmetic with meta options: `incr` adds (wrapping), else subtracts
    /// (stopping at 0).
    pub fn delta_with(
        &self,
        key: &[u8],
        delta: u64,
        incr: bool,
        opts: &DeltaOptions,
    ) -> Result<DeltaOutcome, DeltaError> {
        let (i, hash) = self.locate(key);
        for _ in 0..RETRIES {
            let ctx = self.ctx();
            let mut s = self.lock(i);
            let Some(h) = s.lookup(&ctx, hash, key) else {
                drop(s);
                let Some((exptime, initial)) = opts.vivify else {
                    return Err(DeltaError::NotFound);
                };
                let exp = self.clock.expiry(opts.touch.unwrap_or(exptime));
                let mut digits = itoa::Buffer::new();
                let text = digits.format(initial).as_bytes();
                let extra = PutExtra {
                    new_cas: opts.new_cas,
                    ..PutExtra::default()
                };
                match self.put(StoreMode::Add, key, 0, exp, [text, &[]], extra) {
                    Ok(StoreOutcome::Stored(cas)) => {
                        return Ok(DeltaOutcome::Created(DeltaDone {
                            value: initial,
                            cas,
                            exp_before: 0,
                            exp,
                        }))
                    }
                    // Someone else created it: apply the delta to theirs.
                    Ok(_) => continue,
                    Err(_) => return Err(DeltaError::OutOfMemory),
                }
            };
            let (current, len, flags, exp_before, cas) = {
                let v = s.view(&self.log, h);
                let len = v.value.len();
                let mut head = [0u8; 128];
                let n = len.min(head.len());
                v.value.bytes().prefix(&mut head[..n]);
                (parse_counter(&head[..n]), len, v.flags, v.exp, v.cas)
            };
            if opts.compare_cas.is_some_and(|c| c != cas) {
                drop(s);
                return Ok(DeltaOutcome::Exists);
            }
            let Some(current) = current else {
                drop(s);
                return Err(DeltaError::NonNumeric);
            };
            let value = if incr {
                current.wrapping_add(delta)
            } else {
                current.saturating_sub(delta)
            };
            let exp = opts.touch.map_or(exp_before, |t| self.clock.expiry(t));
            let mut digits = itoa::Buffer::new();
            let text = digits.format(value).as_bytes();
            if text.len() <= len && len <= 20 && len <= PIN_ABOVE {
                let mut padded = [b' '; 20];
                padded[..text.len()].copy_from_slice(text);
                let new_cas = opts.new_cas.unwrap_or_else(|| s.next_cas(ctx.use_cas));
                s.rewrite_value(&self.log, h, &padded[..len], new_cas, ctx.now);
                s.set_exp(&self.log, h, exp);
                // memcached's in-place incr clears the meta status bits.
                s.set_bits(&self.log, h, 0, STALE | WON | BINARY_KEY | FETCHED);
                drop(s);
                return Ok(DeltaOutcome::Applied(DeltaDone {
                    value,
                    cas: new_cas,
                    exp_before,
                    exp,
                }));
            }
            drop(s);
            // A shorter result keeps the value's length, padded with spaces.
            let pad = vec![b' '; len.saturating_sub(text.len())];
            let extra = PutExtra {
                new_cas: opts.new_cas,
                ..PutExtra::default()
            };
            match self.put(StoreMode::Cas(cas), key, flags, exp, [text, &pad], extra) {
                Ok(StoreOutcome::Stored(new_cas)) => {
                    return Ok(DeltaOutcome::Applied(DeltaDone {
                        value,
                        cas: new_cas,
                        exp_before,
                        exp,
                    }))
                }
                Ok(StoreOutcome::NotFound) => continue,
                Ok(_) => continue,
                Err(_) => return Err(DeltaError::OutOfMemory),
            }
        }
        Err(DeltaError::NotFound)
    }

    /// An item's metadata, without bumping or marking it fetched.
    pub fn inspect(&self, key: &[u8]) -> Option<ItemInfo> {
        let (i, hash) = self.locate(key);
        let ctx = self.ctx();
        let mut s = self.lock(i);
        let h = s.lookup(&ctx, hash, key)?;
        let v = s.view(&self.log, h);
        let info = ItemInfo {
            exp: v.exp,
            idle: ctx.now.saturating_sub(v.time),
            cas: v.cas,
            fetched: v.bits & FETCHED != 0,
            class: Some(0),
            size: HDR + v.key.len() + v.value.len(),
            binary_key: v.bits & BINARY_KEY != 0,
            now: ctx.now,
        };
        drop(s);
        Some(info)
    }
}
