//! How API objects are laid out in the store: keys, the stored JSON form, and the
//! resourceVersion, which is never stored but taken from the key's mod revision on every read.
//!
//! Stored bytes always begin `{"apiVersion":..,"kind":..,"metadata":{`, so a read can splice the
//! resourceVersion in without parsing the object: lists of thousands of objects stay cheap.

use bytes::Bytes;
use control_apimachinery::resources::Resource;
use control_store::KeyValue;
use serde_json::{Map, Value};

use super::status::{ApiError, ApiResult};

/// The store key of one object.
pub fn key(r: &Resource, namespace: Option<&str>, name: &str) -> String {
    match (r.namespaced, namespace) {
        (true, Some(ns)) => format!("{}{}/{}", r.key_prefix(), ns, name),
        _ => format!("{}{}", r.key_prefix(), name),
    }
}

/// The key prefix under which a list or watch looks: one namespace, or all of them.
pub fn prefix(r: &Resource, namespace: Option<&str>) -> String {
    match (r.namespaced, namespace) {
        (true, Some(ns)) => format!("{}{}/", r.key_prefix(), ns),
        _ => r.key_prefix(),
    }
}

/// Serializes an object for storage: apiVersion, kind and metadata first, no resourceVersion.
pub fn encode(obj: &Value) -> ApiResult<Bytes> {
    let map = obj
        .as_object()
        .ok_or_else(|| ApiError::internal("object is not a JSON object"))?;
    let mut ordered = Map::with_capacity(map.len());
    for k in ["apiVersion", "kind"] {
        ordered.insert(k.to_string(), map.get(k).cloned().unwrap_or(Value::Null));
    }
    let mut meta = map
        .get("metadata")
        .and_then(|m| m.as_object())
        .cloned()
        .unwrap_or_default();
    meta.remove("resourceVersion");
    ordered.insert("metadata".into(), Value::Object(meta));
    for (k, v) in map {
        if !matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            ordered.insert(k.clone(), v.clone());
        }
    }
    serde_json::to_vec(&Value::Object(ordered))
        .map(Bytes::from)
        .map_err(ApiError::internal)
}

/// How deeply a value nests (a scalar is 0), computed without recursion.
pub fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            Value::Object(m) => stack.extend(m.values().map(|c| (c, d + 1))),
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// The deepest object stored: JSON readers (serde_json's included) refuse past 128 levels, so
/// anything deeper could be written but never read back.
pub const MAX_DEPTH: usize = 100;

/// The stored bytes with `metadata.resourceVersion` set to the key's mod revision.
pub fn with_resource_version(kv: &KeyValue) -> Vec<u8> {
    let raw = &kv.value[..];
    let rv = kv.mod_revision.to_string();
    const META: &[u8] = b"\"metadata\":{";
    if let Some(pos) = find(raw, META) {
        let at = pos + META.len();
        let mut out = Vec::with_capacity(raw.len() + rv.len() + 24);
        out.extend_from_slice(&raw[..at]);
        out.extend_from_slice(b"\"resourceVersion\":\"");
        out.extend_from_slice(rv.as_bytes());
        out.push(b'"');
        if raw.get(at) != Some(&b'}') {
            out.push(b',');
        }
        out.extend_from_slice(&raw[at..]);
        out
    } else {
        raw.to_vec()
    }
}

/// Decodes a stored object, resourceVersion included.
pub fn decode(kv: &KeyValue) -> ApiResult<Value> {
    let mut v: Value = serde_json::from_slice(&kv.value).map_err(ApiError::internal)?;
    set_resource_version(&mut v, kv.mod_revision);
    Ok(v)
}

pub fn set_resource_version(obj: &mut Value, rev: i64) {
    if let Some(m) = obj.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        m.insert("resourceVersion".into(), Value::String(rev.to_string()));
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Accessors for the metadata fields handlers read again and again.
pub trait Meta {
    fn meta_str(&self, field: &str) -> Option<&str>;
    fn meta_mut(&mut self) -> &mut Map<String, Value>;
    fn name(&self) -> Option<&str> {
        self.meta_str("name")
    }
    fn labels(&self) -> std::collections::BTreeMap<String, String>;
}

impl Meta for Value {
    fn meta_str(&self, field: &str) -> Option<&str> {
        self.get("metadata")?.get(field)?.as_str()
    }

    fn meta_mut(&mut self) -> &mut Map<String, Value> {
        if !self.get("metadata").map(|m| m.is_object()).unwrap_or(false) {
            self["metadata"] = Value::Object(Map::new());
        }
        self["metadata"]
            .as_object_mut()
            .expect("metadata is an object")
    }

    fn labels(&self) -> std::collections::BTreeMap<String, String> {
        self.get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(|l| l.as_object())
            .map(|l| {
                l.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kv(value: Bytes, rev: i64) -> KeyValue {
        KeyValue {
            key: "k".into(),
            value,
            create_revision: rev,
            mod_revision: rev,
            version: 1,
        }
    }

    #[test]
    fn resource_version_is_spliced_into_stored_bytes() {
        let obj = json!({"metadata": {"name": "a", "resourceVersion": "9"}, "kind": "ConfigMap", "apiVersion": "v1", "data": {"x": "\"metadata\":{"}});
        let stored = encode(&obj).unwrap();
        assert!(!String::from_utf8_lossy(&stored).contains("resourceVersion"));
        let out: Value = serde_json::from_slice(&with_resource_version(&kv(stored, 42))).unwrap();
        assert_eq!(out["metadata"]["resourceVersion"], "42");
        assert_eq!(out["metadata"]["name"], "a");
        assert_eq!(out["data"]["x"], "\"metadata\":{");
    }

    #[test]
    fn depth_counts_nesting_levels() {
        assert_eq!(depth(&json!("x")), 0);
        assert_eq!(depth(&json!({"a": [1, {"b": {}}]})), 3);
    }

    #[test]
    fn empty_metadata_gets_a_resource_version_too() {
        let stored = encode(&json!({"apiVersion": "v1", "kind": "X"})).unwrap();
        let out: Value = serde_json::from_slice(&with_resource_version(&kv(stored, 3))).unwrap();
        assert_eq!(out["metadata"], json!({"resourceVersion": "3"}));
    }
}
