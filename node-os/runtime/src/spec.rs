//! OCI runtime spec generation: a typed [`ContainerConfig`] plus where its pod's namespaces
//! and cgroup are becomes the `config.json` libcontainer runs. Pure: no file is read, so
//! every decision here is tested without root.
//!
//! Defaults follow what containerd's CRI plugin gives a Kubernetes container: Docker's
//! default capability set, the usual `/proc`, `/dev`, `/sys` mounts with the kernel's
//! sensitive paths masked, the pod's network, IPC and UTS namespaces joined by path, and
//! private mount and PID namespaces.
//!
//! Seccomp is off for now: Kubernetes' default is `Unconfined` unless a pod asks for
//! `RuntimeDefault`, and a profile needs libseccomp (a C library) at build and run time,
//! which the node's one static executable does not carry. A BPF profile compiled in Rust can
//! fill `linux.seccomp` later without changing the callers.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use crate::cgroup::{cpu_max, cpu_shares_to_weight, CgroupMode};
use crate::config::{ContainerConfig, Propagation};

/// Docker's (and containerd's) default capabilities for a container.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Paths hidden from containers (bind-mounted over with `/dev/null` or an empty tmpfs), as
/// containerd's defaults hide them: they leak host information or allow host-wide actions.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths made read-only in containers, as containerd's defaults do.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Where the pod's shared namespaces are. `None` means the node's own (hostNetwork,
/// hostIPC): the namespace is then not listed, so the container stays in the runtime's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodNamespaces {
    pub net: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    /// The host directory mounted at `/dev/shm`: the pod's shared tmpfs, or the node's
    /// `/dev/shm` with hostIPC, so that POSIX shared memory follows the IPC namespace.
    pub shm: PathBuf,
}

/// Builds the OCI spec for `cfg` with its root at `rootfs` (the mounted overlay) and its
/// cgroup at `cgroup` (relative to the hierarchy roots).
pub fn generate(
    cfg: &ContainerConfig,
    rootfs: &Path,
    ns: &PodNamespaces,
    cgroup: &Path,
    mode: CgroupMode,
) -> Result<Spec, serde_json::Error> {
    let mut namespaces = vec![json!({"type": "pid"}), json!({"type": "mount"})];
    for (kind, path) in [("network", &ns.net), ("ipc", &ns.ipc), ("uts", &ns.uts)] {
        if let Some(path) = path {
            namespaces.push(json!({"type": kind, "path": path}));
        }
    }
    if mode == CgroupMode::V2 {
        // A private cgroup namespace, as Kubernetes gives containers on v2 hosts.
        namespaces.push(json!({"type": "cgroup"}));
    }

    let caps: Vec<&str> = DEFAULT_CAPABILITIES.to_vec();
    let process = json!({
        // With a terminal, libcontainer makes the pty inside the container and hands its
        // master to the shim over the console socket (see `helper::shim`).
        "terminal": cfg.tty,
        "user": {
            "uid": cfg.uid,
            "gid": cfg.gid,
            "additionalGids": cfg.supplementary_groups,
        },
        "args": cfg.args,
        "env": cfg.env,
        "cwd": if cfg.cwd.is_empty() { "/" } else { cfg.cwd.as_str() },
        "capabilities": {
            "bounding": caps,
            "effective": caps,
            "permitted": caps,
        },
        "noNewPrivileges": cfg.no_new_privileges,
    });

    serde_json::from_value(json!({
        "ociVersion": "1.0.2",
        "root": {"path": rootfs, "readonly": cfg.readonly_rootfs},
        "process": process,
        "mounts": mounts(cfg, ns),
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": cgroup,
            "resources": resources(cfg, mode),
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
            "rootfsPropagation": "slave",
        },
    }))
}

fn mounts(cfg: &ContainerConfig, ns: &PodNamespaces) -> Vec<Value> {
    let mut m = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "bind", "source": ns.shm, "options": ["rbind", "rprivate", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    ];
    for (dest, src) in [
        ("/etc/hosts", &cfg.etc_hosts),
        ("/etc/hostname", &cfg.etc_hostname),
        ("/etc/resolv.conf", &cfg.etc_resolv_conf),
    ] {
        if let Some(src) = src {
            let mut opts = vec!["rbind", "rprivate"];
            if cfg.readonly_rootfs {
                opts.push("ro");
            }
            m.push(json!({"destination": dest, "type": "bind", "source": src, "options": opts}));
        }
    }
    for b in &cfg.mounts {
        let mut opts = vec![
            "rbind",
            match b.propagation {
                Propagation::Private => "rprivate",
                Propagation::Slave => "rslave",
                Propagation::Shared => "rshared",
            },
        ];
        if b.readonly {
            opts.push("ro");
        }
        m.push(json!({"destination": b.container_path, "type": "bind", "source": b.host_path, "options": opts}));
    }
    m
}

fn resources(cfg: &ContainerConfig, mode: CgroupMode) -> Value {
    let r = &cfg.resources;
    let mut out = json!({
        // Deny every device, then libcgroups adds the standard allow list (null, zero, full,
        // tty, random, urandom, ptmx, pts) that libcontainer creates in /dev.
        "devices": [{"allow": false, "access": "rwm"}],
    });
    let mut memory = serde_json::Map::new();
    if let Some(limit) = r.memory_limit_bytes {
        memory.insert("limit".into(), json!(limit));
    }
    if !memory.is_empty() {
        out["memory"] = Value::Object(memory);
    }
    if let Some(pids) = r.pids_limit {
        out["pids"] = json!({"limit": pids});
    }
    match mode {
        CgroupMode::V1 => {
            let mut cpu = serde_json::Map::new();
            if let Some(shares) = r.cpu_shares {
                cpu.insert("shares".into(), json!(shares));
            }
            if let Some(q) = r.cpu_quota.filter(|q| *q > 0) {
                cpu.insert("quota".into(), json!(q));
                cpu.insert(
                    "period".into(),
                    json!(r.cpu_period.unwrap_or(crate::cgroup::DEFAULT_CPU_PERIOD)),
                );
            } else if let Some(p) = r.cpu_period {
                cpu.insert("period".into(), json!(p));
            }
            if !cpu.is_empty() {
                out["cpu"] = Value::Object(cpu);
            }
        }
        CgroupMode::V2 => {
            // Written as v2 files directly so the values are Kubernetes' (see
            // `cpu_shares_to_weight`), not libcgroups' own conversion.
            let mut unified = serde_json::Map::new();
            if let Some(shares) = r.cpu_shares {
                unified.insert(
                    "cpu.weight".into(),
                    json!(cpu_shares_to_weight(shares).to_string()),
                );
            }
            if r.cpu_quota.is_some() || r.cpu_period.is_some() {
                unified.insert("cpu.max".into(), json!(cpu_max(r.cpu_quota, r.cpu_period)));
            }
            if !unified.is_empty() {
                out["unified"] = Value::Object(unified);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BindMount, Resources};
    use oci_spec::runtime::{LinuxNamespaceType, Mount};

    fn pod_ns() -> PodNamespaces {
        PodNamespaces {
            net: Some("/run/r/sandboxes/s/net".into()),
            ipc: Some("/run/r/sandboxes/s/ipc".into()),
            uts: Some("/run/r/sandboxes/s/uts".into()),
            shm: "/run/r/sandboxes/s/shm".into(),
        }
    }

    fn cfg() -> ContainerConfig {
        let mut c = ContainerConfig::new(
            "app",
            vec![],
            vec!["/bin/sh".into(), "-c".into(), "echo hi".into()],
            "/l".into(),
        );
        c.uid = 1000;
        c.gid = 2000;
        c.supplementary_groups = vec![3000, 4000];
        c.cwd = "/work".into();
        c.env = vec!["A=b".into()];
        c.resources = Resources {
            cpu_shares: Some(1024),
            cpu_quota: Some(50_000),
            cpu_period: None,
            memory_limit_bytes: Some(64 << 20),
            pids_limit: Some(32),
        };
        c
    }

    fn find<'a>(spec: &'a Spec, dest: &str) -> &'a Mount {
        spec.mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new(dest))
            .unwrap_or_else(|| panic!("no mount at {dest}"))
    }

    #[test]
    fn process_fields_come_from_the_config() {
        let spec = generate(
            &cfg(),
            Path::new("/rootfs"),
            &pod_ns(),
            Path::new("/kubepods/podu/c"),
            CgroupMode::V1,
        )
        .unwrap();
        let p = spec.process().as_ref().unwrap();
        assert_eq!(
            p.args().as_ref().unwrap(),
            &vec!["/bin/sh".to_string(), "-c".into(), "echo hi".into()]
        );
        assert_eq!(p.env().as_ref().unwrap(), &vec!["A=b".to_string()]);
        assert_eq!(p.cwd(), Path::new("/work"));
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 2000));
        assert_eq!(
            p.user().additional_gids().as_ref().unwrap(),
            &vec![3000, 4000]
        );
        assert_eq!(p.no_new_privileges(), Some(false));
        let caps = p.capabilities().as_ref().unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 14);
        assert!(caps
            .effective()
            .as_ref()
            .unwrap()
            .contains(&oci_spec::runtime::Capability::NetBindService));
        assert!(!caps
            .bounding()
            .as_ref()
            .unwrap()
            .contains(&oci_spec::runtime::Capability::SysAdmin));
        assert!(caps.inheritable().is_none() && caps.ambient().is_none());
        assert_eq!(spec.root().as_ref().unwrap().path(), Path::new("/rootfs"));
        assert_eq!(p.terminal(), Some(false));
    }

    #[test]
    fn a_tty_container_asks_for_a_terminal() {
        let mut c = cfg();
        c.tty = true;
        let spec = generate(
            &c,
            Path::new("/rootfs"),
            &pod_ns(),
            Path::new("/kubepods/podu/c"),
            CgroupMode::V1,
        )
        .unwrap();
        assert_eq!(spec.process().as_ref().unwrap().terminal(), Some(true));
    }

    #[test]
    fn pod_namespaces_are_joined_by_path_and_mount_pid_are_private() {
        let spec = generate(
            &cfg(),
            Path::new("/r"),
            &pod_ns(),
            Path::new("/c"),
            CgroupMode::V1,
        )
        .unwrap();
        let linux = spec.linux().as_ref().unwrap();
        let ns = linux.namespaces().as_ref().unwrap();
        let path_of =
            |t: LinuxNamespaceType| ns.iter().find(|n| n.typ() == t).map(|n| n.path().clone());
        assert_eq!(
            path_of(LinuxNamespaceType::Network),
            Some(Some("/run/r/sandboxes/s/net".into()))
        );
        assert_eq!(
            path_of(LinuxNamespaceType::Ipc),
            Some(Some("/run/r/sandboxes/s/ipc".into()))
        );
        assert_eq!(
            path_of(LinuxNamespaceType::Uts),
            Some(Some("/run/r/sandboxes/s/uts".into()))
        );
        assert_eq!(path_of(LinuxNamespaceType::Pid), Some(None));
        assert_eq!(path_of(LinuxNamespaceType::Mount), Some(None));
        assert_eq!(path_of(LinuxNamespaceType::Cgroup), None);
        assert_eq!(linux.cgroups_path().as_deref(), Some(Path::new("/c")));

        let host = PodNamespaces {
            net: None,
            ipc: None,
            uts: None,
            shm: "/dev/shm".into(),
        };
        let spec = generate(
            &cfg(),
            Path::new("/r"),
            &host,
            Path::new("/c"),
            CgroupMode::V2,
        )
        .unwrap();
        let ns = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        let kinds: Vec<_> = ns.iter().map(|n| n.typ()).collect();
        assert_eq!(
            kinds,
            vec![
                LinuxNamespaceType::Pid,
                LinuxNamespaceType::Mount,
                LinuxNamespaceType::Cgroup
            ]
        );
        assert_eq!(
            find(&spec, "/dev/shm").source().as_deref(),
            Some(Path::new("/dev/shm"))
        );
    }

    #[test]
    fn standard_and_volume_mounts_are_present() {
        let mut c = cfg();
        c.etc_hosts = Some("/pod/hosts".into());
        c.etc_resolv_conf = Some("/pod/resolv.conf".into());
        c.mounts.push(BindMount {
            host_path: "/data".into(),
            container_path: "/var/data".into(),
            readonly: true,
            propagation: Propagation::Slave,
        });
        let spec = generate(
            &c,
            Path::new("/r"),
            &pod_ns(),
            Path::new("/c"),
            CgroupMode::V1,
        )
        .unwrap();
        assert_eq!(find(&spec, "/proc").typ().as_deref(), Some("proc"));
        assert_eq!(find(&spec, "/dev").typ().as_deref(), Some("tmpfs"));
        assert_eq!(find(&spec, "/dev/pts").typ().as_deref(), Some("devpts"));
        assert_eq!(
            find(&spec, "/dev/shm").source().as_deref(),
            Some(Path::new("/run/r/sandboxes/s/shm"))
        );
        assert!(find(&spec, "/sys")
            .options()
            .as_ref()
            .unwrap()
            .contains(&"ro".to_string()));
        assert_eq!(
            find(&spec, "/etc/hosts").source().as_deref(),
            Some(Path::new("/pod/hosts"))
        );
        assert_eq!(
            find(&spec, "/etc/resolv.conf").source().as_deref(),
            Some(Path::new("/pod/resolv.conf"))
        );
        assert!(spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .all(|m| m.destination() != Path::new("/etc/hostname")));
        let vol = find(&spec, "/var/data");
        assert_eq!(vol.source().as_deref(), Some(Path::new("/data")));
        assert_eq!(
            vol.options().as_ref().unwrap(),
            &vec!["rbind".to_string(), "rslave".into(), "ro".into()]
        );
        let linux = spec.linux().as_ref().unwrap();
        assert!(linux
            .masked_paths()
            .as_ref()
            .unwrap()
            .contains(&"/proc/kcore".to_string()));
        assert!(linux
            .readonly_paths()
            .as_ref()
            .unwrap()
            .contains(&"/proc/sys".to_string()));
    }

    #[test]
    fn resources_use_v1_values_on_v1_and_kubernetes_weights_on_v2() {
        let spec = generate(
            &cfg(),
            Path::new("/r"),
            &pod_ns(),
            Path::new("/c"),
            CgroupMode::V1,
        )
        .unwrap();
        let r = spec.linux().as_ref().unwrap().resources().clone().unwrap();
        let cpu = r.cpu().clone().unwrap();
        assert_eq!(
            (cpu.shares(), cpu.quota(), cpu.period()),
            (Some(1024), Some(50_000), Some(100_000))
        );
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(64 << 20));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 32);
        assert!(r.unified().is_none());
        let dev = &r.devices().as_ref().unwrap()[0];
        assert!(!dev.allow());

        let spec = generate(
            &cfg(),
            Path::new("/r"),
            &pod_ns(),
            Path::new("/c"),
            CgroupMode::V2,
        )
        .unwrap();
        let r = spec.linux().as_ref().unwrap().resources().clone().unwrap();
        assert!(r.cpu().is_none());
        let unified = r.unified().clone().unwrap();
        assert_eq!(unified.get("cpu.weight").map(String::as_str), Some("39"));
        assert_eq!(
            unified.get("cpu.max").map(String::as_str),
            Some("50000 100000")
        );
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(64 << 20));

        let mut unlimited = cfg();
        unlimited.resources = Resources::default();
        let spec = generate(
            &unlimited,
            Path::new("/r"),
            &pod_ns(),
            Path::new("/c"),
            CgroupMode::V1,
        )
        .unwrap();
        let r = spec.linux().as_ref().unwrap().resources().clone().unwrap();
        assert!(r.cpu().is_none() && r.memory().is_none() && r.pids().is_none());
    }
}
