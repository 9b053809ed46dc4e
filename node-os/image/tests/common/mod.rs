//! Helpers the integration tests share: layer tars built entry by entry (malicious ones
//! included), and a real `docker-registry` process with a push client.
#![allow(dead_code)]

pub mod layers;
pub mod registry;
