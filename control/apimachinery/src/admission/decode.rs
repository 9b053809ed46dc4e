//! Decoding request bodies the way the Kubernetes API server does: check the group, version and
//! kind against the URL's resource, deserialize into the kind's typed form (a type error is a
//! 400 naming the field), and find every field the typed form does not know.
//!
//! The typed round trip is also the normalization step: the JSON handed on to defaulting,
//! validation and storage is the typed value serialized back, so unknown fields are dropped and
//! values have their canonical shapes. Unknown and duplicate fields are reported as Kubernetes'
//! strict decoding reports them (`unknown field "spec.containers[0].imagee"`); what to do with
//! them is the `fieldValidation` directive's call (see [`FieldValidation`]).

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::{Map, Value};

use super::field::FieldError;
use super::quantity;
use crate::resources::Resource;

/// The `fieldValidation` query parameter of create, update and patch requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop unknown and duplicate fields silently.
    Ignore,
    /// Drop them and report each in a `Warning` header (the server default).
    Warn,
    /// Reject the request with 400 BadRequest (kubectl's default since 1.25).
    Strict,
}

impl FieldValidation {
    /// Parses the query parameter; absent or empty means `Warn`. An unknown value is the
    /// 422 field error Kubernetes returns for the request options.
    pub fn parse(value: Option<&str>) -> Result<FieldValidation, Box<FieldError>> {
        match value.unwrap_or("") {
            "" | "Warn" => Ok(FieldValidation::Warn),
            "Ignore" => Ok(FieldValidation::Ignore),
            "Strict" => Ok(FieldValidation::Strict),
            other => Err(Box::new(FieldError::not_supported(
                "fieldValidation",
                other,
                &["", "Ignore", "Strict", "Warn"],
            ))),
        }
    }
}

/// Why a body could not be decoded; every variant is a 400 BadRequest.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The body is not a JSON object.
    #[error("couldn't get version/kind; json parse error: {0}")]
    Syntax(String),
    #[error("the API version in the data ({found}) does not match the expected API version ({expected})")]
    ApiVersionMismatch { found: String, expected: String },
    #[error("the kind in the data ({found}) does not match the expected kind ({expected})")]
    KindMismatch { found: String, expected: String },
    /// A value of the wrong type or shape; `path` is empty when the message says it all.
    #[error("{kind} in version \"{version}\" cannot be handled as a {kind}: {message}")]
    Type {
        kind: String,
        version: String,
        path: String,
        message: String,
    },
    /// Unknown or duplicate fields under `fieldValidation=Strict`.
    #[error("{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}", problems.join(", "))]
    Strict {
        kind: String,
        version: String,
        problems: Vec<String>,
    },
}

impl DecodeError {
    /// The HTTP status of every decode failure.
    pub fn code(&self) -> u16 {
        400
    }

    /// The Status `reason`.
    pub fn reason(&self) -> &'static str {
        "BadRequest"
    }
}

/// A decoded body.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The typed value serialized back: apiVersion and kind filled in, unknown fields gone.
    pub object: Value,
    /// Paths of input fields the kind does not have (`spec.containers[0].imagee`); fields whose
    /// input value was null are not counted.
    pub unknown_fields: Vec<String>,
    /// Paths given more than once in the raw JSON (only [`decode_bytes`] can see these).
    pub duplicate_fields: Vec<String>,
}

impl Decoded {
    /// One line per problem, as Kubernetes words them in warnings and strict errors.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .duplicate_fields
            .iter()
            .map(|p| format!("duplicate field {}", super::field::go_quote(p)))
            .collect();
        out.extend(
            self.unknown_fields
                .iter()
                .map(|p| format!("unknown field {}", super::field::go_quote(p))),
        );
        out
    }

    /// Applies the `fieldValidation` directive: the normalized object and the `Warning` header
    /// texts to send, or the strict decoding error.
    pub fn apply(
        self,
        resource: &Resource,
        directive: FieldValidation,
    ) -> Result<(Value, Vec<String>), DecodeError> {
        let problems = self.problems();
        match directive {
            FieldValidation::Ignore => Ok((self.object, Vec::new())),
            FieldValidation::Warn => Ok((self.object, problems)),
            FieldValidation::Strict if problems.is_empty() => Ok((self.object, Vec::new())),
            FieldValidation::Strict => Err(DecodeError::Strict {
                kind: resource.kind.to_string(),
                version: resource.version.to_string(),
                problems,
            }),
        }
    }
}

/// Decodes a raw JSON body, also noticing keys given twice in one object (which a parsed
/// `serde_json::Value` can no longer show). The last occurrence wins, as in Kubernetes.
pub fn decode_bytes(resource: &Resource, raw: &[u8]) -> Result<Decoded, DecodeError> {
    let dups = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_slice(raw);
    let body = ValueSeed {
        path: String::new(),
        dups: &dups,
    }
    .deserialize(&mut de)
    .map_err(|e| DecodeError::Syntax(e.to_string()))?;
    de.end().map_err(|e| DecodeError::Syntax(e.to_string()))?;
    let mut decoded = decode(resource, &body)?;
    decoded.duplicate_fields = dups.into_inner();
    Ok(decoded)
}

/// Decodes a parsed JSON body for `resource`: checks apiVersion and kind (filling them in when
/// absent, as Kubernetes defaults them from the URL), deserializes into the kind's k8s-openapi
/// type, checks quantity syntax, and lists unknown fields.
pub fn decode(resource: &Resource, body: &Value) -> Result<Decoded, DecodeError> {
    let Value::Object(map) = body else {
        return Err(DecodeError::Syntax("expected a JSON object".to_string()));
    };
    let expected_version = resource.api_version();
    let mut input = map.clone();
    match input.get("apiVersion") {
        None | Some(Value::Null) => {
            input.insert("apiVersion".into(), Value::String(expected_version.clone()));
        }
        Some(Value::String(v)) if v.is_empty() => {
            input.insert("apiVersion".into(), Value::String(expected_version.clone()));
        }
        Some(Value::String(v)) if *v != expected_version => {
            return Err(DecodeError::ApiVersionMismatch {
                found: v.clone(),
                expected: expected_version,
            });
        }
        Some(Value::String(_)) => {}
        Some(_) => {
            return Err(DecodeError::Syntax(
                "apiVersion must be a string".to_string(),
            ))
        }
    }
    match input.get("kind") {
        None | Some(Value::Null) => {
            input.insert("kind".into(), Value::String(resource.kind.to_string()));
        }
        Some(Value::String(k)) if k.is_empty() => {
            input.insert("kind".into(), Value::String(resource.kind.to_string()));
        }
        Some(Value::String(k)) if k != resource.kind => {
            return Err(DecodeError::KindMismatch {
                found: k.clone(),
                expected: resource.kind.to_string(),
            });
        }
        Some(Value::String(_)) => {}
        Some(_) => return Err(DecodeError::Syntax("kind must be a string".to_string())),
    }
    let input = Value::Object(input);
    let mut object =
        roundtrip_kind(resource, &input).map_err(|(path, message)| DecodeError::Type {
            kind: resource.kind.to_string(),
            version: resource.version.to_string(),
            message: if path.is_empty() {
                message.clone()
            } else {
                format!("{path}: {message}")
            },
            path,
        })?;
    if let Some((path, message)) = check_quantities(resource, &object) {
        return Err(DecodeError::Type {
            kind: resource.kind.to_string(),
            version: resource.version.to_string(),
            path,
            message: message.to_string(),
        });
    }
    prune_added_zeros(&input, &mut object);
    let mut unknown_fields = Vec::new();
    diff_unknown(&input, &object, "", &mut unknown_fields);
    Ok(Decoded {
        object,
        unknown_fields,
        duplicate_fields: Vec::new(),
    })
}

type TypeError = (String, String);

fn roundtrip<T: DeserializeOwned + Serialize>(body: &Value) -> Result<Value, TypeError> {
    let typed: T = serde_path_to_error::deserialize(body)
        .map_err(|e| (render_path(e.path()), e.inner().to_string()))?;
    serde_json::to_value(&typed).map_err(|e| (String::new(), e.to_string()))
}

fn render_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    out
}

fn roundtrip_kind(resource: &Resource, body: &Value) -> Result<Value, TypeError> {
    use k8s_openapi::api::{apps, batch, certificates, coordination, core, discovery};
    match (resource.group, resource.kind) {
        ("", "Namespace") => roundtrip::<core::v1::Namespace>(body),
        ("", "Pod") => roundtrip::<core::v1::Pod>(body),
        ("", "Service") => roundtrip::<core::v1::Service>(body),
        ("", "Endpoints") => roundtrip::<core::v1::Endpoints>(body),
        ("", "ConfigMap") => roundtrip::<core::v1::ConfigMap>(body),
        ("", "Secret") => roundtrip::<core::v1::Secret>(body),
        ("", "ServiceAccount") => roundtrip::<core::v1::ServiceAccount>(body),
        ("", "Node") => roundtrip::<core::v1::Node>(body),
        ("", "Event") => roundtrip::<core::v1::Event>(body),
        ("", "ReplicationController") => roundtrip::<core::v1::ReplicationController>(body),
        ("", "ResourceQuota") => roundtrip::<core::v1::ResourceQuota>(body),
        ("", "LimitRange") => roundtrip::<core::v1::LimitRange>(body),
        ("apps", "Deployment") => roundtrip::<apps::v1::Deployment>(body),
        ("apps", "ReplicaSet") => roundtrip::<apps::v1::ReplicaSet>(body),
        ("apps", "StatefulSet") => roundtrip::<apps::v1::StatefulSet>(body),
        ("apps", "DaemonSet") => roundtrip::<apps::v1::DaemonSet>(body),
        ("apps", "ControllerRevision") => roundtrip::<apps::v1::ControllerRevision>(body),
        ("batch", "Job") => roundtrip::<batch::v1::Job>(body),
        ("batch", "CronJob") => roundtrip::<batch::v1::CronJob>(body),
        ("coordination.k8s.io", "Lease") => roundtrip::<coordination::v1::Lease>(body),
        ("discovery.k8s.io", "EndpointSlice") => roundtrip::<discovery::v1::EndpointSlice>(body),
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            roundtrip::<certificates::v1::CertificateSigningRequest>(body)
        }
        // A kind without a typed form keeps its JSON as is; nothing can be called unknown.
        _ => Ok(body.clone()),
    }
}

/// Removes zero values the typed round trip invented for fields the input left out (k8s-openapi
/// models some optional Go pointers, such as a Deployment's `selector`, as required fields), so
/// that validation can still tell "absent" from "given but empty" as Kubernetes does.
fn prune_added_zeros(input: &Value, output: &mut Value) {
    fn is_zero(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
        }
    }
    match (input, output) {
        (Value::Object(inp), Value::Object(out)) => {
            out.retain(|k, v| inp.get(k).is_some_and(|i| !i.is_null()) || !is_zero(v));
            for (k, v) in out.iter_mut() {
                if let Some(i) = inp.get(k) {
                    prune_added_zeros(i, v);
                }
            }
        }
        (Value::Array(inp), Value::Array(out)) => {
            for (i, o) in inp.iter().zip(out.iter_mut()) {
                prune_added_zeros(i, o);
            }
        }
        _ => {}
    }
}

/// Records every input path, other than those holding null, that the typed output lacks.
fn diff_unknown(input: &Value, output: &Value, path: &str, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(inp), Value::Object(outp)) => {
            for (k, v) in inp {
                if v.is_null() {
                    continue;
                }
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match outp.get(k) {
                    Some(o) => diff_unknown(v, o, &child, out),
                    None => out.push(child),
                }
            }
        }
        (Value::Array(inp), Value::Array(outp)) => {
            for (i, (v, o)) in inp.iter().zip(outp).enumerate() {
                diff_unknown(v, o, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Finds the first malformed quantity. Kubernetes' Quantity type refuses them while decoding,
/// so this is a 400 like any other type error, not a validation error.
fn check_quantities(resource: &Resource, obj: &Value) -> Option<(String, &'static str)> {
    let mut keys: Vec<String> = Vec::new();
    walk_quantities(resource.kind, obj, &mut keys, "")
}

fn quantity_map_here(kind: &str, keys: &[String]) -> bool {
    let n = keys.len();
    let last = keys.last().map(String::as_str).unwrap_or("");
    let parent = if n >= 2 { keys[n - 2].as_str() } else { "" };
    let grand = if n >= 3 { keys[n - 3].as_str() } else { "" };
    match last {
        "limits" | "requests" => parent == "resources",
        "overhead" => parent == "spec",
        "capacity" | "allocatable" => parent == "status",
        "hard" | "used" => kind == "ResourceQuota" && (parent == "spec" || parent == "status"),
        "max" | "min" | "default" | "defaultRequest" | "maxLimitRequestRatio" => {
            kind == "LimitRange" && parent == "limits" && grand == "spec"
        }
        _ => false,
    }
}

fn walk_quantities(
    kind: &str,
    v: &Value,
    keys: &mut Vec<String>,
    path: &str,
) -> Option<(String, &'static str)> {
    match v {
        Value::Object(map) => {
            let is_quantity_map = quantity_map_here(kind, keys);
            for (k, child) in map {
                let child_path = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let scalar_quantity = (k == "sizeLimit"
                    && keys.last().is_some_and(|p| p == "emptyDir"))
                    || (k == "divisor" && keys.last().is_some_and(|p| p == "resourceFieldRef"));
                if is_quantity_map || scalar_quantity {
                    if let Err(msg) = quantity::parse_value(child) {
                        return Some((child_path, msg));
                    }
                    continue;
                }
                keys.push(k.clone());
                let found = walk_quantities(kind, child, keys, &child_path);
                keys.pop();
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| walk_quantities(kind, item, keys, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Builds a `serde_json::Value` from raw JSON while recording keys that repeat within an object.
struct ValueSeed<'a> {
    path: String,
    dups: &'a RefCell<Vec<String>>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let seed = ValueSeed {
                path: format!("{}[{}]", self.path, items.len()),
                dups: self.dups,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => items.push(v),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let child = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{}", self.path, key)
            };
            let value = access.next_value_seed(ValueSeed {
                path: child.clone(),
                dups: self.dups,
            })?;
            if map.contains_key(&key) {
                self.dups.borrow_mut().push(child);
            }
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_kind;
    use serde_json::json;

    fn pods() -> &'static Resource {
        by_kind("v1", "Pod").unwrap()
    }

    #[test]
    fn unknown_fields_are_reported_with_their_full_path() {
        let body = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "imagee": "nginx", "image": "nginx"}], "bogus": 1},
            "extra": {"a": 1},
            "nothing": null
        });
        let d = decode(pods(), &body).unwrap();
        assert_eq!(
            d.unknown_fields,
            vec!["spec.containers[0].imagee", "spec.bogus", "extra"]
        );
        assert!(d.object["spec"]["containers"][0].get("imagee").is_none());
        assert_eq!(d.object["metadata"]["labels"]["app"], "web");
    }

    #[test]
    fn directives_turn_unknown_fields_into_warnings_or_errors() {
        let body = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [], "x": 1}});
        let d = decode(pods(), &body).unwrap();
        let (_, warnings) = d.clone().apply(pods(), FieldValidation::Warn).unwrap();
        assert_eq!(warnings, vec!["unknown field \"spec.x\"".to_string()]);
        let (_, none) = d.clone().apply(pods(), FieldValidation::Ignore).unwrap();
        assert!(none.is_empty());
        let err = d.apply(pods(), FieldValidation::Strict).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.x\""
        );
    }

    #[test]
    fn a_mismatched_api_version_is_a_bad_request() {
        let jobs = by_kind("batch/v1", "Job").unwrap();
        let err = decode(jobs, &json!({"apiVersion": "batch/v1beta1", "kind": "Job"})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the API version in the data (batch/v1beta1) does not match the expected API version (batch/v1)"
        );
        assert_eq!(err.code(), 400);
    }

    #[test]
    fn a_mismatched_kind_is_a_bad_request() {
        let err = decode(pods(), &json!({"apiVersion": "v1", "kind": "Service"})).unwrap_err();
        assert!(matches!(err, DecodeError::KindMismatch { .. }));
    }

    #[test]
    fn missing_api_version_and_kind_are_taken_from_the_url() {
        let d = decode(pods(), &json!({"metadata": {"name": "p"}})).unwrap();
        assert_eq!(d.object["apiVersion"], "v1");
        assert_eq!(d.object["kind"], "Pod");
    }

    #[test]
    fn type_errors_name_the_field() {
        let body = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "a", "ports": [{"containerPort": "eighty"}]}]}});
        let err = decode(pods(), &body).unwrap_err();
        match err {
            DecodeError::Type { path, .. } => {
                assert_eq!(path, "spec.containers[0].ports[0].containerPort")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn malformed_quantities_are_rejected_while_decoding() {
        let body = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "lots"}}}]}});
        let err = decode(pods(), &body).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
    }

    #[test]
    fn duplicate_keys_in_raw_json_are_found() {
        let raw = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","name":"b"},"data":{"k":"1"}}"#;
        let cms = by_kind("v1", "ConfigMap").unwrap();
        let d = decode_bytes(cms, raw).unwrap();
        assert_eq!(d.duplicate_fields, vec!["metadata.name"]);
        assert_eq!(d.object["metadata"]["name"], "b");
        assert_eq!(
            d.problems(),
            vec!["duplicate field \"metadata.name\"".to_string()]
        );
    }

    #[test]
    fn every_served_kind_round_trips_a_minimal_object() {
        for r in crate::resources::RESOURCES {
            let d = decode(r, &json!({"metadata": {"name": "x"}})).unwrap();
            assert_eq!(d.object["kind"], r.kind, "{}", r.kind);
            assert!(d.unknown_fields.is_empty(), "{}", r.kind);
        }
    }

    #[test]
    fn zero_values_invented_by_the_typed_form_are_dropped() {
        let deployments = by_kind("apps/v1", "Deployment").unwrap();
        let d = decode(deployments, &json!({"spec": {"replicas": 1}})).unwrap();
        assert!(d.object["spec"].get("selector").is_none());
        let d = decode(deployments, &json!({"spec": {"selector": {}}})).unwrap();
        assert_eq!(d.object["spec"]["selector"], json!({}));
    }

    #[test]
    fn field_validation_parameter_parses() {
        assert_eq!(FieldValidation::parse(None).unwrap(), FieldValidation::Warn);
        assert_eq!(
            FieldValidation::parse(Some("Strict")).unwrap(),
            FieldValidation::Strict
        );
        let err = FieldValidation::parse(Some("strict")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "fieldValidation: Unsupported value: \"strict\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
        );
    }
}
