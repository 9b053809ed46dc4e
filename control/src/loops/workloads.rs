//! The workload controllers: ReplicaSets and ReplicationControllers keep their pods, Deployments
//! roll ReplicaSets, all with `control-controllers`' plans applied through the API.
//!
//! Informers lag behind the writes this loop makes, so each owner carries expectations (the
//! pods or ReplicaSets it created or deleted and has not seen yet), as kube-controller-manager
//! does: an owner is not planned again until its informer has caught up, or the expectations
//! expire.

use std::collections::{HashMap, HashSet};
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

use super::common::{
    adopt_and_release, create_pods, in_namespace, key, live_keys, merge_patch, patch_status,
    satisfied, typed, Driver, Expectation,
};
use crate::client::{Connection, KubeConfig};

/// Runs forever.
pub async fn run(cfg: KubeConfig) {
    let mut driver = Driver::new(cfg);
    let pods = driver.informer("/api/v1/pods");
    let rss = driver.informer("/apis/apps/v1/replicasets");
    let rcs = driver.informer("/api/v1/replicationcontrollers");
    let deploys = driver.informer("/apis/apps/v1/deployments");
    let mut expectations: HashMap<String, Expectation> = HashMap::new();
    loop {
        // Availability (minReadySeconds) and expired expectations change with time alone.
        let informers = [&pods, &rss, &rcs, &deploys];
        let Some(c) = driver.next_pass(Duration::from_secs(5), &informers).await else {
            continue;
        };
        let sets = Sets {
            pods: typed(pods.objects()),
            rss: typed(rss.objects()),
            rcs: typed(rcs.objects()),
            deploys: typed(deploys.objects()),
        };
        let result = pass(c, &sets, &mut expectations).await;
        if let Err(e) = result {
            driver.failed("workload controllers", &e);
            driver.again();
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
    let live_pods = live_keys(sets.pods.iter().map(|p| &p.metadata));
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
        let pods_dir = format!("/api/v1/namespaces/{ns}/pods");
        adopt_and_release(c, &pods_dir, &plan.adopt, &plan.release, &oref).await?;
        let mut exp = Expectation::new();
        if plan.create > 0 {
            if let Some(template) = &owner.template {
                let pod = pod_from_template(owner, template, &format!("{}-", owner.name));
                let pods = std::iter::repeat_n(&pod, plan.create);
                let created = create_pods(c, &ns, pods, plan.create_batches(), &mut exp).await?;
                if let Some((code, resp)) = &created.refused {
                    tracing::warn!(owner = %owner.name, %code, "creating a pod failed: {}", String::from_utf8_lossy(resp));
                }
                tracing::info!(kind = owner.kind, %ns, name = %owner.name, created = exp.created.len(), "pods created");
            }
        }
        for name in &plan.delete {
            let (code, _) = c
                .request(Method::DELETE, &format!("{pods_dir}/{name}"), None)
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
        patch_status(c, &base, old_status, &status).await?;
    }

    for d in &sets.deploys {
        let uid = d.metadata.uid.clone().unwrap_or_default();
        if !satisfied(expectations.get(&uid), &live_rss) {
            continue;
        }
        expectations.remove(&uid);
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let name = d.metadata.name.clone().unwrap_or_default();
        let mut rss = in_namespace(&sets.rss, &ns);
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
        let pods = in_namespace(&sets.pods, &ns);
        let plan = match plan_deployment(d, &rss, &pods, now) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(%ns, %name, "deployment not planned: {e}");
                continue;
            }
        };
        let rs_dir = format!("/apis/apps/v1/namespaces/{ns}/replicasets");
        let rs_path = |n: &str| format!("{rs_dir}/{n}");
        let oref = control_controllers::controller_reference("apps/v1", "Deployment", &name, &uid);
        adopt_and_release(c, &rs_dir, &plan.adopt, &plan.release, &oref).await?;
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
                .request(Method::POST, &rs_dir, Some(serde_json::to_vec(rs)?))
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
        patch_status(c, &d_path, &d.status, &plan.status).await?;
    }
    Ok(())
}
