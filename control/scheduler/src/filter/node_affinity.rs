//! NodeAffinity: `spec.nodeSelector` and the required node affinity must both match the
//! node's labels (and, for `matchFields`, its name).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod};

use super::{Code, Rejection};
use crate::snapshot::NodeInfo;

/// kube-scheduler's reason, shared by the selector and the affinity.
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

/// One `matchExpressions` / `matchFields` requirement against a value lookup.
fn requirement_matches(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = req.values.as_deref().unwrap_or_default();
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| values.iter().all(|x| x != v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        // Gt and Lt compare integers; a value that is not one never matches.
        "Gt" | "Lt" => {
            let (Some(v), [bound]) = (value, values) else {
                return false;
            };
            match (v.parse::<i64>(), bound.parse::<i64>()) {
                (Ok(v), Ok(b)) if req.operator == "Gt" => v > b,
                (Ok(v), Ok(b)) => v < b,
                _ => false,
            }
        }
        _ => false,
    }
}

/// A term is the AND of its requirements; an empty term matches no node.
pub fn term_matches(
    term: &NodeSelectorTerm,
    labels: &BTreeMap<String, String>,
    name: &str,
) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            // metadata.name is the only field Kubernetes allows here.
            let value = (r.key == "metadata.name").then_some(name);
            requirement_matches(r, value)
        })
}

/// A node selector is the OR of its terms.
pub fn selector_matches(sel: &NodeSelector, labels: &BTreeMap<String, String>, name: &str) -> bool {
    sel.node_selector_terms
        .iter()
        .any(|t| term_matches(t, labels, name))
}

/// Whether the node satisfies the pod's nodeSelector and required node affinity.
pub fn matches(pod: &Pod, node: &NodeInfo) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    let labels = node.labels();
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    selector_ok && required.is_none_or(|r| selector_matches(r, labels, node.name()))
}

pub fn filter(pod: &Pod, node: &NodeInfo) -> Result<(), Rejection> {
    if matches(pod, node) {
        Ok(())
    } else {
        Err(Rejection::new(Code::UnschedulableAndUnresolvable, REASON))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{info, node, pod};
    use serde_json::json;

    fn zoned(zone: &str) -> NodeInfo {
        info(
            node(
                "n1",
                json!({"metadata": {"labels": {"topology.kubernetes.io/zone": zone, "cores": "8"}}}),
            ),
            vec![],
        )
    }

    fn required(terms: serde_json::Value) -> Pod {
        pod(
            "p",
            json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}}),
        )
    }

    #[test]
    fn node_selector_needs_every_label() {
        let p = pod(
            "p",
            json!({"spec": {"nodeSelector": {"topology.kubernetes.io/zone": "a"}}}),
        );
        assert!(filter(&p, &zoned("a")).is_ok());
        assert_eq!(filter(&p, &zoned("b")).unwrap_err().reasons, [REASON]);
    }

    #[test]
    fn required_terms_are_ored_and_expressions_anded() {
        let p = required(json!([
            {"matchExpressions": [
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]},
                {"key": "cores", "operator": "Gt", "values": ["16"]},
            ]},
            {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "NotIn", "values": ["a"]}]},
        ]));
        assert!(filter(&p, &zoned("a")).is_err());
        assert!(filter(&p, &zoned("b")).is_ok());
    }

    #[test]
    fn match_fields_select_by_node_name() {
        let p = required(
            json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]),
        );
        assert!(filter(&p, &zoned("a")).is_ok());
        let other = required(
            json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]),
        );
        assert!(filter(&other, &zoned("a")).is_err());
    }

    #[test]
    fn an_empty_term_matches_nothing() {
        assert!(filter(&required(json!([{}])), &zoned("a")).is_err());
    }
}
