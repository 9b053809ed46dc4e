//! meta/v1 messages every kind embeds: ObjectMeta and LabelSelector.

use k8s_pb::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ManagedFieldsEntry, ObjectMeta, OwnerReference,
};
use serde_json::Value;

use super::json::{Json, Obj};
use super::ProtobufError;

pub(super) fn object_meta(m: &ObjectMeta) -> Json {
    Obj::new()
        .str("name", &m.name)
        .str("generateName", &m.generate_name)
        .str("namespace", &m.namespace)
        .str("selfLink", &m.self_link)
        .str("uid", &m.uid)
        .str("resourceVersion", &m.resource_version)
        .int("generation", m.generation)
        .time("creationTimestamp", m.creation_timestamp.as_ref())
        .time("deletionTimestamp", m.deletion_timestamp.as_ref())
        .int_ptr(
            "deletionGracePeriodSeconds",
            m.deletion_grace_period_seconds,
        )
        .str_map("labels", &m.labels)
        .str_map("annotations", &m.annotations)
        .list("ownerReferences", &m.owner_references, owner_reference)
        .strs("finalizers", &m.finalizers)
        .list("managedFields", &m.managed_fields, managed_fields_entry)
        .finish()
}

fn owner_reference(r: &OwnerReference) -> Json {
    Obj::new()
        .str_req("apiVersion", &r.api_version)
        .str_req("kind", &r.kind)
        .str_req("name", &r.name)
        .str_req("uid", &r.uid)
        .bool_ptr("controller", r.controller)
        .bool_ptr("blockOwnerDeletion", r.block_owner_deletion)
        .finish()
}

fn managed_fields_entry(e: &ManagedFieldsEntry) -> Json {
    Obj::new()
        .str("manager", &e.manager)
        .str("operation", &e.operation)
        .str("apiVersion", &e.api_version)
        .time("time", e.time.as_ref())
        .str("fieldsType", &e.fields_type)
        .obj("fieldsV1", e.fields_v1.as_ref(), |f| {
            fields_v1(f.raw.as_deref().unwrap_or_default())
        })
        .str("subresource", &e.subresource)
        .finish()
}

/// FieldsV1 carries its JSON form as raw bytes in protobuf too.
fn fields_v1(raw: &[u8]) -> Json {
    if raw.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(raw).map_err(|e| {
        ProtobufError::InvalidValue(format!("managedFields fieldsV1 is not JSON: {e}"))
    })
}

pub(super) fn label_selector(s: &LabelSelector) -> Json {
    Obj::new()
        .str_map("matchLabels", &s.match_labels)
        .list(
            "matchExpressions",
            &s.match_expressions,
            label_selector_requirement,
        )
        .finish()
}

fn label_selector_requirement(r: &LabelSelectorRequirement) -> Json {
    Obj::new()
        .str_req("key", &r.key)
        .str_req("operator", &r.operator)
        .strs("values", &r.values)
        .finish()
}
