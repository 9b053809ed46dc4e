//! The Deployment controller: one rollout step of a Deployment over its ReplicaSets.
//!
//! [`plan_deployment`] takes the Deployment, the ReplicaSets of its namespace (whose status the
//! ReplicaSet controller keeps, so availability comes from there) and the pods (only needed by
//! `Recreate`, which waits for old pods to be gone), and returns what this sync changes. Like
//! Kubernetes, a sync does one kind of step and stops: scaling the new ReplicaSet ends the
//! sync, the next one (after the ReplicaSet controller has acted) scales old ones down.
//!
//! The new ReplicaSet is named `<deployment>-<pod-template-hash>`. Kubernetes hashes a deep
//! print of the template with FNV-32a; we hash the template's canonical JSON (k8s-openapi's
//! field order, sorted maps) with FNV-32a instead, so hashes are stable here but differ from
//! the ones kube-controller-manager would pick. Equality of templates ignores the hash label,
//! so ReplicaSets made by Kubernetes are still recognised as the new one.
//!
//! Not covered yet: proportional scaling of several ReplicaSets when `spec.replicas` changes
//! mid-rollout (the new ReplicaSet absorbs the change instead), a paused Deployment (treated
//! as status-only, where Kubernetes would still scale and clean up), rollback through the
//! deprecated `rollbackTo`, and the `ReplicaFailure` condition.

use std::collections::{BTreeMap, HashSet};

use control_apimachinery::selector::LabelSelector;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::ownership::{claim, controller_of, controller_reference, Claim};
use crate::ControllerError;

pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The label that tells apart the pods of each ReplicaSet of one Deployment.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// A ReplicaSet to scale, with the annotations that record for which Deployment size (and
/// surge) the count was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSetScale {
    pub name: String,
    pub replicas: i32,
    pub annotations: BTreeMap<String, String>,
}

/// One sync's decisions for a Deployment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeploymentPlan {
    /// Orphan ReplicaSets to adopt and owned ones to release.
    pub adopt: Vec<String>,
    pub release: Vec<String>,
    /// The new ReplicaSet for the current template, already sized.
    pub create: Option<ReplicaSet>,
    /// Existing ReplicaSets whose `spec.replicas` changes.
    pub scale: Vec<ReplicaSetScale>,
    /// `(name, revision)`: the existing new ReplicaSet must carry this revision annotation
    /// (a rollback to an old template makes that ReplicaSet the newest revision).
    pub revision_update: Option<(String, String)>,
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

/// The working copy of one ReplicaSet during planning.
struct RsState<'a> {
    rs: Option<&'a ReplicaSet>,
    name: String,
    original: i32,
    spec: i32,
    status_replicas: i32,
    ready: i32,
    available: i32,
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
    DeploymentCondition {
        type_: type_.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
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

/// Makes one sync's plan for `d`. `replica_sets` and `pods` are those of its namespace.
pub fn plan_deployment(
    d: &Deployment,
    replica_sets: &[ReplicaSet],
    pods: &[Pod],
    now: Timestamp,
) -> Result<DeploymentPlan, ControllerError> {
    let kind = "Deployment";
    let name = d
        .metadata
        .name
        .clone()
        .ok_or(ControllerError::MissingMetadata {
            kind,
            field: "name",
        })?;
    let uid = d
        .metadata
        .uid
        .clone()
        .ok_or(ControllerError::MissingMetadata { kind, field: "uid" })?;
    let spec = d.spec.clone().unwrap_or_default();
    let selector = LabelSelector::from_api(Some(&spec.selector))?;
    if selector.is_empty() {
        return Err(ControllerError::EmptySelector { kind, name });
    }
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

    // The existing new ReplicaSet takes the newest revision (after a rollback it was an old one).
    let mut new_index = new_index;
    if let Some(i) = new_index {
        let current = revision_of(&owned[i].metadata);
        let mut revision = current.to_string();
        if current <= max_old_revision && !deleting && !paused {
            plan.revision_update = Some((states[i].name.clone(), new_revision.clone()));
            revision = new_revision.clone();
        }
        if has_deadline
            && !conditions.iter().any(|c| c.type_ == "Progressing")
            && !deleting
            && !paused
        {
            let message = format!("Found new replica set {:?}", states[i].name);
            set_condition(
                &mut conditions,
                condition("Progressing", true, "FoundNewReplicaSet", message, now),
            );
        }
        set_deployment_revision(d, &mut plan, revision);
    }

    // A Deployment being deleted or paused only reports; rollouts resume on the next change.
    let status_only = deleting || paused;
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
            .filter(|(k, _)| {
                ![
                    LAST_APPLIED_ANNOTATION,
                    REVISION_ANNOTATION,
                    REVISION_HISTORY_ANNOTATION,
                ]
                .contains(&k.as_str())
            })
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
        });
        true
    };

    if !status_only {
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
                    changed =
                        scale_down_old_rolling(&mut states, new_index, desired, max_unavailable);
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

    for state in &states {
        if state.rs.is_some() && state.spec != state.original {
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
    if !has_deadline {
        conditions.retain(|c| c.type_ != "Progressing");
    } else if !status_only {
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
    status.conditions = Some(conditions);
    plan.status = status;
    Ok(plan)
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
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

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
        assert!(plan.revision_update.is_none());
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
            plan.revision_update,
            Some(("web-aaaa".to_owned(), "3".to_owned()))
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
}
