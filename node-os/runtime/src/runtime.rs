//! The runtime's CRI-shaped operations on pod sandboxes and containers. It keeps every
//! record in the run dir, so a new [`Runtime`] on the same directory picks up where a
//! previous process left off; everything that forks or enters namespaces goes through the
//! helper ([`crate::helper`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::cgroup::{self, CgroupMode};
use crate::config::{ContainerConfig, RuntimeConfig, SandboxConfig};
use crate::error::{Error, Result};
use crate::exec::{ExecProcess, ExecRequest};
use crate::helper::{self, ops, sandbox_ns, shim};
use crate::overlay;
use crate::spec::{self, PodNamespaces};
use crate::state::{self, ContainerRecord, ContainerState, ContainerStatus, ExitRecord};

/// How long a container gets to die after SIGKILL before stopping reports failure.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `attach_stdin` waits for the shim to be ready for the next attach session.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(2);

/// The runtime's record of a pod sandbox.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SandboxRecord {
    pub id: String,
    pub config: SandboxConfig,
    pub cgroup: PathBuf,
    pub namespaces: SandboxPaths,
    pub created_at: Timestamp,
}

/// Serializable twin of [`PodNamespaces`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SandboxPaths {
    pub net: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    pub shm: PathBuf,
}

impl From<&SandboxPaths> for PodNamespaces {
    fn from(p: &SandboxPaths) -> Self {
        PodNamespaces {
            net: p.net.clone(),
            ipc: p.ipc.clone(),
            uts: p.uts.clone(),
            shm: p.shm.clone(),
        }
    }
}

/// The container runtime.
#[derive(Clone, Debug)]
pub struct Runtime {
    cfg: RuntimeConfig,
    mode: CgroupMode,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::io("runtime task", std::io::Error::other(e)))?
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Runtime {
    /// Opens (creating if needed) the run dir and detects the host's cgroup mode.
    pub fn new(cfg: RuntimeConfig) -> Result<Self> {
        for d in ["sandboxes", "containers", "libcontainer"] {
            let p = cfg.run_dir.join(d);
            fs::create_dir_all(&p)
                .map_err(|e| Error::io(format!("creating {}", p.display()), e))?;
        }
        let mode = cgroup::detect_mode().map_err(|e| Error::io("detecting the cgroup mode", e))?;
        Ok(Runtime { cfg, mode })
    }

    pub fn cgroup_mode(&self) -> CgroupMode {
        self.mode
    }

    fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.cfg.run_dir.join("sandboxes").join(id)
    }

    fn container_dir(&self, id: &str) -> PathBuf {
        self.cfg.run_dir.join("containers").join(id)
    }

    fn libcontainer_root(&self) -> PathBuf {
        self.cfg.run_dir.join("libcontainer")
    }

    /// Creates a pod sandbox: its namespaces (pinned without a process), hostname, loopback,
    /// shared `/dev/shm` and pod cgroup. Returns its ID.
    pub async fn run_pod_sandbox(&self, config: SandboxConfig) -> Result<String> {
        let rt = self.clone();
        blocking(move || rt.run_pod_sandbox_blocking(config)).await
    }

    fn run_pod_sandbox_blocking(&self, config: SandboxConfig) -> Result<String> {
        let id = new_id();
        let dir = self.sandbox_dir(&id);
        let shm = dir.join("shm");
        fs::create_dir_all(&shm)
            .map_err(|e| Error::io(format!("creating {}", shm.display()), e))?;
        let own_net = !config.host_network;
        let own_ipc = !config.host_ipc;
        let rec = SandboxRecord {
            id: id.clone(),
            cgroup: cgroup::pod_cgroup_path(&self.cfg.cgroup_root, config.qos, &config.pod_uid),
            namespaces: SandboxPaths {
                net: own_net.then(|| dir.join("net")),
                ipc: own_ipc.then(|| dir.join("ipc")),
                // Kubernetes gives hostNetwork pods the node's UTS namespace (its hostname).
                uts: own_net.then(|| dir.join("uts")),
                shm: if own_ipc {
                    shm.clone()
                } else {
                    PathBuf::from("/dev/shm")
                },
            },
            config,
            created_at: Timestamp::now(),
        };
        // Written first, so that a failure below leaves a record `remove_pod_sandbox` cleans.
        state::write_json(&dir.join("sandbox.json"), &rec)
            .map_err(|e| Error::io("writing sandbox.json", e))?;
        let result = (|| {
            if own_ipc {
                let size = rec.config.shm_size.unwrap_or(64 << 20);
                rustix::mount::mount(
                    "shm",
                    &shm,
                    "tmpfs",
                    rustix::mount::MountFlags::NOSUID
                        | rustix::mount::MountFlags::NODEV
                        | rustix::mount::MountFlags::NOEXEC,
                    Some(
                        std::ffi::CString::new(format!("mode=1777,size={size}"))
                            .expect("no NUL")
                            .as_c_str(),
                    ),
                )
                .map_err(|e| {
                    Error::io(
                        format!("mounting the pod's /dev/shm at {}", shm.display()),
                        e.into(),
                    )
                })?;
            }
            if own_net || own_ipc {
                let req = sandbox_ns::Request {
                    dir: dir.clone(),
                    net: own_net,
                    ipc: own_ipc,
                    uts: own_net,
                    hostname: Some(rec.config.hostname.clone()),
                };
                helper::call::<_, ()>(&self.cfg.helper_exe, "sandbox", &req)?;
            }
            cgroup::pod::create(self.mode, &rec.cgroup)
                .map_err(|e| Error::io(format!("creating pod cgroup {}", rec.cgroup.display()), e))
        })();
        if let Err(e) = result {
            let _ = self.remove_sandbox_blocking(&id);
            return Err(e);
        }
        Ok(id)
    }

    /// Reads a sandbox's record.
    pub fn sandbox(&self, id: &str) -> Result<SandboxRecord> {
        state::read_json(&self.sandbox_dir(id).join("sandbox.json"))
            .map_err(|e| Error::io(format!("reading sandbox {id}"), e))?
            .ok_or_else(|| Error::SandboxNotFound(id.to_string()))
    }

    /// Stops and removes the sandbox's containers, then its namespaces, `/dev/shm` and pod
    /// cgroup. Removing an unknown sandbox is not an error (CRI's RemovePodSandbox is
    /// idempotent).
    pub async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        for c in self.list_container_records()? {
            if c.sandbox_id == id {
                self.remove_container(&c.id).await?;
            }
        }
        let rt = self.clone();
        let id = id.to_string();
        blocking(move || rt.remove_sandbox_blocking(&id)).await
    }

    fn remove_sandbox_blocking(&self, id: &str) -> Result<()> {
        let dir = self.sandbox_dir(id);
        let rec = match self.sandbox(id) {
            Ok(r) => Some(r),
            Err(Error::SandboxNotFound(_)) => None,
            Err(e) => return Err(e),
        };
        for kind in ["net", "ipc", "uts", "shm"] {
            overlay::unmount_quietly(&dir.join(kind))?;
        }
        if let Some(rec) = rec {
            cgroup::pod::remove(self.mode, &rec.cgroup).map_err(|e| {
                Error::io(format!("removing pod cgroup {}", rec.cgroup.display()), e)
            })?;
        }
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io(format!("removing {}", dir.display()), e))
            }
            _ => Ok(()),
        }
    }

    /// Creates a container in a sandbox: mounts its overlay root, writes its OCI spec and
    /// has a shim create it (stopped before the user's process runs). Returns its ID.
    pub async fn create_container(
        &self,
        sandbox_id: &str,
        config: ContainerConfig,
    ) -> Result<String> {
        let rt = self.clone();
        let sandbox_id = sandbox_id.to_string();
        blocking(move || rt.create_container_blocking(&sandbox_id, config)).await
    }

    fn create_container_blocking(
        &self,
        sandbox_id: &str,
        config: ContainerConfig,
    ) -> Result<String> {
        let sandbox = self.sandbox(sandbox_id)?;
        let id = new_id();
        let dir = self.container_dir(&id);
        let (rootfs, upper, work, bundle) = (
            dir.join("rootfs"),
            dir.join("upper"),
            dir.join("work"),
            dir.join("bundle"),
        );
        for d in [&rootfs, &upper, &work, &bundle] {
            fs::create_dir_all(d).map_err(|e| Error::io(format!("creating {}", d.display()), e))?;
        }
        let cgroup = cgroup::container_cgroup_path(&sandbox.cgroup, &id);
        let result = (|| {
            overlay::mount_rootfs(&config.lowerdirs, &upper, &work, &rootfs)?;
            let spec = spec::generate(
                &config,
                &rootfs,
                &(&sandbox.namespaces).into(),
                &cgroup,
                self.mode,
            )?;
            let spec_json = serde_json::to_vec_pretty(&spec)?;
            fs::write(bundle.join("config.json"), spec_json)
                .map_err(|e| Error::io("writing config.json", e))?;
            let req = shim::Request {
                id: id.clone(),
                bundle: bundle.clone(),
                root: self.libcontainer_root(),
                log_path: config.log_path.clone(),
                rotation: self.cfg.log_rotation,
                exit_file: dir.join("exit.json"),
                oom_file: cgroup::oom_counter_file(self.mode, &cgroup),
                shim_log: dir.join("shim.log"),
                stdin_fifo: config.stdin.then(|| dir.join(shim::STDIN_FIFO)),
                stdin_once: config.stdin_once,
                tty: config.tty.then(|| shim::TtyPaths {
                    console_socket: dir.join(shim::CONSOLE_SOCKET),
                    resize_fifo: dir.join(shim::RESIZE_FIFO),
                }),
            };
            let created: shim::Created =
                helper::call(&self.cfg.helper_exe, "shim", &req).map_err(|e| match e {
                    // The shim's own diagnostics (libcontainer's trace) say why.
                    Error::Helper { verb, message } => {
                        let log = fs::read_to_string(&req.shim_log).unwrap_or_default();
                        let tail: Vec<&str> = log
                            .lines()
                            .filter(|l| l.contains("ERROR"))
                            .rev()
                            .take(8)
                            .collect();
                        Error::Helper {
                            verb,
                            message: format!(
                                "{message}; shim log: {}",
                                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                            ),
                        }
                    }
                    other => other,
                })?;
            let rec = ContainerRecord {
                id: id.clone(),
                sandbox_id: sandbox_id.to_string(),
                config: config.clone(),
                cgroup: cgroup.clone(),
                cgroup_mode: self.mode,
                created_at: Timestamp::now(),
                started_at: None,
                pid: created.pid,
                pid_start_ticks: created.pid_start_ticks,
                shim_pid: created.shim_pid,
            };
            state::write_json(&dir.join("state.json"), &rec)
                .map_err(|e| Error::io("writing state.json", e))
        })();
        if let Err(e) = result {
            let _ = self.delete_blocking(&id);
            return Err(e);
        }
        Ok(id)
    }

    fn record(&self, id: &str) -> Result<ContainerRecord> {
        state::read_json(&self.container_dir(id).join("state.json"))
            .map_err(|e| Error::io(format!("reading container {id}"), e))?
            .ok_or_else(|| Error::ContainerNotFound(id.to_string()))
    }

    fn exit_record(&self, id: &str) -> Result<Option<ExitRecord>> {
        state::read_json(&self.container_dir(id).join("exit.json"))
            .map_err(|e| Error::io(format!("reading exit of {id}"), e))
    }

    /// Runs the container's process.
    pub async fn start_container(&self, id: &str) -> Result<()> {
        let mut rec = self.record(id)?;
        let status = self.container_status(id)?;
        if status.state != ContainerState::Created {
            return Err(Error::BadState {
                id: id.into(),
                state: format!("{:?}", status.state),
                action: "start",
            });
        }
        // Taken before the process is released, so a container that exits at once never
        // shows a start after its finish.
        let started_at = Timestamp::now();
        let rt = self.clone();
        let target = ops::Target {
            root: self.libcontainer_root(),
            id: id.to_string(),
            signal: 0,
        };
        blocking(move || helper::call::<_, ()>(&rt.cfg.helper_exe, "start", &target)).await?;
        rec.started_at = Some(started_at);
        state::write_json(&self.container_dir(id).join("state.json"), &rec)
            .map_err(|e| Error::io("writing state.json", e))
    }

    /// The container's CRI status, from the records on disk and the liveness of its pid.
    pub fn container_status(&self, id: &str) -> Result<ContainerStatus> {
        let rec = self.record(id)?;
        let exit = self.exit_record(id)?;
        let alive = state::is_alive(rec.pid, rec.pid_start_ticks);
        Ok(state::derive_status(&rec, exit.as_ref(), alive))
    }

    /// The containers this runtime knows, with their sandbox IDs.
    pub fn list_containers(&self) -> Result<Vec<(String, ContainerStatus)>> {
        self.list_container_records()?
            .into_iter()
            .map(|r| Ok((r.sandbox_id.clone(), self.container_status(&r.id)?)))
            .collect()
    }

    fn list_container_records(&self) -> Result<Vec<ContainerRecord>> {
        let dir = self.cfg.run_dir.join("containers");
        let mut out = Vec::new();
        for e in
            fs::read_dir(&dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?
        {
            let name = e
                .map_err(|e| Error::io("listing containers", e))?
                .file_name();
            if let Some(name) = name.to_str() {
                match self.record(name) {
                    Ok(r) => out.push(r),
                    Err(Error::ContainerNotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(out)
    }

    /// Sends `signal` to the container's init process. Returns false if it had already
    /// exited.
    pub async fn kill_container(&self, id: &str, signal: i32) -> Result<bool> {
        self.record(id)?;
        let rt = self.clone();
        let target = ops::Target {
            root: self.libcontainer_root(),
            id: id.to_string(),
            signal,
        };
        blocking(move || helper::call(&rt.cfg.helper_exe, "kill", &target)).await
    }

    /// Waits until the container has exited and its shim has recorded how, or `timeout`.
    pub async fn wait_container(&self, id: &str, timeout: Duration) -> Result<Option<ExitRecord>> {
        let deadline = Instant::now() + timeout;
        let rec = self.record(id)?;
        loop {
            if let Some(exit) = self.exit_record(id)? {
                return Ok(Some(exit));
            }
            // A container whose shim is gone will never get an exit record.
            if !state::is_alive(rec.pid, rec.pid_start_ticks) && !pid_exists(rec.shim_pid) {
                return self.exit_record(id);
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the container: its stop signal (the image's StopSignal, else SIGTERM), up to
    /// `grace` to exit, then SIGKILL. Stopping a container that is not running is a no-op.
    pub async fn stop_container(&self, id: &str, grace: Duration) -> Result<()> {
        let rec = self.record(id)?;
        if !matches!(
            self.container_status(id)?.state,
            ContainerState::Running | ContainerState::Created
        ) {
            return Ok(());
        }
        let first = rec.config.stop_signal.unwrap_or(libc::SIGTERM);
        if !grace.is_zero()
            && self.kill_container(id, first).await?
            && self.wait_container(id, grace).await?.is_some()
        {
            return Ok(());
        }
        self.kill_container(id, libc::SIGKILL).await?;
        match self.wait_container(id, KILL_TIMEOUT).await? {
            Some(_) => Ok(()),
            None if !state::is_alive(rec.pid, rec.pid_start_ticks) => Ok(()),
            None => Err(Error::StopTimeout {
                id: id.into(),
                seconds: KILL_TIMEOUT.as_secs(),
            }),
        }
    }

    /// Removes a container: kills it if it still runs, removes its cgroup, libcontainer's
    /// state, its overlay mount and its directory. Its log file stays (the kubelet owns it).
    pub async fn remove_container(&self, id: &str) -> Result<()> {
        match self.record(id) {
            Err(Error::ContainerNotFound(_)) => {}
            Err(e) => return Err(e),
            Ok(rec) => {
                if state::is_alive(rec.pid, rec.pid_start_ticks) {
                    self.stop_container(id, Duration::ZERO).await?;
                }
                // The shim exits right after writing exit.json; let it finish before its
                // directory goes.
                let deadline = Instant::now() + Duration::from_secs(5);
                while pid_exists(rec.shim_pid) && Instant::now() < deadline && rec.shim_pid > 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        let rt = self.clone();
        let id = id.to_string();
        blocking(move || rt.delete_blocking(&id)).await
    }

    fn delete_blocking(&self, id: &str) -> Result<()> {
        let dir = self.container_dir(id);
        let target = ops::Target {
            root: self.libcontainer_root(),
            id: id.to_string(),
            signal: 0,
        };
        helper::call::<_, ()>(&self.cfg.helper_exe, "delete", &target)?;
        overlay::unmount_quietly(&dir.join("rootfs"))?;
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io(format!("removing {}", dir.display()), e))
            }
            _ => Ok(()),
        }
    }

    /// Runs a process in a running container: in its namespaces and cgroup, as its user, in
    /// its working directory, with its environment plus `req.env`. Returns once the command
    /// has been exec'd; a command that names no executable is [`Error::ExecNotFound`], not
    /// a process exiting with 127.
    pub async fn exec(&self, id: &str, req: ExecRequest) -> Result<ExecProcess> {
        self.record(id)?;
        let state = self.container_status(id)?.state;
        if state != ContainerState::Running {
            return Err(Error::BadState {
                id: id.into(),
                state: format!("{state:?}"),
                action: "exec in it",
            });
        }
        let request = helper::exec::Request {
            root: self.libcontainer_root(),
            id: id.to_string(),
            bundle: self.container_dir(id).join("bundle"),
            args: req.args,
            env: req.env,
            tty: req.tty,
        };
        crate::exec::spawn(&self.cfg.helper_exe, request, req.stdin).await
    }

    /// CRI's `ExecSync` (exec probes): runs `args` without stdin or terminal and returns its
    /// exit code and its stdout and stderr interleaved (the first
    /// [`crate::exec::EXEC_SYNC_MAX_OUTPUT`] bytes). A command still running after `timeout`
    /// is killed, and the answer is [`Error::ExecTimeout`].
    pub async fn exec_sync(
        &self,
        id: &str,
        args: &[String],
        timeout: Duration,
    ) -> Result<(i32, Vec<u8>)> {
        let started = Instant::now();
        let req = ExecRequest {
            args: args.to_vec(),
            ..ExecRequest::default()
        };
        let mut p = match tokio::time::timeout(timeout, self.exec(id, req)).await {
            Ok(p) => p?,
            // Dropping the unfinished exec closes its control socket: the helper kills what
            // it started.
            Err(_) => {
                return Err(Error::ExecTimeout {
                    id: id.into(),
                    timeout,
                })
            }
        };
        let left = timeout.saturating_sub(started.elapsed());
        crate::exec::run_to_completion(&mut p, left)
            .await?
            .ok_or_else(|| Error::ExecTimeout {
                id: id.into(),
                timeout,
            })
    }

    /// Opens a session on a container's stdin (`kubectl attach`, `kubectl run -i`): what is
    /// written reaches the container's stdin; closing it ends the session (and, with
    /// `stdin_once`, the container's input). `None` if the container has no stdin.
    pub async fn attach_stdin(
        &self,
        id: &str,
    ) -> Result<Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>> {
        let rec = self.record(id)?;
        if !rec.config.stdin {
            return Ok(None);
        }
        let state = self.container_status(id)?.state;
        if !matches!(state, ContainerState::Created | ContainerState::Running) {
            return Err(Error::BadState {
                id: id.into(),
                state: format!("{state:?}"),
                action: "attach to its stdin",
            });
        }
        let fifo = self.container_dir(id).join(shim::STDIN_FIFO);
        // The shim's relay has the FIFO open for reading except for a moment between two
        // sessions; opening without blocking fails (ENXIO) in that moment, and for good once
        // a `stdin_once` container's session is over.
        let deadline = Instant::now() + ATTACH_TIMEOUT;
        loop {
            match tokio::net::unix::pipe::OpenOptions::new().open_sender(&fifo) {
                Ok(tx) => return Ok(Some(Box::new(tx))),
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => {
                    return Err(Error::io(
                        format!("opening the stdin of container {id} (is its stdin closed?)"),
                        e,
                    ))
                }
            }
        }
    }

    /// Sets the window size of a container's terminal; a no-op for a container without one,
    /// an error for one that has exited.
    pub fn resize_container_tty(&self, id: &str, cols: u16, rows: u16) -> Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let rec = self.record(id)?;
        if !rec.config.tty {
            return Ok(());
        }
        let state = self.container_status(id)?.state;
        if !matches!(state, ContainerState::Created | ContainerState::Running) {
            return Err(Error::BadState {
                id: id.into(),
                state: format!("{state:?}"),
                action: "resize its terminal",
            });
        }
        let fifo = self.container_dir(id).join(shim::RESIZE_FIFO);
        let what = || format!("resizing the terminal of container {id}");
        // The shim holds the FIFO open for as long as it lives: with nobody there, the open
        // fails at once (ENXIO) rather than blocking.
        let mut f = fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .map_err(|e| Error::io(what(), e))?;
        // One line, well under PIPE_BUF: written whole or not at all.
        f.write_all(format!("{cols} {rows}\n").as_bytes())
            .map_err(|e| Error::io(what(), e))
    }

    /// The host path of a container's cgroup directory in `controller`'s hierarchy (v1) or
    /// the unified tree (v2, `controller` ignored).
    pub fn container_cgroup_dir(&self, id: &str, controller: &str) -> Result<PathBuf> {
        let rec = self.record(id)?;
        let rel = rec
            .cgroup
            .strip_prefix("/")
            .unwrap_or(&rec.cgroup)
            .to_path_buf();
        Ok(match self.mode {
            CgroupMode::V1 => Path::new(cgroup::CGROUP_MOUNT).join(controller).join(rel),
            CgroupMode::V2 => Path::new(cgroup::CGROUP_MOUNT).join(rel),
        })
    }
}

/// Whether a process with this pid exists and has not exited (zombies excluded).
fn pid_exists(pid: i32) -> bool {
    pid > 0 && state::proc_start_ticks(pid).is_some()
}
