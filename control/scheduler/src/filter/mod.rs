//! Filters: can this pod run on this node at all?
//!
//! They run in the order of kube-scheduler's default profile (NodeUnschedulable, NodeName,
//! TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit, InterPodAffinity), and a node
//! is rejected by the first one that fails, so each node contributes the reasons of exactly
//! one filter to the `FitError` histogram. That order therefore decides the message.

pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod taint_toleration;

use k8s_openapi::api::core::v1::Pod;

use crate::resources::{pod_requests, Resources};
use crate::snapshot::{NodeInfo, Snapshot};

/// How bad a rejection is, which decides whether preemption could help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Evicting lower-priority pods from the node might make room.
    Unschedulable,
    /// Nothing about the node's pods can fix this (labels, taints, cordon).
    UnschedulableAndUnresolvable,
}

/// Why one filter turned a node down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: Code,
    /// The human-readable reasons, as counted in the `FitError` message.
    pub reasons: Vec<String>,
}

impl Rejection {
    pub(crate) fn new(code: Code, reason: impl Into<String>) -> Rejection {
        Rejection {
            code,
            reasons: vec![reason.into()],
        }
    }
}

/// The per-pod state filters compute once over the whole snapshot (kube-scheduler's
/// PreFilter), plus what they need of the pod itself, so that nothing about the pod is
/// parsed again for every node examined.
#[derive(Debug, Clone)]
pub struct Cycle {
    pub affinity: inter_pod_affinity::State,
    /// The pod's requests without scoring defaults, for NodeResourcesFit.
    pub requests: Resources,
    /// The host ports the pod asks for, for NodePorts.
    pub host_ports: Vec<node_ports::HostPort>,
}

impl Cycle {
    /// Precomputes what the filters need to know about the pod and the rest of the cluster.
    pub fn new(pod: &Pod, snapshot: &Snapshot) -> Cycle {
        Cycle {
            affinity: inter_pod_affinity::State::new(pod, snapshot),
            requests: pod_requests(pod, false),
            host_ports: node_ports::host_ports(pod),
        }
    }
}

/// Runs every filter on one node; `Ok` when the pod may run there. `cycle` must have been
/// built for this pod.
pub fn run(pod: &Pod, node: &NodeInfo, cycle: &Cycle) -> Result<(), Rejection> {
    node_unschedulable::filter(pod, node)?;
    node_name::filter(pod, node)?;
    taint_toleration::filter(pod, node)?;
    node_affinity::filter(pod, node)?;
    node_ports::check(&cycle.host_ports, node)?;
    node_resources_fit::check(cycle.requests, node)?;
    inter_pod_affinity::filter(&cycle.affinity, node)?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing {
    //! Small builders shared by the filter and score tests.
    use k8s_openapi::api::core::v1::{Node, Pod};
    use serde_json::{json, Value};

    use crate::snapshot::NodeInfo;

    pub fn node(name: &str, extra: Value) -> Node {
        let mut base = json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {
                "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        });
        merge(&mut base, extra);
        serde_json::from_value(base).unwrap()
    }

    pub fn pod(name: &str, extra: Value) -> Pod {
        let mut base = json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c"}]},
        });
        merge(&mut base, extra);
        serde_json::from_value(base).unwrap()
    }

    /// A pod whose one container requests `cpu` and `memory`.
    pub fn requesting(name: &str, cpu: &str, memory: &str) -> Pod {
        pod(
            name,
            json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}}),
        )
    }

    pub fn info(node: Node, pods: Vec<Pod>) -> NodeInfo {
        NodeInfo::new(node, pods)
    }

    /// A JSON merge patch, enough to layer test specifics over the defaults above.
    fn merge(base: &mut Value, extra: Value) {
        match (base, extra) {
            (Value::Object(b), Value::Object(e)) => {
                for (k, v) in e {
                    merge(b.entry(k).or_insert(Value::Null), v);
                }
            }
            (b, e) => *b = e,
        }
    }
}
