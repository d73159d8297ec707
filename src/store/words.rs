//! Byte access to segment memory, which is a slice of `AtomicU32` words so
//! that every stripe can read and write it without `unsafe`: a record is
//! only written by the thread that reserved it (before it is linked) or
//! under its stripe's lock (after), and the cleaner reads words that another
//! thread may be writing. Relaxed atomics make those races defined; the
//! index decides which bytes mean anything.
//!
//! Records start on a word boundary and own all the words they cover, so a
//! write never touches a neighbour's bytes. Bytes are little-endian within a
//! word: byte `i` of a record is bits `8 * (i % 4)..` of word `i / 4`.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// Copies bytes into consecutive words, starting at a word boundary.
pub struct WordWriter<'a> {
    words: &'a [AtomicU32],
    /// Next word to store.
    at: usize,
    /// Bytes waiting for a whole word, low byte first.
    acc: u32,
    pending: u32,
}

impl<'a> WordWriter<'a> {
    pub fn new(words: &'a [AtomicU32], at: usize) -> WordWriter<'a> {
        WordWriter {
            words,
            at,
            acc: 0,
            pending: 0,
        }
    }

    #[inline]
    pub fn word(&mut self, w: u32) {
        debug_assert_eq!(self.pending, 0);
        self.words[self.at].store(w, Relaxed);
        self.at += 1;
    }

    pub fn bytes(&mut self, mut data: &[u8]) {
        while self.pending != 0 {
            let Some((&b, rest)) = data.split_first() else {
                return;
            };
            self.acc |= (b as u32) << (8 * self.pending);
            self.pending += 1;
            data = rest;
            if self.pending == 4 {
                let w = std::mem::take(&mut self.acc);
                self.pending = 0;
                self.word(w);
            }
        }
        let chunks = data.chunks_exact(4);
        let tail = chunks.remainder();
        let words = &self.words[self.at..self.at + data.len() / 4];
        for (w, c) in words.iter().zip(chunks) {
            w.store(u32::from_le_bytes([c[0], c[1], c[2], c[3]]), Relaxed);
        }
        self.at += data.len() / 4;
        for (i, &b) in tail.iter().enumerate() {
            self.acc |= (b as u32) << (8 * i);
        }
        self.pending = tail.len() as u32;
    }

    /// Store the last partial word, if any.
    pub fn finish(mut self) {
        if self.pending != 0 {
            let w = self.acc;
            self.pending = 0;
            self.word(w);
        }
    }
}

/// `len` bytes starting at byte `off` of `words`.
#[derive(Clone, Copy)]
pub struct Bytes<'a> {
    words: &'a [AtomicU32],
    off: usize,
    len: usize,
}

impl<'a> Bytes<'a> {
    pub fn new(words: &'a [AtomicU32], off: usize, len: usize) -> Bytes<'a> {
        Bytes { words, off, len }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copy the bytes into `dst`, which must be exactly as long.
    pub fn copy_to(&self, dst: &mut [u8]) {
        debug_assert_eq!(dst.len(), self.len);
        let mut w = self.off / 4;
        let skip = self.off % 4;
        let mut dst = dst;
        if skip != 0 && !dst.is_empty() {
            let b = self.words[w].load(Relaxed).to_le_bytes();
            let n = (4 - skip).min(dst.len());
            dst[..n].copy_from_slice(&b[skip..skip + n]);
            dst = &mut dst[n..];
            w += 1;
        }
        let full = dst.len() / 4;
        let (body, tail) = dst.split_at_mut(full * 4);
        for (c, word) in body.chunks_exact_mut(4).zip(&self.words[w..w + full]) {
            c.copy_from_slice(&word.load(Relaxed).to_le_bytes());
        }
        if !tail.is_empty() {
            let b = self.words[w + full].load(Relaxed).to_le_bytes();
            tail.copy_from_slice(&b[..tail.len()]);
        }
    }

    /// Copy the first `dst.len()` bytes (at most `len`) into `dst`.
    pub fn prefix(&self, dst: &mut [u8]) {
        Bytes::new(self.words, self.off, dst.len().min(self.len)).copy_to(dst);
    }

    /// Append the bytes to `out`.
    pub fn extend_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + self.len, 0);
        self.copy_to(&mut out[start..]);
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        self.extend_into(&mut v);
        v
    }

    /// Whether the bytes equal `other`.
    pub fn eq_slice(&self, other: &[u8]) -> bool {
        if other.len() != self.len {
            return false;
        }
        if self.off % 4 != 0 {
            let mut buf = [0u8; 256];
            if self.len <= buf.len() {
                self.copy_to(&mut buf[..self.len]);
                return &buf[..self.len] == other;
            }
            return self.to_vec() == other;
        }
        let w = self.off / 4;
        let chunks = other.chunks_exact(4);
        let tail = chunks.remainder();
        for (c, word) in chunks.zip(&self.words[w..]) {
            if word.load(Relaxed) != u32::from_le_bytes([c[0], c[1], c[2], c[3]]) {
                return false;
            }
        }
        if tail.is_empty() {
            return true;
        }
        let b = self.words[w + other.len() / 4].load(Relaxed).to_le_bytes();
        &b[..tail.len()] == tail
    }
}

impl std::fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(n: usize) -> Vec<AtomicU32> {
        (0..n).map(|_| AtomicU32::new(0)).collect()
    }

    #[test]
    fn write_then_read_at_every_offset_and_length() {
        let data: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37)).collect();
        for prefix in 0..8 {
            for len in 0..40 {
                let w = words(32);
                let mut wr = WordWriter::new(&w, 1);
                wr.bytes(&data[..prefix]);
                wr.bytes(&data[prefix..prefix + len]);
                wr.finish();
                let all = Bytes::new(&w, 4, prefix + len);
                assert_eq!(all.to_vec(), &data[..prefix + len]);
                let part = Bytes::new(&w, 4 + prefix, len);
                assert_eq!(part.to_vec(), &data[prefix..prefix + len], "{prefix} {len}");
                assert!(part.eq_slice(&data[prefix..prefix + len]));
                if len > 0 {
                    let mut other = data[prefix..prefix + len].to_vec();
                    other[len - 1] ^= 1;
                    assert!(!part.eq_slice(&other));
                }
            }
        }
    }
}
