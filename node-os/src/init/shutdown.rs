//! Powering off or rebooting, on SIGTERM, Ctrl-Alt-Del, the power button or a request on the
//! control socket: services stop (dependents first, SIGTERM then SIGKILL after a bounded
//! wait), every other process is killed, the random seed is saved, filesystems are synced
//! and unmounted deepest first, and the kernel is told to power off or restart.

use std::time::{Duration, Instant};

use super::console::say;
use super::events::{Event, Events, Power};
use super::supervisor::Supervisor;
use super::{entropy, mounts};

/// How long services get to stop after SIGTERM, together.
pub const STOP_GRACE: Duration = Duration::from_secs(30);
/// How long the remaining processes (containers, orphans) get after SIGTERM.
const OTHERS_GRACE: Duration = Duration::from_secs(5);

fn signal_group(pid: i32, sig: rustix::process::Signal) {
    if let Some(p) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process_group(p, sig);
    }
}

/// Signals every process but PID 1 (`kill(-1, sig)`).
fn signal_all(sig: libc::c_int) {
    // SAFETY: kill(2) takes no pointers; -1 means every process PID 1 may signal but itself.
    unsafe {
        libc::kill(-1, sig);
    }
}

/// Whether PID 1 has any child left (waitpid reports ECHILD when not).
fn has_children() -> bool {
    let mut status = 0;
    // SAFETY: `status` is a live c_int for waitpid to fill. A zombie collected here is lost
    // to the supervisor, which is fine: services are stopped by the time this is asked.
    let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG | libc::__WALL) };
    !(r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD))
}

/// Waits until `done` or `until`, feeding exits to the supervisor.
fn wait_until(
    ev: &Events,
    sup: &mut Option<&mut Supervisor>,
    until: Instant,
    done: impl Fn(&Option<&mut Supervisor>) -> bool,
) {
    while !done(sup) {
        let now = Instant::now();
        if now >= until {
            return;
        }
        for e in ev.wait((until - now).min(Duration::from_millis(250))) {
            if let (Event::Exited(list), Some(s)) = (e, sup.as_deref_mut()) {
                for (pid, status) in list {
                    if let Some((i, _)) = s.exited(pid, Instant::now()) {
                        tracing::info!(
                            service = %s.services()[i].spec.name,
                            "stopped ({})",
                            super::events::describe_status(status)
                        );
                    }
                }
            }
        }
    }
}

/// Stops everything and powers off or reboots. Never returns.
pub fn shutdown(ev: &Events, mut sup: Option<&mut Supervisor>, p: Power, why: &str) -> ! {
    let verb = match p {
        Power::Off => "powering off",
        Power::Reboot => "rebooting",
    };
    say(&format!("{verb} ({why}): stopping services"));
    let deadline = Instant::now() + STOP_GRACE;
    if let Some(s) = sup.as_deref_mut() {
        s.begin_stop();
        for group in s.stop_groups() {
            for &pid in &group {
                signal_group(pid, rustix::process::Signal::TERM);
            }
            wait_until(ev, &mut sup, deadline, |s| {
                s.as_ref()
                    .is_none_or(|s| group.iter().all(|p| !s.running_pids().contains(p)))
            });
        }
        if let Some(s) = sup.as_deref() {
            for pid in s.running_pids() {
                tracing::warn!(
                    pid,
                    "a service did not stop within {STOP_GRACE:?}; killing it"
                );
                signal_group(pid, rustix::process::Signal::KILL);
            }
        }
    }
    signal_all(libc::SIGTERM);
    wait_until(ev, &mut sup, Instant::now() + OTHERS_GRACE, |_| {
        !has_children()
    });
    signal_all(libc::SIGKILL);
    wait_until(
        ev,
        &mut sup,
        Instant::now() + Duration::from_secs(2),
        |_| !has_children(),
    );
    if let Err(e) = entropy::save() {
        tracing::debug!("saving the random seed: {e}");
    }
    rustix::fs::sync();
    for problem in mounts::unmount_all() {
        say(&format!("unmounting {problem}"));
    }
    rustix::fs::sync();
    say(verb);
    let cmd = match p {
        Power::Off => rustix::system::RebootCommand::PowerOff,
        Power::Reboot => rustix::system::RebootCommand::Restart,
    };
    if let Err(e) = rustix::system::reboot(cmd) {
        say(&format!("{verb} failed: {e}; halted"));
    }
    // PID 1 must not exit (the kernel would panic): wait forever.
    loop {
        ev.wait(Duration::from_secs(3600));
    }
}
