//! The Deployment controller: one sync of a Deployment over its ReplicaSets.
//!
//! [`plan_deployment`] takes the Deployment, the ReplicaSets of its namespace (whose status the
//! ReplicaSet controller keeps, so availability comes from there) and the pods (only needed by
//! `Recreate`, which waits for old pods to be gone), and returns what this sync changes. Like
//! Kubernetes' `syncDeployment`, a sync takes one of three paths:
//!
//! - being deleted: status only;
//! - paused, or a scaling event (an active ReplicaSet's `desired-replicas` annotation differs
//!   from `spec.replicas`): scale the existing ReplicaSets and never create one. A single
//!   active ReplicaSet takes `spec.replicas`; a saturated new one sends the old ones to zero;
//!   otherwise a rolling Deployment spreads the change of `replicas + maxSurge` over the
//!   active ReplicaSets in proportion to the `max-replicas` each was sized for, largest first
//!   (newer first when growing, older first when shrinking), the rounding leftover going to
//!   the first in that order. A paused Deployment also deletes history beyond
//!   `revisionHistoryLimit`. Only the rollout to a new template is held while paused;
//!   pausing and resuming show as Progressing=Unknown `DeploymentPaused` /
//!   `DeploymentResumed`, so that the progress deadline restarts on resume;
//! - otherwise a rollout step (`RollingUpdate` or `Recreate`), which like Kubernetes does one
//!   kind of step and stops: scaling the new ReplicaSet ends the sync, the next one (after
//!   the ReplicaSet controller has acted) scales old ones down. Progress is estimated only
//!   here: `ReplicaSetUpdated` refreshes the deadline, `ProgressDeadlineExceeded` (status
//!   False, which `kubectl rollout status` reports as an error) when nothing moved for
//!   `progressDeadlineSeconds`, `NewReplicaSetAvailable` when complete.
//!
//! On every path the existing new ReplicaSet takes the Deployment's annotations (so
//! `kubernetes.io/change-cause` reaches `kubectl rollout history`) and, when its revision is
//! older than an old ReplicaSet's, the next revision, its previous one moving into
//! `revision-history`. That is how `kubectl rollout undo`, which in kubectl 1.32 only patches
//! the Deployment's template back to an old ReplicaSet's, makes that ReplicaSet the newest
//! revision without a new one being created.
//!
//! The new ReplicaSet is named `<deployment>-<pod-template-hash>`. Kubernetes hashes a deep
//! print of the template with FNV-32a; we hash the template's canonical JSON (k8s-openapi's
//! field order, sorted maps) with FNV-32a instead, so hashes are stable here but differ from
//! the ones kube-controller-manager would pick. Equality of templates ignores the hash label,
//! so ReplicaSets made by Kubernetes are still recognised as the new one.
//!
//! Not covered: the deprecated server-side rollback (`rollbackTo` of extensions/v1beta1 and
//! its annotation; apps/v1 has neither), the `ReplicaFailure` condition, the
//! `ScalingReplicaSet` Events, and a selector that selects everything (refused with an error
//! here, where Kubernetes only bumps `observedGeneration`). `unavailableReplicas` is counted
//! against the ReplicaSet sizes this plan leaves, where Kubernetes counts those it started
//! the sync with, so it can differ for the one sync that resizes.

use std::collections::{BTreeMap, HashSet};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::ownership::{
    claim, controller_of, controller_reference, controller_selector, name_and_uid, Claim,
};
use crate::ControllerError;

pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The label that tells apart the pods of each ReplicaSet of one Deployment.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// The annotation the deprecated `rollbackTo` field of extensions/v1beta1 was stored in; like
/// the other deployment-owned annotations it never travels between Deployment and ReplicaSet.
pub const ROLLBACK_TO_ANNOTATION: &str = "deprecated.deployment.rollback.to";
/// Kubernetes bounds `revision-history` so a Deployment rolled back and forth forever cannot
/// grow its ReplicaSet without limit; the oldest entries are dropped first.
const MAX_REVISION_HISTORY_CHARS: usize = 2000;

/// Annotations that belong to one object (the Deployment or a ReplicaSet) and are never
/// copied from the Deployment to its ReplicaSets (nor back by `kubectl rollout undo`).
pub fn is_deployment_owned_annotation(key: &str) -> bool {
    [
        LAST_APPLIED_ANNOTATION,
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        DESIRED_REPLICAS_ANNOTATION,
        MAX_REPLICAS_ANNOTATION,
        ROLLBACK_TO_ANNOTATION,
    ]
    .contains(&key)
}

/// A ReplicaSet to scale, with the annotations that record for which Deployment size (and
/// surge) the count was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSetScale {
    pub name: String,
    pub replicas: i32,
    pub annotations: BTreeMap<String, String>,
}

/// What the existing new ReplicaSet (the one whose template is the Deployment's) must be
/// updated with before anything else happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReplicaSetUpdate {
    pub name: String,
    /// Annotations to set over the existing ones: the Deployment's own annotations (such as
    /// `kubernetes.io/change-cause`, which `kubectl rollout history` reads from ReplicaSets)
    /// and, after a rollback to its template, the next revision and the revision history.
    pub annotations: BTreeMap<String, String>,
    /// `spec.minReadySeconds`, when the Deployment's differs (it is not part of the template,
    /// so changing it makes no new ReplicaSet).
    pub min_ready_seconds: Option<i32>,
}

/// One sync's decisions for a Deployment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeploymentPlan {
    /// Orphan ReplicaSets to adopt and owned ones to release.
    pub adopt: Vec<String>,
    pub release: Vec<String>,
    /// The new ReplicaSet for the current template, already sized.
    pub create: Option<ReplicaSet>,
    /// Existing ReplicaSets whose `spec.replicas` or size annotations change.
    pub scale: Vec<ReplicaSetScale>,
    /// Changes to the existing new ReplicaSet (a rollback to an old template makes that
    /// ReplicaSet the newest revision).
    pub update_new: Option<NewReplicaSetUpdate>,
    /// The revision annotation the Deployment itself should carry, when it changes.
    pub deployment_revision: Option<String>,
    /// Old ReplicaSets beyond `revisionHistoryLimit` to delete, oldest revision first.
    pub delete: Vec<String>,
    pub status: DeploymentStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    Recreate,
    RollingUpdate {
        max_surge: i32,
        max_unavailable: i32,
    },
}

/// Resolves an int-or-percent against `total`: percentages round up for surge and down for
/// unavailability, so a rollout never goes below the promised availability.
pub fn resolve_int_or_percent(
    value: &IntOrString,
    total: i32,
    round_up: bool,
) -> Result<i32, ControllerError> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let invalid = || ControllerError::InvalidIntOrPercent(s.clone());
            let percent: i64 = s
                .strip_suffix('%')
                .ok_or_else(invalid)?
                .parse()
                .map_err(|_| invalid())?;
            let scaled = percent * i64::from(total);
            let value = if round_up {
                (scaled + 99).div_euclid(100)
            } else {
                scaled.div_euclid(100)
            };
            i32::try_from(value).map_err(|_| invalid())
        }
    }
}

/// `(maxSurge, maxUnavailable)` for a rolling update of `replicas`, both defaulting to 25%.
/// When both resolve to zero no progress would be possible, so unavailability becomes 1.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    replicas: i32,
) -> Result<(i32, i32), ControllerError> {
    let quarter = IntOrString::String("25%".to_owned());
    let surge = resolve_int_or_percent(max_surge.unwrap_or(&quarter), replicas, true)?;
    let unavailable = resolve_int_or_percent(max_unavailable.unwrap_or(&quarter), replicas, false)?;
    if surge == 0 && unavailable == 0 {
        return Ok((0, 1));
    }
    Ok((surge, unavailable))
}

fn strategy_of(d: &Deployment, replicas: i32) -> Result<Strategy, ControllerError> {
    let strategy = d.spec.as_ref().and_then(|s| s.strategy.as_ref());
    if strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate") {
        return Ok(Strategy::Recreate);
    }
    let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
    let (max_surge, max_unavailable) = resolve_fenceposts(
        rolling.and_then(|r| r.max_surge.as_ref()),
        rolling.and_then(|r| r.max_unavailable.as_ref()),
        replicas,
    )?;
    Ok(Strategy::RollingUpdate {
        max_surge,
        max_unavailable,
    })
}

/// FNV-32a over the template's JSON, salted with the collision count, printed in decimal and
/// mapped onto the consonant-and-digit alphabet Kubernetes uses so the label never spells a
/// word.
pub fn pod_template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    let mut write = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u32::from(*b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    };
    write(&serde_json::to_vec(template).unwrap_or_default());
    if let Some(count) = collision_count {
        let mut salt = [0u8; 8];
        salt[..4].copy_from_slice(&(count as u32).to_le_bytes());
        write(&salt);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    hash.to_string()
        .bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

/// Drops nulls, empty maps and empty lists so that "absent" and "empty" compare equal, as
/// Kubernetes' semantic equality does.
fn normalize(value: &mut Value) -> bool {
    match value {
        Value::Null => false,
        Value::Object(map) => {
            map.retain(|_, v| normalize(v));
            !map.is_empty()
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                normalize(item);
            }
            !items.is_empty()
        }
        _ => true,
    }
}

fn template_without_hash(template: Option<&PodTemplateSpec>) -> Value {
    let mut value = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Some(labels) = value
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    normalize(&mut value);
    value
}

fn revision_of(meta: &ObjectMeta) -> i64 {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION_ANNOTATION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn annotation_i32(meta: &ObjectMeta, key: &str) -> Option<i32> {
    meta.annotations.as_ref()?.get(key)?.parse().ok()
}

/// The working copy of one ReplicaSet during planning.
struct RsState<'a> {
    rs: Option<&'a ReplicaSet>,
    name: String,
    original: i32,
    spec: i32,
    status_replicas: i32,
    ready: i32,
    available: i32,
    /// `desired-replicas` and `max-replicas` as the ReplicaSet carries them.
    desired_annotation: Option<i32>,
    max_annotation: Option<i32>,
    /// Proportional scaling rewrites the size annotations of every active ReplicaSet, even
    /// one whose share is zero: otherwise it would keep looking like a scaling event.
    restamp: bool,
}

impl<'a> RsState<'a> {
    fn of(rs: &'a ReplicaSet) -> RsState<'a> {
        let spec = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = rs.status.as_ref();
        RsState {
            rs: Some(rs),
            name: rs.metadata.name.clone().unwrap_or_default(),
            original: spec,
            spec,
            status_replicas: status.map_or(0, |s| s.replicas),
            ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
            available: status.and_then(|s| s.available_replicas).unwrap_or(0),
            desired_annotation: annotation_i32(&rs.metadata, DESIRED_REPLICAS_ANNOTATION),
            max_annotation: annotation_i32(&rs.metadata, MAX_REPLICAS_ANNOTATION),
            restamp: false,
        }
    }
}

fn set_condition(conditions: &mut Vec<DeploymentCondition>, mut condition: DeploymentCondition) {
    if let Some(current) = conditions.iter().find(|c| c.type_ == condition.type_) {
        // Same status and reason: nothing new to say, keep the timestamps as they are.
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time.clone();
        }
    }
    conditions.retain(|c| c.type_ != condition.type_);
    conditions.push(condition);
}

fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    condition_with(
        type_,
        if status { "True" } else { "False" },
        reason,
        message,
        now,
    )
}

fn condition_with(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// The rollout is done: every desired pod is updated and available, and nothing else runs.
fn is_complete(desired: i32, generation: Option<i64>, status: &DeploymentStatus) -> bool {
    status.updated_replicas.unwrap_or(0) == desired
        && status.replicas.unwrap_or(0) == desired
        && status.available_replicas.unwrap_or(0) == desired
        && status.observed_generation.unwrap_or(0) >= generation.unwrap_or(0)
}

/// Which of Kubernetes' sync paths this sync takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// Being deleted: only the status is written.
    StatusOnly,
    /// Paused, or `spec.replicas` changed since the ReplicaSets were sized: scale the
    /// existing ReplicaSets (never create one), and when paused clean up old ones.
    Scale,
    /// A step of the rollout strategy, with progress estimation.
    Rollout,
}

/// Records pausing and resuming in the Progressing condition (status Unknown), so that a
/// resumed rollout counts its deadline from the resume, not from before the pause. A rollout
/// that already timed out keeps saying so.
fn paused_condition(conditions: &mut Vec<DeploymentCondition>, paused: bool, now: Timestamp) {
    let reason = conditions
        .iter()
        .find(|c| c.type_ == "Progressing")
        .and_then(|c| c.reason.clone());
    match reason.as_deref() {
        Some("ProgressDeadlineExceeded") => {}
        Some("DeploymentPaused") if !paused => {
            let message = "Deployment is resumed".to_owned();
            set_condition(
                conditions,
                condition_with("Progressing", "Unknown", "DeploymentResumed", message, now),
            );
        }
        Some("DeploymentPaused") => {}
        _ if paused => {
            let message = "Deployment is paused".to_owned();
            set_condition(
                conditions,
                condition_with("Progressing", "Unknown", "DeploymentPaused", message, now),
            );
        }
        _ => {}
    }
}

/// Appends `old_revision` to a `revision-history` annotation, dropping the oldest entries
/// when it would outgrow Kubernetes' limit. `None` when even that cannot make it fit.
fn revision_history(history: Option<&str>, old_revision: &str) -> Option<String> {
    let history = history.unwrap_or("");
    let mut entries: Vec<&str> = history.split(',').collect();
    if entries[0].is_empty() {
        return Some(old_revision.to_owned());
    }
    let mut total = history.len() + old_revision.len() + 1;
    let mut start = 0;
    while total > MAX_REVISION_HISTORY_CHARS && start < entries.len() {
        total -= entries[start].len() + 1;
        start += 1;
    }
    if total > MAX_REVISION_HISTORY_CHARS {
        return None;
    }
    entries.drain(..start);
    entries.push(old_revision);
    Some(entries.join(","))
}

/// What the existing new ReplicaSet must be updated with: the Deployment's annotations it
/// lacks, and the next revision when its own is older than an old ReplicaSet's (a rollback),
/// with the revision it had moved into `revision-history`.
fn sync_new_replica_set(
    d: &Deployment,
    rs: &ReplicaSet,
    new_revision: i64,
) -> Option<NewReplicaSetUpdate> {
    let current = rs.metadata.annotations.clone().unwrap_or_default();
    let mut annotations: BTreeMap<String, String> = d
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, v)| !is_deployment_owned_annotation(k) && current.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let old_revision = current.get(REVISION_ANNOTATION);
    // An unparsable revision is left alone, as Kubernetes does, rather than guessed at.
    let old_number = match old_revision.map(|r| r.parse::<i64>()) {
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => None,
        None => Some(0),
    };
    if old_number.is_some_and(|n| n < new_revision) {
        annotations.insert(REVISION_ANNOTATION.to_owned(), new_revision.to_string());
        if let Some(old) = old_revision {
            let history = current.get(REVISION_HISTORY_ANNOTATION).map(String::as_str);
            if let Some(history) = revision_history(history, old) {
                annotations.insert(REVISION_HISTORY_ANNOTATION.to_owned(), history);
            }
        }
    }
    let wanted = d
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let has = rs
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let min_ready_seconds = (wanted != has).then_some(wanted);
    if annotations.is_empty() && min_ready_seconds.is_none() {
        return None;
    }
    Some(NewReplicaSetUpdate {
        name: rs.metadata.name.clone().unwrap_or_default(),
        annotations,
        min_ready_seconds,
    })
}

/// Makes one sync's plan for `d`. `replica_sets` and `pods` are those of its namespace.
pub fn plan_deployment(
    d: &Deployment,
    replica_sets: &[ReplicaSet],
    pods: &[Pod],
    now: Timestamp,
) -> Result<DeploymentPlan, ControllerError> {
    let kind = "Deployment";
    let (name, uid) = name_and_uid(&d.metadata, kind)?;
    let spec = d.spec.clone().unwrap_or_default();
    let selector = controller_selector(kind, &name, Some(&spec.selector))?;
    let desired = spec.replicas.unwrap_or(1);
    let strategy = strategy_of(d, desired)?;
    let (max_surge, max_unavailable) = match strategy {
        Strategy::Recreate => (0, 0),
        Strategy::RollingUpdate {
            max_surge,
            max_unavailable,
        } => (max_surge, max_unavailable.min(desired)),
    };
    let deleting = d.metadata.deletion_timestamp.is_some();
    let old_status = d.status.clone().unwrap_or_default();
    let mut plan = DeploymentPlan::default();
    let mut conditions = old_status.conditions.clone().unwrap_or_default();

    // Claim ReplicaSets, oldest first so the first template match is the oldest one.
    let mut owned: Vec<&ReplicaSet> = Vec::new();
    for rs in replica_sets {
        if rs.metadata.namespace.is_some() && rs.metadata.namespace != d.metadata.namespace {
            continue;
        }
        let rs_name = rs.metadata.name.clone().unwrap_or_default();
        match claim(&uid, deleting, &selector, &rs.metadata) {
            Claim::Keep => owned.push(rs),
            Claim::Adopt => {
                plan.adopt.push(rs_name);
                owned.push(rs);
            }
            Claim::Release => plan.release.push(rs_name),
            Claim::Ignore => {}
        }
    }
    owned.sort_by(|a, b| {
        let created = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
        created(a)
            .cmp(&created(b))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    let wanted = template_without_hash(Some(&spec.template));
    let new_index = owned.iter().position(|rs| {
        template_without_hash(rs.spec.as_ref().and_then(|s| s.template.as_ref())) == wanted
    });
    let mut states: Vec<RsState> = owned.iter().map(|rs| RsState::of(rs)).collect();
    let max_old_revision = owned
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != new_index)
        .map(|(_, rs)| revision_of(&rs.metadata))
        .max()
        .unwrap_or(0);
    let new_revision = (max_old_revision + 1).to_string();
    let has_deadline = spec
        .progress_deadline_seconds
        .is_some_and(|s| s != i32::MAX);
    let paused = spec.paused == Some(true);
    let mut collision_count = old_status.collision_count;

    // Pausing and resuming are recorded first, so that a resume restarts the deadline.
    if has_deadline && !deleting {
        paused_condition(&mut conditions, paused, now);
    }

    // The existing new ReplicaSet takes the Deployment's annotations and the newest revision
    // (after a rollback it was an old one); this happens on every path, paused or not.
    let mut new_index = new_index;
    if let Some(i) = new_index {
        let update = sync_new_replica_set(d, owned[i], max_old_revision + 1);
        let revision = update
            .as_ref()
            .and_then(|u| u.annotations.get(REVISION_ANNOTATION).cloned())
            .unwrap_or_else(|| revision_of(&owned[i].metadata).to_string());
        if has_deadline && !conditions.iter().any(|c| c.type_ == "Progressing") {
            let message = format!("Found new replica set {:?}", states[i].name);
            set_condition(
                &mut conditions,
                condition("Progressing", true, "FoundNewReplicaSet", message, now),
            );
        }
        set_deployment_revision(d, &mut plan, revision);
        plan.update_new = update;
    }

    // A scaling event: some active ReplicaSet was sized for another `spec.replicas`.
    let scaling_event = states
        .iter()
        .filter(|s| s.spec > 0)
        .any(|s| s.desired_annotation.is_some_and(|n| n != desired));
    let path = if deleting {
        Path::StatusOnly
    } else if paused || scaling_event {
        Path::Scale
    } else {
        Path::Rollout
    };
    let mut changed = false;
    let scale_annotations = BTreeMap::from([
        (DESIRED_REPLICAS_ANNOTATION.to_owned(), desired.to_string()),
        (
            MAX_REPLICAS_ANNOTATION.to_owned(),
            (desired + max_surge).to_string(),
        ),
    ]);

    let mut create_new = |states: &mut Vec<RsState>,
                          plan: &mut DeploymentPlan,
                          replicas: i32|
     -> bool {
        let hash = pod_template_hash(&spec.template, collision_count);
        let rs_name = format!("{name}-{hash}");
        if replica_sets
            .iter()
            .any(|rs| rs.metadata.name.as_deref() == Some(rs_name.as_str()))
        {
            // Someone holds the name with a different template: salt the hash and retry next sync.
            collision_count = Some(collision_count.unwrap_or(0) + 1);
            return false;
        }
        let mut template = spec.template.clone();
        let labels = template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(Default::default);
        labels.insert(POD_TEMPLATE_HASH_LABEL.to_owned(), hash.clone());
        let labels = labels.clone();
        let mut rs_selector = spec.selector.clone();
        rs_selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH_LABEL.to_owned(), hash);
        let mut annotations: BTreeMap<String, String> = d
            .metadata
            .annotations
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| !is_deployment_owned_annotation(k))
            .collect();
        annotations.extend(scale_annotations.clone());
        annotations.insert(REVISION_ANNOTATION.to_owned(), new_revision.clone());
        plan.create = Some(ReplicaSet {
            metadata: ObjectMeta {
                name: Some(rs_name.clone()),
                namespace: d.metadata.namespace.clone(),
                labels: Some(labels),
                annotations: Some(annotations),
                owner_references: Some(vec![controller_reference("apps/v1", kind, &name, &uid)]),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: spec.min_ready_seconds,
                selector: rs_selector,
                template: Some(template),
            }),
            status: None,
        });
        states.push(RsState {
            rs: None,
            name: rs_name,
            original: replicas,
            spec: replicas,
            status_replicas: 0,
            ready: 0,
            available: 0,
            desired_annotation: Some(desired),
            max_annotation: Some(desired + max_surge),
            restamp: false,
        });
        true
    };

    match path {
        Path::StatusOnly => {}
        Path::Scale => {
            let rolling = matches!(strategy, Strategy::RollingUpdate { .. });
            let before = old_status.replicas.unwrap_or(0);
            scale(&mut states, new_index, desired, max_surge, rolling, before);
            // Only a paused Deployment cleans up here: an unpaused one does so once its
            // rollout is complete.
            if paused {
                plan.delete = history_to_delete(&owned, new_index, spec.revision_history_limit);
            }
        }
        Path::Rollout => {
            match strategy {
                Strategy::RollingUpdate { .. } => {
                    match new_index {
                        None => {
                            let current: i32 = states.iter().map(|s| s.spec).sum();
                            let replicas = new_rs_replicas(desired, max_surge, current, 0);
                            if create_new(&mut states, &mut plan, replicas) {
                                new_index = Some(states.len() - 1);
                            } else {
                                changed = true;
                            }
                        }
                        Some(i) => {
                            let target = if states[i].spec > desired {
                                desired
                            } else {
                                let current: i32 = states.iter().map(|s| s.spec).sum();
                                new_rs_replicas(desired, max_surge, current, states[i].spec)
                            };
                            if target != states[i].spec {
                                states[i].spec = target;
                                changed = true;
                            }
                        }
                    }
                    if !changed {
                        changed = scale_down_old_rolling(
                            &mut states,
                            new_index,
                            desired,
                            max_unavailable,
                        );
                    }
                }
                Strategy::Recreate => {
                    for (i, state) in states.iter_mut().enumerate() {
                        if Some(i) != new_index && state.spec > 0 {
                            state.spec = 0;
                            changed = true;
                        }
                    }
                    if !changed && !old_pods_running(&states, new_index, pods) {
                        match new_index {
                            None => {
                                if create_new(&mut states, &mut plan, desired) {
                                    new_index = Some(states.len() - 1);
                                }
                            }
                            Some(i) => states[i].spec = desired,
                        }
                    } else {
                        changed = true;
                    }
                }
            }
            if plan.create.is_some() {
                if has_deadline {
                    let message = format!(
                        "Created new replica set {:?}",
                        states[states.len() - 1].name
                    );
                    set_condition(
                        &mut conditions,
                        condition("Progressing", true, "NewReplicaSetCreated", message, now),
                    );
                }
                set_deployment_revision(d, &mut plan, new_revision.clone());
            }
            if !changed && is_complete(desired, d.metadata.generation, &old_status) {
                plan.delete = history_to_delete(&owned, new_index, spec.revision_history_limit);
            }
        }
    }

    for state in &states {
        let stale_annotations = state.desired_annotation != Some(desired)
            || state.max_annotation != Some(desired + max_surge);
        if state.rs.is_some()
            && (state.spec != state.original || (state.restamp && stale_annotations))
        {
            plan.scale.push(ReplicaSetScale {
                name: state.name.clone(),
                replicas: state.spec,
                annotations: scale_annotations.clone(),
            });
        }
    }

    // Status from the ReplicaSets' reported counts and the specs as this plan leaves them.
    let sum = |f: &dyn Fn(&RsState) -> i32| states.iter().map(f).sum::<i32>();
    let available = sum(&|s| s.available);
    let mut status = DeploymentStatus {
        replicas: Some(sum(&|s| s.status_replicas)),
        updated_replicas: Some(new_index.map_or(0, |i| states[i].status_replicas)),
        ready_replicas: Some(sum(&|s| s.ready)),
        available_replicas: Some(available),
        unavailable_replicas: Some((sum(&|s| s.spec) - available).max(0)),
        observed_generation: d.metadata.generation,
        collision_count,
        conditions: None,
    };
    if available >= desired - max_unavailable {
        let message = "Deployment has minimum availability.".to_owned();
        set_condition(
            &mut conditions,
            condition("Available", true, "MinimumReplicasAvailable", message, now),
        );
    } else {
        let message = "Deployment does not have minimum availability.".to_owned();
        set_condition(
            &mut conditions,
            condition(
                "Available",
                false,
                "MinimumReplicasUnavailable",
                message,
                now,
            ),
        );
    }
    // Progress is only estimated for rollout steps: a paused Deployment cannot time out, and
    // a scaling event is not progress of the rollout.
    if path == Path::Rollout {
        if !has_deadline {
            conditions.retain(|c| c.type_ != "Progressing");
        } else {
            progressing_condition(
                &mut conditions,
                &status,
                &old_status,
                desired,
                d,
                new_index.map(|i| states[i].name.as_str()),
                spec.progress_deadline_seconds.unwrap_or(0),
                now,
            );
        }
    }
    status.conditions = Some(conditions);
    plan.status = status;
    Ok(plan)
}

/// Kubernetes' `scale`, for paused Deployments and scaling events. A single active
/// ReplicaSet (or, with none active, the newest) simply takes `spec.replicas`; a saturated
/// new ReplicaSet means the old ones go to zero; otherwise, for rolling updates, the change
/// of `replicas + maxSurge` is spread over the active ReplicaSets in proportion to their
/// size against the `max-replicas` they were sized for, largest first (newer first when
/// growing, older first when shrinking), the rounding leftover going to the first of them.
fn scale(
    states: &mut [RsState],
    new_index: Option<usize>,
    desired: i32,
    max_surge: i32,
    rolling: bool,
    status_replicas: i32,
) {
    if states.is_empty() {
        return;
    }
    let active: Vec<usize> = (0..states.len()).filter(|&i| states[i].spec > 0).collect();
    let newest_old = (0..states.len()).rev().find(|&i| Some(i) != new_index);
    let single = match active.len() {
        0 => new_index.or(newest_old),
        1 => Some(active[0]),
        _ => None,
    };
    if let Some(i) = single {
        states[i].spec = desired;
        return;
    }
    if let Some(n) = new_index {
        let new = &states[n];
        if new.spec == desired
            && new.desired_annotation == Some(desired)
            && new.available == desired
        {
            for &i in &active {
                if i != n {
                    states[i].spec = 0;
                }
            }
            return;
        }
    }
    if !rolling {
        return;
    }
    let allowed = if desired > 0 { desired + max_surge } else { 0 };
    let total: i32 = active.iter().map(|&i| states[i].spec).sum();
    let to_add = allowed - total;
    let mut order = active;
    // Larger first; among equals the newer grows first and the older shrinks first.
    if to_add > 0 {
        order.sort_by(|&a, &b| states[b].spec.cmp(&states[a].spec).then(b.cmp(&a)));
    } else if to_add < 0 {
        order.sort_by(|&a, &b| states[b].spec.cmp(&states[a].spec).then(a.cmp(&b)));
    }
    let mut added = 0;
    let mut sizes = Vec::with_capacity(order.len());
    for &i in &order {
        let share = proportion(
            &states[i],
            desired,
            max_surge,
            status_replicas,
            to_add,
            added,
        );
        sizes.push(states[i].spec + share);
        added += share;
    }
    for (k, &i) in order.iter().enumerate() {
        let mut size = sizes[k];
        if k == 0 && to_add != 0 {
            size = (size + to_add - added).max(0);
        }
        states[i].spec = size;
        states[i].restamp = true;
    }
}

/// One ReplicaSet's share of `to_add` (Kubernetes' `GetReplicaSetProportion`): its size
/// scaled by how much `replicas + maxSurge` changed since it was sized, bounded by what is
/// left to hand out.
fn proportion(
    s: &RsState,
    desired: i32,
    max_surge: i32,
    status_replicas: i32,
    to_add: i32,
    added: i32,
) -> i32 {
    if s.spec == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = if desired == 0 {
        -s.spec
    } else {
        // Without the annotation (the ReplicaSet was resized by hand) the Deployment's
        // reported size stands in for the size it was made for.
        let before = match s.max_annotation {
            Some(m) if m > 0 => m,
            _ => status_replicas,
        };
        if before == 0 {
            0
        } else {
            let scaled = f64::from(s.spec) * f64::from(desired + max_surge) / f64::from(before);
            scaled.round() as i32 - s.spec
        }
    };
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

fn set_deployment_revision(d: &Deployment, plan: &mut DeploymentPlan, revision: String) {
    let current = d
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION_ANNOTATION));
    plan.deployment_revision = (current != Some(&revision)).then_some(revision);
}

/// How big the new ReplicaSet may grow now: up to the desired count, without the sum of all
/// ReplicaSets exceeding desired + maxSurge.
fn new_rs_replicas(desired: i32, max_surge: i32, current_total: i32, new_spec: i32) -> i32 {
    let max_total = desired + max_surge;
    if current_total >= max_total {
        return new_spec;
    }
    new_spec + (max_total - current_total).min(desired - new_spec)
}

/// Scales old ReplicaSets down as far as `maxUnavailable` allows: first the replicas that are
/// not available anyway (they cost no availability), then available ones, oldest first.
fn scale_down_old_rolling(
    states: &mut [RsState],
    new_index: Option<usize>,
    desired: i32,
    max_unavailable: i32,
) -> bool {
    let old: Vec<usize> = (0..states.len())
        .filter(|i| Some(*i) != new_index)
        .collect();
    if old.iter().map(|&i| states[i].spec).sum::<i32>() == 0 {
        return false;
    }
    let all: i32 = states.iter().map(|s| s.spec).sum();
    let min_available = desired - max_unavailable;
    let new_unavailable = new_index.map_or(0, |i| (states[i].spec - states[i].available).max(0));
    let max_scaled_down = all - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return false;
    }
    let mut scaled = 0;
    for &i in &old {
        if scaled >= max_scaled_down {
            break;
        }
        let unhealthy = states[i].spec - states[i].available;
        if states[i].spec == 0 || unhealthy <= 0 {
            continue;
        }
        let step = unhealthy.min(max_scaled_down - scaled);
        states[i].spec -= step;
        scaled += step;
    }
    let available: i32 = states.iter().map(|s| s.available).sum();
    if available > min_available {
        let budget = available - min_available;
        let mut done = 0;
        for &i in &old {
            if done >= budget {
                break;
            }
            if states[i].spec == 0 {
                continue;
            }
            let step = states[i].spec.min(budget - done);
            states[i].spec -= step;
            done += step;
        }
        scaled += done;
    }
    scaled > 0
}

/// Recreate must not start new pods while any old one may still run.
fn old_pods_running(states: &[RsState], new_index: Option<usize>, pods: &[Pod]) -> bool {
    let old = (0..states.len()).filter(|i| Some(*i) != new_index);
    if old.clone().map(|i| states[i].status_replicas).sum::<i32>() > 0 {
        return true;
    }
    let old_uids: HashSet<&str> = old
        .filter_map(|i| states[i].rs?.metadata.uid.as_deref())
        .collect();
    pods.iter().any(|p| {
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        !matches!(phase, Some("Succeeded") | Some("Failed"))
            && controller_of(&p.metadata).is_some_and(|r| old_uids.contains(r.uid.as_str()))
    })
}

/// Old ReplicaSets beyond the history limit, oldest revision first, skipping any that still
/// has pods or whose status lags its spec.
fn history_to_delete(
    owned: &[&ReplicaSet],
    new_index: Option<usize>,
    limit: Option<i32>,
) -> Vec<String> {
    let Some(limit) = limit else {
        return Vec::new();
    };
    let mut alive: Vec<&ReplicaSet> = owned
        .iter()
        .enumerate()
        .filter(|(i, rs)| Some(*i) != new_index && rs.metadata.deletion_timestamp.is_none())
        .map(|(_, rs)| *rs)
        .collect();
    let excess = alive.len() as i64 - i64::from(limit);
    if excess <= 0 {
        return Vec::new();
    }
    alive.sort_by_key(|rs| {
        (
            revision_of(&rs.metadata),
            rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
        )
    });
    alive
        .iter()
        .take(excess as usize)
        .filter(|rs| {
            let spec = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let status = rs.status.as_ref();
            spec == 0
                && status.map_or(0, |s| s.replicas) == 0
                && status.and_then(|s| s.observed_generation).unwrap_or(0)
                    >= rs.metadata.generation.unwrap_or(0)
        })
        .filter_map(|rs| rs.metadata.name.clone())
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn progressing_condition(
    conditions: &mut Vec<DeploymentCondition>,
    status: &DeploymentStatus,
    old: &DeploymentStatus,
    desired: i32,
    d: &Deployment,
    new_name: Option<&str>,
    deadline_seconds: i32,
    now: Timestamp,
) {
    let current = conditions
        .iter()
        .find(|c| c.type_ == "Progressing")
        .cloned();
    let reason = current.as_ref().and_then(|c| c.reason.as_deref());
    let n = |v: Option<i32>| v.unwrap_or(0);
    if n(status.replicas) == n(status.updated_replicas) && reason == Some("NewReplicaSetAvailable")
    {
        return;
    }
    let rs_name = new_name.unwrap_or_default();
    if is_complete(desired, d.metadata.generation, status) {
        let message = format!("ReplicaSet {rs_name:?} has successfully progressed.");
        set_condition(
            conditions,
            condition("Progressing", true, "NewReplicaSetAvailable", message, now),
        );
        return;
    }
    let progressed = n(status.updated_replicas) > n(old.updated_replicas)
        || n(status.replicas) - n(status.updated_replicas)
            < n(old.replicas) - n(old.updated_replicas)
        || n(status.ready_replicas) > n(old.ready_replicas)
        || n(status.available_replicas) > n(old.available_replicas);
    if progressed {
        // Progress refreshes lastUpdateTime even with an unchanged reason: the deadline counts
        // from the last progress, not from the start of the rollout.
        let message = format!("ReplicaSet {rs_name:?} is progressing.");
        let mut fresh = condition("Progressing", true, "ReplicaSetUpdated", message, now);
        if let Some(current) = current.filter(|c| c.status == "True") {
            fresh.last_transition_time = current.last_transition_time;
        }
        conditions.retain(|c| c.type_ != "Progressing");
        conditions.push(fresh);
        return;
    }
    let timed_out = match current.as_ref() {
        Some(_) if reason == Some("ProgressDeadlineExceeded") => true,
        // A finished rollout has nothing left to time out; the next one starts afresh.
        Some(_) if reason == Some("NewReplicaSetAvailable") => false,
        Some(c) => c
            .last_update_time
            .as_ref()
            .is_some_and(|t| t.0 + SignedDuration::from_secs(i64::from(deadline_seconds)) < now),
        None => false,
    };
    if timed_out {
        let message = format!("ReplicaSet {rs_name:?} has timed out progressing.");
        set_condition(
            conditions,
            condition(
                "Progressing",
                false,
                "ProgressDeadlineExceeded",
                message,
                now,
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::now;
    use serde_json::json;

    fn template(image: &str) -> Value {
        json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": image}]}
        })
    }

    fn deployment(image: &str, strategy: Value, status: Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "d-uid", "generation": 2},
            "spec": {
                "replicas": 10,
                "selector": {"matchLabels": {"app": "web"}},
                "template": template(image),
                "strategy": strategy,
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600
            },
            "status": status
        }))
        .unwrap()
    }

    fn rolling() -> Value {
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    }

    fn steady_status() -> Value {
        json!({"replicas": 10, "updatedReplicas": 10, "readyReplicas": 10, "availableReplicas": 10,
               "observedGeneration": 1})
    }

    /// A ReplicaSet owned by `web` with `spec` replicas of which `available` are available.
    fn replica_set(
        name: &str,
        image: &str,
        revision: i64,
        spec: i32,
        available: i32,
        created: &str,
    ) -> ReplicaSet {
        let mut tpl = template(image);
        tpl["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] = json!(name.trim_start_matches("web-"));
        serde_json::from_value(json!({
            "metadata": {
                "name": name, "namespace": "default", "uid": format!("{name}-uid"),
                "generation": 1, "creationTimestamp": created,
                "labels": tpl["metadata"]["labels"].clone(),
                "annotations": {REVISION_ANNOTATION: revision.to_string()},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                     "uid": "d-uid", "controller": true, "blockOwnerDeletion": true}]
            },
            "spec": {"replicas": spec, "selector": {"matchLabels": tpl["metadata"]["labels"].clone()},
                     "template": tpl},
            "status": {"replicas": spec, "readyReplicas": available, "availableReplicas": available,
                       "observedGeneration": 1}
        }))
        .unwrap()
    }

    fn condition_reason<'a>(plan: &'a DeploymentPlan, type_: &str) -> (&'a str, &'a str) {
        let c = plan
            .status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap();
        (c.status.as_str(), c.reason.as_deref().unwrap())
    }

    #[test]
    fn percentages_resolve_with_surge_rounding_up_and_unavailability_rounding_down() {
        let pct = |s: &str| IntOrString::String(s.to_owned());
        assert_eq!(
            resolve_fenceposts(Some(&pct("25%")), Some(&pct("25%")), 10).unwrap(),
            (3, 2)
        );
        assert_eq!(resolve_fenceposts(None, None, 10).unwrap(), (3, 2));
        assert_eq!(
            resolve_fenceposts(Some(&IntOrString::Int(0)), Some(&pct("0%")), 10).unwrap(),
            (0, 1)
        );
        assert!(resolve_fenceposts(Some(&pct("lots")), None, 10).is_err());
    }

    #[test]
    fn a_rolling_update_of_ten_creates_the_new_replica_set_at_three_and_scales_old_down_by_two() {
        let d = deployment("nginx:1.27", rolling(), steady_status());
        let old = replica_set("web-aaaa", "nginx:1.26", 1, 10, 10, "2024-04-01T00:00:00Z");
        let plan = plan_deployment(&d, &[old], &[], now()).unwrap();

        let created = plan.create.as_ref().expect("a new replica set");
        let hash = pod_template_hash(&d.spec.as_ref().unwrap().template, None);
        assert_eq!(
            created.metadata.name.as_deref(),
            Some(format!("web-{hash}").as_str())
        );
        let rs_spec = created.spec.as_ref().unwrap();
        assert_eq!(rs_spec.replicas, Some(3));
        assert_eq!(
            rs_spec.selector.match_labels.as_ref().unwrap()[POD_TEMPLATE_HASH_LABEL],
            hash
        );
        let labels = rs_spec
            .template
            .as_ref()
            .unwrap()
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap();
        assert_eq!(labels[POD_TEMPLATE_HASH_LABEL], hash);
        let annotations = created.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations[REVISION_ANNOTATION], "2");
        assert_eq!(annotations[MAX_REPLICAS_ANNOTATION], "13");
        assert_eq!(controller_of(&created.metadata).unwrap().uid, "d-uid");

        assert_eq!(plan.scale.len(), 1);
        assert_eq!(
            (plan.scale[0].name.as_str(), plan.scale[0].replicas),
            ("web-aaaa", 8)
        );
        assert_eq!(plan.deployment_revision.as_deref(), Some("2"));
        assert_eq!(
            condition_reason(&plan, "Progressing"),
            ("True", "NewReplicaSetCreated")
        );
        assert_eq!(
            condition_reason(&plan, "Available"),
            ("True", "MinimumReplicasAvailable")
        );
        assert_eq!(
            plan.status.unavailable_replicas,
            Some(1),
            "11 wanted, 10 available"
        );
    }

    #[test]
    fn the_new_replica_set_grows_within_the_surge_and_the_sync_stops_there() {
        let d = deployment("nginx:1.27", rolling(), steady_status());
        let hash = pod_template_hash(&d.spec.as_ref().unwrap().template, None);
        let old = replica_set("web-aaaa", "nginx:1.26", 1, 8, 8, "2024-04-01T00:00:00Z");
        let new = replica_set(
            &format!("web-{hash}"),
            "nginx:1.27",
            2,
            3,
            0,
            "2024-05-01T11:00:00Z",
        );
        let plan = plan_deployment(&d, &[old, new], &[], now()).unwrap();
        assert!(plan.create.is_none());
        assert_eq!(
            plan.scale.len(),
            1,
            "old ones wait for the next sync: {:?}",
            plan.scale
        );
        assert_eq!(
            plan.scale[0].replicas, 5,
            "11 running, room for 2 more within 13"
        );
        assert!(plan.update_new.is_none());
    }

    #[test]
    fn old_replica_sets_shrink_once_new_pods_are_available() {
        let d = deployment("nginx:1.27", rolling(), steady_status());
        let hash = pod_template_hash(&d.spec.as_ref().unwrap().template, None);
        let old = replica_set("web-aaaa", "nginx:1.26", 1, 8, 8, "2024-04-01T00:00:00Z");
        let new = replica_set(
            &format!("web-{hash}"),
            "nginx:1.27",
            2,
            5,
            5,
            "2024-05-01T11:00:00Z",
        );
        let plan = plan_deployment(&d, &[old, new], &[], now()).unwrap();
        assert_eq!(
            plan.scale,
            vec![ReplicaSetScale {
                name: "web-aaaa".to_owned(),
                replicas: 3,
                annotations: BTreeMap::from([
                    (DESIRED_REPLICAS_ANNOTATION.to_owned(), "10".to_owned()),
                    (MAX_REPLICAS_ANNOTATION.to_owned(), "13".to_owned()),
                ]),
            }]
        );
    }

    #[test]
    fn unavailable_old_replicas_are_removed_before_available_ones() {
        let d = deployment("nginx:1.27", rolling(), steady_status());
        let hash = pod_template_hash(&d.spec.as_ref().unwrap().template, None);
        // Two old generations: the older has 3 broken pods.
        let older = replica_set("web-aaaa", "nginx:1.25", 1, 5, 2, "2024-03-01T00:00:00Z");
        let old = replica_set("web-bbbb", "nginx:1.26", 2, 5, 5, "2024-04-01T00:00:00Z");
        let new = replica_set(
            &format!("web-{hash}"),
            "nginx:1.27",
            3,
            3,
            0,
            "2024-05-01T11:00:00Z",
        );
        let plan = plan_deployment(&d, &[older, old, new], &[], now()).unwrap();
        // all 13, min available 8, new unavailable 3: two may go, both from the broken ones.
        assert_eq!(plan.scale.len(), 1);
        assert_eq!(
            (plan.scale[0].name.as_str(), plan.scale[0].replicas),
            ("web-aaaa", 3)
        );
    }

    #[test]
    fn recreate_scales_old_to_zero_then_waits_for_old_pods_then_creates_the_new_one() {
        let recreate = json!({"type": "Recreate"});
        let d = deployment("nginx:1.27", recreate.clone(), steady_status());
        let old = replica_set("web-aaaa", "nginx:1.26", 1, 10, 10, "2024-04-01T00:00:00Z");
        let plan = plan_deployment(&d, std::slice::from_ref(&old), &[], now()).unwrap();
        assert!(plan.create.is_none());
        assert_eq!(
            (plan.scale[0].name.as_str(), plan.scale[0].replicas),
            ("web-aaaa", 0)
        );

        let mut drained = replica_set("web-aaaa", "nginx:1.26", 1, 0, 0, "2024-04-01T00:00:00Z");
        let lingering: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-aaaa-x", "namespace": "default", "labels": {"app": "web"},
                         "deletionTimestamp": "2024-05-01T11:59:00Z",
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                             "name": "web-aaaa", "uid": "web-aaaa-uid", "controller": true}]},
            "status": {"phase": "Running"}
        }))
        .unwrap();
        let plan =
            plan_deployment(&d, std::slice::from_ref(&drained), &[lingering], now()).unwrap();
        assert!(
            plan.create.is_none() && plan.scale.is_empty(),
            "a terminating old pod still runs"
        );

        drained.status.as_mut().unwrap().replicas = 0;
        let plan = plan_deployment(&d, &[drained], &[], now()).unwrap();
        let created = plan
            .create
            .clone()
            .expect("new replica set once old pods are gone");
        assert_eq!(created.spec.unwrap().replicas, Some(10));
        assert_eq!(
            condition_reason(&plan, "Available"),
            ("False", "MinimumReplicasUnavailable")
        );
    }

    #[test]
    fn rolling_back_to_an_old_template_gives_its_replica_set_the_next_revision() {
        let d = deployment("nginx:1.26", rolling(), steady_status());
        let v1 = replica_set("web-aaaa", "nginx:1.26", 1, 0, 0, "2024-04-01T00:00:00Z");
        let v2 = replica_set("web-bbbb", "nginx:1.27", 2, 10, 10, "2024-05-01T00:00:00Z");
        let plan = plan_deployment(&d, &[v1, v2], &[], now()).unwrap();
        assert!(plan.create.is_none());
        assert_eq!(
            plan.update_new,
            Some(NewReplicaSetUpdate {
                name: "web-aaaa".to_owned(),
                annotations: BTreeMap::from([
                    (REVISION_ANNOTATION.to_owned(), "3".to_owned()),
                    (REVISION_HISTORY_ANNOTATION.to_owned(), "1".to_owned()),
                ]),
                min_ready_seconds: None,
            })
        );
        assert_eq!(plan.deployment_revision.as_deref(), Some("3"));
        assert_eq!(
            (plan.scale[0].name.as_str(), plan.scale[0].replicas),
            ("web-aaaa", 3)
        );
    }

    #[test]
    fn a_complete_deployment_deletes_history_beyond_the_limit_oldest_revision_first() {
        let mut d = deployment(
            "nginx:1.27",
            rolling(),
            json!({
                "replicas": 10, "updatedReplicas": 10, "readyReplicas": 10, "availableReplicas": 10,
                "observedGeneration": 2,
                "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]
            }),
        );
        d.spec.as_mut().unwrap().revision_history_limit = Some(1);
        let hash = pod_template_hash(&d.spec.as_ref().unwrap().template, None);
        let sets = vec![
            replica_set("web-cccc", "nginx:1.26", 3, 0, 0, "2024-03-01T00:00:00Z"),
            replica_set("web-aaaa", "nginx:1.24", 1, 0, 0, "2024-04-01T00:00:00Z"),
            replica_set("web-bbbb", "nginx:1.25", 2, 0, 0, "2024-02-01T00:00:00Z"),
            replica_set(
                &format!("web-{hash}"),
                "nginx:1.27",
                4,
                10,
                10,
                "2024-05-01T00:00:00Z",
            ),
        ];
        let plan = plan_deployment(&d, &sets, &[], now()).unwrap();
        assert!(plan.scale.is_empty() && plan.create.is_none());
        assert_eq!(plan.delete, vec!["web-aaaa", "web-bbbb"]);
        assert_eq!(
            condition_reason(&plan, "Progressing"),
            ("True", "NewReplicaSetAvailable")
        );
    }

    #[test]
    fn a_rollout_without_progress_past_the_deadline_is_marked_exceeded() {
        let d = deployment(
            "nginx:1.27",
            rolling(),
            json!({
                "replicas": 13, "updatedReplicas": 5, "readyReplicas": 8, "availableReplicas": 8,
                "observedGeneration": 2,
                "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                                "lastUpdateTime": "2024-05-01T11:45:00Z",
                                "lastTransitionTime": "2024-05-01T11:40:00Z"}]
            }),
        );
        let hash = pod_template_hash(&d.spec.as_ref().unwrap().template, None);
        let old = replica_set("web-aaaa", "nginx:1.26", 1, 8, 8, "2024-04-01T00:00:00Z");
        let new = replica_set(
            &format!("web-{hash}"),
            "nginx:1.27",
            2,
            5,
            0,
            "2024-05-01T11:00:00Z",
        );
        let plan = plan_deployment(&d, &[old, new], &[], now()).unwrap();
        assert!(plan.scale.is_empty(), "{:?}", plan.scale);
        assert_eq!(
            condition_reason(&plan, "Progressing"),
            ("False", "ProgressDeadlineExceeded")
        );
    }

    #[test]
    fn progress_refreshes_the_progressing_condition() {
        let d = deployment(
            "nginx:1.27",
            rolling(),
            json!({
                "replicas": 13, "updatedReplicas": 5, "readyReplicas": 8, "availableReplicas": 8,
                "observedGeneration": 2,
                "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                                "lastUpdateTime": "2024-05-01T11:45:00Z",
                                "lastTransitionTime": "2024-05-01T11:40:00Z"}]
            }),
        );
        let hash = pod_template_hash(&d.spec.as_ref().unwrap().template, None);
        let old = replica_set("web-aaaa", "nginx:1.26", 1, 8, 8, "2024-04-01T00:00:00Z");
        let new = replica_set(
            &format!("web-{hash}"),
            "nginx:1.27",
            2,
            5,
            2,
            "2024-05-01T11:00:00Z",
        );
        let plan = plan_deployment(&d, &[old, new], &[], now()).unwrap();
        let c = plan
            .status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == "Progressing")
            .unwrap();
        assert_eq!(c.reason.as_deref(), Some("ReplicaSetUpdated"));
        assert_eq!(c.last_update_time.as_ref().unwrap().0, now());
        assert_eq!(
            c.last_transition_time.as_ref().unwrap().0,
            "2024-05-01T11:40:00Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn the_template_hash_is_stable_and_a_name_collision_bumps_the_collision_count() {
        let d = deployment("nginx:1.27", rolling(), steady_status());
        let template = &d.spec.as_ref().unwrap().template;
        let hash = pod_template_hash(template, None);
        assert_eq!(hash, pod_template_hash(template, None));
        assert_ne!(hash, pod_template_hash(template, Some(1)));
        assert!(hash
            .bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)));

        // Someone else's ReplicaSet already has the name.
        let mut squatter = replica_set(
            &format!("web-{hash}"),
            "busybox",
            0,
            1,
            1,
            "2024-01-01T00:00:00Z",
        );
        squatter.metadata.owner_references = None;
        squatter.metadata.labels = Some(BTreeMap::from([("app".to_owned(), "other".to_owned())]));
        let old = replica_set("web-aaaa", "nginx:1.26", 1, 10, 10, "2024-04-01T00:00:00Z");
        let plan = plan_deployment(&d, &[squatter, old], &[], now()).unwrap();
        assert!(plan.create.is_none() && plan.scale.is_empty());
        assert_eq!(plan.status.collision_count, Some(1));
    }

    #[test]
    fn an_orphan_replica_set_matching_the_selector_is_adopted() {
        let d = deployment("nginx:1.27", rolling(), steady_status());
        let mut orphan = replica_set("web-aaaa", "nginx:1.27", 1, 10, 10, "2024-04-01T00:00:00Z");
        orphan.metadata.owner_references = None;
        let plan = plan_deployment(&d, &[orphan], &[], now()).unwrap();
        assert_eq!(plan.adopt, vec!["web-aaaa"]);
        assert!(plan.create.is_none(), "its template is the current one");
    }

    /// A ReplicaSet sized by a Deployment of `desired` replicas with `max` as its ceiling.
    fn sized(mut rs: ReplicaSet, desired: i32, max: i32) -> ReplicaSet {
        let annotations = rs.metadata.annotations.get_or_insert_with(Default::default);
        annotations.insert(DESIRED_REPLICAS_ANNOTATION.to_owned(), desired.to_string());
        annotations.insert(MAX_REPLICAS_ANNOTATION.to_owned(), max.to_string());
        rs
    }

    fn sizes(plan: &DeploymentPlan) -> Vec<(&str, i32)> {
        plan.scale
            .iter()
            .map(|s| (s.name.as_str(), s.replicas))
            .collect()
    }

    /// The plan of a Deployment of 10 (at most 13 pods) rolling from nginx:1.26 (8 pods) to
    /// nginx:1.27 (5 pods, 2 available), resized to `replicas`; and the new template's hash.
    fn resized_mid_rollout(replicas: i32) -> (DeploymentPlan, String) {
        let mut d = deployment("nginx:1.27", rolling(), steady_status());
        d.spec.as_mut().unwrap().replicas = Some(replicas);
        let hash = pod_template_hash(&d.spec.as_ref().unwrap().template, None);
        let old = sized(
            replica_set("web-aaaa", "nginx:1.26", 1, 8, 8, "2024-04-01T00:00:00Z"),
            10,
            13,
        );
        let new = sized(
            replica_set(
                &format!("web-{hash}"),
                "nginx:1.27",
                2,
                5,
                2,
                "2024-05-01T11:00:00Z",
            ),
            10,
            13,
        );
        let plan = plan_deployment(&d, &[old, new], &[], now()).unwrap();
        (plan, hash)
    }

    #[test]
    fn growing_mid_rollout_spreads_the_new_replicas_in_proportion() {
        let (plan, hash) = resized_mid_rollout(20);
        // 20 + 5 surge = 25 allowed, 13 running: 8 * 25/13 ~ 15 and 5 * 25/13 ~ 10.
        assert_eq!(
            sizes(&plan),
            vec![("web-aaaa", 15), (format!("web-{hash}").as_str(), 10)]
        );
        assert!(plan.scale.iter().all(|s| s.annotations
            == BTreeMap::from([
                (DESIRED_REPLICAS_ANNOTATION.to_owned(), "20".to_owned()),
                (MAX_REPLICAS_ANNOTATION.to_owned(), "25".to_owned()),
            ])));
        assert!(plan.create.is_none());
    }

    #[test]
    fn shrinking_mid_rollout_takes_replicas_from_every_active_replica_set() {
        let (plan, hash) = resized_mid_rollout(5);
        // 5 + 2 surge = 7 allowed: 8 * 7/13 ~ 4 and 5 * 7/13 ~ 3.
        assert_eq!(
            sizes(&plan),
            vec![("web-aaaa", 4), (format!("web-{hash}").as_str(), 3)]
        );
    }

    #[test]
    fn the_rounding_leftover_goes_to_the_first_in_line_which_among_equals_is_the_newest() {
        let mut d = deployment("nginx:1.27", rolling(), steady_status());
        let spec = d.spec.as_mut().unwrap();
        spec.replicas = Some(4);
        spec.strategy = serde_json::from_value(json!({"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}))
        .unwrap();
        let hash = pod_template_hash(&d.spec.as_ref().unwrap().template, None);
        let a = sized(
            replica_set("web-aaaa", "nginx:1.25", 1, 1, 1, "2024-03-01T00:00:00Z"),
            3,
            3,
        );
        let b = sized(
            replica_set("web-bbbb", "nginx:1.26", 2, 1, 1, "2024-04-01T00:00:00Z"),
            3,
            3,
        );
        let c = sized(
            replica_set(
                &format!("web-{hash}"),
                "nginx:1.27",
                3,
                1,
                0,
                "2024-05-01T00:00:00Z",
            ),
            3,
            3,
        );
        let plan = plan_deployment(&d, &[a, b, c], &[], now()).unwrap();
        // Each share rounds to 0; the one replica left goes to the newest. The others still
        // get the new size annotations, or the next sync would see a scaling event again.
        assert_eq!(
            sizes(&plan),
            vec![
                ("web-aaaa", 1),
                ("web-bbbb", 1),
                (format!("web-{hash}").as_str(), 2)
            ]
        );
    }

    #[test]
    fn a_scaling_event_scales_the_only_active_replica_set_before_any_rollout() {
        let mut d = deployment("nginx:1.27", rolling(), steady_status());
        d.spec.as_mut().unwrap().replicas = Some(12);
        let old = sized(
            replica_set("web-aaaa", "nginx:1.26", 1, 10, 10, "2024-04-01T00:00:00Z"),
            10,
            13,
        );
        let plan = plan_deployment(&d, &[old], &[], now()).unwrap();
        assert!(
            plan.create.is_none(),
            "the new template waits for the next sync"
        );
        assert_eq!(sizes(&plan), vec![("web-aaaa", 12)]);
    }

    fn paused(mut d: Deployment) -> Deployment {
        d.spec.as_mut().unwrap().paused = Some(true);
        d
    }

    #[test]
    fn a_paused_deployment_holds_its_new_template_but_still_scales_and_cleans_up() {
        let mut d = paused(deployment("nginx:1.27", rolling(), steady_status()));
        let spec = d.spec.as_mut().unwrap();
        spec.replicas = Some(6);
        spec.revision_history_limit = Some(1);
        let sets = vec![
            replica_set("web-aaaa", "nginx:1.24", 1, 0, 0, "2024-02-01T00:00:00Z"),
            replica_set("web-bbbb", "nginx:1.25", 2, 0, 0, "2024-03-01T00:00:00Z"),
            sized(
                replica_set("web-cccc", "nginx:1.26", 3, 10, 10, "2024-04-01T00:00:00Z"),
                10,
                13,
            ),
        ];
        let plan = plan_deployment(&d, &sets, &[], now()).unwrap();
        assert!(plan.create.is_none());
        assert_eq!(sizes(&plan), vec![("web-cccc", 6)]);
        // With no new ReplicaSet every one counts as old, the active one too (which is kept
        // because it still has replicas).
        assert_eq!(
            plan.delete,
            vec!["web-aaaa", "web-bbbb"],
            "history beyond the limit goes even while paused"
        );
        assert_eq!(
            condition_reason(&plan, "Progressing"),
            ("Unknown", "DeploymentPaused")
        );
        assert_eq!(plan.status.updated_replicas, Some(0));
    }

    #[test]
    fn a_paused_deployment_never_times_out_and_resuming_restarts_the_deadline() {
        let status = json!({
            "replicas": 10, "updatedReplicas": 0, "readyReplicas": 10, "availableReplicas": 10,
            "observedGeneration": 2,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                            "lastUpdateTime": "2024-05-01T10:00:00Z",
                            "lastTransitionTime": "2024-05-01T10:00:00Z"}]
        });
        let hash = pod_template_hash(
            &deployment("nginx:1.27", rolling(), json!({}))
                .spec
                .unwrap()
                .template,
            None,
        );
        let old = replica_set("web-aaaa", "nginx:1.26", 1, 10, 10, "2024-04-01T00:00:00Z");
        let new = replica_set(
            &format!("web-{hash}"),
            "nginx:1.27",
            2,
            0,
            0,
            "2024-05-01T09:00:00Z",
        );
        let sets = [old, new];
        let d = paused(deployment("nginx:1.27", rolling(), status));
        let plan = plan_deployment(&d, &sets, &[], now()).unwrap();
        assert!(plan.scale.is_empty(), "{:?}", plan.scale);
        assert_eq!(
            condition_reason(&plan, "Progressing"),
            ("Unknown", "DeploymentPaused")
        );

        // Resumed two hours later (far past the 600s deadline): the deadline counts anew.
        let mut d = deployment("nginx:1.27", rolling(), json!({}));
        d.status = Some(plan.status.clone());
        let later: Timestamp = "2024-05-01T14:00:00Z".parse().unwrap();
        let plan = plan_deployment(&d, &sets, &[], later).unwrap();
        let c = plan
            .status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == "Progressing")
            .unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("Unknown", Some("DeploymentResumed"))
        );
        assert_eq!(c.last_update_time.as_ref().unwrap().0, later);
        assert_eq!(sizes(&plan), vec![(format!("web-{hash}").as_str(), 3)]);
    }

    #[test]
    fn the_new_replica_set_takes_the_deployments_change_cause() {
        let mut d = deployment("nginx:1.27", rolling(), steady_status());
        d.metadata.annotations = Some(BTreeMap::from([
            (
                "kubernetes.io/change-cause".to_owned(),
                "kubectl set image".to_owned(),
            ),
            (REVISION_ANNOTATION.to_owned(), "2".to_owned()),
        ]));
        let hash = pod_template_hash(&d.spec.as_ref().unwrap().template, None);
        let old = replica_set("web-aaaa", "nginx:1.26", 1, 0, 0, "2024-04-01T00:00:00Z");
        let new = replica_set(
            &format!("web-{hash}"),
            "nginx:1.27",
            2,
            10,
            10,
            "2024-05-01T00:00:00Z",
        );
        let plan = plan_deployment(&d, &[old, new], &[], now()).unwrap();
        let update = plan.update_new.expect("annotations to copy");
        assert_eq!(
            update.annotations,
            BTreeMap::from([(
                "kubernetes.io/change-cause".to_owned(),
                "kubectl set image".to_owned()
            )])
        );
        assert_eq!(plan.deployment_revision, None);
    }

    #[test]
    fn revision_history_appends_and_drops_the_oldest_beyond_its_length_limit() {
        assert_eq!(revision_history(None, "1").as_deref(), Some("1"));
        assert_eq!(revision_history(Some("1,3"), "5").as_deref(), Some("1,3,5"));
        let long = (0..700)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let grown = revision_history(Some(&long), "12345").unwrap();
        assert!(grown.len() <= MAX_REVISION_HISTORY_CHARS);
        assert!(grown.ends_with(",699,12345"));
        assert!(!grown.starts_with("0,"));
    }
}
