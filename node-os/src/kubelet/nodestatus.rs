//! The Node object and its status as the kubelet computes them (pkg/kubelet/nodestatus and
//! kubelet_node_status.go): capacity from the machine, allocatable as capacity minus the
//! reservations and the hard eviction thresholds, addresses, nodeInfo, the default labels, and
//! the four conditions with kubelet's reasons and messages. Pure: readings and time come in,
//! JSON goes out, so every rule is tested without a machine or an API server.

use std::collections::BTreeMap;
use std::net::IpAddr;

use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Map, Value};

use super::machine::{MachineInfo, Observations};
use super::quantity::{format_bytes, format_cpu_milli};

/// The kubelet version this node reports: the Kubernetes release whose behaviour it follows,
/// with node-os's own version as build metadata (as k3s reports `v1.32.0+k3s1`).
pub fn kubelet_version() -> String {
    format!("v1.32.0+node-os.{}", env!("CARGO_PKG_VERSION"))
}

/// `containerRuntimeVersion`: the runtime is part of this executable.
pub fn runtime_version() -> String {
    format!("node-os://{}", env!("CARGO_PKG_VERSION"))
}

/// The kubelet API's default port, published in `daemonEndpoints`.
pub const KUBELET_PORT: u16 = 10250;

/// The default hard eviction thresholds of a Linux kubelet: `memory.available<100Mi`,
/// `nodefs.available<10%`, `nodefs.inodesFree<5%`. Kubelet has no PID threshold by default,
/// so it never reports PIDPressure unless configured; we use `pid.available<5%` because a node
/// that runs out of PIDs cannot start containers and should stop attracting pods first.
pub const MEMORY_AVAILABLE_THRESHOLD: u64 = 100 << 20;
pub const NODEFS_AVAILABLE_PERCENT: u64 = 10;
pub const NODEFS_INODES_FREE_PERCENT: u64 = 5;
pub const PID_AVAILABLE_PERCENT: u64 = 5;

/// How long a pressure condition stays True after the last observation of pressure
/// (kubelet's `evictionPressureTransitionPeriod`), so a node at the edge does not flap.
pub const PRESSURE_TRANSITION_PERIOD: SignedDuration = SignedDuration::from_secs(300);

/// What this node is told about itself on the command line.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub node_name: String,
    pub node_ip: IpAddr,
    pub max_pods: u32,
    /// `--system-reserved`, milli-units per resource.
    pub system_reserved: BTreeMap<String, i128>,
    /// `--kube-reserved`, milli-units per resource.
    pub kube_reserved: BTreeMap<String, i128>,
    /// Where the kubelet API listens (`--kubelet-port`).
    pub kubelet_port: u16,
    /// `--register-with-taints`: taints the Node is created with (never re-applied to an
    /// existing Node, as kubelet).
    pub register_with_taints: Vec<Value>,
    /// `--node-labels`: labels the Node is created with, beside the default ones.
    pub node_labels: BTreeMap<String, String>,
}

/// kubelet's `--register-with-taints`: `key[=value]:Effect`, comma separated.
pub fn parse_taints(s: &str) -> Result<Vec<Value>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            let (kv, effect) = t
                .rsplit_once(':')
                .ok_or_else(|| format!("taint {t:?} must be key[=value]:Effect"))?;
            if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
                return Err(format!(
                    "taint {t:?}: effect must be NoSchedule, PreferNoSchedule or NoExecute"
                ));
            }
            let (key, value) = match kv.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (kv, None),
            };
            if key.is_empty() {
                return Err(format!("taint {t:?} has no key"));
            }
            let mut taint = json!({"key": key, "effect": effect});
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                taint["value"] = json!(v);
            }
            Ok(taint)
        })
        .collect()
}

/// kubelet's `--node-labels`: `key=value`, comma separated (an empty value is allowed).
pub fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("label {l:?} must be key=value")),
        })
        .collect()
}

/// Capacity in milli-units per resource.
pub fn capacity_milli(m: &MachineInfo, o: &Observations, max_pods: u32) -> BTreeMap<String, i128> {
    BTreeMap::from([
        ("cpu".to_string(), i128::from(m.cpus) * 1000),
        ("memory".to_string(), i128::from(m.memory_bytes) * 1000),
        ("pods".to_string(), i128::from(max_pods) * 1000),
        (
            "ephemeral-storage".to_string(),
            i128::from(o.fs_capacity_bytes) * 1000,
        ),
    ])
}

/// Allocatable = capacity - system-reserved - kube-reserved - hard eviction threshold, never
/// below zero (kubelet's `getNodeAllocatable`). The thresholds only bear on memory and on
/// ephemeral storage (whose 10% is of capacity).
pub fn allocatable_milli(
    capacity: &BTreeMap<String, i128>,
    cfg: &NodeConfig,
) -> BTreeMap<String, i128> {
    capacity
        .iter()
        .map(|(k, &cap)| {
            let reserved = cfg.system_reserved.get(k).copied().unwrap_or(0)
                + cfg.kube_reserved.get(k).copied().unwrap_or(0);
            let eviction = match k.as_str() {
                "memory" => i128::from(MEMORY_AVAILABLE_THRESHOLD) * 1000,
                "ephemeral-storage" => {
                    cap / 1000 * i128::from(NODEFS_AVAILABLE_PERCENT) / 100 * 1000
                }
                _ => 0,
            };
            (k.clone(), (cap - reserved - eviction).max(0))
        })
        .collect()
}

fn format_list(l: &BTreeMap<String, i128>) -> Value {
    let mut out = Map::new();
    for (k, &v) in l {
        let s = match k.as_str() {
            "cpu" => format_cpu_milli(v),
            _ => format_bytes(v / 1000),
        };
        out.insert(k.clone(), Value::String(s));
    }
    Value::Object(out)
}

/// The labels kubelet puts on its Node and keeps there (`updateDefaultLabels`).
pub fn default_labels(cfg: &NodeConfig, m: &MachineInfo) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("kubernetes.io/hostname".into(), cfg.node_name.clone()),
        ("kubernetes.io/os".into(), "linux".into()),
        ("kubernetes.io/arch".into(), m.architecture.clone()),
        ("beta.kubernetes.io/os".into(), "linux".into()),
        ("beta.kubernetes.io/arch".into(), m.architecture.clone()),
    ])
}

/// The Node to create at registration.
pub fn initial_node(cfg: &NodeConfig, m: &MachineInfo) -> Value {
    let mut labels = cfg.node_labels.clone();
    // The defaults win: they describe the machine, and kubelet keeps them reconciled.
    labels.extend(default_labels(cfg, m));
    let mut spec = json!({});
    if !cfg.register_with_taints.is_empty() {
        spec["taints"] = Value::Array(cfg.register_with_taints.clone());
    }
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": cfg.node_name,
            "labels": labels,
            "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": spec,
    })
}

/// The labels patch that brings an existing Node's default labels back to what this machine
/// says (kubelet does this on re-registration), or None when they already agree.
pub fn labels_patch(existing: &Value, cfg: &NodeConfig, m: &MachineInfo) -> Option<Value> {
    let mut patch = Map::new();
    for (k, v) in default_labels(cfg, m) {
        if existing["metadata"]["labels"][&k].as_str() != Some(v.as_str()) {
            patch.insert(k, Value::String(v));
        }
    }
    (!patch.is_empty()).then(|| json!({"metadata": {"labels": patch}}))
}

/// When each pressure signal was last observed over its threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PressureState {
    pub memory: Option<Timestamp>,
    pub disk: Option<Timestamp>,
    pub pid: Option<Timestamp>,
}

/// Which thresholds the readings cross right now.
pub fn crossed(o: &Observations) -> (bool, bool, bool) {
    let memory = o.memory_total_bytes > 0 && o.memory_available_bytes < MEMORY_AVAILABLE_THRESHOLD;
    let disk = (o.fs_capacity_bytes > 0
        && o.fs_available_bytes.saturating_mul(100)
            < o.fs_capacity_bytes.saturating_mul(NODEFS_AVAILABLE_PERCENT))
        || (o.fs_inodes > 0
            && o.fs_inodes_free.saturating_mul(100)
                < o.fs_inodes.saturating_mul(NODEFS_INODES_FREE_PERCENT));
    let pid = o.pid_max > 0
        && o.pid_max.saturating_sub(o.pids_in_use).saturating_mul(100)
            < o.pid_max.saturating_mul(PID_AVAILABLE_PERCENT);
    (memory, disk, pid)
}

impl PressureState {
    /// Records the readings taken at `now`.
    pub fn observe(&mut self, o: &Observations, now: Timestamp) {
        let (m, d, p) = crossed(o);
        for (hit, slot) in [
            (m, &mut self.memory),
            (d, &mut self.disk),
            (p, &mut self.pid),
        ] {
            if hit {
                *slot = Some(now);
            }
        }
    }

    fn active(at: Option<Timestamp>, now: Timestamp) -> bool {
        at.is_some_and(|t| now.duration_since(t) < PRESSURE_TRANSITION_PERIOD)
    }
}

/// Everything the status is computed from, besides the Node as the API server has it.
pub struct StatusInputs<'a> {
    pub cfg: &'a NodeConfig,
    pub machine: &'a MachineInfo,
    pub observations: &'a Observations,
    pub pressure: &'a PressureState,
    /// Why the node is not ready (the runtime, the network), empty when it is.
    pub readiness_errors: &'a [String],
}

fn ts(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// One condition, keeping `lastTransitionTime` from the existing condition of that type
/// when the status did not change (kubelet's setters do the same).
fn condition(
    existing: &Value,
    ty: &str,
    status: bool,
    reason: &str,
    msg: &str,
    now: &str,
) -> Value {
    let status = if status { "True" } else { "False" };
    let old = existing["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty));
    let transition = match old {
        Some(c) if c["status"] == status => {
            c["lastTransitionTime"].as_str().unwrap_or(now).to_string()
        }
        _ => now.to_string(),
    };
    json!({"type": ty, "status": status, "reason": reason, "message": msg,
           "lastHeartbeatTime": now, "lastTransitionTime": transition})
}

/// The Node status to post, given the status the API server has now (`existing`, the Node's
/// `status`, or null at registration).
pub fn node_status(existing: &Value, i: &StatusInputs<'_>, now: Timestamp) -> Value {
    let now_s = ts(now);
    let capacity = capacity_milli(i.machine, i.observations, i.cfg.max_pods);
    let allocatable = allocatable_milli(&capacity, i.cfg);
    let mem = PressureState::active(i.pressure.memory, now);
    let disk = PressureState::active(i.pressure.disk, now);
    let pid = PressureState::active(i.pressure.pid, now);
    let mut errors: Vec<String> = i.readiness_errors.to_vec();
    let missing: Vec<&str> = ["cpu", "memory", "pods"]
        .into_iter()
        .filter(|r| capacity.get(*r).is_none_or(|&v| v <= 0))
        .collect();
    if !missing.is_empty() {
        errors.push(format!(
            "missing node capacity for resources: {}",
            missing.join(", ")
        ));
    }
    let ready = errors.is_empty();
    let conditions = json!([
        if mem {
            condition(
                existing,
                "MemoryPressure",
                true,
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
                &now_s,
            )
        } else {
            condition(
                existing,
                "MemoryPressure",
                false,
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
                &now_s,
            )
        },
        if disk {
            condition(
                existing,
                "DiskPressure",
                true,
                "KubeletHasDiskPressure",
                "kubelet has disk pressure",
                &now_s,
            )
        } else {
            condition(
                existing,
                "DiskPressure",
                false,
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
                &now_s,
            )
        },
        if pid {
            condition(
                existing,
                "PIDPressure",
                true,
                "KubeletHasInsufficientPID",
                "kubelet has insufficient PID available",
                &now_s,
            )
        } else {
            condition(
                existing,
                "PIDPressure",
                false,
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
                &now_s,
            )
        },
        if ready {
            condition(
                existing,
                "Ready",
                true,
                "KubeletReady",
                "kubelet is posting ready status",
                &now_s,
            )
        } else {
            condition(
                existing,
                "Ready",
                false,
                "KubeletNotReady",
                &errors.join(", "),
                &now_s,
            )
        },
    ]);
    let m = i.machine;
    json!({
        "capacity": format_list(&capacity),
        "allocatable": format_list(&allocatable),
        "conditions": conditions,
        "addresses": [
            {"type": "InternalIP", "address": i.cfg.node_ip.to_string()},
            {"type": "Hostname", "address": i.cfg.node_name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": i.cfg.kubelet_port}},
        "nodeInfo": {
            "machineID": m.machine_id,
            "systemUUID": m.system_uuid,
            "bootID": m.boot_id,
            "kernelVersion": m.kernel_version,
            "osImage": m.os_image,
            "containerRuntimeVersion": runtime_version(),
            "kubeletVersion": kubelet_version(),
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": m.architecture,
        },
    })
}

/// Whether `new` differs from `old` in anything but heartbeat times (kubelet's
/// `nodeStatusHasChanged`): only then, or when the report frequency is due, is status posted.
pub fn status_changed(old: &Value, new: &Value) -> bool {
    let strip = |s: &Value| {
        let mut s = s.clone();
        if let Some(cs) = s.get_mut("conditions").and_then(Value::as_array_mut) {
            for c in cs {
                if let Some(o) = c.as_object_mut() {
                    o.remove("lastHeartbeatTime");
                }
            }
        }
        let Value::Object(mut o) = s else {
            return Value::Null;
        };
        // Only the fields this kubelet owns are compared; others (images, volumes) are not ours.
        o.retain(|k, _| {
            matches!(
                k.as_str(),
                "capacity"
                    | "allocatable"
                    | "conditions"
                    | "addresses"
                    | "daemonEndpoints"
                    | "nodeInfo"
            )
        });
        Value::Object(o)
    };
    strip(old) != strip(new)
}

/// The Node's Lease in kube-node-lease, owned by the Node so that deleting the Node removes it.
pub fn lease(node: &str, node_uid: &str, duration_seconds: i32, now: Timestamp) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": node,
            "namespace": "kube-node-lease",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid}],
        },
        "spec": {
            "holderIdentity": node,
            "leaseDurationSeconds": duration_seconds,
            "renewTime": micro(now),
        },
    })
}

/// MicroTime, as Lease's renewTime is written.
pub fn micro(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

/// The Lease to write for a renewal of `current`: renewTime now, and the owner, holder and
/// duration set again in case someone changed them (kubelet's `setNodeOwnerFunc`).
pub fn renewed_lease(
    current: &Value,
    node: &str,
    node_uid: &str,
    duration_seconds: i32,
    now: Timestamp,
) -> Value {
    let mut l = current.clone();
    let fresh = lease(node, node_uid, duration_seconds, now);
    l["spec"]["renewTime"] = fresh["spec"]["renewTime"].clone();
    l["spec"]["holderIdentity"] = fresh["spec"]["holderIdentity"].clone();
    l["spec"]["leaseDurationSeconds"] = fresh["spec"]["leaseDurationSeconds"].clone();
    if !node_uid.is_empty() {
        l["metadata"]["ownerReferences"] = fresh["metadata"]["ownerReferences"].clone();
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> MachineInfo {
        MachineInfo {
            cpus: 4,
            memory_bytes: 16 << 30,
            kernel_version: "6.1.0-18-amd64".into(),
            os_image: "Debian GNU/Linux 12 (bookworm)".into(),
            machine_id: "abc".into(),
            boot_id: "b-1".into(),
            system_uuid: "".into(),
            architecture: "amd64".into(),
        }
    }

    fn healthy() -> Observations {
        Observations {
            memory_total_bytes: 16 << 30,
            memory_available_bytes: 8 << 30,
            fs_capacity_bytes: 100 << 30,
            fs_available_bytes: 50 << 30,
            fs_inodes: 1_000_000,
            fs_inodes_free: 900_000,
            pid_max: 4_194_304,
            pids_in_use: 500,
        }
    }

    fn cfg(system: &str, kube: &str) -> NodeConfig {
        NodeConfig {
            kubelet_port: KUBELET_PORT,
            node_name: "n1".into(),
            node_ip: "10.0.0.5".parse().unwrap(),
            max_pods: 110,
            system_reserved: super::super::quantity::parse_resource_list(system).unwrap(),
            kube_reserved: super::super::quantity::parse_resource_list(kube).unwrap(),
            register_with_taints: Vec::new(),
            node_labels: BTreeMap::new(),
        }
    }

    #[test]
    fn a_node_registers_with_its_taints_and_extra_labels() {
        let mut c = cfg("", "");
        c.register_with_taints = parse_taints(
            "node-role.kubernetes.io/control-plane:NoSchedule,dedicated=gpu:NoExecute",
        )
        .unwrap();
        c.node_labels = parse_labels("node-role.kubernetes.io/control-plane=,zone=a").unwrap();
        let n = initial_node(&c, &machine());
        assert_eq!(
            n["spec"]["taints"],
            json!([
                {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                {"key": "dedicated", "value": "gpu", "effect": "NoExecute"}
            ])
        );
        assert_eq!(
            n["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
            ""
        );
        assert_eq!(n["metadata"]["labels"]["zone"], "a");
        assert_eq!(n["metadata"]["labels"]["kubernetes.io/hostname"], "n1");
        assert_eq!(initial_node(&cfg("", ""), &machine())["spec"], json!({}));
    }

    #[test]
    fn malformed_taints_and_labels_are_refused() {
        assert!(parse_taints("key").is_err());
        assert!(parse_taints("key:Sometimes").is_err());
        assert!(parse_taints(":NoSchedule").is_err());
        assert!(parse_labels("novalue").is_err());
        assert!(parse_taints("").unwrap().is_empty());
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn status_at(existing: &Value, p: &PressureState, o: &Observations, now: Timestamp) -> Value {
        let c = cfg("", "");
        let m = machine();
        node_status(
            existing,
            &StatusInputs {
                cfg: &c,
                machine: &m,
                observations: o,
                pressure: p,
                readiness_errors: &[],
            },
            now,
        )
    }

    fn cond<'a>(s: &'a Value, ty: &str) -> &'a Value {
        s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == ty)
            .unwrap()
    }

    #[test]
    fn allocatable_subtracts_reservations_and_the_hard_eviction_threshold() {
        let c = cfg("cpu=100m,memory=256Mi", "cpu=200m,memory=128Mi");
        let cap = capacity_milli(&machine(), &healthy(), 110);
        let a = allocatable_milli(&cap, &c);
        assert_eq!(a["cpu"], 3700);
        assert_eq!(
            a["memory"],
            ((16i128 << 30) - (256 << 20) - (128 << 20) - (100 << 20)) * 1000
        );
        assert_eq!(a["pods"], 110_000);
        assert_eq!(a["ephemeral-storage"], (90i128 << 30) / 10 * 10 * 1000);
        let f = format_list(&a);
        assert_eq!(f["cpu"], "3700m");
        assert_eq!(f["memory"], "15900Mi");
        assert_eq!(f["pods"], "110");
    }

    #[test]
    fn allocatable_never_goes_negative() {
        let c = cfg("cpu=8", "");
        let a = allocatable_milli(&capacity_milli(&machine(), &healthy(), 110), &c);
        assert_eq!(a["cpu"], 0);
    }

    #[test]
    fn a_healthy_node_is_ready_with_kubelets_reasons() {
        let s = status_at(
            &Value::Null,
            &PressureState::default(),
            &healthy(),
            t("2026-01-01T00:00:00Z"),
        );
        assert_eq!(cond(&s, "Ready")["status"], "True");
        assert_eq!(cond(&s, "Ready")["reason"], "KubeletReady");
        assert_eq!(
            cond(&s, "MemoryPressure")["reason"],
            "KubeletHasSufficientMemory"
        );
        assert_eq!(cond(&s, "DiskPressure")["status"], "False");
        assert_eq!(
            cond(&s, "PIDPressure")["message"],
            "kubelet has sufficient PID available"
        );
        assert_eq!(s["capacity"]["cpu"], "4");
        assert_eq!(s["capacity"]["memory"], "16Gi");
        assert_eq!(
            s["addresses"][0],
            json!({"type": "InternalIP", "address": "10.0.0.5"})
        );
        assert_eq!(s["nodeInfo"]["kubeletVersion"], kubelet_version());
        assert!(kubelet_version().starts_with("v1.32.0+node-os."));
        assert_eq!(s["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
    }

    #[test]
    fn thresholds_are_crossed_as_kubelet_counts_them() {
        let mut o = healthy();
        assert_eq!(crossed(&o), (false, false, false));
        o.memory_available_bytes = 99 << 20;
        o.fs_available_bytes = 9 << 30;
        o.pids_in_use = o.pid_max - o.pid_max / 100;
        assert_eq!(crossed(&o), (true, true, true));
        let mut o = healthy();
        o.fs_inodes_free = 40_000;
        assert_eq!(crossed(&o), (false, true, false));
    }

    #[test]
    fn pressure_lingers_for_the_transition_period_then_clears() {
        let mut p = PressureState::default();
        let mut low = healthy();
        low.memory_available_bytes = 50 << 20;
        let t0 = t("2026-01-01T00:00:00Z");
        p.observe(&low, t0);
        let s1 = status_at(&Value::Null, &p, &healthy(), t0);
        assert_eq!(cond(&s1, "MemoryPressure")["status"], "True");
        assert_eq!(
            cond(&s1, "MemoryPressure")["reason"],
            "KubeletHasInsufficientMemory"
        );
        // Recovered readings do not clear it before five minutes.
        let t1 = t0 + SignedDuration::from_secs(299);
        p.observe(&healthy(), t1);
        let s2 = status_at(&s1, &p, &healthy(), t1);
        assert_eq!(cond(&s2, "MemoryPressure")["status"], "True");
        assert_eq!(
            cond(&s2, "MemoryPressure")["lastTransitionTime"],
            "2026-01-01T00:00:00Z"
        );
        let t2 = t0 + SignedDuration::from_secs(300);
        let s3 = status_at(&s2, &p, &healthy(), t2);
        assert_eq!(cond(&s3, "MemoryPressure")["status"], "False");
        assert_eq!(
            cond(&s3, "MemoryPressure")["lastTransitionTime"],
            "2026-01-01T00:05:00Z"
        );
    }

    #[test]
    fn transition_times_move_only_on_change_and_heartbeats_do_not_count_as_change() {
        let t0 = t("2026-01-01T00:00:00Z");
        let p = PressureState::default();
        let s1 = status_at(&Value::Null, &p, &healthy(), t0);
        let s2 = status_at(&s1, &p, &healthy(), t0 + SignedDuration::from_secs(10));
        assert_eq!(
            cond(&s2, "Ready")["lastTransitionTime"],
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(
            cond(&s2, "Ready")["lastHeartbeatTime"],
            "2026-01-01T00:00:10Z"
        );
        assert!(!status_changed(&s1, &s2));
        // Ready=Unknown written by node lifecycle is a change; ours is True again with a new
        // transition time.
        let mut unknown = s2.clone();
        unknown["conditions"][3]["status"] = json!("Unknown");
        let s3 = status_at(&unknown, &p, &healthy(), t0 + SignedDuration::from_secs(20));
        assert!(status_changed(&unknown, &s3));
        assert_eq!(
            cond(&s3, "Ready")["lastTransitionTime"],
            "2026-01-01T00:00:20Z"
        );
        // Less available disk is not a status change; less capacity is.
        let mut o = healthy();
        o.fs_available_bytes -= 1 << 30;
        assert!(!status_changed(&s2, &status_at(&s2, &p, &o, t0)));
        o.fs_capacity_bytes -= 1 << 30;
        assert!(status_changed(&s2, &status_at(&s2, &p, &o, t0)));
    }

    #[test]
    fn readiness_errors_make_the_node_not_ready() {
        let c = cfg("", "");
        let m = machine();
        let errs = vec!["container runtime is down".to_string()];
        let s = node_status(
            &Value::Null,
            &StatusInputs {
                cfg: &c,
                machine: &m,
                observations: &healthy(),
                pressure: &PressureState::default(),
                readiness_errors: &errs,
            },
            t("2026-01-01T00:00:00Z"),
        );
        assert_eq!(cond(&s, "Ready")["status"], "False");
        assert_eq!(cond(&s, "Ready")["reason"], "KubeletNotReady");
        assert_eq!(cond(&s, "Ready")["message"], "container runtime is down");
    }

    #[test]
    fn default_labels_are_reconciled_on_an_existing_node() {
        let c = cfg("", "");
        let m = machine();
        let node = initial_node(&c, &m);
        assert_eq!(node["metadata"]["labels"]["kubernetes.io/hostname"], "n1");
        assert_eq!(labels_patch(&node, &c, &m), None);
        let mut changed = node.clone();
        changed["metadata"]["labels"]["kubernetes.io/arch"] = json!("arm64");
        assert_eq!(
            labels_patch(&changed, &c, &m),
            Some(json!({"metadata": {"labels": {"kubernetes.io/arch": "amd64"}}}))
        );
    }

    #[test]
    fn leases_are_owned_by_the_node_and_renewals_move_only_renew_time() {
        let t0 = t("2026-01-01T00:00:00.123456Z");
        let l = lease("n1", "uid-1", 40, t0);
        assert_eq!(l["spec"]["renewTime"], "2026-01-01T00:00:00.123456Z");
        assert_eq!(l["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        let mut stored = l.clone();
        stored["metadata"]["resourceVersion"] = json!("7");
        let r = renewed_lease(
            &stored,
            "n1",
            "uid-1",
            40,
            t0 + SignedDuration::from_secs(10),
        );
        assert_eq!(r["metadata"]["resourceVersion"], "7");
        assert_eq!(r["spec"]["renewTime"], "2026-01-01T00:00:10.123456Z");
        assert_eq!(r["spec"]["leaseDurationSeconds"], 40);
    }
}
