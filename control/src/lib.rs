//! The control-plane appliance: a Kubernetes v1.32 API server on a durable revision store, with
//! its PKI, and (later) the scheduler, controllers and node lifecycle.

pub mod apiserver;
pub mod bench;
pub mod client;
pub mod pki;
