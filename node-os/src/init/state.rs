//! The state disk: an ext4 filesystem labelled `NODEOS-STATE` (the installer formats it with
//! `mkfs.ext4 -L NODEOS-STATE`), mounted on `/var`, where the node keeps its identity, images,
//! pods and the control plane's store across reboots. A diskless machine gets a tmpfs on
//! `/var` instead and starts afresh on every boot.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::mount::MountFlags;

pub const LABEL: &str = "NODEOS-STATE";
pub const MOUNT_POINT: &str = "/var";

/// The ext4 (also ext2/3) volume label, from the first 2 KiB of a block device: the
/// superblock starts at byte 1024, its magic 0xEF53 sits at offset 0x38 and the 16-byte
/// volume name at 0x78.
pub fn ext4_label(head: &[u8]) -> Option<String> {
    let sb = head.get(1024..1024 + 0x88)?;
    if u16::from_le_bytes([sb[0x38], sb[0x39]]) != 0xEF53 {
        return None;
    }
    let name = &sb[0x78..0x88];
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    std::str::from_utf8(&name[..end]).ok().map(str::to_string)
}

/// Where `/var` came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Disk(PathBuf),
    Tmpfs,
}

/// Block devices worth probing: whole disks and partitions, not RAM disks, loop devices or
/// optical drives.
fn candidates() -> Vec<PathBuf> {
    let Ok(dir) = fs::read_dir("/sys/class/block") else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = dir
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("ram") && !n.starts_with("loop") && !n.starts_with("sr"))
        .map(|n| Path::new("/dev").join(n))
        .collect();
    v.sort();
    v
}

fn label_of(dev: &Path) -> Option<String> {
    let mut f = fs::File::open(dev).ok()?;
    let mut head = vec![0u8; 2048];
    f.read_exact(&mut head).ok()?;
    ext4_label(&head)
}

/// Finds the state filesystem, waiting up to `wait` for block devices to appear (disk
/// drivers probe asynchronously after their module loads).
pub fn find(wait: Duration) -> Option<PathBuf> {
    let until = Instant::now() + wait;
    loop {
        let found = candidates()
            .into_iter()
            .find(|d| label_of(d).as_deref() == Some(LABEL));
        if found.is_some() || Instant::now() >= until {
            return found;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Mounts the state disk on `/var`, or a tmpfs when there is none. A state disk that is
/// there but does not mount is an error: booting on a tmpfs instead would make the machine
/// forget who it is.
pub fn mount_var() -> io::Result<State> {
    fs::create_dir_all(MOUNT_POINT)?;
    let state = match find(Duration::from_secs(2)) {
        Some(dev) => {
            rustix::mount::mount(
                dev.as_path(),
                MOUNT_POINT,
                "ext4",
                MountFlags::NOATIME | MountFlags::NOSUID | MountFlags::NODEV,
                c"",
            )
            .map_err(|e| {
                io::Error::other(format!(
                    "mounting the state disk {} (label {LABEL}) on {MOUNT_POINT}: {e}",
                    dev.display()
                ))
            })?;
            State::Disk(dev)
        }
        None => {
            rustix::mount::mount(
                "tmpfs",
                MOUNT_POINT,
                "tmpfs",
                MountFlags::NOSUID | MountFlags::NODEV,
                c"mode=0755",
            )
            .map_err(|e| io::Error::other(format!("mounting a tmpfs on {MOUNT_POINT}: {e}")))?;
            State::Tmpfs
        }
    };
    for d in ["lib/nodeos", "lib/control", "log"] {
        fs::create_dir_all(Path::new(MOUNT_POINT).join(d))?;
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn superblock(label: &[u8], magic: u16) -> Vec<u8> {
        let mut b = vec![0u8; 2048];
        b[1024 + 0x38..1024 + 0x3a].copy_from_slice(&magic.to_le_bytes());
        b[1024 + 0x78..1024 + 0x78 + label.len()].copy_from_slice(label);
        b
    }

    #[test]
    fn the_ext4_label_is_read_from_the_superblock() {
        assert_eq!(
            ext4_label(&superblock(b"NODEOS-STATE", 0xEF53)).as_deref(),
            Some(LABEL)
        );
        // All 16 bytes used: no terminating NUL.
        assert_eq!(
            ext4_label(&superblock(b"0123456789abcdef", 0xEF53)).as_deref(),
            Some("0123456789abcdef")
        );
    }

    #[test]
    fn other_filesystems_and_short_reads_have_no_label() {
        assert_eq!(ext4_label(&superblock(b"NODEOS-STATE", 0x1234)), None);
        assert_eq!(ext4_label(&[0u8; 1100]), None);
    }
}
