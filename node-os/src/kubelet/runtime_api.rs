//! The kubelet's view of the container runtime: a CRI-shaped trait (RuntimeService and
//! ImageService of `k8s.io/cri-api`, cut to what this kubelet uses) so the pod worker decides
//! and the runtime crate (`node-os/runtime`, youki's libcontainer over overlayfs snapshots from
//! `node-image`) does. The kubelet never assumes how a container is made; it relies only on
//! the contracts written on each method.
//!
//! Ids are opaque strings chosen by the runtime. Every method is idempotent where the CRI's is
//! (stopping a stopped container, removing a removed one succeed), because the kubelet retries
//! after crashes and restarts and reconciles from [`ContainerRuntime::list_containers`].

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

/// Labels the kubelet puts on sandboxes and containers to find them again after a restart.
pub const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";
pub const LABEL_CONTAINER_NAME: &str = "io.kubernetes.container.name";

#[derive(Debug, Error)]
pub enum RuntimeError {
    /// The id or image is unknown (already removed, never pulled).
    #[error("not found: {0}")]
    NotFound(String),
    /// Pulling failed; the message becomes the `ErrImagePull` message.
    #[error("pulling {image}: {message}")]
    Pull { image: String, message: String },
    /// The container could not be created or started from its config (bad working dir, no
    /// such executable); the message becomes `RunContainerError`'s.
    #[error("{0}")]
    Start(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type Result<T> = std::result::Result<T, RuntimeError>;

/// Identifies a pod to the runtime (CRI `PodSandboxMetadata`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PodSandboxConfig {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    /// Restarts of the sandbox for the same pod uid.
    pub attempt: u32,
    pub hostname: String,
    /// Where the pod's container logs go (`<root>/pods/<uid>/logs` style).
    pub log_directory: PathBuf,
    /// Share the host's network namespace (`hostNetwork: true`).
    pub host_network: bool,
    pub host_pid: bool,
    pub host_ipc: bool,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The pod-level cgroup's limits, the sum of its containers' (or None: unbounded, for
    /// BestEffort pods).
    pub cgroup_parent: Option<String>,
    pub dns: Option<DnsConfig>,
    pub port_mappings: Vec<PortMapping>,
    /// The pod's QoS class (`Guaranteed`, `Burstable`, `BestEffort`): where its cgroup sits.
    pub qos_class: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DnsConfig {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortMapping {
    pub protocol: String,
    pub container_port: u16,
    pub host_port: u16,
    pub host_ip: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSandboxStatus {
    pub id: String,
    pub ready: bool,
    /// The pod's address in the pod network (None with host network: the node's).
    pub ip: Option<String>,
    /// Unix nanoseconds.
    pub created_at: i64,
}

/// One bind or tmpfs mount of a container (CRI `Mount`), already materialized by the kubelet:
/// the runtime bind-mounts `host_path` and does not interpret volumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub container_path: String,
    pub host_path: PathBuf,
    pub readonly: bool,
    /// `None`, `HostToContainer` or `Bidirectional` (mountPropagation).
    pub propagation: String,
}

/// Linux resources (CRI `LinuxContainerResources`), computed by the kubelet as
/// kuberuntime does: shares from requests (milli * 1024 / 1000, at least 2), quota from limits
/// over a 100 ms period. Runtimes map them to cgroup v1 (`cpu.shares`, `cpu.cfs_quota_us`,
/// `memory.limit_in_bytes`, `pids.max`) or v2 (`cpu.weight`, `cpu.max`, `memory.max`,
/// `pids.max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    pub cpu_shares: u64,
    /// Microseconds per period, None: unlimited.
    pub cpu_quota: Option<i64>,
    pub cpu_period: u64,
    pub memory_limit_bytes: Option<i64>,
    pub pids_limit: Option<i64>,
    /// OOM score adjustment from the pod's QoS class.
    pub oom_score_adj: i32,
}

/// What to create (CRI `ContainerConfig`). Everything is resolved: env expanded, argv built
/// from command/args and the image's entrypoint/cmd, volumes materialized as mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    pub name: String,
    /// Restarts of this container in this pod, 0 first.
    pub attempt: u32,
    /// The image reference as pulled (the runtime resolves it to the unpacked snapshot).
    pub image: String,
    pub argv: Vec<String>,
    /// `KEY=value`.
    pub env: Vec<String>,
    /// Empty: the image's working directory.
    pub working_dir: String,
    /// uid, gid and supplementary groups; None: the image's user.
    pub user: Option<(u32, u32, Vec<u32>)>,
    pub mounts: Vec<Mount>,
    pub resources: Resources,
    /// Where the container's stdout/stderr are written in the CRI log format.
    pub log_path: PathBuf,
    pub tty: bool,
    pub stdin: bool,
    pub stdin_once: bool,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Exited,
    Unknown,
}

/// CRI `ContainerStatus`, as much as pod status needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    pub id: String,
    pub sandbox_id: String,
    pub name: String,
    pub attempt: u32,
    pub state: ContainerState,
    /// Unix nanoseconds; 0 when not yet.
    pub created_at: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub exit_code: i32,
    /// `OOMKilled`, `Error`, `Completed`, or empty.
    pub reason: String,
    pub message: String,
    pub image: String,
    /// The image's digest reference (`docker.io/library/busybox@sha256:...`).
    pub image_ref: String,
    pub labels: BTreeMap<String, String>,
}

/// What an image offers the kubelet when it builds argv (CRI `ImageSpec` + config).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageInfo {
    pub id: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub env: Vec<String>,
}

/// The runtime as the kubelet drives it. Implementations must be safe to call concurrently
/// for different pods; the kubelet serializes calls per pod.
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Creates and starts the pod's sandbox: namespaces (network, IPC, UTS; PID when not shared
    /// with the host), the pod cgroup, and the network attachment. Returns its id. Called again
    /// for the same pod only after the previous sandbox was stopped (with `attempt` + 1).
    fn run_pod_sandbox(
        &self,
        config: &PodSandboxConfig,
    ) -> impl Future<Output = Result<String>> + Send;

    /// Stops every container of the sandbox (SIGKILL, no grace: the kubelet has already
    /// stopped them gracefully) and releases its network. Idempotent.
    fn stop_pod_sandbox(&self, id: &str) -> impl Future<Output = Result<()>> + Send;

    /// Removes a stopped sandbox and whatever of its containers remain. Idempotent.
    fn remove_pod_sandbox(&self, id: &str) -> impl Future<Output = Result<()>> + Send;

    fn pod_sandbox_status(&self, id: &str)
        -> impl Future<Output = Result<PodSandboxStatus>> + Send;

    /// Sandboxes this runtime knows of, with the uid of their pod, for reconciliation after a
    /// kubelet restart.
    fn list_pod_sandboxes(
        &self,
    ) -> impl Future<Output = Result<Vec<(PodSandboxConfig, PodSandboxStatus)>>> + Send;

    /// Makes `image` available locally and returns its info. The kubelet calls it according to
    /// imagePullPolicy: `Always` always, `IfNotPresent` only when [`Self::image_status`] says
    /// absent, `Never` not at all. Credentials are the runtime's (registry config).
    fn pull_image(&self, image: &str) -> impl Future<Output = Result<ImageInfo>> + Send;

    /// The local image, or None when it has not been pulled.
    fn image_status(&self, image: &str) -> impl Future<Output = Result<Option<ImageInfo>>> + Send;

    /// Creates (does not start) a container in the sandbox from a fully resolved config and
    /// returns its id. The root filesystem is an overlay of the image's layers with a fresh
    /// upper directory per container instance.
    fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
    ) -> impl Future<Output = Result<String>> + Send;

    /// Starts a created container; returns once its process has been executed (a missing
    /// executable is a [`RuntimeError::Start`], not a later exit).
    fn start_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;

    /// Sends SIGTERM (or the image's StopSignal), waits up to `grace` for the process to
    /// exit, then SIGKILLs it; returns once it has exited. A zero grace kills at once. The
    /// kubelet has already run the preStop hook within the same grace period.
    fn stop_container(&self, id: &str, grace: Duration) -> impl Future<Output = Result<()>> + Send;

    /// Removes an exited container, its upper directory and its log. Idempotent.
    fn remove_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;

    fn container_status(&self, id: &str) -> impl Future<Output = Result<ContainerStatus>> + Send;

    /// All containers (of every sandbox), including exited ones not yet removed.
    fn list_containers(&self) -> impl Future<Output = Result<Vec<ContainerStatus>>> + Send;

    /// The sandboxes of one pod (at most one live, older stopped ones until removed). A
    /// runtime that can answer this without listing everything should: each pod worker asks
    /// every second.
    fn pod_sandboxes(
        &self,
        pod_uid: &str,
    ) -> impl Future<Output = Result<Vec<PodSandboxStatus>>> + Send {
        async move {
            Ok(self
                .list_pod_sandboxes()
                .await?
                .into_iter()
                .filter(|(c, _)| c.uid == pod_uid)
                .map(|(_, s)| s)
                .collect())
        }
    }

    /// The containers of one pod, including exited ones not yet removed.
    fn pod_containers(
        &self,
        pod_uid: &str,
    ) -> impl Future<Output = Result<Vec<ContainerStatus>>> + Send {
        async move {
            Ok(self
                .list_containers()
                .await?
                .into_iter()
                .filter(|c| c.labels.get(LABEL_POD_UID).map(String::as_str) == Some(pod_uid))
                .collect())
        }
    }

    /// Runs `cmd` in the container (exec probes, exec hooks), killing it after `timeout`.
    /// Returns the exit code and combined output (the kubelet keeps the first 10 KiB).
    fn exec_sync(
        &self,
        id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> impl Future<Output = Result<(i32, Vec<u8>)>> + Send;
}

/// CPU shares from a request in millicores (kuberuntime's `MilliCPUToShares`): at least 2,
/// and 2 for no request, so a BestEffort container gets the smallest weight.
pub fn milli_cpu_to_shares(milli: i128) -> u64 {
    if milli <= 0 {
        return 2;
    }
    ((milli * 1024) / 1000).max(2) as u64
}

/// CFS quota from a limit in millicores over `period` microseconds (`MilliCPUToQuota`): at
/// least 1000 µs, None without a limit.
pub fn milli_cpu_to_quota(milli: i128, period: u64) -> Option<i64> {
    if milli <= 0 {
        return None;
    }
    Some(((milli * period as i128) / 1000).max(1000) as i64)
}

/// The default CFS period, 100 ms.
pub const CPU_PERIOD_US: u64 = 100_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_requests_and_limits_map_to_cgroup_values_as_kuberuntime_does() {
        assert_eq!(milli_cpu_to_shares(0), 2);
        assert_eq!(milli_cpu_to_shares(1), 2);
        assert_eq!(milli_cpu_to_shares(250), 256);
        assert_eq!(milli_cpu_to_shares(1000), 1024);
        assert_eq!(milli_cpu_to_quota(0, CPU_PERIOD_US), None);
        assert_eq!(milli_cpu_to_quota(500, CPU_PERIOD_US), Some(50_000));
        assert_eq!(milli_cpu_to_quota(2000, CPU_PERIOD_US), Some(200_000));
        assert_eq!(milli_cpu_to_quota(5, CPU_PERIOD_US), Some(1000));
    }
}
