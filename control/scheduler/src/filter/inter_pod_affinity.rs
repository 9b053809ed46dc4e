//! InterPodAffinity: required pod affinity and anti-affinity, in both directions.
//!
//! A topology domain is a (label key, value) pair of a node: `kubernetes.io/hostname` makes
//! every node its own domain, `topology.kubernetes.io/zone` groups nodes by zone, and any
//! other key works the same way. Three rules are checked, in kube-scheduler's order:
//! 1. every affinity term of the pod must find a matching pod in the node's domain (a pod
//!    that matches its own terms may start the group when no pod matches anywhere yet);
//! 2. no anti-affinity term of the pod may find a matching pod in the node's domain;
//! 3. no pod already placed may have an anti-affinity term that matches this pod and whose
//!    domain contains the node.
//!
//! `namespaceSelector` needs namespace labels, which a snapshot does not carry: an empty
//! selector (`{}`, all namespaces) is honoured, a non-empty one is treated as selecting none.

use std::collections::{BTreeMap, BTreeSet};

use control_apimachinery::selector::LabelSelector;
use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm};

use super::{Code, Rejection};
use crate::snapshot::{pod_labels, pod_namespace, NodeInfo, Snapshot};

pub const AFFINITY_REASON: &str = "node(s) didn't match pod affinity rules";
pub const ANTI_AFFINITY_REASON: &str = "node(s) didn't match pod anti-affinity rules";
pub const EXISTING_ANTI_AFFINITY_REASON: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

/// A required term with its selector parsed and namespaces resolved.
#[derive(Debug, Clone)]
pub struct Term {
    pub topology_key: String,
    /// `None` means every namespace.
    namespaces: Option<BTreeSet<String>>,
    selector: LabelSelector,
}

impl Term {
    /// Resolves `term` as written in a pod of namespace `owner_namespace`.
    pub fn new(term: &PodAffinityTerm, owner_namespace: &str) -> Term {
        let listed: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        let namespaces = match &term.namespace_selector {
            Some(sel)
                if sel.match_labels.as_ref().is_none_or(|m| m.is_empty())
                    && sel.match_expressions.as_ref().is_none_or(|e| e.is_empty()) =>
            {
                None
            }
            Some(_) => Some(listed),
            None if listed.is_empty() => Some(BTreeSet::from([owner_namespace.to_string()])),
            None => Some(listed),
        };
        // A selector that does not parse was rejected by validation; treat it as matching none.
        let selector = LabelSelector::from_api(term.label_selector.as_ref())
            .unwrap_or_else(|_| LabelSelector::nothing());
        Term {
            topology_key: term.topology_key.clone(),
            namespaces,
            selector,
        }
    }

    /// Whether `pod` is one of the pods this term selects.
    pub fn matches(&self, pod: &Pod) -> bool {
        self.namespaces
            .as_ref()
            .is_none_or(|ns| ns.contains(pod_namespace(pod)))
            && self.selector.matches(pod_labels(pod))
    }
}

/// The required affinity (`anti == false`) or anti-affinity terms of a pod.
pub fn required_terms(pod: &Pod, anti: bool) -> Vec<Term> {
    let affinity = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
    let terms = if anti {
        affinity
            .and_then(|a| a.pod_anti_affinity.as_ref())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
    } else {
        affinity
            .and_then(|a| a.pod_affinity.as_ref())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
    };
    let ns = pod_namespace(pod);
    terms
        .iter()
        .flat_map(|t| t.iter())
        .map(|t| Term::new(t, ns))
        .collect()
}

/// Matching pods per topology domain: label key → label value → count. Nested rather than
/// keyed by `(key, value)` so a node's labels can be looked up as `&str` without building
/// owned keys for every node examined.
type Counts = BTreeMap<String, BTreeMap<String, usize>>;

/// Counts of matching pods per topology domain, computed once per scheduling attempt
/// (kube-scheduler's PreFilter state).
#[derive(Debug, Clone, Default)]
pub struct State {
    affinity: Vec<Term>,
    anti_affinity: Vec<Term>,
    /// Domains holding pods that match all of the pod's affinity terms.
    affinity_counts: Counts,
    /// Domains holding pods that match one of the pod's anti-affinity terms.
    anti_affinity_counts: Counts,
    /// Domains in which some placed pod's anti-affinity term matches the pod.
    existing_anti_affinity_counts: Counts,
    /// Whether the pod satisfies all of its own affinity terms.
    matches_own_affinity: bool,
}

fn bump(counts: &mut Counts, node: &NodeInfo, key: &str) {
    if let Some(value) = node.labels().get(key) {
        let values = match counts.get_mut(key) {
            Some(values) => values,
            None => counts.entry(key.to_string()).or_default(),
        };
        match values.get_mut(value.as_str()) {
            Some(n) => *n += 1,
            None => {
                values.insert(value.clone(), 1);
            }
        }
    }
}

fn count(counts: &Counts, key: &str, value: &str) -> usize {
    counts
        .get(key)
        .and_then(|values| values.get(value))
        .copied()
        .unwrap_or(0)
}

impl State {
    /// Existing pods' anti-affinity is read only from the nodes the snapshot lists as holding
    /// such terms (already parsed there), and every pod in the cluster is visited only when
    /// `pod` has terms of its own to count matches for, as in kube-scheduler. Most pods have
    /// neither, which keeps this O(nodes with anti-affinity pods) instead of O(pods in the
    /// cluster) per scheduling cycle.
    pub fn new(pod: &Pod, snapshot: &Snapshot) -> State {
        let affinity = required_terms(pod, false);
        let anti_affinity = required_terms(pod, true);
        let mut state = State {
            matches_own_affinity: affinity.iter().all(|t| t.matches(pod)),
            ..State::default()
        };
        let nodes = snapshot.nodes();
        for i in snapshot.nodes_with_required_anti_affinity() {
            let node = &nodes[i];
            for term in node.pod_anti_affinity_terms().iter().flatten() {
                if term.matches(pod) {
                    bump(
                        &mut state.existing_anti_affinity_counts,
                        node,
                        &term.topology_key,
                    );
                }
            }
        }
        if !affinity.is_empty() || !anti_affinity.is_empty() {
            for node in nodes {
                for existing in node.pods() {
                    if !affinity.is_empty() && affinity.iter().all(|t| t.matches(existing)) {
                        for term in &affinity {
                            bump(&mut state.affinity_counts, node, &term.topology_key);
                        }
                    }
                    for term in &anti_affinity {
                        if term.matches(existing) {
                            bump(&mut state.anti_affinity_counts, node, &term.topology_key);
                        }
                    }
                }
            }
        }
        state.affinity = affinity;
        state.anti_affinity = anti_affinity;
        state
    }

    fn satisfies_affinity(&self, node: &NodeInfo) -> bool {
        let mut all_found = true;
        for term in &self.affinity {
            // A node without the topology label is in no domain at all.
            let Some(value) = node.labels().get(&term.topology_key) else {
                return false;
            };
            if count(&self.affinity_counts, &term.topology_key, value) == 0 {
                all_found = false;
            }
        }
        // The first pod of a group that is attracted to itself must be able to start it.
        all_found || (self.affinity_counts.is_empty() && self.matches_own_affinity)
    }

    fn satisfies_anti_affinity(&self, node: &NodeInfo) -> bool {
        self.anti_affinity.iter().all(|term| {
            node.labels().get(&term.topology_key).is_none_or(|value| {
                count(&self.anti_affinity_counts, &term.topology_key, value) == 0
            })
        })
    }

    fn satisfies_existing_anti_affinity(&self, node: &NodeInfo) -> bool {
        // Only domains with a count are stored, so the node is out when any of its labels
        // names one of them.
        self.existing_anti_affinity_counts
            .iter()
            .all(|(key, values)| {
                node.labels()
                    .get(key)
                    .is_none_or(|value| !values.contains_key(value))
            })
    }
}

pub fn filter(state: &State, node: &NodeInfo) -> Result<(), Rejection> {
    if !state.satisfies_affinity(node) {
        return Err(Rejection::new(
            Code::UnschedulableAndUnresolvable,
            AFFINITY_REASON,
        ));
    }
    if !state.satisfies_anti_affinity(node) {
        return Err(Rejection::new(Code::Unschedulable, ANTI_AFFINITY_REASON));
    }
    if !state.satisfies_existing_anti_affinity(node) {
        return Err(Rejection::new(
            Code::Unschedulable,
            EXISTING_ANTI_AFFINITY_REASON,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{info, node, pod};
    use serde_json::{json, Value};

    fn zoned(name: &str, zone: &str, pods: Vec<Pod>) -> NodeInfo {
        info(
            node(
                name,
                json!({"metadata": {"labels": {"topology.kubernetes.io/zone": zone}}}),
            ),
            pods,
        )
    }

    fn labelled(name: &str, app: &str, extra: Value) -> Pod {
        let mut p = pod(name, extra);
        p.metadata.labels = Some(BTreeMap::from([("app".into(), app.into())]));
        p
    }

    fn with_terms(kind: &str, app: &str, key: &str) -> Value {
        json!({"spec": {"affinity": {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}
        ]}}}})
    }

    fn check(pod: &Pod, snapshot: &Snapshot) -> Vec<Result<(), Rejection>> {
        let state = State::new(pod, snapshot);
        snapshot.nodes().iter().map(|n| filter(&state, n)).collect()
    }

    #[test]
    fn affinity_requires_a_matching_pod_in_the_same_zone() {
        let snapshot = Snapshot::from_node_infos(vec![
            zoned("a1", "a", vec![labelled("db", "db", json!({}))]),
            zoned("a2", "a", vec![]),
            zoned("b1", "b", vec![]),
        ]);
        let p = labelled(
            "web",
            "web",
            with_terms("podAffinity", "db", "topology.kubernetes.io/zone"),
        );
        let results = check(&p, &snapshot);
        assert!(results[0].is_ok() && results[1].is_ok());
        assert_eq!(results[2].as_ref().unwrap_err().reasons, [AFFINITY_REASON]);
    }

    #[test]
    fn a_pod_attracted_to_itself_may_start_its_group_anywhere() {
        let snapshot =
            Snapshot::from_node_infos(vec![zoned("a1", "a", vec![]), zoned("b1", "b", vec![])]);
        let p = labelled(
            "web",
            "web",
            with_terms("podAffinity", "web", "kubernetes.io/hostname"),
        );
        assert!(check(&p, &snapshot).iter().all(Result::is_ok));
    }

    #[test]
    fn anti_affinity_by_hostname_avoids_nodes_with_a_matching_pod() {
        let snapshot = Snapshot::from_node_infos(vec![
            zoned("a1", "a", vec![labelled("web-1", "web", json!({}))]),
            zoned("a2", "a", vec![]),
        ]);
        let p = labelled(
            "web-2",
            "web",
            with_terms("podAntiAffinity", "web", "kubernetes.io/hostname"),
        );
        let results = check(&p, &snapshot);
        assert_eq!(
            results[0].as_ref().unwrap_err().reasons,
            [ANTI_AFFINITY_REASON]
        );
        assert!(results[1].is_ok());
    }

    #[test]
    fn an_existing_pods_anti_affinity_keeps_matching_pods_out_of_its_zone() {
        let loner = labelled(
            "loner",
            "loner",
            with_terms("podAntiAffinity", "web", "topology.kubernetes.io/zone"),
        );
        let snapshot = Snapshot::from_node_infos(vec![
            zoned("a1", "a", vec![loner]),
            zoned("a2", "a", vec![]),
            zoned("b1", "b", vec![]),
        ]);
        let results = check(&labelled("web", "web", json!({})), &snapshot);
        assert_eq!(
            results[1].as_ref().unwrap_err().reasons,
            [EXISTING_ANTI_AFFINITY_REASON]
        );
        assert!(results[2].is_ok());
    }

    #[test]
    fn terms_only_look_at_the_pods_own_namespace_by_default() {
        let mut other_ns = labelled("web-1", "web", json!({}));
        other_ns.metadata.namespace = Some("other".into());
        let snapshot = Snapshot::from_node_infos(vec![zoned("a1", "a", vec![other_ns])]);
        let p = labelled(
            "web-2",
            "web",
            with_terms("podAntiAffinity", "web", "kubernetes.io/hostname"),
        );
        assert!(check(&p, &snapshot)[0].is_ok());
    }
}
