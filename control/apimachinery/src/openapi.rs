//! The OpenAPI documents kubectl reads: `/openapi/v3` (an index of per group version
//! documents, each addressed with a content hash so clients can cache it forever), the
//! documents themselves (`/openapi/v3/api/v1`, `/openapi/v3/apis/apps/v1`, ...), and the
//! Swagger 2.0 document `/openapi/v2`.
//!
//! kubectl 1.32 depends on them in three places:
//! - `kubectl explain` finds a resource's kind through the `x-kubernetes-group-version-kind` of
//!   its collection path's operations, then the schema carrying that kind in
//!   `components.schemas`, and walks `properties`, `items`, `allOf` and `$ref` from there.
//! - `kubectl apply` computes its three-way strategic merge patch from the same schemas, reading
//!   `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key` on properties.
//! - Every mutating command asks whether the kind's PATCH operation lists the `fieldValidation`
//!   query parameter; if so it leaves field validation to the server.
//!
//! The schemas come from k8s-openapi (which carries the Kubernetes descriptions), named by
//! Kubernetes definition names. Everything is built once and cached; the functions returning
//! bytes hand out exactly the bytes that were hashed.

mod definitions;
mod paths;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::resources::RESOURCES;
use definitions::{Catalog, V3_PREFIX};
use paths::PathItem;

/// The Kubernetes release whose API these documents describe.
pub const KUBERNETES_VERSION: &str = "v1.32.0";

/// A rendered document with its serialized form and content hash.
struct Document {
    value: Value,
    bytes: Vec<u8>,
    hash: String,
}

impl Document {
    fn new(value: Value) -> Document {
        // Serializing a `Value` cannot fail: its keys are strings and it holds no non-finite
        // floats.
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        let hash = content_hash(&bytes);
        Document { value, bytes, hash }
    }
}

struct Documents {
    catalog: Catalog,
    /// v3 definitions (`#/components/schemas/` references, `allOf`-wrapped siblings).
    v3_definitions: Map<String, Value>,
    /// Keyed by the path below `/openapi/v3/` (`api/v1`, `apis/apps/v1`, `apis/apps`, ...).
    v3: BTreeMap<String, Document>,
    v3_index: Document,
    v2: Document,
}

fn documents() -> &'static Documents {
    static DOCUMENTS: OnceLock<Documents> = OnceLock::new();
    DOCUMENTS.get_or_init(build_documents)
}

/// The document paths below `/openapi/v3/`, in a stable order.
fn v3_document_paths() -> Vec<String> {
    let mut out = vec!["api".to_string(), "apis".to_string()];
    for r in RESOURCES {
        let gv = if r.group.is_empty() {
            format!("api/{}", r.version)
        } else {
            format!("apis/{}/{}", r.group, r.version)
        };
        if !out.contains(&gv) {
            out.push(gv);
        }
        if !r.group.is_empty() {
            let group = format!("apis/{}", r.group);
            if !out.contains(&group) {
                out.push(group);
            }
        }
    }
    out.push("version".to_string());
    out
}

/// The path items of one v3 document, or `None` for an unknown path.
fn path_items(catalog: &Catalog, doc: &str) -> Option<Vec<PathItem>> {
    if let Some(item) = paths::discovery_path(doc) {
        return Some(vec![item]);
    }
    let (group, version) = match doc.split('/').collect::<Vec<_>>().as_slice() {
        ["api", version] => ("", *version),
        ["apis", group, version] => (*group, *version),
        _ => return None,
    };
    let r = RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version)?;
    Some(paths::group_version_paths(catalog, r.group, r.version))
}

fn build_documents() -> Documents {
    let catalog = definitions::build();
    let v3_definitions: Map<String, Value> = catalog
        .v2
        .iter()
        .map(|(name, schema)| (name.clone(), definitions::to_v3(schema)))
        .collect();

    let mut v3 = BTreeMap::new();
    let mut v2_paths = Map::new();
    let mut index = Map::new();
    for doc in v3_document_paths() {
        let Some(items) = path_items(&catalog, &doc) else {
            continue;
        };
        let roots = paths::referenced_definitions(&items);
        let mut schemas = Map::new();
        for name in definitions::closure(&v3_definitions, &roots) {
            if let Some(schema) = v3_definitions.get(&name) {
                schemas.insert(name, schema.clone());
            }
        }
        let value = json!({
            "openapi": "3.0.0",
            "info": { "title": "Kubernetes", "version": KUBERNETES_VERSION },
            "paths": paths::render_v3(&items),
            "components": { "schemas": schemas },
        });
        paths::render_v2(&items, &mut v2_paths);
        let document = Document::new(value);
        index.insert(
            doc.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{doc}?hash={}", document.hash) }),
        );
        v3.insert(doc, document);
    }

    let v2 = Document::new(json!({
        "swagger": "2.0",
        "info": { "title": "Kubernetes", "version": KUBERNETES_VERSION },
        "paths": v2_paths,
        "definitions": catalog.v2,
    }));
    let v3_index = Document::new(json!({ "paths": index }));
    Documents {
        catalog,
        v3_definitions,
        v3,
        v3_index,
        v2,
    }
}

/// A stable 128-bit content hash in hex: two independent FNV-1a 64 runs (different offset
/// bases). Only used to version cache URLs, so no cryptographic strength is needed.
fn content_hash(bytes: &[u8]) -> String {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x84222325_cbf29ce4;
    for &byte in bytes {
        a = (a ^ u64::from(byte)).wrapping_mul(PRIME);
        b = (b ^ u64::from(byte.rotate_left(3))).wrapping_mul(PRIME);
    }
    format!("{a:016X}{b:016X}")
}

/// The `/openapi/v3` index: `{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=…"}, …}}`.
pub fn v3_discovery() -> Value {
    documents().v3_index.value.clone()
}

/// The serialized `/openapi/v3` index.
pub fn v3_discovery_bytes() -> &'static [u8] {
    &documents().v3_index.bytes
}

/// The OpenAPI 3.0 document served at `/openapi/v3/<path>`, where `path` is a group version
/// (`api/v1`, `apis/apps/v1`), a group (`apis/apps`), `api`, `apis` or `version`. A leading
/// slash is tolerated.
pub fn v3_group_version(path: &str) -> Option<Value> {
    v3_document(path).map(|d| d.value.clone())
}

/// The serialized form of [`v3_group_version`]; these are the bytes its hash was computed over.
pub fn v3_group_version_bytes(path: &str) -> Option<&'static [u8]> {
    v3_document(path).map(|d| d.bytes.as_slice())
}

/// The hash that the `/openapi/v3` index advertises for the document at `path`.
pub fn v3_group_version_hash(path: &str) -> Option<&'static str> {
    v3_document(path).map(|d| d.hash.as_str())
}

fn v3_document(path: &str) -> Option<&'static Document> {
    let path = path.trim_start_matches('/').trim_end_matches('/');
    documents().v3.get(path)
}

/// The Swagger 2.0 document served at `/openapi/v2` (JSON).
pub fn v2() -> Value {
    documents().v2.value.clone()
}

/// The serialized `/openapi/v2` document.
pub fn v2_bytes() -> &'static [u8] {
    &documents().v2.bytes
}

/// The content hash of the `/openapi/v2` document, usable as an ETag.
pub fn v2_hash() -> &'static str {
    &documents().v2.hash
}

/// All schema definitions in OpenAPI 3.0 shape, keyed by Kubernetes definition name; every
/// `$ref` points at `#/components/schemas/<name>` and resolves within this map.
pub fn definitions() -> &'static Map<String, Value> {
    &documents().v3_definitions
}

/// One definition, by Kubernetes definition name (`io.k8s.api.core.v1.PodSpec`).
pub fn definition(name: &str) -> Option<&'static Value> {
    documents().v3_definitions.get(name)
}

/// The definition name of a served kind or list kind (`("apps", "v1", "DeploymentList")` →
/// `io.k8s.api.apps.v1.DeploymentList`).
pub fn definition_name(group: &str, version: &str, kind: &str) -> Option<&'static str> {
    documents().catalog.definition_of(group, version, kind)
}

/// Resolves a `$ref` of this module's documents (`#/components/schemas/<name>` or
/// `#/definitions/<name>`) to the definition name.
pub fn ref_name(reference: &str) -> Option<&str> {
    reference
        .strip_prefix(V3_PREFIX)
        .or_else(|| reference.strip_prefix(definitions::V2_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_refs(value: &Value) -> Vec<String> {
        let mut refs = Vec::new();
        definitions::collect_refs(value, &mut refs);
        refs.into_iter().map(str::to_string).collect()
    }

    fn every_ref_string(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == "$ref" {
                        out.push(v.as_str().unwrap_or("<not a string>").to_string());
                    } else {
                        every_ref_string(v, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| every_ref_string(v, out)),
            _ => {}
        }
    }

    fn resolves(doc: &Value, reference: &str) -> bool {
        let Some(pointer) = reference.strip_prefix('#') else {
            return false;
        };
        doc.pointer(pointer).is_some()
    }

    fn patch_operations(doc: &Value) -> Vec<(&String, &Value)> {
        doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .filter_map(|(path, item)| item.get("patch").map(|op| (path, op)))
            .collect()
    }

    #[test]
    fn every_ref_in_every_v3_document_resolves_inside_it() {
        for path in v3_document_paths() {
            let doc = v3_group_version(&path).unwrap();
            let mut refs = Vec::new();
            every_ref_string(&doc, &mut refs);
            assert!(!refs.is_empty(), "{path} refers to nothing");
            for r in refs {
                assert!(r.starts_with(V3_PREFIX), "{path}: {r}");
                assert!(resolves(&doc, &r), "{path}: {r} does not resolve");
            }
        }
    }

    #[test]
    fn every_ref_in_the_v2_document_resolves_inside_it() {
        let doc = v2();
        let mut refs = Vec::new();
        every_ref_string(&doc, &mut refs);
        for r in refs {
            assert!(r.starts_with("#/definitions/"), "{r}");
            assert!(resolves(&doc, &r), "{r} does not resolve");
        }
    }

    #[test]
    fn no_v3_schema_has_a_ref_with_siblings() {
        fn check(value: &Value) {
            match value {
                Value::Object(map) => {
                    if map.contains_key("$ref") {
                        assert_eq!(map.len(), 1, "{map:?}");
                    }
                    map.values().for_each(check);
                }
                Value::Array(items) => items.iter().for_each(check),
                _ => {}
            }
        }
        definitions().values().for_each(check);
    }

    #[test]
    fn every_served_kind_and_its_list_have_a_definition_with_their_gvk() {
        for r in RESOURCES {
            for kind in [r.kind.to_string(), r.list_kind()] {
                let name = definition_name(r.group, r.version, &kind)
                    .unwrap_or_else(|| panic!("no definition for {kind}"));
                let gvk = &definition(name).unwrap()["x-kubernetes-group-version-kind"];
                assert_eq!(
                    gvk,
                    &json!([{ "group": r.group, "kind": kind, "version": r.version }]),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn pod_definition_carries_its_gvk_and_description() {
        let pod = definition("io.k8s.api.core.v1.Pod").unwrap();
        assert_eq!(
            pod["x-kubernetes-group-version-kind"],
            json!([{ "group": "", "kind": "Pod", "version": "v1" }])
        );
        assert!(pod["description"].as_str().unwrap().contains("containers"));
        assert_eq!(
            pod["properties"]["spec"]["allOf"][0]["$ref"],
            json!("#/components/schemas/io.k8s.api.core.v1.PodSpec")
        );
    }

    #[test]
    fn metadata_is_never_required() {
        for name in [
            "io.k8s.api.core.v1.Pod",
            "io.k8s.api.apps.v1.DeploymentList",
        ] {
            let required = definition(name).unwrap().get("required");
            assert!(
                required.is_none_or(|r| !r.as_array().unwrap().contains(&json!("metadata"))),
                "{name}"
            );
        }
        assert_eq!(
            definition("io.k8s.api.core.v1.Container").unwrap()["required"],
            json!(["name"])
        );
    }

    #[test]
    fn pod_spec_containers_carry_the_merge_key_extensions() {
        let containers =
            &definition("io.k8s.api.core.v1.PodSpec").unwrap()["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-strategy"], json!("merge"));
        assert_eq!(containers["x-kubernetes-patch-merge-key"], json!("name"));
        assert_eq!(containers["x-kubernetes-list-type"], json!("map"));
        assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
        assert_eq!(
            containers["items"]["$ref"],
            json!("#/components/schemas/io.k8s.api.core.v1.Container")
        );
        let volumes = &definition("io.k8s.api.core.v1.PodSpec").unwrap()["properties"]["volumes"];
        assert_eq!(
            volumes["x-kubernetes-patch-strategy"],
            json!("merge,retainKeys")
        );
        let strategy =
            &definition("io.k8s.api.apps.v1.DeploymentSpec").unwrap()["properties"]["strategy"];
        assert_eq!(strategy["x-kubernetes-patch-strategy"], json!("retainKeys"));
        let finalizers = &definition("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta").unwrap()
            ["properties"]["finalizers"];
        assert_eq!(finalizers["x-kubernetes-patch-strategy"], json!("merge"));
        assert!(finalizers.get("x-kubernetes-patch-merge-key").is_none());
    }

    #[test]
    fn apps_v1_has_a_deployment_patch_with_field_validation_and_gvk() {
        let doc = v3_group_version("apis/apps/v1").unwrap();
        let op = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            op["x-kubernetes-group-version-kind"],
            json!({ "group": "apps", "kind": "Deployment", "version": "v1" })
        );
        assert_eq!(op["x-kubernetes-action"], json!("patch"));
        assert_eq!(op["operationId"], json!("patchAppsV1NamespacedDeployment"));
        let names: Vec<&str> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for wanted in ["dryRun", "fieldManager", "fieldValidation", "force"] {
            assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
        }
        assert!(op["requestBody"]["content"]
            .get("application/strategic-merge-patch+json")
            .is_some());
    }

    #[test]
    fn every_patch_operation_lists_field_validation_and_a_gvk() {
        for path in v3_document_paths() {
            let doc = v3_group_version(&path).unwrap();
            for (p, op) in patch_operations(&doc) {
                assert!(op["x-kubernetes-group-version-kind"].is_object(), "{p}");
                assert!(
                    op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|param| param["name"] == "fieldValidation"),
                    "{p}"
                );
            }
        }
    }

    #[test]
    fn explain_finds_pods_through_the_collection_path_and_the_schema_gvk() {
        // What kubectl explain's template does: take the GVK from the operations of the
        // resource's paths, then find the schema listing that GVK.
        let doc = v3_group_version("api/v1").unwrap();
        let gvk = &doc["paths"]["/api/v1/pods"]["get"]["x-kubernetes-group-version-kind"];
        assert_eq!(gvk, &json!({ "group": "", "kind": "Pod", "version": "v1" }));
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let found: Vec<&String> = schemas
            .iter()
            .filter(|(_, s)| {
                s["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|l| l.contains(gvk))
            })
            .map(|(name, _)| name)
            .collect();
        assert_eq!(found, vec!["io.k8s.api.core.v1.Pod"]);
        // pod.spec.containers: spec → allOf → $ref PodSpec → containers → items → Container.
        let spec_ref = schemas["io.k8s.api.core.v1.Pod"]["properties"]["spec"]["allOf"][0]["$ref"]
            .as_str()
            .unwrap();
        let spec = &schemas[ref_name(spec_ref).unwrap()];
        let item_ref = spec["properties"]["containers"]["items"]["$ref"]
            .as_str()
            .unwrap();
        let container = &schemas[ref_name(item_ref).unwrap()];
        assert!(container["properties"]["image"]["description"].is_string());
    }

    #[test]
    fn cluster_scoped_kinds_have_no_namespace_in_their_paths() {
        let doc = v3_group_version("api/v1").unwrap();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.contains_key("/api/v1/nodes/{name}/status"));
        assert!(paths.contains_key("/api/v1/namespaces/{name}/finalize"));
        assert!(!paths.keys().any(|p| p.contains("{namespace}/nodes")));
        let params = paths["/api/v1/nodes/{name}"]["parameters"]
            .as_array()
            .unwrap();
        assert!(params.iter().all(|p| p["name"] != "namespace"));
    }

    #[test]
    fn scale_subresources_speak_autoscaling_v1_scale() {
        let doc = v3_group_version("apis/apps/v1").unwrap();
        let op =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"];
        assert_eq!(
            op["x-kubernetes-group-version-kind"],
            json!({ "group": "autoscaling", "kind": "Scale", "version": "v1" })
        );
        assert!(doc["components"]["schemas"]
            .get("io.k8s.api.autoscaling.v1.Scale")
            .is_some());
    }

    #[test]
    fn the_index_lists_every_document_with_its_hash() {
        let index = v3_discovery();
        let paths = index["paths"].as_object().unwrap();
        for path in [
            "api",
            "api/v1",
            "apis",
            "apis/apps/v1",
            "apis/apps",
            "version",
        ] {
            let url = paths[path]["serverRelativeURL"].as_str().unwrap();
            let hash = v3_group_version_hash(path).unwrap();
            assert_eq!(url, format!("/openapi/v3/{path}?hash={hash}"));
            assert_eq!(hash.len(), 32);
        }
        assert!(v3_group_version("apis/nope/v1").is_none());
        assert!(v3_group_version("/apis/batch/v1").is_some());
    }

    #[test]
    fn documents_serialize_and_parse_back_unchanged() {
        for path in v3_document_paths() {
            let bytes = v3_group_version_bytes(&path).unwrap();
            let parsed: Value = serde_json::from_slice(bytes).unwrap();
            assert_eq!(parsed, v3_group_version(&path).unwrap());
        }
        let parsed: Value = serde_json::from_slice(v2_bytes()).unwrap();
        assert_eq!(parsed["swagger"], json!("2.0"));
        assert!(parsed["definitions"]["io.k8s.api.core.v1.Pod"].is_object());
        assert!(serde_json::from_slice::<Value>(v3_discovery_bytes()).is_ok());
    }

    #[test]
    fn hashes_are_stable_and_content_sensitive() {
        assert_eq!(content_hash(b"abc"), content_hash(b"abc"));
        assert_ne!(content_hash(b"abc"), content_hash(b"abd"));
    }

    #[test]
    fn v2_paths_carry_the_same_extensions() {
        let doc = v2();
        let op = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert_eq!(
            op["x-kubernetes-group-version-kind"],
            json!({ "group": "", "kind": "Pod", "version": "v1" })
        );
        assert!(op["consumes"]
            .as_array()
            .unwrap()
            .contains(&json!("application/strategic-merge-patch+json")));
        assert!(op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation"));
        let containers =
            &doc["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], json!("name"));
        let spec = &doc["definitions"]["io.k8s.api.core.v1.Pod"]["properties"]["spec"];
        assert_eq!(
            spec["$ref"],
            json!("#/definitions/io.k8s.api.core.v1.PodSpec")
        );
    }

    #[test]
    fn every_ref_collected_from_definitions_names_a_definition() {
        for schema in definitions().values() {
            for name in all_refs(schema) {
                assert!(definitions().contains_key(&name), "{name}");
            }
        }
    }
}
