//! OCI whiteouts: `.wh.<name>` deletes `<name>` of lower layers, `.wh..wh..opq` hides every
//! lower entry of its directory. Overlayfs spells them differently (a 0/0 character device, a
//! `trusted.overlay.opaque=y` xattr), so a layered unpack translates them; a flattened unpack
//! applies them as deletions. This module only names them; [`super`] applies them.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

pub const PREFIX: &str = ".wh.";
pub const OPAQUE: &str = ".wh..wh..opq";
/// The xattr overlayfs reads to make a directory opaque.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What a whiteout entry name means.
#[derive(Debug, PartialEq, Eq)]
pub enum Whiteout<'a> {
    /// Hide everything the lower layers have in this directory.
    Opaque,
    /// Delete this name from the lower layers.
    Remove(&'a OsStr),
    /// Other `.wh..wh.` names (AUFS bookkeeping such as `.wh..wh.plnk`): ignored.
    Meta,
    /// `.wh.`, `.wh..`, `.wh...`: nothing sensible to delete.
    Invalid,
}

/// Classifies the last component of an entry name; `None` when it is no whiteout.
pub fn classify(name: &OsStr) -> Option<Whiteout<'_>> {
    let bytes = name.as_bytes();
    let rest = bytes.strip_prefix(PREFIX.as_bytes())?;
    if bytes == OPAQUE.as_bytes() {
        return Some(Whiteout::Opaque);
    }
    if rest.starts_with(PREFIX.as_bytes()) {
        return Some(Whiteout::Meta);
    }
    if rest.is_empty() || rest == b"." || rest == b".." {
        return Some(Whiteout::Invalid);
    }
    Some(Whiteout::Remove(OsStr::from_bytes(rest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteout_names_are_classified() {
        fn c(s: &str) -> Option<Whiteout<'_>> {
            classify(OsStr::new(s))
        }
        assert_eq!(c("file"), None);
        assert_eq!(c(".whx"), None);
        assert_eq!(c(".wh.file"), Some(Whiteout::Remove(OsStr::new("file"))));
        assert_eq!(
            c(".wh..hidden"),
            Some(Whiteout::Remove(OsStr::new(".hidden")))
        );
        assert_eq!(c(".wh..wh..opq"), Some(Whiteout::Opaque));
        assert_eq!(c(".wh..wh.plnk"), Some(Whiteout::Meta));
        assert_eq!(c(".wh."), Some(Whiteout::Invalid));
        assert_eq!(c(".wh.."), Some(Whiteout::Invalid));
    }
}
