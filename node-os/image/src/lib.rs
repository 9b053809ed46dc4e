//! The image half of the node's container runtime: everything between an image reference in a
//! Pod spec and a stack of read-only directories overlayfs can mount.
//!
//! - [`reference`], [`manifest`], [`config`] and [`policy`] are pure: they parse and decide.
//! - [`registry`] speaks the distribution API (pull only) over one hyper + rustls stack.
//! - [`store`] keeps blobs by digest and image records by reference on disk, with garbage
//!   collection; [`pull`] drives a pull from a registry into it, streaming every blob to disk
//!   and checking its digest and size before it becomes visible.
//! - [`unpack`] applies layer tars (gzip, zstd or plain) to a directory, refusing anything that
//!   would leave it; [`snapshot`] turns an image's layers into per-chain-ID lowerdirs, or
//!   flattens them into one root filesystem.
//!
//! Everything a registry or a layer sends is untrusted input: digests are verified, sizes are
//! bounded, and paths are resolved inside the target directory only.

pub mod config;
pub mod digest;
pub mod error;
pub mod manifest;
pub mod policy;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod snapshot;
pub mod store;
pub mod unpack;

pub use config::{ImageConfig, ImageUser};
pub use digest::Digest;
pub use error::{Error, Result};
pub use manifest::Platform;
pub use policy::{decide_pull, default_pull_policy, PullDecision, PullPolicy};
pub use pull::{pull_image, PullOptions, Pulled};
pub use reference::Reference;
pub use registry::hosts::{Credentials, RegistryConfig, RegistryHost};
pub use snapshot::{chain_ids, flatten_image, prepare_snapshots, Snapshots};
pub use store::{GcReport, ImageRecord, LayerRecord, Store};
pub use unpack::{UnpackMode, UnpackSummary};
