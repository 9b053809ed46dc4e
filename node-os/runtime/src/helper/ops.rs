//! Helper verbs `start`, `kill` and `delete`: libcontainer's operations on a container it
//! created, loaded from its state directory. None of them forks, but they run in the helper
//! too, so that libcontainer only ever runs in single-threaded processes.

use std::path::PathBuf;

use libcontainer::container::Container;
use libcontainer::signal::Signal;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Target {
    /// libcontainer's root (state directories by container ID).
    pub root: PathBuf,
    pub id: String,
    /// For `kill` only.
    #[serde(default)]
    pub signal: i32,
}

fn load(t: &Target) -> Result<Container, String> {
    Container::load(t.root.join(&t.id)).map_err(|e| format!("loading container {}: {e}", t.id))
}

pub fn start(t: Target) -> Result<(), String> {
    load(&t)?
        .start()
        .map_err(|e| format!("starting {}: {e}", t.id))
}

/// Sends the signal to the container's init process. libcontainer refuses to signal a
/// container it sees as stopped; that is reported as `false`, not as an error, since the
/// caller wants the container gone either way.
pub fn kill(t: Target) -> Result<bool, String> {
    let mut c = load(&t)?;
    if !c.can_kill() {
        return Ok(false);
    }
    let sig = Signal::try_from(t.signal).map_err(|e| format!("signal {}: {e}", t.signal))?;
    c.kill(sig, false)
        .map_err(|e| format!("signalling {}: {e}", t.id))?;
    Ok(true)
}

/// Removes the container's cgroup and libcontainer's state (killing what is left, which
/// only happens when the caller deletes a live container).
pub fn delete(t: Target) -> Result<(), String> {
    match Container::load(t.root.join(&t.id)) {
        Ok(mut c) => c
            .delete(true)
            .map_err(|e| format!("deleting {}: {e}", t.id)),
        // Already deleted: deletion is idempotent, as CRI's RemoveContainer is.
        Err(_) if !t.root.join(&t.id).exists() => Ok(()),
        Err(e) => Err(format!("loading container {}: {e}", t.id)),
    }
}
