//! The benchmark's cluster: a registry, `control serve` and one `node-os agent`, all release
//! builds on loopback, driven through the node's own API client with the admin identity.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use http::Method;
use node_os::client::{ApiClient, Credentials, ServerTrust};
use serde_json::{json, Value};

const BRIDGE: &str = "nbench0";
const NODE: &str = "bench-node";

pub struct Cluster {
    dir: tempfile::TempDir,
    registry: Child,
    control: Child,
    agent: Child,
    registry_addr: String,
    api: ApiClient,
}

pub struct Startup {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The agent's RSS once half the pods run.
    pub rss_50_pods_mb: f64,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut f: impl AsyncFnMut() -> Option<T>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Cluster {
    pub async fn start() -> Result<Cluster> {
        let exe = std::env::current_exe()?;
        let release = exe
            .parent()
            .context("the benchmark's directory")?
            .to_path_buf();
        eprintln!("node-bench: building control, node-os and images (release)");
        run(Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "-p",
                "control",
                "-p",
                "node-os",
                "-p",
                "images",
            ])
            .args(["--bin", "control", "--bin", "node-os", "--bin", "images"]))?;
        let dir = tempfile::Builder::new().prefix("node-bench-").tempdir()?;
        // Registry.
        let registry_addr = format!("127.0.0.1:{}", free_port()?);
        let config = dir.path().join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {registry_addr}\n",
                dir.path().join("registry").display()
            ),
        )?;
        let registry = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting docker-registry (apt-get install docker-registry)")?;
        wait_until("the registry", Duration::from_secs(20), async || {
            std::net::TcpStream::connect(&registry_addr).ok()
        })
        .await?;
        run(Command::new(release.join("images")).args([
            "testapp",
            "--push",
            &format!("{registry_addr}/testapp:bench"),
        ]))?;
        // Control plane.
        let api_addr = format!("127.0.0.1:{}", free_port()?);
        let data = dir.path().join("control");
        let control = Command::new(release.join("control"))
            .arg("serve")
            .arg("--data-dir")
            .arg(&data)
            .args([
                "--listen",
                &api_addr,
                "--cluster-cidr",
                "10.199.0.0/16",
                "--log",
                "warn",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("control.log"))?)
            .spawn()?;
        let kubeconfig = data.join("admin.kubeconfig");
        wait_until("the API server", Duration::from_secs(60), async || {
            kubeconfig.exists().then_some(())
        })
        .await?;
        let creds = node_os::join::kubeconfig::parse(&std::fs::read_to_string(&kubeconfig)?)?;
        let api = ApiClient::new(
            &creds.server,
            ServerTrust::Ca(creds.ca_pem.clone()),
            Credentials::Certificate {
                cert_pem: creds.cert_pem.clone(),
                key_pem: creds.key_pem.clone(),
            },
        )?;
        let out = run(Command::new(release.join("control"))
            .args(["token", "create", "--data-dir"])
            .arg(&data))?;
        let word_after = |flag: &str| -> Result<String> {
            out.split_whitespace()
                .skip_while(|w| *w != flag)
                .nth(1)
                .map(str::to_string)
                .ok_or_else(|| anyhow!("no {flag} in `control token create` output: {out}"))
        };
        let (token, ca_hash) = (word_after("--token")?, word_after("--ca-hash")?);
        // The node, its state on a tmpfs (as a diskless node's), so this machine's disk usage
        // does not put it under disk pressure.
        let node_dir = dir.path().join("node");
        std::fs::create_dir_all(&node_dir)?;
        rustix::mount::mount(
            "tmpfs",
            &node_dir,
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            Some(c"size=8g,mode=0755"),
        )
        .context("mounting the node's tmpfs")?;
        let agent = Command::new(release.join("node-os"))
            .arg("agent")
            .arg("--data-dir")
            .arg(dir.path().join("node"))
            .args([
                "--server",
                &creds.server,
                "--token",
                &token,
                "--ca-hash",
                &ca_hash,
            ])
            .args(["--node-name", NODE, "--insecure-registry", &registry_addr])
            .args(["--pod-bridge", BRIDGE, "--max-pods", "250"])
            .args(["--kubelet-port", &free_port()?.to_string(), "--log", "warn"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("agent.log"))?)
            .spawn()?;
        let c = Cluster {
            dir,
            registry,
            control,
            agent,
            registry_addr,
            api,
        };
        let api = c.api.clone();
        wait_until(
            "the node to be Ready",
            Duration::from_secs(120),
            async || {
                let (_, n) = api.get_json(&format!("/api/v1/nodes/{NODE}")).await.ok()?;
                let ready = n["status"]["conditions"]
                    .as_array()?
                    .iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True");
                (ready && n["spec"]["podCIDR"].is_string()).then_some(())
            },
        )
        .await?;
        Ok(c)
    }

    fn image(&self) -> String {
        format!("{}/testapp:bench", self.registry_addr)
    }

    fn pod(&self, name: &str) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"bench": "startup"}},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "app", "image": self.image(),
                                "imagePullPolicy": "IfNotPresent", "args": ["sleep", "infinity"]}]
            }
        })
    }

    async fn create(&self, pod: &Value) -> Result<()> {
        let (code, body) = self
            .api
            .request(
                Method::POST,
                "/api/v1/namespaces/default/pods",
                Some(serde_json::to_vec(pod)?),
                "application/json",
            )
            .await?;
        if !code.is_success() {
            bail!("creating a pod: {code}: {}", String::from_utf8_lossy(&body));
        }
        Ok(())
    }

    async fn running(&self) -> Result<HashMap<String, bool>> {
        let (_, list) = self.api.get_json("/api/v1/namespaces/default/pods").await?;
        Ok(list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p["metadata"]["name"].as_str().unwrap_or("").to_string(),
                    p["status"]["phase"] == "Running",
                )
            })
            .collect())
    }

    async fn delete_all(&self) -> Result<()> {
        self.api
            .request(
                Method::DELETE,
                "/api/v1/namespaces/default/pods",
                None,
                "application/json",
            )
            .await?;
        wait_until(
            "the pods to be deleted",
            Duration::from_secs(300),
            async || self.running().await.ok().filter(|m| m.is_empty()),
        )
        .await
        .map(drop)
    }

    /// Runs one pod so the image is on the node, deletes it, and returns the agent's idle RSS.
    pub async fn warm_up(&self) -> Result<f64> {
        eprintln!("node-bench: pulling the image once (warm-up pod)");
        self.create(&self.pod("warmup")).await?;
        wait_until("the warm-up pod", Duration::from_secs(120), async || {
            self.running()
                .await
                .ok()
                .and_then(|m| m.get("warmup").copied().filter(|r| *r))
        })
        .await?;
        self.delete_all().await?;
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(rss_mb(self.agent.id()))
    }

    /// Creates `n` pods, all at once (`pace` None) or one every `pace`, times each from its
    /// creation request to the watch event that shows it Running, then deletes them.
    pub async fn pod_startup(
        &self,
        n: usize,
        pace: Option<Duration>,
        prefix: &str,
    ) -> Result<Startup> {
        let (_, list) = self.api.get_json("/api/v1/namespaces/default/pods").await?;
        let rv = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("0")
            .to_string();
        let mut events = self
            .api
            .watch(&format!(
                "/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}"
            ))
            .await?;
        match pace {
            None => eprintln!("node-bench: creating {n} pods at once"),
            Some(p) => eprintln!(
                "node-bench: creating {n} pods, one every {} ms",
                p.as_millis()
            ),
        }
        // The watch is read by its own task, so each Running event is timed when it arrives,
        // not when the creating loop gets round to it.
        let agent_pid = self.agent.id();
        let prefix_owned = format!("{prefix}-");
        let watcher = tokio::spawn(async move {
            let mut running: HashMap<String, Instant> = HashMap::new();
            let mut rss_50_pods_mb = f64::NAN;
            let deadline = Instant::now() + Duration::from_secs(600);
            while running.len() < n {
                let ev = tokio::time::timeout_at(deadline.into(), events.recv())
                    .await
                    .map_err(|_| {
                        anyhow!("only {} of {n} pods Running after 10 min", running.len())
                    })?
                    .ok_or_else(|| anyhow!("the watch ended"))?;
                let at = Instant::now();
                let o = &ev["object"];
                let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
                if o["status"]["phase"] != "Running" || !name.starts_with(&prefix_owned) {
                    continue;
                }
                running.entry(name).or_insert(at);
                if running.len() == n / 2 {
                    rss_50_pods_mb = rss_mb(agent_pid);
                }
            }
            anyhow::Ok((running, rss_50_pods_mb))
        });
        let mut created: HashMap<String, Instant> = HashMap::new();
        let mut tasks = Vec::new();
        for i in 0..n {
            if let (Some(p), true) = (pace, i > 0) {
                tokio::time::sleep(p).await;
            }
            let name = format!("{prefix}-{i}");
            let pod = self.pod(&name);
            let api = self.api.clone();
            created.insert(name, Instant::now());
            tasks.push(tokio::spawn(async move {
                api.request(
                    Method::POST,
                    "/api/v1/namespaces/default/pods",
                    Some(serde_json::to_vec(&pod).expect("json")),
                    "application/json",
                )
                .await
            }));
        }
        for t in tasks {
            let (code, body) = t.await??;
            if !code.is_success() {
                bail!("creating a pod: {code}: {}", String::from_utf8_lossy(&body));
            }
        }
        let (running, rss_50_pods_mb) = watcher.await??;
        let started: HashMap<String, f64> = running
            .into_iter()
            .filter_map(|(name, at)| {
                let t0 = created.get(&name)?;
                Some((name, at.duration_since(*t0).as_secs_f64() * 1000.0))
            })
            .collect();
        let mut ms: Vec<f64> = started.into_values().collect();
        ms.sort_by(f64::total_cmp);
        eprintln!("node-bench: deleting the pods");
        self.delete_all().await?;
        Ok(Startup {
            p50_ms: percentile(&ms, 50.0),
            p99_ms: percentile(&ms, 99.0),
            max_ms: ms.last().copied().unwrap_or(f64::NAN),
            rss_50_pods_mb,
        })
    }

    /// The test image's root filesystem in one directory (for the container comparison).
    pub async fn flattened_testapp(&self) -> Result<PathBuf> {
        let store = Arc::new(node_image::Store::open(self.dir.path().join("images"))?);
        let mut registries = node_image::RegistryConfig::default();
        registries
            .hosts
            .entry(self.registry_addr.clone())
            .or_default()
            .insecure = true;
        let reference = node_image::Reference::parse(&self.image())?;
        let pulled = node_image::pull_image(
            &store,
            &registries,
            &reference,
            &node_image::PullOptions::default(),
        )
        .await?;
        let root = self.dir.path().join("rootfs");
        std::fs::create_dir_all(&root)?;
        node_image::flatten_image(&store, &pulled.image, &root).await?;
        Ok(root)
    }

    /// The last lines of one of the benchmark's process logs (or `pods`: the pods' state).
    pub fn log_tail(&self, name: &str, lines: usize) -> String {
        if name == "pods" {
            let out = Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(self.dir.path().join("control/admin.kubeconfig"))
                .args(["describe", "pods"])
                .output();
            return out
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
        }
        let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub async fn stop(&mut self) {
        eprintln!("node-bench: deleting the pods");
        if let Err(e) = self.delete_all().await {
            eprintln!("node-bench: {e:#}");
        }
        for child in [&mut self.agent, &mut self.control, &mut self.registry] {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
        if let Ok(mut nl) = node_os::network::netlink::Netlink::open() {
            let _ = nl.delete_link(BRIDGE);
        }
        let _ = rustix::mount::unmount(
            self.dir.path().join("node"),
            rustix::mount::UnmountFlags::DETACH,
        );
    }
}
