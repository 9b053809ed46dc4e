//! The scheduler loop: binds pending pods to nodes with `control-scheduler`'s decisions.
//!
//! It keeps pods and nodes in informers, and on every change takes a snapshot and tries each
//! pending pod (highest priority first, then oldest). A pod it binds is counted on its node at
//! once, so the next pod in the same pass sees the capacity it took. A pod that fits nowhere gets
//! `PodScheduled=False` and a `FailedScheduling` event, written again only when the reason changes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use control_scheduler::{schedule, Snapshot};
use http::Method;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::apiserver::handlers::now_rfc3339;
use crate::client::{Connection, KubeConfig};
use crate::informer::Informer;

/// The name pods ask for in `spec.schedulerName` to be scheduled by this loop.
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// Runs forever.
pub async fn run(cfg: KubeConfig) {
    let changed = Arc::new(Notify::new());
    let pods = Informer::start(cfg.clone(), "/api/v1/pods", changed.clone());
    let nodes = Informer::start(cfg.clone(), "/api/v1/nodes", changed.clone());
    // The last failure reported per pod uid, so an unschedulable pod is not re-reported on
    // every unrelated change.
    let mut reported: HashMap<String, String> = HashMap::new();
    let mut conn: Option<Connection> = None;
    loop {
        changed.notified().await;
        // Let a burst of changes settle into one pass.
        tokio::time::sleep(Duration::from_millis(20)).await;
        if conn.is_none() {
            conn = Connection::connect(&cfg).await.ok();
        }
        let Some(c) = conn.as_mut() else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            changed.notify_one();
            continue;
        };
        if let Err(e) = pass(c, &pods, &nodes, &mut reported).await {
            tracing::warn!("scheduler pass failed: {e:#}");
            conn = None;
            changed.notify_one();
        }
    }
}

fn typed<T: serde::de::DeserializeOwned>(objs: Vec<Value>) -> Vec<T> {
    objs.into_iter()
        .filter_map(|o| serde_json::from_value(o).ok())
        .collect()
}

/// Whether this loop should place the pod now.
fn is_pending(p: &Pod) -> bool {
    let spec = p.spec.as_ref();
    let unbound = spec
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
        .is_empty();
    let ours = spec
        .and_then(|s| s.scheduler_name.as_deref())
        .unwrap_or(SCHEDULER_NAME)
        == SCHEDULER_NAME;
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
    unbound
        && ours
        && p.metadata.deletion_timestamp.is_none()
        && !matches!(phase, Some("Succeeded") | Some("Failed"))
}

async fn pass(
    c: &mut Connection,
    pods: &Informer,
    nodes: &Informer,
    reported: &mut HashMap<String, String>,
) -> anyhow::Result<()> {
    let all: Vec<Pod> = typed(pods.objects());
    let node_list: Vec<Node> = typed(nodes.objects());
    let bound: Vec<Pod> = all.iter().filter(|p| !is_pending(p)).cloned().collect();
    let mut pending: Vec<Pod> = all.into_iter().filter(is_pending).collect();
    pending.sort_by(|a, b| {
        let pa = a.spec.as_ref().and_then(|s| s.priority).unwrap_or(0);
        let pb = b.spec.as_ref().and_then(|s| s.priority).unwrap_or(0);
        pb.cmp(&pa).then_with(|| {
            a.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0)
                .cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0))
        })
    });
    let mut snapshot = Snapshot::new(node_list, &bound);
    let live: std::collections::HashSet<String> = pending
        .iter()
        .filter_map(|p| p.metadata.uid.clone())
        .collect();
    reported.retain(|uid, _| live.contains(uid));
    for pod in pending {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        match schedule(&pod, &snapshot) {
            Ok(node) => {
                let binding = json!({"apiVersion": "v1", "kind": "Binding",
                    "metadata": {"name": name, "namespace": ns},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
                let path = format!("/api/v1/namespaces/{ns}/pods/{name}/binding");
                let (code, body) = c
                    .request(Method::POST, &path, Some(serde_json::to_vec(&binding)?))
                    .await?;
                if !code.is_success() {
                    // Someone else bound or deleted it; the informer will tell.
                    tracing::debug!(%ns, %name, %code, "binding refused: {}", String::from_utf8_lossy(&body));
                    continue;
                }
                tracing::info!(%ns, %name, %node, "pod scheduled");
                let mut placed = pod.clone();
                if let Some(spec) = placed.spec.as_mut() {
                    spec.node_name = Some(node.clone());
                }
                if let Some(info) = snapshot.nodes.iter_mut().find(|n| n.name() == node) {
                    info.pods.push(placed);
                }
                reported.remove(&uid);
                event(
                    c,
                    &pod,
                    "Normal",
                    "Scheduled",
                    &format!("Successfully assigned {ns}/{name} to {node}"),
                )
                .await?;
            }
            Err(fit) => {
                let message = fit.to_string();
                if reported.get(&uid) == Some(&message) {
                    continue;
                }
                let patch = json!({"status": {"conditions": [{"type": "PodScheduled", "status": "False",
                    "reason": "Unschedulable", "message": message, "lastProbeTime": null,
                    "lastTransitionTime": now_rfc3339()}]}});
                let path = format!("/api/v1/namespaces/{ns}/pods/{name}/status");
                let resp = c
                    .send(
                        Method::PATCH,
                        &path,
                        Some(serde_json::to_vec(&patch)?),
                        "application/strategic-merge-patch+json",
                    )
                    .await?;
                let ok = resp.status().is_success();
                http_body_util::BodyExt::collect(resp.into_body()).await?;
                if ok {
                    event(c, &pod, "Warning", "FailedScheduling", &message).await?;
                    reported.insert(uid, message);
                }
            }
        }
    }
    Ok(())
}

/// Records a core/v1 Event about a pod, as the scheduler reports its decisions.
async fn event(
    c: &mut Connection,
    pod: &Pod,
    kind: &str,
    reason: &str,
    message: &str,
) -> anyhow::Result<()> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let now = now_rfc3339();
    let ev = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"generateName": format!("{name}."), "namespace": ns},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": ns, "name": name,
                           "uid": pod.metadata.uid, "resourceVersion": pod.metadata.resource_version},
        "reason": reason, "message": message, "type": kind,
        "source": {"component": SCHEDULER_NAME},
        "reportingComponent": SCHEDULER_NAME, "reportingInstance": SCHEDULER_NAME,
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    });
    let path = format!("/api/v1/namespaces/{ns}/events");
    let (code, body) = c
        .request(Method::POST, &path, Some(serde_json::to_vec(&ev)?))
        .await?;
    if !code.is_success() {
        tracing::warn!(%ns, %name, %code, "recording event failed: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}
