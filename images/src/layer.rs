//! Layer tars built byte for byte the same every time: entries sorted by path, mtime 0, owned
//! by root, fixed modes, gzip without a timestamp or file name. Same inputs, same digests, so
//! a rebuilt image is recognised by the registry (and by every node's content store) as the
//! one it already has. Pure; no IO.

use flate2::write::GzEncoder;
use flate2::{Compression, GzBuilder};
use node_image::Digest;

/// One entry of a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Relative, `/`-separated; directories end with `/`.
    pub path: String,
    pub mode: u32,
    /// `None` for a directory.
    pub contents: Option<Vec<u8>>,
}

impl Entry {
    pub fn dir(path: &str, mode: u32) -> Entry {
        Entry {
            path: format!("{}/", path.trim_end_matches('/')),
            mode,
            contents: None,
        }
    }

    pub fn file(path: &str, mode: u32, contents: impl Into<Vec<u8>>) -> Entry {
        Entry {
            path: path.to_string(),
            mode,
            contents: Some(contents.into()),
        }
    }
}

/// A layer in both forms an image needs.
#[derive(Clone, Debug)]
pub struct Layer {
    /// The gzip-compressed tar: the blob pushed, named by `digest`.
    pub gzip: Vec<u8>,
    pub digest: Digest,
    /// The uncompressed tar's digest, the config's `rootfs.diff_ids` entry.
    pub diff_id: Digest,
    pub uncompressed_size: u64,
}

/// Builds the layer of `entries` (in any order; they are sorted).
pub fn build(entries: &[Entry]) -> std::io::Result<Layer> {
    let tar = tar_of(entries)?;
    let diff_id = Digest::of(&tar);
    let gzip = gzip(&tar)?;
    Ok(Layer {
        digest: Digest::of(&gzip),
        diff_id,
        uncompressed_size: tar.len() as u64,
        gzip,
    })
}

/// The uncompressed tar of `entries`, sorted by path.
pub fn tar_of(entries: &[Entry]) -> std::io::Result<Vec<u8>> {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut builder = tar::Builder::new(Vec::new());
    for entry in sorted {
        let mut header = tar::Header::new_ustar();
        // Written as given (the tar crate's path setter would drop a directory's trailing
        // slash); these paths are short, which `set_name` checks.
        set_name(&mut header, &entry.path)?;
        header.set_mode(entry.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_username("root")?;
        header.set_groupname("root")?;
        header.set_mtime(0);
        let contents = entry.contents.as_deref().unwrap_or_default();
        header.set_entry_type(if entry.contents.is_some() {
            tar::EntryType::Regular
        } else {
            tar::EntryType::Directory
        });
        header.set_size(contents.len() as u64);
        header.set_cksum();
        builder.append(&header, contents)?;
    }
    builder.into_inner()
}

fn set_name(header: &mut tar::Header, path: &str) -> std::io::Result<()> {
    let name = &mut header.as_ustar_mut().expect("a ustar header").name;
    if path.is_empty() || path.starts_with('/') || path.split('/').any(|c| c == "..") {
        return Err(std::io::Error::other(format!(
            "invalid layer path {path:?}"
        )));
    }
    if path.len() >= name.len() {
        return Err(std::io::Error::other(format!(
            "layer path {path:?} longer than {} bytes",
            name.len() - 1
        )));
    }
    name[..path.len()].copy_from_slice(path.as_bytes());
    Ok(())
}

/// Gzip with a fixed header: no mtime, no file name, the same OS byte everywhere.
pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder: GzEncoder<Vec<u8>> = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::best());
    encoder.write_all(bytes)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn entries() -> Vec<Entry> {
        vec![
            Entry::file("testapp", 0o755, b"\x7fELF...".to_vec()),
            Entry::dir("tmp", 0o1777),
            Entry::file("etc/passwd", 0o644, b"root:x:0:0::/:/testapp\n".to_vec()),
            Entry::dir("etc", 0o755),
        ]
    }

    #[test]
    fn the_same_entries_in_any_order_give_the_same_digests() {
        let a = build(&entries()).unwrap();
        let mut reversed = entries();
        reversed.reverse();
        let b = build(&reversed).unwrap();
        assert_eq!((a.digest, a.diff_id), (b.digest, b.diff_id));
        assert_eq!(a.gzip, b.gzip);
    }

    #[test]
    fn entries_are_sorted_root_owned_with_mtime_zero_and_their_modes() {
        let tar = tar_of(&entries()).unwrap();
        let mut archive = tar::Archive::new(&tar[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let h = entry.header().clone();
            let mut contents = Vec::new();
            entry.read_to_end(&mut contents).unwrap();
            assert_eq!(
                (h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap()),
                (0, 0, 0)
            );
            seen.push((
                String::from_utf8(h.path_bytes().into_owned()).unwrap(),
                h.mode().unwrap(),
                h.entry_type().is_dir(),
                contents.len(),
            ));
        }
        assert_eq!(
            seen,
            [
                ("etc/".to_string(), 0o755, true, 0),
                ("etc/passwd".to_string(), 0o644, false, 23),
                ("testapp".to_string(), 0o755, false, 7),
                ("tmp/".to_string(), 0o1777, true, 0),
            ]
        );
    }

    #[test]
    fn gzip_has_no_timestamp_or_name_and_round_trips() {
        let layer = build(&entries()).unwrap();
        // ID1 ID2 CM FLG MTIME(4) XFL OS: no FNAME flag, mtime 0, OS 255.
        assert_eq!(&layer.gzip[..3], &[0x1f, 0x8b, 8]);
        assert_eq!(layer.gzip[3], 0, "no flags: no file name, no comment");
        assert_eq!(&layer.gzip[4..8], &[0, 0, 0, 0]);
        assert_eq!(layer.gzip[9], 255);
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&layer.gzip[..])
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(Digest::of(&tar), layer.diff_id);
        assert_eq!(tar.len() as u64, layer.uncompressed_size);
    }

    #[test]
    fn paths_that_leave_the_root_or_do_not_fit_are_refused() {
        for bad in ["/etc", "../x", "a/../../b", ""] {
            assert!(tar_of(&[Entry::file(bad, 0o644, "")]).is_err(), "{bad}");
        }
        assert!(tar_of(&[Entry::file(&"x".repeat(100), 0o644, "")]).is_err());
    }
}
