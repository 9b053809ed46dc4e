//! Helper verb `shim`: creates one container with libcontainer and then stays with it, like
//! containerd's shim or conmon. It detaches from the runtime first (fork, `setsid`), so a
//! runtime restart does not touch it; it is the container's parent (libcontainer clones the
//! init process as a sibling of its intermediate process, so the shim reaps it), it turns
//! the container's stdout and stderr into CRI log records with rotation, and when the
//! container has exited it writes `exit.json` (exit code, signal, OOM kill) for the runtime
//! to read back, then exits itself.
//!
//! Stdin (`stdin: true`): the shim makes a FIFO in the container's directory and relays what
//! attach sessions write into it to the container's stdin, a pipe whose write end the shim
//! keeps, so the container sees no end-of-file between sessions; with `stdinOnce` the shim
//! closes it when the first session ends. A FIFO rather than a socket keeps attach simple:
//! the runtime opens a path for writing, and a session ends when it closes it.
//!
//! Terminal (`tty: true`): libcontainer makes the pty inside the container and sends its
//! master to the shim's console socket ([`super::console`]); the shim logs what comes out of
//! the master as stdout, relays stdin into it, and applies window sizes the runtime writes
//! to a second FIFO (`<cols> <rows>` lines).
//!
//! The fork happens while this freshly executed process still has one thread; the log
//! threads start only after libcontainer has cloned the container.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use serde::{Deserialize, Serialize};

use crate::log::format::split_output;
use crate::log::{LogWriter, RotationPolicy, Stream, Tag};
use crate::state::{exit_record, proc_start_ticks, write_json, WaitOutcome};

/// Names, in the container's directory, of the stdin FIFO, the window-size FIFO and the
/// console socket.
pub const STDIN_FIFO: &str = "stdin";
pub const RESIZE_FIFO: &str = "tty-resize";
pub const CONSOLE_SOCKET: &str = "console.sock";

/// Longest record the shim writes before cutting a line into `P` pieces (containerd's and
/// CRI-O's limit is 16 KiB as well).
pub const MAX_LINE: usize = 16 * 1024;

#[derive(Serialize, Deserialize)]
pub struct Request {
    pub id: String,
    pub bundle: PathBuf,
    /// libcontainer's root.
    pub root: PathBuf,
    pub log_path: PathBuf,
    pub rotation: RotationPolicy,
    /// Where to write the [`crate::state::ExitRecord`].
    pub exit_file: PathBuf,
    /// The cgroup file counting OOM kills of this container.
    pub oom_file: PathBuf,
    /// The shim's own diagnostics.
    pub shim_log: PathBuf,
    /// The FIFO attach sessions write the container's stdin into; `None`: stdin is
    /// `/dev/null`.
    #[serde(default)]
    pub stdin_fifo: Option<PathBuf>,
    #[serde(default)]
    pub stdin_once: bool,
    #[serde(default)]
    pub tty: Option<TtyPaths>,
}

/// Where a container with a terminal gets its pty and its window sizes.
#[derive(Serialize, Deserialize)]
pub struct TtyPaths {
    pub console_socket: PathBuf,
    pub resize_fifo: PathBuf,
}

#[derive(Serialize, Deserialize)]
pub struct Created {
    pub pid: i32,
    pub pid_start_ticks: u64,
    pub shim_pid: i32,
}

/// Runs the verb; returns the exit status of the half that answers the runtime.
pub fn run(req: Request) -> i32 {
    let (report_r, report_w) = match rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) {
        Ok(p) => p,
        Err(e) => return super::reply::<()>(Err(format!("pipe: {e}"))),
    };
    // SAFETY: this process is single-threaded (a fresh exec, no thread started), so the child
    // may do anything after fork.
    match unsafe { libc::fork() } {
        -1 => super::reply::<()>(Err(format!("fork: {}", std::io::Error::last_os_error()))),
        0 => {
            drop(report_r);
            let code = shim_child(req, report_w);
            std::process::exit(code)
        }
        _ => {
            // The first half relays the second half's answer and exits, so the runtime is
            // never the shim's parent.
            drop(report_w);
            // One line, not EOF: the container's processes inherit the write end until they
            // exec (it is close-on-exec), which for a created container is only at start.
            let mut answer = Vec::new();
            let _ = std::io::BufReader::new(File::from(report_r)).read_until(b'\n', &mut answer);
            if answer.is_empty() {
                return super::reply::<()>(Err("the shim died before reporting".into()));
            }
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&answer);
            let _ = out.flush();
            if answer.starts_with(b"{\"ok\"") {
                0
            } else {
                1
            }
        }
    }
}

fn shim_child(req: Request, report: OwnedFd) -> i32 {
    let mut report = File::from(report);
    let send = |report: &mut File, r: Result<Created, String>| {
        let msg = match r {
            Ok(c) => super::Reply::Ok(c),
            Err(e) => super::Reply::Err(e),
        };
        let _ = serde_json::to_writer(&mut *report, &msg);
        let _ = report.write_all(b"\n");
    };
    if let Err(e) = detach(&req) {
        send(&mut report, Err(e));
        return 1;
    }
    let io = match make_fifos(&req).and_then(|resize| Ok((create(&req)?, resize))) {
        Ok(v) => v,
        Err(e) => {
            send(&mut report, Err(e));
            return 1;
        }
    };
    let (
        ContainerIo {
            pid,
            outputs,
            stdin,
            master,
        },
        resize,
    ) = io;
    let created = Created {
        pid,
        pid_start_ticks: proc_start_ticks(pid).unwrap_or(0),
        shim_pid: std::process::id() as i32,
    };
    send(&mut report, Ok(created));
    drop(report);

    // Neither relay is joined: they block on their FIFOs for as long as the container runs,
    // and end with the shim.
    if let (Some(fifo), Some(sink)) = (req.stdin_fifo.clone(), stdin) {
        let (once, tty) = (req.stdin_once, req.tty.is_some());
        std::thread::spawn(move || relay_stdin(&fifo, File::from(sink), once, tty));
    }
    if let (Some(resize), Some(master)) = (resize, master) {
        std::thread::spawn(move || serve_resize(resize, master));
    }

    let writer = match LogWriter::open(&req.log_path, req.rotation) {
        Ok(w) => Arc::new(Mutex::new(w)),
        Err(e) => {
            eprintln!(
                "shim {}: opening log {}: {e}; output is dropped",
                req.id,
                req.log_path.display()
            );
            // Keep draining the pipes so the container never blocks on a full pipe.
            Arc::new(Mutex::new(
                LogWriter::open(std::path::Path::new("/dev/null"), req.rotation)
                    .expect("/dev/null"),
            ))
        }
    };
    let copiers: Vec<_> = outputs
        .into_iter()
        .map(|(fd, stream)| {
            let writer = writer.clone();
            std::thread::spawn(move || copy_stream(File::from(fd), stream, &writer))
        })
        .collect();

    let outcome = wait_for(pid);
    for c in copiers {
        let _ = c.join();
    }
    let oom_kills = fs::read_to_string(&req.oom_file)
        .map(|s| crate::cgroup::parse_oom_kills(&s))
        .unwrap_or(0);
    let rec = exit_record(outcome, oom_kills, Timestamp::now());
    if let Err(e) = write_json(&req.exit_file, &rec) {
        eprintln!("shim {}: writing {}: {e}", req.id, req.exit_file.display());
        return 1;
    }
    0
}

/// Leaves the runtime's session and pipes: a new session, stdin from `/dev/null`,
/// diagnostics to the shim's log file.
fn detach(req: &Request) -> Result<(), String> {
    rustix::process::setsid().map_err(|e| format!("setsid: {e}"))?;
    let null = File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&req.shim_log)
        .map_err(|e| format!("{}: {e}", req.shim_log.display()))?;
    // SAFETY: dup2 onto the standard descriptors of this single-threaded process.
    unsafe {
        if libc::dup2(null.as_raw_fd(), 0) < 0
            || libc::dup2(log.as_raw_fd(), 1) < 0
            || libc::dup2(log.as_raw_fd(), 2) < 0
        {
            return Err(format!("dup2: {}", std::io::Error::last_os_error()));
        }
    }
    super::set_diagnostics(log);
    Ok(())
}

/// The container's side of the shim: its init pid, the output streams to log, where its
/// stdin goes (a pipe's write end, or the pty master), and the pty master for resizing.
struct ContainerIo {
    pid: i32,
    outputs: Vec<(OwnedFd, Stream)>,
    stdin: Option<OwnedFd>,
    master: Option<OwnedFd>,
}

/// Makes the stdin and window-size FIFOs; returns the latter opened for reading and writing,
/// so that the runtime can open it (without blocking) for as long as the shim lives.
fn make_fifos(req: &Request) -> Result<Option<File>, String> {
    let mkfifo = |p: &std::path::Path| {
        rustix::fs::mkfifoat(rustix::fs::CWD, p, rustix::fs::Mode::from_raw_mode(0o600))
            .map_err(|e| format!("mkfifo {}: {e}", p.display()))
    };
    if let Some(p) = &req.stdin_fifo {
        mkfifo(p)?;
    }
    match &req.tty {
        None => Ok(None),
        Some(t) => {
            mkfifo(&t.resize_fifo)?;
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(&t.resize_fifo)
                .map(Some)
                .map_err(|e| format!("{}: {e}", t.resize_fifo.display()))
        }
    }
}

/// Creates the container. Without a terminal its stdout and stderr are pipes whose write
/// ends go to libcontainer and are closed here once it returns, so the read ends see EOF
/// exactly when the container's processes are gone; its stdin is a pipe too when asked for.
/// With a terminal, its stdio is the pty libcontainer makes.
fn create(req: &Request) -> Result<ContainerIo, String> {
    let pipe = || {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| format!("pipe: {e}"))
    };
    let builder = ContainerBuilder::new(req.id.clone(), SyscallType::Linux)
        .with_root_path(&req.root)
        .map_err(|e| format!("libcontainer root {}: {e}", req.root.display()))?;
    if let Some(tty) = &req.tty {
        let console = super::console::ConsoleSocket::bind(&tty.console_socket)?;
        let container = builder
            .with_console_socket(Some(console.path()))
            .as_init(&req.bundle)
            .with_systemd(false)
            .with_detach(true)
            .build()
            .map_err(|e| format!("creating container {}: {e}", req.id))?;
        let pid = container
            .pid()
            .ok_or_else(|| format!("container {} has no pid after create", req.id))?;
        let master = console.receive_master(std::time::Duration::from_secs(10))?;
        let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| format!("dup: {e}"));
        return Ok(ContainerIo {
            pid: pid.as_raw(),
            outputs: vec![(dup(&master)?, Stream::Stdout)],
            stdin: match req.stdin_fifo {
                Some(_) => Some(dup(&master)?),
                None => None,
            },
            master: Some(master),
        });
    }
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (stdin_r, stdin_w) = match req.stdin_fifo {
        Some(_) => {
            let (r, w) = pipe()?;
            (r, Some(w))
        }
        None => (
            OwnedFd::from(File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?),
            None,
        ),
    };
    let container = builder
        .with_stdin(stdin_r)
        .with_stdout(out_w)
        .with_stderr(err_w)
        .as_init(&req.bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(|e| {
            // The container's init reports what failed (before exec) on the container's
            // stderr, which nobody reads yet: add its last lines to the error.
            let _ = rustix::io::ioctl_fionbio(&err_r, true);
            let mut buf = vec![0u8; 64 * 1024];
            let n = rustix::io::read(&err_r, &mut buf).unwrap_or(0);
            let text = String::from_utf8_lossy(&buf[..n]);
            let tail: Vec<&str> = text.lines().rev().take(6).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!(
                "creating container {}: {e}; init: {}",
                req.id,
                tail.join(" | ")
            )
        })?;
    let pid = container
        .pid()
        .ok_or_else(|| format!("container {} has no pid after create", req.id))?;
    Ok(ContainerIo {
        pid: pid.as_raw(),
        outputs: vec![(out_r, Stream::Stdout), (err_r, Stream::Stderr)],
        stdin: stdin_w,
        master: None,
    })
}

/// Copies each attach session's input from the FIFO into the container's stdin. Opening the
/// FIFO for reading blocks until a session opens it for writing; the session ends when every
/// writer has closed it. With `once`, the first session's end is the container's end of
/// input: the pipe is closed, or with a terminal the end-of-file character (^D) is typed.
fn relay_stdin(fifo: &std::path::Path, mut sink: File, once: bool, tty: bool) {
    loop {
        let mut session = match File::open(fifo) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("shim: opening {}: {e}; stdin is closed", fifo.display());
                return;
            }
        };
        if let Err(e) = std::io::copy(&mut session, &mut sink) {
            // The container is gone (EPIPE, or EIO on a pty whose other side is closed).
            eprintln!("shim: relaying stdin: {e}");
            return;
        }
        if once {
            if tty {
                let _ = sink.write_all(&[4]);
            }
            return;
        }
    }
}

/// Applies `<cols> <rows>` lines from the window-size FIFO to the pty.
fn serve_resize(fifo: File, master: OwnedFd) {
    for line in std::io::BufReader::new(fifo).lines() {
        let Ok(line) = line else { return };
        let mut it = line.split_whitespace().map(str::parse::<u16>);
        if let (Some(Ok(cols)), Some(Ok(rows))) = (it.next(), it.next()) {
            let size = rustix::termios::Winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            if let Err(e) = rustix::termios::tcsetwinsize(&master, size) {
                eprintln!("shim: resizing the terminal to {cols}x{rows}: {e}");
            }
        }
    }
}

fn copy_stream(mut pipe: File, stream: Stream, writer: &Mutex<LogWriter>) {
    let mut buf: Vec<u8> = Vec::with_capacity(2 * MAX_LINE);
    let mut chunk = vec![0u8; 32 * 1024];
    loop {
        let n = match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        buf.extend_from_slice(&chunk[..n]);
        let (records, rest) = split_output(&buf, MAX_LINE);
        let consumed = buf.len() - rest.len();
        if !records.is_empty() {
            let now = Timestamp::now();
            let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
            for (tag, content) in records {
                if let Err(e) = w.write(now, stream, tag, content) {
                    eprintln!("shim: writing log: {e}");
                }
            }
        }
        buf.drain(..consumed);
    }
    // Output that ended without a newline is still a whole line: the stream is over.
    if !buf.is_empty() {
        let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
        let _ = w.write(Timestamp::now(), stream, Tag::Full, &buf);
    }
}

/// Waits for (and reaps) a child process, retrying on EINTR.
pub(crate) fn wait_for(pid: i32) -> WaitOutcome {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes the status into a local.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // Not our child after all (should not happen): report it as killed.
            return WaitOutcome::Signaled(libc::SIGKILL);
        }
    }
    if libc::WIFSIGNALED(status) {
        WaitOutcome::Signaled(libc::WTERMSIG(status))
    } else {
        WaitOutcome::Exited(libc::WEXITSTATUS(status))
    }
}
