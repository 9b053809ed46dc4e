//! Service ClusterIP and NodePort allocation.
//!
//! Each allocated address or port is a claim key in the store (`/registry/ranges/...`), written
//! in the same transaction as the Service, guarded by "claim key absent". Two creates racing for
//! one address cannot both win, and nothing is leaked or double-booked across restarts or,
//! later, across Raft replicas. The choice of a free value is a pure function.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use anyhow::{bail, Context, Result};
use rand::Rng;
use serde_json::Value;

pub const IP_CLAIM_PREFIX: &str = "/registry/ranges/serviceips/";
pub const PORT_CLAIM_PREFIX: &str = "/registry/ranges/servicenodeports/";

/// The service address range and node port range of the cluster.
#[derive(Debug, Clone)]
pub struct ServiceNetwork {
    base: u32,
    prefix: u8,
    pub node_ports: (u16, u16),
}

impl ServiceNetwork {
    pub fn new(cidr: &str, node_ports: (u16, u16)) -> Result<ServiceNetwork> {
        let (addr, len) = cidr
            .split_once('/')
            .with_context(|| format!("service CIDR {cidr:?} is not of the form A.B.C.D/N"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .with_context(|| format!("service CIDR {cidr:?}: bad address"))?;
        let prefix: u8 = len
            .parse()
            .with_context(|| format!("service CIDR {cidr:?}: bad prefix length"))?;
        if !(8..=28).contains(&prefix) {
            bail!("service CIDR {cidr:?}: prefix length must be between 8 and 28");
        }
        if node_ports.0 > node_ports.1 {
            bail!("node port range {}-{} is empty", node_ports.0, node_ports.1);
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(ServiceNetwork {
            base: u32::from(addr) & mask,
            prefix,
            node_ports,
        })
    }

    fn size(&self) -> u32 {
        1u32 << (32 - self.prefix)
    }

    /// The first usable address, which Kubernetes gives to the `kubernetes` Service.
    pub fn kubernetes_service_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }

    /// The tenth address, conventionally the cluster DNS Service.
    pub fn dns_service_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 10)
    }

    /// Whether an address may be allocated: inside the range, not the network or broadcast one.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let v = u32::from(ip);
        v > self.base && v < self.base + self.size() - 1
    }

    pub fn cidr(&self) -> String {
        format!("{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }

    /// Picks a free address at random (as Kubernetes does, so that deleted addresses are not
    /// handed out again at once), avoiding the low addresses kept for static assignment.
    pub fn pick_ip(&self, used: &HashSet<Ipv4Addr>, rng: &mut impl Rng) -> Option<Ipv4Addr> {
        let size = self.size();
        // Kubernetes reserves the lower part of larger ranges for statically chosen IPs.
        let reserved = (size / 16).clamp(16, 256).min(size / 2);
        let first = reserved;
        let last = size - 2;
        if first > last {
            return None;
        }
        let span = last - first + 1;
        let start = rng.random_range(0..span);
        (0..span)
            .map(|i| Ipv4Addr::from(self.base + first + (start + i) % span))
            .find(|ip| !used.contains(ip))
            .or_else(|| {
                (1..first)
                    .map(|o| Ipv4Addr::from(self.base + o))
                    .find(|ip| !used.contains(ip))
            })
    }

    pub fn pick_port(&self, used: &HashSet<u16>, rng: &mut impl Rng) -> Option<u16> {
        let (lo, hi) = self.node_ports;
        let span = u32::from(hi - lo) + 1;
        let start = rng.random_range(0..span);
        (0..span)
            .map(|i| lo + ((start + i) % span) as u16)
            .find(|p| !used.contains(p))
    }
}

pub fn ip_claim(ip: &str) -> String {
    format!("{IP_CLAIM_PREFIX}{ip}")
}

pub fn port_claim(port: i64) -> String {
    format!("{PORT_CLAIM_PREFIX}{port}")
}

/// The claim keys a Service object holds: its cluster IPs and node ports.
pub fn claims_of(service: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let spec = &service["spec"];
    let mut ips: Vec<&str> = spec["clusterIPs"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    if let Some(ip) = spec["clusterIP"].as_str() {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    for ip in ips {
        if !ip.is_empty() && ip != "None" {
            out.push(ip_claim(ip));
        }
    }
    if let Some(ports) = spec["ports"].as_array() {
        for p in ports {
            if let Some(np) = p["nodePort"].as_i64() {
                let claim = port_claim(np);
                if !out.contains(&claim) {
                    out.push(claim);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;

    #[test]
    fn default_range_yields_the_well_known_addresses() {
        let n = ServiceNetwork::new("10.96.0.0/12", (30000, 32767)).unwrap();
        assert_eq!(n.kubernetes_service_ip(), Ipv4Addr::new(10, 96, 0, 1));
        assert_eq!(n.dns_service_ip(), Ipv4Addr::new(10, 96, 0, 10));
        assert!(n.contains(Ipv4Addr::new(10, 111, 255, 254)));
        assert!(!n.contains(Ipv4Addr::new(10, 112, 0, 1)));
        assert!(!n.contains(Ipv4Addr::new(10, 96, 0, 0)));
    }

    #[test]
    fn allocation_never_returns_a_used_value_and_fills_a_small_range() {
        let n = ServiceNetwork::new("10.0.0.0/28", (30000, 30003)).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut used = HashSet::new();
        for _ in 0..14 {
            let ip = n.pick_ip(&used, &mut rng).expect("free address");
            assert!(n.contains(ip));
            assert!(used.insert(ip), "{ip} handed out twice");
        }
        assert_eq!(n.pick_ip(&used, &mut rng), None);
        let mut ports = HashSet::new();
        for _ in 0..4 {
            assert!(ports.insert(n.pick_port(&ports, &mut rng).unwrap()));
        }
        assert_eq!(n.pick_port(&ports, &mut rng), None);
    }

    #[test]
    fn claims_cover_cluster_ips_and_node_ports() {
        let svc = json!({"spec": {"clusterIP": "10.96.5.5", "clusterIPs": ["10.96.5.5"],
            "ports": [{"port": 80, "nodePort": 30008}, {"port": 81}]}});
        assert_eq!(
            claims_of(&svc),
            vec![ip_claim("10.96.5.5"), port_claim(30008)]
        );
        assert!(claims_of(&json!({"spec": {"clusterIP": "None"}})).is_empty());
    }

    #[test]
    fn bad_ranges_are_refused_with_a_reason() {
        assert!(ServiceNetwork::new("10.96.0.0", (1, 2)).is_err());
        assert!(ServiceNetwork::new("10.96.0.0/30", (1, 2)).is_err());
        assert!(ServiceNetwork::new("10.96.0.0/12", (5, 2)).is_err());
    }
}
