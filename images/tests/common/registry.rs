//! A real registry for the tests: Debian's `docker-registry` (distribution 2.8) on a free
//! 127.0.0.1 port with its own storage, optionally behind htpasswd basic auth; and a raw
//! HTTP/1.1 GET to read back what was pushed without going through the client under test.
//! Trimmed from node-image's `tests/common/registry.rs`; nothing leaves 127.0.0.1.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REGISTRY: &str = "/usr/bin/docker-registry";

pub struct Registry {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    err_log: PathBuf,
}

impl Registry {
    /// Starts `docker-registry serve` with storage under `workdir`, behind basic auth when
    /// `htpasswd` names a password file.
    pub fn start(workdir: &Path, htpasswd: Option<&Path>) -> Registry {
        ensure_installed();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n  secret: images-test\n",
            workdir.join(format!("storage-{port}")).display()
        );
        if let Some(path) = htpasswd {
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: images-test\n    path: {}\n",
                path.display()
            ));
        }
        let config_path = workdir.join(format!("registry-{port}.yml"));
        std::fs::write(&config_path, config).unwrap();
        let err_log = workdir.join(format!("registry-{port}.err"));
        let child = Command::new(REGISTRY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_log).unwrap())
            .spawn()
            .expect("starting docker-registry");
        let registry = Registry {
            child,
            addr,
            err_log,
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while get(&self.addr, "/v2/", &[]).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry on {} did not start: {}",
                self.addr,
                std::fs::read_to_string(&self.err_log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Installs Debian's `docker-registry` when it is missing and this runs as root; otherwise a
/// missing registry is a clear failure, not a skipped test.
fn ensure_installed() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        if Path::new(REGISTRY).exists() {
            return;
        }
        assert!(
            is_root(),
            "{REGISTRY} is missing: install it with `apt-get install -y docker-registry` (the tests install it themselves only when run as root)"
        );
        let status = Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "docker-registry"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("running apt-get");
        assert!(
            status.success() && Path::new(REGISTRY).exists(),
            "apt-get install docker-registry failed ({status})"
        );
    });
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Status, headers (names lowercased) and body.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One GET on a fresh connection (`Connection: close`); the body is read to the end (the
/// registry sends blobs and manifests with a Content-Length, not chunked).
pub fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

/// Writes an htpasswd file with a bcrypt hash (distribution accepts only bcrypt), made by
/// `htpasswd` from apache2-utils.
pub fn htpasswd(path: &Path, user: &str, password: &str) {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .expect("htpasswd must be installed (apt-get install apache2-utils)");
    assert!(
        out.status.success(),
        "htpasswd: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(path, out.stdout).unwrap();
}
