//! The LimitRanger admission plugin of Kubernetes v1.32, for pods: the mutating half fills in
//! the default requests and limits of a namespace's `Container` LimitRanges and records what it
//! set in the `kubernetes.io/limit-ranger` annotation; the validating half enforces `min`, `max`
//! and `maxLimitRequestRatio` per container (`Container`) and per pod (`Pod`), with Kubernetes'
//! messages. Only pod creation is admitted: pod containers cannot change afterwards.
//!
//! The `PersistentVolumeClaim` type is not enforced: this server does not serve
//! PersistentVolumeClaims, so there is nothing for it to apply to.
//!
//! Both halves take the namespace's LimitRanges in name order (the order a lister returns them
//! in is unspecified in Kubernetes; a fixed one keeps results reproducible) and walk resource
//! names sorted, where Kubernetes walks Go maps in random order.

use serde_json::{json, Map, Value};

use super::amount::{add_into, list_from_json, max_into, Amount, ResourceList};
use super::json::{arr_of, child_obj, str_of};

/// The annotation LimitRanger writes on pods it changed.
pub const LIMIT_RANGER_ANNOTATION: &str = "kubernetes.io/limit-ranger";

/// The largest value Kubernetes compares at milli precision (`resource.MaxMilliValue`).
const MAX_MILLI_VALUE: i128 = (i64::MAX / 1000) as i128;

/// The mutating half: applies every LimitRange's container defaults to a pod being created.
pub fn apply_defaults(pod: &mut Value, limit_ranges: &[Value]) {
    for lr in limit_ranges {
        apply_one(pod, lr);
    }
}

/// One LimitRange's defaults (`PodMutateLimitFunc`): absent requests and limits are filled,
/// containers first, then init containers; the annotation lists what was set and is replaced
/// by each LimitRange that sets something.
fn apply_one(pod: &mut Value, lr: &Value) {
    let mut default_requests = Map::new();
    let mut default_limits = Map::new();
    for item in arr_of(&lr["spec"], "limits") {
        if str_of(item, "type") != "Container" {
            continue;
        }
        for (k, v) in item["defaultRequest"].as_object().into_iter().flatten() {
            default_requests.insert(k.clone(), v.clone());
        }
        for (k, v) in item["default"].as_object().into_iter().flatten() {
            default_limits.insert(k.clone(), v.clone());
        }
    }
    if default_requests.is_empty() && default_limits.is_empty() {
        return;
    }
    let mut notes: Vec<String> = Vec::new();
    let Some(spec) = pod.get_mut("spec") else {
        return;
    };
    for (list, what) in [
        ("containers", "container"),
        ("initContainers", "init container"),
    ] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers.iter_mut() {
            let name = str_of(c, "name").to_string();
            let resources = child_obj(c, "resources");
            let set_limits = fill_missing(resources, "limits", &default_limits);
            let set_requests = fill_missing(resources, "requests", &default_requests);
            if !set_requests.is_empty() {
                notes.push(format!(
                    "{} request for {what} {name}",
                    set_requests.join(", ")
                ));
            }
            if !set_limits.is_empty() {
                notes.push(format!("{} limit for {what} {name}", set_limits.join(", ")));
            }
        }
    }
    if !notes.is_empty() {
        let annotations = child_obj(child_obj(pod, "metadata"), "annotations");
        annotations[LIMIT_RANGER_ANNOTATION] =
            json!(format!("LimitRanger plugin set: {}", notes.join("; ")));
    }
}

/// Copies the defaults a container lacks into `resources[field]`; returns their names, sorted.
/// Called only with defaults to give, so the map it creates never stays empty.
fn fill_missing(resources: &mut Value, field: &str, defaults: &Map<String, Value>) -> Vec<String> {
    let mut set = Vec::new();
    if defaults.is_empty() {
        return set;
    }
    let target = child_obj(resources, field);
    let map = target.as_object_mut().expect("child_obj makes an object");
    for (k, v) in defaults {
        if !map.contains_key(k) {
            map.insert(k.clone(), v.clone());
            set.push(k.clone());
        }
    }
    set.sort();
    set
}

/// The validating half (`PodValidateLimitFunc` over each LimitRange): the message of the first
/// LimitRange the pod violates, all of its violations aggregated as Kubernetes aggregates
/// errors (one alone, several deduplicated in brackets).
pub fn validate(pod: &Value, limit_ranges: &[Value]) -> Result<(), String> {
    for lr in limit_ranges {
        let errs = violations(pod, lr);
        if !errs.is_empty() {
            return Err(aggregate(errs));
        }
    }
    Ok(())
}

fn violations(pod: &Value, lr: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let spec = &pod["spec"];
    for item in arr_of(&lr["spec"], "limits") {
        let kind = str_of(item, "type");
        let min = sorted(&item["min"]);
        let max = sorted(&item["max"]);
        let ratio = sorted(&item["maxLimitRequestRatio"]);
        let mut check = |requests: &ResourceList, limits: &ResourceList| {
            for (k, v) in &min {
                errs.extend(min_constraint(kind, k, *v, requests, limits));
            }
            for (k, v) in &max {
                errs.extend(max_constraint(kind, k, *v, requests, limits));
            }
            for (k, v) in &ratio {
                errs.extend(ratio_constraint(kind, k, *v, requests, limits));
            }
        };
        match kind {
            "Container" => {
                for c in arr_of(spec, "containers")
                    .iter()
                    .chain(arr_of(spec, "initContainers"))
                {
                    let requests = list_from_json(c["resources"].get("requests"));
                    let limits = list_from_json(c["resources"].get("limits"));
                    check(&requests, &limits);
                }
            }
            "Pod" => {
                let requests = pod_total(spec, "requests");
                let limits = pod_total(spec, "limits");
                check(&requests, &limits);
            }
            _ => {}
        }
    }
    errs
}

fn sorted(v: &Value) -> Vec<(String, Amount)> {
    // A BTreeMap iterates in name order.
    list_from_json(Some(v)).into_iter().collect()
}

/// A pod's effective requests or limits: the sum of its containers and restartable (sidecar)
/// init containers, or the largest need of any one init container (with the sidecars started
/// before it) if that is more. No overhead, as LimitRanger computes it.
pub fn pod_total(spec: &Value, field: &str) -> ResourceList {
    let mut total = ResourceList::new();
    for c in arr_of(spec, "containers") {
        add_into(&mut total, &list_from_json(c["resources"].get(field)));
    }
    let mut sidecars = ResourceList::new();
    let mut init_peak = ResourceList::new();
    for c in arr_of(spec, "initContainers") {
        let own = list_from_json(c["resources"].get(field));
        let need = if str_of(c, "restartPolicy") == "Always" {
            add_into(&mut total, &own);
            add_into(&mut sidecars, &own);
            sidecars.clone()
        } else {
            let mut tmp = own;
            add_into(&mut tmp, &sidecars);
            tmp
        };
        max_into(&mut init_peak, &need);
    }
    max_into(&mut total, &init_peak);
    total
}

/// Request, limit and bound at one precision: thousandths when all three fit, else units.
fn comparable(req: Option<Amount>, lim: Option<Amount>, bound: Amount) -> (i128, i128, i128) {
    let req = req.unwrap_or(Amount::ZERO);
    let lim = lim.unwrap_or(Amount::ZERO);
    let (r, l, b) = (req.value(), lim.value(), bound.value());
    if r <= MAX_MILLI_VALUE && l <= MAX_MILLI_VALUE && b <= MAX_MILLI_VALUE {
        (req.milli_value(), lim.milli_value(), bound.milli_value())
    } else {
        (r, l, b)
    }
}

fn min_constraint(
    kind: &str,
    name: &str,
    bound: Amount,
    requests: &ResourceList,
    limits: &ResourceList,
) -> Option<String> {
    let req = requests.get(name).copied();
    let lim = limits.get(name).copied();
    let (r, l, b) = comparable(req, lim, bound);
    let bound_s = bound.canonical();
    let Some(req) = req else {
        return Some(format!(
            "minimum {name} usage per {kind} is {bound_s}.  No request is specified"
        ));
    };
    if r < b {
        return Some(format!(
            "minimum {name} usage per {kind} is {bound_s}, but request is {}",
            req.canonical()
        ));
    }
    match lim {
        Some(lim) if l < b => Some(format!(
            "minimum {name} usage per {kind} is {bound_s}, but limit is {}",
            lim.canonical()
        )),
        _ => None,
    }
}

fn max_constraint(
    kind: &str,
    name: &str,
    bound: Amount,
    requests: &ResourceList,
    limits: &ResourceList,
) -> Option<String> {
    let req = requests.get(name).copied();
    let lim = limits.get(name).copied();
    let (r, l, b) = comparable(req, lim, bound);
    let bound_s = bound.canonical();
    let Some(lim) = lim else {
        return Some(format!(
            "maximum {name} usage per {kind} is {bound_s}.  No limit is specified"
        ));
    };
    if l > b {
        return Some(format!(
            "maximum {name} usage per {kind} is {bound_s}, but limit is {}",
            lim.canonical()
        ));
    }
    match req {
        Some(req) if r > b => Some(format!(
            "maximum {name} usage per {kind} is {bound_s}, but request is {}",
            req.canonical()
        )),
        _ => None,
    }
}

fn ratio_constraint(
    kind: &str,
    name: &str,
    bound: Amount,
    requests: &ResourceList,
    limits: &ResourceList,
) -> Option<String> {
    let req = requests.get(name).copied();
    let lim = limits.get(name).copied();
    let (r, l, _) = comparable(req, lim, bound);
    let bound_s = bound.canonical();
    if req.is_none() || r == 0 {
        return Some(format!("{name} max limit to request ratio per {kind} is {bound_s}, but no request is specified or request is 0"));
    }
    if lim.is_none() || l == 0 {
        return Some(format!("{name} max limit to request ratio per {kind} is {bound_s}, but no limit is specified or limit is 0"));
    }
    let shown = l as f64 / r as f64;
    let (observed, allowed) = if bound.value() <= MAX_MILLI_VALUE {
        (shown * 1000.0, bound.milli_value() as f64)
    } else {
        (shown, bound.value() as f64)
    };
    (observed > allowed).then(|| {
        format!(
            "{name} max limit to request ratio per {kind} is {bound_s}, but provided ratio is {shown:.6}"
        )
    })
}

/// `utilerrors.NewAggregate(errs).Error()`: one message alone; several, deduplicated, in
/// brackets and separated by commas.
fn aggregate(errs: Vec<String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errs {
        if !seen.contains(&e) {
            seen.push(e);
        }
    }
    if seen.len() == 1 {
        seen.remove(0)
    } else {
        format!("[{}]", seen.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lr(limits: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"}, "spec": {"limits": limits}})
    }

    fn pod(containers: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"containers": containers}})
    }

    #[test]
    fn defaults_fill_missing_requests_and_limits_and_annotate() {
        let ranges = [lr(json!([{
            "type": "Container",
            "default": {"cpu": "500m", "memory": "256Mi"},
            "defaultRequest": {"cpu": "250m", "memory": "128Mi"}
        }]))];
        let mut p = pod(json!([
            {"name": "app", "image": "x"},
            {"name": "side", "image": "y", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}}
        ]));
        p["spec"]["initContainers"] = json!([{"name": "init", "image": "z"}]);
        apply_defaults(&mut p, &ranges);
        let app = &p["spec"]["containers"][0]["resources"];
        assert_eq!(app["requests"], json!({"cpu": "250m", "memory": "128Mi"}));
        assert_eq!(app["limits"], json!({"cpu": "500m", "memory": "256Mi"}));
        let side = &p["spec"]["containers"][1]["resources"];
        assert_eq!(side["requests"], json!({"cpu": "1", "memory": "128Mi"}));
        assert_eq!(side["limits"], json!({"cpu": "1", "memory": "256Mi"}));
        assert_eq!(
            p["metadata"]["annotations"][LIMIT_RANGER_ANNOTATION],
            "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app; memory request for container side; memory limit for container side; cpu, memory request for init container init; cpu, memory limit for init container init"
        );
    }

    #[test]
    fn pods_that_need_nothing_are_left_alone() {
        let ranges = [lr(
            json!([{"type": "Container", "max": {"cpu": "2"}, "default": {"cpu": "1"}, "defaultRequest": {"cpu": "1"}}]),
        )];
        let mut p = pod(
            json!([{"name": "app", "image": "x", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}}]),
        );
        let before = p.clone();
        apply_defaults(&mut p, &ranges);
        assert_eq!(p, before);
        let mut no_defaults = pod(json!([{"name": "app", "image": "x"}]));
        let before = no_defaults.clone();
        apply_defaults(
            &mut no_defaults,
            &[lr(json!([{"type": "Pod", "max": {"cpu": "2"}}]))],
        );
        assert_eq!(no_defaults, before);
    }

    #[test]
    fn container_bounds_use_kubernetes_messages() {
        let ranges = [lr(
            json!([{"type": "Container", "min": {"cpu": "100m"}, "max": {"memory": "1Gi"}}]),
        )];
        let small = pod(json!([{"name": "a", "image": "x", "resources": {
            "requests": {"cpu": "50m", "memory": "100Mi"}, "limits": {"memory": "100Mi"}}}]));
        assert_eq!(
            validate(&small, &ranges).unwrap_err(),
            "minimum cpu usage per Container is 100m, but request is 50m"
        );
        let both = pod(json!([{"name": "a", "image": "x", "resources": {
            "requests": {"cpu": "50m"}, "limits": {"memory": "2Gi"}}}]));
        assert_eq!(
            validate(&both, &ranges).unwrap_err(),
            "[minimum cpu usage per Container is 100m, but request is 50m, maximum memory usage per Container is 1Gi, but limit is 2Gi]"
        );
        let none = pod(json!([{"name": "a", "image": "x"}]));
        assert_eq!(
            validate(&none, &ranges).unwrap_err(),
            "[minimum cpu usage per Container is 100m.  No request is specified, maximum memory usage per Container is 1Gi.  No limit is specified]"
        );
        let fine = pod(json!([{"name": "a", "image": "x", "resources": {
            "requests": {"cpu": "0.1", "memory": "1Gi"}, "limits": {"memory": "1024Mi"}}}]));
        assert_eq!(validate(&fine, &ranges), Ok(()));
        let low_limit = pod(json!([{"name": "a", "image": "x", "resources": {
            "requests": {"cpu": "200m"}, "limits": {"cpu": "50m", "memory": "1Gi"}}}]));
        assert_eq!(
            validate(&low_limit, &ranges).unwrap_err(),
            "minimum cpu usage per Container is 100m, but limit is 50m"
        );
    }

    #[test]
    fn ratio_is_checked_at_milli_precision() {
        let ranges = [lr(
            json!([{"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}]),
        )];
        let ok = pod(json!([{"name": "a", "image": "x", "resources": {
            "requests": {"cpu": "500m"}, "limits": {"cpu": "1"}}}]));
        assert_eq!(validate(&ok, &ranges), Ok(()));
        let over = pod(json!([{"name": "a", "image": "x", "resources": {
            "requests": {"cpu": "250m"}, "limits": {"cpu": "1"}}}]));
        assert_eq!(
            validate(&over, &ranges).unwrap_err(),
            "cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000"
        );
        let missing =
            pod(json!([{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1"}}}]));
        assert_eq!(
            validate(&missing, &ranges).unwrap_err(),
            "cpu max limit to request ratio per Container is 2, but no request is specified or request is 0"
        );
    }

    #[test]
    fn pod_bounds_count_sidecars_and_the_largest_init_container() {
        let ranges = [lr(json!([{"type": "Pod", "max": {"cpu": "2"}}]))];
        let mut p = pod(json!([
            {"name": "a", "image": "x", "resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "1"}}},
            {"name": "b", "image": "x", "resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "500m"}}}
        ]));
        assert_eq!(validate(&p, &ranges), Ok(()));
        p["spec"]["initContainers"] = json!([
            {"name": "side", "image": "x", "restartPolicy": "Always", "resources": {"limits": {"cpu": "500m"}}},
            {"name": "big", "image": "x", "resources": {"limits": {"cpu": "2"}}}
        ]);
        // Sidecar 500m added to 1500m of containers = 2; the init container needs 2 + 500m.
        assert_eq!(pod_total(&p["spec"], "limits")["cpu"].canonical(), "2500m");
        assert_eq!(
            validate(&p, &ranges).unwrap_err(),
            "maximum cpu usage per Pod is 2, but limit is 2500m"
        );
    }

    #[test]
    fn the_first_violated_limit_range_is_reported() {
        let ranges = [
            lr(json!([{"type": "Container", "max": {"cpu": "4"}}])),
            lr(json!([{"type": "Container", "max": {"cpu": "1"}}])),
        ];
        let p = pod(json!([{"name": "a", "image": "x", "resources": {"limits": {"cpu": "2"}}}]));
        assert_eq!(
            validate(&p, &ranges).unwrap_err(),
            "maximum cpu usage per Container is 1, but limit is 2"
        );
    }
}
