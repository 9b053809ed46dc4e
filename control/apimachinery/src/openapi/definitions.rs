//! The schema definitions of every served kind, generated from k8s-openapi's schemars
//! implementations and then decorated with the vendor extensions kubectl reads.
//!
//! Definitions are kept in the Swagger 2.0 shape (`#/definitions/<name>`, `$ref` with sibling
//! `description`), which is what `/openapi/v2` serves; [`to_v3`] rewrites a copy into the
//! OpenAPI 3.0 shape, where a `$ref` may not have siblings and is wrapped in `allOf` instead,
//! exactly as Kubernetes' own v3 documents do (kubectl's strategic-merge lookup takes
//! `allOf[0]` before following `$ref`).

use k8s_openapi::api::{
    apps::v1 as apps, autoscaling::v1 as autoscaling, batch::v1 as batch,
    certificates::v1 as certificates, coordination::v1 as coordination, core::v1 as core,
    discovery::v1 as discovery, policy::v1 as policy,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use crate::patch::{list_patch_meta, list_type};
use crate::resources::{Resource, RESOURCES};

/// Where definitions live in a Swagger 2.0 document.
pub(crate) const V2_PREFIX: &str = "#/definitions/";
/// Where definitions live in an OpenAPI 3.0 document.
pub(crate) const V3_PREFIX: &str = "#/components/schemas/";

pub(crate) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(crate) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(crate) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub(crate) const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";
pub(crate) const EVICTION: &str = "io.k8s.api.policy.v1.Eviction";
pub(crate) const BINDING: &str = "io.k8s.api.core.v1.Binding";
pub(crate) const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
pub(crate) const API_GROUP: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup";
pub(crate) const API_GROUP_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList";
pub(crate) const API_VERSIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions";
pub(crate) const VERSION_INFO: &str = "io.k8s.apimachinery.pkg.version.Info";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// Registers the Rust type of a served kind with the generator and returns its definition
/// name. This match is the one place that ties rows of the resource table to k8s-openapi
/// types; a row without an arm here has no schema (a test keeps the two in step).
fn register_kind(generator: &mut SchemaGenerator, group: &str, kind: &str) -> Option<String> {
    fn add<T: JsonSchema>(generator: &mut SchemaGenerator) -> Option<String> {
        generator.subschema_for::<T>();
        Some(T::schema_name().into_owned())
    }
    match (group, kind) {
        ("", "Namespace") => add::<core::Namespace>(generator),
        ("", "Pod") => add::<core::Pod>(generator),
        ("", "Service") => add::<core::Service>(generator),
        ("", "Endpoints") => add::<core::Endpoints>(generator),
        ("", "ConfigMap") => add::<core::ConfigMap>(generator),
        ("", "Secret") => add::<core::Secret>(generator),
        ("", "ServiceAccount") => add::<core::ServiceAccount>(generator),
        ("", "Node") => add::<core::Node>(generator),
        ("", "Event") => add::<core::Event>(generator),
        ("", "ReplicationController") => add::<core::ReplicationController>(generator),
        ("", "ResourceQuota") => add::<core::ResourceQuota>(generator),
        ("", "LimitRange") => add::<core::LimitRange>(generator),
        ("apps", "Deployment") => add::<apps::Deployment>(generator),
        ("apps", "ReplicaSet") => add::<apps::ReplicaSet>(generator),
        ("apps", "StatefulSet") => add::<apps::StatefulSet>(generator),
        ("apps", "DaemonSet") => add::<apps::DaemonSet>(generator),
        ("apps", "ControllerRevision") => add::<apps::ControllerRevision>(generator),
        ("batch", "Job") => add::<batch::Job>(generator),
        ("batch", "CronJob") => add::<batch::CronJob>(generator),
        ("coordination.k8s.io", "Lease") => add::<coordination::Lease>(generator),
        ("discovery.k8s.io", "EndpointSlice") => add::<discovery::EndpointSlice>(generator),
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            add::<certificates::CertificateSigningRequest>(generator)
        }
        _ => None,
    }
}

/// The generated definitions plus the index from served kinds to their definition names.
pub(crate) struct Catalog {
    /// Swagger 2.0 shaped definitions, sorted by name.
    pub v2: Map<String, Value>,
    /// `(group, version, kind)` of each served kind and of its list kind → definition name.
    pub kinds: Vec<((String, String, String), String)>,
}

impl Catalog {
    pub(crate) fn definition_of(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.kinds
            .iter()
            .find(|((g, v, k), _)| g == group && v == version && k == kind)
            .map(|(_, name)| name.as_str())
    }
}

/// Generates all definitions. Called once; the result is cached by the caller.
pub(crate) fn build() -> Catalog {
    // Draft 7 puts definitions under `#/definitions/`, the Swagger 2.0 location. No transforms:
    // they would rewrite `$ref` siblings, which Swagger 2.0 documents keep.
    let settings = SchemaSettings::draft07().with(|s| {
        s.meta_schema = None;
        s.transforms.clear();
    });
    let mut generator = settings.into_generator();

    let mut kinds: Vec<((String, String, String), String)> = Vec::new();
    for r in RESOURCES {
        if let Some(name) = register_kind(&mut generator, r.group, r.kind) {
            kinds.push(((r.group.into(), r.version.into(), r.kind.into()), name));
        }
    }
    // Bodies and results of operations that are not the resource's own kind.
    generator.subschema_for::<meta::Status>();
    generator.subschema_for::<meta::DeleteOptions>();
    generator.subschema_for::<meta::Patch>();
    generator.subschema_for::<meta::ListMeta>();
    generator.subschema_for::<meta::APIResourceList>();
    generator.subschema_for::<meta::APIGroup>();
    generator.subschema_for::<meta::APIGroupList>();
    generator.subschema_for::<meta::APIVersions>();
    generator.subschema_for::<k8s_openapi::apimachinery::pkg::version::Info>();
    generator.subschema_for::<autoscaling::Scale>();
    generator.subschema_for::<policy::Eviction>();
    generator.subschema_for::<core::Binding>();

    let mut defs = generator.take_definitions(false);

    // List kinds have no schemars implementation (k8s-openapi models them as one generic type),
    // so they are written here in the shape Kubernetes publishes.
    let mut list_kinds = Vec::new();
    for ((group, version, kind), item) in &kinds {
        let Some(r) = RESOURCES
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
        else {
            continue;
        };
        let list_name = list_definition_name(item, &r.list_kind());
        defs.insert(list_name.clone(), list_schema(r, item));
        list_kinds.push(((group.clone(), version.clone(), r.list_kind()), list_name));
    }
    kinds.extend(list_kinds);

    for ((group, version, kind), name) in &kinds {
        set_gvk(&mut defs, name, &[(group, version, kind)]);
    }
    set_gvk(&mut defs, STATUS, &[("", "v1", "Status")]);
    set_gvk(&mut defs, SCALE, &[("autoscaling", "v1", "Scale")]);
    set_gvk(&mut defs, EVICTION, &[("policy", "v1", "Eviction")]);
    set_gvk(&mut defs, BINDING, &[("", "v1", "Binding")]);
    // DeleteOptions is accepted in every group version, and Kubernetes says so in its GVK list.
    let mut gvs: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES {
        if !gvs.contains(&(r.group, r.version)) {
            gvs.push((r.group, r.version));
        }
    }
    if !gvs.contains(&("policy", "v1")) {
        gvs.push(("policy", "v1"));
    }
    let delete_gvks: Vec<(&str, &str, &str)> =
        gvs.iter().map(|(g, v)| (*g, *v, "DeleteOptions")).collect();
    set_gvk(&mut defs, DELETE_OPTIONS, &delete_gvks);

    for (name, schema) in defs.iter_mut() {
        unrequire_metadata(schema);
        add_list_extensions(name, schema);
    }

    defs.sort_keys();
    Catalog { v2: defs, kinds }
}

/// `io.k8s.api.core.v1.Pod` + `PodList` → `io.k8s.api.core.v1.PodList`.
fn list_definition_name(item: &str, list_kind: &str) -> String {
    match item.rsplit_once('.') {
        Some((prefix, _)) => format!("{prefix}.{list_kind}"),
        None => list_kind.to_string(),
    }
}

fn list_schema(r: &Resource, item: &str) -> Value {
    json!({
        "description": format!("{} is a list of {} objects.", r.list_kind(), r.kind),
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "The versioned schema of this representation of an object; servers convert recognized schemas to the latest internal value.",
                "type": "string",
            },
            "items": {
                "description": format!("The {} in this list.", r.plural),
                "type": "array",
                "items": { "$ref": format!("{V2_PREFIX}{item}") },
            },
            "kind": {
                "description": "The REST resource this object represents, in CamelCase.",
                "type": "string",
            },
            "metadata": {
                "$ref": format!("{V2_PREFIX}{LIST_META}"),
                "description": "Standard list metadata.",
            },
        },
        "required": ["items"],
    })
}

fn set_gvk(defs: &mut Map<String, Value>, name: &str, gvks: &[(&str, &str, &str)]) {
    let Some(Value::Object(schema)) = defs.get_mut(name) else {
        return;
    };
    let list: Vec<Value> = gvks
        .iter()
        .map(|(g, v, k)| json!({ "group": g, "kind": k, "version": v }))
        .collect();
    schema.insert("x-kubernetes-group-version-kind".into(), Value::Array(list));
}

/// k8s-openapi lists `metadata` as required so that its Rust field need not be optional, but
/// Kubernetes never requires it (it is `omitempty` everywhere), and `kubectl explain` would
/// print it as `-required-`.
fn unrequire_metadata(schema: &mut Value) {
    let Some(Value::Array(required)) = schema.get_mut("required") else {
        return;
    };
    required.retain(|r| r != "metadata");
    if required.is_empty() {
        if let Value::Object(map) = schema {
            map.shift_remove("required");
        }
    }
}

/// Copies the patch strategy and list type facts of the Go types onto the properties, where
/// kubectl's three-way patch computation and explain look for them.
fn add_list_extensions(definition: &str, schema: &mut Value) {
    let Some(Value::Object(properties)) = schema.get_mut("properties") else {
        return;
    };
    for (field, property) in properties.iter_mut() {
        let Value::Object(property) = property else {
            continue;
        };
        if let Some(lt) = list_type(definition, field) {
            if !lt.map_keys.is_empty() {
                property.insert("x-kubernetes-list-map-keys".into(), json!(lt.map_keys));
            }
            property.insert("x-kubernetes-list-type".into(), json!(lt.kind.as_str()));
        }
        if let Some(meta) = list_patch_meta(definition, field) {
            if let Some(key) = meta.merge_key {
                property.insert("x-kubernetes-patch-merge-key".into(), json!(key));
            }
            property.insert(
                "x-kubernetes-patch-strategy".into(),
                json!(meta.strategy.as_str()),
            );
        }
    }
}

/// Rewrites Swagger 2.0 shaped schemas into OpenAPI 3.0 shape: references move to
/// `#/components/schemas/`, and a `$ref` with siblings becomes `allOf: [{$ref}]` next to them.
pub(crate) fn to_v3(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let has_siblings = map.len() > 1;
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                if k == "$ref" {
                    let target = match v.as_str() {
                        Some(s) => Value::String(match s.strip_prefix(V2_PREFIX) {
                            Some(name) => format!("{V3_PREFIX}{name}"),
                            None => s.to_string(),
                        }),
                        None => v.clone(),
                    };
                    if has_siblings {
                        out.insert("allOf".into(), json!([{ "$ref": target }]));
                    } else {
                        out.insert(k.clone(), target);
                    }
                } else {
                    out.insert(k.clone(), to_v3(v));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_v3).collect()),
        other => other.clone(),
    }
}

/// Every definition name that `value` refers to (directly, not transitively), for either
/// document shape.
pub(crate) fn collect_refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    if let Some(s) = v.as_str() {
                        if let Some(name) = s
                            .strip_prefix(V2_PREFIX)
                            .or_else(|| s.strip_prefix(V3_PREFIX))
                        {
                            out.push(name);
                        }
                    }
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The names in `roots` and every definition they reach through references, sorted.
pub(crate) fn closure(defs: &Map<String, Value>, roots: &[String]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut stack: Vec<String> = roots.to_vec();
    while let Some(name) = stack.pop() {
        if seen.contains(&name) {
            continue;
        }
        if let Some(schema) = defs.get(&name) {
            let mut refs = Vec::new();
            collect_refs(schema, &mut refs);
            stack.extend(refs.into_iter().map(str::to_string));
            seen.push(name);
        }
    }
    seen.sort();
    seen
}
