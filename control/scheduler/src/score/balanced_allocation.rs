//! NodeResourcesBalancedAllocation: prefer the node whose cpu and memory utilisation end up
//! closest to each other, so that neither is stranded while the other runs out.
//!
//! Unlike LeastAllocated this uses the real requests (no non-zero defaults), as Kubernetes
//! does.

use k8s_openapi::api::core::v1::Pod;

use super::MAX_NODE_SCORE;
use crate::resources::{pod_requests, Resources};
use crate::snapshot::NodeInfo;

/// One node's score: 100 × (1 − the standard deviation of the utilisation fractions).
pub fn node_score(pod: &Pod, node: &NodeInfo) -> i64 {
    score_for(pod_requests(pod, false), node)
}

/// [`node_score`] for a pod whose requests are `want`.
fn score_for(want: Resources, node: &NodeInfo) -> i64 {
    let used = node.requested();
    let alloc = node.allocatable();
    let fraction = |requested: i64, capacity: i64| {
        (capacity != 0).then(|| (requested as f64 / capacity as f64).min(1.0))
    };
    let cpu = fraction(used.milli_cpu + want.milli_cpu, alloc.milli_cpu);
    let memory = fraction(used.memory + want.memory, alloc.memory);
    // With two resources the standard deviation is half their difference; with fewer (a
    // resource the node does not report) it is zero.
    let std = match (cpu, memory) {
        (Some(a), Some(b)) => ((a - b) / 2.0).abs(),
        _ => 0.0,
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

pub fn score(pod: &Pod, nodes: &[&NodeInfo]) -> Vec<i64> {
    let want = pod_requests(pod, false);
    nodes.iter().map(|n| score_for(want, n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{info, node, requesting};
    use serde_json::json;

    #[test]
    fn equal_utilisation_scores_the_maximum() {
        let n = info(node("a", json!({})), vec![]);
        // cpu 2/4 = 0.5, memory 4/8 = 0.5
        assert_eq!(node_score(&requesting("p", "2", "4Gi"), &n), 100);
    }

    #[test]
    fn lopsided_utilisation_scores_lower() {
        let n = info(node("a", json!({})), vec![requesting("x", "3", "0")]);
        // cpu 4/4 = 1.0, memory 0/8 = 0 → std 0.5
        assert_eq!(node_score(&requesting("p", "1", "0"), &n), 50);
    }
}
