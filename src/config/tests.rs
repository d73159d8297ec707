use std::path::PathBuf;

use super::suboptions::{SubKind, SUBOPTIONS};
use super::*;
use crate::hotkeys::Every;

fn parse(args: &[&str]) -> Result<Config, ConfigError> {
    parse_args(std::iter::once("ferrocache").chain(args.iter().copied()))
}

fn ok(args: &[&str]) -> Config {
    match parse(args) {
        Ok(c) => c,
        Err(e) => panic!("{args:?} failed: {e}"),
    }
}

fn err(args: &[&str]) -> String {
    match parse(args) {
        Ok(c) => panic!("{args:?} unexpectedly parsed: {c:?}"),
        Err(e) => {
            assert_eq!(e.kind(), ConfigErrorKind::Invalid, "{args:?}: {e}");
            assert_eq!(e.exit_code(), EXIT_USAGE);
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "{args:?}: multi-line error {msg:?}");
            msg
        }
    }
}

#[test]
fn defaults() {
    let c = ok(&[]);
    assert_eq!(c, Config::default());
    assert_eq!(c.port, 11211);
    assert_eq!(c.listen, vec!["127.0.0.1"]);
    assert_eq!(c.udp_port, 0);
    assert_eq!(c.unix_mask, 0o700);
    assert_eq!(c.memory_limit, 64 << 20);
    assert_eq!(c.conn_limit, 1024);
    assert!(c.threads >= 1);
    assert_eq!(c.max_reqs_per_event, 20);
    assert_eq!(c.listen_backlog, 1024);
    assert_eq!(c.protocol, ProtocolMode::Auto);
    assert_eq!(c.max_item_size, 1 << 20);
    assert_eq!(c.slab_growth_factor, 1.25);
    assert_eq!(c.slab_min_size, 48);
    assert_eq!(c.extended.idle_timeout, 0);
    assert_eq!(c.extended.shutdown_timeout, 10);
    assert!(c.extended.maxconns_fast);
    assert_eq!(c.slab_chunk_max(), 512 * 1024);
    assert_eq!(c.unsupported(), None);
}

#[test]
fn debian_memcached_conf() {
    // Option lines of Debian 12's stock /etc/memcached.conf ("logfile" is
    // read by the init wrapper, not memcached).
    let c = ok(&[
        "-d",
        "-m",
        "64",
        "-p",
        "11211",
        "-u",
        "memcache",
        "-l",
        "127.0.0.1",
        "-P",
        "/var/run/memcached/memcached.pid",
    ]);
    assert!(c.daemonize);
    assert_eq!(c.memory_limit, 64 << 20);
    assert_eq!(c.port, 11211);
    assert_eq!(c.user.as_deref(), Some("memcache"));
    assert_eq!(c.listen, vec!["127.0.0.1"]);
    assert_eq!(
        c.pidfile,
        Some(PathBuf::from("/var/run/memcached/memcached.pid"))
    );
    assert_eq!(c.unsupported(), None);
}

#[test]
fn table_of_good_invocations() {
    type Check = fn(&Config) -> bool;
    let table: &[(&[&str], Check)] = &[
        (&["-p11300"], |c| c.port == 11300),
        (&["--port=11300"], |c| c.port == 11300),
        (&["--port", "11300"], |c| c.port == 11300),
        (&["--por=11300"], |c| c.port == 11300),
        (&["-p", "1", "-p", "2"], |c| c.port == 2),
        (&["-p", "0"], |c| c.port == 0 && c.tcp_bind_port().is_none()),
        (&["-p", "-1"], |c| {
            c.port == -1 && c.tcp_bind_port() == Some(0)
        }),
        (&["-U", "0"], |c| {
            c.udp_port == 0 && c.udp_bind_port().is_none()
        }),
        (&["-U", "-1"], |c| {
            c.udp_port == -1 && c.udp_bind_port() == Some(0) && c.tcp_bind_port() == Some(0)
        }),
        // memcached: -U without -p moves TCP to the same port.
        (&["-U", "11300"], |c| c.port == 11300 && c.udp_port == 11300),
        (&["-p", "11211", "-U", "11300"], |c| c.port == 11211),
        (&["-p", "-1", "-U", "11300"], |c| {
            c.tcp_bind_port() == Some(0)
        }),
        // A unix socket disables TCP and UDP, as in memcached.
        (&["-s", "/tmp/mc.sock", "-p", "11300", "-U", "11301"], |c| {
            c.tcp_bind_port().is_none() && c.udp_bind_port().is_none()
        }),
        (&["-v"], |c| c.verbosity == 1),
        (&["-vv"], |c| c.verbosity == 2),
        (&["-vvv"], |c| c.verbosity == 3),
        (&["-v", "-v", "--verbose"], |c| c.verbosity == 3),
        (&["-dvv"], |c| c.daemonize && c.verbosity == 2),
        (&["-m", "64"], |c| c.memory_limit == 64 << 20),
        (&["-m64"], |c| c.memory_limit == 64 << 20),
        (&["-m", "64m"], |c| c.memory_limit == 64 << 20),
        (&["-m", "1g"], |c| c.memory_limit == 1 << 30),
        (&["-m", "4096"], |c| c.memory_limit == 4096 << 20),
        (&["-m", "2048k"], |c| c.memory_limit == 2 << 20),
        (&["-M", "-C", "-F", "-A", "-X", "-W", "-r"], |c| {
            c.disable_evictions
                && c.disable_cas
                && c.disable_flush_all
                && c.enable_shutdown
                && c.disable_dumping
                && c.disable_watch
                && c.enable_coredumps
        }),
        (&["-c", "4096"], |c| c.conn_limit == 4096),
        (&["-t", "8"], |c| c.threads == 8 && c.warnings.is_empty()),
        (&["-t", "100"], |c| {
            c.threads == 100 && c.warnings.len() == 1
        }),
        (&["-R", "5"], |c| c.max_reqs_per_event == 5),
        (&["-b", "4096"], |c| c.listen_backlog == 4096),
        (&["-B", "ascii"], |c| c.protocol == ProtocolMode::Ascii),
        (&["-B", "binary"], |c| c.protocol == ProtocolMode::Binary),
        (&["--protocol=auto"], |c| c.protocol == ProtocolMode::Auto),
        (&["-I", "2m"], |c| c.max_item_size == 2 << 20),
        (&["-I", "2M"], |c| c.max_item_size == 2 << 20),
        (&["-I", "1536k"], |c| c.max_item_size == 1536 << 10),
        (&["-I", "1.5m"], |c| c.max_item_size == 1536 << 10),
        (&["-I", "512k"], |c| c.max_item_size == 512 << 10),
        (&["-I", "1048576"], |c| c.max_item_size == 1 << 20),
        (&["-m", "2048", "-I", "1024m"], |c| {
            c.max_item_size == 1 << 30
        }),
        (&["-m", "2g", "-I", "1g"], |c| c.max_item_size == 1 << 30),
        (&["-I", "1k", "-o", "slab_chunk_max=1024"], |c| {
            c.max_item_size == 1024 && c.extended.slab_chunk_max == Some(1024)
        }),
        (&["-I", "4m", "-o", "slab_chunk_max=1m"], |c| {
            c.slab_chunk_max() == 1 << 20
        }),
        // memcached 1.6.38's t/ (binary.t, stats.t, chunked-items.t) give
        // kilobytes, which 1.6.18 would have read as bytes.
        (&["-o", "slab_chunk_max=16"], |c| {
            c.slab_chunk_max() == 16 << 10
        }),
        (&["-I", "1024", "-o", "slab_chunk_max=1"], |c| {
            c.slab_chunk_max() == 1024
        }),
        (&["-f", "1.05"], |c| c.slab_growth_factor == 1.05),
        (&["-n", "96"], |c| c.slab_min_size == 96),
        (&["-a", "0755"], |c| c.unix_mask == 0o755),
        (&["-a", "700"], |c| c.unix_mask == 0o700),
        (&["-s", "/tmp/mc.sock"], |c| {
            c.unix_socket == Some(PathBuf::from("/tmp/mc.sock"))
        }),
        (&["-D", "|"], |c| c.prefix_delimiter == Some('|')),
        (&["-l", "0.0.0.0"], |c| c.listen == ["0.0.0.0"]),
        (&["-l", "127.0.0.1,::1", "-l", "[::1]:11212"], |c| {
            c.listen == ["127.0.0.1", "::1", "[::1]:11212"]
                && c.listen_addrs[1].host == "::1"
                && c.listen_addrs[1].port.is_none()
                && c.listen_addrs[2].host == "::1"
                && c.listen_addrs[2].port == Some(11212)
        }),
        (&["-l", "notls:10.0.0.1:11212"], |c| {
            c.listen_addrs[0].notls
                && c.listen_addrs[0].host == "10.0.0.1"
                && c.listen_addrs[0].port == Some(11212)
                && c.listen[0] == "notls:10.0.0.1:11212"
        }),
        (&["-o", "idle_timeout=30"], |c| {
            c.extended.idle_timeout == 30
        }),
        (&["-o", "hot_keys=off"], |c| c.extended.hot_keys == 0),
        (&["-o", "hot_keys_sample=auto"], |c| {
            c.extended.hot_keys_sample == Every::Auto
        }),
        (&["-o", "hot_keys=50,hot_keys_sample=4"], |c| {
            c.extended.hot_keys == 50 && c.extended.hot_keys_sample == Every::Fixed(4)
        }),
        (&[], |c| {
            c.extended.hot_keys == 20 && c.extended.hot_keys_sample == Every::Auto
        }),
        (&["-o", "hashpower=20,idle_timeout=5"], |c| {
            c.extended.hashpower == Some(20) && c.extended.idle_timeout == 5
        }),
        (&["-ohashpower=16", "--extended=track_sizes"], |c| {
            c.extended.hashpower == Some(16) && c.extended.track_sizes
        }),
        (&["-o", "read_buf_mem_limit=32"], |c| {
            c.extended.read_buf_mem_limit == Some(32 << 20)
        }),
        (&["-o", "read_buf_mem_limit=0"], |c| {
            c.extended.read_buf_mem_limit.is_none()
        }),
        (&["-o", "no_maxconns_fast"], |c| !c.extended.maxconns_fast),
        (&["-o", "cluster_config=/etc/fc.cluster"], |c| {
            c.extended.cluster_config == Some(PathBuf::from("/etc/fc.cluster"))
        }),
        (&["-o", "shutdown_timeout=0,sasl_pwdb=/etc/fc.pw"], |c| {
            c.extended.shutdown_timeout == 0
                && c.extended.sasl_pwdb == Some(PathBuf::from("/etc/fc.pw"))
        }),
        (
            &[
                "-o",
                "ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_verify_mode=2,ssl_min_version=3",
                "-o",
                "ssl_ciphers=HIGH:!aNULL,ssl_session_cache,ssl_kernel_tls",
            ],
            |c| {
                c.extended.ssl_chain_cert.as_deref() == Some("/c.pem")
                    && c.extended.ssl_key.as_deref() == Some("/k.pem")
                    && c.extended.ssl_verify_mode.as_deref() == Some("2")
                    && c.extended.ssl_min_version.as_deref() == Some("3")
                    && c.extended.ssl_ciphers.as_deref() == Some("HIGH:!aNULL")
                    && c.extended.ssl_session_cache
                    && c.extended.ssl_kernel_tls
            },
        ),
        (
            &[
                "-o",
                "modern,no_lru_crawler,lru_crawler_sleep=100,lru_crawler_tocrawl=0",
                "-o",
                "hot_lru_pct=20,warm_lru_pct=40,hot_max_factor=0.2,warm_max_factor=2.0",
                "-o",
                "slab_reassign,slab_automove=1,slab_automove_ratio=0.8,temporary_ttl=61",
                "-o",
                "hash_algorithm=xxh3,tail_repair_time=0,watcher_logbuf_size=256",
                "-o",
                "ext_path=/mnt/d1/extstore:1G,ext_threads=2,ext_max_frag=0.8",
            ],
            |c| c.extended.pairs.len() == 18 && c.extended.pairs[17].0 == "ext_max_frag",
        ),
    ];
    for (args, check) in table {
        let c = ok(args);
        assert!(check(&c), "{args:?} gave {c:?}");
    }
}

#[test]
fn table_of_errors() {
    let table: &[(&[&str], &str)] = &[
        (&["-m", "-1"], "-m/--memory-limit: invalid value '-1'"),
        (&["-m", "0"], "-m/--memory-limit: must be greater than 0"),
        (&["-m", "abc"], "-m/--memory-limit"),
        (&["-m", "99999999999999999999"], "-m/--memory-limit"),
        (&["-m", "99999999999t"], "-m/--memory-limit"),
        (&["-m", "1"], "1/2 of memory max"),
        (
            &["-t", "0"],
            "-t/--threads: Number of threads must be greater than 0",
        ),
        (&["-t", "abc"], "-t/--threads"),
        (&["-t", "100000"], "-t/--threads: at most"),
        (
            &["-I", "2000m"],
            "-I/--max-item-size: Cannot set item size limit higher than a gigabyte",
        ),
        (&["-I", "1025m", "-m", "8192"], "higher than a gigabyte"),
        (&["-I", "2g", "-m", "8g"], "higher than a gigabyte"),
        (
            &["-I", "500"],
            "Item max size cannot be less than 1024 bytes",
        ),
        (&["-I", "1023"], "less than 1024 bytes"),
        (&["-I", "abc"], "-I/--max-item-size"),
        (&["-I", "5x"], "unknown size suffix"),
        (
            &["-I", "1k"],
            "slab_chunk_max (bytes: 524288) cannot be larger than -I",
        ),
        (
            &["-I", "600k"],
            "must be evenly divisible by slab_chunk_max",
        ),
        (&["-I", "1024m"], "1/2 of memory max"),
        (
            &["-o", "slab_chunk_max=3000"],
            "must be evenly divisible by slab_chunk_max (bytes: 3000)",
        ),
        (
            &["-o", "slab_chunk_max=2097152"],
            "cannot be larger than -I",
        ),
        (
            &["-I", "4m", "-o", "slab_chunk_max=2m"],
            "must divide evenly into 1048576",
        ),
        (&["-o", "slab_chunk_max=0"], "must be greater than 0"),
        (
            &["-f", "1.0"],
            "-f/--slab-growth-factor: Factor must be greater than 1",
        ),
        (&["-f", "0.5"], "Factor must be greater than 1"),
        (&["-f", "nan"], "Factor must be greater than 1"),
        (&["-f", "inf"], "Factor must be greater than 1"),
        (&["-f", "abc"], "-f/--slab-growth-factor: invalid value"),
        (&["-p", "70000"], "-p/--port: invalid value '70000'"),
        (&["-p", "-2"], "-p/--port"),
        (&["-U", "-2"], "-U/--udp-port"),
        (&["-p", "abc"], "-p/--port"),
        (&["-U", "65536"], "-U/--udp-port"),
        (&["-c", "abc"], "-c/--conn-limit: invalid value 'abc'"),
        (&["-c", "0"], "Maximum connections must be greater than 0"),
        (
            &["-R", "0"],
            "Number of requests per event must be greater than 0",
        ),
        (&["-R", "-1"], "-R/--max-reqs-per-event"),
        (&["-b", "-5"], "-b/--listen-backlog"),
        (&["-b", "99999999999"], "-b/--listen-backlog"),
        (&["-n", "0"], "Chunk size must be greater than 0"),
        (&["-n", "600000"], "-n/--slab-min-size"),
        (
            &["-B", "foo"],
            "-B/--protocol: Invalid value for binding protocol: foo",
        ),
        (&["-B", "-p"], "binding protocol: -p"),
        (&["-a", "999"], "-a/--unix-mask: invalid value '999'"),
        (&["-a", "1777"], "-a/--unix-mask"),
        (&["-D", "ab"], "-D: invalid value 'ab'"),
        (&["-D", ""], "-D"),
        (&["-u", ""], "-u/--user"),
        (&["-N", "x"], "-N/--napi-ids"),
        (&["-l", "[::1"], "-l/--listen"),
        (
            &["-l", "127.0.0.1:99999"],
            "-l/--listen: '127.0.0.1:99999': invalid port",
        ),
        (&["-l", ""], "-l/--listen"),
        (&["-l", "a,,b"], "-l/--listen"),
        (
            &["-o", "bogus"],
            "-o/--extended: Illegal suboption \"bogus\"",
        ),
        (
            &["-o", "idle_timeout=5,bogus=1"],
            "Illegal suboption \"bogus=1\"",
        ),
        (&["-o", ""], "Illegal suboption \"\""),
        (
            &["-o", "idle_timeout=abc"],
            "-o/--extended: idle_timeout: invalid value 'abc'",
        ),
        (
            &["-o", "idle_timeout=-1"],
            "idle_timeout: invalid value '-1'",
        ),
        (&["-o", "idle_timeout"], "Missing idle_timeout argument"),
        (&["-o", "hot_keys=1001"], "hot_keys: invalid value '1001'"),
        (&["-o", "hot_keys=many"], "hot_keys: invalid value 'many'"),
        (
            &["-o", "hot_keys_sample=0"],
            "hot_keys_sample: invalid value '0'",
        ),
        (
            &["-o", "hot_keys_sample=often"],
            "hot_keys_sample: invalid value 'often'",
        ),
        (
            &["-o", "hashpower=11"],
            "Initial hashtable multiplier of 11 is too low",
        ),
        (
            &["-o", "hashpower=33"],
            "Initial hashtable multiplier of 33 is too high",
        ),
        (
            &["-o", "hashpower=99999999999999999999999"],
            "hashpower: invalid value",
        ),
        (
            &["-o", "read_buf_mem_limit=1g"],
            "read_buf_mem_limit: invalid value",
        ),
        (
            &["-o", "hot_lru_pct=90"],
            "hot_lru_pct must be > 1 and < 80",
        ),
        (
            &["-o", "hot_lru_pct=50,warm_lru_pct=50"],
            "cannot be more than 80% combined",
        ),
        (
            &["-o", "lru_crawler_sleep=2000000"],
            "between 0 and 1 second",
        ),
        (
            &["-o", "slab_automove=5"],
            "slab_automove must be between 0 and 2",
        ),
        (&["-o", "slab_automove_ratio=abc"], "slab_automove_ratio"),
        (
            &["-o", "hash_algorithm=foo"],
            "Unknown hash_algorithm option",
        ),
        (&["-o", "ssl_verify_mode=9"], "Invalid ssl_verify_mode"),
        (&["-o", "ssl_min_version=9"], "Invalid ssl_min_version"),
        (&["-o", "ext_max_frag=x"], "ext_max_frag: invalid value 'x'"),
        (&["-x"], "unexpected argument '-x'"),
        (&["--bogus"], "unexpected argument '--bogus'"),
        (&["--enable-s"], "--enable-s"),
        (&["-p"], "--port"),
        (&["extra"], "unexpected argument 'extra'"),
    ];
    for (args, fragment) in table {
        let msg = err(args);
        assert!(
            msg.contains(fragment),
            "{args:?}: error {msg:?} lacks {fragment:?}"
        );
    }
}

#[test]
fn help_version_license() {
    for args in [&["-h"][..], &["--help"][..]] {
        let e = parse(args).unwrap_err();
        assert_eq!(e.kind(), ConfigErrorKind::Help);
        assert_eq!(e.exit_code(), 0);
        let text = e.message();
        for needle in [
            "--port",
            "default: 11211",
            "--memory-limit",
            "-o, --extended",
            "idle_timeout",
        ] {
            assert!(text.contains(needle), "help lacks {needle:?}");
        }
    }
    for args in [&["-V"][..], &["--version"][..]] {
        let e = parse(args).unwrap_err();
        assert_eq!(e.kind(), ConfigErrorKind::Version);
        assert_eq!(
            e.to_string(),
            format!("ferrocache {}", env!("CARGO_PKG_VERSION"))
        );
    }
    let e = parse(&["-i"]).unwrap_err();
    assert_eq!(e.kind(), ConfigErrorKind::License);
    assert!(e.is_info());
}

#[test]
fn unsupported_flags() {
    let table: &[(&[&str], &str)] = &[
        (
            &["-S", "-B", "ascii"],
            "-S/--enable-sasl cannot be used with -B ascii",
        ),
        (
            &["-Y", "/etc/auth", "-B", "binary"],
            "-Y/--auth-file cannot",
        ),
        (&["-Y", "/etc/auth", "-S"], "-Y/--auth-file cannot"),
        // memcached's t/binary-sasl.t: SASL with protocol negotiation.
        (
            &["-S", "-B", "auto"],
            "-S/--enable-sasl cannot be used with -B auto",
        ),
        (&["-S", "-B", "binary", "-B", "auto"], "-B auto"),
        (
            &["-S", "-U", "11211"],
            "-S/--enable-sasl cannot be used with UDP",
        ),
        (&["-L"], "-L/--enable-largepages"),
        (&["-N", "2"], "-N/--napi-ids"),
    ];
    for (args, fragment) in table {
        let c = ok(args);
        let msg = c.unsupported().unwrap_or_default();
        assert!(msg.contains(fragment), "{args:?}: {msg:?}");
    }
    assert_eq!(ok(&["-U", "0", "-M", "-r"]).unsupported(), None);
    assert_eq!(ok(&["-d", "-k"]).unsupported(), None);
    assert_eq!(ok(&["-e", "/dev/shm/mc"]).unsupported(), None);
    assert_eq!(ok(&["-U", "11211"]).unsupported(), None);
    assert_eq!(ok(&["-S"]).unsupported(), None);
    assert_eq!(ok(&["-Z"]).unsupported(), None);
    assert_eq!(ok(&["-S", "-B", "binary"]).unsupported(), None);
    assert_eq!(ok(&["-Y", "/etc/auth", "-B", "ascii"]).unsupported(), None);
}

#[test]
fn every_memcached_suboption_is_accepted() {
    for o in SUBOPTIONS {
        let (name, kind) = (&o.name, &o.kind);
        let arg = match (name, kind) {
            (&"hashpower", _) => "hashpower=16".to_string(),
            (&"hash_algorithm", _) => "hash_algorithm=murmur3".to_string(),
            (&"hot_lru_pct", _) | (&"warm_lru_pct", _) => format!("{name}=20"),
            (&"slab_automove_ratio", _) => "slab_automove_ratio=0.5".to_string(),
            (&"slab_chunk_max", _) => "slab_chunk_max=524288".to_string(),
            (&"hot_keys", _) => "hot_keys=off".to_string(),
            (&"hot_keys_sample", _) => "hot_keys_sample=auto".to_string(),
            (n, SubKind::Uint) if n.starts_with("ssl_") => format!("{n}=16"),
            (&"ssl_verify_mode", _) | (&"ssl_min_version", _) => format!("{name}=1"),
            (_, SubKind::Flag) | (_, SubKind::OptUint) | (_, SubKind::OptStr) => name.to_string(),
            (_, SubKind::Uint) => format!("{name}=1"),
            (_, SubKind::Float) => format!("{name}=0.5"),
            (_, SubKind::Str) => format!("{name}=x"),
        };
        let c = ok(&["-o", &arg]);
        assert_eq!(c.extended.pairs.len(), 1, "{arg}");
        assert_eq!(c.extended.pairs[0].0, *name);
    }
}

#[test]
fn non_utf8_arguments() {
    use std::os::unix::ffi::OsStringExt;
    let bad = OsString::from_vec(vec![b'1', 0xff]);
    let e = parse_args([
        OsString::from("ferrocache"),
        OsString::from("-p"),
        bad.clone(),
    ])
    .unwrap_err();
    assert_eq!(e.kind(), ConfigErrorKind::Invalid);
    assert!(!e.to_string().contains('\n'), "{e}");
    // Paths may be any bytes.
    let c = parse_args([OsString::from("ferrocache"), OsString::from("-P"), bad]).unwrap();
    assert!(c.pidfile.is_some());
}

#[test]
fn absurd_inputs_never_panic() {
    let junk = [
        "",
        "-",
        "--",
        "=",
        "-=",
        "\u{0}",
        "💥",
        "-1",
        "1e309",
        "0x10",
        "18446744073709551616",
        "1.5.5",
        ".",
        "k",
        "m",
        "-o",
        "=,=,",
        ",",
        "[",
        "]:",
        "[]:1",
    ];
    let flags = [
        "-p", "-U", "-s", "-a", "-l", "-u", "-m", "-c", "-P", "-f", "-n", "-D", "-t", "-R", "-b",
        "-B", "-I", "-Y", "-e", "-N", "-o",
    ];
    for flag in flags {
        for v in junk {
            let _ = parse(&[flag, v]);
            let _ = parse(&[&format!("{flag}{v}")]);
        }
    }
}

#[test]
fn the_suboption_table_names_each_once() {
    for (i, o) in SUBOPTIONS.iter().enumerate() {
        assert!(
            SUBOPTIONS[..i].iter().all(|p| p.name != o.name),
            "{} twice",
            o.name
        );
    }
}

#[test]
fn warm_restart_settings() {
    let c = ok(&[
        "-e",
        "/var/lib/ferrocache/cache.snap",
        "-o",
        "snapshot_path=/var/lib/ferrocache/online.snap,snapshot_interval=300,snapshot_load_unclean",
    ]);
    assert_eq!(
        c.memory_file.as_deref(),
        Some(std::path::Path::new("/var/lib/ferrocache/cache.snap"))
    );
    let e = &c.extended;
    assert_eq!(
        e.snapshot_path.as_deref(),
        Some(std::path::Path::new("/var/lib/ferrocache/online.snap"))
    );
    assert_eq!(e.snapshot_interval, 300);
    assert!(e.snapshot_load_unclean);
    let d = ok(&[]);
    assert!(d.memory_file.is_none() && d.extended.snapshot_path.is_none());
    assert!(!d.extended.snapshot_load_unclean && d.extended.snapshot_interval == 0);
}
