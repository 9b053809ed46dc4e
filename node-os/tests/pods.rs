//! Pods on a host-mode node end to end: `control serve` in-process (scheduler, node IPAM and
//! the CSR loops on), a real `docker-registry` on loopback holding a test image, and the
//! built `node-os agent` running containers through its own runtime. Real kubectl drives
//! everything. Needs root (CI runs as root), like the runtime's own tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
#[path = "../image/tests/common/registry.rs"]
#[allow(dead_code)]
mod registry;

use control::join::cli;
use serde_json::Value;

struct Node {
    _rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    _registry: registry::Registry,
    image: String,
    agent: Option<Child>,
    data_dir: PathBuf,
    bridge: String,
    args: Vec<String>,
}

/// A busybox image (Debian's busybox-static as the only file, with applet links) pushed to
/// the registry as `<registry>/test/busybox:1`.
fn push_busybox(reg: &registry::Registry) -> String {
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = |name: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_uid(0);
        h.set_gid(0);
        b.append_data(&mut h, name, std::io::empty()).unwrap();
    };
    dir("bin/");
    dir("tmp/");
    dir("etc/");
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(busybox.len() as u64);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    b.append_data(&mut h, "bin/busybox", busybox.as_slice())
        .unwrap();
    for applet in [
        "sh", "echo", "cat", "sleep", "ls", "env", "hostname", "wget", "true", "false", "nc",
        "tty", "head",
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_uid(0);
        h.set_gid(0);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    let passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n";
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(passwd.len() as u64);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    b.append_data(&mut h, "etc/passwd", &passwd[..]).unwrap();
    let layer_tar = b.into_inner().unwrap();
    let diff_id = node_image::Digest::of(&layer_tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &layer_tar).unwrap();
    let layer = gz.finish().unwrap();
    let repo = "test/busybox";
    let layer_digest = reg.push_blob(repo, &layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = reg.push_blob(repo, &config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest.to_string(), "size": layer.len()}],
    });
    reg.push_manifest(
        repo,
        "1",
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    format!("{}/{repo}:1", reg.addr)
}

impl Node {
    /// A control plane, a registry with the test image, and one agent named `name`, Ready.
    fn start(name: &str) -> Node {
        let common::ControlPlane {
            rt,
            dir,
            admin,
            url,
        } = common::ControlPlane::start_with(None, true, Some("10.213.0.0/16"));
        let created = rt
            .block_on(cli::create_until(
                &admin,
                Some(jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)),
                Some("pods test".into()),
            ))
            .unwrap();
        let ca_hash = created
            .join_command
            .split_whitespace()
            .skip_while(|w| *w != "--ca-hash")
            .nth(1)
            .unwrap()
            .to_string();
        let storage = dir.path().join("registry");
        std::fs::create_dir_all(&storage).unwrap();
        let registry = registry::Registry::start(dir.path(), &storage, registry::Auth::None, None);
        let image = push_busybox(&registry);
        let data_dir = dir.path().join("node");
        // A bridge name of this test run's own, so parallel runs do not share one.
        let bridge = format!("nt{}", std::process::id() % 100_000);
        let args = vec![
            "agent".to_string(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--server".into(),
            url,
            "--token".into(),
            created.token.expose(),
            "--ca-hash".into(),
            ca_hash,
            "--node-name".into(),
            name.into(),
            "--insecure-registry".into(),
            registry.addr.clone(),
            "--pod-bridge".into(),
            bridge.clone(),
            "--log".into(),
            "info,node_os=debug".into(),
        ];
        let mut node = Node {
            _rt: rt,
            dir,
            _registry: registry,
            image,
            agent: None,
            data_dir,
            bridge,
            args,
        };
        node.start_agent();
        node.wait_for(&["get", "node", name], 60, |n| {
            n["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                && n["spec"]["podCIDR"].is_string()
        });
        node
    }

    fn start_agent(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("agent.log"))
            .unwrap();
        self.agent = Some(
            Command::new(env!("CARGO_BIN_EXE_node-os"))
                .args(&self.args)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }

    fn stop_agent(&mut self) {
        if let Some(mut a) = self.agent.take() {
            let _ = Command::new("kill").arg(a.id().to_string()).status();
            let _ = a.wait();
        }
    }

    fn agent_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    fn kubectl_output(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(self.dir.path().join("admin.kubeconfig"))
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl_output(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}\n--- agent log tail ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            tail(&self.agent_log(), 40)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Option<Value> {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        let out = self.kubectl_output(&a, None);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    /// Polls `kubectl get ARGS -o json` until `ok` holds, returning the object.
    fn wait_for(&self, args: &[&str], secs: u64, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.json(args);
            if let Some(v) = &v {
                if ok(v) {
                    return v.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting on {args:?}; last: {}\n--- agent log tail ---\n{}",
                v.map(|v| serde_json::to_string_pretty(&v["status"]).unwrap())
                    .unwrap_or_default(),
                tail(&self.agent_log(), 60)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn apply(&self, yaml: &str) {
        self.kubectl(&["apply", "-f", "-"], Some(yaml));
    }

    fn wait_running(&self, pod: &str) -> Value {
        self.wait_for(&["get", "pod", pod], 120, |p| {
            p["status"]["phase"] == "Running"
                && p["status"]["containerStatuses"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().all(|c| c["ready"] == true))
        })
    }

    /// Deletes every pod and waits until they are gone.
    fn delete_all_pods(&self) {
        let _ = self.kubectl_output(&["delete", "pods", "--all", "--wait=false"], None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self
                .json(&["get", "pods"])
                .is_some_and(|l| l["items"].as_array().is_some_and(|i| i.is_empty()))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.agent.is_some() {
            self.delete_all_pods();
        }
        self.stop_agent();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Mount points under `dir` in this machine's mount table.
fn mounts_under(dir: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| Path::new(p).starts_with(dir))
        .map(str::to_string)
        .collect()
}

/// Processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                out.push(cmd);
            }
        }
    }
    out
}

fn pod_cgroups(uid: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let needle = format!("pod{uid}");
    for root in [
        "/sys/fs/cgroup",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/cpu,cpuacct",
        "/sys/fs/cgroup/pids",
    ] {
        for qos in ["kubepods", "kubepods/burstable", "kubepods/besteffort"] {
            let p = Path::new(root).join(qos).join(&needle);
            if p.exists() {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn the_seed_pod_runs_with_a_pod_ip_and_deleting_it_leaves_nothing_behind() {
    let node = Node::start("pods-a");
    node.apply(&format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: my-pod
  labels:
    app: my-app
    type: front-app
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: nginx-container
    image: {}
    command: [sh, -c, 'echo started; exec sleep 36017']
    volumeMounts:
    - {{name: cache, mountPath: /cache}}
  volumes:
  - name: cache
    emptyDir: {{medium: Memory}}
",
        node.image
    ));
    let pod = node.wait_running("my-pod");
    let ip = pod["status"]["podIP"].as_str().expect("a pod IP");
    assert!(
        ip.starts_with("10.213."),
        "pod IP {ip} from the node's podCIDR"
    );
    assert_eq!(pod["status"]["hostIP"], "127.0.0.1");
    let cs = &pod["status"]["containerStatuses"][0];
    assert_eq!(cs["restartCount"], 0);
    assert!(cs["imageID"].as_str().unwrap().contains("@sha256:"), "{cs}");
    assert!(cs["containerID"]
        .as_str()
        .unwrap()
        .starts_with("node-os://"));
    let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
    assert!(!pod_cgroups(&uid).is_empty(), "the pod has a cgroup");
    assert!(
        !mounts_under(&node.data_dir).is_empty(),
        "rootfs and volume are mounted"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_with("sleep 36017").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !processes_with("sleep 36017").is_empty(),
        "the container's process runs: {}",
        std::fs::read_to_string(
            node.data_dir
                .join("kubelet/pods")
                .join(&uid)
                .join("logs/nginx-container/0.log")
        )
        .unwrap_or_default()
    );

    node.kubectl(
        &["delete", "pod", "my-pod", "--wait=true", "--timeout=60s"],
        None,
    );
    assert_eq!(mounts_under(&node.data_dir), Vec::<String>::new());
    assert_eq!(pod_cgroups(&uid), Vec::<PathBuf>::new());
    assert_eq!(processes_with("sleep 36017"), Vec::<String>::new());
}
