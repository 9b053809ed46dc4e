//! The ReplicaSet and ReplicationController controllers: keep `spec.replicas` active pods that
//! match the selector. Both kinds go through one [`WorkloadView`], because Kubernetes runs the
//! same controller for both and they differ only in how the selector is spelled.
//!
//! [`plan_replicas`] makes one sync's decisions: claim pods (adopt/release), create or delete
//! the difference (bounded by [`BURST_REPLICAS`]), and compute the status.

use std::collections::BTreeMap;

use control_apimachinery::selector::LabelSelector;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{
    Pod, PodTemplateSpec, ReplicationController, ReplicationControllerStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::ownership::{claim, controller_reference, controller_selector, name_and_uid, Claim};
use crate::podutil::{deletion_order, is_pod_active, is_pod_available, is_pod_ready};
use crate::ControllerError;

/// The most pods one sync creates or deletes. Kubernetes bounds each sync so a huge scale
/// change cannot flood the API server; the next sync continues.
pub const BURST_REPLICAS: usize = 500;

/// What the ReplicaSet controller needs from a ReplicaSet or ReplicationController.
#[derive(Debug, Clone)]
pub struct WorkloadView {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub name: String,
    pub namespace: Option<String>,
    pub uid: String,
    pub generation: Option<i64>,
    /// `metadata.deletionTimestamp` is set: no adoption, no creates or deletes.
    pub deleting: bool,
    /// `spec.replicas`, defaulting to 1 as the API does.
    pub replicas: i32,
    pub min_ready_seconds: i32,
    pub selector: LabelSelector,
    pub template: Option<PodTemplateSpec>,
}

impl WorkloadView {
    /// The view of an `apps/v1` ReplicaSet. A missing or empty selector is refused, as
    /// Kubernetes' validation would have.
    pub fn from_replica_set(rs: &ReplicaSet) -> Result<WorkloadView, ControllerError> {
        let (name, uid) = name_and_uid(&rs.metadata, "ReplicaSet")?;
        let spec = rs.spec.as_ref();
        let selector = controller_selector("ReplicaSet", &name, spec.map(|s| &s.selector))?;
        Ok(WorkloadView {
            api_version: "apps/v1",
            kind: "ReplicaSet",
            name,
            namespace: rs.metadata.namespace.clone(),
            uid,
            generation: rs.metadata.generation,
            deleting: rs.metadata.deletion_timestamp.is_some(),
            replicas: spec.and_then(|s| s.replicas).unwrap_or(1),
            min_ready_seconds: spec.and_then(|s| s.min_ready_seconds).unwrap_or(0),
            selector,
            template: spec.and_then(|s| s.template.clone()),
        })
    }

    /// The view of a `v1` ReplicationController. Its selector is a plain label map; when it is
    /// absent the template's labels stand in, which is what API defaulting does.
    pub fn from_replication_controller(
        rc: &ReplicationController,
    ) -> Result<WorkloadView, ControllerError> {
        let (name, uid) = name_and_uid(&rc.metadata, "ReplicationController")?;
        let spec = rc.spec.as_ref();
        let template = spec.and_then(|s| s.template.clone());
        let selector_map = spec
            .and_then(|s| s.selector.clone())
            .filter(|m| !m.is_empty())
            .or_else(|| template.as_ref()?.metadata.as_ref()?.labels.clone())
            .unwrap_or_default();
        if selector_map.is_empty() {
            return Err(ControllerError::EmptySelector {
                kind: "ReplicationController",
                name,
            });
        }
        Ok(WorkloadView {
            api_version: "v1",
            kind: "ReplicationController",
            name,
            namespace: rc.metadata.namespace.clone(),
            uid,
            generation: rc.metadata.generation,
            deleting: rc.metadata.deletion_timestamp.is_some(),
            replicas: spec.and_then(|s| s.replicas).unwrap_or(1),
            min_ready_seconds: spec.and_then(|s| s.min_ready_seconds).unwrap_or(0),
            selector: LabelSelector::from_set(&selector_map)?,
            template,
        })
    }
}

/// The counts both kinds report in their status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplicaStatus {
    /// Active pods owned after this sync's claims.
    pub replicas: i32,
    /// Of those, pods carrying every label of the template (not just the selector's).
    pub fully_labeled_replicas: i32,
    pub ready_replicas: i32,
    /// Ready for at least `minReadySeconds`.
    pub available_replicas: i32,
    pub observed_generation: Option<i64>,
}

impl ReplicaStatus {
    /// As a ReplicaSet status; conditions (ReplicaFailure) are the IO loop's to keep.
    pub fn to_replica_set_status(self) -> ReplicaSetStatus {
        ReplicaSetStatus {
            replicas: self.replicas,
            fully_labeled_replicas: Some(self.fully_labeled_replicas),
            ready_replicas: Some(self.ready_replicas),
            available_replicas: Some(self.available_replicas),
            observed_generation: self.observed_generation,
            conditions: None,
        }
    }

    /// As a ReplicationController status.
    pub fn to_replication_controller_status(self) -> ReplicationControllerStatus {
        ReplicationControllerStatus {
            replicas: self.replicas,
            fully_labeled_replicas: Some(self.fully_labeled_replicas),
            ready_replicas: Some(self.ready_replicas),
            available_replicas: Some(self.available_replicas),
            observed_generation: self.observed_generation,
            conditions: None,
        }
    }
}

/// One sync's decisions for a ReplicaSet or ReplicationController.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicaPlan {
    /// How many pods to create from the template (at most [`BURST_REPLICAS`]); send them in
    /// [`ReplicaPlan::create_batches`] and stop at the first failing batch.
    pub create: usize,
    /// Names of pods to delete, in deletion order.
    pub delete: Vec<String>,
    /// Orphan pods to adopt (add the controller ownerReference).
    pub adopt: Vec<String>,
    /// Owned pods to release (remove the ownerReference).
    pub release: Vec<String>,
    pub status: ReplicaStatus,
}

impl ReplicaPlan {
    /// The slow-start batches for `create`.
    pub fn create_batches(&self) -> Vec<usize> {
        slow_start_batches(self.create, 1)
    }
}

/// Batch sizes for creating `count` objects: `initial`, then doubling, the last batch taking
/// what is left. Kubernetes creates this way so that a template that cannot work (a quota, a
/// rejecting webhook) costs one failed call, not hundreds.
pub fn slow_start_batches(count: usize, initial: usize) -> Vec<usize> {
    let mut batches = Vec::new();
    let mut remaining = count;
    let mut size = initial.max(1).min(remaining);
    while remaining > 0 {
        batches.push(size);
        remaining -= size;
        size = (size * 2).min(remaining);
    }
    batches
}

/// Makes one sync's plan for `owner` over the pods of its namespace.
pub fn plan_replicas(owner: &WorkloadView, pods: &[Pod], now: Timestamp) -> ReplicaPlan {
    let mut plan = ReplicaPlan::default();
    let mut owned: Vec<&Pod> = Vec::new();
    for pod in pods {
        if pod.metadata.namespace.is_some() && pod.metadata.namespace != owner.namespace {
            continue;
        }
        // Inactive orphans are not worth adopting; inactive owned pods may still be released
        // but never count.
        let decision = claim(&owner.uid, owner.deleting, &owner.selector, &pod.metadata);
        let name = pod.metadata.name.clone().unwrap_or_default();
        match decision {
            Claim::Keep => owned.push(pod),
            Claim::Adopt if is_pod_active(pod) => {
                plan.adopt.push(name);
                owned.push(pod);
            }
            Claim::Release => plan.release.push(name),
            Claim::Adopt | Claim::Ignore => {}
        }
    }
    let mut active: Vec<&Pod> = owned.into_iter().filter(|p| is_pod_active(p)).collect();

    plan.status = status_of(owner, &active, now);

    // A controller on its way out only reports status; its pods go with it through GC.
    if owner.deleting {
        return plan;
    }
    let desired = usize::try_from(owner.replicas.max(0)).unwrap_or(0);
    if active.len() < desired {
        plan.create = (desired - active.len()).min(BURST_REPLICAS);
    } else if active.len() > desired {
        let surplus = (active.len() - desired).min(BURST_REPLICAS);
        active.sort_by(|a, b| deletion_order(a, b, now));
        plan.delete = active
            .iter()
            .take(surplus)
            .map(|p| p.metadata.name.clone().unwrap_or_default())
            .collect();
    }
    plan
}

fn status_of(owner: &WorkloadView, active: &[&Pod], now: Timestamp) -> ReplicaStatus {
    let template_labels = owner
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let empty = BTreeMap::new();
    let count = |f: &dyn Fn(&Pod) -> bool| {
        i32::try_from(active.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
    };
    ReplicaStatus {
        replicas: count(&|_| true),
        fully_labeled_replicas: count(&|p| {
            let labels = p.metadata.labels.as_ref().unwrap_or(&empty);
            template_labels
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
        }),
        ready_replicas: count(&is_pod_ready),
        available_replicas: count(&|p| is_pod_available(p, owner.min_ready_seconds, now)),
        observed_generation: owner.generation,
    }
}

/// A new pod for `owner` from `template`: the template's labels, annotations, finalizers and
/// spec, a `generateName` of `generate_name_prefix` (Kubernetes uses `<owner name>-`), and the
/// controller ownerReference so the pod is ours from birth rather than adopted later.
pub fn pod_from_template(
    owner: &WorkloadView,
    template: &PodTemplateSpec,
    generate_name_prefix: &str,
) -> Pod {
    let template_meta = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name_prefix.to_owned()),
            namespace: owner.namespace.clone(),
            labels: template_meta.labels,
            annotations: template_meta.annotations,
            finalizers: template_meta.finalizers,
            owner_references: Some(vec![controller_reference(
                owner.api_version,
                owner.kind,
                &owner.name,
                &owner.uid,
            )]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{merge, now};
    use serde_json::{json, Value};

    fn replica_set(replicas: i32) -> WorkloadView {
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "rs-uid", "generation": 3},
            "spec": {
                "replicas": replicas,
                "minReadySeconds": 10,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web", "tier": "front"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}
                }
            }
        }))
        .unwrap();
        WorkloadView::from_replica_set(&rs).unwrap()
    }

    /// A pod owned by the `web` ReplicaSet; `extra` is merged into its JSON.
    fn pod(name: &str, extra: Value) -> Pod {
        let mut base = json!({
            "metadata": {
                "name": name, "namespace": "default",
                "labels": {"app": "web", "tier": "front"},
                "creationTimestamp": "2024-05-01T10:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                     "uid": "rs-uid", "controller": true, "blockOwnerDeletion": true}]
            },
            "spec": {"nodeName": "node-1", "containers": [{"name": "nginx", "image": "nginx:1.27"}]},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T10:01:00Z"}
            ]}
        });
        merge(&mut base, extra);
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn scaling_up_creates_the_difference() {
        let pods = vec![pod("a", json!({})), pod("b", json!({}))];
        let plan = plan_replicas(&replica_set(5), &pods, now());
        assert_eq!(plan.create, 3);
        assert!(plan.delete.is_empty());
        assert_eq!(plan.create_batches(), vec![1, 2]);
        assert_eq!(plan.status.replicas, 2);
        assert_eq!(plan.status.available_replicas, 2);
        assert_eq!(plan.status.observed_generation, Some(3));
    }

    #[test]
    fn creates_are_capped_by_the_burst_limit_and_sent_in_doubling_batches() {
        let plan = plan_replicas(&replica_set(1000), &[], now());
        assert_eq!(plan.create, BURST_REPLICAS);
        let batches = plan.create_batches();
        assert_eq!(&batches[..5], &[1, 2, 4, 8, 16]);
        assert_eq!(batches.iter().sum::<usize>(), 500);
        assert_eq!(*batches.last().unwrap(), 500 - 255);
    }

    #[test]
    fn scaling_down_deletes_unscheduled_then_pending_then_not_ready_then_newest_first() {
        let pods = vec![
            pod("old-ready", json!({})),
            pod(
                "new-ready",
                json!({"metadata": {"creationTimestamp": "2024-05-01T11:00:00Z"}}),
            ),
            pod(
                "not-ready",
                json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
            ),
            pod(
                "pending",
                json!({"status": {"phase": "Pending", "conditions": null}}),
            ),
            pod(
                "unscheduled",
                json!({"spec": {"nodeName": null}, "status": {"phase": "Pending", "conditions": null}}),
            ),
        ];
        let plan = plan_replicas(&replica_set(1), &pods, now());
        assert_eq!(plan.create, 0);
        assert_eq!(
            plan.delete,
            vec!["unscheduled", "pending", "not-ready", "new-ready"]
        );
    }

    #[test]
    fn a_pod_ready_for_less_time_is_deleted_before_one_ready_longer() {
        let pods = vec![
            pod("long", json!({})),
            pod(
                "short",
                json!({"status": {"conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T11:59:00Z"}
                ]}}),
            ),
        ];
        let plan = plan_replicas(&replica_set(1), &pods, now());
        assert_eq!(plan.delete, vec!["short"]);
    }

    #[test]
    fn an_orphan_matching_pod_is_adopted_and_counted() {
        let pods = vec![
            pod("owned", json!({})),
            pod("orphan", json!({"metadata": {"ownerReferences": null}})),
            pod(
                "stranger",
                json!({"metadata": {"ownerReferences": null, "labels": {"app": "db"}}}),
            ),
        ];
        let plan = plan_replicas(&replica_set(2), &pods, now());
        assert_eq!(plan.adopt, vec!["orphan"]);
        assert_eq!(plan.create, 0);
        assert!(plan.delete.is_empty());
        assert_eq!(plan.status.replicas, 2);
    }

    #[test]
    fn an_owner_being_deleted_adopts_nothing_and_changes_no_pods() {
        let mut view = replica_set(5);
        view.deleting = true;
        let pods = vec![pod(
            "orphan",
            json!({"metadata": {"ownerReferences": null}}),
        )];
        let plan = plan_replicas(&view, &pods, now());
        assert!(plan.adopt.is_empty());
        assert_eq!(plan.create, 0);
    }

    #[test]
    fn an_owned_pod_that_no_longer_matches_is_released_and_replaced() {
        let pods = vec![pod(
            "relabelled",
            json!({"metadata": {"labels": {"app": "debug"}}}),
        )];
        let plan = plan_replicas(&replica_set(1), &pods, now());
        assert_eq!(plan.release, vec!["relabelled"]);
        assert_eq!(plan.create, 1);
    }

    #[test]
    fn terminated_and_terminating_pods_are_replaced() {
        let pods = vec![
            pod("failed", json!({"status": {"phase": "Failed"}})),
            pod(
                "going",
                json!({"metadata": {"deletionTimestamp": "2024-05-01T11:59:00Z"}}),
            ),
        ];
        let plan = plan_replicas(&replica_set(2), &pods, now());
        assert_eq!(plan.create, 2);
        assert_eq!(plan.status.replicas, 0);
    }

    #[test]
    fn status_counts_fully_labeled_ready_and_available_pods() {
        let pods = vec![
            pod("a", json!({})),
            pod("partial", json!({"metadata": {"labels": {"tier": null}}})),
            pod(
                "fresh",
                json!({"status": {"conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T11:59:55Z"}
                ]}}),
            ),
        ];
        let status = plan_replicas(&replica_set(3), &pods, now()).status;
        assert_eq!(status.replicas, 3);
        assert_eq!(status.fully_labeled_replicas, 2);
        assert_eq!(status.ready_replicas, 3);
        assert_eq!(
            status.available_replicas, 2,
            "fresh has been ready for only 5 of 10 s"
        );
        assert_eq!(status.to_replica_set_status().available_replicas, Some(2));
    }

    #[test]
    fn a_replication_controller_without_selector_selects_its_template_labels() {
        let rc: ReplicationController = serde_json::from_value(json!({
            "metadata": {"name": "legacy", "namespace": "default", "uid": "rc-uid"},
            "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "legacy"}},
                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
        }))
        .unwrap();
        let view = WorkloadView::from_replication_controller(&rc).unwrap();
        let orphan = pod(
            "x",
            json!({"metadata": {"ownerReferences": null, "labels": {"app": "legacy"}}}),
        );
        let plan = plan_replicas(&view, &[orphan], now());
        assert_eq!(plan.adopt, vec!["x"]);
        assert_eq!(plan.create, 1);
    }

    #[test]
    fn a_pod_from_the_template_carries_the_controller_reference_and_template_labels() {
        let view = replica_set(1);
        let template = view.template.clone().unwrap();
        let p = pod_from_template(&view, &template, "web-");
        assert_eq!(p.metadata.generate_name.as_deref(), Some("web-"));
        assert_eq!(p.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(p.metadata.labels.as_ref().unwrap()["tier"], "front");
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("ReplicaSet", "web", "rs-uid")
        );
        assert_eq!(owner.controller, Some(true));
        assert_eq!(owner.block_owner_deletion, Some(true));
        assert_eq!(
            p.spec.unwrap().containers[0].image.as_deref(),
            Some("nginx:1.27")
        );
    }

    #[test]
    fn an_empty_selector_is_refused() {
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "all", "uid": "u"},
            "spec": {"selector": {}}
        }))
        .unwrap();
        assert!(matches!(
            WorkloadView::from_replica_set(&rs),
            Err(ControllerError::EmptySelector { .. })
        ));
    }
}
