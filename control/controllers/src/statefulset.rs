//! The StatefulSet controller: pods with stable names `<set>-<ordinal>`, created, replaced and
//! removed in ordinal order.
//!
//! [`plan_statefulset`] makes one sync's decisions from the StatefulSet and the pods and
//! ControllerRevisions of its namespace, following Kubernetes' `updateStatefulSet`:
//!
//! - The update revision records the current template; the current revision is the one
//!   `status.currentRevision` names. A missing pod below the partition is recreated at the
//!   current revision, any other at the update revision, so a partitioned rollout survives
//!   pod loss.
//! - `OrderedReady` walks the ordinals upwards and stops at the first pod it creates, or that
//!   is not yet Running and Ready (and available for `minReadySeconds`), or is terminating;
//!   scale-down then removes the highest ordinal beyond `replicas`, one at a time, only while
//!   every other pod is healthy. `Parallel` creates and deletes all at once.
//! - `RollingUpdate` deletes the highest-ordinal pod at or above the partition that is not at
//!   the update revision, and waits for it to come back healthy before the next; the normal
//!   pass recreates it at the update revision. With `maxUnavailable` set, up to that many go at
//!   once (Kubernetes' `MaxUnavailableStatefulSet` behaviour; left unset it is the one-at-a-time
//!   default). `OnDelete` replaces pods only when someone deletes them.
//!
//! `volumeClaimTemplates` give each pod the volumes Kubernetes gives it (claim
//! `<template>-<pod>`), but no PersistentVolumeClaim is created: this API server does not serve
//! PVCs and there is no provisioner, and the simulated kubelet mounts nothing.

use std::collections::{BTreeMap, HashSet};

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::deployment::resolve_int_or_percent;
use crate::history::{self, HistoryOwner, REVISION_HASH_LABEL};
use crate::ownership::{claim, controller_reference, controller_selector, name_and_uid, Claim};
use crate::podutil::{is_pod_available, is_pod_ready};
use crate::ControllerError;

/// The label naming a StatefulSet pod, which headless Services and users select one pod by.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label carrying a StatefulSet (or indexed Job) pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// One sync's decisions for a StatefulSet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatefulSetPlan {
    /// Orphan member pods to adopt and owned pods to release.
    pub adopt: Vec<String>,
    pub release: Vec<String>,
    /// The same for ControllerRevisions.
    pub adopt_revisions: Vec<String>,
    pub release_revisions: Vec<String>,
    /// Create this revision first: it records the current template.
    pub create_revision: Option<ControllerRevision>,
    /// `(name, revision)`: an old revision that records the current template becomes newest.
    pub renumber_revision: Option<(String, i64)>,
    /// History beyond `revisionHistoryLimit` that no pod runs.
    pub delete_revisions: Vec<String>,
    /// Pods to create, in this order; stop at the first failure.
    pub create: Vec<Pod>,
    /// Pods to delete.
    pub delete: Vec<String>,
    /// Owned pods whose identity labels are missing or wrong: merge these labels in.
    pub relabel: Vec<(String, BTreeMap<String, String>)>,
    pub status: StatefulSetStatus,
}

impl StatefulSetPlan {
    /// Whether the plan creates or deletes pods (the loop then expects to see them).
    pub fn changes_pods(&self) -> bool {
        !(self.create.is_empty() && self.delete.is_empty())
    }
}

/// `(parent, ordinal)` from a pod name `<parent>-<ordinal>`.
pub fn parent_and_ordinal(pod_name: &str) -> Option<(&str, i32)> {
    let (parent, ordinal) = pod_name.rsplit_once('-')?;
    if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, ordinal.parse().ok()?))
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

fn terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

fn running_and_ready(pod: &Pod) -> bool {
    phase(pod) == Some("Running") && is_pod_ready(pod)
}

fn running_and_available(pod: &Pod, min_ready: i32, now: Timestamp) -> bool {
    phase(pod) == Some("Running") && is_pod_available(pod, min_ready, now)
}

fn healthy(pod: &Pod) -> bool {
    running_and_ready(pod) && !terminating(pod)
}

fn revision_label(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(REVISION_HASH_LABEL)
        .map(String::as_str)
}

fn name_of(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

/// A slot of the ordinal range: a pod that exists, or one this sync makes.
enum Slot<'a> {
    Existing(&'a Pod),
    New(Box<Pod>),
}

impl Slot<'_> {
    fn pod(&self) -> &Pod {
        match self {
            Slot::Existing(p) => p,
            Slot::New(p) => p,
        }
    }
}

/// What the pass over one StatefulSet needs to make its pods.
struct Maker<'a> {
    set: &'a StatefulSet,
    name: &'a str,
    uid: &'a str,
    current_template: PodTemplateSpec,
    update_template: &'a PodTemplateSpec,
    current_revision: String,
    update_revision: String,
    /// Ordinals below this are made at the current revision.
    current_below: i32,
}

impl Maker<'_> {
    /// The pod at `ordinal`, at the revision its position in the rollout calls for.
    fn pod(&self, ordinal: i32) -> Pod {
        let (template, revision) = if ordinal < self.current_below {
            (&self.current_template, &self.current_revision)
        } else {
            (self.update_template, &self.update_revision)
        };
        let spec = self.set.spec.as_ref();
        let pod_name = format!("{}-{ordinal}", self.name);
        let meta = template.metadata.clone().unwrap_or_default();
        let mut labels = meta.labels.unwrap_or_default();
        labels.insert(POD_NAME_LABEL.to_owned(), pod_name.clone());
        labels.insert(POD_INDEX_LABEL.to_owned(), ordinal.to_string());
        labels.insert(REVISION_HASH_LABEL.to_owned(), revision.clone());
        let mut pod_spec = template.spec.clone().unwrap_or_default();
        pod_spec.hostname = Some(pod_name.clone());
        pod_spec.subdomain = spec
            .and_then(|s| s.service_name.clone())
            .filter(|s| !s.is_empty());
        // Each claim template becomes a volume of the same name, replacing a template volume
        // that shares it.
        for claim in spec
            .and_then(|s| s.volume_claim_templates.as_ref())
            .into_iter()
            .flatten()
        {
            let claim_name = claim.metadata.name.clone().unwrap_or_default();
            let volume = Volume {
                name: claim_name.clone(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: format!("{claim_name}-{pod_name}"),
                    read_only: None,
                }),
                ..Volume::default()
            };
            let volumes = pod_spec.volumes.get_or_insert_with(Vec::new);
            volumes.retain(|v| v.name != claim_name);
            volumes.push(volume);
        }
        Pod {
            metadata: ObjectMeta {
                name: Some(pod_name),
                namespace: self.set.metadata.namespace.clone(),
                labels: Some(labels),
                annotations: meta.annotations,
                finalizers: meta.finalizers,
                owner_references: Some(vec![controller_reference(
                    "apps/v1",
                    "StatefulSet",
                    self.name,
                    self.uid,
                )]),
                ..ObjectMeta::default()
            },
            spec: Some(pod_spec),
            status: None,
        }
    }
}

/// Makes one sync's plan for `set`. `pods` and `revisions` are those of its namespace.
pub fn plan_statefulset(
    set: &StatefulSet,
    pods: &[Pod],
    revisions: &[ControllerRevision],
    now: Timestamp,
) -> Result<StatefulSetPlan, ControllerError> {
    let kind = "StatefulSet";
    let (name, uid) = name_and_uid(&set.metadata, kind)?;
    let spec = set.spec.clone().unwrap_or_default();
    let selector = controller_selector(kind, &name, Some(&spec.selector))?;
    let deleting = set.metadata.deletion_timestamp.is_some();
    let namespace = set.metadata.namespace.as_deref();
    let old_status = set.status.clone().unwrap_or_default();
    let mut plan = StatefulSetPlan::default();

    let owner = HistoryOwner {
        api_version: "apps/v1",
        kind,
        name: &name,
        namespace,
        uid: &uid,
        deleting,
        selector: &selector,
        annotations: set.metadata.annotations.as_ref(),
        template: &spec.template,
        collision_count: old_status.collision_count,
    };
    let claimed = history::claim_revisions(&owner, revisions);
    plan.adopt_revisions = claimed.adopt.clone();
    plan.release_revisions = claimed.release.clone();
    let update = match history::current_revision(&owner, &claimed.owned, revisions) {
        Ok(update) => update,
        Err(history::Collision) => {
            plan.status = old_status.clone();
            plan.status.collision_count = Some(old_status.collision_count.unwrap_or(0) + 1);
            return Ok(plan);
        }
    };
    if !deleting {
        plan.create_revision = update.create.clone();
        plan.renumber_revision = update.renumber.clone();
    }
    let current = old_status
        .current_revision
        .as_deref()
        .filter(|n| *n != update.name)
        .and_then(|n| {
            claimed
                .owned
                .iter()
                .find(|r| r.metadata.name.as_deref() == Some(n))
        });
    let (current_name, current_template) =
        match current.and_then(|r| Some((r.metadata.name.clone()?, history::template_of(r)?))) {
            Some(found) => found,
            None => (update.name.clone(), spec.template.clone()),
        };

    // Claim member pods: a pod of another name pattern is not ours even if its labels match.
    let mut owned: Vec<&Pod> = Vec::new();
    for pod in pods {
        if pod.metadata.namespace.is_some() && pod.metadata.namespace.as_deref() != namespace {
            continue;
        }
        let pod_name = name_of(pod);
        let member = parent_and_ordinal(&pod_name).is_some_and(|(parent, _)| parent == name);
        match (claim(&uid, deleting, &selector, &pod.metadata), member) {
            (Claim::Keep, true) => owned.push(pod),
            (Claim::Adopt, true) => {
                plan.adopt.push(pod_name);
                owned.push(pod);
            }
            (Claim::Keep, false) if !deleting => plan.release.push(pod_name),
            (Claim::Release, _) => plan.release.push(pod_name),
            _ => {}
        }
    }

    let replicas = spec.replicas.unwrap_or(1).max(0);
    let start = spec.ordinals.as_ref().and_then(|o| o.start).unwrap_or(0);
    let rolling = spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        != Some("OnDelete");
    let rolling_update = spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref());
    let partition = rolling_update.and_then(|r| r.partition);
    let current_below = if !rolling {
        // OnDelete recreates a lost pod at the update revision.
        i32::MIN
    } else {
        match partition {
            Some(p) => start + p,
            None => start + old_status.current_replicas.unwrap_or(0),
        }
    };
    let maker = Maker {
        set,
        name: &name,
        uid: &uid,
        current_template,
        update_template: &spec.template,
        current_revision: current_name.clone(),
        update_revision: update.name.clone(),
        current_below,
    };

    let mut by_ordinal: BTreeMap<i32, &Pod> = BTreeMap::new();
    let mut condemned: Vec<&Pod> = Vec::new();
    for pod in &owned {
        let Some((_, ordinal)) = parent_and_ordinal(pod.metadata.name.as_deref().unwrap_or(""))
        else {
            continue;
        };
        if (start..start + replicas).contains(&ordinal) {
            by_ordinal.insert(ordinal, pod);
        } else {
            condemned.push(pod);
        }
    }
    // Highest ordinal first.
    condemned.sort_by_key(|p| {
        std::cmp::Reverse(parent_and_ordinal(p.metadata.name.as_deref().unwrap_or("")).map(|x| x.1))
    });
    let mut slots: Vec<(i32, Slot)> = (start..start + replicas)
        .map(|ordinal| match by_ordinal.get(&ordinal) {
            Some(p) => (ordinal, Slot::Existing(p)),
            None => (ordinal, Slot::New(Box::new(maker.pod(ordinal)))),
        })
        .collect();

    // The first pod that is not healthy, in ordinal order, then condemned from the lowest.
    let first_unhealthy: Option<String> = slots
        .iter()
        .map(|(_, s)| s.pod())
        .chain(condemned.iter().rev().copied())
        .find(|p| !healthy(p))
        .map(name_of);

    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let monotonic = spec.pod_management_policy.as_deref() != Some("Parallel");
    let mut delete: Vec<String> = Vec::new();

    let mut blocked = deleting;
    if !blocked {
        for (_, slot) in slots.iter_mut() {
            let exit = match slot {
                Slot::New(pod) => {
                    plan.create.push((**pod).clone());
                    monotonic
                }
                Slot::Existing(pod) => {
                    if matches!(phase(pod), Some("Failed") | Some("Succeeded")) {
                        // A finished pod is replaced; the new one comes once this one is gone.
                        if !terminating(pod) {
                            delete.push(name_of(pod));
                        }
                        true
                    } else if terminating(pod) || !running_and_available(pod, min_ready, now) {
                        monotonic
                    } else {
                        let wanted = identity_labels(pod);
                        if !wanted.is_empty() {
                            plan.relabel.push((name_of(pod), wanted));
                        }
                        false
                    }
                }
            };
            if exit && monotonic {
                blocked = true;
                break;
            }
        }
    }

    if !blocked {
        for pod in &condemned {
            let pod_name = name_of(pod);
            if terminating(pod) {
                if monotonic {
                    blocked = true;
                    break;
                }
                continue;
            }
            let is_first_unhealthy = first_unhealthy.as_deref() == Some(pod_name.as_str());
            if monotonic && !is_first_unhealthy && !running_and_available(pod, min_ready, now) {
                blocked = true;
                break;
            }
            delete.push(pod_name);
            if monotonic {
                blocked = true;
                break;
            }
        }
    }

    let mut status = status_of(
        set,
        &slots,
        &condemned,
        &current_name,
        &update.name,
        min_ready,
        now,
    );

    if !blocked && rolling {
        let update_min = start + partition.unwrap_or(0);
        let max_unavailable = rolling_update.and_then(|r| r.max_unavailable.as_ref());
        let targets: Vec<&Pod> = slots
            .iter()
            .rev()
            .filter(|(ordinal, _)| *ordinal >= update_min)
            .map(|(_, s)| s.pod())
            .collect();
        let mut deleted = 0;
        match max_unavailable {
            None => {
                for pod in targets {
                    if revision_label(pod) != Some(update.name.as_str()) && !terminating(pod) {
                        delete.push(name_of(pod));
                        deleted += 1;
                        break;
                    }
                    if !healthy(pod) {
                        break;
                    }
                }
            }
            Some(max) => {
                let budget = max_unavailable_of(max, replicas)?;
                let unavailable = slots
                    .iter()
                    .filter(|(_, s)| {
                        let p = s.pod();
                        terminating(p) || !running_and_available(p, min_ready, now)
                    })
                    .count();
                let room = budget.saturating_sub(unavailable);
                for pod in targets {
                    if deleted >= room {
                        break;
                    }
                    if revision_label(pod) != Some(update.name.as_str()) && !terminating(pod) {
                        delete.push(name_of(pod));
                        deleted += 1;
                    }
                }
            }
        }
        let deleted = i32::try_from(deleted).unwrap_or(i32::MAX);
        status.current_replicas = Some(status.current_replicas.unwrap_or(0) - deleted);
    }
    plan.delete = delete;

    // A completed rolling update makes the update revision current.
    if rolling
        && status.updated_replicas == Some(status.replicas)
        && status.ready_replicas == Some(status.replicas)
    {
        status.current_replicas = status.updated_replicas;
        status.current_revision = status.update_revision.clone();
    }
    status.collision_count = Some(old_status.collision_count.unwrap_or(0));
    plan.status = status;

    // History beyond the limit that neither the pods nor the status refer to, oldest first.
    if !deleting {
        let mut live: HashSet<&str> = owned.iter().filter_map(|p| revision_label(p)).collect();
        live.insert(update.name.as_str());
        live.insert(current_name.as_str());
        if let Some(c) = plan.status.current_revision.as_deref() {
            live.insert(c);
        }
        let dead: Vec<String> = claimed
            .owned
            .iter()
            .filter_map(|r| r.metadata.name.clone())
            .filter(|n| !live.contains(n.as_str()))
            .collect();
        let limit = usize::try_from(spec.revision_history_limit.unwrap_or(10).max(0)).unwrap_or(0);
        let excess = dead.len().saturating_sub(limit);
        plan.delete_revisions = dead.into_iter().take(excess).collect();
    }
    Ok(plan)
}

/// `maxUnavailable` against `replicas`, rounding down but never below one, so a small
/// percentage still lets the rollout move.
fn max_unavailable_of(value: &IntOrString, replicas: i32) -> Result<usize, ControllerError> {
    let n = resolve_int_or_percent(value, replicas, false)?;
    Ok(usize::try_from(n.max(1)).unwrap_or(1))
}

/// The identity labels an owned pod lacks (an adopted pod, or one someone relabelled).
fn identity_labels(pod: &Pod) -> BTreeMap<String, String> {
    let pod_name = name_of(pod);
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let mut wanted = BTreeMap::new();
    if labels.get(POD_NAME_LABEL) != Some(&pod_name) {
        wanted.insert(POD_NAME_LABEL.to_owned(), pod_name.clone());
        if let Some((_, ordinal)) = parent_and_ordinal(&pod_name) {
            wanted.insert(POD_INDEX_LABEL.to_owned(), ordinal.to_string());
        }
    }
    wanted
}

/// Counts over the pods that exist (the ones this sync creates are not counted yet).
fn status_of(
    set: &StatefulSet,
    slots: &[(i32, Slot)],
    condemned: &[&Pod],
    current_revision: &str,
    update_revision: &str,
    min_ready: i32,
    now: Timestamp,
) -> StatefulSetStatus {
    let mut status = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        current_revision: Some(current_revision.to_owned()),
        update_revision: Some(update_revision.to_owned()),
        conditions: set.status.as_ref().and_then(|s| s.conditions.clone()),
        ..StatefulSetStatus::default()
    };
    let existing = slots
        .iter()
        .filter_map(|(_, s)| match s {
            Slot::Existing(p) => Some(*p),
            Slot::New(_) => None,
        })
        .chain(condemned.iter().copied());
    let (mut ready, mut available, mut current, mut updated) = (0, 0, 0, 0);
    for pod in existing {
        status.replicas += 1;
        if running_and_ready(pod) {
            ready += 1;
            if running_and_available(pod, min_ready, now) {
                available += 1;
            }
        }
        if !terminating(pod) {
            let revision = revision_label(pod);
            if revision == Some(current_revision) {
                current += 1;
            }
            if revision == Some(update_revision) {
                updated += 1;
            }
        }
    }
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status.current_replicas = Some(current);
    status.updated_replicas = Some(updated);
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{merge, now};
    use serde_json::{json, Value};

    fn sts(replicas: i32, image: &str, extra: Value) -> StatefulSet {
        let mut base = json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "sts-uid", "generation": 1},
            "spec": {
                "replicas": replicas,
                "serviceName": "nginx",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": image,
                             "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}]}]}
                },
                "volumeClaimTemplates": [{"metadata": {"name": "www"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
                "podManagementPolicy": "OrderedReady",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "revisionHistoryLimit": 10
            }
        });
        merge(&mut base, extra);
        serde_json::from_value(base).unwrap()
    }

    /// The revision the controller records for `set`'s template, named as it names it.
    fn revision_of(set: &StatefulSet, number: i64) -> ControllerRevision {
        let template = &set.spec.as_ref().unwrap().template;
        let hash = crate::deployment::pod_template_hash(template, None);
        serde_json::from_value(json!({
            "metadata": {"name": format!("web-{hash}"), "namespace": "default",
                         "labels": {"app": "web", REVISION_HASH_LABEL: hash},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web",
                                              "uid": "sts-uid", "controller": true}]},
            "data": history::template_patch(template),
            "revision": number
        }))
        .unwrap()
    }

    fn rev_name(set: &StatefulSet) -> String {
        revision_of(set, 1).metadata.name.unwrap()
    }

    /// A Running and Ready pod at `revision`.
    fn pod(ordinal: i32, revision: &str, extra: Value) -> Pod {
        let name = format!("web-{ordinal}");
        let mut base = json!({
            "metadata": {
                "name": name, "namespace": "default",
                "labels": {"app": "web", REVISION_HASH_LABEL: revision, POD_NAME_LABEL: name,
                           POD_INDEX_LABEL: ordinal.to_string()},
                "creationTimestamp": "2024-05-01T10:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web",
                                     "uid": "sts-uid", "controller": true}]
            },
            "spec": {"nodeName": "n1", "containers": [{"name": "nginx", "image": "nginx:1"}]},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T10:01:00Z"}
            ]}
        });
        merge(&mut base, extra);
        serde_json::from_value(base).unwrap()
    }

    fn not_ready() -> Value {
        json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    }

    fn created(plan: &StatefulSetPlan) -> Vec<String> {
        plan.create.iter().map(name_of).collect()
    }

    #[test]
    fn ordered_ready_creates_ordinal_zero_first_with_its_identity() {
        let set = sts(3, "nginx:1", json!({}));
        let plan = plan_statefulset(&set, &[], &[], now()).unwrap();
        assert_eq!(plan.create_revision.as_ref().unwrap().revision, 1);
        assert_eq!(created(&plan), vec!["web-0"]);
        let p = &plan.create[0];
        let labels = p.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[POD_NAME_LABEL], "web-0");
        assert_eq!(labels[POD_INDEX_LABEL], "0");
        assert_eq!(labels[REVISION_HASH_LABEL], rev_name(&set));
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("web-0"));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        let volume = &spec.volumes.as_ref().unwrap()[0];
        assert_eq!(volume.name, "www");
        assert_eq!(
            volume.persistent_volume_claim.as_ref().unwrap().claim_name,
            "www-web-0"
        );
        assert_eq!(
            p.metadata.owner_references.as_ref().unwrap()[0].kind,
            "StatefulSet"
        );
    }

    #[test]
    fn ordered_ready_waits_for_each_predecessor_to_be_running_and_ready() {
        let set = sts(3, "nginx:1", json!({}));
        let rev = rev_name(&set);
        let revisions = vec![revision_of(&set, 1)];
        let pending = pod(
            0,
            &rev,
            json!({"status": {"phase": "Pending", "conditions": null}}),
        );
        let plan = plan_statefulset(&set, &[pending], &revisions, now()).unwrap();
        assert!(plan.create.is_empty(), "web-0 is not running yet");

        let unready = pod(0, &rev, not_ready());
        let plan = plan_statefulset(&set, &[unready], &revisions, now()).unwrap();
        assert!(plan.create.is_empty(), "web-0 is not ready yet");

        let plan = plan_statefulset(&set, &[pod(0, &rev, json!({}))], &revisions, now()).unwrap();
        assert_eq!(created(&plan), vec!["web-1"]);
        assert_eq!(plan.status.replicas, 1);
        assert_eq!(plan.status.ready_replicas, Some(1));
    }

    #[test]
    fn min_ready_seconds_holds_the_next_ordinal_until_the_pod_is_available() {
        let set = sts(2, "nginx:1", json!({"spec": {"minReadySeconds": 600}}));
        let rev = rev_name(&set);
        let fresh = pod(
            0,
            &rev,
            json!({"status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T11:59:00Z"}]}}),
        );
        let plan = plan_statefulset(&set, &[fresh], &[revision_of(&set, 1)], now()).unwrap();
        assert!(plan.create.is_empty());
        assert_eq!(plan.status.available_replicas, Some(0));
    }

    #[test]
    fn parallel_creates_every_missing_pod_at_once() {
        let set = sts(
            3,
            "nginx:1",
            json!({"spec": {"podManagementPolicy": "Parallel"}}),
        );
        let plan = plan_statefulset(&set, &[], &[], now()).unwrap();
        assert_eq!(created(&plan), vec!["web-0", "web-1", "web-2"]);
    }

    #[test]
    fn scale_down_removes_the_highest_ordinal_one_at_a_time() {
        let set = sts(1, "nginx:1", json!({}));
        let rev = rev_name(&set);
        let revisions = vec![revision_of(&set, 1)];
        let pods: Vec<Pod> = (0..3).map(|i| pod(i, &rev, json!({}))).collect();
        let plan = plan_statefulset(&set, &pods, &revisions, now()).unwrap();
        assert_eq!(plan.delete, vec!["web-2"]);

        // web-2 is terminating: nothing else goes until it is gone.
        let mut pods = pods;
        pods[2] = pod(
            2,
            &rev,
            json!({"metadata": {"deletionTimestamp": "2024-05-01T11:59:59Z"}}),
        );
        let plan = plan_statefulset(&set, &pods, &revisions, now()).unwrap();
        assert!(plan.delete.is_empty());

        // An unhealthy lower pod blocks scale-down of a healthy higher one.
        let pods = vec![pod(0, &rev, not_ready()), pod(1, &rev, json!({}))];
        let plan = plan_statefulset(&set, &pods, &revisions, now()).unwrap();
        assert!(plan.delete.is_empty(), "{:?}", plan.delete);
    }

    #[test]
    fn parallel_scale_down_removes_all_surplus_at_once() {
        let set = sts(
            1,
            "nginx:1",
            json!({"spec": {"podManagementPolicy": "Parallel"}}),
        );
        let rev = rev_name(&set);
        let pods: Vec<Pod> = (0..3).map(|i| pod(i, &rev, json!({}))).collect();
        let plan = plan_statefulset(&set, &pods, &[revision_of(&set, 1)], now()).unwrap();
        assert_eq!(plan.delete, vec!["web-2", "web-1"]);
    }

    #[test]
    fn a_rolling_update_goes_from_the_highest_ordinal_down_and_waits_for_health() {
        let old = sts(3, "nginx:1", json!({}));
        let set = sts(
            3,
            "nginx:2",
            json!({"metadata": {"generation": 2}, "status": {"currentRevision": rev_name(&old)}}),
        );
        let old_rev = rev_name(&old);
        let new_rev = rev_name(&set);
        let revisions = vec![revision_of(&old, 1)];
        let pods: Vec<Pod> = (0..3).map(|i| pod(i, &old_rev, json!({}))).collect();
        let plan = plan_statefulset(&set, &pods, &revisions, now()).unwrap();
        assert_eq!(plan.create_revision.as_ref().unwrap().revision, 2);
        assert_eq!(plan.delete, vec!["web-2"]);
        assert_eq!(
            plan.status.current_revision.as_deref(),
            Some(old_rev.as_str())
        );
        assert_eq!(
            plan.status.update_revision.as_deref(),
            Some(new_rev.as_str())
        );
        assert_eq!(plan.status.updated_replicas, Some(0));
        assert_eq!(
            plan.status.current_replicas,
            Some(2),
            "3 current, one deleted"
        );

        // web-2 is gone: it comes back at the update revision.
        let revisions = vec![revision_of(&old, 1), revision_of(&set, 2)];
        let plan = plan_statefulset(&set, &pods[..2], &revisions, now()).unwrap();
        assert_eq!(created(&plan), vec!["web-2"]);
        assert_eq!(
            plan.create[0].metadata.labels.as_ref().unwrap()[REVISION_HASH_LABEL],
            new_rev
        );
        assert_eq!(
            plan.create[0].spec.as_ref().unwrap().containers[0]
                .image
                .as_deref(),
            Some("nginx:2")
        );

        // web-2 updated but not ready: web-1 waits.
        let mut pods = pods;
        pods[2] = pod(2, &new_rev, not_ready());
        let plan = plan_statefulset(&set, &pods, &revisions, now()).unwrap();
        assert!(plan.delete.is_empty() && plan.create.is_empty());

        // Ready: web-1 goes next.
        pods[2] = pod(2, &new_rev, json!({}));
        let plan = plan_statefulset(&set, &pods, &revisions, now()).unwrap();
        assert_eq!(plan.delete, vec!["web-1"]);
    }

    #[test]
    fn the_rollout_completes_when_every_pod_is_updated_and_ready() {
        let old = sts(2, "nginx:1", json!({}));
        let set = sts(
            2,
            "nginx:2",
            json!({"status": {"currentRevision": rev_name(&old)}}),
        );
        let new_rev = rev_name(&set);
        let revisions = vec![revision_of(&old, 1), revision_of(&set, 2)];
        let pods: Vec<Pod> = (0..2).map(|i| pod(i, &new_rev, json!({}))).collect();
        let plan = plan_statefulset(&set, &pods, &revisions, now()).unwrap();
        assert!(plan.delete.is_empty() && plan.create.is_empty());
        assert_eq!(
            plan.status.current_revision.as_deref(),
            Some(new_rev.as_str())
        );
        assert_eq!(plan.status.current_replicas, Some(2));
        assert_eq!(plan.status.updated_replicas, Some(2));
        assert_eq!(plan.status.observed_generation, Some(1));
    }

    #[test]
    fn a_partition_keeps_lower_ordinals_at_the_current_revision_even_when_recreated() {
        let old = sts(3, "nginx:1", json!({}));
        let set = sts(
            3,
            "nginx:2",
            json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 2}}},
                   "status": {"currentRevision": rev_name(&old)}}),
        );
        let old_rev = rev_name(&old);
        let new_rev = rev_name(&set);
        let revisions = vec![revision_of(&old, 1), revision_of(&set, 2)];
        let pods = vec![pod(1, &old_rev, json!({})), pod(2, &new_rev, json!({}))];
        let plan = plan_statefulset(&set, &pods, &revisions, now()).unwrap();
        assert_eq!(created(&plan), vec!["web-0"]);
        let p = &plan.create[0];
        assert_eq!(
            p.metadata.labels.as_ref().unwrap()[REVISION_HASH_LABEL],
            old_rev
        );
        assert_eq!(
            p.spec.as_ref().unwrap().containers[0].image.as_deref(),
            Some("nginx:1")
        );

        let pods = vec![
            pod(0, &old_rev, json!({})),
            pod(1, &old_rev, json!({})),
            pod(2, &new_rev, json!({})),
        ];
        let plan = plan_statefulset(&set, &pods, &revisions, now()).unwrap();
        assert!(
            plan.delete.is_empty(),
            "below the partition nothing is updated"
        );
        assert_eq!(plan.status.updated_replicas, Some(1));
    }

    #[test]
    fn max_unavailable_lets_several_pods_update_at_once() {
        let old = sts(4, "nginx:1", json!({}));
        let set = sts(
            4,
            "nginx:2",
            json!({"spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": 2}}},
                   "status": {"currentRevision": rev_name(&old)}}),
        );
        let old_rev = rev_name(&old);
        let pods: Vec<Pod> = (0..4).map(|i| pod(i, &old_rev, json!({}))).collect();
        let plan = plan_statefulset(&set, &pods, &[revision_of(&old, 1)], now()).unwrap();
        assert_eq!(plan.delete, vec!["web-3", "web-2"]);
    }

    #[test]
    fn on_delete_recreates_deleted_pods_at_the_update_revision_and_deletes_nothing() {
        let old = sts(2, "nginx:1", json!({}));
        let set = sts(
            2,
            "nginx:2",
            json!({"spec": {"updateStrategy": {"type": "OnDelete", "rollingUpdate": null}},
                   "status": {"currentRevision": rev_name(&old)}}),
        );
        let old_rev = rev_name(&old);
        let revisions = vec![revision_of(&old, 1), revision_of(&set, 2)];
        let plan =
            plan_statefulset(&set, &[pod(1, &old_rev, json!({}))], &revisions, now()).unwrap();
        assert_eq!(created(&plan), vec!["web-0"]);
        assert_eq!(
            plan.create[0].metadata.labels.as_ref().unwrap()[REVISION_HASH_LABEL],
            rev_name(&set)
        );
        let pods = vec![pod(0, &old_rev, json!({})), pod(1, &old_rev, json!({}))];
        let plan = plan_statefulset(&set, &pods, &revisions, now()).unwrap();
        assert!(plan.delete.is_empty());
    }

    #[test]
    fn failed_pods_are_deleted_to_be_recreated() {
        let set = sts(2, "nginx:1", json!({}));
        let rev = rev_name(&set);
        let pods = vec![
            pod(0, &rev, json!({"status": {"phase": "Failed"}})),
            pod(1, &rev, json!({})),
        ];
        let plan = plan_statefulset(&set, &pods, &[revision_of(&set, 1)], now()).unwrap();
        assert_eq!(plan.delete, vec!["web-0"]);
        assert!(plan.create.is_empty());
    }

    #[test]
    fn members_are_adopted_by_name_and_identity_labels_restored() {
        let set = sts(2, "nginx:1", json!({}));
        let rev = rev_name(&set);
        let pods = vec![
            pod(0, &rev, json!({"metadata": {"ownerReferences": null, "labels": {POD_NAME_LABEL: null, POD_INDEX_LABEL: null}}})),
            // Matching labels but not a member by name.
            serde_json::from_value(json!({"metadata": {"name": "other", "namespace": "default", "labels": {"app": "web"}}})).unwrap(),
        ];
        let plan = plan_statefulset(&set, &pods, &[revision_of(&set, 1)], now()).unwrap();
        assert_eq!(plan.adopt, vec!["web-0"]);
        assert_eq!(
            plan.relabel,
            vec![(
                "web-0".to_owned(),
                BTreeMap::from([
                    (POD_INDEX_LABEL.to_owned(), "0".to_owned()),
                    (POD_NAME_LABEL.to_owned(), "web-0".to_owned())
                ])
            )]
        );
        assert_eq!(created(&plan), vec!["web-1"]);
    }

    #[test]
    fn old_revisions_beyond_the_limit_go_unless_a_pod_runs_them() {
        let set = sts(1, "nginx:9", json!({"spec": {"revisionHistoryLimit": 1}}));
        let mut revisions: Vec<ControllerRevision> = (1..=3)
            .map(|i| revision_of(&sts(1, &format!("nginx:{i}"), json!({})), i))
            .collect();
        revisions.push(revision_of(&set, 4));
        let pods = vec![pod(0, &rev_name(&sts(1, "nginx:1", json!({}))), json!({}))];
        let plan = plan_statefulset(&set, &pods, &revisions, now()).unwrap();
        assert_eq!(
            plan.delete_revisions,
            vec![revisions[1].metadata.name.clone().unwrap()],
            "revision 1 is run by web-0, revision 3 is kept by the limit"
        );
    }

    #[test]
    fn pod_names_parse_into_parent_and_ordinal() {
        assert_eq!(parent_and_ordinal("web-12"), Some(("web", 12)));
        assert_eq!(parent_and_ordinal("my-db-0"), Some(("my-db", 0)));
        assert_eq!(parent_and_ordinal("web-x"), None);
        assert_eq!(parent_and_ordinal("web-"), None);
    }
}
