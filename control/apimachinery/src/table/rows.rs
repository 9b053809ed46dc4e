//! Row cells per kind, computed from stored objects (JSON as served) the way Kubernetes v1.32's
//! printers compute them from typed objects. Missing fields read as Go's zero values, and
//! replica counts the API server defaults read as their defaults.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::{json, Value};

use super::{age, human_duration, human_signed, parse_time};
use crate::selector::LabelSelector;

/// The cells of `object`'s row for `kind`, wide cells included.
pub(super) fn cells(kind: &str, object: &Value, now: Timestamp) -> Vec<Value> {
    let o = Obj(object);
    match kind {
        "Pod" => pod(o, now),
        "Namespace" => vec![name(o), o.str(&["status", "phase"]).into(), o.age(now)],
        "Service" => service(o, now),
        "Endpoints" => vec![name(o), endpoints(o).into(), o.age(now)],
        "ConfigMap" => {
            let count = o.len(&["data"]) + o.len(&["binaryData"]);
            vec![name(o), count.into(), o.age(now)]
        }
        "Secret" => vec![
            name(o),
            o.str(&["type"]).into(),
            o.len(&["data"]).into(),
            o.age(now),
        ],
        "ServiceAccount" => vec![name(o), o.list(&["secrets"]).len().into(), o.age(now)],
        "Node" => node(o, now),
        "Event" => event(o, now),
        "ReplicationController" => replicas(o, now, map_selector(o.at(&["spec", "selector"]))),
        "ReplicaSet" => replicas(o, now, format_label_selector(o.at(&["spec", "selector"]))),
        "ResourceQuota" => resource_quota(o, now),
        "LimitRange" => vec![name(o), created_at(o).into()],
        "Deployment" => deployment(o, now),
        "StatefulSet" => {
            let ready = o.int(&["status", "readyReplicas"]);
            let desired = o.replicas();
            let mut cells = vec![name(o), format!("{ready}/{desired}").into(), o.age(now)];
            cells.extend(containers(o.at(&["spec", "template"])));
            cells
        }
        "DaemonSet" => daemon_set(o, now),
        "ControllerRevision" => vec![
            name(o),
            controller_of(o).into(),
            o.int(&["revision"]).into(),
            o.age(now),
        ],
        "Job" => job(o, now),
        "CronJob" => cron_job(o, now),
        "Lease" => vec![
            name(o),
            o.str(&["spec", "holderIdentity"]).into(),
            o.age(now),
        ],
        "EndpointSlice" => vec![
            name(o),
            o.str(&["addressType"]).into(),
            slice_ports(o).into(),
            slice_endpoints(o).into(),
            o.age(now),
        ],
        "CertificateSigningRequest" => csr(o, now),
        _ => vec![name(o), o.age(now)],
    }
}

/// Row conditions: Kubernetes marks finished pods as `Completed` so clients can tell them
/// apart.
pub(super) fn conditions(kind: &str, object: &Value) -> Option<Value> {
    if kind != "Pod" {
        return None;
    }
    let (reason, message) = match Obj(object).str(&["status", "phase"]) {
        "Succeeded" => ("Succeeded", "The pod completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{
        "type": "Completed",
        "status": "True",
        "reason": reason,
        "message": message,
    }]))
}

// ---- reading JSON ------------------------------------------------------------------------

/// A stored object, read with Go's zero values for anything missing.
#[derive(Clone, Copy)]
struct Obj<'a>(&'a Value);

impl<'a> Obj<'a> {
    fn at(self, path: &[&str]) -> Option<&'a Value> {
        path.iter().try_fold(self.0, |v, key| v.get(key))
    }

    fn get(self, path: &[&str]) -> Obj<'a> {
        Obj(self.at(path).unwrap_or(&Value::Null))
    }

    fn str(self, path: &[&str]) -> &'a str {
        self.at(path).and_then(Value::as_str).unwrap_or_default()
    }

    fn opt_str(self, path: &[&str]) -> Option<&'a str> {
        self.at(path).and_then(Value::as_str)
    }

    fn int(self, path: &[&str]) -> i64 {
        self.opt_int(path).unwrap_or(0)
    }

    fn opt_int(self, path: &[&str]) -> Option<i64> {
        self.at(path).and_then(Value::as_i64)
    }

    fn bool(self, path: &[&str]) -> bool {
        self.at(path).and_then(Value::as_bool).unwrap_or(false)
    }

    fn list(self, path: &[&str]) -> &'a [Value] {
        self.at(path)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    fn items(self, path: &[&str]) -> impl Iterator<Item = Obj<'a>> {
        self.list(path).iter().map(Obj)
    }

    /// Entries of a JSON object (a map field); empty when missing.
    fn map(self, path: &[&str]) -> Vec<(&'a str, &'a Value)> {
        self.at(path)
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
            .unwrap_or_default()
    }

    fn len(self, path: &[&str]) -> usize {
        self.at(path)
            .and_then(Value::as_object)
            .map_or(0, |m| m.len())
    }

    fn present(self, path: &[&str]) -> bool {
        self.at(path).is_some_and(|v| !v.is_null())
    }

    fn time(self, path: &[&str]) -> Option<Timestamp> {
        parse_time(self.opt_str(path))
    }

    fn age(self, now: Timestamp) -> Value {
        age(self.opt_str(&["metadata", "creationTimestamp"]), now).into()
    }

    /// `spec.replicas`, which the API server defaults to 1.
    fn replicas(self) -> i64 {
        self.opt_int(&["spec", "replicas"]).unwrap_or(1)
    }
}

fn name(o: Obj) -> Value {
    o.str(&["metadata", "name"]).into()
}

fn first_non_empty<'a>(first: &'a str, second: &'a str) -> &'a str {
    if first.is_empty() {
        second
    } else {
        first
    }
}

fn none_if_empty(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s.to_string()
    }
}

/// `k1=v1,k2=v2` with sorted keys, or `<none>`: Kubernetes' `labels.FormatLabels`.
fn format_labels(map: Option<&Value>) -> String {
    let pairs: BTreeMap<&str, &str> = map
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    none_if_empty(&text.join(","))
}

fn map_selector(map: Option<&Value>) -> String {
    format_labels(map)
}

/// A `metav1.LabelSelector` in string form, `<none>` when it selects everything or nothing and
/// `<error>` when it is invalid: Kubernetes' `metav1.FormatLabelSelector`.
fn format_label_selector(selector: Option<&Value>) -> String {
    match label_selector_string(selector) {
        Ok(text) => none_if_empty(&text),
        Err(()) => "<error>".to_string(),
    }
}

fn label_selector_string(selector: Option<&Value>) -> Result<String, ()> {
    let parsed = match selector.filter(|v| !v.is_null()) {
        None => None,
        Some(value) => Some(serde_json::from_value(value.clone()).map_err(|_| ())?),
    };
    LabelSelector::from_api(parsed.as_ref())
        .map(|s| s.to_string())
        .map_err(|_| ())
}

/// The wide `Containers` and `Images` cells of a pod template.
fn containers(template: Option<&Value>) -> [Value; 2] {
    let template = Obj(template.unwrap_or(&Value::Null));
    let (names, images): (Vec<&str>, Vec<&str>) = template
        .items(&["spec", "containers"])
        .map(|c| (c.str(&["name"]), c.str(&["image"])))
        .unzip();
    [names.join(",").into(), images.join(",").into()]
}

/// `net.JoinHostPort`: IPv6 addresses get brackets.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Up to three items, then `+ N more...`; `<unset>` when empty.
fn list_with_more(items: Vec<String>) -> String {
    const MAX: usize = 3;
    if items.is_empty() {
        return "<unset>".to_string();
    }
    if items.len() > MAX {
        format!("{} + {} more...", items[..MAX].join(","), items.len() - MAX)
    } else {
        items.join(",")
    }
}

fn created_at(o: Obj) -> String {
    // The generic convertor prints the creation time in RFC 3339, UTC, whole seconds.
    let time = o
        .time(&["metadata", "creationTimestamp"])
        .unwrap_or_else(|| Timestamp::from_second(-62_135_596_800).expect("Go zero time"));
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

// ---- Pod ---------------------------------------------------------------------------------

fn pod(o: Obj, now: Timestamp) -> Vec<Value> {
    let status = o.get(&["status"]);
    let phase = status.str(&["phase"]);
    let mut reason = phase.to_string();
    if !status.str(&["reason"]).is_empty() {
        reason = status.str(&["reason"]).to_string();
    }
    for condition in status.items(&["conditions"]) {
        if condition.str(&["type"]) == "PodScheduled"
            && condition.str(&["reason"]) == "SchedulingGated"
        {
            reason = "SchedulingGated".to_string();
        }
    }

    // Sidecars (init containers that restart always) count as containers of the pod.
    let init_specs = o.list(&["spec", "initContainers"]);
    let sidecars: BTreeSet<&str> = init_specs
        .iter()
        .map(Obj)
        .filter(|c| c.str(&["restartPolicy"]) == "Always")
        .map(|c| c.str(&["name"]))
        .collect();
    let total = o.list(&["spec", "containers"]).len() + sidecars.len();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_sidecar_restart: Option<Timestamp> = None;
    let later = |a: Option<Timestamp>, b: Option<Timestamp>| a.max(b);

    let mut initializing = false;
    for (i, container) in status.items(&["initContainerStatuses"]).enumerate() {
        let count = container.int(&["restartCount"]);
        let finished = container.time(&["lastState", "terminated", "finishedAt"]);
        restarts = restarts.saturating_add(count);
        last_restart = later(last_restart, finished);
        let sidecar = sidecars.contains(container.str(&["name"]));
        if sidecar {
            sidecar_restarts = sidecar_restarts.saturating_add(count);
            last_sidecar_restart = later(last_sidecar_restart, finished);
        }
        let terminated = container.get(&["state", "terminated"]);
        let waiting = container.get(&["state", "waiting"]);
        if terminated.present(&[]) && terminated.int(&["exitCode"]) == 0 {
            continue;
        }
        if sidecar && container.bool(&["started"]) {
            if container.bool(&["ready"]) {
                ready += 1;
            }
            continue;
        }
        if terminated.present(&[]) {
            reason = match terminated.str(&["reason"]) {
                "" if terminated.int(&["signal"]) != 0 => {
                    format!("Init:Signal:{}", terminated.int(&["signal"]))
                }
                "" => format!("Init:ExitCode:{}", terminated.int(&["exitCode"])),
                why => format!("Init:{why}"),
            };
        } else if waiting.present(&[])
            && !waiting.str(&["reason"]).is_empty()
            && waiting.str(&["reason"]) != "PodInitializing"
        {
            reason = format!("Init:{}", waiting.str(&["reason"]));
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || condition_true(status, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        let statuses: Vec<Obj> = status.items(&["containerStatuses"]).collect();
        // Walked backwards so the first container's state decides the reason, as in Kubernetes.
        for container in statuses.iter().rev() {
            restarts += container.int(&["restartCount"]);
            last_restart = later(
                last_restart,
                container.time(&["lastState", "terminated", "finishedAt"]),
            );
            let waiting = container.get(&["state", "waiting"]);
            let terminated = container.get(&["state", "terminated"]);
            if waiting.present(&[]) && !waiting.str(&["reason"]).is_empty() {
                reason = waiting.str(&["reason"]).to_string();
            } else if terminated.present(&[]) && !terminated.str(&["reason"]).is_empty() {
                reason = terminated.str(&["reason"]).to_string();
            } else if terminated.present(&[]) {
                reason = if terminated.int(&["signal"]) != 0 {
                    format!("Signal:{}", terminated.int(&["signal"]))
                } else {
                    format!("ExitCode:{}", terminated.int(&["exitCode"]))
                };
            } else if container.bool(&["ready"]) && container.present(&["state", "running"]) {
                has_running = true;
                ready += 1;
            }
        }
        // A container still running keeps a pod whose others completed from looking done.
        if reason == "Completed" && has_running {
            reason = if condition_true(status, "Ready") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    if o.present(&["metadata", "deletionTimestamp"]) {
        if status.str(&["reason"]) == "NodeLost" {
            reason = "Unknown".to_string();
        } else if phase != "Failed" && phase != "Succeeded" {
            reason = "Terminating".to_string();
        }
    }

    let restarts_text = match last_restart {
        Some(at) if restarts != 0 => {
            format!("{restarts} ({} ago)", human_signed(now.duration_since(at)))
        }
        _ => restarts.to_string(),
    };

    let mut ip = status
        .list(&["podIPs"])
        .first()
        .map(|p| Obj(p).str(&["ip"]))
        .unwrap_or_default();
    if ip.is_empty() {
        ip = status.str(&["podIP"]);
    }
    let gates = o.list(&["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let passed = gates
            .iter()
            .filter(|gate| {
                let wanted = Obj(gate).str(&["conditionType"]);
                status
                    .items(&["conditions"])
                    .find(|c| c.str(&["type"]) == wanted)
                    .is_some_and(|c| c.str(&["status"]) == "True")
            })
            .count();
        format!("{passed}/{}", gates.len())
    };
    vec![
        name(o),
        format!("{ready}/{total}").into(),
        reason.into(),
        restarts_text.into(),
        o.age(now),
        none_if_empty(ip).into(),
        none_if_empty(o.str(&["spec", "nodeName"])).into(),
        none_if_empty(status.str(&["nominatedNodeName"])).into(),
        readiness_gates.into(),
    ]
}

/// Whether the first condition of this type is `True` (Kubernetes looks only at the first).
fn condition_true(status: Obj, kind: &str) -> bool {
    status
        .items(&["conditions"])
        .find(|c| c.str(&["type"]) == kind)
        .is_some_and(|c| c.str(&["status"]) == "True")
}

// ---- Service, Endpoints, EndpointSlice ---------------------------------------------------

fn service(o: Obj, now: Timestamp) -> Vec<Value> {
    let spec = o.get(&["spec"]);
    let cluster_ip = spec
        .list(&["clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .or_else(|| spec.opt_str(&["clusterIP"]))
        .unwrap_or_default();
    let ports: Vec<String> = spec
        .items(&["ports"])
        .map(|p| {
            let protocol = p.opt_str(&["protocol"]).unwrap_or("TCP");
            let port = p.int(&["port"]);
            match p.int(&["nodePort"]) {
                node_port if node_port > 0 => format!("{port}:{node_port}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    vec![
        name(o),
        spec.str(&["type"]).into(),
        none_if_empty(cluster_ip).into(),
        external_ip(o).into(),
        none_if_empty(&ports.join(",")).into(),
        o.age(now),
        format_labels(spec.at(&["selector"])).into(),
    ]
}

fn external_ip(o: Obj) -> String {
    let external: Vec<&str> = o
        .list(&["spec", "externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match o.str(&["spec", "type"]) {
        "ClusterIP" | "NodePort" => none_if_empty(&external.join(",")),
        "LoadBalancer" => {
            // Ingress points are de-duplicated and sorted; the table is always the wide form,
            // so nothing is clipped.
            let ingress: BTreeSet<&str> = o
                .items(&["status", "loadBalancer", "ingress"])
                .filter_map(|i| {
                    [i.str(&["ip"]), i.str(&["hostname"])]
                        .into_iter()
                        .find(|s| !s.is_empty())
                })
                .collect();
            let mut all: Vec<&str> = ingress.into_iter().collect();
            all.extend(external);
            if all.is_empty() {
                "<pending>".to_string()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => o.str(&["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

fn endpoints(o: Obj) -> String {
    const MAX: usize = 3;
    let subsets = o.list(&["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let mut shown: Vec<String> = Vec::new();
    let mut count = 0;
    for subset in subsets.iter().map(Obj) {
        let addresses: Vec<&str> = subset
            .items(&["addresses"])
            .map(|a| a.str(&["ip"]))
            .collect();
        let ports = subset.list(&["ports"]);
        if ports.is_empty() {
            // Headless services may list addresses without ports.
            count += addresses.len();
            shown.extend(
                addresses
                    .iter()
                    .take(MAX - shown.len().min(MAX))
                    .map(|a| a.to_string()),
            );
            continue;
        }
        for port in ports.iter().map(Obj) {
            count += addresses.len();
            for address in &addresses {
                if shown.len() == MAX {
                    break;
                }
                shown.push(join_host_port(address, port.int(&["port"])));
            }
        }
    }
    let text = shown.join(",");
    if count > shown.len() {
        format!("{text} + {} more...", count - MAX)
    } else {
        text
    }
}

fn slice_ports(o: Obj) -> String {
    let ports = o
        .items(&["ports"])
        .map(|p| match (p.opt_int(&["port"]), p.opt_str(&["name"])) {
            (Some(port), _) => port.to_string(),
            (None, Some(name)) => name.to_string(),
            (None, None) => "*".to_string(),
        })
        .collect();
    list_with_more(ports)
}

fn slice_endpoints(o: Obj) -> String {
    let addresses = o
        .items(&["endpoints"])
        .flat_map(|e| e.list(&["addresses"]).iter().filter_map(Value::as_str))
        .map(str::to_string)
        .collect();
    list_with_more(addresses)
}

// ---- Node --------------------------------------------------------------------------------

fn node(o: Obj, now: Timestamp) -> Vec<Value> {
    // The last Ready condition wins, as with Kubernetes' map of conditions by type.
    let ready = o
        .items(&["status", "conditions"])
        .filter(|c| c.str(&["type"]) == "Ready")
        .last();
    let mut status = vec![match ready {
        Some(c) if c.str(&["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if o.bool(&["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    let roles: BTreeSet<&str> = o
        .map(&["metadata", "labels"])
        .into_iter()
        .filter_map(|(key, value)| {
            if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
                (!role.is_empty()).then_some(role)
            } else if key == "kubernetes.io/role" {
                value.as_str().filter(|v| !v.is_empty())
            } else {
                None
            }
        })
        .collect();
    let address = |kind: &str| {
        o.items(&["status", "addresses"])
            .find(|a| a.str(&["type"]) == kind)
            .map_or("<none>".to_string(), |a| a.str(&["address"]).to_string())
    };
    let info = o.get(&["status", "nodeInfo"]);
    let unknown_if_empty = |s: &str| {
        if s.is_empty() {
            "<unknown>".to_string()
        } else {
            s.to_string()
        }
    };
    vec![
        name(o),
        status.join(",").into(),
        none_if_empty(&roles.into_iter().collect::<Vec<_>>().join(",")).into(),
        o.age(now),
        info.str(&["kubeletVersion"]).into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        unknown_if_empty(info.str(&["osImage"])).into(),
        unknown_if_empty(info.str(&["kernelVersion"])).into(),
        unknown_if_empty(info.str(&["containerRuntimeVersion"])).into(),
    ]
}

// ---- Event -------------------------------------------------------------------------------

fn event(o: Obj, now: Timestamp) -> Vec<Value> {
    let since = |t: Option<Timestamp>| match t {
        Some(t) => human_signed(now.duration_since(t)),
        None => "<unknown>".to_string(),
    };
    let first_seen = match o.time(&["firstTimestamp"]) {
        Some(t) => since(Some(t)),
        None => since(o.time(&["eventTime"])),
    };
    let mut last_seen = match o.time(&["lastTimestamp"]) {
        Some(t) => since(Some(t)),
        None => first_seen.clone(),
    };
    let mut count = o.int(&["count"]);
    if o.present(&["series"]) {
        last_seen = since(o.time(&["series", "lastObservedTime"]));
        count = o.int(&["series", "count"]);
    } else if count == 0 {
        // Events from the newer API are singletons without a count.
        count = 1;
    }
    let involved = o.get(&["involvedObject"]);
    let kind = involved.str(&["kind"]).to_lowercase();
    let target = match involved.str(&["name"]) {
        "" => kind,
        object_name => format!("{kind}/{object_name}"),
    };
    let component = first_non_empty(
        o.str(&["source", "component"]),
        o.str(&["reportingComponent"]),
    );
    let instance = first_non_empty(o.str(&["source", "host"]), o.str(&["reportingInstance"]));
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    vec![
        last_seen.into(),
        o.str(&["type"]).into(),
        o.str(&["reason"]).into(),
        target.into(),
        involved.str(&["fieldPath"]).into(),
        source.into(),
        o.str(&["message"]).trim().into(),
        first_seen.into(),
        count.into(),
        name(o),
    ]
}

// ---- workloads ---------------------------------------------------------------------------

fn replicas(o: Obj, now: Timestamp, selector: String) -> Vec<Value> {
    let mut cells = vec![
        name(o),
        o.replicas().into(),
        o.int(&["status", "replicas"]).into(),
        o.int(&["status", "readyReplicas"]).into(),
        o.age(now),
    ];
    cells.extend(containers(o.at(&["spec", "template"])));
    cells.push(selector.into());
    cells
}

fn deployment(o: Obj, now: Timestamp) -> Vec<Value> {
    let ready = o.int(&["status", "readyReplicas"]);
    let desired = o.replicas();
    // Deployments print the selector bare: empty rather than <none>, <invalid> when broken.
    let selector =
        label_selector_string(o.at(&["spec", "selector"])).unwrap_or_else(|()| "<invalid>".into());
    let mut cells = vec![
        name(o),
        format!("{ready}/{desired}").into(),
        o.int(&["status", "updatedReplicas"]).into(),
        o.int(&["status", "availableReplicas"]).into(),
        o.age(now),
    ];
    cells.extend(containers(o.at(&["spec", "template"])));
    cells.push(selector.into());
    cells
}

fn daemon_set(o: Obj, now: Timestamp) -> Vec<Value> {
    let status = o.get(&["status"]);
    let mut cells = vec![
        name(o),
        status.int(&["desiredNumberScheduled"]).into(),
        status.int(&["currentNumberScheduled"]).into(),
        status.int(&["numberReady"]).into(),
        status.int(&["updatedNumberScheduled"]).into(),
        status.int(&["numberAvailable"]).into(),
        format_labels(o.at(&["spec", "template", "spec", "nodeSelector"])).into(),
        o.age(now),
    ];
    cells.extend(containers(o.at(&["spec", "template"])));
    cells.push(format_label_selector(o.at(&["spec", "selector"])).into());
    cells
}

/// `kind.group/name` of the owner marked as controller, lower-cased, or `<none>`.
fn controller_of(o: Obj) -> String {
    let Some(owner) = o
        .items(&["metadata", "ownerReferences"])
        .find(|r| r.bool(&["controller"]))
    else {
        return "<none>".to_string();
    };
    let api_version = owner.str(&["apiVersion"]);
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    let kind = owner.str(&["kind"]);
    let group_kind = match (group, kind) {
        ("", "") => return owner.str(&["name"]).to_string(),
        ("", kind) => kind.to_string(),
        (group, kind) => format!("{kind}.{group}"),
    };
    format!("{}/{}", group_kind.to_lowercase(), owner.str(&["name"]))
}

fn job(o: Obj, now: Timestamp) -> Vec<Value> {
    let succeeded = o.int(&["status", "succeeded"]);
    let completions = match o.opt_int(&["spec", "completions"]) {
        Some(wanted) => format!("{succeeded}/{wanted}"),
        None => match o.int(&["spec", "parallelism"]) {
            parallelism if parallelism > 1 => format!("{succeeded}/1 of {parallelism}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (
        o.time(&["status", "startTime"]),
        o.time(&["status", "completionTime"]),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => human_signed(now.duration_since(start)),
        (Some(start), Some(end)) => human_signed(end.duration_since(start)),
    };
    let has = |kind: &str| condition_true(o.get(&["status"]), kind);
    let status = if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if o.present(&["metadata", "deletionTimestamp"]) {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let mut cells = vec![
        name(o),
        status.into(),
        completions.into(),
        duration.into(),
        o.age(now),
    ];
    cells.extend(containers(o.at(&["spec", "template"])));
    cells.push(format_label_selector(o.at(&["spec", "selector"])).into());
    cells
}

fn cron_job(o: Obj, now: Timestamp) -> Vec<Value> {
    let last_schedule = match o.opt_str(&["status", "lastScheduleTime"]) {
        Some(t) => age(Some(t), now),
        None => "<none>".to_string(),
    };
    // Kubernetes prints this boolean column as text.
    let suspend = match o.at(&["spec", "suspend"]).and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let job_spec = o.get(&["spec", "jobTemplate", "spec"]);
    let mut cells = vec![
        name(o),
        o.str(&["spec", "schedule"]).into(),
        o.opt_str(&["spec", "timeZone"]).unwrap_or("<none>").into(),
        suspend.into(),
        o.list(&["status", "active"]).len().into(),
        last_schedule.into(),
        o.age(now),
    ];
    cells.extend(containers(job_spec.at(&["template"])));
    cells.push(format_label_selector(job_spec.at(&["selector"])).into());
    cells
}

// ---- ResourceQuota, CertificateSigningRequest --------------------------------------------

fn resource_quota(o: Obj, now: Timestamp) -> Vec<Value> {
    let used: BTreeMap<&str, &Value> = o.map(&["status", "used"]).into_iter().collect();
    let mut hard = o.map(&["status", "hard"]);
    hard.sort_by_key(|(resource, _)| *resource);
    let mut requests = Vec::new();
    let mut limits = Vec::new();
    for (resource, hard_amount) in hard {
        let used_amount = used.get(resource).map_or("0".to_string(), |v| quantity(v));
        let entry = format!("{resource}: {used_amount}/{}", quantity(hard_amount));
        // `limits.cpu`, `limits.memory`, ... go to the Limit column, everything else to Request.
        match resource.split_once('.') {
            Some(("limits", _)) => limits.push(entry),
            _ => requests.push(entry),
        }
    }
    vec![
        name(o),
        o.age(now),
        requests.join(", ").into(),
        limits.join(", ").into(),
    ]
}

/// A quantity as stored (already canonical text); numbers are printed as they are.
fn quantity(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csr(o: Obj, now: Timestamp) -> Vec<Value> {
    let mut approved = false;
    let mut denied = false;
    let mut failed = false;
    for condition in o.items(&["status", "conditions"]) {
        match condition.str(&["type"]) {
            "Approved" => approved = true,
            "Denied" => denied = true,
            "Failed" => failed = true,
            _ => {}
        }
    }
    let mut condition = if denied {
        "Denied"
    } else if approved {
        "Approved"
    } else {
        "Pending"
    }
    .to_string();
    if failed {
        condition.push_str(",Failed");
    }
    if !o.str(&["status", "certificate"]).is_empty() {
        condition.push_str(",Issued");
    }
    let requested = match o.opt_int(&["spec", "expirationSeconds"]) {
        Some(seconds) => human_duration(std::time::Duration::from_secs(
            seconds.max(0).unsigned_abs(),
        )),
        None => "<none>".to_string(),
    };
    vec![
        name(o),
        o.age(now),
        none_if_empty(o.str(&["spec", "signerName"])).into(),
        o.str(&["spec", "username"]).into(),
        requested.into(),
        condition.into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATED: &str = "2024-05-01T10:00:00Z";

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    fn row(kind: &str, object: Value) -> Vec<Value> {
        cells(kind, &object, now())
    }

    fn pod_status(status: Value) -> String {
        pod_with(json!({"containers": [{"name": "app"}]}), status, None)[2]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn pod_with(spec: Value, status: Value, deletion: Option<&str>) -> Vec<Value> {
        let mut metadata =
            json!({"name": "web-0", "namespace": "default", "creationTimestamp": CREATED});
        if let Some(at) = deletion {
            metadata["deletionTimestamp"] = json!(at);
        }
        row(
            "Pod",
            json!({"metadata": metadata, "spec": spec, "status": status}),
        )
    }

    #[test]
    fn a_running_pod_shows_ready_counts_and_wide_cells() {
        let cells = pod_with(
            json!({"containers": [{"name": "app"}, {"name": "log"}], "nodeName": "node-1"}),
            json!({
                "phase": "Running",
                "podIP": "10.244.0.5",
                "podIPs": [{"ip": "10.244.0.5"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [
                    {"name": "app", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": CREATED}}},
                    {"name": "log", "ready": false, "restartCount": 0, "state": {"running": {"startedAt": CREATED}}}
                ]
            }),
            None,
        );
        assert_eq!(
            cells,
            vec![
                json!("web-0"),
                json!("1/2"),
                json!("Running"),
                json!("0"),
                json!("120m"),
                json!("10.244.0.5"),
                json!("node-1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn a_pending_pod_shows_its_phase_and_none_for_missing_wide_cells() {
        let cells = pod_with(
            json!({"containers": [{"name": "app"}]}),
            json!({"phase": "Pending"}),
            None,
        );
        assert_eq!(cells[1], "0/1");
        assert_eq!(cells[2], "Pending");
        assert_eq!(cells[5], "<none>");
        assert_eq!(cells[6], "<none>");
    }

    #[test]
    fn waiting_containers_show_their_reason() {
        let status = |reason: &str| json!({"phase": "Pending", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": reason}}}]});
        assert_eq!(pod_status(status("ContainerCreating")), "ContainerCreating");
        assert_eq!(pod_status(status("ImagePullBackOff")), "ImagePullBackOff");
    }

    #[test]
    fn crash_looping_pods_show_restarts_with_the_time_of_the_last_one() {
        let cells = pod_with(
            json!({"containers": [{"name": "app"}]}),
            json!({"phase": "Running", "containerStatuses": [{
                "name": "app", "ready": false, "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2024-05-01T11:55:00Z"}}
            }]}),
            None,
        );
        assert_eq!(cells[2], "CrashLoopBackOff");
        assert_eq!(cells[3], "3 (5m ago)");
    }

    #[test]
    fn restarts_without_a_known_time_are_a_plain_number() {
        let cells = pod_with(
            json!({"containers": [{"name": "app"}]}),
            json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 2, "state": {"running": {}}}]}),
            None,
        );
        assert_eq!(cells[3], "2");
        assert_eq!(cells[1], "1/1");
    }

    #[test]
    fn terminated_containers_show_reason_signal_or_exit_code() {
        let terminated = |t: Value| json!({"phase": "Succeeded", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0, "state": {"terminated": t}}]});
        assert_eq!(
            pod_status(terminated(json!({"exitCode": 0, "reason": "Completed"}))),
            "Completed"
        );
        assert_eq!(
            pod_status(terminated(json!({"exitCode": 137, "signal": 9}))),
            "Signal:9"
        );
        assert_eq!(pod_status(terminated(json!({"exitCode": 2}))), "ExitCode:2");
    }

    #[test]
    fn a_completed_container_beside_a_running_one_keeps_the_pod_running() {
        let status = |ready: &str| {
            json!({
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": ready}],
                "containerStatuses": [
                    {"name": "a", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "b", "ready": true, "restartCount": 0, "state": {"running": {}}}
                ]
            })
        };
        let spec = json!({"containers": [{"name": "a"}, {"name": "b"}]});
        assert_eq!(pod_with(spec.clone(), status("True"), None)[2], "Running");
        assert_eq!(pod_with(spec, status("False"), None)[2], "NotReady");
    }

    #[test]
    fn init_containers_show_progress_and_failures() {
        let spec = json!({"initContainers": [{"name": "init-a"}, {"name": "init-b"}], "containers": [{"name": "app"}]});
        let progress = json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "init-a", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "init-b", "restartCount": 0, "state": {"running": {}}}
        ]});
        assert_eq!(pod_with(spec.clone(), progress, None)[2], "Init:1/2");

        let waiting = json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "init-a", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
        ]});
        let cells = pod_with(spec.clone(), waiting, None);
        assert_eq!(cells[2], "Init:CrashLoopBackOff");
        assert_eq!(cells[3], "4");

        let failed = json!({"phase": "Failed", "initContainerStatuses": [
            {"name": "init-a", "restartCount": 0, "state": {"terminated": {"exitCode": 3}}}
        ]});
        assert_eq!(pod_with(spec.clone(), failed, None)[2], "Init:ExitCode:3");

        let initializing = json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "init-a", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}
        ]});
        assert_eq!(pod_with(spec, initializing, None)[2], "Init:0/2");
    }

    #[test]
    fn started_sidecars_count_as_ready_containers() {
        let spec = json!({
            "initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
            "containers": [{"name": "app"}]
        });
        let status = json!({
            "phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true, "restartCount": 1, "state": {"running": {}}}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}}]
        });
        let cells = pod_with(spec, status, None);
        assert_eq!(cells[1], "2/2");
        assert_eq!(cells[2], "Running");
        assert_eq!(cells[3], "1");
    }

    #[test]
    fn deleted_pods_show_terminating_unless_finished_or_lost() {
        let running = json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}}]});
        let spec = json!({"containers": [{"name": "app"}]});
        let at = Some("2024-05-01T11:59:00Z");
        assert_eq!(pod_with(spec.clone(), running, at)[2], "Terminating");
        assert_eq!(
            pod_with(spec.clone(), json!({"phase": "Succeeded"}), at)[2],
            "Succeeded"
        );
        assert_eq!(
            pod_with(spec, json!({"phase": "Running", "reason": "NodeLost"}), at)[2],
            "Unknown"
        );
    }

    #[test]
    fn pod_status_reason_and_scheduling_gates_override_the_phase() {
        assert_eq!(
            pod_status(json!({"phase": "Failed", "reason": "Evicted"})),
            "Evicted"
        );
        assert_eq!(
            pod_status(
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]})
            ),
            "SchedulingGated"
        );
    }

    #[test]
    fn readiness_gates_count_true_conditions() {
        let cells = pod_with(
            json!({"containers": [{"name": "app"}], "readinessGates": [{"conditionType": "a/x"}, {"conditionType": "b/y"}]}),
            json!({"phase": "Running", "conditions": [{"type": "a/x", "status": "True"}, {"type": "b/y", "status": "False"}]}),
            None,
        );
        assert_eq!(cells[8], "1/2");
    }

    #[test]
    fn finished_pods_get_a_completed_row_condition() {
        let done = json!({"status": {"phase": "Succeeded"}});
        assert_eq!(conditions("Pod", &done).unwrap()[0]["reason"], "Succeeded");
        assert!(conditions("Pod", &json!({"status": {"phase": "Running"}})).is_none());
        assert!(conditions("Job", &done).is_none());
    }

    #[test]
    fn namespaces_show_their_phase() {
        let cells = row(
            "Namespace",
            json!({"metadata": {"name": "default", "creationTimestamp": CREATED}, "status": {"phase": "Active"}}),
        );
        assert_eq!(
            cells,
            vec![json!("default"), json!("Active"), json!("120m")]
        );
    }

    #[test]
    fn services_show_type_ips_ports_and_selector() {
        let node_port = row(
            "Service",
            json!({
                "metadata": {"name": "web", "creationTimestamp": CREATED},
                "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                         "ports": [{"port": 80, "nodePort": 30008, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                         "selector": {"tier": "front", "app": "web"}}
            }),
        );
        assert_eq!(
            node_port,
            vec![
                json!("web"),
                json!("NodePort"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("80:30008/TCP,53/UDP"),
                json!("120m"),
                json!("app=web,tier=front")
            ]
        );

        let pending = row(
            "Service",
            json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.11"], "ports": [{"port": 443, "nodePort": 31000}]}}),
        );
        assert_eq!(pending[3], "<pending>");
        assert_eq!(pending[4], "443:31000/TCP");
        assert_eq!(pending[5], "<unknown>");

        let ingress = row(
            "Service",
            json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "externalIPs": ["1.2.3.4"]},
            "status": {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example.com"}, {"ip": "5.6.7.8"}]}}}),
        );
        assert_eq!(ingress[3], "5.6.7.8,lb.example.com,1.2.3.4");

        let external = row(
            "Service",
            json!({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "db.example.com"}}),
        );
        assert_eq!(external[2], "<none>");
        assert_eq!(external[3], "db.example.com");
        assert_eq!(external[4], "<none>");
        assert_eq!(external[6], "<none>");

        let headless = row(
            "Service",
            json!({"metadata": {"name": "h"}, "spec": {"type": "ClusterIP", "clusterIP": "None", "externalIPs": ["9.9.9.9"]}}),
        );
        assert_eq!(headless[2], "None");
        assert_eq!(headless[3], "9.9.9.9");
    }

    #[test]
    fn nodes_show_readiness_roles_and_system_info() {
        let cells = row(
            "Node",
            json!({
                "metadata": {"name": "cp", "creationTimestamp": CREATED, "labels": {
                    "node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/": "", "kubernetes.io/role": "master", "kubernetes.io/hostname": "cp"}},
                "spec": {"unschedulable": true},
                "status": {
                    "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                    "addresses": [{"type": "Hostname", "address": "cp"}, {"type": "InternalIP", "address": "192.168.1.10"}],
                    "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12", "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://1.7.0"}
                }
            }),
        );
        assert_eq!(
            cells,
            vec![
                json!("cp"),
                json!("Ready,SchedulingDisabled"),
                json!("control-plane,master"),
                json!("120m"),
                json!("v1.32.0"),
                json!("192.168.1.10"),
                json!("<none>"),
                json!("Debian GNU/Linux 12"),
                json!("6.1.0"),
                json!("containerd://1.7.0")
            ]
        );
        let bare = row(
            "Node",
            json!({"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
        );
        assert_eq!(bare[1], "NotReady");
        assert_eq!(bare[2], "<none>");
        assert_eq!(bare[3], "<unknown>");
        assert_eq!(bare[7], "<unknown>");
        assert_eq!(
            row("Node", json!({"metadata": {"name": "n"}}))[1],
            "Unknown"
        );
    }

    #[test]
    fn deployments_show_ready_over_desired() {
        let cells = row(
            "Deployment",
            json!({
                "metadata": {"name": "web", "creationTimestamp": CREATED},
                "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                         "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]}}},
                "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
            }),
        );
        assert_eq!(
            cells,
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("120m"),
                json!("nginx,log"),
                json!("nginx:1.27,busybox"),
                json!("app=web")
            ]
        );
        let empty = row("Deployment", json!({"metadata": {"name": "d"}}));
        assert_eq!(empty[1], "0/1");
        assert_eq!(empty[7], "");
    }

    #[test]
    fn replica_sets_and_controllers_show_counts_and_selectors() {
        let rs = row(
            "ReplicaSet",
            json!({
                "metadata": {"name": "web-5d8f", "creationTimestamp": CREATED},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "pod-template-hash", "operator": "In", "values": ["5d8f"]}]},
                         "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}},
                "status": {"replicas": 2, "readyReplicas": 1}
            }),
        );
        assert_eq!(
            rs,
            vec![
                json!("web-5d8f"),
                json!(2),
                json!(2),
                json!(1),
                json!("120m"),
                json!("nginx"),
                json!("nginx"),
                json!("app=web,pod-template-hash in (5d8f)")
            ]
        );
        let rc = row(
            "ReplicationController",
            json!({"metadata": {"name": "rc"}, "spec": {"replicas": 0, "selector": {"app": "x"}}}),
        );
        assert_eq!(rc[1], 0);
        assert_eq!(rc[2], 0);
        assert_eq!(rc[5], "");
        assert_eq!(rc[7], "app=x");
        let no_selector = row("ReplicaSet", json!({"metadata": {"name": "r"}}));
        assert_eq!(no_selector[7], "<none>");
        let bad = row(
            "ReplicaSet",
            json!({"metadata": {"name": "r"}, "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Bogus"}]}}}),
        );
        assert_eq!(bad[7], "<error>");
    }

    #[test]
    fn stateful_sets_show_ready_over_desired() {
        let cells = row(
            "StatefulSet",
            json!({
                "metadata": {"name": "db", "creationTimestamp": CREATED},
                "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "pg", "image": "postgres:16"}]}}},
                "status": {"readyReplicas": 3}
            }),
        );
        assert_eq!(
            cells,
            vec![
                json!("db"),
                json!("3/3"),
                json!("120m"),
                json!("pg"),
                json!("postgres:16")
            ]
        );
    }

    #[test]
    fn daemon_sets_show_scheduling_counts_and_node_selector() {
        let cells = row(
            "DaemonSet",
            json!({
                "metadata": {"name": "proxy", "creationTimestamp": CREATED},
                "spec": {"selector": {"matchLabels": {"k8s-app": "proxy"}},
                         "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "p", "image": "proxy:1"}]}}},
                "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}
            }),
        );
        assert_eq!(
            cells,
            vec![
                json!("proxy"),
                json!(3),
                json!(3),
                json!(2),
                json!(3),
                json!(2),
                json!("kubernetes.io/os=linux"),
                json!("120m"),
                json!("p"),
                json!("proxy:1"),
                json!("k8s-app=proxy")
            ]
        );
    }

    #[test]
    fn jobs_show_status_completions_and_duration() {
        let complete = row(
            "Job",
            json!({
                "metadata": {"name": "pi", "creationTimestamp": CREATED},
                "spec": {"completions": 1, "parallelism": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
                         "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}},
                "status": {"succeeded": 1, "startTime": "2024-05-01T10:00:00Z", "completionTime": "2024-05-01T10:00:42Z",
                           "conditions": [{"type": "Complete", "status": "True"}]}
            }),
        );
        assert_eq!(
            complete,
            vec![
                json!("pi"),
                json!("Complete"),
                json!("1/1"),
                json!("42s"),
                json!("120m"),
                json!("pi"),
                json!("perl"),
                json!("batch.kubernetes.io/controller-uid=u")
            ]
        );
        let running = row(
            "Job",
            json!({"metadata": {"name": "w"}, "spec": {"parallelism": 3}, "status": {"startTime": "2024-05-01T11:57:00Z"}}),
        );
        assert_eq!(running[1], "Running");
        assert_eq!(running[2], "0/1 of 3");
        assert_eq!(running[3], "3m");
        let fresh = row("Job", json!({"metadata": {"name": "w"}}));
        assert_eq!(fresh[2], "0/1");
        assert_eq!(fresh[3], "");
        let failed = row(
            "Job",
            json!({"metadata": {"name": "w"}, "status": {"conditions": [{"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]}}),
        );
        assert_eq!(failed[1], "Failed");
        let suspended = row(
            "Job",
            json!({"metadata": {"name": "w"}, "status": {"conditions": [{"type": "Suspended", "status": "True"}]}}),
        );
        assert_eq!(suspended[1], "Suspended");
        let deleting = row(
            "Job",
            json!({"metadata": {"name": "w", "deletionTimestamp": CREATED}}),
        );
        assert_eq!(deleting[1], "Terminating");
    }

    #[test]
    fn cron_jobs_show_schedule_zone_suspension_and_last_run() {
        let cells = row(
            "CronJob",
            json!({
                "metadata": {"name": "backup", "creationTimestamp": CREATED},
                "spec": {"schedule": "*/5 * * * *", "suspend": false,
                         "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "backup:1"}]}}}}},
                "status": {"active": [{"name": "backup-1"}], "lastScheduleTime": "2024-05-01T11:55:00Z"}
            }),
        );
        assert_eq!(
            cells,
            vec![
                json!("backup"),
                json!("*/5 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("5m"),
                json!("120m"),
                json!("b"),
                json!("backup:1"),
                json!("<none>")
            ]
        );
        let zoned = row(
            "CronJob",
            json!({"metadata": {"name": "c"}, "spec": {"schedule": "@daily", "timeZone": "Etc/UTC", "suspend": true}}),
        );
        assert_eq!(zoned[2], "Etc/UTC");
        assert_eq!(zoned[3], "True");
        assert_eq!(zoned[5], "<none>");
    }

    #[test]
    fn config_maps_secrets_and_service_accounts_count_their_entries() {
        let cm = row(
            "ConfigMap",
            json!({"metadata": {"name": "c", "creationTimestamp": CREATED}, "data": {"a": "1"}, "binaryData": {"b": "AA=="}}),
        );
        assert_eq!(cm, vec![json!("c"), json!(2), json!("120m")]);
        let secret = row(
            "Secret",
            json!({"metadata": {"name": "s", "creationTimestamp": CREATED}, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}),
        );
        assert_eq!(
            secret,
            vec![
                json!("s"),
                json!("kubernetes.io/tls"),
                json!(2),
                json!("120m")
            ]
        );
        let sa = row(
            "ServiceAccount",
            json!({"metadata": {"name": "default", "creationTimestamp": CREATED}}),
        );
        assert_eq!(sa, vec![json!("default"), json!(0), json!("120m")]);
    }

    #[test]
    fn endpoints_list_address_port_pairs_up_to_three() {
        let cells = row(
            "Endpoints",
            json!({
                "metadata": {"name": "web", "creationTimestamp": CREATED},
                "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "fd00::3"}, {"ip": "10.0.0.4"}], "ports": [{"port": 80}]}]
            }),
        );
        assert_eq!(cells[1], "10.0.0.1:80,10.0.0.2:80,[fd00::3]:80 + 1 more...");
        let two = row(
            "Endpoints",
            json!({"metadata": {"name": "w"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}, {"port": 443}]}]}),
        );
        assert_eq!(two[1], "10.0.0.1:80,10.0.0.1:443");
        let headless = row(
            "Endpoints",
            json!({"metadata": {"name": "w"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]}),
        );
        assert_eq!(headless[1], "10.0.0.1");
        assert_eq!(
            row("Endpoints", json!({"metadata": {"name": "w"}}))[1],
            "<none>"
        );
    }

    #[test]
    fn endpoint_slices_list_ports_and_addresses() {
        let cells = row(
            "EndpointSlice",
            json!({
                "metadata": {"name": "web-abc", "creationTimestamp": CREATED},
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": 80}, {"name": "named"}, {}],
                "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3", "10.0.0.4"]}]
            }),
        );
        assert_eq!(
            cells,
            vec![
                json!("web-abc"),
                json!("IPv4"),
                json!("80,named,*"),
                json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more..."),
                json!("120m")
            ]
        );
        let empty = row(
            "EndpointSlice",
            json!({"metadata": {"name": "e"}, "addressType": "IPv6"}),
        );
        assert_eq!(empty[2], "<unset>");
        assert_eq!(empty[3], "<unset>");
    }

    #[test]
    fn events_show_times_target_source_and_count() {
        let cells = row(
            "Event",
            json!({
                "metadata": {"name": "web-0.17a", "namespace": "default"},
                "involvedObject": {"kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{app}"},
                "reason": "Pulled", "type": "Normal", "message": "  Container image pulled \n",
                "source": {"component": "kubelet", "host": "node-1"},
                "firstTimestamp": "2024-05-01T11:50:00Z", "lastTimestamp": "2024-05-01T11:58:00Z", "count": 4
            }),
        );
        assert_eq!(
            cells,
            vec![
                json!("2m"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web-0"),
                json!("spec.containers{app}"),
                json!("kubelet, node-1"),
                json!("Container image pulled"),
                json!("10m"),
                json!(4),
                json!("web-0.17a")
            ]
        );
        let new_style = row(
            "Event",
            json!({
                "metadata": {"name": "e"},
                "involvedObject": {"kind": "Node"},
                "eventTime": "2024-05-01T11:59:30.000000Z",
                "reportingComponent": "scheduler", "reportingInstance": "",
            }),
        );
        assert_eq!(new_style[0], "30s");
        assert_eq!(new_style[3], "node");
        assert_eq!(new_style[5], "scheduler");
        assert_eq!(new_style[7], "30s");
        assert_eq!(new_style[8], 1);
        let series = row(
            "Event",
            json!({
                "metadata": {"name": "e"}, "eventTime": "2024-05-01T11:00:00.000000Z",
                "series": {"count": 7, "lastObservedTime": "2024-05-01T11:59:00.000000Z"}
            }),
        );
        assert_eq!(series[0], "60s");
        assert_eq!(series[8], 7);
    }

    #[test]
    fn leases_show_their_holder() {
        let cells = row(
            "Lease",
            json!({"metadata": {"name": "node-1", "creationTimestamp": CREATED}, "spec": {"holderIdentity": "node-1"}}),
        );
        assert_eq!(cells, vec![json!("node-1"), json!("node-1"), json!("120m")]);
        assert_eq!(row("Lease", json!({"metadata": {"name": "l"}}))[1], "");
    }

    #[test]
    fn resource_quotas_split_requests_and_limits() {
        let cells = row(
            "ResourceQuota",
            json!({
                "metadata": {"name": "q", "creationTimestamp": CREATED},
                "status": {
                    "hard": {"pods": "10", "requests.cpu": "4", "limits.memory": "8Gi", "limits.cpu": "8"},
                    "used": {"pods": "3", "requests.cpu": "500m", "limits.cpu": "1"}
                }
            }),
        );
        assert_eq!(
            cells,
            vec![
                json!("q"),
                json!("120m"),
                json!("pods: 3/10, requests.cpu: 500m/4"),
                json!("limits.cpu: 1/8, limits.memory: 0/8Gi")
            ]
        );
    }

    #[test]
    fn limit_ranges_show_the_creation_time() {
        let cells = row(
            "LimitRange",
            json!({"metadata": {"name": "limits", "creationTimestamp": "2024-05-01T10:00:00Z"}}),
        );
        assert_eq!(cells, vec![json!("limits"), json!("2024-05-01T10:00:00Z")]);
        assert_eq!(
            row("LimitRange", json!({"metadata": {"name": "l"}}))[1],
            "0001-01-01T00:00:00Z"
        );
    }

    #[test]
    fn certificate_signing_requests_show_signer_requestor_and_condition() {
        let cells = row(
            "CertificateSigningRequest",
            json!({
                "metadata": {"name": "csr-1", "creationTimestamp": CREATED},
                "spec": {"signerName": "kubernetes.io/kube-apiserver-client-kubelet", "username": "system:node:n1", "expirationSeconds": 86400},
                "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0t"}
            }),
        );
        assert_eq!(
            cells,
            vec![
                json!("csr-1"),
                json!("120m"),
                json!("kubernetes.io/kube-apiserver-client-kubelet"),
                json!("system:node:n1"),
                json!("24h"),
                json!("Approved,Issued")
            ]
        );
        let pending = row(
            "CertificateSigningRequest",
            json!({"metadata": {"name": "c"}, "status": {"conditions": [{"type": "Failed"}]}}),
        );
        assert_eq!(pending[2], "<none>");
        assert_eq!(pending[4], "<none>");
        assert_eq!(pending[5], "Pending,Failed");
        let denied = row(
            "CertificateSigningRequest",
            json!({"metadata": {"name": "c"}, "status": {"conditions": [{"type": "Approved"}, {"type": "Denied"}]}}),
        );
        assert_eq!(denied[5], "Denied");
    }

    #[test]
    fn controller_revisions_name_their_controller() {
        let cells = row(
            "ControllerRevision",
            json!({
                "metadata": {"name": "web-7b9", "creationTimestamp": CREATED, "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": true}]},
                "revision": 2
            }),
        );
        assert_eq!(
            cells,
            vec![
                json!("web-7b9"),
                json!("statefulset.apps/web"),
                json!(2),
                json!("120m")
            ]
        );
        let core_owner = row(
            "ControllerRevision",
            json!({"metadata": {"name": "r", "ownerReferences": [
            {"apiVersion": "v1", "kind": "Pod", "name": "p", "controller": true}]}}),
        );
        assert_eq!(core_owner[1], "pod/p");
        let orphan = row(
            "ControllerRevision",
            json!({"metadata": {"name": "r", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "d"}]}}),
        );
        assert_eq!(orphan[1], "<none>");
    }
}
