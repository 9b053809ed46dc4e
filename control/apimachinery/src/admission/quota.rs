//! ResourceQuota as Kubernetes v1.32 evaluates it: what each object uses (the evaluators of
//! `pkg/quota/v1/evaluator/core` and the generic object counter), which quotas an object falls
//! under (tracked resources and scopes), the `must specify` constraint on pods, the admission
//! check with its `exceeded quota` message, and the status the quota controller computes.
//!
//! Pure functions over `serde_json::Value`; the caller supplies the objects of the namespace and
//! the time. Differences from Kubernetes, both deliberate:
//! - quotas are read from `spec.hard`, not `status.hard`: the API server computes usage itself
//!   (see the server's quota admission), so a quota constrains from the moment it exists instead
//!   of refusing everything as "status unknown" until its controller first ran;
//! - where Kubernetes walks maps in random order, names are walked sorted.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::{json, Value};

use super::amount::{
    add, add_into, equal, exceeding, is_zero, list_from_json, list_to_json, mask, negative, pretty,
    subtract_non_negative, Amount, ResourceList,
};
use super::defaults::pod_qos_class;
use super::json::{arr_of, str_of};

/// Resources the pod evaluator tracks by exact name.
const POD_RESOURCES: &[&str] = &[
    "count/pods",
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
];

/// Quota on these obliges every container of a pod to declare them (a compatibility rule
/// Kubernetes keeps for cpu and memory only).
const VALIDATION_SET: &[&str] = &[
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

const SERVICE_RESOURCES: &[&str] = &[
    "count/services",
    "services",
    "services.nodeports",
    "services.loadbalancers",
];

const PVC_RESOURCES: &[&str] = &[
    "count/persistentvolumeclaims",
    "persistentvolumeclaims",
    "requests.storage",
];

/// `<class>.storageclass.storage.k8s.io/requests.storage` and `.../persistentvolumeclaims`.
const STORAGE_CLASS_INFIX: &str = ".storageclass.storage.k8s.io/";

/// Core kinds whose object count also goes by its plain plural (`configmaps` = `count/configmaps`).
const LEGACY_COUNTS: &[&str] = &[
    "configmaps",
    "secrets",
    "replicationcontrollers",
    "resourcequotas",
];

/// `count/<plural>` for the core group, `count/<plural>.<group>` otherwise.
pub fn object_count_name(group: &str, plural: &str) -> String {
    if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    }
}

/// A resource name without a domain, or in `kubernetes.io/`, is native.
fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_pod_resource(name: &str) -> bool {
    POD_RESOURCES.contains(&name)
        || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-")
        // Extended resources (`requests.example.com/gpu`) are quota'd by request only.
        || (name.starts_with("requests.") && !is_native(name))
}

fn is_pvc_resource(name: &str) -> bool {
    PVC_RESOURCES.contains(&name)
        || name
            .split_once(STORAGE_CLASS_INFIX)
            .is_some_and(|(class, what)| {
                !class.is_empty()
                    && (what == "requests.storage" || what == "persistentvolumeclaims")
            })
}

/// The collection, as (group, plural), whose objects a quota resource name measures; None for
/// names no evaluator knows.
pub fn collection_of(name: &str) -> Option<(String, String)> {
    let core = |p: &str| Some((String::new(), p.to_string()));
    if is_pod_resource(name) {
        return core("pods");
    }
    if SERVICE_RESOURCES.contains(&name) {
        return core("services");
    }
    if is_pvc_resource(name) {
        return core("persistentvolumeclaims");
    }
    if LEGACY_COUNTS.contains(&name) {
        return core(name);
    }
    let rest = name.strip_prefix("count/")?;
    match rest.split_once('.') {
        Some((plural, group)) if !plural.is_empty() && !group.is_empty() => {
            Some((group.to_string(), plural.to_string()))
        }
        Some(_) => None,
        None if !rest.is_empty() => core(rest),
        None => None,
    }
}

/// The names among `names` that objects of (group, plural) use (`MatchingResources`).
pub fn matching_resources<'a>(
    group: &str,
    plural: &str,
    names: impl IntoIterator<Item = &'a String>,
) -> Vec<String> {
    names
        .into_iter()
        .filter(|n| collection_of(n).is_some_and(|(g, p)| g == group && p == plural))
        .cloned()
        .collect()
}

/// The distinct collections a quota's hard limits need counted, in name order.
pub fn collections_of(quota: &Value) -> Vec<(String, String)> {
    let set: BTreeSet<(String, String)> = hard_of(quota)
        .keys()
        .filter_map(|n| collection_of(n))
        .collect();
    set.into_iter().collect()
}

/// Whether updates of this kind can change its usage (a Service changing type, a claim
/// growing); every other kind is charged on create only.
pub fn charges_updates(group: &str, plural: &str) -> bool {
    group.is_empty() && (plural == "services" || plural == "persistentvolumeclaims")
}

fn hard_of(quota: &Value) -> ResourceList {
    list_from_json(quota["spec"].get("hard"))
}

fn name_of(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap_or("")
}

// ---- usage --------------------------------------------------------------------------------

/// What one object uses, by the evaluator of its collection.
pub fn usage(group: &str, plural: &str, obj: &Value, now: Timestamp) -> ResourceList {
    match (group, plural) {
        ("", "pods") => pod_usage(obj, now),
        ("", "services") => service_usage(obj),
        ("", "persistentvolumeclaims") => pvc_usage(obj),
        _ => {
            let mut out = ResourceList::new();
            out.insert(object_count_name(group, plural), Amount::count(1));
            if group.is_empty() && LEGACY_COUNTS.contains(&plural) {
                out.insert(plural.to_string(), Amount::count(1));
            }
            out
        }
    }
}

/// Whether a pod still counts for compute quota: not in a terminal phase, and not past the end
/// of its deletion grace period (a pod stuck terminating on a lost node must not block new ones).
pub fn pod_counts(pod: &Value, now: Timestamp) -> bool {
    let phase = pod["status"]["phase"].as_str().unwrap_or("");
    if phase == "Succeeded" || phase == "Failed" {
        return false;
    }
    let meta = &pod["metadata"];
    if let (Some(ts), Some(grace)) = (
        meta["deletionTimestamp"].as_str(),
        meta["deletionGracePeriodSeconds"].as_i64(),
    ) {
        let end = ts
            .parse::<Timestamp>()
            .ok()
            .and_then(|at| at.checked_add(jiff::SignedDuration::from_secs(grace)).ok());
        if end.is_some_and(|end| now > end) {
            return false;
        }
    }
    true
}

/// A pod's usage: `count/pods` always (every stored pod), and `pods` with compute resources
/// while [`pod_counts`].
fn pod_usage(pod: &Value, now: Timestamp) -> ResourceList {
    let mut out = ResourceList::new();
    out.insert("count/pods".into(), Amount::count(1));
    if !pod_counts(pod, now) {
        return out;
    }
    let spec = &pod["spec"];
    let overhead = list_from_json(spec.get("overhead"));
    let mut requests = super::limitrange::pod_total(spec, "requests");
    add_into(&mut requests, &overhead);
    let mut limits = super::limitrange::pod_total(spec, "limits");
    for (k, v) in &overhead {
        if let Some(l) = limits.get_mut(k) {
            *l = l.plus(*v);
        }
    }
    add(&out, &compute_usage(&requests, &limits))
}

/// The quota names that requests and limits fill (`podComputeUsageHelper`).
fn compute_usage(requests: &ResourceList, limits: &ResourceList) -> ResourceList {
    let mut out = ResourceList::new();
    out.insert("pods".into(), Amount::count(1));
    for r in ["cpu", "memory", "ephemeral-storage"] {
        if let Some(v) = requests.get(r) {
            out.insert(r.to_string(), *v);
            out.insert(format!("requests.{r}"), *v);
        }
        if let Some(v) = limits.get(r) {
            out.insert(format!("limits.{r}"), *v);
        }
    }
    for (name, v) in requests {
        if name.starts_with("hugepages-") {
            out.insert(name.clone(), *v);
            out.insert(format!("requests.{name}"), *v);
        }
        if !is_native(name) && !name.starts_with("requests.") {
            out.insert(format!("requests.{name}"), *v);
        }
    }
    out
}

fn service_usage(svc: &Value) -> ResourceList {
    let spec = &svc["spec"];
    let ports = arr_of(spec, "ports");
    let mut out = ResourceList::new();
    out.insert("count/services".into(), Amount::count(1));
    out.insert("services".into(), Amount::count(1));
    let mut node_ports = 0;
    let mut load_balancers = 0;
    match str_of(spec, "type") {
        "NodePort" => node_ports = ports.len(),
        "LoadBalancer" => {
            load_balancers = 1;
            // Without node port allocation only ports that name one explicitly use one.
            node_ports = if spec["allocateLoadBalancerNodePorts"].as_bool() == Some(false) {
                ports
                    .iter()
                    .filter(|p| p["nodePort"].as_i64().unwrap_or(0) != 0)
                    .count()
            } else {
                ports.len()
            };
        }
        _ => {}
    }
    out.insert(
        "services.nodeports".into(),
        Amount::count(node_ports as i64),
    );
    out.insert(
        "services.loadbalancers".into(),
        Amount::count(load_balancers),
    );
    out
}

fn pvc_class(pvc: &Value) -> &str {
    pvc["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"]
        .as_str()
        .or_else(|| pvc["spec"]["storageClassName"].as_str())
        .unwrap_or("")
}

fn pvc_usage(pvc: &Value) -> ResourceList {
    let mut out = ResourceList::new();
    out.insert("persistentvolumeclaims".into(), Amount::count(1));
    out.insert("count/persistentvolumeclaims".into(), Amount::count(1));
    let class = pvc_class(pvc);
    if !class.is_empty() {
        out.insert(
            format!("{class}{STORAGE_CLASS_INFIX}persistentvolumeclaims"),
            Amount::count(1),
        );
    }
    let requested = pvc["spec"]["resources"]["requests"]
        .get("storage")
        .and_then(Amount::from_json);
    // A claim whose expansion was recorded as allocated is charged the larger size.
    let allocated = pvc["status"]["allocatedResources"]
        .get("storage")
        .and_then(Amount::from_json);
    if let Some(mut storage) = requested {
        if let Some(a) = allocated {
            if a > storage {
                storage = a;
            }
        }
        // Whole bytes, rounded up.
        let whole = storage.value() * 1_000_000_000;
        storage.nanos = whole;
        out.insert("requests.storage".into(), storage);
        if !class.is_empty() {
            out.insert(
                format!("{class}{STORAGE_CLASS_INFIX}requests.storage"),
                storage,
            );
        }
    }
    out
}

// ---- scopes -------------------------------------------------------------------------------

/// One scope requirement: `spec.scopes` entries are `Exists` requirements.
struct ScopeRequirement {
    scope: String,
    operator: String,
    values: Vec<String>,
}

fn scope_requirements(quota: &Value) -> Vec<ScopeRequirement> {
    let spec = &quota["spec"];
    let mut out: Vec<ScopeRequirement> = arr_of(spec, "scopes")
        .iter()
        .filter_map(Value::as_str)
        .map(|s| ScopeRequirement {
            scope: s.to_string(),
            operator: "Exists".into(),
            values: Vec::new(),
        })
        .collect();
    for e in arr_of(&spec["scopeSelector"], "matchExpressions") {
        out.push(ScopeRequirement {
            scope: str_of(e, "scopeName").to_string(),
            operator: str_of(e, "operator").to_string(),
            values: arr_of(e, "values")
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        });
    }
    out
}

fn is_terminating(pod: &Value) -> bool {
    pod["spec"]["activeDeadlineSeconds"]
        .as_i64()
        .is_some_and(|s| s >= 0)
}

fn uses_cross_namespace_affinity(pod: &Value) -> bool {
    let affinity = &pod["spec"]["affinity"];
    let crosses = |term: &Value| {
        !arr_of(term, "namespaces").is_empty() || !term["namespaceSelector"].is_null()
    };
    ["podAffinity", "podAntiAffinity"].iter().any(|kind| {
        let a = &affinity[*kind];
        arr_of(a, "requiredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .any(crosses)
            || arr_of(a, "preferredDuringSchedulingIgnoredDuringExecution")
                .iter()
                .any(|w| crosses(&w["podAffinityTerm"]))
    })
}

fn pod_matches_scope(req: &ScopeRequirement, pod: &Value) -> bool {
    match req.scope.as_str() {
        "Terminating" => is_terminating(pod),
        "NotTerminating" => !is_terminating(pod),
        "BestEffort" => pod_qos_class(&pod["spec"]) == "BestEffort",
        "NotBestEffort" => pod_qos_class(&pod["spec"]) != "BestEffort",
        "PriorityClass" => {
            // Matched as a label selector over {PriorityClass: <name>}, the key absent when the
            // pod names no class.
            let class = str_of(&pod["spec"], "priorityClassName");
            let present = !class.is_empty();
            let listed = req.values.iter().any(|v| v == class);
            match req.operator.as_str() {
                "Exists" => present,
                "DoesNotExist" => !present,
                "In" => present && listed,
                "NotIn" => !(present && listed),
                _ => false,
            }
        }
        "CrossNamespacePodAffinity" => uses_cross_namespace_affinity(pod),
        _ => false,
    }
}

/// Whether an object falls under a quota's scopes. Scopes only ever select pods: a scoped quota
/// matches no other kind.
fn matches_scopes(reqs: &[ScopeRequirement], group: &str, plural: &str, obj: &Value) -> bool {
    if reqs.is_empty() {
        return true;
    }
    group.is_empty() && plural == "pods" && reqs.iter().all(|r| pod_matches_scope(r, obj))
}

/// Whether a quota applies to an object: it limits something the object's kind uses, and the
/// object is within its scopes.
pub fn matches(quota: &Value, group: &str, plural: &str, obj: &Value) -> bool {
    let hard = hard_of(quota);
    !matching_resources(group, plural, hard.keys()).is_empty()
        && matches_scopes(&scope_requirements(quota), group, plural, obj)
}

// ---- constraints --------------------------------------------------------------------------

/// What an object must declare for the quota resources in `required`; the error text follows
/// `must specify`.
pub fn constraints(
    group: &str,
    plural: &str,
    obj: &Value,
    required: &[String],
) -> Result<(), String> {
    match (group, plural) {
        ("", "pods") => pod_constraints(obj, required),
        ("", "persistentvolumeclaims") => pvc_constraints(obj, required),
        _ => Ok(()),
    }
}

fn pod_constraints(pod: &Value, required: &[String]) -> Result<(), String> {
    let required: BTreeSet<&str> = required
        .iter()
        .map(String::as_str)
        .filter(|r| VALIDATION_SET.contains(r))
        .collect();
    if required.is_empty() {
        return Ok(());
    }
    let mut missing: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let spec = &pod["spec"];
    for c in arr_of(spec, "containers")
        .iter()
        .chain(arr_of(spec, "initContainers"))
    {
        let requests = list_from_json(c["resources"].get("requests"));
        let limits = list_from_json(c["resources"].get("limits"));
        let declared = compute_usage(&requests, &limits);
        for r in &required {
            if !declared.contains_key(*r) {
                missing
                    .entry(r)
                    .or_default()
                    .insert(str_of(c, "name").to_string());
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let parts: Vec<String> = missing
        .iter()
        .map(|(r, names)| {
            format!(
                "{r} for: {}",
                names.iter().cloned().collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    Err(format!("must specify {}", parts.join("; ")))
}

fn pvc_constraints(pvc: &Value, required: &[String]) -> Result<(), String> {
    // Only the claim-wide names and those of this claim's own class are required of it.
    let class = pvc_class(pvc);
    let own = |r: &str| {
        PVC_RESOURCES.contains(&r)
            || (!class.is_empty()
                && r.strip_prefix(class)
                    .and_then(|rest| rest.strip_prefix(STORAGE_CLASS_INFIX))
                    .is_some())
    };
    let used = pvc_usage(pvc);
    let missing: BTreeSet<&str> = required
        .iter()
        .map(String::as_str)
        .filter(|r| own(r) && !used.contains_key(*r))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "must specify {}",
        missing.into_iter().collect::<Vec<_>>().join(",")
    ))
}

// ---- usage of a namespace -----------------------------------------------------------------

/// A quota's usage of the resources that (group, plural) objects use, over `objects` (the
/// namespace's objects of that collection): each tracked resource starts at zero, and every
/// object within the quota's scopes adds its usage.
pub fn calculate_usage(
    quota: &Value,
    group: &str,
    plural: &str,
    objects: &[Value],
    now: Timestamp,
) -> ResourceList {
    let hard = hard_of(quota);
    let tracked = matching_resources(group, plural, hard.keys());
    if tracked.is_empty() {
        return ResourceList::new();
    }
    let mut used: ResourceList = tracked.iter().map(|n| (n.clone(), Amount::ZERO)).collect();
    let reqs = scope_requirements(quota);
    for o in objects {
        if matches_scopes(&reqs, group, plural, o) {
            add_into(&mut used, &usage(group, plural, o, now));
        }
    }
    mask(&used, &tracked)
}

/// The status a quota should have: `hard` from its spec, `used` recomputed for every collection
/// `objects_of` can list (as (group, plural) → that namespace's objects), the previous value
/// kept for any it cannot, and nothing that is not limited.
pub fn recompute_status<'a>(
    quota: &Value,
    objects_of: impl Fn(&str, &str) -> Option<&'a [Value]>,
    now: Timestamp,
) -> Value {
    let hard = hard_of(quota);
    let mut used = list_from_json(quota["status"].get("used"));
    for (group, plural) in collections_of(quota) {
        if let Some(objs) = objects_of(&group, &plural) {
            used.extend(calculate_usage(quota, &group, &plural, objs, now));
        }
    }
    let used = mask(&used, hard.keys());
    json!({"hard": list_to_json(&hard), "used": list_to_json(&used)})
}

/// Whether a quota's current status differs from `wanted` in amounts (not merely in spelling,
/// `1000m` against `1`).
pub fn status_differs(current: &Value, wanted: &Value) -> bool {
    let same = |field: &str| {
        current.get(field).is_some()
            && equal(
                &list_from_json(current.get(field)),
                &list_from_json(wanted.get(field)),
            )
    };
    !(same("hard") && same("used"))
}

// ---- admission ----------------------------------------------------------------------------

/// The quotas (indexes into `quotas`) that an object being written falls under, after checking
/// that it declares what they require; the error is the text after `is forbidden: `.
pub fn pertinent_quotas(
    quotas: &[Value],
    group: &str,
    plural: &str,
    obj: &Value,
) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for (i, q) in quotas.iter().enumerate() {
        if !matches(q, group, plural, obj) {
            continue;
        }
        let hard = hard_of(q);
        let restricted = matching_resources(group, plural, hard.keys());
        constraints(group, plural, obj, &restricted)
            .map_err(|e| format!("failed quota: {}: {e}", name_of(q)))?;
        out.push(i);
    }
    Ok(out)
}

/// Charges a create (`old` None) or update to the pertinent quotas, given the namespace's
/// current objects of the collection (for an update, including the old version). Returns each
/// charged quota's index and the status it must be written with, or the refusal text.
///
/// The charge is what the object uses, less what its old version used (floored at zero); a
/// write that uses nothing more changes no quota.
#[allow(clippy::too_many_arguments)]
pub fn charge(
    quotas: &[Value],
    pertinent: &[usize],
    group: &str,
    plural: &str,
    new: &Value,
    old: Option<&Value>,
    objects: &[Value],
    now: Timestamp,
) -> Result<Vec<(usize, Value)>, String> {
    let mut delta = usage(group, plural, new, now);
    let neg = negative(&delta);
    if !neg.is_empty() {
        return Err(format!(
            "quota usage is negative for resource(s): {}",
            neg.join(",")
        ));
    }
    if let Some(old) = old {
        delta = subtract_non_negative(&delta, &usage(group, plural, old, now));
    }
    if is_zero(&delta) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for &i in pertinent {
        let q = &quotas[i];
        let hard = hard_of(q);
        let requested = mask(&delta, hard.keys());
        let used = calculate_usage(q, group, plural, objects, now);
        let new_usage = add(&used, &requested);
        let exceeded = exceeding(&mask(&new_usage, requested.keys()), &hard);
        if !exceeded.is_empty() {
            return Err(format!(
                "exceeded quota: {}, requested: {}, used: {}, limited: {}",
                name_of(q),
                pretty(&mask(&requested, &exceeded)),
                pretty(&mask(&used, &exceeded)),
                pretty(&mask(&hard, &exceeded)),
            ));
        }
        let mut status_used = mask(&list_from_json(q["status"].get("used")), hard.keys());
        status_used.extend(mask(&new_usage, hard.keys()));
        out.push((
            i,
            json!({"hard": list_to_json(&hard), "used": list_to_json(&status_used)}),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2025-01-01T00:00:00Z".parse().unwrap()
    }

    fn quota(name: &str, hard: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name, "namespace": "ns"}, "spec": {"hard": hard}})
    }

    fn pod(name: &str, resources: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "ns"},
               "spec": {"containers": [{"name": "app", "image": "x", "resources": resources}]},
               "status": {"phase": "Pending"}})
    }

    fn compute() -> Value {
        quota(
            "compute",
            json!({"pods": "2", "requests.cpu": "1", "requests.memory": "1Gi", "limits.cpu": "2", "limits.memory": "2Gi"}),
        )
    }

    fn sized(name: &str) -> Value {
        pod(
            name,
            json!({"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}),
        )
    }

    #[test]
    fn resource_names_map_to_their_collections() {
        let core = |p: &str| Some((String::new(), p.to_string()));
        assert_eq!(collection_of("requests.cpu"), core("pods"));
        assert_eq!(collection_of("count/pods"), core("pods"));
        assert_eq!(collection_of("requests.example.com/gpu"), core("pods"));
        assert_eq!(collection_of("hugepages-2Mi"), core("pods"));
        assert_eq!(collection_of("services.nodeports"), core("services"));
        assert_eq!(
            collection_of("requests.storage"),
            core("persistentvolumeclaims")
        );
        assert_eq!(
            collection_of("gold.storageclass.storage.k8s.io/requests.storage"),
            core("persistentvolumeclaims")
        );
        assert_eq!(collection_of("configmaps"), core("configmaps"));
        assert_eq!(collection_of("count/secrets"), core("secrets"));
        assert_eq!(
            collection_of("count/deployments.apps"),
            Some(("apps".into(), "deployments".into()))
        );
        assert_eq!(collection_of("requests.kubernetes.io/foo"), None);
        assert_eq!(collection_of("count/"), None);
        assert_eq!(collection_of("bogus"), None);
    }

    #[test]
    fn pod_usage_sums_containers_and_skips_finished_pods() {
        let mut p = json!({"metadata": {"name": "p"}, "spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "500m"}}},
                {"name": "b", "resources": {"requests": {"cpu": "250m", "memory": "64Mi", "example.com/gpu": "1"}}}
            ],
            "overhead": {"cpu": "100m"}
        }, "status": {"phase": "Running"}});
        let u = usage("", "pods", &p, now());
        assert_eq!(
            pretty(&u),
            "count/pods=1,cpu=600m,limits.cpu=600m,memory=128Mi,pods=1,requests.cpu=600m,requests.example.com/gpu=1,requests.memory=128Mi"
        );
        p["status"]["phase"] = json!("Succeeded");
        assert_eq!(pretty(&usage("", "pods", &p, now())), "count/pods=1");
        p["status"]["phase"] = json!("Running");
        p["metadata"]["deletionTimestamp"] = json!("2024-12-31T23:59:00Z");
        p["metadata"]["deletionGracePeriodSeconds"] = json!(30);
        assert!(!pod_counts(&p, now()));
        p["metadata"]["deletionGracePeriodSeconds"] = json!(120);
        assert!(pod_counts(&p, now()));
    }

    #[test]
    fn service_usage_counts_node_ports_and_load_balancers() {
        let svc = |t: &str| json!({"spec": {"type": t, "ports": [{"port": 80}, {"port": 443, "nodePort": 30001}]}});
        assert_eq!(
            pretty(&usage("", "services", &svc("ClusterIP"), now())),
            "count/services=1,services=1,services.loadbalancers=0,services.nodeports=0"
        );
        assert_eq!(
            pretty(&usage("", "services", &svc("NodePort"), now())),
            "count/services=1,services=1,services.loadbalancers=0,services.nodeports=2"
        );
        let mut lb = svc("LoadBalancer");
        assert_eq!(
            usage("", "services", &lb, now())["services.loadbalancers"],
            Amount::count(1)
        );
        lb["spec"]["allocateLoadBalancerNodePorts"] = json!(false);
        assert_eq!(
            usage("", "services", &lb, now())["services.nodeports"],
            Amount::count(1)
        );
    }

    #[test]
    fn generic_kinds_count_objects_under_both_names() {
        let cm = json!({"metadata": {"name": "c"}});
        assert_eq!(
            pretty(&usage("", "configmaps", &cm, now())),
            "configmaps=1,count/configmaps=1"
        );
        assert_eq!(
            pretty(&usage("apps", "deployments", &cm, now())),
            "count/deployments.apps=1"
        );
        let pvc = json!({"spec": {"storageClassName": "gold", "resources": {"requests": {"storage": "1.5Gi"}}}});
        assert_eq!(
            pretty(&usage("", "persistentvolumeclaims", &pvc, now())),
            "count/persistentvolumeclaims=1,gold.storageclass.storage.k8s.io/persistentvolumeclaims=1,gold.storageclass.storage.k8s.io/requests.storage=1536Mi,persistentvolumeclaims=1,requests.storage=1536Mi"
        );
    }

    #[test]
    fn pods_that_leave_out_quotaed_compute_resources_are_refused() {
        let quotas = [compute()];
        let bare = pod("p", json!({}));
        assert_eq!(
            pertinent_quotas(&quotas, "", "pods", &bare).unwrap_err(),
            "failed quota: compute: must specify limits.cpu for: app; limits.memory for: app; requests.cpu for: app; requests.memory for: app"
        );
        let only_requests = pod("p", json!({"requests": {"cpu": "1", "memory": "1Gi"}}));
        assert_eq!(
            pertinent_quotas(&quotas, "", "pods", &only_requests).unwrap_err(),
            "failed quota: compute: must specify limits.cpu for: app; limits.memory for: app"
        );
        assert_eq!(
            pertinent_quotas(&quotas, "", "pods", &sized("p")),
            Ok(vec![0])
        );
        // A quota on pods alone requires nothing of containers.
        let count_only = [quota("count", json!({"pods": "5"}))];
        assert_eq!(
            pertinent_quotas(&count_only, "", "pods", &bare),
            Ok(vec![0])
        );
        // Quotas on other kinds do not apply.
        let other = [quota("svc", json!({"services": "1"}))];
        assert_eq!(pertinent_quotas(&other, "", "pods", &bare), Ok(vec![]));
    }

    #[test]
    fn charges_fit_until_a_hard_limit_is_passed() {
        let quotas = [compute()];
        let existing = vec![sized("a")];
        let charged = charge(
            &quotas,
            &[0],
            "",
            "pods",
            &sized("b"),
            None,
            &existing,
            now(),
        )
        .unwrap();
        assert_eq!(charged.len(), 1);
        assert_eq!(
            charged[0].1,
            json!({"hard": {"limits.cpu": "2", "limits.memory": "2Gi", "pods": "2", "requests.cpu": "1", "requests.memory": "1Gi"},
                   "used": {"limits.cpu": "2", "limits.memory": "1Gi", "pods": "2", "requests.cpu": "1", "requests.memory": "512Mi"}})
        );
        let full = vec![sized("a"), sized("b")];
        assert_eq!(
            charge(&quotas, &[0], "", "pods", &sized("c"), None, &full, now()).unwrap_err(),
            "exceeded quota: compute, requested: limits.cpu=1,pods=1,requests.cpu=500m, used: limits.cpu=2,pods=2,requests.cpu=1, limited: limits.cpu=2,pods=2,requests.cpu=1"
        );
        // Finished pods no longer use anything.
        let mut done = sized("b");
        done["status"]["phase"] = json!("Failed");
        let with_done = vec![sized("a"), done];
        assert!(charge(
            &quotas,
            &[0],
            "",
            "pods",
            &sized("c"),
            None,
            &with_done,
            now()
        )
        .is_ok());
    }

    #[test]
    fn updates_are_charged_only_for_what_grows() {
        let quotas = [quota(
            "svc",
            json!({"services.nodeports": "1", "services": "5"}),
        )];
        let cluster_ip = json!({"metadata": {"name": "s"}, "spec": {"type": "ClusterIP", "ports": [{"port": 80}, {"port": 81}]}});
        let mut node_port = cluster_ip.clone();
        node_port["spec"]["type"] = json!("NodePort");
        let existing = vec![cluster_ip.clone()];
        // Relabelling a service uses nothing more.
        assert_eq!(
            charge(
                &quotas,
                &[0],
                "",
                "services",
                &cluster_ip,
                Some(&cluster_ip),
                &existing,
                now()
            ),
            Ok(vec![])
        );
        assert_eq!(
            charge(&quotas, &[0], "", "services", &node_port, Some(&cluster_ip), &existing, now()).unwrap_err(),
            "exceeded quota: svc, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1"
        );
    }

    #[test]
    fn scopes_select_pods_only() {
        let mut best_effort = quota("be", json!({"pods": "1"}));
        best_effort["spec"]["scopes"] = json!(["BestEffort"]);
        let mut terminating = quota("t", json!({"pods": "1", "count/configmaps": "1"}));
        terminating["spec"]["scopeSelector"] =
            json!({"matchExpressions": [{"scopeName": "Terminating", "operator": "Exists"}]});
        let bare = pod("p", json!({}));
        let sized_pod = sized("q");
        assert!(matches(&best_effort, "", "pods", &bare));
        assert!(!matches(&best_effort, "", "pods", &sized_pod));
        assert!(!matches(&terminating, "", "pods", &bare));
        let mut deadline = bare.clone();
        deadline["spec"]["activeDeadlineSeconds"] = json!(60);
        assert!(matches(&terminating, "", "pods", &deadline));
        assert!(!matches(&terminating, "", "configmaps", &json!({})));
        // Usage counts only pods within the scope.
        let used = calculate_usage(&best_effort, "", "pods", &[bare.clone(), sized_pod], now());
        assert_eq!(pretty(&used), "pods=1");
        let mut priority = quota("pc", json!({"pods": "1"}));
        priority["spec"]["scopeSelector"] = json!({"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]});
        let mut high = bare.clone();
        high["spec"]["priorityClassName"] = json!("high");
        assert!(matches(&priority, "", "pods", &high));
        assert!(!matches(&priority, "", "pods", &bare));
    }

    #[test]
    fn the_controller_recomputes_what_it_can_list_and_keeps_the_rest() {
        let mut q = quota(
            "mixed",
            json!({"pods": "4", "count/widgets.example.com": "3", "services": "2"}),
        );
        q["status"] = json!({"hard": {"pods": "4"}, "used": {"pods": "3", "count/widgets.example.com": "1", "stale": "9"}});
        let pods = [sized("a"), pod("b", json!({}))];
        let status = recompute_status(
            &q,
            |g, p| match (g, p) {
                ("", "pods") => Some(&pods[..]),
                ("", "services") => Some(&[]),
                _ => None,
            },
            now(),
        );
        assert_eq!(
            status,
            json!({"hard": {"count/widgets.example.com": "3", "pods": "4", "services": "2"},
                   "used": {"count/widgets.example.com": "1", "pods": "2", "services": "0"}})
        );
        assert!(status_differs(&q["status"], &status));
        let mut same = status.clone();
        same["used"]["pods"] = json!("2000m");
        assert!(!status_differs(&same, &status));
        assert!(status_differs(&json!({}), &status));
    }
}
