//! The machine config: what a node-os machine is (its role, hostname, network) and which cluster
//! it belongs to. PID 1 reads it at boot ([`source`] says from where), the installer writes it.
//! One image serves every machine; this document is the only per-machine input.
//!
//! The format is YAML (JSON is YAML too), camelCase as Kubernetes objects are, versioned by
//! `version: v1alpha1`. [`MachineConfig::parse`] refuses unknown fields and checks every value,
//! naming the field, so a bad config is reported on the console instead of half-applied.

pub mod cmdline;
mod model;
pub mod source;
mod validate;

pub use model::*;
pub use validate::{is_dns_label, parse_cidr, ConfigError};

/// The only config version this build reads.
pub const VERSION: &str = "v1alpha1";

impl MachineConfig {
    /// Parses and validates a config document.
    pub fn parse(text: &str) -> Result<MachineConfig, ConfigError> {
        let cfg: MachineConfig =
            serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The config as YAML, as the installer writes it.
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).expect("a machine config always serializes")
    }
}
