//! PodTopologySpread scoring: prefer the node whose topology domains hold the fewest pods of
//! the same group.
//!
//! kube-scheduler v1.32 no longer has SelectorSpread; its default profile spreads through
//! PodTopologySpread with the "system default" constraints, used when the pod states none:
//! `kubernetes.io/hostname` with maxSkew 3 and `topology.kubernetes.io/zone` with maxSkew 5,
//! both ScheduleAnyway. Kubernetes builds their selector from the Services, ReplicationControllers,
//! ReplicaSets and StatefulSets that select the pod; a snapshot holds none of those, so here the
//! group is "pods with the same controller ownerReference (uid)", which is what those selectors
//! amount to for workload pods. A pod's own ScheduleAnyway constraints are scored with their
//! label selector; its DoNotSchedule constraints are not enforced yet.

use std::collections::{BTreeMap, BTreeSet};

use control_apimachinery::selector::LabelSelector;
use k8s_openapi::api::core::v1::Pod;

use super::MAX_NODE_SCORE;
use crate::filter::node_affinity;
use crate::snapshot::{pod_labels, pod_namespace, NodeInfo, Snapshot};

pub const HOSTNAME_KEY: &str = "kubernetes.io/hostname";
pub const ZONE_KEY: &str = "topology.kubernetes.io/zone";

/// Which pods count as the same group.
#[derive(Debug, Clone)]
enum Group {
    Controller(String),
    Selector(LabelSelector),
}

#[derive(Debug, Clone)]
struct Constraint {
    key: String,
    max_skew: i64,
    group: Group,
}

fn controller_uid(pod: &Pod) -> Option<&str> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.as_str())
}

/// The constraints to score with, and whether they are the system defaults.
fn constraints(pod: &Pod) -> (Vec<Constraint>, bool) {
    let own = pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_ref())
        .filter(|c| !c.is_empty());
    if let Some(own) = own {
        let soft = own
            .iter()
            .filter(|c| c.when_unsatisfiable == "ScheduleAnyway")
            .map(|c| Constraint {
                key: c.topology_key.clone(),
                max_skew: i64::from(c.max_skew),
                group: Group::Selector(
                    LabelSelector::from_api(c.label_selector.as_ref())
                        .unwrap_or_else(|_| LabelSelector::nothing()),
                ),
            })
            .collect();
        return (soft, false);
    }
    let Some(uid) = controller_uid(pod) else {
        // No group to spread: Kubernetes skips the plugin for such pods.
        return (Vec::new(), true);
    };
    let defaults = [(HOSTNAME_KEY, 3), (ZONE_KEY, 5)]
        .into_iter()
        .map(|(key, max_skew)| Constraint {
            key: key.to_string(),
            max_skew,
            group: Group::Controller(uid.to_string()),
        })
        .collect();
    (defaults, true)
}

/// Pods of the group on one node: same namespace, not terminating, and in the group.
fn count(pods: &[Pod], group: &Group, namespace: &str) -> i64 {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && pod_namespace(p) == namespace)
        .filter(|p| match group {
            Group::Controller(uid) => controller_uid(p) == Some(uid.as_str()),
            Group::Selector(sel) => sel.matches(pod_labels(p)),
        })
        .count() as i64
}

pub fn score(pod: &Pod, nodes: &[&NodeInfo], snapshot: &Snapshot) -> Vec<i64> {
    let (constraints, system_default) = constraints(pod);
    if constraints.is_empty() {
        return vec![0; nodes.len()];
    }
    let namespace = pod_namespace(pod);
    // The pod's own constraints ignore nodes lacking any of their keys; the defaults do not,
    // since many clusters have no zones.
    let has_all_keys = |n: &NodeInfo| constraints.iter().all(|c| n.labels().contains_key(&c.key));
    let ignored: BTreeSet<&str> = nodes
        .iter()
        .filter(|n| !system_default && !has_all_keys(n))
        .map(|n| n.name())
        .collect();

    // Domains present among the candidate nodes, per constraint; only they are counted.
    let mut domains: Vec<BTreeMap<&str, i64>> = vec![BTreeMap::new(); constraints.len()];
    for n in nodes.iter().filter(|n| !ignored.contains(n.name())) {
        for (i, c) in constraints.iter().enumerate() {
            if c.key != HOSTNAME_KEY {
                let value = n.labels().get(&c.key).map_or("", String::as_str);
                domains[i].insert(value, 0);
            }
        }
    }
    let weights: Vec<f64> = constraints
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let size = if c.key == HOSTNAME_KEY {
                nodes.len() - ignored.len()
            } else {
                domains[i].len()
            };
            ((size + 2) as f64).ln()
        })
        .collect();
    // Count over every node of the cluster, not only the candidates, skipping nodes the pod
    // could never use (node inclusion policy "Honor" for node affinity, the default).
    for n in snapshot.nodes() {
        if !system_default && !has_all_keys(n) {
            continue;
        }
        if !node_affinity::matches(pod, n) {
            continue;
        }
        for (i, c) in constraints.iter().enumerate() {
            if c.key == HOSTNAME_KEY {
                continue;
            }
            let value = n.labels().get(&c.key).map_or("", String::as_str);
            if let Some(total) = domains[i].get_mut(value) {
                *total += count(n.pods(), &c.group, namespace);
            }
        }
    }

    let raw: Vec<i64> = nodes
        .iter()
        .map(|n| {
            if ignored.contains(n.name()) {
                return 0;
            }
            let mut s = 0.0;
            for (i, c) in constraints.iter().enumerate() {
                let Some(value) = n.labels().get(&c.key) else {
                    continue;
                };
                let matching = if c.key == HOSTNAME_KEY {
                    count(n.pods(), &c.group, namespace)
                } else {
                    domains[i].get(value.as_str()).copied().unwrap_or(0)
                };
                s += matching as f64 * weights[i] + (c.max_skew - 1) as f64;
            }
            s.round() as i64
        })
        .collect();

    // Fewer matching pods is better: invert relative to the extremes among scored nodes.
    let scored = || {
        nodes
            .iter()
            .zip(&raw)
            .filter(|(n, _)| !ignored.contains(n.name()))
            .map(|(_, s)| *s)
    };
    let min = scored().min().unwrap_or(0);
    let max = scored().max().unwrap_or(0);
    nodes
        .iter()
        .zip(&raw)
        .map(|(n, &s)| {
            if ignored.contains(n.name()) {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - s) / max
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{info, node, pod};
    use serde_json::json;

    fn replica(name: &str) -> Pod {
        pod(
            name,
            json!({"metadata": {"ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "rs-1", "controller": true}
            ]}}),
        )
    }

    fn zoned(name: &str, zone: &str, pods: Vec<Pod>) -> NodeInfo {
        info(
            node(name, json!({"metadata": {"labels": {ZONE_KEY: zone}}})),
            pods,
        )
    }

    #[test]
    fn replicas_prefer_nodes_and_zones_without_siblings() {
        let snapshot = Snapshot::from_node_infos(vec![
            zoned("a1", "a", vec![replica("web-1")]),
            zoned("a2", "a", vec![]),
            zoned("b1", "b", vec![]),
        ]);
        let nodes: Vec<&NodeInfo> = snapshot.nodes().iter().collect();
        let scores = score(&replica("web-2"), &nodes, &snapshot);
        // Same node and zone as the sibling < same zone only < neither.
        assert!(scores[0] < scores[1] && scores[1] < scores[2], "{scores:?}");
        assert_eq!(scores[2], MAX_NODE_SCORE);
    }

    #[test]
    fn pods_without_a_controller_are_not_spread() {
        let snapshot = Snapshot::from_node_infos(vec![
            zoned("a1", "a", vec![pod("x", json!({}))]),
            zoned("b1", "b", vec![]),
        ]);
        let nodes: Vec<&NodeInfo> = snapshot.nodes().iter().collect();
        assert_eq!(score(&pod("p", json!({})), &nodes, &snapshot), [0, 0]);
    }

    #[test]
    fn siblings_of_another_controller_do_not_count() {
        let mut stranger = replica("other");
        stranger.metadata.owner_references.as_mut().unwrap()[0].uid = "rs-2".into();
        let snapshot = Snapshot::from_node_infos(vec![
            zoned("a1", "a", vec![stranger]),
            zoned("b1", "b", vec![]),
        ]);
        let nodes: Vec<&NodeInfo> = snapshot.nodes().iter().collect();
        let scores = score(&replica("web-2"), &nodes, &snapshot);
        assert_eq!(scores[0], scores[1]);
    }
}
