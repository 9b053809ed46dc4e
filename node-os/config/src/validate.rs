//! Checks of every value, each error naming the field it is about.

use std::net::Ipv4Addr;

use thiserror::Error;

use crate::{MachineConfig, Role, VERSION};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("the machine config is not valid YAML for this schema: {0}")]
    Syntax(String),
    #[error("machine config field {field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("no machine config: {0}")]
    Missing(String),
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// `a.b.c.d/len` with len ≤ 32.
pub fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (addr, len) = s.split_once('/')?;
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some(())?;
    Some((addr.parse().ok()?, len))
}

/// An RFC 1123 label: what a hostname and a Node name may be here.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_token(s: &str) -> bool {
    let ok = |p: &str, n: usize| {
        p.len() == n
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    matches!(s.split_once('.'), Some((id, secret)) if ok(id, 6) && ok(secret, 16))
}

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl MachineConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.version != VERSION {
            return Err(invalid(
                "version",
                format!(
                    "{:?} is not a version this build reads (it reads {VERSION:?})",
                    self.version
                ),
            ));
        }
        if !is_dns_label(&self.hostname) {
            return Err(invalid(
                "hostname",
                format!(
                    "{:?} must be a lowercase RFC 1123 label (a-z, 0-9, '-', at most 63)",
                    self.hostname
                ),
            ));
        }
        for (i, ifc) in self.network.interfaces.iter().enumerate() {
            let f = |name: &str| format!("network.interfaces[{i}].{name}");
            if ifc.name.is_none() && ifc.mac.is_none() {
                return Err(invalid(
                    format!("network.interfaces[{i}]"),
                    "needs a name or a mac",
                ));
            }
            if let Some(m) = &ifc.mac {
                if !is_mac(m) {
                    return Err(invalid(
                        f("mac"),
                        format!("{m:?} is not a hardware address like 52:54:00:12:34:56"),
                    ));
                }
            }
            if let Some(n) = &ifc.name {
                if n.is_empty()
                    || n.len() > 15
                    || n.contains('/')
                    || n.contains(char::is_whitespace)
                {
                    return Err(invalid(
                        f("name"),
                        format!("{n:?} is not an interface name"),
                    ));
                }
            }
            for (j, a) in ifc.addresses.iter().enumerate() {
                if parse_cidr(a).is_none() {
                    return Err(invalid(
                        format!("network.interfaces[{i}].addresses[{j}]"),
                        format!("{a:?} is not an IPv4 address in CIDR form like 10.10.0.2/24"),
                    ));
                }
            }
            for (j, r) in ifc.routes.iter().enumerate() {
                if parse_cidr(&r.to).is_none() {
                    return Err(invalid(
                        format!("network.interfaces[{i}].routes[{j}].to"),
                        format!("{:?} is not a destination in CIDR form", r.to),
                    ));
                }
            }
            if let Some(mtu) = ifc.mtu {
                if !(576..=9216).contains(&mtu) {
                    return Err(invalid(f("mtu"), format!("{mtu} is outside 576..9216")));
                }
            }
            if !ifc.dhcp && ifc.addresses.is_empty() {
                return Err(invalid(
                    format!("network.interfaces[{i}]"),
                    "has neither dhcp nor addresses",
                ));
            }
        }
        let c = &self.cluster;
        match c.endpoint.strip_prefix("https://") {
            Some(hostport) if !hostport.is_empty() && !hostport.contains('/') => {}
            _ => {
                return Err(invalid(
                    "cluster.endpoint",
                    format!("{:?} must be https://HOST:PORT", c.endpoint),
                ))
            }
        }
        if !is_token(&c.token) {
            // The token is a credential: the error does not repeat it.
            return Err(invalid(
                "cluster.token",
                "must be a bootstrap token, [a-z0-9]{6}.[a-z0-9]{16}",
            ));
        }
        let hash_ok = c
            .ca_hash
            .strip_prefix("sha256:")
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if !hash_ok {
            return Err(invalid(
                "cluster.caHash",
                format!("{:?} must be sha256: and 64 hex digits", c.ca_hash),
            ));
        }
        for (name, v) in [
            ("cluster.podCIDR", &c.pod_cidr),
            ("cluster.serviceCIDR", &c.service_cidr),
        ] {
            if parse_cidr(v).is_none() {
                return Err(invalid(
                    name,
                    format!("{v:?} is not an IPv4 range in CIDR form"),
                ));
            }
        }
        for (i, r) in c.insecure_registries.iter().enumerate() {
            if r.is_empty() || r.contains('/') || r.contains("://") {
                return Err(invalid(
                    format!("cluster.insecureRegistries[{i}]"),
                    format!("{r:?} must be HOST:PORT"),
                ));
            }
        }
        match (self.role, &self.control) {
            (Role::Control, None) => {
                return Err(invalid("control", "is required when role is control"))
            }
            (Role::Worker, Some(_)) => return Err(invalid("control", "is only for role control")),
            (Role::Control, Some(ctl)) => {
                if !ctl.ca_cert.contains("-----BEGIN CERTIFICATE-----") {
                    return Err(invalid("control.caCert", "must be a PEM certificate"));
                }
                if !ctl.ca_key.contains("PRIVATE KEY-----") {
                    return Err(invalid("control.caKey", "must be a PEM private key"));
                }
                if ctl.listen.parse::<std::net::SocketAddr>().is_err() {
                    return Err(invalid(
                        "control.listen",
                        format!("{:?} must be ADDRESS:PORT", ctl.listen),
                    ));
                }
            }
            (Role::Worker, None) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKER: &str = "
version: v1alpha1
hostname: worker-1
role: worker
network:
  interfaces:
  - mac: 52:54:00:00:00:11
    addresses: [10.10.0.11/24]
    routes: [{to: 0.0.0.0/0, via: 10.10.0.1}]
  - name: eth1
    dhcp: true
cluster:
  endpoint: https://10.10.0.2:6443
  token: abcdef.0123456789abcdef
  caHash: sha256:0000000000000000000000000000000000000000000000000000000000000000
  podCIDR: 10.200.0.0/16
  insecureRegistries: [10.0.2.100:5000]
";

    #[test]
    fn a_worker_config_parses_with_defaults_filled_in() {
        let c = MachineConfig::parse(WORKER).unwrap();
        assert_eq!(c.role, Role::Worker);
        assert_eq!(c.cluster.pod_cidr, "10.200.0.0/16");
        assert_eq!(c.cluster.service_cidr, "10.96.0.0/12");
        assert_eq!(c.network.interfaces.len(), 2);
        assert!(c.network.interfaces[1].dhcp);
        // What the installer writes reads back the same.
        assert_eq!(MachineConfig::parse(&c.to_yaml()).unwrap(), c);
    }

    #[test]
    fn every_bad_value_names_its_field() {
        let cases = [
            ("hostname: worker-1", "hostname: Worker_1", "hostname"),
            ("version: v1alpha1", "version: v9", "version"),
            (
                "10.10.0.11/24",
                "10.10.0.11",
                "network.interfaces[0].addresses[0]",
            ),
            (
                "mac: 52:54:00:00:00:11",
                "mac: 52:54:00",
                "network.interfaces[0].mac",
            ),
            (
                "https://10.10.0.2:6443",
                "http://10.10.0.2:6443",
                "cluster.endpoint",
            ),
            ("abcdef.0123456789abcdef", "abcdef.short", "cluster.token"),
            ("caHash: sha256:0000", "caHash: md5:0000", "cluster.caHash"),
            ("role: worker", "role: control", "control"),
        ];
        for (from, to, field) in cases {
            let text = WORKER.replacen(from, to, 1);
            match MachineConfig::parse(&text) {
                Err(ConfigError::Invalid { field: f, .. }) => assert_eq!(f, field, "{to}"),
                other => panic!("{to}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_fields_and_broken_yaml_are_refused() {
        let typo = WORKER.replace("insecureRegistries", "insecureRegistry");
        assert!(
            matches!(MachineConfig::parse(&typo), Err(ConfigError::Syntax(m)) if m.contains("insecureRegistry"))
        );
        assert!(matches!(
            MachineConfig::parse("version: [\n"),
            Err(ConfigError::Syntax(_))
        ));
        assert!(matches!(
            MachineConfig::parse(""),
            Err(ConfigError::Syntax(_))
        ));
    }

    #[test]
    fn the_token_is_not_repeated_in_errors() {
        let text = WORKER.replace("abcdef.0123456789abcdef", "secret.value-not-a-token");
        let e = MachineConfig::parse(&text).unwrap_err().to_string();
        assert!(!e.contains("secret.value"), "{e}");
    }
}
