//! Pod cgroups: the parents of a pod's container cgroups, created before the first container
//! and removed after the last. libcontainer creates and removes the container leaves.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CgroupMode, CGROUP_MOUNT};

/// Controllers delegated down the v2 tree so that container leaves can use them.
const V2_CONTROLLERS: &[&str] = &["cpu", "cpuset", "io", "memory", "pids", "hugetlb"];

/// Mount points of the v1 hierarchies this process can see (`/sys/fs/cgroup/cpu`, ...).
pub fn v1_hierarchies() -> io::Result<Vec<PathBuf>> {
    let info = fs::read_to_string("/proc/self/mountinfo")?;
    Ok(info
        .lines()
        .filter_map(|line| {
            // Fields: id parent major:minor root mountpoint options... - fstype source opts
            let (pre, post) = line.split_once(" - ")?;
            let fstype = post.split(' ').next()?;
            let mount_point = pre.split(' ').nth(4)?;
            (fstype == "cgroup").then(|| PathBuf::from(mount_point))
        })
        .collect())
}

/// The directories that make up one cgroup path in every hierarchy of `mode`.
pub fn cgroup_dirs(mode: CgroupMode, cgroup: &Path) -> io::Result<Vec<PathBuf>> {
    let rel = cgroup.strip_prefix("/").unwrap_or(cgroup);
    Ok(match mode {
        CgroupMode::V2 => vec![Path::new(CGROUP_MOUNT).join(rel)],
        CgroupMode::V1 => v1_hierarchies()?.into_iter().map(|h| h.join(rel)).collect(),
    })
}

/// Creates `cgroup` (and missing parents) in every hierarchy. On v1 the cpuset hierarchy
/// needs `cpuset.cpus`/`cpuset.mems` filled at each new level before any task can join below
/// it; on v2 every level delegates the controllers its children need.
pub fn create(mode: CgroupMode, cgroup: &Path) -> io::Result<()> {
    let rel = cgroup.strip_prefix("/").unwrap_or(cgroup);
    let roots = match mode {
        CgroupMode::V2 => vec![PathBuf::from(CGROUP_MOUNT)],
        CgroupMode::V1 => v1_hierarchies()?,
    };
    for root in roots {
        let mut dir = root.clone();
        for part in rel.components() {
            let parent = dir.clone();
            dir.push(part);
            if mode == CgroupMode::V2 {
                enable_v2_controllers(&parent)?;
            }
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            if mode == CgroupMode::V1 {
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    inherit_if_empty(&parent.join(file), &dir.join(file))?;
                }
            }
        }
    }
    Ok(())
}

fn inherit_if_empty(parent: &Path, child: &Path) -> io::Result<()> {
    if !child.exists() {
        return Ok(());
    }
    if fs::read_to_string(child)?.trim().is_empty() {
        fs::write(child, fs::read_to_string(parent)?.trim())?;
    }
    Ok(())
}

fn enable_v2_controllers(dir: &Path) -> io::Result<()> {
    let available = fs::read_to_string(dir.join("cgroup.controllers"))?;
    let enabled = fs::read_to_string(dir.join("cgroup.subtree_control"))?;
    for c in available.split_whitespace() {
        if V2_CONTROLLERS.contains(&c) && !enabled.split_whitespace().any(|e| e == c) {
            fs::write(dir.join("cgroup.subtree_control"), format!("+{c}"))?;
        }
    }
    Ok(())
}

/// Removes `cgroup` from every hierarchy (its children must be gone). A cgroup whose last
/// task has just exited can stay busy for a moment, hence the short retries.
pub fn remove(mode: CgroupMode, cgroup: &Path) -> io::Result<()> {
    for dir in cgroup_dirs(mode, cgroup)? {
        let mut attempt = 0;
        loop {
            match fs::remove_dir(&dir) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 20 => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("removing {}: {e}", dir.display()),
                    ))
                }
            }
        }
    }
    Ok(())
}
