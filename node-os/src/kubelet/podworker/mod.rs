//! The kubelet's pod workers: the dispatcher here watches the pods bound to this node
//! (`fieldSelector=spec.nodeName=<node>`) and hands each pod's latest object to that pod's own
//! task, which syncs it ([`sync::PodSync`]) on every change and every second (probes and
//! backoff run on time). As in kubelet's `pod_workers.go`, pods never wait on each other: a
//! pull, a preStop hook or a 30 s grace period holds up only its own pod.
//!
//! On start the dispatcher reconciles: sandboxes and volume directories of pods no longer
//! bound here (deleted while the kubelet was down) are removed. A pod that disappears from
//! the API server while its worker runs (force deletion) is torn down by that worker.

mod materialize;
mod sync;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use http::Method;
use k8s_openapi::api::core::v1::Pod;
use tokio::sync::watch;

use super::lifecycle;
use super::node::send_json;
use super::runtime_api::ContainerRuntime;
use crate::client::ApiClient;
use sync::PodSync;

pub use super::runtime_api::{LABEL_CONTAINER_NAME, LABEL_POD_UID};

/// What every pod worker shares: the API client, the node's identity and the runtime.
pub struct NodeContext<R: ContainerRuntime> {
    pub api: ApiClient,
    pub node_name: String,
    pub host_ip: String,
    /// The kubelet's directory (`<data-dir>/kubelet`): pod volumes and logs live under it.
    pub root: PathBuf,
    pub runtime: Arc<R>,
    pub allocatable_cpu_milli: i128,
    pub allocatable_memory: i128,
}

/// The latest word on a pod, as its worker should act on it.
#[derive(Clone)]
enum Desired {
    /// The pod as last seen bound here (its deletionTimestamp, if any, drives a graceful stop).
    Sync(Box<Pod>),
    /// The pod is gone from the API server: stop what is left and exit.
    Remove(Box<Pod>),
}

/// How often a worker syncs its pod without a change: the finest probe period.
const RESYNC: Duration = Duration::from_secs(1);

pub struct PodWorkers<R: ContainerRuntime> {
    ctx: Arc<NodeContext<R>>,
    workers: HashMap<String, watch::Sender<Desired>>,
}

fn uid_of(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

impl<R: ContainerRuntime> PodWorkers<R> {
    pub fn new(ctx: NodeContext<R>) -> Self {
        PodWorkers {
            ctx: Arc::new(ctx),
            workers: HashMap::new(),
        }
    }

    fn pods_path(&self) -> String {
        format!(
            "/api/v1/pods?fieldSelector=spec.nodeName%3D{}",
            self.ctx.node_name
        )
    }

    /// Lists the bound pods, reconciles the runtime against them, then follows the watch,
    /// passing every change to the pod's worker. Re-lists when the watch ends.
    pub async fn run(mut self) -> Result<()> {
        let mut first = true;
        loop {
            let (code, list) = send_json(
                &self.ctx.api,
                Method::GET,
                &self.pods_path(),
                None,
                "application/json",
            )
            .await?;
            anyhow::ensure!(code.is_success(), "listing pods: {code}");
            let listed: Vec<Pod> = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| serde_json::from_value::<Pod>(p.clone()).ok())
                .collect();
            let bound: BTreeSet<String> = listed.iter().map(uid_of).collect();
            if first {
                reconcile(&self.ctx, &bound).await;
                first = false;
            }
            // Pods deleted while the watch was down.
            let vanished: Vec<String> = self
                .workers
                .keys()
                .filter(|u| !bound.contains(*u))
                .cloned()
                .collect();
            for uid in vanished {
                if let Some(tx) = self.workers.remove(&uid) {
                    let last = match &*tx.borrow() {
                        Desired::Sync(p) | Desired::Remove(p) => p.clone(),
                    };
                    let _ = tx.send(Desired::Remove(last));
                }
            }
            for pod in listed {
                self.update(pod);
            }
            let rv = list["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("0")
                .to_string();
            let path = format!(
                "{}&watch=1&resourceVersion={rv}&allowWatchBookmarks=true",
                self.pods_path()
            );
            let mut events = self.ctx.api.watch(&path).await?;
            while let Some(ev) = events.recv().await {
                match ev["type"].as_str() {
                    Some("ADDED" | "MODIFIED") => {
                        if let Ok(p) = serde_json::from_value::<Pod>(ev["object"].clone()) {
                            self.update(p);
                        }
                    }
                    Some("DELETED") => {
                        if let Ok(p) = serde_json::from_value::<Pod>(ev["object"].clone()) {
                            if let Some(tx) = self.workers.remove(&uid_of(&p)) {
                                let _ = tx.send(Desired::Remove(Box::new(p)));
                            }
                        }
                    }
                    Some("ERROR") => break,
                    _ => {}
                }
            }
        }
    }

    /// Hands the pod to its worker, starting one for a pod seen for the first time.
    fn update(&mut self, pod: Pod) {
        let uid = uid_of(&pod);
        if uid.is_empty() {
            return;
        }
        if let Some(tx) = self.workers.get(&uid) {
            tx.send_replace(Desired::Sync(Box::new(pod)));
            return;
        }
        let (tx, rx) = watch::channel(Desired::Sync(Box::new(pod)));
        self.workers.insert(uid.clone(), tx);
        tokio::spawn(work(PodSync::new(self.ctx.clone(), uid), rx));
    }
}

/// One pod's worker: syncs on every new word and every [`RESYNC`], tears the pod down and
/// exits once told it is gone (or once the dispatcher itself is gone).
async fn work<R: ContainerRuntime>(mut pod: PodSync<R>, mut rx: watch::Receiver<Desired>) {
    loop {
        let desired = rx.borrow_and_update().clone();
        match desired {
            Desired::Sync(p) => {
                if let Err(e) = pod.sync(&p).await {
                    tracing::warn!(pod = %p.metadata.name.as_deref().unwrap_or(""), "syncing pod: {e:#}");
                }
            }
            Desired::Remove(p) => {
                pod.tear_down(&p).await;
                return;
            }
        }
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(RESYNC) => {}
        }
    }
}

/// Stops and removes sandboxes whose pod is no longer bound here (deleted while the kubelet
/// was down), and their volumes, as kubelet's housekeeping does.
async fn reconcile<R: ContainerRuntime>(ctx: &NodeContext<R>, bound: &BTreeSet<String>) {
    let Ok(sandboxes) = ctx.runtime.list_pod_sandboxes().await else {
        return;
    };
    let pairs: Vec<(String, String)> = sandboxes
        .iter()
        .map(|(c, s)| (s.id.clone(), c.uid.clone()))
        .collect();
    for id in lifecycle::orphaned_sandboxes(&pairs, bound) {
        tracing::info!(
            sandbox = id,
            "removing the sandbox of a pod no longer bound here"
        );
        let _ = ctx.runtime.stop_pod_sandbox(id).await;
        let _ = ctx.runtime.remove_pod_sandbox(id).await;
    }
    if let Ok(dirs) = std::fs::read_dir(ctx.root.join("pods")) {
        for d in dirs.flatten() {
            let uid = d.file_name().to_string_lossy().into_owned();
            if !bound.contains(&uid) {
                if let Err(e) = super::mounts::unmount_and_remove(&d.path()) {
                    tracing::warn!(pod = %uid, "removing an orphaned pod directory: {e}");
                }
            }
        }
    }
}
