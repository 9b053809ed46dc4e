//! Builds layer tars with headers written by hand, so that names the `tar` crate's builder
//! would refuse (`../evil`, `/abs`) can be written too, and compresses them.

use std::io::Write;

/// One tar entry.
#[derive(Clone, Debug)]
pub enum Entry {
    Dir(&'static str, u32),
    File(&'static str, &'static [u8], u32),
    Symlink(&'static str, &'static str),
    HardLink(&'static str, &'static str),
    CharDevice(&'static str),
    Fifo(&'static str),
    /// A regular file with PAX xattrs.
    FileWithXattr(&'static str, &'static [u8], &'static str, &'static [u8]),
}

/// A tar of raw entries; names and link targets go into the header bytes unchecked.
pub fn tar(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        append(&mut builder, entry);
    }
    builder.into_inner().unwrap()
}

fn header(name: &[u8], kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    assert!(name.len() < 100, "test names fit the ustar name field");
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(1000);
    h.set_gid(1000);
    h.set_mtime(1_700_000_000);
    h
}

fn with_link(mut h: tar::Header, target: &[u8]) -> tar::Header {
    h.as_old_mut().linkname[..target.len()].copy_from_slice(target);
    h
}

pub fn append(builder: &mut tar::Builder<Vec<u8>>, entry: &Entry) {
    let (mut h, data): (tar::Header, &[u8]) = match entry {
        Entry::Dir(name, mode) => (
            header(name.as_bytes(), tar::EntryType::Directory, *mode, 0),
            b"",
        ),
        Entry::File(name, data, mode) => (
            header(
                name.as_bytes(),
                tar::EntryType::Regular,
                *mode,
                data.len() as u64,
            ),
            data,
        ),
        Entry::Symlink(name, target) => (
            with_link(
                header(name.as_bytes(), tar::EntryType::Symlink, 0o777, 0),
                target.as_bytes(),
            ),
            b"",
        ),
        Entry::HardLink(name, target) => (
            with_link(
                header(name.as_bytes(), tar::EntryType::Link, 0o644, 0),
                target.as_bytes(),
            ),
            b"",
        ),
        Entry::CharDevice(name) => (header(name.as_bytes(), tar::EntryType::Char, 0o666, 0), b""),
        Entry::Fifo(name) => (header(name.as_bytes(), tar::EntryType::Fifo, 0o644, 0), b""),
        Entry::FileWithXattr(name, data, key, value) => {
            let pax_key = format!("SCHILY.xattr.{key}");
            builder
                .append_pax_extensions([(pax_key.as_str(), *value)])
                .unwrap();
            (
                header(
                    name.as_bytes(),
                    tar::EntryType::Regular,
                    0o644,
                    data.len() as u64,
                ),
                data,
            )
        }
    };
    h.set_cksum();
    builder.append(&h, data).unwrap();
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).unwrap()
}
