//! NodePorts: two pods cannot bind the same `hostPort` and protocol on overlapping host IPs.

use k8s_openapi::api::core::v1::Pod;

use super::{Code, Rejection};
use crate::snapshot::NodeInfo;

/// kube-scheduler's reason.
pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// (host IP, protocol, host port) of every container port that asks for a host port.
fn host_ports(pod: &Pod) -> Vec<(String, String, i32)> {
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
            Some((ip.to_string(), protocol.to_string(), port))
        })
        .collect()
}

fn conflicts(a: &(String, String, i32), b: &(String, String, i32)) -> bool {
    // 0.0.0.0 binds every address, so it collides with any IP on the same port and protocol.
    a.1 == b.1 && a.2 == b.2 && (a.0 == b.0 || a.0 == "0.0.0.0" || b.0 == "0.0.0.0")
}

pub fn filter(pod: &Pod, node: &NodeInfo) -> Result<(), Rejection> {
    let wanted = host_ports(pod);
    if wanted.is_empty() {
        return Ok(());
    }
    let used: Vec<_> = node.pods.iter().flat_map(host_ports).collect();
    if wanted.iter().any(|w| used.iter().any(|u| conflicts(w, u))) {
        return Err(Rejection::new(Code::Unschedulable, REASON));
    }
    Ok(())
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
