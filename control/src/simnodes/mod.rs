//! Simulated nodes, like kubemark's hollow nodes: `control sim-nodes` registers Nodes, renews
//! their Leases in `kube-node-lease`, and plays the kubelet for pods bound to them (see
//! [`kubelet`]). Nothing runs; the API sees nodes that behave like healthy kubelets until the
//! process dies, when every heartbeat stops at once, which is how tests and benchmarks make a
//! node fail.

pub mod kubelet;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use http::{Method, StatusCode};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::client::{Connection, KubeConfig};
use crate::informer::{all_synced, Informer};
use kubelet::{decide, Addresses, PodAction};

/// What the simulated nodes look like and how they behave.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub count: usize,
    /// Nodes are named `<prefix>-<index>`.
    pub prefix: String,
    pub cpu: String,
    pub memory: String,
    pub pods: u32,
    /// `topology.kubernetes.io/zone` (and the region label derived from it).
    pub zone: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Value>,
    pub lease_duration_seconds: i32,
    /// How often each Lease is renewed (the kubelet's default is a quarter of the duration).
    pub renew_interval: Duration,
    /// How often Node status is re-posted when nothing changed.
    pub status_interval: Duration,
    /// How long pods meant to end (restartPolicy Never/OnFailure) run.
    pub job_duration: SignedDuration,
    /// Connections used in parallel for heartbeats and pod updates.
    pub connections: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            count: 1,
            prefix: "sim".into(),
            cpu: "4".into(),
            memory: "16Gi".into(),
            pods: 110,
            zone: None,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            lease_duration_seconds: 40,
            renew_interval: Duration::from_secs(10),
            status_interval: Duration::from_secs(60),
            job_duration: SignedDuration::from_secs(1),
            connections: 4,
        }
    }
}

/// Parses `key[=value]:Effect` as `kubectl taint` writes it.
pub fn parse_taint(s: &str) -> Result<Value> {
    let (kv, effect) = s
        .rsplit_once(':')
        .with_context(|| format!("taint {s:?}: expected key[=value]:Effect"))?;
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        bail!("taint {s:?}: effect must be NoSchedule, PreferNoSchedule or NoExecute");
    }
    let (key, value) = match kv.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (kv, None),
    };
    if key.is_empty() {
        bail!("taint {s:?}: empty key");
    }
    let mut t = json!({"key": key, "effect": effect});
    if let Some(v) = value {
        t["value"] = json!(v);
    }
    Ok(t)
}

/// Parses `k=v,k2=v2`.
pub fn parse_labels(s: &str) -> Result<BTreeMap<String, String>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) = p
                .split_once('=')
                .with_context(|| format!("label {p:?}: expected key=value"))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

impl SimConfig {
    pub fn node_name(&self, i: usize) -> String {
        format!("{}-{i}", self.prefix)
    }

    /// A made-up InternalIP in 100.64.0.0/10 (shared address space, never routed here),
    /// different for every prefix and index so several simulators do not collide.
    pub fn node_ip(&self, i: usize) -> Ipv4Addr {
        let h = self
            .prefix
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        let base = u32::from(Ipv4Addr::new(100, 64, 0, 0));
        let block = (h % 16) << 18; // 16 blocks of 2^18 addresses
        let i = i as u32 % ((1 << 18) - 2) + 1;
        Ipv4Addr::from(base + block + i)
    }

    /// The Node object registered for index `i` (status included, as a kubelet registers).
    pub fn node(&self, i: usize, now: &str) -> Value {
        let name = self.node_name(i);
        let mut labels = json!({
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": "simulated",
        });
        if let Some(z) = &self.zone {
            labels["topology.kubernetes.io/zone"] = json!(z);
        }
        for (k, v) in &self.labels {
            labels[k] = json!(v);
        }
        let resources = json!({
            "cpu": self.cpu, "memory": self.memory, "pods": self.pods.to_string(),
            "ephemeral-storage": "100Gi",
        });
        let mut node = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "spec": {},
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "conditions": conditions(now),
                "addresses": [
                    {"type": "InternalIP", "address": self.node_ip(i).to_string()},
                    {"type": "Hostname", "address": name},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": format!("{:032x}", i), "systemUUID": format!("sim-{name}"),
                    "bootID": format!("sim-boot-{name}"), "kernelVersion": "simulated",
                    "osImage": "control sim-nodes", "containerRuntimeVersion": "sim://0.1",
                    "kubeletVersion": "v1.32.0-sim", "kubeProxyVersion": "",
                    "operatingSystem": "linux", "architecture": "amd64",
                },
            },
        });
        if !self.taints.is_empty() {
            node["spec"]["taints"] = json!(self.taints);
        }
        node
    }
}

fn conditions(now: &str) -> Value {
    let c = |t: &str, s: &str, reason: &str, msg: &str| {
        json!({"type": t, "status": s, "reason": reason, "message": msg,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    json!([
        c(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available"
        ),
        c(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure"
        ),
        c(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available"
        ),
        c(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status"
        ),
    ])
}

fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn micro(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";

async fn patch(c: &mut Connection, path: &str, body: &Value) -> Result<(StatusCode, Vec<u8>)> {
    let resp = c
        .send(
            Method::PATCH,
            path,
            Some(serde_json::to_vec(body)?),
            "application/merge-patch+json",
        )
        .await?;
    let code = resp.status();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await?
        .to_bytes();
    Ok((code, bytes.to_vec()))
}

/// Creates (or, after a restart of the simulator, re-readies) node `i` and its Lease.
async fn register(c: &mut Connection, sim: &SimConfig, i: usize) -> Result<()> {
    let now = Timestamp::now();
    let name = sim.node_name(i);
    let node = sim.node(i, &rfc3339(now));
    let (code, body) = c
        .request(
            Method::POST,
            "/api/v1/nodes",
            Some(serde_json::to_vec(&node)?),
        )
        .await?;
    let uid = if code == StatusCode::CONFLICT {
        let (code, body) = patch(
            c,
            &format!("/api/v1/nodes/{name}/status"),
            &json!({"status": node["status"]}),
        )
        .await?;
        if !code.is_success() {
            bail!("node {name}: {code}: {}", String::from_utf8_lossy(&body));
        }
        serde_json::from_slice::<Value>(&body)?["metadata"]["uid"].clone()
    } else if code.is_success() {
        serde_json::from_slice::<Value>(&body)?["metadata"]["uid"].clone()
    } else {
        bail!("node {name}: {code}: {}", String::from_utf8_lossy(&body));
    };
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": uid}]},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": sim.lease_duration_seconds,
                 "renewTime": micro(now)},
    });
    let (code, body) = c
        .request(Method::POST, LEASES, Some(serde_json::to_vec(&lease)?))
        .await?;
    if code == StatusCode::CONFLICT {
        renew(c, &name).await?;
    } else if !code.is_success() {
        bail!("lease {name}: {code}: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

async fn renew(c: &mut Connection, name: &str) -> Result<()> {
    let (code, body) = patch(
        c,
        &format!("{LEASES}/{name}"),
        &json!({"spec": {"renewTime": micro(Timestamp::now())}}),
    )
    .await?;
    // A Lease removed with its Node (deleted by an admin) is not recreated: a real kubelet
    // does not re-register either until it restarts.
    if !code.is_success() && code != StatusCode::NOT_FOUND {
        bail!(
            "renewing lease {name}: {code}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

async fn post_status(c: &mut Connection, name: &str) -> Result<()> {
    let now = rfc3339(Timestamp::now());
    let (code, body) = patch(
        c,
        &format!("/api/v1/nodes/{name}/status"),
        &json!({"status": {"conditions": conditions(&now)}}),
    )
    .await?;
    if !code.is_success() && code != StatusCode::NOT_FOUND {
        bail!(
            "node status {name}: {code}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

/// Connects, retrying for a while: the simulator may start before the API server listens.
async fn connect(cfg: &KubeConfig) -> Result<Connection> {
    let mut last = None;
    for _ in 0..50 {
        match Connection::connect(cfg).await {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last.expect("at least one attempt"))
}

/// Registers every node, then heartbeats and plays the kubelet until the process ends.
pub async fn run(cfg: KubeConfig, sim: SimConfig) -> Result<()> {
    let sim = Arc::new(sim);
    let workers = sim.connections.max(1);
    // Registration and heartbeats: worker w owns nodes w, w+workers, ...
    let mut registered = Vec::new();
    for w in 0..workers {
        let cfg = cfg.clone();
        let sim = sim.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<()>>();
        registered.push(rx);
        tokio::spawn(async move {
            let mine: Vec<usize> = (w..sim.count).step_by(workers).collect();
            let mut c = match connect(&cfg).await {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            for &i in &mine {
                if let Err(e) = register(&mut c, &sim, i).await {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
            let _ = tx.send(Ok(()));
            heartbeat(cfg, sim, mine, c).await;
        });
    }
    for rx in registered {
        rx.await.context("a registration worker stopped")??;
    }
    eprintln!(
        "sim-nodes: {} nodes registered ({}-0 .. {}-{})",
        sim.count,
        sim.prefix,
        sim.prefix,
        sim.count.saturating_sub(1)
    );
    play_kubelet(cfg, sim).await
}

/// Renews every Lease each renew interval, and re-posts Node status each status interval,
/// spreading the writes over the interval. Reconnects on failure; never returns.
async fn heartbeat(cfg: KubeConfig, sim: Arc<SimConfig>, mine: Vec<usize>, first: Connection) {
    let mut conn = Some(first);
    let mut last_status = tokio::time::Instant::now();
    loop {
        let round = tokio::time::Instant::now();
        let post = round.duration_since(last_status) >= sim.status_interval;
        if post {
            last_status = round;
        }
        let gap = sim.renew_interval / (mine.len().max(1) as u32 + 1);
        for &i in &mine {
            if conn.is_none() {
                conn = Connection::connect(&cfg).await.ok();
            }
            let Some(c) = conn.as_mut() else { break };
            let name = sim.node_name(i);
            let mut r = renew(c, &name).await;
            if r.is_ok() && post {
                r = post_status(c, &name).await;
            }
            if let Err(e) = r {
                tracing::warn!("heartbeat of {name}: {e:#}");
                conn = None;
            }
            if gap > Duration::from_millis(1) {
                tokio::time::sleep(gap).await;
            }
        }
        tokio::time::sleep_until(round + sim.renew_interval).await;
    }
}

/// The pod side: starts pods bound to our nodes, ends the ones meant to end, removes the ones
/// marked for deletion.
async fn play_kubelet(cfg: KubeConfig, sim: Arc<SimConfig>) -> Result<()> {
    let ours: HashSet<String> = (0..sim.count).map(|i| sim.node_name(i)).collect();
    let index: HashMap<String, usize> = (0..sim.count).map(|i| (sim.node_name(i), i)).collect();
    let changed = Arc::new(Notify::new());
    let pods = Informer::start(cfg.clone(), "/api/v1/pods", changed.clone());
    let nodes = Informer::start(cfg.clone(), "/api/v1/nodes", changed.clone());
    let mut pool: Vec<Option<Connection>> = (0..sim.connections.max(1)).map(|_| None).collect();
    // Pods started recently (by uid): until the informer shows their new status, a later pass
    // would otherwise start them again, possibly with another address.
    let mut started: HashMap<String, tokio::time::Instant> = HashMap::new();
    loop {
        tokio::select! {
            _ = changed.notified() => {}
            // Jobs end with time alone.
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        if !all_synced(&[&pods, &nodes]) {
            continue;
        }
        let pod_cidrs: HashMap<String, String> = nodes
            .objects()
            .into_iter()
            .filter_map(|n| {
                let name = n["metadata"]["name"].as_str()?.to_string();
                let cidr = n["spec"]["podCIDR"].as_str()?.to_string();
                ours.contains(&name).then_some((name, cidr))
            })
            .collect();
        let mine: Vec<Pod> = pods
            .objects()
            .into_iter()
            .filter(|p| {
                p["spec"]["nodeName"]
                    .as_str()
                    .is_some_and(|n| ours.contains(n))
            })
            .filter_map(|p| serde_json::from_value(p).ok())
            .collect();
        let mut used: HashMap<String, HashSet<String>> = HashMap::new();
        for p in &mine {
            if let (Some(node), Some(ip)) = (
                p.spec.as_ref().and_then(|s| s.node_name.clone()),
                p.status.as_ref().and_then(|s| s.pod_ip.clone()),
            ) {
                used.entry(node).or_default().insert(ip);
            }
        }
        let now = Timestamp::now();
        started.retain(|_, at| at.elapsed() < Duration::from_secs(5));
        let mut actions: Vec<(String, String, PodAction)> = Vec::new();
        for p in &mine {
            let uid = p.metadata.uid.clone().unwrap_or_default();
            let pending = p
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or("Pending")
                == "Pending";
            if pending && p.metadata.deletion_timestamp.is_none() && started.contains_key(&uid) {
                continue;
            }
            let node = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default();
            let i = index[&node];
            let host_ip = sim.node_ip(i).to_string();
            let used_here = used.entry(node.clone()).or_default();
            let cidr = pod_cidrs.get(&node).cloned();
            let addresses = || {
                let pod_ip =
                    next_pod_ip(cidr.as_deref(), used_here).unwrap_or_else(|| host_ip.clone());
                used_here.insert(pod_ip.clone());
                Addresses {
                    host_ip: host_ip.clone(),
                    pod_ip,
                }
            };
            if let Some(a) = decide(p, addresses, now, sim.job_duration) {
                if pending {
                    started.insert(uid, tokio::time::Instant::now());
                }
                let ns = p.metadata.namespace.clone().unwrap_or_default();
                let name = p.metadata.name.clone().unwrap_or_default();
                actions.push((ns, name, a));
            }
        }
        if actions.is_empty() {
            continue;
        }
        // Spread the writes over the pool's connections.
        let n = pool.len();
        let mut parts: Vec<Vec<(String, String, PodAction)>> = (0..n).map(|_| Vec::new()).collect();
        for (k, a) in actions.into_iter().enumerate() {
            parts[k % n].push(a);
        }
        let cfg_ref = &cfg;
        let results =
            futures::future::join_all(pool.iter_mut().zip(parts).map(|(slot, part)| async move {
                if slot.is_none() {
                    *slot = Connection::connect(cfg_ref).await.ok();
                }
                let Some(c) = slot.as_mut() else {
                    return Err(anyhow::anyhow!("cannot connect"));
                };
                for (ns, name, a) in part {
                    let r = apply(c, &ns, &name, a).await;
                    if r.is_err() {
                        *slot = None;
                        return r;
                    }
                }
                Ok(())
            }))
            .await;
        for r in results {
            if let Err(e) = r {
                tracing::warn!("simulated kubelet: {e:#}");
                changed.notify_one();
            }
        }
    }
}

async fn apply(c: &mut Connection, ns: &str, name: &str, a: PodAction) -> Result<()> {
    let path = format!("/api/v1/namespaces/{ns}/pods/{name}");
    match a {
        PodAction::Status(body) => {
            let (code, resp) = patch(c, &format!("{path}/status"), &body).await?;
            if !code.is_success() && code != StatusCode::NOT_FOUND {
                tracing::warn!(%ns, %name, %code, "pod status refused: {}", String::from_utf8_lossy(&resp));
            }
        }
        PodAction::Remove { uid } => {
            let body = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                              "preconditions": {"uid": uid}});
            let (code, resp) = c
                .request(Method::DELETE, &path, Some(serde_json::to_vec(&body)?))
                .await?;
            if !code.is_success() && code != StatusCode::NOT_FOUND && code != StatusCode::CONFLICT {
                tracing::warn!(%ns, %name, %code, "pod removal refused: {}", String::from_utf8_lossy(&resp));
            }
        }
    }
    Ok(())
}

/// The first free address of an IPv4 pod CIDR, skipping the network address and the first
/// host (the node's bridge, by convention).
pub fn next_pod_ip(cidr: Option<&str>, used: &HashSet<String>) -> Option<String> {
    let (net, len) = cidr?.split_once('/')?;
    let net: Ipv4Addr = net.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    if len > 30 {
        return None;
    }
    let base = u32::from(net);
    let size = 1u32 << (32 - len);
    (2..size - 1)
        .map(|k| Ipv4Addr::from(base + k).to_string())
        .find(|ip| !used.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_parse_as_kubectl_writes_them() {
        assert_eq!(
            parse_taint("dedicated=infra:NoSchedule").unwrap(),
            json!({"key": "dedicated", "value": "infra", "effect": "NoSchedule"})
        );
        assert_eq!(
            parse_taint("gpu:NoExecute").unwrap(),
            json!({"key": "gpu", "effect": "NoExecute"})
        );
        assert!(parse_taint("x=y").is_err());
        assert!(parse_taint("x=y:Sometimes").is_err());
        assert!(parse_taint(":NoSchedule").is_err());
    }

    #[test]
    fn labels_parse() {
        let l = parse_labels("a=b, c=d").unwrap();
        assert_eq!(l["a"], "b");
        assert_eq!(l["c"], "d");
        assert!(parse_labels("a").is_err());
    }

    #[test]
    fn pod_ips_skip_network_gateway_and_used() {
        let mut used = HashSet::new();
        assert_eq!(
            next_pod_ip(Some("10.244.1.0/24"), &used).as_deref(),
            Some("10.244.1.2")
        );
        used.insert("10.244.1.2".to_string());
        assert_eq!(
            next_pod_ip(Some("10.244.1.0/24"), &used).as_deref(),
            Some("10.244.1.3")
        );
        assert_eq!(next_pod_ip(None, &used), None);
        assert_eq!(next_pod_ip(Some("10.0.0.0/31"), &used), None);
    }

    #[test]
    fn node_addresses_differ_across_prefixes_and_indexes() {
        let a = SimConfig {
            prefix: "a".into(),
            ..SimConfig::default()
        };
        let b = SimConfig {
            prefix: "b".into(),
            ..SimConfig::default()
        };
        assert_ne!(a.node_ip(0), a.node_ip(1));
        assert_ne!(a.node_ip(0), b.node_ip(0));
        let n = a.node(0, "2026-01-01T00:00:00Z");
        assert_eq!(n["metadata"]["name"], "a-0");
        assert_eq!(n["status"]["allocatable"]["cpu"], "4");
    }
}
