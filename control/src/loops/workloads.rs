//! The workload controllers: ReplicaSets and ReplicationControllers keep their pods, Deployments
//! roll ReplicaSets, all with `control-controllers`' plans applied through the API.
//!
//! Informers lag behind the writes this loop makes, so each owner carries expectations (the
//! pods or ReplicaSets it created or deleted and has not seen yet), as kube-controller-manager
//! does: an owner is not planned again until its informer has caught up, or the expectations
//! expire.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use control_controllers::deployment::REVISION_ANNOTATION;
use control_controllers::{
    controller_of, plan_deployment, plan_replicas, pod_from_template, WorkloadView,
};
use http::Method;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::common::{key, merge_patch, satisfied, typed, Expectation};
use crate::client::{Connection, KubeConfig};
use crate::informer::{all_synced, Informer};

/// Runs forever.
pub async fn run(cfg: KubeConfig) {
    let changed = Arc::new(Notify::new());
    let pods = Informer::start(cfg.clone(), "/api/v1/pods", changed.clone());
    let rss = Informer::start(cfg.clone(), "/apis/apps/v1/replicasets", changed.clone());
    let rcs = Informer::start(
        cfg.clone(),
        "/api/v1/replicationcontrollers",
        changed.clone(),
    );
    let deploys = Informer::start(cfg.clone(), "/apis/apps/v1/deployments", changed.clone());
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
        if !all_synced(&[&pods, &rss, &rcs, &deploys]) {
            continue;
        }
        let sets = Sets {
            pods: typed(pods.objects()),
            rss: typed(rss.objects()),
            rcs: typed(rcs.objects()),
            deploys: typed(deploys.objects()),
        };
        if let Err(e) = pass(c, &sets, &mut expectations).await {
            tracing::warn!("workload controllers pass failed: {e:#}");
            conn = None;
            changed.notify_one();
        }
    }
}

struct Sets {
    pods: Vec<Pod>,
    rss: Vec<ReplicaSet>,
    rcs: Vec<ReplicationController>,
    deploys: Vec<Deployment>,
}

async fn pass(
    c: &mut Connection,
    sets: &Sets,
    expectations: &mut HashMap<String, Expectation>,
) -> anyhow::Result<()> {
    let now = Timestamp::now();
    // Deleted pods count as seen-gone once marked, since their kubelet may take a while.
    let live_pods: HashSet<String> = sets
        .pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| key(&p.metadata.namespace, &p.metadata.name))
        .collect();
    let live_rss: HashSet<String> = sets
        .rss
        .iter()
        .map(|r| key(&r.metadata.namespace, &r.metadata.name))
        .collect();

    let mut owners: Vec<(WorkloadView, Value)> = Vec::new();
    for rs in &sets.rss {
        if let Ok(v) = WorkloadView::from_replica_set(rs) {
            owners.push((v, serde_json::to_value(&rs.status).unwrap_or(Value::Null)));
        }
    }
    for rc in &sets.rcs {
        if let Ok(v) = WorkloadView::from_replication_controller(rc) {
            owners.push((v, serde_json::to_value(&rc.status).unwrap_or(Value::Null)));
        }
    }
    let uids: HashSet<String> = owners
        .iter()
        .map(|(o, _)| o.uid.clone())
        .chain(sets.deploys.iter().filter_map(|d| d.metadata.uid.clone()))
        .collect();
    expectations.retain(|uid, _| uids.contains(uid));

    // ReplicaSets whose pods are not settled this pass (writes unseen, or made just now), and
    // the status of the others as computed from this pass's pods: see the Deployment loop.
    let mut unsettled: HashSet<String> = HashSet::new();
    let mut fresh: HashMap<String, ReplicaSetStatus> = HashMap::new();
    for (owner, old_status) in &owners {
        if !satisfied(expectations.get(&owner.uid), &live_pods) {
            unsettled.insert(owner.uid.clone());
            continue;
        }
        expectations.remove(&owner.uid);
        let ns_pods: Vec<Pod> = sets
            .pods
            .iter()
            .filter(|p| p.metadata.namespace == owner.namespace)
            .cloned()
            .collect();
        let plan = plan_replicas(owner, &ns_pods, now);
        let ns = owner.namespace.clone().unwrap_or_default();
        let base = if owner.kind == "ReplicaSet" {
            format!("/apis/apps/v1/namespaces/{ns}/replicasets/{}", owner.name)
        } else {
            format!(
                "/api/v1/namespaces/{ns}/replicationcontrollers/{}",
                owner.name
            )
        };
        let oref = control_controllers::controller_reference(
            owner.api_version,
            owner.kind,
            &owner.name,
            &owner.uid,
        );
        for name in &plan.adopt {
            let patch = json!({"metadata": {"ownerReferences": [oref]}});
            merge_patch(c, &format!("/api/v1/namespaces/{ns}/pods/{name}"), &patch).await?;
        }
        for name in &plan.release {
            let patch = json!({"metadata": {"ownerReferences": null}});
            merge_patch(c, &format!("/api/v1/namespaces/{ns}/pods/{name}"), &patch).await?;
        }
        let mut exp = Expectation::new();
        if plan.create > 0 {
            if let Some(template) = &owner.template {
                let pod = pod_from_template(owner, template, &format!("{}-", owner.name));
                let body = serde_json::to_vec(&pod)?;
                'batches: for batch in plan.create_batches() {
                    for _ in 0..batch {
                        let (code, resp) = c
                            .request(
                                Method::POST,
                                &format!("/api/v1/namespaces/{ns}/pods"),
                                Some(body.clone()),
                            )
                            .await?;
                        if !code.is_success() {
                            tracing::warn!(owner = %owner.name, %code, "creating a pod failed: {}", String::from_utf8_lossy(&resp));
                            break 'batches;
                        }
                        let created: Value = serde_json::from_slice(&resp)?;
                        exp.created.insert(format!(
                            "{ns}/{}",
                            created["metadata"]["name"].as_str().unwrap_or_default()
                        ));
                    }
                }
                tracing::info!(kind = owner.kind, %ns, name = %owner.name, created = exp.created.len(), "pods created");
            }
        }
        for name in &plan.delete {
            let (code, _) = c
                .request(
                    Method::DELETE,
                    &format!("/api/v1/namespaces/{ns}/pods/{name}"),
                    None,
                )
                .await?;
            if code.is_success() {
                exp.deleted.insert(format!("{ns}/{name}"));
            }
        }
        if !exp.is_empty() {
            unsettled.insert(owner.uid.clone());
            expectations.insert(owner.uid.clone(), exp);
        }
        let status = if owner.kind == "ReplicaSet" {
            let status = plan.status.to_replica_set_status();
            fresh.insert(owner.uid.clone(), status.clone());
            serde_json::to_value(status)?
        } else {
            serde_json::to_value(plan.status.to_replication_controller_status())?
        };
        if *old_status != status {
            merge_patch(c, &format!("{base}/status"), &json!({"status": status})).await?;
        }
    }

    for d in &sets.deploys {
        let uid = d.metadata.uid.clone().unwrap_or_default();
        if !satisfied(expectations.get(&uid), &live_rss) {
            continue;
        }
        expectations.remove(&uid);
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let name = d.metadata.name.clone().unwrap_or_default();
        let in_ns = |o: &Option<String>| o.as_deref() == Some(ns.as_str());
        let mut rss: Vec<ReplicaSet> = sets
            .rss
            .iter()
            .filter(|r| in_ns(&r.metadata.namespace))
            .cloned()
            .collect();
        // Both controllers run in this one loop, so the Deployment can wait until each of its
        // ReplicaSets has acted on its size and plan from the availability just computed from
        // the pods, rather than from a status written before the last deletions. That keeps
        // a rollout within `replicas + maxSurge` pods and `replicas - maxUnavailable` ready
        // ones at every instant, where kube-controller-manager holds them only up to the lag
        // between its two controllers.
        let mine = |rs: &ReplicaSet| controller_of(&rs.metadata).is_some_and(|r| r.uid == uid);
        if rss.iter().any(|rs| {
            mine(rs)
                && rs
                    .metadata
                    .uid
                    .as_ref()
                    .is_some_and(|u| unsettled.contains(u))
        }) {
            continue;
        }
        for rs in rss.iter_mut().filter(|rs| mine(rs)) {
            if let Some(status) = rs.metadata.uid.as_ref().and_then(|u| fresh.get(u)) {
                rs.status = Some(status.clone());
            }
        }
        let pods: Vec<Pod> = sets
            .pods
            .iter()
            .filter(|p| in_ns(&p.metadata.namespace))
            .cloned()
            .collect();
        let plan = match plan_deployment(d, &rss, &pods, now) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(%ns, %name, "deployment not planned: {e}");
                continue;
            }
        };
        let rs_path = |n: &str| format!("/apis/apps/v1/namespaces/{ns}/replicasets/{n}");
        let oref = control_controllers::controller_reference("apps/v1", "Deployment", &name, &uid);
        for n in &plan.adopt {
            merge_patch(
                c,
                &rs_path(n),
                &json!({"metadata": {"ownerReferences": [oref]}}),
            )
            .await?;
        }
        for n in &plan.release {
            merge_patch(
                c,
                &rs_path(n),
                &json!({"metadata": {"ownerReferences": null}}),
            )
            .await?;
        }
        // The new ReplicaSet's annotations (its revision, after a rollback) come first, as in
        // Kubernetes, so a scale that follows never leaves two ReplicaSets looking newest.
        if let Some(update) = &plan.update_new {
            let mut patch = json!({"metadata": {"annotations": update.annotations}});
            if let Some(seconds) = update.min_ready_seconds {
                patch["spec"] = json!({"minReadySeconds": seconds});
            }
            merge_patch(c, &rs_path(&update.name), &patch).await?;
        }
        let mut exp = Expectation::new();
        if let Some(rs) = &plan.create {
            let (code, resp) = c
                .request(
                    Method::POST,
                    &format!("/apis/apps/v1/namespaces/{ns}/replicasets"),
                    Some(serde_json::to_vec(rs)?),
                )
                .await?;
            if code.is_success() || code == http::StatusCode::CONFLICT {
                exp.created
                    .insert(key(&Some(ns.clone()), &rs.metadata.name));
                tracing::info!(%ns, deployment = %name, replicaset = ?rs.metadata.name, "replica set created");
            } else {
                tracing::warn!(%ns, deployment = %name, %code, "creating a replica set failed: {}", String::from_utf8_lossy(&resp));
            }
        }
        for s in &plan.scale {
            let patch = json!({"metadata": {"annotations": s.annotations}, "spec": {"replicas": s.replicas}});
            merge_patch(c, &rs_path(&s.name), &patch).await?;
        }
        for n in &plan.delete {
            let (code, _) = c.request(Method::DELETE, &rs_path(n), None).await?;
            if code.is_success() {
                exp.deleted.insert(format!("{ns}/{n}"));
            }
        }
        if !exp.is_empty() {
            expectations.insert(uid.clone(), exp);
        }
        let d_path = format!("/apis/apps/v1/namespaces/{ns}/deployments/{name}");
        if let Some(rev) = &plan.deployment_revision {
            let patch = json!({"metadata": {"annotations": {REVISION_ANNOTATION: rev}}});
            merge_patch(c, &d_path, &patch).await?;
        }
        let status = serde_json::to_value(&plan.status)?;
        if serde_json::to_value(&d.status)? != status {
            merge_patch(c, &format!("{d_path}/status"), &json!({"status": status})).await?;
        }
    }
    Ok(())
}
