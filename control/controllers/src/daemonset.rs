//! The DaemonSet controller: one daemon pod on every node that should run one.
//!
//! [`plan_daemonset`] makes one sync's decisions from the DaemonSet, the Nodes, the pods and
//! the ControllerRevisions of its namespace, in the order kube-controller-manager takes them:
//! find or make the revision of the current template (its hash labels new pods), claim pods,
//! decide per node what to create and delete, and only when that changes nothing, take one
//! rolling-update step. The status is counted from the same snapshot.
//!
//! Daemon pods are not bound by this controller: each new pod gets a required node affinity
//! `matchFields metadata.name In [node]` (replacing the template's required terms, which were
//! already checked here) so the ordinary scheduler binds it, as Kubernetes has done since
//! v1.12. Eligibility follows `NodeShouldRunDaemonPod`: `spec.nodeName`, the nodeSelector and
//! required node affinity, and the node's `NoSchedule`/`NoExecute` taints against the
//! template's tolerations plus the defaults every daemon pod gets ([`add_daemon_tolerations`]).
//! A node whose untolerated taints are only `NoSchedule` keeps the daemon pod it already has.
//!
//! Departures: Kubernetes leaves pods bound to a deleted node to the pod garbage collector;
//! this control plane has none, so such pods are returned in
//! [`DaemonSetPlan::force_delete`] (deleted with a zero grace period, as the pod GC does,
//! because no kubelet is left to confirm). Failed daemon pods are deleted without
//! Kubernetes' per-node back-off.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use control_scheduler::filter::node_affinity::selector_matches;
use control_scheduler::filter::taint_toleration::tolerates;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodSpec, PodTemplateSpec, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::deployment::resolve_int_or_percent;
use crate::history::{self, HistoryOwner, REVISION_HASH_LABEL};
use crate::ownership::{claim, controller_reference, controller_selector, name_and_uid, Claim};
use crate::podutil::{is_pod_available, is_pod_ready};
use crate::ControllerError;

/// The label Kubernetes put on daemon pods before revisions existed; a pod carrying the
/// DaemonSet's template generation still counts as updated.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
/// Where the template generation is recorded on the DaemonSet.
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";
/// The most pods one sync creates or deletes (kube-controller-manager's DaemonSet burst).
pub const DAEMON_BURST: usize = 250;

/// One sync's decisions for a DaemonSet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DaemonSetPlan {
    /// Orphan pods to adopt and owned pods to release.
    pub adopt: Vec<String>,
    pub release: Vec<String>,
    /// The same for ControllerRevisions.
    pub adopt_revisions: Vec<String>,
    pub release_revisions: Vec<String>,
    /// Create this revision before any pod: it records the current template.
    pub create_revision: Option<ControllerRevision>,
    /// `(name, revision)`: an old revision that records the current template becomes newest.
    pub renumber_revision: Option<(String, i64)>,
    /// Duplicate revisions and history beyond `revisionHistoryLimit`.
    pub delete_revisions: Vec<String>,
    /// New daemon pods, each pinned to its node; create them in
    /// [`crate::slow_start_batches`] and stop at the first failing batch.
    pub create: Vec<Pod>,
    /// Pods to delete gracefully.
    pub delete: Vec<String>,
    /// Pods whose node is gone: delete with `gracePeriodSeconds=0`.
    pub force_delete: Vec<String>,
    /// The status to write; `None` leaves it alone (a DaemonSet being deleted, whose history
    /// may already be half gone, reports nothing, as in Kubernetes).
    pub status: Option<DaemonSetStatus>,
}

impl DaemonSetPlan {
    /// Whether the plan creates or deletes pods (the loop then expects to see them).
    pub fn changes_pods(&self) -> bool {
        !(self.create.is_empty() && self.delete.is_empty() && self.force_delete.is_empty())
    }
}

/// The default tolerations of every daemon pod: a daemon keeps running on a node that is not
/// ready or unreachable, and is placed on nodes under resource pressure or cordoned, because
/// it is usually what makes the node work. `network-unavailable` is tolerated only by
/// host-network pods, which do not need the pod network.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let mut defaults = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec.host_network == Some(true) {
        defaults.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for (key, effect) in defaults {
        let wanted = Toleration {
            key: Some(key.to_owned()),
            operator: Some("Exists".to_owned()),
            effect: Some(effect.to_owned()),
            ..Toleration::default()
        };
        // Same key, operator, value and effect: the default replaces it (dropping any
        // tolerationSeconds, so the daemon is never evicted for it).
        let same = |t: &Toleration| {
            t.key == wanted.key
                && t.operator == wanted.operator
                && t.value.as_deref().unwrap_or("").is_empty()
                && t.effect == wanted.effect
        };
        match tolerations.iter_mut().find(|t| same(t)) {
            Some(existing) => *existing = wanted,
            None => tolerations.push(wanted),
        }
    }
}

/// `(should_run, should_continue_running)` of a daemon pod with `spec` (its tolerations
/// already completed) on `node`. A node that fails the name or affinity rules runs no daemon
/// pod; one with untolerated taints gets no new pod, but an existing one stays unless a
/// `NoExecute` taint is among them.
pub fn node_should_run(spec: &PodSpec, node: &Node) -> (bool, bool) {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    if spec
        .node_name
        .as_deref()
        .is_some_and(|n| !n.is_empty() && n != name)
    {
        return (false, false);
    }
    let empty = BTreeMap::new();
    let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let affinity_ok = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_none_or(|required| selector_matches(required, labels, name));
    if !selector_ok || !affinity_ok {
        return (false, false);
    }
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    let untolerated: Vec<&str> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default()
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .filter(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
        .map(|t| t.effect.as_str())
        .collect();
    if untolerated.is_empty() {
        (true, true)
    } else {
        (false, !untolerated.contains(&"NoExecute"))
    }
}

/// The affinity that pins a daemon pod to `node`: the required node selector becomes the one
/// term `matchFields metadata.name In [node]`; preferred terms and pod (anti-)affinity stay.
pub fn pin_to_node(affinity: Option<Affinity>, node: &str) -> Affinity {
    let pinned = NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_fields: Some(vec![NodeSelectorRequirement {
                key: "metadata.name".to_owned(),
                operator: "In".to_owned(),
                values: Some(vec![node.to_owned()]),
            }]),
            match_expressions: None,
        }],
    };
    let mut affinity = affinity.unwrap_or_default();
    affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default)
        .required_during_scheduling_ignored_during_execution = Some(pinned);
    affinity
}

/// The node a daemon pod is for: its `spec.nodeName` once bound, before that the single name
/// its required node affinity pins it to.
pub fn target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(name) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(name.to_owned());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|term| {
        term.match_fields.iter().flatten().find_map(|r| {
            match (r.key.as_str(), r.operator.as_str(), r.values.as_deref()) {
                ("metadata.name", "In", Some([name])) => Some(name.clone()),
                _ => None,
            }
        })
    })
}

fn template_generation(ds: &DaemonSet) -> Option<i64> {
    ds.metadata
        .annotations
        .as_ref()?
        .get(TEMPLATE_GENERATION_ANNOTATION)?
        .parse()
        .ok()
}

fn label<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

/// Whether a pod runs the current template: it carries the current hash, or the template
/// generation of DaemonSets from before revisions.
fn is_updated(pod: &Pod, hash: &str, generation: Option<i64>) -> bool {
    let hash_matches = !hash.is_empty() && label(pod, REVISION_HASH_LABEL) == Some(hash);
    let generation_matches = generation
        .is_some_and(|g| label(pod, TEMPLATE_GENERATION_LABEL) == Some(g.to_string().as_str()));
    hash_matches || generation_matches
}

fn bound(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

/// Bound pods first, then oldest first, then by name: the pod a node keeps and reports.
fn oldest_first(pods: &mut [&Pod]) {
    pods.sort_by(|a, b| {
        bound(b)
            .cmp(&bound(a))
            .then_with(|| {
                let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
                created(a).cmp(&created(b))
            })
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

fn name_of(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

/// The resolved rolling-update budget.
#[derive(Debug, Clone, Copy)]
enum Strategy {
    OnDelete,
    RollingUpdate {
        max_surge: i32,
        max_unavailable: i32,
    },
}

fn strategy_of(ds: &DaemonSet, desired: i32) -> Result<Strategy, ControllerError> {
    let strategy = ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref());
    if strategy.and_then(|s| s.type_.as_deref()) == Some("OnDelete") {
        return Ok(Strategy::OnDelete);
    }
    let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
    let resolve = |v: Option<&IntOrString>, default: i32| match v {
        Some(v) => resolve_int_or_percent(v, desired, true),
        None => Ok(default),
    };
    let max_surge = resolve(rolling.and_then(|r| r.max_surge.as_ref()), 0)?;
    let mut max_unavailable = resolve(rolling.and_then(|r| r.max_unavailable.as_ref()), 1)?;
    // Neither surge nor unavailability would never make progress: accept one unavailable.
    if desired > 0 && max_surge == 0 && max_unavailable == 0 {
        max_unavailable = 1;
    }
    Ok(Strategy::RollingUpdate {
        max_surge,
        max_unavailable,
    })
}

/// Whether the DaemonSet may run two pods on a node during an update: a non-zero maxSurge
/// (resolved against one node, so any percentage above zero counts).
fn allows_surge(ds: &DaemonSet) -> bool {
    let strategy = ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref());
    if strategy.and_then(|s| s.type_.as_deref()) == Some("OnDelete") {
        return false;
    }
    strategy
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.max_surge.as_ref())
        .is_some_and(|s| resolve_int_or_percent(s, 1, true).is_ok_and(|n| n != 0))
}

/// Makes one sync's plan for `ds`. `pods` and `revisions` are those of its namespace; `nodes`
/// every node.
pub fn plan_daemonset(
    ds: &DaemonSet,
    nodes: &[Node],
    pods: &[Pod],
    revisions: &[ControllerRevision],
    now: Timestamp,
) -> Result<DaemonSetPlan, ControllerError> {
    let kind = "DaemonSet";
    let (name, uid) = name_and_uid(&ds.metadata, kind)?;
    let spec = ds.spec.clone().unwrap_or_default();
    let selector = controller_selector(kind, &name, Some(&spec.selector))?;
    let mut plan = DaemonSetPlan::default();
    if ds.metadata.deletion_timestamp.is_some() {
        return Ok(plan);
    }
    let old_status = ds.status.clone().unwrap_or_default();
    let namespace = ds.metadata.namespace.as_deref();

    // History first: the current revision's hash labels every pod made in this sync.
    let owner = HistoryOwner {
        api_version: "apps/v1",
        kind,
        name: &name,
        namespace,
        uid: &uid,
        deleting: false,
        selector: &selector,
        annotations: ds.metadata.annotations.as_ref(),
        template: &spec.template,
        collision_count: old_status.collision_count,
    };
    let claimed = history::claim_revisions(&owner, revisions);
    plan.adopt_revisions = claimed.adopt.clone();
    plan.release_revisions = claimed.release.clone();
    let current = match history::current_revision(&owner, &claimed.owned, revisions) {
        Ok(current) => current,
        Err(history::Collision) => {
            let mut status = old_status.clone();
            status.collision_count = Some(old_status.collision_count.unwrap_or(0) + 1);
            plan.status = Some(status);
            return Ok(plan);
        }
    };
    let hash = current.hash.clone();
    plan.create_revision = current.create.clone();
    plan.renumber_revision = current.renumber.clone();
    plan.delete_revisions = current.duplicates.clone();

    // Claim pods and group them by the node they are for.
    let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for pod in pods {
        if pod.metadata.namespace.is_some() && pod.metadata.namespace.as_deref() != namespace {
            continue;
        }
        let owned = match claim(&uid, false, &selector, &pod.metadata) {
            Claim::Keep => true,
            Claim::Adopt => {
                plan.adopt.push(name_of(pod));
                true
            }
            Claim::Release => {
                plan.release.push(name_of(pod));
                false
            }
            Claim::Ignore => false,
        };
        if let (true, Some(node)) = (owned, target_node(pod)) {
            by_node.entry(node).or_default().push(pod);
        }
    }

    let mut daemon_spec = spec.template.spec.clone().unwrap_or_default();
    add_daemon_tolerations(&mut daemon_spec);
    let eligibility: BTreeMap<&str, (bool, bool)> = nodes
        .iter()
        .filter_map(|n| {
            Some((
                n.metadata.name.as_deref()?,
                node_should_run(&daemon_spec, n),
            ))
        })
        .collect();
    let generation = template_generation(ds);
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let surge = allows_surge(ds);

    // What each node needs.
    let mut needing: Vec<String> = Vec::new();
    let mut delete: Vec<String> = Vec::new();
    for (&node, &(should_run, should_continue)) in &eligibility {
        let daemon_pods = by_node.get(node);
        match daemon_pods {
            None if should_run => needing.push(node.to_owned()),
            None => {}
            Some(list) if should_continue => {
                let mut running: Vec<&Pod> = Vec::new();
                for pod in list
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                {
                    match phase(pod) {
                        Some("Failed") | Some("Succeeded") => delete.push(name_of(pod)),
                        _ => running.push(pod),
                    }
                }
                oldest_first(&mut running);
                if !surge {
                    // One pod per node: the oldest stays.
                    delete.extend(running.iter().skip(1).map(|p| name_of(p)));
                    continue;
                }
                if running.is_empty() {
                    if should_run {
                        needing.push(node.to_owned());
                    }
                    continue;
                }
                // Surging: at most the oldest new and the oldest old pod; the old one goes once
                // it is not ready or the new one is available.
                let mut oldest_new: Option<&Pod> = None;
                let mut oldest_old: Option<&Pod> = None;
                for pod in running {
                    let slot = if label(pod, REVISION_HASH_LABEL) == Some(hash.as_str()) {
                        &mut oldest_new
                    } else {
                        &mut oldest_old
                    };
                    if slot.is_none() {
                        *slot = Some(pod);
                    } else {
                        delete.push(name_of(pod));
                    }
                }
                if let (Some(new), Some(old)) = (oldest_new, oldest_old) {
                    if !is_pod_ready(old) || is_pod_available(new, min_ready, now) {
                        delete.push(name_of(old));
                    }
                }
            }
            Some(list) => {
                delete.extend(
                    list.iter()
                        .filter(|p| p.metadata.deletion_timestamp.is_none())
                        .map(|p| name_of(p)),
                );
            }
        }
    }
    // Pods for nodes that no longer exist.
    for (node, list) in &by_node {
        if eligibility.contains_key(node.as_str()) {
            continue;
        }
        for pod in list {
            if bound(pod) || pod.metadata.deletion_timestamp.is_none() {
                plan.force_delete.push(name_of(pod));
            }
        }
    }

    let desired =
        i32::try_from(eligibility.values().filter(|(run, _)| *run).count()).unwrap_or(i32::MAX);
    let strategy = strategy_of(ds, desired)?;

    // A rolling-update step only when the node pass changed nothing, so that the two never
    // decide on the same pod in one sync.
    if needing.is_empty() && delete.is_empty() && plan.force_delete.is_empty() {
        if let Strategy::RollingUpdate {
            max_surge,
            max_unavailable,
        } = strategy
        {
            let step = RollingStep {
                by_node: &by_node,
                eligibility: &eligibility,
                hash: &hash,
                generation,
                min_ready,
                now,
            };
            let (more_needing, more_delete) = if max_surge == 0 {
                step.without_surge(max_unavailable)
            } else {
                step.with_surge(max_surge, desired)
            };
            needing.extend(more_needing);
            delete.extend(more_delete);
        }
    }

    needing.truncate(DAEMON_BURST);
    delete.truncate(DAEMON_BURST);
    let template = daemon_template(&spec.template, &daemon_spec, &hash, generation);
    plan.create = needing
        .iter()
        .map(|node| daemon_pod(&template, namespace, &name, &uid, node))
        .collect();
    plan.delete = delete;

    // History beyond the limit, oldest first, keeping any revision a pod still runs.
    let live: HashSet<&str> = by_node
        .values()
        .flatten()
        .filter_map(|p| label(p, REVISION_HASH_LABEL))
        .collect();
    let old: Vec<&ControllerRevision> = claimed
        .owned
        .iter()
        .copied()
        .filter(|r| r.metadata.name.as_deref() != Some(current.name.as_str()))
        .filter(|r| {
            r.metadata
                .name
                .as_ref()
                .is_none_or(|n| !current.duplicates.contains(n))
        })
        .collect();
    let limit = usize::try_from(spec.revision_history_limit.unwrap_or(10).max(0)).unwrap_or(0);
    let mut to_kill = old.len().saturating_sub(limit);
    for revision in old {
        if to_kill == 0 {
            break;
        }
        if history::hash_label(revision).is_some_and(|h| live.contains(h)) {
            continue;
        }
        plan.delete_revisions.extend(revision.metadata.name.clone());
        to_kill -= 1;
    }

    plan.status = Some(status_of(
        ds,
        &eligibility,
        &by_node,
        &hash,
        generation,
        min_ready,
        now,
    ));
    Ok(plan)
}

/// The snapshot one rolling-update step decides on.
struct RollingStep<'a> {
    by_node: &'a BTreeMap<String, Vec<&'a Pod>>,
    eligibility: &'a BTreeMap<&'a str, (bool, bool)>,
    hash: &'a str,
    generation: Option<i64>,
    min_ready: i32,
    now: Timestamp,
}

impl RollingStep<'_> {
    /// The nodes the step considers: those with daemon pods, and those that should run one.
    fn nodes(&self) -> BTreeSet<&str> {
        self.by_node
            .keys()
            .map(String::as_str)
            .chain(
                self.eligibility
                    .iter()
                    .filter(|(_, (run, _))| *run)
                    .map(|(n, _)| *n),
            )
            .collect()
    }

    /// The updated and the old pod on a node, or `None` when there are more than one of
    /// either (the node pass cleans that up first).
    fn split(&self, node: &str) -> Option<(Option<&Pod>, Option<&Pod>)> {
        let mut new = None;
        let mut old = None;
        for pod in self.by_node.get(node).into_iter().flatten() {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let slot = if is_updated(pod, self.hash, self.generation) {
                &mut new
            } else {
                &mut old
            };
            if slot.is_some() {
                return None;
            }
            *slot = Some(*pod);
        }
        Some((new, old))
    }

    fn available(&self, pod: &Pod) -> bool {
        is_pod_available(pod, self.min_ready, self.now)
    }

    /// Without surge: delete old pods (the node pass then creates new ones) while no more than
    /// `max_unavailable` nodes are without an available pod. Old pods that are unavailable
    /// anyway are always replaced.
    fn without_surge(&self, max_unavailable: i32) -> (Vec<String>, Vec<String>) {
        let mut unavailable = 0;
        let mut replace: Vec<String> = Vec::new();
        let mut candidates: Vec<String> = Vec::new();
        for node in self.nodes() {
            let Some((new, old)) = self.split(node) else {
                unavailable += 1;
                continue;
            };
            match (new, old) {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(new), None) => {
                    if !self.available(new) {
                        unavailable += 1;
                    }
                }
                (None, Some(old)) => {
                    if !self.available(old) {
                        replace.push(name_of(old));
                        unavailable += 1;
                    } else if unavailable < max_unavailable {
                        candidates.push(name_of(old));
                    }
                }
            }
        }
        let room = usize::try_from((max_unavailable - unavailable).max(0)).unwrap_or(0);
        replace.extend(candidates.into_iter().take(room));
        (Vec::new(), replace)
    }

    /// With surge: start a new pod beside an old one (at most `max_surge` at a time, always
    /// where the old one is unavailable), and delete the old one once the new one is
    /// available. Old pods on nodes that should no longer run one go only while more than
    /// `desired` pods are available.
    fn with_surge(&self, max_surge: i32, desired: i32) -> (Vec<String>, Vec<String>) {
        let mut delete: Vec<String> = Vec::new();
        let mut leaving: Vec<String> = Vec::new();
        let mut allowed: Vec<String> = Vec::new();
        let mut candidates: Vec<String> = Vec::new();
        let mut surging = 0;
        let mut available = 0;
        for node in self.nodes() {
            let Some((new, old)) = self.split(node) else {
                surging += 1;
                continue;
            };
            if let Some(p) = old.or(new) {
                if self.available(p) {
                    available += 1;
                }
            }
            let should_run = self.eligibility.get(node).is_some_and(|(run, _)| *run);
            match (new, old) {
                (_, None) => {}
                (None, Some(old)) => {
                    if !self.available(old) {
                        if should_run {
                            allowed.push(node.to_owned());
                        } else {
                            delete.push(name_of(old));
                        }
                    } else if !should_run {
                        leaving.push(name_of(old));
                    } else if surging < max_surge {
                        candidates.push(node.to_owned());
                    }
                }
                (Some(new), Some(old)) => {
                    if self.available(new) {
                        delete.push(name_of(old));
                    } else {
                        surging += 1;
                    }
                }
            }
        }
        let deletable = usize::try_from((available - desired).max(0)).unwrap_or(0);
        delete.extend(leaving.into_iter().take(deletable));
        let room = usize::try_from((max_surge - surging).max(0)).unwrap_or(0);
        allowed.extend(candidates.into_iter().take(room));
        (allowed, delete)
    }
}

/// The template new pods are made from: the DaemonSet's, labelled with the revision hash
/// (and template generation) and with the daemon tolerations.
fn daemon_template(
    template: &PodTemplateSpec,
    daemon_spec: &PodSpec,
    hash: &str,
    generation: Option<i64>,
) -> PodTemplateSpec {
    let mut template = template.clone();
    let labels = template
        .metadata
        .get_or_insert_with(ObjectMeta::default)
        .labels
        .get_or_insert_with(BTreeMap::new);
    if let Some(g) = generation {
        labels.insert(TEMPLATE_GENERATION_LABEL.to_owned(), g.to_string());
    }
    labels.insert(REVISION_HASH_LABEL.to_owned(), hash.to_owned());
    template.spec = Some(daemon_spec.clone());
    template
}

fn daemon_pod(
    template: &PodTemplateSpec,
    namespace: Option<&str>,
    ds_name: &str,
    uid: &str,
    node: &str,
) -> Pod {
    let meta = template.metadata.clone().unwrap_or_default();
    let mut spec = template.spec.clone().unwrap_or_default();
    spec.affinity = Some(pin_to_node(spec.affinity.take(), node));
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{ds_name}-")),
            namespace: namespace.map(str::to_owned),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![controller_reference(
                "apps/v1",
                "DaemonSet",
                ds_name,
                uid,
            )]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

fn status_of(
    ds: &DaemonSet,
    eligibility: &BTreeMap<&str, (bool, bool)>,
    by_node: &BTreeMap<String, Vec<&Pod>>,
    hash: &str,
    generation: Option<i64>,
    min_ready: i32,
    now: Timestamp,
) -> DaemonSetStatus {
    let mut status = DaemonSetStatus {
        observed_generation: ds.metadata.generation,
        collision_count: ds.status.as_ref().and_then(|s| s.collision_count),
        conditions: ds.status.as_ref().and_then(|s| s.conditions.clone()),
        ..DaemonSetStatus::default()
    };
    let mut available = 0;
    let mut ready = 0;
    let mut updated = 0;
    for (node, (should_run, _)) in eligibility {
        let pods = by_node.get(*node).filter(|p| !p.is_empty());
        if !should_run {
            if pods.is_some() {
                status.number_misscheduled += 1;
            }
            continue;
        }
        status.desired_number_scheduled += 1;
        let Some(pods) = pods else { continue };
        status.current_number_scheduled += 1;
        let mut pods = pods.clone();
        oldest_first(&mut pods);
        let pod = pods[0];
        if is_pod_ready(pod) {
            ready += 1;
            if is_pod_available(pod, min_ready, now) {
                available += 1;
            }
        }
        if is_updated(pod, hash, generation) {
            updated += 1;
        }
    }
    status.number_ready = ready;
    status.number_available = Some(available);
    status.number_unavailable = Some(status.desired_number_scheduled - available);
    status.updated_number_scheduled = Some(updated);
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{merge, now};
    use serde_json::{json, Value};

    fn ds(extra: Value) -> DaemonSet {
        let mut base = json!({
            "metadata": {"name": "agent", "namespace": "default", "uid": "ds-uid", "generation": 2},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {"containers": [{"name": "a", "image": "agent:1"}]}
                },
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                "revisionHistoryLimit": 10
            }
        });
        merge(&mut base, extra);
        serde_json::from_value(base).unwrap()
    }

    fn node(name: &str, extra: Value) -> Node {
        let mut base =
            json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}});
        merge(&mut base, extra);
        serde_json::from_value(base).unwrap()
    }

    fn hash_of(d: &DaemonSet) -> String {
        crate::deployment::pod_template_hash(&d.spec.as_ref().unwrap().template, None)
    }

    /// The revision of `d`'s current template, as the controller would have made it.
    fn revision_of(d: &DaemonSet, number: i64) -> ControllerRevision {
        let template = &d.spec.as_ref().unwrap().template;
        let hash = hash_of(d);
        serde_json::from_value(json!({
            "metadata": {"name": format!("agent-{hash}"), "namespace": "default",
                         "labels": {"app": "agent", REVISION_HASH_LABEL: hash},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent",
                                              "uid": "ds-uid", "controller": true}]},
            "data": history::template_patch(template),
            "revision": number
        }))
        .unwrap()
    }

    /// A ready daemon pod of `hash` bound to `node`.
    fn pod(name: &str, node: &str, hash: &str, extra: Value) -> Pod {
        let mut base = json!({
            "metadata": {
                "name": name, "namespace": "default",
                "labels": {"app": "agent", REVISION_HASH_LABEL: hash},
                "creationTimestamp": "2024-05-01T10:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent",
                                     "uid": "ds-uid", "controller": true}]
            },
            "spec": {"nodeName": node, "containers": [{"name": "a", "image": "agent:1"}]},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T10:01:00Z"}
            ]}
        });
        merge(&mut base, extra);
        serde_json::from_value(base).unwrap()
    }

    fn created_nodes(plan: &DaemonSetPlan) -> Vec<String> {
        plan.create
            .iter()
            .map(|p| target_node(p).unwrap())
            .collect()
    }

    #[test]
    fn a_new_daemon_set_records_a_revision_and_pins_one_pod_to_each_eligible_node() {
        let d = ds(json!({}));
        let nodes = vec![
            node("n1", json!({})),
            node(
                "n2",
                json!({"spec": {"taints": [{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]}}),
            ),
            node(
                "n3",
                json!({"spec": {"unschedulable": true, "taints": [
                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]}}),
            ),
        ];
        let plan = plan_daemonset(&d, &nodes, &[], &[], now()).unwrap();
        let revision = plan.create_revision.as_ref().expect("a first revision");
        assert_eq!(revision.revision, 1);
        let hash = hash_of(&d);
        assert_eq!(
            revision.metadata.name.as_deref(),
            Some(format!("agent-{hash}").as_str())
        );
        assert_eq!(
            created_nodes(&plan),
            vec!["n1", "n3"],
            "the untolerated gpu taint keeps n2 out; the cordon is tolerated"
        );
        let p = &plan.create[0];
        assert_eq!(p.metadata.generate_name.as_deref(), Some("agent-"));
        assert_eq!(
            p.metadata.labels.as_ref().unwrap()[REVISION_HASH_LABEL],
            hash
        );
        let spec = p.spec.as_ref().unwrap();
        assert!(spec.node_name.is_none(), "the scheduler binds it");
        let tolerations = spec.tolerations.as_ref().unwrap();
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
            "node.kubernetes.io/disk-pressure",
            "node.kubernetes.io/memory-pressure",
            "node.kubernetes.io/pid-pressure",
            "node.kubernetes.io/unschedulable",
        ] {
            assert!(
                tolerations.iter().any(|t| t.key.as_deref() == Some(key)),
                "{key} missing"
            );
        }
        assert!(!tolerations
            .iter()
            .any(|t| t.key.as_deref() == Some("node.kubernetes.io/network-unavailable")));
        let status = plan.status.unwrap();
        assert_eq!(status.desired_number_scheduled, 2);
        assert_eq!(status.current_number_scheduled, 0);
        assert_eq!(status.number_unavailable, Some(2));
        assert_eq!(status.observed_generation, Some(2));
    }

    #[test]
    fn node_selector_and_required_affinity_limit_the_nodes_and_pinning_replaces_the_terms() {
        let d = ds(json!({"spec": {"template": {"spec": {
            "nodeSelector": {"role": "edge"},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}
        }}}}));
        let nodes = vec![
            node(
                "edge-a",
                json!({"metadata": {"labels": {"role": "edge", "zone": "a"}}}),
            ),
            node(
                "edge-b",
                json!({"metadata": {"labels": {"role": "edge", "zone": "b"}}}),
            ),
            node(
                "core-a",
                json!({"metadata": {"labels": {"role": "core", "zone": "a"}}}),
            ),
        ];
        let plan = plan_daemonset(&d, &nodes, &[], &[], now()).unwrap();
        assert_eq!(created_nodes(&plan), vec!["edge-a"]);
        let required = plan.create[0]
            .spec
            .as_ref()
            .unwrap()
            .affinity
            .as_ref()
            .unwrap()
            .node_affinity
            .as_ref()
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .clone()
            .unwrap();
        assert_eq!(required.node_selector_terms.len(), 1);
        let term = &required.node_selector_terms[0];
        assert!(term.match_expressions.is_none());
        assert_eq!(
            term.match_fields.as_ref().unwrap()[0].values,
            Some(vec!["edge-a".to_owned()])
        );
    }

    #[test]
    fn host_network_daemons_tolerate_an_unavailable_network() {
        let mut spec: PodSpec = serde_json::from_value(json!({"hostNetwork": true, "containers": [],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}]}))
        .unwrap();
        add_daemon_tolerations(&mut spec);
        let tolerations = spec.tolerations.unwrap();
        assert_eq!(tolerations.len(), 7);
        let not_ready = tolerations
            .iter()
            .find(|t| t.key.as_deref() == Some("node.kubernetes.io/not-ready"))
            .unwrap();
        assert_eq!(
            not_ready.toleration_seconds, None,
            "the default replaces the bounded toleration"
        );
        assert!(tolerations
            .iter()
            .any(|t| t.key.as_deref() == Some("node.kubernetes.io/network-unavailable")));
    }

    #[test]
    fn a_no_schedule_taint_keeps_the_existing_pod_but_no_execute_evicts_it() {
        let d = ds(json!({}));
        let hash = hash_of(&d);
        let nodes = vec![
            node(
                "soft",
                json!({"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}),
            ),
            node(
                "hard",
                json!({"spec": {"taints": [{"key": "k", "effect": "NoExecute"}]}}),
            ),
        ];
        let pods = vec![
            pod("a-soft", "soft", &hash, json!({})),
            pod("a-hard", "hard", &hash, json!({})),
        ];
        let plan = plan_daemonset(&d, &nodes, &pods, &[revision_of(&d, 1)], now()).unwrap();
        assert!(plan.create.is_empty());
        assert_eq!(plan.delete, vec!["a-hard"]);
        let status = plan.status.unwrap();
        assert_eq!(status.desired_number_scheduled, 0);
        assert_eq!(status.number_misscheduled, 2);
    }

    #[test]
    fn duplicates_and_failed_pods_are_deleted_and_the_oldest_stays() {
        let d = ds(json!({}));
        let hash = hash_of(&d);
        let nodes = vec![node("n1", json!({})), node("n2", json!({}))];
        let pods = vec![
            pod("old", "n1", &hash, json!({})),
            pod(
                "young",
                "n1",
                &hash,
                json!({"metadata": {"creationTimestamp": "2024-05-01T11:00:00Z"}}),
            ),
            pod(
                "failed",
                "n2",
                &hash,
                json!({"status": {"phase": "Failed"}}),
            ),
        ];
        let plan = plan_daemonset(&d, &nodes, &pods, &[revision_of(&d, 1)], now()).unwrap();
        assert!(plan.create_revision.is_none());
        assert_eq!(plan.delete, vec!["young", "failed"]);
        assert!(
            plan.create.is_empty(),
            "n2 gets its new pod once the failed one is gone"
        );
    }

    #[test]
    fn pods_of_a_deleted_node_are_force_deleted_and_orphans_adopted() {
        let d = ds(json!({}));
        let hash = hash_of(&d);
        let nodes = vec![node("n1", json!({}))];
        let pods = vec![
            pod(
                "orphan",
                "n1",
                &hash,
                json!({"metadata": {"ownerReferences": null}}),
            ),
            pod(
                "stranded",
                "gone",
                &hash,
                json!({"metadata": {"deletionTimestamp": "2024-05-01T11:59:00Z"}}),
            ),
        ];
        let plan = plan_daemonset(&d, &nodes, &pods, &[revision_of(&d, 1)], now()).unwrap();
        assert_eq!(plan.adopt, vec!["orphan"]);
        assert_eq!(plan.force_delete, vec!["stranded"]);
        assert!(plan.create.is_empty() && plan.delete.is_empty());
        assert_eq!(plan.status.unwrap().current_number_scheduled, 1);
    }

    #[test]
    fn a_pending_pod_pinned_by_affinity_counts_for_its_node() {
        let d = ds(json!({}));
        let hash = hash_of(&d);
        let unbound = pod(
            "p",
            "n1",
            &hash,
            json!({"spec": {"nodeName": null, "affinity": pin_to_node(None, "n1")},
                   "status": {"phase": "Pending", "conditions": null}}),
        );
        let plan = plan_daemonset(
            &d,
            &[node("n1", json!({}))],
            &[unbound],
            &[revision_of(&d, 1)],
            now(),
        )
        .unwrap();
        assert!(plan.create.is_empty());
        let status = plan.status.unwrap();
        assert_eq!(status.current_number_scheduled, 1);
        assert_eq!(status.number_ready, 0);
        assert_eq!(status.updated_number_scheduled, Some(1));
    }

    #[test]
    fn a_rolling_update_replaces_max_unavailable_old_pods_at_a_time() {
        let old = ds(json!({}));
        let old_hash = hash_of(&old);
        let d = ds(
            json!({"metadata": {"generation": 3}, "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "agent:2"}]}}}}),
        );
        let nodes: Vec<Node> = (1..=3).map(|i| node(&format!("n{i}"), json!({}))).collect();
        let pods: Vec<Pod> = (1..=3)
            .map(|i| pod(&format!("p{i}"), &format!("n{i}"), &old_hash, json!({})))
            .collect();
        let revisions = vec![revision_of(&old, 1)];
        let plan = plan_daemonset(&d, &nodes, &pods, &revisions, now()).unwrap();
        let created = plan.create_revision.as_ref().expect("revision 2");
        assert_eq!(created.revision, 2);
        assert_eq!(plan.delete.len(), 1, "maxUnavailable 1: {:?}", plan.delete);
        assert!(plan.create.is_empty());
        let status = plan.status.unwrap();
        assert_eq!(status.updated_number_scheduled, Some(0));
        assert_eq!(status.number_available, Some(3));

        // One node has the new pod, not ready yet: nothing more goes.
        let new_hash = hash_of(&d);
        let mut pods = pods;
        pods[0] = pod(
            "p1-new",
            "n1",
            &new_hash,
            json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
        );
        let revisions = vec![revision_of(&old, 1), revision_of(&d, 2)];
        let plan = plan_daemonset(&d, &nodes, &pods, &revisions, now()).unwrap();
        assert!(plan.delete.is_empty() && plan.create.is_empty());
        assert_eq!(plan.status.unwrap().updated_number_scheduled, Some(1));

        // Ready: the next old pod goes.
        pods[0] = pod("p1-new", "n1", &new_hash, json!({}));
        let plan = plan_daemonset(&d, &nodes, &pods, &revisions, now()).unwrap();
        assert_eq!(plan.delete, vec!["p2"]);
    }

    #[test]
    fn on_delete_leaves_old_pods_alone() {
        let old = ds(json!({}));
        let old_hash = hash_of(&old);
        let d = ds(
            json!({"spec": {"updateStrategy": {"type": "OnDelete", "rollingUpdate": null},
            "template": {"spec": {"containers": [{"name": "a", "image": "agent:2"}]}}}}),
        );
        let plan = plan_daemonset(
            &d,
            &[node("n1", json!({}))],
            &[pod("p1", "n1", &old_hash, json!({}))],
            &[revision_of(&old, 1)],
            now(),
        )
        .unwrap();
        assert!(plan.delete.is_empty() && plan.create.is_empty());
        assert_eq!(plan.status.unwrap().updated_number_scheduled, Some(0));
    }

    #[test]
    fn surging_starts_new_pods_beside_old_ones_and_removes_old_ones_once_new_are_available() {
        let old = ds(json!({}));
        let old_hash = hash_of(&old);
        let d = ds(json!({"spec": {
            "updateStrategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"spec": {"containers": [{"name": "a", "image": "agent:2"}]}}}}));
        let new_hash = hash_of(&d);
        let nodes = vec![node("n1", json!({})), node("n2", json!({}))];
        let revisions = vec![revision_of(&old, 1), revision_of(&d, 2)];
        let pods = vec![
            pod("p1", "n1", &old_hash, json!({})),
            pod("p2", "n2", &old_hash, json!({})),
        ];
        let plan = plan_daemonset(&d, &nodes, &pods, &revisions, now()).unwrap();
        assert_eq!(created_nodes(&plan), vec!["n1"], "one surge pod at a time");
        assert!(plan.delete.is_empty());

        let mut pods = pods;
        pods.push(pod(
            "p1-new",
            "n1",
            &new_hash,
            json!({"metadata": {"creationTimestamp": "2024-05-01T11:00:00Z"}}),
        ));
        let plan = plan_daemonset(&d, &nodes, &pods, &revisions, now()).unwrap();
        assert_eq!(plan.delete, vec!["p1"], "the new pod on n1 is available");
    }

    #[test]
    fn history_beyond_the_limit_goes_oldest_first_unless_a_pod_still_runs_it() {
        let d = ds(json!({"spec": {"revisionHistoryLimit": 1}}));
        let hash = hash_of(&d);
        let mut revisions: Vec<ControllerRevision> = (1..=3)
            .map(|i| {
                let old = ds(json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "a", "image": format!("agent:0.{i}")}]}}}}));
                revision_of(&old, i)
            })
            .collect();
        let oldest_hash = history::hash_label(&revisions[0]).unwrap().to_owned();
        revisions.push(revision_of(&d, 4));
        let pods = vec![
            pod("p1", "n1", &hash, json!({})),
            pod("p2", "n2", &oldest_hash, json!({})),
        ];
        let d = ds(
            json!({"spec": {"revisionHistoryLimit": 1, "updateStrategy": {"type": "OnDelete", "rollingUpdate": null}}}),
        );
        let nodes = vec![node("n1", json!({})), node("n2", json!({}))];
        let plan = plan_daemonset(&d, &nodes, &pods, &revisions, now()).unwrap();
        assert_eq!(
            plan.delete_revisions,
            vec![
                revisions[1].metadata.name.clone().unwrap(),
                revisions[2].metadata.name.clone().unwrap()
            ],
            "two of three old revisions go; revision 1 stays because p2 still runs it"
        );
    }

    #[test]
    fn a_daemon_set_being_deleted_does_nothing() {
        let d = ds(json!({"metadata": {"deletionTimestamp": "2024-05-01T11:00:00Z"}}));
        let plan = plan_daemonset(&d, &[node("n1", json!({}))], &[], &[], now()).unwrap();
        assert_eq!(plan, DaemonSetPlan::default());
    }
}
