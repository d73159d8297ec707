//! Table-driven tests. Every expectation below was checked against
//! memcached 1.6.18 unless its comment says the project differs on purpose.

use super::*;

const LIMITS: Limits = Limits { max_value: 1024 };

type Outcome<'a> = Result<Status<Request<'a>>, Error>;

fn done(request: Request<'_>, consumed: usize) -> Outcome<'_> {
    Ok(Status::Complete(request, consumed))
}

fn fail<'a>(kind: ErrorKind, consumed: usize, noreply: bool) -> Outcome<'a> {
    Err(Error {
        kind,
        consumed,
        noreply,
    })
}

fn client<'a>(message: &'static str, consumed: usize, noreply: bool) -> Outcome<'a> {
    fail(ErrorKind::Client(message), consumed, noreply)
}

fn unknown<'a>(consumed: usize) -> Outcome<'a> {
    fail(ErrorKind::UnknownCommand, consumed, false)
}

fn get(keys: &[u8], cas: bool) -> Request<'_> {
    Request::Get {
        keys: Keys::new(keys),
        cas,
    }
}

fn store<'a>(
    command: StoreCommand,
    key: &'a [u8],
    flags: u32,
    exptime: i64,
    value: &'a [u8],
    noreply: bool,
) -> Request<'a> {
    Request::Store {
        command,
        key,
        flags,
        exptime,
        cas_unique: 0,
        value,
        noreply,
    }
}

fn set<'a>(key: &'a [u8], value: &'a [u8]) -> Request<'a> {
    store(StoreCommand::Set, key, 0, 0, value, false)
}

const BAD_FORMAT: &str = "bad command line format";
const DELETE_USAGE: &str = "bad command line format.  Usage: delete <key> [noreply]";
const BAD_EXPTIME: &str = "invalid exptime argument";
const BAD_DELTA: &str = "invalid numeric delta argument";
const BAD_CHUNK: &str = "bad data chunk";

const KEY_250: &[u8] = &[b'k'; 250];

fn with_key(prefix: &[u8], key_len: usize, suffix: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.extend(std::iter::repeat_n(b'k', key_len));
    v.extend_from_slice(suffix);
    v
}

/// One request alone in the buffer.
fn table() -> Vec<(&'static [u8], Outcome<'static>)> {
    use StoreCommand::*;
    vec![
        // --- get / gets ---
        (b"get a\r\n", done(get(b"a", false), 7)),
        (b"get a\n", done(get(b"a", false), 6)),
        (b"gets a\r\n", done(get(b"a", true), 8)),
        (b"get a b c\r\n", done(get(b"a b c", false), 11)),
        (b"get  a   b  \r\n", done(get(b"a   b", false), 14)),
        (b"   get a\r\n", done(get(b"a", false), 10)),
        (b"get noreply\r\n", done(get(b"noreply", false), 13)),
        (b"get \xc3\xa9\r\n", done(get(b"\xc3\xa9", false), 8)),
        (b"get\r\n", unknown(5)),
        (b"get \r\n", unknown(6)),
        (b"GET a\r\n", unknown(7)),
        (b"get\ta\r\n", unknown(7)),
        // Control bytes are key bytes: memcached splits on spaces only.
        (b"get a\tb\r\n", done(get(b"a\tb", false), 9)),
        (b"get a\x7f\r\n", done(get(b"a\x7f", false), 8)),
        (b"get a\rb\r\n", done(get(b"a\rb", false), 9)),
        (b"get a\r\r\n", done(get(b"a\r", false), 8)),
        (b"get \x01\x1f\r\n", done(get(b"\x01\x1f", false), 8)),
        // memcached reads the line as a C string: a NUL ends it.
        (b"get a\0 b\r\n", done(get(b"a", false), 10)),
        (b"version\0x\r\n", done(Request::Version, 11)),
        (b"\0get a\r\n", unknown(8)),
        // --- gat / gats ---
        (
            b"gat 10 a b\r\n",
            done(
                Request::Gat {
                    exptime: 10,
                    keys: Keys::new(b"a b"),
                    cas: false,
                },
                12,
            ),
        ),
        (
            b"gats -1 a\r\n",
            done(
                Request::Gat {
                    exptime: -1,
                    keys: Keys::new(b"a"),
                    cas: true,
                },
                11,
            ),
        ),
        // memcached answers `gat 10` (no key) with END.
        (
            b"gat 10\r\n",
            done(
                Request::Gat {
                    exptime: 10,
                    keys: Keys::new(b""),
                    cas: false,
                },
                8,
            ),
        ),
        (b"gat\r\n", unknown(5)),
        (b"gat x a\r\n", client(BAD_EXPTIME, 9, false)),
        (b"gats 1x a\r\n", client(BAD_EXPTIME, 11, false)),
        (
            b"gat 1 a\x01\r\n",
            done(
                Request::Gat {
                    exptime: 1,
                    keys: Keys::new(b"a\x01"),
                    cas: false,
                },
                10,
            ),
        ),
        // --- storage ---
        (b"set a 0 0 1\r\nx\r\n", done(set(b"a", b"x"), 16)),
        (b"set a 0 0 1\nx\r\n", done(set(b"a", b"x"), 15)),
        (
            b"set a 5 100 3 noreply\r\nabc\r\n",
            done(store(Set, b"a", 5, 100, b"abc", true), 28),
        ),
        (
            b"add a 0 0 1\r\nx\r\n",
            done(store(Add, b"a", 0, 0, b"x", false), 16),
        ),
        (
            b"replace a 0 0 1\r\nx\r\n",
            done(store(Replace, b"a", 0, 0, b"x", false), 20),
        ),
        (
            b"append a 0 0 1\r\nx\r\n",
            done(store(Append, b"a", 0, 0, b"x", false), 19),
        ),
        (
            b"prepend a 0 0 1 noreply\r\nx\r\n",
            done(store(Prepend, b"a", 0, 0, b"x", true), 28),
        ),
        (
            b"cas a 1 2 1 99\r\nx\r\n",
            done(
                Request::Store {
                    command: Cas,
                    key: b"a",
                    flags: 1,
                    exptime: 2,
                    cas_unique: 99,
                    value: b"x",
                    noreply: false,
                },
                19,
            ),
        ),
        (
            b"cas a 0 0 1 18446744073709551615 noreply\r\nx\r\n",
            done(
                Request::Store {
                    command: Cas,
                    key: b"a",
                    flags: 0,
                    exptime: 0,
                    cas_unique: u64::MAX,
                    value: b"x",
                    noreply: true,
                },
                45,
            ),
        ),
        // Binary-safe values: "\r\n" inside the data block is data.
        (
            b"set a 0 0 6\r\n\r\n\r\n\r\n\r\n",
            done(set(b"a", b"\r\n\r\n\r\n"), 21),
        ),
        (b"set a 0 0 3\r\nab\r\r\n", done(set(b"a", b"ab\r"), 18)),
        (b"set a 0 0 0\r\n\r\n", done(set(b"a", b""), 15)),
        (b"set a 0 0 2\r\n\0\xff\r\n", done(set(b"a", b"\0\xff"), 17)),
        (b"  set  a  0  0  1  \r\nx\r\n", done(set(b"a", b"x"), 24)),
        // A last token that is not `noreply` is ignored by memcached.
        (b"set a 0 0 1 garbage\r\nx\r\n", done(set(b"a", b"x"), 24)),
        (
            b"cas a 0 0 1 1 garbage\r\nx\r\n",
            done(
                Request::Store {
                    command: Cas,
                    key: b"a",
                    flags: 0,
                    exptime: 0,
                    cas_unique: 1,
                    value: b"x",
                    noreply: false,
                },
                26,
            ),
        ),
        // strtol shapes: `+`, a tab after the digits, and a "\r" left on the
        // last token by "\r\r\n".
        (
            b"set a +5 -1 +1\r\nx\r\n",
            done(store(Set, b"a", 5, -1, b"x", false), 19),
        ),
        (b"set a 0 0 1\tz\r\nx\r\n", done(set(b"a", b"x"), 18)),
        (b"set a 0 0 1\r\r\nx\r\n", done(set(b"a", b"x"), 17)),
        (b"set a -0 0 1\r\nx\r\n", done(set(b"a", b"x"), 17)),
        // 32-bit narrowing without range checks, as memcached does.
        (
            b"set a 4294967297 0 1\r\nx\r\n",
            done(store(Set, b"a", 1, 0, b"x", false), 25),
        ),
        (
            b"set a -18446744073709551615 0 1\r\nx\r\n",
            done(store(Set, b"a", 1, 0, b"x", false), 36),
        ),
        (
            b"set a 0 2147483648 1\r\nx\r\n",
            done(store(Set, b"a", 0, -2147483648, b"x", false), 25),
        ),
        (
            b"set a 0 4294967296 1\r\nx\r\n",
            done(store(Set, b"a", 0, 0, b"x", false), 25),
        ),
        (b"set a 0 0 4294967297\r\nx\r\n", done(set(b"a", b"x"), 25)),
        // Wrong token counts are a bare ERROR, even with noreply.
        (b"set a 0 0\r\n", unknown(11)),
        (b"set a 0 0 1 noreply extra\r\n", unknown(27)),
        (b"cas a 0 0 1\r\n", unknown(13)),
        (b"cas a 0 0 1 1 noreply x\r\n", unknown(25)),
        (b"set\r\n", unknown(5)),
        // Bad numbers: the line only, the data block is not swallowed.
        (b"set a abc 0 1\r\n", client(BAD_FORMAT, 15, false)),
        (b"set a abc 0 1 noreply\r\n", client(BAD_FORMAT, 23, true)),
        (b"set a 0 0 noreply\r\n", client(BAD_FORMAT, 19, true)),
        (b"set a -1 0 1\r\n", client(BAD_FORMAT, 14, false)),
        (b"set a 0 0 -1\r\n", client(BAD_FORMAT, 14, false)),
        (b"set a 0 0 1x\r\n", client(BAD_FORMAT, 14, false)),
        (b"set a 0 x 1\r\n", client(BAD_FORMAT, 13, false)),
        (
            b"set a 18446744073709551616 0 1\r\n",
            client(BAD_FORMAT, 32, false),
        ),
        (
            b"set a 0 9223372036854775808 1\r\n",
            client(BAD_FORMAT, 31, false),
        ),
        (b"set a 0 0 2147483646\r\n", client(BAD_FORMAT, 22, false)),
        (b"set a 0\t0 1\r\n", unknown(13)),
        (b"cas a 0 0 1 abc\r\n", client(BAD_FORMAT, 17, false)),
        (b"cas a 0 0 1 -1\r\n", client(BAD_FORMAT, 16, false)),
        (b"cas a 0 0 1 x noreply\r\n", client(BAD_FORMAT, 23, true)),
        // A control byte in a storage key is a key byte (memcaslap).
        (b"set a\x01 0 0 1\r\nx\r\n", done(set(b"a\x01", b"x"), 17)),
        (b"set a\x01 0 0 -1\r\n", client(BAD_FORMAT, 15, false)),
        (b"set a\x01 x 0 1\r\n", client(BAD_FORMAT, 14, false)),
        // Too large: answered at once, the data block counted but not read.
        (
            b"set a 0 0 1025\r\n",
            done(
                Request::TooLarge {
                    command: Set,
                    key: b"a",
                    noreply: false,
                },
                16 + 1025 + 2,
            ),
        ),
        (
            b"append a 0 0 2147483645 noreply\r\n",
            done(
                Request::TooLarge {
                    command: Append,
                    key: b"a",
                    noreply: true,
                },
                33 + 2147483645 + 2,
            ),
        ),
        // Bad data chunk: exactly bytes + 2 are swallowed; noreply hides it.
        (b"set a 0 0 1\r\nxyz", client(BAD_CHUNK, 16, false)),
        (b"set a 0 0 1 noreply\r\nxyz", client(BAD_CHUNK, 24, true)),
        (b"set a 0 0 1\r\nx\ng", client(BAD_CHUNK, 16, false)),
        (b"set a 0 0 0\r\n\n\r", client(BAD_CHUNK, 15, false)),
        (
            b"cas a 0 0 1 1 noreply\r\nxy\r",
            client(BAD_CHUNK, 26, true),
        ),
        // --- delete ---
        (
            b"delete a\r\n",
            done(
                Request::Delete {
                    key: b"a",
                    noreply: false,
                },
                10,
            ),
        ),
        (
            b"delete a 0\r\n",
            done(
                Request::Delete {
                    key: b"a",
                    noreply: false,
                },
                12,
            ),
        ),
        (
            b"delete a noreply\r\n",
            done(
                Request::Delete {
                    key: b"a",
                    noreply: true,
                },
                18,
            ),
        ),
        (
            b"delete a 0 noreply\r\n",
            done(
                Request::Delete {
                    key: b"a",
                    noreply: true,
                },
                20,
            ),
        ),
        // With only a key, memcached does not look for noreply.
        (
            b"delete noreply\r\n",
            done(
                Request::Delete {
                    key: b"noreply",
                    noreply: false,
                },
                16,
            ),
        ),
        (b"delete a 1\r\n", client(DELETE_USAGE, 12, false)),
        (b"delete a 00\r\n", client(DELETE_USAGE, 13, false)),
        (b"delete a 0 0\r\n", client(DELETE_USAGE, 14, false)),
        (b"delete a noreply 0\r\n", client(DELETE_USAGE, 20, false)),
        (b"delete a 1 noreply\r\n", client(DELETE_USAGE, 20, true)),
        (b"delete a 0 1 2\r\n", unknown(16)),
        (b"delete\r\n", unknown(8)),
        (
            b"delete a\x0b\r\n",
            done(
                Request::Delete {
                    key: b"a\x0b",
                    noreply: false,
                },
                11,
            ),
        ),
        // --- incr / decr ---
        (
            b"incr a 1\r\n",
            done(
                Request::Arithmetic {
                    key: b"a",
                    delta: 1,
                    incr: true,
                    noreply: false,
                },
                10,
            ),
        ),
        (
            b"decr a 18446744073709551615 noreply\r\n",
            done(
                Request::Arithmetic {
                    key: b"a",
                    delta: u64::MAX,
                    incr: false,
                    noreply: true,
                },
                37,
            ),
        ),
        (
            b"incr a +5 garbage\r\n",
            done(
                Request::Arithmetic {
                    key: b"a",
                    delta: 5,
                    incr: true,
                    noreply: false,
                },
                19,
            ),
        ),
        (b"incr a x\r\n", client(BAD_DELTA, 10, false)),
        (b"incr a x noreply\r\n", client(BAD_DELTA, 18, true)),
        (b"decr a -1\r\n", client(BAD_DELTA, 11, false)),
        (
            b"incr a 18446744073709551616\r\n",
            client(BAD_DELTA, 29, false),
        ),
        (b"incr a\r\n", unknown(8)),
        (b"incr a 1 noreply x\r\n", unknown(20)),
        // --- touch ---
        (
            b"touch a 10\r\n",
            done(
                Request::Touch {
                    key: b"a",
                    exptime: 10,
                    noreply: false,
                },
                12,
            ),
        ),
        (
            b"touch a -1 noreply\r\n",
            done(
                Request::Touch {
                    key: b"a",
                    exptime: -1,
                    noreply: true,
                },
                20,
            ),
        ),
        (b"touch a x\r\n", client(BAD_EXPTIME, 11, false)),
        (b"touch a x noreply\r\n", client(BAD_EXPTIME, 19, true)),
        (b"touch a\r\n", unknown(9)),
        // --- flush_all ---
        (
            b"flush_all\r\n",
            done(
                Request::FlushAll {
                    delay: 0,
                    noreply: false,
                },
                11,
            ),
        ),
        (
            b"flush_all noreply\r\n",
            done(
                Request::FlushAll {
                    delay: 0,
                    noreply: true,
                },
                19,
            ),
        ),
        (
            b"flush_all 10 noreply\r\n",
            done(
                Request::FlushAll {
                    delay: 10,
                    noreply: true,
                },
                22,
            ),
        ),
        (
            b"flush_all -1\r\n",
            done(
                Request::FlushAll {
                    delay: -1,
                    noreply: false,
                },
                14,
            ),
        ),
        (
            b"flush_all 0 20\r\n",
            done(
                Request::FlushAll {
                    delay: 0,
                    noreply: false,
                },
                16,
            ),
        ),
        (b"flush_all abc\r\n", client(BAD_EXPTIME, 15, false)),
        (b"flush_all abc noreply\r\n", client(BAD_EXPTIME, 23, true)),
        (b"flush_all noreply 10\r\n", client(BAD_EXPTIME, 22, false)),
        (b"flush_all 1 2 3\r\n", unknown(17)),
        // --- version / quit / shutdown ---
        (b"version\r\n", done(Request::Version, 9)),
        (b"version x y\r\n", done(Request::Version, 13)),
        (b"Version\r\n", unknown(9)),
        (b"version\t\r\n", unknown(10)),
        (b"quit\r\n", done(Request::Quit, 6)),
        (b"snapshot\r\n", done(Request::Snapshot, 10)),
        (b"quit x\n", done(Request::Quit, 7)),
        (
            b"shutdown\r\n",
            done(
                Request::Shutdown {
                    mode: ShutdownMode::Now,
                },
                10,
            ),
        ),
        (
            b"shutdown graceful\r\n",
            done(
                Request::Shutdown {
                    mode: ShutdownMode::Graceful,
                },
                19,
            ),
        ),
        (
            b"shutdown x\r\n",
            done(
                Request::Shutdown {
                    mode: ShutdownMode::Invalid,
                },
                12,
            ),
        ),
        (
            b"shutdown graceful x\r\n",
            done(
                Request::Shutdown {
                    mode: ShutdownMode::Invalid,
                },
                21,
            ),
        ),
        // --- verbosity ---
        (
            b"verbosity 1\r\n",
            done(Request::Verbosity { noreply: false }, 13),
        ),
        (
            b"verbosity 1 noreply\r\n",
            done(Request::Verbosity { noreply: true }, 21),
        ),
        (
            b"verbosity 1 2\r\n",
            done(Request::Verbosity { noreply: false }, 15),
        ),
        (b"verbosity\r\n", unknown(11)),
        (b"verbosity 1 2 3\r\n", unknown(17)),
        (b"verbosity noreply\r\n", client(BAD_FORMAT, 19, true)),
        (b"verbosity abc\r\n", client(BAD_FORMAT, 15, false)),
        (b"verbosity abc noreply\r\n", client(BAD_FORMAT, 23, true)),
        (b"verbosity -1\r\n", client(BAD_FORMAT, 14, false)),
        // --- cache_memlimit ---
        (
            b"cache_memlimit 64\r\n",
            done(
                Request::CacheMemlimit {
                    megabytes: 64,
                    noreply: false,
                },
                19,
            ),
        ),
        (
            b"cache_memlimit 4 noreply\r\n",
            done(
                Request::CacheMemlimit {
                    megabytes: 4,
                    noreply: true,
                },
                26,
            ),
        ),
        (
            b"cache_memlimit 4294967360\r\n",
            done(
                Request::CacheMemlimit {
                    megabytes: 64,
                    noreply: false,
                },
                27,
            ),
        ),
        (b"cache_memlimit\r\n", unknown(16)),
        (b"cache_memlimit abc\r\n", unknown(20)),
        (
            b"cache_memlimit abc noreply\r\n",
            fail(ErrorKind::UnknownCommand, 28, true),
        ),
        (b"cache_memlimit 64 1 2\r\n", unknown(23)),
        // --- HTTP on the cache port: memcached hangs up (t/malicious-commands.t) ---
        (b"GET / HTTP/1.0\r\n", fail(ErrorKind::Http, 16, false)),
        (
            b"PUT /asdf/asd/fasdfasdf/sadf HTTP/1.1\r\n",
            fail(ErrorKind::Http, 39, false),
        ),
        (b"DELETE HTTP/1.1\r\n", fail(ErrorKind::Http, 17, false)),
        (b"HTTP/1.1\r\n", fail(ErrorKind::Http, 10, false)),
        // Only an unknown command's last token counts.
        (b"GET / HTTP/1.0 x\r\n", unknown(18)),
        (b"get HTTP/1.0\r\n", done(get(b"HTTP/1.0", false), 14)),
        // --- stats ---
        (b"stats\r\n", done(Request::Stats { args: b"" }, 7)),
        (b"stats   \r\n", done(Request::Stats { args: b"" }, 10)),
        (
            b"stats  detail  dump  \r\n",
            done(
                Request::Stats {
                    args: b"detail  dump",
                },
                23,
            ),
        ),
        (b"stats\tx\r\n", unknown(9)),
        // --- config get (ElastiCache auto-discovery) ---
        (
            b"config get cluster\r\n",
            done(Request::ConfigGet { key: b"cluster" }, 20),
        ),
        (
            b"config  get  cluster \r\n",
            done(Request::ConfigGet { key: b"cluster" }, 23),
        ),
        (b"config\r\n", unknown(8)),
        (b"config get\r\n", unknown(12)),
        (b"config set cluster\r\n", unknown(20)),
        (b"config get a b\r\n", unknown(16)),
        // --- empty, unknown, meta ---
        (b"\r\n", unknown(2)),
        (b"\n", unknown(1)),
        (b"   \r\n", unknown(5)),
        (b"x\r\n", unknown(3)),
        (b"sets a\r\n", unknown(8)),
        // --- slabs (replies checked against memcached 1.6.18) ---
        (
            b"slabs automove 1\r\n",
            done(Request::SlabsAutomove { noreply: false }, 18),
        ),
        (b"slabs automove 3\r\n", unknown(18)),
        (
            b"slabs automove x\r\n",
            client("bad command line format", 18, false),
        ),
        (
            b"slabs automove x noreply\r\n",
            client("bad command line format", 26, true),
        ),
        (
            b"slabs automove ratio 0.5\r\n",
            done(Request::SlabsAutomove { noreply: false }, 26),
        ),
        (b"slabs automove ratio\r\n", unknown(22)),
        (
            b"slabs reassign 1 2\r\n",
            done(
                Request::SlabsReassign {
                    classes: Some((1, 2)),
                },
                20,
            ),
        ),
        (
            b"slabs reassign -1 2\r\n",
            done(
                Request::SlabsReassign {
                    classes: Some((-1, 2)),
                },
                21,
            ),
        ),
        (
            b"slabs reassign a b\r\n",
            done(Request::SlabsReassign { classes: None }, 20),
        ),
        (b"slabs reassign 1 2 3\r\n", unknown(22)),
        (b"slabs\r\n", unknown(7)),
        // Meta commands are parsed by `meta` (see its tests); other
        // two-letter `m` commands are unknown.
        (b"mz a\r\n", unknown(6)),
        (b"mgx a\r\n", unknown(7)),
    ]
}

/// Inputs built at run time (long keys and lines).
/// The expected outcome of a run-time input, computed from the input.
type Expect = fn(&[u8]) -> Outcome<'_>;

fn owned_table() -> Vec<(Vec<u8>, Expect)> {
    vec![
        (with_key(b"get ", 250, b"\r\n"), |b| {
            done(get(&b[4..254], false), 256)
        }),
        (with_key(b"get ", 251, b"\r\n"), |_| {
            client(BAD_FORMAT, 257, false)
        }),
        (with_key(b"get a ", 251, b" b\r\n"), |_| {
            client(BAD_FORMAT, 261, false)
        }),
        (with_key(b"gat 1 ", 251, b"\r\n"), |_| {
            client(BAD_FORMAT, 259, false)
        }),
        (with_key(b"set ", 250, b" 0 0 1\r\nx\r\n"), |b| {
            done(set(&b[4..254], b"x"), 265)
        }),
        (with_key(b"set ", 251, b" 0 0 1\r\nx\r\n"), |_| {
            client(BAD_FORMAT, 263, false)
        }),
        (with_key(b"set ", 251, b" 0 0 1 noreply\r\nx\r\n"), |_| {
            client(BAD_FORMAT, 271, true)
        }),
        (with_key(b"delete ", 251, b"\r\n"), |_| {
            client(BAD_FORMAT, 260, false)
        }),
        (with_key(b"delete ", 251, b" noreply\r\n"), |_| {
            client(BAD_FORMAT, 268, true)
        }),
        // The usage check comes before the key check.
        (with_key(b"delete ", 251, b" 1\r\n"), |_| {
            client(DELETE_USAGE, 262, false)
        }),
        (with_key(b"incr ", 251, b" 1\r\n"), |_| {
            client(BAD_FORMAT, 260, false)
        }),
        (with_key(b"incr ", 251, b" x\r\n"), |_| {
            client(BAD_FORMAT, 260, false)
        }),
        (with_key(b"touch ", 251, b" 1 noreply\r\n"), |_| {
            client(BAD_FORMAT, 269, true)
        }),
    ]
}

#[test]
fn table_requests_parse_as_memcached_does() {
    let mut wrong = Vec::new();
    for (input, expected) in table() {
        let got = parse(input, &LIMITS);
        if got != expected {
            wrong.push(format!(
                "{:?}\n  got  {got:?}\n  want {expected:?}",
                input.escape_ascii().to_string()
            ));
        }
    }
    for (input, expected) in owned_table() {
        let got = parse(&input, &LIMITS);
        if got != expected(&input) {
            wrong.push(format!(
                "{:?}\n  got  {got:?}\n  want {:?}",
                input.escape_ascii().to_string(),
                expected(&input)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Every strict prefix is Incomplete until the request is decided, and from
/// then on every longer prefix gives the full input's result.
fn check_prefixes(input: &[u8], expected: &Outcome<'_>) {
    let show = || input.escape_ascii().to_string();
    assert_eq!(&parse(input, &LIMITS), expected, "input {:?}", show());
    let line_end = input.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut decided = false;
    for cut in 0..input.len() {
        let got = parse(&input[..cut], &LIMITS);
        if cut < line_end {
            assert_eq!(got, Ok(Status::Incomplete), "prefix {cut} of {:?}", show());
        } else if got == Ok(Status::Incomplete) {
            assert!(!decided, "prefix {cut} of {:?} undecided again", show());
        } else {
            decided = true;
            assert_eq!(&got, expected, "prefix {cut} of {:?}", show());
        }
    }
    // Only storage commands with a data block may wait past their line.
    if let Ok(Status::Complete(Request::Store { .. }, _))
    | Err(Error {
        kind: ErrorKind::Client("bad data chunk"),
        ..
    }) = expected
    {
    } else {
        assert_eq!(
            parse(&input[..line_end], &LIMITS),
            *expected,
            "line alone of {:?}",
            show()
        );
    }
}

#[test]
fn every_split_point_is_incomplete_or_the_same_result() {
    for (input, expected) in table() {
        check_prefixes(input, &expected);
    }
    for (input, expected) in owned_table() {
        check_prefixes(&input, &expected(&input));
    }
}

#[test]
fn pipelined_requests_parse_one_after_another() {
    let stream: &[u8] = b"set a 0 0 5\r\nhe\r\no\r\nget a b\nbogus\r\n\
        delete a noreply\r\nset b 0 0 1\r\nxyz\r\nget b\r\nincr n 1\r\n";
    let mut rest = stream;
    let mut seen = Vec::new();
    while !rest.is_empty() {
        match parse(rest, &LIMITS) {
            Ok(Status::Complete(request, n)) => {
                seen.push(Ok(request));
                rest = &rest[n..];
            }
            Ok(Status::Incomplete) => panic!("incomplete at {:?}", rest.escape_ascii().to_string()),
            Err(e) => {
                seen.push(Err(e.kind));
                rest = &rest[e.consumed..];
            }
        }
    }
    assert_eq!(
        seen,
        vec![
            Ok(set(b"a", b"he\r\no")),
            Ok(get(b"a b", false)),
            Err(ErrorKind::UnknownCommand),
            Ok(Request::Delete {
                key: b"a",
                noreply: true
            }),
            // memcached: "CLIENT_ERROR bad data chunk", then "ERROR" for the
            // empty line left after "xyz", then the get.
            Err(ErrorKind::Client(BAD_CHUNK)),
            Err(ErrorKind::UnknownCommand),
            Ok(get(b"b", false)),
            Ok(Request::Arithmetic {
                key: b"n",
                delta: 1,
                incr: true,
                noreply: false
            }),
        ]
    );
}

#[test]
fn bad_data_chunk_swallows_exactly_bytes_plus_two() {
    // memcached 1.6.18: `set a 0 0 1\r\nxyzw\r\nget a\r\n` answers
    // CLIENT_ERROR bad data chunk, ERROR (for "w"), END.
    let buf = b"set a 0 0 1\r\nxyzw\r\nget a\r\n";
    let e = parse(buf, &LIMITS).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Client(BAD_CHUNK));
    assert_eq!(&buf[e.consumed..], b"w\r\nget a\r\n");
    assert_eq!(parse(&buf[e.consumed..], &LIMITS), unknown(3));
}

#[test]
fn malformed_store_line_does_not_swallow_its_data() {
    let buf = b"set a abc 0 1\r\nx\r\n";
    let e = parse(buf, &LIMITS).unwrap_err();
    assert_eq!(e.consumed, 15);
    assert_eq!(parse(&buf[15..], &LIMITS), unknown(3));
}

#[test]
fn too_large_value_does_not_wait_for_its_data() {
    let limits = Limits { max_value: 4 };
    assert_eq!(
        parse(b"set a 0 0 5\r\nhel", &limits),
        done(
            Request::TooLarge {
                command: StoreCommand::Set,
                key: b"a",
                noreply: false
            },
            13 + 5 + 2
        )
    );
    assert_eq!(
        parse(b"set a 0 0 4\r\nhell\r\n", &limits),
        done(set(b"a", b"hell"), 19)
    );
}

#[test]
fn long_line_without_newline_closes_unless_get() {
    let too_long = |buf: &[u8]| {
        Err(Error {
            kind: ErrorKind::LineTooLong,
            consumed: buf.len(),
            noreply: false,
        })
    };
    let mut set = b"set ".to_vec();
    set.resize(2048, b'a');
    assert_eq!(parse(&set, &LIMITS), Ok(Status::Incomplete));
    set.push(b'a');
    assert_eq!(parse(&set, &LIMITS), too_long(&set));

    for prefix in [&b"get "[..], b"gets ", b"get  ", b"gets\x20a"] {
        let mut buf = prefix.to_vec();
        buf.resize(3000, b'a');
        assert_eq!(parse(&buf, &LIMITS), Ok(Status::Incomplete));
    }
    for prefix in [&b"getx"[..], b"get\t", b"GET ", b"gat 1 "] {
        let mut buf = prefix.to_vec();
        buf.resize(3000, b'a');
        assert_eq!(parse(&buf, &LIMITS), too_long(&buf));
    }
    // memcached skips at most 100 leading spaces looking for the get.
    let mut buf = vec![b' '; 100];
    buf.extend_from_slice(b"get ");
    buf.resize(3000, b'a');
    assert_eq!(parse(&buf, &LIMITS), Ok(Status::Incomplete));
    let mut buf = vec![b' '; 101];
    buf.extend_from_slice(b"get ");
    buf.resize(3000, b'a');
    assert_eq!(parse(&buf, &LIMITS), too_long(&buf));
    let buf = vec![b' '; 3000];
    assert_eq!(parse(&buf, &LIMITS), too_long(&buf));
}

#[test]
fn long_non_get_line_is_fine_if_its_newline_comes_within_max_line() {
    let mut line = b"stats ".to_vec();
    line.resize(3000, b'k');
    line.extend_from_slice(b"\r\n");
    assert_eq!(
        parse(&line, &LIMITS),
        done(
            Request::Stats {
                args: &line[6..3000]
            },
            3002
        )
    );
    // The same line read in pieces closes the connection, as in memcached.
    assert_eq!(
        parse(&line[..MAX_LINE + 1], &LIMITS).unwrap_err().kind,
        ErrorKind::LineTooLong
    );
}

#[test]
fn hundred_thousand_key_get_parses_once_complete() {
    let mut line = b"get".to_vec();
    for i in 0..100_000 {
        line.extend_from_slice(format!(" key:{i}").as_bytes());
    }
    assert_eq!(parse(&line, &LIMITS), Ok(Status::Incomplete));
    line.extend_from_slice(b"\r\n");
    match parse(&line, &LIMITS) {
        Ok(Status::Complete(Request::Get { keys, cas: false }, n)) => {
            assert_eq!(n, line.len());
            assert_eq!(keys.iter().count(), 100_000);
            assert_eq!(keys.iter().nth(99_999), Some(&b"key:99999"[..]));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn key_of_250_bytes_is_accepted_everywhere() {
    let mut buf = b"touch ".to_vec();
    buf.extend_from_slice(KEY_250);
    buf.extend_from_slice(b" 1\r\n");
    assert_eq!(
        parse(&buf, &LIMITS),
        done(
            Request::Touch {
                key: KEY_250,
                exptime: 1,
                noreply: false
            },
            buf.len()
        )
    );
}

/// Writes every table input and this parser's verdict, one per line
/// (`hex<TAB>verdict`), to `$FERROCACHE_ORACLE_DUMP`, for
/// `tests/oracle/text_oracle.py` to replay against a real memcached.
#[test]
#[ignore = "feeds tests/oracle/text_oracle.py"]
fn dump_table_for_oracle() {
    use std::fmt::Write as _;
    let path = std::env::var("FERROCACHE_ORACLE_DUMP").expect("FERROCACHE_ORACLE_DUMP");
    let mut out = String::new();
    let mut inputs: Vec<Vec<u8>> = table().into_iter().map(|(i, _)| i.to_vec()).collect();
    inputs.extend(owned_table().into_iter().map(|(i, _)| i));
    for input in &inputs {
        let verdict = match parse(input, &LIMITS) {
            Ok(Status::Complete(Request::TooLarge { noreply, .. }, n)) => {
                format!("toolarge {n} {noreply}")
            }
            Ok(Status::Complete(request, n)) => {
                let noreply = format!("{request:?}").contains("noreply: true");
                format!("ok {n} {noreply}")
            }
            Ok(Status::Incomplete) => "incomplete".to_string(),
            Err(Error {
                kind,
                consumed,
                noreply,
            }) => {
                let reply = match kind {
                    ErrorKind::UnknownCommand => "ERROR".to_string(),
                    ErrorKind::Client(m) => format!("CLIENT_ERROR {m}"),
                    ErrorKind::LineTooLong | ErrorKind::Http => "CLOSE".to_string(),
                };
                format!("err {consumed} {noreply} {reply}")
            }
        };
        let hex: String = input.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
        writeln!(out, "{hex}\t{verdict}").unwrap();
    }
    std::fs::write(path, out).unwrap();
}
