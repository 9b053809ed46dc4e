//! The container half of the node's runtime (the image half is `node-image`): pod sandboxes
//! whose network, IPC and UTS namespaces are pinned by the runtime itself (no pause
//! process), overlayfs roots over image snapshots, OCI specs generated from typed configs,
//! containers created, started, signalled and deleted through youki's libcontainer, cgroups
//! v1 and v2, and CRI-format logs with rotation.
//!
//! Process model: the runtime runs inside the node's multi-threaded tokio process, which
//! must never clone a container child. Everything that forks or changes namespaces runs in
//! the same executable re-executed in a hidden helper mode ([`helper`]); the node's `main`
//! calls [`helper::run_if_helper`] first thing.
//!
//! - [`spec`], [`cgroup`]'s mapping, [`log::format`], [`state::derive_status`] and
//!   [`overlay::overlay_options`] are pure decisions;
//! - [`runtime::Runtime`] is the CRI-shaped API the kubelet calls.
//!
//! Streaming: [`Runtime::exec`] runs a process in a running container (its namespaces,
//! cgroup, user and environment) from an `exec` helper that stays its parent, with pipes or
//! a terminal made inside the container for its stdio ([`exec`]); [`Runtime::exec_sync`] is
//! CRI's `ExecSync` for probes. A container created with `stdin` reads what
//! [`Runtime::attach_stdin`] sessions write, relayed by its shim from a FIFO; with `tty` its
//! stdio is a terminal whose window [`Runtime::resize_container_tty`] sets.

pub mod cgroup;
pub mod config;
pub mod error;
pub mod exec;
pub mod helper;
pub mod log;
pub mod overlay;
pub mod runtime;
pub mod spec;
pub mod state;

pub use config::{
    BindMount, ContainerConfig, Propagation, QosClass, Resources, RuntimeConfig, SandboxConfig,
};
pub use error::{Error, Result};
pub use exec::{ExecProcess, ExecRequest};
pub use helper::{helper_main, run_if_helper, HELPER_ARG};
pub use runtime::{Runtime, SandboxRecord};
pub use state::{ContainerState, ContainerStatus, ExitRecord};
