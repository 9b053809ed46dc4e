//! A container's root filesystem: the image's read-only snapshots under a writable upper
//! directory of its own, mounted as overlayfs by the runtime (mounting does not fork, so it
//! runs in the runtime process).

use std::path::{Path, PathBuf};

use rustix::mount::{mount, unmount, MountFlags, UnmountFlags};

use crate::error::{Error, Result};

/// The overlay mount options for `lowerdirs` (top-most first), `upper` and `work`. Pure.
/// overlayfs separates layers with `:` and options with `,`; paths holding either are
/// refused rather than escaped, as node-image's snapshot paths never hold them.
pub fn overlay_options(lowerdirs: &[PathBuf], upper: &Path, work: &Path) -> Result<String> {
    let check = |p: &Path| -> Result<String> {
        p.to_str()
            .filter(|s| !s.contains([':', ',', '\\']))
            .map(str::to_string)
            .ok_or_else(|| Error::BadLowerdir(p.to_path_buf()))
    };
    if lowerdirs.is_empty() {
        return Err(Error::BadLowerdir(PathBuf::new()));
    }
    let lower: Vec<String> = lowerdirs.iter().map(|p| check(p)).collect::<Result<_>>()?;
    Ok(format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        check(upper)?,
        check(work)?
    ))
}

/// Mounts the overlay at `target`.
pub fn mount_rootfs(lowerdirs: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    let opts = overlay_options(lowerdirs, upper, work)?;
    let data = std::ffi::CString::new(opts.clone())
        .map_err(|_| Error::BadLowerdir(target.to_path_buf()))?;
    mount(
        "overlay",
        target,
        "overlay",
        MountFlags::empty(),
        Some(data.as_c_str()),
    )
    .map_err(|e| {
        Error::io(
            format!("mounting overlay at {} ({opts})", target.display()),
            e.into(),
        )
    })
}

/// Unmounts whatever is mounted at `target`; a target with nothing mounted is fine. A busy
/// mount is detached lazily so that removal always completes.
pub fn unmount_quietly(target: &Path) -> Result<()> {
    match unmount(target, UnmountFlags::empty()) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(rustix::io::Errno::BUSY) => unmount(target, UnmountFlags::DETACH)
            .map_err(|e| Error::io(format!("detaching {}", target.display()), e.into())),
        Err(e) => Err(Error::io(
            format!("unmounting {}", target.display()),
            e.into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_list_lowerdirs_top_first() {
        let o = overlay_options(
            &["/s/b".into(), "/s/a".into()],
            Path::new("/c/up"),
            Path::new("/c/work"),
        )
        .unwrap();
        assert_eq!(o, "lowerdir=/s/b:/s/a,upperdir=/c/up,workdir=/c/work");
    }

    #[test]
    fn separators_in_paths_and_empty_images_are_refused() {
        assert!(overlay_options(&["/s/a:b".into()], Path::new("/u"), Path::new("/w")).is_err());
        assert!(overlay_options(&["/s/a".into()], Path::new("/u,x"), Path::new("/w")).is_err());
        assert!(overlay_options(&[], Path::new("/u"), Path::new("/w")).is_err());
    }
}
