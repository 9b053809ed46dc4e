//! An exclusive lock on the data directory, so that two stores (in one
//! process or two) never append to the same log: that would interleave
//! frames and corrupt acknowledged data. The lock is an advisory `flock` on
//! a `LOCK` file; the kernel drops it when the holder dies, so a kill -9
//! never leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::path::Path;

use crate::error::{Error, Result};

const LOCK_FILE: &str = "LOCK";

/// Held for as long as the store may write to the directory.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        #[cfg(unix)]
        {
            use rustix::fs::{flock, FlockOperation};
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) => return Err(Error::Locked(dir.to_owned())),
                Err(e) => {
                    return Err(Error::io(
                        format!("locking {}", path.display()),
                        std::io::Error::from(e),
                    ))
                }
            }
        }
        Ok(DirLock { _file: file })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        assert!(matches!(
            DirLock::acquire(dir.path()),
            Err(Error::Locked(_))
        ));
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }
}
