//! TLS (`-Z`): text, meta and binary over rustls; a plaintext client on a
//! TLS port; `notls:` listeners; mutual TLS (verify modes 2 and 3); the
//! three ways to rotate certificates (`refresh_certs`, SIGHUP, a changed
//! file) and a corrupt replacement; start-up errors; the `ssl_*` stats.
//!
//! Every certificate is made at run time with rcgen (nothing secret is
//! committed). ferrocache only: the oracle would need the same files on its
//! command line, which `TestServer::start` does not pass through.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{is_memcached, server_bin, TestServer, READ_TIMEOUT};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// A throwaway certificate authority.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf certificate (for `localhost` and 127.0.0.1) and its key, PEM.
    fn leaf(&self, common_name: &str) -> (String, String) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A directory of PEM files for one test.
struct Files {
    dir: PathBuf,
}

impl Files {
    fn new(name: &str) -> Files {
        let dir =
            std::env::temp_dir().join(format!("ferrocache-tls-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Files { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Replace a file in one step (rename), as deployment tools do.
    fn write(&self, name: &str, text: &str) {
        let tmp = self.path(&format!("{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.path(name)).unwrap();
    }

    /// The server's certificate and key; the CA that signs clients.
    fn server(&self, leaf: &(String, String), ca: &Ca) {
        self.write("cert.pem", &leaf.0);
        self.write("key.pem", &leaf.1);
        self.write("ca.pem", &ca.pem);
    }

    fn args(&self) -> Vec<String> {
        vec![
            "-Z".into(),
            "-o".into(),
            format!(
                "ssl_chain_cert={},ssl_key={},ssl_ca_cert={}",
                self.path("cert.pem").display(),
                self.path("key.pem").display(),
                self.path("ca.pem").display()
            ),
        ]
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A client that trusts `ca`, presenting `identity` if given.
fn client_config(ca: &Ca, identity: Option<&(String, String)>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in certs(&ca.pem) {
        roots.add(c).unwrap();
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key.as_bytes())
                .unwrap()
                .unwrap();
            builder.with_client_auth_cert(certs(cert), key).unwrap()
        }
    };
    Arc::new(config)
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn connect(addr: SocketAddr, config: &Arc<ClientConfig>) -> Tls {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(config.clone(), name).unwrap();
    StreamOwned::new(conn, tcp)
}

#[track_caller]
fn roundtrip(s: &mut Tls, request: &[u8], expected: &[u8]) {
    s.write_all(request).unwrap();
    s.flush().unwrap();
    let mut got = vec![0; expected.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected)
    );
}

/// The common name of the certificate the server presented.
fn peer_name(s: &mut Tls) -> String {
    roundtrip(s, b"version\r\n", b"VERSION ");
    let mut line = Vec::new();
    let mut b = [0u8];
    while b[0] != b'\n' {
        s.read_exact(&mut b).unwrap();
        line.push(b[0]);
    }
    let der = s.conn.peer_certificates().unwrap()[0].to_vec();
    // Find the CN in the DER: good enough for names the tests chose.
    for name in ["first", "second", "third"] {
        if der.windows(name.len()).any(|w| w == name.as_bytes()) {
            return name.into();
        }
    }
    panic!("unknown server certificate");
}

/// True when the server refuses the session: the first request gets an
/// error or the end of the stream instead of a reply.
fn refused(addr: SocketAddr, config: &Arc<ClientConfig>) -> bool {
    let mut s = connect(addr, config);
    if s.write_all(b"version\r\n").and_then(|_| s.flush()).is_err() {
        return true;
    }
    let mut buf = [0u8; 64];
    !matches!(s.read(&mut buf), Ok(n) if n > 0)
}

/// An in-process server with all its listeners' addresses, stopped on drop.
struct Server {
    handle: Option<ferrocache::server::ServerHandle>,
}

impl Server {
    fn start(args: &[String]) -> Server {
        let argv = ["ferrocache", "-p", "-1", "-U", "0"]
            .iter()
            .map(|s| s.to_string())
            .chain(args.iter().cloned());
        let has_listen = args.iter().any(|a| a == "-l");
        let argv: Vec<String> = if has_listen {
            argv.collect()
        } else {
            argv.chain(["-l".to_string(), "127.0.0.1".to_string()])
                .collect()
        };
        let config = ferrocache::config::parse_args(argv).unwrap();
        let server = ferrocache::server::Server::bind(config).unwrap();
        Server {
            handle: Some(server.start().unwrap()),
        }
    }

    fn addr(&self, i: usize) -> SocketAddr {
        self.handle.as_ref().unwrap().addrs()[i]
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown();
        }
    }
}

/// A plaintext connection's `stats` value.
fn stat(addr: SocketAddr, name: &str) -> u64 {
    let mut c = common::Conn::connect(addr);
    c.stat(name)
}

/// A TLS connection's `stats` line value, as text.
fn tls_stat(s: &mut Tls, name: &str) -> String {
    s.write_all(b"stats\r\n").unwrap();
    s.flush().unwrap();
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    while !text.ends_with(b"END\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "stats cut short");
        text.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(text).unwrap();
    let prefix = format!("STAT {name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} in stats"))
        .to_string()
}

#[test]
fn text_meta_and_binary_over_tls() {
    if is_memcached() {
        return;
    }
    let ca = Ca::new("test ca");
    let files = Files::new("protocols");
    files.server(&ca.leaf("first"), &ca);
    let server = Server::start(&files.args());
    let config = client_config(&ca, None);

    let mut s = connect(server.addr(0), &config);
    roundtrip(&mut s, b"set k 5 0 5\r\nhello\r\n", b"STORED\r\n");
    roundtrip(&mut s, b"get k\r\n", b"VALUE k 5 5\r\nhello\r\nEND\r\n");
    roundtrip(&mut s, b"mg k v f\r\n", b"VA 5 f5\r\nhello\r\n");
    // A pipelined batch and a value larger than one TLS record (16 KiB).
    let big = vec![b'x'; 300_000];
    let mut req = format!("set big 0 0 {}\r\n", big.len()).into_bytes();
    req.extend_from_slice(&big);
    req.extend_from_slice(b"\r\nmn\r\n");
    roundtrip(&mut s, &req, b"STORED\r\nMN\r\n");
    let mut expected = format!("VALUE big 0 {}\r\n", big.len()).into_bytes();
    expected.extend_from_slice(&big);
    expected.extend_from_slice(b"\r\nEND\r\n");
    roundtrip(&mut s, b"get big\r\n", &expected);

    // Binary GET of `k`: header, 4 bytes of flags, the value.
    let mut b = connect(server.addr(0), &config);
    let mut get = vec![0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    get.extend_from_slice(&[0; 8]);
    get.push(b'k');
    b.write_all(&get).unwrap();
    b.flush().unwrap();
    let mut resp = [0u8; 24 + 4 + 5];
    b.read_exact(&mut resp).unwrap();
    assert_eq!(&resp[..2], &[0x81, 0x00]);
    assert_eq!(&resp[6..8], &[0, 0], "status");
    assert_eq!(&resp[24..28], &[0, 0, 0, 5], "flags");
    assert_eq!(&resp[28..], b"hello");

    assert_eq!(tls_stat(&mut s, "ssl_handshake_errors"), "0");
    let sessions: u64 = tls_stat(&mut s, "ssl_new_sessions").parse().unwrap();
    assert!(sessions >= 2, "ssl_new_sessions {sessions}");
    tls_stat(&mut s, "time_since_server_cert_refresh");

    // A record that does not decrypt, after the handshake, counts in
    // ssl_proto_errors (memcached 1.6.30).
    assert_eq!(tls_stat(&mut s, "ssl_proto_errors"), "0");
    let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x20];
    record.extend_from_slice(&[0u8; 0x20]);
    b.sock.write_all(&record).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while tls_stat(&mut s, "ssl_proto_errors") != "1" {
        assert!(
            std::time::Instant::now() < deadline,
            "ssl_proto_errors stays 0"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn plaintext_client_on_tls_port_is_refused_without_harm() {
    if is_memcached() {
        return;
    }
    let ca = Ca::new("test ca");
    let files = Files::new("plaintext");
    files.server(&ca.leaf("first"), &ca);
    let mut args = files.args();
    args.extend(["-l".into(), "127.0.0.1,notls:127.0.0.1".into()]);
    let server = Server::start(&args);
    let (tls_addr, plain_addr) = (server.addr(0), server.addr(1));
    let config = client_config(&ca, None);
    let mut before = connect(tls_addr, &config);
    roundtrip(&mut before, b"set k 0 0 1\r\nv\r\n", b"STORED\r\n");

    let mut plain = TcpStream::connect(tls_addr).unwrap();
    plain.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    plain.write_all(b"get k\r\n").unwrap();
    let mut got = Vec::new();
    // The server closes (maybe after a TLS alert); never a memcached reply.
    let _ = plain.read_to_end(&mut got);
    assert!(
        !got.windows(5).any(|w| w == b"VALUE" || w == b"ERROR"),
        "plaintext reply on a TLS port: {got:?}"
    );

    // The daemon keeps serving, over TLS and on the `notls:` listener.
    roundtrip(&mut before, b"get k\r\n", b"VALUE k 0 1\r\nv\r\nEND\r\n");
    let mut after = connect(tls_addr, &config);
    roundtrip(&mut after, b"get k\r\n", b"VALUE k 0 1\r\nv\r\nEND\r\n");
    let mut c = common::Conn::connect(plain_addr);
    c.roundtrip(b"get k\r\n", b"VALUE k 0 1\r\nv\r\nEND\r\n");
    assert!(stat(plain_addr, "ssl_handshake_errors") >= 1);
}

#[test]
fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    if is_memcached() {
        return;
    }
    let ca = Ca::new("test ca");
    let other = Ca::new("other ca");
    let files = Files::new("mtls");
    files.server(&ca.leaf("first"), &ca);
    for mode in ["2", "3"] {
        let mut args = files.args();
        args[2].push_str(&format!(",ssl_verify_mode={mode}"));
        let server = Server::start(&args);
        let addr = server.addr(0);
        // No certificate; one from another CA: refused.
        assert!(refused(addr, &client_config(&ca, None)), "mode {mode}");
        let stranger = other.leaf("client");
        assert!(
            refused(addr, &client_config(&ca, Some(&stranger))),
            "mode {mode}"
        );
        // A certificate the CA signed: served.
        let good = ca.leaf("client");
        let mut s = connect(addr, &client_config(&ca, Some(&good)));
        roundtrip(&mut s, b"mn\r\n", b"MN\r\n");
        let errors: u64 = tls_stat(&mut s, "ssl_handshake_errors").parse().unwrap();
        assert!(errors >= 2, "mode {mode}: ssl_handshake_errors {errors}");
    }
}

#[test]
fn refresh_certs_serves_the_new_certificate_and_refuses_a_corrupt_one() {
    if is_memcached() {
        return;
    }
    let ca = Ca::new("test ca");
    let files = Files::new("refresh");
    files.server(&ca.leaf("first"), &ca);
    let server = Server::start(&files.args());
    let config = client_config(&ca, None);
    let mut old = connect(server.addr(0), &config);
    assert_eq!(peer_name(&mut old), "first");

    files.server(&ca.leaf("second"), &ca);
    roundtrip(&mut old, b"refresh_certs\r\n", b"OK\r\n");
    assert_eq!(peer_name(&mut connect(server.addr(0), &config)), "second");
    // The connection opened before keeps working.
    roundtrip(&mut old, b"mn\r\n", b"MN\r\n");
    assert_eq!(tls_stat(&mut old, "time_since_server_cert_refresh"), "0");

    // A corrupt certificate: memcached's error, and the old one stays.
    files.write("cert.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n");
    let expected = format!(
        "Error loading the certificate chain: {} : ",
        files.path("cert.pem").display()
    );
    assert!(refresh_error(&mut old).starts_with(&expected));
    assert_eq!(peer_name(&mut connect(server.addr(0), &config)), "second");
    // A key that does not match the certificate is refused too.
    let third = ca.leaf("third");
    files.write("cert.pem", &third.0);
    assert!(refresh_error(&mut old).starts_with("Error validating the certificate : "));
    assert_eq!(peer_name(&mut connect(server.addr(0), &config)), "second");
    roundtrip(&mut old, b"mn\r\n", b"MN\r\n");
}

/// The one-line answer to a failed `refresh_certs`.
fn refresh_error(s: &mut Tls) -> String {
    s.write_all(b"refresh_certs\r\n").unwrap();
    s.flush().unwrap();
    let mut line = Vec::new();
    let mut b = [0u8];
    while !line.ends_with(b"\r\n") {
        s.read_exact(&mut b).unwrap();
        line.push(b[0]);
    }
    String::from_utf8(line).unwrap()
}

#[test]
fn refresh_certs_without_tls_is_memcached_error() {
    let server = TestServer::start(&[]);
    let mut c = server.conn();
    c.roundtrip(b"refresh_certs\r\n", b"Error TLS not enabled\r\n");
    c.assert_usable();
}

/// Poll new connections until one presents `name` (bounded).
fn wait_for_cert(addr: SocketAddr, config: &Arc<ClientConfig>, name: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if peer_name(&mut connect(addr, config)) == name {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn changed_files_on_disk_are_reloaded_without_a_command() {
    if is_memcached() {
        return;
    }
    let ca = Ca::new("test ca");
    let files = Files::new("onchange");
    files.server(&ca.leaf("first"), &ca);
    let server = Server::start(&files.args());
    let config = client_config(&ca, None);
    let mut old = connect(server.addr(0), &config);
    assert_eq!(peer_name(&mut old), "first");
    files.server(&ca.leaf("second"), &ca);
    assert!(wait_for_cert(server.addr(0), &config, "second"));
    roundtrip(&mut old, b"mn\r\n", b"MN\r\n");
}

#[test]
fn sighup_reloads_the_certificates() {
    if is_memcached() {
        return;
    }
    let ca = Ca::new("test ca");
    let files = Files::new("sighup");
    files.server(&ca.leaf("first"), &ca);
    let args = files.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = TestServer::spawn(&args);
    let config = client_config(&ca, None);
    let mut old = connect(server.addr, &config);
    assert_eq!(peer_name(&mut old), "first");
    files.server(&ca.leaf("second"), &ca);
    server.signal(nix::sys::signal::Signal::SIGHUP);
    assert!(wait_for_cert(server.addr, &config, "second"));
    roundtrip(&mut old, b"mn\r\n", b"MN\r\n");
}

fn start_up_status(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(server_bin())
        .args(["-p", "-1", "-l", "127.0.0.1", "-U", "0"])
        .args(common::root_user_args())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn missing_or_bad_files_stop_start_up() {
    if is_memcached() {
        return;
    }
    let ca = Ca::new("test ca");
    let files = Files::new("startup");
    files.server(&ca.leaf("first"), &ca);
    let cert = files.path("cert.pem").display().to_string();
    let key = files.path("key.pem").display().to_string();
    let missing = files.path("missing.pem").display().to_string();
    let table: &[(String, &str)] = &[
        (
            format!("ssl_chain_cert={missing},ssl_key={key}"),
            "Error loading the certificate chain",
        ),
        (
            format!("ssl_chain_cert={cert},ssl_key={missing}"),
            "Error loading the key",
        ),
        (
            format!("ssl_chain_cert={cert},ssl_key={cert}"),
            "Error loading the key",
        ),
        (format!("ssl_chain_cert={cert}"), "ssl_key"),
        (
            format!("ssl_chain_cert={cert},ssl_key={key},ssl_verify_mode=2"),
            "ssl_ca_cert",
        ),
        (
            format!("ssl_chain_cert={cert},ssl_key={key},ssl_verify_mode=2,ssl_ca_cert={missing}"),
            "Error loading the CA certificate",
        ),
    ];
    for (opts, fragment) in table {
        let (code, stderr) = start_up_status(&["-Z", "-o", opts.as_str()]);
        assert_eq!(code, Some(64), "{opts}: {stderr}");
        assert!(stderr.contains(fragment), "{opts}: {stderr}");
    }
}

#[test]
fn stats_settings_show_the_ssl_fields() {
    if is_memcached() {
        return;
    }
    let ca = Ca::new("test ca");
    let files = Files::new("settings");
    files.server(&ca.leaf("first"), &ca);
    let mut args = files.args();
    args[2].push_str(",ssl_min_version=tlsv1.3");
    let server = Server::start(&args);
    let mut s = connect(server.addr(0), &client_config(&ca, None));
    s.write_all(b"stats settings\r\n").unwrap();
    s.flush().unwrap();
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    while !text.ends_with(b"END\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        text.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("STAT ssl_enabled yes\r\n"));
    assert!(text.contains("STAT ssl_min_version tlsv1.3\r\n"));
    assert!(text.contains(&format!(
        "STAT ssl_chain_cert {}\r\n",
        files.path("cert.pem").display()
    )));
    assert!(text.contains("STAT ssl_verify_mode 0\r\n"));
    assert_eq!(
        s.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
}

// ------------------------------------------------- the client library and CLI

use ferrocache::client::{CasOutcome, Client, Error as ClientError, Options, TlsConfig};
use ferrocache::protocol::Protocol;

/// A library client of `addr` trusting `ca.pem` in `files`, with `tls`
/// adding to the settings.
fn tls_client(
    addr: SocketAddr,
    files: &Files,
    protocol: Protocol,
    tls: impl FnOnce(ferrocache::client::TlsConfigBuilder) -> ferrocache::client::TlsConfigBuilder,
) -> Client {
    let config = tls(TlsConfig::builder().ca_file(files.path("ca.pem")))
        .build()
        .unwrap();
    let opts = Options {
        protocol,
        tls: Some(config),
        ..Options::default()
    };
    Client::with_options(&[addr.to_string()], opts).unwrap()
}

#[test]
fn client_library_set_get_multi_get_and_cas_over_tls() {
    if is_memcached() {
        return;
    }
    let ca = Ca::new("test ca");
    let files = Files::new("client-ops");
    files.server(&ca.leaf("first"), &ca);
    let server = Server::start(&files.args());
    for protocol in [Protocol::Text, Protocol::Binary] {
        // The server is named by its IP address, which the certificate holds.
        let c = tls_client(server.addr(0), &files, protocol, |b| b);
        let p = format!("{protocol:?}");
        assert!(c.set(format!("{p}:a"), b"alpha", 3, 0).unwrap());
        let big = vec![b'x'; 100_000];
        assert!(c.set(format!("{p}:b"), &big, 0, 0).unwrap());
        let got = c.get(format!("{p}:a")).unwrap().unwrap();
        assert_eq!((got.value.as_slice(), got.flags), (&b"alpha"[..], 3));
        let keys = [format!("{p}:a"), format!("{p}:b"), format!("{p}:missing")];
        let many = c.get_multi(&keys).unwrap();
        assert_eq!(many.len(), 2, "{p}");
        assert_eq!(many[format!("{p}:b").as_bytes()].value.len(), 100_000);
        let unique = c.gets(format!("{p}:a")).unwrap().unwrap().cas.unwrap();
        assert_eq!(
            c.cas(format!("{p}:a"), b"beta", 0, 0, unique).unwrap(),
            CasOutcome::Stored
        );
        assert_eq!(
            c.cas(format!("{p}:a"), b"gamma", 0, 0, unique).unwrap(),
            CasOutcome::Exists
        );
        assert_eq!(c.get(format!("{p}:a")).unwrap().unwrap().value, b"beta");
        // Every operation above reused one pooled session: idle TLS
        // connections survive the session tickets the server sends.
        let stats = c.stats(None).remove(0).1.unwrap();
        let sessions = stats.iter().find(|(k, _)| k == "ssl_new_sessions").unwrap();
        let expected = if protocol == Protocol::Text { "1" } else { "2" };
        assert_eq!(sessions.1, expected, "{p}");
    }
}

#[test]
fn client_checks_the_server_name_and_allows_an_override() {
    if is_memcached() {
        return;
    }
    let ca = Ca::new("test ca");
    let files = Files::new("client-name");
    files.server(&ca.leaf("first"), &ca);
    let server = Server::start(&files.args());
    let addr = server.addr(0);
    let named = tls_client(addr, &files, Protocol::Text, |b| b.server_name("localhost"));
    assert!(named.set("k", b"v", 0, 0).unwrap());
    let wrong = tls_client(addr, &files, Protocol::Text, |b| {
        b.server_name("cache.example")
    });
    match wrong.get("k") {
        Err(ClientError::Tls(m)) => assert!(m.contains("does not name this server"), "{m}"),
        other => panic!("a certificate for another name was accepted: {other:?}"),
    }
}

#[test]
fn client_refuses_a_server_certificate_from_another_ca() {
    if is_memcached() {
        return;
    }
    let ca = Ca::new("test ca");
    let other = Ca::new("other ca");
    let files = Files::new("client-wrong-ca");
    files.server(&ca.leaf("first"), &ca);
    files.write("other-ca.pem", &other.pem);
    let server = Server::start(&files.args());
    let config = TlsConfig::builder()
        .ca_file(files.path("other-ca.pem"))
        .build()
        .unwrap();
    let opts = Options {
        tls: Some(config),
        ..Options::default()
    };
    let addr = server.addr(0).to_string();
    let c = Client::with_options(&[&addr], opts).unwrap();
    match c.set("k", b"v", 0, 0) {
        Err(ClientError::Tls(m)) => {
            assert!(m.contains(&addr), "{m}");
            assert!(m.contains("not signed by a trusted CA"), "{m}");
        }
        other => panic!("an untrusted server was used: {other:?}"),
    }
}

#[test]
fn client_mutual_tls_with_and_without_a_client_certificate() {
    if is_memcached() {
        return;
    }
    let ca = Ca::new("test ca");
    let other = Ca::new("other ca");
    let files = Files::new("client-mtls");
    files.server(&ca.leaf("first"), &ca);
    let good = ca.leaf("client");
    files.write("client.pem", &good.0);
    files.write("client.key", &good.1);
    let stranger = other.leaf("client");
    files.write("stranger.pem", &stranger.0);
    files.write("stranger.key", &stranger.1);
    let mut args = files.args();
    args[2].push_str(",ssl_verify_mode=2");
    let server = Server::start(&args);
    let addr = server.addr(0);

    let with = tls_client(addr, &files, Protocol::Text, |b| {
        b.client_cert(files.path("client.pem"), files.path("client.key"))
    });
    assert!(with.set("k", b"v", 0, 0).unwrap());
    assert_eq!(with.get("k").unwrap().unwrap().value, b"v");

    let without = tls_client(addr, &files, Protocol::Text, |b| b);
    match without.get("k") {
        Err(ClientError::Tls(m)) => {
            assert!(m.contains(&addr.to_string()), "{m}");
            assert!(m.contains("client certificate"), "{m}");
        }
        other => panic!("served without a client certificate: {other:?}"),
    }
    let foreign = tls_client(addr, &files, Protocol::Text, |b| {
        b.client_cert(files.path("stranger.pem"), files.path("stranger.key"))
    });
    assert!(
        matches!(foreign.get("k"), Err(ClientError::Tls(_))),
        "served with a certificate from another CA"
    );
}

#[test]
fn client_tls_settings_that_cannot_be_used_are_named() {
    let files = Files::new("client-config");
    files.write("empty.pem", "");
    files.write("ca.pem", &Ca::new("test ca").pem);
    let missing = files.path("missing.pem");
    let cases: Vec<(ferrocache::client::TlsConfigBuilder, String)> = vec![
        (TlsConfig::builder(), "no CA".into()),
        (
            TlsConfig::builder().ca_file(&missing),
            missing.display().to_string(),
        ),
        (
            TlsConfig::builder().ca_file(files.path("empty.pem")),
            "no PEM certificate".into(),
        ),
        (
            TlsConfig::builder()
                .ca_file(files.path("ca.pem"))
                .server_name("bad name!"),
            "not a valid server name".into(),
        ),
        (
            TlsConfig::builder()
                .ca_file(files.path("ca.pem"))
                .client_cert(files.path("ca.pem"), &missing),
            "client key".into(),
        ),
    ];
    for (builder, fragment) in cases {
        match builder.build() {
            Err(ClientError::TlsConfig(m)) => assert!(m.contains(&fragment), "{m}"),
            other => panic!("{fragment}: {other:?}"),
        }
    }
}

#[test]
fn client_over_tls_to_a_plaintext_server_says_so() {
    let ca = Ca::new("test ca");
    let files = Files::new("client-plain");
    files.server(&ca.leaf("first"), &ca);
    let server = TestServer::start(&[]);
    let c = tls_client(server.addr, &files, Protocol::Text, |b| b);
    match c.get("k") {
        Err(ClientError::Tls(m)) => assert!(m.contains("speaking TLS"), "{m}"),
        // The server may close the connection first.
        Err(ClientError::Io(_)) => {}
        other => panic!("TLS client got a plaintext answer: {other:?}"),
    }
}

const CLI: &str = env!("CARGO_BIN_EXE_ferrocache-cli");

fn cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(CLI)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_sets_and_gets_over_tls() {
    if is_memcached() {
        return;
    }
    let ca = Ca::new("test ca");
    let other = Ca::new("other ca");
    let files = Files::new("cli");
    files.server(&ca.leaf("first"), &ca);
    files.write("other-ca.pem", &other.pem);
    let good = ca.leaf("client");
    files.write("client.pem", &good.0);
    files.write("client.key", &good.1);
    let mut args = files.args();
    args[2].push_str(",ssl_verify_mode=2");
    let server = Server::start(&args);
    let servers = server.addr(0).to_string();
    let ca_file = files.path("ca.pem").display().to_string();
    let cert = files.path("client.pem").display().to_string();
    let key = files.path("client.key").display().to_string();
    let tls = [
        "--servers",
        &servers,
        "--tls-ca",
        &ca_file,
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ];

    let (code, _, err) = cli(&[&tls[..], &["set", "greeting", "hello"]].concat());
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = cli(&[&tls[..], &["get", "greeting"]].concat());
    assert_eq!((code, out.as_str()), (Some(0), "hello"), "{err}");
    let (code, out, err) = cli(&[
        &tls[..],
        &["--tls-server-name", "localhost", "get", "greeting"],
    ]
    .concat());
    assert_eq!((code, out.as_str()), (Some(0), "hello"), "{err}");

    // No client certificate, or a CA that did not sign the server's: 77.
    let (code, _, err) = cli(&[
        "--servers",
        &servers,
        "--tls-ca",
        &ca_file,
        "get",
        "greeting",
    ]);
    assert_eq!(code, Some(77), "{err}");
    assert!(err.contains("TLS error"), "{err}");
    let other_ca = files.path("other-ca.pem").display().to_string();
    let (code, _, err) = cli(&[
        &tls[..2],
        &["--tls-ca", other_ca.as_str()],
        &tls[4..],
        &["get", "greeting"],
    ]
    .concat());
    assert_eq!(code, Some(77), "{err}");
    assert!(err.contains("not signed by a trusted CA"), "{err}");
    // An unreadable CA file: 66, naming the file.
    let missing = files.path("missing.pem").display().to_string();
    let (code, _, err) = cli(&[
        "--servers",
        &servers,
        "--tls-ca",
        &missing,
        "get",
        "greeting",
    ]);
    assert_eq!(code, Some(66), "{err}");
    assert!(err.contains(&missing), "{err}");
}

#[test]
fn cli_help_shows_the_tls_flags() {
    let (code, out, _) = cli(&["--help"]);
    assert_eq!(code, Some(0));
    for flag in [
        "--tls",
        "--tls-ca",
        "--tls-cert",
        "--tls-key",
        "--tls-server-name",
    ] {
        assert!(
            out.contains(&format!("{flag} ")) || out.contains(&format!("{flag}\n")),
            "{flag}"
        );
    }
}
