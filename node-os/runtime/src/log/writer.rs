//! Appends CRI records to a container's log file and rotates it by size, keeping at most
//! `max_files` files (the live one included), as the kubelet's `--container-log-max-size` and
//! `--container-log-max-files` ask. Rotated files are named `<log>.<UTC timestamp>` like the
//! kubelet names them (with nanoseconds, so that rotations within one second stay distinct),
//! so a name sort is an age sort.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::format::{format_record, Stream, Tag};

/// Size-based rotation limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RotationPolicy {
    /// Rotate before a record would take the live file past this many bytes.
    pub max_size: u64,
    /// Files kept, the live one included (at least 1).
    pub max_files: usize,
}

impl Default for RotationPolicy {
    /// The kubelet's defaults: 10Mi and 5 files.
    fn default() -> Self {
        RotationPolicy {
            max_size: 10 * 1024 * 1024,
            max_files: 5,
        }
    }
}

impl RotationPolicy {
    /// Whether a record of `incoming` bytes must go to a fresh file. A record never splits, so
    /// one larger than `max_size` still lands whole, alone in its file.
    pub fn needs_rotation(&self, current: u64, incoming: u64) -> bool {
        current > 0 && current + incoming > self.max_size
    }

    /// Of the rotated files (any order), the ones to delete so that at most `max_files - 1`
    /// remain beside the live file: the oldest first.
    pub fn files_to_remove(&self, mut rotated: Vec<String>) -> Vec<String> {
        rotated.sort();
        let keep = self.max_files.saturating_sub(1);
        let excess = rotated.len().saturating_sub(keep);
        rotated.truncate(excess);
        rotated
    }
}

/// The name a rotated file gets: the live name plus `.YYYYMMDD-HHMMSS.nnnnnnnnn` (UTC).
pub fn rotated_name(file_name: &str, at: Timestamp) -> String {
    format!(
        "{file_name}.{}.{:09}",
        at.strftime("%Y%m%d-%H%M%S"),
        at.subsec_nanosecond()
    )
}

/// A log file being written, with its size tracked so rotation needs no `stat` per record.
pub struct LogWriter {
    path: PathBuf,
    policy: RotationPolicy,
    file: File,
    size: u64,
}

impl LogWriter {
    /// Opens (or creates) `path` for appending; its parent directory is created if missing.
    pub fn open(path: &Path, policy: RotationPolicy) -> io::Result<Self> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            policy,
            file,
            size,
        })
    }

    /// Writes one record stamped `now`, rotating first if it would not fit.
    pub fn write(
        &mut self,
        now: Timestamp,
        stream: Stream,
        tag: Tag,
        content: &[u8],
    ) -> io::Result<()> {
        let record = format_record(now, stream, tag, content);
        if self.policy.needs_rotation(self.size, record.len() as u64) {
            self.rotate(now)?;
        }
        self.file.write_all(&record)?;
        self.size += record.len() as u64;
        Ok(())
    }

    fn rotate(&mut self, now: Timestamp) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("log")
            .to_string();
        if self.policy.max_files <= 1 {
            // Nothing is kept beside the live file: start it over.
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        fs::rename(&self.path, dir.join(rotated_name(&name, now)))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        let prefix = format!("{name}.");
        let rotated: Vec<String> = fs::read_dir(dir)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(&prefix))
            .collect();
        for old in self.policy.files_to_remove(rotated) {
            fs::remove_file(dir.join(old))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_is_decided_by_size_and_never_leaves_an_empty_file() {
        let p = RotationPolicy {
            max_size: 100,
            max_files: 3,
        };
        assert!(!p.needs_rotation(0, 500));
        assert!(!p.needs_rotation(50, 50));
        assert!(p.needs_rotation(50, 51));
    }

    #[test]
    fn the_oldest_rotated_files_go_first() {
        let p = RotationPolicy {
            max_size: 1,
            max_files: 3,
        };
        let names = vec![
            "0.log.20240102-000000.000000000".to_string(),
            "0.log.20240101-000000.000000000".into(),
            "0.log.20240103-000000.000000000".into(),
        ];
        assert_eq!(
            p.files_to_remove(names),
            vec!["0.log.20240101-000000.000000000".to_string()]
        );
        assert!(p.files_to_remove(vec!["a".into(), "b".into()]).is_empty());
        assert_eq!(
            rotated_name("0.log", "2024-03-04T05:06:07.000000008Z".parse().unwrap()),
            "0.log.20240304-050607.000000008"
        );
    }

    #[test]
    fn a_writer_rotates_and_keeps_at_most_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let policy = RotationPolicy {
            max_size: 200,
            max_files: 3,
        };
        let mut w = LogWriter::open(&path, policy).unwrap();
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        for i in 0..40u32 {
            let now = t0 + jiff::SignedDuration::from_millis(i as i64);
            w.write(
                now,
                Stream::Stdout,
                Tag::Full,
                format!("line number {i:04}").as_bytes(),
            )
            .unwrap();
        }
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(names[0], "0.log");
        for n in &names {
            let len = fs::metadata(dir.path().join(n)).unwrap().len();
            assert!(len <= 200, "{n} is {len} bytes");
        }
        // The live file ends with the last line, and every line in it parses.
        let live = fs::read(&path).unwrap();
        let text = String::from_utf8(live.clone()).unwrap();
        assert!(text.ends_with("stdout F line number 0039\n"), "{text}");
        for line in live.split_inclusive(|b| *b == b'\n') {
            crate::log::parse_record(line).unwrap();
        }
        // Reopening appends rather than truncating.
        let before = fs::metadata(&path).unwrap().len();
        let mut w = LogWriter::open(&path, policy).unwrap();
        w.write(t0, Stream::Stderr, Tag::Full, b"x").unwrap();
        assert!(fs::metadata(&path).unwrap().len() > before);
    }
}
