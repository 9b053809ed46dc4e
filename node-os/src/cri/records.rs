//! The kubelet-facing records of sandboxes and containers, one JSON file each, replaced
//! atomically (write, fsync, rename) so a crash leaves the old record or the new one.
//!
//! The files are the truth across restarts; a copy kept in memory (loaded at open, updated
//! with every write) answers the reads, because every pod worker lists its pod's records each
//! second and reading a hundred files per pod per second would dominate a busy node.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::kubelet::runtime_api::PodSandboxConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxRecord {
    pub id: String,
    pub config: PodSandboxConfig,
    pub ip: Option<String>,
    /// Unix nanoseconds.
    pub created_at: i64,
    /// False once stopped (its network released, its containers killed).
    pub ready: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub sandbox_id: String,
    pub pod_uid: String,
    pub name: String,
    pub attempt: u32,
    pub image: String,
    pub image_ref: String,
    pub log_path: PathBuf,
    pub labels: BTreeMap<String, String>,
}

pub struct Records {
    dir: PathBuf,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    sandboxes: BTreeMap<String, SandboxRecord>,
    containers: BTreeMap<String, ContainerRecord>,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| io::Error::other(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

impl Records {
    pub fn open(dir: PathBuf) -> io::Result<Records> {
        std::fs::create_dir_all(dir.join("sandboxes"))?;
        std::fs::create_dir_all(dir.join("containers"))?;
        let mut cache = Cache::default();
        for e in std::fs::read_dir(dir.join("sandboxes"))? {
            if let Some(r) = read::<SandboxRecord>(&e?.path().join("record.json"))? {
                cache.sandboxes.insert(r.id.clone(), r);
            }
        }
        for e in std::fs::read_dir(dir.join("containers"))? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "json") {
                if let Some(r) = read::<ContainerRecord>(&p)? {
                    cache.containers.insert(r.id.clone(), r);
                }
            }
        }
        Ok(Records {
            dir,
            cache: Mutex::new(cache),
        })
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        // A panic while holding the lock cannot leave the maps half-updated (each update is
        // one insert or remove), so a poisoned lock is still consistent.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A sandbox's directory: its record and its `/etc` files.
    pub fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.dir.join("sandboxes").join(id)
    }

    fn container_file(&self, id: &str) -> PathBuf {
        self.dir.join("containers").join(format!("{id}.json"))
    }

    pub fn put_sandbox(&self, r: &SandboxRecord) -> io::Result<()> {
        let dir = self.sandbox_dir(&r.id);
        std::fs::create_dir_all(&dir)?;
        write_atomic(&dir.join("record.json"), &serde_json::to_vec(r)?)?;
        self.cache().sandboxes.insert(r.id.clone(), r.clone());
        Ok(())
    }

    pub fn sandbox(&self, id: &str) -> io::Result<Option<SandboxRecord>> {
        Ok(self.cache().sandboxes.get(id).cloned())
    }

    pub fn sandboxes(&self) -> io::Result<Vec<SandboxRecord>> {
        Ok(self.cache().sandboxes.values().cloned().collect())
    }

    pub fn remove_sandbox(&self, id: &str) -> io::Result<()> {
        ignore_missing(std::fs::remove_dir_all(self.sandbox_dir(id)))?;
        self.cache().sandboxes.remove(id);
        Ok(())
    }

    pub fn put_container(&self, r: &ContainerRecord) -> io::Result<()> {
        write_atomic(&self.container_file(&r.id), &serde_json::to_vec(r)?)?;
        self.cache().containers.insert(r.id.clone(), r.clone());
        Ok(())
    }

    pub fn container(&self, id: &str) -> io::Result<Option<ContainerRecord>> {
        Ok(self.cache().containers.get(id).cloned())
    }

    pub fn containers(&self) -> io::Result<Vec<ContainerRecord>> {
        Ok(self.cache().containers.values().cloned().collect())
    }

    /// The containers of one pod.
    pub fn containers_of_pod(&self, uid: &str) -> Vec<ContainerRecord> {
        self.cache()
            .containers
            .values()
            .filter(|c| c.pod_uid == uid)
            .cloned()
            .collect()
    }

    pub fn remove_container(&self, id: &str) -> io::Result<()> {
        ignore_missing(std::fs::remove_file(self.container_file(id)))?;
        self.cache().containers.remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(id: &str, pod: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.into(),
            sandbox_id: "s".into(),
            pod_uid: pod.into(),
            name: "c".into(),
            attempt: 0,
            image: "i".into(),
            image_ref: "i@sha256:00".into(),
            log_path: "/l".into(),
            labels: BTreeMap::new(),
        }
    }

    #[test]
    fn records_survive_reopening_and_removal_reaches_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let r = Records::open(dir.path().to_path_buf()).unwrap();
        r.put_container(&container("a", "p1")).unwrap();
        r.put_container(&container("b", "p2")).unwrap();
        r.put_container(&container("c", "p1")).unwrap();
        r.remove_container("c").unwrap();
        assert_eq!(r.containers_of_pod("p1").len(), 1);
        let again = Records::open(dir.path().to_path_buf()).unwrap();
        let mut ids: Vec<String> = again
            .containers()
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        ids.sort();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(again.containers_of_pod("p2")[0].id, "b");
        assert!(again.container("c").unwrap().is_none());
    }
}
