//! Terminals: libcontainer makes a container's pty inside the container (from the container's
//! own devpts, as runc does), makes it the process's controlling terminal and sends the
//! master side over a "console socket" whose path it is given. This module is the receiving
//! end of that socket, and the descriptor passing (`SCM_RIGHTS`) the exec helper uses to hand
//! the master on to the runtime.

use std::fs;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::{IoSlice, IoSliceMut};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// A listening console socket; the socket file is removed on drop.
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    /// Binds a listening socket at `path`. The bind goes through the parent directory (a
    /// `chdir` and a relative name, as libcontainer does for its own sockets) so that a long
    /// run dir never hits the 108-byte limit of socket addresses. Only for the helper's
    /// single-threaded processes: the working directory is process-wide.
    pub fn bind(path: &Path) -> Result<Self, String> {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(format!("console socket path {}", path.display()));
        };
        let back = std::env::current_dir().map_err(|e| format!("current dir: {e}"))?;
        std::env::set_current_dir(dir).map_err(|e| format!("chdir {}: {e}", dir.display()))?;
        let listener = UnixListener::bind(name);
        let _ = std::env::set_current_dir(back);
        let listener = listener.map_err(|e| format!("binding {}: {e}", path.display()))?;
        Ok(ConsoleSocket {
            listener,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Receives the pty master libcontainer sent. A successful `build` means it has been
    /// sent already (the container process sends it before it reports ready); `timeout`
    /// only guards against a libcontainer that did not.
    pub fn receive_master(&self, timeout: Duration) -> Result<OwnedFd, String> {
        wait_readable(self.listener.as_fd(), timeout)
            .map_err(|e| format!("waiting on the console socket: {e}"))?;
        let (conn, _) = self
            .listener
            .accept()
            .map_err(|e| format!("accepting on the console socket: {e}"))?;
        wait_readable(conn.as_fd(), timeout)
            .map_err(|e| format!("waiting for the pty master: {e}"))?;
        let mut buf = [0u8; 256];
        match recv_with_fd(conn.as_fd(), &mut buf) {
            Ok((_, Some(fd))) => Ok(fd),
            Ok((_, None)) => Err("the console socket carried no pty master".into()),
            Err(e) => Err(format!("receiving the pty master: {e}")),
        }
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<()> {
    let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
    let ts = Timespec {
        tv_sec: timeout.as_secs() as _,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    loop {
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::TimedOut)),
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sends `bytes` as one message on a Unix socket, with `fd` attached if given. Never raises
/// SIGPIPE: a peer that is gone is an error.
pub fn send_with_fd(
    sock: BorrowedFd<'_>,
    bytes: &[u8],
    fd: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds;
    if let Some(fd) = fd {
        fds = [fd];
        control.push(SendAncillaryMessage::ScmRights(&fds));
    }
    loop {
        match rustix::net::sendmsg(
            sock,
            &[IoSlice::new(bytes)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives one message into `buf`, and the descriptor attached to it if any (close-on-exec,
/// so that no process the receiver spawns later inherits it). `Ok((0, None))` is end of
/// stream.
pub fn recv_with_fd(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = loop {
        match rustix::net::recvmsg(
            sock,
            &mut [IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(m) => break m,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    let mut received = None;
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = m {
            for fd in fds {
                // Keep the first; any extra descriptor is closed as it drops.
                received.get_or_insert(fd);
            }
        }
    }
    Ok((msg.bytes, received))
}
