//! The runtime's one error type: every variant says what was being done and to what.

use std::path::PathBuf;

/// Errors of the container runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("runtime helper `{verb}` failed: {message}")]
    Helper { verb: String, message: String },
    #[error("pod sandbox {0} not found")]
    SandboxNotFound(String),
    #[error("container {0} not found")]
    ContainerNotFound(String),
    #[error("container {id} is {state}, cannot {action}")]
    BadState {
        id: String,
        state: String,
        action: &'static str,
    },
    #[error("generating the OCI spec: {0}")]
    Spec(#[from] serde_json::Error),
    #[error("overlay option for {0} holds ',' or ':' or is not UTF-8")]
    BadLowerdir(PathBuf),
    #[error("container {id} did not exit within {seconds} s of SIGKILL")]
    StopTimeout { id: String, seconds: u64 },
    /// The command of an exec names no executable file in the container (what a shell
    /// reports with status 127).
    #[error("exec in container {id}: {executable:?}: executable file not found in $PATH")]
    ExecNotFound { id: String, executable: String },
    #[error("exec in container {id}: {message}")]
    Exec { id: String, message: String },
    /// An `exec_sync` command outlived its timeout; it has been killed.
    #[error("exec in container {id} did not finish within {timeout:?}; it was killed")]
    ExecTimeout {
        id: String,
        timeout: std::time::Duration,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
