//! The crate's one error type. Each variant says what was being done and to what; passwords
//! and tokens never appear in messages (credentials are named by registry host only).

use std::path::PathBuf;

use node_image::Digest;

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("building {what}: {message}")]
    Build { what: String, message: String },

    #[error("{path} is not a static executable: {reason}", path = path.display())]
    NotStatic { path: PathBuf, reason: String },

    #[error("{context} {path}: {source}", path = path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid push target {target:?}: {reason}")]
    InvalidTarget { target: String, reason: String },

    #[error("registry {registry}: authentication failed: {message}")]
    Unauthorized { registry: String, message: String },

    #[error("registry {registry}: {what}: {status} {message}")]
    Registry {
        registry: String,
        what: String,
        status: u16,
        message: String,
    },

    #[error("registry {registry}: {what}: {source}")]
    Transport {
        registry: String,
        what: String,
        #[source]
        source: BoxError,
    },

    #[error("registry {registry}: {what}: the registry computed {actual}, not {expected}")]
    DigestMismatch {
        registry: String,
        what: String,
        expected: Digest,
        actual: String,
    },
}

impl Error {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            context,
            path,
            source,
        }
    }
}
