//! The kubelet API (`node_os::kubelet::server`) over real TLS against a test double backend
//! (exec runs host processes, port-forward reaches a loopback echo server, logs are temp
//! files): client certificates and authorization, container logs, exec and attach over
//! WebSocket v5/v4 and SPDY, port-forward over SPDY and tunnelled in WebSocket. The clients
//! speak as client-go does (frame order, headers, half-closes). The last test drives the real
//! kubectl through the in-process API server, which tunnels to this server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use node_os::kubelet::server::spdy::{Role, Session};
use node_os::kubelet::server::websocket::WsBytes;
use node_os::kubelet::server::{self, BackendError, ExecSession, KubeletBackend, ServerTls};
use node_runtime::log::{format_record, Stream as LogStream, Tag};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

mod common;

// ---------------------------------------------------------------------------------------
// Certificates

#[derive(Clone)]
struct Identity {
    cert_pem: String,
    key_pem: String,
}

struct Pki {
    ca_pem: String,
    server: Identity,
    masters: Identity,
    apiserver: Identity,
    node: Identity,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "test-ca");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_pem = params.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, &ca_key).unwrap();
    let issue = |cn: &str, orgs: &[&str], server: bool| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        for o in orgs {
            dn.push(DnType::OrganizationName, *o);
        }
        params.distinguished_name = dn;
        if server {
            params.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        } else {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        let cert = params.signed_by(&key, &issuer).unwrap();
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    };
    Pki {
        server: issue("n1", &[], true),
        masters: issue("admin", &["system:masters"], false),
        apiserver: issue("kube-apiserver-kubelet-client", &[], false),
        node: issue("system:node:n1", &["system:nodes"], false),
        ca_pem,
    }
}

// ---------------------------------------------------------------------------------------
// The test double

struct Fake {
    logs: PathBuf,
    running: AtomicBool,
    echo_port: u16,
    /// Where attach's stdin ends up: the test reads the other end.
    attach_in: Mutex<Option<DuplexStream>>,
    resizes: Arc<Mutex<Vec<(u16, u16)>>>,
    cancelled: Arc<AtomicUsize>,
}

impl Fake {
    fn check(&self, ns: &str, pod: &str, container: &str) -> Result<(), BackendError> {
        if ns != "default" || pod != "web" {
            return Err(BackendError::NotFound(format!(
                "pod \"{pod}\" does not exist"
            )));
        }
        if !["", "app"].contains(&container) {
            return Err(BackendError::NotFound(format!(
                "container \"{container}\" not found in pod \"{pod}\""
            )));
        }
        Ok(())
    }

    fn dir(&self, previous: bool) -> PathBuf {
        self.logs
            .join(if previous { "app-previous" } else { "app" })
    }

    fn append(&self, records: &[(LogStream, Tag, &str)]) {
        use std::io::Write;
        std::fs::create_dir_all(self.dir(false)).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir(false).join("0.log"))
            .unwrap();
        for (stream, tag, text) in records {
            f.write_all(&format_record(
                jiff::Timestamp::now(),
                *stream,
                *tag,
                text.as_bytes(),
            ))
            .unwrap();
        }
    }
}

impl KubeletBackend for Fake {
    async fn log_files(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Result<Vec<PathBuf>, BackendError> {
        self.check(ns, pod, container)?;
        let mut names: Vec<String> = std::fs::read_dir(self.dir(previous))
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        // Rotated files (`0.log.<time>`) oldest first, then the live `0.log`.
        names.sort_by_key(|n| (n == "0.log", n.clone()));
        Ok(names.iter().map(|n| self.dir(previous).join(n)).collect())
    }

    async fn container_running(&self, _: &str, _: &str, _: &str) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    async fn exec(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        cmd: Vec<String>,
        tty: bool,
        stdin: bool,
    ) -> Result<ExecSession, BackendError> {
        self.check(ns, pod, container)?;
        use std::process::Stdio;
        let mut child = tokio::process::Command::new(&cmd[0])
            .args(&cmd[1..])
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(if tty { Stdio::null() } else { Stdio::piped() })
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BackendError::Internal(e.to_string()))?;
        let stdin = child
            .stdin
            .take()
            .map(|s| Box::new(s) as Box<dyn AsyncWrite + Send + Unpin>);
        let stdout = child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>);
        let stderr = child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>);
        let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
        let exit = Box::pin(async move {
            tokio::select! {
                s = child.wait() => s.map(|s| s.code().unwrap_or(137)).map_err(|e| e.to_string()),
                _ = kill_rx => {
                    let _ = child.kill().await;
                    Err("killed".to_string())
                }
            }
        });
        let cancelled = self.cancelled.clone();
        let resizes = self.resizes.clone();
        Ok(ExecSession {
            stdin,
            stdout,
            stderr,
            exit,
            resize: tty.then(|| {
                Box::new(move |w, h| resizes.lock().unwrap().push((w, h)))
                    as Box<dyn Fn(u16, u16) + Send + Sync>
            }),
            cancel: Some(Box::new(move || {
                cancelled.fetch_add(1, Ordering::SeqCst);
                let _ = kill_tx.send(());
            })),
        })
    }

    async fn attach_stdin(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
    ) -> Result<Option<Box<dyn AsyncWrite + Send + Unpin>>, BackendError> {
        self.check(ns, pod, container)?;
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        *self.attach_in.lock().unwrap() = Some(theirs);
        Ok(Some(Box::new(ours)))
    }

    async fn port_forward(
        &self,
        ns: &str,
        pod: &str,
        _uid: Option<&str>,
        port: u16,
    ) -> Result<TcpStream, BackendError> {
        self.check(ns, pod, "")?;
        if port != 80 {
            return Err(BackendError::Internal(format!(
                "dial tcp 127.0.0.1:{port}: connect: connection refused"
            )));
        }
        TcpStream::connect(("127.0.0.1", self.echo_port))
            .await
            .map_err(|e| BackendError::Internal(e.to_string()))
    }
}

/// Echoes every connection until the client half-closes, then closes.
async fn echo_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = c.read(&mut buf).await {
                    if n == 0 || c.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = c.shutdown().await;
            });
        }
    });
    port
}

// ---------------------------------------------------------------------------------------
// Harness and clients

struct Harness {
    addr: SocketAddr,
    pki: Pki,
    fake: Arc<Fake>,
    _dir: tempfile::TempDir,
}

async fn start() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let fake = Arc::new(Fake {
        logs: dir.path().to_path_buf(),
        running: AtomicBool::new(true),
        echo_port: echo_server().await,
        attach_in: Mutex::new(None),
        resizes: Arc::new(Mutex::new(Vec::new())),
        cancelled: Arc::new(AtomicUsize::new(0)),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = ServerTls {
        cert_pem: pki.server.cert_pem.clone(),
        key_pem: pki.server.key_pem.clone(),
        client_ca_pem: pki.ca_pem.clone(),
    };
    tokio::spawn(server::serve(listener, tls, fake.clone()));
    Harness {
        addr,
        pki,
        fake,
        _dir: dir,
    }
}

impl Harness {
    async fn connect(&self, who: Option<&Identity>) -> std::io::Result<TlsStream<TcpStream>> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(self.pki.ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        let config = match who {
            Some(id) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_slice_iter(id.cert_pem.as_bytes())
                        .collect::<Result<Vec<_>, _>>()
                        .unwrap(),
                    PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        let tcp = TcpStream::connect(self.addr).await?;
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::IpAddress(self.addr.ip().into()), tcp)
            .await
    }

    /// A GET with the masters identity (or `who`): status and the response.
    async fn get_as(
        &self,
        who: Option<&Identity>,
        path: &str,
    ) -> Result<http::Response<hyper::body::Incoming>, String> {
        let tls = self.connect(who).await.map_err(|e| e.to_string())?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        send.send_request(
            Request::get(path)
                .header("host", "kubelet")
                .body(Empty::<Bytes>::new())
                .unwrap(),
        )
        .await
        .map_err(|e| e.to_string())
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let resp = self.get_as(Some(&self.pki.masters), path).await.unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    async fn websocket(
        &self,
        path: &str,
        protocols: &str,
    ) -> WebSocketStream<TlsStream<TcpStream>> {
        let tls = self.connect(Some(&self.pki.masters)).await.unwrap();
        let mut req = format!("wss://{}{path}", self.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", protocols.parse().unwrap());
        let (ws, _) = tokio_tungstenite::client_async(req, tls).await.unwrap();
        ws
    }

    /// A SPDY upgrade as client-go's round tripper sends it; returns the connection and the
    /// response head.
    async fn spdy(&self, path: &str, protocols: &[&str]) -> (TlsStream<TcpStream>, String) {
        let mut tls = self.connect(Some(&self.pki.masters)).await.unwrap();
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n",
            self.addr
        );
        for p in protocols {
            req.push_str(&format!("X-Stream-Protocol-Version: {p}\r\n"));
        }
        req.push_str("Content-Length: 0\r\n\r\n");
        tls.write_all(req.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            tls.read_exact(&mut b).await.unwrap();
            head.push(b[0]);
        }
        (tls, String::from_utf8(head).unwrap())
    }
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// What a channel-protocol session sent, until the server's close.
#[derive(Default, Debug)]
struct Channels {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    error: Vec<u8>,
    close: Option<CloseCode>,
}

async fn drain_ws<S>(ws: &mut WebSocketStream<S>) -> Channels
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut c = Channels::default();
    while let Some(Ok(msg)) = ws.next().await {
        match msg {
            Message::Binary(b) if !b.is_empty() => match b[0] {
                1 => c.stdout.extend_from_slice(&b[1..]),
                2 => c.stderr.extend_from_slice(&b[1..]),
                3 => c.error.extend_from_slice(&b[1..]),
                other => panic!("message on unexpected channel {other}"),
            },
            Message::Close(f) => {
                c.close = f.map(|f| f.code);
                break;
            }
            _ => {}
        }
    }
    c
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------
// TLS and authorization

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_and_masters_are_served_others_refused() {
    let h = start().await;
    assert_eq!(h.get("/healthz").await, (StatusCode::OK, "ok\n".into()));
    let resp = h.get_as(Some(&h.pki.apiserver), "/healthz").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let resp = h
        .get_as(Some(&h.pki.node), "/containerLogs/default/web/app")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&body).starts_with(
            "Forbidden (user=system:node:n1, verb=get, resource=nodes, subresource=proxy)"
        ),
        "{body:?}"
    );

    // Without a certificate the handshake is refused: nothing is served.
    assert!(h.get_as(None, "/healthz").await.is_err());

    let (status, metrics) = h.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(metrics
        .contains("kubelet_http_requests_total{path=\"healthz\",method=\"GET\",code=\"200\"} 2\n"));
    assert!(metrics.contains(
        "kubelet_http_requests_total{path=\"containerLogs\",method=\"GET\",code=\"403\"} 1\n"
    ));
    assert!(metrics.contains("process_resident_memory_bytes "));
    assert_eq!(h.get("/nope").await.0, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------
// Logs

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_logs_answer_as_kubectl_logs_prints() {
    let h = start().await;
    let dir = h.fake.dir(false);
    std::fs::create_dir_all(&dir).unwrap();
    let rec = |t: &str, s, tag, c: &str| format_record(t.parse().unwrap(), s, tag, c.as_bytes());
    let mut rotated = rec("2024-01-01T00:00:01Z", LogStream::Stdout, Tag::Full, "one");
    rotated.extend(rec(
        "2024-01-01T00:00:02Z",
        LogStream::Stdout,
        Tag::Partial,
        "tw",
    ));
    std::fs::write(dir.join("0.log.20240101-000002.000000000"), rotated).unwrap();
    let mut live = rec("2024-01-01T00:00:03Z", LogStream::Stdout, Tag::Full, "o");
    live.extend(rec(
        "2024-01-01T00:00:04Z",
        LogStream::Stderr,
        Tag::Full,
        "three",
    ));
    std::fs::write(dir.join("0.log"), live).unwrap();
    std::fs::create_dir_all(h.fake.dir(true)).unwrap();
    std::fs::write(
        h.fake.dir(true).join("0.log"),
        rec(
            "2023-12-31T00:00:00Z",
            LogStream::Stdout,
            Tag::Full,
            "before the restart",
        ),
    )
    .unwrap();
    h.fake.running.store(false, Ordering::SeqCst);

    let logs = |q: &str| {
        let path = format!("/containerLogs/default/web/app{q}");
        let h = &h;
        async move { h.get(&path).await }
    };
    assert_eq!(logs("").await, (StatusCode::OK, "one\ntwo\nthree\n".into()));
    assert_eq!(logs("?tailLines=1").await.1, "three\n");
    assert_eq!(
        logs("?tailLines=2&timestamps=true").await.1,
        "2024-01-01T00:00:02.000000000Z two\n2024-01-01T00:00:04.000000000Z three\n"
    );
    assert_eq!(logs("?limitBytes=6").await.1, "one\ntw");
    assert_eq!(logs("?sinceTime=2024-01-01T00:00:03Z").await.1, "three\n");
    assert_eq!(logs("?previous=true").await.1, "before the restart\n");
    // A stopped container's log is not followed.
    assert_eq!(logs("?follow=true").await.1, "one\ntwo\nthree\n");

    let (status, body) = logs("?tailLines=abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        logs("?tailLines=-1").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        h.get("/containerLogs/default/web/db").await,
        (
            StatusCode::NOT_FOUND,
            "container \"db\" not found in pod \"web\"\n".into()
        )
    );
    assert_eq!(
        h.get("/containerLogs/default/nope/app").await,
        (
            StatusCode::NOT_FOUND,
            "pod \"nope\" does not exist\n".into()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followed_logs_stream_new_lines_across_rotation_until_the_container_stops() {
    let h = start().await;
    h.fake.append(&[(LogStream::Stdout, Tag::Full, "first")]);
    let resp = h
        .get_as(
            Some(&h.pki.masters),
            "/containerLogs/default/web/app?follow=true",
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let mut got = String::new();
    let mut next = async |got: &mut String| {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("a chunk in time");
        match frame {
            Some(Ok(f)) => {
                got.push_str(&String::from_utf8_lossy(f.data_ref().unwrap()));
                true
            }
            _ => false,
        }
    };
    while !got.contains("first\n") {
        assert!(next(&mut got).await);
    }
    h.fake.append(&[(LogStream::Stdout, Tag::Full, "second")]);
    while !got.contains("second\n") {
        assert!(next(&mut got).await);
    }
    // The runtime rotates: the old file keeps its last line, a new one starts.
    h.fake.append(&[(LogStream::Stdout, Tag::Full, "third")]);
    let dir = h.fake.dir(false);
    std::fs::rename(
        dir.join("0.log"),
        dir.join("0.log.20240101-000000.000000000"),
    )
    .unwrap();
    h.fake.append(&[(LogStream::Stderr, Tag::Full, "fourth")]);
    while !got.contains("fourth\n") {
        assert!(next(&mut got).await);
    }
    h.fake.running.store(false, Ordering::SeqCst);
    while next(&mut got).await {}
    assert_eq!(got, "first\nsecond\nthird\nfourth\n");
}

// ---------------------------------------------------------------------------------------
// Exec and attach

const EXEC_SCRIPT: &str = "read x; echo got:$x; echo oops >&2; exit 3";

fn exec_path(script: &str, extra: &str) -> String {
    let script: String = script
        .bytes()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("/exec/default/web/app?command=sh&command=-c&command={script}{extra}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_over_websocket_v5_carries_stdin_close_and_the_exit_code() {
    let h = start().await;
    let mut ws = h
        .websocket(
            &exec_path(EXEC_SCRIPT, "&stdin=1&stdout=1&stderr=1"),
            "v5.channel.k8s.io, v4.channel.k8s.io",
        )
        .await;
    ws.send(Message::binary(b"\x00hello\n".to_vec()))
        .await
        .unwrap();
    // v5: the client closes stdin with [255, 0].
    ws.send(Message::binary(vec![255u8, 0])).await.unwrap();
    let c = drain_ws(&mut ws).await;
    assert_eq!(c.stdout, b"got:hello\n");
    assert_eq!(c.stderr, b"oops\n");
    let status = json(&c.error);
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["reason"], "ExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "3");
    assert_eq!(c.close, Some(CloseCode::Normal));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_over_websocket_v4_ends_with_success() {
    let h = start().await;
    let mut ws = h
        .websocket(
            &exec_path("echo hi", "&stdout=1&stderr=1"),
            "v4.channel.k8s.io",
        )
        .await;
    let c = drain_ws(&mut ws).await;
    assert_eq!(c.stdout, b"hi\n");
    assert_eq!(c.error, br#"{"metadata":{},"status":"Success"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_with_a_tty_forwards_resizes() {
    let h = start().await;
    let mut ws = h
        .websocket(
            &exec_path("sleep 1; echo done", "&stdin=1&stdout=1&stderr=1&tty=1"),
            "v5.channel.k8s.io",
        )
        .await;
    ws.send(Message::binary(
        b"\x04{\"Width\":100,\"Height\":30}\n".to_vec(),
    ))
    .await
    .unwrap();
    let c = drain_ws(&mut ws).await;
    assert_eq!(c.stdout, b"done\n");
    assert_eq!(*h.fake.resizes.lock().unwrap(), vec![(100, 30)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_cancels_its_process() {
    let h = start().await;
    let ws = h
        .websocket(
            &exec_path("sleep 30", "&stdout=1&stderr=1"),
            "v5.channel.k8s.io",
        )
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(ws);
    let cancelled = h.fake.cancelled.clone();
    eventually("the exec to be cancelled", || {
        cancelled.load(Ordering::SeqCst) == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_refusals_come_before_the_upgrade() {
    let h = start().await;
    let (status, body) = h.get("/exec/default/web/app?command=true&stdout=1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, "Upgrade request required\n");
    let (status, body) = h.get("/exec/default/web/app?command=true").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        "you must specify at least 1 of stdin, stdout, stderr\n"
    );
    let (_, head) = h
        .spdy(
            "/exec/default/nope/app?command=true&stdout=1",
            &["v4.channel.k8s.io"],
        )
        .await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let (_, head) = h
        .spdy(
            "/exec/default/web/app?command=true&stdout=1",
            &["v9.channel.k8s.io"],
        )
        .await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert!(head
        .to_ascii_lowercase()
        .contains("x-accepted-stream-protocol-versions: v4.channel.k8s.io"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_over_spdy_opens_streams_as_client_go_does() {
    let h = start().await;
    let (io, head) = h
        .spdy(
            &exec_path(EXEC_SCRIPT, "&stdin=1&stdout=1&stderr=1"),
            &[
                "v4.channel.k8s.io",
                "v3.channel.k8s.io",
                "v2.channel.k8s.io",
                "channel.k8s.io",
            ],
        )
        .await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head
        .to_ascii_lowercase()
        .contains("x-stream-protocol-version: v4.channel.k8s.io"));
    let (session, _) = Session::start(io, Role::Client);
    // client-go: error, stdin, stdout, stderr, each waiting for its SYN_REPLY.
    let mut error = session
        .open_stream(headers(&[("streamtype", "error")]))
        .await
        .unwrap();
    let stdin = session
        .open_stream(headers(&[("streamtype", "stdin")]))
        .await
        .unwrap();
    let mut stdout = session
        .open_stream(headers(&[("streamtype", "stdout")]))
        .await
        .unwrap();
    let mut stderr = session
        .open_stream(headers(&[("streamtype", "stderr")]))
        .await
        .unwrap();
    stdin
        .writer
        .write(Bytes::from_static(b"spdy\n"))
        .await
        .unwrap();
    stdin.writer.close().await.unwrap();
    let read_all = async |s: &mut node_os::kubelet::server::spdy::Stream| {
        let mut v = Vec::new();
        while let Some(b) = s.incoming.recv().await {
            v.extend_from_slice(&b);
        }
        v
    };
    assert_eq!(read_all(&mut stdout).await, b"got:spdy\n");
    assert_eq!(read_all(&mut stderr).await, b"oops\n");
    let status = json(&read_all(&mut error).await);
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "3");
    tokio::time::timeout(Duration::from_secs(10), session.closed())
        .await
        .expect("the server ends the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_follows_the_output_and_feeds_stdin_until_the_container_stops() {
    let h = start().await;
    h.fake
        .append(&[(LogStream::Stdout, Tag::Full, "before attach")]);
    let mut ws = h
        .websocket(
            "/attach/default/web/app?stdin=1&stdout=1&stderr=1",
            "v5.channel.k8s.io",
        )
        .await;
    ws.send(Message::binary(b"\x00typed\n".to_vec()))
        .await
        .unwrap();
    let mut stdin = loop {
        if let Some(s) = h.fake.attach_in.lock().unwrap().take() {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let mut typed = [0u8; 6];
    stdin.read_exact(&mut typed).await.unwrap();
    assert_eq!(&typed, b"typed\n");

    h.fake.append(&[
        (LogStream::Stdout, Tag::Full, "hello"),
        (LogStream::Stderr, Tag::Full, "warning"),
        (LogStream::Stdout, Tag::Partial, "prompt> "),
    ]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    h.fake.running.store(false, Ordering::SeqCst);
    let c = drain_ws(&mut ws).await;
    assert_eq!(c.stdout, b"hello\nprompt> ");
    assert_eq!(c.stderr, b"warning\n");
    assert_eq!(c.error, br#"{"metadata":{},"status":"Success"}"#);
}

// ---------------------------------------------------------------------------------------
// Port-forward

/// One forwarded connection as client-go's `handleConnection` makes it: the error stream
/// (half-closed at once), then the data stream; data both ways; FIN; the error stream's end.
async fn forward_once(
    session: &Session,
    request: &str,
    port: &str,
    payload: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let h = |t| headers(&[("streamtype", t), ("port", port), ("requestid", request)]);
    let mut error = session.open_stream(h("error")).await.unwrap();
    error.writer.close().await.unwrap();
    let mut data = session.open_stream(h("data")).await.unwrap();
    data.writer
        .write(Bytes::copy_from_slice(payload))
        .await
        .unwrap();
    data.writer.close().await.unwrap();
    let mut echoed = Vec::new();
    while let Some(b) = data.incoming.recv().await {
        echoed.extend_from_slice(&b);
    }
    // client-go resets the data stream once the remote side is done.
    data.writer.reset().await;
    let mut message = Vec::new();
    while let Some(b) = error.incoming.recv().await {
        message.extend_from_slice(&b);
    }
    (echoed, message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_over_spdy_splices_each_connection() {
    let h = start().await;
    let (io, head) = h
        .spdy("/portForward/default/web", &["portforward.k8s.io"])
        .await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head
        .to_ascii_lowercase()
        .contains("x-stream-protocol-version: portforward.k8s.io"));
    let (session, _) = Session::start(io, Role::Client);
    let (echoed, message) = forward_once(&session, "0", "80", b"ping").await;
    assert_eq!(echoed, b"ping");
    assert_eq!(message, b"");
    // A second connection on the same session, and one to a closed port.
    let big = vec![42u8; 300 * 1024];
    let (echoed, _) = forward_once(&session, "1", "80", &big).await;
    assert_eq!(echoed.len(), big.len());
    let (echoed, message) = forward_once(&session, "2", "81", b"x").await;
    assert!(echoed.is_empty());
    assert_eq!(
        String::from_utf8(message).unwrap(),
        "error forwarding port 81 to pod web, uid : dial tcp 127.0.0.1:81: connect: connection refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_tunnelled_in_websocket_works_as_kubectl_1_31_speaks_it() {
    let h = start().await;
    let ws = h
        .websocket("/portForward/default/web", "SPDY/3.1+portforward.k8s.io")
        .await;
    let (session, _) = Session::start(WsBytes::new(ws), Role::Client);
    let (echoed, message) = forward_once(&session, "0", "80", b"through the tunnel").await;
    assert_eq!(echoed, b"through the tunnel");
    assert_eq!(message, b"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_refuses_streams_without_a_port() {
    let h = start().await;
    let (io, _) = h
        .spdy("/portForward/default/web", &["portforward.k8s.io"])
        .await;
    let (session, _) = Session::start(io, Role::Client);
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        session.open_stream(headers(&[("streamtype", "data")])),
    )
    .await
    .expect("an answer");
    assert!(refused.is_err(), "a stream without a port is reset");
}

// ---------------------------------------------------------------------------------------
// The real kubectl, through the API server's kubelet proxy

fn kubectl_available() -> bool {
    std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::process::Stdio;
    let mut child = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        use std::io::Write;
        let mut i = child.stdin.take().unwrap();
        i.write_all(input.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Runs `kubectl port-forward pod/web :80` and sends two connections through it to the echo
/// server behind the double's port 80.
fn port_forward_round_trips(kubeconfig: &Path, env: Option<(&str, &str)>) {
    use std::io::{BufRead, Read, Write};
    let mut cmd = std::process::Command::new("kubectl");
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    let mut pf = cmd
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["port-forward", "pod/web", ":80"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(pf.stdout.take().unwrap());
    let mut first_line = String::new();
    out.read_line(&mut first_line).unwrap();
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).unwrap_or(0) > 0 {}
    });
    // "Forwarding from 127.0.0.1:NNNN -> 80"
    let local: u16 = first_line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected port-forward output {first_line:?} ({env:?})"));
    for round in 0..2 {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", local)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let msg = format!("round {round}");
        c.write_all(msg.as_bytes()).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = String::new();
        c.read_to_string(&mut back).unwrap();
        assert_eq!(back, msg, "{env:?}");
    }
    let _ = pf.kill();
    let mut err = String::new();
    let _ = pf.stderr.take().unwrap().read_to_string(&mut err);
    let _ = pf.wait();
    assert!(
        !err.contains("error"),
        "port-forward ({env:?}) stderr: {err}"
    );
}

#[test]
fn kubectl_logs_exec_and_port_forward_reach_the_kubelet_through_the_api_server() {
    if !kubectl_available() {
        eprintln!("kubectl not found: skipping the end-to-end test");
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "control=debug,node_os=debug",
        ))
        .with_test_writer()
        .try_init();
    let cp = common::ControlPlane::start(None);
    let kubeconfig = cp.dir.path().join("admin.kubeconfig");
    let ca = control::pki::ClusterCa::load_or_create(cp.dir.path()).unwrap();
    let serving = ca
        .issue_serving(&[], &["127.0.0.1".parse().unwrap()])
        .unwrap();
    let logs_dir = tempfile::tempdir().unwrap();
    let (addr, fake) = cp.rt.block_on(async {
        let fake = Arc::new(Fake {
            logs: logs_dir.path().to_path_buf(),
            running: AtomicBool::new(true),
            echo_port: echo_server().await,
            attach_in: Mutex::new(None),
            resizes: Arc::new(Mutex::new(Vec::new())),
            cancelled: Arc::new(AtomicUsize::new(0)),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = ServerTls {
            cert_pem: serving.cert_pem.clone(),
            key_pem: serving.key_pem.clone(),
            client_ca_pem: ca.cert_pem.clone(),
        };
        tokio::spawn(server::serve(listener, tls, fake.clone()));
        (addr, fake)
    });
    fake.append(&[
        (LogStream::Stdout, Tag::Full, "hello from the container"),
        (LogStream::Stderr, Tag::Full, "and its stderr"),
    ]);

    let apply = |doc: serde_json::Value| {
        let out = kubectl(&kubeconfig, &["apply", "-f", "-"], Some(&doc.to_string()));
        assert!(
            out.status.success(),
            "apply: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    apply(serde_json::json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}
    }));
    let status = serde_json::json!({"status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": addr.port()}},
    }});
    let out = kubectl(
        &kubeconfig,
        &[
            "patch",
            "node",
            "n1",
            "--subresource=status",
            "--type=merge",
            "-p",
            &status.to_string(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "patch node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    apply(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "busybox"}]}
    }));
    let out = kubectl(
        &kubeconfig,
        &[
            "patch",
            "pod",
            "web",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Running"}}"#,
        ],
        None,
    );
    assert!(
        out.status.success(),
        "patch pod: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let text = |o: &std::process::Output| {
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let out = kubectl(&kubeconfig, &["logs", "web"], None);
    assert!(out.status.success(), "logs: {:?}", text(&out));
    assert_eq!(text(&out).0, "hello from the container\nand its stderr\n");
    let out = kubectl(
        &kubeconfig,
        &["logs", "web", "--tail=1", "--timestamps"],
        None,
    );
    let line = text(&out).0;
    assert!(line.ends_with("Z and its stderr\n"), "{line:?}");
    assert_eq!(
        line.split(' ').next().unwrap().len(),
        "2024-01-01T00:00:00.000000000Z".len()
    );

    // kubectl 1.32 speaks WebSocket v5 first.
    let out = kubectl(
        &kubeconfig,
        &[
            "exec",
            "-i",
            "web",
            "--",
            "sh",
            "-c",
            "read x; echo got:$x; echo err >&2; exit 7",
        ],
        Some("input\n"),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(7), "exec: {stdout} {stderr}");
    assert_eq!(stdout, "got:input\n");
    assert!(stderr.starts_with("err\n"), "{stderr}");
    assert!(
        stderr.contains("command terminated with exit code 7"),
        "{stderr}"
    );

    let out = kubectl(&kubeconfig, &["exec", "web", "--", "echo", "ok"], None);
    assert_eq!(text(&out).0, "ok\n", "{:?}", text(&out));
    assert!(out.status.success());

    // SPDY, as kubectl falls back to it.
    let mut spdy = std::process::Command::new("kubectl");
    spdy.env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["exec", "web", "--", "sh", "-c", "echo over spdy; exit 2"]);
    let out = spdy.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert_eq!(text(&out).0, "over spdy\n");

    // Attach: what the container writes from now on, until it stops.
    let attach = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["attach", "web"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    fake.append(&[(LogStream::Stdout, Tag::Full, "written while attached")]);
    std::thread::sleep(Duration::from_secs(1));
    fake.running.store(false, Ordering::SeqCst);
    let out = attach.wait_with_output().unwrap();
    assert!(out.status.success(), "attach: {:?}", text(&out));
    assert_eq!(text(&out).0, "written while attached\n");
    fake.running.store(true, Ordering::SeqCst);

    // Port-forward: tunnelled in WebSocket (1.32's default), then over SPDY.
    port_forward_round_trips(&kubeconfig, None);
    port_forward_round_trips(
        &kubeconfig,
        Some(("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false")),
    );
    drop(fake);
}
