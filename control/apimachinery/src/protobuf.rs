//! Turns Kubernetes protobuf request bodies into the JSON form the API server works on.
//!
//! kubectl's typed clients (`kubectl create namespace|configmap|secret|serviceaccount|service|
//! deployment|job|cronjob|quota|role|clusterrole|rolebinding|clusterrolebinding|
//! poddisruptionbudget|priorityclass|ingress|token`) send their bodies as
//! `application/vnd.kubernetes.protobuf`, and client-go has no fallback to JSON. Such a body is
//! the magic `k8s\0`, then a `runtime.Unknown` envelope whose `typeMeta` names the kind and whose
//! `raw` holds the object's own protobuf message.
//!
//! The envelope and the object are parsed with k8s-pb's prost types, then mapped to the
//! Kubernetes JSON shape by hand, field by field: camelCase names, the Go `omitempty` rules,
//! Time as RFC 3339, Quantity as a string, IntOrString as a number or string, bytes as base64.
//! The JSON is what k8s-openapi would serialize for the same object. Only the kinds kubectl's
//! create generators send are mapped; anything else is refused with a message telling the
//! client to send JSON instead. No input can make this panic.

mod apps_v1;
mod authentication_v1;
mod batch_v1;
mod core_v1;
mod json;
mod meta_v1;
mod networking_v1;
mod pod;
mod policy_v1;
mod rbac_v1;
mod scheduling_v1;

use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::{Map, Value};

use self::json::Json;

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: [u8; 4] = *b"k8s\0";

/// Why a protobuf body could not be turned into JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    #[error("protobuf request body does not start with the Kubernetes magic bytes \"k8s\\0\"")]
    MissingMagic,
    #[error("malformed protobuf {what}: {message}")]
    Malformed { what: String, message: String },
    #[error("protobuf request body names no apiVersion and kind")]
    MissingTypeMeta,
    #[error("protobuf request body for {api_version} {kind} carries no object")]
    MissingObject { api_version: String, kind: String },
    #[error(
        "protobuf request bodies with contentEncoding {0:?} are not supported; send application/json"
    )]
    ContentEncoding(String),
    #[error(
        "protobuf request bodies are not supported for {api_version} {kind}; send application/json"
    )]
    UnsupportedKind { api_version: String, kind: String },
    #[error("protobuf request bodies with a {0} are not supported; send application/json")]
    UnsupportedField(String),
    #[error("invalid value in protobuf request body: {0}")]
    InvalidValue(String),
}

/// Decodes a Kubernetes protobuf body (the `k8s\0` magic, then a runtime.Unknown envelope
/// holding typeMeta{apiVersion, kind} and raw = the object's protobuf) into the object's JSON
/// form, `apiVersion` and `kind` included.
pub fn decode_object(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = body
        .strip_prefix(&MAGIC)
        .ok_or(ProtobufError::MissingMagic)?;
    let unknown = Unknown::decode(envelope).map_err(|error| ProtobufError::Malformed {
        what: "runtime.Unknown envelope".to_owned(),
        message: error.to_string(),
    })?;
    // Kubernetes' own serializers never set contentEncoding; with one, `raw` is unreadable here.
    if let Some(encoding) = unknown.content_encoding.filter(|e| !e.is_empty()) {
        return Err(ProtobufError::ContentEncoding(encoding));
    }
    let type_meta = unknown.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    if api_version.is_empty() || kind.is_empty() {
        return Err(ProtobufError::MissingTypeMeta);
    }
    // Every object has at least its ObjectMeta on the wire, so an envelope without `raw` is a
    // truncated body rather than an empty object.
    let Some(raw) = unknown.raw else {
        return Err(ProtobufError::MissingObject { api_version, kind });
    };
    let object = object_json(&api_version, &kind, &raw)?;

    let mut fields = Map::new();
    fields.insert("apiVersion".to_owned(), Value::from(api_version));
    fields.insert("kind".to_owned(), Value::from(kind));
    if let Value::Object(object) = object {
        fields.extend(object);
    }
    Ok(Value::Object(fields))
}

/// Parses `raw` as the message of the named kind and maps it to JSON (without apiVersion/kind).
fn object_json(api_version: &str, kind: &str, raw: &[u8]) -> Json {
    match (api_version, kind) {
        ("v1", "Namespace") => core_v1::namespace(&message(kind, raw)?),
        ("v1", "ConfigMap") => core_v1::config_map(&message(kind, raw)?),
        ("v1", "Secret") => core_v1::secret(&message(kind, raw)?),
        ("v1", "ServiceAccount") => core_v1::service_account(&message(kind, raw)?),
        ("v1", "Service") => core_v1::service(&message(kind, raw)?),
        ("v1", "ResourceQuota") => core_v1::resource_quota(&message(kind, raw)?),
        ("apps/v1", "Deployment") => apps_v1::deployment(&message(kind, raw)?),
        ("batch/v1", "Job") => batch_v1::job(&message(kind, raw)?),
        ("batch/v1", "CronJob") => batch_v1::cron_job(&message(kind, raw)?),
        ("rbac.authorization.k8s.io/v1", "Role") => rbac_v1::role(&message(kind, raw)?),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
            rbac_v1::cluster_role(&message(kind, raw)?)
        }
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
            rbac_v1::role_binding(&message(kind, raw)?)
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            rbac_v1::cluster_role_binding(&message(kind, raw)?)
        }
        ("policy/v1", "PodDisruptionBudget") => {
            policy_v1::pod_disruption_budget(&message(kind, raw)?)
        }
        ("scheduling.k8s.io/v1", "PriorityClass") => {
            scheduling_v1::priority_class(&message(kind, raw)?)
        }
        ("networking.k8s.io/v1", "Ingress") => networking_v1::ingress(&message(kind, raw)?),
        ("authentication.k8s.io/v1", "TokenRequest") => {
            authentication_v1::token_request(&message(kind, raw)?)
        }
        _ => Err(ProtobufError::UnsupportedKind {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        }),
    }
}

fn message<M: Message + Default>(kind: &str, raw: &[u8]) -> Result<M, ProtobufError> {
    M::decode(raw).map_err(|error| ProtobufError::Malformed {
        what: kind.to_owned(),
        message: error.to_string(),
    })
}

#[cfg(test)]
mod tests;
