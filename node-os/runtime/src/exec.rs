//! Processes run inside running containers (`kubectl exec`, exec probes), from the runtime's
//! side. The process is started by the `exec` helper ([`crate::helper::exec`], which says
//! why it stays the process's parent); here the runtime spawns that helper with the
//! process's stdio (pipes, or nothing with a terminal: the pty comes back from the helper),
//! and [`ExecProcess`] turns the helper into the process's handle: its exit is the
//! process's, and closing the control socket is the kill request.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use rustix::net::{AddressFamily, SocketFlags, SocketType};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use crate::error::{Error, Result};
use crate::helper::console::{recv_with_fd, send_with_fd};
use crate::helper::exec::{Reply, Request, CONTROL_FD};
use crate::helper::HELPER_ARG;

type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// What to run in a container.
#[derive(Clone, Debug, Default)]
pub struct ExecRequest {
    pub args: Vec<String>,
    /// `KEY=value` pairs added to the container's own environment (replacing a variable of
    /// the same name).
    pub env: Vec<String>,
    /// Run on a terminal: stdout carries everything the process writes, there is no stderr.
    pub tty: bool,
    /// Give the process a stdin to write to; without it, its stdin is `/dev/null` (or a
    /// terminal nobody types into).
    pub stdin: bool,
}

/// A process running in a container. Dropping it kills the process (if it still runs),
/// exactly as [`ExecProcess::kill`] does.
pub struct ExecProcess {
    /// `Some` iff the request asked for stdin. Dropping it closes the process's stdin (with a
    /// terminal, nothing: a terminal's input has no end; type `^D`).
    pub stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    /// Always `Some` until taken.
    pub stdout: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// `None` with a terminal, whose output is all on stdout.
    pub stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
    helper: tokio::process::Child,
    control: OwnedFd,
    pty: Option<Arc<AsyncFd<OwnedFd>>>,
}

impl std::fmt::Debug for ExecProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecProcess")
            .field("helper", &self.helper.id())
            .field("tty", &self.pty.is_some())
            .finish_non_exhaustive()
    }
}

impl ExecProcess {
    /// Waits for the process to exit; returns its exit code (`128 + n` when signal `n`
    /// killed it).
    pub async fn wait(&mut self) -> Result<i32> {
        let status = self
            .helper
            .wait()
            .await
            .map_err(|e| Error::io("waiting for the exec helper", e))?;
        Ok(exit_code(status))
    }

    /// Sets the terminal's window size (the process gets SIGWINCH); a no-op without a
    /// terminal.
    pub fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        let Some(pty) = &self.pty else {
            return Ok(());
        };
        rustix::termios::tcsetwinsize(pty.get_ref(), winsize(cols, rows)).map_err(|e| {
            Error::io(
                format!("resizing the exec terminal to {cols}x{rows}"),
                e.into(),
            )
        })
    }

    /// Kills the process (SIGKILL to it and its process group), through its helper; `wait`
    /// then returns 137. Does nothing once it has exited.
    pub fn kill(&self) {
        let _ = rustix::net::shutdown(&self.control, rustix::net::Shutdown::Both);
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(255)
}

fn winsize(cols: u16, rows: u16) -> rustix::termios::Winsize {
    rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// Spawns the exec helper for `req` and waits until the process runs (or failed to start).
pub(crate) async fn spawn(
    helper_exe: &std::path::Path,
    req: Request,
    stdin: bool,
) -> Result<ExecProcess> {
    let id = req.id.clone();
    let tty = req.tty;
    let failed = |message: String| Error::Exec {
        id: id.clone(),
        message,
    };
    let io_err = |what: &str, e: io::Error| Error::io(format!("exec in container {id}: {what}"), e);
    let body = serde_json::to_vec(&req)?;
    if body.len() > crate::helper::exec::MAX_REQUEST {
        return Err(failed(format!(
            "the command and environment take {} bytes, more than {}",
            body.len(),
            crate::helper::exec::MAX_REQUEST
        )));
    }

    let (ours, theirs) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )
    .map_err(|e| io_err("socketpair", e.into()))?;
    // Non-blocking is per open file: the helper's end blocks. Its descriptor is moved to 10 or
    // above so that the child's dup2 onto 3 (after the standard descriptors are set up) never
    // lands on itself and always clears close-on-exec.
    rustix::io::ioctl_fionbio(&theirs, false).map_err(|e| io_err("fionbio", e.into()))?;
    let theirs =
        rustix::io::fcntl_dupfd_cloexec(&theirs, 10).map_err(|e| io_err("dup", e.into()))?;
    let theirs_raw = theirs.as_raw_fd();

    let mut cmd = tokio::process::Command::new(helper_exe);
    cmd.arg(HELPER_ARG).arg("exec");
    if tty {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    } else {
        cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    }
    // SAFETY: between fork and exec the closure only calls dup2, which is async-signal-safe,
    // on a descriptor that stays open in the parent until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(theirs_raw, CONTROL_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut helper = cmd
        .spawn()
        .map_err(|e| io_err(&format!("spawning {}", helper_exe.display()), e))?;
    drop(theirs);

    let control = register(ours).map_err(|e| io_err("registering the control socket", e))?;
    let mut send_error = None;
    loop {
        let mut guard = control
            .writable()
            .await
            .map_err(|e| io_err("control socket", e))?;
        match guard.try_io(|fd| send_with_fd(fd.as_fd(), &body, None)) {
            Ok(Ok(())) => break,
            // The helper died before reading its request, or the request could not be sent:
            // shutting the socket down makes a helper still waiting for it exit, and its exit
            // is reported below.
            Ok(Err(e)) => {
                let _ = rustix::net::shutdown(control.get_ref(), rustix::net::Shutdown::Both);
                send_error = Some(e);
                break;
            }
            Err(_would_block) => continue,
        }
    }
    let mut buf = vec![0u8; 64 * 1024];
    let (n, master) = loop {
        let mut guard = control
            .readable()
            .await
            .map_err(|e| io_err("control socket", e))?;
        match guard.try_io(|fd| recv_with_fd(fd.as_fd(), &mut buf)) {
            Ok(Ok(v)) => break v,
            Ok(Err(e)) if e.raw_os_error() == Some(libc::ECONNRESET) => break (0, None),
            Ok(Err(e)) => return Err(io_err("reading the exec helper's reply", e)),
            Err(_would_block) => continue,
        }
    };
    if n == 0 {
        let mut stderr = String::new();
        if let Some(mut e) = helper.stderr.take() {
            let mut b = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(1), e.read_to_end(&mut b)).await;
            stderr = String::from_utf8_lossy(&b).trim().to_string();
        }
        let status = helper.wait().await.map_err(|e| io_err("waiting", e))?;
        if let Some(e) = send_error {
            stderr = format!("sending the request: {e}; {stderr}");
        }
        return Err(failed(format!(
            "the exec helper exited ({status}) before starting the process{}{stderr}",
            if stderr.is_empty() { "" } else { ": " }
        )));
    }
    match serde_json::from_slice::<Reply>(&buf[..n]) {
        Ok(Reply::Started { .. }) => {}
        Ok(Reply::NotFound { executable }) => {
            let _ = helper.wait().await;
            return Err(Error::ExecNotFound { id, executable });
        }
        Ok(Reply::Failed { message }) => {
            let _ = helper.wait().await;
            return Err(failed(message));
        }
        Err(e) => {
            return Err(failed(format!(
                "unreadable reply from the exec helper ({e}): {:?}",
                String::from_utf8_lossy(&buf[..n])
            )))
        }
    }

    let control = control.into_inner();
    let (stdin_w, stdout, stderr, pty): (Option<Writer>, Option<Reader>, Option<Reader>, _) = if tty
    {
        let master =
            master.ok_or_else(|| failed("no terminal came back from the exec helper".into()))?;
        rustix::io::ioctl_fionbio(&master, true).map_err(|e| io_err("fionbio", e.into()))?;
        let pty = Arc::new(register(master).map_err(|e| io_err("registering the pty", e))?);
        (
            stdin.then(|| Box::new(Pty(pty.clone())) as Writer),
            Some(Box::new(Pty(pty.clone()))),
            None,
            Some(pty),
        )
    } else {
        (
            helper.stdin.take().map(|s| Box::new(s) as Writer),
            helper.stdout.take().map(|s| Box::new(s) as Reader),
            helper.stderr.take().map(|s| Box::new(s) as Reader),
            None,
        )
    };
    Ok(ExecProcess {
        stdin: stdin_w,
        stdout,
        stderr,
        helper,
        control,
        pty,
    })
}

fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an `OwnedFd` is open and keeps returning the same descriptor until dropped,
    // which only happens with the `AsyncFd`.
    Ok(unsafe { AsyncFd::register(fd) }?)
}

/// One side of a pty master, registered with tokio's reactor. Reading and writing share one
/// `AsyncFd` (it keeps one waker per direction).
struct Pty(Arc<AsyncFd<OwnedFd>>);

impl AsyncRead for Pty {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.0.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| {
                rustix::io::read(fd.get_ref(), &mut *unfilled).map_err(io::Error::from)
            }) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Every slave descriptor is closed: the terminal's end of output.
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Poll::Ready(Ok(())),
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Pty {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.0.poll_write_ready(cx))?;
            match guard.try_io(|fd| rustix::io::write(fd.get_ref(), data).map_err(io::Error::from))
            {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The most output `exec_sync` keeps (as the kubelet caps probe output).
pub const EXEC_SYNC_MAX_OUTPUT: usize = 10 * 1024;

/// How long `exec_sync` keeps reading after the process exited, for output still in the
/// pipes; a background child holding them open is not waited for beyond this.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(500);

/// Runs `p` to completion: its stdout and stderr interleaved as they arrive, the first
/// [`EXEC_SYNC_MAX_OUTPUT`] bytes kept (the rest read and dropped, so the process never
/// blocks on a full pipe). Returns `None` if `timeout` passed first, after killing it.
pub(crate) async fn run_to_completion(
    p: &mut ExecProcess,
    timeout: Duration,
) -> Result<Option<(i32, Vec<u8>)>> {
    let out = std::sync::Mutex::new(Vec::new());
    let (stdout, stderr) = (p.stdout.take(), p.stderr.take());
    let drain = |r: Option<Box<dyn AsyncRead + Send + Unpin>>| {
        let out = &out;
        async move {
            let Some(mut r) = r else { return };
            let mut chunk = vec![0u8; 8192];
            while let Ok(n) = r.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
                let room = EXEC_SYNC_MAX_OUTPUT.saturating_sub(out.len());
                out.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    };
    let readers = async { tokio::join!(drain(stdout), drain(stderr)) };
    let run = async {
        tokio::pin!(readers);
        let exited = tokio::select! {
            _ = &mut readers => None,
            code = p.wait() => Some(code?),
        };
        let code = match exited {
            None => p.wait().await?,
            Some(code) => {
                let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, readers).await;
                code
            }
        };
        Ok::<_, Error>(code)
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(code) => Ok(Some((
            code?,
            out.into_inner().unwrap_or_else(|e| e.into_inner()),
        ))),
        Err(_) => {
            p.kill();
            // The helper exits as soon as the process is reaped; waiting here means no
            // process is left behind when the caller gets its timeout error.
            let _ = tokio::time::timeout(Duration::from_secs(10), p.wait()).await;
            Ok(None)
        }
    }
}
