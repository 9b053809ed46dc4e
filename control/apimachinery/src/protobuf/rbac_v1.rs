//! rbac.authorization.k8s.io/v1 Role, ClusterRole, RoleBinding and ClusterRoleBinding, which
//! `kubectl create role|clusterrole|rolebinding|clusterrolebinding` send.

use k8s_pb::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef,
    Subject,
};

use super::json::{Json, Obj};
use super::meta_v1::{label_selector, object_meta};

pub(super) fn role(r: &Role) -> Json {
    Obj::new()
        .obj("metadata", r.metadata.as_ref(), object_meta)
        .list("rules", &r.rules, policy_rule)
        .finish()
}

pub(super) fn cluster_role(r: &ClusterRole) -> Json {
    Obj::new()
        .obj("metadata", r.metadata.as_ref(), object_meta)
        .list("rules", &r.rules, policy_rule)
        .obj(
            "aggregationRule",
            r.aggregation_rule.as_ref(),
            aggregation_rule,
        )
        .finish()
}

fn policy_rule(r: &PolicyRule) -> Json {
    Obj::new()
        .value("verbs", r.verbs.iter().map(String::as_str).collect())
        .strs("apiGroups", &r.api_groups)
        .strs("resources", &r.resources)
        .strs("resourceNames", &r.resource_names)
        .strs("nonResourceURLs", &r.non_resource_ur_ls)
        .finish()
}

fn aggregation_rule(r: &AggregationRule) -> Json {
    Obj::new()
        .list(
            "clusterRoleSelectors",
            &r.cluster_role_selectors,
            label_selector,
        )
        .finish()
}

pub(super) fn role_binding(b: &RoleBinding) -> Json {
    Obj::new()
        .obj("metadata", b.metadata.as_ref(), object_meta)
        .list("subjects", &b.subjects, subject)
        .obj("roleRef", b.role_ref.as_ref(), role_ref)
        .finish()
}

/// The same shape as RoleBinding, but a distinct message in k8s-pb.
pub(super) fn cluster_role_binding(b: &ClusterRoleBinding) -> Json {
    Obj::new()
        .obj("metadata", b.metadata.as_ref(), object_meta)
        .list("subjects", &b.subjects, subject)
        .obj("roleRef", b.role_ref.as_ref(), role_ref)
        .finish()
}

fn subject(s: &Subject) -> Json {
    Obj::new()
        .str_req("kind", &s.kind)
        .str("apiGroup", &s.api_group)
        .str_req("name", &s.name)
        .str("namespace", &s.namespace)
        .finish()
}

fn role_ref(r: &RoleRef) -> Json {
    Obj::new()
        .str_req("apiGroup", &r.api_group)
        .str_req("kind", &r.kind)
        .str_req("name", &r.name)
        .finish()
}
