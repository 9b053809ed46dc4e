//! What the runtime remembers about a container, on disk in the run dir, and how a CRI
//! status is derived from it. Two files per container: `state.json`, written by the runtime
//! (created, started, pids), and `exit.json`, written once by the container's shim when it
//! has reaped the container. Both are replaced atomically (write, fsync, rename), so a
//! restarted runtime reads them back without talking to any process.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::cgroup::CgroupMode;
use crate::config::ContainerConfig;

/// The runtime's record of one container.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub sandbox_id: String,
    pub config: ContainerConfig,
    pub cgroup: std::path::PathBuf,
    pub cgroup_mode: CgroupMode,
    pub created_at: Timestamp,
    /// Set once `start` has succeeded.
    pub started_at: Option<Timestamp>,
    /// The container's init process, as the host sees it.
    pub pid: i32,
    /// Its start time in clock ticks since boot (`/proc/<pid>/stat` field 22): a pid alone can
    /// be reused after the container is gone, the pair cannot.
    pub pid_start_ticks: u64,
    /// The shim that waits for the container and writes its logs.
    pub shim_pid: i32,
}

/// How the container ended, as its shim saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    pub exit_code: i32,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    pub oom_killed: bool,
    pub finished_at: Timestamp,
}

/// How a container's process ended, from `waitpid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    Exited(i32),
    Signaled(i32),
}

/// The exit record for a wait outcome: a signal `n` becomes exit code `128 + n`, as shells
/// and every CRI runtime report it; `oom_kills` is the cgroup's OOM kill count.
pub fn exit_record(outcome: WaitOutcome, oom_kills: u64, finished_at: Timestamp) -> ExitRecord {
    let (exit_code, signal) = match outcome {
        WaitOutcome::Exited(code) => (code, None),
        WaitOutcome::Signaled(sig) => (128 + sig, Some(sig)),
    };
    ExitRecord {
        exit_code,
        signal,
        oom_killed: oom_kills > 0,
        finished_at,
    }
}

/// CRI's container states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Exited,
    Unknown,
}

/// CRI's `ContainerStatus`, the part the runtime knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerStatus {
    pub id: String,
    pub state: ContainerState,
    pub pid: Option<i32>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub exit_code: Option<i32>,
    /// `OOMKilled`, `Completed` or `Error` once exited, as the kubelet shows them.
    pub reason: Option<String>,
}

/// Derives the status. `alive` says whether the recorded pid still runs with the recorded
/// start time. A container that is gone without an exit record (its shim was killed) is
/// `Unknown` rather than guessed at.
pub fn derive_status(
    rec: &ContainerRecord,
    exit: Option<&ExitRecord>,
    alive: bool,
) -> ContainerStatus {
    let mut st = ContainerStatus {
        id: rec.id.clone(),
        state: ContainerState::Unknown,
        pid: None,
        created_at: rec.created_at,
        started_at: rec.started_at,
        finished_at: None,
        exit_code: None,
        reason: None,
    };
    match exit {
        Some(exit) => {
            st.state = ContainerState::Exited;
            st.finished_at = Some(exit.finished_at);
            st.exit_code = Some(exit.exit_code);
            st.reason = Some(
                if exit.oom_killed {
                    "OOMKilled"
                } else if exit.exit_code == 0 {
                    "Completed"
                } else {
                    "Error"
                }
                .to_string(),
            );
        }
        None if alive => {
            st.pid = Some(rec.pid);
            st.state = if rec.started_at.is_some() {
                ContainerState::Running
            } else {
                ContainerState::Created
            };
        }
        None => {}
    }
    st
}

/// Writes `value` as JSON to `path` atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(value).map_err(io::Error::other)?)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

/// Reads JSON from `path`; `None` if the file does not exist.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> io::Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A process's start time in clock ticks, from `/proc/<pid>/stat`; `None` if it is gone.
/// Zombies count as gone: they have exited and only wait for their parent.
pub fn proc_start_ticks(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: parse after its last ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // `after` starts at field 3 (state); start time is field 22.
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(22 - 3)?.parse().ok()
}

/// Whether `pid` is still the process that had `start_ticks`.
pub fn is_alive(pid: i32, start_ticks: u64) -> bool {
    pid > 0 && proc_start_ticks(pid) == Some(start_ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(started: bool) -> ContainerRecord {
        let t: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        ContainerRecord {
            id: "c1".into(),
            sandbox_id: "s1".into(),
            config: ContainerConfig::new("c", vec![], vec!["true".into()], "/tmp/x.log".into()),
            cgroup: "/kubepods/podx/c1".into(),
            cgroup_mode: CgroupMode::V1,
            created_at: t,
            started_at: started.then_some(t),
            pid: 42,
            pid_start_ticks: 7,
            shim_pid: 41,
        }
    }

    #[test]
    fn exit_outcomes_map_to_codes_and_reasons() {
        let t: Timestamp = "2024-01-01T00:00:05Z".parse().unwrap();
        let done = exit_record(WaitOutcome::Exited(0), 0, t);
        assert_eq!(
            derive_status(&record(true), Some(&done), false)
                .reason
                .as_deref(),
            Some("Completed")
        );
        let failed = exit_record(WaitOutcome::Exited(3), 0, t);
        let st = derive_status(&record(true), Some(&failed), false);
        assert_eq!(
            (st.state, st.exit_code, st.reason.as_deref()),
            (ContainerState::Exited, Some(3), Some("Error"))
        );
        let killed = exit_record(WaitOutcome::Signaled(9), 0, t);
        assert_eq!((killed.exit_code, killed.signal), (137, Some(9)));
        let oom = exit_record(WaitOutcome::Signaled(9), 1, t);
        let st = derive_status(&record(true), Some(&oom), false);
        assert_eq!(
            (st.exit_code, st.reason.as_deref(), st.finished_at),
            (Some(137), Some("OOMKilled"), Some(t))
        );
    }

    #[test]
    fn live_containers_are_created_or_running_and_lost_ones_unknown() {
        assert_eq!(
            derive_status(&record(false), None, true).state,
            ContainerState::Created
        );
        let st = derive_status(&record(true), None, true);
        assert_eq!((st.state, st.pid), (ContainerState::Running, Some(42)));
        assert_eq!(
            derive_status(&record(true), None, false).state,
            ContainerState::Unknown
        );
    }

    #[test]
    fn this_process_is_alive_by_pid_and_start_time() {
        let me = std::process::id() as i32;
        let ticks = proc_start_ticks(me).unwrap();
        assert!(is_alive(me, ticks));
        assert!(!is_alive(me, ticks + 1));
        assert!(!is_alive(0, 0));
    }
}
