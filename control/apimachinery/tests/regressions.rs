//! Inputs the fuzz-style tests found that once panicked or blew up, kept as plain regressions.

use control_apimachinery::admission;
use control_apimachinery::patch::{apply_patch, PatchError, PatchType};
use control_apimachinery::resources::by_kind;
use serde_json::json;

#[test]
fn a_json_patch_moving_into_a_descendant_fails_without_panicking() {
    let original = json!({"a": {"b": 1}});
    let patch = br#"[{"op":"move","from":"/a/b","path":"/a"},{"op":"test","path":"/a","value":2}]"#;
    assert!(apply_patch(
        "io.k8s.api.core.v1.ConfigMap",
        &original,
        PatchType::Json,
        patch
    )
    .is_err());
    let original = json!({"a": {"b": 1}, "c": 1});
    let patch =
        br#"[{"op":"add","path":"/a/x","value":1},{"op":"move","from":"/a","path":"/c/y"}]"#;
    assert!(apply_patch(
        "io.k8s.api.core.v1.ConfigMap",
        &original,
        PatchType::Json,
        patch
    )
    .is_err());
}

#[test]
fn json_patch_copies_cannot_grow_an_object_without_bound() {
    let original = json!({"metadata": {"name": "x", "labels": {"a": "b".repeat(200)}}});
    let ops: Vec<_> = (0..30)
        .map(|i| json!({"op": "copy", "from": "/metadata", "path": format!("/metadata/x{i}")}))
        .collect();
    let patch = serde_json::to_vec(&ops).unwrap();
    let err = apply_patch(
        "io.k8s.api.core.v1.ConfigMap",
        &original,
        PatchType::Json,
        &patch,
    )
    .unwrap_err();
    assert!(matches!(err, PatchError::Unprocessable(_)), "{err:?}");
}

#[test]
fn absurd_quantity_exponents_are_refused_not_overflowed() {
    let pods = by_kind("v1", "Pod").unwrap();
    for cpu in [
        "1e2147483647",
        "1.0000000000e-2147483648",
        "1.000000000e-2147483648",
        "1e2000000000",
    ] {
        let body = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "image": "b", "resources": {"limits": {"cpu": cpu}}}]}});
        assert!(
            admission::decode(pods, &body).is_err(),
            "{cpu} was accepted"
        );
    }
}

#[test]
fn many_controller_references_give_one_error_not_gigabytes() {
    let cms = by_kind("v1", "ConfigMap").unwrap();
    let r = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
        "uid": "0b5c7b4c-0000-4000-8000-000000000001", "controller": true});
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "default", "ownerReferences": vec![r; 3000]}});
    let errs = admission::validate(cms, &obj, None);
    let controller_errors = errs
        .iter()
        .filter(|e| e.detail.contains("Only one reference"))
        .count();
    assert_eq!(controller_errors, 1);
}

#[test]
fn update_validation_of_deeply_nested_data_is_linear() {
    let crs = by_kind("apps/v1", "ControllerRevision").unwrap();
    let mut data = json!("leaf");
    for _ in 0..60 {
        data = json!({"a": data});
    }
    let obj = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": "r", "namespace": "default"}, "revision": 1, "data": data});
    // Before the fix this took 2^60 steps.
    let _ = admission::validate(crs, &obj, Some(&obj));
}

#[test]
fn reordering_a_long_list_with_a_strategic_merge_patch_is_not_cubic() {
    // 2,000 elements took about 10^10 steps before; now it is quick (no timing is asserted).
    let finalizers: Vec<String> = (0..2000).map(|i| format!("example.com/f{i}")).collect();
    let original = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": finalizers}});
    let reversed: Vec<&String> = finalizers.iter().rev().collect();
    let patch = serde_json::to_vec(&json!({"metadata": {"$setElementOrder/finalizers": reversed}}))
        .unwrap();
    let out = apply_patch(
        "io.k8s.api.core.v1.Pod",
        &original,
        PatchType::StrategicMerge,
        &patch,
    )
    .unwrap();
    assert_eq!(out["metadata"]["finalizers"][0], "example.com/f1999");
}
