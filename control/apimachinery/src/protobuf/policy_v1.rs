//! policy/v1 PodDisruptionBudget, which `kubectl create poddisruptionbudget` sends. `status` is
//! not read (see core_v1).

use k8s_pb::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};

use super::json::{Json, Obj};
use super::meta_v1::{label_selector, object_meta};

pub(super) fn pod_disruption_budget(p: &PodDisruptionBudget) -> Json {
    Obj::new()
        .obj("metadata", p.metadata.as_ref(), object_meta)
        .obj("spec", p.spec.as_ref(), pod_disruption_budget_spec)
        .finish()
}

fn pod_disruption_budget_spec(s: &PodDisruptionBudgetSpec) -> Json {
    Obj::new()
        .int_or_string("minAvailable", s.min_available.as_ref())
        .obj("selector", s.selector.as_ref(), label_selector)
        .int_or_string("maxUnavailable", s.max_unavailable.as_ref())
        .str_ptr(
            "unhealthyPodEvictionPolicy",
            &s.unhealthy_pod_eviction_policy,
        )
        .finish()
}
