//! SASL over the binary protocol: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-1
//! driven by rsasl's client side, CRAM-MD5, the mechanism list
//! (`mech_list`), wrong passwords and proofs, the auth_cmds/auth_errors
//! counters, start-up errors and SIGHUP reload.
//! ferrocache only: memcached needs its own Cyrus SASL set-up.

mod common;

use std::io::Cursor;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::binary::{call, req, Resp};
use common::{is_memcached, server_bin, Conn, TestServer};
use rsasl::prelude::{Mechname, SASLClient, SASLConfig, State};

const GET: u8 = 0x00;
const STAT: u8 = 0x10;
const SASL_AUTH: u8 = 0x21;
const SASL_STEP: u8 = 0x22;
const VERSION: u8 = 0x0b;

fn pwdb(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrocache-sasl-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pwdb");
    std::fs::write(&path, text).unwrap();
    path
}

fn start(path: &std::path::Path) -> TestServer {
    TestServer::start(&["-S", "-o", &format!("sasl_pwdb={}", path.display())])
}

fn auth_failure(opcode: u8, opaque: u32) -> Resp {
    Resp::new(opcode, 0x20, opaque, b"Auth failure.")
}

/// Run a whole exchange with rsasl's client; the server's last answer.
fn exchange(c: &mut Conn, mech: &str, user: &str, password: &str) -> Resp {
    let config: Arc<SASLConfig> =
        SASLConfig::with_credentials(None, user.to_string(), password.to_string()).unwrap();
    let name = Mechname::parse(mech.as_bytes()).unwrap();
    let mut session = SASLClient::new(config).start_suggested(&[name]).unwrap();
    let mut out = Cursor::new(Vec::new());
    session.step(None, &mut out).unwrap();
    let mut opcode = SASL_AUTH;
    loop {
        let r = call(c, &req(opcode, &[], mech.as_bytes(), out.get_ref(), 77, 0));
        assert_eq!((r.opcode, r.opaque), (opcode, 77));
        if r.status != 0x21 {
            if r.status == 0 && !r.value.is_empty() && r.value != b"Authenticated" {
                // SCRAM's server-final: the client checks the server's proof.
                let mut sink = Cursor::new(Vec::new());
                let state = session.step(Some(&r.value), &mut sink).unwrap();
                assert!(matches!(state, State::Finished(_)), "{state:?}");
            }
            return r;
        }
        out = Cursor::new(Vec::new());
        session.step(Some(&r.value), &mut out).unwrap();
        opcode = SASL_STEP;
    }
}

fn stat(c: &mut Conn, name: &[u8]) -> u64 {
    c.send(&req(STAT, &[], &[], &[], 0, 0));
    let mut found = None;
    loop {
        let r = common::binary::read(c);
        if r.key.is_empty() {
            return found.expect("stat present");
        }
        if r.key == name {
            found = Some(String::from_utf8(r.value).unwrap().parse().unwrap());
        }
    }
}

#[test]
fn scram_and_plain_exchanges_complete() {
    if is_memcached() {
        return;
    }
    let path = pwdb("ok", "alice:correct horse\nbob:b\n");
    let server = start(&path);
    for mech in ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"] {
        let mut c = server.conn();
        let r = exchange(&mut c, mech, "alice", "correct horse");
        assert_eq!(r.status, 0, "{mech}: {r:?}");
        if mech == "PLAIN" {
            assert_eq!(r.value, b"Authenticated");
        } else {
            assert!(r.value.starts_with(b"v="), "{mech}: {r:?}");
        }
        assert_eq!(
            call(&mut c, &req(GET, &[], b"k", &[], 3, 0)).status,
            1,
            "{mech}"
        );
    }
}

#[test]
fn wrong_scram_proof_and_wrong_password_are_refused() {
    if is_memcached() {
        return;
    }
    let path = pwdb("wrong", "alice:right\n");
    let server = start(&path);
    let mut c = server.conn();
    for (mech, user) in [
        ("SCRAM-SHA-256", "alice"),
        ("SCRAM-SHA-256", "mallory"),
        ("SCRAM-SHA-1", "alice"),
        ("PLAIN", "alice"),
    ] {
        let config: Arc<SASLConfig> =
            SASLConfig::with_credentials(None, user.into(), "wrong".into()).unwrap();
        let name = Mechname::parse(mech.as_bytes()).unwrap();
        let mut session = SASLClient::new(config).start_suggested(&[name]).unwrap();
        let mut out = Cursor::new(Vec::new());
        session.step(None, &mut out).unwrap();
        let mut r = call(
            &mut c,
            &req(SASL_AUTH, &[], mech.as_bytes(), out.get_ref(), 5, 0),
        );
        if r.status == 0x21 {
            let mut proof = Cursor::new(Vec::new());
            session.step(Some(&r.value), &mut proof).unwrap();
            r = call(
                &mut c,
                &req(SASL_STEP, &[], mech.as_bytes(), proof.get_ref(), 6, 0),
            );
            assert_eq!(r, auth_failure(SASL_STEP, 6), "{mech} {user}");
        } else {
            assert_eq!(r, auth_failure(SASL_AUTH, 5), "{mech} {user}");
        }
        // A failed attempt keeps the connection, still unauthenticated.
        assert_eq!(call(&mut c, &req(VERSION, &[], &[], &[], 7, 0)).status, 0);
    }
    // Re-authentication on the same connection succeeds...
    assert_eq!(exchange(&mut c, "PLAIN", "alice", "right").status, 0);
    // ...and the counters saw every SASL packet (two per SCRAM attempt,
    // one per PLAIN one) and the four failures.
    assert_eq!(stat(&mut c, b"auth_cmds"), 8);
    assert_eq!(stat(&mut c, b"auth_errors"), 4);
    // A new connection starts unauthenticated.
    let mut c = server.conn();
    assert_eq!(
        call(&mut c, &req(GET, &[], b"k", &[], 8, 0)),
        auth_failure(GET, 8)
    );
    c.expect_closed();
}

#[test]
fn sighup_reloads_the_password_file() {
    if is_memcached() {
        return;
    }
    let path = pwdb("reload", "alice:old\n");
    // A process of its own, to receive the signal.
    let server = TestServer::spawn(&["-S", "-o", &format!("sasl_pwdb={}", path.display())]);
    let mut c = server.conn();
    assert_eq!(exchange(&mut c, "PLAIN", "alice", "old").status, 0);
    std::fs::write(&path, "alice:new\n").unwrap();
    server.signal(nix::sys::signal::Signal::SIGHUP);
    // The reload is asynchronous: poll (bounded) until the new one works.
    let mut reloaded = false;
    for _ in 0..200 {
        let mut c = server.conn();
        if exchange(&mut c, "PLAIN", "alice", "new").status == 0 {
            reloaded = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(reloaded, "SIGHUP did not reload the password file");
    let mut c = server.conn();
    assert_eq!(
        exchange(&mut c, "PLAIN", "alice", "old"),
        auth_failure(SASL_AUTH, 77)
    );
}

#[test]
fn bad_sasl_set_ups_stop_start_up() {
    if is_memcached() {
        return;
    }
    let missing = std::env::temp_dir().join("ferrocache-no-such-pwdb");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "-S".into(),
                "-o".into(),
                format!("sasl_pwdb={}", missing.display()),
            ],
            "cannot read",
        ),
        (vec!["-S".into()], "MEMCACHED_SASL_PWDB"),
        (vec!["-S".into(), "-B".into(), "ascii".into()], "-B ascii"),
        // memcached refuses SASL with protocol negotiation (t/binary-sasl.t).
        (vec!["-S".into(), "-B".into(), "auto".into()], "-B auto"),
    ];
    for (args, message) in cases {
        let out = Command::new(server_bin())
            .args(["-p", "-1", "-l", "127.0.0.1", "-U", "0"])
            .args(common::root_user_args())
            .args(&args)
            .env_remove("MEMCACHED_SASL_PWDB")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    // MEMCACHED_SASL_PWDB works like -o sasl_pwdb (memcached's convention).
    let path = pwdb("env", "alice:pw\n");
    let port = common::free_port();
    let mut child = Command::new(server_bin())
        .args(["-p", &port.to_string(), "-l", "127.0.0.1", "-U", "0", "-S"])
        .args(common::root_user_args())
        .env("MEMCACHED_SASL_PWDB", &path)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut up = false;
    for _ in 0..100 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if common::wait_for_port(addr, std::time::Duration::from_millis(100)) {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if up {
        let mut c = Conn::connect(addr);
        up = exchange(&mut c, "PLAIN", "alice", "pw").status == 0;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(up, "no SASL login with MEMCACHED_SASL_PWDB set");
}

const SASL_LIST_MECHS: u8 = 0x20;

/// `-o sasl_mech_list` (or `mech_list` in memcached.conf) chooses what is
/// offered, in strength order; a mechanism not offered, or a name longer
/// than memcached's 32 bytes, fails the attempt but keeps the connection;
/// CRAM-MD5 (RFC 2195) logs in.
#[test]
fn mech_list_unknown_mechanisms_and_cram_md5() {
    if is_memcached() {
        return;
    }
    let path = pwdb("cram", "alice:s3cret\n");
    let server = TestServer::start(&[
        "-S",
        "-o",
        &format!("sasl_pwdb={}", path.display()),
        "-o",
        "sasl_mech_list=plain:cram-md5",
    ]);
    let mut c = server.conn();
    let list = call(&mut c, &req(SASL_LIST_MECHS, &[], &[], &[], 1, 0));
    assert_eq!(list.value, b"CRAM-MD5 PLAIN");
    // Not offered: an auth error, and the connection stays.
    assert_eq!(
        exchange(&mut c, "SCRAM-SHA-256", "alice", "s3cret"),
        auth_failure(SASL_AUTH, 77)
    );
    let unknown = call(&mut c, &req(SASL_AUTH, &[], b"NO-SUCH-MECH", b"x", 2, 0));
    assert_eq!(unknown, auth_failure(SASL_AUTH, 2));
    // Longer than MAX_SASL_MECH_LEN: "invalid arguments", not counted.
    let long = call(&mut c, &req(SASL_AUTH, &[], &[b'X'; 40], b"\0a\0b", 3, 0));
    assert_eq!(long, Resp::new(SASL_AUTH, 0x04, 3, b"Invalid arguments"));
    assert_eq!(call(&mut c, &req(VERSION, &[], &[], &[], 4, 0)).status, 0);
    // CRAM-MD5: challenge, then "user hex(HMAC-MD5(password, challenge))".
    let cram = |c: &mut Conn, password: &[u8]| -> Resp {
        use hmac::{Hmac, Mac};
        let challenge = call(c, &req(SASL_AUTH, &[], b"CRAM-MD5", &[], 5, 0));
        assert_eq!(challenge.status, 0x21, "{challenge:?}");
        assert!(challenge.value.starts_with(b"<") && challenge.value.ends_with(b">"));
        let mut mac = Hmac::<md5::Md5>::new_from_slice(password).unwrap();
        mac.update(&challenge.value);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        call(
            c,
            &req(
                SASL_STEP,
                &[],
                b"CRAM-MD5",
                format!("alice {hex}").as_bytes(),
                6,
                0,
            ),
        )
    };
    assert_eq!(cram(&mut c, b"wrong"), auth_failure(SASL_STEP, 6));
    assert_eq!(
        call(&mut c, &req(GET, &[], b"k", &[], 7, 0)),
        auth_failure(GET, 7)
    );
    let mut c = server.conn();
    let done = cram(&mut c, b"s3cret");
    assert_eq!(done.status, 0, "{done:?}");
    assert_eq!(call(&mut c, &req(GET, &[], b"k", &[], 8, 0)).status, 1);
    // Counted: two refusals, two CRAM-MD5 logins of two packets each; the
    // over-long name is not (memcached's rule).
    assert_eq!(stat(&mut c, b"auth_cmds"), 6);
    assert_eq!(stat(&mut c, b"auth_errors"), 3);
}

/// memcached's SASL configuration file: `mech_list` in
/// `$SASL_CONF_PATH/memcached.conf`.
#[test]
fn mech_list_from_sasl_conf_path() {
    if is_memcached() {
        return;
    }
    let path = pwdb("conf", "alice:pw\n");
    let dir = path.parent().unwrap().join("sasl");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("memcached.conf"),
        "# as for pylibmc's wheel\nmech_list: plain\n",
    )
    .unwrap();
    let server = TestServer::spawn_env(
        &["-S", "-o", &format!("sasl_pwdb={}", path.display())],
        &[("SASL_CONF_PATH", dir.to_str().unwrap())],
    );
    let mut c = server.conn();
    let list = call(&mut c, &req(SASL_LIST_MECHS, &[], &[], &[], 1, 0));
    assert_eq!(list.value, b"PLAIN");
    assert_eq!(exchange(&mut c, "PLAIN", "alice", "pw").status, 0);
}
