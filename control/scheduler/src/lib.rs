//! kube-scheduler's placement decision as pure functions over a [`Snapshot`].
//!
//! [`schedule`] filters every node (see [`filter`]), scores the survivors (see [`score`]) and
//! returns the best node's name, or a [`FitError`] whose message matches kube-scheduler
//! v1.32's. Nothing here does IO: the loop that watches pods, builds snapshots and writes
//! bindings lives in the `control` package.
//!
//! Differences from kube-scheduler worth knowing:
//! - Every node is evaluated (kube-scheduler also does so below 100 nodes).
//! - Ties between equally scored nodes go to the node whose name sorts first, so results are
//!   reproducible; kube-scheduler picks among tied nodes at random.
//! - Volumes, extended resources, ephemeral storage, DoNotSchedule topology spread, preferred
//!   inter-pod affinity and image locality are not modelled.

pub mod diagnosis;
pub mod filter;
pub mod quantity;
pub mod resources;
pub mod score;
pub mod snapshot;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

pub use diagnosis::FitError;
pub use filter::Rejection;
pub use snapshot::{NodeInfo, Snapshot};

/// The nodes that pass every filter (indices into `snapshot.nodes`) and why the others failed.
pub fn find_feasible(pod: &Pod, snapshot: &Snapshot) -> (Vec<usize>, Vec<(usize, Rejection)>) {
    let cycle = filter::Cycle::new(pod, snapshot);
    let mut feasible = Vec::new();
    let mut rejected = Vec::new();
    for (i, node) in snapshot.nodes.iter().enumerate() {
        match filter::run(pod, node, &cycle) {
            Ok(()) => feasible.push(i),
            Err(r) => rejected.push((i, r)),
        }
    }
    (feasible, rejected)
}

/// Picks the node for `pod`, or explains why there is none.
pub fn schedule(pod: &Pod, snapshot: &Snapshot) -> Result<String, FitError> {
    let (feasible, rejected) = find_feasible(pod, snapshot);
    if feasible.is_empty() {
        let mut reasons = BTreeMap::new();
        for (_, r) in &rejected {
            diagnosis::count_reasons(&mut reasons, r);
        }
        let preemption = if snapshot.nodes.is_empty() {
            None
        } else {
            diagnosis::preemption_message(pod, snapshot, &rejected)
        };
        return Err(FitError {
            num_nodes: snapshot.nodes.len(),
            reasons,
            preemption,
        });
    }
    let nodes: Vec<&NodeInfo> = feasible.iter().map(|&i| &snapshot.nodes[i]).collect();
    // Like kube-scheduler, a single feasible node is taken without scoring.
    if nodes.len() == 1 {
        return Ok(nodes[0].name().to_string());
    }
    let totals = score::total(pod, &nodes, snapshot);
    let best = nodes
        .iter()
        .zip(totals)
        .max_by(|(a, sa), (b, sb)| sa.cmp(sb).then_with(|| b.name().cmp(a.name())))
        .map(|(n, _)| n.name().to_string());
    Ok(best.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{node, pod};
    use k8s_openapi::api::core::v1::Node;
    use serde_json::{json, Value};

    fn requesting(name: &str, cpu: &str, memory: &str, extra: Value) -> Pod {
        let mut p = pod(name, extra);
        p.spec.as_mut().unwrap().containers[0].resources = Some(
            serde_json::from_value(json!({"requests": {"cpu": cpu, "memory": memory}})).unwrap(),
        );
        p
    }

    fn zoned(name: &str, zone: &str, extra: Value) -> Node {
        let mut n = node(name, extra);
        n.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert("topology.kubernetes.io/zone".into(), zone.into());
        n
    }

    fn three_nodes(pods: &[Pod]) -> Snapshot {
        Snapshot::new(
            vec![
                zoned("node-a", "a", json!({})),
                zoned("node-b", "b", json!({})),
                zoned("node-c", "c", json!({})),
            ],
            pods,
        )
    }

    fn on(node: &str, mut p: Pod) -> Pod {
        p.spec.as_mut().unwrap().node_name = Some(node.into());
        p
    }

    #[test]
    fn the_pod_goes_to_the_least_loaded_node() {
        let snapshot = three_nodes(&[
            on("node-a", requesting("x", "2", "4Gi", json!({}))),
            on("node-c", requesting("y", "1", "2Gi", json!({}))),
            on("node-c", requesting("z", "1", "2Gi", json!({}))),
        ]);
        let p = requesting("p", "500m", "1Gi", json!({}));
        assert_eq!(schedule(&p, &snapshot).unwrap(), "node-b");
    }

    #[test]
    fn equally_good_nodes_are_broken_by_name() {
        let snapshot = three_nodes(&[]);
        assert_eq!(schedule(&pod("p", json!({})), &snapshot).unwrap(), "node-a");
    }

    #[test]
    fn a_node_selector_picks_the_only_matching_node() {
        let snapshot = three_nodes(&[]);
        let p = pod(
            "p",
            json!({"spec": {"nodeSelector": {"topology.kubernetes.io/zone": "c"}}}),
        );
        assert_eq!(schedule(&p, &snapshot).unwrap(), "node-c");
    }

    #[test]
    fn a_tainted_node_is_avoided_by_pods_without_a_toleration() {
        let snapshot = Snapshot::new(
            vec![
                zoned(
                    "node-a",
                    "a",
                    json!({"spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}),
                ),
                zoned("node-b", "b", json!({})),
                zoned("node-c", "c", json!({})),
            ],
            &[on("node-b", requesting("x", "1", "1Gi", json!({})))],
        );
        assert_eq!(schedule(&pod("p", json!({})), &snapshot).unwrap(), "node-c");
    }

    #[test]
    fn a_daemonset_style_toleration_admits_every_no_schedule_taint() {
        let snapshot = Snapshot::new(
            vec![
                zoned(
                    "node-a",
                    "a",
                    json!({"spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}),
                ),
                zoned(
                    "node-b",
                    "b",
                    json!({"spec": {"unschedulable": true, "taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}}),
                ),
                zoned(
                    "node-c",
                    "c",
                    json!({"spec": {"taints": [{"key": "gone", "effect": "NoExecute"}]}}),
                ),
            ],
            &[],
        );
        let toleration =
            json!({"spec": {"tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]}});
        let feasible: Vec<String> = snapshot
            .nodes
            .iter()
            .filter(|n| {
                let only = Snapshot {
                    nodes: vec![(*n).clone()],
                };
                schedule(&pod("ds", toleration.clone()), &only).is_ok()
            })
            .map(|n| n.name().to_string())
            .collect();
        // NoExecute is a different effect, so node-c still needs its own toleration.
        assert_eq!(feasible, ["node-a", "node-b"]);
        assert_eq!(
            schedule(&pod("ds", toleration), &snapshot).unwrap(),
            "node-a"
        );
    }

    #[test]
    fn required_anti_affinity_spreads_two_replicas() {
        let replica = |name: &str| {
            let mut p = pod(
                name,
                json!({"spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
                ]}}}}),
            );
            p.metadata.labels = Some(BTreeMap::from([("app".into(), "web".into())]));
            p
        };
        let empty = three_nodes(&[]);
        let first = schedule(&replica("web-1"), &empty).unwrap();
        assert_eq!(first, "node-a");
        let snapshot = three_nodes(&[on(&first, replica("web-1"))]);
        let second = schedule(&replica("web-2"), &snapshot).unwrap();
        assert_ne!(second, first);
    }

    #[test]
    fn replicas_of_one_controller_spread_without_any_affinity() {
        let replica = |name: &str| {
            pod(
                name,
                json!({"metadata": {"ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "rs-1", "controller": true}
                ]}}),
            )
        };
        let snapshot = three_nodes(&[on("node-a", replica("web-1"))]);
        assert_eq!(schedule(&replica("web-2"), &snapshot).unwrap(), "node-b");
    }

    #[test]
    fn a_mix_of_reasons_gives_kube_schedulers_exact_message() {
        let snapshot = Snapshot::new(
            vec![
                zoned(
                    "node-a",
                    "a",
                    json!({"spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}),
                ),
                zoned("node-b", "b", json!({})),
                zoned("node-c", "c", json!({})),
            ],
            &[
                on("node-b", requesting("x", "3500m", "1Gi", json!({}))),
                on("node-c", requesting("y", "3500m", "1Gi", json!({}))),
            ],
        );
        let err = schedule(&requesting("p", "1", "1Gi", json!({})), &snapshot).unwrap_err();
        assert_eq!(
            err.to_string(),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. \
             preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
        );
    }

    #[test]
    fn when_nothing_can_be_fixed_preemption_is_not_helpful_anywhere() {
        let snapshot = three_nodes(&[]);
        let p = pod("p", json!({"spec": {"nodeSelector": {"disk": "ssd"}}}));
        assert_eq!(
            schedule(&p, &snapshot).unwrap_err().to_string(),
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. \
             preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn evicting_lower_priority_pods_that_would_help_leaves_no_preemption_message() {
        let low = on(
            "node-a",
            requesting("low", "4", "1Gi", json!({"spec": {"priority": 0}})),
        );
        let snapshot = Snapshot::new(vec![zoned("node-a", "a", json!({}))], &[low]);
        let p = requesting("p", "1", "1Gi", json!({"spec": {"priority": 1000}}));
        let err = schedule(&p, &snapshot).unwrap_err();
        assert_eq!(err.preemption, None);
        assert_eq!(
            err.to_string(),
            "0/1 nodes are available: 1 Insufficient cpu."
        );
    }
}
