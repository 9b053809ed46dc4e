//! NodeUnschedulable: a cordoned node (`spec.unschedulable`) only takes pods that tolerate
//! the `node.kubernetes.io/unschedulable:NoSchedule` taint the cordon implies.

use std::sync::LazyLock;

use k8s_openapi::api::core::v1::{Pod, Taint};

use super::taint_toleration::tolerates;
use super::{Code, Rejection};
use crate::snapshot::NodeInfo;

/// The taint a cordon stands for.
pub const UNSCHEDULABLE_TAINT_KEY: &str = "node.kubernetes.io/unschedulable";
/// kube-scheduler's reason for a cordoned node.
pub const REASON: &str = "node(s) were unschedulable";

/// The taint a cordon stands for, built once rather than for every cordoned node examined.
static CORDON_TAINT: LazyLock<Taint> = LazyLock::new(|| Taint {
    key: UNSCHEDULABLE_TAINT_KEY.to_string(),
    effect: "NoSchedule".to_string(),
    ..Taint::default()
});

pub fn filter(pod: &Pod, node: &NodeInfo) -> Result<(), Rejection> {
    let cordoned = node
        .node()
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    if !cordoned {
        return Ok(());
    }
    let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.as_deref());
    if tolerations
        .unwrap_or_default()
        .iter()
        .any(|t| tolerates(t, &CORDON_TAINT))
    {
        return Ok(());
    }
    Err(Rejection::new(Code::UnschedulableAndUnresolvable, REASON))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{info, node, pod};
    use serde_json::json;

    #[test]
    fn a_cordoned_node_rejects_ordinary_pods() {
        let n = info(node("n", json!({"spec": {"unschedulable": true}})), vec![]);
        let err = filter(&pod("p", json!({})), &n).unwrap_err();
        assert_eq!(err.reasons, [REASON]);
    }

    #[test]
    fn a_cordoned_node_accepts_pods_tolerating_the_cordon() {
        let n = info(node("n", json!({"spec": {"unschedulable": true}})), vec![]);
        let p = pod(
            "p",
            json!({"spec": {"tolerations": [{"key": UNSCHEDULABLE_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]}}),
        );
        assert!(filter(&p, &n).is_ok());
    }

    #[test]
    fn an_uncordoned_node_passes() {
        assert!(filter(&pod("p", json!({})), &info(node("n", json!({})), vec![])).is_ok());
    }
}
