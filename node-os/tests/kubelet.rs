//! The kubelet's node side end to end: `control serve` runs in-process with a short node
//! monitor grace period, `node-os agent` runs as the built binary in host mode, and real
//! kubectl checks that the Node is registered with this machine's real capacity and identity,
//! that its Lease is renewed, that killing the agent makes the node NotReady through node
//! lifecycle, and that a restart brings the same Node back Ready with the same certificate.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use control::join::cli;
use serde_json::Value;

struct Cluster {
    _rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    url: String,
    token: String,
    ca_hash: String,
    /// Where this test's agents serve the kubelet API (a free port: tests run in parallel).
    kubelet_port: u16,
    /// Agents started, killed when the test ends even if it panicked.
    agents: std::sync::Mutex<Vec<u32>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for pid in self.agents.lock().unwrap().iter() {
            // Only if the pid is still one of our agents (it may have been reaped and reused).
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if !String::from_utf8_lossy(&cmdline).contains("node-os") {
                continue;
            }
            let _ = Command::new("kill")
                .args(["-9", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Cluster {
    fn start() -> Cluster {
        let lifecycle = control_nodelifecycle::Config {
            node_monitor_period: jiff::SignedDuration::from_secs(1),
            node_monitor_grace_period: jiff::SignedDuration::from_secs(8),
            node_startup_grace_period: jiff::SignedDuration::from_secs(20),
            ..Default::default()
        };
        let common::ControlPlane {
            rt,
            dir,
            admin,
            url,
        } = common::ControlPlane::start(Some(lifecycle));
        let created = rt
            .block_on(cli::create_until(
                &admin,
                Some(jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)),
                Some("kubelet test".into()),
            ))
            .unwrap();
        let ca_hash = created
            .join_command
            .split_whitespace()
            .skip_while(|w| *w != "--ca-hash")
            .nth(1)
            .unwrap()
            .to_string();
        Cluster {
            token: created.token.expose(),
            _rt: rt,
            dir,
            url,
            ca_hash,
            kubelet_port: free_port(),
            agents: Default::default(),
        }
    }

    fn admin(&self) -> PathBuf {
        self.dir.path().join("admin.kubeconfig")
    }

    /// Starts the agent as the kubelet of `node`, renewing its Lease every second.
    fn agent(&self, data_dir: &Path, node: &str) -> Child {
        let child = Command::new(env!("CARGO_BIN_EXE_node-os"))
            .arg("agent")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--server", &self.url, "--token", &self.token])
            .args(["--ca-hash", &self.ca_hash, "--node-name", node])
            .args(["--system-reserved", "cpu=100m,memory=256Mi"])
            .args(["--kube-reserved", "memory=128Mi"])
            .args(["--node-lease-duration-seconds", "4"])
            .args(["--kubelet-port", &self.kubelet_port.to_string()])
            .args(["--log", "info"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.agents.lock().unwrap().push(child.id());
        child
    }

    fn kubectl(&self, args: &[&str]) -> String {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.admin())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn try_json(&self, args: &[&str]) -> Option<Value> {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.admin())
            .args(args)
            .args(["-o", "json"])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    fn node(&self, name: &str) -> Option<Value> {
        self.try_json(&["get", "node", name])
    }

    /// Waits until the node's Ready condition has `status`, returning the Node.
    fn wait_ready(&self, name: &str, status: &str, agent: &mut Option<&mut Child>) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(n) = self.node(name) {
                if ready(&n) == Some(status.to_string()) {
                    return n;
                }
            }
            if let Some(a) = agent.as_mut() {
                if let Some(code) = a.try_wait().unwrap() {
                    panic!("the agent exited with {code} before the node was {status}");
                }
            }
            assert!(
                Instant::now() < deadline,
                "node {name} never became Ready={status}: {:?}",
                self.node(name).map(|n| n["status"]["conditions"].clone())
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn ready(node: &Value) -> Option<String> {
    node["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?["status"]
        .as_str()
        .map(str::to_string)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sh(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(out.status.success(), "{cmd} {args:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn mem_total_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

/// Bytes of a quantity as this kubelet writes memory (`<n>`, `<n>Ki`, `<n>Mi`, `<n>Gi`).
fn bytes(q: &str) -> u64 {
    for (suffix, mul) in [("Ki", 1u64 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30)] {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().unwrap() * mul;
        }
    }
    q.parse().unwrap()
}

fn lease_renew_time(c: &Cluster, node: &str) -> (String, Value) {
    let l = c
        .try_json(&["get", "lease", "-n", "kube-node-lease", node])
        .expect("the node's lease exists");
    (l["spec"]["renewTime"].as_str().unwrap().to_string(), l)
}

/// Client-certificate CSRs (the kubelet-serving one is requested once too, separately).
fn csr_count(c: &Cluster) -> usize {
    c.try_json(&["get", "csr"]).unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet")
        .count()
}

fn stop(agent: &mut Child, signal: &str) -> (std::process::ExitStatus, String) {
    sh("kill", &[signal, &agent.id().to_string()]);
    let status = agent.wait().unwrap();
    let mut out = String::new();
    use std::io::Read;
    agent
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (status, out)
}

#[test]
fn the_agent_registers_a_ready_node_renews_its_lease_and_comes_back_after_a_restart() {
    let c = Cluster::start();
    let data = tempfile::tempdir().unwrap();
    let name = "kubelet-1";
    let mut agent = c.agent(data.path(), name);
    let node = c.wait_ready(name, "True", &mut Some(&mut agent));

    // Capacity is this machine's.
    let st = &node["status"];
    let nproc: u64 = sh("nproc", &[]).parse().unwrap();
    assert_eq!(st["capacity"]["cpu"], nproc.to_string());
    assert_eq!(
        bytes(st["capacity"]["memory"].as_str().unwrap()),
        mem_total_kib() * 1024
    );
    assert_eq!(st["capacity"]["pods"], "110");
    let disk = bytes(st["capacity"]["ephemeral-storage"].as_str().unwrap());
    assert!(disk > 0, "{st}");
    // Allocatable: the reservations and the 100Mi hard eviction threshold come off memory,
    // the 100m reservation off cpu, 10% off ephemeral storage.
    let cpu_alloc = st["allocatable"]["cpu"].as_str().unwrap();
    assert_eq!(cpu_alloc, format!("{}m", nproc * 1000 - 100));
    assert_eq!(
        bytes(st["allocatable"]["memory"].as_str().unwrap()),
        mem_total_kib() * 1024 - (256 << 20) - (128 << 20) - (100 << 20)
    );
    let disk_alloc = bytes(st["allocatable"]["ephemeral-storage"].as_str().unwrap());
    assert!(
        disk_alloc < disk && disk_alloc >= disk - disk / 10 - 1,
        "{disk} {disk_alloc}"
    );

    // Identity and addresses.
    let info = &st["nodeInfo"];
    assert_eq!(info["kernelVersion"], sh("uname", &["-r"]));
    assert_eq!(info["operatingSystem"], "linux");
    assert_eq!(info["architecture"], "amd64");
    assert!(info["kubeletVersion"]
        .as_str()
        .unwrap()
        .starts_with("v1.32.0+node-os."));
    assert!(info["containerRuntimeVersion"]
        .as_str()
        .unwrap()
        .starts_with("node-os://"));
    assert_eq!(
        info["bootID"],
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .unwrap()
            .trim()
    );
    if let Ok(id) = std::fs::read_to_string("/etc/machine-id") {
        assert_eq!(info["machineID"], id.trim());
    }
    let os_image = info["osImage"].as_str().unwrap();
    assert!(!os_image.is_empty());
    if let Ok(rel) = std::fs::read_to_string("/etc/os-release") {
        let pretty = rel
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string());
        if let Some(p) = pretty {
            assert_eq!(os_image, p);
        }
    }
    assert_eq!(
        st["addresses"],
        serde_json::json!([
            {"type": "InternalIP", "address": "127.0.0.1"},
            {"type": "Hostname", "address": name},
        ])
    );
    assert_eq!(
        st["daemonEndpoints"]["kubeletEndpoint"]["Port"],
        c.kubelet_port
    );
    let labels = &node["metadata"]["labels"];
    assert_eq!(labels["kubernetes.io/hostname"], name);
    assert_eq!(labels["kubernetes.io/os"], "linux");
    assert_eq!(labels["kubernetes.io/arch"], "amd64");
    for ty in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
        let cnd = st["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == ty)
            .unwrap_or_else(|| panic!("no {ty} condition"));
        assert!(cnd["status"] == "False" || cnd["status"] == "True", "{cnd}");
        assert!(
            cnd["reason"].as_str().unwrap().starts_with("KubeletHas"),
            "{cnd}"
        );
    }
    let table = c.kubectl(&["get", "node", name]);
    assert!(table.contains(" Ready "), "{table}");
    let uid = node["metadata"]["uid"].as_str().unwrap().to_string();

    // The Lease is owned by the Node and renewed (every second with a 4 s duration).
    let (t1, lease) = lease_renew_time(&c, name);
    assert_eq!(lease["spec"]["holderIdentity"], name);
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 4);
    assert_eq!(lease["metadata"]["ownerReferences"][0]["kind"], "Node");
    assert_eq!(lease["metadata"]["ownerReferences"][0]["uid"], uid.as_str());
    std::thread::sleep(Duration::from_millis(2500));
    let (t2, _) = lease_renew_time(&c, name);
    assert!(t2 > t1, "renewTime did not advance: {t1} then {t2}");
    assert_eq!(csr_count(&c), 1);

    // Killed without warning: node lifecycle marks it NotReady (Unknown) once the grace
    // period passes without renewals.
    let (status, _) = stop(&mut agent, "-KILL");
    assert!(!status.success());
    c.wait_ready(name, "Unknown", &mut None);
    let table = c.kubectl(&["get", "node", name]);
    assert!(table.contains("NotReady"), "{table}");

    // Restarted: the same Node (same uid) is Ready again, with the saved certificate.
    let mut agent = c.agent(data.path(), name);
    let node = c.wait_ready(name, "True", &mut Some(&mut agent));
    assert_eq!(node["metadata"]["uid"], uid.as_str());
    assert_eq!(csr_count(&c), 1);
    let (t3, _) = lease_renew_time(&c, name);
    assert!(
        t3 > t2,
        "renewTime did not advance after the restart: {t2} then {t3}"
    );

    // SIGTERM stops it cleanly.
    let (status, out) = stop(&mut agent, "-TERM");
    assert!(status.success(), "{status:?}");
    assert!(out.contains("(reused the saved certificate)"), "{out}");
    assert!(out.contains("node-os: stopped"), "{out}");
}
