//! Endpoints and EndpointSlices of a Service from the pods its selector matches: ready and
//! not-ready addresses, `targetPort` resolved per pod (by number or by container port name),
//! and one subset / slice per distinct port mapping, as the endpoints controllers build them.

use std::collections::BTreeMap;

use control_apimachinery::selector::LabelSelector;
use k8s_openapi::api::core::v1::{Pod, Service};
use serde_json::{json, Value};

use crate::podutil::{is_pod_active, is_pod_ready};

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label saying which controller manages an EndpointSlice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// Our value of [`MANAGED_BY_LABEL`], the one kube-controller-manager uses.
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";

/// One resolved port of one pod: (service port name, number, protocol).
type PortSet = Vec<(String, i32, String)>;

/// One pod as an endpoint of the Service.
#[derive(Debug, Clone, PartialEq)]
struct Member {
    ip: String,
    ready: bool,
    terminating: bool,
    node: Option<String>,
    pod: String,
    uid: String,
    hostname: Option<String>,
}

/// The target port of a Service port on one pod, or None when a named port is not there.
fn resolve(port: &k8s_openapi::api::core::v1::ServicePort, pod: &Pod) -> Option<i32> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port),
    }
}

/// Members of the Service grouped by the ports they resolve to; None for a Service without a
/// selector (its endpoints are the user's to write).
fn groups(svc: &Service, pods: &[Pod]) -> Option<BTreeMap<PortSet, Vec<Member>>> {
    let spec = svc.spec.as_ref()?;
    let selector = spec.selector.as_ref().filter(|s| !s.is_empty())?;
    let selector = LabelSelector::from_set(selector).ok()?;
    let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
    let ns = svc.metadata.namespace.as_deref();
    let mut out: BTreeMap<PortSet, Vec<Member>> = BTreeMap::new();
    for pod in pods {
        if pod.metadata.namespace.as_deref() != ns {
            continue;
        }
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        if !selector.matches(&labels) {
            continue;
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded") | Some("Failed")) {
            continue;
        }
        let Some(ip) = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .filter(|i| !i.is_empty())
        else {
            continue;
        };
        let terminating = !is_pod_active(pod);
        let ports: PortSet = spec
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                resolve(p, pod).map(|n| {
                    (
                        p.name.clone().unwrap_or_default(),
                        n,
                        p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    )
                })
            })
            .collect();
        let pod_spec = pod.spec.as_ref();
        let subdomain_matches =
            pod_spec.and_then(|s| s.subdomain.as_deref()) == svc.metadata.name.as_deref();
        out.entry(ports).or_default().push(Member {
            ip,
            ready: (is_pod_ready(pod) || publish_not_ready) && !terminating,
            terminating,
            node: pod_spec.and_then(|s| s.node_name.clone()),
            pod: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            hostname: pod_spec
                .and_then(|s| s.hostname.clone())
                .filter(|_| subdomain_matches),
        });
    }
    for members in out.values_mut() {
        members.sort_by(|a, b| a.ip.cmp(&b.ip).then(a.pod.cmp(&b.pod)));
    }
    Some(out)
}

fn target_ref(ns: &str, m: &Member) -> Value {
    json!({"kind": "Pod", "namespace": ns, "name": m.pod, "uid": m.uid})
}

/// The `subsets` of the Service's Endpoints (empty when no pod matches), or None when the
/// Service has no selector.
pub fn endpoints_subsets(svc: &Service, pods: &[Pod]) -> Option<Vec<Value>> {
    let ns = svc.metadata.namespace.clone().unwrap_or_default();
    let groups = groups(svc, pods)?;
    let mut subsets = Vec::new();
    for (ports, members) in groups {
        let address = |m: &Member| {
            let mut a = json!({"ip": m.ip, "targetRef": target_ref(&ns, m)});
            if let Some(n) = &m.node {
                a["nodeName"] = json!(n);
            }
            if let Some(h) = &m.hostname {
                a["hostname"] = json!(h);
            }
            a
        };
        let ready: Vec<Value> = members.iter().filter(|m| m.ready).map(address).collect();
        let not_ready: Vec<Value> = members
            .iter()
            .filter(|m| !m.ready && !m.terminating)
            .map(address)
            .collect();
        if ready.is_empty() && not_ready.is_empty() {
            continue;
        }
        let mut subset = json!({});
        if !ready.is_empty() {
            subset["addresses"] = json!(ready);
        }
        if !not_ready.is_empty() {
            subset["notReadyAddresses"] = json!(not_ready);
        }
        let ports: Vec<Value> = ports
            .iter()
            .map(|(name, port, proto)| {
                let mut p = json!({"port": port, "protocol": proto});
                if !name.is_empty() {
                    p["name"] = json!(name);
                }
                p
            })
            .collect();
        if !ports.is_empty() {
            subset["ports"] = json!(ports);
        }
        subsets.push(subset);
    }
    Some(subsets)
}

/// The `endpoints` and `ports` of each EndpointSlice the Service needs (one per distinct port
/// mapping; at least one, possibly empty, so clients see the Service has no endpoints), or None
/// when the Service has no selector.
pub fn slice_contents(svc: &Service, pods: &[Pod]) -> Option<Vec<(Value, Value)>> {
    let ns = svc.metadata.namespace.clone().unwrap_or_default();
    let groups = groups(svc, pods)?;
    let mut out = Vec::new();
    for (ports, members) in groups {
        let endpoints: Vec<Value> = members
            .iter()
            .map(|m| {
                let mut e = json!({"addresses": [m.ip],
                    "conditions": {"ready": m.ready, "serving": m.ready || m.terminating, "terminating": m.terminating},
                    "targetRef": target_ref(&ns, m)});
                if let Some(n) = &m.node {
                    e["nodeName"] = json!(n);
                }
                if let Some(h) = &m.hostname {
                    e["hostname"] = json!(h);
                }
                e
            })
            .collect();
        let ports: Vec<Value> = ports
            .iter()
            .map(|(name, port, proto)| json!({"name": name, "port": port, "protocol": proto}))
            .collect();
        out.push((json!(endpoints), json!(ports)));
    }
    if out.is_empty() {
        out.push((json!([]), json!([])));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(target: Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": target, "protocol": "TCP"}]}}))
        .unwrap()
    }

    fn pod(name: &str, ip: &str, ready: bool, port_name: &str, port: i32) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "uid": format!("u-{name}"), "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": port_name, "containerPort": port}]}]},
            "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}}))
        .unwrap()
    }

    #[test]
    fn ready_and_not_ready_pods_land_in_their_lists() {
        let pods = vec![
            pod("a", "10.244.0.5", true, "http", 8080),
            pod("b", "10.244.1.5", false, "http", 8080),
        ];
        let subsets = endpoints_subsets(&svc(json!(8080)), &pods).unwrap();
        assert_eq!(subsets.len(), 1);
        assert_eq!(subsets[0]["addresses"][0]["ip"], "10.244.0.5");
        assert_eq!(subsets[0]["notReadyAddresses"][0]["ip"], "10.244.1.5");
        assert_eq!(
            subsets[0]["ports"][0],
            json!({"name": "http", "port": 8080, "protocol": "TCP"})
        );
    }

    #[test]
    fn named_target_ports_resolve_per_pod() {
        let pods = vec![
            pod("a", "10.0.0.1", true, "web", 8080),
            pod("b", "10.0.0.2", true, "web", 9090),
            pod("c", "10.0.0.3", true, "other", 1),
        ];
        let subsets = endpoints_subsets(&svc(json!("web")), &pods).unwrap();
        // Pod c has no port named "web": it is an address with no ports.
        assert_eq!(subsets.len(), 3);
        let slices = slice_contents(&svc(json!("web")), &pods).unwrap();
        assert_eq!(slices.len(), 3);
    }

    #[test]
    fn pods_without_an_ip_or_finished_are_left_out_and_selectorless_services_are_not_managed() {
        let mut finished = pod("done", "10.0.0.9", true, "http", 80);
        finished.status.as_mut().unwrap().phase = Some("Succeeded".into());
        let no_ip = pod("new", "", false, "http", 80);
        assert_eq!(
            endpoints_subsets(&svc(json!(80)), &[finished, no_ip]).unwrap(),
            Vec::<Value>::new()
        );
        let manual: Service = serde_json::from_value(json!({"metadata": {"name": "ext", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}})).unwrap();
        assert!(endpoints_subsets(&manual, &[]).is_none());
        assert_eq!(slice_contents(&svc(json!(80)), &[]).unwrap().len(), 1);
    }
}
