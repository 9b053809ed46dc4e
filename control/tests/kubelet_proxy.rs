//! `kubectl logs` and `kubectl exec` through the API server to a kubelet, and the kubelet
//! serving certificate that makes the API server trust it: a test kubelet (HTTPS with a
//! certificate obtained through a real `kubernetes.io/kubelet-serving` CSR, client
//! certificates required) answers `/containerLogs` with fixed lines and `/exec` with a real
//! `v5.channel.k8s.io` WebSocket session, and the installed kubectl 1.32 talks to the server.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use parking_lot::Mutex;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use support::{eventually, kubectl_path, Server};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;

/// What the test kubelet saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    /// The common name of the client certificate the request came with.
    client: String,
    method: String,
    path_and_query: String,
    headers: http::HeaderMap,
}

type KBody = BoxBody<Bytes, std::convert::Infallible>;

/// A kubelet stand-in, serving HTTPS on a bound listener with the given certificate and
/// requiring a client certificate from the cluster CA.
struct TestKubelet {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Lets a following log stream write its third line.
    more: Arc<tokio::sync::Notify>,
    _rt: tokio::runtime::Runtime,
}

impl TestKubelet {
    fn start(
        listener: std::net::TcpListener,
        ca_pem: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> TestKubelet {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        listener.set_nonblocking(true).unwrap();
        let listener = {
            let _guard = rt.enter();
            tokio::net::TcpListener::from_std(listener).unwrap()
        };
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let more = Arc::new(tokio::sync::Notify::new());
        let (seen2, more2) = (seen.clone(), more.clone());
        rt.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, seen, more) = (acceptor.clone(), seen2.clone(), more2.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let client = client_cn(tls.get_ref().1.peer_certificates());
                    let svc = hyper::service::service_fn(move |req| {
                        let (seen, more, client) = (seen.clone(), more.clone(), client.clone());
                        async move {
                            Ok::<_, std::convert::Infallible>(serve(req, client, seen, more).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        TestKubelet {
            addr,
            seen,
            more,
            _rt: rt,
        }
    }

    fn seen(&self, path_prefix: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .iter()
            .filter(|s| s.path_and_query.starts_with(path_prefix))
            .cloned()
            .collect()
    }
}

fn client_cn(certs: Option<&[CertificateDer<'_>]>) -> String {
    let Some(leaf) = certs.and_then(|c| c.first()) else {
        return String::new();
    };
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).unwrap();
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .unwrap_or("")
        .to_string();
    cn
}

fn full(code: StatusCode, text: &'static str) -> Response<KBody> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *r.status_mut() = code;
    r
}

/// The kubelet's routes, as far as these tests need them.
async fn serve(
    mut req: Request<Incoming>,
    client: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    more: Arc<tokio::sync::Notify>,
) -> Response<KBody> {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    seen.lock().push(Seen {
        client,
        method: req.method().to_string(),
        path_and_query: path_and_query.clone(),
        headers: req.headers().clone(),
    });
    let path = req.uri().path().to_string();
    if path == "/healthz" {
        return full(StatusCode::OK, "ok");
    }
    if path.starts_with("/containerLogs/") && path.ends_with("/missing") {
        return full(StatusCode::NOT_FOUND, "container not found (\"missing\")");
    }
    if path.starts_with("/containerLogs/") {
        if !path_and_query.contains("follow=true") {
            return full(StatusCode::OK, "line 1\nline 2\n");
        }
        // Following: two lines now, a third when the test says so, then held open.
        let (mut tx, body) =
            http_body_util::channel::Channel::<Bytes, std::convert::Infallible>::new(4);
        tokio::spawn(async move {
            let _ = tx.send_data(Bytes::from_static(b"line 1\nline 2\n")).await;
            more.notified().await;
            let _ = tx.send_data(Bytes::from_static(b"line 3\n")).await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        return Response::new(body.boxed());
    }
    if path.starts_with("/portForward/") {
        return full(
            StatusCode::BAD_REQUEST,
            "port-forward is not served by this kubelet",
        );
    }
    if path.starts_with("/exec/") {
        let key = req.headers().get("sec-websocket-key").cloned();
        let wants_v5 = req
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .any(|v| v.to_str().unwrap_or("").contains("v5.channel.k8s.io"));
        let (Some(key), true) = (key, wants_v5) else {
            return full(
                StatusCode::BAD_REQUEST,
                "this kubelet speaks v5.channel.k8s.io over WebSocket only",
            );
        };
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(io) = upgrade.await else { return };
            let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                hyper_util::rt::TokioIo::new(io),
                Role::Server,
                None,
            )
            .await;
            let frame = |channel: u8, data: &[u8]| {
                let mut v = vec![channel];
                v.extend_from_slice(data);
                Message::binary(v)
            };
            let _ = ws.send(frame(1, b"hello\n")).await;
            let _ = ws
                .send(frame(3, br#"{"metadata":{},"status":"Success"}"#))
                .await;
            // A normal closure (1000): client-go treats any other close code as an error.
            let _ = ws
                .close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "".into(),
                }))
                .await;
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                while ws.next().await.is_some() {}
            })
            .await;
        });
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        let mut r = Response::new(Full::new(Bytes::new()).boxed());
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert("connection", "Upgrade".parse().unwrap());
        h.insert("upgrade", "websocket".parse().unwrap());
        h.insert("sec-websocket-accept", accept.parse().unwrap());
        h.insert(
            "sec-websocket-protocol",
            "v5.channel.k8s.io".parse().unwrap(),
        );
        return r;
    }
    full(StatusCode::NOT_FOUND, "404 page not found")
}

/// Runs kubectl with another kubeconfig (a node's identity).
fn kubectl_with(s: &Server, kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(kubectl_path("kubectl"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("KUBECACHEDIR", s.data_dir().join("kubecache-node"))
        .env("HOME", s.data_dir())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A kubeconfig for `system:node:<name>`, issued straight from the cluster CA (as the join
/// flow's approved client CSR would be).
fn node_kubeconfig(s: &Server, name: &str) -> PathBuf {
    let ca = control::pki::ClusterCa::load_or_create(s.data_dir()).unwrap();
    let user = format!("system:node:{name}");
    let id = ca.issue_client(&user, &["system:nodes"]).unwrap();
    let url = format!("https://127.0.0.1:{}", s.port);
    let path = s.data_dir().join(format!("{name}.kubeconfig"));
    std::fs::write(
        &path,
        control::pki::kubeconfig(&url, &ca.cert_pem, &user, &id),
    )
    .unwrap();
    path
}

fn apply(s: &Server, kubeconfig: &Path, obj: &Value) {
    let file = s.data_dir().join(format!(
        "obj-{}.json",
        obj["metadata"]["name"].as_str().unwrap()
    ));
    std::fs::write(&file, obj.to_string()).unwrap();
    let out = kubectl_with(s, kubeconfig, &["create", "-f", file.to_str().unwrap()]);
    assert!(out.status.success(), "creating {obj}: {}", stderr(&out));
}

fn node(name: &str, ip: &str, port: u16) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
        "status": {"addresses": [{"type": "InternalIP", "address": ip},
                                 {"type": "Hostname", "address": name}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}})
}

fn pod(name: &str, node: &str, containers: &[&str]) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|c| json!({"name": c, "image": "busybox"}))
        .collect();
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": node, "containers": containers}})
}

/// Obtains a serving certificate for `node` at 127.0.0.1 the way a kubelet does: a
/// `kubernetes.io/kubelet-serving` CSR created with the node's own identity, approved by the
/// approver (the Node reports the address) and issued by the signer. Returns (cert, key).
fn serving_certificate(s: &Server, node_kc: &Path, node: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, format!("system:node:{node}"));
    dn.push(rcgen::DnType::OrganizationName, "system:nodes");
    params.distinguished_name = dn;
    params.subject_alt_names = vec![
        rcgen::SanType::DnsName(node.try_into().unwrap()),
        rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()),
    ];
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    let csr = json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": format!("serving-{node}")},
        "spec": {"request": base64::engine::general_purpose::STANDARD.encode(pem),
                 "signerName": "kubernetes.io/kubelet-serving",
                 "usages": ["digital signature", "server auth"]}});
    apply(s, node_kc, &csr);
    let mut cert = String::new();
    let issued = eventually(60, || {
        let out = s.kubectl_raw(
            &[
                "get",
                "csr",
                &format!("serving-{node}"),
                "-o",
                "jsonpath={.status.certificate}",
            ],
            None,
        );
        cert = String::from_utf8_lossy(&out.stdout).trim().to_string();
        !cert.is_empty()
    });
    assert!(issued, "the serving CSR was not issued: {}", s.log());
    let pem = base64::engine::general_purpose::STANDARD
        .decode(&cert)
        .unwrap();
    let cert_pem = String::from_utf8(pem).unwrap();
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert_eq!(
        parsed.subject().to_string(),
        format!("CN=system:node:{node}, O=system:nodes")
    );
    let eku = parsed.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth, "{eku:?}");
    let san = parsed.subject_alternative_name().unwrap().unwrap().value;
    let names = format!("{:?}", san.general_names);
    assert!(
        names.contains(node) && names.contains("[127, 0, 0, 1]"),
        "{names}"
    );
    (cert_pem, key.serialize_pem())
}

#[test]
fn logs_and_exec_reach_the_kubelet_through_the_api_server() {
    // Node lifecycle off: these Nodes hold no Lease, and nothing here should taint them.
    let s = Server::start_with(&["--disable-scheduler", "--disable-node-lifecycle"]);
    let admin = s.kubeconfig();
    let n1 = node_kubeconfig(&s, "n1");
    let ca_pem = std::fs::read_to_string(s.data_dir().join("pki/ca.crt")).unwrap();

    // The node registers itself with its address and kubelet port, then asks for its serving
    // certificate, as a kubelet does; it serves once the certificate is issued.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let kubelet_port = listener.local_addr().unwrap().port();
    apply(&s, &n1, &node("n1", "127.0.0.1", kubelet_port));
    let (cert, key) = serving_certificate(&s, &n1, "n1");
    let kubelet = TestKubelet::start(listener, &ca_pem, &cert, &key);
    apply(&s, &admin, &pod("web", "n1", &["app", "sidecar"]));
    apply(&s, &admin, &pod("solo", "n1", &["app"]));
    // Running, as the kubelet would report it (kubectl port-forward insists).
    s.kubectl(&[
        "patch",
        "pod",
        "solo",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Running"}}"#,
    ]);

    // kubectl logs: the fixed lines, read from /containerLogs with the API server's identity.
    assert_eq!(s.kubectl(&["logs", "solo"]), "line 1\nline 2\n");
    let logs = kubelet.seen("/containerLogs/default/solo/app");
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].client, "kube-apiserver-kubelet-client");
    assert!(logs[0].headers.get("authorization").is_none());
    assert_eq!(
        s.kubectl(&["logs", "web", "-c", "sidecar", "--tail=5", "--timestamps"]),
        "line 1\nline 2\n"
    );
    assert_eq!(
        kubelet.seen("/containerLogs/default/web/sidecar")[0].path_and_query,
        "/containerLogs/default/web/sidecar?tailLines=5&timestamps=true"
    );

    // kubectl logs -f: lines arrive while the kubelet's stream is still open.
    let (mut follow, lines) = s.kubectl_stream(&["logs", "-f", "solo"]);
    let next = || lines.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(
        (next(), next()),
        ("line 1".to_string(), "line 2".to_string())
    );
    kubelet.more.notify_one();
    assert_eq!(next(), "line 3");
    let _ = follow.kill();
    let _ = follow.wait();

    // Kubernetes' errors: an unknown container, a container the kubelet does not know, a
    // missing pod, and no container named in a pod with several (over the raw API, since
    // kubectl itself picks the first container).
    // (kubectl 1.32 checks the container name itself before asking; the server says the same.)
    let err = s.kubectl_fails(&["logs", "web", "-c", "nope"], None);
    assert!(
        err.contains("container nope is not valid for pod web"),
        "{err}"
    );
    let err = s.kubectl_fails(
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/default/pods/web/log?container=nope",
        ],
        None,
    );
    assert!(
        err.contains("Error from server (BadRequest): container nope is not valid for pod web"),
        "{err}"
    );
    let err = s.kubectl_fails(
        &["get", "--raw", "/api/v1/namespaces/default/pods/web/log"],
        None,
    );
    assert!(
        err.contains(
            "a container name must be specified for pod web, choose one of: [app sidecar]"
        ),
        "{err}"
    );
    let err = s.kubectl_fails(
        &["get", "--raw", "/api/v1/namespaces/default/pods/nope/log"],
        None,
    );
    assert!(
        err.contains("NotFound") && err.contains("pods \"nope\" not found"),
        "{err}"
    );
    let err = s.kubectl_fails(
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/default/pods/web/log?container=app&tailLines=-1",
        ],
        None,
    );
    assert!(err.contains("PodLogOptions \"web\" is invalid"), "{err}");

    // The kubelet's own errors are relayed as Kubernetes words them.
    apply(&s, &admin, &pod("lost", "n1", &["missing"]));
    let err = s.kubectl_fails(&["logs", "lost"], None);
    assert!(
        err.contains("Error from server (NotFound): the server could not find the requested resource ( pods/log lost)"),
        "{err}"
    );

    // kubectl exec: WebSocket (v5.channel.k8s.io) spliced through to the kubelet.
    let out = s.kubectl_raw(&["exec", "solo", "--", "echo", "hello", "world"], None);
    assert!(
        out.status.success(),
        "exec failed: {}\n{}",
        stderr(&out),
        s.log()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    let execs = kubelet.seen("/exec/");
    assert_eq!(execs.len(), 1, "{execs:?}");
    let exec = &execs[0];
    assert_eq!(exec.client, "kube-apiserver-kubelet-client");
    assert_eq!(exec.method, "GET");
    assert_eq!(
        exec.path_and_query,
        "/exec/default/solo/app?command=echo&command=hello&command=world&stderr=1&stdout=1"
    );
    for h in [
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
        "upgrade",
    ] {
        assert!(
            exec.headers.get(h).is_some(),
            "{h} not forwarded: {:?}",
            exec.headers
        );
    }
    assert!(exec.headers.get("authorization").is_none());
    let err = s.kubectl_fails(
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/default/pods/solo/exec?command=ls",
        ],
        None,
    );
    assert!(err.contains("Upgrade request required"), "{err}");
    let err = s.kubectl_fails(
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/default/pods/gone/exec?command=ls",
        ],
        None,
    );
    assert!(err.contains("pods \"gone\" not found"), "{err}");

    // SPDY (kubectl's fallback, forced here): the upgrade reaches the kubelet with every
    // protocol version offered, and the kubelet's refusal comes back to kubectl.
    let out = s.kubectl_as(
        "kubectl",
        &["exec", "solo", "--", "ls"],
        None,
        &[("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")],
    );
    let err = stderr(&out);
    assert!(
        !out.status.success()
            && err.contains("this kubelet speaks v5.channel.k8s.io over WebSocket only"),
        "{err}"
    );
    let spdy = kubelet.seen("/exec/").pop().unwrap();
    assert_eq!(spdy.method, "POST");
    assert_eq!(spdy.headers["upgrade"], "SPDY/3.1");
    let versions: Vec<_> = spdy
        .headers
        .get_all("x-stream-protocol-version")
        .iter()
        .collect();
    assert!(
        versions.len() > 1 && versions.iter().any(|v| *v == "v4.channel.k8s.io"),
        "{versions:?}"
    );

    // kubectl port-forward: the tunnel request reaches the kubelet's /portForward.
    let mut pf = std::process::Command::new(kubectl_path("kubectl"))
        .arg("--kubeconfig")
        .arg(&admin)
        .args(["port-forward", "pod/solo", ":80"])
        .env("HOME", s.data_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let reached = eventually(20, || !kubelet.seen("/portForward/default/solo").is_empty());
    let _ = pf.kill();
    let _ = pf.wait();
    assert!(
        reached,
        "port-forward never reached the kubelet: {:?}",
        kubelet.seen("/")
    );
    let pf = kubelet.seen("/portForward/default/solo").remove(0);
    assert!(
        pf.headers.get("upgrade").is_some() && pf.client == "kube-apiserver-kubelet-client",
        "{pf:?}"
    );

    // nodes/<name>/proxy reaches the kubelet's own paths.
    assert_eq!(
        s.kubectl(&["get", "--raw", "/api/v1/nodes/n1/proxy/healthz"]),
        "ok"
    );

    // A node may not exec into pods or read their logs, even pods bound to it.
    let out = kubectl_with(&s, &n1, &["exec", "solo", "--", "echo"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("forbidden")
            && err.contains("User \"system:node:n1\" cannot create resource \"pods/exec\""),
        "{err}"
    );
    let out = kubectl_with(&s, &n1, &["logs", "solo"]);
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("cannot get resource \"pods/log\""),
        "{err}"
    );
    assert_eq!(
        kubelet.seen("/exec/").len(),
        2,
        "refused requests never reach the kubelet"
    );
}

#[test]
fn unreachable_and_untrusted_kubelets_are_reported_not_hung_on() {
    let s = Server::start_with(&["--disable-scheduler", "--disable-node-lifecycle"]);
    let admin = s.kubeconfig();
    // Nothing listens on this port.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    apply(&s, &admin, &node("down", "127.0.0.1", closed));
    apply(&s, &admin, &pod("on-down", "down", &["app"]));
    let err = s.kubectl_fails(&["logs", "on-down"], None);
    assert!(
        err.contains("ServiceUnavailable") && err.contains("error dialing backend"),
        "{err}"
    );
    let err = s.kubectl_fails(&["exec", "on-down", "--", "ls"], None);
    assert!(err.contains("error dialing backend"), "{err}");

    // A pod bound to a Node that does not exist.
    apply(&s, &admin, &pod("on-ghost", "ghost", &["app"]));
    let err = s.kubectl_fails(&["logs", "on-ghost"], None);
    assert!(err.contains("nodes \"ghost\" not found"), "{err}");

    // A kubelet whose certificate the cluster CA did not sign is never talked to.
    let ca_pem = std::fs::read_to_string(s.data_dir().join("pki/ca.crt")).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let self_signed = params.self_signed(&key).unwrap();
    let rogue = TestKubelet::start(
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        &ca_pem,
        &self_signed.pem(),
        &key.serialize_pem(),
    );
    apply(&s, &admin, &node("rogue", "127.0.0.1", rogue.addr.port()));
    apply(&s, &admin, &pod("on-rogue", "rogue", &["app"]));
    let err = s.kubectl_fails(&["logs", "on-rogue"], None);
    assert!(
        err.contains("error dialing backend") && err.contains("tls"),
        "{err}"
    );
    assert!(rogue.seen("/").is_empty());
}
