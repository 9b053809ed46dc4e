//! The write-ahead log: numbered segment files of checksummed frames, group
//! commit with one fdatasync per frame, replay on open, and torn-tail repair.
//!
//! Layout of a segment `wal-<first index, 20 digits>.log`:
//!
//! ```text
//! header := "KSTWAL01" u64(first index)                 16 bytes
//! frame  := u32(len) u32(crc32(len_le ++ payload)) payload
//! payload:= u64(first index) u32(count) count × (u32 len, command bytes)
//! ```
//!
//! One frame holds one group commit (every command the writer drained from
//! its queue), written with one `write` and made durable with one
//! `fdatasync`. This framing is what makes torn-tail detection sound: a frame
//! is only written after the previous one was fsynced, so the only frame a
//! crash can tear is the last one, and it was never acknowledged. A damaged
//! frame followed by a valid one therefore means acknowledged data was
//! damaged on disk, and the log refuses to open instead of dropping it.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::codec::{self, Reader};
use crate::command::Command;
use crate::error::{Error, Result};

const SEGMENT_MAGIC: &[u8; 8] = b"KSTWAL01";
const HEADER_LEN: u64 = 16;
const FRAME_HEADER_LEN: usize = 8;
/// Smallest valid payload: first index + count + one empty entry length.
const MIN_PAYLOAD_LEN: usize = 8 + 4 + 4;
/// Upper bound on one frame. The writer stops draining its queue well before
/// this (see `store::MAX_BATCH_BYTES`) and a single command is capped at
/// `command::MAX_COMMAND_BYTES`; anything larger on disk is damage.
pub(crate) const MAX_FRAME_BYTES: usize = 256 << 20;

pub(crate) fn segment_name(first_index: u64) -> String {
    format!("wal-{first_index:020}.log")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Segment files in `dir`, sorted by first index.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries =
        fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        if let Some(index) = entry.file_name().to_str().and_then(parse_segment_name) {
            out.push((index, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Makes renames, creations and deletions in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("syncing directory {}", dir.display()), e))
}

/// Deletes segments that start before `first_kept` (all their entries are
/// covered by a durable snapshot). Called after the snapshot is renamed into
/// place and the directory synced.
pub(crate) fn remove_segments_before(dir: &Path, first_kept: u64, fsync: bool) -> Result<usize> {
    let mut removed = 0;
    for (index, path) in list_segments(dir)? {
        if index < first_kept {
            fs::remove_file(&path)
                .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
            removed += 1;
        }
    }
    if removed > 0 && fsync {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Builds one frame (one group commit) in a reusable buffer.
pub(crate) struct FrameBuilder {
    buf: Vec<u8>,
    first_index: u64,
    count: u32,
}

impl FrameBuilder {
    pub fn new() -> Self {
        FrameBuilder {
            buf: Vec::with_capacity(1 << 20),
            first_index: 0,
            count: 0,
        }
    }

    /// Starts a new frame whose first entry gets log index `first_index`.
    pub fn begin(&mut self, first_index: u64) {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; FRAME_HEADER_LEN]);
        codec::put_u64(&mut self.buf, first_index);
        codec::put_u32(&mut self.buf, 0);
        self.first_index = first_index;
        self.count = 0;
    }

    /// Appends one command; it gets index `first_index + count`.
    pub fn push(&mut self, command: &Command) {
        let len = command.encoded_len();
        self.buf.reserve(4 + len);
        codec::put_u32(&mut self.buf, len as u32);
        command.encode(&mut self.buf);
        self.count += 1;
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn first_index(&self) -> u64 {
        self.first_index
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Fills in the count, length and checksum; returns the frame's bytes.
    fn finish(&mut self) -> &[u8] {
        let count_at = FRAME_HEADER_LEN + 8;
        self.buf[count_at..count_at + 4].copy_from_slice(&self.count.to_le_bytes());
        let len = (self.buf.len() - FRAME_HEADER_LEN) as u32;
        self.buf[0..4].copy_from_slice(&len.to_le_bytes());
        let crc = frame_crc(&self.buf[0..4], &self.buf[FRAME_HEADER_LEN..]);
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
        &self.buf
    }
}

fn frame_crc(len_bytes: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(len_bytes);
    h.update(payload);
    h.finalize()
}

/// A checksummed frame found in a segment.
struct Frame<'a> {
    first_index: u64,
    payload: &'a [u8],
    end: usize,
}

/// Why the bytes at an offset are not a frame. `Eof` is a clean end.
enum FrameError {
    Eof,
    Damaged(&'static str),
}

/// Parses the frame at `pos`, checking length and checksum only.
fn parse_frame(buf: &[u8], pos: usize) -> Result<Frame<'_>, FrameError> {
    let rest = &buf[pos.min(buf.len())..];
    if rest.is_empty() {
        return Err(FrameError::Eof);
    }
    if rest.len() < FRAME_HEADER_LEN {
        return Err(FrameError::Damaged("incomplete frame header"));
    }
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
    if !(MIN_PAYLOAD_LEN..=MAX_FRAME_BYTES).contains(&len) {
        return Err(FrameError::Damaged("frame length out of range"));
    }
    if rest.len() - FRAME_HEADER_LEN < len {
        return Err(FrameError::Damaged(
            "frame extends past the end of the file",
        ));
    }
    let payload = &rest[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len];
    if frame_crc(&rest[0..4], payload) != crc {
        return Err(FrameError::Damaged("checksum mismatch"));
    }
    let first_index = u64::from_le_bytes(payload[0..8].try_into().unwrap_or([0; 8]));
    Ok(Frame {
        first_index,
        payload,
        end: pos + FRAME_HEADER_LEN + len,
    })
}

/// Splits a checksummed payload into its entries' command bytes.
fn frame_entries(payload: &[u8]) -> Result<Vec<&[u8]>, codec::DecodeError> {
    let mut r = Reader::new(payload);
    r.u64("frame first index")?;
    let count = r.count(4, "frame entry count")?;
    if count == 0 {
        return Err(codec::DecodeError {
            offset: 8,
            what: "frame with no entries",
        });
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        entries.push(r.bytes("entry")?);
    }
    if !r.is_empty() {
        return Err(codec::DecodeError {
            offset: r.position(),
            what: "trailing bytes after frame entries",
        });
    }
    Ok(entries)
}

/// Looks for any checksummed frame starting after `from` whose index is at
/// or beyond `min_index`: evidence that the damage at `from` is not a torn
/// tail but damage to data that was followed by later, acknowledged writes.
fn valid_frame_after(buf: &[u8], from: usize, min_index: u64) -> Option<usize> {
    (from..buf
        .len()
        .saturating_sub(FRAME_HEADER_LEN + MIN_PAYLOAD_LEN - 1))
        .find(|&q| matches!(parse_frame(buf, q), Ok(frame) if frame.first_index >= min_index))
}

fn header_ok(buf: &[u8], first_index: u64) -> bool {
    buf.len() >= HEADER_LEN as usize
        && &buf[0..8] == SEGMENT_MAGIC
        && buf[8..16] == first_index.to_le_bytes()
}

/// The open log: the segment currently appended to.
pub(crate) struct Wal {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    /// Bytes in the current segment, header included.
    size: u64,
    next_index: u64,
    segment_bytes: u64,
    fsync: bool,
}

impl Wal {
    /// Opens the log in `dir`, replaying every entry after `applied_index`
    /// (what the loaded snapshot already covers) through `apply`, in order.
    /// Repairs a torn tail of the last segment; refuses damage elsewhere.
    pub fn open(
        dir: &Path,
        applied_index: u64,
        segment_bytes: u64,
        fsync: bool,
        mut apply: impl FnMut(u64, Command) -> Result<()>,
    ) -> Result<Wal> {
        let mut segments = list_segments(dir)?;
        // Segments entirely covered by the snapshot may survive a crash
        // between the snapshot's rename and their deletion: remove them now.
        let mut removed_covered = false;
        while segments.len() >= 2 && segments[1].0 <= applied_index + 1 {
            let (_, path) = segments.remove(0);
            fs::remove_file(&path)
                .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
            removed_covered = true;
        }
        if removed_covered && fsync {
            sync_dir(dir)?;
        }
        let Some(&(first, _)) = segments.first() else {
            return Wal::create(dir, applied_index + 1, segment_bytes, fsync);
        };
        if first > applied_index + 1 {
            return Err(Error::corrupt(
                &segments[0].1,
                0,
                format!("log starts at index {first} but the snapshot only covers up to {applied_index}: entries are missing"),
            ));
        }

        let mut expected = first;
        let last = segments.len() - 1;
        let mut tail: Option<(PathBuf, u64)> = None;
        for (i, (seg_first, path)) in segments.iter().enumerate() {
            let is_last = i == last;
            if *seg_first != expected {
                return Err(Error::corrupt(
                    path,
                    0,
                    format!(
                        "segment starts at index {seg_first} but the previous one ends at {}",
                        expected - 1
                    ),
                ));
            }
            let buf =
                fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            if !header_ok(&buf, *seg_first) {
                if is_last && valid_frame_after(&buf, 0, expected).is_none() {
                    // Crash while creating the segment: it never held an
                    // acknowledged entry. Start it afresh.
                    tracing::warn!(path = %path.display(), "log segment has a torn header; recreating it");
                    fs::remove_file(path)
                        .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
                    return Wal::create(dir, expected.max(applied_index + 1), segment_bytes, fsync);
                }
                return Err(Error::corrupt(path, 0, "bad segment header"));
            }
            let mut pos = HEADER_LEN as usize;
            loop {
                match parse_frame(&buf, pos) {
                    Ok(frame) => {
                        if frame.first_index != expected {
                            return Err(Error::corrupt(
                                path,
                                pos as u64,
                                format!(
                                    "frame starts at index {} but index {expected} was expected",
                                    frame.first_index
                                ),
                            ));
                        }
                        let entries = frame_entries(frame.payload)
                            .map_err(|e| Error::corrupt(path, pos as u64, e.to_string()))?;
                        for bytes in entries {
                            if expected > applied_index {
                                let command = Command::decode(bytes).map_err(|e| {
                                    Error::corrupt(
                                        path,
                                        pos as u64,
                                        format!("entry {expected}: {e}"),
                                    )
                                })?;
                                apply(expected, command)?;
                            }
                            expected += 1;
                        }
                        pos = frame.end;
                    }
                    Err(FrameError::Eof) => break,
                    Err(FrameError::Damaged(why)) => {
                        if !is_last {
                            return Err(Error::corrupt(
                                path,
                                pos as u64,
                                format!("{why} in a sealed segment"),
                            ));
                        }
                        if let Some(at) = valid_frame_after(&buf, pos + 1, expected) {
                            return Err(Error::corrupt(
                                path,
                                pos as u64,
                                format!("{why}, followed by a valid frame at byte {at}: refusing to drop acknowledged data"),
                            ));
                        }
                        tracing::warn!(
                            path = %path.display(),
                            offset = pos,
                            dropped_bytes = buf.len() - pos,
                            reason = why,
                            "truncating torn tail of the log (an unacknowledged write cut short by a crash)"
                        );
                        let f = OpenOptions::new()
                            .write(true)
                            .open(path)
                            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
                        f.set_len(pos as u64)
                            .and_then(|_| if fsync { f.sync_all() } else { Ok(()) })
                            .map_err(|e| Error::io(format!("truncating {}", path.display()), e))?;
                        break;
                    }
                }
            }
            if is_last {
                tail = Some((path.clone(), pos as u64));
            }
        }
        let (path, size) = tail.ok_or_else(|| Error::corrupt(dir, 0, "no log segment"))?;
        if expected <= applied_index {
            // The log ends before what the snapshot covers (possible only
            // without fsync). Continue in a fresh segment so that indexes
            // inside one segment stay contiguous.
            return Wal::create(dir, applied_index + 1, segment_bytes, fsync);
        }
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        Ok(Wal {
            dir: dir.to_owned(),
            file,
            path,
            size,
            next_index: expected,
            segment_bytes,
            fsync,
        })
    }

    /// Creates a new, empty segment starting at `first_index`, durably.
    fn create(dir: &Path, first_index: u64, segment_bytes: u64, fsync: bool) -> Result<Wal> {
        let path = dir.join(segment_name(first_index));
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        let mut header = Vec::with_capacity(HEADER_LEN as usize);
        header.extend_from_slice(SEGMENT_MAGIC);
        codec::put_u64(&mut header, first_index);
        file.write_all(&header)
            .and_then(|_| if fsync { file.sync_all() } else { Ok(()) })
            .map_err(|e| Error::io(format!("writing header of {}", path.display()), e))?;
        if fsync {
            sync_dir(dir)?;
        }
        // Re-open in append mode so every write lands at the end.
        drop(file);
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        Ok(Wal {
            dir: dir.to_owned(),
            file,
            path,
            size: HEADER_LEN,
            next_index: first_index,
            segment_bytes,
            fsync,
        })
    }

    /// Index the next appended entry gets.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// Whether the current segment holds no entries.
    pub fn segment_is_empty(&self) -> bool {
        self.size <= HEADER_LEN
    }

    /// Starts a new segment at `next_index`, sealing the current one.
    pub fn rotate(&mut self) -> Result<()> {
        if self.fsync {
            self.file
                .sync_data()
                .map_err(|e| Error::io(format!("syncing {}", self.path.display()), e))?;
        }
        *self = Wal::create(&self.dir, self.next_index, self.segment_bytes, self.fsync)?;
        Ok(())
    }

    /// Appends one frame (not yet durable: call `sync`). Rotates first if the
    /// frame would overflow a non-empty segment.
    pub fn append(&mut self, frame: &mut FrameBuilder) -> Result<()> {
        if frame.count() == 0 {
            return Ok(());
        }
        if frame.first_index() != self.next_index {
            return Err(Error::corrupt(
                &self.path,
                self.size,
                format!(
                    "internal error: frame starts at {} but the log is at {}",
                    frame.first_index(),
                    self.next_index
                ),
            ));
        }
        if !self.segment_is_empty() && self.size + frame.len() as u64 > self.segment_bytes {
            self.rotate()?;
        }
        let bytes = frame.finish();
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io(format!("appending to {}", self.path.display()), e))?;
        self.size += bytes.len() as u64;
        self.next_index += u64::from(frame.count());
        Ok(())
    }

    /// Makes everything appended so far durable (one fdatasync), unless the
    /// store was opened without fsync.
    pub fn sync(&mut self) -> Result<()> {
        if self.fsync {
            self.file
                .sync_data()
                .map_err(|e| Error::io(format!("syncing {}", self.path.display()), e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{Op, Txn};
    use bytes::Bytes;

    fn put(i: u64) -> Command {
        Command::Txn(Txn {
            success: vec![Op::Put {
                key: format!("/k/{i}"),
                value: Bytes::from(vec![b'x'; 100]),
            }],
            ..Txn::default()
        })
    }

    fn write_entries(wal: &mut Wal, n: u64, per_frame: u64) {
        let mut frame = FrameBuilder::new();
        let mut written = 0;
        while written < n {
            frame.begin(wal.next_index());
            for _ in 0..per_frame.min(n - written) {
                frame.push(&put(wal.next_index() + u64::from(frame.count())));
                written += 1;
            }
            wal.append(&mut frame).unwrap();
            wal.sync().unwrap();
        }
    }

    fn replay(dir: &Path, applied: u64) -> Result<(Wal, Vec<(u64, Command)>)> {
        let mut seen = Vec::new();
        let wal = Wal::open(dir, applied, 4096, false, |i, c| {
            seen.push((i, c));
            Ok(())
        })?;
        Ok((wal, seen))
    }

    #[test]
    fn entries_survive_reopen_across_rotated_segments() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, seen) = replay(dir.path(), 0).unwrap();
        assert!(seen.is_empty());
        write_entries(&mut wal, 200, 3);
        drop(wal);
        assert!(
            list_segments(dir.path()).unwrap().len() > 3,
            "4 KiB segments must rotate"
        );
        let (wal, seen) = replay(dir.path(), 0).unwrap();
        assert_eq!(seen.len(), 200);
        for (n, (i, c)) in seen.iter().enumerate() {
            assert_eq!(*i, n as u64 + 1);
            assert_eq!(*c, put(*i));
        }
        assert_eq!(wal.next_index(), 201);
        // Replaying after a snapshot at 150 yields only later entries.
        drop(wal);
        let (_, seen) = replay(dir.path(), 150).unwrap();
        assert_eq!(seen.first().map(|e| e.0), Some(151));
        assert_eq!(seen.len(), 50);
    }

    #[test]
    fn every_truncation_of_the_last_frame_is_repaired_as_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = replay(dir.path(), 0).unwrap();
        write_entries(&mut wal, 5, 1);
        let path = wal.path.clone();
        let full_before_last = wal.size;
        write_entries(&mut wal, 1, 1);
        drop(wal);
        let full = fs::read(&path).unwrap();
        for cut in full_before_last as usize..full.len() {
            fs::write(&path, &full[..cut]).unwrap();
            let (wal, seen) = replay(dir.path(), 0).unwrap();
            assert_eq!(seen.len(), 5, "cut at {cut}");
            assert_eq!(wal.next_index(), 6);
            assert_eq!(fs::metadata(&path).unwrap().len(), full_before_last);
        }
    }

    #[test]
    fn damage_followed_by_a_valid_frame_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = replay(dir.path(), 0).unwrap();
        write_entries(&mut wal, 3, 1);
        let second_frame_at = HEADER_LEN as usize + (wal.size as usize - HEADER_LEN as usize) / 3;
        let path = wal.path.clone();
        drop(wal);
        let mut bytes = fs::read(&path).unwrap();
        bytes[second_frame_at + 20] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        match replay(dir.path(), 0) {
            Err(Error::Corrupt { reason, .. }) => {
                assert!(reason.contains("followed by a valid frame"), "{reason}")
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("opened a log with damage in the middle"),
        }
    }

    #[test]
    fn a_missing_segment_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = replay(dir.path(), 0).unwrap();
        write_entries(&mut wal, 200, 3);
        drop(wal);
        let segments = list_segments(dir.path()).unwrap();
        fs::remove_file(&segments[1].1).unwrap();
        assert!(matches!(replay(dir.path(), 0), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn segment_names_round_trip() {
        assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
        assert_eq!(parse_segment_name("wal-1.log"), None);
        assert_eq!(parse_segment_name("snap-00000000000000000001.snap"), None);
    }
}
