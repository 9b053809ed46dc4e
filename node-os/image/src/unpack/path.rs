//! Where a layer entry lands, decided without ever leaving the target directory.
//!
//! Entry names are normalized lexically: absolute names and `..` components are refused
//! outright (no legitimate layer has them). Parent directories are then walked one component
//! at a time with `lstat`: a real directory is entered, a missing one created, and a symlink is
//! resolved *inside* the root, as a chroot would (an absolute target starts at the root, `..`
//! pops a component), so `bin -> usr/bin` works while `link -> ../../etc` is refused. The
//! final component is never followed: whatever is there is replaced.
//!
//! Checking and then using a path is sound here because the tree being written belongs to
//! this unpacker alone (a private snapshot directory, or a root filesystem no container runs
//! from yet): only the layer itself changes it, one entry at a time.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// How many symlinks one resolution may follow (Linux's own limit).
const MAX_SYMLINKS: usize = 40;

/// Why a path was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum PathError {
    Absolute,
    DotDot,
    Escapes,
    TooManySymlinks,
    ParentNotDirectory(PathBuf),
    Missing(PathBuf),
    Io(String),
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathError::Absolute => write!(f, "absolute path"),
            PathError::DotDot => write!(f, "path has a '..' component"),
            PathError::Escapes => write!(f, "a symlink in its path leads outside the root"),
            PathError::TooManySymlinks => write!(f, "too many levels of symlinks"),
            PathError::ParentNotDirectory(p) => {
                write!(f, "parent {} is not a directory", p.display())
            }
            PathError::Missing(p) => write!(f, "{} does not exist", p.display()),
            PathError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Splits an entry name into components: `./a//b/` → `[a, b]`; the root itself → `[]`.
pub fn normalize(name: &[u8]) -> Result<Vec<OsString>, PathError> {
    if name.first() == Some(&b'/') {
        return Err(PathError::Absolute);
    }
    let mut out = Vec::new();
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err(PathError::DotDot),
            part => out.push(OsStr::from_bytes(part).to_os_string()),
        }
    }
    Ok(out)
}

/// Resolves the parent components of an entry to real directories under `root`, following
/// symlinks only within it. With `create`, missing directories are made (mode 0755, fixed up
/// if the layer has an entry for them); without, a missing one is an error. Returns the
/// resolved path relative to `root`.
pub fn resolve_parents(
    root: &Path,
    parents: &[OsString],
    create: bool,
) -> Result<PathBuf, PathError> {
    let mut resolved: Vec<OsString> = Vec::new();
    let mut pending: std::collections::VecDeque<OsString> = parents.iter().cloned().collect();
    let mut followed = 0;
    while let Some(component) = pending.pop_front() {
        match component.as_bytes() {
            b"" | b"." => continue,
            b".." => {
                if resolved.pop().is_none() {
                    return Err(PathError::Escapes);
                }
                continue;
            }
            _ => {}
        }
        let rel: PathBuf = resolved.iter().chain(Some(&component)).collect();
        let full = root.join(&rel);
        match std::fs::symlink_metadata(&full) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !create {
                    return Err(PathError::Missing(rel));
                }
                std::fs::DirBuilder::new()
                    .mode(0o755)
                    .create(&full)
                    .map_err(|e| PathError::Io(format!("creating {}: {e}", rel.display())))?;
                resolved.push(component);
            }
            Err(e) => return Err(PathError::Io(format!("{}: {e}", rel.display()))),
            Ok(meta) if meta.file_type().is_dir() => resolved.push(component),
            Ok(meta) if meta.file_type().is_symlink() => {
                followed += 1;
                if followed > MAX_SYMLINKS {
                    return Err(PathError::TooManySymlinks);
                }
                let target = std::fs::read_link(&full)
                    .map_err(|e| PathError::Io(format!("{}: {e}", rel.display())))?;
                let target = target.as_os_str().as_bytes();
                if target.first() == Some(&b'/') {
                    resolved.clear();
                }
                let parts: Vec<OsString> = target
                    .split(|&b| b == b'/')
                    .filter(|p| !p.is_empty())
                    .map(|p| OsStr::from_bytes(p).to_os_string())
                    .collect();
                for part in parts.into_iter().rev() {
                    pending.push_front(part);
                }
            }
            Ok(_) => return Err(PathError::ParentNotDirectory(rel)),
        }
    }
    Ok(resolved.iter().collect())
}

/// True when every component of `rel` under `root` is a real directory or, for the last, not
/// a symlink: deferred fix-ups (directory modes and times) check this before touching a path
/// that later entries may have changed.
pub fn is_plain(root: &Path, rel: &Path) -> bool {
    let mut current = root.to_path_buf();
    let components: Vec<_> = rel.components().collect();
    for (i, c) in components.iter().enumerate() {
        current.push(c);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => return false,
            Ok(meta) if i + 1 < components.len() && !meta.is_dir() => return false,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn names_normalize_and_absolute_or_dotdot_are_refused() {
        assert_eq!(normalize(b"./a//b/").unwrap(), comps(&["a", "b"]));
        assert_eq!(normalize(b"./").unwrap(), comps(&[]));
        assert_eq!(normalize(b"/etc/passwd"), Err(PathError::Absolute));
        assert_eq!(normalize(b"a/../../x"), Err(PathError::DotDot));
        assert_eq!(normalize(b".."), Err(PathError::DotDot));
        assert_eq!(normalize(b"a/..b").unwrap(), comps(&["a", "..b"]));
    }

    #[test]
    fn symlinked_parents_resolve_inside_the_root_or_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
        std::os::unix::fs::symlink("/usr", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../..", root.join("usr/up")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("usr/out")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        std::fs::write(root.join("file"), b"").unwrap();

        let r = |p: &[&str], create| resolve_parents(root, &comps(p), create);
        assert_eq!(r(&["bin"], false).unwrap(), Path::new("usr/bin"));
        assert_eq!(r(&["abs", "bin"], false).unwrap(), Path::new("usr/bin"));
        assert_eq!(r(&["usr", "up"], false), Err(PathError::Escapes));
        assert_eq!(r(&["usr", "out", "x"], true), Err(PathError::Escapes));
        assert_eq!(r(&["loop"], true), Err(PathError::TooManySymlinks));
        assert_eq!(
            r(&["file", "x"], true),
            Err(PathError::ParentNotDirectory("file".into()))
        );
        assert_eq!(
            r(&["new", "dir"], false),
            Err(PathError::Missing("new".into()))
        );
        assert_eq!(r(&["new", "dir"], true).unwrap(), Path::new("new/dir"));
        assert!(root.join("new/dir").is_dir());
        assert!(is_plain(root, Path::new("usr/bin")));
        assert!(!is_plain(root, Path::new("bin")));
        assert!(!is_plain(root, Path::new("bin/x")));
    }
}
