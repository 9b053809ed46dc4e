//! The DaemonSet controller loop: applies `control_controllers::daemonset`'s plans through the
//! API. New daemon pods are pinned to their node by affinity and bound by the scheduler.
//!
//! Each DaemonSet carries expectations (pods it created or deleted and has not yet seen in
//! the pod informer): it is not planned again until they are met or expire, so a lagging
//! cache never doubles a node's pod. Nothing is planned before every informer has listed
//! once: an empty node cache would otherwise read as "every node is gone".

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use control_controllers::daemonset::{plan_daemonset, DaemonSetPlan};
use control_controllers::{controller_reference, slow_start_batches};
use http::{Method, StatusCode};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::common::{delete, key, merge_patch, satisfied, typed, Expectation};
use crate::client::{Connection, KubeConfig};
use crate::informer::{all_synced, Informer};

/// Runs forever.
pub async fn run(cfg: KubeConfig) {
    let changed = Arc::new(Notify::new());
    let pods = Informer::start(cfg.clone(), "/api/v1/pods", changed.clone());
    let nodes = Informer::start(cfg.clone(), "/api/v1/nodes", changed.clone());
    let daemonsets = Informer::start(cfg.clone(), "/apis/apps/v1/daemonsets", changed.clone());
    let revisions = Informer::start(
        cfg.clone(),
        "/apis/apps/v1/controllerrevisions",
        changed.clone(),
    );
    let mut expectations: HashMap<String, Expectation> = HashMap::new();
    let mut conn: Option<Connection> = None;
    loop {
        tokio::select! {
            _ = changed.notified() => {}
            // Availability (minReadySeconds) and expired expectations change with time alone.
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        if conn.is_none() {
            conn = Connection::connect(&cfg).await.ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        if !all_synced(&[&pods, &nodes, &daemonsets, &revisions]) {
            continue;
        }
        let snapshot = Snapshot {
            pods: typed(pods.objects()),
            nodes: typed(nodes.objects()),
            daemonsets: typed(daemonsets.objects()),
            revisions: typed(revisions.objects()),
        };
        if let Err(e) = pass(c, &snapshot, &mut expectations).await {
            tracing::warn!("daemonset controller pass failed: {e:#}");
            conn = None;
            changed.notify_one();
        }
    }
}

struct Snapshot {
    pods: Vec<Pod>,
    nodes: Vec<Node>,
    daemonsets: Vec<DaemonSet>,
    revisions: Vec<ControllerRevision>,
}

async fn pass(
    c: &mut Connection,
    s: &Snapshot,
    expectations: &mut HashMap<String, Expectation>,
) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let live_pods: HashSet<String> = s
        .pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| key(&p.metadata.namespace, &p.metadata.name))
        .collect();
    let uids: HashSet<&str> = s
        .daemonsets
        .iter()
        .filter_map(|d| d.metadata.uid.as_deref())
        .collect();
    expectations.retain(|uid, _| uids.contains(uid.as_str()));

    for ds in &s.daemonsets {
        let uid = ds.metadata.uid.clone().unwrap_or_default();
        if !satisfied(expectations.get(&uid), &live_pods) {
            continue;
        }
        expectations.remove(&uid);
        let ns = ds.metadata.namespace.clone().unwrap_or_default();
        let name = ds.metadata.name.clone().unwrap_or_default();
        let in_ns = |o: &Option<String>| o.as_deref() == Some(ns.as_str());
        let pods: Vec<Pod> = s
            .pods
            .iter()
            .filter(|p| in_ns(&p.metadata.namespace))
            .cloned()
            .collect();
        let revisions: Vec<ControllerRevision> = s
            .revisions
            .iter()
            .filter(|r| in_ns(&r.metadata.namespace))
            .cloned()
            .collect();
        let plan = match plan_daemonset(ds, &s.nodes, &pods, &revisions, now) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(%ns, %name, "daemon set not planned: {e}");
                continue;
            }
        };
        let exp = apply(c, ds, &ns, &name, &uid, &plan).await?;
        if !exp.is_empty() {
            expectations.insert(uid, exp);
        }
    }
    Ok(())
}

async fn apply(
    c: &mut Connection,
    ds: &DaemonSet,
    ns: &str,
    name: &str,
    uid: &str,
    plan: &DaemonSetPlan,
) -> anyhow::Result<Expectation> {
    let mut exp = Expectation::new();
    let pod_path = |p: &str| format!("/api/v1/namespaces/{ns}/pods/{p}");
    let rev_path = |r: &str| format!("/apis/apps/v1/namespaces/{ns}/controllerrevisions/{r}");
    let oref = controller_reference("apps/v1", "DaemonSet", name, uid);
    let adopt = json!({"metadata": {"ownerReferences": [oref]}});
    let release = json!({"metadata": {"ownerReferences": null}});
    for p in &plan.adopt {
        merge_patch(c, &pod_path(p), &adopt).await?;
    }
    for p in &plan.release {
        merge_patch(c, &pod_path(p), &release).await?;
    }
    for r in &plan.adopt_revisions {
        merge_patch(c, &rev_path(r), &adopt).await?;
    }
    for r in &plan.release_revisions {
        merge_patch(c, &rev_path(r), &release).await?;
    }

    // The revision comes first: the pods made below carry its hash. If it cannot be written
    // (other than "already there", a cache that lags our own write), no pod is made this pass.
    let mut revision_ok = true;
    if let Some(revision) = &plan.create_revision {
        let (code, body) = c
            .request(
                Method::POST,
                &format!("/apis/apps/v1/namespaces/{ns}/controllerrevisions"),
                Some(serde_json::to_vec(revision)?),
            )
            .await?;
        if !code.is_success() && code != StatusCode::CONFLICT {
            tracing::warn!(%ns, daemonset = %name, %code, "creating a controller revision failed: {}", String::from_utf8_lossy(&body));
            revision_ok = false;
        }
    }
    if let Some((r, number)) = &plan.renumber_revision {
        merge_patch(c, &rev_path(r), &json!({"revision": number})).await?;
    }

    if revision_ok && !plan.create.is_empty() {
        let mut next = plan.create.iter();
        'batches: for batch in slow_start_batches(plan.create.len(), 1) {
            for pod in next.by_ref().take(batch) {
                let (code, resp) = c
                    .request(
                        Method::POST,
                        &format!("/api/v1/namespaces/{ns}/pods"),
                        Some(serde_json::to_vec(pod)?),
                    )
                    .await?;
                if !code.is_success() {
                    tracing::warn!(%ns, daemonset = %name, %code, "creating a daemon pod failed: {}", String::from_utf8_lossy(&resp));
                    break 'batches;
                }
                let created: Value = serde_json::from_slice(&resp)?;
                exp.created.insert(format!(
                    "{ns}/{}",
                    created["metadata"]["name"].as_str().unwrap_or_default()
                ));
            }
        }
        tracing::info!(%ns, daemonset = %name, created = exp.created.len(), "daemon pods created");
    }
    for p in &plan.delete {
        if delete(c, &pod_path(p), None).await? {
            exp.deleted.insert(format!("{ns}/{p}"));
        }
    }
    // No kubelet is left to confirm the end of a pod whose node is gone.
    for p in &plan.force_delete {
        if delete(c, &pod_path(p), Some(0)).await? {
            exp.deleted.insert(format!("{ns}/{p}"));
        }
    }
    for r in &plan.delete_revisions {
        delete(c, &rev_path(r), None).await?;
    }

    if let Some(status) = &plan.status {
        let status = serde_json::to_value(status)?;
        if serde_json::to_value(&ds.status)? != status {
            merge_patch(
                c,
                &format!("/apis/apps/v1/namespaces/{ns}/daemonsets/{name}/status"),
                &json!({"status": status}),
            )
            .await?;
        }
    }
    Ok(exp)
}
