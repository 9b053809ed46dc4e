//! The helper mode: every operation that forks a container process, or changes namespaces
//! of the calling process, runs in a freshly executed copy of the node's executable instead
//! of in the multi-threaded tokio process. `clone()` from a process with other threads
//! running leaves the child with locks held by threads that no longer exist (youki#3011);
//! a fresh `exec` has exactly one thread.
//!
//! The node's `main` must hand over to the helper before anything starts a thread:
//!
//! ```text
//! fn main() {
//!     node_runtime::helper::run_if_helper(); // first line: never returns in helper mode
//!     // ... clap, tokio, the kubelet ...
//! }
//! ```
//!
//! Protocol: the runtime runs `<exe> __node_runtime_helper <verb>`, writes one JSON request to
//! its stdin and reads one JSON reply (`{"ok": ...}` or `{"err": "..."}`) from its stdout.
//! Spawning the helper is an ordinary fork+exec by `std::process::Command`, whose child only
//! calls async-signal-safe functions before `exec`, which is safe from any process.
//!
//! Verbs: `sandbox` ([`sandbox_ns`]) makes a pod's namespaces; `shim` ([`shim`]) creates a
//! container and stays with it as its log writer, stdin relay and reaper; `start`, `kill`
//! and `delete` ([`ops`]) drive libcontainer on an existing container; `exec` ([`exec`])
//! runs a process in a running container and stays as its parent (it speaks its own
//! protocol on descriptor 3 instead of stdin/stdout, which are the process's stdio).

pub mod console;
pub mod exec;
pub mod ops;
pub mod sandbox_ns;
pub mod shim;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The first argument that puts the executable in helper mode. Hidden from users: no clap
/// subcommand carries it.
pub const HELPER_ARG: &str = "__node_runtime_helper";

/// A helper's reply.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reply<T> {
    Ok(T),
    Err(String),
}

/// If this process was started as the runtime's helper, runs the helper and exits;
/// otherwise returns at once. Call it first thing in `main`, before any thread exists.
pub fn run_if_helper() {
    let mut args = std::env::args_os();
    let _exe = args.next();
    if args.next().as_deref() == Some(HELPER_ARG.as_ref()) {
        helper_main(args.collect())
    }
}

/// Runs the helper verb named by `args[0]` and exits with its status.
pub fn helper_main(args: Vec<OsString>) -> ! {
    // libcontainer reports the cause of a failure only through `tracing`: keep it on stderr
    // (the runtime shows it with the error; the shim's stderr is its log file).
    let filter = std::env::var("NODE_RUNTIME_HELPER_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(diagnostics)
        .with_ansi(false)
        .try_init();
    let verb = args
        .first()
        .and_then(|v| v.to_str())
        .unwrap_or("")
        .to_string();
    default_sigpipe_for_containers();
    if verb == "exec" {
        std::process::exit(exec::run())
    }
    let mut input = Vec::new();
    let code = match std::io::stdin().read_to_end(&mut input) {
        Err(e) => reply::<()>(Err(format!("reading the request: {e}"))),
        Ok(_) => match verb.as_str() {
            "sandbox" => reply(decode(&input).and_then(sandbox_ns::run)),
            // The shim replies itself: it forks, and only its first half may answer.
            "shim" => match decode(&input) {
                Ok(req) => shim::run(req),
                Err(e) => reply::<()>(Err(e)),
            },
            "start" => reply(decode(&input).and_then(ops::start)),
            "kill" => reply(decode(&input).and_then(ops::kill)),
            "delete" => reply(decode(&input).and_then(ops::delete)),
            other => reply::<()>(Err(format!("unknown helper verb {other:?}"))),
        },
    };
    std::process::exit(code)
}

/// Rust starts every program with SIGPIPE ignored, and an ignored signal stays ignored across
/// `exec`: the containers this helper forks would inherit it, and `yes | head` in a container
/// would see write errors instead of dying quietly. A caught signal is reset to its default
/// by `exec`, so the helper catches SIGPIPE with a handler that does nothing: its own writes
/// to a closed pipe still fail with EPIPE, and container processes start with the default.
fn default_sigpipe_for_containers() {
    extern "C" fn ignore(_: libc::c_int) {}
    // SAFETY: installs a handler that does nothing (async-signal-safe by construction) on a
    // zeroed, then filled, sigaction.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ignore as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGPIPE, &action, std::ptr::null_mut());
    }
}

/// Where the helper's own diagnostics go: stderr, until the shim names its log file. The
/// shim must not use fd 2 for them: libcontainer's container process is a copy of the shim
/// until it execs, and its fd 2 is then the container's stderr, which becomes the user's log.
static DIAGNOSTICS: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();

fn diagnostics() -> Box<dyn Write> {
    match DIAGNOSTICS.get().and_then(|f| f.try_clone().ok()) {
        Some(f) => Box::new(f),
        None => Box::new(std::io::stderr()),
    }
}

/// Sends the helper's diagnostics to `file` from now on.
pub(crate) fn set_diagnostics(file: std::fs::File) {
    let _ = DIAGNOSTICS.set(file);
}

fn decode<T: DeserializeOwned>(input: &[u8]) -> std::result::Result<T, String> {
    serde_json::from_slice(input).map_err(|e| format!("bad helper request: {e}"))
}

/// Prints the reply and returns the exit status that goes with it.
pub(crate) fn reply<T: Serialize>(r: std::result::Result<T, String>) -> i32 {
    let (msg, code) = match r {
        Ok(v) => (Reply::Ok(v), 0),
        Err(e) => (Reply::Err(e), 1),
    };
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, &msg);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
    code
}

/// Runs a helper verb from the runtime side and decodes its reply. Blocking: call it from
/// `spawn_blocking`.
pub fn call<Req: Serialize, Resp: DeserializeOwned>(
    exe: &Path,
    verb: &str,
    req: &Req,
) -> Result<Resp> {
    use std::process::{Command, Stdio};
    let what = format!("helper {verb}");
    let mut child = Command::new(exe)
        .arg(HELPER_ARG)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(format!("spawning {what} ({})", exe.display()), e))?;
    let body = serde_json::to_vec(req).map_err(|e| Error::Helper {
        verb: verb.into(),
        message: e.to_string(),
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&body)
            .map_err(|e| Error::io(format!("writing to {what}"), e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::io(format!("waiting for {what}"), e))?;
    let line = out
        .stdout
        .split(|b| *b == b'\n')
        .find(|l| !l.is_empty())
        .unwrap_or(b"");
    match serde_json::from_slice::<Reply<Resp>>(line) {
        Ok(Reply::Ok(v)) => Ok(v),
        Ok(Reply::Err(message)) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let message = if stderr.trim().is_empty() {
                message
            } else {
                format!("{message}; {}", stderr.trim())
            };
            Err(Error::Helper {
                verb: verb.into(),
                message,
            })
        }
        Err(_) => Err(Error::Helper {
            verb: verb.into(),
            message: format!(
                "no reply ({}); stdout {:?}; stderr {:?}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }),
    }
}
