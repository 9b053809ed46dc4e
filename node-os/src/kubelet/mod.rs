//! The kubelet hosted by `node-os agent`. The node side is live: [`node`] registers the Node,
//! renews its Lease and posts its status, with every value decided in [`nodestatus`] from what
//! [`machine`] reads. The pod side is a set of pure decision modules ([`env`], [`volumes`],
//! [`backoff`], [`probes`], [`status`], [`lifecycle`]) and the IO loop that applies them,
//! [`podworker`], which drives a container runtime through the CRI-shaped [`runtime_api`] trait.

pub mod backoff;
pub mod env;
pub mod lifecycle;
pub mod machine;
pub mod mounts;
pub mod node;
pub mod nodestatus;
pub mod podworker;
pub mod prober;
pub mod probes;
pub mod quantity;
pub mod runtime_api;
pub mod server;
pub mod serving;
pub mod status;
pub mod volumes;
