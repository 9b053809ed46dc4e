//! Reconcile decisions of Kubernetes' workload controllers as pure functions.
//!
//! Every function here takes the objects a controller would have in its informer caches
//! (k8s-openapi types) plus the current time as an argument, and returns a plan: what to
//! create, delete, adopt, release, scale and which status to write. Nothing reads a clock or
//! talks to the API, in the spirit of a sans-IO engine; the loops that watch through the API
//! and apply these plans live in the `control` package. That keeps every rule testable with
//! fixed objects and fixed times.
//!
//! Module map:
//! - [`podutil`]: is a pod active, ready, available; the order in which surplus pods go.
//! - [`ownership`]: controller ownerReferences, and the adopt/release rules of the
//!   controller reference manager.
//! - [`replicaset`]: ReplicaSet and ReplicationController through one [`WorkloadView`].
//! - [`deployment`]: one sync of a Deployment over its ReplicaSets: a rollout step, or
//!   (paused or rescaled) proportional scaling; revisions for `kubectl rollout undo`.
//! - [`history`]: the ControllerRevisions DaemonSets and StatefulSets record templates in.
//! - [`daemonset`]: one daemon pod per eligible node, rolling updates with surge.
//! - [`statefulset`]: ordinal pods with stable names, ordered or parallel, partitioned updates.
//! - [`job`]: Jobs to completion (parallelism, backoff limit, active deadline, Indexed).
//! - [`cron`] and [`cronjob`]: cron schedules, and the Jobs a CronJob starts on them.
//! - [`ttl`]: when a finished Job with `ttlSecondsAfterFinished` is deleted.
//!
//! Semantics follow Kubernetes v1.32 (`pkg/controller/replicaset`, `pkg/controller/deployment`,
//! `pkg/controller/controller_utils.go`, `pkg/controller/controller_ref_manager.go`).

pub mod cron;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod gc;
pub mod history;
pub mod job;
pub mod ownership;
pub mod podutil;
pub mod replicaset;
pub mod statefulset;
#[cfg(test)]
pub(crate) mod testutil;
pub mod ttl;

pub use deployment::{plan_deployment, DeploymentPlan, NewReplicaSetUpdate, ReplicaSetScale};
pub use ownership::{claim, controller_of, controller_reference, Claim};
pub use replicaset::{
    plan_replicas, pod_from_template, slow_start_batches, ReplicaPlan, ReplicaStatus, WorkloadView,
    BURST_REPLICAS,
};

/// Why a plan could not be made: the object itself is unusable, so retrying without a change
/// to it will not help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControllerError {
    /// The selector does not parse (an invalid operator, key or value).
    #[error("invalid selector: {0}")]
    InvalidSelector(#[from] control_apimachinery::selector::SelectorError),
    /// Kubernetes refuses to act on a selector that matches every pod: it would adopt the
    /// whole namespace.
    #[error("{kind} {name} selects all pods; a non-empty selector is required")]
    EmptySelector { kind: &'static str, name: String },
    /// A required metadata field (name or uid) is missing, so no ownerReference can be made.
    #[error("{kind} is missing metadata.{field}")]
    MissingMetadata {
        kind: &'static str,
        field: &'static str,
    },
    /// `maxSurge` / `maxUnavailable` is neither an integer nor a percentage like `25%`.
    #[error("invalid value for IntOrString: {0:?}")]
    InvalidIntOrPercent(String),
}
