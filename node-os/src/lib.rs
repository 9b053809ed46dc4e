//! node-os: the node's one executable. It joins the cluster (token discovery with a pinned CA,
//! then a node client certificate through a CertificateSigningRequest) and runs the kubelet
//! ([`kubelet`]) as that node; the runtime and routing it will host next start from
//! [`agent::after_join`] too.

pub mod agent;
pub mod client;
pub mod cri;
pub mod init;
pub mod join;
pub mod kubelet;
pub mod network;
