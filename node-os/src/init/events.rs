//! What wakes PID 1: signals (a child exited, SIGTERM, Ctrl-Alt-Del's SIGINT) and requests
//! from its own threads (the power button, the control socket). The signals are blocked in
//! every thread and taken synchronously with `sigtimedwait` in the main loop, so there are no
//! signal handlers at all; a thread with a request queues it and raises SIGUSR1 to wake the
//! loop.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;
use std::time::Duration;

/// What the machine is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    Off,
    Reboot,
}

/// What the main loop learns on one wake-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Children exited: (pid, wait status as waitpid reports it).
    Exited(Vec<(i32, i32)>),
    Power(Power, &'static str),
}

const SIGNALS: &[libc::c_int] = &[
    libc::SIGCHLD,
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGUSR1,
    libc::SIGHUP,
    libc::SIGPWR,
];

fn sigset() -> libc::sigset_t {
    // SAFETY: sigemptyset initializes the set it is given; every later call gets that
    // initialized set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// The loop's wake-up sources. Create it first thing in PID 1, before any thread exists, so
/// every thread inherits the blocked mask. (Child processes would inherit it too: std keeps
/// the mask across exec, so [`super::services::spawn`] clears it in the child.)
pub struct Events {
    tx: Sender<(Power, &'static str)>,
    rx: Mutex<Receiver<(Power, &'static str)>>,
}

impl Events {
    pub fn new() -> Events {
        let set = sigset();
        // SAFETY: `set` is initialized; the old mask is not asked for.
        unsafe {
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
        let (tx, rx) = channel();
        Events {
            tx,
            rx: Mutex::new(rx),
        }
    }

    /// A handle threads use to ask for a power action.
    pub fn requester(&self) -> Requester {
        Requester(self.tx.clone())
    }

    /// Waits up to `timeout` for something to happen; reaps every exited child.
    pub fn wait(&self, timeout: Duration) -> Vec<Event> {
        let set = sigset();
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `set` and `ts` are initialized and live for the call; no siginfo is asked
        // for.
        let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
        let mut out = Vec::new();
        match sig {
            libc::SIGTERM => out.push(Event::Power(Power::Off, "SIGTERM")),
            libc::SIGPWR => out.push(Event::Power(Power::Off, "SIGPWR")),
            libc::SIGINT => out.push(Event::Power(Power::Reboot, "Ctrl-Alt-Del")),
            _ => {}
        }
        // Requests and exits are collected on every wake-up: signals of one kind coalesce, so
        // one SIGCHLD may stand for several exits.
        if let Ok(rx) = self.rx.lock() {
            out.extend(rx.try_iter().map(|(p, why)| Event::Power(p, why)));
        }
        let exited = reap();
        if !exited.is_empty() {
            out.push(Event::Exited(exited));
        }
        out
    }
}

impl Default for Events {
    fn default() -> Self {
        Events::new()
    }
}

#[derive(Clone)]
pub struct Requester(Sender<(Power, &'static str)>);

impl Requester {
    pub fn request(&self, p: Power, why: &'static str) {
        let _ = self.0.send((p, why));
        // Wakes sigtimedwait in the main loop (the signal stays pending until it is taken).
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::USR1);
    }
}

/// Collects every exited child without blocking: services and the orphans the kernel
/// reparents to PID 1.
pub fn reap() -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: `status` is a live c_int for waitpid to fill.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return out;
        }
        out.push((pid, status));
    }
}

/// "exited with status 1" / "killed by signal 9", for the console.
pub fn describe_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("stopped (status {status:#x})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_statuses_read_as_exit_codes_or_signals() {
        assert_eq!(describe_status(1 << 8), "exited with status 1");
        assert_eq!(describe_status(9), "killed by signal 9");
    }
}
