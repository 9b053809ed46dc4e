//! Snapshot files: the whole retained MVCC state (every retained version of
//! every key, so watches can resume across restarts) plus the log index it
//! covers. Written to a temp file, fsynced, renamed into place and the
//! directory fsynced; only after that may covered log segments be removed.
//!
//! ```text
//! file    := "KSTSNAP1" u64(applied index) i64(revision) i64(compacted)
//!            u64(key count) key* u32(crc32 of everything before)
//! key     := str(key) u32(n) version{n}
//! version := i64(mod_revision) u32(sub) i64(create_revision) i64(version)
//!            u8(0 = tombstone | 1 = live) [bytes(value) if live]
//! ```

use std::fs::{self, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::codec::{self, DecodeResult, Reader};
use crate::error::{Error, Result};
use crate::mvcc::{KeyHistory, Mvcc, Version};
use crate::wal::sync_dir;

const MAGIC: &[u8; 8] = b"KSTSNAP1";
const TMP_SUFFIX: &str = ".tmp";

pub(crate) fn snapshot_name(index: u64) -> String {
    format!("snap-{index:020}.snap")
}

fn parse_snapshot_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("snap-")?.strip_suffix(".snap")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Snapshot files in `dir` sorted by index; removes leftover temp files
/// (a crash during a snapshot write), which were never renamed into place.
fn list_snapshots(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries =
        fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("snap-") && name.ends_with(TMP_SUFFIX) {
            let _ = fs::remove_file(entry.path());
        } else if let Some(index) = parse_snapshot_name(name) {
            out.push((index, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Feeds everything written through it into a CRC.
struct CrcWriter<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a snapshot of `mvcc` durably and returns its path.
pub(crate) fn write(dir: &Path, mvcc: &Mvcc, fsync: bool) -> Result<PathBuf> {
    let index = mvcc.applied_index();
    let path = dir.join(snapshot_name(index));
    let tmp = dir.join(format!("{}{TMP_SUFFIX}", snapshot_name(index)));
    let io = |e| Error::io(format!("writing snapshot {}", tmp.display()), e);
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&tmp)
        .map_err(io)?;
    let mut w = CrcWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        crc: crc32fast::Hasher::new(),
    };
    let mut buf = Vec::with_capacity(64 << 10);
    buf.extend_from_slice(MAGIC);
    codec::put_u64(&mut buf, index);
    codec::put_i64(&mut buf, mvcc.revision());
    codec::put_i64(&mut buf, mvcc.compacted_revision());
    let keys = mvcc.keys();
    codec::put_u64(&mut buf, keys.len() as u64);
    for (key, history) in keys {
        codec::put_str(&mut buf, key);
        codec::put_u32(&mut buf, history.versions.len() as u32);
        for v in &history.versions {
            codec::put_i64(&mut buf, v.mod_revision);
            codec::put_u32(&mut buf, v.sub);
            codec::put_i64(&mut buf, v.create_revision);
            codec::put_i64(&mut buf, v.version);
            match &v.value {
                Some(value) => {
                    codec::put_u8(&mut buf, 1);
                    codec::put_bytes(&mut buf, value);
                }
                None => codec::put_u8(&mut buf, 0),
            }
        }
        if buf.len() >= 32 << 10 {
            w.write_all(&buf).map_err(io)?;
            buf.clear();
        }
    }
    w.write_all(&buf).map_err(io)?;
    let crc = w.crc.clone().finalize();
    let mut file = w.inner.into_inner().map_err(|e| io(e.into_error()))?;
    file.write_all(&crc.to_le_bytes()).map_err(io)?;
    if fsync {
        file.sync_all().map_err(io)?;
    }
    drop(file);
    fs::rename(&tmp, &path)
        .map_err(|e| Error::io(format!("renaming {} into place", tmp.display()), e))?;
    if fsync {
        sync_dir(dir)?;
    }
    Ok(path)
}

/// Removes snapshots older than `keep_index` (the newest durable one).
pub(crate) fn remove_older(dir: &Path, keep_index: u64) -> Result<()> {
    for (index, path) in list_snapshots(dir)? {
        if index < keep_index {
            fs::remove_file(&path)
                .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
        }
    }
    Ok(())
}

/// Loads the newest snapshot in `dir`, if any. A damaged newest snapshot is
/// an error, not a reason to fall back to an older one: the log segments an
/// older snapshot would need may already be gone.
pub(crate) fn load_latest(dir: &Path) -> Result<Option<Mvcc>> {
    let Some((index, path)) = list_snapshots(dir)?.pop() else {
        return Ok(None);
    };
    let buf = fs::read(&path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mvcc = decode(&buf).map_err(|(offset, reason)| Error::corrupt(&path, offset, reason))?;
    if mvcc.applied_index() != index {
        return Err(Error::corrupt(
            &path,
            8,
            format!(
                "file name says index {index} but it holds index {}",
                mvcc.applied_index()
            ),
        ));
    }
    Ok(Some(mvcc))
}

fn decode(buf: &[u8]) -> std::result::Result<Mvcc, (u64, String)> {
    if buf.len() < MAGIC.len() + 4 || &buf[..MAGIC.len()] != MAGIC {
        return Err((0, "not a snapshot file (bad magic or too short)".into()));
    }
    let (body, trailer) = buf.split_at(buf.len() - 4);
    let stored = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    if crc32fast::hash(body) != stored {
        return Err((body.len() as u64, "checksum mismatch".into()));
    }
    let mut r = Reader::new(&body[MAGIC.len()..]);
    let parsed = (|| -> DecodeResult<_> {
        let applied_index = r.u64("applied index")?;
        let revision = r.i64("revision")?;
        let compacted = r.i64("compacted revision")?;
        let key_count = r.u64("key count")?;
        // Each key takes at least 8 bytes; reject absurd counts up front.
        if key_count > (r.remaining() / 8) as u64 {
            return Err(codec::DecodeError {
                offset: r.position(),
                what: "key count larger than the file",
            });
        }
        let mut keys = Vec::with_capacity(key_count as usize);
        for _ in 0..key_count {
            let key = r.str("key")?.to_owned();
            let n = r.count(8 + 4 + 8 + 8 + 1, "version count")?;
            let mut versions = Vec::with_capacity(n);
            for _ in 0..n {
                let mod_revision = r.i64("mod revision")?;
                let sub = r.u32("sub revision")?;
                let create_revision = r.i64("create revision")?;
                let version = r.i64("version")?;
                let value = match r.u8("liveness")? {
                    0 => None,
                    1 => Some(Bytes::copy_from_slice(r.bytes("value")?)),
                    _ => {
                        return Err(codec::DecodeError {
                            offset: r.position(),
                            what: "bad liveness flag",
                        })
                    }
                };
                versions.push(Version {
                    mod_revision,
                    sub,
                    create_revision,
                    version,
                    value,
                });
            }
            keys.push((key, KeyHistory { versions }));
        }
        if !r.is_empty() {
            return Err(codec::DecodeError {
                offset: r.position(),
                what: "trailing bytes",
            });
        }
        Ok((applied_index, revision, compacted, keys))
    })();
    let (applied_index, revision, compacted, keys) =
        parsed.map_err(|e| ((MAGIC.len() + e.offset) as u64, e.what.to_string()))?;
    Mvcc::from_parts(applied_index, revision, compacted, keys).map_err(|reason| (0, reason))
}

/// Lets tests damage snapshot files without knowing the naming scheme.
#[cfg(test)]
pub(crate) fn latest_path(dir: &Path) -> Option<PathBuf> {
    list_snapshots(dir).ok()?.pop().map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::txn::{Op, Txn};

    fn sample() -> Mvcc {
        let mut m = Mvcc::new();
        let mut index = 0;
        let mut apply = |m: &mut Mvcc, c: Command| {
            index += 1;
            m.apply(index, &c);
        };
        for i in 0..50 {
            let op = if i % 7 == 3 {
                Op::Delete {
                    key: format!("/k/{}", i % 11),
                }
            } else {
                Op::Put {
                    key: format!("/k/{}", i % 11),
                    value: Bytes::from(format!("value {i}")),
                }
            };
            apply(
                &mut m,
                Command::Txn(Txn {
                    success: vec![op],
                    ..Txn::default()
                }),
            );
        }
        apply(&mut m, Command::Compact { revision: 20 });
        m
    }

    #[test]
    fn a_snapshot_round_trips_the_whole_state() {
        let dir = tempfile::tempdir().unwrap();
        let m = sample();
        assert!(load_latest(dir.path()).unwrap().is_none());
        write(dir.path(), &m, true).unwrap();
        let loaded = load_latest(dir.path()).unwrap().unwrap();
        assert!(loaded == m);
    }

    #[test]
    fn any_flipped_or_missing_byte_is_reported_as_corruption() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &sample(), false).unwrap();
        let path = latest_path(dir.path()).unwrap();
        let good = fs::read(&path).unwrap();
        for i in (0..good.len()).step_by(37) {
            let mut bad = good.clone();
            bad[i] ^= 0x5a;
            fs::write(&path, &bad).unwrap();
            assert!(
                matches!(load_latest(dir.path()), Err(Error::Corrupt { .. })),
                "flip at {i}"
            );
        }
        fs::write(&path, &good[..good.len() - 1]).unwrap();
        assert!(matches!(
            load_latest(dir.path()),
            Err(Error::Corrupt { .. })
        ));
    }

    #[test]
    fn older_snapshots_and_temp_files_are_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let m = sample();
        fs::write(dir.path().join("snap-00000000000000000001.snap"), b"old").unwrap();
        fs::write(
            dir.path().join("snap-00000000000000000099.snap.tmp"),
            b"partial",
        )
        .unwrap();
        write(dir.path(), &m, false).unwrap();
        remove_older(dir.path(), m.applied_index()).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![snapshot_name(m.applied_index())]);
    }
}
