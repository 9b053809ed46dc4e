//! The control-plane appliance: a Kubernetes v1.32 API server on a durable revision store, with
//! its PKI, and the loops that run beside it (the scheduler; controllers and node lifecycle next).

pub mod apiserver;
pub mod bench;
pub mod client;
pub mod informer;
pub mod join;
pub mod leader;
pub mod loops;
pub mod pki;
pub mod simnodes;
