//! The filesystems PID 1 mounts at boot and unmounts at shutdown.
//!
//! First it leaves the initramfs' rootfs: the kernel's rootfs cannot be `pivot_root`ed away
//! from, which every container start needs, so the files move to a fresh tmpfs that becomes
//! `/` (what `switch_root` does). Then the pseudo filesystems ([`PSEUDO`]), with cgroup v2 and
//! its controllers delegated. At shutdown everything but `/` is unmounted deepest first
//! ([`unmount_order`]).

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use rustix::mount::{MountFlags, UnmountFlags};

use crate::kubelet::mounts::unescape;

/// One filesystem to mount at boot.
#[derive(Debug, Clone, Copy)]
pub struct Mount {
    pub source: &'static str,
    pub target: &'static str,
    pub fstype: &'static str,
    pub flags: MountFlags,
    pub data: &'static std::ffi::CStr,
}

const NOSUID_NODEV_NOEXEC: MountFlags = MountFlags::NOSUID
    .union(MountFlags::NODEV)
    .union(MountFlags::NOEXEC);

/// The pseudo filesystems, parents before children.
pub const PSEUDO: &[Mount] = &[
    Mount {
        source: "proc",
        target: "/proc",
        fstype: "proc",
        flags: NOSUID_NODEV_NOEXEC,
        data: c"",
    },
    Mount {
        source: "sysfs",
        target: "/sys",
        fstype: "sysfs",
        flags: NOSUID_NODEV_NOEXEC,
        data: c"",
    },
    Mount {
        source: "devtmpfs",
        target: "/dev",
        fstype: "devtmpfs",
        flags: MountFlags::NOSUID,
        data: c"mode=0755",
    },
    Mount {
        source: "devpts",
        target: "/dev/pts",
        fstype: "devpts",
        flags: MountFlags::NOSUID.union(MountFlags::NOEXEC),
        data: c"gid=5,mode=0620,ptmxmode=0666",
    },
    Mount {
        source: "shm",
        target: "/dev/shm",
        fstype: "tmpfs",
        flags: MountFlags::NOSUID.union(MountFlags::NODEV),
        data: c"mode=1777",
    },
    Mount {
        source: "tmpfs",
        target: "/run",
        fstype: "tmpfs",
        flags: MountFlags::NOSUID.union(MountFlags::NODEV),
        data: c"mode=0755",
    },
    Mount {
        source: "tmpfs",
        target: "/tmp",
        fstype: "tmpfs",
        flags: MountFlags::NOSUID.union(MountFlags::NODEV),
        data: c"mode=1777",
    },
    Mount {
        source: "cgroup2",
        target: "/sys/fs/cgroup",
        fstype: "cgroup2",
        flags: NOSUID_NODEV_NOEXEC,
        data: c"nsdelegate",
    },
];

/// Controllers the node delegates from the root cgroup (the runtime enables them further
/// down the pod hierarchy itself).
pub const CGROUP_CONTROLLERS: &[&str] = &["cpu", "cpuset", "memory", "pids", "io", "hugetlb"];

fn ctx(what: String) -> impl FnOnce(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

pub fn mount(m: &Mount) -> io::Result<()> {
    fs::create_dir_all(m.target).map_err(ctx(format!("creating {}", m.target)))?;
    match rustix::mount::mount(m.source, m.target, m.fstype, m.flags, m.data) {
        Ok(()) => Ok(()),
        // Already mounted (the kernel mounts devtmpfs itself with CONFIG_DEVTMPFS_MOUNT).
        Err(rustix::io::Errno::BUSY) => Ok(()),
        Err(e) => Err(io::Error::from(e)),
    }
    .map_err(ctx(format!("mounting {} on {}", m.fstype, m.target)))
}

/// Mounts [`PSEUDO`], plus the /dev links programs expect.
pub fn mount_pseudo() -> io::Result<()> {
    for m in PSEUDO {
        mount(m)?;
    }
    for (link, to) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ] {
        if fs::symlink_metadata(link).is_err() {
            std::os::unix::fs::symlink(to, link).map_err(ctx(format!("linking {link}")))?;
        }
    }
    Ok(())
}

/// Delegates [`CGROUP_CONTROLLERS`] (those the kernel has) from the root cgroup.
pub fn enable_cgroup_controllers() -> io::Result<Vec<String>> {
    let root = Path::new("/sys/fs/cgroup");
    let available = fs::read_to_string(root.join("cgroup.controllers"))?;
    let mut enabled = Vec::new();
    for c in available.split_whitespace() {
        if CGROUP_CONTROLLERS.contains(&c) {
            fs::write(root.join("cgroup.subtree_control"), format!("+{c}"))
                .map_err(ctx(format!("enabling the {c} controller")))?;
            enabled.push(c.to_string());
        }
    }
    Ok(enabled)
}

const RAMFS_MAGIC: u64 = 0x8584_58f6;
const TMPFS_MAGIC: u64 = 0x0102_1994;
const NEW_ROOT: &str = "/.nodeos-root";

/// Whether `/` is the initramfs (ramfs, or tmpfs-backed rootfs) rather than a disk.
pub fn root_is_initramfs() -> bool {
    rustix::fs::statfs("/")
        .map(|s| matches!(s.f_type as u64, RAMFS_MAGIC | TMPFS_MAGIC))
        .unwrap_or(false)
}

/// Moves the initramfs' files onto a tmpfs and makes it `/`: copy, freeing each original
/// as it goes so the memory is not held twice, then move the mount over `/` and chroot into
/// it, as `switch_root` does. Run before anything else is mounted.
pub fn leave_rootfs() -> io::Result<()> {
    fs::create_dir_all(NEW_ROOT)?;
    rustix::mount::mount(
        "tmpfs",
        NEW_ROOT,
        "tmpfs",
        MountFlags::empty(),
        c"mode=0755",
    )
    .map_err(io::Error::from)
    .map_err(ctx("mounting the tmpfs for /".into()))?;
    // Listed first: the originals are deleted while moving.
    let entries: Vec<fs::DirEntry> = fs::read_dir("/")?.collect::<io::Result<_>>()?;
    for entry in entries {
        if entry.file_name() == OsStr::new(&NEW_ROOT[1..]) {
            continue;
        }
        move_tree(&entry.path(), &Path::new(NEW_ROOT).join(entry.file_name()))?;
    }
    std::env::set_current_dir(NEW_ROOT)?;
    rustix::mount::mount_move(".", "/")
        .map_err(io::Error::from)
        .map_err(ctx("moving the new root over /".into()))?;
    rustix::process::chroot(".")
        .map_err(io::Error::from)
        .map_err(ctx("entering the new root".into()))?;
    std::env::set_current_dir("/")?;
    Ok(())
}

/// Copies `from` to `to` with its mode and ownership, then deletes `from`.
fn move_tree(from: &Path, to: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(from)?;
    let ft = meta.file_type();
    if ft.is_dir() {
        fs::create_dir(to)?;
        let children: Vec<fs::DirEntry> = fs::read_dir(from)?.collect::<io::Result<_>>()?;
        for e in children {
            move_tree(&e.path(), &to.join(e.file_name()))?;
        }
        fs::set_permissions(to, fs::Permissions::from_mode(meta.mode()))?;
        fs::remove_dir(from)?;
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from)?, to)?;
        fs::remove_file(from)?;
    } else if ft.is_file() {
        fs::copy(from, to)?;
        fs::set_permissions(to, fs::Permissions::from_mode(meta.mode()))?;
        fs::remove_file(from)?;
    } else if ft.is_char_device() || ft.is_block_device() {
        let kind = if ft.is_char_device() {
            rustix::fs::FileType::CharacterDevice
        } else {
            rustix::fs::FileType::BlockDevice
        };
        rustix::fs::mknodat(
            rustix::fs::CWD,
            to,
            kind,
            rustix::fs::Mode::from_raw_mode(meta.mode()),
            meta.rdev(),
        )?;
        fs::remove_file(from)?;
    }
    // Sockets and FIFOs have no business in an initramfs: left behind.
    let _ = std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()));
    Ok(())
}

/// One line of `/proc/self/mountinfo`, the parts shutdown needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_point: String,
    pub fstype: String,
}

pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            // id parent major:minor root mount-point options [optional...] - fstype source super
            let (pre, post) = line.split_once(" - ")?;
            Some(MountEntry {
                mount_point: unescape(pre.split(' ').nth(4)?),
                fstype: post.split(' ').next()?.to_string(),
            })
        })
        .collect()
}

/// The order to unmount in: every mount point but `/`, deepest first, later mounts before
/// earlier ones at the same depth (a mount over another is undone first).
pub fn unmount_order(entries: &[MountEntry]) -> Vec<String> {
    let mut points: Vec<(usize, &str)> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.mount_point != "/")
        .map(|(i, e)| (i, e.mount_point.as_str()))
        .collect();
    let depth = |p: &str| p.split('/').filter(|c| !c.is_empty()).count();
    points.sort_by(|a, b| depth(b.1).cmp(&depth(a.1)).then(b.0.cmp(&a.0)));
    points.into_iter().map(|(_, p)| p.to_string()).collect()
}

/// Whether a mount holds nothing that outlives the boot.
fn is_virtual(m: Option<&MountEntry>) -> bool {
    m.is_some_and(|m| {
        matches!(
            m.fstype.as_str(),
            "tmpfs" | "devtmpfs" | "proc" | "sysfs" | "devpts" | "cgroup2" | "overlay"
        )
    })
}

/// Unmounts everything but `/`. A busy filesystem is remounted read-only (so its data is
/// safe) and detached lazily. Returns what could not be unmounted cleanly.
pub fn unmount_all() -> Vec<String> {
    let entries = match fs::read_to_string("/proc/self/mountinfo") {
        Ok(t) => parse_mountinfo(&t),
        Err(e) => return vec![format!("reading /proc/self/mountinfo: {e}")],
    };
    let mut problems = Vec::new();
    for point in unmount_order(&entries) {
        match rustix::mount::unmount(point.as_str(), UnmountFlags::empty()) {
            Ok(()) => {}
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOENT) => {}
            Err(e) => {
                let _ = rustix::mount::mount_remount(point.as_str(), MountFlags::RDONLY, "");
                let _ = rustix::mount::unmount(point.as_str(), UnmountFlags::DETACH);
                // A busy memory-backed filesystem (PID 1's console and sockets keep /dev and
                // /run open) loses nothing; only a busy disk is worth reporting.
                if !is_virtual(entries.iter().rev().find(|m| m.mount_point == point)) {
                    problems.push(format!("{point}: {e} (remounted read-only, detached)"));
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 0:20 / / rw - rootfs rootfs rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec - proc proc rw
24 22 0:22 / /sys rw,nosuid,nodev,noexec - sysfs sysfs rw
25 22 0:5 / /dev rw,nosuid - devtmpfs devtmpfs rw,mode=755
26 25 0:23 / /dev/pts rw - devpts devpts rw
27 24 0:24 / /sys/fs/cgroup rw shared:1 - cgroup2 cgroup2 rw,nsdelegate
28 22 254:1 / /var rw,noatime - ext4 /dev/vda1 rw
29 28 0:40 / /var/lib/nodeos/runtime/pods/a\\040b/rootfs rw - overlay overlay rw
30 22 0:25 / /run rw - tmpfs tmpfs rw
";

    #[test]
    fn mountinfo_lines_give_mount_points_and_types_with_escapes_undone() {
        let e = parse_mountinfo(MOUNTINFO);
        assert_eq!(e.len(), 9);
        assert_eq!(e[6].mount_point, "/var");
        assert_eq!(e[6].fstype, "ext4");
        assert_eq!(e[7].mount_point, "/var/lib/nodeos/runtime/pods/a b/rootfs");
    }

    #[test]
    fn unmounting_goes_deepest_first_and_never_touches_root() {
        let order = unmount_order(&parse_mountinfo(MOUNTINFO));
        assert_eq!(
            order,
            [
                "/var/lib/nodeos/runtime/pods/a b/rootfs",
                "/sys/fs/cgroup",
                "/dev/pts",
                "/run",
                "/var",
                "/dev",
                "/sys",
                "/proc",
            ]
        );
    }

    #[test]
    fn a_mount_stacked_on_another_is_undone_first() {
        let e = vec![
            MountEntry {
                mount_point: "/var".into(),
                fstype: "tmpfs".into(),
            },
            MountEntry {
                mount_point: "/var".into(),
                fstype: "ext4".into(),
            },
        ];
        let order = unmount_order(&e);
        assert_eq!(order, ["/var", "/var"]);
    }

    #[test]
    fn pseudo_filesystems_are_mounted_parents_first() {
        for (i, m) in PSEUDO.iter().enumerate() {
            for later in &PSEUDO[i + 1..] {
                assert!(
                    !Path::new(m.target).starts_with(later.target),
                    "{} is mounted before {}, which contains it",
                    m.target,
                    later.target
                );
            }
        }
    }
}
