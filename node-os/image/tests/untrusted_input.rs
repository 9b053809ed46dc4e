//! Robustness of layer unpacking against hostile tars: random entry lists built from names,
//! link targets and entry types that attack the unpacker (`..`, absolute paths, symlink
//! chains out of the root, whiteouts of the root's parent, devices, hard links through
//! symlinks), then the same streams mutated byte by byte, truncated and recompressed.
//!
//! Properties, for every case and both unpack modes: no panic, and nothing is created,
//! changed or deleted outside the target directory (a sibling sentinel file and an `outside`
//! directory that escaping symlinks aim at are checked after each case).
//!
//! Deterministic: a fixed seed for a small xorshift PRNG; `UNTRUSTED_INPUT_SEED=<n>` and
//! `UNTRUSTED_INPUT_SCALE=<factor>` explore further.

mod common;

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use common::layers::{gzip, zstd};
use node_image::unpack::{running_as_root, unpack_layer, UnpackMode};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn seed() -> u64 {
    std::env::var("UNTRUSTED_INPUT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1a7e)
        .max(1)
}

fn scale(n: usize) -> usize {
    let f: usize = std::env::var("UNTRUSTED_INPUT_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    n * f.max(1)
}

/// Ordinary name parts, and hostile ones that appear rarely enough that most tars get past
/// their first entries and reach the symlink and whiteout paths.
const PARTS: &[&str] = &[
    "a",
    "b",
    "etc",
    "link",
    "up",
    "abs",
    "outside",
    "sentinel",
    "dev",
    ".wh.a",
    ".wh.b",
    ".wh.link",
    ".wh..wh..opq",
    ".",
];
const HOSTILE_PARTS: &[&str] = &["..", "", ".wh..", ".wh.", ".wh...", ".wh..wh.x"];

/// A random entry name: usually relative, sometimes absolute or with `..`.
fn name(rng: &mut Rng) -> Vec<u8> {
    let mut s = String::new();
    if rng.below(40) == 0 {
        s.push('/');
    } else if rng.below(3) == 0 {
        s.push_str("./");
    }
    let n = 1 + rng.below(4);
    for i in 0..n {
        if i > 0 {
            s.push('/');
        }
        if rng.below(25) == 0 {
            s.push_str(rng.pick(HOSTILE_PARTS));
        } else {
            s.push_str(rng.pick(PARTS));
        }
    }
    if rng.below(6) == 0 {
        s.push('/');
    }
    s.truncate(99);
    s.into_bytes()
}

/// Link targets aimed at the root's parent, at the `outside` directory by absolute path (a
/// bug following it on the host would land there and be seen), and inside the root.
fn target(rng: &mut Rng, outside_abs: &str) -> Vec<u8> {
    let fixed = [
        "..",
        "../..",
        "../outside",
        "../sentinel",
        "/",
        "/..",
        "a",
        "a/b",
        "link",
        "up/..",
        "../../../../../..",
        ".",
        "",
        "b/../..",
    ];
    let t = if rng.below(5) == 0 {
        outside_abs.to_string()
    } else {
        rng.pick(&fixed).to_string()
    };
    let mut t = t.into_bytes();
    t.truncate(99);
    t
}

fn random_tar(rng: &mut Rng, outside_abs: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for _ in 0..1 + rng.below(16) {
        let kind = match rng.below(60) {
            0..=19 => tar::EntryType::Regular,
            20..=34 => tar::EntryType::Directory,
            35..=49 => tar::EntryType::Symlink,
            50..=55 => tar::EntryType::Link,
            56 => tar::EntryType::Fifo,
            57 => [tar::EntryType::Char, tar::EntryType::Block][rng.below(2)],
            58 => tar::EntryType::new(rng.below(256) as u8),
            _ => tar::EntryType::Regular,
        };
        let data: Vec<u8> = if kind == tar::EntryType::Regular {
            (0..rng.below(600)).map(|i| i as u8).collect()
        } else {
            Vec::new()
        };
        let mut h = tar::Header::new_ustar();
        let n = name(rng);
        h.as_old_mut().name[..n.len()].copy_from_slice(&n);
        if matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
            let t = target(rng, outside_abs);
            h.as_old_mut().linkname[..t.len()].copy_from_slice(&t);
        }
        h.set_entry_type(kind);
        h.set_mode([0o644, 0o755, 0o4755, 0o000, 0o7777][rng.below(5)]);
        h.set_uid(if rng.below(40) == 0 {
            [u32::MAX as u64, 1 << 40][rng.below(2)]
        } else {
            [0, 1000, 65534][rng.below(3)]
        });
        h.set_gid(rng.below(3) as u64);
        h.set_mtime(rng.next() >> rng.below(64));
        h.set_size(data.len() as u64);
        if rng.below(8) == 0 {
            let key = [
                "SCHILY.xattr.user.x",
                "SCHILY.xattr.trusted.overlay.opaque",
                "SCHILY.xattr.security.capability",
                "path",
                "linkpath",
            ][rng.below(5)];
            let value: &[u8] = [&b"y"[..], b"../../evil", b"/abs", b""][rng.below(4)];
            let _ = builder.append_pax_extensions([(key, value)]);
        }
        h.set_cksum();
        builder.append(&h, &data[..]).unwrap();
    }
    builder.into_inner().unwrap()
}

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(6) {
        if bytes.is_empty() {
            bytes.push(rng.next() as u8);
        }
        let at = rng.below(bytes.len());
        match rng.below(5) {
            0 => bytes[at] = rng.next() as u8,
            1 => bytes[at] ^= 1 << rng.below(8),
            2 => bytes.truncate(at),
            3 => {
                let end = (at + 512).min(bytes.len());
                let block = bytes[at..end].to_vec();
                bytes.splice(at..at, block);
            }
            _ => bytes.insert(at, rng.next() as u8),
        }
    }
}

/// Everything under `dir` (not following symlinks), with sizes and link targets: any change
/// outside the root shows up as a difference.
fn snapshot(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap() == "root" {
            continue;
        }
        let m = fs::symlink_metadata(&p).unwrap();
        out.push(format!(
            "{} {:?} {} {:o}",
            p.display(),
            m.file_type(),
            m.len(),
            m.mode_bits()
        ));
        if m.is_dir() {
            out.extend(snapshot(&p));
        }
    }
    out.sort();
    out
}

trait ModeBits {
    fn mode_bits(&self) -> u32;
}
impl ModeBits for fs::Metadata {
    fn mode_bits(&self) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        self.permissions().mode()
    }
}

/// Runs one case in both modes; returns a failure description.
fn run_case(bytes: &[u8]) -> Option<String> {
    for mode in [UnpackMode::Flatten, UnpackMode::Layered] {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        fs::create_dir(&root).unwrap();
        fs::write(outer.path().join("sentinel"), b"untouched").unwrap();
        fs::create_dir(outer.path().join("outside")).unwrap();
        fs::write(outer.path().join("outside/keep"), b"keep").unwrap();
        let before = snapshot(outer.path());
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            unpack_layer(bytes, &root, mode, running_as_root(), "fuzz")
        }));
        if let Err(p) = result {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            return Some(format!("{mode:?}: panic: {msg}"));
        }
        let after = snapshot(outer.path());
        if before != after {
            return Some(format!(
                "{mode:?}: changed outside the root:\n{before:#?}\n{after:#?}"
            ));
        }
        if fs::read(outer.path().join("sentinel")).ok().as_deref() != Some(&b"untouched"[..]) {
            return Some(format!("{mode:?}: sentinel changed"));
        }
    }
    None
}

fn check(label: &str, seed: u64, i: usize, bytes: &[u8]) {
    if let Some(failure) = run_case(bytes) {
        let tar_listing: Vec<String> = tar::Archive::new(bytes)
            .entries()
            .map(|es| {
                es.filter_map(|e| e.ok())
                    .map(|e| {
                        format!(
                            "{:?} {} -> {:?}",
                            e.header().entry_type(),
                            String::from_utf8_lossy(&e.path_bytes()),
                            e.link_name_bytes()
                                .map(|l| String::from_utf8_lossy(&l).into_owned())
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        panic!("{label}: seed {seed} case {i}: {failure}\nentries: {tar_listing:#?}");
    }
}

#[test]
fn random_hostile_tars_never_panic_or_write_outside_the_root() {
    let seed = seed();
    let mut rng = Rng(seed);
    let outside_abs_dir = tempfile::tempdir().unwrap();
    for i in 0..scale(300) {
        // The absolute target names a directory outside any case's root; run_case checks
        // its own `outside`, and this one must stay empty.
        let abs = outside_abs_dir.path().join("outside");
        let tar_bytes = random_tar(&mut rng, abs.to_str().unwrap());
        let bytes = match rng.below(3) {
            0 => gzip(&tar_bytes),
            1 => zstd(&tar_bytes),
            _ => tar_bytes,
        };
        check("random", seed, i, &bytes);
        assert_eq!(
            fs::read_dir(outside_abs_dir.path()).unwrap().count(),
            0,
            "seed {seed} case {i}: wrote through an absolute symlink to the host"
        );
    }
}

#[test]
fn mutated_tar_streams_never_panic_or_write_outside_the_root() {
    let seed = seed() ^ 0x9e37_79b9;
    let mut rng = Rng(seed.max(1));
    let outside_abs_dir = tempfile::tempdir().unwrap();
    for i in 0..scale(300) {
        let abs = outside_abs_dir.path().join("outside");
        let mut bytes = random_tar(&mut rng, abs.to_str().unwrap());
        match rng.below(3) {
            0 => {
                mutate(&mut rng, &mut bytes);
            }
            1 => {
                bytes = gzip(&bytes);
                mutate(&mut rng, &mut bytes);
            }
            _ => {
                mutate(&mut rng, &mut bytes);
                bytes = zstd(&bytes);
            }
        }
        check("mutated", seed, i, &bytes);
        assert_eq!(fs::read_dir(outside_abs_dir.path()).unwrap().count(), 0);
    }
}
