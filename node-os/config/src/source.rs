//! Where PID 1 finds the machine config, from `nodeos.config=` on the kernel command line:
//!
//! - `fwcfg` (or `fwcfg:<name>`): a QEMU fw_cfg blob (`-fw_cfg name=opt/io.nodeos/config,file=...`),
//!   read from sysfs once the `qemu_fw_cfg` module is loaded. The installer's QEMU machines use it.
//! - `b64:<base64>`: the config inline, for PXE scripts and tests.
//! - `file:<path>`: a file on the state partition (written by the installer on racks).
//!
//! Without the option PID 1 tries fw_cfg, then the state partition's file: the default order
//! [`default_sources`] gives.

use base64::Engine;

use crate::cmdline::Cmdline;
use crate::ConfigError;

/// The fw_cfg entry name the installer uses (QEMU requires user entries under `opt/`).
pub const FW_CFG_NAME: &str = "opt/io.nodeos/config";
/// The config file on the state partition, relative to its mount point.
pub const STATE_FILE: &str = "config.yaml";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    FwCfg(String),
    Inline(String),
    File(String),
}

impl Source {
    pub fn parse(v: &str) -> Result<Source, ConfigError> {
        let bad = |why: &str| ConfigError::Missing(format!("nodeos.config={v:?}: {why}"));
        if v == "fwcfg" {
            return Ok(Source::FwCfg(FW_CFG_NAME.into()));
        }
        if let Some(name) = v.strip_prefix("fwcfg:") {
            if !name.starts_with("opt/") || name.contains("..") {
                return Err(bad("fw_cfg names start with opt/"));
            }
            return Ok(Source::FwCfg(name.into()));
        }
        if let Some(b) = v.strip_prefix("b64:") {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| bad("not base64"))?;
            return String::from_utf8(bytes)
                .map(Source::Inline)
                .map_err(|_| bad("not UTF-8 text"));
        }
        if let Some(p) = v.strip_prefix("file:") {
            return Ok(Source::File(p.into()));
        }
        Err(bad(
            "expected fwcfg, fwcfg:<name>, b64:<base64> or file:<path>",
        ))
    }

    /// The sysfs file a fw_cfg entry appears as.
    pub fn fw_cfg_path(name: &str) -> String {
        format!("/sys/firmware/qemu_fw_cfg/by_name/{name}/raw")
    }

    /// What to say on the console about where the config came from.
    pub fn describe(&self) -> String {
        match self {
            Source::FwCfg(n) => format!("fw_cfg {n}"),
            Source::Inline(_) => "the kernel command line".into(),
            Source::File(p) => format!("file {p}"),
        }
    }
}

/// The sources to try, in order: the command line's, else fw_cfg then the state file.
pub fn default_sources(cmdline: &Cmdline, state_mount: &str) -> Result<Vec<Source>, ConfigError> {
    match cmdline.get("nodeos.config") {
        Some(v) => Ok(vec![Source::parse(v)?]),
        None => Ok(vec![
            Source::FwCfg(FW_CFG_NAME.into()),
            Source::File(format!(
                "{}/{STATE_FILE}",
                state_mount.trim_end_matches('/')
            )),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_from_the_command_line() {
        assert_eq!(
            Source::parse("fwcfg").unwrap(),
            Source::FwCfg(FW_CFG_NAME.into())
        );
        assert_eq!(
            Source::parse("b64:aG9zdG5hbWU6IHgK").unwrap(),
            Source::Inline("hostname: x\n".into())
        );
        assert!(Source::parse("fwcfg:etc/secret").is_err());
        assert!(Source::parse("b64:!!").is_err());
        assert!(Source::parse("tftp://x").is_err());
        let none = Cmdline::parse("console=ttyS0");
        assert_eq!(
            default_sources(&none, "/var/").unwrap(),
            [
                Source::FwCfg(FW_CFG_NAME.into()),
                Source::File("/var/config.yaml".into())
            ]
        );
    }
}
