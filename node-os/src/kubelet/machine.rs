//! What the kubelet learns about the machine it runs on, as cAdvisor tells the real kubelet:
//! CPUs, memory, the filesystem of the data directory, PIDs, and the identity fields of
//! `nodeInfo`. The readers are thin; the parsers are pure so they are tested on sample text.

use std::path::Path;

use anyhow::{Context, Result};

/// The machine's fixed facts, read once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineInfo {
    /// CPUs this process may run on (sched_getaffinity, as `nproc` counts them).
    pub cpus: u32,
    /// `MemTotal` of /proc/meminfo, in bytes.
    pub memory_bytes: u64,
    pub kernel_version: String,
    pub os_image: String,
    pub machine_id: String,
    pub boot_id: String,
    pub system_uuid: String,
    /// GOARCH spelling (`amd64`, `arm64`), as node labels and nodeInfo use it.
    pub architecture: String,
}

/// Readings that change and feed the pressure conditions, taken on every status tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Observations {
    pub memory_total_bytes: u64,
    /// `MemAvailable` of /proc/meminfo: the kernel's own estimate of what can be allocated
    /// without swapping, our stand-in for cAdvisor's capacity minus root working set.
    pub memory_available_bytes: u64,
    pub fs_capacity_bytes: u64,
    pub fs_available_bytes: u64,
    pub fs_inodes: u64,
    pub fs_inodes_free: u64,
    /// The smaller of kernel.pid_max and kernel.threads-max.
    pub pid_max: u64,
    /// Tasks in existence (the total of /proc/loadavg's running/total field).
    pub pids_in_use: u64,
}

/// Maps Rust's architecture names to Kubernetes' (GOARCH).
pub fn goarch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        other => other,
    }
}

/// A field of /proc/meminfo in bytes (the file says kB, meaning KiB).
pub fn meminfo_bytes(meminfo: &str, field: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        let mut it = rest.split_whitespace();
        let n: u64 = it.next()?.parse().ok()?;
        match it.next() {
            Some("kB") => Some(n * 1024),
            None => Some(n),
            Some(_) => None,
        }
    })
}

/// `PRETTY_NAME` of an os-release file, unquoted.
pub fn os_release_pretty_name(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.trim().strip_prefix("PRETTY_NAME=")?;
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        Some(v.replace("\\\"", "\"")).filter(|v| !v.is_empty())
    })
}

/// The total task count of /proc/loadavg (`0.00 0.01 0.05 1/234 5678`).
pub fn loadavg_tasks(text: &str) -> Option<u64> {
    text.split_whitespace()
        .nth(3)?
        .split_once('/')?
        .1
        .parse()
        .ok()
}

fn read_trimmed(p: &str) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

impl MachineInfo {
    /// Reads the machine. `pid1` says whether node-os is the whole userspace, in which case
    /// the OS image is node-os itself rather than the host's os-release.
    pub fn read(pid1: bool) -> Result<MachineInfo> {
        let cpus = rustix::thread::sched_getaffinity(None)
            .map(|s| s.count())
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
        let meminfo = std::fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
        let memory_bytes =
            meminfo_bytes(&meminfo, "MemTotal").context("/proc/meminfo has no MemTotal")?;
        let os_image = if pid1 {
            "node-os".to_string()
        } else {
            std::fs::read_to_string("/etc/os-release")
                .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
                .ok()
                .and_then(|t| os_release_pretty_name(&t))
                .unwrap_or_else(|| "Linux".into())
        };
        let uname = rustix::system::uname();
        Ok(MachineInfo {
            cpus,
            memory_bytes,
            kernel_version: uname.release().to_string_lossy().into_owned(),
            os_image,
            machine_id: read_trimmed("/etc/machine-id"),
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
            system_uuid: read_trimmed("/sys/class/dmi/id/product_uuid").to_ascii_lowercase(),
            architecture: goarch(std::env::consts::ARCH).to_string(),
        })
    }
}

impl Observations {
    /// Reads memory, the filesystem holding `data_dir`, and PIDs.
    pub fn read(data_dir: &Path) -> Result<Observations> {
        let meminfo = std::fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
        let fs = rustix::fs::statvfs(data_dir)
            .with_context(|| format!("statvfs of {}", data_dir.display()))?;
        let num = |p: &str| read_trimmed(p).parse::<u64>().ok();
        let pid_max = match (
            num("/proc/sys/kernel/pid_max"),
            num("/proc/sys/kernel/threads-max"),
        ) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(0),
        };
        Ok(Observations {
            memory_total_bytes: meminfo_bytes(&meminfo, "MemTotal").unwrap_or(0),
            memory_available_bytes: meminfo_bytes(&meminfo, "MemAvailable").unwrap_or(0),
            fs_capacity_bytes: fs.f_blocks.saturating_mul(fs.f_frsize),
            fs_available_bytes: fs.f_bavail.saturating_mul(fs.f_frsize),
            fs_inodes: fs.f_files,
            fs_inodes_free: fs.f_ffree,
            pid_max,
            pids_in_use: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|t| loadavg_tasks(&t))
                .unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:       16318420 kB\nMemFree:         1234567 kB\nMemAvailable:    9876543 kB\nHugePages_Total:       0\n";

    #[test]
    fn meminfo_fields_are_read_in_bytes() {
        assert_eq!(meminfo_bytes(MEMINFO, "MemTotal"), Some(16318420 * 1024));
        assert_eq!(meminfo_bytes(MEMINFO, "MemAvailable"), Some(9876543 * 1024));
        assert_eq!(meminfo_bytes(MEMINFO, "HugePages_Total"), Some(0));
        // A prefix of another field's name is not that field.
        assert_eq!(meminfo_bytes(MEMINFO, "Mem"), None);
        assert_eq!(meminfo_bytes(MEMINFO, "SwapTotal"), None);
    }

    #[test]
    fn os_release_pretty_names_are_unquoted() {
        let t = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";
        assert_eq!(
            os_release_pretty_name(t).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(
            os_release_pretty_name("PRETTY_NAME='Alpine'\n").as_deref(),
            Some("Alpine")
        );
        assert_eq!(
            os_release_pretty_name("PRETTY_NAME=Plain\n").as_deref(),
            Some("Plain")
        );
        assert_eq!(os_release_pretty_name("NAME=x\nPRETTY_NAME=\"\"\n"), None);
    }

    #[test]
    fn loadavg_gives_the_task_total() {
        assert_eq!(loadavg_tasks("0.52 0.58 0.59 3/1234 99999\n"), Some(1234));
        assert_eq!(loadavg_tasks("garbage"), None);
    }

    #[test]
    fn architectures_use_kubernetes_names() {
        assert_eq!(goarch("x86_64"), "amd64");
        assert_eq!(goarch("aarch64"), "arm64");
    }

    #[test]
    fn the_machine_reads_plausibly() {
        let m = MachineInfo::read(false).unwrap();
        assert!(m.cpus >= 1);
        assert!(m.memory_bytes > 64 << 20);
        assert!(!m.kernel_version.is_empty());
        let o = Observations::read(Path::new("/")).unwrap();
        assert!(o.fs_capacity_bytes >= o.fs_available_bytes && o.fs_capacity_bytes > 0);
        assert!(o.memory_total_bytes >= o.memory_available_bytes);
        assert!(o.pid_max > 0 && o.pids_in_use > 0);
    }
}
