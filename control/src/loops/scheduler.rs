//! The scheduler loop: binds pending pods to nodes with `control-scheduler`'s decisions.
//!
//! It keeps pods and nodes in informers, and on every change takes a snapshot and tries each
//! pending pod (highest priority first, then oldest). Like kube-scheduler, deciding and binding
//! are split: a decision "assumes" the pod onto its node at once (so the next pod sees the
//! capacity it took, in this pass and the following ones until the informer shows the
//! binding), and the binding itself, with its `Scheduled` event, is written by a pool of binder
//! tasks on connections of their own, so decisions never wait for round trips. A binding the
//! API refuses drops the assumption and the pod is tried again.
//!
//! A pod that fits nowhere gets `PodScheduled=False` and a `FailedScheduling` event, written
//! again only when the reason changes; unschedulable pods are retried on every change to pods
//! or nodes, and at least every [`RETRY_PERIOD`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use control_scheduler::{schedule, Snapshot};
use http::Method;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

use crate::apiserver::handlers::now_rfc3339;
use crate::client::{Connection, KubeConfig};
use crate::informer::{all_synced, Informer};

/// The name pods ask for in `spec.schedulerName` to be scheduled by this loop.
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// Binder tasks (and connections) writing bindings in parallel.
const BINDERS: usize = 8;

/// How long an assumed pod may stay invisible in the informer before the assumption is
/// dropped (kube-scheduler's assumed-pod TTL is similar in spirit).
const ASSUME_TTL: Duration = Duration::from_secs(30);

/// Unschedulable pods are tried again at least this often even when nothing changed.
pub const RETRY_PERIOD: Duration = Duration::from_secs(30);

/// One binding for a binder task.
struct BindJob {
    pod: Pod,
    node: String,
}

/// What a binder reports back: the pod's uid, and whether the binding was refused.
struct BindOutcome {
    uid: String,
    refused: bool,
}

/// Pods decided but not yet seen bound in the informer.
struct Assumed {
    node: String,
    pod: Pod,
    since: Instant,
}

/// Runs forever.
pub async fn run(cfg: KubeConfig) {
    let changed = Arc::new(Notify::new());
    let pods = Informer::start(cfg.clone(), "/api/v1/pods", changed.clone());
    let nodes = Informer::start(cfg.clone(), "/api/v1/nodes", changed.clone());
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<BindOutcome>();
    let binders: Vec<mpsc::UnboundedSender<BindJob>> = (0..BINDERS)
        .map(|_| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(binder(cfg.clone(), rx, done_tx.clone(), changed.clone()));
            tx
        })
        .collect();
    let mut state = State {
        reported: HashMap::new(),
        assumed: HashMap::new(),
        next_binder: 0,
        binders,
    };
    let mut conn: Option<Connection> = None;
    loop {
        tokio::select! {
            _ = changed.notified() => {}
            _ = tokio::time::sleep(RETRY_PERIOD) => {}
        }
        // Let a burst of changes settle into one pass.
        tokio::time::sleep(Duration::from_millis(20)).await;
        while let Ok(o) = done_rx.try_recv() {
            if o.refused {
                state.assumed.remove(&o.uid);
            }
        }
        if conn.is_none() {
            conn = Connection::connect(&cfg).await.ok();
        }
        let Some(c) = conn.as_mut() else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            changed.notify_one();
            continue;
        };
        if !all_synced(&[&pods, &nodes]) {
            continue;
        }
        if let Err(e) = pass(c, &pods, &nodes, &mut state).await {
            tracing::warn!("scheduler pass failed: {e:#}");
            conn = None;
            changed.notify_one();
        }
    }
}

struct State {
    /// The last failure reported per pod uid, so an unschedulable pod is not re-reported on
    /// every unrelated change.
    reported: HashMap<String, String>,
    assumed: HashMap<String, Assumed>,
    next_binder: usize,
    binders: Vec<mpsc::UnboundedSender<BindJob>>,
}

/// Writes bindings and their events; reconnects after failures.
async fn binder(
    cfg: KubeConfig,
    mut jobs: mpsc::UnboundedReceiver<BindJob>,
    done: mpsc::UnboundedSender<BindOutcome>,
    changed: Arc<Notify>,
) {
    let mut conn: Option<Connection> = None;
    while let Some(job) = jobs.recv().await {
        let uid = job.pod.metadata.uid.clone().unwrap_or_default();
        let mut refused = true;
        for _attempt in 0..3 {
            if conn.is_none() {
                conn = Connection::connect(&cfg).await.ok();
            }
            let Some(c) = conn.as_mut() else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            match bind(c, &job).await {
                Ok(ok) => {
                    refused = !ok;
                    break;
                }
                Err(e) => {
                    tracing::debug!("binding failed, reconnecting: {e:#}");
                    conn = None;
                }
            }
        }
        if refused {
            let _ = done.send(BindOutcome { uid, refused });
            changed.notify_one();
        }
    }
}

/// Binds one pod and records the `Scheduled` event; `Ok(false)` when the API refused.
async fn bind(c: &mut Connection, job: &BindJob) -> anyhow::Result<bool> {
    let pod = &job.pod;
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let node = &job.node;
    let binding = json!({"apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": name, "namespace": ns, "uid": pod.metadata.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
    let path = format!("/api/v1/namespaces/{ns}/pods/{name}/binding");
    let (code, body) = c
        .request(Method::POST, &path, Some(serde_json::to_vec(&binding)?))
        .await?;
    if !code.is_success() {
        // Someone else bound or deleted it; the informer will tell.
        tracing::debug!(%ns, %name, %code, "binding refused: {}", String::from_utf8_lossy(&body));
        return Ok(false);
    }
    tracing::debug!(%ns, %name, %node, "pod scheduled");
    event(
        c,
        pod,
        "Normal",
        "Scheduled",
        &format!("Successfully assigned {ns}/{name} to {node}"),
    )
    .await?;
    Ok(true)
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
    state: &mut State,
) -> anyhow::Result<()> {
    let all: Vec<Pod> = typed(pods.objects());
    let node_list: Vec<Node> = typed(nodes.objects());
    // Assumptions end when the informer shows the pod bound (or gone), or when they expire.
    let by_uid: HashMap<&str, &Pod> = all
        .iter()
        .filter_map(|p| Some((p.metadata.uid.as_deref()?, p)))
        .collect();
    state.assumed.retain(|uid, a| {
        by_uid.get(uid.as_str()).is_some_and(|p| is_pending(p)) && a.since.elapsed() < ASSUME_TTL
    });
    let mut bound: Vec<Pod> = all.iter().filter(|p| !is_pending(p)).cloned().collect();
    for a in state.assumed.values() {
        let mut placed = a.pod.clone();
        if let Some(spec) = placed.spec.as_mut() {
            spec.node_name = Some(a.node.clone());
        }
        bound.push(placed);
    }
    let mut pending: Vec<Pod> = all
        .into_iter()
        .filter(|p| {
            is_pending(p)
                && !p
                    .metadata
                    .uid
                    .as_ref()
                    .is_some_and(|u| state.assumed.contains_key(u))
        })
        .collect();
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
    state.reported.retain(|uid, _| live.contains(uid));
    for pod in pending {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        match schedule(&pod, &snapshot) {
            Ok(node) => {
                snapshot.assume(pod.clone(), &node);
                state.reported.remove(&uid);
                state.assumed.insert(
                    uid,
                    Assumed {
                        node: node.clone(),
                        pod: pod.clone(),
                        since: Instant::now(),
                    },
                );
                let k = state.next_binder;
                state.next_binder = (k + 1) % state.binders.len();
                let _ = state.binders[k].send(BindJob { pod, node });
            }
            Err(fit) => {
                let message = fit.to_string();
                if state.reported.get(&uid) == Some(&message) {
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
                    state.reported.insert(uid, message);
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
