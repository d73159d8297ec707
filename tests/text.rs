//! Exact-bytes tests of the classic memcached text protocol.
//!
//! Every expected reply below was taken from the oracle, Debian's memcached
//! 1.6.18 (`FERROCACHE_TEST_BIN=/usr/bin/memcached cargo test --test text`),
//! including its quirks, which are noted next to the cases ("quirk:").
//!
//! Table cases each run on a fresh connection and use their own keys, so they
//! can share one server; after the expected reply the runner checks that the
//! connection is still in sync (`version` must answer one `VERSION` line).

mod common;

use common::{show, Conn, TestServer};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One request/reply pair of the table.
struct Case {
    name: &'static str,
    request: Vec<u8>,
    reply: Vec<u8>,
}

/// `cases![ "name": request => reply, ... ]`; request and reply are anything
/// `AsRef<[u8]>` (byte strings, `String`s, `Vec<u8>`s).
macro_rules! cases {
    ($($name:literal : $request:expr => $reply:expr),* $(,)?) => {
        vec![$(Case {
            name: $name,
            request: AsRef::<[u8]>::as_ref(&$request).to_vec(),
            reply: AsRef::<[u8]>::as_ref(&$reply).to_vec(),
        }),*]
    };
}

/// Concatenate byte pieces.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Run every case on a fresh connection to `server` (or, with
/// `server == None`, on a fresh server each) and report all failures at once.
fn run_cases(server: Option<&TestServer>, cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let result = catch_unwind(AssertUnwindSafe(|| {
            let own;
            let server = match server {
                Some(s) => s,
                None => {
                    own = TestServer::start(&[]);
                    &own
                }
            };
            let mut conn = server.conn();
            conn.roundtrip(&case.request, &case.reply);
            conn.assert_usable();
        }));
        if result.is_err() {
            eprintln!(
                "^^^ case {:?} failed; request: \"{}\"\n",
                case.name,
                show(&case.request[..case.request.len().min(300)])
            );
            failures.push(case.name);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed (details above): {failures:?}",
        failures.len(),
        cases.len()
    );
}

/// A 251-byte key: one more than memcached's KEY_MAX_LENGTH.
fn key251() -> String {
    "k".repeat(251)
}

/// Storage, retrieval, arithmetic, touch, delete and their errors.
fn data_cases() -> Vec<Case> {
    let k250 = "k".repeat(250);
    let k251 = key251();
    let too_big = vec![b'a'; 2 << 20]; // 2 MiB, over the default 1 MiB item limit
    cases![
        // ---- get / gets / gat / gats ----
        "get miss": b"get g_miss\r\n" => b"END\r\n",
        "set then get":
            b"set g_hit 5 0 3\r\nbar\r\nget g_hit\r\n" => b"STORED\r\nVALUE g_hit 5 3\r\nbar\r\nEND\r\n",
        // Duplicate keys are answered twice, misses are skipped.
        "get multi":
            b"set g_m1 1 0 1\r\na\r\nset g_m2 2 0 2\r\nbb\r\nget g_m1 g_mmiss g_m2 g_m1\r\n"
            => b"STORED\r\nSTORED\r\nVALUE g_m1 1 1\r\na\r\nVALUE g_m2 2 2\r\nbb\r\nVALUE g_m1 1 1\r\na\r\nEND\r\n",
        "get multi all miss": b"get g_x1 g_x2 g_x3\r\n" => b"END\r\n",
        "250-byte key":
            format!("set {k250} 0 0 1\r\nx\r\nget {k250}\r\n")
            => format!("STORED\r\nVALUE {k250} 0 1\r\nx\r\nEND\r\n"),
        "empty value": b"set g_empty 0 0 0\r\n\r\nget g_empty\r\n" => b"STORED\r\nVALUE g_empty 0 0\r\n\r\nEND\r\n",
        "binary-safe value with CRLF and NUL":
            b"set g_bin 0 0 8\r\na\r\n\x00b\nc\r\r\nget g_bin\r\n"
            => b"STORED\r\nVALUE g_bin 0 8\r\na\r\n\x00b\nc\r\r\nEND\r\n",
        // A NUL inside the key is just a key byte.
        "NUL in key": b"get g_nul\x00x\r\n" => b"END\r\n",
        "spaces around tokens":
            b"set g_sp 0 0 1\r\nx\r\n  get   g_sp  \r\n" => b"STORED\r\nVALUE g_sp 0 1\r\nx\r\nEND\r\n",
        "bare LF ends a command line": b"set g_lf 0 0 1\r\nx\r\nget g_lf\n" => b"STORED\r\nVALUE g_lf 0 1\r\nx\r\nEND\r\n",
        // quirk: the data block must end in "\r\n"; "x\ng" is read as the
        // 3-byte data+terminator, then "et g_lf2\n" is an unknown command.
        "bare LF after data is a bad chunk":
            b"set g_lf2 0 0 1\nx\nget g_lf2\n" => b"CLIENT_ERROR bad data chunk\r\nERROR\r\n",
        "max flags": b"set g_f 4294967295 0 1\r\nx\r\nget g_f\r\n" => b"STORED\r\nVALUE g_f 4294967295 1\r\nx\r\nEND\r\n",
        // quirk: flags are parsed as a 64-bit number and truncated to 32 bits.
        "flags 2^32 wraps to 0":
            b"set g_f32 4294967296 0 1\r\nx\r\nget g_f32\r\n" => b"STORED\r\nVALUE g_f32 0 1\r\nx\r\nEND\r\n",
        "flags 2^64-1 truncates":
            b"set g_f64 18446744073709551615 0 1\r\nx\r\nget g_f64\r\n"
            => b"STORED\r\nVALUE g_f64 4294967295 1\r\nx\r\nEND\r\n",
        "gat hit": b"set g_gat 3 0 1\r\nx\r\ngat 100 g_gat\r\n" => b"STORED\r\nVALUE g_gat 3 1\r\nx\r\nEND\r\n",
        "gat miss": b"gat 100 g_gatmiss\r\n" => b"END\r\n",
        "gat multi":
            b"set g_gm 0 0 1\r\nx\r\ngat 0 g_gm g_gmmiss g_gm\r\n"
            => b"STORED\r\nVALUE g_gm 0 1\r\nx\r\nVALUE g_gm 0 1\r\nx\r\nEND\r\n",
        // quirk: gat with a negative exptime still returns the value, then it is gone.
        "gat -1 returns then expires":
            b"set g_gatneg 0 0 1\r\nx\r\ngat -1 g_gatneg\r\nget g_gatneg\r\n"
            => b"STORED\r\nVALUE g_gatneg 0 1\r\nx\r\nEND\r\nEND\r\n",
        "gat bad exptime": b"gat abc g_gat\r\n" => b"CLIENT_ERROR invalid exptime argument\r\n",
        // quirk: with one argument the key is taken as the exptime.
        "gat without exptime": b"gat g_gat\r\n" => b"CLIENT_ERROR invalid exptime argument\r\n",
        "gat alone": b"gat\r\n" => b"ERROR\r\n",
        // quirk: "gats <exptime>" with no key is an empty hit list, not an error.
        "gats without key": b"gats 0\r\n" => b"END\r\n",
        "get alone": b"get\r\n" => b"ERROR\r\n",
        "gets alone": b"gets\r\n" => b"ERROR\r\n",
        // ---- set / add / replace / append / prepend / cas ----
        "add existing": b"set s_add 0 0 1\r\nx\r\nadd s_add 0 0 1\r\ny\r\nget s_add\r\n"
            => b"STORED\r\nNOT_STORED\r\nVALUE s_add 0 1\r\nx\r\nEND\r\n",
        "add new": b"add s_addnew 0 0 1\r\ny\r\nget s_addnew\r\n" => b"STORED\r\nVALUE s_addnew 0 1\r\ny\r\nEND\r\n",
        "replace missing": b"replace s_repmiss 0 0 1\r\nx\r\nget s_repmiss\r\n" => b"NOT_STORED\r\nEND\r\n",
        "replace existing":
            b"set s_rep 1 0 1\r\nx\r\nreplace s_rep 2 0 2\r\nyy\r\nget s_rep\r\n"
            => b"STORED\r\nSTORED\r\nVALUE s_rep 2 2\r\nyy\r\nEND\r\n",
        "append missing": b"append s_apmiss 0 0 1\r\nx\r\n" => b"NOT_STORED\r\n",
        "prepend missing": b"prepend s_prmiss 0 0 1\r\nx\r\n" => b"NOT_STORED\r\n",
        // The flags and exptime of append/prepend are ignored.
        "append and prepend":
            b"set s_ap 7 0 2\r\nyy\r\nappend s_ap 9 0 1\r\nA\r\nprepend s_ap 3 5 1\r\nP\r\nget s_ap\r\n"
            => b"STORED\r\nSTORED\r\nSTORED\r\nVALUE s_ap 7 4\r\nPyyA\r\nEND\r\n",
        "cas missing": b"cas s_casmiss 0 0 1 1\r\nz\r\n" => b"NOT_FOUND\r\n",
        "cas stale":
            b"set s_cas 0 0 1\r\nx\r\ncas s_cas 0 0 1 999999999999\r\nz\r\nget s_cas\r\n"
            => b"STORED\r\nEXISTS\r\nVALUE s_cas 0 1\r\nx\r\nEND\r\n",
        // quirk: a cas without its unique is an unknown command, and then the
        // data line is one too.
        "cas without unique": b"cas s_cas 0 0 1\r\nz\r\n" => b"ERROR\r\nERROR\r\n",
        "cas bad unique": b"cas s_cas 0 0 1 abc\r\nz\r\n" => b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
        "cas negative unique": b"cas s_cas 0 0 1 -1\r\nz\r\n" => b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
        "cas too many tokens": b"cas s_cas 0 0 1 1 2 3\r\nz\r\n" => b"ERROR\r\nERROR\r\n",
        // quirk: the token after the length is the noreply slot; anything
        // else there is ignored.
        "set junk in noreply slot": b"set s_junk 0 0 1 garbage\r\nx\r\n" => b"STORED\r\n",
        "set trailing space": b"set s_trail 0 0 1 \r\nx\r\n" => b"STORED\r\n",
        // ---- set: bad command line format. memcached does not swallow the
        // data block after these, so the data line then fails as a command. ----
        "set key too long":
            format!("set {k251} 0 0 1\r\nx\r\n") => b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
        "set bad flags": b"set s_bad abc 0 1\r\nx\r\n" => b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
        "set negative flags": b"set s_bad -1 0 1\r\nx\r\n" => b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
        "set flags over 2^64":
            b"set s_bad 18446744073709551616 0 1\r\nx\r\n" => b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
        "set bad exptime": b"set s_bad 0 abc 1\r\nx\r\n" => b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
        "set bad length": b"set s_bad 0 0 abc\r\nx\r\n" => b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
        "set negative length": b"set s_bad 0 0 -1\r\nx\r\n" => b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
        // quirk: length + 2 overflows a C int, so this is a format error, not
        // "object too large".
        "set length 2^31-1": b"set s_bad 0 0 2147483647\r\nx\r\n" => b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
        "set bad format keeps old value":
            b"set s_keep 0 0 1\r\nx\r\nset s_keep 0 0 -1\r\nget s_keep\r\n"
            => b"STORED\r\nCLIENT_ERROR bad command line format\r\nVALUE s_keep 0 1\r\nx\r\nEND\r\n",
        "set missing length": b"set s_bad 0 0\r\nx\r\n" => b"ERROR\r\nERROR\r\n",
        "set missing tokens": b"set s_bad 0\r\n" => b"ERROR\r\n",
        "set alone": b"set\r\n" => b"ERROR\r\n",
        "set too many tokens": b"set s_bad 0 0 1 noreply extra\r\nx\r\n" => b"ERROR\r\nERROR\r\n",
        // ---- bad data chunk: memcached reads exactly <length>+2 bytes and
        // checks they end in "\r\n"; whatever follows is parsed as commands. ----
        // "abcd\r" is the block; the lone "\n" left over is an empty command.
        "data one byte too long": b"set d_long 0 0 3\r\nabcd\r\n" => b"CLIENT_ERROR bad data chunk\r\nERROR\r\n",
        // "ab\r\nv" is the block, "ersion\r\n" an unknown command.
        "data too short eats next line":
            b"set d_short 0 0 3\r\nab\r\nversion\r\n" => b"CLIENT_ERROR bad data chunk\r\nERROR\r\n",
        "data two bytes too long": b"set d_long2 0 0 3\r\nabcde\r\n" => b"CLIENT_ERROR bad data chunk\r\nERROR\r\n",
        "data LF terminators": b"set d_lf 0 0 3\r\nabc\n\n" => b"CLIENT_ERROR bad data chunk\r\n",
        "bad data chunk keeps old value":
            b"set d_keep 0 0 1\r\nx\r\nset d_keep 0 0 3\r\nabcXY\r\nget d_keep\r\n"
            => b"STORED\r\nCLIENT_ERROR bad data chunk\r\nERROR\r\nVALUE d_keep 0 1\r\nx\r\nEND\r\n",
        // ---- object too large: the data block is swallowed ----
        "object too large unlinks old value":
            cat(&[b"set d_big 0 0 1\r\nx\r\nset d_big 0 0 2097152\r\n", &too_big, b"\r\nget d_big\r\n"])
            => b"STORED\r\nSERVER_ERROR object too large for cache\r\nEND\r\n",
        "object too large noreply":
            cat(&[b"set d_bignr 0 0 1\r\nx\r\nset d_bignr 0 0 2097152 noreply\r\n", &too_big, b"\r\nget d_bignr\r\n"])
            => b"STORED\r\nEND\r\n",
        // quirk: unlike set, a too-large append leaves the old value alone.
        "append too large keeps old value":
            cat(&[b"set d_bigap 0 0 1\r\nx\r\nappend d_bigap 0 0 2097152\r\n", &too_big, b"\r\nget d_bigap\r\n"])
            => b"STORED\r\nSERVER_ERROR object too large for cache\r\nVALUE d_bigap 0 1\r\nx\r\nEND\r\n",
        // ---- key too long elsewhere ----
        "get key too long": format!("get {k251}\r\n") => b"CLIENT_ERROR bad command line format\r\n",
        "get multi with a long key": format!("get g_hit {k251}\r\n") => b"CLIENT_ERROR bad command line format\r\n",
        "gat key too long": format!("gat 0 {k251}\r\n") => b"CLIENT_ERROR bad command line format\r\n",
        "delete key too long": format!("delete {k251}\r\n") => b"CLIENT_ERROR bad command line format\r\n",
        "incr key too long": format!("incr {k251} 1\r\n") => b"CLIENT_ERROR bad command line format\r\n",
        "touch key too long": format!("touch {k251} 1\r\n") => b"CLIENT_ERROR bad command line format\r\n",
        // ---- delete ----
        "delete hit": b"set x_del 0 0 1\r\nx\r\ndelete x_del\r\nget x_del\r\n" => b"STORED\r\nDELETED\r\nEND\r\n",
        "delete miss": b"delete x_delmiss\r\n" => b"NOT_FOUND\r\n",
        "delete legacy 0": b"set x_del0 0 0 1\r\nx\r\ndelete x_del0 0\r\n" => b"STORED\r\nDELETED\r\n",
        "delete with time":
            b"delete x_del 5\r\n" => b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
        "delete junk":
            b"delete x_del x\r\n" => b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
        "delete 0 junk":
            b"delete x_del 0 x\r\n" => b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
        "delete alone": b"delete\r\n" => b"ERROR\r\n",
        "delete too many tokens": b"delete a b c d\r\n" => b"ERROR\r\n",
        // ---- incr / decr ----
        "incr and decr":
            b"set n_a 0 0 2\r\n10\r\nincr n_a 5\r\ndecr n_a 3\r\nget n_a\r\n"
            => b"STORED\r\n15\r\n12\r\nVALUE n_a 0 2\r\n12\r\nEND\r\n",
        "incr miss": b"incr n_miss 1\r\n" => b"NOT_FOUND\r\n",
        "decr miss": b"decr n_miss 1\r\n" => b"NOT_FOUND\r\n",
        "incr wraps at 2^64":
            b"set n_wrap 0 0 20\r\n18446744073709551615\r\nincr n_wrap 2\r\n" => b"STORED\r\n1\r\n",
        "decr floors at 0": b"set n_floor 0 0 1\r\n5\r\ndecr n_floor 100\r\n" => b"STORED\r\n0\r\n",
        "incr by 0 and max delta":
            b"set n_max 0 0 1\r\n5\r\nincr n_max 0\r\ndecr n_max 18446744073709551615\r\nincr n_max 18446744073709551615\r\n"
            => b"STORED\r\n5\r\n0\r\n18446744073709551615\r\n",
        "incr grows the value":
            b"set n_grow 0 0 3\r\n999\r\nincr n_grow 1\r\nget n_grow\r\n" => b"STORED\r\n1000\r\nVALUE n_grow 0 4\r\n1000\r\nEND\r\n",
        // quirk: a decr that shortens the number pads it with spaces in place.
        "decr pads with spaces":
            b"set n_pad 0 0 4\r\n1000\r\ndecr n_pad 991\r\nget n_pad\r\n" => b"STORED\r\n9\r\nVALUE n_pad 0 4\r\n9   \r\nEND\r\n",
        "incr after decr padding":
            b"set n_pad2 0 0 3\r\n100\r\ndecr n_pad2 95\r\nincr n_pad2 1\r\n" => b"STORED\r\n5\r\n6\r\n",
        // quirk: leading whitespace in the stored number is accepted (strtoull).
        "incr leading space": b"set n_sp 0 0 2\r\n 1\r\nincr n_sp 1\r\n" => b"STORED\r\n2\r\n",
        "incr non-numeric":
            b"set n_str 0 0 3\r\nabc\r\nincr n_str 1\r\ndecr n_str 1\r\n"
            => b"STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
        // Regression: the reference model found memcached reading a counter
        // only up to the first space (its padding), whatever follows.
        "incr reads up to a space":
            b"set n_spx 0 0 3\r\n5 x\r\nincr n_spx 1\r\nget n_spx\r\n"
            => b"STORED\r\n6\r\nVALUE n_spx 0 3\r\n6  \r\nEND\r\n",
        "incr of a padded value after append":
            b"set n_pa 0 0 3\r\n100\r\ndecr n_pa 95\r\nappend n_pa 0 0 1\r\n7\r\nincr n_pa 1\r\nget n_pa\r\n"
            => b"STORED\r\n5\r\nSTORED\r\n6\r\nVALUE n_pa 0 4\r\n6   \r\nEND\r\n",
        "incr trailing garbage":
            b"set n_tg 0 0 3\r\n12a\r\nincr n_tg 1\r\n" => b"STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
        "incr empty value":
            b"set n_e 0 0 0\r\n\r\nincr n_e 1\r\n" => b"STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
        "incr value over 2^64":
            b"set n_big 0 0 21\r\n184467440737095516150\r\nincr n_big 1\r\n"
            => b"STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
        "incr bad delta": b"incr n_a abc\r\n" => b"CLIENT_ERROR invalid numeric delta argument\r\n",
        "decr bad delta": b"decr n_a x\r\n" => b"CLIENT_ERROR invalid numeric delta argument\r\n",
        "incr negative delta": b"incr n_a -1\r\n" => b"CLIENT_ERROR invalid numeric delta argument\r\n",
        "incr delta over 2^64": b"incr n_a 18446744073709551616\r\n" => b"CLIENT_ERROR invalid numeric delta argument\r\n",
        "incr missing delta": b"incr n_a\r\n" => b"ERROR\r\n",
        "incr alone": b"incr\r\n" => b"ERROR\r\n",
        // quirk: the 4th token is the noreply slot; junk there is ignored.
        "incr junk in noreply slot": b"incr n_miss 1 2\r\n" => b"NOT_FOUND\r\n",
        "incr too many tokens": b"incr n_a 1 noreply x\r\n" => b"ERROR\r\n",
        // ---- touch ----
        "touch hit": b"set t_hit 0 0 1\r\nx\r\ntouch t_hit 100\r\nget t_hit\r\n" => b"STORED\r\nTOUCHED\r\nVALUE t_hit 0 1\r\nx\r\nEND\r\n",
        "touch miss": b"touch t_miss 10\r\n" => b"NOT_FOUND\r\n",
        "touch bad exptime": b"touch t_hit abc\r\n" => b"CLIENT_ERROR invalid exptime argument\r\n",
        "touch exptime over 2^64": b"touch t_hit 18446744073709551616\r\n" => b"CLIENT_ERROR invalid exptime argument\r\n",
        "touch -1 expires": b"set t_neg 0 0 1\r\nx\r\ntouch t_neg -1\r\nget t_neg\r\n" => b"STORED\r\nTOUCHED\r\nEND\r\n",
        "touch missing exptime": b"touch t_hit\r\n" => b"ERROR\r\n",
        "touch alone": b"touch\r\n" => b"ERROR\r\n",
        // ---- exptime ----
        "negative exptime is expired": b"set e_neg 0 -1 1\r\nx\r\nget e_neg\r\n" => b"STORED\r\nEND\r\n",
        // 30 days (2592000 s) is the largest relative exptime...
        "exptime 30 days is relative": b"set e_30d 0 2592000 1\r\nx\r\nget e_30d\r\n" => b"STORED\r\nVALUE e_30d 0 1\r\nx\r\nEND\r\n",
        // ...one more second is an absolute unix time in 1970: expired.
        "exptime 30 days + 1 is absolute": b"set e_abs1 0 2592001 1\r\nx\r\nget e_abs1\r\n" => b"STORED\r\nEND\r\n",
        "absolute exptime in the past": b"set e_past 0 1000000000 1\r\nx\r\nget e_past\r\n" => b"STORED\r\nEND\r\n",
        // ---- noreply: nothing is sent back; the trailing get is the fence ----
        "set noreply": b"set r_set 0 0 1 noreply\r\nx\r\nget r_set\r\n" => b"VALUE r_set 0 1\r\nx\r\nEND\r\n",
        "add noreply":
            b"add r_add 0 0 1 noreply\r\nx\r\nadd r_add 0 0 1 noreply\r\ny\r\nget r_add\r\n" => b"VALUE r_add 0 1\r\nx\r\nEND\r\n",
        "replace noreply":
            b"replace r_rep 0 0 1 noreply\r\nx\r\nset r_rep 0 0 1 noreply\r\ny\r\nreplace r_rep 0 0 1 noreply\r\nz\r\nget r_rep\r\n"
            => b"VALUE r_rep 0 1\r\nz\r\nEND\r\n",
        "append prepend noreply":
            b"append r_ap 0 0 1 noreply\r\nq\r\nset r_ap 0 0 1 noreply\r\nx\r\nappend r_ap 0 0 1 noreply\r\na\r\nprepend r_ap 0 0 1 noreply\r\np\r\nget r_ap\r\n"
            => b"VALUE r_ap 0 3\r\npxa\r\nEND\r\n",
        "cas noreply":
            b"cas r_cas 0 0 1 1 noreply\r\nq\r\nset r_cas 0 0 1 noreply\r\nx\r\ncas r_cas 0 0 1 999999999999 noreply\r\nz\r\nget r_cas\r\n"
            => b"VALUE r_cas 0 1\r\nx\r\nEND\r\n",
        "delete noreply":
            b"set r_del 0 0 1 noreply\r\nx\r\ndelete r_del noreply\r\ndelete r_del noreply\r\nget r_del\r\n" => b"END\r\n",
        "delete 0 noreply": b"set r_del0 0 0 1 noreply\r\nx\r\ndelete r_del0 0 noreply\r\nget r_del0\r\n" => b"END\r\n",
        "incr decr noreply":
            b"incr r_n 1 noreply\r\ndecr r_n 1 noreply\r\nset r_n 0 0 1 noreply\r\n1\r\nincr r_n 5 noreply\r\ndecr r_n 2 noreply\r\nget r_n\r\n"
            => b"VALUE r_n 0 1\r\n4\r\nEND\r\n",
        "touch noreply":
            b"touch r_t 10 noreply\r\nset r_t 0 0 1 noreply\r\nx\r\ntouch r_t 100 noreply\r\nget r_t\r\n" => b"VALUE r_t 0 1\r\nx\r\nEND\r\n",
        // noreply also silences client errors of the command itself...
        "incr bad delta noreply": b"incr r_n abc noreply\r\nget r_n2\r\n" => b"END\r\n",
        "touch bad exptime noreply": b"touch r_t abc noreply\r\nget r_t2\r\n" => b"END\r\n",
        "incr non-numeric noreply": b"set r_s 0 0 1 noreply\r\nx\r\nincr r_s 1 noreply\r\nget r_s\r\n" => b"VALUE r_s 0 1\r\nx\r\nEND\r\n",
        // ...but not the errors of what follows: here the data line.
        "set bad format noreply": b"set r_bad abc 0 1 noreply\r\nx\r\n" => b"ERROR\r\n",
        "bad data chunk noreply": b"set r_bad 0 0 3 noreply\r\nabcd\r\n" => b"ERROR\r\n",
        // ---- unknown commands ----
        "unknown command": b"bogus\r\n" => b"ERROR\r\n",
        "empty line": b"\r\n" => b"ERROR\r\n",
        "empty LF line": b"\n" => b"ERROR\r\n",
        "commands are case-sensitive": b"GET g_hit\r\n" => b"ERROR\r\n",
        "stats unknown group": b"stats nonsense\r\n" => b"ERROR\r\n",
        "STATS upper case": b"STATS\r\n" => b"ERROR\r\n",
        // ---- misc ----
        "verbosity": b"verbosity 0\r\n" => b"OK\r\n",
        "verbosity noreply": b"verbosity 0 noreply\r\nget v_fence\r\n" => b"END\r\n",
        // quirk: "noreply" alone is accepted and answers nothing.
        "verbosity only noreply": b"verbosity noreply\r\nget v_fence\r\n" => b"END\r\n",
        // quirk: an extra argument is ignored...
        "verbosity two args": b"verbosity 0 0\r\n" => b"OK\r\n",
        // ...but one more is an unknown command.
        "verbosity three args": b"verbosity 0 0 0\r\n" => b"ERROR\r\n",
        "verbosity missing level": b"verbosity\r\n" => b"ERROR\r\n",
        "verbosity bad level": b"verbosity abc\r\n" => b"CLIENT_ERROR bad command line format\r\n",
    ]
}

/// Commands that change server-wide state: each runs on its own server.
fn admin_cases() -> Vec<Case> {
    cases![
        "flush_all": b"set f_a 0 0 1\r\nx\r\nflush_all\r\nget f_a\r\n" => b"STORED\r\nOK\r\nEND\r\n",
        "flush_all 0": b"set f_a 0 0 1\r\nx\r\nflush_all 0\r\nget f_a\r\n" => b"STORED\r\nOK\r\nEND\r\n",
        "flush_all noreply": b"set f_a 0 0 1\r\nx\r\nflush_all noreply\r\nget f_a\r\n" => b"STORED\r\nEND\r\n",
        "flush_all 0 noreply": b"set f_a 0 0 1\r\nx\r\nflush_all 0 noreply\r\nget f_a\r\n" => b"STORED\r\nEND\r\n",
        // A delayed flush leaves the items alone for now (see `expiry` for later).
        "flush_all delayed":
            b"set f_a 0 0 1\r\nx\r\nflush_all 60\r\nget f_a\r\n" => b"STORED\r\nOK\r\nVALUE f_a 0 1\r\nx\r\nEND\r\n",
        "flush_all delayed noreply":
            b"set f_a 0 0 1\r\nx\r\nflush_all 60 noreply\r\nget f_a\r\n" => b"STORED\r\nVALUE f_a 0 1\r\nx\r\nEND\r\n",
        "flush_all items set afterwards survive":
            b"flush_all\r\nset f_b 0 0 1\r\ny\r\nget f_b\r\n" => b"OK\r\nSTORED\r\nVALUE f_b 0 1\r\ny\r\nEND\r\n",
        "flush_all bad delay": b"flush_all abc\r\n" => b"CLIENT_ERROR invalid exptime argument\r\n",
        // quirk: with two arguments the first is the delay, so "noreply" is a bad number.
        "flush_all noreply junk": b"flush_all noreply x\r\n" => b"CLIENT_ERROR invalid exptime argument\r\n",
        // quirk: junk in the noreply slot is ignored.
        "flush_all two args": b"flush_all 0 0\r\n" => b"OK\r\n",
        "flush_all too many args": b"flush_all 0 noreply x\r\n" => b"ERROR\r\n",
        "cache_memlimit": b"cache_memlimit 100\r\n" => b"OK\r\n",
        "cache_memlimit noreply": b"cache_memlimit 100 noreply\r\nget c_fence\r\n" => b"END\r\n",
        // quirk: memcached refuses limits under 8 MB with a non-standard reply.
        "cache_memlimit too small":
            b"cache_memlimit 1\r\n" => b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n",
        "cache_memlimit missing": b"cache_memlimit\r\n" => b"ERROR\r\n",
        // quirk: a bad number is ERROR, not CLIENT_ERROR.
        "cache_memlimit bad": b"cache_memlimit abc\r\n" => b"ERROR\r\n",
        // Without -A memcached refuses, with this exact (non-standard) line.
        "shutdown refused": b"shutdown\r\n" => b"ERROR: shutdown not enabled\r\n",
        "shutdown graceful refused": b"shutdown graceful\r\n" => b"ERROR: shutdown not enabled\r\n",
        "shutdown noreply refused": b"shutdown noreply\r\n" => b"ERROR: shutdown not enabled\r\n",
        "stats reset": b"stats reset\r\n" => b"RESET\r\n",
    ]
}

#[test]
fn classic_commands() {
    let server = TestServer::start(&[]);
    run_cases(Some(&server), &data_cases());
}

#[test]
fn server_wide_commands() {
    run_cases(None, &admin_cases());
}

/// Parse one `VALUE <key> <flags> <bytes> <cas>\r\n<data>\r\n` entry of a
/// `gets`/`gats` reply; returns (key, flags, data, cas).
#[track_caller]
fn read_cas_value(conn: &mut Conn) -> (String, u32, Vec<u8>, u64) {
    let line = conn.read_line();
    let text = String::from_utf8(line.clone()).unwrap();
    let fields: Vec<&str> = text
        .strip_prefix("VALUE ")
        .and_then(|t| t.strip_suffix("\r\n"))
        .unwrap_or_else(|| panic!("not a VALUE line: \"{}\"", show(&line)))
        .split(' ')
        .collect();
    assert_eq!(fields.len(), 4, "VALUE line with CAS: \"{}\"", show(&line));
    let flags = fields[1].parse().expect("flags");
    let len: usize = fields[2].parse().expect("length");
    let cas = fields[3].parse().expect("cas unique must be a u64");
    let mut data = conn.read_exact_bytes(len + 2);
    assert_eq!(&data[len..], b"\r\n", "data block terminator");
    data.truncate(len);
    (fields[0].to_string(), flags, data, cas)
}

/// CAS uniques differ between servers: check the shape, not the numbers.
#[test]
fn gets_and_cas() {
    let server = TestServer::start(&[]);
    let mut c = server.conn();
    c.roundtrip(b"set c1 3 0 2\r\nv1\r\n", b"STORED\r\n");
    c.roundtrip(b"set c2 4 0 2\r\nv2\r\n", b"STORED\r\n");

    c.send(b"gets c1 c_miss c2\r\n");
    let (k1, f1, d1, cas1) = read_cas_value(&mut c);
    let (k2, f2, d2, cas2) = read_cas_value(&mut c);
    c.expect(b"END\r\n");
    assert_eq!((k1.as_str(), f1, &d1[..]), ("c1", 3, &b"v1"[..]));
    assert_eq!((k2.as_str(), f2, &d2[..]), ("c2", 4, &b"v2"[..]));
    assert_ne!(cas1, cas2, "distinct items have distinct uniques");

    c.roundtrip(b"gets c_miss\r\n", b"END\r\n");

    // A set changes the unique; the old one is then stale.
    c.roundtrip(b"set c1 3 0 2\r\nw1\r\n", b"STORED\r\n");
    c.send(b"gets c1\r\n");
    let (_, _, d, cas1b) = read_cas_value(&mut c);
    c.expect(b"END\r\n");
    assert_eq!(d, b"w1");
    assert_ne!(cas1b, cas1, "set must change the cas unique");

    c.roundtrip(
        format!("cas c1 5 0 2 {cas1}\r\nzz\r\n").as_bytes(),
        b"EXISTS\r\n",
    );
    c.roundtrip(
        format!("cas c1 5 0 2 {cas1b}\r\nzz\r\n").as_bytes(),
        b"STORED\r\n",
    );
    // The same unique cannot be used twice.
    c.roundtrip(
        format!("cas c1 5 0 2 {cas1b}\r\nyy\r\n").as_bytes(),
        b"EXISTS\r\n",
    );

    // gats returns the CAS too (and touch does not change it).
    c.send(b"gats 100 c1\r\n");
    let (k, f, d, cas1c) = read_cas_value(&mut c);
    c.expect(b"END\r\n");
    assert_eq!((k.as_str(), f, &d[..]), ("c1", 5, &b"zz"[..]));
    assert_ne!(cas1c, cas1b);
    c.roundtrip(b"touch c1 200\r\n", b"TOUCHED\r\n");
    c.send(b"gets c1\r\n");
    let (_, _, _, cas1d) = read_cas_value(&mut c);
    c.expect(b"END\r\n");
    assert_eq!(cas1d, cas1c, "touch must not change the cas unique");

    // incr also changes it.
    c.roundtrip(b"set c3 0 0 1\r\n1\r\n", b"STORED\r\n");
    c.send(b"gets c3\r\n");
    let (_, _, _, cas3) = read_cas_value(&mut c);
    c.expect(b"END\r\n");
    c.roundtrip(b"incr c3 1\r\n", b"2\r\n");
    c.roundtrip(
        format!("cas c3 0 0 1 {cas3}\r\n9\r\n").as_bytes(),
        b"EXISTS\r\n",
    );
    c.assert_usable();
}

#[test]
fn version() {
    let server = TestServer::start(&[]);
    let mut c = server.conn();
    c.send(b"version\r\n");
    let line = c.read_line();
    assert!(
        line.starts_with(b"VERSION ") && line.ends_with(b"\r\n") && line.len() > 10,
        "bad version line \"{}\"",
        show(&line)
    );
    // quirk: arguments are ignored.
    c.send(b"version x\r\n");
    assert!(c.read_line().starts_with(b"VERSION "));
}

#[test]
fn quit_closes_the_connection() {
    let server = TestServer::start(&[]);
    server
        .conn()
        .roundtrip(b"set q 0 0 1\r\nx\r\n", b"STORED\r\n");

    let mut c = server.conn();
    c.send(b"quit\r\n");
    c.expect_closed();

    // Commands before quit are answered; nothing after it is.
    let mut c = server.conn();
    c.send(b"get q\r\nquit\r\nget q\r\n");
    c.expect(b"VALUE q 0 1\r\nx\r\nEND\r\n");
    c.expect_closed();

    // quirk: arguments are ignored.
    let mut c = server.conn();
    c.send(b"quit now\r\n");
    c.expect_closed();
}

/// Parse a `stats` reply: `STAT <name> <value>` lines then `END`.
#[track_caller]
fn read_stats(conn: &mut Conn) -> Vec<(String, String)> {
    let mut stats = Vec::new();
    loop {
        let line = conn.read_line();
        if line == b"END\r\n" {
            return stats;
        }
        let text = String::from_utf8(line.clone())
            .unwrap_or_else(|_| panic!("non-UTF-8 stats line \"{}\"", show(&line)));
        let parsed = text
            .strip_prefix("STAT ")
            .and_then(|t| t.strip_suffix("\r\n"))
            .and_then(|t| t.split_once(' '))
            .filter(|(name, value)| {
                !name.is_empty() && !value.is_empty() && !value.contains(['\r', '\n'])
            });
        match parsed {
            Some((name, value)) => stats.push((name.to_string(), value.to_string())),
            None => panic!("malformed stats line \"{}\"", show(&line)),
        }
    }
}

fn stat<'a>(stats: &'a [(String, String)], name: &str) -> &'a str {
    stats
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("missing stat {name}"))
}

#[test]
fn stats_groups() {
    let server = TestServer::start(&[]);
    let mut c = server.conn();

    c.send(b"stats\r\n");
    let stats = read_stats(&mut c);
    for name in [
        "pid",
        "uptime",
        "time",
        "version",
        "curr_connections",
        "total_connections",
        "cmd_get",
        "cmd_set",
        "get_hits",
        "get_misses",
        "curr_items",
        "total_items",
        "bytes",
        "evictions",
        "limit_maxbytes",
        "threads",
    ] {
        stat(&stats, name);
    }
    assert_eq!(stat(&stats, "cmd_get"), "0");
    assert_eq!(stat(&stats, "curr_items"), "0");
    assert_eq!(stat(&stats, "limit_maxbytes"), "67108864", "default -m 64");
    let time: u64 = stat(&stats, "time").parse().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(time.abs_diff(now) <= 5, "stats time {time} vs now {now}");

    // Counters move.
    c.roundtrip(
        b"set st 0 0 1\r\nx\r\nget st\r\nget st_miss\r\n",
        b"STORED\r\nVALUE st 0 1\r\nx\r\nEND\r\nEND\r\n",
    );
    c.send(b"stats\r\n");
    let stats = read_stats(&mut c);
    for (name, value) in [
        ("cmd_get", "2"),
        ("cmd_set", "1"),
        ("get_hits", "1"),
        ("get_misses", "1"),
        ("curr_items", "1"),
        ("total_items", "1"),
    ] {
        assert_eq!(stat(&stats, name), value, "stat {name}");
    }

    // stats reset zeroes the counters, not the item count.
    c.roundtrip(b"stats reset\r\n", b"RESET\r\n");
    c.send(b"stats\r\n");
    let stats = read_stats(&mut c);
    assert_eq!(stat(&stats, "cmd_get"), "0");
    assert_eq!(stat(&stats, "get_hits"), "0");
    assert_eq!(stat(&stats, "curr_items"), "1");

    // The other groups: only the structure is checked, plus a few names.
    for (group, names) in [
        (
            &b"stats settings\r\n"[..],
            &["maxbytes", "maxconns", "tcpport", "item_size_max"][..],
        ),
        (b"stats items\r\n", &[]),
        (b"stats slabs\r\n", &["active_slabs", "total_malloced"]),
        (b"stats sizes\r\n", &[]),
        (b"stats conns\r\n", &[]),
    ] {
        c.send(group);
        let stats = read_stats(&mut c);
        for name in names {
            stat(&stats, name);
        }
    }
    c.send(b"stats settings\r\n");
    let settings = read_stats(&mut c);
    assert_eq!(stat(&settings, "item_size_max"), "1048576");
    assert_eq!(stat(&settings, "tcpport"), server.addr.port().to_string());
    c.send(b"stats conns\r\n");
    assert!(
        !read_stats(&mut c).is_empty(),
        "our own connection is listed"
    );
    c.assert_usable();
}

/// A non-get line of more than 2048 bytes without a newline closes the
/// connection (memcached: no reply at all); get lines may be much longer.
#[test]
fn long_lines() {
    let server = TestServer::start(&[]);
    server
        .conn()
        .roundtrip(b"set hit 0 0 1\r\nx\r\n", b"STORED\r\n");

    let mut c = server.conn();
    c.send(&[b'x'; 2100]);
    c.expect_closed();

    let mut c = server.conn();
    c.send(&cat(&[b"set ", &[b'k'; 2100]]));
    c.expect_closed();

    // A 100,000-byte get line of many keys.
    let mut line = b"get hit".to_vec();
    let mut i = 0;
    while line.len() < 100_000 - 6 {
        line.extend_from_slice(format!(" m{i:07}").as_bytes());
        i += 1;
    }
    line.extend_from_slice(b" hit\r\n");
    let mut c = server.conn();
    c.roundtrip(
        &line,
        b"VALUE hit 0 1\r\nx\r\nVALUE hit 0 1\r\nx\r\nEND\r\n",
    );
    c.assert_usable();

    // A get line may arrive in pieces well past 2048 bytes.
    let mut c = server.conn();
    c.send(&cat(&[b"get hit", &b" k".repeat(1500)]));
    c.roundtrip(
        b" hit\r\n",
        b"VALUE hit 0 1\r\nx\r\nVALUE hit 0 1\r\nx\r\nEND\r\n",
    );
    c.assert_usable();
}

/// Many requests in one write; replies in order.
#[test]
fn pipelining() {
    let server = TestServer::start(&[]);
    let mut request = Vec::new();
    let mut reply = Vec::new();
    for i in 0..200 {
        let v = format!("value-{i}");
        request.extend_from_slice(format!("set p{i} {i} 0 {}\r\n{v}\r\n", v.len()).as_bytes());
        reply.extend_from_slice(b"STORED\r\n");
        request.extend_from_slice(format!("get p{i} p_miss\r\n").as_bytes());
        reply.extend_from_slice(format!("VALUE p{i} {i} {}\r\n{v}\r\nEND\r\n", v.len()).as_bytes());
        request.extend_from_slice(format!("incr p{i} 1\r\nbogus\r\ndelete p{i}\r\n").as_bytes());
        reply.extend_from_slice(
            b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\nERROR\r\nDELETED\r\n",
        );
        request.extend_from_slice(format!("set p{i} 0 0 1 noreply\r\n{}\r\n", i % 10).as_bytes());
        request.extend_from_slice(format!("incr p{i} 5\r\n").as_bytes());
        reply.extend_from_slice(format!("{}\r\n", i % 10 + 5).as_bytes());
    }
    let mut c = server.conn();
    c.roundtrip(&request, &reply);
    c.assert_usable();
}

/// Every request split into two writes at every byte position.
#[test]
fn split_at_every_byte() {
    let server = TestServer::start(&[]);
    server.conn().roundtrip(
        b"set sa 1 0 2\r\naa\r\nset sb 2 0 3\r\nbbb\r\n",
        b"STORED\r\nSTORED\r\n",
    );
    let cases: &[(&[u8], &[u8])] = &[
        (b"set sx 7 0 5\r\nab\r\nc\r\n", b"STORED\r\n"),
        (
            b"get sa s_miss sb\r\n",
            b"VALUE sa 1 2\r\naa\r\nVALUE sb 2 3\r\nbbb\r\nEND\r\n",
        ),
        (b"set sn 0 0 1\r\n5\r\nincr sn 3\r\n", b"STORED\r\n8\r\n"),
        (
            b"set sd 0 0 1\r\nx\r\ndelete sd noreply\r\nget sd\r\n",
            b"STORED\r\nEND\r\n",
        ),
    ];
    for &(request, reply) in cases {
        for at in 1..request.len() {
            let mut c = server.conn();
            c.send(&request[..at]);
            c.send(&request[at..]);
            let result = catch_unwind(AssertUnwindSafe(|| c.expect(reply)));
            assert!(
                result.is_ok(),
                "split \"{}\" | \"{}\"",
                show(&request[..at]),
                show(&request[at..])
            );
        }
    }
}

/// With -M the server refuses to store instead of evicting.
#[test]
fn out_of_memory_without_evictions() {
    // memcached needs -m to be at least twice the 1 MiB item limit.
    let server = TestServer::start(&["-M", "-m", "2"]);
    let mut c = server.conn();
    let value = vec![b'v'; 10_000];
    let mut stored = 0;
    let reply = loop {
        assert!(
            stored < 2_000,
            "still storing after {stored} x 10 kB in 2 MB"
        );
        c.send(&cat(&[
            format!("set oom{stored} 0 0 {}\r\n", value.len()).as_bytes(),
            &value,
            b"\r\n",
        ]));
        let line = c.read_line();
        if line != b"STORED\r\n" {
            break line;
        }
        stored += 1;
    };
    assert!(stored > 0, "nothing could be stored");
    assert_eq!(
        show(&reply),
        show(b"SERVER_ERROR out of memory storing object\r\n")
    );
    // Nothing was evicted, and the connection is still usable.
    c.send(b"get oom0\r\n");
    c.expect(&cat(&[b"VALUE oom0 0 10000\r\n", &value, b"\r\nEND\r\n"]));
    c.send(&cat(&[b"set oom_again 0 0 10000\r\n", &value, b"\r\n"]));
    c.expect(b"SERVER_ERROR out of memory storing object\r\n");
    c.assert_usable();
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Absolute exptimes in the future keep the item (no waiting needed).
#[test]
fn absolute_exptime_in_the_future() {
    let server = TestServer::start(&[]);
    let at = unix_now() + 3600;
    let mut c = server.conn();
    c.roundtrip(
        format!("set af 0 {at} 1\r\nx\r\nget af\r\ntouch af {at}\r\ngat {at} af\r\n").as_bytes(),
        b"STORED\r\nVALUE af 0 1\r\nx\r\nEND\r\nTOUCHED\r\nVALUE af 0 1\r\nx\r\nEND\r\n",
    );
}

/// The only test that sleeps: relative expiry and delayed flush_all.
#[test]
fn expiry() {
    let server = TestServer::start(&[]);
    let flush_server = TestServer::start(&[]);
    let mut c = server.conn();
    c.roundtrip(
        b"set x_set 0 1 1\r\na\r\n\
          set x_touch 0 0 1\r\nb\r\ntouch x_touch 1\r\n\
          set x_gat 0 0 1\r\nc\r\ngat 1 x_gat\r\n\
          set x_keep 0 100 1\r\nd\r\n\
          set x_touch_keep 0 1 1\r\ne\r\ntouch x_touch_keep 100\r\n",
        b"STORED\r\nSTORED\r\nTOUCHED\r\nSTORED\r\nVALUE x_gat 0 1\r\nc\r\nEND\r\nSTORED\r\nSTORED\r\nTOUCHED\r\n",
    );
    let mut f = flush_server.conn();
    // (That the items survive until then is checked with a longer delay in
    // `server_wide_commands`: a get right here could race the clock tick.)
    f.roundtrip(b"set fl 0 0 1\r\nx\r\nflush_all 2\r\n", b"STORED\r\nOK\r\n");

    // Clocks tick in whole seconds: exptime 1 is over after at most 2 s.
    std::thread::sleep(Duration::from_millis(2100));

    c.roundtrip(
        b"get x_set x_touch x_gat x_keep x_touch_keep\r\n",
        b"VALUE x_keep 0 1\r\nd\r\nVALUE x_touch_keep 0 1\r\ne\r\nEND\r\n",
    );
    f.roundtrip(b"get fl\r\n", b"END\r\n");
}
