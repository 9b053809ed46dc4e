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

pub mod cgroup;
pub mod config;
pub mod error;
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
pub use helper::{helper_main, run_if_helper, HELPER_ARG};
pub use runtime::{Runtime, SandboxRecord};
pub use state::{ContainerState, ContainerStatus, ExitRecord};
