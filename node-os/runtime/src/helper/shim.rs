//! Helper verb `shim`: creates one container with libcontainer and then stays with it, like
//! containerd's shim or conmon. It detaches from the runtime first (fork, `setsid`), so a
//! runtime restart does not touch it; it is the container's parent (libcontainer clones the
//! init process as a sibling of its intermediate process, so the shim reaps it), it turns
//! the container's stdout and stderr into CRI log records with rotation, and when the
//! container has exited it writes `exit.json` (exit code, signal, OOM kill) for the runtime
//! to read back, then exits itself.
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
    let (out_r, err_r, pid) = match create(&req) {
        Ok(v) => v,
        Err(e) => {
            send(&mut report, Err(e));
            return 1;
        }
    };
    let created = Created {
        pid,
        pid_start_ticks: proc_start_ticks(pid).unwrap_or(0),
        shim_pid: std::process::id() as i32,
    };
    send(&mut report, Ok(created));
    drop(report);

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
    let copiers: Vec<_> = [(out_r, Stream::Stdout), (err_r, Stream::Stderr)]
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

/// Creates the container with its stdout and stderr on pipes; returns the read ends and the
/// init pid. The write ends go to libcontainer and are closed here once it returns, so the
/// read ends see EOF exactly when the container's processes are gone.
fn create(req: &Request) -> Result<(OwnedFd, OwnedFd, i32), String> {
    let (out_r, out_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| format!("pipe: {e}"))?;
    let (err_r, err_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| format!("pipe: {e}"))?;
    let null = File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    let container = ContainerBuilder::new(req.id.clone(), SyscallType::Linux)
        .with_root_path(&req.root)
        .map_err(|e| format!("libcontainer root {}: {e}", req.root.display()))?
        .with_stdin(OwnedFd::from(null))
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
    Ok((out_r, err_r, pid.as_raw()))
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

/// Waits for the container's init process, retrying on EINTR.
fn wait_for(pid: i32) -> WaitOutcome {
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
