//! SIGTERM ends the process at once with status 0. The handler is needed, not decoration: as
//! PID 1 of a container's PID namespace the kernel drops signals whose action is the default,
//! so without one a pod's deletion would wait out its whole grace period for SIGKILL.
//!
//! std has no signal API and this crate takes no dependencies, so the two libc functions it
//! needs are declared here; std links the C library anyway.

use std::os::raw::c_int;

const SIGTERM: c_int = 15;

extern "C" {
    fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
    fn _exit(status: c_int) -> !;
}

extern "C" fn exit_zero(_signum: c_int) {
    // SAFETY: `_exit` is async-signal-safe (POSIX.1 lists it); it runs no atexit handlers and
    // flushes nothing, so it cannot deadlock on a lock the interrupted thread holds. Every
    // line already written is out: Rust's stdout is line-buffered.
    unsafe { _exit(0) }
}

/// Installs the SIGTERM handler for the whole process.
pub fn exit_zero_on_sigterm() {
    // SAFETY: `signal` is given a valid signal number and a handler with the C ABI that only
    // calls `_exit`. Its previous handler (the default) is not needed back.
    unsafe {
        signal(SIGTERM, exit_zero);
    }
}
