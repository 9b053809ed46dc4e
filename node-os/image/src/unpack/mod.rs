//! Applies one layer (a gzip, zstd or plain tar) to a directory.
//!
//! Two modes: [`UnpackMode::Layered`] writes the layer alone into its own directory, in the
//! form overlayfs reads as a lowerdir (whiteouts as 0/0 character devices, opaque directories
//! by xattr; this needs root). [`UnpackMode::Flatten`] applies the layer on top of what earlier
//! layers left in the directory, carrying out whiteouts as deletions, for a root filesystem
//! without overlayfs.
//!
//! Layers are untrusted. Entries that would land outside the target (absolute names, `..`,
//! symlinked parents leading out; see [`path`]) are refused and fail the layer, as are device
//! nodes (only whiteouts become devices, and only ones this code makes) and hard links to
//! anything but a file the layer already wrote. `trusted.*` xattrs from the layer are
//! dropped: they steer overlayfs and are no layer's to set. Modes (setuid included), mtimes,
//! symlinks and other xattrs are kept, ownership too when running as root.

pub mod compression;
pub mod path;
pub mod whiteout;

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Gid, Mode, Timespec, Timestamps, Uid, XattrFlags, CWD};

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, IoContext, Result};
use path::PathError;
use whiteout::Whiteout;

/// How a layer is written; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnpackMode {
    Layered,
    Flatten,
}

/// What applying a layer found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnpackSummary {
    /// The sha256 of the uncompressed tar: must equal the config's `diff_id`.
    pub diff_id: Digest,
    /// Bytes of uncompressed tar.
    pub tar_size: u64,
    pub entries: u64,
    /// Paths (relative to the target) the layer deleted from lower layers.
    pub whiteouts: Vec<PathBuf>,
    /// Directories whose lower contents the layer hid.
    pub opaque_dirs: Vec<PathBuf>,
}

/// Applies a layer blob read from `blob` to `target` (which must exist). `layer` names the
/// layer in errors (its digest). `same_owner` applies the tar's uid/gid (needs root; pass
/// [`running_as_root`]).
pub fn unpack_layer<R: Read>(
    blob: R,
    target: &Path,
    mode: UnpackMode,
    same_owner: bool,
    layer: &str,
) -> Result<UnpackSummary> {
    let root = fs::canonicalize(target).ctx("opening unpack target", target)?;
    let layer_err = |reason: String| Error::Layer {
        layer: layer.to_string(),
        reason,
    };
    let decoded = compression::decompress(BufReader::with_capacity(256 << 10, blob))
        .map_err(|e| layer_err(format!("reading compressed stream: {e}")))?;
    let mut hashing = HashingReader::new(decoded);
    let mut unpacker = Unpacker {
        root,
        mode,
        same_owner,
        layer: layer.to_string(),
        touched: HashSet::new(),
        whited_out: HashSet::new(),
        dir_fixups: Vec::new(),
        whiteouts: Vec::new(),
        opaque_dirs: Vec::new(),
        entries: 0,
    };
    {
        let mut archive = tar::Archive::new(&mut hashing);
        let entries = archive
            .entries()
            .map_err(|e| layer_err(format!("reading tar: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| layer_err(format!("reading tar: {e}")))?;
            unpacker.entry(entry)?;
        }
    }
    // The diff_id covers the whole tar, end-of-archive blocks and padding included.
    io::copy(&mut hashing, &mut io::sink())
        .map_err(|e| layer_err(format!("reading the end of the tar: {e}")))?;
    unpacker.apply_dir_fixups();
    let (diff_id, tar_size) = hashing.finish();
    Ok(UnpackSummary {
        diff_id,
        tar_size,
        entries: unpacker.entries,
        whiteouts: unpacker.whiteouts,
        opaque_dirs: unpacker.opaque_dirs,
    })
}

/// True when this process can chown and make whiteout devices.
pub fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

struct Unpacker {
    root: PathBuf,
    mode: UnpackMode,
    same_owner: bool,
    layer: String,
    /// Paths this layer wrote, with all their ancestors: whiteouts never delete these.
    touched: HashSet<PathBuf>,
    /// Paths this layer whited out (layered mode): a directory made there later is opaque.
    whited_out: HashSet<PathBuf>,
    /// Directory modes and mtimes, applied last so that writing children does not undo them
    /// and a read-only directory does not block its own children.
    dir_fixups: Vec<(PathBuf, u32, i64)>,
    whiteouts: Vec<PathBuf>,
    opaque_dirs: Vec<PathBuf>,
    entries: u64,
}

/// The metadata of an entry that is applied to what it creates.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl Unpacker {
    fn refuse(&self, path: &[u8], reason: impl Into<String>) -> Error {
        Error::UnsafeLayerEntry {
            layer: self.layer.clone(),
            path: String::from_utf8_lossy(path).into_owned(),
            reason: reason.into(),
        }
    }

    fn fail(&self, path: &[u8], reason: impl std::fmt::Display) -> Error {
        Error::Layer {
            layer: self.layer.clone(),
            reason: format!("{}: {reason}", String::from_utf8_lossy(path)),
        }
    }

    fn path_error(&self, path: &[u8], e: PathError) -> Error {
        match e {
            PathError::Io(_) | PathError::Missing(_) => self.fail(path, e),
            other => self.refuse(path, other.to_string()),
        }
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        self.entries += 1;
        let raw = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let components = path::normalize(&raw).map_err(|e| self.path_error(&raw, e))?;
        let Some((name, parents)) = components.split_last() else {
            // The root itself ("./"): its metadata belongs to whoever owns the target.
            return Ok(());
        };
        if let Some(w) = whiteout::classify(name) {
            return self.whiteout(&raw, parents, w);
        }
        let meta = self.meta(&mut entry, &raw)?;
        let parent = path::resolve_parents(&self.root, parents, true)
            .map_err(|e| self.path_error(&raw, e))?;
        let rel = parent.join(name);
        let full = self.root.join(&rel);
        match kind {
            tar::EntryType::Directory => self.directory(&raw, &rel, &full, &meta)?,
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.clear(&raw, &full)?;
                self.regular(&raw, &full, &meta, &mut entry)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| self.refuse(&raw, "symlink without a target"))?
                    .into_owned();
                if target.is_empty() || target.contains(&0) {
                    return Err(self.refuse(&raw, "empty symlink target"));
                }
                self.clear(&raw, &full)?;
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &full)
                    .map_err(|e| self.fail(&raw, format!("creating symlink: {e}")))?;
                self.owner_and_times(&raw, &full, &meta)?;
            }
            tar::EntryType::Link => self.hard_link(&raw, &rel, &full, &mut entry)?,
            tar::EntryType::Fifo => {
                self.clear(&raw, &full)?;
                rustix::fs::mknodat(
                    CWD,
                    &full,
                    FileType::Fifo,
                    Mode::from_raw_mode(meta.mode),
                    0,
                )
                .map_err(|e| self.fail(&raw, format!("creating fifo: {e}")))?;
                self.owner_and_times(&raw, &full, &meta)?;
                self.chmod(&raw, &full, meta.mode)?;
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                return Err(self.refuse(&raw, "device nodes are not allowed in layers"));
            }
            other => {
                return Err(self.refuse(&raw, format!("unsupported tar entry type {other:?}")));
            }
        }
        self.touch(&rel);
        Ok(())
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>, raw: &[u8]) -> Result<Meta> {
        let header = entry.header();
        let number = |v: io::Result<u64>, what: &str| -> Result<u64> {
            v.map_err(|e| self.fail(raw, format!("bad {what} in header: {e}")))
        };
        let mode = number(header.mode().map(u64::from), "mode")? as u32 & 0o7777;
        let id = |v: u64, what: &str| -> Result<u32> {
            // u32::MAX is -1, which chown reads as "leave unchanged".
            u32::try_from(v)
                .ok()
                .filter(|&v| v != u32::MAX)
                .ok_or_else(|| self.refuse(raw, format!("{what} {v} out of range")))
        };
        let uid = id(number(header.uid(), "uid")?, "uid")?;
        let gid = id(number(header.gid(), "gid")?, "gid")?;
        let mtime = i64::try_from(number(header.mtime(), "mtime")?).unwrap_or(i64::MAX);
        let mut xattrs = Vec::new();
        if let Some(extensions) = entry
            .pax_extensions()
            .map_err(|e| self.fail(raw, format!("bad PAX header: {e}")))?
        {
            for ext in extensions {
                let ext = ext.map_err(|e| self.fail(raw, format!("bad PAX header: {e}")))?;
                let Ok(key) = ext.key() else { continue };
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    if !name.is_empty() && !name.starts_with("trusted.") && !name.contains('\0') {
                        xattrs.push((name.to_string(), ext.value_bytes().to_vec()));
                    }
                }
            }
        }
        Ok(Meta {
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        })
    }

    fn touch(&mut self, rel: &Path) {
        for ancestor in rel.ancestors() {
            if ancestor.as_os_str().is_empty() || !self.touched.insert(ancestor.to_path_buf()) {
                break;
            }
        }
    }

    /// Removes whatever is at `full` (never following it) so an entry can take its place.
    fn clear(&self, raw: &[u8], full: &Path) -> Result<()> {
        match fs::symlink_metadata(full) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.fail(raw, e)),
            Ok(m) if m.is_dir() => fs::remove_dir_all(full).map_err(|e| self.fail(raw, e)),
            Ok(_) => fs::remove_file(full).map_err(|e| self.fail(raw, e)),
        }
    }

    fn directory(&mut self, raw: &[u8], rel: &Path, full: &Path, meta: &Meta) -> Result<()> {
        let is_dir = fs::symlink_metadata(full).is_ok_and(|m| m.is_dir());
        if !is_dir {
            self.clear(raw, full)?;
            fs::create_dir(full).map_err(|e| self.fail(raw, format!("creating directory: {e}")))?;
            if self.mode == UnpackMode::Layered && self.whited_out.contains(rel) {
                self.set_opaque(raw, full, rel)?;
            }
        }
        if self.same_owner {
            rustix::fs::chownat(
                CWD,
                full,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| self.fail(raw, format!("chown: {e}")))?;
        }
        self.xattrs(raw, full, &meta.xattrs);
        self.dir_fixups
            .push((rel.to_path_buf(), meta.mode, meta.mtime));
        Ok(())
    }

    fn regular<R: Read>(&self, raw: &[u8], full: &Path, meta: &Meta, data: &mut R) -> Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(full)
            .map_err(|e| self.fail(raw, format!("creating file: {e}")))?;
        io::copy(data, &mut file).map_err(|e| self.fail(raw, format!("writing file: {e}")))?;
        if self.same_owner {
            rustix::fs::fchown(
                &file,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
            )
            .map_err(|e| self.fail(raw, format!("chown: {e}")))?;
        }
        // After chown, which clears setuid and setgid bits.
        file.set_permissions(fs::Permissions::from_mode(meta.mode))
            .map_err(|e| self.fail(raw, format!("chmod: {e}")))?;
        for (name, value) in &meta.xattrs {
            if let Err(e) = rustix::fs::fsetxattr(&file, name.as_str(), value, XattrFlags::empty())
            {
                tracing::debug!(layer = %self.layer, xattr = %name, error = %e, "xattr not kept");
            }
        }
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(meta.mtime.max(0) as u64);
        file.set_times(fs::FileTimes::new().set_modified(time).set_accessed(time))
            .map_err(|e| self.fail(raw, format!("setting mtime: {e}")))?;
        Ok(())
    }

    fn hard_link<R: Read>(
        &self,
        raw: &[u8],
        rel: &Path,
        full: &Path,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<()> {
        let target = entry
            .link_name_bytes()
            .ok_or_else(|| self.refuse(raw, "hard link without a target"))?
            .into_owned();
        let components = path::normalize(&target)
            .map_err(|e| self.refuse(raw, format!("hard link target: {e}")))?;
        let Some((name, parents)) = components.split_last() else {
            return Err(self.refuse(raw, "hard link to the root"));
        };
        let parent = path::resolve_parents(&self.root, parents, false)
            .map_err(|e| self.refuse(raw, format!("hard link target: {e}")))?;
        let target_rel = parent.join(name);
        if target_rel == rel {
            return Ok(());
        }
        let target_full = self.root.join(&target_rel);
        match fs::symlink_metadata(&target_full) {
            Ok(m) if m.is_dir() => return Err(self.refuse(raw, "hard link to a directory")),
            Ok(_) => {}
            Err(_) => {
                return Err(self.refuse(
                    raw,
                    format!(
                        "hard link target {} is not in the layer",
                        target_rel.display()
                    ),
                ))
            }
        }
        self.clear(raw, full)?;
        // link(2) does not follow a symlink target: the link is to the symlink itself.
        fs::hard_link(&target_full, full).map_err(|e| self.fail(raw, format!("hard link: {e}")))
    }

    fn owner_and_times(&self, raw: &[u8], full: &Path, meta: &Meta) -> Result<()> {
        if self.same_owner {
            rustix::fs::chownat(
                CWD,
                full,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| self.fail(raw, format!("chown: {e}")))?;
        }
        self.xattrs(raw, full, &meta.xattrs);
        set_mtime_nofollow(full, meta.mtime)
            .map_err(|e| self.fail(raw, format!("setting mtime: {e}")))
    }

    fn chmod(&self, raw: &[u8], full: &Path, mode: u32) -> Result<()> {
        rustix::fs::chmodat(CWD, full, Mode::from_raw_mode(mode), AtFlags::empty())
            .map_err(|e| self.fail(raw, format!("chmod: {e}")))
    }

    /// xattrs are kept where the filesystem takes them; a refusal (tmpfs without user xattrs,
    /// symlinks) loses the attribute, not the layer.
    fn xattrs(&self, _raw: &[u8], full: &Path, xattrs: &[(String, Vec<u8>)]) {
        for (name, value) in xattrs {
            if let Err(e) = rustix::fs::lsetxattr(full, name.as_str(), value, XattrFlags::empty()) {
                tracing::debug!(layer = %self.layer, xattr = %name, error = %e, "xattr not kept");
            }
        }
    }

    fn set_opaque(&self, raw: &[u8], full: &Path, rel: &Path) -> Result<()> {
        rustix::fs::lsetxattr(
            full,
            whiteout::OVERLAY_OPAQUE_XATTR,
            b"y",
            XattrFlags::empty(),
        )
        .map_err(|e| {
            self.fail(
                raw,
                format!(
                    "marking {} opaque needs root and a filesystem with trusted xattrs: {e}",
                    rel.display()
                ),
            )
        })
    }

    fn whiteout(&mut self, raw: &[u8], parents: &[OsString], w: Whiteout<'_>) -> Result<()> {
        let create = self.mode == UnpackMode::Layered;
        let parent = match path::resolve_parents(&self.root, parents, create) {
            Ok(p) => p,
            // Flattened: a whiteout under a directory that does not exist deletes nothing.
            Err(PathError::Missing(_)) if !create => return Ok(()),
            Err(PathError::ParentNotDirectory(_)) if !create => return Ok(()),
            Err(e) => return Err(self.path_error(raw, e)),
        };
        match w {
            Whiteout::Meta => Ok(()),
            Whiteout::Invalid => Err(self.refuse(raw, "whiteout without a name")),
            Whiteout::Opaque => {
                let full = self.root.join(&parent);
                match self.mode {
                    UnpackMode::Layered => self.set_opaque(raw, &full, &parent)?,
                    UnpackMode::Flatten => {
                        for child in read_dir_names(&full).map_err(|e| self.fail(raw, e))? {
                            self.remove_lower(raw, &parent.join(child))?;
                        }
                    }
                }
                self.opaque_dirs.push(parent);
                Ok(())
            }
            Whiteout::Remove(name) => {
                let rel = parent.join(name);
                let full = self.root.join(&rel);
                match self.mode {
                    UnpackMode::Flatten => self.remove_lower(raw, &rel)?,
                    UnpackMode::Layered if self.touched.contains(&rel) => {
                        // The layer also has this path: hide only what lies below it.
                        if fs::symlink_metadata(&full).is_ok_and(|m| m.is_dir()) {
                            self.set_opaque(raw, &full, &rel)?;
                        }
                    }
                    UnpackMode::Layered => {
                        self.clear(raw, &full)?;
                        rustix::fs::mknodat(CWD, &full, FileType::CharacterDevice, Mode::empty(), rustix::fs::makedev(0, 0))
                            .map_err(|e| {
                                self.fail(
                                    raw,
                                    format!(
                                        "making the overlay whiteout for {} needs root (CAP_MKNOD); unpack flattened otherwise: {e}",
                                        rel.display()
                                    ),
                                )
                            })?;
                        self.whited_out.insert(rel.clone());
                    }
                }
                self.whiteouts.push(rel);
                Ok(())
            }
        }
    }

    /// Deletes what lower layers have at `rel`, keeping anything this layer wrote there.
    fn remove_lower(&self, raw: &[u8], rel: &Path) -> Result<()> {
        let full = self.root.join(rel);
        let Ok(meta) = fs::symlink_metadata(&full) else {
            return Ok(());
        };
        if !self.touched.contains(rel) {
            let removed = if meta.is_dir() {
                fs::remove_dir_all(&full)
            } else {
                fs::remove_file(&full)
            };
            return removed
                .map_err(|e| self.fail(raw, format!("whiteout of {}: {e}", rel.display())));
        }
        if meta.is_dir() {
            for child in read_dir_names(&full).map_err(|e| self.fail(raw, e))? {
                self.remove_lower(raw, &rel.join(child))?;
            }
        }
        Ok(())
    }

    /// Directory modes and mtimes, deepest first, on paths that are still plain directories.
    fn apply_dir_fixups(&mut self) {
        for (rel, mode, mtime) in self.dir_fixups.drain(..).rev() {
            if !path::is_plain(&self.root, &rel) {
                continue;
            }
            let full = self.root.join(&rel);
            if !fs::symlink_metadata(&full).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            if let Err(e) =
                rustix::fs::chmodat(CWD, &full, Mode::from_raw_mode(mode), AtFlags::empty())
            {
                tracing::warn!(layer = %self.layer, path = %rel.display(), error = %e, "directory mode not set");
            }
            if let Err(e) = set_mtime_nofollow(&full, mtime) {
                tracing::warn!(layer = %self.layer, path = %rel.display(), error = %e, "directory mtime not set");
            }
        }
    }
}

fn read_dir_names(dir: &Path) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        names.push(entry?.file_name());
    }
    Ok(names)
}

fn set_mtime_nofollow(path: &Path, mtime: i64) -> io::Result<()> {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    rustix::fs::utimensat(
        CWD,
        path,
        &Timestamps {
            last_access: t,
            last_modification: t,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(io::Error::from)
}

/// Opens a blob file for unpacking.
pub fn open_blob(path: &Path) -> Result<File> {
    File::open(path).ctx("opening layer blob", path)
}
