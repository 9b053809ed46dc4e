//! The content store on disk, under one root directory:
//!
//! ```text
//! blobs/sha256/<hex>        manifests, configs and layers, by digest, each stored once
//! ingest/<hex>.<n>.partial  blobs being downloaded; renamed into blobs/ once verified
//! images/<hex>.json         one record per reference (hex = sha256 of the reference)
//! snapshots/sha256/<hex>    unpacked layers by chain ID (overlayfs lowerdirs)
//! snapshots/tmp/            snapshots being unpacked; renamed into place when complete
//! ```
//!
//! Nothing becomes visible half-written: blobs and snapshots appear by rename once complete
//! (and verified), records are replaced by rename. Two pulls of the same blob each write their
//! own temporary file, and an in-process lock per digest keeps them from downloading twice.
//! One process owns a store root; garbage collection takes a lock that pulls and snapshot
//! preparation hold shared, so it never deletes what an operation in flight is about to
//! reference.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::sync::{OwnedMutexGuard, RwLock, RwLockReadGuard};

use crate::config::ImageConfig;
use crate::digest::{Digest, Hasher};
use crate::error::{Error, IoContext, Result};
use crate::reference::Reference;

/// What the store knows about a pulled image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The normalized reference it was pulled as (`docker.io/library/nginx:1.25`).
    pub reference: String,
    /// `registry/repository` (`docker.io/library/nginx`).
    pub name: String,
    /// The digest the reference resolved to: the index's when the registry served one, else
    /// the manifest's. This is the "repo digest" Kubernetes shows in `imageID`.
    pub resolved_digest: Digest,
    /// The platform manifest's digest (equal to `resolved_digest` without an index).
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    pub config_digest: Digest,
    pub config: ImageConfig,
    pub layers: Vec<LayerRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub diff_id: Digest,
    pub chain_id: Digest,
}

impl ImageRecord {
    /// `imageID` as the kubelet reports it: `docker.io/library/nginx@sha256:<resolved digest>`.
    pub fn image_id(&self) -> String {
        format!("{}@{}", self.name, self.resolved_digest)
    }

    /// Bytes of the compressed layers, what
    /// `kubectl get node -o yaml` shows under `status.images[].sizeBytes`.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }

    /// Every blob the image needs kept.
    fn blobs(&self) -> impl Iterator<Item = &Digest> {
        [
            &self.resolved_digest,
            &self.manifest_digest,
            &self.config_digest,
        ]
        .into_iter()
        .chain(self.layers.iter().map(|l| &l.digest))
    }
}

/// What a garbage collection removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub removed_blobs: Vec<Digest>,
    pub removed_snapshots: Vec<Digest>,
    pub freed_bytes: u64,
}

pub struct Store {
    root: PathBuf,
    /// Per-digest (blob or snapshot) locks, so one task downloads or unpacks while others
    /// wait and then find it done.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Held shared by pulls and snapshot preparation, exclusively by garbage collection.
    gc: RwLock<()>,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other writer in this or another process uses at the same time.
fn unique_suffix() -> String {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}.{n}.{nanos}", std::process::id())
}

impl Store {
    /// Opens (creating as needed) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        for dir in [
            "blobs/sha256",
            "ingest",
            "images",
            "snapshots/sha256",
            "snapshots/tmp",
        ] {
            let path = root.join(dir);
            fs::create_dir_all(&path).ctx("creating store directory", &path)?;
        }
        Ok(Store {
            root,
            locks: Mutex::new(HashMap::new()),
            gc: RwLock::new(()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Reads a small blob (manifest, config) whole, refusing more than `limit` bytes.
    pub fn read_blob(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let len = fs::metadata(&path).ctx("reading blob", &path)?.len();
        if len > limit {
            return Err(Error::TooLarge {
                what: format!("blob {digest}"),
                limit,
            });
        }
        fs::read(&path).ctx("reading blob", &path)
    }

    /// Stores bytes already in memory (a manifest) after checking their digest.
    pub async fn write_blob(&self, expected: &Digest, bytes: &[u8]) -> Result<()> {
        if self.has_blob(expected) {
            return Ok(());
        }
        let mut ingest = self.ingest(expected, bytes.len() as u64).await?;
        ingest.write(bytes).await?;
        ingest.commit().await
    }

    /// Starts writing a blob that must turn out to have `digest` and `size`.
    pub async fn ingest(&self, digest: &Digest, size: u64) -> Result<Ingest> {
        let temp =
            self.root
                .join("ingest")
                .join(format!("{}.{}.partial", digest.hex(), unique_suffix()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .await
            .ctx("creating ingest file", &temp)?;
        Ok(Ingest {
            file: Some(file),
            temp,
            target: self.blob_path(digest),
            expected: digest.clone(),
            expected_size: size,
            hasher: Hasher::default(),
            written: 0,
        })
    }

    /// Waits for exclusive use of `key` (a blob or snapshot digest) within this process.
    pub(crate) async fn lock(&self, key: String) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            locks.entry(key).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// Keeps garbage collection away while held.
    pub(crate) async fn pin(&self) -> RwLockReadGuard<'_, ()> {
        self.gc.read().await
    }

    fn record_path(&self, reference: &str) -> PathBuf {
        self.root
            .join("images")
            .join(format!("{}.json", Digest::of(reference.as_bytes()).hex()))
    }

    /// Writes (or replaces) the record of `record.reference`.
    pub fn put_image(&self, record: &ImageRecord) -> Result<()> {
        let path = self.record_path(&record.reference);
        let bytes = serde_json::to_vec_pretty(record)
            .map_err(|e| Error::io("encoding image record", &path, io::Error::other(e)))?;
        write_atomically(&path, &bytes)
    }

    /// The record for a reference. A digest reference also matches an image pulled by tag
    /// that resolved to that digest.
    pub fn get_image(&self, reference: &Reference) -> Result<Option<ImageRecord>> {
        if let Some(record) = self.read_record(&self.record_path(&reference.to_string()))? {
            return Ok(Some(record));
        }
        let Some(digest) = reference.digest() else {
            return Ok(None);
        };
        let name = reference.name();
        Ok(self.list_images()?.into_iter().find(|r| {
            r.name == name && (&r.resolved_digest == digest || &r.manifest_digest == digest)
        }))
    }

    fn read_record(&self, path: &Path) -> Result<Option<ImageRecord>> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::io("decoding image record", path, io::Error::other(e))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("reading image record", path, e)),
        }
    }

    /// Every image record, sorted by reference.
    pub fn list_images(&self) -> Result<Vec<ImageRecord>> {
        let dir = self.root.join("images");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).ctx("listing images", &dir)? {
            let path = entry.ctx("listing images", &dir)?.path();
            if path.extension().is_some_and(|e| e == "json") {
                out.extend(self.read_record(&path)?);
            }
        }
        out.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(out)
    }

    /// Forgets a reference. Its blobs and snapshots stay until [`Store::garbage_collect`].
    /// Returns whether there was such an image.
    pub fn remove_image(&self, reference: &Reference) -> Result<bool> {
        let path = self.record_path(&reference.to_string());
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("removing image record", &path, e)),
        }
    }

    pub fn snapshot_dir(&self, chain_id: &Digest) -> PathBuf {
        self.root.join("snapshots/sha256").join(chain_id.hex())
    }

    /// A fresh directory to unpack a snapshot into before it is renamed into place.
    pub(crate) fn snapshot_temp_dir(&self, chain_id: &Digest) -> Result<PathBuf> {
        let path =
            self.root
                .join("snapshots/tmp")
                .join(format!("{}.{}", chain_id.hex(), unique_suffix()));
        fs::create_dir(&path).ctx("creating snapshot directory", &path)?;
        Ok(path)
    }

    /// Deletes blobs and snapshots no image record references, and leftovers of interrupted
    /// downloads and unpacks. Waits for pulls in flight to finish first.
    pub async fn garbage_collect(&self) -> Result<GcReport> {
        let _exclusive = self.gc.write().await;
        let images = self.list_images()?;
        let blobs: HashSet<&Digest> = images.iter().flat_map(ImageRecord::blobs).collect();
        let snapshots: HashSet<&Digest> = images
            .iter()
            .flat_map(|i| i.layers.iter().map(|l| &l.chain_id))
            .collect();
        let mut report = GcReport::default();

        let blob_dir = self.root.join("blobs/sha256");
        for (name, path) in dir_entries(&blob_dir)? {
            let Ok(digest) = Digest::from_hex(&name) else {
                continue;
            };
            if !blobs.contains(&digest) {
                let len = fs::symlink_metadata(&path).map_or(0, |m| m.len());
                fs::remove_file(&path).ctx("removing blob", &path)?;
                report.freed_bytes += len;
                report.removed_blobs.push(digest);
            }
        }
        let snapshot_dir = self.root.join("snapshots/sha256");
        for (name, path) in dir_entries(&snapshot_dir)? {
            let Ok(chain_id) = Digest::from_hex(&name) else {
                continue;
            };
            if !snapshots.contains(&chain_id) {
                fs::remove_dir_all(&path).ctx("removing snapshot", &path)?;
                report.removed_snapshots.push(chain_id);
            }
        }
        for leftovers in ["ingest", "snapshots/tmp"] {
            for (_, path) in dir_entries(&self.root.join(leftovers))? {
                let removed = if path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                removed.ctx("removing leftover", &path)?;
            }
        }
        report.removed_blobs.sort();
        report.removed_snapshots.sort();
        Ok(report)
    }
}

fn dir_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).ctx("listing", dir)? {
        let entry = entry.ctx("listing", dir)?;
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    Ok(out)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = path.with_extension(format!("tmp.{}", unique_suffix()));
    let result = (|| {
        let mut file = fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.ctx("writing", path)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// A blob being written. Bytes are hashed and counted as they arrive; more than the expected
/// size is refused at once. [`Ingest::commit`] moves the file into place only if size and
/// digest match; any other end (error, drop) deletes the temporary file.
pub struct Ingest {
    file: Option<tokio::fs::File>,
    temp: PathBuf,
    target: PathBuf,
    expected: Digest,
    expected_size: u64,
    hasher: Hasher,
    written: u64,
}

impl Ingest {
    pub fn expected_size(&self) -> u64 {
        self.expected_size
    }

    pub async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if self.written + bytes.len() as u64 > self.expected_size {
            return Err(Error::SizeMismatch {
                what: format!("blob {}", self.expected),
                expected: self.expected_size,
                actual: self.written + bytes.len() as u64,
            });
        }
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        let file = self.file.as_mut().expect("file is present until commit");
        file.write_all(bytes)
            .await
            .ctx("writing ingest file", &self.temp)
    }

    /// Verifies size and digest, then makes the blob visible under its digest.
    pub async fn commit(mut self) -> Result<()> {
        let mut file = self.file.take().expect("file is present until commit");
        file.flush().await.ctx("writing ingest file", &self.temp)?;
        file.sync_all()
            .await
            .ctx("syncing ingest file", &self.temp)?;
        drop(file);
        let what = format!("blob {}", self.expected);
        if self.written != self.expected_size {
            return Err(Error::SizeMismatch {
                what,
                expected: self.expected_size,
                actual: self.written,
            });
        }
        let actual = std::mem::take(&mut self.hasher).finish();
        if actual != self.expected {
            return Err(Error::DigestMismatch {
                what,
                expected: self.expected.clone(),
                actual,
            });
        }
        tokio::fs::rename(&self.temp, &self.target)
            .await
            .ctx("moving verified blob into place", &self.target)?;
        if let Some(dir) = self.target.parent() {
            let _ = sync_dir(dir);
        }
        // Renamed: nothing left for Drop to delete.
        self.temp = PathBuf::new();
        Ok(())
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_verified_blob_appears_and_a_corrupt_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let good = Digest::of(b"hello");
        store.write_blob(&good, b"hello").await.unwrap();
        assert_eq!(fs::read(store.blob_path(&good)).unwrap(), b"hello");

        let claimed = Digest::of(b"other");
        let err = store.write_blob(&claimed, b"hellx").await.unwrap_err();
        assert!(
            matches!(&err, Error::DigestMismatch { expected, actual, .. }
                if *expected == claimed && *actual == Digest::of(b"hellx")),
            "{err}"
        );
        assert!(err.to_string().contains(&claimed.to_string()));
        assert!(!store.has_blob(&claimed));
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);

        let mut ingest = store.ingest(&claimed, 3).await.unwrap();
        let err = ingest.write(b"four").await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::SizeMismatch {
                    expected: 3,
                    actual: 4,
                    ..
                }
            ),
            "{err}"
        );
        drop(ingest);
        let mut short = store.ingest(&claimed, 10).await.unwrap();
        short.write(b"abc").await.unwrap();
        let err = short.commit().await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::SizeMismatch {
                    expected: 10,
                    actual: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
    }

    fn record(reference: &str, layers: &[&[u8]]) -> ImageRecord {
        let r = Reference::parse(reference).unwrap();
        let layers: Vec<LayerRecord> = layers
            .iter()
            .map(|l| LayerRecord {
                digest: Digest::of(l),
                size: l.len() as u64,
                media_type: crate::manifest::OCI_LAYER_TAR.into(),
                diff_id: Digest::of(l),
                chain_id: Digest::of(l),
            })
            .collect();
        ImageRecord {
            reference: r.to_string(),
            name: r.name(),
            resolved_digest: Digest::of(r.to_string().as_bytes()),
            manifest_digest: Digest::of(r.to_string().as_bytes()),
            manifest_media_type: crate::manifest::OCI_MANIFEST.into(),
            config_digest: Digest::of(b"config"),
            config: ImageConfig::default(),
            layers,
        }
    }

    #[tokio::test]
    async fn records_round_trip_and_gc_keeps_only_what_images_reference() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = record("a:1", &[b"base", b"top-a"]);
        let b = record("b:1", &[b"base", b"top-b"]);
        for r in [&a, &b] {
            for blob in [&b"config"[..], r.reference.as_bytes()] {
                store.write_blob(&Digest::of(blob), blob).await.unwrap();
            }
            store.put_image(r).unwrap();
        }
        for l in [&b"base"[..], b"top-a", b"top-b"] {
            store.write_blob(&Digest::of(l), l).await.unwrap();
            fs::create_dir_all(store.snapshot_dir(&Digest::of(l)).join("etc")).unwrap();
        }
        fs::write(dir.path().join("ingest/leftover.partial"), b"x").unwrap();

        let ra = Reference::parse("a:1").unwrap();
        assert_eq!(store.get_image(&ra).unwrap(), Some(a.clone()));
        let by_digest = Reference::parse(&format!("a@{}", a.resolved_digest)).unwrap();
        assert_eq!(store.get_image(&by_digest).unwrap(), Some(a.clone()));
        assert_eq!(store.list_images().unwrap(), vec![a.clone(), b.clone()]);

        assert_eq!(store.garbage_collect().await.unwrap(), GcReport::default());
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);

        assert!(store.remove_image(&ra).unwrap());
        assert!(!store.remove_image(&ra).unwrap());
        let report = store.garbage_collect().await.unwrap();
        let mut gone = vec![Digest::of(b"top-a"), a.resolved_digest.clone()];
        gone.sort();
        assert_eq!(report.removed_blobs, gone);
        assert_eq!(report.removed_snapshots, vec![Digest::of(b"top-a")]);
        assert!(store.has_blob(&Digest::of(b"base")), "shared with b");
        assert!(store.snapshot_dir(&Digest::of(b"base")).is_dir());
        assert!(store.snapshot_dir(&Digest::of(b"top-b")).is_dir());
        assert!(!store.snapshot_dir(&Digest::of(b"top-a")).exists());
    }

    #[tokio::test]
    async fn concurrent_writers_of_one_blob_both_succeed_with_one_copy() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let data = vec![7u8; 1 << 20];
        let digest = Digest::of(&data);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (store, data, digest) = (store.clone(), data.clone(), digest.clone());
            tasks.push(tokio::spawn(async move {
                let mut ingest = store.ingest(&digest, data.len() as u64).await.unwrap();
                for chunk in data.chunks(4096) {
                    ingest.write(chunk).await.unwrap();
                    tokio::task::yield_now().await;
                }
                ingest.commit().await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), data);
        assert_eq!(
            fs::read_dir(dir.path().join("blobs/sha256"))
                .unwrap()
                .count(),
            1
        );
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
    }
}
