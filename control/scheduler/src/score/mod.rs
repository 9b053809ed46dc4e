//! Scores: among the nodes that passed every filter, which is best?
//!
//! Each plugin gives every feasible node 0..=100 (after its own normalisation over all of
//! them) and the total is the weighted sum, with kube-scheduler v1.32's default weights:
//! TaintToleration 3, NodeAffinity 2, PodTopologySpread 2, NodeResourcesFit 1,
//! NodeResourcesBalancedAllocation 1. InterPodAffinity (preferred terms, weight 2) and
//! ImageLocality (weight 1) are not implemented; they add nothing here.

pub mod balanced_allocation;
pub mod least_allocated;
pub mod node_affinity;
pub mod taint_toleration;
pub mod topology_spread;

use k8s_openapi::api::core::v1::Pod;

use crate::snapshot::{NodeInfo, Snapshot};

/// Highest score one plugin gives a node.
pub const MAX_NODE_SCORE: i64 = 100;

pub const TAINT_TOLERATION_WEIGHT: i64 = 3;
pub const NODE_AFFINITY_WEIGHT: i64 = 2;
pub const POD_TOPOLOGY_SPREAD_WEIGHT: i64 = 2;
pub const NODE_RESOURCES_FIT_WEIGHT: i64 = 1;
pub const BALANCED_ALLOCATION_WEIGHT: i64 = 1;

/// The weighted total of every plugin for each of `feasible`, in the same order.
pub fn total(pod: &Pod, feasible: &[&NodeInfo], snapshot: &Snapshot) -> Vec<i64> {
    let parts = [
        (
            TAINT_TOLERATION_WEIGHT,
            taint_toleration::score(pod, feasible),
        ),
        (NODE_AFFINITY_WEIGHT, node_affinity::score(pod, feasible)),
        (
            POD_TOPOLOGY_SPREAD_WEIGHT,
            topology_spread::score(pod, feasible, snapshot),
        ),
        (
            NODE_RESOURCES_FIT_WEIGHT,
            least_allocated::score(pod, feasible),
        ),
        (
            BALANCED_ALLOCATION_WEIGHT,
            balanced_allocation::score(pod, feasible),
        ),
    ];
    (0..feasible.len())
        .map(|i| parts.iter().map(|(w, s)| w * s[i]).sum())
        .collect()
}

/// Kubernetes' `DefaultNormalizeScore`: scale so the highest raw score becomes 100, and with
/// `reverse` turn "more is worse" into "more is better".
pub fn normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let scaled = MAX_NODE_SCORE * *s / max;
        *s = if reverse {
            MAX_NODE_SCORE - scaled
        } else {
            scaled
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_scales_to_the_maximum_and_can_reverse() {
        let mut s = [0, 1, 4];
        normalize(&mut s, false);
        assert_eq!(s, [0, 25, 100]);
        let mut r = [0, 1, 4];
        normalize(&mut r, true);
        assert_eq!(r, [100, 75, 0]);
        let mut zeros = [0, 0];
        normalize(&mut zeros, true);
        assert_eq!(zeros, [100, 100]);
    }
}
