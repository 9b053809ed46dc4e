//! The patch types of `PATCH` requests: JSON patch (RFC 6902), JSON merge patch (RFC 7386),
//! Kubernetes' strategic merge patch, and (not yet) server-side apply.
//!
//! Strategic merge patch is what kubectl sends for built-in kinds (`apply`, `edit`, `set image`,
//! `patch` by default). It needs to know, per field, whether a list is merged element-wise and by
//! which key. Those facts live in [`list_patch_meta`]; the [`crate::openapi`] module publishes them
//! as `x-kubernetes-patch-*` extensions on its schema definitions, and the merge walks those same
//! definitions (following `$ref` through objects, lists and maps), so the server applies patches
//! exactly as kubectl computed them from the published documents.

mod meta;
mod strategic;

pub use meta::{list_patch_meta, list_type, ListKind, ListType, PatchMeta, PatchStrategy};

use serde_json::Value;

/// The most operations one JSON patch may have, as in Kubernetes (a guard against patches that
/// are expensive to apply).
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// The kind of patch a request carries, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`
    Json,
    /// `application/merge-patch+json`
    Merge,
    /// `application/strategic-merge-patch+json`
    StrategicMerge,
    /// `application/apply-patch+yaml`
    Apply,
}

impl PatchType {
    /// Reads a `Content-Type` header value; parameters such as `; charset=utf-8` are ignored.
    /// `None` means the server should answer 415 Unsupported Media Type.
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

/// Why a patch could not be applied. [`PatchError::status_code`] gives the HTTP status
/// Kubernetes answers with for each case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch body is not JSON at all.
    #[error("invalid JSON in the patch: {0}")]
    InvalidJson(String),
    /// The patch is JSON but not a patch of its type (wrong shape, malformed directive).
    #[error("{0}")]
    InvalidPatch(String),
    /// A JSON patch with more operations than [`MAX_JSON_PATCH_OPERATIONS`].
    #[error("the allowed maximum operations in a JSON patch is {max}, got {count}")]
    TooManyOperations { count: usize, max: usize },
    /// A JSON patch operation failed: a `test` did not match, or a path does not exist.
    #[error("{0}")]
    JsonPatchFailed(String),
    /// The patch is well-formed but asks for something that cannot be done to this object
    /// (lists of lists, keys outside `$retainKeys`).
    #[error("{0}")]
    Unprocessable(String),
    /// The strategic merge could not combine the object and the patch (an element without its
    /// merge key, mixed element types, an unknown `$patch` directive). Kubernetes reports these
    /// as internal errors, and so does this server.
    #[error("{0}")]
    MergeFailed(String),
    /// The patch type is not implemented.
    #[error("{0}")]
    Unsupported(String),
}

impl PatchError {
    /// The HTTP status code of the error response.
    pub fn status_code(&self) -> u16 {
        match self {
            PatchError::InvalidJson(_) | PatchError::InvalidPatch(_) => 400,
            PatchError::TooManyOperations { .. } => 413,
            PatchError::Unsupported(_) => 415,
            PatchError::JsonPatchFailed(_) | PatchError::Unprocessable(_) => 422,
            PatchError::MergeFailed(_) => 500,
        }
    }

    /// The `reason` of the Kubernetes `Status` object for [`PatchError::status_code`].
    pub fn reason(&self) -> &'static str {
        match self.status_code() {
            400 => "BadRequest",
            413 => "RequestEntityTooLarge",
            415 => "UnsupportedMediaType",
            422 => "Invalid",
            _ => "InternalError",
        }
    }
}

/// Applies `patch` of `patch_type` to `original`, an object of the definition `kind_definition`
/// (`io.k8s.api.core.v1.Pod`, or `io.k8s.api.autoscaling.v1.Scale` for a scale subresource).
/// An unknown definition (a custom resource) gets JSON merge patch semantics for strategic
/// merge patches. The original is not modified.
pub fn apply_patch(
    kind_definition: &str,
    original: &Value,
    patch_type: PatchType,
    patch: &[u8],
) -> Result<Value, PatchError> {
    match patch_type {
        PatchType::Json => json_patch(original, patch),
        PatchType::Merge => merge_patch(original, patch),
        PatchType::StrategicMerge => {
            let patch = parse_object_patch(patch, "strategic merge patch")?;
            strategic::apply(kind_definition, original, patch)
        }
        PatchType::Apply => Err(PatchError::Unsupported(
            "server-side apply (application/apply-patch+yaml) is not supported by this server; use client-side kubectl apply".into(),
        )),
    }
}

fn json_patch(original: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let value: Value =
        serde_json::from_slice(patch).map_err(|e| PatchError::InvalidJson(e.to_string()))?;
    let operations: json_patch::Patch = serde_json::from_value(value)
        .map_err(|e| PatchError::InvalidPatch(format!("invalid JSON patch: {e}")))?;
    if operations.0.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations {
            count: operations.0.len(),
            max: MAX_JSON_PATCH_OPERATIONS,
        });
    }
    // Applied to a copy without json-patch's undo step (which can panic on moves into a
    // descendant); a failure simply discards the copy.
    let mut doc = original.clone();
    let mut copied = 0usize;
    for op in &operations.0 {
        if let json_patch::PatchOperation::Copy(c) = op {
            // `copy` doubles a document per operation; Kubernetes bounds the bytes copied.
            copied += doc
                .pointer(c.from.as_str())
                .map(|v| serde_json::to_vec(v).map(|b| b.len()).unwrap_or(0))
                .unwrap_or(0);
            if copied > MAX_JSON_PATCH_COPY_BYTES {
                return Err(PatchError::Unprocessable(format!(
                    "the JSON patch copies more than {MAX_JSON_PATCH_COPY_BYTES} bytes"
                )));
            }
        }
        json_patch::patch_unsafe(&mut doc, std::slice::from_ref(op))
            .map_err(|e| PatchError::JsonPatchFailed(e.to_string()))?;
    }
    Ok(doc)
}

/// The most bytes the `copy` operations of one JSON patch may copy in all (3 MiB, the request
/// body limit), so a small patch cannot grow an object without bound.
pub const MAX_JSON_PATCH_COPY_BYTES: usize = 3 * 1024 * 1024;

fn merge_patch(original: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let patch = parse_object_patch(patch, "merge patch")?;
    let mut doc = original.clone();
    json_patch::merge(&mut doc, &Value::Object(patch));
    Ok(doc)
}

/// Merge and strategic merge patches of an object must themselves be objects: anything else
/// would replace the whole object with a non-object.
fn parse_object_patch(
    patch: &[u8],
    what: &str,
) -> Result<serde_json::Map<String, Value>, PatchError> {
    match serde_json::from_slice(patch) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(PatchError::InvalidPatch(format!(
            "a {what} must be a JSON object"
        ))),
        Err(e) => Err(PatchError::InvalidJson(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEPLOYMENT: &str = "io.k8s.api.apps.v1.Deployment";
    const POD: &str = "io.k8s.api.core.v1.Pod";

    fn smp(definition: &str, original: &Value, patch: Value) -> Value {
        apply_patch(
            definition,
            original,
            PatchType::StrategicMerge,
            patch.to_string().as_bytes(),
        )
        .unwrap()
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "labels": { "app": "web", "tier": "front" },
                "finalizers": ["a.example.com/x", "b.example.com/y"],
            },
            "spec": {
                "replicas": 2,
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": "25%" },
                },
                "selector": { "matchLabels": { "app": "web" } },
                "template": {
                    "metadata": { "labels": { "app": "web" } },
                    "spec": {
                        "containers": [
                            {
                                "name": "nginx",
                                "image": "nginx:1.24",
                                "ports": [{ "containerPort": 80, "protocol": "TCP" }],
                                "env": [
                                    { "name": "A", "value": "1" },
                                    { "name": "B", "value": "2" },
                                ],
                            },
                            { "name": "sidecar", "image": "busybox", "args": ["sleep", "3600"] },
                        ],
                        "volumes": [{ "name": "data", "emptyDir": {} }],
                    },
                },
            },
        })
    }

    fn containers(d: &Value) -> &Vec<Value> {
        d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
    }

    fn names(list: &[Value]) -> Vec<&str> {
        list.iter().map(|c| c["name"].as_str().unwrap()).collect()
    }

    #[test]
    fn content_types_map_to_patch_types() {
        assert_eq!(
            PatchType::from_content_type("application/strategic-merge-patch+json; charset=utf-8"),
            Some(PatchType::StrategicMerge)
        );
        assert_eq!(
            PatchType::from_content_type("application/json-patch+json"),
            Some(PatchType::Json)
        );
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json"),
            Some(PatchType::Merge)
        );
        assert_eq!(
            PatchType::from_content_type("application/apply-patch+yaml"),
            Some(PatchType::Apply)
        );
        assert_eq!(PatchType::from_content_type("application/json"), None);
        for t in [
            PatchType::Json,
            PatchType::Merge,
            PatchType::StrategicMerge,
            PatchType::Apply,
        ] {
            assert_eq!(PatchType::from_content_type(t.content_type()), Some(t));
        }
    }

    #[test]
    fn container_image_changes_by_name_in_a_deployment_template() {
        let out = smp(
            DEPLOYMENT,
            &deployment(),
            json!({ "spec": { "template": { "spec": { "containers": [
                { "name": "sidecar", "image": "busybox:1.36" }
            ] } } } }),
        );
        let c = containers(&out);
        assert_eq!(names(c), ["nginx", "sidecar"]);
        assert_eq!(c[1]["image"], "busybox:1.36");
        assert_eq!(c[1]["args"], json!(["sleep", "3600"]));
        assert_eq!(c[0]["image"], "nginx:1.24");
        assert_eq!(out["spec"]["replicas"], 2);
    }

    #[test]
    fn env_entries_merge_by_name() {
        let out = smp(
            DEPLOYMENT,
            &deployment(),
            json!({ "spec": { "template": { "spec": { "containers": [
                { "name": "nginx", "env": [{ "name": "B", "value": "20" }, { "name": "C", "value": "3" }] }
            ] } } } }),
        );
        let env = &containers(&out)[0]["env"];
        assert_eq!(
            env,
            &json!([
                { "name": "A", "value": "1" },
                { "name": "B", "value": "20" },
                { "name": "C", "value": "3" },
            ])
        );
    }

    #[test]
    fn patch_delete_directive_removes_a_container() {
        let out = smp(
            DEPLOYMENT,
            &deployment(),
            json!({ "spec": { "template": { "spec": { "containers": [
                { "name": "sidecar", "$patch": "delete" }
            ] } } } }),
        );
        assert_eq!(names(containers(&out)), ["nginx"]);
    }

    #[test]
    fn patch_replace_directive_replaces_a_list() {
        let out = smp(
            DEPLOYMENT,
            &deployment(),
            json!({ "spec": { "template": { "spec": { "containers": [
                { "name": "only", "image": "x" },
                { "$patch": "replace" }
            ] } } } }),
        );
        assert_eq!(
            containers(&out),
            &vec![json!({ "name": "only", "image": "x" })]
        );
    }

    #[test]
    fn patch_replace_directive_replaces_a_map() {
        let out = smp(
            DEPLOYMENT,
            &deployment(),
            json!({ "metadata": { "labels": { "new": "yes", "$patch": "replace" } } }),
        );
        assert_eq!(out["metadata"]["labels"], json!({ "new": "yes" }));
    }

    #[test]
    fn patch_delete_directive_on_a_map_empties_it() {
        let out = smp(
            DEPLOYMENT,
            &deployment(),
            json!({ "metadata": { "labels": { "$patch": "delete" } } }),
        );
        assert_eq!(out["metadata"]["labels"], json!({}));
    }

    #[test]
    fn set_element_order_reorders_containers_as_kubectl_asks() {
        let out = smp(
            DEPLOYMENT,
            &deployment(),
            json!({ "spec": { "template": { "spec": {
                "$setElementOrder/containers": [{ "name": "sidecar" }, { "name": "new" }, { "name": "nginx" }],
                "containers": [{ "name": "new", "image": "redis" }],
            } } } }),
        );
        let c = containers(&out);
        assert_eq!(names(c), ["sidecar", "new", "nginx"]);
        assert_eq!(c[2]["image"], "nginx:1.24");
        assert!(!out["spec"]["template"]["spec"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with('$')));
    }

    #[test]
    fn kubectl_apply_three_way_patch_changes_image_and_last_applied() {
        // The shape kubectl 1.32 sends for `kubectl apply` after editing the image in the file.
        let patch = json!({
            "metadata": { "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"apps/v1\"}\n"
            } },
            "spec": { "template": { "spec": {
                "$setElementOrder/containers": [{ "name": "nginx" }, { "name": "sidecar" }],
                "containers": [{ "image": "nginx:1.25", "name": "nginx" }],
            } } },
        });
        let out = smp(DEPLOYMENT, &deployment(), patch);
        let c = containers(&out);
        assert_eq!(names(c), ["nginx", "sidecar"]);
        assert_eq!(c[0]["image"], "nginx:1.25");
        assert_eq!(
            out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            "{\"apiVersion\":\"apps/v1\"}\n"
        );
        assert_eq!(out["metadata"]["labels"]["tier"], "front");
    }

    #[test]
    fn retain_keys_switches_strategy_from_rolling_update_to_recreate() {
        let out = smp(
            DEPLOYMENT,
            &deployment(),
            json!({ "spec": { "strategy": {
                "$retainKeys": ["type"],
                "type": "Recreate",
                "rollingUpdate": null,
            } } }),
        );
        assert_eq!(out["spec"]["strategy"], json!({ "type": "Recreate" }));
    }

    #[test]
    fn retain_keys_rejects_patch_fields_outside_the_list() {
        let err = apply_patch(
            DEPLOYMENT,
            &deployment(),
            PatchType::StrategicMerge,
            br#"{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate","rollingUpdate":{}}}}"#,
        )
        .unwrap_err();
        assert_eq!(err.status_code(), 400);
    }

    #[test]
    fn retain_keys_in_a_volume_element_clears_the_old_source() {
        let out = smp(
            DEPLOYMENT,
            &deployment(),
            json!({ "spec": { "template": { "spec": { "volumes": [
                { "$retainKeys": ["configMap", "name"], "name": "data", "configMap": { "name": "cfg" } }
            ] } } } }),
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["volumes"],
            json!([{ "name": "data", "configMap": { "name": "cfg" } }])
        );
    }

    #[test]
    fn finalizers_are_unioned_and_deleted_from_the_primitive_list() {
        let out = smp(
            DEPLOYMENT,
            &deployment(),
            json!({ "metadata": { "finalizers": ["c.example.com/z", "a.example.com/x"] } }),
        );
        // Patch values come in patch order; "b" was after "a" on the server, so it stays after.
        assert_eq!(
            out["metadata"]["finalizers"],
            json!(["c.example.com/z", "a.example.com/x", "b.example.com/y"])
        );
        let out = smp(
            DEPLOYMENT,
            &deployment(),
            json!({ "metadata": { "$deleteFromPrimitiveList/finalizers": ["a.example.com/x"] } }),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["b.example.com/y"]));
    }

    #[test]
    fn set_element_order_orders_a_primitive_list() {
        let out = smp(
            DEPLOYMENT,
            &deployment(),
            json!({ "metadata": {
                "$setElementOrder/finalizers": ["b.example.com/y", "a.example.com/x"],
            } }),
        );
        assert_eq!(
            out["metadata"]["finalizers"],
            json!(["b.example.com/y", "a.example.com/x"])
        );
    }

    #[test]
    fn null_deletes_a_label() {
        let out = smp(
            DEPLOYMENT,
            &deployment(),
            json!({ "metadata": { "labels": { "tier": null, "new": "1" } } }),
        );
        assert_eq!(
            out["metadata"]["labels"],
            json!({ "app": "web", "new": "1" })
        );
    }

    #[test]
    fn ports_merge_by_container_port() {
        let out = smp(
            DEPLOYMENT,
            &deployment(),
            json!({ "spec": { "template": { "spec": { "containers": [
                { "name": "nginx", "ports": [
                    { "containerPort": 80, "name": "http" },
                    { "containerPort": 443, "name": "https" },
                ] }
            ] } } } }),
        );
        assert_eq!(
            containers(&out)[0]["ports"],
            json!([
                { "containerPort": 80, "protocol": "TCP", "name": "http" },
                { "containerPort": 443, "name": "https" },
            ])
        );
    }

    #[test]
    fn server_only_containers_keep_their_place_when_kubectl_deletes_and_adds() {
        // "injected" was added by someone else; the user's file replaced "a" with "c".
        let pod = json!({ "spec": { "containers": [
            { "name": "a" }, { "name": "injected" }, { "name": "b" }
        ] } });
        let out = smp(
            POD,
            &pod,
            json!({ "spec": {
                "$setElementOrder/containers": [{ "name": "b" }, { "name": "c" }],
                "containers": [{ "name": "c", "image": "c" }, { "name": "a", "$patch": "delete" }],
            } }),
        );
        assert_eq!(
            names(out["spec"]["containers"].as_array().unwrap()),
            ["injected", "b", "c"]
        );
    }

    #[test]
    fn a_patch_list_out_of_step_with_set_element_order_is_an_error() {
        let err = apply_patch(
            POD,
            &json!({ "spec": { "containers": [{ "name": "a" }, { "name": "b" }] } }),
            PatchType::StrategicMerge,
            br#"{"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"b"}],"containers":[{"name":"b","image":"x"},{"name":"a","image":"y"}]}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("$setElementOrder"), "{err}");
    }

    #[test]
    fn too_many_json_patch_operations_are_refused() {
        let ops: Vec<Value> = (0..=MAX_JSON_PATCH_OPERATIONS)
            .map(|_| json!({ "op": "test", "path": "", "value": {} }))
            .collect();
        let err = apply_patch(
            POD,
            &json!({}),
            PatchType::Json,
            Value::Array(ops).to_string().as_bytes(),
        )
        .unwrap_err();
        assert_eq!(err.status_code(), 413);
    }

    #[test]
    fn lists_without_a_merge_strategy_are_replaced() {
        let out = smp(
            DEPLOYMENT,
            &deployment(),
            json!({ "spec": { "template": { "spec": { "containers": [
                { "name": "sidecar", "args": ["sleep", "10"] }
            ] } } } }),
        );
        assert_eq!(containers(&out)[1]["args"], json!(["sleep", "10"]));
    }

    #[test]
    fn service_ports_merge_by_port() {
        let svc = json!({ "spec": { "ports": [
            { "port": 80, "targetPort": 8080 },
            { "port": 443, "targetPort": 8443 },
        ] } });
        let out = smp(
            "io.k8s.api.core.v1.Service",
            &svc,
            json!({ "spec": { "ports": [{ "port": 443, "targetPort": 9443 }] } }),
        );
        assert_eq!(
            out["spec"]["ports"],
            json!([{ "port": 80, "targetPort": 8080 }, { "port": 443, "targetPort": 9443 }])
        );
    }

    #[test]
    fn a_container_element_without_its_merge_key_is_an_error() {
        let err = apply_patch(
            POD,
            &json!({ "spec": { "containers": [{ "name": "a", "image": "x" }] } }),
            PatchType::StrategicMerge,
            br#"{"spec":{"containers":[{"image":"y"}]}}"#,
        )
        .unwrap_err();
        assert!(matches!(err, PatchError::MergeFailed(_)), "{err:?}");
        assert!(err.to_string().contains("merge key"));
    }

    #[test]
    fn unknown_definitions_get_merge_patch_semantics() {
        let original = json!({ "spec": { "items": [1, 2], "keep": true, "drop": 1 } });
        let out = smp(
            "com.example.v1.Widget",
            &original,
            json!({ "spec": { "items": [3], "drop": null } }),
        );
        assert_eq!(out, json!({ "spec": { "items": [3], "keep": true } }));
    }

    #[test]
    fn scale_subresource_patches_replicas() {
        let scale =
            json!({ "apiVersion": "autoscaling/v1", "kind": "Scale", "spec": { "replicas": 1 } });
        let out = smp(
            "io.k8s.api.autoscaling.v1.Scale",
            &scale,
            json!({ "spec": { "replicas": 5 } }),
        );
        assert_eq!(out["spec"]["replicas"], 5);
    }

    #[test]
    fn json_patch_applies_operations_in_order() {
        let out = apply_patch(
            POD,
            &json!({ "metadata": { "labels": { "a": "1" } } }),
            PatchType::Json,
            br#"[{"op":"test","path":"/metadata/labels/a","value":"1"},{"op":"add","path":"/metadata/labels/b","value":"2"},{"op":"remove","path":"/metadata/labels/a"}]"#,
        )
        .unwrap();
        assert_eq!(out, json!({ "metadata": { "labels": { "b": "2" } } }));
    }

    #[test]
    fn a_failing_json_patch_test_is_unprocessable() {
        let err = apply_patch(
            POD,
            &json!({ "metadata": { "name": "a" } }),
            PatchType::Json,
            br#"[{"op":"test","path":"/metadata/name","value":"b"}]"#,
        )
        .unwrap_err();
        assert!(matches!(err, PatchError::JsonPatchFailed(_)));
        assert_eq!(err.status_code(), 422);
        assert_eq!(err.reason(), "Invalid");
        let err = apply_patch(
            POD,
            &json!({}),
            PatchType::Json,
            br#"[{"op":"remove","path":"/nope"}]"#,
        )
        .unwrap_err();
        assert_eq!(err.status_code(), 422);
    }

    #[test]
    fn malformed_patches_are_bad_requests() {
        for (t, body) in [
            (PatchType::Json, &b"{not json"[..]),
            (PatchType::Json, br#"[{"op":"frobnicate","path":"/a"}]"#),
            (PatchType::Merge, b"[1,2]"),
            (PatchType::Merge, b"null"),
            (PatchType::StrategicMerge, b"\"x\""),
            (PatchType::StrategicMerge, b"{"),
        ] {
            let err = apply_patch(POD, &json!({}), t, body).unwrap_err();
            assert_eq!(err.status_code(), 400, "{t:?} {err}");
        }
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let out = apply_patch(
            POD,
            &json!({ "metadata": { "labels": { "a": "1", "b": "2" } }, "spec": { "containers": [{ "name": "x" }] } }),
            PatchType::Merge,
            br#"{"metadata":{"labels":{"a":null,"c":"3"}},"spec":{"containers":[{"name":"y"}]}}"#,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({ "metadata": { "labels": { "b": "2", "c": "3" } }, "spec": { "containers": [{ "name": "y" }] } })
        );
    }

    #[test]
    fn apply_patches_are_reported_unsupported() {
        let err = apply_patch(POD, &json!({}), PatchType::Apply, b"kind: Pod").unwrap_err();
        assert_eq!(err.status_code(), 415);
        assert!(err.to_string().contains("server-side apply"));
    }

    #[test]
    fn patch_meta_table_knows_the_well_known_fields() {
        let m = |d: &str, f: &str| list_patch_meta(d, f).unwrap();
        assert_eq!(
            m("io.k8s.api.core.v1.PodSpec", "containers"),
            PatchMeta {
                strategy: PatchStrategy::Merge,
                merge_key: Some("name")
            }
        );
        assert_eq!(
            m("io.k8s.api.core.v1.Container", "ports").merge_key,
            Some("containerPort")
        );
        assert_eq!(
            m("io.k8s.api.core.v1.Container", "volumeMounts").merge_key,
            Some("mountPath")
        );
        assert_eq!(
            m("io.k8s.api.core.v1.PodSpec", "volumes").strategy,
            PatchStrategy::MergeRetainKeys
        );
        assert_eq!(
            m(
                "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                "ownerReferences"
            )
            .merge_key,
            Some("uid")
        );
        assert_eq!(
            m("io.k8s.api.core.v1.ServiceSpec", "ports").merge_key,
            Some("port")
        );
        assert_eq!(
            m("io.k8s.api.apps.v1.DeploymentSpec", "strategy").strategy,
            PatchStrategy::RetainKeys
        );
        assert_eq!(
            m("io.k8s.api.core.v1.EphemeralContainer", "env").merge_key,
            Some("name")
        );
        assert!(list_patch_meta("io.k8s.api.core.v1.PodSpec", "tolerations").is_none());
    }

    #[test]
    fn every_table_row_names_an_existing_property() {
        let defs = crate::openapi::definitions();
        for (definition, field) in meta::all_rows() {
            let props = &defs
                .get(definition)
                .unwrap_or_else(|| panic!("no definition {definition}"))["properties"];
            assert!(
                props.get(field).is_some(),
                "{definition} has no property {field}"
            );
        }
    }
}
