//! The cluster as one scheduling decision sees it: every node and the pods bound, or being
//! bound ("assumed"), to it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};

/// All nodes with their pods. Node order does not influence the decision.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub nodes: Vec<NodeInfo>,
}

/// One node and the pods bound or being bound to it.
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    pub node: Node,
    pub pods: Vec<Pod>,
}

impl Snapshot {
    /// Groups `pods` under the node their `spec.nodeName` names. Unbound pods, pods on unknown
    /// nodes and finished pods (phase Succeeded or Failed) are left out: kube-scheduler's pod
    /// informer does not even watch finished pods, since they hold no resources.
    pub fn new(nodes: Vec<Node>, pods: &[Pod]) -> Snapshot {
        let mut by_node: BTreeMap<&str, Vec<Pod>> = BTreeMap::new();
        for pod in pods {
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            if matches!(phase, Some("Succeeded" | "Failed")) {
                continue;
            }
            if let Some(name) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
                by_node.entry(name).or_default().push(pod.clone());
            }
        }
        let nodes = nodes
            .into_iter()
            .map(|node| {
                let pods = by_node.remove(name_of(&node)).unwrap_or_default();
                NodeInfo { node, pods }
            })
            .collect();
        Snapshot { nodes }
    }

    /// The node with this name.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.name() == name)
    }
}

fn name_of(node: &Node) -> &str {
    node.metadata.name.as_deref().unwrap_or("")
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

impl NodeInfo {
    /// `metadata.name`, or empty.
    pub fn name(&self) -> &str {
        name_of(&self.node)
    }

    /// `metadata.labels`, or an empty map.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        self.node.metadata.labels.as_ref().unwrap_or(&NO_LABELS)
    }
}

/// `metadata.labels` of a pod, or an empty map.
pub fn pod_labels(pod: &Pod) -> &BTreeMap<String, String> {
    pod.metadata.labels.as_ref().unwrap_or(&NO_LABELS)
}

/// `metadata.namespace` of a pod, `default` when unset.
pub fn pod_namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pods_are_grouped_under_their_node_and_finished_ones_dropped() {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap();
        let pod = |name: &str, node: Option<&str>, phase: &str| -> Pod {
            serde_json::from_value(json!({
                "metadata": {"name": name},
                "spec": {"nodeName": node, "containers": []},
                "status": {"phase": phase},
            }))
            .unwrap()
        };
        let snapshot = Snapshot::new(
            vec![node],
            &[
                pod("running", Some("n1"), "Running"),
                pod("done", Some("n1"), "Succeeded"),
                pod("pending", None, "Pending"),
                pod("elsewhere", Some("n9"), "Running"),
            ],
        );
        let names: Vec<_> = snapshot.nodes[0]
            .pods
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["running"]);
    }
}
