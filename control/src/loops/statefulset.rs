//! The StatefulSet controller loop: applies `control_controllers::statefulset`'s plans through
//! the API.
//!
//! Pod names are fixed, so a lagging cache could make the plan create a pod that exists or
//! delete one twice; each StatefulSet therefore carries expectations (pods created or deleted
//! and not yet seen) and is not planned again until they are met or expire. Pods are created
//! one after another in the plan's order and the first failure ends the pass, which is what
//! keeps `OrderedReady` ordered even in `Parallel`'s burst.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use control_controllers::controller_reference;
use control_controllers::statefulset::{plan_statefulset, StatefulSetPlan};
use http::{Method, StatusCode};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use tokio::sync::Notify;

use super::common::{delete, key, merge_patch, satisfied, typed, Expectation};
use crate::client::{Connection, KubeConfig};
use crate::informer::{all_synced, Informer};

/// Runs forever.
pub async fn run(cfg: KubeConfig) {
    let changed = Arc::new(Notify::new());
    let pods = Informer::start(cfg.clone(), "/api/v1/pods", changed.clone());
    let sets = Informer::start(cfg.clone(), "/apis/apps/v1/statefulsets", changed.clone());
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
        if !all_synced(&[&pods, &sets, &revisions]) {
            continue;
        }
        let pods: Vec<Pod> = typed(pods.objects());
        let sets: Vec<StatefulSet> = typed(sets.objects());
        let revisions: Vec<ControllerRevision> = typed(revisions.objects());
        if let Err(e) = pass(c, &pods, &sets, &revisions, &mut expectations).await {
            tracing::warn!("statefulset controller pass failed: {e:#}");
            conn = None;
            changed.notify_one();
        }
    }
}

async fn pass(
    c: &mut Connection,
    pods: &[Pod],
    sets: &[StatefulSet],
    revisions: &[ControllerRevision],
    expectations: &mut HashMap<String, Expectation>,
) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let live_pods: HashSet<String> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| key(&p.metadata.namespace, &p.metadata.name))
        .collect();
    let uids: HashSet<&str> = sets
        .iter()
        .filter_map(|s| s.metadata.uid.as_deref())
        .collect();
    expectations.retain(|uid, _| uids.contains(uid.as_str()));

    for set in sets {
        let uid = set.metadata.uid.clone().unwrap_or_default();
        if !satisfied(expectations.get(&uid), &live_pods) {
            continue;
        }
        expectations.remove(&uid);
        let ns = set.metadata.namespace.clone().unwrap_or_default();
        let name = set.metadata.name.clone().unwrap_or_default();
        let in_ns = |o: &Option<String>| o.as_deref() == Some(ns.as_str());
        let ns_pods: Vec<Pod> = pods
            .iter()
            .filter(|p| in_ns(&p.metadata.namespace))
            .cloned()
            .collect();
        let ns_revisions: Vec<ControllerRevision> = revisions
            .iter()
            .filter(|r| in_ns(&r.metadata.namespace))
            .cloned()
            .collect();
        let plan = match plan_statefulset(set, &ns_pods, &ns_revisions, now) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(%ns, %name, "stateful set not planned: {e}");
                continue;
            }
        };
        let exp = apply(c, set, &ns, &name, &uid, &plan).await?;
        if !exp.is_empty() {
            expectations.insert(uid, exp);
        }
    }
    Ok(())
}

async fn apply(
    c: &mut Connection,
    set: &StatefulSet,
    ns: &str,
    name: &str,
    uid: &str,
    plan: &StatefulSetPlan,
) -> anyhow::Result<Expectation> {
    let mut exp = Expectation::new();
    let pod_path = |p: &str| format!("/api/v1/namespaces/{ns}/pods/{p}");
    let rev_path = |r: &str| format!("/apis/apps/v1/namespaces/{ns}/controllerrevisions/{r}");
    let oref = controller_reference("apps/v1", "StatefulSet", name, uid);
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

    // The update revision first: pods made below name it in their labels. Without it (other
    // than "already there", our own write the cache has not shown yet) no pod is made.
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
            tracing::warn!(%ns, statefulset = %name, %code, "creating a controller revision failed: {}", String::from_utf8_lossy(&body));
            revision_ok = false;
        }
    }
    if let Some((r, number)) = &plan.renumber_revision {
        merge_patch(c, &rev_path(r), &json!({"revision": number})).await?;
    }

    for (p, labels) in &plan.relabel {
        merge_patch(c, &pod_path(p), &json!({"metadata": {"labels": labels}})).await?;
    }
    if revision_ok {
        for pod in &plan.create {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            let (code, resp) = c
                .request(
                    Method::POST,
                    &format!("/api/v1/namespaces/{ns}/pods"),
                    Some(serde_json::to_vec(pod)?),
                )
                .await?;
            if code.is_success() || code == StatusCode::CONFLICT {
                // A conflict is the pod we made earlier, still unseen: wait for it as well.
                exp.created.insert(format!("{ns}/{pod_name}"));
                tracing::info!(%ns, statefulset = %name, pod = %pod_name, "stateful pod created");
            } else {
                tracing::warn!(%ns, statefulset = %name, pod = %pod_name, %code, "creating a stateful pod failed: {}", String::from_utf8_lossy(&resp));
                break;
            }
        }
    }
    for p in &plan.delete {
        if delete(c, &pod_path(p), None).await? {
            exp.deleted.insert(format!("{ns}/{p}"));
        }
    }
    for r in &plan.delete_revisions {
        delete(c, &rev_path(r), None).await?;
    }

    let status = serde_json::to_value(&plan.status)?;
    if serde_json::to_value(&set.status)? != status {
        merge_patch(
            c,
            &format!("/apis/apps/v1/namespaces/{ns}/statefulsets/{name}/status"),
            &json!({"status": status}),
        )
        .await?;
    }
    Ok(exp)
}
