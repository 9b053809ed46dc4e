//! NodeResourcesFit: the pod's requests must fit in what `status.allocatable` leaves after
//! the requests of the pods already on the node, and the node's pod count must have room.
//!
//! Only cpu, memory and the pod count are checked; ephemeral storage and extended resources
//! are not yet.

use k8s_openapi::api::core::v1::Pod;

use super::{Code, Rejection};
use crate::resources::{pod_requests, Resources};
use crate::snapshot::NodeInfo;

pub const TOO_MANY_PODS: &str = "Too many pods";
pub const INSUFFICIENT_CPU: &str = "Insufficient cpu";
pub const INSUFFICIENT_MEMORY: &str = "Insufficient memory";

/// Every shortfall for a pod requesting `want`, in kube-scheduler's order: pod count, cpu,
/// memory. `want` is the pod's [`pod_requests`] (without defaults), computed once per
/// scheduling cycle; the node side comes from its cached aggregates.
pub fn insufficient(want: Resources, node: &NodeInfo) -> Vec<&'static str> {
    let mut reasons = Vec::new();
    if node.pods().len() as i64 + 1 > node.max_pods() {
        reasons.push(TOO_MANY_PODS);
    }
    // A pod that requests nothing only needs a pod slot.
    if want.is_zero() {
        return reasons;
    }
    let alloc = node.allocatable();
    let used = node.requested();
    if want.milli_cpu > 0 && want.milli_cpu > alloc.milli_cpu - used.milli_cpu {
        reasons.push(INSUFFICIENT_CPU);
    }
    if want.memory > 0 && want.memory > alloc.memory - used.memory {
        reasons.push(INSUFFICIENT_MEMORY);
    }
    reasons
}

/// The filter for a pod requesting `want` (see [`insufficient`]).
pub fn check(want: Resources, node: &NodeInfo) -> Result<(), Rejection> {
    let reasons = insufficient(want, node);
    if reasons.is_empty() {
        return Ok(());
    }
    Err(Rejection {
        code: Code::Unschedulable,
        reasons: reasons.into_iter().map(String::from).collect(),
    })
}

pub fn filter(pod: &Pod, node: &NodeInfo) -> Result<(), Rejection> {
    check(pod_requests(pod, false), node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{info, node, pod, requesting};
    use serde_json::json;

    #[test]
    fn a_pod_that_fits_the_remaining_allocatable_passes() {
        let n = info(node("n", json!({})), vec![requesting("a", "3", "4Gi")]);
        assert!(filter(&requesting("p", "1", "4Gi"), &n).is_ok());
    }

    #[test]
    fn cpu_and_memory_shortfalls_are_both_reported() {
        let n = info(node("n", json!({})), vec![requesting("a", "3500m", "7Gi")]);
        assert_eq!(
            filter(&requesting("p", "1", "2Gi"), &n)
                .unwrap_err()
                .reasons,
            [INSUFFICIENT_CPU, INSUFFICIENT_MEMORY]
        );
    }

    #[test]
    fn a_full_node_has_too_many_pods_even_for_best_effort_pods() {
        let n = info(
            node("n", json!({"status": {"allocatable": {"pods": "1"}}})),
            vec![pod("a", json!({}))],
        );
        assert_eq!(
            filter(&pod("p", json!({})), &n).unwrap_err().reasons,
            [TOO_MANY_PODS]
        );
    }

    #[test]
    fn best_effort_pods_ignore_cpu_and_memory() {
        let n = info(node("n", json!({})), vec![requesting("a", "4", "8Gi")]);
        assert!(filter(&pod("p", json!({})), &n).is_ok());
    }
}
