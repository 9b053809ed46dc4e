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

use base64::Engine;
use control::join::cli;
use serde_json::Value;

struct Node {
    _rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    _registry: registry::Registry,
    /// Busybox, for shell scripts.
    image: String,
    /// The project's test workload (`images testapp`): an HTTP server and friends.
    testapp: String,
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
    // Root-owned entries with a fixed mtime, so the layer is the same on every run.
    let header = |kind: tar::EntryType, mode: u32, size: usize| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size as u64);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    };
    for d in ["bin/", "tmp/", "etc/"] {
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        b.append_data(&mut h, d, std::io::empty()).unwrap();
    }
    let mut h = header(tar::EntryType::Regular, 0o755, busybox.len());
    b.append_data(&mut h, "bin/busybox", busybox.as_slice())
        .unwrap();
    for applet in [
        "sh", "echo", "cat", "sleep", "ls", "env", "hostname", "wget", "true", "false", "nc",
        "tty", "head",
    ] {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    let passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n";
    let mut h = header(tar::EntryType::Regular, 0o644, passwd.len());
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
        // Each node of this test binary gets its own cluster CIDR and bridge, since tests run
        // in parallel on one host.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let cluster_cidr = format!("10.{}.0.0/16", 200 + k);
        let common::ControlPlane {
            rt,
            dir,
            admin,
            url,
        } = common::ControlPlane::start_with(None, true, Some(&cluster_cidr));
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
        rt.block_on(images::build_and_push(&registry.addr, "testapp:v1"))
            .expect("building and pushing the test image");
        let testapp = format!("{}/testapp:v1", registry.addr);
        // The node keeps its state on a tmpfs of its own, as a diskless (PXE) node does: its
        // disk-pressure signal is then about that, not about how full this machine's disk is.
        let data_dir = dir.path().join("node");
        std::fs::create_dir_all(&data_dir).unwrap();
        rustix::mount::mount(
            "tmpfs",
            &data_dir,
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            Some(c"size=4g,mode=0755"),
        )
        .expect("mounting the node's tmpfs");
        // A bridge name of this test run's own, so parallel runs do not share one.
        let bridge = format!("nt{}x{k}", std::process::id() % 100_000);
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
            "--kubelet-port".into(),
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
                .to_string(),
            "--log".into(),
            "info,node_os=debug".into(),
        ];
        let mut node = Node {
            _rt: rt,
            dir,
            _registry: registry,
            image,
            testapp,
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
        let _ = rustix::mount::unmount(&self.data_dir, rustix::mount::UnmountFlags::DETACH);
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn ip_of(node: &Node, pod: &str) -> String {
    node.json(&["get", "pod", pod]).unwrap()["status"]["podIP"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The body of `GET path` from `addr` (HTTP/1.1, closing), retried for a few seconds while
/// the server starts.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect(addr)?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            )?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        })();
        match attempt {
            Ok(r) => {
                return r
                    .split_once("\r\n\r\n")
                    .map(|(_, b)| b.to_string())
                    .unwrap_or(r)
            }
            Err(e) if Instant::now() > deadline => panic!("GET http://{addr}{path}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Mount points under `dir` in this machine's mount table.
fn mounts_under(dir: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| Path::new(p).starts_with(dir) && Path::new(p) != dir)
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
    args: [serve, --port, '8080']
    ports: [{{containerPort: 8080}}]
    volumeMounts:
    - {{name: cache, mountPath: /cache}}
  volumes:
  - name: cache
    emptyDir: {{medium: Memory}}
",
        node.testapp
    ));
    let pod = node.wait_running("my-pod");
    let ip = pod["status"]["podIP"].as_str().expect("a pod IP");
    let cidr = node.json(&["get", "node", "pods-a"]).unwrap()["spec"]["podCIDR"]
        .as_str()
        .unwrap()
        .to_string();
    let prefix = cidr.trim_end_matches("0/24");
    assert!(
        ip.starts_with(prefix),
        "pod IP {ip} from the node's podCIDR {cidr}"
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
    // The pod answers on its own address, from the node.
    let page = http_get(&format!("{ip}:8080"), "/");
    assert!(page.contains("hostname=my-pod\n"), "{page}");
    assert!(page.contains(&format!("pod_ip={ip}\n")), "{page}");
    let server = processes_with("serve --port 8080");
    assert_eq!(server.len(), 1, "{server:?}");

    node.kubectl(
        &["delete", "pod", "my-pod", "--wait=true", "--timeout=60s"],
        None,
    );
    assert_eq!(mounts_under(&node.data_dir), Vec::<String>::new());
    assert_eq!(pod_cgroups(&uid), Vec::<PathBuf>::new());
    assert_eq!(processes_with("serve --port 8080"), Vec::<String>::new());
}

/// The text of a container instance's log on the node (what `kubectl logs` serves), once it
/// holds `until`.
fn container_log(node: &Node, pod: &Value, container: &str, attempt: u32, until: &str) -> String {
    let uid = pod["metadata"]["uid"].as_str().unwrap();
    let path = node
        .data_dir
        .join("kubelet/pods")
        .join(uid)
        .join("logs")
        .join(container)
        .join(format!("{attempt}.log"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.contains(until) || Instant::now() > deadline {
            // CRI records: `<time> <stream> <tag> <text>`.
            return text
                .lines()
                .map(|l| l.splitn(4, ' ').nth(3).unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn init_containers_run_first_and_crashing_containers_back_off() {
    let node = Node::start("pods-b");
    node.apply(&format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: ordered}}
spec:
  initContainers:
  - name: first
    image: {img}
    command: [sh, -c, 'echo one >> /work/order']
    volumeMounts: [{{name: work, mountPath: /work}}]
  - name: second
    image: {img}
    command: [sh, -c, 'echo two >> /work/order']
    volumeMounts: [{{name: work, mountPath: /work}}]
  containers:
  - name: app
    image: {img}
    command: [sh, -c, 'cat /work/order; echo app; exec sleep 36018']
    volumeMounts: [{{name: work, mountPath: /work}}]
  volumes: [{{name: work, emptyDir: {{}}}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: crasher}}
spec:
  containers:
  - {{name: boom, image: {img}, command: [sh, -c, 'echo boom; exit 3']}}
",
        img = node.image
    ));
    let pod = node.wait_running("ordered");
    let inits = pod["status"]["initContainerStatuses"].as_array().unwrap();
    assert!(
        inits
            .iter()
            .all(|c| c["state"]["terminated"]["reason"] == "Completed"),
        "{inits:?}"
    );
    assert_eq!(
        container_log(&node, &pod, "app", 0, "app"),
        "one\ntwo\napp",
        "the init containers ran in order before the app"
    );

    let crasher = node.wait_for(&["get", "pod", "crasher"], 90, |p| {
        let c = &p["status"]["containerStatuses"][0];
        c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    });
    let c = &crasher["status"]["containerStatuses"][0];
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 3, "{c}");
    assert_eq!(c["lastState"]["terminated"]["reason"], "Error");
    // 10 s after the first failure, doubling with every restart, as kubelet backs off.
    let restarts = c["restartCount"].as_u64().unwrap();
    let wait = 10u64 << restarts.min(5);
    assert!(
        c["state"]["waiting"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "back-off {wait}s restarting failed container=boom pod=crasher_default("
            )),
        "{c}"
    );
    // It keeps backing off: in 25 s it restarts at most twice (10 s, then 20 s).
    std::thread::sleep(Duration::from_secs(25));
    let later = node.json(&["get", "pod", "crasher"]).unwrap();
    let more = later["status"]["containerStatuses"][0]["restartCount"]
        .as_u64()
        .unwrap();
    assert!(more <= restarts + 2, "restarted {more} times: no back-off");
}

#[test]
fn config_maps_and_secrets_are_visible_as_env_and_files() {
    let node = Node::start("pods-c");
    node.apply(&format!(
        "apiVersion: v1
kind: ConfigMap
metadata: {{name: settings}}
data: {{greeting: hello, color: blue}}
---
apiVersion: v1
kind: Secret
metadata: {{name: creds}}
stringData: {{password: s3cret}}
---
apiVersion: v1
kind: Pod
metadata: {{name: consumer}}
spec:
  containers:
  - name: app
    image: {img}
    command: [sh, -c, 'echo GREETING=$GREETING PASSWORD=$PASSWORD color=$color; cat /cfg/greeting; echo; cat /sec/password; echo; exec sleep 36019']
    env:
    - name: GREETING
      valueFrom: {{configMapKeyRef: {{name: settings, key: greeting}}}}
    - name: PASSWORD
      valueFrom: {{secretKeyRef: {{name: creds, key: password}}}}
    envFrom: [{{configMapRef: {{name: settings}}}}]
    volumeMounts:
    - {{name: cfg, mountPath: /cfg}}
    - {{name: sec, mountPath: /sec, readOnly: true}}
  volumes:
  - {{name: cfg, configMap: {{name: settings}}}}
  - {{name: sec, secret: {{secretName: creds}}}}
",
        img = node.image
    ));
    let pod = node.wait_running("consumer");
    assert_eq!(
        container_log(&node, &pod, "app", 0, "s3cret\n"),
        "GREETING=hello PASSWORD=s3cret color=blue\nhello\ns3cret"
    );
    // The ServiceAccount admission's kube-api-access volume: a token bound to this pod (from
    // the TokenRequest API), the cluster CA and the namespace, where client-go looks.
    let sa = "/var/run/secrets/kubernetes.io/serviceaccount";
    let exec = |file: &str| {
        // The kubelet API comes up once its serving certificate is issued: retry until then.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let path = format!("{sa}/{file}");
            let out = node.kubectl_output(&["exec", "consumer", "--", "cat", &path], None);
            if out.status.success() {
                return String::from_utf8(out.stdout).unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    assert_eq!(exec("namespace"), "default");
    assert!(exec("ca.crt").starts_with("-----BEGIN CERTIFICATE-----"));
    let token = exec("token");
    let claims = token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "system:serviceaccount:default:default");
    assert_eq!(claims["kubernetes.io"]["pod"]["name"], "consumer");
    assert_eq!(
        claims["kubernetes.io"]["pod"]["uid"],
        pod["metadata"]["uid"]
    );
}

#[test]
fn restarting_the_agent_adopts_running_pods_without_restarting_them() {
    let mut node = Node::start("pods-d");
    node.apply(&format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: steady}}
spec:
  containers:
  - {{name: app, image: {img}, command: [sleep, '36020']}}
",
        img = node.image
    ));
    let before = node.wait_running("steady");
    let id = before["status"]["containerStatuses"][0]["containerID"].clone();
    let ip = before["status"]["podIP"].clone();
    let procs = processes_with("sleep 36020");
    assert_eq!(procs.len(), 1, "{procs:?}");

    node.stop_agent();
    node.start_agent();
    node.wait_for(&["get", "node", "pods-d"], 60, |n| {
        n["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    });
    // Let the restarted kubelet list, reconcile and sync a few times.
    std::thread::sleep(Duration::from_secs(5));
    let after = node.wait_running("steady");
    let c = &after["status"]["containerStatuses"][0];
    assert_eq!(c["containerID"], id, "the same container");
    assert_eq!(c["restartCount"], 0);
    assert_eq!(after["status"]["podIP"], ip);
    assert_eq!(
        processes_with("sleep 36020"),
        procs,
        "the same process still runs"
    );
    assert!(node.agent_log().matches("starting the kubelet").count() >= 2);
}

#[test]
fn probes_restart_and_unready_containers_and_memory_limits_oom_kill() {
    let node = Node::start("pods-e");
    node.apply(&format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: unhealthy}}
spec:
  containers:
  - name: app
    image: {img}
    args: [serve, --port, '8081', --fail-after, '3']
    livenessProbe:
      httpGet: {{path: /healthz, port: 8081}}
      periodSeconds: 1
      failureThreshold: 2
---
apiVersion: v1
kind: Pod
metadata: {{name: unready}}
spec:
  containers:
  - name: app
    image: {img}
    args: [serve, --port, '8082', --fail-after, '4']
    readinessProbe:
      httpGet: {{path: /healthz, port: 8082}}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata: {{name: hungry}}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: {img}
    args: [alloc, '256', --hold]
    resources:
      limits: {{memory: 64Mi}}
",
        img = node.testapp
    ));
    // Liveness: the kubelet restarts the container once its health endpoint fails.
    let p = node.wait_for(&["get", "pod", "unhealthy"], 120, |p| {
        p["status"]["containerStatuses"][0]["restartCount"]
            .as_i64()
            .unwrap_or(0)
            >= 1
    });
    let c = &p["status"]["containerStatuses"][0];
    assert_eq!(p["status"]["phase"], "Running");
    assert!(c["lastState"]["terminated"].is_object(), "{c}");
    // Readiness: ready first, then not ready while still running, never restarted.
    node.wait_for(&["get", "pod", "unready"], 120, |p| {
        p["status"]["containerStatuses"][0]["ready"] == true
    });
    let p = node.wait_for(&["get", "pod", "unready"], 60, |p| {
        p["status"]["containerStatuses"][0]["ready"] == false
            && p["status"]["containerStatuses"][0]["state"]["running"].is_object()
    });
    let ready = p["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()
        .clone();
    assert_eq!(ready["status"], "False", "{ready}");
    assert_eq!(p["status"]["containerStatuses"][0]["restartCount"], 0);
    // Memory limit: the kernel kills the container, and the kubelet says why.
    let p = node.wait_for(&["get", "pod", "hungry"], 120, |p| {
        p["status"]["phase"] == "Failed"
    });
    let t = &p["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(t["reason"], "OOMKilled", "{t}");
    assert_eq!(t["exitCode"], 137, "{t}");
}

#[test]
fn kubectl_logs_exec_and_port_forward_reach_the_pod() {
    let node = Node::start("pods-f");
    node.apply(&format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: web}}
spec:
  containers:
  - name: app
    image: {img}
    args: [serve, --port, '8083']
---
apiVersion: v1
kind: Pod
metadata: {{name: console}}
spec:
  containers:
  - name: app
    image: {img}
    args: [sh]
    stdin: true
",
        img = node.testapp
    ));
    node.wait_running("web");
    node.wait_running("console");
    // Logs, through the API server's proxy to the kubelet API.
    let deadline = Instant::now() + Duration::from_secs(30);
    let logs = loop {
        let out = node.kubectl_output(&["logs", "web"], None);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("serving on :8083") || Instant::now() > deadline {
            break (text, String::from_utf8_lossy(&out.stderr).into_owned());
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        logs.0.contains("serving on :8083"),
        "{logs:?}\n{}",
        tail(&node.agent_log(), 30)
    );
    let stamped = node.kubectl(&["logs", "web", "--timestamps"], None);
    assert!(
        stamped
            .split_whitespace()
            .next()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok(),
        "{stamped}"
    );

    // Exec, without and with stdin.
    assert_eq!(
        node.kubectl(
            &["exec", "web", "--", "/testapp", "echo", "hi", "there"],
            None
        ),
        "hi there\n"
    );
    assert_eq!(
        node.kubectl(
            &["exec", "-i", "web", "--", "/testapp", "cat"],
            Some("abc\n")
        ),
        "abc\n"
    );
    let failed = node.kubectl_output(&["exec", "web", "--", "/testapp", "exit", "7"], None);
    assert_eq!(
        failed.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );

    // exec -it: kubectl on a terminal (util-linux's `script` gives it one), the shell in the
    // container on another; testapp's shell prompts only when its stdin is a terminal.
    let kubeconfig = node.dir.path().join("admin.kubeconfig");
    let mut it = Command::new("script")
        .args(["-qfc"])
        .arg(format!(
            "kubectl --kubeconfig {} exec -it web -- /testapp sh",
            kubeconfig.display()
        ))
        .arg("/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = it.stdin.take().unwrap();
        std::thread::sleep(Duration::from_secs(2));
        stdin.write_all(b"echo hello-from-tty\n").unwrap();
        std::thread::sleep(Duration::from_millis(500));
        stdin.write_all(b"exit 0\n").unwrap();
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = it.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("$ "),
        "a prompt, so the shell has a terminal: {text:?}"
    );
    assert!(text.contains("hello-from-tty"), "{text:?}");

    // logs -f follows the stream.
    let mut follow = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["logs", "-f", "web"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(follow.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut reader, &mut first).unwrap();
    assert_eq!(first.trim(), "serving on :8083");
    // A request logs a line, which the follower receives while it is still open.
    http_get(
        &format!("{}:8083", ip_of(&node, "web")),
        "/echo?msg=followed",
    );
    let mut next = String::new();
    std::io::BufRead::read_line(&mut reader, &mut next).unwrap();
    assert!(next.contains("/echo"), "{next:?}");
    let _ = follow.kill();
    let _ = follow.wait();

    // Port-forward from a local port to the pod's.
    let mut pf = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(node.dir.path().join("admin.kubeconfig"))
        .args(["port-forward", "pod/web", ":8083"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(pf.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    // `Forwarding from 127.0.0.1:PORT -> 8083`
    let local = line
        .split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("port-forward said {line:?}"))
        .to_string();
    let body = http_get(&local, "/hostname");
    let _ = pf.kill();
    let _ = pf.wait();
    assert_eq!(body.trim(), "web");

    // attach -i: our stdin reaches the running container's, its output comes back.
    let mut attach = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(node.dir.path().join("admin.kubeconfig"))
        .args(["attach", "-i", "console"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = attach.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stdin = attach.stdin.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let attached = 'wait: loop {
        // Resent until seen: the first line may arrive before the stream is set up.
        let _ = std::io::Write::write_all(&mut stdin, b"echo attached-ok\n");
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            if line.contains("attached-ok") {
                break 'wait true;
            }
            seen.push(line);
        }
        if Instant::now() > deadline {
            break false;
        }
    };
    drop(stdin);
    let _ = attach.kill();
    let out = attach.wait_with_output().unwrap();
    assert!(
        attached,
        "kubectl attach never echoed: {seen:?}; kubectl said {}; agent: {}",
        String::from_utf8_lossy(&out.stderr),
        tail(&node.agent_log(), 20)
    );
}
