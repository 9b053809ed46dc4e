//! Unmounting what the kubelet mounted for a pod (tmpfs for `emptyDir: {medium: Memory}`,
//! secrets and projected tokens) before its directory is removed: `remove_dir_all` on a
//! mount point would empty the tmpfs but leave the mount behind. The mount table comes from
//! `/proc/self/mountinfo`; which entries to unmount, deepest first, is decided purely.

use std::path::{Path, PathBuf};

/// Mount points at or under `dir` in a mountinfo text, deepest first so nested mounts go
/// before their parents. Octal escapes (`\040` for a space) are decoded.
pub fn mount_points_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out.dedup();
    out
}

/// `/proc/self/mountinfo` escapes space, tab, newline and backslash as `\ooo`.
pub(crate) fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts everything at or under `dir` (lazily, so a busy mount cannot block pod
/// removal), then removes the directory.
pub fn unmount_and_remove(dir: &Path) -> std::io::Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    for p in mount_points_under(&info, dir) {
        if let Err(e) = rustix::mount::unmount(&p, rustix::mount::UnmountFlags::DETACH) {
            tracing::warn!(path = %p.display(), "unmounting: {e}");
        }
    }
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_under_a_pod_dir_are_found_deepest_first() {
        let info = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
90 22 0:50 / /var/lib/k/pods/u1/volumes/cache rw - tmpfs tmpfs rw
91 90 0:51 / /var/lib/k/pods/u1/volumes/cache/inner rw - tmpfs tmpfs rw
92 22 0:52 / /var/lib/k/pods/u10/volumes/x rw - tmpfs tmpfs rw
93 22 0:53 / /var/lib/k/pods/u1/volumes/with\\040space rw - tmpfs tmpfs rw
";
        let got = mount_points_under(info, Path::new("/var/lib/k/pods/u1"));
        assert_eq!(
            got,
            vec![
                PathBuf::from("/var/lib/k/pods/u1/volumes/cache/inner"),
                PathBuf::from("/var/lib/k/pods/u1/volumes/cache"),
                PathBuf::from("/var/lib/k/pods/u1/volumes/with space"),
            ]
        );
    }
}
