//! Pods and pod specs: the rules of `ValidatePodSpec` and friends, shared by Pods and every
//! workload's pod template, plus the pod-only rules and the narrow set of pod updates Kubernetes
//! allows.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{annotations, diff, labels, nonnegative, same, NameRule, Path, Validator, IS_NEGATIVE};
use crate::admission::defaults::volume_sources;
use crate::admission::field::FieldError;
use crate::admission::json::{arr_of, bool_of, has, int_of, obj_of, str_of};
use crate::admission::names::{
    inclusive_range_error, is_config_map_key, is_dns1123_label, is_dns1123_subdomain,
    is_env_var_name, is_http_header_name, is_ip, is_qualified_name, is_valid_label_value,
    is_valid_port_name, is_valid_port_num, name_is_dns_subdomain,
};
use crate::admission::quantity::{self, Quantity};

const FILE_MODE_ERROR: &str = "must be a number between 0 and 0777 (octal), both inclusive";
const MAX_INT32: i64 = i32::MAX as i64;

/// Where a pod spec sits, which changes a few rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpecOf {
    /// A Pod object.
    Pod,
    /// A pod template inside a workload.
    Template,
}

/// Pods on create and update.
pub(super) fn pod(v: &Validator, errs: &mut Vec<FieldError>) {
    v.meta(NameRule::Subdomain, errs);
    let spec = v.spec();
    let spec_path = Path::new("spec");
    pod_spec(spec, &spec_path, SpecOf::Pod, &[], errs);
    // Projected service account tokens need an account to be issued for.
    if str_of(spec, "serviceAccountName").is_empty() {
        for (vi, vol) in arr_of(spec, "volumes").iter().enumerate() {
            for (si, source) in arr_of(&vol["projected"], "sources").iter().enumerate() {
                if has(source, "serviceAccountToken") {
                    errs.push(FieldError::forbidden(
                        spec_path
                            .child("volumes")
                            .index(vi)
                            .child("projected")
                            .child("sources")
                            .index(si)
                            .child("serviceAccountToken"),
                        "must not be specified when serviceAccountName is not set",
                    ));
                }
            }
        }
    }
    for list in ["containers", "initContainers"] {
        for (i, c) in arr_of(spec, list).iter().enumerate() {
            let image = str_of(c, "image");
            if image.trim() != image {
                errs.push(FieldError::invalid(
                    spec_path.child(list).index(i).child("image"),
                    image,
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    match v.old_spec() {
        None => {
            if !arr_of(spec, "ephemeralContainers").is_empty() {
                errs.push(FieldError::forbidden(
                    spec_path.child("ephemeralContainers"),
                    "cannot be set on create",
                ));
            }
            if !str_of(spec, "nodeName").is_empty() && !arr_of(spec, "schedulingGates").is_empty() {
                errs.push(FieldError::forbidden(
                    spec_path.child("nodeName"),
                    "cannot be set until all schedulingGates have been cleared",
                ));
            }
        }
        Some(old) => pod_update(spec, old, errs),
    }
}

const UPDATABLE_POD_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// The pod spec is immutable except for images, a shrinking activeDeadlineSeconds, added
/// tolerations and removed scheduling gates.
fn pod_update(spec: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let path = Path::new("spec");
    for list in ["containers", "initContainers"] {
        let new_list = arr_of(spec, list);
        if new_list.len() != arr_of(old, list).len() {
            errs.push(FieldError::forbidden(
                path.child(list),
                "pod updates may not add or remove containers",
            ));
            return;
        }
        for (i, c) in new_list.iter().enumerate() {
            if str_of(c, "image").is_empty() {
                errs.push(FieldError::required(
                    path.child(list).index(i).child("image"),
                    "",
                ));
            }
        }
    }
    let ads = path.child("activeDeadlineSeconds");
    match (
        int_of(spec, "activeDeadlineSeconds"),
        int_of(old, "activeDeadlineSeconds"),
    ) {
        (Some(n), _) if !(0..=MAX_INT32).contains(&n) => {
            errs.push(FieldError::invalid(
                ads,
                n,
                inclusive_range_error(0, MAX_INT32),
            ));
            return;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(FieldError::invalid(
                ads,
                n,
                "must be less than or equal to previous value",
            ));
            return;
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            ads,
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    // Existing tolerations may only change their tolerationSeconds.
    for old_t in arr_of(old, "tolerations") {
        let found = arr_of(spec, "tolerations").iter().any(|new_t| {
            let strip = |t: &Value| {
                let mut t = t.clone();
                if let Some(m) = t.as_object_mut() {
                    m.remove("tolerationSeconds");
                }
                t
            };
            same(Some(&strip(old_t)), Some(&strip(new_t)))
        });
        if !found {
            errs.push(FieldError::forbidden(
                path.child("tolerations"),
                "existing toleration can not be modified except its tolerationSeconds",
            ));
            break;
        }
    }
    // Scheduling gates may only be removed.
    let old_gates: HashSet<&str> = arr_of(old, "schedulingGates")
        .iter()
        .map(|g| str_of(g, "name"))
        .collect();
    for (i, g) in arr_of(spec, "schedulingGates").iter().enumerate() {
        let name = str_of(g, "name");
        if !old_gates.contains(name) {
            errs.push(FieldError::forbidden(
                path.child("schedulingGates").index(i).child("name"),
                format!("only deletion is allowed, but found new scheduling gate '{name}'"),
            ));
        }
    }
    // Everything else must be unchanged: compare with the updatable fields taken from old.
    let mut munged = spec.clone();
    for list in ["containers", "initContainers"] {
        if let Some(items) = munged.get_mut(list).and_then(Value::as_array_mut) {
            for (c, o) in items.iter_mut().zip(arr_of(old, list)) {
                if let Some(m) = c.as_object_mut() {
                    match o.get("image") {
                        Some(img) => m.insert("image".into(), img.clone()),
                        None => m.remove("image"),
                    };
                }
            }
        }
    }
    if let Some(m) = munged.as_object_mut() {
        for key in ["activeDeadlineSeconds", "tolerations", "schedulingGates"] {
            match old.get(key) {
                Some(v) => m.insert(key.into(), v.clone()),
                None => m.remove(key),
            };
        }
        let old_grace = int_of(old, "terminationGracePeriodSeconds");
        if old_grace.is_some_and(|g| g < 0)
            && int_of(spec, "terminationGracePeriodSeconds") == Some(1)
        {
            m.insert(
                "terminationGracePeriodSeconds".into(),
                old["terminationGracePeriodSeconds"].clone(),
            );
        }
    }
    if !same(Some(&munged), Some(old)) {
        errs.push(FieldError::forbidden(
            path,
            format!(
                "pod updates may not change fields other than {UPDATABLE_POD_FIELDS}\n{}",
                diff("core.PodSpec", old, &munged)
            ),
        ));
    }
}

/// ValidatePodTemplateSpec: labels and annotations of the template, its pod spec, and no
/// ephemeral containers. `extra_volumes` are names the containers may mount besides the pod's
/// volumes (a StatefulSet's claim templates).
pub(crate) fn pod_template(
    template: &Value,
    path: &Path,
    extra_volumes: &[String],
    errs: &mut Vec<FieldError>,
) {
    let meta = &template["metadata"];
    labels(meta.get("labels"), &path.child("labels"), errs);
    annotations(meta.get("annotations"), &path.child("annotations"), errs);
    let spec = &template["spec"];
    pod_spec(
        spec,
        &path.child("spec"),
        SpecOf::Template,
        extra_volumes,
        errs,
    );
    if !arr_of(spec, "ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden(
            path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
}

/// ValidatePodSpec.
pub(crate) fn pod_spec(
    spec: &Value,
    path: &Path,
    of: SpecOf,
    extra_volumes: &[String],
    errs: &mut Vec<FieldError>,
) {
    if !has(spec, "terminationGracePeriodSeconds") {
        errs.push(FieldError::required(
            path.child("terminationGracePeriodSeconds"),
            "",
        ));
    }
    let grace = int_of(spec, "terminationGracePeriodSeconds");
    let mut vols = volumes(arr_of(spec, "volumes"), &path.child("volumes"), errs);
    for name in extra_volumes {
        vols.entry(name.clone()).or_insert(&Value::Null);
    }
    containers(spec, &vols, grace, &path.child("containers"), errs);
    init_containers(spec, &vols, grace, &path.child("initContainers"), errs);
    host_network_ports(spec, path, of, errs);
    enumeration(
        str_of(spec, "restartPolicy"),
        &path.child("restartPolicy"),
        &["Always", "OnFailure", "Never"],
        errs,
    );
    enumeration(
        str_of(spec, "dnsPolicy"),
        &path.child("dnsPolicy"),
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        errs,
    );
    labels(spec.get("nodeSelector"), &path.child("nodeSelector"), errs);
    pod_security_context(
        &spec["securityContext"],
        &path.child("securityContext"),
        errs,
    );
    affinity(&spec["affinity"], &path.child("affinity"), errs);
    dns_config(spec, &path.child("dnsConfig"), errs);
    for (i, gate) in arr_of(spec, "readinessGates").iter().enumerate() {
        let t = str_of(gate, "conditionType");
        for msg in is_qualified_name(t) {
            errs.push(FieldError::invalid(
                path.child("readinessGates").index(i).child("conditionType"),
                t,
                msg,
            ));
        }
    }
    let mut gates = HashSet::new();
    for (i, gate) in arr_of(spec, "schedulingGates").iter().enumerate() {
        let name = str_of(gate, "name");
        let p = path.child("schedulingGates").index(i);
        for msg in is_qualified_name(name) {
            errs.push(FieldError::invalid(p.clone(), name, msg));
        }
        if !gates.insert(name) {
            errs.push(FieldError::duplicate(p, name));
        }
    }
    topology_spread(
        arr_of(spec, "topologySpreadConstraints"),
        &path.child("topologySpreadConstraints"),
        errs,
    );
    for (key, label) in [
        ("serviceAccountName", "serviceAccountName"),
        ("nodeName", "nodeName"),
        ("priorityClassName", "priorityClassName"),
    ] {
        let value = str_of(spec, key);
        if !value.is_empty() {
            for msg in name_is_dns_subdomain(value, false) {
                errs.push(FieldError::invalid(path.child(label), value, msg));
            }
        }
    }
    if let Some(n) = int_of(spec, "activeDeadlineSeconds") {
        if !(1..=MAX_INT32).contains(&n) {
            errs.push(FieldError::invalid(
                path.child("activeDeadlineSeconds"),
                n,
                inclusive_range_error(1, MAX_INT32),
            ));
        }
    }
    for key in ["hostname", "subdomain"] {
        let value = str_of(spec, key);
        if !value.is_empty() {
            for msg in is_dns1123_label(value) {
                errs.push(FieldError::invalid(path.child(key), value, msg));
            }
        }
    }
    tolerations(
        arr_of(spec, "tolerations"),
        &path.child("tolerations"),
        errs,
    );
    for (i, alias) in arr_of(spec, "hostAliases").iter().enumerate() {
        let p = path.child("hostAliases").index(i);
        ip(str_of(alias, "ip"), &p.child("ip"), errs);
        for (j, h) in arr_of(alias, "hostnames").iter().enumerate() {
            let h = h.as_str().unwrap_or("");
            for msg in is_dns1123_subdomain(h) {
                errs.push(FieldError::invalid(p.child("hostnames").index(j), h, msg));
            }
        }
    }
    if let Some(rc) = spec.get("runtimeClassName").and_then(Value::as_str) {
        for msg in name_is_dns_subdomain(rc, false) {
            errs.push(FieldError::invalid(path.child("runtimeClassName"), rc, msg));
        }
    }
    if has(spec, "preemptionPolicy") {
        enumeration(
            str_of(spec, "preemptionPolicy"),
            &path.child("preemptionPolicy"),
            &["PreemptLowerPriority", "Never"],
            errs,
        );
    }
    for (name, q) in obj_of(spec, "overhead").into_iter().flatten() {
        let p = path.child("overhead").child("limits").key(name);
        container_resource_name(name, &p, errs);
        quantity_value(name, q, &p, errs);
    }
    if let Some(os) = spec.get("os").filter(|o| o.is_object()) {
        match str_of(os, "name") {
            "" => errs.push(FieldError::required(path.child("os").child("name"), "")),
            "linux" | "windows" => {}
            other => errs.push(FieldError::not_supported(
                path.child("os"),
                other,
                &["linux", "windows"],
            )),
        }
    }
}

/// `Required` when empty, `NotSupported` when outside `allowed`.
pub(crate) fn enumeration(value: &str, path: &Path, allowed: &[&str], errs: &mut Vec<FieldError>) {
    if value.is_empty() {
        errs.push(FieldError::required(path.clone(), ""));
    } else if !allowed.contains(&value) {
        errs.push(FieldError::not_supported(path.clone(), value, allowed));
    }
}

pub(crate) fn ip(value: &str, path: &Path, errs: &mut Vec<FieldError>) {
    if !is_ip(value) {
        errs.push(FieldError::invalid(
            path.clone(),
            value,
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        ));
    }
}

/// ValidateVolumes: returns the valid volumes by name, for mounts to be checked against.
fn volumes<'a>(
    list: &'a [Value],
    path: &Path,
    errs: &mut Vec<FieldError>,
) -> HashMap<String, &'a Value> {
    let mut by_name = HashMap::new();
    for (i, vol) in list.iter().enumerate() {
        let idx = path.index(i);
        let name = str_of(vol, "name");
        let mut el = Vec::new();
        volume_source(vol, &idx, &mut el);
        if name.is_empty() {
            el.push(FieldError::required(idx.child("name"), ""));
        } else {
            for msg in is_dns1123_label(name) {
                el.push(FieldError::invalid(idx.child("name"), name, msg));
            }
        }
        if by_name.contains_key(name) {
            el.push(FieldError::duplicate(idx.child("name"), name));
        }
        if el.is_empty() {
            by_name.insert(name.to_string(), vol);
        } else {
            errs.extend(el);
        }
    }
    by_name
}

/// Kubernetes checks volume types in this order; only the first one present counts.
const VOLUME_CHECK_ORDER: &[&str] = &[
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
];

fn volume_source(vol: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    debug_assert_eq!(VOLUME_CHECK_ORDER.len(), volume_sources().len());
    let mut count = 0;
    for key in VOLUME_CHECK_ORDER {
        let Some(src) = vol.get(*key).filter(|s| !s.is_null()) else {
            continue;
        };
        if count > 0 {
            // Kubernetes' own spelling of this one path has a typo; keep it recognisable.
            let shown = if *key == "downwardAPI" {
                "downwarAPI"
            } else {
                key
            };
            errs.push(FieldError::forbidden(
                path.child(shown),
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        let p = path.child(key);
        match *key {
            "emptyDir" => {
                if let Some(limit) = src.get("sizeLimit") {
                    if quantity::parse_value(limit).is_ok_and(|q| q.is_negative()) {
                        errs.push(FieldError::forbidden(
                            p.child("sizeLimit"),
                            "SizeLimit field must be a valid resource quantity",
                        ));
                    }
                }
            }
            "hostPath" => {
                let hp = str_of(src, "path");
                if hp.is_empty() {
                    errs.push(FieldError::required(p.child("path"), ""));
                } else {
                    no_backsteps(hp, &p.child("path"), errs);
                    let ty = str_of(src, "type");
                    let allowed = [
                        "",
                        "BlockDevice",
                        "CharDevice",
                        "Directory",
                        "DirectoryOrCreate",
                        "File",
                        "FileOrCreate",
                        "Socket",
                    ];
                    if !allowed.contains(&ty) {
                        errs.push(FieldError::not_supported(p.child("type"), ty, &allowed));
                    }
                }
            }
            "gitRepo" => {
                if str_of(src, "repository").is_empty() {
                    errs.push(FieldError::required(p.child("repository"), ""));
                }
                local_descending_path(str_of(src, "directory"), &p.child("directory"), errs);
            }
            "secret" => {
                if str_of(src, "secretName").is_empty() {
                    errs.push(FieldError::required(p.child("secretName"), ""));
                }
                file_mode(src, "defaultMode", &p, errs);
                key_to_paths(src, &p, errs);
            }
            "configMap" => {
                if str_of(src, "name").is_empty() {
                    errs.push(FieldError::required(p.child("name"), ""));
                }
                file_mode(src, "defaultMode", &p, errs);
                key_to_paths(src, &p, errs);
            }
            "nfs" => {
                if str_of(src, "server").is_empty() {
                    errs.push(FieldError::required(p.child("server"), ""));
                }
                let np = str_of(src, "path");
                if np.is_empty() {
                    errs.push(FieldError::required(p.child("path"), ""));
                }
                if !np.starts_with('/') {
                    errs.push(FieldError::invalid(
                        p.child("path"),
                        np,
                        "must be an absolute path",
                    ));
                }
            }
            "persistentVolumeClaim" if str_of(src, "claimName").is_empty() => {
                errs.push(FieldError::required(p.child("claimName"), ""));
            }
            "downwardAPI" => {
                file_mode(src, "defaultMode", &p, errs);
                for item in arr_of(src, "items") {
                    downward_api_file(item, &p, errs);
                }
            }
            "projected" => {
                file_mode(src, "defaultMode", &p, errs);
                projected_sources(src, &p, errs);
            }
            "csi" if str_of(src, "driver").is_empty() => {
                errs.push(FieldError::required(p.child("driver"), ""));
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(FieldError::required(
            path.clone(),
            "must specify a volume type",
        ));
    }
}

fn file_mode(holder: &Value, key: &str, path: &Path, errs: &mut Vec<FieldError>) {
    if let Some(mode) = int_of(holder, key) {
        if !(0..=0o777).contains(&mode) {
            errs.push(FieldError::invalid(path.child(key), mode, FILE_MODE_ERROR));
        }
    }
}

fn key_to_paths(src: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    for (i, item) in arr_of(src, "items").iter().enumerate() {
        key_to_path(item, &path.child("items").index(i), errs);
    }
}

fn key_to_path(item: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    if str_of(item, "key").is_empty() {
        errs.push(FieldError::required(path.child("key"), ""));
    }
    let p = str_of(item, "path");
    if p.is_empty() {
        errs.push(FieldError::required(path.child("path"), ""));
    }
    local_non_reserved_path(p, &path.child("path"), errs);
    file_mode(item, "mode", path, errs);
}

fn downward_api_file(item: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    let p = str_of(item, "path");
    if p.is_empty() {
        errs.push(FieldError::required(path.child("path"), ""));
    }
    local_non_reserved_path(p, &path.child("path"), errs);
    if let Some(fr) = item.get("fieldRef").filter(|f| f.is_object()) {
        object_field_selector(
            fr,
            &[
                "metadata.annotations",
                "metadata.labels",
                "metadata.name",
                "metadata.namespace",
                "metadata.uid",
            ],
            &path.child("fieldRef"),
            errs,
        );
        if has(item, "resourceFieldRef") {
            errs.push(FieldError::invalid(
                path.clone(),
                "resource",
                "fieldRef and resourceFieldRef can not be specified simultaneously",
            ));
        }
    } else if let Some(rf) = item.get("resourceFieldRef").filter(|f| f.is_object()) {
        resource_field_selector(rf, &path.child("resourceFieldRef"), true, errs);
    } else {
        errs.push(FieldError::required(
            path.clone(),
            "one of fieldRef and resourceFieldRef is required",
        ));
    }
    file_mode(item, "mode", path, errs);
}

fn projected_sources(src: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    let mut all_paths = HashSet::new();
    for (i, source) in arr_of(src, "sources").iter().enumerate() {
        let sp = path.child("sources").index(i);
        let mut n = 0;
        for kind in ["secret", "configMap"] {
            if let Some(s) = source.get(kind).filter(|s| s.is_object()) {
                n += 1;
                let kp = sp.child(kind);
                if str_of(s, "name").is_empty() {
                    errs.push(FieldError::required(kp.child("name"), ""));
                }
                for (j, item) in arr_of(s, "items").iter().enumerate() {
                    key_to_path(item, &kp.child("items").index(j), errs);
                    let p = str_of(item, "path");
                    if !p.is_empty() && !all_paths.insert(p.to_string()) {
                        errs.push(FieldError::invalid(
                            path.clone(),
                            str_of(s, "name"),
                            "conflicting duplicate paths",
                        ));
                    }
                }
            }
        }
        if let Some(d) = source.get("downwardAPI").filter(|s| s.is_object()) {
            n += 1;
            for item in arr_of(d, "items") {
                downward_api_file(item, &sp.child("downwardAPI"), errs);
                let p = str_of(item, "path");
                if !p.is_empty() && !all_paths.insert(p.to_string()) {
                    errs.push(FieldError::invalid(
                        path.clone(),
                        p,
                        "conflicting duplicate paths",
                    ));
                }
            }
        }
        if let Some(t) = source.get("serviceAccountToken").filter(|s| s.is_object()) {
            n += 1;
            let tp = sp.child("serviceAccountToken");
            let secs = int_of(t, "expirationSeconds").unwrap_or(0);
            if secs < 600 {
                errs.push(FieldError::invalid(
                    tp.child("expirationSeconds"),
                    secs,
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if secs > 1 << 32 {
                errs.push(FieldError::invalid(
                    tp.child("expirationSeconds"),
                    secs,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
            let p = str_of(t, "path");
            if p.is_empty() {
                errs.push(FieldError::required(path.child("path"), ""));
            } else {
                local_non_reserved_path(p, &path.child("path"), errs);
            }
        }
        if has(source, "clusterTrustBundle") {
            n += 1;
        }
        if n > 1 {
            errs.push(FieldError::forbidden(
                sp,
                "may not specify more than 1 volume type per source",
            ));
        }
    }
}

fn no_backsteps(p: &str, path: &Path, errs: &mut Vec<FieldError>) {
    if p.split(['/', '\\']).any(|part| part == "..") {
        errs.push(FieldError::invalid(
            path.clone(),
            p,
            "must not contain '..'",
        ));
    }
}

fn local_descending_path(p: &str, path: &Path, errs: &mut Vec<FieldError>) {
    if p.starts_with('/') {
        errs.push(FieldError::invalid(
            path.clone(),
            p,
            "must be a relative path",
        ));
    }
    no_backsteps(p, path, errs);
}

fn local_non_reserved_path(p: &str, path: &Path, errs: &mut Vec<FieldError>) {
    local_descending_path(p, path, errs);
    if p.starts_with("..") && !p.starts_with("../") {
        errs.push(FieldError::invalid(
            path.clone(),
            p,
            "must not start with '..'",
        ));
    }
}

fn containers(
    spec: &Value,
    vols: &HashMap<String, &Value>,
    grace: Option<i64>,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let list = arr_of(spec, "containers");
    if list.is_empty() {
        errs.push(FieldError::required(path.clone(), ""));
        return;
    }
    let restart = str_of(spec, "restartPolicy");
    let mut names = HashSet::new();
    for (i, c) in list.iter().enumerate() {
        let p = path.index(i);
        container_common(c, vols, restart, &p, errs);
        let name = str_of(c, "name");
        if !names.insert(name) {
            errs.push(FieldError::duplicate(p.child("name"), name));
        }
        lifecycle_and_probes(c, grace, &p, errs);
        if has(c, "restartPolicy") {
            errs.push(FieldError::forbidden(
                p.child("restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    host_port_conflicts(list, path, errs);
}

fn init_containers(
    spec: &Value,
    vols: &HashMap<String, &Value>,
    grace: Option<i64>,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let restart = str_of(spec, "restartPolicy");
    let mut names: HashSet<&str> = arr_of(spec, "containers")
        .iter()
        .map(|c| str_of(c, "name"))
        .collect();
    for (i, c) in arr_of(spec, "initContainers").iter().enumerate() {
        let p = path.index(i);
        container_common(c, vols, restart, &p, errs);
        let mut sidecar = false;
        if has(c, "restartPolicy") {
            let rp = str_of(c, "restartPolicy");
            if rp == "Always" {
                sidecar = true;
            } else {
                errs.push(FieldError::not_supported(
                    p.child("restartPolicy"),
                    rp,
                    &["Always"],
                ));
            }
        }
        let name = str_of(c, "name");
        if names.contains(name) {
            errs.push(FieldError::duplicate(p.child("name"), name));
        } else if !name.is_empty() {
            names.insert(name);
        }
        host_port_conflicts(std::slice::from_ref(c), path, errs);
        if sidecar {
            lifecycle_and_probes(c, grace, &p, errs);
        } else {
            for key in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if has(c, key) {
                    errs.push(FieldError::forbidden(
                        p.child(key),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
}

fn lifecycle_and_probes(c: &Value, grace: Option<i64>, p: &Path, errs: &mut Vec<FieldError>) {
    if let Some(lc) = c.get("lifecycle").filter(|l| l.is_object()) {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = lc.get(hook).filter(|h| h.is_object()) {
                handler(h, grace, &p.child("lifecycle").child(hook), false, errs);
            }
        }
    }
    for (key, must_succeed_once) in [
        ("livenessProbe", true),
        ("readinessProbe", false),
        ("startupProbe", true),
    ] {
        let Some(probe) = c.get(key).filter(|x| x.is_object()) else {
            continue;
        };
        let pp = p.child(key);
        handler(probe, grace, &pp, true, errs);
        for field in [
            "initialDelaySeconds",
            "timeoutSeconds",
            "periodSeconds",
            "successThreshold",
            "failureThreshold",
        ] {
            nonnegative(probe, field, &pp.child(field), errs);
        }
        if let Some(t) = int_of(probe, "terminationGracePeriodSeconds") {
            if t <= 0 {
                errs.push(FieldError::invalid(
                    pp.child("terminationGracePeriodSeconds"),
                    t,
                    "must be greater than 0",
                ));
            }
        }
        if must_succeed_once {
            let st = int_of(probe, "successThreshold").unwrap_or(0);
            if st != 1 {
                errs.push(FieldError::invalid(
                    pp.child("successThreshold"),
                    st,
                    "must be 1",
                ));
            }
        } else if let Some(t) = int_of(probe, "terminationGracePeriodSeconds") {
            errs.push(FieldError::invalid(
                pp.child("terminationGracePeriodSeconds"),
                t,
                "must not be set for readinessProbes",
            ));
        }
    }
}

/// Exactly one handler: exec, httpGet, tcpSocket, and grpc for probes or sleep for hooks.
fn handler(h: &Value, grace: Option<i64>, path: &Path, is_probe: bool, errs: &mut Vec<FieldError>) {
    let kinds: &[&str] = if is_probe {
        &["exec", "httpGet", "tcpSocket", "grpc"]
    } else {
        &["exec", "httpGet", "tcpSocket", "sleep"]
    };
    let mut n = 0;
    for kind in kinds {
        let Some(action) = h.get(*kind).filter(|a| a.is_object()) else {
            continue;
        };
        let p = path.child(kind);
        if n > 0 {
            errs.push(FieldError::forbidden(
                p,
                "may not specify more than 1 handler type",
            ));
            continue;
        }
        n += 1;
        match *kind {
            "exec" if arr_of(action, "command").is_empty() => {
                errs.push(FieldError::required(p.child("command"), ""));
            }
            "httpGet" => {
                if str_of(action, "path").is_empty() {
                    errs.push(FieldError::required(p.child("path"), ""));
                }
                port_num_or_name(action.get("port"), &p.child("port"), errs);
                let scheme = str_of(action, "scheme");
                if scheme != "HTTP" && scheme != "HTTPS" {
                    errs.push(FieldError::not_supported(
                        p.child("scheme"),
                        scheme,
                        &["HTTP", "HTTPS"],
                    ));
                }
                for header in arr_of(action, "httpHeaders") {
                    let name = str_of(header, "name");
                    for msg in is_http_header_name(name) {
                        errs.push(FieldError::invalid(p.child("httpHeaders"), name, msg));
                    }
                }
            }
            "tcpSocket" => port_num_or_name(action.get("port"), &p.child("port"), errs),
            "grpc" => {
                let port = int_of(action, "port").unwrap_or(0);
                for msg in is_valid_port_num(port) {
                    errs.push(FieldError::invalid(p.child("port"), port, msg));
                }
            }
            "sleep" => {
                let secs = int_of(action, "seconds").unwrap_or(0);
                if let Some(g) = grace {
                    if secs <= 0 || secs > g {
                        errs.push(FieldError::invalid(
                            p,
                            secs,
                            format!("must be greater than 0 and less than terminationGracePeriodSeconds ({g}). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep."),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    if n == 0 {
        errs.push(FieldError::required(
            path.clone(),
            "must specify a handler type",
        ));
    }
}

/// ValidatePortNumOrName for an IntOrString port.
pub(crate) fn port_num_or_name(port: Option<&Value>, path: &Path, errs: &mut Vec<FieldError>) {
    match port {
        Some(Value::String(s)) => {
            for msg in is_valid_port_name(s) {
                errs.push(FieldError::invalid(path.clone(), s.as_str(), msg));
            }
        }
        Some(Value::Number(n)) => {
            let n = n.as_i64().unwrap_or(0);
            for msg in is_valid_port_num(n) {
                errs.push(FieldError::invalid(path.clone(), n, msg));
            }
        }
        _ => {
            for msg in is_valid_port_num(0) {
                errs.push(FieldError::invalid(path.clone(), 0, msg));
            }
        }
    }
}

/// Rules shared by regular, init and ephemeral containers.
fn container_common(
    c: &Value,
    vols: &HashMap<String, &Value>,
    pod_restart_policy: &str,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let name = str_of(c, "name");
    if name.is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    } else {
        for msg in is_dns1123_label(name) {
            errs.push(FieldError::invalid(path.child("name"), name, msg));
        }
    }
    if str_of(c, "image").is_empty() {
        errs.push(FieldError::required(path.child("image"), ""));
    }
    enumeration(
        str_of(c, "terminationMessagePolicy"),
        &path.child("terminationMessagePolicy"),
        &["File", "FallbackToLogsOnError"],
        errs,
    );
    container_ports(arr_of(c, "ports"), &path.child("ports"), errs);
    env(arr_of(c, "env"), &path.child("env"), errs);
    env_from(arr_of(c, "envFrom"), &path.child("envFrom"), errs);
    volume_mounts(c, vols, path, errs);
    enumeration(
        str_of(c, "imagePullPolicy"),
        &path.child("imagePullPolicy"),
        &["Always", "IfNotPresent", "Never"],
        errs,
    );
    resource_requirements(&c["resources"], &path.child("resources"), errs);
    resize_policy(
        arr_of(c, "resizePolicy"),
        &path.child("resizePolicy"),
        pod_restart_policy,
        errs,
    );
    security_context(&c["securityContext"], &path.child("securityContext"), errs);
}

fn container_ports(ports: &[Value], path: &Path, errs: &mut Vec<FieldError>) {
    let mut names = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        let name = str_of(port, "name");
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                for msg in msgs {
                    errs.push(FieldError::invalid(p.child("name"), name, msg));
                }
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(p.child("name"), name));
            }
        }
        let cp = int_of(port, "containerPort").unwrap_or(0);
        if cp == 0 {
            errs.push(FieldError::required(p.child("containerPort"), ""));
        } else {
            for msg in is_valid_port_num(cp) {
                errs.push(FieldError::invalid(p.child("containerPort"), cp, msg));
            }
        }
        let hp = int_of(port, "hostPort").unwrap_or(0);
        if hp != 0 {
            for msg in is_valid_port_num(hp) {
                errs.push(FieldError::invalid(p.child("hostPort"), hp, msg));
            }
        }
        protocol(str_of(port, "protocol"), &p.child("protocol"), errs);
    }
}

/// A port protocol: TCP, UDP or SCTP.
pub(crate) fn protocol(value: &str, path: &Path, errs: &mut Vec<FieldError>) {
    enumeration(value, path, &["SCTP", "TCP", "UDP"], errs);
}

fn host_port_conflicts(containers: &[Value], path: &Path, errs: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    for (ci, c) in containers.iter().enumerate() {
        for (pi, port) in arr_of(c, "ports").iter().enumerate() {
            let hp = int_of(port, "hostPort").unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let key = format!(
                "{}/{}/{}",
                str_of(port, "protocol"),
                str_of(port, "hostIP"),
                hp
            );
            if !seen.insert(key.clone()) {
                errs.push(FieldError::duplicate(
                    path.index(ci).child("ports").index(pi).child("hostPort"),
                    key,
                ));
            }
        }
    }
}

fn host_network_ports(spec: &Value, path: &Path, of: SpecOf, errs: &mut Vec<FieldError>) {
    if !bool_of(spec, "hostNetwork") {
        return;
    }
    for (i, c) in arr_of(spec, "containers").iter().enumerate() {
        for (j, port) in arr_of(c, "ports").iter().enumerate() {
            let hp = int_of(port, "hostPort").unwrap_or(0);
            let cp = int_of(port, "containerPort").unwrap_or(0);
            if (of == SpecOf::Pod || hp != 0) && hp != cp {
                errs.push(FieldError::invalid(
                    path.child("containers")
                        .index(i)
                        .child("ports")
                        .index(j)
                        .child("hostPort"),
                    hp,
                    "must match `containerPort` when `hostNetwork` is true",
                ));
            }
        }
    }
}

fn env(vars: &[Value], path: &Path, errs: &mut Vec<FieldError>) {
    for (i, ev) in vars.iter().enumerate() {
        let p = path.index(i);
        let name = str_of(ev, "name");
        if name.is_empty() {
            errs.push(FieldError::required(p.child("name"), ""));
        } else {
            for msg in is_env_var_name(name) {
                errs.push(FieldError::invalid(p.child("name"), name, msg));
            }
        }
        let Some(from) = ev.get("valueFrom").filter(|f| f.is_object()) else {
            continue;
        };
        let fp = p.child("valueFrom");
        let mut n = 0;
        if let Some(fr) = from.get("fieldRef").filter(|f| f.is_object()) {
            n += 1;
            object_field_selector(
                fr,
                &[
                    "metadata.name",
                    "metadata.namespace",
                    "metadata.uid",
                    "spec.nodeName",
                    "spec.serviceAccountName",
                    "status.hostIP",
                    "status.hostIPs",
                    "status.podIP",
                    "status.podIPs",
                ],
                &fp.child("fieldRef"),
                errs,
            );
        }
        if let Some(rf) = from.get("resourceFieldRef").filter(|f| f.is_object()) {
            n += 1;
            resource_field_selector(rf, &fp.child("resourceFieldRef"), false, errs);
        }
        for kind in ["configMapKeyRef", "secretKeyRef"] {
            if let Some(sel) = from.get(kind).filter(|f| f.is_object()) {
                n += 1;
                let sp = fp.child(kind);
                let n_ = str_of(sel, "name");
                for msg in name_is_dns_subdomain(n_, false) {
                    errs.push(FieldError::invalid(sp.child("name"), n_, msg));
                }
                let key = str_of(sel, "key");
                if key.is_empty() {
                    errs.push(FieldError::required(sp.child("key"), ""));
                } else {
                    for msg in is_config_map_key(key) {
                        errs.push(FieldError::invalid(sp.child("key"), key, msg));
                    }
                }
            }
        }
        if n == 0 {
            errs.push(FieldError::invalid(
                fp,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !str_of(ev, "value").is_empty() {
            errs.push(FieldError::invalid(
                fp,
                "",
                "may not be specified when `value` is not empty",
            ));
        } else if n > 1 {
            errs.push(FieldError::invalid(
                fp,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
}

/// The downward API field labels the v1 conversion understands.
const FIELD_LABELS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

fn object_field_selector(fs: &Value, allowed: &[&str], path: &Path, errs: &mut Vec<FieldError>) {
    let api_version = str_of(fs, "apiVersion");
    if api_version.is_empty() {
        errs.push(FieldError::required(path.child("apiVersion"), ""));
        return;
    }
    let field_path = str_of(fs, "fieldPath");
    if field_path.is_empty() {
        errs.push(FieldError::required(path.child("fieldPath"), ""));
        return;
    }
    if api_version != "v1" {
        errs.push(FieldError::invalid(
            path.child("fieldPath"),
            field_path,
            format!("error converting fieldPath: unsupported pod version: {api_version}"),
        ));
        return;
    }
    // metadata.labels['key'] and metadata.annotations['key'] select one entry.
    if let Some((base, rest)) = field_path.split_once('[') {
        let subscript = rest
            .strip_suffix(']')
            .and_then(|s| s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')));
        match (base, subscript) {
            ("metadata.annotations", Some(key)) => {
                for msg in is_qualified_name(&key.to_lowercase()) {
                    errs.push(FieldError::invalid(path.clone(), key.to_lowercase(), msg));
                }
            }
            ("metadata.labels", Some(key)) => {
                for msg in is_qualified_name(key) {
                    errs.push(FieldError::invalid(path.clone(), key, msg));
                }
            }
            (_, Some(_)) => errs.push(FieldError::invalid(
                path.clone(),
                base,
                "does not support subscript",
            )),
            (_, None) => errs.push(FieldError::invalid(
                path.child("fieldPath"),
                field_path,
                format!("error converting fieldPath: field label not supported: {field_path}"),
            )),
        }
        return;
    }
    if !FIELD_LABELS.contains(&field_path) {
        errs.push(FieldError::invalid(
            path.child("fieldPath"),
            field_path,
            format!("error converting fieldPath: field label not supported: {field_path}"),
        ));
    } else if !allowed.contains(&field_path) {
        errs.push(FieldError::not_supported(
            path.child("fieldPath"),
            field_path,
            allowed,
        ));
    }
}

fn resource_field_selector(fs: &Value, path: &Path, volume: bool, errs: &mut Vec<FieldError>) {
    const ALLOWED: &[&str] = &[
        "limits.cpu",
        "limits.ephemeral-storage",
        "limits.memory",
        "requests.cpu",
        "requests.ephemeral-storage",
        "requests.memory",
    ];
    let resource = str_of(fs, "resource");
    if volume && str_of(fs, "containerName").is_empty() {
        errs.push(FieldError::required(path.child("containerName"), ""));
    } else if resource.is_empty() {
        errs.push(FieldError::required(path.child("resource"), ""));
    } else if !ALLOWED.contains(&resource)
        && !resource.starts_with("requests.hugepages-")
        && !resource.starts_with("limits.hugepages-")
    {
        errs.push(FieldError::not_supported(
            path.child("resource"),
            resource,
            ALLOWED,
        ));
    }
}

fn env_from(sources: &[Value], path: &Path, errs: &mut Vec<FieldError>) {
    for (i, ev) in sources.iter().enumerate() {
        let p = path.index(i);
        let prefix = str_of(ev, "prefix");
        if !prefix.is_empty() {
            for msg in is_env_var_name(prefix) {
                errs.push(FieldError::invalid(p.child("prefix"), prefix, msg));
            }
        }
        let mut n = 0;
        for kind in ["configMapRef", "secretRef"] {
            if let Some(src) = ev.get(kind).filter(|s| s.is_object()) {
                n += 1;
                let name = str_of(src, "name");
                if name.is_empty() {
                    errs.push(FieldError::required(p.child(kind).child("name"), ""));
                } else {
                    for msg in name_is_dns_subdomain(name, true) {
                        errs.push(FieldError::invalid(p.child(kind).child("name"), name, msg));
                    }
                }
            }
        }
        if n == 0 {
            errs.push(FieldError::invalid(
                path.clone(),
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if n > 1 {
            errs.push(FieldError::invalid(
                path.clone(),
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
}

fn volume_mounts(
    c: &Value,
    vols: &HashMap<String, &Value>,
    container: &Path,
    errs: &mut Vec<FieldError>,
) {
    let path = &container.child("volumeMounts");
    let devices: HashMap<&str, &str> = arr_of(c, "volumeDevices")
        .iter()
        .map(|d| (str_of(d, "name"), str_of(d, "devicePath")))
        .collect();
    let privileged = c["securityContext"]
        .get("privileged")
        .and_then(Value::as_bool)
        == Some(true);
    let mut mount_points = HashSet::new();
    for (i, m) in arr_of(c, "volumeMounts").iter().enumerate() {
        let p = path.index(i);
        let name = str_of(m, "name");
        if name.is_empty() {
            errs.push(FieldError::required(p.child("name"), ""));
        }
        if !vols.contains_key(name) {
            errs.push(FieldError::not_found(p.child("name"), name));
        }
        let mount_path = str_of(m, "mountPath");
        if mount_path.is_empty() {
            errs.push(FieldError::required(p.child("mountPath"), ""));
        }
        if !mount_points.insert(mount_path) {
            errs.push(FieldError::invalid(
                p.child("mountPath"),
                mount_path,
                "must be unique",
            ));
        }
        if devices.contains_key(name) {
            errs.push(FieldError::invalid(
                p.child("name"),
                name,
                "must not already exist in volumeDevices",
            ));
        }
        if devices.values().any(|d| *d == mount_path) {
            errs.push(FieldError::invalid(
                p.child("mountPath"),
                mount_path,
                "must not already exist as a path in volumeDevices",
            ));
        }
        let sub_path = str_of(m, "subPath");
        if !sub_path.is_empty() {
            local_descending_path(sub_path, &path.child("subPath"), errs);
        }
        let sub_path_expr = str_of(m, "subPathExpr");
        if !sub_path_expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    p.child("subPathExpr"),
                    sub_path_expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            local_descending_path(sub_path_expr, &path.child("subPathExpr"), errs);
        }
        if let Some(prop) = m.get("mountPropagation").and_then(Value::as_str) {
            let allowed = ["Bidirectional", "HostToContainer", "None"];
            if !allowed.contains(&prop) {
                errs.push(FieldError::not_supported(
                    path.child("mountPropagation"),
                    prop,
                    &allowed,
                ));
            }
            if prop == "Bidirectional" && !privileged {
                errs.push(FieldError::forbidden(
                    path.child("mountPropagation"),
                    "Bidirectional mount propagation is available only to privileged containers",
                ));
            }
        }
        if let Some(rro) = m.get("recursiveReadOnly").and_then(Value::as_str) {
            let rp = path.child("recursiveReadOnly");
            match rro {
                "Disabled" => {}
                "Enabled" | "IfPossible" => {
                    if !bool_of(m, "readOnly") {
                        errs.push(FieldError::forbidden(
                            rp.clone(),
                            "may only be specified when readOnly is true",
                        ));
                    }
                    if m.get("mountPropagation")
                        .and_then(Value::as_str)
                        .is_some_and(|p| p != "None")
                    {
                        errs.push(FieldError::forbidden(
                            rp,
                            "may only be specified when mountPropagation is None or not specified",
                        ));
                    }
                }
                other => errs.push(FieldError::not_supported(
                    rp,
                    other,
                    &["Disabled", "Enabled", "IfPossible"],
                )),
            }
        }
    }
    let mut device_paths = HashSet::new();
    let mut device_names = HashSet::new();
    let mount_names: HashMap<&str, &str> = arr_of(c, "volumeMounts")
        .iter()
        .map(|m| (str_of(m, "name"), str_of(m, "mountPath")))
        .collect();
    let dpath = container.child("volumeDevices");
    for (i, d) in arr_of(c, "volumeDevices").iter().enumerate() {
        let p = dpath.index(i);
        let name = str_of(d, "name");
        let dev_path = str_of(d, "devicePath");
        if name.is_empty() {
            errs.push(FieldError::required(p.child("name"), ""));
        }
        if !device_names.insert(name) {
            errs.push(FieldError::invalid(p.child("name"), name, "must be unique"));
        }
        match vols.get(name) {
            None => errs.push(FieldError::not_found(p.child("name"), name)),
            Some(v) => {
                if !v.is_null() && !has(v, "persistentVolumeClaim") && !has(v, "ephemeral") {
                    errs.push(FieldError::invalid(
                        p.child("name"),
                        name,
                        "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
                    ));
                }
            }
        }
        if dev_path.is_empty() {
            errs.push(FieldError::required(p.child("devicePath"), ""));
        }
        if !device_paths.insert(dev_path) {
            errs.push(FieldError::invalid(
                p.child("devicePath"),
                dev_path,
                "must be unique",
            ));
        }
        if mount_names.contains_key(name) {
            errs.push(FieldError::invalid(
                p.child("name"),
                name,
                "must not already exist in volumeMounts",
            ));
        }
        if mount_names.values().any(|m| *m == dev_path) {
            errs.push(FieldError::invalid(
                p.child("devicePath"),
                dev_path,
                "must not already exist as a path in volumeMounts",
            ));
        }
    }
}

fn resize_policy(
    list: &[Value],
    path: &Path,
    pod_restart_policy: &str,
    errs: &mut Vec<FieldError>,
) {
    let mut seen = HashSet::new();
    for (i, p) in list.iter().enumerate() {
        let name = str_of(p, "resourceName");
        if !seen.insert(name) {
            errs.push(FieldError::duplicate(path.index(i), name));
        }
        match name {
            "cpu" | "memory" => {}
            "" => errs.push(FieldError::required(path.clone(), "")),
            other => errs.push(FieldError::not_supported(
                path.clone(),
                other,
                &["cpu", "memory"],
            )),
        }
        let policy = str_of(p, "restartPolicy");
        match policy {
            "NotRequired" | "RestartContainer" => {}
            "" => errs.push(FieldError::required(path.clone(), "")),
            other => errs.push(FieldError::not_supported(
                path.clone(),
                other,
                &["NotRequired", "RestartContainer"],
            )),
        }
        if pod_restart_policy == "Never" && policy != "NotRequired" {
            errs.push(FieldError::invalid(
                path.clone(),
                policy,
                "must be 'NotRequired' when `restartPolicy` is 'Never'",
            ));
        }
    }
}

/// Resource names valid anywhere: qualified, and standard when unprefixed.
fn is_standard_resource_name(name: &str) -> bool {
    const STANDARD: &[&str] = &[
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "pods",
        "resourcequotas",
        "services",
        "replicationcontrollers",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "storage",
        "requests.storage",
        "services.nodeports",
        "services.loadbalancers",
    ];
    STANDARD.contains(&name)
        || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-")
}

/// Native resources live in no namespace or under `kubernetes.io/`; everything else is an
/// extended resource, which may not be overcommitted and must be whole.
pub(crate) fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

pub(crate) fn is_extended_resource(name: &str) -> bool {
    !is_native_resource(name)
        && !name.starts_with("requests.")
        && is_qualified_name(&format!("requests.{name}")).is_empty()
}

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !is_hugepages(name)
}

/// Resources counted in whole units.
pub(crate) fn is_integer_resource(name: &str) -> bool {
    matches!(
        name,
        "pods"
            | "resourcequotas"
            | "services"
            | "replicationcontrollers"
            | "secrets"
            | "configmaps"
            | "persistentvolumeclaims"
            | "services.nodeports"
            | "services.loadbalancers"
    ) || is_extended_resource(name)
}

/// validateResourceName: returns false when the name is not even a qualified name.
pub(crate) fn resource_name(name: &str, path: &Path, errs: &mut Vec<FieldError>) -> bool {
    let msgs = is_qualified_name(name);
    if !msgs.is_empty() {
        for msg in msgs {
            errs.push(FieldError::invalid(path.clone(), name, msg));
        }
        return false;
    }
    if !name.contains('/') && !is_standard_resource_name(name) {
        errs.push(FieldError::invalid(
            path.clone(),
            name,
            "must be a standard resource type or fully qualified",
        ));
    }
    true
}

pub(crate) fn container_resource_name(name: &str, path: &Path, errs: &mut Vec<FieldError>) {
    resource_name(name, path, errs);
    if !name.contains('/') {
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !is_hugepages(name) {
            errs.push(FieldError::invalid(
                path.clone(),
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native_resource(name) && !is_extended_resource(name) {
        errs.push(FieldError::invalid(
            path.clone(),
            name,
            "doesn't follow extended resource name standard",
        ));
    }
}

/// ValidateResourceQuantityValue: not negative, and whole for integer resources.
pub(crate) fn quantity_value(
    name: &str,
    q: &Value,
    path: &Path,
    errs: &mut Vec<FieldError>,
) -> Option<Quantity> {
    let parsed = quantity::parse_value(q).ok()?;
    if parsed.is_negative() {
        errs.push(FieldError::invalid(
            path.clone(),
            quantity::display(q),
            IS_NEGATIVE,
        ));
    }
    if is_integer_resource(name) && !parsed.is_integer() {
        errs.push(
            FieldError::invalid(path.clone(), quantity::display(q), "must be an integer")
                .with_repr(quantity::display(q)),
        );
    }
    Some(parsed)
}

/// Container resource requirements: names, quantities, and requests within limits.
fn resource_requirements(res: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let limits = obj_of(res, "limits");
    let mut lim_cpu_mem = false;
    let mut req_cpu_mem = false;
    let mut huge = false;
    for (name, q) in limits.into_iter().flatten() {
        let p = lim_path.key(name);
        container_resource_name(name, &p, errs);
        quantity_value(name, q, &p, errs);
        huge |= is_hugepages(name);
        lim_cpu_mem |= name == "cpu" || name == "memory";
    }
    for (name, q) in obj_of(res, "requests").into_iter().flatten() {
        let p = req_path.key(name);
        container_resource_name(name, &p, errs);
        let request = quantity_value(name, q, &p, errs);
        match limits.and_then(|l| l.get(name)) {
            Some(limit_value) => {
                let limit = quantity::parse_value(limit_value).ok();
                if let (Some(request), Some(limit)) = (request, limit) {
                    if !overcommit_allowed(name) && request != limit {
                        errs.push(FieldError::invalid(
                            req_path.clone(),
                            quantity::display(q),
                            format!(
                                "must be equal to {name} limit of {}",
                                quantity::display(limit_value)
                            ),
                        ));
                    } else if request > limit {
                        errs.push(FieldError::invalid(
                            req_path.clone(),
                            quantity::display(q),
                            format!(
                                "must be less than or equal to {name} limit of {}",
                                quantity::display(limit_value)
                            ),
                        ));
                    }
                }
            }
            None => {
                if !overcommit_allowed(name) {
                    errs.push(FieldError::required(
                        lim_path.clone(),
                        "Limit must be set for non overcommitable resources",
                    ));
                }
            }
        }
        huge |= is_hugepages(name);
        req_cpu_mem |= name == "cpu" || name == "memory";
    }
    if huge && !lim_cpu_mem && !req_cpu_mem {
        errs.push(FieldError::forbidden(
            path.clone(),
            "HugePages require cpu or memory",
        ));
    }
}

fn id_range(holder: &Value, key: &str, path: &Path, errs: &mut Vec<FieldError>) {
    if let Some(id) = int_of(holder, key) {
        if !(0..=0xffff_ffff).contains(&id) {
            errs.push(FieldError::invalid(
                path.child(key),
                id,
                inclusive_range_error(0, 0xffff_ffff),
            ));
        }
    }
}

fn seccomp_profile(sp: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    if !sp.is_object() {
        return;
    }
    let ty = str_of(sp, "type");
    match ty {
        "Localhost" => match sp.get("localhostProfile").and_then(Value::as_str) {
            None => errs.push(FieldError::required(
                path.child("localhostProfile"),
                "must be set when seccomp type is Localhost",
            )),
            Some(p) => local_descending_path(p, &path.child("localhostProfile"), errs),
        },
        "RuntimeDefault" | "Unconfined" => {
            if has(sp, "localhostProfile") {
                errs.push(FieldError::invalid(
                    path.child("localhostProfile"),
                    sp.clone(),
                    "can only be set when seccomp type is Localhost",
                ));
            }
        }
        "" => errs.push(FieldError::required(
            path.child("type"),
            "type is required when seccompProfile is set",
        )),
        other => errs.push(FieldError::not_supported(
            path.child("type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
}

fn pod_security_context(sc: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    if !sc.is_object() {
        return;
    }
    id_range(sc, "fsGroup", path, errs);
    id_range(sc, "runAsUser", path, errs);
    id_range(sc, "runAsGroup", path, errs);
    for (i, g) in arr_of(sc, "supplementalGroups").iter().enumerate() {
        let g = g.as_i64().unwrap_or(0);
        if !(0..=0xffff_ffff).contains(&g) {
            errs.push(FieldError::invalid(
                path.child("supplementalGroups").index(i),
                g,
                inclusive_range_error(0, 0xffff_ffff),
            ));
        }
    }
    let mut sysctls = HashSet::new();
    for (i, s) in arr_of(sc, "sysctls").iter().enumerate() {
        let name = str_of(s, "name");
        let p = path.child("sysctls").index(i).child("name");
        let segment_ok = |seg: &str| {
            !seg.is_empty()
                && seg
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && seg
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && seg
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        };
        if name.is_empty() {
            errs.push(FieldError::required(p, ""));
        } else if name.len() > 253 || !name.split(['.', '/']).all(segment_ok) {
            errs.push(FieldError::invalid(
                p,
                name,
                "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$",
            ));
        } else if !sysctls.insert(name) {
            errs.push(FieldError::duplicate(p, name));
        }
    }
    if let Some(policy) = sc.get("fsGroupChangePolicy").and_then(Value::as_str) {
        if policy != "OnRootMismatch" && policy != "Always" {
            errs.push(FieldError::not_supported(
                path.child("fsGroupChangePolicy"),
                policy,
                &["Always", "OnRootMismatch"],
            ));
        }
    }
    seccomp_profile(&sc["seccompProfile"], &path.child("seccompProfile"), errs);
    if let Some(policy) = sc.get("supplementalGroupsPolicy").and_then(Value::as_str) {
        if policy != "Merge" && policy != "Strict" {
            errs.push(FieldError::not_supported(
                path.child("supplementalGroupsPolicy"),
                policy,
                &["Merge", "Strict"],
            ));
        }
    }
}

fn security_context(sc: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    if !sc.is_object() {
        return;
    }
    id_range(sc, "runAsUser", path, errs);
    id_range(sc, "runAsGroup", path, errs);
    if let Some(pm) = sc.get("procMount").and_then(Value::as_str) {
        if pm != "Default" && pm != "Unmasked" {
            errs.push(FieldError::not_supported(
                path.child("procMount"),
                pm,
                &["Default", "Unmasked"],
            ));
        }
    }
    seccomp_profile(&sc["seccompProfile"], &path.child("seccompProfile"), errs);
    if sc.get("allowPrivilegeEscalation").and_then(Value::as_bool) == Some(false) {
        if sc.get("privileged").and_then(Value::as_bool) == Some(true) {
            errs.push(FieldError::invalid(
                path.clone(),
                sc.clone(),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        if arr_of(&sc["capabilities"], "add")
            .iter()
            .any(|c| c.as_str() == Some("CAP_SYS_ADMIN"))
        {
            errs.push(FieldError::invalid(
                path.clone(),
                sc.clone(),
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
}

/// ValidateTolerations.
pub(crate) fn tolerations(list: &[Value], path: &Path, errs: &mut Vec<FieldError>) {
    for (i, t) in list.iter().enumerate() {
        let p = path.index(i);
        let key = str_of(t, "key");
        if !key.is_empty() {
            for msg in is_qualified_name(key) {
                errs.push(FieldError::invalid(p.child("key"), key, msg));
            }
        }
        let op = str_of(t, "operator");
        let effect = str_of(t, "effect");
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                p.child("operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if has(t, "tolerationSeconds") && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                p.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        let value = str_of(t, "value");
        match op {
            "Equal" | "" => {
                let msgs = is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        p.child("operator"),
                        value,
                        msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        p.child("operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                p.child("operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute")
        {
            errs.push(FieldError::not_supported(
                p.child("effect"),
                effect,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
}

fn dns_config(spec: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    let config = spec.get("dnsConfig").filter(|c| c.is_object());
    if str_of(spec, "dnsPolicy") == "None" {
        let Some(config) = config else {
            errs.push(FieldError::required(
                path.clone(),
                "must provide `dnsConfig` when `dnsPolicy` is None",
            ));
            return;
        };
        if arr_of(config, "nameservers").is_empty() {
            errs.push(FieldError::required(
                path.child("nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            ));
            return;
        }
    }
    let Some(config) = config else {
        return;
    };
    let nameservers = arr_of(config, "nameservers");
    if nameservers.len() > 3 {
        errs.push(FieldError::invalid(
            path.child("nameservers"),
            Value::Array(nameservers.to_vec()),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, ns) in nameservers.iter().enumerate() {
        ip(
            ns.as_str().unwrap_or(""),
            &path.child("nameservers").index(i),
            errs,
        );
    }
    let searches = arr_of(config, "searches");
    if searches.len() > 32 {
        errs.push(FieldError::invalid(
            path.child("searches"),
            Value::Array(searches.to_vec()),
            "must not have more than 32 search paths",
        ));
    }
    let total: usize = searches
        .iter()
        .map(|s| s.as_str().map_or(0, str::len))
        .sum::<usize>()
        + searches.len().saturating_sub(1);
    if total > 2048 {
        errs.push(FieldError::invalid(
            path.child("searches"),
            Value::Array(searches.to_vec()),
            "must not have more than 2048 characters (including spaces) in the search list",
        ));
    }
    for (i, s) in searches.iter().enumerate() {
        let s = s.as_str().unwrap_or("");
        let trimmed = s.strip_suffix('.').unwrap_or(s);
        for msg in is_dns1123_subdomain(trimmed) {
            errs.push(FieldError::invalid(
                path.child("searches").index(i),
                trimmed,
                msg,
            ));
        }
    }
    for (i, o) in arr_of(config, "options").iter().enumerate() {
        if str_of(o, "name").is_empty() {
            errs.push(FieldError::required(
                path.child("options").index(i),
                "must not be empty",
            ));
        }
    }
}

fn topology_spread(list: &[Value], path: &Path, errs: &mut Vec<FieldError>) {
    for (i, c) in list.iter().enumerate() {
        let p = path.index(i);
        let skew = int_of(c, "maxSkew").unwrap_or(0);
        if skew <= 0 {
            errs.push(FieldError::invalid(
                p.child("maxSkew"),
                skew,
                "must be greater than zero",
            ));
        }
        let key = str_of(c, "topologyKey");
        if key.is_empty() {
            errs.push(FieldError::required(
                p.child("topologyKey"),
                "can not be empty",
            ));
        } else {
            for msg in is_qualified_name(key) {
                errs.push(FieldError::invalid(p.child("topologyKey"), key, msg));
            }
        }
        let when = str_of(c, "whenUnsatisfiable");
        if when != "DoNotSchedule" && when != "ScheduleAnyway" {
            errs.push(FieldError::not_supported(
                p.child("whenUnsatisfiable"),
                when,
                &["DoNotSchedule", "ScheduleAnyway"],
            ));
        }
        let repeated = list[i + 1..]
            .iter()
            .any(|o| str_of(o, "topologyKey") == key && str_of(o, "whenUnsatisfiable") == when);
        if repeated {
            errs.push(FieldError::duplicate(p, format!("{{{key}, {when}}}")));
        }
    }
}

fn node_selector_requirement(req: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    let values = arr_of(req, "values");
    match str_of(req, "operator") {
        "In" | "NotIn" => {
            if values.is_empty() {
                errs.push(FieldError::required(
                    path.child("values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                errs.push(FieldError::forbidden(
                    path.child("values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
        }
        "Gt" | "Lt" => {
            if values.len() != 1 {
                errs.push(FieldError::required(
                    path.child("values"),
                    "must be specified single value when `operator` is 'Lt' or 'Gt'",
                ));
            }
        }
        other => errs.push(FieldError::invalid(
            path.child("operator"),
            other,
            "not a valid selector operator",
        )),
    }
    let key = str_of(req, "key");
    for msg in is_qualified_name(key) {
        errs.push(FieldError::invalid(path.child("key"), key, msg));
    }
}

fn node_selector_term(term: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    for (j, req) in arr_of(term, "matchExpressions").iter().enumerate() {
        node_selector_requirement(req, &path.child("matchExpressions").index(j), errs);
    }
}

fn pod_affinity_term(term: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    if let Some(sel) = term.get("labelSelector").filter(|s| s.is_object()) {
        super::label_selector(sel, &path.child("labelSelector"), errs);
    }
    for ns in arr_of(term, "namespaces") {
        let ns = ns.as_str().unwrap_or("");
        for msg in is_dns1123_label(ns) {
            errs.push(FieldError::invalid(path.child("namespace"), ns, msg));
        }
    }
    let key = str_of(term, "topologyKey");
    if key.is_empty() {
        errs.push(FieldError::required(
            path.child("topologyKey"),
            "can not be empty",
        ));
    }
    for msg in is_qualified_name(key) {
        errs.push(FieldError::invalid(path.child("topologyKey"), key, msg));
    }
}

fn affinity(aff: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    if !aff.is_object() {
        return;
    }
    if let Some(na) = aff.get("nodeAffinity").filter(|n| n.is_object()) {
        let np = path.child("nodeAffinity");
        if let Some(req) = na
            .get("requiredDuringSchedulingIgnoredDuringExecution")
            .filter(|r| r.is_object())
        {
            let rp = np
                .child("requiredDuringSchedulingIgnoredDuringExecution")
                .child("nodeSelectorTerms");
            let terms = arr_of(req, "nodeSelectorTerms");
            if terms.is_empty() {
                errs.push(FieldError::required(
                    rp,
                    "must have at least one node selector term",
                ));
            } else {
                for (i, t) in terms.iter().enumerate() {
                    node_selector_term(t, &rp.index(i), errs);
                }
            }
        }
        for (i, t) in arr_of(na, "preferredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            let tp = np
                .child("preferredDuringSchedulingIgnoredDuringExecution")
                .index(i);
            let w = int_of(t, "weight").unwrap_or(0);
            if !(1..=100).contains(&w) {
                errs.push(FieldError::invalid(
                    tp.child("weight"),
                    w,
                    "must be in the range 1-100",
                ));
            }
            node_selector_term(&t["preference"], &tp.child("preference"), errs);
        }
    }
    for kind in ["podAffinity", "podAntiAffinity"] {
        let Some(pa) = aff.get(kind).filter(|p| p.is_object()) else {
            continue;
        };
        let pp = path.child(kind);
        for (i, t) in arr_of(pa, "requiredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            pod_affinity_term(
                t,
                &pp.child("requiredDuringSchedulingIgnoredDuringExecution")
                    .index(i),
                errs,
            );
        }
        for (i, t) in arr_of(pa, "preferredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            let tp = pp
                .child("preferredDuringSchedulingIgnoredDuringExecution")
                .index(i);
            let w = int_of(t, "weight").unwrap_or(0);
            if !(1..=100).contains(&w) {
                errs.push(FieldError::invalid(
                    tp.child("weight"),
                    w,
                    "must be in the range 1-100",
                ));
            }
            pod_affinity_term(&t["podAffinityTerm"], &tp.child("podAffinityTerm"), errs);
        }
    }
}
