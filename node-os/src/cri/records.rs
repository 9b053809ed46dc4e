//! The kubelet-facing records of sandboxes and containers, one JSON file each, replaced
//! atomically (write, fsync, rename) so a crash leaves the old record or the new one.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

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
        Ok(Records { dir })
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
        write_atomic(&dir.join("record.json"), &serde_json::to_vec(r)?)
    }

    pub fn sandbox(&self, id: &str) -> io::Result<Option<SandboxRecord>> {
        read(&self.sandbox_dir(id).join("record.json"))
    }

    pub fn sandboxes(&self) -> io::Result<Vec<SandboxRecord>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.dir.join("sandboxes"))? {
            if let Some(r) = read(&e?.path().join("record.json"))? {
                out.push(r);
            }
        }
        Ok(out)
    }

    pub fn remove_sandbox(&self, id: &str) -> io::Result<()> {
        ignore_missing(std::fs::remove_dir_all(self.sandbox_dir(id)))
    }

    pub fn put_container(&self, r: &ContainerRecord) -> io::Result<()> {
        write_atomic(&self.container_file(&r.id), &serde_json::to_vec(r)?)
    }

    pub fn container(&self, id: &str) -> io::Result<Option<ContainerRecord>> {
        read(&self.container_file(id))
    }

    pub fn containers(&self) -> io::Result<Vec<ContainerRecord>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.dir.join("containers"))? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "json") {
                if let Some(r) = read(&p)? {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    pub fn remove_container(&self, id: &str) -> io::Result<()> {
        ignore_missing(std::fs::remove_file(self.container_file(id)))
    }
}
