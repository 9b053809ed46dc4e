//! TaintToleration scoring: prefer nodes with fewer `PreferNoSchedule` taints the pod does
//! not tolerate. Only tolerations with an empty or `PreferNoSchedule` effect count.

use k8s_openapi::api::core::v1::{Pod, Toleration};

use super::normalize;
use crate::filter::taint_toleration::{tolerates, tolerations_of};
use crate::snapshot::NodeInfo;

/// The pod's tolerations that can tolerate `PreferNoSchedule` taints.
fn soft_tolerations(pod: &Pod) -> Vec<&Toleration> {
    tolerations_of(pod)
        .iter()
        .filter(|t| {
            matches!(
                t.effect.as_deref(),
                None | Some("") | Some("PreferNoSchedule")
            )
        })
        .collect()
}

/// How many `PreferNoSchedule` taints of the node the pod does not tolerate.
pub fn intolerable(pod: &Pod, node: &NodeInfo) -> i64 {
    count(&soft_tolerations(pod), node)
}

fn count(tolerations: &[&Toleration], node: &NodeInfo) -> i64 {
    // The cached taints add only NoSchedule ones to `spec.taints`, so the PreferNoSchedule
    // ones are exactly the node's own.
    node.taints()
        .iter()
        .filter(|taint| taint.effect == "PreferNoSchedule")
        .filter(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
        .count() as i64
}

pub fn score(pod: &Pod, nodes: &[&NodeInfo]) -> Vec<i64> {
    let tolerations = soft_tolerations(pod);
    let mut scores: Vec<i64> = nodes.iter().map(|n| count(&tolerations, n)).collect();
    normalize(&mut scores, true);
    scores
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{info, node, pod};
    use serde_json::json;

    #[test]
    fn untolerated_prefer_no_schedule_taints_lower_the_score() {
        let soft = info(
            node(
                "a",
                json!({"spec": {"taints": [
                    {"key": "x", "effect": "PreferNoSchedule"},
                    {"key": "y", "effect": "PreferNoSchedule"},
                ]}}),
            ),
            vec![],
        );
        let clean = info(node("b", json!({})), vec![]);
        let p = pod("p", json!({}));
        assert_eq!(score(&p, &[&soft, &clean]), [0, 100]);
        let tolerant = pod(
            "p",
            json!({"spec": {"tolerations": [{"key": "x", "operator": "Exists"}]}}),
        );
        assert_eq!(intolerable(&tolerant, &soft), 1);
    }
}
