//! Joining, control side: `control token` commands, bootstrap-token authentication and its
//! limits, cluster-info and its signatures, the CSR requestor, the approver, the signer and
//! the token cleaner — against a real `control serve` process.

mod support;

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use serde_json::{json, Value};
use support::Server;

fn control(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_control"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Creates a token with the CLI; returns (token, join command).
fn create_token(s: &Server, extra: &[&str]) -> (String, String) {
    let dir = s.data_dir().to_str().unwrap().to_string();
    let mut args = vec!["token", "create", "--data-dir", dir.as_str()];
    args.extend_from_slice(extra);
    let out = stdout(&control(&args));
    let mut lines = out.lines();
    (
        lines.next().unwrap().to_string(),
        lines.next().unwrap().to_string(),
    )
}

/// One HTTPS request with no client certificate, optionally with a bearer token.
fn raw(
    s: &Server,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let ca = std::fs::read(s.data_dir().join("pki/ca.crt")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", s.port))
            .await
            .unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect("127.0.0.1".try_into().unwrap(), tcp)
            .await
            .unwrap();
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("127.0.0.1:{}", s.port))
            .header("content-type", "application/json");
        if let Some(t) = bearer {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let resp = send
            .send_request(req.body(Full::new(bytes::Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let code = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    })
}

/// A base64 PEM certificate request for the given subject and SAN.
fn csr_request(cn: &str, orgs: &[&str], san: Option<&str>) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, cn);
    for o in orgs {
        dn.push(rcgen::DnType::OrganizationName, *o);
    }
    params.distinguished_name = dn;
    if let Some(s) = san {
        params.subject_alt_names = vec![rcgen::SanType::DnsName(s.try_into().unwrap())];
    }
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    base64::engine::general_purpose::STANDARD.encode(pem)
}

fn csr(name: &str, request: String, usages: &[&str]) -> Value {
    json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {"request": request, "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                 "usages": usages,
                 "username": "kubernetes-admin", "groups": ["system:masters"]}})
}

const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

/// kubeadm's documented recipe for the CA hash, run with openssl.
fn openssl_ca_hash(ca: &std::path::Path) -> String {
    let sh = format!(
        "openssl x509 -pubkey -noout -in {} | openssl pkey -pubin -outform der | sha256sum",
        ca.display()
    );
    let out = Command::new("sh").args(["-c", &sh]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hex = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    format!("sha256:{hex}")
}

#[test]
fn token_commands_and_what_a_bootstrap_token_may_do() {
    // No controllers: nothing approves, and the cleaner leaves expired tokens for us to try.
    let s = Server::start_with(&["--disable-controllers", "--disable-scheduler"]);
    let dir = s.data_dir().to_str().unwrap().to_string();
    let (token, join) = create_token(&s, &["--ttl", "1h", "--description", "ci runner"]);
    let (id, secret) = token.split_once('.').unwrap();
    assert_eq!(id.len(), 6);
    assert_eq!(secret.len(), 16);
    assert!(token
        .bytes()
        .all(|b| b == b'.' || b.is_ascii_lowercase() || b.is_ascii_digit()));
    let hash = openssl_ca_hash(&s.data_dir().join("pki/ca.crt"));
    assert_eq!(
        join,
        format!(
            "node-os agent --data-dir /var/lib/node-os --server https://127.0.0.1:{} --token {token} --ca-hash {hash}",
            s.port
        )
    );
    let list = stdout(&control(&["token", "list", "--data-dir", &dir]));
    let row = list.lines().find(|l| l.starts_with(&token)).unwrap();
    assert!(
        row.contains("authentication,signing") && row.contains("ci runner"),
        "{row}"
    );
    assert!(list.starts_with("TOKEN"));

    // Anonymous: cluster-info only.
    let (code, ci) = raw(
        &s,
        "GET",
        "/api/v1/namespaces/kube-public/configmaps/cluster-info",
        None,
        None,
    );
    assert_eq!(code, 200);
    let kubeconfig = ci["data"]["kubeconfig"].as_str().unwrap();
    assert!(kubeconfig.contains(&format!("server: https://127.0.0.1:{}", s.port)));
    assert!(!kubeconfig.contains("client-key"));
    let (code, _) = raw(
        &s,
        "GET",
        "/api/v1/namespaces/kube-public/configmaps",
        None,
        None,
    );
    assert_eq!(code, 401);
    let (code, _) = raw(&s, "GET", "/api/v1/namespaces/default/pods", None, None);
    assert_eq!(code, 401);

    // The token: CSRs yes, anything else Forbidden.
    let (code, st) = raw(
        &s,
        "GET",
        "/api/v1/namespaces/default/pods",
        Some(&token),
        None,
    );
    assert_eq!(code, 403);
    assert_eq!(
        st["message"],
        format!("pods is forbidden: User \"system:bootstrap:{id}\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"")
    );
    let (code, _) = raw(
        &s,
        "GET",
        "/api/v1/namespaces/kube-system/secrets",
        Some(&token),
        None,
    );
    assert_eq!(code, 403);
    let (code, _) = raw(
        &s,
        "GET",
        "/apis/certificates.k8s.io/v1",
        Some(&token),
        None,
    );
    assert_eq!(code, 200, "discovery is open to every authenticated user");
    let body = csr(
        "claims-admin",
        csr_request("system:node:n1", &["system:nodes"], None),
        &["digital signature", "client auth"],
    );
    let (code, created) = raw(&s, "POST", CSRS, Some(&token), Some(&body));
    assert_eq!(code, 201, "{created}");
    // The requestor is whoever authenticated, not what the body claims.
    assert_eq!(
        created["spec"]["username"],
        format!("system:bootstrap:{id}")
    );
    let groups = created["spec"]["groups"].to_string();
    assert!(
        groups.contains("system:bootstrappers") && !groups.contains("system:masters"),
        "{groups}"
    );
    let (code, _) = raw(
        &s,
        "GET",
        &format!("{CSRS}/claims-admin"),
        Some(&token),
        None,
    );
    assert_eq!(code, 200);
    let mut approve = created.clone();
    approve["status"]["conditions"] =
        json!([{"type": "Approved", "status": "True", "reason": "Mine"}]);
    let (code, st) = raw(
        &s,
        "PUT",
        &format!("{CSRS}/claims-admin/approval"),
        Some(&token),
        Some(&approve),
    );
    assert_eq!(code, 403, "{st}");

    // Wrong, malformed, expired and deleted tokens: 401 with the reason, never the secret.
    let (code, st) = raw(
        &s,
        "GET",
        "/api/v1/namespaces/default/pods",
        Some(&format!("{id}.aaaaaaaaaaaaaaaa")),
        None,
    );
    assert_eq!(code, 401);
    let msg = st["message"].as_str().unwrap();
    assert!(
        msg.contains(id) && msg.contains("does not match") && !msg.contains("aaaaaaaaaaaaaaaa"),
        "{msg}"
    );
    let (code, _) = raw(&s, "GET", "/version", Some("not-a-token"), None);
    assert_eq!(code, 401);
    let (short, _) = create_token(&s, &["--ttl", "1s"]);
    std::thread::sleep(Duration::from_millis(1500));
    let (code, st) = raw(&s, "GET", CSRS, Some(&short), None);
    assert_eq!(code, 401);
    assert!(
        st["message"].as_str().unwrap().contains("expired at"),
        "{st}"
    );
    let deleted = stdout(&control(&["token", "delete", id, "--data-dir", &dir]));
    assert_eq!(deleted.trim(), format!("bootstrap token \"{id}\" deleted"));
    let (code, st) = raw(&s, "GET", CSRS, Some(&token), None);
    assert_eq!(code, 401);
    assert!(
        st["message"].as_str().unwrap().contains("does not exist"),
        "{st}"
    );
    assert!(!control(&["token", "delete", id, "--data-dir", &dir])
        .status
        .success());
    assert!(
        !s.log().contains(secret),
        "the token secret must never be logged"
    );

    // --kubeconfig works as well as --data-dir.
    let kc = s.kubeconfig();
    let out = stdout(&control(&[
        "token",
        "create",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--ttl",
        "0",
    ]));
    let t2 = out.lines().next().unwrap();
    let list = stdout(&control(&[
        "token",
        "list",
        "--kubeconfig",
        kc.to_str().unwrap(),
    ]));
    assert!(
        list.lines()
            .any(|l| l.starts_with(t2) && l.contains("<forever>")),
        "{list}"
    );
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn approver_signer_bootstrap_signer_and_token_cleaner() {
    let s = Server::start_with(&["--disable-scheduler"]);
    let (token, _) = create_token(&s, &[]);
    let (id, secret) = token.split_once('.').unwrap();
    let admin = |path: &str| -> Value {
        let (code, v) = raw_admin(&s, path);
        assert_eq!(code, 200, "{v}");
        v
    };

    // cluster-info gets a signature for the token that verifies over its kubeconfig.
    let ci_path = "/api/v1/namespaces/kube-public/configmaps/cluster-info";
    let sig_key = format!("jws-kubeconfig-{id}");
    wait_for("the token's signature", Duration::from_secs(20), || {
        admin(ci_path)["data"][&sig_key].is_string()
    });
    let ci = admin(ci_path);
    control::join::jws::verify_detached(
        ci["data"][&sig_key].as_str().unwrap(),
        ci["data"]["kubeconfig"].as_str().unwrap().as_bytes(),
        id,
        secret,
    )
    .unwrap();

    // Good request: approved and issued. Others stay pending.
    let good = csr(
        "good",
        csr_request("system:node:n1", &["system:nodes"], None),
        &["digital signature", "client auth"],
    );
    let other_cn = csr(
        "other-cn",
        csr_request("system:admin", &["system:nodes"], None),
        &["digital signature", "client auth"],
    );
    let with_san = csr(
        "with-san",
        csr_request("system:node:n1", &["system:nodes"], Some("n1.example")),
        &["digital signature", "client auth"],
    );
    let server_auth = csr(
        "server-auth",
        csr_request("system:node:n1", &["system:nodes"], None),
        &["digital signature", "client auth", "server auth"],
    );
    for c in [&other_cn, &with_san, &server_auth, &good] {
        let (code, v) = raw(&s, "POST", CSRS, Some(&token), Some(c));
        assert_eq!(code, 201, "{v}");
    }
    wait_for("the certificate", Duration::from_secs(20), || {
        admin(&format!("{CSRS}/good"))["status"]["certificate"].is_string()
    });
    let issued = admin(&format!("{CSRS}/good"));
    let conditions = issued["status"]["conditions"].to_string();
    assert!(
        conditions.contains("\"Approved\"") && conditions.contains("AutoApproved"),
        "{conditions}"
    );
    let pem = base64::engine::general_purpose::STANDARD
        .decode(issued["status"]["certificate"].as_str().unwrap())
        .unwrap();
    let der = rustls::pki_types::CertificateDer::from_pem_slice(&pem).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert_eq!(
        cert.subject().to_string(),
        "CN=system:node:n1, O=system:nodes"
    );
    let days =
        (cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp()) / 86400;
    assert!(
        (364..=366).contains(&days),
        "a year by default, got {days} days"
    );
    // The bootstrapper reads its certificate too.
    let (code, mine) = raw(&s, "GET", &format!("{CSRS}/good"), Some(&token), None);
    assert_eq!(code, 200);
    assert_eq!(
        mine["status"]["certificate"],
        issued["status"]["certificate"]
    );
    for name in ["other-cn", "with-san", "server-auth"] {
        let v = admin(&format!("{CSRS}/{name}"));
        assert!(
            v["status"]["conditions"].is_null(),
            "{name} must stay pending: {v}"
        );
    }
    let table = s.kubectl(&["get", "csr"]);
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_string()
    };
    assert!(row("good").contains("Approved,Issued"), "{table}");
    assert!(row("other-cn").contains("Pending"), "{table}");

    // Deleting the token removes its signature.
    let dir = s.data_dir().to_str().unwrap().to_string();
    stdout(&control(&["token", "delete", &token, "--data-dir", &dir]));
    wait_for("the signature to go", Duration::from_secs(20), || {
        admin(ci_path)["data"][&sig_key].is_null()
    });

    // The token cleaner deletes expired tokens.
    let (short, _) = create_token(&s, &["--ttl", "2s"]);
    let secret_path = format!(
        "/api/v1/namespaces/kube-system/secrets/bootstrap-token-{}",
        &short[..6]
    );
    assert_eq!(raw_admin(&s, &secret_path).0, 200);
    wait_for(
        "the expired token to be deleted",
        Duration::from_secs(30),
        || raw_admin(&s, &secret_path).0 == 404,
    );
}

/// GET as the admin, through kubectl's raw mode (the admin's client certificate).
fn raw_admin(s: &Server, path: &str) -> (u16, Value) {
    let out = s.kubectl_raw(&["get", "--raw", path], None);
    if out.status.success() {
        (200, serde_json::from_slice(&out.stdout).unwrap())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let code = if err.contains("NotFound") || err.contains("not found") {
            404
        } else {
            500
        };
        (code, json!({"error": err}))
    }
}

/// What an installer relies on: a token it made before the control plane first ran works,
/// nodes are told the advertised URL, and the serving certificate names the machine.
#[test]
fn serve_seeds_bootstrap_tokens_and_advertises_the_given_url_and_names() {
    let extra = tempfile::tempdir().unwrap();
    let tokens = extra.path().join("tokens");
    std::fs::write(
        &tokens,
        "# from the machine config\nabcdef.0123456789abcdef\n",
    )
    .unwrap();
    let s = Server::start_with(&[
        "--disable-controllers",
        "--bootstrap-token-file",
        tokens.to_str().unwrap(),
        "--advertise-url",
        "https://10.9.8.7:6443",
        "--extra-san",
        "10.9.8.7",
        "--extra-san",
        "api.cluster.example",
    ]);
    let dir = s.data_dir().to_str().unwrap().to_string();
    let list = stdout(&control(&["token", "list", "--data-dir", &dir]));
    assert!(
        list.lines().any(|l| l.starts_with("abcdef.")),
        "the seeded token is listed: {list}"
    );
    // The token authenticates: not refused as unknown (401) but forbidden (403) where a
    // bootstrap token may not go.
    let (code, _) = raw(
        &s,
        "GET",
        "/api/v1/namespaces/default/pods",
        Some("abcdef.0123456789abcdef"),
        None,
    );
    assert_eq!(code, 403);
    let (code, _) = raw(
        &s,
        "GET",
        "/api/v1/namespaces/default/pods",
        Some("abcdef.0123456789abcdeX"),
        None,
    );
    assert_eq!(code, 401);
    let (_, ci) = raw(
        &s,
        "GET",
        "/api/v1/namespaces/kube-public/configmaps/cluster-info",
        None,
        None,
    );
    let kubeconfig = ci["data"]["kubeconfig"].as_str().unwrap();
    assert!(
        kubeconfig.contains("server: https://10.9.8.7:6443"),
        "{kubeconfig}"
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{} </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName",
            s.port
        ))
        .output()
        .unwrap();
    let sans = String::from_utf8_lossy(&out.stdout);
    assert!(sans.contains("IP Address:10.9.8.7"), "{sans}");
    assert!(sans.contains("DNS:api.cluster.example"), "{sans}");
    assert!(sans.contains("IP Address:127.0.0.1"), "{sans}");
    // A malformed token file is refused at start, without echoing the line.
    std::fs::write(&tokens, "not-a-token-secretvalue\n").unwrap();
    let out = control(&[
        "serve",
        "--data-dir",
        extra.path().join("d2").to_str().unwrap(),
        "--bootstrap-token-file",
        tokens.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 1: not a bootstrap token"), "{err}");
    assert!(!err.contains("secretvalue"), "{err}");
}
