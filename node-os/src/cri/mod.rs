//! The node's container runtime service: the kubelet's CRI-shaped [`ContainerRuntime`] over
//! the node's own parts — images from `node-image` (pull, store, layered snapshots),
//! sandboxes and containers from `node-runtime` (libcontainer through a re-executed helper),
//! and pod addresses from [`crate::network`]. It adds what the kubelet names things by: for
//! every sandbox and container a small record (pod name, namespace, uid, container name,
//! attempt, image) next to the runtime's own state, so a restarted agent finds them again.

pub mod etc;
pub mod records;
pub mod streaming;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use jiff::Timestamp;
use node_image::{ImageRecord, Reference, RegistryConfig, Store};
use node_runtime::{BindMount, Propagation, QosClass, Runtime};

use crate::kubelet::runtime_api::{
    self as api, ContainerRuntime, ContainerState, ImageInfo, PodSandboxConfig, PodSandboxStatus,
    Result, RuntimeError,
};
use crate::network::PodNetwork;
use records::{ContainerRecord, Records, SandboxRecord};

pub struct NodeRuntime {
    runtime: Runtime,
    images: Arc<Store>,
    registries: RegistryConfig,
    /// Set once the Node has a podCIDR (the control plane allocates it after registration).
    network: std::sync::OnceLock<Arc<PodNetwork>>,
    records: Records,
}

fn other(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Other(anyhow::anyhow!("{e}"))
}

fn nanos(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(0)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(other)?
        .map_err(|e| RuntimeError::Other(e.into()))
}

fn qos(class: &str) -> QosClass {
    match class {
        "Guaranteed" => QosClass::Guaranteed,
        "Burstable" => QosClass::Burstable,
        _ => QosClass::BestEffort,
    }
}

fn image_info(r: &ImageRecord) -> ImageInfo {
    ImageInfo {
        id: r.image_id(),
        entrypoint: r.config.entrypoint.clone(),
        cmd: r.config.cmd.clone(),
        working_dir: r.config.working_dir.clone().unwrap_or_default(),
        user: String::new(),
        env: r
            .config
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
    }
}

/// The image's environment overridden by the container's, keeping the image's order.
fn merge_env(image: &[(String, String)], container: &[String]) -> Vec<String> {
    let keys: BTreeSet<&str> = container
        .iter()
        .map(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k))
        .collect();
    image
        .iter()
        .filter(|(k, _)| !keys.contains(k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .chain(container.iter().cloned())
        .collect()
}

/// A file of the image's root, read from the top-most layer that has it.
fn read_image_file(lowerdirs: &[PathBuf], rel: &str) -> String {
    lowerdirs
        .iter()
        .find_map(|d| std::fs::read_to_string(d.join(rel)).ok())
        .unwrap_or_default()
}

fn signal_number(name: &str) -> Option<i32> {
    let n = name.trim_start_matches("SIG");
    Some(match n {
        "TERM" => libc::SIGTERM,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "HUP" => libc::SIGHUP,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "WINCH" => libc::SIGWINCH,
        _ => return n.parse().ok(),
    })
}

impl NodeRuntime {
    /// The kubelet's view of these containers (a record whose container the runtime no
    /// longer has shows as exited).
    fn statuses(&self, records: Vec<ContainerRecord>) -> Result<Vec<api::ContainerStatus>> {
        let mut out = Vec::with_capacity(records.len());
        for rec in records {
            let st = match self.runtime.container_status(&rec.id) {
                Ok(s) => Some(s),
                Err(node_runtime::Error::ContainerNotFound(_)) => None,
                Err(e) => return Err(other(e)),
            };
            out.push(status_of(&rec, st));
        }
        Ok(out)
    }

    /// Opens the runtime's state under `root` (`<data-dir>/runtime`) and the image store.
    pub fn open(root: &Path, registries: RegistryConfig) -> anyhow::Result<NodeRuntime> {
        let mut cfg = node_runtime::RuntimeConfig::new(root.join("run"));
        // In host mode the kubelet shares the host's cgroup tree; a separate top level keeps
        // node-os pods apart from anything else on the host.
        cfg.cgroup_root = "kubepods".into();
        let runtime = Runtime::new(cfg).context("opening the container runtime")?;
        let images = Arc::new(Store::open(root.join("images")).context("opening the image store")?);
        let records = Records::open(root.join("cri")).context("opening the CRI records")?;
        Ok(NodeRuntime {
            runtime,
            images,
            registries,
            network: std::sync::OnceLock::new(),
            records,
        })
    }

    /// Hands over the pod network once it exists, and releases addresses whose sandbox is
    /// gone (a crash between removing a sandbox and releasing its address).
    pub fn set_network(&self, net: Arc<PodNetwork>) -> anyhow::Result<()> {
        let live = self
            .records
            .sandboxes()?
            .into_iter()
            .filter(|s| s.ready)
            .map(|s| s.id)
            .collect();
        net.release_all_but(&live)?;
        let _ = self.network.set(net);
        Ok(())
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The directory where a sandbox's `/etc` files live.
    fn etc_dir(&self, sandbox_id: &str) -> PathBuf {
        self.records.sandbox_dir(sandbox_id)
    }

    fn local_image(&self, image: &str) -> Result<Option<ImageRecord>> {
        let r = Reference::parse(image).map_err(|e| RuntimeError::Pull {
            image: image.to_string(),
            message: e.to_string(),
        })?;
        self.images.get_image(&r).map_err(other)
    }

    /// The pod's network namespace and IP, for port-forwarding and probes.
    pub fn sandbox_netns(&self, sandbox_id: &str) -> Option<PathBuf> {
        self.runtime.sandbox(sandbox_id).ok()?.namespaces.net
    }

    /// The kubelet-side record of a container (pod, name, attempt, log path).
    pub fn container_record(&self, id: &str) -> Option<ContainerRecord> {
        self.records.container(id).ok().flatten()
    }

    pub fn sandbox_record(&self, id: &str) -> Option<SandboxRecord> {
        self.records.sandbox(id).ok().flatten()
    }

    /// Every sandbox record, including stopped ones.
    pub fn sandbox_records(&self) -> Vec<SandboxRecord> {
        self.records.sandboxes().unwrap_or_default()
    }

    /// Every container record.
    pub fn container_records(&self) -> Vec<ContainerRecord> {
        self.records.containers().unwrap_or_default()
    }
}

impl ContainerRuntime for NodeRuntime {
    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String> {
        let sc = node_runtime::SandboxConfig {
            pod_uid: config.uid.clone(),
            hostname: config.hostname.clone(),
            qos: qos(&config.qos_class),
            host_network: config.host_network,
            host_ipc: config.host_ipc,
            shm_size: None,
        };
        let id = self.runtime.run_pod_sandbox(sc).await.map_err(other)?;
        let mut ip = None;
        if !config.host_network {
            let net = self.network.get().cloned().ok_or_else(|| {
                other("this node has no pod network yet (its Node has no spec.podCIDR)")
            });
            let attached = match (net, self.sandbox_netns(&id)) {
                (Ok(net), Some(ns)) => {
                    let sid = id.clone();
                    blocking(move || net.attach(&sid, &ns)).await
                }
                (Err(e), _) => Err(e),
                (_, None) => Err(other("the sandbox has no network namespace")),
            };
            match attached {
                Ok(a) => ip = Some(a.to_string()),
                Err(e) => {
                    let _ = self.runtime.remove_pod_sandbox(&id).await;
                    return Err(e);
                }
            }
        }
        let dir = self.etc_dir(&id);
        let hosts = if config.host_network {
            std::fs::read_to_string("/etc/hosts").unwrap_or_default()
        } else {
            etc::hosts_file(ip.as_deref(), &config.hostname, None)
        };
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let resolv = match &config.dns {
            Some(d) => etc::resolv_conf(&d.servers, &d.searches, &d.options, &host_resolv),
            None => host_resolv,
        };
        let rec = SandboxRecord {
            id: id.clone(),
            config: config.clone(),
            ip,
            created_at: nanos(Timestamp::now()),
            ready: true,
        };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("hosts"), hosts)?;
            std::fs::write(dir.join("hostname"), format!("{}\n", config.hostname))?;
            std::fs::write(dir.join("resolv.conf"), resolv)?;
            self.records.put_sandbox(&rec)
        };
        if let Err(e) = write() {
            let _ = self.remove_pod_sandbox(&id).await;
            return Err(other(format!("writing the sandbox's files: {e}")));
        }
        Ok(id)
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        for c in self.records.containers().map_err(other)? {
            if c.sandbox_id == id {
                match self.runtime.stop_container(&c.id, Duration::ZERO).await {
                    Ok(()) | Err(node_runtime::Error::ContainerNotFound(_)) => {}
                    Err(e) => return Err(other(e)),
                }
            }
        }
        if let Some(net) = self.network.get().cloned() {
            let sid = id.to_string();
            blocking(move || net.detach(&sid)).await?;
        }
        if let Some(mut rec) = self.records.sandbox(id).map_err(other)? {
            rec.ready = false;
            self.records.put_sandbox(&rec).map_err(other)?;
        }
        Ok(())
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        self.stop_pod_sandbox(id).await?;
        for c in self.records.containers().map_err(other)? {
            if c.sandbox_id == id {
                self.remove_container(&c.id).await?;
            }
        }
        self.runtime.remove_pod_sandbox(id).await.map_err(other)?;
        self.records.remove_sandbox(id).map_err(other)
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<PodSandboxStatus> {
        let rec = self
            .records
            .sandbox(id)
            .map_err(other)?
            .ok_or_else(|| RuntimeError::NotFound(format!("sandbox {id}")))?;
        Ok(PodSandboxStatus {
            id: rec.id,
            ready: rec.ready,
            ip: rec.ip,
            created_at: rec.created_at,
        })
    }

    async fn list_pod_sandboxes(&self) -> Result<Vec<(PodSandboxConfig, PodSandboxStatus)>> {
        Ok(self
            .records
            .sandboxes()
            .map_err(other)?
            .into_iter()
            .map(|r| {
                let st = PodSandboxStatus {
                    id: r.id.clone(),
                    ready: r.ready,
                    ip: r.ip.clone(),
                    created_at: r.created_at,
                };
                (r.config, st)
            })
            .collect())
    }

    async fn pull_image(&self, image: &str) -> Result<ImageInfo> {
        let pull_err = |message: String| RuntimeError::Pull {
            image: image.to_string(),
            message,
        };
        let r = Reference::parse(image).map_err(|e| pull_err(e.to_string()))?;
        let pulled = node_image::pull_image(
            &self.images,
            &self.registries,
            &r,
            &node_image::PullOptions::default(),
        )
        .await
        .map_err(|e| pull_err(e.to_string()))?;
        Ok(image_info(&pulled.image))
    }

    async fn image_status(&self, image: &str) -> Result<Option<ImageInfo>> {
        Ok(self.local_image(image)?.as_ref().map(image_info))
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &api::ContainerConfig,
    ) -> Result<String> {
        let sandbox = self
            .records
            .sandbox(sandbox_id)
            .map_err(other)?
            .ok_or_else(|| RuntimeError::NotFound(format!("sandbox {sandbox_id}")))?;
        let image = self
            .local_image(&config.image)?
            .ok_or_else(|| RuntimeError::NotFound(format!("image {}", config.image)))?;
        let snaps = node_image::prepare_snapshots(&self.images, &image)
            .await
            .map_err(|e| RuntimeError::Start(format!("unpacking {}: {e}", config.image)))?;
        let lowerdirs = snaps.lowerdirs;
        let (uid, gid, groups) = match (&config.user, &image.config.user) {
            (Some(u), _) => u.clone(),
            (None, Some(u)) => {
                let passwd = read_image_file(&lowerdirs, "etc/passwd");
                let group = read_image_file(&lowerdirs, "etc/group");
                let (u, g) = etc::resolve_user(u, &passwd, &group).map_err(RuntimeError::Start)?;
                (u, g, Vec::new())
            }
            (None, None) => (0, 0, Vec::new()),
        };
        if let Some(dir) = config.log_path.parent() {
            std::fs::create_dir_all(dir).map_err(other)?;
        }
        let etc = self.etc_dir(sandbox_id);
        let mut rc = node_runtime::ContainerConfig::new(
            &config.name,
            lowerdirs,
            config.argv.clone(),
            config.log_path.clone(),
        );
        rc.env = merge_env(&image.config.env, &config.env);
        rc.cwd = if !config.working_dir.is_empty() {
            config.working_dir.clone()
        } else {
            image
                .config
                .working_dir
                .clone()
                .unwrap_or_else(|| "/".into())
        };
        rc.uid = uid;
        rc.gid = gid;
        rc.supplementary_groups = groups;
        rc.mounts = config
            .mounts
            .iter()
            .map(|m| BindMount {
                host_path: m.host_path.clone(),
                container_path: PathBuf::from(&m.container_path),
                readonly: m.readonly,
                propagation: match m.propagation.as_str() {
                    "HostToContainer" => Propagation::Slave,
                    "Bidirectional" => Propagation::Shared,
                    _ => Propagation::Private,
                },
            })
            .collect();
        let has_mount = |p: &str| config.mounts.iter().any(|m| m.container_path == p);
        rc.etc_hosts = (!has_mount("/etc/hosts")).then(|| etc.join("hosts"));
        rc.etc_hostname = (!has_mount("/etc/hostname")).then(|| etc.join("hostname"));
        rc.etc_resolv_conf = (!has_mount("/etc/resolv.conf")).then(|| etc.join("resolv.conf"));
        rc.resources = node_runtime::Resources {
            cpu_shares: Some(config.resources.cpu_shares),
            cpu_quota: config.resources.cpu_quota,
            cpu_period: Some(config.resources.cpu_period),
            memory_limit_bytes: config.resources.memory_limit_bytes,
            pids_limit: config.resources.pids_limit,
        };
        rc.readonly_rootfs = config.readonly_rootfs;
        // What `kubectl attach` and `kubectl run -it` need: a stdin to write to, a terminal.
        rc.stdin = config.stdin;
        rc.stdin_once = config.stdin_once;
        rc.tty = config.tty;
        rc.stop_signal = image.config.stop_signal.as_deref().and_then(signal_number);
        rc.labels = config.labels.clone();
        let id = self
            .runtime
            .create_container(sandbox_id, rc)
            .await
            .map_err(|e| RuntimeError::Start(e.to_string()))?;
        let rec = ContainerRecord {
            id: id.clone(),
            sandbox_id: sandbox_id.to_string(),
            pod_uid: sandbox.config.uid.clone(),
            name: config.name.clone(),
            attempt: config.attempt,
            image: config.image.clone(),
            image_ref: image.image_id(),
            log_path: config.log_path.clone(),
            labels: config.labels.clone(),
        };
        if let Err(e) = self.records.put_container(&rec) {
            let _ = self.runtime.remove_container(&id).await;
            return Err(other(e));
        }
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        self.runtime
            .start_container(id)
            .await
            .map_err(|e| RuntimeError::Start(e.to_string()))
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<()> {
        match self.runtime.stop_container(id, grace).await {
            Ok(()) | Err(node_runtime::Error::ContainerNotFound(_)) => Ok(()),
            Err(e) => Err(other(e)),
        }
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        self.runtime.remove_container(id).await.map_err(other)?;
        self.records.remove_container(id).map_err(other)
    }

    async fn container_status(&self, id: &str) -> Result<api::ContainerStatus> {
        let rec = self
            .records
            .container(id)
            .map_err(other)?
            .ok_or_else(|| RuntimeError::NotFound(format!("container {id}")))?;
        let st = match self.runtime.container_status(id) {
            Ok(s) => Some(s),
            Err(node_runtime::Error::ContainerNotFound(_)) => None,
            Err(e) => return Err(other(e)),
        };
        Ok(status_of(&rec, st))
    }

    async fn list_containers(&self) -> Result<Vec<api::ContainerStatus>> {
        self.statuses(self.records.containers().map_err(other)?)
    }

    async fn pod_sandboxes(&self, pod_uid: &str) -> Result<Vec<PodSandboxStatus>> {
        Ok(self
            .records
            .sandboxes()
            .map_err(other)?
            .into_iter()
            .filter(|r| r.config.uid == pod_uid)
            .map(|r| PodSandboxStatus {
                id: r.id,
                ready: r.ready,
                ip: r.ip,
                created_at: r.created_at,
            })
            .collect())
    }

    async fn pod_containers(&self, pod_uid: &str) -> Result<Vec<api::ContainerStatus>> {
        self.statuses(self.records.containers_of_pod(pod_uid))
    }

    async fn exec_sync(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<(i32, Vec<u8>)> {
        self.runtime
            .exec_sync(id, cmd, timeout)
            .await
            .map_err(other)
    }
}

/// The kubelet's view of one container from both records; a container the runtime no
/// longer knows (its state directory is gone) is `Unknown`, which the kubelet restarts.
fn status_of(
    rec: &ContainerRecord,
    st: Option<node_runtime::ContainerStatus>,
) -> api::ContainerStatus {
    let mut out = api::ContainerStatus {
        id: rec.id.clone(),
        sandbox_id: rec.sandbox_id.clone(),
        name: rec.name.clone(),
        attempt: rec.attempt,
        state: ContainerState::Unknown,
        created_at: 0,
        started_at: 0,
        finished_at: 0,
        exit_code: 0,
        reason: String::new(),
        message: String::new(),
        image: rec.image.clone(),
        image_ref: rec.image_ref.clone(),
        labels: rec.labels.clone(),
    };
    if let Some(s) = st {
        out.state = match s.state {
            node_runtime::ContainerState::Created => ContainerState::Created,
            node_runtime::ContainerState::Running => ContainerState::Running,
            node_runtime::ContainerState::Exited => ContainerState::Exited,
            node_runtime::ContainerState::Unknown => ContainerState::Unknown,
        };
        out.created_at = nanos(s.created_at);
        out.started_at = s.started_at.map_or(0, nanos);
        out.finished_at = s.finished_at.map_or(0, nanos);
        out.exit_code = s.exit_code.unwrap_or(0);
        out.reason = s.reason.unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_env_overrides_the_image_env_by_name() {
        let image = vec![
            ("PATH".to_string(), "/bin".to_string()),
            ("A".to_string(), "image".to_string()),
        ];
        let env = merge_env(&image, &["A=pod".to_string(), "B=1".to_string()]);
        assert_eq!(env, vec!["PATH=/bin", "A=pod", "B=1"]);
    }

    #[test]
    fn stop_signals_are_read_by_name_or_number() {
        assert_eq!(signal_number("SIGQUIT"), Some(libc::SIGQUIT));
        assert_eq!(signal_number("TERM"), Some(libc::SIGTERM));
        assert_eq!(signal_number("9"), Some(9));
        assert_eq!(signal_number("SIGNOPE"), None);
    }
}
