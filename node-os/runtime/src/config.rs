//! The typed inputs of the runtime: what the kubelet says about a pod sandbox and a container,
//! in CRI's vocabulary. Everything here is plain data; the runtime derives OCI specs, cgroup
//! paths and mounts from it with pure functions.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the runtime keeps its state and which executable it re-executes as its helper.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// State, bundles, sandbox namespace files and container root mounts (`/run/...` on a
    /// node). Everything needed to find containers again after a restart lives here.
    pub run_dir: PathBuf,
    /// The executable re-executed in helper mode (see [`crate::helper`]). On the node this is
    /// `/proc/self/exe`; tests point it at their own small binary.
    pub helper_exe: PathBuf,
    /// Top-level cgroup under which pods are placed (`kubepods`, as the kubelet's cgroupfs
    /// driver names it).
    pub cgroup_root: String,
    /// Rotation limits for container logs (`--container-log-max-size`/`-max-files`).
    pub log_rotation: crate::log::RotationPolicy,
}

impl RuntimeConfig {
    /// The node's defaults: re-execute the running binary, `kubepods`, 10 MiB x 5 logs.
    pub fn new(run_dir: impl Into<PathBuf>) -> Self {
        RuntimeConfig {
            run_dir: run_dir.into(),
            helper_exe: PathBuf::from("/proc/self/exe"),
            cgroup_root: "kubepods".to_string(),
            log_rotation: crate::log::RotationPolicy::default(),
        }
    }
}

/// A pod's quality-of-service class; it decides where the pod cgroup sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

/// What a pod sandbox is made of.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SandboxConfig {
    /// Pod UID: names the pod cgroup (`pod<uid>`).
    pub pod_uid: String,
    /// Hostname set inside the pod's UTS namespace (ignored with `host_network`, where the
    /// pod keeps the node's, as Kubernetes does).
    pub hostname: String,
    pub qos: QosClass,
    /// `hostNetwork`: the pod uses the node's network and UTS namespaces.
    pub host_network: bool,
    /// `hostIPC`: the pod uses the node's IPC namespace and `/dev/shm`.
    pub host_ipc: bool,
    /// Size of the pod's shared `/dev/shm` tmpfs, bytes (64 MiB when `None`, as Docker and
    /// containerd default).
    pub shm_size: Option<u64>,
}

/// How a host path is shared into a container (CRI's `MountPropagation`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Propagation {
    #[default]
    Private,
    /// `HostToContainer`
    Slave,
    /// `Bidirectional`
    Shared,
}

/// A volume: a host path bind-mounted into the container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindMount {
    pub host_path: PathBuf,
    pub container_path: PathBuf,
    pub readonly: bool,
    pub propagation: Propagation,
}

/// CRI's `LinuxContainerResources`, the subset the runtime applies. Values are in cgroup v1
/// units, as the kubelet computes them; [`crate::cgroup`] maps them to v2.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// `cpu.shares` (2..=262144); see [`crate::cgroup::milli_cpu_to_shares`].
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds per period; `None` means unlimited.
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds (100000 when a quota is given without one).
    pub cpu_period: Option<u64>,
    pub memory_limit_bytes: Option<i64>,
    pub pids_limit: Option<i64>,
}

/// Everything needed to create one container.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// Container name inside the pod (CRI metadata name); used for the cgroup leaf only via
    /// the container ID the runtime allocates.
    pub name: String,
    /// Read-only layers, top-most first: `node_image::Snapshots::lowerdirs`.
    pub lowerdirs: Vec<PathBuf>,
    /// Full argv (image entrypoint + cmd already resolved by the kubelet).
    pub args: Vec<String>,
    /// `KEY=value` pairs.
    pub env: Vec<String>,
    /// Working directory inside the container (`/` when empty).
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub supplementary_groups: Vec<u32>,
    pub mounts: Vec<BindMount>,
    /// Files the kubelet writes per pod and the runtime bind-mounts at `/etc/hosts`,
    /// `/etc/hostname` and `/etc/resolv.conf`.
    pub etc_hosts: Option<PathBuf>,
    pub etc_hostname: Option<PathBuf>,
    pub etc_resolv_conf: Option<PathBuf>,
    pub resources: Resources,
    /// `securityContext.allowPrivilegeEscalation: false` sets this.
    pub no_new_privileges: bool,
    pub readonly_rootfs: bool,
    /// Signal sent first when stopping (the image's `StopSignal`; SIGTERM when `None`).
    pub stop_signal: Option<i32>,
    /// CRI log path (`/var/log/pods/<ns>_<name>_<uid>/<container>/<restart>.log`).
    pub log_path: PathBuf,
    pub labels: BTreeMap<String, String>,
    /// `stdin: true`: the container reads a stdin that attach sessions
    /// ([`crate::Runtime::attach_stdin`]) write into; without it, stdin is `/dev/null`.
    #[serde(default)]
    pub stdin: bool,
    /// `stdinOnce`: the container sees end-of-file on stdin when the first attach session
    /// closes, instead of stdin staying open for the next one.
    #[serde(default)]
    pub stdin_once: bool,
    /// `tty`: the container's stdio is a terminal; its output is logged as stdout.
    #[serde(default)]
    pub tty: bool,
}

impl ContainerConfig {
    /// A config with only the essentials set; the rest are Kubernetes' defaults.
    pub fn new(
        name: impl Into<String>,
        lowerdirs: Vec<PathBuf>,
        args: Vec<String>,
        log_path: PathBuf,
    ) -> Self {
        ContainerConfig {
            name: name.into(),
            lowerdirs,
            args,
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            ],
            cwd: "/".to_string(),
            uid: 0,
            gid: 0,
            supplementary_groups: Vec::new(),
            mounts: Vec::new(),
            etc_hosts: None,
            etc_hostname: None,
            etc_resolv_conf: None,
            resources: Resources::default(),
            no_new_privileges: false,
            readonly_rootfs: false,
            stop_signal: None,
            log_path,
            labels: BTreeMap::new(),
            stdin: false,
            stdin_once: false,
            tty: false,
        }
    }
}
