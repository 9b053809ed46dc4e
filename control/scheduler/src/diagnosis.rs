//! Why a pod fits nowhere: the `FitError` and its message, worded and ordered as kube-scheduler
//! v1.32 prints it in the `FailedScheduling` event and the pod's `PodScheduled` condition.
//!
//! The message is `0/N nodes are available: ` followed by "count reason" entries sorted as
//! strings (so by count first, as Kubernetes does), then the preemption outcome.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Pod;

use crate::filter::{self, Code, Cycle, Rejection};
use crate::snapshot::{NodeInfo, Snapshot};

/// Preemption outcome for a node whose rejection no eviction can fix.
pub const PREEMPTION_NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// Preemption outcome for a node without lower-priority pods to evict.
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
/// Preemption outcome for a pod that may not preempt.
pub const PREEMPTION_POLICY_NEVER: &str = "not eligible due to preemptionPolicy=Never.";

/// No node can take the pod.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FitError {
    /// How many nodes were considered.
    pub num_nodes: usize,
    /// Each reason and on how many nodes it was given.
    pub reasons: BTreeMap<String, usize>,
    /// What DefaultPreemption concluded, without its `preemption: ` prefix. `None` when
    /// evicting lower-priority pods would make room (the caller then has to preempt).
    pub preemption: Option<String>,
}

/// `0/N nodes are available: a, b.` with the histogram entries sorted as strings.
fn availability(num_nodes: usize, reasons: &BTreeMap<String, usize>) -> String {
    let mut entries: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
    entries.sort();
    let mut msg = format!("0/{num_nodes} nodes are available:");
    if !entries.is_empty() {
        msg.push_str(&format!(" {}.", entries.join(", ")));
    }
    msg
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.num_nodes == 0 {
            return f.write_str("no nodes available to schedule pods");
        }
        f.write_str(&availability(self.num_nodes, &self.reasons))?;
        if let Some(p) = &self.preemption {
            write!(f, " preemption: {p}")?;
        }
        Ok(())
    }
}

/// Adds one node's reasons to a histogram.
pub fn count_reasons(histogram: &mut BTreeMap<String, usize>, rejection: &Rejection) {
    for r in &rejection.reasons {
        *histogram.entry(r.clone()).or_default() += 1;
    }
}

fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// DefaultPreemption's dry run over the rejected nodes (`rejections` holds each node's index in
/// `snapshot.nodes()`). `Some(message)` when no node would fit even after evicting every pod of
/// lower priority; `None` when some node would.
///
/// Simplified against Kubernetes: PodDisruptionBudgets and victim minimisation do not matter
/// for this yes/no question and are not modelled.
pub fn preemption_message(
    pod: &Pod,
    snapshot: &Snapshot,
    rejections: &[(usize, Rejection)],
) -> Option<String> {
    let policy = pod
        .spec
        .as_ref()
        .and_then(|s| s.preemption_policy.as_deref());
    if policy == Some("Never") {
        return Some(PREEMPTION_POLICY_NEVER.to_string());
    }
    let mine = priority(pod);
    let mut histogram = BTreeMap::new();
    // One copy of the snapshot, made only if some node has victims; each node's what-if
    // swaps that node's pods in and out of it rather than copying the cluster again.
    let mut reduced: Option<Snapshot> = None;
    for (index, rejection) in rejections {
        if rejection.code == Code::UnschedulableAndUnresolvable {
            *histogram
                .entry(PREEMPTION_NOT_HELPFUL.to_string())
                .or_default() += 1;
            continue;
        }
        let node = &snapshot.nodes()[*index];
        let (victims, kept): (Vec<&Pod>, Vec<&Pod>) =
            node.pods().iter().partition(|p| priority(p) < mine);
        if victims.is_empty() {
            *histogram.entry(NO_VICTIMS.to_string()).or_default() += 1;
            continue;
        }
        let reduced = reduced.get_or_insert_with(|| snapshot.clone());
        let without_victims =
            NodeInfo::new(node.node().clone(), kept.into_iter().cloned().collect());
        let original = reduced.replace_node(*index, without_victims);
        let cycle = Cycle::new(pod, reduced);
        let outcome = filter::run(pod, &reduced.nodes()[*index], &cycle);
        reduced.replace_node(*index, original);
        match outcome {
            Ok(()) => return None,
            Err(still) => count_reasons(&mut histogram, &still),
        }
    }
    Some(availability(snapshot.nodes().len(), &histogram))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit_error(reasons: &[(&str, usize)], preemption: Option<&str>) -> FitError {
        FitError {
            num_nodes: 3,
            reasons: reasons.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
            preemption: preemption.map(String::from),
        }
    }

    #[test]
    fn reasons_are_sorted_as_count_then_text() {
        let e = fit_error(
            &[
                ("Insufficient cpu", 2),
                (
                    "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
                    1,
                ),
            ],
            None,
        );
        assert_eq!(
            e.to_string(),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu."
        );
    }

    #[test]
    fn the_preemption_outcome_follows_the_filter_reasons() {
        let e = fit_error(
            &[("node(s) didn't match Pod's node affinity/selector", 3)],
            Some("0/3 nodes are available: 3 Preemption is not helpful for scheduling."),
        );
        assert_eq!(
            e.to_string(),
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn an_empty_cluster_has_kubernetes_own_message() {
        let e = FitError {
            num_nodes: 0,
            reasons: BTreeMap::new(),
            preemption: None,
        };
        assert_eq!(e.to_string(), "no nodes available to schedule pods");
    }
}
