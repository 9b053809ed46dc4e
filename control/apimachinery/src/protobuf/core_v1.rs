//! core/v1 kinds kubectl creates: Namespace, ConfigMap, Secret, ServiceAccount, Service and
//! ResourceQuota.
//!
//! `status` is not read for any kind: kubectl's create bodies carry an empty one, and the API
//! server ignores a status sent with a create anyway.

use k8s_pb::api::core::v1::{
    ClientIpConfig, ConfigMap, Namespace, NamespaceSpec, ObjectReference, ResourceQuota,
    ResourceQuotaSpec, ScopeSelector, ScopedResourceSelectorRequirement, Secret, Service,
    ServiceAccount, ServicePort, ServiceSpec, SessionAffinityConfig,
};

use super::json::{Json, Obj};
use super::meta_v1::object_meta;
use super::pod::local_object_reference;

pub(super) fn namespace(n: &Namespace) -> Json {
    Obj::new()
        .obj("metadata", n.metadata.as_ref(), object_meta)
        .obj("spec", n.spec.as_ref(), namespace_spec)
        .finish()
}

fn namespace_spec(s: &NamespaceSpec) -> Json {
    Obj::new().strs("finalizers", &s.finalizers).finish()
}

pub(super) fn config_map(c: &ConfigMap) -> Json {
    Obj::new()
        .obj("metadata", c.metadata.as_ref(), object_meta)
        .bool_ptr("immutable", c.immutable)
        .str_map("data", &c.data)
        .bytes_map("binaryData", &c.binary_data)
        .finish()
}

pub(super) fn secret(s: &Secret) -> Json {
    Obj::new()
        .obj("metadata", s.metadata.as_ref(), object_meta)
        .bool_ptr("immutable", s.immutable)
        .bytes_map("data", &s.data)
        .str_map("stringData", &s.string_data)
        .str("type", &s.r#type)
        .finish()
}

pub(super) fn service_account(a: &ServiceAccount) -> Json {
    Obj::new()
        .obj("metadata", a.metadata.as_ref(), object_meta)
        .list("secrets", &a.secrets, object_reference)
        .list(
            "imagePullSecrets",
            &a.image_pull_secrets,
            local_object_reference,
        )
        .bool_ptr(
            "automountServiceAccountToken",
            a.automount_service_account_token,
        )
        .finish()
}

fn object_reference(r: &ObjectReference) -> Json {
    Obj::new()
        .str("kind", &r.kind)
        .str("namespace", &r.namespace)
        .str("name", &r.name)
        .str("uid", &r.uid)
        .str("apiVersion", &r.api_version)
        .str("resourceVersion", &r.resource_version)
        .str("fieldPath", &r.field_path)
        .finish()
}

pub(super) fn service(s: &Service) -> Json {
    Obj::new()
        .obj("metadata", s.metadata.as_ref(), object_meta)
        .obj("spec", s.spec.as_ref(), service_spec)
        .finish()
}

fn service_spec(s: &ServiceSpec) -> Json {
    Obj::new()
        .list("ports", &s.ports, service_port)
        .str_map("selector", &s.selector)
        .str("clusterIP", &s.cluster_ip)
        .strs("clusterIPs", &s.cluster_ips)
        .str("type", &s.r#type)
        .strs("externalIPs", &s.external_ips)
        .str("sessionAffinity", &s.session_affinity)
        .str("loadBalancerIP", &s.load_balancer_ip)
        .strs("loadBalancerSourceRanges", &s.load_balancer_source_ranges)
        .str("externalName", &s.external_name)
        .str("externalTrafficPolicy", &s.external_traffic_policy)
        .int("healthCheckNodePort", s.health_check_node_port)
        .bool("publishNotReadyAddresses", s.publish_not_ready_addresses)
        .obj(
            "sessionAffinityConfig",
            s.session_affinity_config.as_ref(),
            session_affinity_config,
        )
        .strs("ipFamilies", &s.ip_families)
        .str_ptr("ipFamilyPolicy", &s.ip_family_policy)
        .bool_ptr(
            "allocateLoadBalancerNodePorts",
            s.allocate_load_balancer_node_ports,
        )
        .str_ptr("loadBalancerClass", &s.load_balancer_class)
        .str_ptr("internalTrafficPolicy", &s.internal_traffic_policy)
        .str_ptr("trafficDistribution", &s.traffic_distribution)
        .finish()
}

fn service_port(p: &ServicePort) -> Json {
    Obj::new()
        .str("name", &p.name)
        .str("protocol", &p.protocol)
        .str_ptr("appProtocol", &p.app_protocol)
        .int_req("port", p.port)
        .int_or_string("targetPort", p.target_port.as_ref())
        .int("nodePort", p.node_port)
        .finish()
}

fn session_affinity_config(c: &SessionAffinityConfig) -> Json {
    Obj::new()
        .obj("clientIP", c.client_ip.as_ref(), client_ip_config)
        .finish()
}

fn client_ip_config(c: &ClientIpConfig) -> Json {
    Obj::new()
        .int_ptr("timeoutSeconds", c.timeout_seconds)
        .finish()
}

pub(super) fn resource_quota(q: &ResourceQuota) -> Json {
    Obj::new()
        .obj("metadata", q.metadata.as_ref(), object_meta)
        .obj("spec", q.spec.as_ref(), resource_quota_spec)
        .finish()
}

fn resource_quota_spec(s: &ResourceQuotaSpec) -> Json {
    Obj::new()
        .quantity_map("hard", &s.hard)
        .strs("scopes", &s.scopes)
        .obj("scopeSelector", s.scope_selector.as_ref(), scope_selector)
        .finish()
}

fn scope_selector(s: &ScopeSelector) -> Json {
    Obj::new()
        .list(
            "matchExpressions",
            &s.match_expressions,
            scoped_resource_selector_requirement,
        )
        .finish()
}

fn scoped_resource_selector_requirement(r: &ScopedResourceSelectorRequirement) -> Json {
    Obj::new()
        .str_req("scopeName", &r.scope_name)
        .str_req("operator", &r.operator)
        .strs("values", &r.values)
        .finish()
}
