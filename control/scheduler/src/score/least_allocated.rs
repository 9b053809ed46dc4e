//! NodeResourcesFit scoring with the default LeastAllocated strategy: prefer the node whose
//! cpu and memory (weight 1 each) stay the most free after placing the pod.
//!
//! Requests here are the "non-zero" ones (100m / 200Mi for a container that states none), so
//! best-effort pods still count against a node and spread out.

use k8s_openapi::api::core::v1::Pod;

use super::MAX_NODE_SCORE;
use crate::resources::{pod_requests, Resources};
use crate::snapshot::NodeInfo;

fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// One node's score: the mean over cpu and memory of the free share, 0..=100.
pub fn node_score(pod: &Pod, node: &NodeInfo) -> i64 {
    score_for(pod_requests(pod, true), node)
}

/// [`node_score`] for a pod whose non-zero requests are `want`.
fn score_for(want: Resources, node: &NodeInfo) -> i64 {
    let used = node.non_zero_requested();
    let alloc = node.allocatable();
    let mut total = 0;
    let mut weights = 0;
    for (requested, capacity) in [
        (used.milli_cpu + want.milli_cpu, alloc.milli_cpu),
        (used.memory + want.memory, alloc.memory),
    ] {
        // A resource the node does not report is left out rather than scored zero.
        if capacity == 0 {
            continue;
        }
        total += least_requested(requested, capacity);
        weights += 1;
    }
    if weights == 0 {
        0
    } else {
        total / weights
    }
}

pub fn score(pod: &Pod, nodes: &[&NodeInfo]) -> Vec<i64> {
    let want = pod_requests(pod, true);
    nodes.iter().map(|n| score_for(want, n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{info, node, pod, requesting};
    use serde_json::json;

    #[test]
    fn an_empty_node_scores_higher_than_a_busy_one() {
        let p = requesting("p", "1", "2Gi");
        let empty = info(node("a", json!({})), vec![]);
        let busy = info(node("b", json!({})), vec![requesting("x", "2", "4Gi")]);
        // cpu (4-1)/4 = 75, memory (8-2)/8 = 75
        assert_eq!(node_score(&p, &empty), 75);
        // cpu (4-3)/4 = 25, memory (8-6)/8 = 25
        assert_eq!(node_score(&p, &busy), 25);
    }

    #[test]
    fn best_effort_pods_are_counted_with_default_requests() {
        let p = pod("p", json!({}));
        let n = info(
            node(
                "a",
                json!({"status": {"allocatable": {"cpu": "1", "memory": "1000Mi"}}}),
            ),
            vec![],
        );
        // cpu (1000-100)/1000 = 90, memory (1000-200)/1000 = 80
        assert_eq!(node_score(&p, &n), 85);
    }
}
