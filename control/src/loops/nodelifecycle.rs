//! The node lifecycle loop: node health from Lease renewals, the NotReady/unreachable taints,
//! taint-based eviction of pods whose tolerations ran out, and removal of pods whose node is gone.
//!
//! Every decision is `control-nodelifecycle`'s; this loop only reads through informers, asks,
//! and writes the answers back through the API.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use control_nodelifecycle::eviction::{decide_for_pod, EvictionDecision};
use control_nodelifecycle::health::{assess_health, HealthRecord};
use control_nodelifecycle::taints::{no_execute_changes, no_schedule_changes, reachable_changes};
use control_nodelifecycle::zones::{zone_key, ZoneCount, ZoneTracker};
use control_nodelifecycle::Config;
use http::Method;
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::client::{Connection, KubeConfig};
use crate::informer::{all_synced, Informer};

/// How long a pod's node must be missing before the pod is removed: informers may see a pod
/// bound to a node a moment before they see the node.
const ORPHAN_QUARANTINE: jiff::SignedDuration = jiff::SignedDuration::from_secs(20);

/// State kept between passes.
#[derive(Default)]
struct Memory {
    health: HashMap<String, HealthRecord>,
    zones: ZoneTracker,
    /// When each orphaned pod (by uid) was first seen without its node.
    orphans: HashMap<String, Timestamp>,
}

/// Runs forever.
pub async fn run(cfg: KubeConfig, config: Config) {
    let changed = Arc::new(Notify::new());
    let nodes = Informer::start(cfg.clone(), "/api/v1/nodes", changed.clone());
    let leases = Informer::start(
        cfg.clone(),
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
        changed.clone(),
    );
    let pods = Informer::start(cfg.clone(), "/api/v1/pods", changed.clone());
    let period = config
        .node_monitor_period
        .unsigned_abs()
        .max(Duration::from_millis(100));
    let mut memory = Memory::default();
    let mut conn: Option<Connection> = None;
    // Wake at the monitor period, on changes, and when the next timed eviction is due.
    let mut next_wake = tokio::time::Instant::now() + period;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_wake) => {}
            _ = changed.notified() => {}
        }
        if conn.is_none() {
            conn = Connection::connect(&cfg).await.ok();
        }
        let Some(c) = conn.as_mut() else {
            next_wake = tokio::time::Instant::now() + Duration::from_millis(500);
            continue;
        };
        if !all_synced(&[&nodes, &leases, &pods]) {
            next_wake = tokio::time::Instant::now() + Duration::from_millis(200);
            continue;
        }
        let now = Timestamp::now();
        match pass(c, &config, &nodes, &leases, &pods, &mut memory, now).await {
            Ok(due) => {
                let mut wake = tokio::time::Instant::now() + period;
                if let Some(t) = due {
                    let wait = t.duration_since(now).unsigned_abs();
                    wake = wake.min(tokio::time::Instant::now() + wait);
                }
                next_wake = wake;
            }
            Err(e) => {
                tracing::warn!("node lifecycle pass failed: {e:#}");
                conn = None;
                next_wake = tokio::time::Instant::now() + Duration::from_millis(500);
            }
        }
    }
}

fn typed<T: serde::de::DeserializeOwned>(objs: Vec<Value>) -> Vec<T> {
    objs.into_iter()
        .filter_map(|o| serde_json::from_value(o).ok())
        .collect()
}

/// One pass; returns when the earliest pending timed eviction is due.
async fn pass(
    c: &mut Connection,
    config: &Config,
    nodes: &Informer,
    leases: &Informer,
    pods: &Informer,
    memory: &mut Memory,
    now: Timestamp,
) -> anyhow::Result<Option<Timestamp>> {
    let nodes: Vec<Node> = typed(nodes.objects());
    let leases: HashMap<String, Lease> = typed::<Lease>(leases.objects())
        .into_iter()
        .filter_map(|l| l.metadata.name.clone().map(|n| (n, l)))
        .collect();
    let pods: Vec<Pod> = typed(pods.objects());

    // Health first: every node's Ready as of now, and the zone counts it implies.
    let mut assessed = Vec::new();
    let mut counts: BTreeMap<String, ZoneCount> = BTreeMap::new();
    memory.health.retain(|name, _| {
        nodes
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some(name))
    });
    for node in &nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        let a = assess_health(
            config,
            node,
            leases.get(&name),
            memory.health.get(&name),
            now,
        );
        memory.health.insert(name.clone(), a.record.clone());
        if !a.condition_updates.is_empty() {
            let patch = json!({"status": {"conditions": a.condition_updates}});
            patch_node(
                c,
                &name,
                "/status",
                &patch,
                "application/strategic-merge-patch+json",
            )
            .await?;
            tracing::info!(node = %name, ready = a.ready.as_str(), "node condition updated");
        }
        let mut updated = node.clone();
        a.apply_to(&mut updated);
        counts.entry(zone_key(node)).or_default().add(a.ready);
        assessed.push((updated, a.ready));
    }
    let outcome = memory.zones.observe(config, &counts, now);

    // Taints: NoExecute health taints (paced per zone) and the NoSchedule ones.
    let mut taints_by_node: HashMap<String, Vec<Taint>> = HashMap::new();
    for (node, ready) in &assessed {
        let name = node.metadata.name.clone().unwrap_or_default();
        let current: Vec<Taint> = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        let mut no_exec = if outcome.all_fully_disrupted {
            reachable_changes(node)
        } else {
            no_execute_changes(node, *ready, now)
        };
        if no_exec.rate_limited && !memory.zones.try_taint(&zone_key(node), now) {
            // No token in this zone now: the taint waits for a later pass.
            no_exec.add.clear();
        }
        let after_exec = no_exec.apply(&current);
        let mut with_exec = node.clone();
        if let Some(spec) = with_exec.spec.as_mut() {
            spec.taints = Some(after_exec.clone());
        }
        let wanted = no_schedule_changes(&with_exec).apply(&after_exec);
        if wanted != current {
            let value = if wanted.is_empty() {
                Value::Null
            } else {
                serde_json::to_value(&wanted)?
            };
            patch_node(
                c,
                &name,
                "",
                &json!({"spec": {"taints": value}}),
                "application/merge-patch+json",
            )
            .await?;
            tracing::info!(node = %name, taints = ?wanted.iter().map(|t| format!("{}:{}", t.key, t.effect)).collect::<Vec<_>>(), "node taints updated");
        }
        taints_by_node.insert(name, wanted);
    }

    // Pods: evict those whose NoExecute tolerations ran out; remove those whose node is gone.
    let mut due: Option<Timestamp> = None;
    let live: std::collections::HashSet<String> =
        pods.iter().filter_map(|p| p.metadata.uid.clone()).collect();
    memory.orphans.retain(|uid, _| live.contains(uid));
    for pod in &pods {
        let Some(node) = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        match taints_by_node.get(&node) {
            None => {
                let first = *memory.orphans.entry(uid).or_insert(now);
                if now.duration_since(first) >= ORPHAN_QUARANTINE {
                    tracing::info!(%ns, pod = %name, %node, "removing pod of a deleted node");
                    delete_pod(c, &ns, &name, Some(0)).await?;
                }
            }
            Some(taints) => match decide_for_pod(pod, taints, now) {
                EvictionDecision::Keep => {}
                EvictionDecision::EvictNow => {
                    tracing::info!(%ns, pod = %name, %node, "evicting pod: its NoExecute tolerations ran out");
                    delete_pod(c, &ns, &name, None).await?;
                }
                EvictionDecision::EvictAt(t) => due = Some(due.map_or(t, |d| d.min(t))),
            },
        }
    }
    Ok(due)
}

async fn patch_node(
    c: &mut Connection,
    name: &str,
    sub: &str,
    patch: &Value,
    content_type: &str,
) -> anyhow::Result<()> {
    let path = format!("/api/v1/nodes/{name}{sub}");
    let resp = c
        .send(
            Method::PATCH,
            &path,
            Some(serde_json::to_vec(patch)?),
            content_type,
        )
        .await?;
    let code = resp.status();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await?
        .to_bytes();
    if !code.is_success() && code != http::StatusCode::NOT_FOUND {
        anyhow::bail!(
            "patching node {name}{sub}: {code}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

async fn delete_pod(
    c: &mut Connection,
    ns: &str,
    name: &str,
    grace: Option<i64>,
) -> anyhow::Result<()> {
    let mut path = format!("/api/v1/namespaces/{ns}/pods/{name}");
    if let Some(g) = grace {
        path.push_str(&format!("?gracePeriodSeconds={g}"));
    }
    let (code, body) = c.request(Method::DELETE, &path, None).await?;
    if !code.is_success() && code != http::StatusCode::NOT_FOUND {
        anyhow::bail!(
            "deleting pod {ns}/{name}: {code}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}
