//! scheduling.k8s.io/v1 PriorityClass, which `kubectl create priorityclass` sends.

use k8s_pb::api::scheduling::v1::PriorityClass;

use super::json::{Json, Obj};
use super::meta_v1::object_meta;

pub(super) fn priority_class(p: &PriorityClass) -> Json {
    Obj::new()
        .obj("metadata", p.metadata.as_ref(), object_meta)
        .int_req("value", p.value)
        .bool("globalDefault", p.global_default)
        .str("description", &p.description)
        .str_ptr("preemptionPolicy", &p.preemption_policy)
        .finish()
}
