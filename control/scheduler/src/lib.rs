//! kube-scheduler's placement decision as pure functions over a [`Snapshot`].
//!
//! [`schedule_from`] filters nodes (see [`filter`]) starting at a given index, stops once it
//! has found as many feasible nodes as kube-scheduler's adaptive `percentageOfNodesToScore`
//! asks for (see [`num_feasible_nodes_to_find`]), scores those (see [`score`]) and returns the
//! best node's name, or a [`FitError`] whose message matches kube-scheduler v1.32's, together
//! with where the next search should start. Nothing here does IO: the loop that watches pods,
//! builds snapshots, keeps the start index and writes bindings lives in the `control`
//! package.
//!
//! Differences from kube-scheduler worth knowing:
//! - Below 100 nodes every node is evaluated, as in kube-scheduler; above, only a sample is,
//!   exactly as kube-scheduler samples (same count, same rotation), but filters run one node
//!   after another instead of in parallel, so the sample is the first feasible nodes in
//!   rotation order rather than whichever parallel workers finish first.
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

/// Below this many nodes every node is evaluated; above, at least this many feasible nodes are
/// looked for (kube-scheduler's `minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never drops below this (`minFeasibleNodesPercentageToFind`).
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

/// How many feasible nodes a search stops at in a cluster of `num_nodes` (kube-scheduler's
/// `numFeasibleNodesToFind` with the default, adaptive `percentageOfNodesToScore`): all of
/// them below 100 nodes, otherwise `50 - num_nodes/125` percent (at least 5%) but no fewer
/// than 100. Scoring a sample costs little placement quality in a big cluster and keeps a
/// decision from growing with the cluster.
pub fn num_feasible_nodes_to_find(num_nodes: usize) -> usize {
    if num_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_nodes;
    }
    let percentage = 50usize
        .saturating_sub(num_nodes / 125)
        .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
    (num_nodes * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// The outcome of one filter search.
#[derive(Debug, Clone, Default)]
pub struct Filtered {
    /// Indices into `snapshot.nodes()` of the nodes that passed every filter, in the order
    /// they were examined.
    pub feasible: Vec<usize>,
    /// The examined nodes that failed, with why.
    pub rejected: Vec<(usize, Rejection)>,
    /// Where the next search should start: `start` advanced by the number of nodes examined,
    /// modulo the number of nodes (kube-scheduler's `nextStartNodeIndex`), so that over many
    /// pods every node gets its turn.
    pub next_start: usize,
}

/// Filters nodes in order from `start` (wrapping around) until `limit` feasible nodes are
/// found or every node was examined. With no feasible node found every node was examined,
/// so `rejected` is complete.
pub fn find_feasible_from(pod: &Pod, snapshot: &Snapshot, start: usize, limit: usize) -> Filtered {
    let nodes = snapshot.nodes();
    let n = nodes.len();
    if n == 0 {
        return Filtered::default();
    }
    let start = start % n;
    let cycle = filter::Cycle::new(pod, snapshot);
    let mut out = Filtered::default();
    let mut examined = 0;
    while examined < n && out.feasible.len() < limit {
        let i = (start + examined) % n;
        examined += 1;
        match filter::run(pod, &nodes[i], &cycle) {
            Ok(()) => out.feasible.push(i),
            Err(r) => out.rejected.push((i, r)),
        }
    }
    out.next_start = (start + examined) % n;
    out
}

/// The nodes that pass every filter (indices into `snapshot.nodes()`) and why the others
/// failed, examining every node.
pub fn find_feasible(pod: &Pod, snapshot: &Snapshot) -> (Vec<usize>, Vec<(usize, Rejection)>) {
    let out = find_feasible_from(pod, snapshot, 0, usize::MAX);
    (out.feasible, out.rejected)
}

/// Picks the node for `pod`, or explains why there is none, searching from node 0 (see
/// [`schedule_from`]).
pub fn schedule(pod: &Pod, snapshot: &Snapshot) -> Result<String, FitError> {
    schedule_from(pod, snapshot, 0).0
}

/// Picks the node for `pod`, or explains why there is none, examining nodes from index
/// `start` on and scoring only the first [`num_feasible_nodes_to_find`] feasible ones. Also
/// returns where the next pod's search should start; a caller that keeps feeding it back
/// spreads the examination over all nodes as kube-scheduler does.
pub fn schedule_from(
    pod: &Pod,
    snapshot: &Snapshot,
    start: usize,
) -> (Result<String, FitError>, usize) {
    let all = snapshot.nodes();
    let limit = num_feasible_nodes_to_find(all.len());
    let Filtered {
        feasible,
        rejected,
        next_start,
    } = find_feasible_from(pod, snapshot, start, limit);
    if feasible.is_empty() {
        let mut reasons = BTreeMap::new();
        for (_, r) in &rejected {
            diagnosis::count_reasons(&mut reasons, r);
        }
        let preemption = if all.is_empty() {
            None
        } else {
            diagnosis::preemption_message(pod, snapshot, &rejected)
        };
        let err = FitError {
            num_nodes: all.len(),
            reasons,
            preemption,
        };
        return (Err(err), next_start);
    }
    let nodes: Vec<&NodeInfo> = feasible.iter().map(|&i| &all[i]).collect();
    // Like kube-scheduler, a single feasible node is taken without scoring.
    if nodes.len() == 1 {
        return (Ok(nodes[0].name().to_string()), next_start);
    }
    let totals = score::total(pod, &nodes, snapshot);
    let best = nodes
        .iter()
        .zip(totals)
        .max_by(|(a, sa), (b, sb)| sa.cmp(sb).then_with(|| b.name().cmp(a.name())))
        .map(|(n, _)| n.name().to_string());
    (Ok(best.unwrap_or_default()), next_start)
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
            .nodes()
            .iter()
            .filter(|n| {
                let only = Snapshot::from_node_infos(vec![(*n).clone()]);
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
    fn small(name: &str, cpu: &str, pods: &str) -> Node {
        node(
            name,
            json!({"status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": pods}}}),
        )
    }

    fn with_uid(mut p: Pod) -> Pod {
        p.metadata.uid = Some(format!("uid-{}", p.metadata.name.as_deref().unwrap()));
        p
    }

    #[test]
    fn an_assumed_pod_takes_the_cpu_the_next_pod_needed() {
        let mut snapshot = Snapshot::new(vec![small("only", "1", "110")], &[]);
        let first = with_uid(requesting("first", "600m", "1Gi", json!({})));
        let node = schedule(&first, &snapshot).unwrap();
        assert!(snapshot.assume(first, &node));
        let second = with_uid(requesting("second", "600m", "1Gi", json!({})));
        assert_eq!(
            schedule(&second, &snapshot).unwrap_err().to_string(),
            "0/1 nodes are available: 1 Insufficient cpu. \
             preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        );
        // A refused binding gives the capacity back.
        assert!(snapshot.forget("uid-first").is_some());
        assert_eq!(schedule(&second, &snapshot).unwrap(), "only");
    }

    #[test]
    fn an_assumed_pod_takes_its_host_port_and_pod_slot() {
        let port = json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]}});
        let mut snapshot = Snapshot::new(vec![small("a", "4", "110"), small("b", "4", "1")], &[]);
        snapshot.assume(with_uid(pod("web-1", port.clone())), "a");
        snapshot.assume(with_uid(pod("filler", json!({}))), "b");
        assert_eq!(
            schedule(&with_uid(pod("web-2", port)), &snapshot)
                .unwrap_err()
                .to_string(),
            "0/2 nodes are available: 1 Too many pods, \
             1 node(s) didn't have free ports for the requested pod ports. \
             preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
        );
        // The cache agrees with what a fresh snapshot of the same pods would hold.
        let fresh = Snapshot::new(
            vec![small("a", "4", "110"), small("b", "4", "1")],
            &snapshot
                .nodes()
                .iter()
                .flat_map(|n| n.pods().iter().cloned())
                .collect::<Vec<_>>(),
        );
        for (cached, rebuilt) in snapshot.nodes().iter().zip(fresh.nodes()) {
            assert_eq!(cached.requested(), rebuilt.requested());
            assert_eq!(cached.non_zero_requested(), rebuilt.non_zero_requested());
            assert_eq!(cached.used_ports(), rebuilt.used_ports());
            assert_eq!(cached.pods().len(), rebuilt.pods().len());
        }
    }

    #[test]
    fn an_assumed_pods_anti_affinity_keeps_the_next_replica_away() {
        let mut snapshot = three_nodes(&[]);
        let replica = |name: &str| {
            let mut p = with_uid(pod(
                name,
                json!({"metadata": {"labels": {"app": "db"}},
                       "spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "topology.kubernetes.io/zone"}
                ]}}}}),
            ));
            p.metadata.namespace = Some("default".into());
            p
        };
        let mut placed = Vec::new();
        for name in ["db-1", "db-2", "db-3"] {
            let node = schedule(&replica(name), &snapshot).unwrap();
            snapshot.assume(replica(name), &node);
            placed.push(node);
        }
        assert_eq!(placed, ["node-a", "node-b", "node-c"]);
        let err = schedule(&replica("db-4"), &snapshot).unwrap_err();
        assert_eq!(
            err.reasons,
            BTreeMap::from([(
                filter::inter_pod_affinity::ANTI_AFFINITY_REASON.to_string(),
                3
            )])
        );
    }

    fn many(n: usize, cordon_every: Option<usize>) -> Snapshot {
        let nodes = (0..n)
            .map(|i| {
                let cordoned = cordon_every.is_some_and(|k| i % k == 0);
                node(
                    &format!("node-{i:04}"),
                    json!({"spec": {"unschedulable": cordoned}}),
                )
            })
            .collect();
        Snapshot::new(nodes, &[])
    }

    #[test]
    fn the_sample_size_follows_kube_schedulers_formula() {
        assert_eq!(num_feasible_nodes_to_find(0), 0);
        assert_eq!(num_feasible_nodes_to_find(99), 99);
        // 50% of 100 is below the floor of 100.
        assert_eq!(num_feasible_nodes_to_find(100), 100);
        assert_eq!(num_feasible_nodes_to_find(1_000), 420);
        assert_eq!(num_feasible_nodes_to_find(5_000), 500);
        // From 5,625 nodes on the percentage is pinned at 5.
        assert_eq!(num_feasible_nodes_to_find(6_000), 300);
        assert_eq!(num_feasible_nodes_to_find(15_000), 750);
    }

    #[test]
    fn with_a_thousand_nodes_only_the_sample_is_examined_and_the_start_rotates() {
        let snapshot = many(1_000, None);
        let p = pod("p", json!({}));
        let out = find_feasible_from(&p, &snapshot, 900, num_feasible_nodes_to_find(1_000));
        assert_eq!(out.feasible.len(), 420);
        assert!(out.rejected.is_empty());
        // 900..=999 then 0..=319, wrapping around.
        assert_eq!(out.feasible[0], 900);
        assert_eq!(out.feasible[99], 999);
        assert_eq!(out.feasible[100], 0);
        assert_eq!(*out.feasible.last().unwrap(), 319);
        assert_eq!(out.next_start, 320);

        // schedule_from scores only the sample: all nodes tie, and the best name among the
        // examined ones wins, not node-0000 unless it was examined.
        let (picked, next) = schedule_from(&p, &snapshot, 500);
        assert_eq!(picked.unwrap(), "node-0500");
        assert_eq!(next, 920);
        let (picked, next) = schedule_from(&p, &snapshot, next);
        assert_eq!(picked.unwrap(), "node-0000");
        assert_eq!(next, 340);
    }

    #[test]
    fn rejected_nodes_count_towards_the_rotation_but_not_the_sample() {
        // Every other node is cordoned, so finding 420 feasible nodes examines 840.
        let snapshot = many(1_000, Some(2));
        let out = find_feasible_from(&pod("p", json!({})), &snapshot, 0, 420);
        assert_eq!(out.feasible.len(), 420);
        // Nodes 0, 2, ..., 838 rejected; 1, 3, ..., 839 feasible.
        assert_eq!(out.rejected.len(), 420);
        assert_eq!(*out.feasible.last().unwrap(), 839);
        assert_eq!(out.next_start, 840);
        assert!(out.feasible.iter().all(|i| i % 2 == 1));
    }

    #[test]
    fn when_nothing_fits_every_node_is_examined_and_counted() {
        let snapshot = many(1_000, None);
        let p = pod("p", json!({"spec": {"nodeSelector": {"disk": "ssd"}}}));
        let (result, next) = schedule_from(&p, &snapshot, 123);
        assert_eq!(next, 123);
        assert_eq!(
            result.unwrap_err().to_string(),
            "0/1000 nodes are available: 1000 node(s) didn't match Pod's node affinity/selector. \
             preemption: 0/1000 nodes are available: 1000 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn a_start_past_the_end_wraps() {
        let snapshot = many(1_000, None);
        let (picked, next) = schedule_from(&pod("p", json!({})), &snapshot, 1_500);
        assert_eq!(picked.unwrap(), "node-0500");
        assert_eq!(next, 920);
    }
}
