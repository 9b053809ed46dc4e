//! TaintToleration: a node's `NoSchedule` and `NoExecute` taints keep out every pod that does
//! not tolerate them.
//!
//! kube-scheduler v1.32 has no filter on the `Ready` condition. A node that is not ready is
//! kept out by the `node.kubernetes.io/not-ready` (or `.../unreachable`) `NoSchedule` taint
//! that the kubelet registers with and the node lifecycle controller maintains. This
//! control plane may run without that controller, so [`effective_taints`] adds the taint the
//! controller would have added when the node does not carry it yet; the message is then the
//! same one kube-scheduler prints for such a node.

use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};

use super::{Code, Rejection};
use crate::snapshot::NodeInfo;

/// Taint of a node whose Ready condition is False (or missing).
pub const NOT_READY_TAINT_KEY: &str = "node.kubernetes.io/not-ready";
/// Taint of a node whose Ready condition is Unknown (the kubelet stopped reporting).
pub const UNREACHABLE_TAINT_KEY: &str = "node.kubernetes.io/unreachable";

/// kube-scheduler's reason, naming the first untolerated taint.
pub fn reason(taint: &Taint) -> String {
    format!(
        "node(s) had untolerated taint {{{}: {}}}",
        taint.key,
        taint.value.as_deref().unwrap_or("")
    )
}

/// Whether one toleration covers one taint (Kubernetes' `ToleratesTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    let operator = toleration.operator.as_deref().unwrap_or("Equal");
    // An empty key with Exists is the wildcard; an empty key with Equal matches nothing
    // real, because validation forbids it.
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match operator {
        "Exists" => true,
        "Equal" | "" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

/// The pod's tolerations, or none.
pub fn tolerations_of(pod: &Pod) -> &[Toleration] {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default()
}

/// `spec.taints`, plus the readiness taint the node lifecycle controller would add.
pub fn effective_taints(node: &Node) -> Vec<Taint> {
    let mut taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.as_str());
    let implied = match ready {
        Some("True") => None,
        Some("Unknown") => Some(UNREACHABLE_TAINT_KEY),
        _ => Some(NOT_READY_TAINT_KEY),
    };
    if let Some(key) = implied {
        if !taints
            .iter()
            .any(|t| t.key == key && t.effect == "NoSchedule")
        {
            taints.push(Taint {
                key: key.to_string(),
                effect: "NoSchedule".to_string(),
                ..Taint::default()
            });
        }
    }
    taints
}

/// Checks the node's cached [`NodeInfo::taints`] (the [`effective_taints`]).
pub fn filter(pod: &Pod, node: &NodeInfo) -> Result<(), Rejection> {
    let tolerations = tolerations_of(pod);
    let untolerated = node.taints().iter().find(|taint| {
        matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute")
            && !tolerations.iter().any(|t| tolerates(t, taint))
    });
    match untolerated {
        Some(taint) => Err(Rejection::new(
            Code::UnschedulableAndUnresolvable,
            reason(taint),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{info, node, pod};
    use serde_json::json;

    fn tainted(taints: serde_json::Value) -> NodeInfo {
        info(node("n", json!({"spec": {"taints": taints}})), vec![])
    }

    #[test]
    fn an_untolerated_no_schedule_taint_is_named_in_the_reason() {
        let n = tainted(
            json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]),
        );
        let err = filter(&pod("p", json!({})), &n).unwrap_err();
        assert_eq!(
            err.reasons,
            ["node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"]
        );
        assert_eq!(err.code, Code::UnschedulableAndUnresolvable);
    }

    #[test]
    fn a_matching_equal_toleration_admits_the_pod() {
        let n = tainted(json!([{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]));
        let p = pod(
            "p",
            json!({"spec": {"tolerations": [{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]}}),
        );
        assert!(filter(&p, &n).is_ok());
        let wrong = pod(
            "p",
            json!({"spec": {"tolerations": [{"key": "dedicated", "value": "cpu"}]}}),
        );
        assert_eq!(
            filter(&wrong, &n).unwrap_err().reasons,
            ["node(s) had untolerated taint {dedicated: gpu}"]
        );
    }

    #[test]
    fn prefer_no_schedule_taints_do_not_filter() {
        let n = tainted(json!([{"key": "soft", "effect": "PreferNoSchedule"}]));
        assert!(filter(&pod("p", json!({})), &n).is_ok());
    }

    #[test]
    fn an_exists_toleration_without_key_tolerates_every_taint_of_its_effect() {
        let n = tainted(json!([
            {"key": "a", "value": "1", "effect": "NoSchedule"},
            {"key": "b", "effect": "NoSchedule"},
        ]));
        let p = pod(
            "p",
            json!({"spec": {"tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]}}),
        );
        assert!(filter(&p, &n).is_ok());
    }

    #[test]
    fn a_not_ready_node_is_kept_out_by_its_implied_taint() {
        let n = info(
            node(
                "n",
                json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
            ),
            vec![],
        );
        assert_eq!(
            filter(&pod("p", json!({})), &n).unwrap_err().reasons,
            ["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]
        );
        let unknown = info(
            node(
                "n",
                json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
            ),
            vec![],
        );
        assert_eq!(
            filter(&pod("p", json!({})), &unknown).unwrap_err().reasons,
            ["node(s) had untolerated taint {node.kubernetes.io/unreachable: }"]
        );
    }
}
