//! The control plane's loops. Each one watches through the API (never the store) and writes
//! back through it with an identity of its own, as kube-controller-manager and kube-scheduler do.

pub mod endpoints;
pub mod gc;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod scheduler;
pub mod serviceaccounts;
pub mod workloads;
