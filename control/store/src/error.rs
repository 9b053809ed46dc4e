//! The store's error type and `Result` alias.
//!
//! Errors fall into three groups: answers about the request (`Compacted`,
//! `FutureRevision`, `InvalidRequest`, `RequestTooLarge`), problems with the
//! files on disk (`Io`, `Corrupt`), and the store's own lifecycle (`Closed`,
//! `WriterFailed`). Bad bytes read from disk always become `Corrupt`, never a
//! panic.

use std::path::PathBuf;

use crate::kv::Revision;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The requested revision is older than the compacted revision, so its
    /// history is gone (etcd's "required revision has been compacted").
    #[error("required revision has been compacted (compacted revision {compacted_revision})")]
    Compacted { compacted_revision: Revision },

    /// The requested revision has not happened yet.
    #[error("required revision {requested} is a future revision (current revision {current})")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },

    /// The request is malformed (empty key, duplicate key in one txn, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// The encoded request is larger than one log record may be.
    #[error("request of {size} bytes exceeds the limit of {limit} bytes")]
    RequestTooLarge { size: usize, limit: usize },

    /// An operating-system level I/O failure.
    #[error("I/O error while {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// Bytes on disk that are not what the store wrote. The store refuses to
    /// open rather than silently dropping acknowledged data.
    #[error("corrupt data in {} at byte {offset}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },

    /// Another open store (in this or another process) holds the directory.
    #[error("data directory {} is in use by another store", .0.display())]
    Locked(PathBuf),

    /// The store was closed; no further writes are accepted.
    #[error("store is closed")]
    Closed,

    /// An earlier log write or fsync failed. After a failed fsync the state
    /// of the file is unknown, so the writer refuses all further writes; the
    /// store must be reopened (which replays what did reach the disk).
    #[error("store writer failed earlier and refuses further writes: {0}")]
    WriterFailed(String),
}

impl Error {
    /// Wraps an `io::Error` with a short description of what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        Error::Corrupt {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }
}
