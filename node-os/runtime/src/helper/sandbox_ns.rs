//! Helper verb `sandbox`: makes a pod's network, IPC and UTS namespaces and pins them with
//! bind mounts of `/proc/self/ns/<kind>` onto files in the sandbox directory, the way
//! `ip netns add` pins a network namespace. A namespace lives as long as something refers to
//! it, so the pins replace a pause process: the helper exits, the namespaces stay.

use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use rustix::thread::UnshareFlags;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Request {
    pub dir: PathBuf,
    pub net: bool,
    pub ipc: bool,
    pub uts: bool,
    /// Set in the new UTS namespace (needs `uts`).
    pub hostname: Option<String>,
}

pub fn run(req: Request) -> Result<(), String> {
    let mut flags = UnshareFlags::empty();
    for (wanted, flag) in [
        (req.net, UnshareFlags::NEWNET),
        (req.ipc, UnshareFlags::NEWIPC),
        (req.uts, UnshareFlags::NEWUTS),
    ] {
        if wanted {
            flags |= flag;
        }
    }
    // SAFETY: only namespace flags are passed, none of the flags (CLONE_FILES, CLONE_FS,
    // CLONE_NEWUSER with threads) that invalidate assumptions of other threads; and this
    // process has one thread.
    unsafe { rustix::thread::unshare_unsafe(flags) }.map_err(|e| format!("unshare: {e}"))?;
    if req.uts {
        if let Some(h) = &req.hostname {
            rustix::system::sethostname(h.as_bytes())
                .map_err(|e| format!("sethostname {h:?}: {e}"))?;
        }
    }
    if req.net {
        loopback_up().map_err(|e| format!("bringing up lo: {e}"))?;
    }
    for (wanted, kind) in [(req.net, "net"), (req.ipc, "ipc"), (req.uts, "uts")] {
        if wanted {
            pin(&format!("/proc/self/ns/{kind}"), &req.dir.join(kind))?;
        }
    }
    Ok(())
}

fn pin(ns: &str, target: &Path) -> Result<(), String> {
    fs::File::create(target).map_err(|e| format!("creating {}: {e}", target.display()))?;
    rustix::mount::mount_bind(ns, target)
        .map_err(|e| format!("bind-mounting {ns} on {}: {e}", target.display()))
}

/// Sets IFF_UP on `lo` in the current network namespace (a fresh one has it down).
fn loopback_up() -> std::io::Result<()> {
    let sock = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )?;
    // SAFETY: `ifreq` is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write an `ifreq` we own, on a socket we own.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
