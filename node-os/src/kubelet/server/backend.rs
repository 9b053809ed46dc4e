//! What the kubelet API needs from the rest of the node: a container's CRI log files, whether
//! it runs, a process started in it, its stdin, and a TCP connection inside its pod's network
//! namespace. The server is written against this trait only, so it is tested with a double.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

/// A process started in a container by `exec`, with its pipes (or its terminal).
pub struct ExecSession {
    pub stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    pub stdout: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// None with a tty: the terminal merges both outputs into `stdout`.
    pub stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// Resolves to the exit code when the process ends.
    pub exit: Pin<Box<dyn Future<Output = Result<i32, String>> + Send>>,
    /// Terminal resize (cols, rows); None without tty.
    pub resize: Option<Box<dyn Fn(u16, u16) + Send + Sync>>,
    /// Called when the client goes away before the process ends (kill it).
    pub cancel: Option<Box<dyn FnOnce() + Send>>,
}

/// Why the backend could not do what was asked. The message is shown to the user as is, so it
/// should be worded as the kubelet words it (`pod "web" does not exist`,
/// `container "app" not found in pod "web"`).
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Unknown pod or container: 404.
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be served as asked (say, the container is not running): 400.
    #[error("{0}")]
    BadRequest(String),
    /// Anything else: 500.
    #[error("{0}")]
    Internal(String),
}

/// The node's side of the kubelet API. An empty `container` means "the pod's only container":
/// the backend decides, or answers `BadRequest` when the pod has several.
pub trait KubeletBackend: Send + Sync + 'static {
    /// CRI log files of a container of a pod bound to this node: the current instance's log
    /// (or the previous instance's when `previous`), oldest rotated file first (e.g.
    /// `0.log.20250101-...`, then `0.log`).
    fn log_files(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> impl Future<Output = Result<Vec<PathBuf>, BackendError>> + Send;

    /// Whether the container instance whose log this is still runs (so `follow` ends when it
    /// exits).
    fn container_running(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
    ) -> impl Future<Output = bool> + Send;

    /// Starts `cmd` in the container.
    fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        cmd: Vec<String>,
        tty: bool,
        stdin: bool,
    ) -> impl Future<Output = Result<ExecSession, BackendError>> + Send;

    /// Attach: stdin writer into the container's stdin (None if the container has no stdin);
    /// output comes from following the log.
    fn attach_stdin(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
    ) -> impl Future<Output = Result<Option<Box<dyn AsyncWrite + Send + Unpin>>, BackendError>> + Send;

    /// A TCP connection to `port` on the pod's loopback/interfaces inside its network
    /// namespace.
    fn port_forward(
        &self,
        namespace: &str,
        pod: &str,
        uid: Option<&str>,
        port: u16,
    ) -> impl Future<Output = Result<tokio::net::TcpStream, BackendError>> + Send;
}
