//! The crate's one error type. Every variant says what was being done and to what, so that a
//! kubelet can put the message in a Pod event (`ErrImagePull`) as it is. Secrets never appear
//! in messages: credentials are referred to by registry host only.

use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Digest;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },

    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest { digest: String, reason: String },

    #[error("registry {registry}: {message}")]
    Registry { registry: String, message: String },

    #[error("registry {registry}: authentication failed: {message}")]
    Unauthorized { registry: String, message: String },

    #[error("registry {registry}: {what} not found")]
    NotFound { registry: String, what: String },

    #[error("registry {registry}: {what}: {source}")]
    Transport {
        registry: String,
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },

    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },

    #[error("{what}: larger than the {limit} bytes allowed")]
    TooLarge { what: String, limit: u64 },

    #[error("manifest {what}: {reason}")]
    Manifest { what: String, reason: String },

    #[error("image {reference}: no manifest for platform {platform} (available: {available})")]
    NoMatchingPlatform {
        reference: String,
        platform: String,
        available: String,
    },

    #[error("image config {what}: {reason}")]
    Config { what: String, reason: String },

    #[error("layer {layer}: refused entry {path:?}: {reason}")]
    UnsafeLayerEntry {
        layer: String,
        path: String,
        reason: String,
    },

    #[error("layer {layer}: {reason}")]
    Layer { layer: String, reason: String },

    #[error("image {reference} is not in the store")]
    ImageNotPresent { reference: String },

    #[error("{context} {path}: {source}", path = path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// Wraps an IO error with what was being done and the path it was done to.
    pub fn io(context: &'static str, path: &Path, source: io::Error) -> Error {
        Error::Io {
            context,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// `.ctx("creating", path)?` for IO results: the IO error plus what and where.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, context: &'static str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(context, path, e))
    }
}
