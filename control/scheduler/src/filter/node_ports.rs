//! NodePorts: two pods cannot bind the same `hostPort` and protocol on overlapping host IPs.

use k8s_openapi::api::core::v1::Pod;

use super::{Code, Rejection};
use crate::snapshot::NodeInfo;

/// kube-scheduler's reason.
pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// One host port a container asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// `hostIP`, `0.0.0.0` when unset.
    pub ip: String,
    /// `TCP` when unset.
    pub protocol: String,
    pub port: i32,
}

impl HostPort {
    fn conflicts(&self, other: &HostPort) -> bool {
        // 0.0.0.0 binds every address, so it collides with any IP on the same port and
        // protocol.
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// Every container port of the pod that asks for a host port.
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    spec.containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|&h| h > 0)?;
            let ip = match p.host_ip.as_deref() {
                None | Some("") => "0.0.0.0",
                Some(ip) => ip,
            };
            let protocol = p.protocol.as_deref().unwrap_or("TCP");
            Some(HostPort {
                ip: ip.to_string(),
                protocol: protocol.to_string(),
                port,
            })
        })
        .collect()
}

/// The filter with the pod's host ports already extracted (once per scheduling cycle) and
/// checked against the node's cached [`NodeInfo::used_ports`].
pub fn check(wanted: &[HostPort], node: &NodeInfo) -> Result<(), Rejection> {
    if wanted
        .iter()
        .any(|w| node.used_ports().iter().any(|u| w.conflicts(u)))
    {
        return Err(Rejection::new(Code::Unschedulable, REASON));
    }
    Ok(())
}

pub fn filter(pod: &Pod, node: &NodeInfo) -> Result<(), Rejection> {
    check(&host_ports(pod), node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{info, node, pod};
    use serde_json::json;

    fn with_port(name: &str, port: serde_json::Value) -> Pod {
        pod(
            name,
            json!({"spec": {"containers": [{"name": "c", "ports": [port]}]}}),
        )
    }

    #[test]
    fn the_same_host_port_conflicts_across_wildcard_ips() {
        let existing = with_port("a", json!({"containerPort": 80, "hostPort": 8080}));
        let n = info(node("n", json!({})), vec![existing]);
        let p = with_port(
            "b",
            json!({"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}),
        );
        assert_eq!(filter(&p, &n).unwrap_err().reasons, [REASON]);
    }

    #[test]
    fn different_protocols_or_ips_do_not_conflict() {
        let existing = with_port(
            "a",
            json!({"containerPort": 53, "hostPort": 53, "hostIP": "10.0.0.1"}),
        );
        let n = info(node("n", json!({})), vec![existing]);
        let udp = with_port(
            "b",
            json!({"containerPort": 53, "hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.1"}),
        );
        let other_ip = with_port(
            "c",
            json!({"containerPort": 53, "hostPort": 53, "hostIP": "10.0.0.2"}),
        );
        assert!(filter(&udp, &n).is_ok());
        assert!(filter(&other_ip, &n).is_ok());
    }

    #[test]
    fn container_ports_without_host_port_never_conflict() {
        let existing = with_port("a", json!({"containerPort": 80}));
        let n = info(node("n", json!({})), vec![existing]);
        assert!(filter(&with_port("b", json!({"containerPort": 80})), &n).is_ok());
    }
}
