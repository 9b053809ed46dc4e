//! The cluster as one scheduling decision sees it: every node and the pods bound, or being
//! bound ("assumed"), to it.
//!
//! Like kube-scheduler's `framework.NodeInfo`, each [`NodeInfo`] carries aggregates of its
//! node and pods (parsed allocatable, summed requests, used host ports, effective taints, the
//! pods' required anti-affinity terms). Filters and scores run once per node for every pod
//! scheduled, so recomputing these from the objects (parsing every quantity of every pod on
//! the node each time) made a decision cost O(pods in the cluster); with the aggregates it is
//! O(nodes examined). They are built when a pod is added and adjusted when it is removed, and
//! the fields are private so nothing can change the pods without the aggregates following.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::core::v1::{Node, Pod, Taint};

use crate::filter::inter_pod_affinity::{required_terms, Term};
use crate::filter::node_ports::{host_ports, HostPort};
use crate::filter::taint_toleration::effective_taints;
use crate::resources::{allocatable, pod_requests, Resources};

/// All nodes with their pods. Node order does not influence which nodes are feasible, but it
/// is the order in which [`crate::schedule_from`] examines them.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    nodes: Vec<NodeInfo>,
    /// Node name → index in `nodes`, so that assuming a decision does not scan every node.
    index: HashMap<String, usize>,
    /// Pod uid → index of the node holding it, for [`Snapshot::forget`].
    uids: HashMap<String, usize>,
    /// Indices of the nodes holding at least one pod with required anti-affinity terms
    /// (kube-scheduler's `HavePodsWithRequiredAntiAffinityNodeInfoList`): only their pods can
    /// keep a pod without affinity terms of its own away from a node, so the inter-pod
    /// affinity PreFilter looks at them alone in the common case.
    anti_affinity_nodes: BTreeSet<usize>,
}

/// One node, the pods bound or being bound to it, and aggregates over both.
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    node: Node,
    pods: Vec<Pod>,
    /// The required anti-affinity terms of each pod, parallel to `pods` and parsed once:
    /// every other pod scheduled has to be checked against them.
    anti_affinity: Vec<Vec<Term>>,
    /// How many entries of `anti_affinity` are non-empty.
    with_anti_affinity: usize,
    allocatable: Resources,
    max_pods: i64,
    requested: Resources,
    non_zero_requested: Resources,
    /// Host ports of all pods, one entry per pod that uses it (a multiset, so removing one
    /// of two pods with the same port keeps the port used).
    used_ports: Vec<HostPort>,
    taints: Vec<Taint>,
}

fn is_finished(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    matches!(phase, Some("Succeeded" | "Failed"))
}

fn uid_of(pod: &Pod) -> Option<&str> {
    pod.metadata.uid.as_deref().filter(|u| !u.is_empty())
}

impl Snapshot {
    /// Groups `pods` under the node their `spec.nodeName` names. Unbound pods, pods on unknown
    /// nodes and finished pods (phase Succeeded or Failed) are left out: kube-scheduler's pod
    /// informer does not even watch finished pods, since they hold no resources. A uid listed
    /// twice counts once (the later entry), as in kube-scheduler's cache, which is keyed by uid.
    pub fn new(nodes: Vec<Node>, pods: &[Pod]) -> Snapshot {
        Snapshot::from_pods(nodes, pods.iter().cloned())
    }

    /// [`Snapshot::new`] taking the pods by value, for a caller that would otherwise clone
    /// every pod only to drop its own copy.
    pub fn from_pods(nodes: Vec<Node>, pods: impl IntoIterator<Item = Pod>) -> Snapshot {
        let mut snapshot =
            Snapshot::from_node_infos(nodes.into_iter().map(NodeInfo::from_node).collect());
        for pod in pods {
            if is_finished(&pod) {
                continue;
            }
            let Some(name) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
                continue;
            };
            if let Some(&i) = snapshot.index.get(name) {
                snapshot.add(i, pod);
            }
        }
        snapshot
    }

    /// A snapshot of nodes whose pods are already grouped.
    pub fn from_node_infos(nodes: Vec<NodeInfo>) -> Snapshot {
        let mut snapshot = Snapshot {
            nodes,
            ..Snapshot::default()
        };
        for (i, info) in snapshot.nodes.iter().enumerate() {
            // With duplicate names the first node wins, as a linear search would find it.
            snapshot.index.entry(info.name().to_string()).or_insert(i);
            for pod in &info.pods {
                if let Some(uid) = uid_of(pod) {
                    snapshot.uids.insert(uid.to_string(), i);
                }
            }
            if info.with_anti_affinity > 0 {
                snapshot.anti_affinity_nodes.insert(i);
            }
        }
        snapshot
    }

    /// Every node, in examination order.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// The node with this name.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    /// Indices (into [`Snapshot::nodes`]) of the nodes with a pod that has required
    /// anti-affinity terms, ascending.
    pub fn nodes_with_required_anti_affinity(&self) -> impl Iterator<Item = usize> + '_ {
        self.anti_affinity_nodes.iter().copied()
    }

    /// Records a decision: `pod` now counts against `node_name` (its `spec.nodeName` is set
    /// to it), so the next decision on this snapshot sees the resources, ports and pod slot it
    /// took, as kube-scheduler's `AssumePod` does. A pod whose uid is already in the snapshot
    /// is moved rather than counted twice. Returns false, changing nothing, when no node has
    /// that name.
    pub fn assume(&mut self, mut pod: Pod, node_name: &str) -> bool {
        let Some(&i) = self.index.get(node_name) else {
            return false;
        };
        pod.spec.get_or_insert_with(Default::default).node_name = Some(node_name.to_string());
        self.add(i, pod);
        true
    }

    /// Takes the pod with this uid back out of the snapshot (kube-scheduler's `ForgetPod`, for
    /// a binding the API refused), returning it. O(pods on its node).
    pub fn forget(&mut self, uid: &str) -> Option<Pod> {
        let i = self.uids.remove(uid)?;
        let position = self.nodes[i]
            .pods
            .iter()
            .position(|p| uid_of(p) == Some(uid))?;
        let pod = self.nodes[i].remove_at(position);
        self.note_anti_affinity(i);
        Some(pod)
    }

    fn add(&mut self, i: usize, pod: Pod) {
        if let Some(uid) = uid_of(&pod) {
            if self.uids.contains_key(uid) {
                self.forget(uid);
            }
            self.uids.insert(uid.to_string(), i);
        }
        self.nodes[i].add(pod);
        self.note_anti_affinity(i);
    }

    fn note_anti_affinity(&mut self, i: usize) {
        if self.nodes[i].with_anti_affinity > 0 {
            self.anti_affinity_nodes.insert(i);
        } else {
            self.anti_affinity_nodes.remove(&i);
        }
    }

    /// Swaps node `i` for `info` and returns the old one; for preemption's what-if runs on a
    /// copy. Pod uids keep pointing at `i`, which is right once the original is put back.
    pub(crate) fn replace_node(&mut self, i: usize, info: NodeInfo) -> NodeInfo {
        let old = std::mem::replace(&mut self.nodes[i], info);
        self.note_anti_affinity(i);
        old
    }
}

fn name_of(node: &Node) -> &str {
    node.metadata.name.as_deref().unwrap_or("")
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

impl NodeInfo {
    /// A node with these pods (taken as they are: no filtering by phase or `spec.nodeName`).
    pub fn new(node: Node, pods: Vec<Pod>) -> NodeInfo {
        let mut info = NodeInfo::from_node(node);
        for pod in pods {
            info.add(pod);
        }
        info
    }

    fn from_node(node: Node) -> NodeInfo {
        let (allocatable, max_pods) = allocatable(&node);
        let taints = effective_taints(&node);
        NodeInfo {
            node,
            allocatable,
            max_pods,
            taints,
            ..NodeInfo::default()
        }
    }

    fn add(&mut self, pod: Pod) {
        self.requested.add(pod_requests(&pod, false));
        self.non_zero_requested.add(pod_requests(&pod, true));
        self.used_ports.extend(host_ports(&pod));
        let terms = required_terms(&pod, true);
        if !terms.is_empty() {
            self.with_anti_affinity += 1;
        }
        self.anti_affinity.push(terms);
        self.pods.push(pod);
    }

    /// Removes the pod at `position`, undoing what [`NodeInfo::add`] added for it.
    fn remove_at(&mut self, position: usize) -> Pod {
        let pod = self.pods.swap_remove(position);
        if !self.anti_affinity.swap_remove(position).is_empty() {
            self.with_anti_affinity -= 1;
        }
        self.requested.sub(pod_requests(&pod, false));
        self.non_zero_requested.sub(pod_requests(&pod, true));
        for port in host_ports(&pod) {
            if let Some(j) = self.used_ports.iter().position(|p| *p == port) {
                self.used_ports.swap_remove(j);
            }
        }
        pod
    }

    /// The node object.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// `metadata.name`, or empty.
    pub fn name(&self) -> &str {
        name_of(&self.node)
    }

    /// `metadata.labels`, or an empty map.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        self.node.metadata.labels.as_ref().unwrap_or(&NO_LABELS)
    }

    /// The pods bound or assumed to the node (in no particular order once one was removed).
    pub fn pods(&self) -> &[Pod] {
        &self.pods
    }

    /// `status.allocatable` cpu and memory.
    pub fn allocatable(&self) -> Resources {
        self.allocatable
    }

    /// `status.allocatable.pods`: how many pods the node accepts.
    pub fn max_pods(&self) -> i64 {
        self.max_pods
    }

    /// The summed requests of the node's pods.
    pub fn requested(&self) -> Resources {
        self.requested
    }

    /// The summed requests of the node's pods with the scoring defaults for missing ones.
    pub fn non_zero_requested(&self) -> Resources {
        self.non_zero_requested
    }

    /// The host ports the node's pods use, once per pod using each.
    pub fn used_ports(&self) -> &[HostPort] {
        &self.used_ports
    }

    /// `spec.taints` plus the readiness taint the node lifecycle controller would add (see
    /// [`effective_taints`]).
    pub fn taints(&self) -> &[Taint] {
        &self.taints
    }

    /// The required anti-affinity terms of each pod, in the order of [`NodeInfo::pods`].
    pub fn pod_anti_affinity_terms(&self) -> &[Vec<Term>] {
        &self.anti_affinity
    }

    /// How many of the node's pods have required anti-affinity terms.
    pub fn pods_with_required_anti_affinity(&self) -> usize {
        self.with_anti_affinity
    }
}

/// `metadata.labels` of a pod, or an empty map.
pub fn pod_labels(pod: &Pod) -> &BTreeMap<String, String> {
    pod.metadata.labels.as_ref().unwrap_or(&NO_LABELS)
}

/// `metadata.namespace` of a pod, `default` when unset.
pub fn pod_namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: Option<&str>, phase: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "uid": format!("uid-{name}")},
            "spec": {"nodeName": node, "containers": []},
            "status": {"phase": phase},
        }))
        .unwrap()
    }

    fn names(info: &NodeInfo) -> Vec<String> {
        let mut names: Vec<_> = info
            .pods()
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn pods_are_grouped_under_their_node_and_finished_ones_dropped() {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap();
        let snapshot = Snapshot::new(
            vec![node],
            &[
                pod("running", Some("n1"), "Running"),
                pod("done", Some("n1"), "Succeeded"),
                pod("pending", None, "Pending"),
                pod("elsewhere", Some("n9"), "Running"),
            ],
        );
        assert_eq!(names(&snapshot.nodes()[0]), ["running"]);
    }

    fn sized(name: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "10"}},
        }))
        .unwrap()
    }

    fn busy(name: &str, cpu: &str, port: Option<i32>, anti: bool) -> Pod {
        let mut container = json!({"name": "c", "resources": {"requests": {"cpu": cpu}}});
        if let Some(port) = port {
            container["ports"] = json!([{"containerPort": 80, "hostPort": port}]);
        }
        let mut spec = json!({"containers": [container]});
        if anti {
            spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}
            ]}});
        }
        serde_json::from_value(json!({
            "metadata": {"name": name, "uid": format!("uid-{name}")},
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn aggregates_are_built_from_the_pods() {
        let mut a = busy("a", "500m", Some(8080), true);
        a.spec.as_mut().unwrap().node_name = Some("n1".into());
        let snapshot = Snapshot::new(vec![sized("n1"), sized("n2")], &[a]);
        let n1 = snapshot.node("n1").unwrap();
        assert_eq!(
            n1.allocatable(),
            Resources {
                milli_cpu: 2000,
                memory: 4 << 30
            }
        );
        assert_eq!(n1.max_pods(), 10);
        assert_eq!(n1.requested().milli_cpu, 500);
        assert_eq!(n1.non_zero_requested().memory, 200 << 20);
        assert_eq!(n1.used_ports().len(), 1);
        assert_eq!(n1.pods_with_required_anti_affinity(), 1);
        // Nodes without a Ready condition carry the implied not-ready taint.
        assert_eq!(n1.taints()[0].key, "node.kubernetes.io/not-ready");
        assert_eq!(
            snapshot
                .nodes_with_required_anti_affinity()
                .collect::<Vec<_>>(),
            [0]
        );
        assert!(snapshot.node("n2").unwrap().requested().is_zero());
    }

    #[test]
    fn assume_and_forget_keep_the_aggregates_true() {
        let mut snapshot = Snapshot::new(vec![sized("n1"), sized("n2")], &[]);
        assert!(snapshot.assume(busy("a", "500m", Some(8080), true), "n2"));
        assert!(snapshot.assume(busy("b", "1", Some(8080), false), "n2"));
        assert!(!snapshot.assume(busy("c", "1", None, false), "n9"));
        let n2 = snapshot.node("n2").unwrap();
        assert_eq!(names(n2), ["a", "b"]);
        assert_eq!(
            n2.pods()[0].spec.as_ref().unwrap().node_name.as_deref(),
            Some("n2")
        );
        assert_eq!(n2.requested().milli_cpu, 1500);
        assert_eq!(n2.used_ports().len(), 2);
        assert_eq!(
            snapshot
                .nodes_with_required_anti_affinity()
                .collect::<Vec<_>>(),
            [1]
        );

        let forgotten = snapshot.forget("uid-a").unwrap();
        assert_eq!(forgotten.metadata.name.as_deref(), Some("a"));
        assert!(snapshot.forget("uid-a").is_none());
        let n2 = snapshot.node("n2").unwrap();
        assert_eq!(names(n2), ["b"]);
        assert_eq!(n2.requested().milli_cpu, 1000);
        assert_eq!(n2.non_zero_requested().milli_cpu, 1000);
        // b still holds 8080.
        assert_eq!(n2.used_ports().len(), 1);
        assert_eq!(n2.pods_with_required_anti_affinity(), 0);
        assert_eq!(snapshot.nodes_with_required_anti_affinity().count(), 0);
    }

    #[test]
    fn assuming_a_known_uid_moves_the_pod() {
        let mut snapshot = Snapshot::new(vec![sized("n1"), sized("n2")], &[]);
        snapshot.assume(busy("a", "500m", None, false), "n1");
        snapshot.assume(busy("a", "500m", None, false), "n2");
        assert!(snapshot.node("n1").unwrap().pods().is_empty());
        assert!(snapshot.node("n1").unwrap().requested().is_zero());
        assert_eq!(snapshot.node("n2").unwrap().requested().milli_cpu, 500);
        assert_eq!(
            snapshot
                .forget("uid-a")
                .unwrap()
                .spec
                .unwrap()
                .node_name
                .as_deref(),
            Some("n2")
        );
    }
}
