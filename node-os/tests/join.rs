//! A node joins a real control plane end to end: `control serve` runs in-process (the `control`
//! library), `node-os agent` runs as the built binary, and real kubectl checks what each
//! identity may do.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use control::client::KubeConfig;
use control::join::cli;

struct Cluster {
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    admin: KubeConfig,
    url: String,
}

impl Cluster {
    fn start() -> Cluster {
        let cp = common::ControlPlane::start(None);
        Cluster {
            rt: cp.rt,
            dir: cp.dir,
            admin: cp.admin,
            url: cp.url,
        }
    }

    fn admin_kubeconfig(&self) -> PathBuf {
        self.dir.path().join("admin.kubeconfig")
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("pki/ca.crt")
    }

    fn create_token(&self, expiration: Option<jiff::Timestamp>) -> cli::Created {
        self.rt
            .block_on(cli::create_until(
                &self.admin,
                expiration,
                Some("test".into()),
            ))
            .unwrap()
    }

    fn agent(&self, data_dir: &Path, token: &str, ca_hash: &str, node: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_node-os"))
            .arg("agent")
            .arg("--data-dir")
            .arg(data_dir)
            .args([
                "--server",
                &self.url,
                "--token",
                token,
                "--ca-hash",
                ca_hash,
            ])
            .args(["--node-name", node])
            .args(["--discovery-timeout-seconds", "3"])
            .args(["--approval-timeout-seconds", "60"])
            .arg("--join-only")
            .output()
            .unwrap()
    }

    fn kubectl(&self, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
        run(cmd, stdin)
    }

    /// kubectl with a bearer token and no client certificate.
    fn kubectl_token(&self, token: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let empty = self.dir.path().join("empty.kubeconfig");
        std::fs::write(&empty, "apiVersion: v1\nkind: Config\n").unwrap();
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&empty)
            .args(["--server", &self.url, "--token", token])
            .arg("--certificate-authority")
            .arg(self.ca_file())
            .args(args);
        run(cmd, stdin)
    }
}

fn run(mut cmd: Command, stdin: Option<&str>) -> Output {
    use std::io::Write;
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let input = stdin.unwrap_or("").to_string();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(input.as_bytes()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ca_hash_of(created: &cli::Created) -> String {
    created
        .join_command
        .split_whitespace()
        .skip_while(|w| *w != "--ca-hash")
        .nth(1)
        .unwrap()
        .to_string()
}

/// The subject and issuer check of the issued certificate, read with x509-parser.
fn check_node_certificate(kubeconfig: &Path, node: &str, ca_pem: &str) {
    let text = std::fs::read_to_string(kubeconfig).unwrap();
    let b64 = |key: &str| {
        let v = text
            .lines()
            .find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().to_string()))
            .unwrap();
        use base64::Engine;
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(v).unwrap()).unwrap()
    };
    let cert_pem = b64("client-certificate-data:");
    assert_eq!(b64("certificate-authority-data:"), ca_pem);
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let ca_der = rustls_pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap();
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    cert.verify_signature(Some(ca.public_key()))
        .expect("the node certificate is signed by the cluster CA");
    let cn: Vec<_> = cert
        .subject()
        .iter_common_name()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let orgs: Vec<_> = cert
        .subject()
        .iter_organization()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(cn, [format!("system:node:{node}")]);
    assert_eq!(orgs, ["system:nodes"]);
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(kubeconfig).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

fn csr_count(c: &Cluster) -> usize {
    let out = c.kubectl(&c.admin_kubeconfig(), &["get", "csr", "-o", "json"], None);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    list["items"].as_array().unwrap().len()
}

#[test]
fn a_node_joins_with_a_token_and_gets_only_node_rights() {
    let c = Cluster::start();
    let created = c.create_token(Some(
        jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1),
    ));
    let token = created.token.expose();
    let hash = ca_hash_of(&created);
    assert!(created
        .join_command
        .contains(&format!("--server {}", c.url)));

    // Join.
    let node_dir = tempfile::tempdir().unwrap();
    let out = c.agent(node_dir.path(), &token, &hash, "worker-1");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "agent failed: {stderr}");
    assert!(
        stdout.contains("node-os: joined as system:node:worker-1"),
        "{stdout}"
    );
    let kubelet = node_dir.path().join("kubelet.kubeconfig");
    check_node_certificate(&kubelet, "worker-1", &c.admin.ca_pem);

    // The admin sees the request approved and issued, made by the bootstrap token's user.
    let out = c.kubectl(&c.admin_kubeconfig(), &["get", "csr"], None);
    let (csrs, _) = text(&out);
    assert!(csrs.contains("Approved,Issued"), "{csrs}");
    assert!(
        csrs.contains(&format!("system:bootstrap:{}", created.token.id)),
        "{csrs}"
    );
    assert_eq!(csr_count(&c), 1);

    // As the node: its own Node yes, another Node no, secrets no.
    let node = |name: &str| {
        format!(r#"{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"{name}"}}}}"#)
    };
    let out = c.kubectl(&kubelet, &["create", "-f", "-"], Some(&node("worker-1")));
    assert!(out.status.success(), "{:?}", text(&out));
    let out = c.kubectl(&kubelet, &["label", "node", "worker-1", "ready=yes"], None);
    assert!(out.status.success(), "{:?}", text(&out));
    let out = c.kubectl(
        &c.admin_kubeconfig(),
        &["create", "-f", "-"],
        Some(&node("worker-2")),
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let out = c.kubectl(&kubelet, &["label", "node", "worker-2", "ready=yes"], None);
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(
        err.contains(r#"nodes "worker-2" is forbidden: User "system:node:worker-1" cannot patch resource "nodes""#),
        "{err}"
    );
    let out = c.kubectl(&kubelet, &["create", "-f", "-"], Some(&node("worker-3")));
    assert!(
        !out.status.success() && text(&out).1.contains("forbidden"),
        "{:?}",
        text(&out)
    );
    let out = c.kubectl(&kubelet, &["get", "secrets", "-A"], None);
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(
        err.contains(r#"secrets is forbidden: User "system:node:worker-1" cannot list resource "secrets" in API group "" at the cluster scope"#),
        "{err}"
    );
    let out = c.kubectl(&kubelet, &["get", "pods", "-A"], None);
    assert!(out.status.success(), "{:?}", text(&out));

    // A second start reuses the certificate: no new CSR.
    let out = c.agent(node_dir.path(), &token, &hash, "worker-1");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("joined as system:node:worker-1 (reused"),
        "{stdout}"
    );
    assert_eq!(csr_count(&c), 1);

    // The bootstrap token itself may not read pods.
    let out = c.kubectl_token(&token, &["get", "pods"], None);
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!(
            r#"pods is forbidden: User "system:bootstrap:{}" cannot list resource "pods" in API group "" in the namespace "default""#,
            created.token.id
        )),
        "{err}"
    );
}

#[test]
fn bad_tokens_and_pins_are_refused() {
    let c = Cluster::start();
    let created = c.create_token(None);
    let hash = ca_hash_of(&created);
    let dir = tempfile::tempdir().unwrap();

    // A token the cluster never made.
    let out = c.agent(dir.path(), "zzzzzz.zzzzzzzzzzzzzzzz", &hash, "n1");
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(
        err.contains(r#"no signature for token id "zzzzzz""#),
        "{err}"
    );

    // The right id with a wrong secret.
    let wrong = format!("{}.aaaaaaaaaaaaaaaa", created.token.id);
    // Wait until cluster-info is signed with the real token, so the refusal is the signature's.
    let out = c.agent(dir.path(), &created.token.expose(), &hash, "n1");
    assert!(out.status.success(), "{:?}", text(&out));
    std::fs::remove_file(dir.path().join("kubelet.kubeconfig")).unwrap();
    let out = c.agent(dir.path(), &wrong, &hash, "n1");
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("does not verify with the given token"),
        "{err}"
    );
    assert!(
        !err.contains("aaaaaaaaaaaaaaaa"),
        "the secret must not be echoed: {err}"
    );

    // An expired token.
    let expired = c.create_token(Some(
        jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60),
    ));
    let out = c.agent(dir.path(), &expired.token.expose(), &hash, "n1");
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!(
            r#"no signature for token id "{}""#,
            expired.token.id
        )),
        "{err}"
    );

    // A pin of another CA.
    let other = format!("sha256:{}", "0".repeat(64));
    let out = c.agent(dir.path(), &created.token.expose(), &other, "n1");
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains(&hash) && err.contains(&other), "{err}");
    assert!(!dir.path().join("kubelet.kubeconfig").exists());
}
