//! apps/v1 Deployment, the one apps kind kubectl creates. `status` is not read (see core_v1).

use k8s_pb::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};

use super::json::{Json, Obj};
use super::meta_v1::{label_selector, object_meta};
use super::pod::pod_template_spec;

pub(super) fn deployment(d: &Deployment) -> Json {
    Obj::new()
        .obj("metadata", d.metadata.as_ref(), object_meta)
        .obj("spec", d.spec.as_ref(), deployment_spec)
        .finish()
}

fn deployment_spec(s: &DeploymentSpec) -> Json {
    Obj::new()
        .int_ptr("replicas", s.replicas)
        .obj("selector", s.selector.as_ref(), label_selector)
        .obj("template", s.template.as_ref(), pod_template_spec)
        .obj("strategy", s.strategy.as_ref(), deployment_strategy)
        .int("minReadySeconds", s.min_ready_seconds)
        .int_ptr("revisionHistoryLimit", s.revision_history_limit)
        .bool("paused", s.paused)
        .int_ptr("progressDeadlineSeconds", s.progress_deadline_seconds)
        .finish()
}

fn deployment_strategy(s: &DeploymentStrategy) -> Json {
    Obj::new()
        .str("type", &s.r#type)
        .obj(
            "rollingUpdate",
            s.rolling_update.as_ref(),
            rolling_update_deployment,
        )
        .finish()
}

fn rolling_update_deployment(r: &RollingUpdateDeployment) -> Json {
    Obj::new()
        .int_or_string("maxUnavailable", r.max_unavailable.as_ref())
        .int_or_string("maxSurge", r.max_surge.as_ref())
        .finish()
}
