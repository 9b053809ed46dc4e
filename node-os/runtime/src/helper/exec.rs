//! Helper verb `exec`: runs a process inside a running container (`kubectl exec`, exec
//! probes) through libcontainer's tenant builder. The process joins the container's mount,
//! PID, network, IPC and UTS namespaces and its cgroup, and runs with the user, working
//! directory, capabilities, rlimits and environment of the container's own process (its
//! `config.json`), plus the command and the variables the request adds.
//!
//! Descriptors, set up by the runtime ([`crate::exec`]):
//! - 0, 1, 2: the process's stdio (pipes). With a terminal they are `/dev/null`: libcontainer
//!   makes the pty inside the container and sends its master over a console socket
//!   ([`super::console`]), and this helper passes it on.
//! - 3 ([`CONTROL_FD`]): a `SOCK_SEQPACKET` socket to the runtime. Runtime to helper: the
//!   [`Request`], one message. Helper to runtime: one [`Reply`], with the pty master
//!   attached. Runtime to helper again: end of stream (its end shut down or closed) means
//!   "kill the process".
//!
//! The helper then waits for the process and exits with its status (`128 + n` for a signal
//! `n`), so the runtime's `wait` is a wait on the helper.
//!
//! Why killing goes through the helper: the helper is the process's parent (libcontainer
//! clones it as a sibling of its intermediate process), and until the helper reaps it, its
//! pid and process group cannot be reused, so a kill sent from here can never hit another
//! process; the runtime signalling a pid it was told about could. Making end of stream the
//! kill request also covers a runtime that crashes or drops its `ExecProcess`: the process
//! is killed rather than left running with nobody reading its output.

use std::fs::{self, File};
use std::io::{Read, Seek};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::console::{recv_with_fd, send_with_fd, ConsoleSocket};
use crate::state::WaitOutcome;

/// The descriptor of the control socket in the helper.
pub const CONTROL_FD: RawFd = 3;

/// Largest request the helper accepts (argv and environment of one exec).
pub const MAX_REQUEST: usize = 128 * 1024;

#[derive(Serialize, Deserialize)]
pub struct Request {
    /// libcontainer's root.
    pub root: PathBuf,
    pub id: String,
    /// The container's bundle (its `config.json` gives the process's user, cwd, env...).
    pub bundle: PathBuf,
    pub args: Vec<String>,
    /// `KEY=value` pairs added to (or replacing those of) the container's environment.
    pub env: Vec<String>,
    pub tty: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The process runs (it has exec'd its command); `pid` as the host sees it.
    Started {
        pid: i32,
    },
    /// `args[0]` names no executable file in the container.
    NotFound {
        executable: String,
    },
    Failed {
        message: String,
    },
}

/// Runs the verb; returns the helper's exit status.
pub fn run() -> i32 {
    // SAFETY: F_GETFD only asks whether descriptor 3 is open.
    if unsafe { libc::fcntl(CONTROL_FD, libc::F_GETFD) } < 0 {
        eprintln!("exec helper: no control socket on descriptor {CONTROL_FD}");
        return 2;
    }
    // SAFETY: descriptor 3 is open (checked above) and was given to this process for this
    // purpose by the runtime; nothing else here uses it.
    let control = unsafe { OwnedFd::from_raw_fd(CONTROL_FD) };
    let mut buf = vec![0u8; MAX_REQUEST];
    let req: Request = match recv_with_fd(control.as_fd(), &mut buf) {
        Ok((0, _)) => return 1,
        Ok((n, _)) => match serde_json::from_slice(&buf[..n]) {
            Ok(r) => r,
            Err(e) => {
                send(
                    &control,
                    &Reply::Failed {
                        message: format!("bad exec request: {e}"),
                    },
                    None,
                );
                return 1;
            }
        },
        Err(e) => {
            eprintln!("exec helper: reading the request: {e}");
            return 1;
        }
    };
    // libcontainer logs through `tracing`, from this process and from the container process
    // before it execs; stderr may be the user's (or /dev/null), so the log goes to a memory
    // file whose errors are added to a failure's message.
    let diagnostics = rustix::fs::memfd_create("exec-helper-log", rustix::fs::MemfdFlags::CLOEXEC)
        .map(File::from)
        .ok();
    if let Some(f) = diagnostics.as_ref().and_then(|f| f.try_clone().ok()) {
        super::set_diagnostics(f);
    }

    let (pid, master) = match start(&req, diagnostics) {
        Ok(v) => v,
        Err(reply) => {
            send(&control, &reply, None);
            return 1;
        }
    };
    send(
        &control,
        &Reply::Started { pid },
        master.as_ref().map(|m| m.as_fd()),
    );
    drop(master);
    // The process has its own copies of the stdio: let go of ours, so that its output pipes
    // reach end-of-file when it (and whatever it started) is done, not when this helper is.
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        for fd in 0..3 {
            // SAFETY: dup2 onto this process's standard descriptors.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }

    let reaped = Arc::new(Mutex::new(false));
    {
        let reaped = reaped.clone();
        std::thread::spawn(move || {
            let mut b = [0u8; 16];
            // Any message, end of stream or error on the control socket: kill.
            let _ = recv_with_fd(control.as_fd(), &mut b);
            let reaped = reaped.lock().unwrap_or_else(|p| p.into_inner());
            if !*reaped {
                kill_tree(pid);
            }
        });
    }
    // Wait without reaping, then mark as reaped under the lock, then reap: the killer above
    // either runs before (the pid is still ours) or sees the mark.
    let id = rustix::process::Pid::from_raw(pid).expect("a started process has a pid");
    let exited = rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOWAIT;
    while let Err(rustix::io::Errno::INTR) =
        rustix::process::waitid(rustix::process::WaitId::Pid(id), exited)
    {}
    *reaped.lock().unwrap_or_else(|p| p.into_inner()) = true;
    match super::shim::wait_for(pid) {
        WaitOutcome::Exited(code) => code,
        WaitOutcome::Signaled(sig) => 128 + sig,
    }
}

/// SIGKILL to the process's group (it is a session leader, so its group is everything it
/// started that did not make a group of its own, like the children of `sh -c`), then to it.
fn kill_tree(pid: i32) {
    if let Some(p) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process_group(p, rustix::process::Signal::KILL);
        let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
    }
}

fn send(control: &OwnedFd, reply: &Reply, fd: Option<std::os::fd::BorrowedFd<'_>>) {
    let body = serde_json::to_vec(reply).unwrap_or_default();
    if let Err(e) = send_with_fd(control.as_fd(), &body, fd) {
        tracing::warn!("exec helper: replying {reply:?}: {e}");
    }
}

/// Starts the process; returns its pid and, with a terminal, the pty master.
fn start(req: &Request, diagnostics: Option<File>) -> Result<(i32, Option<OwnedFd>), Reply> {
    let failed = |message: String| Reply::Failed { message };
    if req.args.is_empty() {
        return Err(failed("no command given".into()));
    }
    let state_dir = req.root.join(&req.id);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let process_file = state_dir.join(format!("exec-{tag}.json"));
    let process = process_json(req).map_err(failed)?;
    fs::write(&process_file, process)
        .map_err(|e| failed(format!("writing {}: {e}", process_file.display())))?;
    let console = match req.tty {
        true => match ConsoleSocket::bind(&state_dir.join(format!("exec-{tag}.sock"))) {
            Ok(c) => Some(c),
            Err(e) => {
                let _ = fs::remove_file(&process_file);
                return Err(failed(e));
            }
        },
        false => None,
    };
    let built = ContainerBuilder::new(req.id.clone(), SyscallType::Linux)
        .with_root_path(&req.root)
        .map(|b| {
            b.with_console_socket(console.as_ref().map(|c| c.path()))
                .as_tenant()
                .with_process(Some(&process_file))
                // libcontainer insists on a console socket exactly when a "detached"
                // process has a terminal; detaching has no other effect on a tenant.
                .with_detach(req.tty)
                .build()
        });
    let _ = fs::remove_file(&process_file);
    remove_leftovers(&state_dir, console.as_ref().map(|c| c.path()));
    let pid = match built {
        Ok(Ok(pid)) => pid.as_raw(),
        Ok(Err(e)) | Err(e) => return Err(classify(req, &e, diagnostics)),
    };
    let master = match console {
        None => None,
        Some(c) => match c.receive_master(Duration::from_secs(10)) {
            Ok(m) => Some(m),
            Err(e) => {
                kill_tree(pid);
                super::shim::wait_for(pid);
                return Err(failed(e));
            }
        },
    };
    Ok((pid, master))
}

/// The OCI process of the exec: the container's own (user, cwd, capabilities, rlimits,
/// environment) with the request's command, extra variables and terminal.
fn process_json(req: &Request) -> Result<Vec<u8>, String> {
    let config = req.bundle.join("config.json");
    let spec: Value = serde_json::from_slice(
        &fs::read(&config).map_err(|e| format!("reading {}: {e}", config.display()))?,
    )
    .map_err(|e| format!("parsing {}: {e}", config.display()))?;
    let mut process = spec
        .get("process")
        .cloned()
        .ok_or_else(|| format!("{} has no process", config.display()))?;
    let env: Vec<String> = process
        .get("env")
        .and_then(|e| serde_json::from_value(e.clone()).ok())
        .unwrap_or_default();
    process["env"] = serde_json::json!(merge_env(env, &req.env));
    process["args"] = serde_json::json!(req.args);
    process["terminal"] = Value::Bool(req.tty);
    serde_json::to_vec(&process).map_err(|e| e.to_string())
}

/// The container's environment with `extra` added; a key in `extra` replaces the
/// container's value, as `docker exec -e` and runc do.
pub fn merge_env(base: Vec<String>, extra: &[String]) -> Vec<String> {
    let key = |kv: &str| kv.split('=').next().unwrap_or("").to_string();
    let overridden: std::collections::HashSet<String> = extra.iter().map(|e| key(e)).collect();
    base.into_iter()
        .filter(|e| !overridden.contains(&key(e)))
        .chain(extra.iter().cloned())
        .collect()
}

/// Turns libcontainer's error into a reply. A missing executable is recognised by the
/// message of libcontainer's executor check (`executable '...' not found in $PATH`); the
/// exec tests pin that down.
fn classify(req: &Request, e: &dyn std::error::Error, diagnostics: Option<File>) -> Reply {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    let log = diagnostics
        .and_then(|mut f| {
            let mut s = String::new();
            f.rewind().ok()?;
            f.read_to_string(&mut s).ok()?;
            Some(s)
        })
        .unwrap_or_default();
    if message.contains("not found in $PATH") || log.contains("not found in $PATH") {
        return Reply::NotFound {
            executable: req.args[0].clone(),
        };
    }
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    let tail = &errors[errors.len().saturating_sub(4)..];
    if !tail.is_empty() {
        message = format!("{message}; {}", tail.join(" | "));
    }
    Reply::Failed { message }
}

/// libcontainer leaves a `tenant-notify-*.sock` per exec in the container's state dir and,
/// with a terminal, a `tenant-tty-*.sock` link to the console socket. Removes the link to
/// ours, and notify sockets old enough that no exec can still be starting with them (their
/// names are random and not returned, so a younger one may be another exec's, in use).
fn remove_leftovers(state_dir: &Path, console: Option<&Path>) {
    let Ok(entries) = fs::read_dir(state_dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if name.starts_with("tenant-tty-") {
            if console.is_some() && fs::read_link(&path).ok().as_deref() == console {
                let _ = fs::remove_file(&path);
            }
        } else if name.starts_with("tenant-notify-") {
            let old = fs::symlink_metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > Duration::from_secs(60));
            if old {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_variables_are_added_and_replace_the_containers_own() {
        let base = vec!["PATH=/bin".to_string(), "A=1".into(), "B=2".into()];
        assert_eq!(
            merge_env(base, &["A=x".into(), "C=3".into()]),
            vec!["PATH=/bin", "B=2", "A=x", "C=3"]
        );
    }
}
