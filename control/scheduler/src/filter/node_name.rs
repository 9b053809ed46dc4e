//! NodeName: a pod that already names a node in `spec.nodeName` fits only there.

use k8s_openapi::api::core::v1::Pod;

use super::{Code, Rejection};
use crate::snapshot::NodeInfo;

/// kube-scheduler's reason for every other node.
pub const REASON: &str = "node(s) didn't match the requested node name";

pub fn filter(pod: &Pod, node: &NodeInfo) -> Result<(), Rejection> {
    match pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
        Some(wanted) if !wanted.is_empty() && wanted != node.name() => {
            Err(Rejection::new(Code::UnschedulableAndUnresolvable, REASON))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{info, node, pod};
    use serde_json::json;

    #[test]
    fn only_the_named_node_fits() {
        let p = pod("p", json!({"spec": {"nodeName": "a"}}));
        assert!(filter(&p, &info(node("a", json!({})), vec![])).is_ok());
        assert!(filter(&p, &info(node("b", json!({})), vec![])).is_err());
    }
}
