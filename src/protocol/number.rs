//! Number parsing that agrees with memcached's `safe_strtol`,
//! `safe_strtoul` and `safe_strtoull` (`util.c`) on a 64-bit Linux build.
//!
//! Those wrap libc's `strtol`/`strtoul`/`strtoull` in base 10, so they:
//! - skip leading C whitespace (`isspace`: space, `\t \n \v \f \r`),
//! - take an optional `+` or `-`,
//! - need at least one digit, and fail on overflow of the 64-bit `long`,
//! - accept the token when the digits are followed by its end or by a C
//!   whitespace byte (so `1\tjunk` reads as 1, as memcached does),
//! - for the unsigned ones, negate a `-` number modulo 2^64 and refuse it
//!   only when the result looks negative as a signed number (`-1` fails,
//!   `-0` is 0, `-18446744073709551615` is 1),
//! - narrow the 32-bit results (`flags`, exptimes, the byte count, the
//!   memlimit) with a plain C cast, without a range check: memcached 1.6.18
//!   stores `set a 4294967297 0 1` with flags 1 and reads an exptime of
//!   2147483648 as -2147483648 (verified against the daemon).

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The common scan: sign and magnitude, or `None` when strto* would fail
/// (no digits, a magnitude beyond `u64`, or junk after the digits).
fn scan(tok: &[u8]) -> Option<(bool, u64)> {
    let mut i = tok.iter().take_while(|&&b| is_c_space(b)).count();
    let mut negative = false;
    match tok.get(i) {
        Some(b'-') => {
            negative = true;
            i += 1;
        }
        Some(b'+') => i += 1,
        _ => {}
    }
    let digits_start = i;
    let mut magnitude: u64 = 0;
    while let Some(&b) = tok.get(i) {
        if !b.is_ascii_digit() {
            break;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(b - b'0'))?;
        i += 1;
    }
    if i == digits_start {
        return None;
    }
    match tok.get(i) {
        None => Some((negative, magnitude)),
        Some(&b) if is_c_space(b) => Some((negative, magnitude)),
        Some(_) => None,
    }
}

/// `strtol` into a 64-bit `long`, with its range error.
fn strtol(tok: &[u8]) -> Option<i64> {
    let (negative, magnitude) = scan(tok)?;
    if negative {
        if magnitude > 1u64 << 63 {
            None
        } else {
            Some(0i64.wrapping_sub_unsigned(magnitude))
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// memcached's `safe_strtol` into an `int32_t`: the `long` is narrowed by
/// truncation.
pub(super) fn safe_strtol(tok: &[u8]) -> Option<i32> {
    strtol(tok).map(|l| l as i32)
}

/// memcached's `safe_strtoull`.
pub(super) fn safe_strtoull(tok: &[u8]) -> Option<u64> {
    let (negative, magnitude) = scan(tok)?;
    let value = if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    };
    if (value as i64) < 0 && negative {
        return None;
    }
    Some(value)
}

/// memcached's `safe_strtoul` into a `uint32_t` (`unsigned long` is 64 bits,
/// so this is `safe_strtoull` narrowed by truncation).
pub(super) fn safe_strtoul(tok: &[u8]) -> Option<u32> {
    safe_strtoull(tok).map(|v| v as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtol_matches_libc_shapes() {
        assert_eq!(safe_strtol(b"0"), Some(0));
        assert_eq!(safe_strtol(b"+5"), Some(5));
        assert_eq!(safe_strtol(b"-5"), Some(-5));
        assert_eq!(safe_strtol(b"\t7"), Some(7));
        assert_eq!(safe_strtol(b"7\tjunk"), Some(7));
        assert_eq!(safe_strtol(b"7\r"), Some(7));
        assert_eq!(safe_strtol(b"7x"), None);
        assert_eq!(safe_strtol(b"0x10"), None);
        assert_eq!(safe_strtol(b""), None);
        assert_eq!(safe_strtol(b"-"), None);
        assert_eq!(safe_strtol(b"+"), None);
        assert_eq!(safe_strtol(b"\t"), None);
        assert_eq!(safe_strtol(b"--1"), None);
        assert_eq!(safe_strtol(b"noreply"), None);
    }

    #[test]
    fn strtol_truncates_to_int32_like_memcached() {
        assert_eq!(safe_strtol(b"2147483647"), Some(i32::MAX));
        assert_eq!(safe_strtol(b"2147483648"), Some(i32::MIN));
        assert_eq!(safe_strtol(b"4294967295"), Some(-1));
        assert_eq!(safe_strtol(b"4294967296"), Some(0));
        assert_eq!(safe_strtol(b"-4294967296"), Some(0));
        assert_eq!(safe_strtol(b"9223372036854775807"), Some(-1));
        assert_eq!(safe_strtol(b"-9223372036854775808"), Some(0));
        // Beyond a 64-bit long: ERANGE.
        assert_eq!(safe_strtol(b"9223372036854775808"), None);
        assert_eq!(safe_strtol(b"-9223372036854775809"), None);
    }

    #[test]
    fn strtoull_sign_and_overflow() {
        assert_eq!(safe_strtoull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(safe_strtoull(b"18446744073709551616"), None);
        assert_eq!(safe_strtoull(b"-1"), None);
        assert_eq!(safe_strtoull(b"-0"), Some(0));
        assert_eq!(safe_strtoull(b"+1"), Some(1));
        assert_eq!(safe_strtoull(b"-18446744073709551615"), Some(1));
        assert_eq!(safe_strtoull(b"-9223372036854775808"), None);
        assert_eq!(
            safe_strtoull(b"-9223372036854775809"),
            Some((1u64 << 63) - 1)
        );
    }

    #[test]
    fn strtoul_truncates_to_uint32_like_memcached() {
        assert_eq!(safe_strtoul(b"4294967295"), Some(u32::MAX));
        assert_eq!(safe_strtoul(b"4294967297"), Some(1));
        assert_eq!(safe_strtoul(b"-18446744073709551615"), Some(1));
        assert_eq!(safe_strtoul(b"-1"), None);
    }
}
