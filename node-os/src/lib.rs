//! node-os: the node's one executable. Today it joins the cluster (token discovery with a
//! pinned CA, then a node client certificate through a CertificateSigningRequest); the kubelet,
//! runtime and routing it will host next start from [`agent::after_join`].

pub mod agent;
pub mod client;
pub mod join;
