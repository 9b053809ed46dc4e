//! NodeAffinity scoring: the summed weights of the pod's preferred node-affinity terms that
//! the node matches, scaled so the best node gets 100.

use k8s_openapi::api::core::v1::Pod;

use super::normalize;
use crate::filter::node_affinity::term_matches;
use crate::snapshot::NodeInfo;

/// The raw (unnormalised) sum of matching preference weights.
pub fn raw(pod: &Pod, node: &NodeInfo) -> i64 {
    let preferred = pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        });
    preferred
        .iter()
        .flat_map(|p| p.iter())
        .filter(|t| term_matches(&t.preference, node.labels(), node.name()))
        .map(|t| i64::from(t.weight))
        .sum()
}

pub fn score(pod: &Pod, nodes: &[&NodeInfo]) -> Vec<i64> {
    let mut scores: Vec<i64> = nodes.iter().map(|n| raw(pod, n)).collect();
    normalize(&mut scores, false);
    scores
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{info, node, pod};
    use serde_json::json;

    #[test]
    fn matching_preferences_add_their_weights_and_are_normalised() {
        let p = pod(
            "p",
            json!({"spec": {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}},
                {"weight": 30, "preference": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}},
            ]}}}}),
        );
        let ssd = info(
            node("a", json!({"metadata": {"labels": {"disk": "ssd"}}})),
            vec![],
        );
        let both = info(
            node(
                "b",
                json!({"metadata": {"labels": {"disk": "ssd", "gpu": "1"}}}),
            ),
            vec![],
        );
        let none = info(node("c", json!({})), vec![]);
        assert_eq!(raw(&p, &ssd), 10);
        assert_eq!(score(&p, &[&ssd, &both, &none]), [25, 100, 0]);
    }
}
