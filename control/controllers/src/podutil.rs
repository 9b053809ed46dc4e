//! Pod facts the workload controllers decide on: whether a pod still counts (active), whether
//! it is ready and available (ready for at least `minReadySeconds`), and the order in which a
//! controller with too many pods picks the ones to delete.

use std::cmp::Ordering;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Pod, PodCondition};

/// A pod counts toward a controller's replicas while it can still run: it has not terminated
/// (`Succeeded`/`Failed`) and nobody has asked for its deletion. A terminating pod is already
/// on its way out, so counting it would delay its replacement.
pub fn is_pod_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(phase, Some("Succeeded") | Some("Failed"))
        && pod.metadata.deletion_timestamp.is_none()
}

/// The pod's `Ready` condition, if the kubelet has reported one.
pub fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// Whether the pod's `Ready` condition is `True`.
pub fn is_pod_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// When the pod last became ready, if it is ready and the transition time is known.
fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let condition = ready_condition(pod).filter(|c| c.status == "True")?;
    condition.last_transition_time.as_ref().map(|t| t.0)
}

/// A pod is available once it has been ready for `min_ready_seconds`. With zero the pod is
/// available as soon as it is ready; otherwise a ready pod without a transition time is not
/// yet trusted. The comparison is strict, as in Kubernetes: ready at `t` with 10 s is
/// available only after `t + 10s`.
pub fn is_pod_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    if !is_pod_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    match ready_since(pod) {
        Some(since) => since + SignedDuration::from_secs(i64::from(min_ready_seconds)) < now,
        None => false,
    }
}

/// The highest restart count among the pod's containers: a crash-looping container marks the
/// whole pod as the least healthy.
pub fn max_container_restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
}

fn phase_rank(pod: &Pod) -> u8 {
    // Pods that have done the least work go first: a pending pod costs nothing to lose, an
    // unknown one may be gone already, a running one is serving.
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") => 0,
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 0,
    }
}

/// The order in which surplus pods are deleted: `Less` means `a` goes before `b`.
///
/// Following Kubernetes' `ActivePods` ordering, the cheapest pod to lose goes first:
/// unscheduled before scheduled, `Pending` before `Unknown` before `Running`, not ready before
/// ready, ready for a shorter time before longer, more container restarts before fewer, and
/// newer before older. Kubernetes additionally ranks pods that share a node with their
/// siblings first and (with `LogarithmicScaleDown`) buckets the times on a log scale; this
/// compares the times exactly, and breaks the final tie by name so the plan is deterministic.
pub fn deletion_order(a: &Pod, b: &Pod, now: Timestamp) -> Ordering {
    let assigned = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    assigned(a)
        .cmp(&assigned(b))
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        .then_with(|| is_pod_ready(a).cmp(&is_pod_ready(b)))
        .then_with(|| {
            if !(is_pod_ready(a) && is_pod_ready(b)) {
                return Ordering::Equal;
            }
            // A missing time counts as "just became ready", so that pod goes first.
            let ready_for = |p: &Pod| ready_since(p).map(|t| now.duration_since(t));
            match (ready_for(a), ready_for(b)) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => x.cmp(&y),
            }
        })
        .then_with(|| max_container_restarts(b).cmp(&max_container_restarts(a)))
        .then_with(|| {
            let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
            match (created(a), created(b)) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                // Newer first: the later timestamp sorts before the earlier one.
                (Some(x), Some(y)) => y.cmp(&x),
            }
        })
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::now;
    use serde_json::json;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn terminated_and_terminating_pods_are_not_active() {
        assert!(is_pod_active(&pod(
            json!({"metadata": {"name": "a"}, "status": {"phase": "Running"}})
        )));
        assert!(!is_pod_active(&pod(
            json!({"metadata": {"name": "a"}, "status": {"phase": "Failed"}})
        )));
        assert!(!is_pod_active(&pod(
            json!({"metadata": {"name": "a"}, "status": {"phase": "Succeeded"}})
        )));
        assert!(!is_pod_active(&pod(json!({
            "metadata": {"name": "a", "deletionTimestamp": "2024-05-01T11:00:00Z"},
            "status": {"phase": "Running"}
        }))));
    }

    #[test]
    fn a_pod_is_available_only_after_min_ready_seconds_of_readiness() {
        let p = pod(json!({
            "metadata": {"name": "a"},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T11:59:50Z"}
            ]}
        }));
        assert!(is_pod_available(&p, 0, now()));
        assert!(is_pod_available(&p, 5, now()));
        assert!(
            !is_pod_available(&p, 10, now()),
            "exactly min ready seconds is not enough"
        );
        assert!(!is_pod_available(&p, 30, now()));
    }

    #[test]
    fn more_restarts_go_before_fewer_when_all_else_is_equal() {
        let mk = |name: &str, restarts: i32| {
            pod(json!({
                "metadata": {"name": name, "creationTimestamp": "2024-05-01T10:00:00Z"},
                "spec": {"nodeName": "n1", "containers": []},
                "status": {"phase": "Running", "containerStatuses": [
                    {"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": restarts}
                ]}
            }))
        };
        assert_eq!(
            deletion_order(&mk("a", 5), &mk("b", 1), now()),
            Ordering::Less
        );
    }
}
