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

use control_scheduler::{schedule_from, Snapshot};
use http::Method;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;
use tokio::sync::{mpsc, Notify};

use crate::apiserver::handlers::now_rfc3339;
use crate::client::{Connection, KubeConfig};
use crate::informer::{all_synced, Informer};

/// The name pods ask for in `spec.schedulerName` to be scheduled by this loop.
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// Binder tasks (and connections) writing bindings in parallel.
const BINDERS: usize = 16;

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
    let events = EventRecorder::start(&cfg);
    let binders: Vec<mpsc::UnboundedSender<BindJob>> = (0..BINDERS)
        .map(|_| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(binder(
                cfg.clone(),
                rx,
                done_tx.clone(),
                changed.clone(),
                events.clone(),
            ));
            tx
        })
        .collect();
    let mut state = State {
        pods: TypedCache::new(),
        nodes: TypedCache::new(),
        reported: HashMap::new(),
        assumed: HashMap::new(),
        next_start: 0,
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

/// Typed copies of an informer's objects, converted again only when their resourceVersion
/// changes: converting 10,000 pods from JSON on every pass cost more than deciding them.
struct TypedCache<T> {
    by_key: HashMap<String, (String, T)>,
}

impl<T: serde::de::DeserializeOwned + Clone> TypedCache<T> {
    fn new() -> Self {
        TypedCache {
            by_key: HashMap::new(),
        }
    }

    fn refresh(&mut self, informer: &Informer) -> Vec<T> {
        informer.read(|objs| {
            self.by_key.retain(|k, _| objs.contains_key(k));
            let mut out = Vec::with_capacity(objs.len());
            for (k, v) in objs {
                let rv = v["metadata"]["resourceVersion"].as_str().unwrap_or("");
                match self.by_key.get(k) {
                    Some((seen, t)) if seen == rv => out.push(t.clone()),
                    _ => {
                        if let Ok(t) = T::deserialize(v) {
                            self.by_key.insert(k.clone(), (rv.to_string(), t.clone()));
                            out.push(t);
                        }
                    }
                }
            }
            out
        })
    }
}

struct State {
    pods: TypedCache<Pod>,
    nodes: TypedCache<Node>,
    /// The last failure reported per pod uid, so an unschedulable pod is not re-reported on
    /// every unrelated change.
    reported: HashMap<String, String>,
    assumed: HashMap<String, Assumed>,
    next_start: usize,
    next_binder: usize,
    binders: Vec<mpsc::UnboundedSender<BindJob>>,
}

/// Records Events off the binding path, as client-go's event broadcaster does: a bounded
/// queue drained by a few writer tasks, and an event that finds the queue full is dropped
/// (logged at debug) rather than slowing scheduling down.
#[derive(Clone)]
struct EventRecorder {
    queue: mpsc::Sender<EventJob>,
}

/// The pod, the event type, its reason and its message.
type EventJob = (Pod, &'static str, &'static str, String);

/// Events waiting to be written before new ones are dropped (client-go uses 1,000).
const EVENT_QUEUE: usize = 1000;
const EVENT_WRITERS: usize = 2;

impl EventRecorder {
    fn start(cfg: &KubeConfig) -> EventRecorder {
        let (tx, rx) = mpsc::channel::<EventJob>(EVENT_QUEUE);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..EVENT_WRITERS {
            let cfg = cfg.clone();
            let rx = rx.clone();
            tokio::spawn(async move {
                let mut conn: Option<Connection> = None;
                loop {
                    let Some((pod, kind, reason, message)) = rx.lock().await.recv().await else {
                        return;
                    };
                    if conn.is_none() {
                        conn = Connection::connect(&cfg).await.ok();
                    }
                    let Some(c) = conn.as_mut() else { continue };
                    if let Err(e) = event(c, &pod, kind, reason, &message).await {
                        tracing::debug!("recording an event failed: {e:#}");
                        conn = None;
                    }
                }
            });
        }
        EventRecorder { queue: tx }
    }

    fn record(&self, pod: Pod, kind: &'static str, reason: &'static str, message: String) {
        if self.queue.try_send((pod, kind, reason, message)).is_err() {
            tracing::debug!("event queue full; event dropped");
        }
    }
}

/// Writes bindings (their events go to the recorder); reconnects after failures.
async fn binder(
    cfg: KubeConfig,
    mut jobs: mpsc::UnboundedReceiver<BindJob>,
    done: mpsc::UnboundedSender<BindOutcome>,
    changed: Arc<Notify>,
    events: EventRecorder,
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
                    if ok {
                        let ns = job.pod.metadata.namespace.as_deref().unwrap_or_default();
                        let name = job.pod.metadata.name.as_deref().unwrap_or_default();
                        let message = format!("Successfully assigned {ns}/{name} to {}", job.node);
                        events.record(job.pod.clone(), "Normal", "Scheduled", message);
                    }
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

/// Binds one pod; `Ok(false)` when the API refused.
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
    Ok(true)
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
    let all: Vec<Pod> = state.pods.refresh(pods);
    let node_list: Vec<Node> = state.nodes.refresh(nodes);
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
        // Like kube-scheduler's nextStartNodeIndex: each search starts where the last one
        // stopped, so sampled searches spread over every node rather than the first few.
        let (decision, next) = schedule_from(&pod, &snapshot, state.next_start);
        state.next_start = next;
        match decision {
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
