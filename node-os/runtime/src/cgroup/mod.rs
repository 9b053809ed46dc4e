//! Cgroups: which hierarchy this host runs (v1, hybrid or v2), where a pod's and a
//! container's cgroups live (the kubelet's cgroupfs layout), and how CRI's v1-unit resource
//! values map onto cgroup v2 files. The mapping and layout are pure; [`pod`] does the IO for
//! pod cgroups, libcontainer does it for containers.

pub mod pod;

use std::path::{Path, PathBuf};

use crate::config::QosClass;

/// Where cgroup filesystems are mounted on Linux.
pub const CGROUP_MOUNT: &str = "/sys/fs/cgroup";

/// Which cgroup API the container cgroups use. Hybrid hosts (v1 controllers plus an empty v2
/// tree at `/sys/fs/cgroup/unified`) count as v1, as runc and libcgroups treat them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CgroupMode {
    V1,
    V2,
}

/// Reads which cgroup API the host mounts at `/sys/fs/cgroup`.
pub fn detect_mode() -> std::io::Result<CgroupMode> {
    let st = rustix::fs::statfs(CGROUP_MOUNT)?;
    // CGROUP2_SUPER_MAGIC from linux/magic.h.
    if st.f_type as u64 == 0x6367_7270 {
        Ok(CgroupMode::V2)
    } else {
        Ok(CgroupMode::V1)
    }
}

/// The pod cgroup, relative to each hierarchy's root, as the kubelet's cgroupfs driver lays it
/// out: Guaranteed pods sit directly under the root, the other classes under a QoS level.
pub fn pod_cgroup_path(root: &str, qos: QosClass, pod_uid: &str) -> PathBuf {
    let mut p = PathBuf::from("/");
    p.push(root.trim_matches('/'));
    match qos {
        QosClass::Guaranteed => {}
        QosClass::Burstable => p.push("burstable"),
        QosClass::BestEffort => p.push("besteffort"),
    }
    // The kubelet escapes nothing here: pod UIDs are UUIDs. Dashes stay (cgroupfs driver).
    p.push(format!("pod{pod_uid}"));
    p
}

/// A container's cgroup: a leaf named by the container ID under its pod cgroup.
pub fn container_cgroup_path(pod_cgroup: &Path, container_id: &str) -> PathBuf {
    pod_cgroup.join(container_id)
}

/// Where the kernel counts OOM kills for a cgroup: v1 keeps `oom_kill N` in
/// `memory.oom_control`, v2 in `memory.events`.
pub fn oom_counter_file(mode: CgroupMode, cgroup: &Path) -> PathBuf {
    let rel = cgroup.strip_prefix("/").unwrap_or(cgroup);
    match mode {
        CgroupMode::V1 => Path::new(CGROUP_MOUNT)
            .join("memory")
            .join(rel)
            .join("memory.oom_control"),
        CgroupMode::V2 => Path::new(CGROUP_MOUNT).join(rel).join("memory.events"),
    }
}

/// Parses the `oom_kill` count out of `memory.oom_control` or `memory.events`.
pub fn parse_oom_kills(contents: &str) -> u64 {
    contents
        .lines()
        .filter_map(|l| l.strip_prefix("oom_kill "))
        .filter_map(|v| v.trim().parse().ok())
        .next()
        .unwrap_or(0)
}

/// Kubernetes' lower and upper bounds for `cpu.shares`.
pub const MIN_SHARES: u64 = 2;
pub const MAX_SHARES: u64 = 262_144;
/// The CFS period Kubernetes uses unless told otherwise, microseconds.
pub const DEFAULT_CPU_PERIOD: u64 = 100_000;
/// The smallest CFS quota the kernel accepts, microseconds.
pub const MIN_QUOTA: i64 = 1_000;

/// CPU request in millicores to `cpu.shares`, as the kubelet computes it
/// (`MilliCPUToShares`): 1024 shares per core, clamped to the kernel's range.
pub fn milli_cpu_to_shares(milli: u64) -> u64 {
    if milli == 0 {
        return MIN_SHARES;
    }
    (milli * 1024 / 1000).clamp(MIN_SHARES, MAX_SHARES)
}

/// CPU limit in millicores to a CFS quota for `period` (`MilliCPUToQuota`); `None` for no
/// limit.
pub fn milli_cpu_to_quota(milli: u64, period: u64) -> Option<i64> {
    if milli == 0 {
        return None;
    }
    Some(((milli * period / 1000) as i64).max(MIN_QUOTA))
}

/// `cpu.shares` to cgroup v2 `cpu.weight` the way Kubernetes 1.32 converts it
/// (`CpuSharesToCpuWeight`, linear from [2, 262144] onto [1, 10000]). libcgroups now uses
/// runc 1.3's quadratic fit instead, so the spec writes `cpu.weight` itself on v2 hosts to
/// keep the values the kubelet and `kubectl describe node` reason about.
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(MIN_SHARES, MAX_SHARES);
    1 + ((shares - 2) * 9999) / 262_142
}

/// The v2 `cpu.max` line for a quota and period (`max <period>` when unlimited).
pub fn cpu_max(quota: Option<i64>, period: Option<u64>) -> String {
    let period = period.unwrap_or(DEFAULT_CPU_PERIOD);
    match quota {
        Some(q) if q > 0 => format!("{q} {period}"),
        _ => format!("max {period}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_map_to_weight_as_kubernetes_does() {
        assert_eq!(cpu_shares_to_weight(2), 1);
        assert_eq!(cpu_shares_to_weight(262_144), 10_000);
        // One core (1024 shares) is weight 39 in Kubernetes' linear mapping, not v2's default 100.
        assert_eq!(cpu_shares_to_weight(1024), 39);
        assert_eq!(cpu_shares_to_weight(102), 4);
        // Out-of-range shares are clamped first.
        assert_eq!(cpu_shares_to_weight(0), 1);
        assert_eq!(cpu_shares_to_weight(1_000_000), 10_000);
    }

    #[test]
    fn millicores_become_shares_and_quota() {
        assert_eq!(milli_cpu_to_shares(0), 2);
        assert_eq!(milli_cpu_to_shares(1), 2);
        assert_eq!(milli_cpu_to_shares(100), 102);
        assert_eq!(milli_cpu_to_shares(1000), 1024);
        assert_eq!(milli_cpu_to_quota(0, 100_000), None);
        assert_eq!(milli_cpu_to_quota(250, 100_000), Some(25_000));
        assert_eq!(milli_cpu_to_quota(5, 100_000), Some(1_000));
        assert_eq!(cpu_max(Some(25_000), None), "25000 100000");
        assert_eq!(cpu_max(None, Some(50_000)), "max 50000");
    }

    #[test]
    fn pod_cgroups_follow_the_kubelet_layout() {
        assert_eq!(
            pod_cgroup_path("kubepods", QosClass::Guaranteed, "u1"),
            PathBuf::from("/kubepods/podu1")
        );
        assert_eq!(
            pod_cgroup_path("/kubepods/", QosClass::Burstable, "u1"),
            PathBuf::from("/kubepods/burstable/podu1")
        );
        assert_eq!(
            container_cgroup_path(
                &pod_cgroup_path("kubepods", QosClass::BestEffort, "u1"),
                "c1"
            ),
            PathBuf::from("/kubepods/besteffort/podu1/c1")
        );
    }

    #[test]
    fn oom_kill_counts_are_read_from_both_layouts() {
        assert_eq!(
            parse_oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"),
            3
        );
        assert_eq!(
            parse_oom_kills("low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n"),
            1
        );
        assert_eq!(parse_oom_kills("oom_kill_disable 0\n"), 0);
        assert_eq!(
            oom_counter_file(CgroupMode::V1, Path::new("/kubepods/pod1/c")),
            PathBuf::from("/sys/fs/cgroup/memory/kubepods/pod1/c/memory.oom_control")
        );
        assert_eq!(
            oom_counter_file(CgroupMode::V2, Path::new("/kubepods/pod1/c")),
            PathBuf::from("/sys/fs/cgroup/kubepods/pod1/c/memory.events")
        );
    }
}
