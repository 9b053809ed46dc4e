//! Layers as the container runtime mounts them. Each layer is unpacked once into a directory
//! named by its chain ID (the digest that identifies a layer *together with* everything below
//! it), so images sharing a base share its snapshots; the runtime stacks them as overlayfs
//! lowerdirs. [`flatten_image`] instead applies every layer into one directory, for root
//! filesystems without overlayfs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::store::{ImageRecord, Store};
use crate::unpack::{self, running_as_root, UnpackMode};

/// Chain IDs per the OCI image spec: the first is the first `diff_id`; each next one is
/// `sha256(previous + " " + diff_id)`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match out.last() {
            None => diff_id.clone(),
            Some(parent) => Digest::of(format!("{parent} {diff_id}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// An image's unpacked layers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshots {
    /// Snapshot directories, top-most layer first: overlayfs's `lowerdir` order.
    pub lowerdirs: Vec<PathBuf>,
}

impl Snapshots {
    /// The `lowerdir=` value for an overlay mount. Snapshot paths are the store root plus hex
    /// digests, so they hold no `:` or `,` unless the root does, which is refused.
    pub fn lowerdir_option(&self) -> Result<String> {
        let mut parts = Vec::with_capacity(self.lowerdirs.len());
        for dir in &self.lowerdirs {
            let s = dir.to_str().filter(|s| !s.contains([':', ',', '\\']));
            parts.push(s.ok_or_else(|| Error::Layer {
                layer: dir.display().to_string(),
                reason:
                    "snapshot path unusable in an overlay mount option (':', ',' or '\\')".into(),
            })?);
        }
        Ok(parts.join(":"))
    }
}

/// Unpacks every layer of `image` not unpacked yet (layered, for overlayfs) and returns the
/// lowerdirs. Each snapshot is written to a temporary directory and renamed into place only
/// after its `diff_id` checked out, so a present snapshot is always complete.
pub async fn prepare_snapshots(store: &Arc<Store>, image: &ImageRecord) -> Result<Snapshots> {
    let _pin = store.pin().await;
    let mut lowerdirs = Vec::with_capacity(image.layers.len());
    for layer in &image.layers {
        let dir = store.snapshot_dir(&layer.chain_id);
        let _lock = store.lock(format!("snapshot:{}", layer.chain_id)).await;
        if !dir.is_dir() {
            let store = store.clone();
            let owned = layer.clone();
            let target = dir.clone();
            tokio::task::spawn_blocking(move || {
                let layer = owned;
                let temp = store.snapshot_temp_dir(&layer.chain_id)?;
                let result = unpack_checked(
                    &store.blob_path(&layer.digest),
                    &temp,
                    UnpackMode::Layered,
                    &layer.digest,
                    &layer.diff_id,
                )
                .and_then(|_| {
                    std::fs::rename(&temp, &target)
                        .map_err(|e| Error::io("moving snapshot into place", &target, e))
                });
                if result.is_err() {
                    let _ = std::fs::remove_dir_all(&temp);
                }
                result
            })
            .await
            .map_err(|e| Error::Layer {
                layer: layer.digest.to_string(),
                reason: format!("unpack task failed: {e}"),
            })??;
            tracing::info!(layer = %layer.digest, chain_id = %layer.chain_id, "layer unpacked");
        }
        lowerdirs.push(dir);
    }
    lowerdirs.reverse();
    Ok(Snapshots { lowerdirs })
}

/// Applies every layer of `image`, base first, into `target` (which must exist and should be
/// empty), carrying out whiteouts as deletions.
pub async fn flatten_image(store: &Arc<Store>, image: &ImageRecord, target: &Path) -> Result<()> {
    let _pin = store.pin().await;
    let store = store.clone();
    let image = image.clone();
    let target = target.to_path_buf();
    tokio::task::spawn_blocking(move || {
        for layer in &image.layers {
            unpack_checked(
                &store.blob_path(&layer.digest),
                &target,
                UnpackMode::Flatten,
                &layer.digest,
                &layer.diff_id,
            )?;
        }
        Ok(())
    })
    .await
    .map_err(|e| Error::Layer {
        layer: "flatten".into(),
        reason: format!("unpack task failed: {e}"),
    })?
}

/// Unpacks a layer blob and checks that the tar's digest is the expected `diff_id`.
fn unpack_checked(
    blob: &Path,
    target: &Path,
    mode: UnpackMode,
    digest: &Digest,
    diff_id: &Digest,
) -> Result<()> {
    let file = unpack::open_blob(blob)?;
    let summary = unpack::unpack_layer(file, target, mode, running_as_root(), &digest.to_string())?;
    if &summary.diff_id != diff_id {
        return Err(Error::DigestMismatch {
            what: format!("uncompressed layer {digest} (diff_id)"),
            expected: diff_id.clone(),
            actual: summary.diff_id,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_definition() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let c = Digest::of(b"c");
        let ids = chain_ids(&[a.clone(), b.clone(), c.clone()]);
        assert_eq!(ids[0], a);
        let ab = Digest::of(format!("{a} {b}").as_bytes());
        assert_eq!(ids[1], ab);
        assert_eq!(ids[2], Digest::of(format!("{ab} {c}").as_bytes()));
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn lowerdir_option_joins_top_first_and_refuses_separators() {
        let s = Snapshots {
            lowerdirs: vec!["/s/top".into(), "/s/base".into()],
        };
        assert_eq!(s.lowerdir_option().unwrap(), "/s/top:/s/base");
        let bad = Snapshots {
            lowerdirs: vec!["/s/a:b".into()],
        };
        assert!(bad.lowerdir_option().is_err());
    }
}
