//! Layer unpacking on crafted tars: both modes, whiteouts, metadata, and every kind of entry
//! that must be refused, checking that nothing lands outside the target.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use common::layers::{gzip, tar, zstd, Entry::*};
use node_image::unpack::{running_as_root, unpack_layer, UnpackMode};
use node_image::{Digest, Error};

fn base() -> Vec<u8> {
    tar(&[
        Dir("etc/", 0o755),
        File("etc/os-release", b"base\n", 0o644),
        File("etc/removed", b"gone soon\n", 0o644),
        Dir("var/", 0o755),
        Dir("var/cache/", 0o755),
        File("var/cache/a", b"a", 0o644),
        Dir("var/cache/sub/", 0o700),
        File("var/cache/sub/b", b"b", 0o644),
        Dir("usr/", 0o755),
        Dir("usr/lib/", 0o755),
        File("usr/lib/libc.so", b"elf", 0o755),
        Symlink("lib", "usr/lib"),
        File("bin/su", b"setuid", 0o4755),
        HardLink("bin/su-link", "bin/su"),
        FileWithXattr("etc/tagged", b"x", "user.node-image", b"kept"),
        Fifo("run-fifo"),
    ])
}

fn upper() -> Vec<u8> {
    tar(&[
        File("etc/.wh.removed", b"", 0o644),
        Dir("var/cache/", 0o755),
        File("var/cache/.wh..wh..opq", b"", 0o644),
        File("var/cache/new", b"new", 0o644),
        File("lib/libnew.so", b"through the symlink", 0o644),
        File("etc/.wh..wh.plnk", b"", 0o644),
    ])
}

/// The files under `dir`, with a letter for each kind, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let t = fs::symlink_metadata(&p).unwrap().file_type();
            let kind = if t.is_dir() {
                "d"
            } else if t.is_symlink() {
                "l"
            } else if t.is_char_device() {
                "c"
            } else if t.is_fifo() {
                "p"
            } else {
                "f"
            };
            out.push(format!("{kind} {rel}"));
            if t.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn flattening_applies_whiteouts_and_opaque_dirs_and_keeps_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let s1 = unpack_layer(
        &gzip(&base())[..],
        root,
        UnpackMode::Flatten,
        running_as_root(),
        "base",
    )
    .unwrap();
    assert_eq!(
        s1.diff_id,
        Digest::of(&base()),
        "diff_id is the digest of the plain tar"
    );
    let s2 = unpack_layer(
        &zstd(&upper())[..],
        root,
        UnpackMode::Flatten,
        running_as_root(),
        "upper",
    )
    .unwrap();
    assert_eq!(s2.whiteouts, vec![Path::new("etc/removed")]);
    assert_eq!(s2.opaque_dirs, vec![Path::new("var/cache")]);
    assert_eq!(
        tree(root),
        [
            "d bin",
            "d etc",
            "d usr",
            "d usr/lib",
            "d var",
            "d var/cache",
            "f bin/su",
            "f bin/su-link",
            "f etc/os-release",
            "f etc/tagged",
            "f usr/lib/libc.so",
            "f usr/lib/libnew.so",
            "f var/cache/new",
            "l lib",
            "p run-fifo",
        ]
    );
    let su = fs::metadata(root.join("bin/su")).unwrap();
    assert_eq!(su.permissions().mode() & 0o7777, 0o4755, "setuid bit kept");
    assert_eq!(su.mtime(), 1_700_000_000);
    assert_eq!(
        su.ino(),
        fs::metadata(root.join("bin/su-link")).unwrap().ino()
    );
    assert_eq!(
        fs::read_link(root.join("lib")).unwrap(),
        Path::new("usr/lib")
    );
    assert_eq!(
        fs::metadata(root.join("var")).unwrap().mtime(),
        1_700_000_000
    );
    assert_eq!(
        fs::metadata(root.join("var/cache"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    if running_as_root() {
        assert_eq!((su.uid(), su.gid()), (1000, 1000), "ownership kept as root");
    }
    assert_eq!(
        rustix::fs::getxattr(root.join("etc/tagged"), "user.node-image", &mut [0u8; 16]).ok(),
        Some(4),
        "user xattr kept"
    );
}

#[test]
fn layered_mode_writes_overlayfs_whiteouts_or_says_it_needs_root() {
    let dir = tempfile::tempdir().unwrap();
    let result = unpack_layer(
        &upper()[..],
        dir.path(),
        UnpackMode::Layered,
        running_as_root(),
        "upper",
    );
    if running_as_root() {
        let s = result.unwrap();
        let wh = fs::symlink_metadata(dir.path().join("etc/removed")).unwrap();
        assert!(wh.file_type().is_char_device());
        assert_eq!(wh.rdev(), 0, "whiteout is device 0/0");
        let mut buf = [0u8; 4];
        let n = rustix::fs::getxattr(
            dir.path().join("var/cache"),
            "trusted.overlay.opaque",
            &mut buf,
        )
        .unwrap();
        assert_eq!(&buf[..n], b"y");
        assert_eq!(s.whiteouts, vec![Path::new("etc/removed")]);
        assert!(
            !dir.path().join("etc/.wh.removed").exists(),
            "whiteout files are translated, not copied"
        );
        assert!(
            dir.path().join("lib/libnew.so").is_file(),
            "a layer alone has no lib symlink"
        );
    } else {
        let err = result.unwrap_err().to_string();
        assert!(err.contains("needs root"), "{err}");
    }
}

#[test]
fn a_whiteout_never_deletes_what_its_own_layer_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    unpack_layer(
        &tar(&[Dir("d/", 0o755), File("d/lower", b"1", 0o644)])[..],
        root,
        UnpackMode::Flatten,
        false,
        "l1",
    )
    .unwrap();
    let upper = tar(&[
        File("d/mine", b"2", 0o644),
        File(".wh.d", b"", 0o644),
        File("d/.wh..wh..opq", b"", 0o644),
    ]);
    unpack_layer(&upper[..], root, UnpackMode::Flatten, false, "l2").unwrap();
    assert_eq!(tree(root), ["d d", "f d/mine"]);
}

/// Unpacks `entries` into `outer/root` and returns the error; checks that `outer` holds
/// nothing but `root` and the untouched sentinel afterwards.
fn refused(entries: &[common::layers::Entry], mode: UnpackMode) -> Error {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(outer.path().join("sentinel"), b"untouched").unwrap();
    let err = unpack_layer(&tar(entries)[..], &root, mode, running_as_root(), "evil")
        .expect_err(&format!("{entries:?} must be refused"));
    let mut names: Vec<String> = fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["root", "sentinel"],
        "{entries:?} wrote outside the root"
    );
    assert_eq!(
        fs::read(outer.path().join("sentinel")).unwrap(),
        b"untouched"
    );
    err
}

#[test]
fn entries_escaping_the_root_and_devices_are_refused() {
    for mode in [UnpackMode::Flatten, UnpackMode::Layered] {
        let cases: Vec<(Vec<common::layers::Entry>, &str)> = vec![
            (vec![File("../evil", b"x", 0o644)], "'..'"),
            (vec![File("a/../../evil", b"x", 0o644)], "'..'"),
            (vec![File("/evil", b"x", 0o644)], "absolute"),
            (
                vec![Symlink("link", "../.."), File("link/evil", b"x", 0o644)],
                "outside the root",
            ),
            (
                vec![Symlink("link", "/../.."), File("link/evil", b"x", 0o644)],
                "outside the root",
            ),
            (
                vec![
                    Dir("d/", 0o755),
                    Symlink("d/up", "../../x"),
                    Dir("d/up/y/", 0o755),
                ],
                "outside the root",
            ),
            (
                vec![Symlink("l", "../sentinel"), HardLink("h", "l/x")],
                "outside the root",
            ),
            (vec![HardLink("h", "../sentinel")], "'..'"),
            (vec![HardLink("h", "/etc/passwd")], "absolute"),
            (vec![HardLink("h", "missing")], "not in the layer"),
            (vec![Dir("d/", 0o755), HardLink("h", "d")], "directory"),
            (vec![CharDevice("dev/null")], "device"),
            (vec![File(".wh.", b"", 0o644)], "whiteout"),
            (vec![File("../.wh.x", b"", 0o644)], "'..'"),
            (
                vec![Symlink("l", "../.."), File("l/.wh.sentinel", b"", 0o644)],
                "outside the root",
            ),
        ];
        for (entries, reason) in cases {
            let err = refused(&entries, mode);
            assert!(
                matches!(err, Error::UnsafeLayerEntry { .. }),
                "{entries:?}: {err}"
            );
            assert!(err.to_string().contains(reason), "{entries:?}: {err}");
        }
    }
}

#[test]
fn symlinked_parents_inside_the_root_are_followed_within_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let layer = tar(&[
        Dir("usr/bin/", 0o755),
        Symlink("bin", "usr/bin"),
        File("bin/tool", b"t", 0o755),
        Symlink("abs", "/usr"),
        File("abs/bin/other", b"o", 0o755),
        Symlink("bin2", "bin"),
        File("bin2/third", b"3", 0o755),
        Symlink("escape", "/etc/passwd"),
    ]);
    unpack_layer(&layer[..], root, UnpackMode::Flatten, false, "l").unwrap();
    for f in ["usr/bin/tool", "usr/bin/other", "usr/bin/third"] {
        assert!(root.join(f).is_file(), "{f}");
    }
    assert_eq!(
        fs::read_link(root.join("escape")).unwrap(),
        Path::new("/etc/passwd"),
        "a symlink is data; only following it while unpacking would be an escape"
    );
}

#[test]
fn later_entries_replace_earlier_ones_without_writing_through_symlinks() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(outer.path().join("victim"), b"original").unwrap();
    let layer = tar(&[
        Symlink("f", "../victim"),
        File("f", b"replaced", 0o644),
        Dir("d/", 0o755),
        File("d", b"file now", 0o600),
    ]);
    unpack_layer(&layer[..], &root, UnpackMode::Flatten, false, "l").unwrap();
    assert_eq!(fs::read(outer.path().join("victim")).unwrap(), b"original");
    assert_eq!(fs::read(root.join("f")).unwrap(), b"replaced");
    assert_eq!(fs::read(root.join("d")).unwrap(), b"file now");
}

#[test]
fn truncated_and_garbage_streams_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let good = gzip(&base());
    let err = unpack_layer(
        &good[..good.len() / 2],
        dir.path(),
        UnpackMode::Flatten,
        false,
        "cut",
    )
    .unwrap_err();
    assert!(matches!(err, Error::Layer { .. }), "{err}");
    let zst = zstd(&base());
    assert!(unpack_layer(
        &zst[..zst.len() - 5],
        dir.path(),
        UnpackMode::Flatten,
        false,
        "cut"
    )
    .is_err());
}
