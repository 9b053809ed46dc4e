//! Test support: a real `control serve` process on a free loopback port with its own data
//! directory, and the installed kubectl pointed at it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub port: u16,
    pub extra_args: Vec<String>,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts a server with extra `control serve` flags.
    pub fn start_with(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Server {
            dir,
            child: None,
            port: free_port(),
            extra_args: args.iter().map(|a| a.to_string()).collect(),
        };
        s.spawn();
        s
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("admin.kubeconfig")
    }

    /// Starts (or restarts) the server on the same data dir and waits until it serves.
    pub fn spawn(&mut self) {
        let _ = std::fs::remove_file(self.kubeconfig());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_control"))
            .args(["serve", "--data-dir"])
            .arg(self.dir.path())
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start control serve");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.kubeconfig().exists() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("control serve exited early ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "server did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// kill -9, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs `kubectl` (or another minor, e.g. "kubectl.1.31") against this server.
    pub fn kubectl_as(
        &self,
        binary: &str,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> Output {
        let mut cmd = Command::new(kubectl_path(binary));
        cmd.arg("--kubeconfig").arg(self.kubeconfig()).args(args);
        cmd.env("KUBECACHEDIR", self.dir.path().join("kubecache"));
        cmd.env("HOME", self.dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run kubectl");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }

    pub fn kubectl_raw(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.kubectl_as("kubectl", args, stdin, &[])
    }

    /// Runs kubectl and returns stdout, failing the test with both streams if it failed.
    pub fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_in(args, None)
    }

    pub fn kubectl_in(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl_raw(args, stdin);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed ({}):\nstdout: {stdout}\nstderr: {stderr}\nserver log tail: {}",
            out.status,
            tail(&self.log(), 30)
        );
        stdout
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub fn kubectl_fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl_raw(args, stdin);
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Starts a long-running kubectl (e.g. `get -w`) whose stdout lines arrive on a channel.
    pub fn kubectl_stream(&self, args: &[&str]) -> (Child, std::sync::mpsc::Receiver<String>) {
        let mut child = Command::new(kubectl_path("kubectl"))
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args)
            .env("KUBECACHEDIR", self.dir.path().join("kubecache"))
            .env("HOME", self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Resolves `kubectl` on PATH, or a versioned sibling such as `kubectl.1.31` next to the binary
/// `kubectl` resolves to.
pub fn kubectl_path(binary: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.exists())
        .expect("kubectl must be installed (v1.32 on PATH)");
    if binary == "kubectl" {
        return on_path;
    }
    let real = std::fs::canonicalize(&on_path).unwrap();
    let sibling = real.parent().unwrap().join(binary);
    assert!(
        sibling.exists(),
        "{} not found beside {}",
        binary,
        real.display()
    );
    sibling
}

/// Waits up to `secs` for a condition, polling.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A `control sim-nodes` process (simulated nodes named `<prefix>-<i>`) for a server; killed
/// when dropped, which stops all of its nodes' heartbeats at once.
pub struct SimNodes(Child);

impl SimNodes {
    /// Starts `count` nodes and waits until the server lists them all.
    pub fn start(s: &Server, prefix: &str, count: usize, extra: &[&str]) -> SimNodes {
        let log = std::fs::File::create(s.data_dir().join(format!("sim-{prefix}.log")))
            .expect("sim-nodes log");
        let child = Command::new(env!("CARGO_BIN_EXE_control"))
            .args(["sim-nodes", "--kubeconfig"])
            .arg(s.kubeconfig())
            .args(["--count", &count.to_string(), "--prefix", prefix])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start control sim-nodes");
        let sim = SimNodes(child);
        let mine = || {
            s.kubectl(&["get", "nodes", "-o", "name"])
                .lines()
                .filter(|l| l.starts_with(&format!("node/{prefix}-")))
                .count()
        };
        assert!(
            eventually(30, || mine() == count),
            "sim-nodes {prefix}: {} of {count} nodes registered",
            mine()
        );
        sim
    }

    /// Kills the process now (as a power cut would stop a kubelet).
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for SimNodes {
    fn drop(&mut self) {
        self.kill();
    }
}
