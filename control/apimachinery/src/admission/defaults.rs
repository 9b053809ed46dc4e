//! Kubernetes v1.32 defaulting, plus the mutations of the admission plugins and create
//! strategies this server stands in for.
//!
//! Everything here works on the normalized JSON that [`super::decode`] produces and only ever
//! fills values that are absent (or empty, as Go's zero values are), so applying it twice, or to
//! an object read back from storage, changes nothing. That is what lets one function serve
//! creates and updates alike.
//!
//! Besides the scheme defaults of `pkg/apis/*/v1/defaults.go` this covers, for Pods: the
//! ServiceAccount plugin (`serviceAccountName: default`), the Priority plugin (priority and
//! preemptionPolicy for pods without a custom class), DefaultTolerationSeconds (the not-ready and
//! unreachable NoExecute tolerations for 300s) and the create strategy's initial status (phase
//! Pending and the QoS class); for Namespaces the `kubernetes` finalizer; for Secrets the merge of
//! `stringData` into `data`. Pod templates inside workloads get the pod spec defaults only.
//! Allocating a Service's cluster IP and node ports and a Job's selector are the server's steps;
//! [`preserve_service_allocations`] and [`generate_job_selector`] help with those.

use serde_json::{json, Map, Value};

use super::json::{
    arr_of, base64_encode, bool_of, child_obj, each_mut, has, int_of, obj_of, set_default, str_of,
};
use super::quantity;
use crate::resources::Resource;

/// Taint the node lifecycle controller puts on nodes that are not ready.
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
/// Taint the node lifecycle controller puts on nodes it cannot reach.
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";
/// How long pods tolerate those taints unless they say otherwise.
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// Job labels the server puts on a Job's pods and selector.
pub const JOB_CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
pub const LEGACY_JOB_CONTROLLER_UID_LABEL: &str = "controller-uid";
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";

/// Applies Kubernetes' defaults (and the admission mutations listed in the module doc) to an
/// object of `resource`'s kind, in place. Unknown kinds are left alone.
pub fn apply_defaults(resource: &Resource, obj: &mut Value) {
    if !obj.is_object() {
        return;
    }
    match (resource.group, resource.kind) {
        ("", "Namespace") => namespace(obj),
        ("", "Pod") => pod(obj),
        ("", "Service") => service(obj),
        ("", "Endpoints") => endpoints(obj),
        ("", "Secret") => secret(obj),
        ("", "Node") => node(obj),
        ("", "ReplicationController") => replication_controller(obj),
        ("", "LimitRange") => limit_range(obj),
        ("apps", "Deployment") => deployment(obj),
        ("apps", "ReplicaSet") => replica_set(obj),
        ("apps", "StatefulSet") => stateful_set(obj),
        ("apps", "DaemonSet") => daemon_set(obj),
        ("batch", "Job") => job(obj),
        ("batch", "CronJob") => cron_job(obj),
        ("discovery.k8s.io", "EndpointSlice") => endpoint_slice(obj),
        _ => {}
    }
}

fn namespace(obj: &mut Value) {
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    if !name.is_empty() {
        // The name label lets namespace selectors pick namespaces by name.
        let labels = child_obj(child_obj(obj, "metadata"), "labels");
        labels["kubernetes.io/metadata.name"] = Value::String(name);
    }
    let spec = child_obj(obj, "spec");
    if !has(spec, "finalizers") {
        spec["finalizers"] = json!(["kubernetes"]);
    }
    set_default(child_obj(obj, "status"), "phase", json!("Active"));
}

fn pod(obj: &mut Value) {
    let spec = child_obj(obj, "spec");
    pod_spec(spec);
    // Pod-only scheme defaults.
    if !has(spec, "enableServiceLinks") {
        spec["enableServiceLinks"] = json!(true);
    }
    for list in ["containers", "initContainers"] {
        for c in each_mut(spec, list) {
            requests_from_limits(c);
        }
    }
    if bool_of(spec, "hostNetwork") {
        for list in ["containers", "initContainers"] {
            for c in each_mut(spec, list) {
                for p in each_mut(c, "ports") {
                    if int_of(p, "hostPort").unwrap_or(0) == 0 {
                        if let Some(cp) = int_of(p, "containerPort") {
                            p["hostPort"] = json!(cp);
                        }
                    }
                }
            }
        }
    }
    // ServiceAccount admission.
    if str_of(spec, "serviceAccountName").is_empty() {
        spec["serviceAccountName"] = json!("default");
    }
    let sa = str_of(spec, "serviceAccountName").to_string();
    spec["serviceAccount"] = json!(sa);
    // Priority admission: only the built-in classes can be resolved here.
    let priority = match str_of(spec, "priorityClassName") {
        "" => Some(0),
        "system-node-critical" => Some(2_000_001_000),
        "system-cluster-critical" => Some(2_000_000_000),
        _ => None,
    };
    if let Some(p) = priority {
        if !has(spec, "priority") {
            spec["priority"] = json!(p);
        }
        set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    }
    default_tolerations(spec);
    // Create strategy: a new pod starts Pending with its QoS class computed.
    let qos = pod_qos_class(spec);
    let status = child_obj(obj, "status");
    set_default(status, "phase", json!("Pending"));
    set_default(status, "qosClass", json!(qos));
}

/// DefaultTolerationSeconds admission: pods that do not already tolerate the not-ready and
/// unreachable NoExecute taints get 300-second tolerations for them.
fn default_tolerations(spec: &mut Value) {
    let mut tolerates_not_ready = false;
    let mut tolerates_unreachable = false;
    for t in arr_of(spec, "tolerations") {
        let key = str_of(t, "key");
        let effect = str_of(t, "effect");
        let effect_ok = effect.is_empty() || effect == "NoExecute";
        if effect_ok && (key.is_empty() || key == NOT_READY_TAINT) {
            tolerates_not_ready = true;
        }
        if effect_ok && (key.is_empty() || key == UNREACHABLE_TAINT) {
            tolerates_unreachable = true;
        }
    }
    let mut add = Vec::new();
    if !tolerates_not_ready {
        add.push(NOT_READY_TAINT);
    }
    if !tolerates_unreachable {
        add.push(UNREACHABLE_TAINT);
    }
    if add.is_empty() {
        return;
    }
    if !spec.get("tolerations").is_some_and(Value::is_array) {
        spec["tolerations"] = json!([]);
    }
    let list = spec["tolerations"]
        .as_array_mut()
        .expect("just made an array");
    for key in add {
        list.push(json!({
            "key": key,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
        }));
    }
}

/// For pods (not templates), requests left out default to the limits.
fn requests_from_limits(container: &mut Value) {
    let Some(limits) = container["resources"]
        .get("limits")
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    let resources = child_obj(container, "resources");
    let requests = child_obj(resources, "requests");
    for (k, v) in limits {
        if !has(requests, &k) {
            requests[k.as_str()] = v;
        }
    }
}

/// The QoS class of a pod spec (`Guaranteed`, `Burstable` or `BestEffort`), from the cpu and
/// memory requests and limits of all its containers.
pub fn pod_qos_class(spec: &Value) -> &'static str {
    let mut sum_req: Vec<(String, i128)> = Vec::new();
    let mut sum_lim: Vec<(String, i128)> = Vec::new();
    let mut guaranteed = true;
    let add = |acc: &mut Vec<(String, i128)>, name: &str, n: i128| match acc
        .iter_mut()
        .find(|(k, _)| k == name)
    {
        Some((_, total)) => *total = total.saturating_add(n),
        None => acc.push((name.to_string(), n)),
    };
    let containers = arr_of(spec, "containers")
        .iter()
        .chain(arr_of(spec, "initContainers"));
    for c in containers {
        let res = c.get("resources").cloned().unwrap_or(Value::Null);
        for (name, q) in obj_of(&res, "requests").into_iter().flatten() {
            if name != "cpu" && name != "memory" {
                continue;
            }
            if let Ok(q) = quantity::parse_value(q) {
                if q.nanos > 0 {
                    add(&mut sum_req, name, q.nanos);
                }
            }
        }
        let mut found = (false, false);
        for (name, q) in obj_of(&res, "limits").into_iter().flatten() {
            if name != "cpu" && name != "memory" {
                continue;
            }
            if let Ok(q) = quantity::parse_value(q) {
                if q.nanos > 0 {
                    add(&mut sum_lim, name, q.nanos);
                    if name == "cpu" {
                        found.0 = true;
                    } else {
                        found.1 = true;
                    }
                }
            }
        }
        if !(found.0 && found.1) {
            guaranteed = false;
        }
    }
    if sum_req.is_empty() && sum_lim.is_empty() {
        return "BestEffort";
    }
    if guaranteed {
        for (name, req) in &sum_req {
            match sum_lim.iter().find(|(k, _)| k == name) {
                Some((_, lim)) if lim == req => {}
                _ => {
                    guaranteed = false;
                    break;
                }
            }
        }
    }
    if guaranteed && sum_req.len() == sum_lim.len() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Defaults of a pod spec, shared by Pods and every pod template.
fn pod_spec(spec: &mut Value) {
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "restartPolicy", json!("Always"));
    if !has(spec, "terminationGracePeriodSeconds") {
        spec["terminationGracePeriodSeconds"] = json!(30);
    }
    if !has(spec, "securityContext") {
        spec["securityContext"] = json!({});
    }
    set_default(spec, "schedulerName", json!("default-scheduler"));
    // The deprecated serviceAccount field mirrors serviceAccountName, in both directions.
    if str_of(spec, "serviceAccountName").is_empty() && !str_of(spec, "serviceAccount").is_empty() {
        let sa = str_of(spec, "serviceAccount").to_string();
        spec["serviceAccountName"] = json!(sa);
    }
    if !str_of(spec, "serviceAccountName").is_empty() {
        let sa = str_of(spec, "serviceAccountName").to_string();
        spec["serviceAccount"] = json!(sa);
    }
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for c in each_mut(spec, list) {
            container(c);
        }
    }
    for v in each_mut(spec, "volumes") {
        volume(v);
    }
}

const VOLUME_SOURCES: &[&str] = &[
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "gitRepo",
    "glusterfs",
    "hostPath",
    "image",
    "iscsi",
    "nfs",
    "persistentVolumeClaim",
    "photonPersistentDisk",
    "portworxVolume",
    "projected",
    "quobyte",
    "rbd",
    "scaleIO",
    "secret",
    "storageos",
    "vsphereVolume",
];

/// The volume source keys a volume may use (exactly one of them).
pub(crate) fn volume_sources() -> &'static [&'static str] {
    VOLUME_SOURCES
}

fn volume(v: &mut Value) {
    if !VOLUME_SOURCES.iter().any(|k| has(v, k)) {
        v["emptyDir"] = json!({});
    }
    for key in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(src) = v.get_mut(key).filter(|s| s.is_object()) {
            if !has(src, "defaultMode") {
                src["defaultMode"] = json!(420);
            }
        }
    }
    if let Some(hp) = v.get_mut("hostPath").filter(|s| s.is_object()) {
        if !has(hp, "type") {
            hp["type"] = json!("");
        }
    }
    if let Some(dapi) = v.get_mut("downwardAPI") {
        for item in each_mut(dapi, "items") {
            field_ref_version(item);
        }
    }
    if let Some(projected) = v.get_mut("projected") {
        for source in each_mut(projected, "sources") {
            if let Some(token) = source
                .get_mut("serviceAccountToken")
                .filter(|t| t.is_object())
            {
                if !has(token, "expirationSeconds") {
                    token["expirationSeconds"] = json!(3600);
                }
            }
            if let Some(dapi) = source.get_mut("downwardAPI") {
                for item in each_mut(dapi, "items") {
                    field_ref_version(item);
                }
            }
        }
    }
    if let Some(spec) = v
        .get_mut("ephemeral")
        .and_then(|e| e.get_mut("volumeClaimTemplate"))
        .and_then(|t| t.get_mut("spec"))
        .filter(|s| s.is_object())
    {
        set_default(spec, "volumeMode", json!("Filesystem"));
    }
}

fn field_ref_version(holder: &mut Value) {
    if let Some(fr) = holder.get_mut("fieldRef").filter(|f| f.is_object()) {
        set_default(fr, "apiVersion", json!("v1"));
    }
}

/// Container defaults: pull policy from the image tag, termination message, ports, probes.
fn container(c: &mut Value) {
    if str_of(c, "imagePullPolicy").is_empty() {
        let policy = if image_tag_is_latest(str_of(c, "image")) {
            "Always"
        } else {
            "IfNotPresent"
        };
        c["imagePullPolicy"] = json!(policy);
    }
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    if !has(c, "resources") {
        c["resources"] = json!({});
    }
    for p in each_mut(c, "ports") {
        set_default(p, "protocol", json!("TCP"));
    }
    for e in each_mut(c, "env") {
        if let Some(vf) = e.get_mut("valueFrom") {
            field_ref_version(vf);
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).filter(|p| p.is_object()) {
            for (key, default) in [
                ("timeoutSeconds", 1),
                ("periodSeconds", 10),
                ("successThreshold", 1),
                ("failureThreshold", 3),
            ] {
                if int_of(p, key).unwrap_or(0) == 0 {
                    p[key] = json!(default);
                }
            }
            handler(p);
        }
    }
    if let Some(lc) = c.get_mut("lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = lc.get_mut(hook).filter(|h| h.is_object()) {
                handler(h);
            }
        }
    }
}

fn handler(h: &mut Value) {
    if let Some(get) = h.get_mut("httpGet").filter(|g| g.is_object()) {
        set_default(get, "path", json!("/"));
        set_default(get, "scheme", json!("HTTP"));
    }
    if let Some(grpc) = h.get_mut("grpc").filter(|g| g.is_object()) {
        if !has(grpc, "service") {
            grpc["service"] = json!("");
        }
    }
}

/// Whether an image reference carries the `latest` tag, explicitly or by having neither tag nor
/// digest (`nginx`, `nginx:latest`, `localhost:5000/app`).
fn image_tag_is_latest(image: &str) -> bool {
    if image.contains('@') {
        // Digests pin the image; a tag next to a digest is informational.
        let before = image.split('@').next().unwrap_or("");
        return tag_of(before) == Some("latest");
    }
    match tag_of(image) {
        None => true,
        Some(tag) => tag == "latest",
    }
}

fn tag_of(reference: &str) -> Option<&str> {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    last.split_once(':').map(|(_, tag)| tag)
}

fn pod_template(template: &mut Value) {
    if let Some(t) = template.as_object_mut() {
        let spec = t.entry("spec").or_insert_with(|| Value::Object(Map::new()));
        if !spec.is_object() {
            *spec = Value::Object(Map::new());
        }
        pod_spec(spec);
    }
}

fn service(obj: &mut Value) {
    let spec = child_obj(obj, "spec");
    set_default(spec, "sessionAffinity", json!("None"));
    match str_of(spec, "sessionAffinity") {
        "None" => {
            if let Some(map) = spec.as_object_mut() {
                map.remove("sessionAffinityConfig");
            }
        }
        "ClientIP" => {
            let has_timeout = spec["sessionAffinityConfig"]["clientIP"]
                .get("timeoutSeconds")
                .is_some_and(|t| !t.is_null());
            if !has_timeout {
                spec["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": 10800}});
            }
        }
        _ => {}
    }
    set_default(spec, "type", json!("ClusterIP"));
    for p in each_mut(spec, "ports") {
        set_default(p, "protocol", json!("TCP"));
        let unset = match p.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        };
        if unset {
            if let Some(port) = p.get("port").cloned() {
                p["targetPort"] = port;
            }
        }
    }
    let ty = str_of(spec, "type").to_string();
    let external_ips = !arr_of(spec, "externalIPs").is_empty();
    let externally_accessible =
        ty == "LoadBalancer" || ty == "NodePort" || (ty == "ClusterIP" && external_ips);
    if externally_accessible {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if matches!(ty.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer")
        && !has(spec, "internalTrafficPolicy")
    {
        spec["internalTrafficPolicy"] = json!("Cluster");
    }
    if ty == "LoadBalancer" && !has(spec, "allocateLoadBalancerNodePorts") {
        spec["allocateLoadBalancerNodePorts"] = json!(true);
    }
    // What the IP allocator records once a cluster IP (or None) is set: a single-stack family
    // matching the address.
    let cluster_ip = str_of(spec, "clusterIP").to_string();
    if ty != "ExternalName" && !cluster_ip.is_empty() {
        if arr_of(spec, "clusterIPs").is_empty() {
            spec["clusterIPs"] = json!([cluster_ip.clone()]);
        }
        set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
        if arr_of(spec, "ipFamilies").is_empty() {
            let family = if cluster_ip.contains(':') {
                "IPv6"
            } else {
                "IPv4"
            };
            spec["ipFamilies"] = json!([family]);
        }
    }
    let status = child_obj(obj, "status");
    if !has(status, "loadBalancer") {
        status["loadBalancer"] = json!({});
    }
}

/// Carries a Service's allocated cluster IPs, node ports and health check node port over from
/// the stored object when an update leaves them out, as Kubernetes' Service REST update does
/// (so `kubectl replace` of a manifest without `clusterIP` works).
pub fn preserve_service_allocations(obj: &mut Value, old: &Value) {
    let old_spec = old.get("spec").cloned().unwrap_or(Value::Null);
    let spec = child_obj(obj, "spec");
    let needs_cluster_ip = |s: &Value| str_of(s, "type") != "ExternalName";
    let needs_node_port = |s: &Value| {
        let ty = str_of(s, "type");
        ty == "NodePort"
            || (ty == "LoadBalancer"
                && s.get("allocateLoadBalancerNodePorts")
                    .and_then(Value::as_bool)
                    .unwrap_or(true))
    };
    if needs_cluster_ip(&old_spec) && needs_cluster_ip(spec) {
        for key in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            let missing = match spec.get(key) {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                Some(Value::Array(a)) => a.is_empty(),
                _ => false,
            };
            if missing && has(&old_spec, key) {
                spec[key] = old_spec[key].clone();
            }
        }
    }
    if needs_node_port(&old_spec) && needs_node_port(spec) {
        let old_ports = arr_of(&old_spec, "ports").to_vec();
        for p in each_mut(spec, "ports") {
            if int_of(p, "nodePort").unwrap_or(0) != 0 {
                continue;
            }
            let same = |o: &&Value| {
                int_of(o, "port") == int_of(p, "port")
                    && str_of(o, "protocol") == str_of(p, "protocol")
            };
            let by_name = |o: &&Value| {
                !str_of(p, "name").is_empty() && str_of(o, "name") == str_of(p, "name")
            };
            let found = old_ports
                .iter()
                .find(same)
                .or_else(|| old_ports.iter().find(by_name));
            if let Some(np) = found
                .and_then(|o| int_of(o, "nodePort"))
                .filter(|n| *n != 0)
            {
                p["nodePort"] = json!(np);
            }
        }
    }
    let needs_hc = |s: &Value| {
        str_of(s, "type") == "LoadBalancer" && str_of(s, "externalTrafficPolicy") == "Local"
    };
    if needs_hc(&old_spec)
        && needs_hc(spec)
        && int_of(spec, "healthCheckNodePort").unwrap_or(0) == 0
    {
        if let Some(hc) = int_of(&old_spec, "healthCheckNodePort") {
            spec["healthCheckNodePort"] = json!(hc);
        }
    }
}

fn endpoints(obj: &mut Value) {
    for subset in each_mut(obj, "subsets") {
        for p in each_mut(subset, "ports") {
            set_default(p, "protocol", json!("TCP"));
        }
    }
}

fn endpoint_slice(obj: &mut Value) {
    for p in each_mut(obj, "ports") {
        if !has(p, "name") {
            p["name"] = json!("");
        }
        set_default(p, "protocol", json!("TCP"));
    }
}

fn secret(obj: &mut Value) {
    set_default(obj, "type", json!("Opaque"));
    // stringData is a write-only convenience: it overwrites data entries and is never stored.
    let string_data = obj.as_object_mut().and_then(|m| m.remove("stringData"));
    if let Some(Value::Object(entries)) = string_data {
        if entries.is_empty() {
            return;
        }
        let data = child_obj(obj, "data");
        for (k, v) in entries {
            let text = v.as_str().unwrap_or("");
            data[k.as_str()] = json!(base64_encode(text.as_bytes()));
        }
    }
}

fn node(obj: &mut Value) {
    let Some(status) = obj.get_mut("status").filter(|s| s.is_object()) else {
        return;
    };
    if !has(status, "allocatable") && has(status, "capacity") {
        status["allocatable"] = status["capacity"].clone();
    }
}

fn replication_controller(obj: &mut Value) {
    let template_labels = obj["spec"]["template"]["metadata"]
        .get("labels")
        .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
        .cloned();
    if let Some(labels) = template_labels {
        let spec = child_obj(obj, "spec");
        if obj_of(spec, "selector").is_none_or(|m| m.is_empty()) {
            spec["selector"] = labels.clone();
        }
        let meta = child_obj(obj, "metadata");
        if obj_of(meta, "labels").is_none_or(|m| m.is_empty()) {
            meta["labels"] = labels;
        }
    }
    let spec = child_obj(obj, "spec");
    if !has(spec, "replicas") {
        spec["replicas"] = json!(1);
    }
    if let Some(t) = spec.get_mut("template").filter(|t| t.is_object()) {
        pod_template(t);
    }
    zero_status(obj, &["replicas"]);
}

fn limit_range(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec") else {
        return;
    };
    for item in each_mut(spec, "limits") {
        if str_of(item, "type") != "Container" {
            continue;
        }
        let max = obj_of(item, "max").cloned().unwrap_or_default();
        let min = obj_of(item, "min").cloned().unwrap_or_default();
        let mut default = obj_of(item, "default").cloned().unwrap_or_default();
        let mut default_request = obj_of(item, "defaultRequest").cloned().unwrap_or_default();
        // A missing default limit is the max; a missing default request is the default limit,
        // else the min.
        for (k, v) in &max {
            default.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for (k, v) in &default {
            default_request
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        for (k, v) in &min {
            default_request
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        if !default.is_empty() {
            item["default"] = Value::Object(default);
        }
        if !default_request.is_empty() {
            item["defaultRequest"] = Value::Object(default_request);
        }
    }
}

/// Status fields Go always serializes (no `omitempty`) appear as zeros on new objects.
fn zero_status(obj: &mut Value, zero_fields: &[&str]) {
    let status = child_obj(obj, "status");
    for f in zero_fields {
        if !has(status, f) {
            status[*f] = json!(0);
        }
    }
}

fn workload_template(spec: &mut Value) {
    if let Some(t) = spec.get_mut("template") {
        pod_template(t);
    } else {
        let mut t = json!({});
        pod_template(&mut t);
        spec["template"] = t;
    }
}

fn deployment(obj: &mut Value) {
    let spec = child_obj(obj, "spec");
    if !has(spec, "replicas") {
        spec["replicas"] = json!(1);
    }
    let strategy = child_obj(spec, "strategy");
    set_default(strategy, "type", json!("RollingUpdate"));
    if str_of(strategy, "type") == "RollingUpdate" {
        let ru = child_obj(strategy, "rollingUpdate");
        if !has(ru, "maxUnavailable") {
            ru["maxUnavailable"] = json!("25%");
        }
        if !has(ru, "maxSurge") {
            ru["maxSurge"] = json!("25%");
        }
    }
    if !has(spec, "revisionHistoryLimit") {
        spec["revisionHistoryLimit"] = json!(10);
    }
    if !has(spec, "progressDeadlineSeconds") {
        spec["progressDeadlineSeconds"] = json!(600);
    }
    workload_template(spec);
    zero_status(obj, &[]);
}

fn replica_set(obj: &mut Value) {
    let spec = child_obj(obj, "spec");
    if !has(spec, "replicas") {
        spec["replicas"] = json!(1);
    }
    workload_template(spec);
    zero_status(obj, &["replicas"]);
}

fn pvc_template(pvc: &mut Value) {
    set_default(child_obj(pvc, "spec"), "volumeMode", json!("Filesystem"));
    set_default(child_obj(pvc, "status"), "phase", json!("Pending"));
}

fn stateful_set(obj: &mut Value) {
    let spec = child_obj(obj, "spec");
    set_default(spec, "podManagementPolicy", json!("OrderedReady"));
    let strategy = child_obj(spec, "updateStrategy");
    if str_of(strategy, "type").is_empty() {
        strategy["type"] = json!("RollingUpdate");
        if !has(strategy, "rollingUpdate") {
            strategy["rollingUpdate"] = json!({});
        }
    }
    if str_of(strategy, "type") == "RollingUpdate" {
        if let Some(ru) = strategy.get_mut("rollingUpdate").filter(|r| r.is_object()) {
            if !has(ru, "partition") {
                ru["partition"] = json!(0);
            }
        }
    }
    let retention = child_obj(spec, "persistentVolumeClaimRetentionPolicy");
    set_default(retention, "whenDeleted", json!("Retain"));
    set_default(retention, "whenScaled", json!("Retain"));
    if !has(spec, "replicas") {
        spec["replicas"] = json!(1);
    }
    if !has(spec, "revisionHistoryLimit") {
        spec["revisionHistoryLimit"] = json!(10);
    }
    workload_template(spec);
    for pvc in each_mut(spec, "volumeClaimTemplates") {
        pvc_template(pvc);
    }
    zero_status(obj, &["replicas", "availableReplicas"]);
}

fn daemon_set(obj: &mut Value) {
    let spec = child_obj(obj, "spec");
    let strategy = child_obj(spec, "updateStrategy");
    set_default(strategy, "type", json!("RollingUpdate"));
    if str_of(strategy, "type") == "RollingUpdate" {
        let ru = child_obj(strategy, "rollingUpdate");
        if !has(ru, "maxUnavailable") {
            ru["maxUnavailable"] = json!(1);
        }
        if !has(ru, "maxSurge") {
            ru["maxSurge"] = json!(0);
        }
    }
    if !has(spec, "revisionHistoryLimit") {
        spec["revisionHistoryLimit"] = json!(10);
    }
    workload_template(spec);
    zero_status(
        obj,
        &[
            "currentNumberScheduled",
            "desiredNumberScheduled",
            "numberMisscheduled",
            "numberReady",
        ],
    );
}

fn job_spec(spec: &mut Value) {
    if !has(spec, "completions") && !has(spec, "parallelism") {
        spec["completions"] = json!(1);
        spec["parallelism"] = json!(1);
    }
    if !has(spec, "parallelism") {
        spec["parallelism"] = json!(1);
    }
    if !has(spec, "backoffLimit") {
        let limit = if has(spec, "backoffLimitPerIndex") {
            i64::from(i32::MAX)
        } else {
            6
        };
        spec["backoffLimit"] = json!(limit);
    }
    set_default(spec, "completionMode", json!("NonIndexed"));
    if !has(spec, "suspend") {
        spec["suspend"] = json!(false);
    }
    if !has(spec, "podReplacementPolicy") {
        let policy = if has(spec, "podFailurePolicy") {
            "Failed"
        } else {
            "TerminatingOrFailed"
        };
        spec["podReplacementPolicy"] = json!(policy);
    }
    workload_template(spec);
}

fn job_labels_from_template(obj: &mut Value) {
    let template_labels = obj["spec"]["template"]["metadata"]
        .get("labels")
        .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
        .cloned();
    if let Some(labels) = template_labels {
        let meta = child_obj(obj, "metadata");
        if obj_of(meta, "labels").is_none_or(|m| m.is_empty()) {
            meta["labels"] = labels;
        }
    }
}

fn job(obj: &mut Value) {
    job_spec(child_obj(obj, "spec"));
    job_labels_from_template(obj);
    zero_status(obj, &[]);
}

/// The Job create strategy's selector generation, run once the server has assigned the Job's
/// uid: unless `spec.manualSelector` is true, the pod template gets the `job-name` and
/// `controller-uid` labels (new and legacy forms), the selector matches the controller uid, and
/// `manualSelector` is recorded as false. The Job's own labels then default to the template's,
/// as Kubernetes' defaulting does when the object is read back.
pub fn generate_job_selector(job: &mut Value, uid: &str) {
    let name = job["metadata"]["name"].as_str().unwrap_or("").to_string();
    let spec = child_obj(job, "spec");
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    if !has(spec, "manualSelector") {
        spec["manualSelector"] = json!(false);
    }
    let template = child_obj(spec, "template");
    let labels = child_obj(child_obj(template, "metadata"), "labels");
    for key in [LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL] {
        if !has(labels, key) {
            labels[key] = json!(name);
        }
    }
    for key in [LEGACY_JOB_CONTROLLER_UID_LABEL, JOB_CONTROLLER_UID_LABEL] {
        if !has(labels, key) {
            labels[key] = json!(uid);
        }
    }
    let match_labels = child_obj(child_obj(spec, "selector"), "matchLabels");
    if !has(match_labels, JOB_CONTROLLER_UID_LABEL) {
        match_labels[JOB_CONTROLLER_UID_LABEL] = json!(uid);
    }
    job_labels_from_template(job);
}

fn cron_job(obj: &mut Value) {
    let spec = child_obj(obj, "spec");
    set_default(spec, "concurrencyPolicy", json!("Allow"));
    if !has(spec, "suspend") {
        spec["suspend"] = json!(false);
    }
    if !has(spec, "successfulJobsHistoryLimit") {
        spec["successfulJobsHistoryLimit"] = json!(3);
    }
    if !has(spec, "failedJobsHistoryLimit") {
        spec["failedJobsHistoryLimit"] = json!(1);
    }
    let job_template_spec = child_obj(child_obj(spec, "jobTemplate"), "spec");
    workload_template(job_template_spec);
    zero_status(obj, &[]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_kind;

    fn defaulted(api_version: &str, kind: &str, mut obj: Value) -> Value {
        apply_defaults(by_kind(api_version, kind).unwrap(), &mut obj);
        obj
    }

    #[test]
    fn pods_get_spec_container_and_admission_defaults() {
        let p = defaulted(
            "v1",
            "Pod",
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"containers": [
                    {"name": "web", "image": "nginx", "ports": [{"containerPort": 80}],
                     "livenessProbe": {"httpGet": {"port": 80}}},
                    {"name": "side", "image": "busybox:1.36"}
                ]}
            }),
        );
        let spec = &p["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["securityContext"], json!({}));
        assert_eq!(spec["enableServiceLinks"], true);
        assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
        assert_eq!(spec["priority"], 0);
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["serviceAccount"], "default");
        let c0 = &spec["containers"][0];
        assert_eq!(c0["imagePullPolicy"], "Always");
        assert_eq!(c0["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c0["terminationMessagePolicy"], "File");
        assert_eq!(c0["resources"], json!({}));
        assert_eq!(c0["ports"][0]["protocol"], "TCP");
        let probe = &c0["livenessProbe"];
        assert_eq!(probe["timeoutSeconds"], 1);
        assert_eq!(probe["periodSeconds"], 10);
        assert_eq!(probe["successThreshold"], 1);
        assert_eq!(probe["failureThreshold"], 3);
        assert_eq!(probe["httpGet"]["path"], "/");
        assert_eq!(probe["httpGet"]["scheme"], "HTTP");
        assert_eq!(spec["containers"][1]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(
            spec["tolerations"],
            json!([
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ])
        );
        assert_eq!(p["status"]["phase"], "Pending");
        assert_eq!(p["status"]["qosClass"], "BestEffort");
    }

    #[test]
    fn defaulting_twice_changes_nothing() {
        let mut p = json!({"metadata": {"name": "a"}, "spec": {"containers": [{"name": "a", "image": "a"}]}});
        let pods = by_kind("v1", "Pod").unwrap();
        apply_defaults(pods, &mut p);
        let once = p.clone();
        apply_defaults(pods, &mut p);
        assert_eq!(p, once);
    }

    #[test]
    fn existing_tolerations_suppress_the_default_ones() {
        let p = defaulted(
            "v1",
            "Pod",
            json!({"spec": {"containers": [], "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}
            ]}}),
        );
        let t = p["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0]["tolerationSeconds"], 60);
        assert_eq!(t[1]["key"], UNREACHABLE_TAINT);
        let all = defaulted(
            "v1",
            "Pod",
            json!({"spec": {"tolerations": [{"operator": "Exists"}]}}),
        );
        assert_eq!(all["spec"]["tolerations"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn pod_requests_default_to_limits_and_set_the_qos_class() {
        let p = defaulted(
            "v1",
            "Pod",
            json!({"spec": {"containers": [{"name": "a", "image": "a:1",
                "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}}]}}),
        );
        assert_eq!(
            p["spec"]["containers"][0]["resources"]["requests"],
            json!({"cpu": "500m", "memory": "128Mi"})
        );
        assert_eq!(p["status"]["qosClass"], "Guaranteed");
        let b = defaulted(
            "v1",
            "Pod",
            json!({"spec": {"containers": [{"name": "a", "image": "a:1",
                "resources": {"requests": {"cpu": "100m"}}}]}}),
        );
        assert_eq!(b["status"]["qosClass"], "Burstable");
    }

    #[test]
    fn image_pull_policy_follows_the_tag() {
        assert!(image_tag_is_latest("nginx"));
        assert!(image_tag_is_latest("nginx:latest"));
        assert!(image_tag_is_latest("localhost:5000/app"));
        assert!(!image_tag_is_latest("localhost:5000/app:v1"));
        assert!(!image_tag_is_latest("nginx@sha256:abcd"));
        assert!(!image_tag_is_latest("nginx:1.27"));
    }

    #[test]
    fn deployments_get_strategy_and_template_defaults_without_pod_admission() {
        let d = defaulted(
            "apps/v1",
            "Deployment",
            json!({"spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}),
        );
        let spec = &d["spec"];
        assert_eq!(spec["replicas"], 1);
        assert_eq!(
            spec["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(spec["revisionHistoryLimit"], 10);
        assert_eq!(spec["progressDeadlineSeconds"], 600);
        let tspec = &spec["template"]["spec"];
        assert_eq!(tspec["restartPolicy"], "Always");
        assert_eq!(tspec["containers"][0]["imagePullPolicy"], "IfNotPresent");
        assert!(tspec.get("tolerations").is_none());
        assert!(tspec.get("serviceAccountName").is_none());
        assert!(tspec.get("enableServiceLinks").is_none());
        assert_eq!(d["status"], json!({}));
    }

    #[test]
    fn recreate_deployments_get_no_rolling_update() {
        let d = defaulted(
            "apps/v1",
            "Deployment",
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
        );
        assert!(d["spec"]["strategy"].get("rollingUpdate").is_none());
    }

    #[test]
    fn stateful_sets_default_policy_strategy_and_claim_templates() {
        let s = defaulted(
            "apps/v1",
            "StatefulSet",
            json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}),
        );
        let spec = &s["spec"];
        assert_eq!(spec["replicas"], 1);
        assert_eq!(spec["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            spec["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(spec["revisionHistoryLimit"], 10);
        assert_eq!(
            spec["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(
            spec["volumeClaimTemplates"][0]["spec"]["volumeMode"],
            "Filesystem"
        );
        assert_eq!(
            spec["volumeClaimTemplates"][0]["status"]["phase"],
            "Pending"
        );
    }

    #[test]
    fn daemon_sets_and_replica_sets_default() {
        let ds = defaulted("apps/v1", "DaemonSet", json!({"spec": {}}));
        assert_eq!(
            ds["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
        let rs = defaulted("apps/v1", "ReplicaSet", json!({"spec": {}}));
        assert_eq!(rs["spec"]["replicas"], 1);
        assert_eq!(rs["status"]["replicas"], 0);
    }

    #[test]
    fn replication_controllers_take_selector_and_labels_from_the_template() {
        let rc = defaulted(
            "v1",
            "ReplicationController",
            json!({"metadata": {"name": "rc"}, "spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": {}}}}),
        );
        assert_eq!(rc["spec"]["selector"], json!({"app": "x"}));
        assert_eq!(rc["metadata"]["labels"], json!({"app": "x"}));
        assert_eq!(rc["spec"]["replicas"], 1);
    }

    #[test]
    fn jobs_default_counts_policies_and_labels() {
        let j = defaulted(
            "batch/v1",
            "Job",
            json!({"metadata": {"name": "pi"}, "spec": {"template": {"metadata": {"labels": {"app": "pi"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5.34"}]}}}}),
        );
        let spec = &j["spec"];
        assert_eq!(spec["completions"], 1);
        assert_eq!(spec["parallelism"], 1);
        assert_eq!(spec["backoffLimit"], 6);
        assert_eq!(spec["completionMode"], "NonIndexed");
        assert_eq!(spec["suspend"], false);
        assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
        assert!(spec.get("manualSelector").is_none());
        assert_eq!(j["metadata"]["labels"], json!({"app": "pi"}));
        let only_parallelism = defaulted("batch/v1", "Job", json!({"spec": {"parallelism": 3}}));
        assert!(only_parallelism["spec"].get("completions").is_none());
    }

    #[test]
    fn job_selectors_are_generated_from_the_uid() {
        let mut j = json!({"metadata": {"name": "pi"}, "spec": {"template": {"spec": {}}}});
        generate_job_selector(&mut j, "uid-1");
        assert_eq!(j["spec"]["manualSelector"], false);
        assert_eq!(
            j["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "uid-1"}})
        );
        let labels = &j["spec"]["template"]["metadata"]["labels"];
        assert_eq!(labels["job-name"], "pi");
        assert_eq!(labels["batch.kubernetes.io/job-name"], "pi");
        assert_eq!(labels["controller-uid"], "uid-1");
        assert_eq!(labels["batch.kubernetes.io/controller-uid"], "uid-1");
        assert_eq!(&j["metadata"]["labels"], labels);
        let mut manual =
            json!({"spec": {"manualSelector": true, "selector": {"matchLabels": {"a": "b"}}}});
        generate_job_selector(&mut manual, "uid-2");
        assert_eq!(
            manual["spec"]["selector"],
            json!({"matchLabels": {"a": "b"}})
        );
    }

    #[test]
    fn cron_jobs_default_policies_and_the_pod_template() {
        let c = defaulted(
            "batch/v1",
            "CronJob",
            json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "busybox"}]}}}}}}),
        );
        let spec = &c["spec"];
        assert_eq!(spec["concurrencyPolicy"], "Allow");
        assert_eq!(spec["suspend"], false);
        assert_eq!(spec["successfulJobsHistoryLimit"], 3);
        assert_eq!(spec["failedJobsHistoryLimit"], 1);
        let tspec = &spec["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(tspec["restartPolicy"], "Always");
        assert!(spec["jobTemplate"]["spec"].get("backoffLimit").is_none());
    }

    #[test]
    fn services_default_type_ports_and_policies() {
        let s = defaulted(
            "v1",
            "Service",
            json!({"spec": {"selector": {"app": "web"}, "ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}}),
        );
        let spec = &s["spec"];
        assert_eq!(spec["type"], "ClusterIP");
        assert_eq!(spec["sessionAffinity"], "None");
        assert_eq!(spec["internalTrafficPolicy"], "Cluster");
        assert_eq!(spec["ports"][0]["protocol"], "TCP");
        assert_eq!(spec["ports"][0]["targetPort"], 80);
        assert_eq!(spec["ports"][1]["targetPort"], "https");
        assert!(spec.get("externalTrafficPolicy").is_none());
        assert!(spec.get("ipFamilies").is_none());
        assert_eq!(s["status"], json!({"loadBalancer": {}}));
    }

    #[test]
    fn services_record_ip_families_once_a_cluster_ip_is_set() {
        let s = defaulted(
            "v1",
            "Service",
            json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "ports": [{"port": 53}]}}),
        );
        let spec = &s["spec"];
        assert_eq!(spec["clusterIPs"], json!(["10.96.0.10"]));
        assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
        assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
        assert_eq!(spec["externalTrafficPolicy"], "Cluster");
        let lb = defaulted("v1", "Service", json!({"spec": {"type": "LoadBalancer"}}));
        assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
        let ca = defaulted(
            "v1",
            "Service",
            json!({"spec": {"sessionAffinity": "ClientIP"}}),
        );
        assert_eq!(
            ca["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
            10800
        );
    }

    #[test]
    fn service_updates_keep_allocated_addresses_and_ports() {
        let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5"],
            "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}]}});
        let mut new =
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]}});
        preserve_service_allocations(&mut new, &old);
        assert_eq!(new["spec"]["clusterIP"], "10.96.0.5");
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30080);
    }

    #[test]
    fn secrets_default_their_type_and_fold_in_string_data() {
        let s = defaulted(
            "v1",
            "Secret",
            json!({"data": {"a": "YQ=="}, "stringData": {"b": "hi", "a": "x"}}),
        );
        assert_eq!(s["type"], "Opaque");
        assert_eq!(s["data"], json!({"a": "eA==", "b": "aGk="}));
        assert!(s.get("stringData").is_none());
    }

    #[test]
    fn namespaces_get_finalizer_phase_and_name_label() {
        let n = defaulted("v1", "Namespace", json!({"metadata": {"name": "team-a"}}));
        assert_eq!(n["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(n["status"]["phase"], "Active");
        assert_eq!(
            n["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "team-a"
        );
    }

    #[test]
    fn slices_endpoints_nodes_and_limit_ranges_default() {
        let es = defaulted(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            json!({"ports": [{"port": 80}]}),
        );
        assert_eq!(
            es["ports"][0],
            json!({"port": 80, "name": "", "protocol": "TCP"})
        );
        let ep = defaulted(
            "v1",
            "Endpoints",
            json!({"subsets": [{"ports": [{"port": 80}]}]}),
        );
        assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
        let node = defaulted("v1", "Node", json!({"status": {"capacity": {"cpu": "4"}}}));
        assert_eq!(node["status"]["allocatable"], json!({"cpu": "4"}));
        let lr = defaulted(
            "v1",
            "LimitRange",
            json!({"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}}]}}),
        );
        assert_eq!(lr["spec"]["limits"][0]["default"], json!({"cpu": "2"}));
        assert_eq!(
            lr["spec"]["limits"][0]["defaultRequest"],
            json!({"cpu": "2", "memory": "64Mi"})
        );
    }

    #[test]
    fn volumes_without_a_source_become_empty_dirs() {
        let p = defaulted(
            "v1",
            "Pod",
            json!({"spec": {"volumes": [{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "c"}}]}}),
        );
        assert_eq!(p["spec"]["volumes"][0]["emptyDir"], json!({}));
        assert_eq!(p["spec"]["volumes"][1]["configMap"]["defaultMode"], 420);
    }
}
