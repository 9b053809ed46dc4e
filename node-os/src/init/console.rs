//! The console: PID 1's stdin, stdout and stderr are `/dev/console` (the serial port on a
//! VM), and every log line of PID 1 and its services goes there. PID 1 logs with `tracing`
//! at the `nodeos.log=` filter (default `info`), which the machine config's `logLevel` can
//! change once the config is read.

use std::io::Write;
use std::os::fd::AsRawFd;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter};

/// Makes sure fds 0, 1 and 2 are the console (the kernel opens it for init only if
/// `/dev/console` exists in the initramfs).
pub fn attach() {
    let Ok(console) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
    else {
        return;
    };
    for fd in 0..3 {
        // SAFETY: fcntl(F_GETFD) only queries whether `fd` is open.
        let open = unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0;
        if !open {
            // SAFETY: dup2 onto a closed standard descriptor; `console` stays open until
            // the end of this function, after the duplicates exist.
            unsafe { libc::dup2(console.as_raw_fd(), fd) };
        }
    }
}

/// Changes the log filter after start-up.
pub struct LogControl(reload::Handle<EnvFilter, tracing_subscriber::Registry>);

impl LogControl {
    pub fn set(&self, filter: &str) {
        match EnvFilter::try_new(filter) {
            Ok(f) => {
                let _ = self.0.reload(f);
            }
            Err(e) => tracing::warn!("log filter {filter:?}: {e}"),
        }
    }
}

/// Logs to stderr (the console) at `filter`.
pub fn init_logging(filter: &str) -> LogControl {
    let f = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let (layer, handle) = reload::Layer::new(f);
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .try_init();
    LogControl(handle)
}

/// A line on the console no matter the log filter: what an operator at the console must see
/// (maintenance mode, power off).
pub fn say(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "node-os: {line}");
}
